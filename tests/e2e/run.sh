#!/usr/bin/env bash
# End-to-end tests: the real qdrant-client (Python) against a vicinity binary.
#
#   bash tests/e2e/run.sh [pytest args...]
#
# VENV         virtualenv to use/create   (default <cache>/venv)
# VICINITY_BIN server binary under test   (default $CARGO_TARGET_DIR/release/vicinity, with
#              CARGO_TARGET_DIR defaulting to <cache>/target as in the Makefile)
# <cache> is scripts/cache-dir.sh's answer: /var/cache/vicinity when writable, else
# ${XDG_CACHE_HOME:-~/.cache}/vicinity.
# Idempotent: creates the venv and installs qdrant-client, pytest and numpy only when missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$(bash "$REPO_ROOT/scripts/cache-dir.sh")"
VENV="${VENV:-$CACHE/venv}"
export VICINITY_BIN="${VICINITY_BIN:-${CARGO_TARGET_DIR:-$CACHE/target}/release/vicinity}"
PY="$VENV/bin/python"

apt_install() {
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "$PY" ] || ! "$PY" -m pip --version >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || apt_install python3
  echo "e2e: creating venv $VENV"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's python3 needs python3-venv (ensurepip) for this
    echo "e2e: installing python3-venv"
    PYV="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install python3-venv "python${PYV}-venv" || apt_install python3-venv
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
fi

missing=()
"$PY" -c 'import qdrant_client' >/dev/null 2>&1 || missing+=(qdrant-client)
"$PY" -c 'import pytest' >/dev/null 2>&1 || missing+=(pytest)
"$PY" -c 'import numpy' >/dev/null 2>&1 || missing+=(numpy)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "e2e: pip install ${missing[*]}"
  "$PY" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi

if [ ! -x "$VICINITY_BIN" ]; then
  echo "e2e: vicinity binary not found at $VICINITY_BIN (build it, or set VICINITY_BIN)" >&2
  exit 2
fi

cd "$REPO_ROOT"
exec "$PY" -m pytest -q -p no:cacheprovider tests/e2e "$@"
