#!/usr/bin/env bash
# Create or update the Python virtual environment used by the benchmark-data scripts.
#
#   bash benches/data/setup_venv.sh     # prints the venv's python on stdout, progress on stderr
#   PY=$(bash benches/data/setup_venv.sh) && "$PY" benches/data/make_synthetic.py gmm-tiny
#
# Location: $VICINITY_BENCH_VENV (default $VICINITY_BENCH_DATA/venv, the data dir defaulting
# to ${XDG_CACHE_HOME:-~/.cache}/vicinity-bench). The side-by-side scripts
# (benches/compare_*.py) run their peers (hnswlib, faiss-cpu) from this venv too.
# Idempotent: when the venv already holds the pinned packages it only prints its python.
# hnswlib is built from source, so a C++ compiler is needed (Debian: g++ python3-dev);
# Debian's own python3 also needs python3-venv. As root, missing ones are installed with apt-get.
set -euo pipefail

DATA="${VICINITY_BENCH_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/vicinity-bench}"
VENV="${VICINITY_BENCH_VENV:-$DATA/venv}"
PYTHON="${PYTHON:-python3}"
PKGS=(numpy==2.4.6 onnxruntime==1.32.0 tokenizers==0.23.3 hnswlib==0.8.0 faiss-cpu==1.15.1)
STAMP="$VENV/.vicinity-bench-packages"

log() { echo "setup_venv: $*" >&2; }

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "${PKGS[*]}" ]] &&
   "$VENV/bin/python" -c "import numpy, onnxruntime, tokenizers, hnswlib, faiss" 2>/dev/null; then
  log "up to date: $VENV"
  echo "$VENV/bin/python"
  exit 0
fi

apt_install() {   # apt_install PKG...: only as root on Debian/Ubuntu, otherwise explain
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing $* with apt-get"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  else
    log "please install: $*"; exit 1
  fi
}

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' ||
  { log "need Python >= 3.11 (numpy 2.4); set PYTHON=/path/to/python3.11+"; exit 1; }
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
fi
command -v c++ >/dev/null || command -v g++ >/dev/null || apt_install g++
"$PYTHON" -c 'import os, sysconfig
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null ||
  apt_install python3-dev

mkdir -p "$(dirname "$VENV")"
[[ -x "$VENV/bin/python" ]] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
log "installing ${PKGS[*]}"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PKGS[@]}" >&2
"$VENV/bin/python" -c "import numpy, onnxruntime, tokenizers, hnswlib, faiss"
echo "${PKGS[*]}" > "$STAMP"
log "ready: $VENV"
echo "$VENV/bin/python"
