"""Concurrency stress: many clients against one server for STRESS_SECONDS, then an oracle check,
a graceful restart and the same check again.

Clients (threads, each with its own connection and seeded generator):
- writers: upserts of 1 / 10 / 65 / 300 / 1,500 points (65 and up cross the engine's parallel
  insertion threshold), deletes by id and by filter, payload set / set under a key /
  overwrite / delete keys / clear, by ids and by filter, each in its own id range, wait=true;
- searchers: points/query/batch and search/batch with several queries, single points/query
  (by vector, by point id, recommend), with and without filters, exact and HNSW, cached and
  not; exact filtered searches over the immutable preloaded points are checked against numpy
  while everything else changes around them;
- an importer: streamed NDJSON imports (with bad lines, on_error=skip) and jsonl / npy / fvecs
  file imports, each job waited for;
- an admin: online rebuilds with a changed hnsw `m` and/or quantization (some cancelled),
  snapshots (create / list / download with checksum / delete), collection info, counts, jobs;
- churn: a collection created, filled, rebuilt, dropped while the rebuild runs and re-created
  with another dimension and distance, over and over;
- vacuums start by themselves (deletes and overwrites leave tombstones; the threshold is
  lowered to 10 %).

Collections: Cosine, Euclid and Dot, each with and without int8 quantization, 8-32 dims.

Fails on: a request with no answer within its timeout, /healthz not answering within 10 s
(the watchdog then prints the requests in flight, the server's thread stacks and its log), any
5xx, any status the route should not give (503 with Retry-After is allowed for searches, 409
for a rebuild while another runs), connection errors, wrong search answers, a job that fails
or never finishes, ERROR or panic lines in the log; then, against the acknowledged state:
missing / phantom points, wrong vectors or payloads, exact top-1 by a point's own vector not
the exact best, the config not what the succeeded rebuilds set; the same after SIGTERM (which
must stop the server within 60 s) and a restart.

STRESS_SECONDS (default 75) and STRESS_SEED (default 20251206) set the run; `make soak` runs it
for 30 minutes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter

import numpy as np
import pytest

import e2e_support as S
import stress_support as T
from stress_support import Api, Monitor, Oracle, Stopped

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")

SEED = int(os.environ.get("STRESS_SEED", "20251206"))
SECONDS = float(os.environ.get("STRESS_SECONDS", "75"))
# Admin threads (rebuilds, snapshots): two, so that they also race each other.
ADMINS = int(os.environ.get("STRESS_ADMINS", "2"))
# STRESS_SEARCH_TIMEOUT_OK=1 lets searches time out (503) without failing, to look past that.
SEARCH_TIMEOUT_OK = os.environ.get("STRESS_SEARCH_TIMEOUT_OK") == "1"
PRELOAD = 1000
CHURN = "churn"
CHURN_BASE = 700_000_000


def collections() -> list[Oracle]:
    # st_cos and st_l2 have 65+ dims and no int8: the engine then rotates vectors into a fitted
    # basis (index/src/rotation.rs, fitted at 1,024 points; batches of 65+ rows in parallel)
    return [
        Oracle("st_cos", "Cosine", 96),
        Oracle("st_cos_q8", "Cosine", 24, quant=True),
        Oracle("st_l2", "Euclid", 80),
        Oracle("st_l2_q8", "Euclid", 32, quant=True),
        Oracle("st_dot", "Dot", 12),
        Oracle("st_dot_q8", "Dot", 16, quant=True),
    ]


# --------------------------------------------------------------------------------------------
# Searchers
# --------------------------------------------------------------------------------------------


class Searcher:
    def __init__(self, monitor: Monitor, oracles: list[Oracle], pre: dict, rng: np.random.Generator):
        self.monitor = monitor
        self.api = Api(monitor)
        self.oracles = oracles
        self.pre = pre  # name -> (ids, stored float64 matrix) of the preloaded points
        self.rng = rng
        self.ops: Counter = Counter()
        self.checked_exact = 0

    def close(self) -> None:
        self.api.close()

    def fail(self, msg: str) -> None:
        self.monitor.fail(msg)
        raise Stopped()

    def call(self, path: str, what: str, kind: str, body: dict):
        """A search: 200, or 503 (with Retry-After) when admission control refuses it as
        overloaded. A 503 for a search that ran out of the server's search timeout is a stall:
        this test keeps at most three searches in flight, far below the admission limits, over
        small collections (see SEARCH_TIMEOUT_OK)."""
        r = self.api.call("POST", path, what, soft=(503,), kind=kind, body=body)
        self.ops[(kind, r.status_code)] += 1
        if r.status_code == 503 and "overloaded" not in r.text and not SEARCH_TIMEOUT_OK:
            self.monitor.fail(f"STALL: {what} answered 503 after {r.elapsed.total_seconds():.1f}s: "
                              f"{T._short(r.text, 300)} (a search timeout, with at most 3 searches in flight); "
                              f"requests in flight:\n{self.monitor.inflight_report()}", diagnose=True)
            raise Stopped()
        return r

    def hits_ok(self, o: Oracle, pts: list, limit: int, what: str, pre_only: bool = False,
                desc: bool | None = None) -> None:
        """Shape of an answer: at most `limit` hits, no duplicate, no id never written, ordered
        by score (descending, or ascending for Euclid distances unless `desc` says)."""
        ids = [p["id"] for p in pts]
        if len(pts) > limit:
            self.fail(f"{what}: {len(pts)} results for limit {limit}")
        if len(set(ids)) != len(ids):
            self.fail(f"{what}: duplicate ids {ids}")
        never = [i for i in ids if i not in o.sent]
        if never:
            self.fail(f"{what}: PHANTOM ids never written returned: {never} (results {ids})")
        if pre_only and any(not (0 <= i < PRELOAD) for i in ids):
            self.fail(f"{what}: ids outside the filter pre=true returned: {ids}")
        scores = [p["score"] for p in pts]
        if desc is None:
            desc = o.distance != "Euclid"
        for a, b in zip(scores, scores[1:]):
            if (b > a + S.score_tol(a)) if desc else (b < a - S.score_tol(a)):
                self.fail(f"{what}: results not ordered by score: {scores}")

    def exact_ok(self, o: Oracle, q: np.ndarray, pts: list, limit: int, what: str) -> None:
        """An exact search over the preloaded points (filter pre=true) has one right answer."""
        ids, stored = self.pre[o.name]
        scores = S.nearest_scores(stored, q, o.qdist)
        order = np.argsort(-scores if o.distance != "Euclid" else scores, kind="stable")[:limit]
        want = [(int(ids[r]), float(scores[r])) for r in order]
        got = [(p["id"], p["score"]) for p in pts]
        if len(got) != len(want):
            self.fail(f"{what}: {len(got)} results, expected {len(want)}")
        row = {int(i): r for r, i in enumerate(ids)}
        for k, ((gi, gs), (wi, ws)) in enumerate(zip(got, want)):
            if abs(gs - ws) > S.score_tol(ws) or gi not in row or abs(scores[row[gi]] - ws) > S.score_tol(ws):
                self.fail(f"{what}: position {k}: got id {gi} score {gs}, exact answer id {wi} score {ws} "
                          f"(got {got[:5]}, want {want[:5]})")
        self.checked_exact += 1

    def query_body(self, o: Oracle, q: np.ndarray, limit: int, pre: bool, exact: bool) -> dict:
        body: dict = {"query": q.tolist(), "limit": limit}
        if pre:
            body["filter"] = {"must": [{"key": "pre", "match": {"value": True}}]}
        params: dict = {}
        if exact:
            params["exact"] = True
        elif self.rng.random() < 0.3:
            params["hnsw_ef"] = int(self.rng.choice([16, 64, 200]))
        if o.quant and self.rng.random() < 0.3:
            params["quantization"] = {"oversampling": 2.0, "rescore": True}
        if params:
            body["params"] = params
        if self.rng.random() < 0.3:
            body["with_payload"] = True
        return body

    def step(self) -> None:
        rng = self.rng
        o = self.oracles[int(rng.integers(0, len(self.oracles)))]
        r = rng.random()
        if r < 0.45:
            self.query_batch(o)
        elif r < 0.7:
            self.search_batch(o)
        else:
            self.single(o)

    def query_batch(self, o: Oracle) -> None:
        rng = self.rng
        n = int(rng.integers(2, 9))
        qs = T.rand_vectors(rng, n, o.dim)
        kinds = [(bool(rng.random() < 0.3), bool(rng.random() < 0.3)) for _ in range(n)]  # (pre, exact)
        limits = [int(rng.choice([1, 5, 10, 50])) for _ in range(n)]
        body: dict = {"searches": [self.query_body(o, q, k, pre, ex) for q, k, (pre, ex) in zip(qs, limits, kinds)]}
        if rng.random() < 0.5:
            body["cache"] = False
        what = f"query/batch of {n} on {o.name}"
        r = self.call(f"/collections/{o.name}/points/query/batch", what, "query_batch", body)
        if r.status_code != 200:
            return
        res = r.json()["result"]
        if len(res) != n:
            self.fail(f"{what}: {len(res)} answers")
        for i, (a, q, k, (pre, ex)) in enumerate(zip(res, qs, limits, kinds)):
            self.hits_ok(o, a["points"], k, f"{what} [{i}]", pre_only=pre)
            if pre and ex:
                self.exact_ok(o, q, a["points"], k, f"{what} [{i}] exact pre=true")

    def search_batch(self, o: Oracle) -> None:
        rng = self.rng
        n = int(rng.integers(2, 9))
        qs = T.rand_vectors(rng, n, o.dim)
        pres = [bool(rng.random() < 0.3) for _ in range(n)]
        searches = []
        for q, pre in zip(qs, pres):
            s: dict = {"vector": q.tolist(), "limit": 10}
            if pre:
                s["filter"] = {"must": [{"key": "pre", "match": {"value": True}}]}
                s["params"] = {"exact": True}
            searches.append(s)
        what = f"search/batch of {n} on {o.name}"
        r = self.call(f"/collections/{o.name}/points/search/batch", what, "search_batch", {"searches": searches})
        if r.status_code != 200:
            return
        res = r.json()["result"]
        if len(res) != n:
            self.fail(f"{what}: {len(res)} answers")
        for i, (pts, q, pre) in enumerate(zip(res, qs, pres)):
            self.hits_ok(o, pts, 10, f"{what} [{i}]", pre_only=pre)
            if pre:
                self.exact_ok(o, q, pts, 10, f"{what} [{i}] exact pre=true")

    def single(self, o: Oracle) -> None:
        rng = self.rng
        r = rng.random()
        pre_ids = self.pre[o.name][0]
        strategy = ""
        if r < 0.5:
            q = T.rand_vectors(rng, 1, o.dim)[0]
            pre, ex = bool(rng.random() < 0.3), bool(rng.random() < 0.5)
            body = self.query_body(o, q, 10, pre, ex)
            kind = "query"
        elif r < 0.75:
            body = {"query": int(rng.choice(pre_ids)), "limit": 10}
            q, pre, ex, kind = None, False, False, "query_id"
        else:
            pos = [int(x) for x in rng.choice(pre_ids, size=2, replace=False)]
            strategy = str(rng.choice(["average_vector", "best_score"]))
            body = {"query": {"recommend": {"positive": pos, "negative": [int(rng.choice(pre_ids))],
                                            "strategy": strategy}},
                    "limit": 10}
            q, pre, ex, kind = None, False, False, "recommend"
        if rng.random() < 0.3:
            body["cache"] = False
        what = f"{kind} on {o.name}"
        resp = self.call(f"/collections/{o.name}/points/query", what, kind, body)
        if resp.status_code != 200:
            return
        pts = resp.json()["result"]["points"]
        # best_score is a similarity under every distance; average_vector is a nearest search
        desc = True if kind == "recommend" and strategy == "best_score" else None
        self.hits_ok(o, pts, 10, what, pre_only=pre, desc=desc)
        if pre and ex and q is not None:
            self.exact_ok(o, q, pts, 10, f"{what} exact pre=true")


# --------------------------------------------------------------------------------------------
# Churn: drop a collection while its rebuild runs, re-create it under the same name
# --------------------------------------------------------------------------------------------


class Churn:
    def __init__(self, monitor: Monitor, rng: np.random.Generator):
        self.monitor = monitor
        self.api = Api(monitor)
        self.rng = rng
        self.oracle: Oracle | None = None  # the current incarnation (None: dropped)
        self.cycles = 0
        self.next_id = CHURN_BASE
        self.job_states: Counter = Counter()
        self.jobs: set = set()

    def close(self) -> None:
        self.api.close()

    def fill(self, o: Oracle, n: int) -> None:
        rng = self.rng
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        vecs = T.rand_vectors(rng, n, o.dim)
        payloads = [{"c": self.cycles, "i": i} for i in range(n)]
        data = "".join(json.dumps({"id": pid, "vector": v.tolist(), "payload": p}) + "\n"
                       for pid, v, p in zip(ids, vecs, payloads)).encode()
        o.note_sent(ids)
        res = self.api.result("POST", f"/collections/{o.name}/import", f"stream {n} lines into {o.name} ({o.distance}, "
                              f"{o.dim}-d)", ok=(202,), kind="import_stream", content=data, headers=T.NDJSON)
        if res["job"]["state"] != "succeeded" or res["job"]["done"] != n:
            self.monitor.fail(f"churn: streamed import into {o.name}: {res['job']}")
            raise Stopped()
        for pid, v, p in zip(ids, vecs, payloads):
            o.put(pid, (v, p))

    def step(self) -> None:
        rng, api = self.rng, self.api
        self.cycles += 1
        dist = str(rng.choice(["Cosine", "Euclid", "Dot"]))
        o1 = Oracle(CHURN, dist, int(rng.choice([8, 12, 16])))
        self.oracle = None
        T.create_collection(api, o1)
        self.oracle = o1
        self.fill(o1, int(rng.integers(4000, 9000)))
        body = {"hnsw_config": {"m": 32, "ef_construct": 200}}
        r = api.call("POST", f"/collections/{CHURN}/index/rebuild", f"churn rebuild {json.dumps(body)}",
                     ok=(202,), soft=(409,), kind="rebuild", body=body)
        jid = r.json()["result"]["job_id"] if r.status_code == 202 else None
        if r.status_code == 409:
            self.monitor.note(f"churn cycle {self.cycles}: a rebuild of the new `{CHURN}` (no rebuild of its own "
                              f"running) was refused 409: {T._short(r.text, 300)}")
        # drop it while the rebuild runs, and re-create it with another dimension / distance
        self.oracle = None
        api.call("DELETE", f"/collections/{CHURN}", f"drop {CHURN} during its rebuild (job {jid})", kind="ddl")
        o2 = Oracle(CHURN, str(rng.choice([d for d in ("Cosine", "Euclid", "Dot") if d != dist])),
                    int(rng.choice([d for d in (8, 12, 16) if d != o1.dim])))
        api.call("PUT", f"/collections/{CHURN}", f"re-create {CHURN}",
                 body={"vectors": {"size": o2.dim, "distance": o2.distance}}, kind="ddl")
        self.oracle = o2
        self.fill(o2, int(rng.integers(100, 600)))
        if jid is not None:
            j = T.wait_job(api, jid, f"rebuild of the dropped {CHURN}")
            self.job_states[j["state"]] += 1
            self.jobs.add(jid)
        problems = T.check_config(api, o2, f"churn cycle {self.cycles}")
        problems += T.compare(o2, T.fetch_state(api, CHURN), f"churn cycle {self.cycles}")
        if problems:
            self.monitor.fail("\n".join(problems))
            raise Stopped()


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------


def verify(api: Api, oracles: list[Oracle], churn: Churn, rng: np.random.Generator, where: str) -> list[str]:
    problems: list[str] = []
    approx = {}
    for o in oracles:
        problems += T.check_config(api, o, where)
        problems += T.compare(o, T.fetch_state(api, o.name), where)
        p, rate = T.self_query_check(api, o, rng, 300, where)
        problems += p
        if rate is not None:
            approx[o.name] = round(rate, 3)
            if rate < 0.8:
                problems.append(f"{where}: {o.name}: an HNSW search by a point's own vector finds it first for only "
                                f"{rate:.1%} of 300 points")
    c = churn.oracle
    exists = api.result("GET", f"/collections/{CHURN}/exists", f"{CHURN} exists", kind="info")["exists"]
    if c is None:
        if exists:
            problems.append(f"{where}: `{CHURN}` exists though its last acknowledged operation dropped it")
    elif not exists:
        problems.append(f"{where}: `{CHURN}` ({c.distance}, {c.dim}-d, {len(c.state)} points) is GONE")
    else:
        cfg = T.check_config(api, c, where)
        problems += cfg
        problems += T.compare(c, T.fetch_state(api, CHURN), where)
        if not cfg:  # (queries of the wrong dimension would only be refused)
            problems += T.self_query_check(api, c, rng, 100, where, approx=False)[0]
    print(f"[stress] {where}: HNSW self-query top-1 rate {approx}", flush=True)
    return problems


def test_stress(server_factory, capsys):
    def report(msg: str) -> None:
        with capsys.disabled():
            print(f"[stress] {msg}", flush=True)

    report(f"seed {SEED} (STRESS_SEED), {SECONDS:.0f}s of load (STRESS_SECONDS)")
    t_start = time.monotonic()
    env = dict(T.SERVER_ENV, VICINITY__STORAGE__VACUUM_DELETED_FRACTION="0.1")
    srv = server_factory.start(env=env)
    import_dir = srv.data_dir / "import"
    monitor = Monitor(srv, "stress")
    master = np.random.default_rng(SEED)
    seeds = iter(master.integers(0, 2**63 - 1, size=64))
    oracles = collections()
    pre: dict = {}
    with Api(monitor) as api:
        for o in oracles:
            T.create_collection(api, o)
            T.preload(api, o, PRELOAD, np.random.default_rng(next(seeds)), import_dir)
            state = o.snapshot()
            ids = np.array(sorted(state))
            pre[o.name] = (ids, np.stack([o.stored(state[i][0]) for i in ids]).astype(np.float64))
    monitor.check()

    watchdog = T.Watchdog(monitor)
    watchdog.start()
    writers = [T.Writer(monitor, oracles, t, np.random.default_rng(next(seeds))) for t in range(3)]
    searchers = [Searcher(monitor, oracles, pre, np.random.default_rng(next(seeds))) for _ in range(3)]
    importer = T.Importer(monitor, oracles, np.random.default_rng(next(seeds)), import_dir)
    admins = [T.Admin(monitor, oracles, np.random.default_rng(next(seeds))) for _ in range(ADMINS)]
    churn = Churn(monitor, np.random.default_rng(next(seeds)))
    workers = ([(f"writer-{i}", w) for i, w in enumerate(writers)] + [(f"searcher-{i}", s) for i, s in enumerate(searchers)]
               + [("importer", importer)] + [(f"admin-{i}", a) for i, a in enumerate(admins)] + [("churn", churn)])
    threads = [threading.Thread(target=T.run_worker, args=(monitor, w.step), name=n, daemon=True) for n, w in workers]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    monitor.stop.wait(SECONDS)
    monitor.stop.set()
    load_secs = time.monotonic() - t0
    deadline = time.monotonic() + T.REQUEST_TIMEOUT_S + T.JOB_TIMEOUT_S + 30
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck and not monitor.failures:
        monitor.fail(f"client threads did not stop: {stuck}; in flight:\n{monitor.inflight_report()}", diagnose=True)
    for _, w in workers:
        w.close()

    counts = Counter()
    for (kind, status), n in monitor.counts.items():
        counts[f"{kind}:{status}"] += n
    report(f"load ran {load_secs:.0f}s: requests {dict(sorted(counts.items()))}")
    report(f"writers acked {[w.acked for w in writers]} ops {[dict(w.ops) for w in writers]}; importer {dict(importer.ops)}; "
           f"admins {[dict(a.ops) for a in admins]}; churn {churn.cycles} cycles, rebuild jobs of the dropped collection ended "
           f"{dict(churn.job_states)}; exact searches checked {sum(s.checked_exact for s in searchers)}; "
           f"/healthz polls {watchdog.polls}, slowest {watchdog.slowest:.2f}s")
    report(f"latency: {monitor.latency_report()}")
    for n in monitor.notes[:5]:
        report(f"note: {n}")
    monitor.check()

    # ---- after the load: jobs, then the oracle
    rng = np.random.default_rng(next(seeds))
    problems: list[str] = []
    try:
        with Api(monitor) as api:
            jobs = T.wait_all_jobs(api)
            by = Counter(f"{j['kind']}:{j['state']}" for j in jobs)
            report(f"jobs: {dict(sorted(by.items()))}")
            for j in jobs:
                if j["collection"] == CHURN or j["state"] == "succeeded":
                    continue
                if j["state"] == "cancelled" and j["kind"] == "rebuild":
                    continue
                problems.append(f"job {j['id']} ({j['kind']} of {j['collection']}) ended {j['state']}: "
                                f"{T._short(json.dumps(j), 500)}")
            requested = {jid: req for a in admins for jid, req in a.rebuilds.items()}
            for o in oracles:
                T.expected_config(o, jobs, requested)
            report(f"expected configs: {[(o.name, o.m, o.quant, len(o.state)) for o in oracles]}")
            problems += verify(api, oracles, churn, rng, "after the load")
    except Stopped:
        pass
    monitor.check(problems)
    bad_log = T.log_problems(srv.log_text())
    if bad_log:
        problems.append(f"ERROR / panic lines in the server log: {bad_log[:10]}")

    # ---- SIGTERM: must stop in time, with every index saved
    watchdog.paused.set()
    try:
        code, secs = T.stop_server(srv, timeout=60)
    except AssertionError as e:  # a hang: report it with what was found before it
        raise AssertionError("\n".join([str(e)] + problems)) from None
    report(f"SIGTERM: exited with {code} in {secs:.1f}s")
    if code != 0:
        problems.append(f"the server exited with {code} after SIGTERM; log tail:\n{srv.log_tail(20)}")
    idx = sorted(p.name for p in (srv.data_dir / "indexes").glob("*.hnsw"))
    live = len(oracles) + (churn.oracle is not None)
    if len(idx) > live:
        problems.append(f"{len(idx)} index files for {live} collections after a clean stop (a dropped collection's "
                        f"index was saved after its drop?): {idx}")

    srv2 = server_factory.restart(srv)
    monitor.server = srv2
    watchdog.paused.clear()
    log = srv2.log_text()
    report(f"restarted in {srv2.startup_secs:.2f}s: "
           f"{[l.split('collection ', 1)[-1][:90] for l in log.splitlines() if 'collection ' in l][:8]}")
    for o in oracles:
        if f"collection \"{o.name}\": loaded persisted index" not in log:
            problems.append(f"after a clean stop, {o.name} did not load its saved index: "
                            f"{[l for l in log.splitlines() if o.name in l]}")
    try:
        with Api(monitor) as api:
            T.wait_all_jobs(api)
            problems += verify(api, oracles, churn, rng, "after SIGTERM + restart")
    except Stopped:
        pass
    watchdog.done.set()
    monitor.check(problems)
    bad_log = T.log_problems(srv2.log_text())
    if bad_log:
        problems.append(f"ERROR / panic lines in the restarted server's log: {bad_log[:10]}")
    report(f"done in {time.monotonic() - t_start:.0f}s; {len(problems)} problem(s)")
    assert not problems, "\n".join(problems)
