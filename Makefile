# vicinity — the two commands a newcomer needs are `make run` and `make test`.
# Both go through `make setup`, which is idempotent.

SHELL := /bin/bash
# Builds are slow on small machines: keep the target dir outside the clone so CI and fresh
# checkouts reuse it.
CARGO_TARGET_DIR ?= /var/cache/vicinity/target
export CARGO_TARGET_DIR
SHARED ?= $(abspath ../shared)
# RocksDB comes from Debian's shared library (see ARCHITECTURE.md, "Storage"); libclang is for
# the bindings generator of librocksdb-sys; cmake and OpenBLAS build the Faiss backend.
APT_PACKAGES := build-essential pkg-config python3 python3-venv python3-dev \
  librocksdb-dev libclang-dev libsnappy-dev liblz4-dev libzstd-dev zlib1g-dev libbz2-dev \
  cmake libopenblas-dev
# The service is built and tested with the Faiss backend (a cargo feature; `FEATURES=` builds
# without it). The first build compiles Faiss from source (~6 min on 2 cores), then it is cached.
FEATURES ?= vicinity/faiss
CARGO_FEATURES := $(if $(FEATURES),--features $(FEATURES),)
# Python venv for the end-to-end tests (the real qdrant-client) — outside the clone, reused.
VENV ?= /var/cache/vicinity/venv
export VENV
PY_TEST_PACKAGES := qdrant-client pytest numpy
BIN := $(CARGO_TARGET_DIR)/release/vicinity
PORT ?= 6333
DATA_DIR ?= ./data

.PHONY: setup build run test test-rust test-e2e soak lint bench compare compare-embed

setup:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust stable with rustup"; exit 1; }
	@mkdir -p $(CARGO_TARGET_DIR)
	@[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	@$(VENV)/bin/python -c "import qdrant_client, pytest, numpy" 2>/dev/null || \
	  $(VENV)/bin/pip install -q $(PY_TEST_PACKAGES)
	@VENV=$(VENV) bash scripts/setup-embedding.sh
	@echo "setup: ok (target dir $(CARGO_TARGET_DIR), venv $(VENV))"

build: setup
	cargo build --release --workspace $(CARGO_FEATURES)

# The service on the embedded default: RocksDB under ./data, port 6333.
run: build
	$(BIN) serve --port $(PORT) --data-dir $(DATA_DIR)

# ann-bench (the engine's `bench` feature) is linted with the feature build.
lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets $(CARGO_FEATURES) --features vicinity-index/bench -- -D warnings

test: lint build test-rust test-e2e

test-rust:
	cargo test --workspace --release $(CARGO_FEATURES)

# Starts real servers and drives them with the qdrant-client package.
test-e2e: build
	VICINITY_BIN=$(BIN) bash tests/e2e/run.sh

# The stress suite for 30 min and 200 kill -9 cycles of the crash oracle (STRESS_SEED / CRASH_SEED vary the run).
soak: build
	STRESS_SECONDS=$${STRESS_SECONDS:-1800} CRASH_CYCLES=$${CRASH_CYCLES:-200} VICINITY_BIN=$(BIN) \
	  bash tests/e2e/run.sh -k "test_stress or test_crash_oracle" -x

# The engine's benches (index/benches), then the service's.
bench: setup
	cargo bench -p vicinity-index --bench distance --bench hnsw_search
	cargo bench -p vicinity --bench embed --bench json

# Text embedding side by side with Python onnxruntime (bulk), and micro-batching under load.
compare-embed: build
	$(VENV)/bin/python benches/compare_embed.py
	$(VENV)/bin/python benches/embed_load.py

# Side-by-side with hnswlib and faiss on the public datasets (see README, Performance).
COMPARE_DATASETS ?= gcide-minilm gmm-1m-128
compare: setup
	for d in $(COMPARE_DATASETS); do python3 benches/compare_ann.py --dataset $$d --repeat 3 --rounds 3 || exit 1; done
