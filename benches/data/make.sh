#!/usr/bin/env bash
# Makes the benchmark datasets (`make bench-data` runs this), each only if it is not made yet.
#
#   bash benches/data/make.sh [DATASET...]     # default: gmm-tiny gmm-1m-128 gcide-minilm
#
# DATASET is a synthetic preset of make_synthetic.py (gmm-tiny, gmm-1m-128, gmm-100k-960) or
# gcide-minilm (make_text_dataset.py). Datasets go to $VICINITY_BENCH_DATA/<name>/ (default
# ${XDG_CACHE_HOME:-~/.cache}/vicinity-bench); one that is complete there (common.py made) is
# left alone, so a second run takes seconds.
#
# VICINITY_BENCH_LIMIT=N makes small versions for quick checks, named <dataset>-limitN:
# synthetic sets keep at most N base vectors (and the 1,000 queries); gcide-minilm keeps the
# first N shuffled texts (1,000 queries, N - 1,000 base: N must exceed 1,000).
#
# Needs: the benchmark venv (setup_venv.sh, created on first use); for gcide-minilm also
# Debian's dict-gcide (installed with apt-get when run as root, else named) and the model
# `make setup` installs (scripts/setup-embedding.sh; run here when missing).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export PYTHONDONTWRITEBYTECODE=1
export VICINITY_BENCH_DATA="${VICINITY_BENCH_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/vicinity-bench}"
LIMIT="${VICINITY_BENCH_LIMIT:-}"
GCIDE_DIR="${GCIDE_DIR:-/usr/share/dictd}"
[[ $# -gt 0 ]] || set -- gmm-tiny gmm-1m-128 gcide-minilm
[[ -z "$LIMIT" || "$LIMIT" =~ ^[1-9][0-9]*$ ]] || { echo "bench-data: VICINITY_BENCH_LIMIT must be a positive integer" >&2; exit 2; }

log() { echo "bench-data: $*" >&2; }
PY=""
python() {   # the benchmark venv's python, made on first use
  [[ -n "$PY" ]] || PY="$(bash "$HERE/setup_venv.sh")"
  "$PY" "$@"
}

for d in "$@"; do
  name="$d${LIMIT:+-limit$LIMIT}"
  case "$d" in
    gmm-tiny|gmm-1m-128|gmm-100k-960) cmd=("$HERE/make_synthetic.py" "$d") ;;
    gcide-minilm) cmd=("$HERE/make_text_dataset.py") ;;
    *) echo "bench-data: unknown dataset $d (gmm-tiny, gmm-1m-128, gmm-100k-960, gcide-minilm)" >&2; exit 2 ;;
  esac
  [[ -z "$LIMIT" ]] || cmd+=(--limit "$LIMIT")
  if python "$HERE/common.py" made "$name"; then
    log "$name: already made in $VICINITY_BENCH_DATA/$name"
    continue
  fi
  if [[ "$d" == gcide-minilm ]]; then
    if [[ ! -f "$GCIDE_DIR/gcide.index" ]]; then
      if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        log "installing dict-gcide with apt-get"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dict-gcide >&2
      else
        log "$name needs Debian's dict-gcide: apt-get install -y dict-gcide (or set GCIDE_DIR)"; exit 1
      fi
    fi
    bash "$REPO/scripts/setup-embedding.sh" >&2
  fi
  log "making $name (${cmd[*]##*/})"
  t0=$SECONDS
  nice -n 10 "$PY" "${cmd[@]}" >&2
  python "$HERE/common.py" made "$name" || { log "$name: not complete after ${cmd[*]##*/}"; exit 1; }
  log "$name: made in $((SECONDS - t0)) s"
done
log "ok: $* ${LIMIT:+(limit $LIMIT) }in $VICINITY_BENCH_DATA"
