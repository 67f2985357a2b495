"""Faiss side by side: faiss-cpu (PyPI) and vicinity's Faiss backend on the same factory string.

    python3 benches/compare_faiss.py --dataset gmm-1m-128 --factory IVF1024,PQ32x8

Every engine indexes the same files (`make bench-data`) and trains on the same strided sample
(`--train-size` rows: 0, n/t, 2n/t, ...), then answers single-threaded queries at each nprobe:
- `faiss-cpu`: the PyPI package, in this script's worker mode (batch search, one thread);
- `vicinity-faiss`: `ann-bench --backend faiss` on the codes alone (same library, our wrapper);
- `vicinity-faiss-rescore`: the same with the best `k x oversampling` candidates rescored with
  the f32 vectors, which the service reads from RocksDB (held outside the index here);
- `vicinity-hnsw`: our f32 HNSW at one ef, for the bytes-per-vector comparison.

Prints the build seconds, resident bytes per vector and the index's own count, the recall / QPS
per nprobe with vicinity's ratio to faiss-cpu, and the best QPS at recall >= 0.90 / 0.95.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_ann as ca  # noqa: E402  (shared venv / dataset / process helpers)

ENGINES = ("faiss-cpu", "vicinity-faiss", "vicinity-faiss-rescore", "vicinity-hnsw")
TARGETS = (0.90, 0.95)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="gmm-tiny")
    p.add_argument("--data-dir", default=str(ca.pyenv.bench_data_dir()),
                   help="datasets (default $VICINITY_BENCH_DATA or ~/.cache/vicinity-bench)")
    p.add_argument("--factory", default="IVF1024,PQ32x8")
    p.add_argument("--nprobe", default="1,2,4,8,16,32,64")
    p.add_argument("--train-size", type=int, default=65536)
    p.add_argument("--oversampling", default="8,16,32,64")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--build-threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--hnsw-ef", default="64")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    args.dir = Path(args.data_dir) / args.dataset
    return args


def worker(args):
    """faiss-cpu: the same factory, the same training rows, batch search on one thread."""
    import faiss
    import numpy as np
    base = np.ascontiguousarray(np.load(args.dir / "base.npy"), dtype=np.float32)
    queries = np.ascontiguousarray(np.load(args.dir / "query.npy"), dtype=np.float32)
    gt = np.load(args.dir / "gt_ids.npy")[:, :args.k]
    (n, d), k = base.shape, args.k
    faiss.omp_set_num_threads(args.build_threads)
    before = ca.resident_bytes()
    started = time.perf_counter()
    index = faiss.index_factory(d, args.factory, faiss.METRIC_INNER_PRODUCT)
    want = min(args.train_size, n)
    index.train(base[::max(1, n // want)][:want])
    index.add_with_ids(base, np.arange(n, dtype=np.int64))
    ca.emit(backend="faiss-cpu", build_s=time.perf_counter() - started, n=n, dim=d,
            build_threads=args.build_threads, bytes_per_vector=(ca.resident_bytes() - before) / n,
            index_bytes_per_vector=faiss.serialize_index(index).nbytes / n)
    faiss.omp_set_num_threads(1)
    ivf = faiss.extract_index_ivf(index)
    for nprobe in ca.parse_efs(args.nprobe):
        ivf.nprobe = nprobe
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            _, found = index.search(queries, k)
            best = min(best, time.perf_counter() - t)
        hits = (found[:, :k, None].astype(np.int64) == gt[:, None, :]).any(axis=2).sum()
        ca.emit(backend="faiss-cpu", nprobe=nprobe, recall=float(hits) / gt.size,
                qps=len(queries) / best, threads=1)


def command(engine, args, ann_bench):
    if engine == "faiss-cpu":
        return [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:], "--worker"]
    d = args.dir
    cmd = [str(ann_bench), "--base", str(d / "base.fvecs"), "--query", str(d / "query.fvecs"),
           "--gt", str(d / "gt.ivecs"), "--metric", "cosine", "--k", str(args.k),
           "--threads", "1", "--build-threads", str(args.build_threads),
           "--repeat", str(args.repeat)]
    if engine == "vicinity-hnsw":
        return cmd + ["--backend", "hnsw", "--ef", args.hnsw_ef]
    cmd += ["--backend", "faiss", "--faiss-factory", args.factory, "--nprobe", args.nprobe,
            "--train-size", str(args.train_size)]
    if engine == "vicinity-faiss-rescore":
        cmd += ["--rescore", "--oversampling", args.oversampling]
    return cmd


def report(args, results):
    b0 = next(iter(results.values()))[0]
    print(f"dataset {args.dataset} ({b0['n']} x {b0['dim']}), factory {args.factory}, "
          f"train {args.train_size} rows, k={args.k}, build threads {args.build_threads}, "
          f"query threads 1, repeat {args.repeat}\n")
    print("| engine | build s | RSS bytes/vector | index bytes/vector | "
          + " | ".join(f"QPS@{t:.2f}" for t in TARGETS) + " |\n|---|---:|---:|---:|"
          + "---:|" * len(TARGETS))
    for engine, (build, curve) in results.items():
        qps = [ca.qps_at(curve, t) for t in TARGETS]
        print(f"| {engine} | {build['build_s']:.1f} | {ca.fmt(build['bytes_per_vector'])} | "
              f"{ca.fmt(build.get('index_bytes_per_vector'))} | "
              + " | ".join(ca.fmt(q) for q in qps) + " |")
    hnsw, ours = results.get("vicinity-hnsw"), results.get("vicinity-faiss-rescore")
    if hnsw and ours:
        r = ours[0]["index_bytes_per_vector"] / hnsw[0]["index_bytes_per_vector"]
        print(f"\nindex bytes per vector, vicinity Faiss / vicinity f32 HNSW: {r:.3f}x")
    peer = dict((r["nprobe"], r) for r in results.get("faiss-cpu", (None, []))[1])
    print("\nper nprobe (recall@%d / QPS; ratio = vicinity QPS / faiss-cpu QPS at the same nprobe):\n"
          % args.k)
    cols = [e for e in ("faiss-cpu", "vicinity-faiss", "vicinity-faiss-rescore") if e in results]
    print("| nprobe | " + " | ".join(cols) + " | vicinity-faiss / faiss-cpu |\n|---:|"
          + "---|" * (len(cols) + 1))
    for nprobe in ca.parse_efs(args.nprobe):
        cells = []
        for e in cols:
            rows = [r for r in results[e][1] if r["nprobe"] == nprobe]
            cells.append(", ".join(f"{r['recall']:.4f} / {r['qps']:,.0f}"
                                   + (f" (x{r['oversampling']:g})" if "oversampling" in r else "")
                                   for r in rows) or "-")
        mine = next((r for r in results.get("vicinity-faiss", (None, []))[1]
                     if r["nprobe"] == nprobe), None)
        ratio = ca.ratio(mine and mine["qps"], peer.get(nprobe, {}).get("qps"))
        print(f"| {nprobe} | " + " | ".join(cells) + f" | {ratio} |")


def main(argv):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    ca.check_dataset(args)
    if "faiss-cpu" in args.engines:
        ca.ensure_venv(argv, script=__file__)
    ann_bench = ca.ann_bench_path(args, features=("faiss",))
    results = {e: ca.run_engine(e, command(e, args, ann_bench)) for e in args.engines}
    report(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
