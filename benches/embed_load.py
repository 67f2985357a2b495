"""Micro-batching under load: concurrent clients each sending one text query.

Starts vicinity twice on the same machine — once with embedding micro-batches of 1
(`embedding.max_batch = 1`), once with the default 32 — creates a collection with the default
model, and has N concurrent clients (default 32) send text queries (`{"query": {"text": …}}`),
each a distinct text, for a fixed time. The embedding cache is off so every query runs the
model. Prints QPS, p50 / p99 latency and errors per setting, and the ratio.

    python benches/embed_load.py [--clients 32] [--seconds 20] [--bin PATH]
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyenv  # noqa: E402

TARGET = pyenv.target_dir()
# the real-text dataset of `make bench-data`, when made; else generated sentences
DATASET_TEXTS = pyenv.bench_data_dir() / "gcide-minilm" / "texts.jsonl"


def texts(n):
    out = []
    if DATASET_TEXTS.exists():
        with open(DATASET_TEXTS) as f:
            for line in f:
                d = json.loads(line)
                t = d.get("text") or ""
                if t.strip():
                    out.append(t)
                if len(out) >= n:
                    break
    i = 0
    while len(out) < n:  # fallback: distinct synthetic sentences
        out.append(f"sentence number {i} about topic {i % 97} and item {i * 7919 % 10007}")
        i += 1
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, max_batch):
    port = free_port()
    data = tempfile.mkdtemp(prefix="vicinity-load-")
    env = dict(os.environ, VICINITY__EMBEDDING__MAX_BATCH=str(max_batch), VICINITY__EMBEDDING__CACHE_BYTES="0",
               RUST_LOG="warn,vicinity=info")
    log = open(Path(data) / "server.log", "w")
    proc = subprocess.Popen([str(binary), "serve", "--port", str(port), "--data-dir", data],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    deadline = time.time() + 60
    while time.time() < deadline:
        if f"listening on 127.0.0.1:{port}" in (Path(data) / "server.log").read_text():
            return proc, port
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"server did not start; see {data}/server.log")


def call(conn, method, path, body):
    conn.request(method, path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def run(binary, max_batch, clients, seconds, pool):
    proc, port = start(binary, max_batch)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, body = call(c, "PUT", "/collections/docs", {"embedding": {"model": "all-minilm-l6-v2"}})
        assert status == 200, body
        status, body = call(c, "PUT", "/collections/docs/points?wait=true",
                            {"points": [{"id": i, "text": t} for i, t in enumerate(pool[:200])]})
        assert status == 200, body
        lat, errors, lock = [], [0], threading.Lock()
        stop = time.time() + seconds
        nxt = [200]

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            while time.time() < stop:
                with lock:
                    t = pool[nxt[0] % len(pool)]
                    nxt[0] += 1
                t0 = time.perf_counter()
                try:
                    status, _ = call(conn, "POST", "/collections/docs/points/query",
                                     {"query": {"text": t}, "limit": 10})
                    ok = status == 200
                except OSError:
                    ok = False
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                dt = time.perf_counter() - t0
                with lock:
                    if ok:
                        lat.append(dt)
                    else:
                        errors[0] += 1

        started = time.time()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - started
        lat.sort()
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
        return {"max_batch": max_batch, "qps": len(lat) / wall, "p50_ms": q(0.5), "p99_ms": q(0.99),
                "errors": errors[0], "n": len(lat)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--bin", type=Path, default=TARGET / "release" / "vicinity")
    a = p.parse_args()
    pool = texts(20_000)
    rows = [run(a.bin, mb, a.clients, a.seconds, pool) for mb in (1, 32)]
    print(f"{a.clients} concurrent clients, one text query each, {a.seconds:.0f} s per setting, cache off")
    print(f"{'max_batch':>9} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for r in rows:
        print(f"{r['max_batch']:>9} {r['qps']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>6}")
    print(f"micro-batching speed-up (32 vs 1): {rows[1]['qps'] / rows[0]['qps']:.2f}x")


if __name__ == "__main__":
    main()
