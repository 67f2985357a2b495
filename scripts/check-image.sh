#!/usr/bin/env bash
# Checks the container image without a container tool: runs the Dockerfile's steps
# (scripts/image.sh) in clean Debian 12 chroots made with mmdebstrap, then starts the result
# and queries it by text.
#
#   sudo bash scripts/check-image.sh          # ~20-40 min on 2 cores (a clean release build)
#
#   1. build root  = `mmdebstrap --variant=minbase bookworm` + the host's Rust toolchain
#                    (read-only bind mount; rust:1-bookworm is Debian 12 + rustup's toolchain)
#                    + this checkout as the Dockerfile's `COPY . .` sees it (.dockerignore);
#                    runs `image.sh build-deps` and `image.sh build /out`
#   2. run root    = another minbase bookworm (what debian:bookworm-slim is); runs
#                    `image.sh runtime-deps`, gets the build root's /out and config/ as the
#                    Dockerfile's COPY lines do
#   3. smoke test  = the image's CMD (`vicinity serve --host 0.0.0.0 ...`, port moved) in the
#                    run root; over HTTP: /readyz, a collection with the default embedding
#                    model, texts upserted, a text query that must find its own text first,
#                    and /embed
#
# Settings (environment): CHECK_IMAGE_DIR (work dir, default a new /tmp/vicinity-check-image.*;
# removed at the end unless KEEP=1), PORT (default 16333), RUST_SYSROOT (default
# `rustc --print sysroot`), CHECK_IMAGE_LOCK (a file to hold with flock around the cargo
# build, where builds on a machine take turns). Needs root (chroot, mounts), network to the package registries,
# ~6 GB of disk. mmdebstrap is installed with apt-get if missing. The host's CA bundle is
# copied in so that TLS works the same as on the host.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${PORT:-16333}"
log() { echo "check-image: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (chroot, mount)"
command -v mmdebstrap >/dev/null || {
  log "installing mmdebstrap with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap
}
SYSROOT="${RUST_SYSROOT:-$(rustc --print sysroot)}"
[[ -x "$SYSROOT/bin/cargo" ]] || die "no cargo in $SYSROOT/bin (set RUST_SYSROOT to a toolchain with cargo)"

WORK="${CHECK_IMAGE_DIR:-$(mktemp -d /tmp/vicinity-check-image.XXXXXX)}"
mkdir -p "$WORK"
BUILD="$WORK/build"
RUN="$WORK/run"
MOUNTS=()
SERVER=""
cleanup() {
  if [[ -n "$SERVER" ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -R -l "${MOUNTS[i]}" 2>/dev/null || true; done
  if grep -q " $WORK/" /proc/mounts; then
    log "mounts left under $WORK (not removing it): $(grep " $WORK/" /proc/mounts | cut -d' ' -f2 | tr '\n' ' ')"
  elif [[ "${KEEP:-0}" != 1 ]]; then
    rm -rf --one-file-system "$WORK"
  else
    log "kept $WORK"
  fi
}
trap cleanup EXIT

mount_into() {   # mount_into ROOT: /proc, /dev, /sys, resolv.conf and the host's CA bundle
  local root=$1
  mkdir -p "$root/proc" "$root/dev" "$root/sys"
  mount -t proc proc "$root/proc" && MOUNTS+=("$root/proc")
  mount --rbind /dev "$root/dev" && MOUNTS+=("$root/dev")
  mount --rbind /sys "$root/sys" && MOUNTS+=("$root/sys")
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
}
in_root() {   # in_root ROOT COMMAND: a clean environment, like a container's
  local root=$1; shift
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HOME=/usr/local/cargo bash -euo pipefail -c "$*"
}
host_ca() {   # after ca-certificates is installed in ROOT: trust what the host trusts
  cp -L /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
}

T0=$SECONDS
log "work dir $WORK"
log "1/3 build root: mmdebstrap bookworm (minbase), Rust $("$SYSROOT/bin/rustc" --version | cut -d' ' -f2) from $SYSROOT"
mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$BUILD" >&2
host_ca "$BUILD"
mount_into "$BUILD"
mkdir -p "$BUILD/usr/local/rust"
mount --bind "$SYSROOT" "$BUILD/usr/local/rust" && MOUNTS+=("$BUILD/usr/local/rust")
mount -o remount,bind,ro "$BUILD/usr/local/rust"
# the build context: the checkout minus .dockerignore's entries (target, data, .git)
mkdir -p "$BUILD/src"
mapfile -t IGNORE < <(grep -v '^\s*\(#\|$\)' "$REPO/.dockerignore")
tar -C "$REPO" "${IGNORE[@]/#/--exclude=./}" -cf - . | tar -C "$BUILD/src" -xf -
in_root "$BUILD" "cd /src && bash scripts/image.sh build-deps"
host_ca "$BUILD"   # build-deps reinstalls ca-certificates' bundle
if [[ -n "${CHECK_IMAGE_LOCK:-}" ]]; then
  log "waiting for $CHECK_IMAGE_LOCK"
  exec 8>"$CHECK_IMAGE_LOCK"
  flock 8
fi
in_root "$BUILD" "cd /src && bash scripts/image.sh build /out"
if [[ -n "${CHECK_IMAGE_LOCK:-}" ]]; then flock -u 8; exec 8>&-; fi
log "build stage done in $((SECONDS - T0)) s: $(du -sh "$BUILD/out" | cut -f1) in /out"

log "2/3 run root: mmdebstrap bookworm (minbase) + image.sh runtime-deps"
mmdebstrap --quiet --variant=minbase bookworm "$RUN" >&2
mount_into "$RUN"
cp "$REPO/scripts/image.sh" "$RUN/tmp/image.sh"
in_root "$RUN" "bash /tmp/image.sh runtime-deps && rm /tmp/image.sh"
cp -a "$BUILD/out/." "$RUN/"
mkdir -p "$RUN/srv/vicinity" "$RUN/data"
cp -a "$REPO/config" "$RUN/srv/vicinity/config"

log "3/3 smoke test on port $PORT"
chroot "$RUN" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin RUST_LOG=info \
  sh -c "cd /srv/vicinity && exec vicinity serve --host 0.0.0.0 --port $PORT --data-dir /data" \
  > "$WORK/server.log" 2>&1 &
SERVER=$!
python3 - "$PORT" "$WORK/server.log" <<'PY'
import json, sys, time, urllib.request
port, log = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"

def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())

for _ in range(120):
    try:
        call("GET", "/readyz")
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit("server not ready in 60 s; log:\n" + open(log).read()[-4000:])
texts = ["The cat sat on the mat.", "Stock markets fell sharply today.",
         "A recipe for bread with flour, water and yeast.", "The rocket launched into orbit."]
call("PUT", "/collections/docs", {"embedding": {"model": "all-minilm-l6-v2", "store_text": "text"}})
call("PUT", "/collections/docs/points?wait=true",
     {"points": [{"id": i, "text": t} for i, t in enumerate(texts)]})
hits = call("POST", "/collections/docs/points/query",
            {"query": {"text": "a small cat resting on a rug"}, "limit": 2,
             "with_payload": True})["result"]["points"]
assert hits and hits[0]["id"] == 0, hits
emb = call("POST", "/embed", {"texts": ["hello world"]})["result"]
assert emb["model"] == "all-minilm-l6-v2" and len(emb["vectors"][0]) == 384, emb
print(f"check-image: text query ok: {hits[0]['payload']['text']!r} first "
      f"(score {hits[0]['score']:.3f}); /embed gives 384-d vectors", file=sys.stderr)
PY
grep -q "text embedding disabled" "$WORK/server.log" && die "the server disabled text embedding: $(grep 'text embedding disabled' "$WORK/server.log")"
log "ok in $((SECONDS - T0)) s: the image's steps build on Debian 12 and serve text queries"
