"""What each query kind costs beside a plain nearest query, same server, same data, same run.

    python3 benches/query_kinds.py                       # 20,000 points, 8 clients, 5 s per kind
    python3 benches/query_kinds.py --points 50000 --clients 32 --seconds 10 --bin path/to/vicinity

The server ($CARGO_TARGET_DIR/release/vicinity, or --bin) is copied to a temp dir and started
there with its compiled-in defaults and text embedding off; this script never runs cargo. It
loads --points random 64-d Cosine vectors (clustered, so filters and groups meet real
neighbourhoods) with payloads: `g` (one of 500 keywords), `n` (an integer 0..999), `ts` (an RFC
3339 time within a year), `t` (a few words from a 2,000-word vocabulary), `loc` (a point in
Europe); and payload indexes on each (keyword, integer, datetime, text, geo).

Then each kind runs for --seconds with --clients processes, each with one keep-alive connection
posting pre-encoded bodies back to back; every body carries a fresh random vector (or a fresh
window for the non-vector kinds) so the result cache answers none of them. Printed: QPS,
p50 / p99 latency and QPS as a fraction of plain nearest's, measured in the same run — the
machine is noisy, so read the ratios, not the absolute numbers. Kinds: nearest; nearest with a
keyword, text, geo and datetime filter; MMR (candidates_limit 100); discover and context (one
pair, exact — Qdrant's advice for context search); query/groups by `g`; scroll ordered by `n`;
facet of `g` over a range of `n`.
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone

import numpy as np

DIM = 64


def post(conn, path, body):
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {data[:300]!r}")
    return data


def put(conn, path, obj):
    conn.request("PUT", path, body=json.dumps(obj), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {data[:300]!r}")


def unit(rng):
    v = rng.normal(size=DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).round(5).tolist()


def bodies(kind, rng, n):
    """`n` request bodies of `kind`, each one unique: (path, bytes)."""
    c = "/collections/bench"
    words = [f"w{i}" for i in range(2000)]
    out = []
    for _ in range(n):
        v = unit(rng)
        q = {"query": v, "limit": 10}
        if kind == "nearest":
            path, b = f"{c}/points/query", q
        elif kind == "keyword filter":
            path, b = f"{c}/points/query", {**q, "filter": {"must": [
                {"key": "g", "match": {"any": [f"g{rng.integers(500)}" for _ in range(50)]}}]}}
        elif kind == "text filter":
            path, b = f"{c}/points/query", {**q, "filter": {"must": [
                {"key": "t", "match": {"text_any": " ".join(rng.choice(words, 40))}}]}}
        elif kind == "geo filter":
            path, b = f"{c}/points/query", {**q, "filter": {"must": [{"key": "loc", "geo_radius": {
                "center": {"lon": float(rng.uniform(0, 20)), "lat": float(rng.uniform(40, 55))},
                "radius": 300_000.0}}]}}
        elif kind == "datetime filter":
            start = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=int(rng.integers(300)))
            path, b = f"{c}/points/query", {**q, "filter": {"must": [{"key": "ts", "range": {
                "gte": start.isoformat(), "lt": (start + timedelta(days=30)).isoformat()}}]}}
        elif kind == "mmr":
            path, b = f"{c}/points/query", {"query": {"nearest": v, "mmr": {
                "diversity": 0.5, "candidates_limit": 100}}, "limit": 10}
        elif kind == "discover":
            path, b = f"{c}/points/query", {"query": {"discover": {"target": v, "context": [
                {"positive": unit(rng), "negative": unit(rng)}]}}, "limit": 10}
        elif kind == "context (exact)":
            path, b = f"{c}/points/query", {"query": {"context": [
                {"positive": v, "negative": unit(rng)}]}, "limit": 10, "params": {"exact": True}}
        elif kind == "groups":
            path, b = f"{c}/points/query/groups", {"query": v, "group_by": "g", "group_size": 3, "limit": 10}
        elif kind == "scroll order_by":
            path, b = f"{c}/points/scroll", {"order_by": {"key": "n", "start_from": int(rng.integers(990))},
                                             "limit": 10, "with_payload": False}
        elif kind == "facet":
            lo = int(rng.integers(900))
            path, b = f"/collections/bench/facet", {"key": "g", "limit": 10, "filter": {"must": [
                {"key": "n", "range": {"gte": lo, "lt": lo + 100}}]}}
        else:
            raise ValueError(kind)
        out.append((path, json.dumps(b).encode()))
    return out


KINDS = ["nearest", "keyword filter", "text filter", "geo filter", "datetime filter", "mmr",
         "discover", "context (exact)", "groups", "scroll order_by", "facet"]


def client(port, work, seconds, queue):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    lat = []
    i = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        path, body = work[i % len(work)]
        t = time.perf_counter()
        post(conn, path, body)
        lat.append(time.perf_counter() - t)
        i += 1
    queue.put(lat)


def measure(port, kind, clients, seconds, seed):
    rng = np.random.default_rng(seed)
    work = [bodies(kind, rng, 400) for _ in range(clients)]
    queue = mp.Queue()
    procs = [mp.Process(target=client, args=(port, work[w], seconds, queue)) for w in range(clients)]
    for p in procs:
        p.start()
    lat = sorted(x for _ in procs for x in queue.get())
    for p in procs:
        p.join()
    return len(lat) / seconds, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000


def load(port, points, seed):
    rng = np.random.default_rng(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    put(conn, "/collections/bench", {"vectors": {"size": DIM, "distance": "Cosine"},
                                     "hnsw_config": {"m": 16, "ef_construct": 100}})
    for key, schema in [("g", "keyword"), ("n", "integer"), ("ts", "datetime"), ("t", "text"), ("loc", "geo")]:
        put(conn, "/collections/bench/index", {"field_name": key, "field_schema": schema})
    centres = rng.normal(size=(200, DIM)).astype(np.float32)
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for start in range(0, points, 1000):
        ids = range(start, min(points, start + 1000))
        vecs = centres[rng.integers(200, size=len(ids))] + 0.3 * rng.normal(size=(len(ids), DIM))
        batch = []
        for i, v in zip(ids, vecs):
            batch.append({"id": i, "vector": v.round(4).tolist(), "payload": {
                "g": f"g{rng.integers(500)}", "n": int(rng.integers(1000)),
                "ts": (base + timedelta(seconds=int(rng.integers(365 * 86400)))).isoformat(),
                "t": " ".join(f"w{w}" for w in rng.integers(2000, size=6)),
                "loc": {"lon": float(rng.uniform(-10, 30)), "lat": float(rng.uniform(35, 65))}}})
        put(conn, "/collections/bench/points?wait=true", {"points": batch})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    ap.add_argument("--bin", default=os.path.join(target, "release", "vicinity"))
    ap.add_argument("--points", type=int, default=20_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vicinity-kinds-")
    binary = shutil.copy(args.bin, os.path.join(tmp, "vicinity"))
    port = random.Random().randrange(20000, 40000)
    env = {**os.environ, "VICINITY__EMBEDDING__ENABLED": "false"}
    server = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", os.path.join(tmp, "data")],
                              cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        t = time.perf_counter()
        load(port, args.points, args.seed)
        print(f"loaded {args.points} points with 5 payload indexes in {time.perf_counter() - t:.1f} s")
        measure(port, "nearest", 2, 2.0, args.seed)  # warm-up, not reported
        rows = []
        for kind in KINDS:
            qps, p50, p99 = measure(port, kind, args.clients, args.seconds, args.seed)
            rows.append((kind, qps, p50, p99))
        ref = rows[0][1]
        print(f"{'kind':<18}{'QPS':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs nearest':>12}")
        for kind, qps, p50, p99 in rows:
            print(f"{kind:<18}{qps:>9.0f}{p50:>9.2f}{p99:>9.2f}{qps / ref:>11.2f}x")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
