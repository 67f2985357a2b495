#!/usr/bin/env bash
# Prints vicinity's cache root: where the cargo target dir, the venvs and the embedding model
# live, outside the clone so that fresh checkouts reuse them.
#
#   $VICINITY_CACHE                         when set
#   /var/cache/vicinity                     when it is writable (or can be created): CI, root
#   ${XDG_CACHE_HOME:-$HOME/.cache}/vicinity otherwise (any other user)
#
# The Makefile, scripts/setup-embedding.sh, tests/e2e/run.sh and the bench scripts
# (benches/pyenv.py) all resolve it the same way.
set -euo pipefail
if [[ -n "${VICINITY_CACHE:-}" ]]; then
  echo "$VICINITY_CACHE"
elif [[ -d /var/cache/vicinity && -w /var/cache/vicinity ]] ||
     [[ ! -e /var/cache/vicinity && -w /var/cache ]]; then
  echo /var/cache/vicinity
else
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/vicinity"
fi
