"""Text in, answers out: vicinity's server-side embedding beside Python onnxruntime and beside a
Chroma server whose clients embed for themselves, in one run on the same cores.

    python3 benches/compare_text_path.py                       # 10 s per point; 1, 8, 32 clients
    python3 benches/compare_text_path.py --seconds 5 --clients 1,32 --skip-chroma

Texts: --n (default 2,000) GCIDE definitions, chosen as benches/compare_embed.py does, one text
per request, cycling. Model: all-minilm-l6-v2 int8 as `make setup` installs it; every side runs
the same model files with ONNX Runtime.

(a) Python onnxruntime (benches/data/embed.py's recipe) in its own process with intra-op
    threads = cores: batch 1 (each text alone, tokenizing included: the time per text, p50 /
    p99) and batch 32 sorted by length over all N texts (its best throughput); at ONNX
    Runtime's default graph optimisation (what a Python user runs), then again at basic, the
    level vicinity's sessions use (embedding.graph_optimization).
(b) vicinity: this build's `vicinity serve` (compiled-in defaults, embedding cache off, result
    cache bypassed with "cache": false), driven by bench-http (one tokio task per client,
    pre-encoded bodies): `POST /embed {"texts": [text]}`, and a text `points/query` (k = 10)
    on a collection of the N texts, which the server embedded at load.
(c) Chroma (`chroma run`, chromadb 1.5.9) holding the N texts' embeddings (from (a)): each
    client is a process that embeds its query text with onnxruntime (intra-op threads = cores /
    clients, at least 1) and posts the vector to Chroma's query endpoint (k = 10) — what a
    Chroma user does.

Each point runs --seconds after a 2 s warm-up at 2 clients per server. Prints texts or queries
per second and p50 / p99 latency per point, then the ratios: vicinity `/embed` at the most
clients against (a)'s batch-32 throughput, vicinity's text query against Chroma's text path at
each client count, and vicinity's one-client `/embed` p50 against (a)'s batch-1 p50.

The script never runs cargo: it needs $CARGO_TARGET_DIR/release/{vicinity,bench-http} (the
Makefile's target dir by default; `make build` makes them). Outside a Python with onnxruntime,
tokenizers, numpy, orjson (and chromadb unless --skip-chroma), it installs them into
${CHROMA_VENV:-<cache root>/chroma-venv} and re-runs itself there. The load generators share
the two cores with the servers on both sides; numbers move by ±10% between runs.
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "data"))
import compare_embed  # noqa: E402
import compare_http  # noqa: E402
import pyenv  # noqa: E402

MODEL = "all-minilm-l6-v2"
PACKAGES = ["onnxruntime==1.32.0", "tokenizers==0.23.3", "numpy", "orjson"]
K = 10
WARMUP_SECONDS = 2.0
COLLECTION = "texts"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2000, help="texts")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each point")
    p.add_argument("--clients", default="1,8,32", help="client counts, comma-separated")
    p.add_argument("--bin", type=Path, default=pyenv.target_dir() / "release",
                   help="dir with vicinity and bench-http")
    p.add_argument("--model-dir", type=Path, default=pyenv.models_dir() / MODEL)
    p.add_argument("--skip-chroma", action="store_true", help="measure no Chroma")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--texts-file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--vectors-out", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.clients = [int(x) for x in a.clients.split(",") if x.strip()]
    a.bin, a.model_dir = a.bin.resolve(), a.model_dir.resolve()
    return a


def log(msg):
    print(f"compare_text_path: {msg}", file=sys.stderr, flush=True)


def summary(lat, wall, **extra):
    lat = sorted(lat)
    return {"n": len(lat), "per_s": len(lat) / wall if wall else 0.0,
            "p50_ms": compare_http.percentile(lat, 0.50),
            "p99_ms": compare_http.percentile(lat, 0.99), **extra}


# ---------------------------------------------------------------- (a) Python onnxruntime

def python_worker(a):
    """Batch 1 over the texts for --seconds, then batch 32 sorted over all, at ONNX Runtime's
    default graph optimisation and again at basic (vicinity's); writes the texts' vectors (for
    Chroma) and prints one JSON line."""
    import numpy as np
    import embed
    texts = a.texts_file.read_text(encoding="utf-8").splitlines()
    out = {}
    for level in ("all", "basic"):
        model = embed.Embedder(a.model_dir, threads=os.cpu_count() or 2, optimization=level)
        model.encode(texts[:64], batch_size=1)
        lat, started, i = [], time.perf_counter(), 0
        while time.perf_counter() - started < a.seconds:
            t = time.perf_counter()
            model.encode([texts[i % len(texts)]], batch_size=1)
            lat.append(time.perf_counter() - t)
            i += 1
        one = summary(lat, time.perf_counter() - started)
        started = time.perf_counter()
        vectors = model.encode(texts, batch_size=32)
        out[level] = {"batch1": one, "batch32_per_s": len(texts) / (time.perf_counter() - started)}
        if level == "all":
            np.save(a.vectors_out, vectors)
    import onnxruntime
    print(json.dumps({**out["all"], "basic": out["basic"], "onnxruntime": onnxruntime.__version__}))


def run_python(a, texts_file, tmp):
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "python", "--texts-file",
           str(texts_file), "--model-dir", str(a.model_dir), "--seconds", str(a.seconds),
           "--vectors-out", str(tmp / "vectors.npy")]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------- (b) vicinity

def bench_http(a, port, clients, seconds, embed_only):
    cmd = [str(a.bin / "bench-http"), "--url", f"http://127.0.0.1:{port}", "--texts",
           str(a.queries_file), "--concurrency", str(clients), "--seconds", str(seconds)]
    cmd += ["--embed"] if embed_only else ["--collection", COLLECTION, "--limit", str(K), "--no-cache"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return {"n": r["requests"], "per_s": r["qps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
            "errors": r["errors"]}


def run_vicinity(a, texts, tmp):
    port = compare_http.free_port()
    data = tmp / "vicinity-data"
    data.mkdir()
    env = dict(os.environ, VICINITY__EMBEDDING__CACHE_BYTES="0", RUST_LOG="warn")
    proc = compare_http.start_server(
        [str(a.bin / "vicinity"), "serve", "--port", str(port), "--data-dir", str(data)],
        f"http://127.0.0.1:{port}/readyz", tmp / "vicinity.log", env)
    try:
        status, body = compare_http.request(port, "PUT", f"/collections/{COLLECTION}",
                                            {"embedding": {"model": MODEL}})
        assert status == 200, body
        started = time.monotonic()
        for s in range(0, len(texts), 500):
            points = [{"id": i, "text": t} for i, t in enumerate(texts[s:s + 500], start=s)]
            status, body = compare_http.request(
                port, "PUT", f"/collections/{COLLECTION}/points?wait=true", {"points": points})
            assert status == 200, body
        log(f"vicinity: embedded and loaded {len(texts)} texts in {time.monotonic() - started:.1f} s")
        compare_http.settle([proc])
        rows = {}
        for embed_only in (True, False):
            bench_http(a, port, 2, WARMUP_SECONDS, embed_only)
            for c in a.clients:
                what = "embed" if embed_only else "query"
                rows[(what, c)] = bench_http(a, port, c, a.seconds, embed_only)
                log(f"vicinity {what} at {c} clients: {rows[(what, c)]}")
        return rows
    finally:
        compare_http.stop_server(proc)


# ---------------------------------------------------------------- (c) Chroma

def chroma_client_process(worker, clients, port, path, texts, model_dir, seconds, barrier, out):
    """One Chroma user: embeds its text with onnxruntime, then queries; back to back."""
    import orjson
    import embed
    model = embed.Embedder(model_dir, threads=max(1, (os.cpu_count() or 2) // clients))
    conn = compare_http.chroma_connect(port)
    lat, errors = [], 0
    barrier.wait()
    started = time.monotonic()
    i = worker
    while time.monotonic() - started < seconds:
        t = time.perf_counter()
        vector = model.encode([texts[i % len(texts)]], batch_size=1)
        i += clients
        body = orjson.dumps({"query_embeddings": vector, "n_results": K, "include": ["distances"]},
                            option=orjson.OPT_SERIALIZE_NUMPY)
        try:
            conn.request("POST", path, body, compare_http.JSON_HEADERS)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = compare_http.chroma_connect(port)
            continue
        if resp.status != 200:
            errors += 1
            continue
        lat.append(time.perf_counter() - t)
    out.put((lat, errors, started, time.monotonic()))


def chroma_measure(port, collection_id, texts, model_dir, clients, seconds):
    path = compare_http.chroma_query_path(collection_id)
    results = compare_http.client_processes(chroma_client_process, clients, port, path, texts,
                                            model_dir, seconds)
    wall = max(r[3] for r in results) - min(r[2] for r in results)
    return summary([x for r in results for x in r[0]], wall, errors=sum(r[1] for r in results))


def run_chroma(a, texts, vectors, tmp):
    port = compare_http.free_port()
    chroma = Path(sys.executable).parent / "chroma"
    proc = compare_http.start_server(
        [str(chroma), "run", "--path", str(tmp / "chroma-data"), "--host", "127.0.0.1",
         "--port", str(port)], f"http://127.0.0.1:{port}/api/v2/heartbeat", tmp / "chroma.log")
    try:
        client = compare_http.chroma_client(port)
        col = client.create_collection(COLLECTION, configuration={"hnsw": {"space": "cosine"}},
                                       embedding_function=None)
        col.add(ids=[str(i) for i in range(len(texts))], embeddings=vectors)
        compare_http.settle([proc])
        chroma_measure(port, str(col.id), texts, a.model_dir, 2, WARMUP_SECONDS)
        rows = {}
        for c in a.clients:
            rows[c] = chroma_measure(port, str(col.id), texts, a.model_dir, c, a.seconds)
            log(f"Chroma text path at {c} clients: {rows[c]}")
        return rows
    finally:
        compare_http.stop_server(proc)


# ---------------------------------------------------------------- report

def report(a, source, py, vic, chroma):
    cores = os.cpu_count() or 2
    print(f"\nText path, {a.n} texts ({source}), one text per request, all-minilm-l6-v2 int8, "
          f"{cores} cores, {a.seconds:.0f} s per point\n")
    print("| side | clients | texts or queries/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    b1 = py["batch1"]
    print(f"| Python onnxruntime {py['onnxruntime']}, batch 1, {cores} threads | 1 | "
          f"{b1['per_s']:.0f} | {b1['p50_ms']:.2f} | {b1['p99_ms']:.2f} |")
    print(f"| Python onnxruntime, batch 32 sorted, {cores} threads | – | {py['batch32_per_s']:.0f} | – | – |")
    basic = py["basic"]
    print(f"| Python onnxruntime at vicinity's graph optimisation (basic), batch 1 | 1 | "
          f"{basic['batch1']['per_s']:.0f} | {basic['batch1']['p50_ms']:.2f} | {basic['batch1']['p99_ms']:.2f} |")
    print(f"| Python onnxruntime at basic, batch 32 sorted | – | {basic['batch32_per_s']:.0f} | – | – |")
    for what, label in (("embed", "vicinity `/embed`"), ("query", "vicinity text `points/query`")):
        for c in a.clients:
            r = vic[(what, c)]
            print(f"| {label} | {c} | {r['per_s']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    for c in a.clients if chroma else []:
        r = chroma[c]
        print(f"| Chroma, clients embed with onnxruntime | {c} | {r['per_s']:.0f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    most, fewest = max(a.clients), min(a.clients)
    print("\nRatios")
    print(f"- vicinity `/embed` at {most} clients / Python batch 32 sorted: "
          f"{vic[('embed', most)]['per_s'] / py['batch32_per_s']:.2f}x")
    print(f"- vicinity `/embed` p50 at {fewest} client / Python batch-1 p50: "
          f"{vic[('embed', fewest)]['p50_ms'] / b1['p50_ms']:.2f}x")
    print(f"- the same two against Python at basic: "
          f"{vic[('embed', most)]['per_s'] / basic['batch32_per_s']:.2f}x and "
          f"{vic[('embed', fewest)]['p50_ms'] / basic['batch1']['p50_ms']:.2f}x")
    for c in a.clients if chroma else []:
        print(f"- vicinity text query / Chroma text path at {c} clients: "
              f"{vic[('query', c)]['per_s'] / chroma[c]['per_s']:.2f}x")


def main(argv):
    a = parse_args(argv)
    modules = ("onnxruntime", "tokenizers", "numpy", "orjson")
    if a.skip_chroma:
        pyenv.ensure(__file__, argv, compare_http.CHROMA_VENV, modules, PACKAGES)
    else:
        pyenv.ensure(__file__, argv, compare_http.CHROMA_VENV, modules + ("chromadb",),
                     [compare_http.CHROMA_PACKAGE, *PACKAGES])
    if a.worker == "python":
        return python_worker(a)
    for exe in ("vicinity", "bench-http"):
        if not (a.bin / exe).exists():
            sys.exit(f"compare_text_path: {a.bin / exe} is missing; run `make build` first")
    texts, source = compare_embed.choose_texts(a.n)
    with tempfile.TemporaryDirectory(prefix="vicinity-text-path-") as tmp:
        tmp = Path(tmp)
        texts_file = tmp / "texts.txt"
        texts_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
        a.queries_file = tmp / "queries.jsonl"
        with open(a.queries_file, "w", encoding="utf-8") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": i, "split": "query", "text": t}) + "\n")
        log("Python onnxruntime …")
        py = run_python(a, texts_file, tmp)
        log(f"Python onnxruntime: {py}")
        vic = run_vicinity(a, texts, tmp)
        chroma = None
        if not a.skip_chroma:
            import numpy as np
            chroma = run_chroma(a, texts, np.load(tmp / "vectors.npy"), tmp)
        report(a, source, py, vic, chroma)


if __name__ == "__main__":
    main(sys.argv[1:])
