"""Hybrid search on real text: dense-only, BM25-only and hybrid (RRF of both) side by side in one
run — quality against known-item relevance judgements, and QPS at 32 clients.

Data: GCIDE definition texts (benches/data/gcide.py, Debian's dict-gcide; installed with apt-get
when run as root), shuffled with --seed; the first --docs are the collection. Each of --queries
documents, drawn at random from the collection, yields one held-out query: a contiguous span of
about half of its words (at least 3), with one word of the span dropped at random — what a
reader who half-remembers a definition types. The document it came from is the one relevant
answer (known-item search), so recall@10 is the share of queries whose source is in the top 10
and nDCG@10 is 1/log2(rank + 1) for it.

The collection embeds its texts server-side (all-minilm-l6-v2 into the dense vector) and
computes BM25 into the sparse vector `keywords` (modifier idf) from the same text, through
one streamed import. Queries:
- dense:   {"query": {"text": q}}
- bm25:    {"query": {"text": q}, "using": "keywords"}
- hybrid:  {"prefetch": [dense, bm25 with limit --pool], "query": {"fusion": "rrf"}}
QPS at --clients concurrent clients (processes), result cache bypassed ("cache": false), two
runs per method alternating: once on the text path (embedding cache off: every query is
embedded), once with precomputed query vectors (the search cost alone: the dense vector from
/embed, the BM25 query as a `qdrant/bm25` document).

Usage: python3 benches/hybrid_search.py [--docs 20000] [--queries 1000] [--clients 32]
       (make bench-hybrid). About 3 minutes at the defaults on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))

import numpy as np  # noqa: E402

import pyenv  # noqa: E402
from eval_recs import Api, measure, start_server, wait_job  # noqa: E402

COLLECTION = "gcide"
MODEL = "all-minilm-l6-v2"


def texts(seed: int, n: int) -> list[str]:
    import gcide

    if not (gcide.GCIDE_DIR / "gcide.index").exists() and os.geteuid() == 0:
        print("installing dict-gcide with apt-get", flush=True)
        os.system("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dict-gcide")
    all_texts = gcide.extract()
    random.Random(seed).shuffle(all_texts)
    return all_texts[:n]


def make_queries(docs: list[str], n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed + 1)
    out = []
    for target in rng.sample(range(len(docs)), n):
        words = docs[target].split()
        span = max(3, len(words) // 2)
        start = rng.randrange(0, len(words) - span + 1)
        chosen = words[start:start + span]
        if len(chosen) > 3:
            chosen.pop(rng.randrange(len(chosen)))
        out.append((" ".join(chosen), target))
    return out


def quality(api: Api, queries: list, body_of) -> tuple[float, float]:
    hits, ndcg = 0, 0.0
    for q, target in queries:
        points = api.call("POST", f"/collections/{COLLECTION}/points/query", {**body_of(q), "limit": 10})["points"]
        ids = [p["id"] for p in points]
        if target in ids:
            hits += 1
            ndcg += 1 / math.log2(ids.index(target) + 2)
    return hits / len(queries), ndcg / len(queries)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(pyenv.target_dir() / "release" / "vicinity"))
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--pool", type=int, default=20, help="each prefetch's limit in the hybrid query")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    t0 = time.perf_counter()
    docs = texts(args.seed, args.docs)
    queries = make_queries(docs, args.queries, args.seed)
    print(f"{len(docs):,} GCIDE definitions, {len(queries):,} known-item queries "
          f"(e.g. {queries[0][0]!r} -> {docs[queries[0][1]]!r})", flush=True)

    tmp = tempfile.mkdtemp(prefix="vicinity-hybrid-")
    os.environ["VICINITY__EMBEDDING__CACHE_BYTES"] = "0"
    proc, port, log = start_server(args.bin, tmp)
    try:
        api = Api(port)
        api.call("PUT", f"/collections/{COLLECTION}", {
            "embedding": {"model": MODEL, "bm25": {"vector": "keywords"}},
            "sparse_vectors": {"keywords": {"modifier": "idf"}},
        })
        path = Path(tmp) / "import" / "docs.jsonl"
        with open(path, "w") as f:
            for i, t in enumerate(docs):
                f.write(json.dumps({"id": i, "text": t}) + "\n")
        t = time.perf_counter()
        job = api.call("POST", f"/collections/{COLLECTION}/import",
                       {"path": "docs.jsonl", "format": "jsonl"}, ok=(200, 202))
        j = wait_job(api, job["job_id"])
        if j["state"] != "succeeded":
            sys.exit(f"the import failed: {j}")
        print(f"imported and embedded in {time.perf_counter() - t:.0f} s", flush=True)

        dense = lambda q: {"query": {"text": q}}  # noqa: E731
        bm25 = lambda q: {"query": {"text": q}, "using": "keywords"}  # noqa: E731
        hybrid = lambda q: {"prefetch": [{**dense(q), "limit": args.pool}, {**bm25(q), "limit": args.pool}],  # noqa: E731
                            "query": {"fusion": "rrf"}}
        methods = {"dense": dense, "bm25": bm25, "hybrid (RRF)": hybrid}
        scores = {name: quality(api, queries, f) for name, f in methods.items()}

        # Precomputed query vectors: the search alone.
        vectors = []
        for start in range(0, len(queries), 64):
            batch = [q for q, _ in queries[start:start + 64]]
            vectors += api.call("POST", "/embed", {"texts": batch, "model": MODEL})["vectors"]
        doc = lambda q: {"text": q, "model": "qdrant/bm25"}  # noqa: E731
        by_vector = {
            "dense": lambda i, q: {"query": vectors[i]},
            "bm25": lambda i, q: {"query": doc(q), "using": "keywords"},
            "hybrid (RRF)": lambda i, q: {"prefetch": [{"query": vectors[i], "limit": args.pool},
                                                       {"query": doc(q), "using": "keywords", "limit": args.pool}],
                                          "query": {"fusion": "rrf"}},
        }
        route = f"/collections/{COLLECTION}/points/query"

        def work(body_of, with_index: bool) -> list:
            rng = random.Random(args.seed + 2)
            out = []
            for _ in range(args.clients):
                picks = rng.sample(range(len(queries)), min(200, len(queries)))
                out.append([(route, json.dumps({**(body_of(i, queries[i][0]) if with_index else body_of(queries[i][0])),
                                                "limit": 10, "cache": False}).encode()) for i in picks])
            return out

        results = {}
        for path_name, table, with_index in [("text", methods, False), ("vector", by_vector, True)]:
            works = {name: work(f, with_index) for name, f in table.items()}
            measure(port, works["dense"], 2, 1.0)  # warm-up
            runs = {name: [] for name in works}
            for _ in range(2):
                for name, w in works.items():
                    runs[name].append(measure(port, w, args.clients, args.seconds))
            results[path_name] = {name: tuple(float(np.mean([r[k] for r in rs])) for k in range(3))
                                  for name, rs in runs.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{len(docs):,} GCIDE definitions, {len(queries):,} known-item queries (one relevant document "
          f"each); hybrid = RRF (k 2) of dense and BM25 prefetches of {args.pool}; QPS at {args.clients} "
          f"clients, uncached, {args.seconds:g} s per run, two runs each, alternating\n")
    print("| method | recall@10 | nDCG@10 | QPS, text queries | p99 ms | QPS, precomputed vectors | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in methods:
        r, n = scores[name]
        tq, tv = results["text"][name], results["vector"][name]
        print(f"| {name} | {r:.3f} | {n:.3f} | {tq[0]:,.0f} | {tq[2]:.1f} | {tv[0]:,.0f} | {tv[2]:.1f} |")
    for path_name in ("text", "vector"):
        ratio = results[path_name]["hybrid (RRF)"][0] / results[path_name]["dense"][0]
        print(f"\nhybrid / dense QPS ({path_name}): {ratio:.2f}x (hybrid costs {1 / ratio:.2f}x dense; "
              f"required <= 2x) -> {'ok' if ratio >= 0.5 else 'OVER'}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
