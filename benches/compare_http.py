"""Side-by-side serving over HTTP: vicinity vs a Chroma server, same data, same load.

    python3 benches/compare_http.py                               # 20 s at 1, 8 and 32 clients
    python3 benches/compare_http.py --seconds 3 --concurrency 1,8 --keep-chroma-dir /tmp/chroma-gcide
    python3 benches/compare_http.py --skip-chroma --baseline-bin DIR   # this build vs another

Both servers run on this machine, one at a time, on loopback, and hold the same vectors:
--dataset-dir (default $VICINITY_BENCH_DATA/gcide-minilm, made by `make bench-data`,
see benches/data/README.md) with base.fvecs (ids = row numbers; strings "0", "1", … in Chroma),
query.fvecs and gt.ivecs. Both use cosine HNSW with M=16, ef_construction=200 and the search
ef of --ef (default 64, where both reach recall@10 >= 0.95 on gcide-minilm).

For each concurrency N (--concurrency, default 1,8,32) N clients each keep one connection
and send one query (k=10) back to back for --seconds, the queries cycling over query.fvecs
(client w sends queries w, w+N, w+2N, …). Measured: QPS, p50 / p95 / p99 latency, errors,
recall@10 against gt.ivecs, and the server process's CPU use (cores). The load generator runs
on the same two cores as the server, so its CPU is taken from the server's:
  - vicinity: `bench-http` (src/bin/bench-http.rs), one tokio task per client, pre-encoded
    bodies, `"cache": false` (uncached numbers), `"params": {"hnsw_ef": ef}`;
  - Chroma: N processes (multiprocessing, fork), each with its own keep-alive http.client
    connection posting pre-encoded bodies to Chroma's REST query endpoint
    (`{"query_embeddings": [q], "n_results": 10, "include": ["distances"]}`, what
    collection.query(..., include=["distances"]) sends), without chromadb's per-call Python
    overhead, so that a GIL-bound client does not under-measure Chroma.
Before the timed runs each server gets a 2 s warm-up at 2 clients (not reported).

In the same run, after vicinity's HTTP measurements: `ann-bench` on the same files (its own
index, same M / ef_construction, the same ef, one query thread per core, fastest of 10 passes),
the in-process QPS that the HTTP numbers are a fraction of.

vicinity: $CARGO_TARGET_DIR/release/{vicinity,bench-http,ann-bench} (built by
`cargo build --release --workspace --features vicinity-index/bench`; CARGO_TARGET_DIR defaults to
the Makefile's target dir) are copied to a temp dir first and the copies run, so a rebuild
does not disturb the run; this script never runs cargo. The server runs as
`vicinity serve --port P --data-dir D` in the temp dir, so with its compiled-in defaults (the
repo's config/ may be ahead of the binary), and VICINITY__EMBEDDING__ENABLED=false (no text
models loaded). The collection is created with
`"hnsw_config": {"m": 16, "ef_construct": 200}` (bench-http's --base loader would use the
default ef_construct, 100) and loaded in batches of 1,000 with wait=true.

Chroma: `chroma run --path D --host 127.0.0.1 --port P` from chromadb 1.5.9 (the Rust
server), loaded with chromadb's HttpClient in batches of the server's max_batch_size (5,461).
The index is configured with the configuration API of chromadb >= 1.0:
    create_collection(name, configuration={"hnsw": {"space": "cosine", "max_neighbors": 16,
                      "ef_construction": 200, "ef_search": ef}}, embedding_function=None)
(1.5.9 still turns the older metadata keys hnsw:space / hnsw:M / hnsw:construction_ef /
hnsw:search_ef into the same configuration). Chroma applies ef_search when it loads a
collection's index, i.e. at the first query after start: a reused collection is given the
new ef with collection.modify(configuration={"hnsw": {"ef_search": ef}}) before any query.

Against an earlier build (--baseline-bin DIR, e.g. the previous commit's release binaries, to
check a change for a regression): DIR/vicinity is copied and served like this build's vicinity,
in its own temp dir and data dir (--keep-baseline-dir to keep and reuse it), with the same
collection settings, load and concurrencies. This build's bench-http drives both servers, so
only the server differs (DIR needs only vicinity; a bench-http or ann-bench there is not used).
Both servers are started and loaded first (so both run at once, one measured at a time), with
storage.index_save_interval_secs = 1, and the script waits until both are idle, so that the
index save that follows a load does not fall into a measurement. Then, at each concurrency,
after a 2 s warm-up of each at that concurrency, the two are measured interleaved as vicinity,
baseline, baseline, vicinity for half of --seconds each (the machine's speed drifts: measured
always first, one and the same binary came out 10-20% below itself at 32 clients); an engine's
row is its two halves merged: QPS, recall and CPU over both, p50 / p95 / p99 the mean of the
halves'. JSON lines: one per half ("half": 1 or 2) and the merged one ("half": "both"); the
baseline's have "engine": "baseline". The table gains the baseline's QPS / p99 / recall and the
QPS ratio vicinity / baseline. --skip-chroma leaves Chroma out (chromadb is then not needed).

Loading Chroma takes minutes; --keep-chroma-dir PATH keeps (and on the next run reuses) its
data, likewise --keep-vicinity-dir. A kept collection is reused if it holds as many points as
base.fvecs with the same M / ef_construction; otherwise it is reloaded.

Outside a Python that has chromadb (unless --skip-chroma), numpy and orjson, the script installs
them into the venv ${CHROMA_VENV:-<cache root>/chroma-venv} (creating it if needed) and re-runs
itself there. Prints one JSON line per measurement to stdout as it comes, then a markdown
table per concurrency with both engines and the QPS ratio (vicinity / Chroma). Progress goes
to stderr. Numbers move by ±10% between runs on a shared 2-core machine.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyenv  # noqa: E402

TARGET = pyenv.target_dir()
CHROMA_VENV = Path(os.environ.get("CHROMA_VENV") or pyenv.cache_root() / "chroma-venv")
CHROMA_PACKAGE = "chromadb==1.5.9"
COLLECTION = "bench"   # Chroma wants 3+ characters
M, EF_CONSTRUCTION, K = 16, 200, 10
VICINITY_BATCH = 1000
WARMUP_CLIENTS, WARMUP_SECONDS = 2, 2.0
JSON_HEADERS = {"Content-Type": "application/json"}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="duration of each measurement")
    p.add_argument("--concurrency", default="1,8,32", help="client counts, comma-separated")
    p.add_argument("--ef", type=int, default=64, help="search ef on both sides")
    p.add_argument("--dataset-dir", type=Path,
                   default=pyenv.bench_data_dir() / "gcide-minilm")
    p.add_argument("--keep-chroma-dir", type=Path, help="Chroma data dir to keep and reuse")
    p.add_argument("--keep-vicinity-dir", type=Path, help="vicinity data dir to keep and reuse")
    p.add_argument("--baseline-bin", type=Path, metavar="DIR",
                   help="dir with another build's vicinity, served and measured beside this one")
    p.add_argument("--keep-baseline-dir", type=Path, help="baseline data dir to keep and reuse")
    p.add_argument("--skip-chroma", action="store_true", help="measure no Chroma")
    a = p.parse_args(argv)
    a.concurrency = [int(x) for x in a.concurrency.split(",") if x.strip()]
    return a


def ensure_python(argv, chroma):
    """Re-run under CHROMA_VENV with what this script imports, installing it if missing."""
    if chroma:
        pyenv.ensure(__file__, argv, CHROMA_VENV, ("chromadb", "numpy", "orjson"), [CHROMA_PACKAGE])
    else:
        pyenv.ensure(__file__, argv, CHROMA_VENV, ("numpy", "orjson"), ["numpy", "orjson"])


def log(msg):
    print(f"compare_http: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

def read_vecs(path, dtype):
    """An .fvecs / .ivecs file as a C-contiguous (n, dim) array."""
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return np.ascontiguousarray(raw.reshape(-1, dim + 1)[:, 1:]).view(dtype)


def load_dataset(d):
    import numpy as np
    files = [d / f for f in ("base.fvecs", "query.fvecs", "gt.ivecs")]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        sys.exit(f"compare_http: missing {', '.join(missing)} ; make it with `make bench-data`, see benches/data/README.md")
    base, queries = read_vecs(files[0], np.float32), read_vecs(files[1], np.float32)
    truth = [set(row[:K].tolist()) for row in read_vecs(files[2], np.int32)]
    return base, queries, truth


# ---------------------------------------------------------------- servers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd, ready_url, log_path, env=None):
    """Start a server in log_path's dir (output to log_path); wait until ready_url answers 200."""
    out = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                            cwd=Path(log_path).parent)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    tail = Path(log_path).read_text(errors="replace")[-2000:]
    sys.exit(f"compare_http: {cmd[0]} did not become ready; {log_path}:\n{tail}")


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def settle(procs, limit=120):
    """Waits (at most `limit` s) until each process has used under 5% of a core for 3 s running,
    e.g. until the index saves and compactions that follow loading are done."""
    deadline, quiet = time.monotonic() + limit, 0
    while quiet < 3 and time.monotonic() < deadline:
        before = [cpu_seconds(p.pid) for p in procs]
        time.sleep(1)
        busy = max(cpu_seconds(p.pid) - b for p, b in zip(procs, before))
        quiet = quiet + 1 if busy < 0.05 else 0
    if quiet < 3:
        log(f"servers still busy after {limit} s; measuring anyway")


def cpu_seconds(pid):
    """User + system CPU time of a process so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(port, method, path, body=None):
    """One JSON request on a fresh connection; returns (status, decoded body)."""
    import orjson
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    data = None if body is None else orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    conn.request(method, path, data, JSON_HEADERS)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, orjson.loads(raw) if raw else None


# ---------------------------------------------------------------- vicinity

def vicinity_load(port, base, engine="vicinity"):
    """Create the collection and upsert base (ids = row numbers) unless it is already there."""
    coll = f"/collections/{COLLECTION}"
    status, info = request(port, "GET", coll)
    if status == 200:
        r = info["result"]
        hnsw = r["config"]["hnsw_config"]
        if r["points_count"] == len(base) and (hnsw["m"], hnsw["ef_construct"]) == (
                M, EF_CONSTRUCTION):
            log(f"{engine}: reusing {r['points_count']} points")
            return None
        request(port, "DELETE", coll)
    status, body = request(port, "PUT", coll, {
        "vectors": {"size": base.shape[1], "distance": "Cosine"},
        "hnsw_config": {"m": M, "ef_construct": EF_CONSTRUCTION}})
    if status != 200:
        sys.exit(f"compare_http: vicinity create: {status} {body}")
    started = time.monotonic()
    for start in range(0, len(base), VICINITY_BATCH):
        end = min(start + VICINITY_BATCH, len(base))
        status, body = request(port, "PUT", f"{coll}/points?wait=true",
                               {"batch": {"ids": list(range(start, end)),
                                          "vectors": base[start:end]}})
        if status != 200:
            sys.exit(f"compare_http: vicinity upsert: {status} {body}")
    seconds = time.monotonic() - started
    log(f"{engine}: loaded {len(base)} points in {seconds:.1f} s")
    return seconds


def vicinity_measure(bench_http, port, dataset_dir, clients, seconds, ef):
    cmd = [str(bench_http), "--url", f"http://127.0.0.1:{port}", "--collection", COLLECTION,
           "--queries", str(dataset_dir / "query.fvecs"), "--gt", str(dataset_dir / "gt.ivecs"),
           "--concurrency", str(clients), "--seconds", str(seconds), "--ef", str(ef),
           "--limit", str(K), "--no-cache"]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- Chroma

def chroma_client(port):
    import chromadb
    from chromadb.config import Settings
    return chromadb.HttpClient(host="127.0.0.1", port=port,
                               settings=Settings(anonymized_telemetry=False))


def chroma_load(port, base, ef):
    """Create the collection and add base (ids = row numbers as strings) unless it is there.

    Returns (collection id, load seconds or None when reused)."""
    client = chroma_client(port)
    hnsw = {"space": "cosine", "max_neighbors": M, "ef_construction": EF_CONSTRUCTION}
    if COLLECTION in [c.name for c in client.list_collections()]:
        col = client.get_collection(COLLECTION, embedding_function=None)
        have = col.configuration_json["hnsw"] or {}
        if all(have.get(key) == value for key, value in hnsw.items()):
            # before any query: Chroma reads ef_search when it loads the index
            col.modify(configuration={"hnsw": {"ef_search": ef}})
            if col.count() == len(base):
                log(f"Chroma: reusing {len(base)} points")
                return str(col.id), None
        client.delete_collection(COLLECTION)
    col = client.create_collection(COLLECTION, configuration={"hnsw": {**hnsw, "ef_search": ef}},
                                   embedding_function=None)
    batch = client.get_max_batch_size()
    started = time.monotonic()
    for start in range(0, len(base), batch):
        end = min(start + batch, len(base))
        col.add(ids=[str(i) for i in range(start, end)], embeddings=base[start:end])
        log(f"Chroma: added {end}/{len(base)} ({time.monotonic() - started:.0f} s)")
    return str(col.id), time.monotonic() - started


def chroma_worker(worker, clients, port, path, bodies, truth, seconds, barrier, out):
    """One client process: queries worker, worker + clients, … back to back until the deadline."""
    import orjson
    conn = chroma_connect(port)
    lat, errors, found, wanted = [], 0, 0, 0
    barrier.wait()
    started = time.monotonic()
    deadline, i = started + seconds, worker
    while time.monotonic() < deadline:
        q = i % len(bodies)
        i += clients
        t = time.perf_counter()
        try:
            conn.request("POST", path, bodies[q], JSON_HEADERS)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = chroma_connect(port)
            continue
        if resp.status != 200:
            errors += 1
            continue
        lat.append(time.perf_counter() - t)
        got = {int(x) for x in orjson.loads(data)["ids"][0]}
        found += len(truth[q] & got)
        wanted += len(truth[q])
    out.put((lat, errors, found, wanted, started, time.monotonic()))


def chroma_connect(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def chroma_query_path(collection_id):
    return (f"/api/v2/tenants/default_tenant/databases/default_database/collections/"
            f"{collection_id}/query")


def client_processes(target, clients, *args):
    """Forks `clients` processes running target(worker, clients, *args, barrier, out), released
    together by the barrier; returns what each put on `out`."""
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=target, args=(w, clients, *args, barrier, out)) for w in range(clients)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return results


def chroma_measure(port, collection_id, queries, truth, clients, seconds, ef):
    """The bench-http load shape against Chroma, one process per client; bench-http's JSON."""
    import orjson
    path = chroma_query_path(collection_id)
    bodies = [orjson.dumps({"query_embeddings": queries[i:i + 1], "n_results": K,
                            "include": ["distances"]}, option=orjson.OPT_SERIALIZE_NUMPY)
              for i in range(len(queries))]
    results = client_processes(chroma_worker, clients, port, path, bodies, truth, seconds)
    lat = sorted(x for r in results for x in r[0])
    wall = max(r[5] for r in results) - min(r[4] for r in results)
    found, wanted = sum(r[2] for r in results), sum(r[3] for r in results)
    return {"concurrency": clients, "seconds": wall, "requests": len(lat),
            "errors": sum(r[1] for r in results), "qps": len(lat) / wall,
            "p50_ms": percentile(lat, 0.50), "p95_ms": percentile(lat, 0.95),
            "p99_ms": percentile(lat, 0.99),
            "recall": found / wanted if wanted else None, "ef": ef}


def percentile(sorted_lat, p):
    """Milliseconds, picked as bench-http does."""
    if not sorted_lat:
        return float("nan")
    return sorted_lat[min(int(len(sorted_lat) * p), len(sorted_lat) - 1)] * 1000


# ---------------------------------------------------------------- driver

def measure_all(engines, concurrency, seconds):
    """Warm up each (engine, server process, run), then measure each at every client count; each
    result gets its server's CPU use. Returns {engine: {clients: result}}.

    One engine: one measurement per client count. Two (vicinity and a baseline): at each client
    count a warm-up of both at that count, then A, B, B, A for half of `seconds` each, and each
    engine's halves merged (merge_halves), so that a drift of the machine's speed cancels out."""
    for _, _, run in engines:
        run(WARMUP_CLIENTS, WARMUP_SECONDS)
    rows = {engine: {} for engine, _, _ in engines}
    for clients in concurrency:
        order, part = engines, seconds
        if len(engines) > 1:
            for _, _, run in engines:
                run(clients, WARMUP_SECONDS)
            order, part = engines + engines[::-1], seconds / 2
        halves = {engine: [] for engine, _, _ in engines}
        for engine, proc, run in order:
            cpu = cpu_seconds(proc.pid)
            row = run(clients, part)
            row["server_cores"] = (cpu_seconds(proc.pid) - cpu) / row["seconds"]
            row["engine"] = engine
            if len(engines) > 1:
                row["half"] = len(halves[engine]) + 1
            print(json.dumps(row), flush=True)
            halves[engine].append(row)
        for engine, got in halves.items():
            rows[engine][clients] = got[0] if len(got) == 1 else merge_halves(got)
    return rows


def merge_halves(halves):
    """One result from an engine's halves: QPS, recall and CPU use over both, the latency
    percentiles the mean of the halves' (printed as a JSON line with "half": "both")."""
    n, wall = sum(r["requests"] for r in halves), sum(r["seconds"] for r in halves)
    row = dict(halves[0], seconds=wall, requests=n, qps=n / wall if wall else 0.0, half="both",
               errors=sum(r["errors"] for r in halves),
               server_cores=sum(r["server_cores"] * r["seconds"] for r in halves) / wall)
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        row[key] = sum(r[key] for r in halves) / len(halves)
    row["recall"] = sum(r["recall"] * r["requests"] for r in halves) / n if n else None
    print(json.dumps(row), flush=True)
    return row


def run_vicinity(args, tmp, base):
    """This build's vicinity and, with --baseline-bin, the baseline's, both driven by this build's
    bench-http. Returns ({engine: {clients: result}}, {engine: load seconds or None})."""
    servers = [("vicinity", tmp, args.keep_vicinity_dir or tmp / "vicinity-data")]
    env = dict(os.environ, VICINITY__EMBEDDING__ENABLED="false")
    if args.baseline_bin:
        data = args.keep_baseline_dir or tmp / "baseline" / "data"
        servers.append(("baseline", tmp / "baseline", data))
        env["VICINITY__STORAGE__INDEX_SAVE_INTERVAL_SECS"] = "1"
    bench_http = tmp / "bench-http"
    engines, loads = [], {}
    try:
        for engine, home, data in servers:
            data.mkdir(parents=True, exist_ok=True)
            port = free_port()
            proc = start_server([str(home / "vicinity"), "serve", "--port", str(port),
                                 "--data-dir", str(data)],
                                f"http://127.0.0.1:{port}/readyz", home / "vicinity.log", env)
            engines.append((engine, proc, lambda c, s, port=port: vicinity_measure(
                bench_http, port, args.dataset_dir, c, s, args.ef)))
            loads[engine] = vicinity_load(port, base, engine)
        if args.baseline_bin:
            settle([proc for _, proc, _ in engines])
        rows = measure_all(engines, args.concurrency, args.seconds)
    finally:
        for _, proc, _ in engines:
            stop_server(proc)
    return rows, loads


def in_process(args, tmp):
    """ann-bench's QPS at the same ef with one query thread per core (no HTTP, no JSON)."""
    d = args.dataset_dir
    cmd = [str(tmp / "ann-bench"), "--base", str(d / "base.fvecs"), "--query", str(d / "query.fvecs"),
           "--gt", str(d / "gt.ivecs"), "--metric", "cosine", "--k", str(K), "--m", str(M),
           "--ef-construction", str(EF_CONSTRUCTION), "--ef", str(args.ef),
           "--threads", str(os.cpu_count() or 2), "--repeat", "10"]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    row = [json.loads(line) for line in done.stdout.splitlines() if '"qps"' in line][-1]
    row["engine"] = "ann-bench"
    print(json.dumps(row), flush=True)
    return row


def run_chroma(args, tmp, base, queries, truth):
    data = args.keep_chroma_dir or tmp / "chroma-data"
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    proc = start_server([str(chroma), "run", "--path", str(data), "--host", "127.0.0.1",
                         "--port", str(port)], f"http://127.0.0.1:{port}/api/v2/heartbeat",
                        tmp / "chroma.log")
    try:
        collection_id, load_s = chroma_load(port, base, args.ef)
        rows = measure_all([("chroma", proc, lambda c, s: chroma_measure(
            port, collection_id, queries, truth, c, s, args.ef))],
            args.concurrency, args.seconds)["chroma"]
    finally:
        stop_server(proc)
    return rows, load_s


def copy_binaries(tmp, baseline_bin):
    for name in ("vicinity", "bench-http", "ann-bench"):
        src = TARGET / "release" / name
        if not src.exists():
            sys.exit(f"compare_http: {src} not found; build with "
                     "`cargo build --release --workspace --features vicinity-index/bench`")
        shutil.copy2(src, tmp / name)
    if baseline_bin:
        src = baseline_bin / "vicinity"
        if not src.exists():
            sys.exit(f"compare_http: {src} not found (--baseline-bin)")
        (tmp / "baseline").mkdir()
        shutil.copy2(src, tmp / "baseline" / "vicinity")


def load_text(seconds):
    return "reused" if seconds is None else f"{seconds:.0f} s"


def report(args, base, rows, peer, loads, inproc):
    """rows: {engine: {clients: result}} of vicinity (and baseline); peer: Chroma's or None."""
    ours, theirs = rows["vicinity"], rows.get("baseline")
    columns = [("vicinity", ours)]
    ratios = []
    if theirs is not None:
        columns.append(("baseline", theirs))
        ratios.append(("vicinity / baseline", theirs))
    if peer is not None:
        columns.append(("Chroma", peer))
        ratios.append(("vicinity / Chroma" if theirs is not None else "QPS ratio", peer))
    versions = ""
    if theirs is not None:
        versions += f"; baseline {args.baseline_bin / 'vicinity'}"
    if peer is not None:
        import chromadb
        versions += f"; chromadb {chromadb.__version__}"
    print(f"\n{args.dataset_dir.name} ({base.shape[0]} x {base.shape[1]}), cosine, M={M}, "
          f"ef_construction={EF_CONSTRUCTION}, ef={args.ef}, k={K}, {args.seconds:g} s per "
          f"point, uncached, loopback{versions}; load: "
          + ", ".join(f"{name} {load_text(loads[name])}" for name, _ in columns) + "\n")
    head = ["clients"] + [h for name, _ in columns for h in (f"{name} QPS", "p99 ms", "recall@10")]
    head += [label for label, _ in ratios]
    print("| " + " | ".join(head) + " |\n|" + "---:|" * len(head))
    for c in args.concurrency:
        cells = [str(c)]
        for _, r in columns:
            cells += [f"{r[c]['qps']:,.0f}", f"{r[c]['p99_ms']:.2f}", f"{r[c]['recall']:.3f}"]
        for _, r in ratios:
            ratio = ours[c]["qps"] / r[c]["qps"] if r[c]["qps"] else float("nan")
            cells.append(f"{ratio:.2f}x")
        print("| " + " | ".join(cells) + " |")
    errors = [f"{name} {r[c]['errors']} at {c} clients" for name, r in columns
              for c in args.concurrency if r[c]["errors"]]
    if errors:
        print("\nerrors: " + ", ".join(errors))
    print(f"\nin-process ann-bench, {inproc['threads']} query threads, ef={args.ef}: "
          f"{inproc['qps']:,.0f} QPS, recall@10 {inproc['recall']:.3f}; vicinity over HTTP: "
          + ", ".join(f"{ours[c]['qps'] / inproc['qps']:.0%} at {c} clients" for c in args.concurrency))


def main(argv):
    args = parse_args(argv)
    ensure_python(argv, chroma=not args.skip_chroma)
    with tempfile.TemporaryDirectory(prefix="compare-http-") as t:
        tmp = Path(t)
        copy_binaries(tmp, args.baseline_bin)
        base, queries, truth = load_dataset(args.dataset_dir)
        log(f"vicinity ({tmp}/vicinity.log)"
            + (f", baseline ({tmp}/baseline/vicinity.log)" if args.baseline_bin else ""))
        rows, loads = run_vicinity(args, tmp, base)
        log("in-process ann-bench")
        inproc = in_process(args, tmp)
        peer = None
        if not args.skip_chroma:
            log(f"Chroma ({tmp}/chroma.log)")
            peer, loads["Chroma"] = run_chroma(args, tmp, base, queries, truth)
        report(args, base, rows, peer, loads, inproc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
