"""Side-by-side ANN comparison: hnswlib, faiss HNSW and vicinity's `ann-bench`, in one run.

    python3 benches/compare_ann.py --dataset gmm-1m-128

Every engine indexes the same dataset files (made by `make bench-data`, see
benches/data/README.md; read from $VICINITY_BENCH_DATA) with the
same M / ef_construction / ef grid, builds with --build-threads threads and answers queries
on one thread. Each engine runs in its own process, so the resident-memory growth across the
build (bytes/vector) is its own. The Python peers run as hidden `--worker` modes of this
script and print the same JSON lines as ann-bench: a build line, then one line per ef.

Prints a markdown table to stdout: build seconds, bytes/vector and QPS at recall@k >= 0.90 /
0.95 / 0.99 (the fastest ef point that reaches it) per engine, vicinity's ratios to each
peer, and the full recall/QPS curves. Raw lines go to stderr as they come.

With --rounds R > 1, every engine saves its index after the build, and R - 1 more rounds
follow in which the engines take turns (hnswlib, faiss, vicinity, vicinity-int8, then again)
to load their index and run the queries; each ef point keeps its fastest pass over all rounds.
On a shared machine QPS moves by ±10% over minutes, so one engine's whole sweep can land in a
slow patch: alternating engines gives each the same chance of a quiet one.

Outside the benchmark venv it runs benches/data/setup_venv.sh (installs numpy, hnswlib and
faiss-cpu on first use) and re-executes itself with the venv's python. Unless --no-build, it
first runs `cargo build --release -p vicinity-index --features bench --bin ann-bench` (in
$CARGO_TARGET_DIR, default the Makefile's: scripts/cache-dir.sh's cache root + /target). On a busy machine use
--repeat 3 or more: a single timed pass per ef is noisy.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyenv  # noqa: E402

REPO = pyenv.REPO
# cargo below builds where the Makefile does
os.environ.setdefault("CARGO_TARGET_DIR", str(pyenv.target_dir()))
LABELS = {"hnswlib": "hnswlib", "faiss": "faiss-hnsw", "vicinity": "vicinity",
          "vicinity-int8": "vicinity-int8"}
PEERS, OURS = ("hnswlib", "faiss"), ("vicinity", "vicinity-int8")
TARGETS = (0.90, 0.95, 0.99)
FILES = ("base.fvecs", "query.fvecs", "gt.ivecs", "base.npy", "query.npy", "gt_ids.npy")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="gmm-tiny")
    p.add_argument("--data-dir", default=str(pyenv.bench_data_dir()),
                   help="datasets (default $VICINITY_BENCH_DATA or ~/.cache/vicinity-bench)")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef", default="10,16,24,32,40,48,56,64,80,96,128,192,256")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--build-threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1,
                   help="timed passes over the queries per ef; the fastest counts")
    p.add_argument("--engines", default=",".join(LABELS))
    p.add_argument("--oversampling", default="2,4,6",
                   help="vicinity-int8 query-time sweep: rescore k x each value (with every ef)")
    p.add_argument("--json-out", help="also write every raw result line here")
    p.add_argument("--no-build", action="store_true", help="do not run cargo build first")
    p.add_argument("--rounds", type=int, default=1,
                   help="query rounds in which the engines take turns (indexes saved and reloaded)")
    p.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    p.add_argument("--save-index", help=argparse.SUPPRESS)
    p.add_argument("--load-index", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in args.engines if e not in LABELS]
    if unknown:
        p.error(f"unknown engine(s) {unknown}; choose from {list(LABELS)}")
    args.dir = Path(args.data_dir) / args.dataset
    return args


# ---------------------------------------------------------------- worker (one Python peer)

def resident_bytes():
    """Resident set size from /proc/self/statm, counted like ann-bench (pages * 4096)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def worker(args):
    import numpy as np
    if args.worker == "hnswlib":
        import hnswlib
    else:
        import faiss
    base = np.ascontiguousarray(np.load(args.dir / "base.npy"), dtype=np.float32)
    queries = np.ascontiguousarray(np.load(args.dir / "query.npy"), dtype=np.float32)
    gt = np.load(args.dir / "gt_ids.npy")[:, :args.k]
    (n, d), k = base.shape, args.k

    rss_before = resident_bytes()
    started = time.perf_counter()
    if args.load_index:
        if args.worker == "hnswlib":
            index = hnswlib.Index(space="ip", dim=d)
            index.load_index(args.load_index, max_elements=n)
        else:
            index = faiss.read_index(args.load_index)
        emit(backend=args.worker, load_s=time.perf_counter() - started, n=n, dim=d)
    else:
        if args.worker == "hnswlib":
            index = hnswlib.Index(space="ip", dim=d)
            index.init_index(max_elements=n, ef_construction=args.ef_construction, M=args.m,
                             random_seed=100)
            index.add_items(base, np.arange(n), num_threads=args.build_threads)
        else:
            faiss.omp_set_num_threads(args.build_threads)
            index = faiss.IndexHNSWFlat(d, args.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = args.ef_construction
            index.add(base)
        build_s = time.perf_counter() - started
        rss_after = resident_bytes()
        emit(backend=args.worker, build_s=build_s, build_threads=args.build_threads,
             bytes_per_vector=(rss_after - rss_before) / n, n=n, dim=d, m=args.m,
             ef_construction=args.ef_construction)
        if args.save_index:
            if args.worker == "hnswlib":
                index.save_index(args.save_index)
            else:
                faiss.write_index(index, args.save_index)

    if args.worker == "faiss":
        faiss.omp_set_num_threads(1)
    for ef in parse_efs(args.ef):
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            if args.worker == "hnswlib":
                index.set_ef(ef)
                found, _ = index.knn_query(queries, k=k, num_threads=1)
            else:
                index.hnsw.efSearch = ef
                _, found = index.search(queries, k)
            best = min(best, time.perf_counter() - t)
        # ids < 0 (faiss: fewer than k found) never equal a ground-truth id
        hits = (found[:, :k, None].astype(np.int64) == gt[:, None, :]).any(axis=2).sum()
        emit(backend=args.worker, ef=ef, recall=float(hits) / gt.size,
             qps=len(queries) / best, threads=1)


def emit(**fields):
    print(json.dumps(fields), flush=True)


def parse_efs(text):
    return [int(x) for x in text.split(",") if x.strip()]


# ---------------------------------------------------------------- driver

def ensure_venv(argv, script=__file__):
    """Re-exec `script` with the benchmark venv's python unless already running in it."""
    if os.environ.get("COMPARE_ANN_PYTHON") == sys.executable:
        return   # already re-executed with the venv's python
    python = pyenv.bench_python()
    if Path(sys.prefix).resolve() != Path(python).parent.parent.resolve():
        os.environ["COMPARE_ANN_PYTHON"] = python
        os.execv(python, [python, str(Path(script).resolve()), *argv])


def check_dataset(args):
    missing = [f for f in FILES if not (args.dir / f).exists()]
    if not missing:
        return
    sys.exit(f"compare_ann: dataset {args.dataset!r} is missing {', '.join(missing)} in "
             f"{args.dir}.\nMake it with:\n  {pyenv.make_hint(args.dataset)}")


def ann_bench_path(args, features=()):
    # ann-bench is behind the engine's `bench` feature (its clap and serde_json).
    build = ["cargo", "build", "--release", "-p", "vicinity-index", "--bin", "ann-bench"]
    build += [f"--features={f}" for f in ("bench", *features)]
    if not args.no_build:
        print("compare_ann: " + " ".join(build), file=sys.stderr)
        subprocess.run(build, cwd=REPO, check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=REPO, check=True, stdout=subprocess.PIPE, text=True)
    path = Path(json.loads(meta.stdout)["target_directory"]) / "release" / "ann-bench"
    if not path.exists():
        sys.exit(f"compare_ann: {path} not found; run without --no-build")
    return path


def engine_command(engine, args, ann_bench, save=None, load=None):
    """The command of one engine's process: build (and save to `save`), or load `load`."""
    if engine in PEERS:
        cmd = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:], "--worker", engine]
        if save:
            cmd += ["--save-index", str(save)]
        if load:
            cmd += ["--load-index", str(load)]
        return cmd
    d = args.dir
    cmd = [str(ann_bench), "--base", str(d / "base.fvecs"), "--query", str(d / "query.fvecs"),
           "--gt", str(d / "gt.ivecs"), "--metric", "cosine", "--k", str(args.k),
           "--m", str(args.m), "--ef-construction", str(args.ef_construction),
           "--ef", args.ef, "--threads", "1", "--build-threads", str(args.build_threads),
           "--backend", "hnsw", "--repeat", str(args.repeat)]
    if engine == "vicinity-int8":
        cmd += ["--quantization", "int8", "--oversampling", args.oversampling]
    if save:
        cmd += ["--save", str(save)]
    if load:
        cmd += ["--load", str(load)]
    return cmd


def point_key(row):
    return row.get("ef"), row.get("oversampling")


def keep_fastest(curve, again):
    """Each point of `curve` with the better QPS of the two passes (the search is deterministic,
    so the recall of a point is the same in every round)."""
    faster = {point_key(r): r for r in again}
    for row in curve:
        other = faster.get(point_key(row))
        if other is not None:
            if abs(other["recall"] - row["recall"]) > 1e-9:
                sys.exit(f"compare_ann: {row['engine']} ef {row.get('ef')}: recall "
                         f"{row['recall']} after a reload, {other['recall']} before")
            row["qps"] = max(row["qps"], other["qps"])


def run_engine(engine, cmd):
    """Run one engine's process; echo its lines to stderr; return (build line, curve lines)."""
    print(f"compare_ann: {LABELS.get(engine, engine)}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    build, curve = None, []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            print(f"  [{engine}] {line.rstrip()}", file=sys.stderr, flush=True)
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            row["engine"] = engine
            if "recall" in row:   # a point of the curve (ef or nprobe); else the build line
                curve.append(row)
            elif build is None:
                build = row
    if proc.returncode != 0 or build is None:
        sys.exit(f"compare_ann: {engine} failed (exit {proc.returncode})")
    return build, curve


def qps_at(curve, target):
    """Highest QPS among the ef points whose recall reaches the target, or None."""
    return max((r["qps"] for r in curve if r["recall"] >= target), default=None)


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def ratio(ours, peer):
    return "-" if ours is None or not peer else f"{ours / peer:.2f}x"


def report(args, results, meta):
    n = meta.get("n_base") or next(iter(results.values()))[0]["n"]
    dim = meta.get("dim") or next(iter(results.values()))[0]["dim"]
    print(f"dataset {args.dataset} ({n} x {dim}), M={args.m}, efC={args.ef_construction}, "
          f"k={args.k}, build threads {args.build_threads}, query threads 1, "
          f"repeat {args.repeat}, rounds {args.rounds}\n")
    print("| engine | build s | bytes/vector | " + " | ".join(f"QPS@{t:.2f}" for t in TARGETS)
          + " |\n|---|---:|---:|" + "---:|" * len(TARGETS))
    summary = {}
    for engine, (build, curve) in results.items():
        s = summary[engine] = {"build": build["build_s"], "bytes": build["bytes_per_vector"],
                               "qps": [qps_at(curve, t) for t in TARGETS]}
        print(f"| {LABELS[engine]} | {s['build']:.2f} | {fmt(s['bytes'])} | "
              + " | ".join(fmt(q) for q in s["qps"]) + " |")

    pairs = [(o, p) for o in OURS if o in summary for p in PEERS if p in summary]
    if pairs:
        print("\nratios (vicinity / peer; QPS higher is better, build time and bytes lower):\n")
        print("| vs | build time | bytes/vector | " + " | ".join(f"QPS@{t:.2f}" for t in TARGETS)
              + " |\n|---|---:|---:|" + "---:|" * len(TARGETS))
        for ours, peer in pairs:
            o, p = summary[ours], summary[peer]
            cells = [ratio(o["build"], p["build"]), ratio(o["bytes"], p["bytes"])]
            cells += [ratio(a, b) for a, b in zip(o["qps"], p["qps"])]
            print(f"| {LABELS[ours]} / {LABELS[peer]} | " + " | ".join(cells) + " |")

    sha = meta.get("files", {}).get("base.fvecs", {}).get("sha256")
    print(f"\nbase.fvecs sha256 {sha or '(not in meta.json)'}, seed {meta.get('seed', '?')}")
    print("\ncurves (recall@%d / QPS per ef):\n" % args.k)
    print("| ef | " + " | ".join(LABELS[e] for e in results) + " |\n|---:|"
          + "---|" * len(results))
    for ef in parse_efs(args.ef):
        cells = []
        for build, curve in results.values():
            row = next((r for r in curve if r["ef"] == ef), None)
            cells.append("-" if row is None else f"{row['recall']:.4f} / {row['qps']:,.0f}")
        print(f"| {ef} | " + " | ".join(cells) + " |")


def main(argv):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    check_dataset(args)
    if any(e in PEERS for e in args.engines):
        ensure_venv(argv)
    ann_bench = ann_bench_path(args) if any(e in OURS for e in args.engines) else None
    meta_path = args.dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}

    results = {}
    with tempfile.TemporaryDirectory(prefix="compare-ann-") as tmp:
        saved = {e: Path(tmp) / f"{e}.index" if args.rounds > 1 else None for e in args.engines}
        for engine in args.engines:
            results[engine] = run_engine(engine, engine_command(engine, args, ann_bench,
                                                                save=saved[engine]))
        for round_ in range(2, args.rounds + 1):
            print(f"compare_ann: round {round_} of {args.rounds}", file=sys.stderr, flush=True)
            for engine in args.engines:
                _, curve = run_engine(engine, engine_command(engine, args, ann_bench,
                                                             load=saved[engine]))
                keep_fastest(results[engine][1], curve)
    if args.json_out:
        with open(args.json_out, "w") as f:
            for build, curve in results.values():
                for row in [build, *curve]:
                    f.write(json.dumps(row) + "\n")
    report(args, results, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
