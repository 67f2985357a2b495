"""The crash oracle: CRASH_CYCLES times, run a seeded random mix of writes and jobs against a
server, kill -9 it at a random moment while requests are in flight, restart it on the same data
dir and check what it holds against what it acknowledged.

Per cycle (modes drawn from the seed): kill after a random number of acknowledged operations,
during an upsert of 300+ points, right after a rebuild was accepted (it resumes after the
restart), during a file import of 12,000 rows (more than one 10,000-row chunk: it resumes from
its committed `done`), or during a snapshot. Clients: two writers (upserts of 1-1,500 points,
deletes by id and filter, payload edits), an importer (streamed NDJSON and jsonl / npy / fvecs
files), an admin (rebuilds with a changed `m` / quantization, some cancelled; snapshots). The
server saves indexes every second, so kills land before, during and after saves.

After each restart, once the resumed jobs have finished:
- every acknowledged write is there; a write in flight at the kill is wholly there or wholly
  absent (one RocksDB batch: no point with a mix of old and new, no batch half applied); a
  streamed import in flight holds exactly the lines its job says it committed and the job is
  `failed` saying so; a file import whose job exists has resumed and succeeded, with every row;
- no id is present that was deleted or never acknowledged (phantoms; ids sent only in bad
  import lines never appear), vectors and payloads are the acknowledged ones;
- an exact search by a point's own vector returns the exact best over the acknowledged points;
- every job ended as it should (imports and resumed rebuilds succeeded), the collection config
  is what the succeeded rebuilds set, each acknowledged snapshot is still listed and every
  listed snapshot downloads whole with its checksum; no ERROR or panic in the log.
At the end: SIGTERM (must exit within 60 s), restart, the same checks.

(test_crash_restart.py covers the single-scenario restarts: persisted index vs rebuild, replay
after a save, deleted collections; this file drives random mixes through many kills.)

CRASH_CYCLES (default 20), CRASH_SEED (default 20251207).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections import Counter
from typing import Optional

import numpy as np
import pytest

import e2e_support as S
import stress_support as T
from stress_support import Api, Monitor, Oracle, Pending, Stopped

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")

SEED = int(os.environ.get("CRASH_SEED", "20251207"))
CYCLES = int(os.environ.get("CRASH_CYCLES", "20"))
# CRASH_KEEP_GOING=1: after a cycle with problems, report them, take the server's state as the
# oracle's and go on (to find more than the first bug in one run); the test still fails.
KEEP_GOING = os.environ.get("CRASH_KEEP_GOING") == "1"
PRELOAD = 500
MODES = ["ops", "bigwrite", "rebuild", "import", "snapshot"]
MODE_P = [0.35, 0.2, 0.2, 0.15, 0.1]


def collections() -> list[Oracle]:
    # co_rot: 65+ dims without int8, so its index keeps vectors in a fitted basis (fitted at
    # 1,024 points, persisted in the index file): kills land before and after the fit
    return [
        Oracle("co_cos", "Cosine", 8, quant=True),
        Oracle("co_l2", "Euclid", 12),
        Oracle("co_dot", "Dot", 16, quant=True),
        Oracle("co_rot", "Cosine", 72),
    ]


def judge(p: Pending, server: dict, what: str) -> tuple[str, list[str]]:
    """Decides which state an unacknowledged write left (per id: the state before or after it,
    never anything else; with `p.atomic`, the same for every id) and sets the oracle to it."""
    o = p.oracle
    new_ids, old_ids, torn = [], [], []
    for pid, (old, new) in p.changes.items():
        got = server.get(pid)
        is_old, is_new = o.same(old, got), o.same(new, got)
        if is_new and not is_old:
            new_ids.append(pid)
        elif is_old and not is_new:
            old_ids.append(pid)
        elif not is_old and not is_new:
            torn.append(pid)
    problems = []
    if torn:
        ex = []
        for pid in torn[:3]:
            old, new = p.changes[pid]
            got = server.get(pid)
            ex.append(f"{pid}: server {'absent' if got is None else 'payload ' + T._short(json.dumps(got[1]), 120)}, "
                      f"before {'absent' if old is None else 'payload ' + T._short(json.dumps(old[1]), 120)}, "
                      f"after {'absent' if new is None else 'payload ' + T._short(json.dumps(new[1]), 120)}")
        problems.append(f"{what}: {len(torn)} of {len(p.changes)} points are in NEITHER the state before nor the "
                        f"one after the unacknowledged write ({p.what}), e.g. {ex}")
    if p.atomic and new_ids and old_ids:
        problems.append(f"{what}: unacknowledged write PARTIALLY APPLIED ({p.what}): {len(new_ids)} points new "
                        f"(e.g. {new_ids[:5]}), {len(old_ids)} old (e.g. {old_ids[:5]})")
    for pid in new_ids:
        o.put(pid, p.changes[pid][1])
    for pid in old_ids:
        o.put(pid, p.changes[pid][0])
    for pid in torn:  # go on from what the server holds (already reported)
        got = server.get(pid)
        o.put(pid, None if got is None else (got[0], got[1]))
    outcome = "applied" if new_ids and not old_ids else "not applied" if old_ids and not new_ids else \
        "unchanged" if not new_ids and not old_ids else "partial"
    return outcome, problems


def judge_stream(p: Pending, server: dict, job: Optional[dict], what: str) -> tuple[str, list[str]]:
    """A streamed import cut by the kill: exactly the first `done` lines are committed."""
    problems = []
    if job is None:
        done = 0
    else:
        done = job["done"]
        if job["state"] == "failed":
            if str(done) not in (job.get("error") or ""):
                problems.append(f"{what}: interrupted stream job {job['id']} failed without saying how many lines "
                                f"were committed: {job.get('error')!r}")
        elif job["state"] != "succeeded":
            problems.append(f"{what}: stream job {job['id']} is {job['state']} after the restart: {job}")
    committed = {pid for pid in p.stream_ids[:done] if pid is not None}
    o = p.oracle
    wrong = []
    for pid, (old, new) in p.changes.items():
        want = new if pid in committed else old
        got = server.get(pid)
        if not o.same(want, got):
            wrong.append(pid)
        o.put(pid, want)
    if wrong:
        problems.append(f"{what}: streamed import ({p.what}) job says {done} lines committed, but {len(wrong)} "
                        f"points disagree with that, e.g. {wrong[:6]} (lines of these: "
                        f"{[p.stream_ids.index(i) + 1 for i in wrong[:6]]})")
        for pid in wrong:  # go on from the server's state
            got = server.get(pid)
            if got is None:
                o.put(pid, None)
            else:
                old, new = p.changes[pid]
                o.put(pid, new if o.same(new, got) else old)
    return f"{len(committed)} of {len(p.changes)} committed (job done={done})", problems


def restart_summary(log: str) -> str:
    out = []
    for m in re.finditer(r"collection \x22(\S+)\x22: loaded persisted index at seq (\d+) \((\d+) points\), replayed (\d+)", log):
        out.append(f"{m.group(1)}:loaded@{m.group(2)}+{m.group(4)}")
    for m in re.finditer(r"collection \x22(\S+)\x22: (?:persisted index unusable|rebuilt index from storage)", log):
        out.append(f"{m.group(1)}:rebuilt")
    for m in re.finditer(r"job (\d+): resuming (\w+) of collection (\S+)", log):
        out.append(f"job{m.group(1)}:{m.group(2).lower()} resumed")
    return " ".join(out)


class Run:
    """The workers and oracles across cycles."""

    def __init__(self, monitor: Monitor, oracles: list[Oracle], seeds, import_dir):
        self.monitor = monitor
        self.oracles = oracles
        self.writers = [T.Writer(monitor, oracles, t, np.random.default_rng(next(seeds)), cap=1200) for t in range(2)]
        self.importer = T.Importer(monitor, oracles, np.random.default_rng(next(seeds)), import_dir, cap=2500,
                                   max_rows=2000)
        self.admin = T.Admin(monitor, oracles, np.random.default_rng(next(seeds)))
        self.known_jobs: set = set()
        self.resumed_jobs: Counter = Counter()

    @property
    def workers(self) -> list:
        return [*self.writers, self.importer, self.admin]

    def acked(self) -> int:
        return sum(w.acked for w in self.workers)

    def verify(self, api: Api, rng: np.random.Generator, where: str, sample: int) -> tuple[list[str], list[str]]:
        """(problems, in-flight outcomes) after a restart."""
        problems: list[str] = []
        outcomes: list[str] = []
        jobs = T.wait_all_jobs(api)
        by_id = {j["id"]: j for j in jobs}
        new_jobs = [j for j in jobs if j["id"] not in self.known_jobs]
        states = {o.name: T.fetch_state(api, o.name) for o in self.oracles}
        # the unacknowledged requests of the cycle
        for w in self.writers:
            p = w.pending
            if p is not None:
                outcome, pr = judge(p, states[p.oracle.name], where)
                outcomes.append(f"{p.what}: {outcome}")
                problems += pr
                w.pending = None
        imp = self.importer
        p = imp.pending
        if p is not None:
            if p.stream:
                cands = [j for j in new_jobs if j["kind"] == "import" and j["collection"] == p.oracle.name
                         and j["spec"].get("source") == "stream" and j["id"] not in imp.acked_jobs]
                job = by_id.get(p.job_id) if p.job_id is not None else (cands[-1] if cands else None)
                if len(cands) > 1 and p.job_id is None:
                    problems.append(f"{where}: {len(cands)} new stream import jobs for one stream: {cands}")
                outcome, pr = judge_stream(p, states[p.oracle.name], job, where)
            else:
                name = os.path.basename(p.job_path or "")
                cands = [j for j in jobs if j["kind"] == "import"
                         and os.path.basename(str(j["spec"].get("path", ""))) == name]
                job = cands[-1] if cands else None
                if job is None:
                    outcome, pr = judge(Pending(p.what, p.oracle, {i: (old, old) for i, (old, _) in p.changes.items()}),
                                        states[p.oracle.name], where)
                    outcome = f"no job: {outcome}"
                else:
                    pr = []
                    if job["state"] != "succeeded" or job["done"] != job["total"]:
                        pr.append(f"{where}: file import job {job['id']} ({p.what}) interrupted by the kill did not "
                                  f"resume to the end: {T._short(json.dumps(job), 600)}")
                    # a job that exists runs to the end: every row is in
                    full = Pending(p.what, p.oracle, {i: (new, new) for i, (_, new) in p.changes.items()})
                    o_, pr2 = judge(full, states[p.oracle.name], where)
                    for pid, (_, new) in p.changes.items():
                        p.oracle.put(pid, new)
                    if o_ != "unchanged":
                        pr2 = [f"{where}: after file import job {job['id']} ({p.what}) resumed and ended "
                               f"{job['state']} (done {job['done']}/{job['total']}), not every row is in the "
                               f"collection" + (f": {pr2}" if pr2 else "")]
                    pr += pr2
                    outcome = f"job {job['id']} {job['state']} done {job['done']}/{job['total']}"
            outcomes.append(f"{p.what}: {outcome}")
            problems += pr
            imp.pending = None
        ad = self.admin
        if ad.pending_rebuild is not None:
            name = ad.pending_rebuild[0]
            cands = [j for j in new_jobs if j["kind"] == "rebuild" and j["collection"] == name
                     and j["id"] not in ad.rebuilds]
            for j in cands[-1:]:
                ad.rebuilds[j["id"]] = ad.pending_rebuild
            outcomes.append(f"rebuild request of {name}: {'job ' + str(cands[-1]['id']) if cands else 'no job'}")
            ad.pending_rebuild = None
        if ad.pending_snapshot is not None:
            outcomes.append(f"snapshot of {ad.pending_snapshot}: in flight")
            ad.pending_snapshot = None
        # jobs
        for j in new_jobs:
            if j["state"] == "succeeded" or (j["kind"] == "rebuild" and j["state"] == "cancelled"):
                continue
            if (j["kind"] == "import" and j["spec"].get("source") == "stream" and j["state"] == "failed"
                    and "interrupted" in (j.get("error") or "")):
                continue
            problems.append(f"{where}: job {j['id']} ({j['kind']} of {j['collection']}) ended {j['state']}: "
                            f"{T._short(json.dumps(j), 500)}")
        for j in jobs:
            if j["kind"] == "rebuild" and j["id"] not in ad.rebuilds:
                problems.append(f"{where}: rebuild job {j['id']} that no client asked for: {j}")
                ad.rebuilds[j["id"]] = (j["collection"], {}, None, None)
        self.known_jobs.update(j["id"] for j in jobs)
        # the oracle
        for o in self.oracles:
            T.expected_config(o, jobs, ad.rebuilds)
            data = T.compare(o, states[o.name], where)
            problems += data
            if data and KEEP_GOING:
                with o.lock:
                    o.state = {i: (v, p_) for i, (v, p_) in states[o.name].items()}
            cfg = T.check_config(api, o, where)
            if any("hnsw m" in c or "quantization" in c for c in cfg):
                history = [(j["id"], j["state"], json.dumps(ad.rebuilds.get(j["id"], ("?", "?"))[1]), j["spec"])
                           for j in sorted(jobs, key=lambda j: j["id"])
                           if j["collection"] == o.name and j["kind"] in ("rebuild", "vacuum")]
                resumed = re.findall(r"job (\d+): resuming", api.monitor.server.log_text())
                cfg.append(f"{where}: {o.name}: rebuild history (job, state, request body, stored spec): {history}; "
                           f"jobs resumed after this restart: {resumed}")
            problems += cfg
            if cfg and KEEP_GOING:
                info = api.result("GET", f"/collections/{o.name}", f"info of {o.name}")
                o.m = info["config"]["hnsw_config"]["m"]
                o.quant = info["config"].get("quantization_config") is not None
            problems += T.self_query_check(api, o, rng, sample, where, approx=False)[0]
        # snapshots: every acknowledged one is listed; every listed one is whole
        for o in self.oracles:
            listed = api.result("GET", f"/collections/{o.name}/snapshots", f"list snapshots of {o.name}")
            names = {s["name"] for s in listed}
            lost = sorted(ad.snapshots[o.name] - names)
            if lost:
                problems.append(f"{where}: acknowledged snapshots of {o.name} are gone: {lost}")
            for s in listed:
                r = api.call("GET", f"/collections/{o.name}/snapshots/{s['name']}", f"download snapshot {s['name']}")
                digest = hashlib.sha256(r.content).hexdigest()
                if len(r.content) != s["size"] or digest != s["checksum"]:
                    problems.append(f"{where}: snapshot {s['name']} of {o.name} is listed with size {s['size']} "
                                    f"checksum {s['checksum']} but downloads {len(r.content)} bytes with sha256 {digest}")
            # keep a few
            for s in sorted(listed, key=lambda s: s["name"])[:-2]:
                ad.snapshots[o.name].discard(s["name"])
                api.call("DELETE", f"/collections/{o.name}/snapshots/{s['name']}", f"delete snapshot {s['name']}")
        return problems, outcomes


def test_crash_oracle(server_factory, capsys):
    def report(msg: str) -> None:
        with capsys.disabled():
            print(f"[crash_oracle] {msg}", flush=True)

    report(f"seed {SEED} (CRASH_SEED), {CYCLES} cycles (CRASH_CYCLES)")
    t_start = time.monotonic()
    srv = server_factory.start(env=T.SERVER_ENV)
    import_dir = srv.data_dir / "import"
    monitor = Monitor(srv, "crash_oracle")
    master = np.random.default_rng(SEED)
    seeds = iter(master.integers(0, 2**63 - 1, size=16))
    oracles = collections()
    with Api(monitor) as api:
        for o in oracles:
            T.create_collection(api, o)
            T.preload(api, o, PRELOAD, np.random.default_rng(next(seeds)), import_dir)
    monitor.check()
    run = Run(monitor, oracles, seeds, import_dir)
    watchdog = T.Watchdog(monitor)
    watchdog.start()
    modes: Counter = Counter()
    problems: list[str] = []
    for cycle in range(1, CYCLES + 1):
        crng = np.random.default_rng(master.integers(0, 2**63 - 1))
        mode = str(crng.choice(MODES, p=MODE_P))
        modes[mode] += 1
        target = int(crng.integers(3, 40))
        base = run.acked()
        run.importer.force = "big" if mode == "import" else None
        run.admin.force = mode if mode in ("rebuild", "snapshot") else None
        cycle_stop = threading.Event()
        threads = [threading.Thread(target=T.run_worker, args=(monitor, w.step, cycle_stop), daemon=True,
                                    name=f"c{cycle}-{type(w).__name__.lower()}-{i}") for i, w in enumerate(run.workers)]
        rebuild0 = run.admin.last_rebuild
        t0 = time.monotonic()
        for t in threads:
            t.start()

        def trigger() -> bool:
            if mode == "ops":
                return run.acked() - base >= target
            if mode == "bigwrite":
                pending = [w.pending for w in run.writers]  # (each read once: a writer may clear it)
                return any(p is not None and len(p.changes) >= 300 and "upsert" in p.what for p in pending)
            if mode == "rebuild":
                return run.admin.last_rebuild != rebuild0
            if mode == "import":
                return run.importer.current_job is not None
            return run.admin.pending_snapshot is not None

        deadline = time.monotonic() + 90
        while not trigger():
            if monitor.failures or time.monotonic() > deadline:
                if not monitor.failures:
                    monitor.fail(f"cycle {cycle} ({mode}): the kill condition was not reached within 90s "
                                 f"({run.acked() - base} ops acknowledged); in flight:\n{monitor.inflight_report()}",
                                 diagnose=True)
                break
            monitor.stop.wait(0.002)
        if monitor.failures:
            break
        delay = float({"ops": crng.uniform(0, 0.02), "bigwrite": crng.uniform(0, 0.05),
                       "rebuild": crng.uniform(0, 0.25), "import": crng.uniform(0, 0.6),
                       "snapshot": crng.uniform(0, 0.01)}[mode])
        time.sleep(delay)  # the moment of the kill, not a synchronisation
        load_secs = time.monotonic() - t0
        with monitor.lock:
            inflight = [w for _, w, _ in sorted(monitor.inflight.values(), key=lambda x: x[2])]
        watchdog.paused.set()
        monitor.killed.set()
        srv.kill()
        cycle_stop.set()
        for t in threads:
            t.join(timeout=60)
        if any(t.is_alive() for t in threads):
            monitor.fail(f"cycle {cycle}: client threads did not stop after the kill: "
                         f"{[t.name for t in threads if t.is_alive()]}")
            break
        acked = run.acked() - base
        srv = server_factory.restart(srv, crash=True)
        monitor.server = srv
        monitor.killed.clear()
        watchdog.paused.clear()
        for w in run.workers:
            w.reconnect()
        try:
            with Api(monitor) as api:
                pr, outcomes = run.verify(api, np.random.default_rng(crng.integers(0, 2**63 - 1)), f"cycle {cycle}",
                                          sample=40)
        except Stopped:
            break
        pr += [f"cycle {cycle}: server log: {l}" for l in T.log_problems(srv.log_text())]
        sizes = [len(o.state) for o in oracles]
        cfgs = [f"m{o.m}{'q8' if o.quant else ''}" for o in oracles]
        report(f"cycle {cycle:3d}/{CYCLES} {mode:8s} load {load_secs:4.1f}s, {acked:3d} acked, {len(inflight)} in flight "
               f"at the kill; restart {srv.startup_secs:.2f}s [{restart_summary(srv.log_text())}]; unacknowledged: "
               f"{outcomes or '-'}; points {sizes} {cfgs}; {'OK' if not pr else f'{len(pr)} PROBLEM(S)'}")
        if pr:
            problems += pr
            if not KEEP_GOING:
                break
            for line in pr:
                report(f"  problem: {line[:600]}")
    monitor.check(problems)
    if not problems or KEEP_GOING:
        # graceful stop, restart, check again
        watchdog.paused.set()
        try:
            code, secs = T.stop_server(srv, timeout=60)
        except AssertionError as e:  # a hang: report it with what was found before it
            raise AssertionError("\n".join([str(e)] + problems)) from None
        report(f"SIGTERM: exited with {code} in {secs:.1f}s")
        if code != 0:
            problems.append(f"the server exited with {code} after SIGTERM; log tail:\n{srv.log_tail(20)}")
        srv = server_factory.restart(srv)
        monitor.server = srv
        watchdog.paused.clear()
        for w in run.workers:
            w.reconnect()
        try:
            with Api(monitor) as api:
                pr, _ = run.verify(api, np.random.default_rng(SEED + 1), "after SIGTERM + restart", sample=200)
                problems += pr
                for o in oracles:
                    pr2, rate = T.self_query_check(api, o, np.random.default_rng(SEED + 2), 200, "final")
                    if rate is not None and rate < 0.8:
                        problems.append(f"final: {o.name}: an HNSW search by a point's own vector finds it first "
                                        f"for only {rate:.1%} of 200 points")
        except Stopped:
            pass
        problems += [f"final: server log: {l}" for l in T.log_problems(srv.log_text())]
    watchdog.done.set()
    for w in run.workers:
        w.close()
    monitor.check(problems)
    report(f"modes {dict(modes)}; {len(run.known_jobs)} jobs; done in {time.monotonic() - t_start:.0f}s")
    assert not problems, "\n".join(problems)
