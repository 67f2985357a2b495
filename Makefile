# vicinity — the two commands a newcomer needs are `make run` and `make test`.
# Both go through `make setup`, which is idempotent.

SHELL := /bin/bash
# Builds are slow on small machines: keep the target dir outside the clone so CI and fresh
# checkouts reuse it.
CARGO_TARGET_DIR ?= /var/cache/vicinity/target
export CARGO_TARGET_DIR
SHARED ?= $(abspath ../shared)
APT_PACKAGES := build-essential pkg-config python3 python3-venv python3-dev

.PHONY: setup run test lint bench compare

setup:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust stable with rustup"; exit 1; }
	@mkdir -p $(CARGO_TARGET_DIR)
	@echo "setup: ok (target dir $(CARGO_TARGET_DIR))"

# Until the HTTP service lands, `run` exercises the engine end to end: it makes the small
# gmm-tiny dataset with the shared benchmark scripts and runs ann-bench on it.
run: setup
	@PY=$$(bash $(SHARED)/bench/setup_venv.sh) && \
	  D=$$($$PY $(SHARED)/bench/common.py dir gmm-tiny) && \
	  { [ -f $$D/gt.ivecs ] || $$PY $(SHARED)/bench/make_synthetic.py gmm-tiny >/dev/null; } && \
	  cargo run --release -p vicinity-index --bin ann-bench -- \
	    --base $$D/base.fvecs --query $$D/query.fvecs --gt $$D/gt.ivecs --metric cosine --k 10

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test: lint
	cargo test --workspace --release

bench: setup
	cargo bench --bench distance --bench hnsw_search

# Side-by-side with hnswlib and faiss on the public datasets (see README, Performance).
COMPARE_DATASETS ?= gcide-minilm gmm-1m-128
compare: setup
	for d in $(COMPARE_DATASETS); do python3 benches/compare_ann.py --dataset $$d --repeat 3 || exit 1; done
