"""Bulk ingest side by side: vicinity's import job vs hnswlib building the same index.

    python3 benches/compare_ingest.py --dataset gmm-1m-128          # the issue's measurement
    python3 benches/compare_ingest.py --dataset gmm-tiny            # a quick check

vicinity: a fresh server (a copy of $CARGO_TARGET_DIR/release/vicinity, the target dir
defaulting to the Makefile's, on a fresh data dir) gets a collection with the same M /
ef_construct, then `POST /collections/{c}/import {"path": base.fvecs, "format": "fvecs"}`.
The time is from that request to the job's `succeeded`: reading the file, writing every point
to RocksDB (synced batches), inserting into the HNSW index on all cores and saving the index.
The job's progress (done / total, rate, ETA) is printed every few seconds as it runs.
Afterwards the points are counted and the queries answered over HTTP (recall@10 at ef=64),
so "searchable" is checked, not assumed.

hnswlib: builds the same vectors (base.npy, already in memory) with --threads threads and the
same M / ef_construction, in its own process (the benchmark venv, benches/data/setup_venv.sh).

The dataset comes from `make bench-data` ($VICINITY_BENCH_DATA, see benches/data/README.md).

Prints one JSON line per measurement and a table with vicinity's time as a ratio of
hnswlib's (the issue asks for <= 1.5). Both run one after the other on the same machine.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyenv  # noqa: E402

REPO = pyenv.REPO
TARGET = pyenv.target_dir()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="gmm-1m-128")
    p.add_argument("--data-dir", default=str(pyenv.bench_data_dir()),
                   help="datasets (default $VICINITY_BENCH_DATA or ~/.cache/vicinity-bench)")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--threads", type=int, default=2, help="hnswlib build threads")
    p.add_argument("--port", type=int, default=6395)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.dir = Path(args.data_dir) / args.dataset
    return args


def emit(**fields):
    print(json.dumps(fields), flush=True)


# ---------------------------------------------------------------- hnswlib (own process)

def hnswlib_worker(args):
    import hnswlib
    import numpy as np
    base = np.ascontiguousarray(np.load(args.dir / "base.npy"), dtype=np.float32)
    n, d = base.shape
    started = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=d)
    index.init_index(max_elements=n, ef_construction=args.ef_construction, M=args.m, random_seed=100)
    index.add_items(base, np.arange(n), num_threads=args.threads)
    emit(engine="hnswlib", build_s=time.perf_counter() - started, n=n, threads=args.threads)


def run_hnswlib(args):
    python = pyenv.bench_python()
    out = subprocess.run([python, str(Path(__file__).resolve()), "--worker", "--dataset", args.dataset,
                          "--data-dir", str(args.dir.parent), "--m", str(args.m),
                          "--ef-construction", str(args.ef_construction), "--threads", str(args.threads)],
                         stdout=subprocess.PIPE, text=True, check=True)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(line), flush=True)
    return line


# ---------------------------------------------------------------- vicinity (over HTTP)

def call(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.loads(resp.read())["result"]


def start_server(args, workdir):
    binary = workdir / "vicinity"
    shutil.copy(TARGET / "release" / "vicinity", binary)
    env = dict(os.environ, VICINITY__EMBEDDING__ENABLED="false", RUST_LOG="warn")
    proc = subprocess.Popen([str(binary), "serve", "--port", str(args.port), "--data-dir",
                             str(workdir / "data")], cwd=workdir, env=env)
    for _ in range(300):
        try:
            call(args.port, "GET", "/readyz")
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("compare_ingest: vicinity did not start")


def read_ivecs_row0(path, n_queries):
    import struct
    rows = []
    with open(path, "rb") as f:
        for _ in range(n_queries):
            (k,) = struct.unpack("<i", f.read(4))
            rows.append(struct.unpack(f"<{k}i", f.read(4 * k)))
    return rows


def read_fvecs(path):
    import struct
    out = []
    with open(path, "rb") as f:
        while head := f.read(4):
            (d,) = struct.unpack("<i", head)
            out.append(list(struct.unpack(f"<{d}f", f.read(4 * d))))
    return out


def run_vicinity(args):
    meta = json.loads((args.dir / "meta.json").read_text())
    n = meta["n_base"]
    with tempfile.TemporaryDirectory(prefix="compare-ingest-") as tmp:
        proc = start_server(args, Path(tmp))
        try:
            call(args.port, "PUT", "/collections/bench", {
                "vectors": {"size": meta["dim"], "distance": "Cosine"},
                "hnsw_config": {"m": args.m, "ef_construct": args.ef_construction}})
            started = time.perf_counter()
            job_id = call(args.port, "POST", "/collections/bench/import",
                          {"path": str(args.dir / "base.fvecs"), "format": "fvecs"})["job_id"]
            last_print = 0.0
            while True:
                job = call(args.port, "GET", f"/jobs/{job_id}")
                now = time.perf_counter() - started
                if job["state"] not in ("queued", "running"):
                    break
                if now - last_print >= 5:
                    eta = job["eta_s"]
                    print(f"  {now:6.0f}s  {job['done']:>9}/{job['total']}  "
                          f"{job['rate_per_s'] or 0:8.0f}/s  ETA {eta if eta is None else round(eta)}s",
                          file=sys.stderr, flush=True)
                    last_print = now
                time.sleep(0.2)
            import_s = time.perf_counter() - started
            if job["state"] != "succeeded":
                sys.exit(f"compare_ingest: import ended {job['state']}: {job['error']}")
            count = call(args.port, "POST", "/collections/bench/points/count", {})["count"]
            queries = read_fvecs(args.dir / "query.fvecs")
            gt = read_ivecs_row0(args.dir / "gt.ivecs", len(queries))
            found = call(args.port, "POST", "/collections/bench/points/query/batch", {"searches": [
                {"query": q, "limit": 10, "params": {"hnsw_ef": 64}} for q in queries]})
            hits = sum(len({p["id"] for p in r["points"]} & set(g[:10])) for r, g in zip(found, gt))
            line = {"engine": "vicinity", "import_s": import_s, "n": n, "count": count,
                    "recall_at_10_ef64": hits / (10 * len(queries)), "rate_per_s": job["rate_per_s"]}
            print(json.dumps(line), flush=True)
            if count != n:
                sys.exit(f"compare_ingest: {count} points searchable, expected {n}")
            return line
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=300)


def main(argv):
    args = parse_args(argv)
    if args.worker:
        return hnswlib_worker(args)
    if not (args.dir / "base.fvecs").exists():
        sys.exit(f"compare_ingest: {args.dir}/base.fvecs is missing; make it with "
                 f"{pyenv.make_hint(args.dataset)}")
    ours = run_vicinity(args)
    peer = run_hnswlib(args)
    ratio = ours["import_s"] / peer["build_s"]
    print(f"\n| {args.dataset} (M={args.m}, efC={args.ef_construction}) | seconds | ratio to hnswlib |")
    print("|---|---:|---:|")
    print(f"| hnswlib build, {args.threads} threads | {peer['build_s']:.1f} | 1.00 |")
    print(f"| vicinity import job (fvecs → RocksDB + HNSW + save) | {ours['import_s']:.1f} | {ratio:.2f} |")
    print(f"\nvicinity: {ours['count']} points searchable, recall@10 at ef=64 {ours['recall_at_10_ef64']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
