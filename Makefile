# vicinity — the two commands a newcomer needs are `make run` and `make test`.
# Both go through `make setup`, which is idempotent.

SHELL := /bin/bash
# Caches live outside the clone so that CI and fresh checkouts reuse them: the cargo target dir,
# the venv and the embedding model. Their root is /var/cache/vicinity when that is writable (CI
# runs as root), else ${XDG_CACHE_HOME:-~/.cache}/vicinity (scripts/cache-dir.sh decides; set
# VICINITY_CACHE, or any of the paths below, to choose).
ifndef VICINITY_CACHE
VICINITY_CACHE := $(shell bash scripts/cache-dir.sh)
endif
export VICINITY_CACHE
CARGO_TARGET_DIR ?= $(VICINITY_CACHE)/target
export CARGO_TARGET_DIR
# ONNX Runtime and the default model (scripts/setup-embedding.sh installs them there). The
# service's compiled-in default is /var/cache/vicinity/models; elsewhere the service started by
# `make run` and the tests are told the path through the environment.
VICINITY_MODELS ?= $(VICINITY_CACHE)/models
export VICINITY_MODELS
ifneq ($(VICINITY_MODELS),/var/cache/vicinity/models)
export VICINITY__EMBEDDING__MODELS_DIR := $(VICINITY_MODELS)
export VICINITY__EMBEDDING__ORT_LIBRARY := $(VICINITY_MODELS)/onnxruntime/libonnxruntime.so
endif
# Benchmark datasets (`make bench-data`) and the benchmark venv (numpy, onnxruntime, hnswlib,
# faiss-cpu): benches/data/README.md.
VICINITY_BENCH_DATA ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vicinity-bench
export VICINITY_BENCH_DATA
# RocksDB comes from Debian's shared library (see ARCHITECTURE.md, "Storage"); libclang is for
# the bindings generator of librocksdb-sys; cmake and OpenBLAS build the Faiss backend.
APT_PACKAGES := build-essential pkg-config python3 python3-venv python3-dev \
  librocksdb-dev libclang-dev libsnappy-dev liblz4-dev libzstd-dev zlib1g-dev libbz2-dev \
  cmake libopenblas-dev libssl-dev ca-certificates
# The service is built and tested with the Faiss backend (a cargo feature; `FEATURES=` builds
# without it). The first build compiles Faiss from source (~6 min on 2 cores), then it is cached.
FEATURES ?= vicinity/faiss
CARGO_FEATURES := $(if $(FEATURES),--features $(FEATURES),)
# Python venv for the end-to-end tests (the real qdrant-client) — outside the clone, reused.
VENV ?= $(VICINITY_CACHE)/venv
export VENV
PY_TEST_PACKAGES := qdrant-client pytest numpy
BIN := $(CARGO_TARGET_DIR)/release/vicinity
PORT ?= 6333
DATA_DIR ?= ./data

.PHONY: setup build run test test-rust test-e2e soak lint bench bench-data compare compare-embed eval-recs bench-hybrid

setup:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif sudo -n true 2>/dev/null; then sudo="sudo"; \
	  else echo "setup: missing Debian packages (ask an administrator): apt-get install -y" $$missing; exit 1; fi; \
	  echo "setup: installing" $$missing; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust stable with rustup"; exit 1; }
	@mkdir -p $(CARGO_TARGET_DIR)
	@[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	@$(VENV)/bin/python -c "import qdrant_client, pytest, numpy" 2>/dev/null || \
	  $(VENV)/bin/pip install -q $(PY_TEST_PACKAGES)
	@VENV=$(VENV) bash scripts/setup-embedding.sh
	@echo "setup: ok (target dir $(CARGO_TARGET_DIR), venv $(VENV), models $(VICINITY_MODELS))"

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

# VICINITY_TEST_REQUIRE_MODEL: a missing model fails the embedding tests instead of skipping them.
test-rust:
	VICINITY_TEST_REQUIRE_MODEL=1 cargo test --workspace --release $(CARGO_FEATURES)

# Starts real servers and drives them with the qdrant-client package.
test-e2e: build
	VICINITY_TEST_REQUIRE_MODEL=1 VICINITY_BIN=$(BIN) bash tests/e2e/run.sh

# The stress suite for 30 min and 200 kill -9 cycles of the crash oracle (STRESS_SEED / CRASH_SEED vary the run).
soak: build
	STRESS_SECONDS=$${STRESS_SECONDS:-1800} CRASH_CYCLES=$${CRASH_CYCLES:-200} VICINITY_BIN=$(BIN) \
	  bash tests/e2e/run.sh -k "test_stress or test_crash_oracle" -x

# The engine's benches (index/benches), then the service's.
bench: setup
	cargo bench -p vicinity-index --bench distance --bench hnsw_search
	cargo bench -p vicinity --bench embed --bench json

# Text embedding side by side with Python onnxruntime (bulk), and the text path under load
# beside Python onnxruntime and a Chroma server whose clients embed (benches/compare_text_path.py).
compare-embed: build
	$(VENV)/bin/python benches/compare_embed.py
	python3 benches/compare_text_path.py --bin $(CARGO_TARGET_DIR)/release

# Recommendations for users on MovieLens-100k (HR@10 / NDCG@10 per strategy, and the recommend
# route's QPS beside plain query's): benches/eval_recs.py; the data come from recbole's wheel.
eval-recs: build
	$(VENV)/bin/python benches/eval_recs.py --bin $(BIN)

# Hybrid search on GCIDE definitions: dense, BM25 and RRF-fused recall@10 / nDCG@10 on known-item
# queries, and their QPS at 32 clients (benches/hybrid_search.py; dict-gcide comes from apt).
bench-hybrid: build
	$(VENV)/bin/python benches/hybrid_search.py --bin $(BIN)

# Every dataset the benchmarks read, made by benches/data/ into $(VICINITY_BENCH_DATA); a dataset
# already made is kept. VICINITY_BENCH_LIMIT=N makes small ones instead (named <dataset>-limitN;
# see benches/data/README.md), e.g. `make bench-data compare VICINITY_BENCH_LIMIT=3000`.
BENCH_DATASETS ?= gmm-tiny gmm-1m-128 gcide-minilm
VICINITY_BENCH_LIMIT ?=
export VICINITY_BENCH_LIMIT
bench-data: setup
	bash benches/data/make.sh $(BENCH_DATASETS)

# Side-by-side with hnswlib and faiss on the benchmark datasets (see README, Performance).
COMPARE_DATASETS ?= gcide-minilm gmm-1m-128
compare: setup
	for d in $(COMPARE_DATASETS); do python3 benches/compare_ann.py --dataset $$d$(if $(VICINITY_BENCH_LIMIT),-limit$(VICINITY_BENCH_LIMIT)) --repeat 3 --rounds 3 || exit 1; done
