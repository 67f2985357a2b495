"""Jobs, bulk import, online rebuild and vacuum, snapshots (issue 6), over HTTP.

- rebuild under query + upsert load: no failed request, the writes made during it searchable;
- automatic vacuum after deleting 30 %: recall back, no deleted id, no tombstones left;
- a snapshot taken while a writer streams upserts: exactly a prefix of the writes, and the
  snapshot file's checksum / corruption / name checks;
- kill -9 in the middle of a file import (resumed to the end) and of a streamed import
  (failed, with exactly the committed lines kept);
- bad import input, auth of the admin routes;
- the `vicinity import` command.

Data are generated here (seeded numpy) and written as fvecs / npy / jsonl into the server's
import directory (storage.import_dir: `<data_dir>/import` unless configured), the only place
file imports read from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

import e2e_support as S
from conftest import free_port, vicinity_bin

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")

FINISHED = ("succeeded", "failed", "cancelled")
NDJSON = {"content-type": "application/x-ndjson"}


# --------------------------------------------------------------------------------------------
# Files and data
# --------------------------------------------------------------------------------------------


def import_dir(server) -> Path:
    """The server's import directory (the default, `<data_dir>/import`): file imports read only
    regular files inside it."""
    d = server.data_dir / "import"
    d.mkdir(parents=True, exist_ok=True)
    return d


def not_in_import_dir(path: Any) -> str:
    """The one answer to an import path that is not a regular file inside the import directory,
    whatever the reason (missing, outside, a directory, a symlink out, `..`): it says nothing else."""
    return f"{path}: not a file in the import directory (storage.import_dir)"


def write_fvecs(path: Path, x: np.ndarray) -> Path:
    """ann-benchmarks fvecs: per row an int32 dimension, then the float32 values."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    rows = np.empty((n, d + 1), dtype=np.float32)
    rows[:, 0] = np.array([d], dtype=np.int32).view(np.float32)[0]
    rows[:, 1:] = x
    rows.tofile(path)
    return path


def write_jsonl(path: Path, lines: list) -> Path:
    """Each item a dict (dumped as JSON) or a str (written as is)."""
    path.write_text("\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n")
    return path


def clustered(rng: np.random.Generator, n: int, dim: int, centers: int = 100) -> np.ndarray:
    """Gaussian clusters around centers fixed by a separate seed (the same for every call, so
    later upserts and queries come from the same distribution as the bulk data: points drawn
    around fresh random centers would be isolated outliers, which HNSW — hnswlib as well —
    fails to reach from their own vector about 2 % of the time)."""
    c = np.random.default_rng(97).standard_normal((centers, dim)).astype(np.float32) * 3.0
    return (c[rng.integers(0, centers, n)] + rng.standard_normal((n, dim))).astype(np.float32)


def low_rank(rng: np.random.Generator, n: int, dim: int, rank: int = 16, centers: int = 50) -> np.ndarray:
    """Clusters in a `rank`-dimensional subspace (fixed by a separate seed) plus a little noise:
    data an HNSW index at default settings searches with recall near 1 (32-d isotropic clusters
    do not: a fresh index there is at ~0.85, as hnswlib is)."""
    fixed = np.random.default_rng(98)
    basis = fixed.standard_normal((rank, dim)).astype(np.float32)
    c = fixed.standard_normal((centers, rank)).astype(np.float32) * 3.0
    z = c[rng.integers(0, centers, n)] + rng.standard_normal((n, rank))
    return (z @ basis + 0.05 * rng.standard_normal((n, dim))).astype(np.float32)


def unit_rows(x: np.ndarray) -> np.ndarray:
    return S.stored_vectors(x, M.Distance.COSINE)


# --------------------------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------------------------


def http(url: str, **kw: Any) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=kw.pop("timeout", 120), **kw)


def connect(url: str) -> QdrantClient:
    return QdrantClient(url=url, prefer_grpc=False, check_compatibility=False, timeout=300)


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, str(r.request.url), r.status_code, r.text[:800])
    body = r.json()
    assert body.get("status") == "ok", body
    return body["result"]


def refused(r: httpx.Response, status: int) -> str:
    """The request failed with `status` and Qdrant's error envelope; returns the message."""
    assert r.status_code == status, (r.request.method, str(r.request.url), r.status_code, r.text[:800])
    err = r.json()["status"]["error"]
    assert isinstance(err, str) and err, r.text
    return err


def create_collection(h: httpx.Client, name: str, dim: int, distance: str = "Cosine", **extra: Any) -> None:
    h.delete(f"/collections/{name}")
    ok(h.put(f"/collections/{name}", json={"vectors": {"size": dim, "distance": distance}, **extra}))


def import_file(h: httpx.Client, collection: str, path: Path, fmt: str, **spec: Any) -> int:
    r = h.post(f"/collections/{collection}/import", json={"path": str(path), "format": fmt, **spec})
    return ok(r, 202)["job_id"]


def job(h: httpx.Client, jid: int) -> dict:
    return ok(h.get(f"/jobs/{jid}"))


def wait_job(h: httpx.Client, jid: int, timeout: float = 120.0, server=None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        j = job(h, jid)
        if j["state"] in FINISHED:
            return j
        if server is not None:
            assert server.alive(), f"server died; log:\n{server.log_tail()}"
        assert time.monotonic() < deadline, f"job {jid} not finished within {timeout}s: {j}"
        time.sleep(0.1)


def succeeded(h: httpx.Client, jid: int, timeout: float = 120.0, server=None) -> dict:
    j = wait_job(h, jid, timeout, server)
    assert j["state"] == "succeeded", j
    assert j["error"] is None, j
    assert j["eta_s"] == 0.0, j
    return j


def count(h: httpx.Client, name: str) -> int:
    return ok(h.post(f"/collections/{name}/points/count", json={"exact": True}))["count"]


def scroll_ids(h: httpx.Client, name: str) -> list:
    ids, offset = [], None
    while True:
        body = {"limit": 10_000, "with_payload": False, "with_vector": False}
        if offset is not None:
            body["offset"] = offset
        res = ok(h.post(f"/collections/{name}/points/scroll", json=body))
        ids += [p["id"] for p in res["points"]]
        offset = res.get("next_page_offset")
        if offset is None:
            return ids


def retrieve(h: httpx.Client, name: str, ids: list, vectors: bool = True) -> dict:
    res = ok(h.post(f"/collections/{name}/points", json={"ids": ids, "with_payload": True, "with_vector": vectors}))
    return {p["id"]: p for p in res}


def self_query_misses(c: QdrantClient, name: str, ids: list, vectors: np.ndarray, exact: bool = False,
                      ef: int = 256) -> list:
    """Ids whose own vector, as a query, does not return them first (batched).

    `exact=True` scans the index's own vectors: a miss there means the point is not in the
    index. The approximate (graph) search may miss a few points that are in it: HNSW leaves some
    nodes hard to reach (hnswlib as well: about 1 in 10^4 of these clustered 32-d points at
    ef=256, and 6 % of isotropic 64-d Gaussian points, the same for both)."""
    misses = []
    for start in range(0, len(ids), 200):
        reqs = [
            M.QueryRequest(query=vectors[i].tolist(), limit=3, params=M.SearchParams(hnsw_ef=ef, exact=exact))
            for i in range(start, min(start + 200, len(ids)))
        ]
        for i, res in zip(range(start, start + len(reqs)), c.query_batch_points(name, requests=reqs)):
            if not res.points or res.points[0].id != ids[i]:
                misses.append((ids[i], [(p.id, round(p.score, 5)) for p in res.points]))
    return misses


# --------------------------------------------------------------------------------------------
# 1. Online rebuild under query + upsert load
# --------------------------------------------------------------------------------------------

REBUILD_N = 100_000
REBUILD_DIM = 32


def test_rebuild_under_load(server, capsys):
    name = "jobs_rebuild"
    rng = np.random.default_rng(601)
    base = clustered(rng, REBUILD_N, REBUILD_DIM)
    path = write_fvecs(import_dir(server) / "base.fvecs", base)
    with http(server.url) as h:
        create_collection(h, name, REBUILD_DIM)
        jid = import_file(h, name, path, "fvecs")
        j = succeeded(h, jid, server=server)
        assert (j["kind"], j["collection"]) == ("import", name), j
        assert j["done"] == j["total"] == REBUILD_N and j["skipped"] == 0, j
        assert count(h, name) == REBUILD_N

        # cancel: a rebuild cancelled at once ends `cancelled`; a second one meanwhile is 409;
        # cancelling a finished job is 409
        cid = ok(h.post(f"/collections/{name}/index/rebuild"), 202)["job_id"]
        refused(h.post(f"/collections/{name}/index/rebuild"), 409)
        ok(h.delete(f"/jobs/{cid}"))
        j = wait_job(h, cid, server=server)
        assert (j["kind"], j["state"]) == ("rebuild", "cancelled"), j
        refused(h.delete(f"/jobs/{cid}"), 409)
        assert ok(h.get(f"/collections/{name}"))["config"]["hnsw_config"]["m"] == 16

    stop = threading.Event()
    records: list[tuple[str, float, float, int, str]] = []  # kind, t_sent, t_answered, status, detail
    polls: list[tuple[float, str, int]] = []  # t, state, done
    upserted: dict[int, np.ndarray] = {}
    during: set[int] = set()  # ids whose upsert was sent after the rebuild request
    rebuild_sent = [float("inf")]
    lock = threading.Lock()

    def querier(seed: int) -> None:
        qrng = np.random.default_rng(seed)
        with http(server.url, timeout=60) as c:
            while not stop.is_set():
                q = clustered(qrng, 1, REBUILD_DIM)[0]
                t0 = time.monotonic()
                try:
                    r = c.post(f"/collections/{name}/points/query", json={"query": q.tolist(), "limit": 10})
                    status, detail = r.status_code, r.text[:300]
                    if status == 200:
                        pts = r.json()["result"]["points"]
                        scores = [p["score"] for p in pts]
                        if len(pts) != 10 or scores != sorted(scores, reverse=True):
                            status, detail = -1, f"bad result: {pts}"
                except Exception as e:  # noqa: BLE001 - any transport failure counts as failed
                    status, detail = -2, repr(e)
                with lock:
                    records.append(("query", t0, time.monotonic(), status, detail))

    def writer(t: int) -> None:
        wrng = np.random.default_rng(700 + t)
        next_id = 1_000_000 * (t + 1)
        with http(server.url, timeout=60) as c:
            while not stop.is_set():
                ids = list(range(next_id, next_id + 20))
                next_id += 20
                vecs = clustered(wrng, len(ids), REBUILD_DIM)
                body = {"points": [{"id": i, "vector": v.tolist(), "payload": {"w": t}} for i, v in zip(ids, vecs)]}
                t0 = time.monotonic()
                try:
                    r = c.put(f"/collections/{name}/points", params={"wait": "true"}, json=body)
                    status, detail = r.status_code, r.text[:300]
                except Exception as e:  # noqa: BLE001
                    status, detail = -2, repr(e)
                t1 = time.monotonic()
                with lock:
                    records.append(("upsert", t0, t1, status, detail))
                    if status == 200:
                        upserted.update(zip(ids, vecs))
                        if t0 >= rebuild_sent[0]:
                            during.update(ids)

    threads = [threading.Thread(target=querier, args=(800 + i,), daemon=True) for i in range(2)]
    threads += [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the load is running before the rebuild starts
    with http(server.url) as h:
        rebuild_sent[0] = time.monotonic()
        rid = ok(h.post(f"/collections/{name}/index/rebuild", json={"hnsw_config": {"m": 24}}), 202)["job_id"]
        deadline = time.monotonic() + 120
        while True:
            j = job(h, rid)
            polls.append((time.monotonic(), j["state"], j["done"]))
            if j["state"] in FINISHED or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # and a little after the swap
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a load thread is stuck"

        assert j["state"] == "succeeded", j
        assert (j["kind"], j["collection"]) == ("rebuild", name), j
        report = j["result"]
        failed = [r for r in records if r[3] != 200]
        running = [t for t, state, _ in polls if state == "running"]
        assert running, f"the rebuild was never seen running: {polls[:5]}"
        first_run, last_run = min(running), max(running)
        served = {k: sum(1 for r in records if r[0] == k and r[3] == 200 and first_run <= r[1] and r[2] <= last_run)
                  for k in ("query", "upsert")}
        n_q = sum(1 for r in records if r[0] == "query")
        n_u = sum(1 for r in records if r[0] == "upsert")

        def latency(kind: str, inside: bool) -> str:
            ms = [1000 * (r[2] - r[1]) for r in records
                  if r[0] == kind and (first_run <= r[1] and r[2] <= last_run) == inside]
            return f"p50 {np.median(ms):.0f} ms, max {max(ms):.0f} ms" if ms else "-"

        with capsys.disabled():
            print(f"\n[jobs] rebuild of {REBUILD_N} points under load: {report}; {n_q} queries, {n_u} upserts "
                  f"(of 20) in all; served while the job was running: {served}; {len(failed)} failed; "
                  f"upsert latency during the rebuild {latency('upsert', True)}, outside {latency('upsert', False)}; "
                  f"query latency during {latency('query', True)}, outside {latency('query', False)}", flush=True)
        assert not failed, f"{len(failed)} failed requests, e.g. {failed[:5]}"
        assert served["query"] > 0 and served["upsert"] > 0, (served, polls[:3], polls[-3:])
        assert report["caught_up"] > 0, f"no write was caught up by the rebuild: {report}"
        assert report["points"] >= REBUILD_N, report
        assert ok(h.get(f"/collections/{name}"))["config"]["hnsw_config"]["m"] == 24

        # every upserted point is there and searchable, the ones written during the rebuild first
        ids = sorted(upserted)
        assert set(during) <= set(ids) and during, "no upsert was made during the rebuild"
        assert count(h, name) == REBUILD_N + len(ids)
        got = retrieve(h, name, ids)
        assert len(got) == len(ids)
        vecs = np.stack([upserted[i] for i in ids])
        stored = unit_rows(vecs)
        for i, s in zip(ids, stored):
            np.testing.assert_allclose(got[i]["vector"], s, atol=1e-5)
        c = connect(server.url)
        # in the index: an exact scan of the index's vectors finds each of them
        misses = self_query_misses(c, name, ids, vecs, exact=True)
        assert not misses, f"{len(misses)} of {len(ids)} points upserted under load are not in the index: {misses[:5]}"
        # reachable through the graph: all but a handful (lost writes would miss whole batches of 20)
        misses = self_query_misses(c, name, ids, vecs)
        assert len(misses) <= max(1, len(ids) // 500), (
            f"{len(misses)} of {len(ids)} points upserted under load are not found by HNSW search: {misses[:5]}")
        # and the imported points still are
        sample = sorted(np.random.default_rng(5).choice(REBUILD_N, size=300, replace=False).tolist())
        misses = self_query_misses(c, name, sample, base[sample], exact=True)
        assert not misses, f"imported points lost by the rebuild: {misses[:5]}"
        assert len(self_query_misses(c, name, sample, base[sample])) <= 1
        c.close()


# --------------------------------------------------------------------------------------------
# 2. Automatic vacuum
# --------------------------------------------------------------------------------------------


def test_vacuum_restores_recall(server):
    name = "jobs_vacuum"
    n, dim = 20_000, 32
    rng = np.random.default_rng(602)
    x = low_rank(rng, n, dim)
    np.save(import_dir(server) / "x.npy", x)
    with http(server.url) as h:
        create_collection(h, name, dim)
        jid = import_file(h, name, import_dir(server) / "x.npy", "npy", ids_from=0)
        j = succeeded(h, jid, server=server)
        assert j["done"] == n and count(h, name) == n
        old_jobs = {j["id"] for j in ok(h.get("/jobs"))}
        bytes_before = ok(h.get(f"/collections/{name}"))["vicinity"]["index_bytes"]

        dead = np.sort(rng.choice(n, size=int(0.3 * n), replace=False))
        ok(h.post(f"/collections/{name}/points/delete", params={"wait": "true"},
                  json={"points": dead.tolist()}))
        deleted_at = time.time()
        assert count(h, name) == n - len(dead)

        deadline = time.monotonic() + 60
        vac = None
        while vac is None or vac["state"] not in FINISHED:
            assert time.monotonic() < deadline, f"no finished vacuum within 60s: {ok(h.get('/jobs'))}"
            vac = next((j for j in ok(h.get("/jobs"))
                        if j["id"] not in old_jobs and j["kind"] == "vacuum" and j["collection"] == name), None)
            time.sleep(0.2)
        assert vac["state"] == "succeeded", vac
        assert vac["created_at"] - deleted_at < 5, f"the vacuum started {vac['created_at'] - deleted_at:.1f}s after the delete"
        assert vac["done"] == vac["total"] == n - len(dead), vac
        assert vac["result"]["removed_tombstones"] == len(dead), vac
        assert vac["result"]["points"] == n - len(dead), vac
        time.sleep(1.5)  # the check runs every second: it must not start another one
        again = [j for j in ok(h.get("/jobs")) if j["id"] not in old_jobs and j["collection"] == name]
        assert [j["id"] for j in again] == [vac["id"]], again

        info = ok(h.get(f"/collections/{name}"))
        assert info["vicinity"]["deleted_points"] == 0, info["vicinity"]
        assert info["vicinity"]["index_bytes"] < 0.85 * bytes_before, (bytes_before, info["vicinity"])
        assert info["points_count"] == n - len(dead)
        assert count(h, name) == n - len(dead)

    alive = np.ones(n, dtype=bool)
    alive[dead] = False
    dead_set = set(dead.tolist())
    stored = unit_rows(x)
    c = connect(server.url)
    queries = low_rank(np.random.default_rng(603), 100, dim)
    recalls = []
    for start in range(0, len(queries), 50):
        reqs = [M.QueryRequest(query=q.tolist(), limit=10) for q in queries[start:start + 50]]
        for q, res in zip(queries[start:start + 50], c.query_batch_points(name, requests=reqs)):
            got = [p.id for p in res.points]
            assert len(got) == 10, got
            assert not dead_set & set(got), f"deleted ids returned: {sorted(dead_set & set(got))}"
            scores = stored @ S._prep_query(q, M.Distance.COSINE)
            exact = S.exact_topk(scores, alive, 10, True)
            recalls.append(len(set(got) & set(exact)) / 10)
    # the deleted points' own vectors find live points only, approximate and exact
    for r in dead[:20]:
        for exact in (False, True):
            res = c.query_points(name, query=x[r].tolist(), limit=10, search_params=M.SearchParams(exact=exact)).points
            assert len(res) == 10 and not dead_set & {p.id for p in res}, (r, exact, [p.id for p in res])
    c.close()
    mean = float(np.mean(recalls))
    print(f"recall@10 after vacuum: {mean:.4f} (min {min(recalls):.2f})")
    assert mean >= 0.95, f"recall@10 {mean:.4f} after the vacuum"


# --------------------------------------------------------------------------------------------
# 3. Snapshot while a writer streams upserts
# --------------------------------------------------------------------------------------------


PRELOAD, PRELOAD_FROM = 60_000, 10_000_000


def test_snapshot_under_write_load(server, tmp_path):
    name, copy = "jobs_snap", "jobs_snap_recovered"
    dim = 16
    rng = np.random.default_rng(604)
    total = 5000
    vecs = rng.standard_normal((total, dim)).astype(np.float32)
    payloads = [{"i": i, "tag": ["a", "b", "c"][i % 3], "f": round(float(vecs[i, 0]), 4)} for i in range(total)]
    sent: dict[int, float] = {}
    acked: dict[int, float] = {}
    errors: list = []
    stop = threading.Event()

    def writer() -> None:
        with http(server.url, timeout=60) as c:
            for i in range(total):
                if stop.is_set():
                    return
                body = {"points": [{"id": i, "vector": vecs[i].tolist(), "payload": payloads[i]}]}
                sent[i] = time.monotonic()
                try:
                    r = c.put(f"/collections/{name}/points", params={"wait": "true"}, json=body)
                except Exception as e:  # noqa: BLE001
                    errors.append((i, repr(e)))
                    return
                if r.status_code != 200:
                    errors.append((i, r.status_code, r.text[:300]))
                    return
                acked[i] = time.monotonic()

    with http(server.url) as h:
        for n in (name, copy):
            h.delete(f"/collections/{n}")
        create_collection(h, name, dim, "Euclid")
        # bulk data first (ids from PRELOAD_FROM on), so that writing the snapshot takes a while
        preload = np.random.default_rng(614).standard_normal((PRELOAD, dim)).astype(np.float32)
        j = succeeded(h, import_file(h, name, write_fvecs(import_dir(server) / "preload.fvecs", preload), "fvecs",
                                     ids_from=PRELOAD_FROM), server=server)
        assert j["done"] == PRELOAD
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 300:
            assert time.monotonic() < deadline and t.is_alive(), (len(acked), errors)
            time.sleep(0.01)
        t_req = time.monotonic()
        info = ok(h.post(f"/collections/{name}/snapshots", params={"wait": "true"}))
        t_resp = time.monotonic()
        n_at_resp = len(acked)
        deadline = time.monotonic() + 60
        while len(acked) < n_at_resp + 200 and t.is_alive():  # writes go on after it
            assert time.monotonic() < deadline
            time.sleep(0.01)
        stop.set()
        t.join(timeout=60)
        assert not errors, errors

        before = {i for i, ta in acked.items() if ta < t_req}
        after = {i for i, ts in sent.items() if ts > t_resp}
        assert before and after, (len(before), len(after))
        assert set(info) >= {"name", "creation_time", "size", "checksum"}, info
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", info["creation_time"]), info
        snap = info["name"]
        listed = ok(h.get(f"/collections/{name}/snapshots"))
        assert [s for s in listed if s["name"] == snap] == [info], listed
        on_disk = server.data_dir / "snapshots" / name / snap
        assert on_disk.is_file() and on_disk.stat().st_size == info["size"]

        # download: the checksum is the file's SHA-256
        r = h.get(f"/collections/{name}/snapshots/{snap}")
        assert r.status_code == 200, r.text[:300]
        data = r.content
        assert len(data) == info["size"]
        assert hashlib.sha256(data).hexdigest() == info["checksum"]

        # recover into a new collection (by path, with the checksum)
        ok(h.put(f"/collections/{copy}/snapshots/recover",
                 json={"location": str(on_disk), "checksum": info["checksum"]}))
        all_ids = scroll_ids(h, copy)
        assert all_ids[-PRELOAD:] == list(range(PRELOAD_FROM, PRELOAD_FROM + PRELOAD)), "bulk data not all there"
        ids = all_ids[:-PRELOAD]
        k = len(ids)
        assert ids == list(range(k)), f"recovered ids are not a prefix 0..{k}: holes {sorted(set(range(max(ids) + 1)) - set(ids))[:10]}"
        missing = sorted(before - set(ids))
        assert not missing, f"writes acknowledged before the snapshot request are missing: {missing[:10]}"
        extra = sorted(after & set(ids))
        assert not extra, f"writes sent after the snapshot answer are in it: {extra[:10]}"
        assert count(h, copy) == k + PRELOAD
        got = retrieve(h, copy, ids)
        for i in ids:
            assert got[i]["payload"] == payloads[i], (i, got[i])
            np.testing.assert_allclose(got[i]["vector"], vecs[i], atol=1e-6)
        some = [PRELOAD_FROM, PRELOAD_FROM + 12_345, PRELOAD_FROM + PRELOAD - 1]
        got = retrieve(h, copy, some)
        for i in some:
            np.testing.assert_allclose(got[i]["vector"], preload[i - PRELOAD_FROM], atol=1e-6)
        # searchable, and the original carries on with everything acknowledged
        c = connect(server.url)
        probe = list(range(0, k, max(1, k // 50)))
        assert not self_query_misses(c, copy, probe, vecs[probe])
        c.close()
        assert count(h, name) == len(acked) + PRELOAD
        assert ok(h.get(f"/collections/{copy}"))["config"]["params"]["vectors"] == {"size": dim, "distance": "Euclid"}

        # corrupt and mismatched files are refused, and leave no collection behind (the truncated
        # file is in the snapshots directory, the only place a location may point to, so it is
        # refused for being corrupt)
        trunc = server.data_dir / "snapshots" / "trunc.snapshot"
        trunc.write_bytes(data[: len(data) // 2])
        for bad in ("jobs_snap_bad1", "jobs_snap_bad2", "jobs_snap_bad3", "jobs_snap_bad4"):
            h.delete(f"/collections/{bad}")
        err = refused(h.put("/collections/jobs_snap_bad1/snapshots/recover", json={"location": f"file://{trunc}"}), 400)
        assert "not a file in the snapshots directory" not in err, err
        refused(h.post("/collections/jobs_snap_bad2/snapshots/upload", content=data[:-1],
                       headers={"content-type": "application/octet-stream"}), 400)
        err = refused(h.put("/collections/jobs_snap_bad3/snapshots/recover",
                            json={"location": str(on_disk), "checksum": "0" * 64}), 400)
        assert "checksum" in err, err
        refused(h.post("/collections/jobs_snap_bad3/snapshots/upload", params={"checksum": "f" * 64},
                       content=data, headers={"content-type": "application/octet-stream"}), 400)
        refused(h.put("/collections/jobs_snap_bad3/snapshots/recover", json={"location": "relative/x.snapshot"}), 400)
        # a whole, valid snapshot outside the snapshots directory (or reached through `..` or a
        # symlink out of it) is refused with the same answer as a missing one
        outside = tmp_path / "outside.snapshot"
        outside.write_bytes(data)
        link = server.data_dir / "snapshots" / "link-out.snapshot"
        link.unlink(missing_ok=True)
        link.symlink_to(outside)
        missing = server.data_dir / "snapshots" / "missing.snapshot"
        dotdot = f"{server.data_dir}/snapshots/../snapshots/{name}/{snap}"
        for loc in (str(outside), f"file://{outside}", str(link), dotdot, str(missing), f"file://{missing}",
                    str(server.data_dir / "snapshots")):
            for checksum in ({}, {"checksum": info["checksum"]}):
                err = refused(h.put("/collections/jobs_snap_bad4/snapshots/recover",
                                    json={"location": loc, **checksum}), 400)
                shown = loc.removeprefix("file://")
                assert err.startswith(f"{shown}: not a file in the snapshots directory"), (loc, err)
                assert err.replace(shown, "<loc>") == refused(
                    h.put("/collections/jobs_snap_bad4/snapshots/recover", json={"location": str(missing)}), 400
                ).replace(str(missing), "<loc>"), (loc, err)
        link.unlink()
        names = [c_["name"] for c_ in ok(h.get("/collections"))["collections"]]
        assert not [n for n in names if n.startswith("jobs_snap_bad")], names
        for bad in ("jobs_snap_bad2", "jobs_snap_bad3"):  # refused uploads are not kept
            d = server.data_dir / "snapshots" / bad
            assert not d.exists() or not list(d.iterdir()), list(d.iterdir())

        # recovering over an existing collection replaces it
        ok(h.put(f"/collections/{copy}/points", params={"wait": "true"},
                 json={"points": [{"id": 999_999, "vector": [0.5] * dim}]}))
        ok(h.put(f"/collections/{copy}/snapshots/recover", json={"location": f"file://{on_disk}"}))
        assert scroll_ids(h, copy) == all_ids

        # upload (multipart, with the checksum) recovers too
        up = "jobs_snap_uploaded"
        h.delete(f"/collections/{up}")
        ok(h.post(f"/collections/{up}/snapshots/upload", params={"checksum": info["checksum"]},
                  files={"snapshot": (snap, data, "application/octet-stream")}))
        assert scroll_ids(h, up) == all_ids

        # names cannot leave the snapshots directory
        victim = server.data_dir / "snapshots" / "victim.snapshot"
        victim.write_bytes(b"not yours")
        for bad in ("..%2Fvictim.snapshot", "%2E%2E%2Fvictim.snapshot", "..%2F..%2Fsnapshots%2Fvictim.snapshot",
                    ".hidden.snapshot", "x.tar"):
            for method in ("GET", "DELETE"):
                refused(h.request(method, f"/collections/{name}/snapshots/{bad}"), 400)
        assert victim.read_bytes() == b"not yours"

        # delete
        ok(h.delete(f"/collections/{name}/snapshots/{snap}"))
        assert not on_disk.exists()
        assert snap not in [s["name"] for s in ok(h.get(f"/collections/{name}/snapshots"))]
        refused(h.get(f"/collections/{name}/snapshots/{snap}"), 404)
        refused(h.delete(f"/collections/{name}/snapshots/{snap}"), 404)
        refused(h.post("/collections/jobs_no_such/snapshots"), 404)
    print(f"snapshot ({t_resp - t_req:.3f}s to write): {len(before)} acknowledged before the request, {k} in the "
          f"snapshot, {n_at_resp} acknowledged at its answer, {len(acked)} written in all")


# --------------------------------------------------------------------------------------------
# 4. kill -9 during imports
# --------------------------------------------------------------------------------------------


def test_kill_mid_import(server_factory, tmp_path, capsys):
    """A file import killed mid-way resumes after the restart and ends with every row.

    The import directory is configured (VICINITY__STORAGE__IMPORT_DIR, kept by the restart): the
    resumed job reads the file from it again."""
    n, dim = 100_000, 64
    name = "jobs_killed_file"
    x = np.random.default_rng(605).standard_normal((n, dim)).astype(np.float32)
    imports = tmp_path / "imports"
    imports.mkdir()
    path = write_fvecs(imports / "big.fvecs", x)
    srv = server_factory.start(env={"VICINITY__STORAGE__IMPORT_DIR": str(imports)})
    with http(srv.url) as h:
        create_collection(h, name, dim, "Euclid")
        t0 = time.monotonic()
        jid = import_file(h, name, Path(path.name), "fvecs", ids_from=0)  # relative to the import directory
        deadline = time.monotonic() + 120
        while True:
            j = job(h, jid)
            if j["state"] == "running" and j["done"] > 0:
                break
            assert j["state"] in ("queued", "running"), j
            assert time.monotonic() < deadline, j
            time.sleep(0.002)  # kill as soon as progress is reported
        assert j["total"] == n
        assert j["rate_per_s"] > 0 and j["eta_s"] is not None and j["eta_s"] > 0, j
    srv.kill()
    done_at_kill = j["done"]
    assert done_at_kill < n, "the import finished before the kill: the test did not exercise a crash"

    srv2 = server_factory.restart(srv, crash=True)
    log = srv2.log_text()
    assert re.search(rf"job {jid}: resuming Import of collection \x22{name}\x22 after a restart", log), srv2.log_tail()
    # `done` counts committed rows: every row reported done before the kill is there at the
    # restart. The points the collection came back with are in its load line (the resumed job
    # runs at once, so neither GET /jobs nor a count right after the restart can tell). Checked
    # at the end, so that the rest of the test runs either way.
    m = re.search(rf"collection \x22{name}\x22: (?:loaded persisted index|rebuilt index from storage)[^\n]*?\((\d+) points\)", log)
    assert m, srv2.log_tail()
    at_restart = int(m.group(1))
    went_back = None if at_restart >= done_at_kill else (
        f"GET /jobs/{jid} reported done={done_at_kill} (state running) before the kill -9, but the collection came "
        f"back with {at_restart} points ({m.group(0)!r}): the job's `done` was reported before those rows were committed")
    with http(srv2.url) as h:
        j = job(h, jid)
        assert j["state"] in ("queued", "running", "succeeded"), j
        j = succeeded(h, jid, timeout=180, server=srv2)
        elapsed = time.monotonic() - t0
        assert (j["kind"], j["collection"]) == ("import", name), j
        assert j["done"] == j["total"] == n and j["skipped"] == 0, j
        assert count(h, name) == n
        assert ok(h.get(f"/collections/{name}"))["points_count"] == n
        t1 = time.monotonic()
        ids = scroll_ids(h, name)
        assert ids == list(range(n)), f"{len(ids)} ids, not exactly 0..{n}"
        t_scroll = time.monotonic() - t1
        sample = sorted(set(np.random.default_rng(6).choice(n, 300, replace=False).tolist())
                        | {0, done_at_kill - 1, done_at_kill, min(done_at_kill + 1, n - 1), n - 1})
        got = retrieve(h, name, sample)
        assert len(got) == len(sample)
        for i in sample:
            np.testing.assert_allclose(got[i]["vector"], x[i], atol=1e-6)
            assert got[i]["payload"] in ({}, None), got[i]
        assert retrieve(h, name, [n, n + 1]) == {}
    c = connect(srv2.url)
    probe = sorted(set(range(done_at_kill - 5, min(done_at_kill + 5, n))) | {0, n - 1} | set(sample[::10]))
    misses = self_query_misses(c, name, probe, x[probe], exact=True)
    assert not misses, f"imported rows missing from the index: {misses[:5]}"
    c.close()
    with capsys.disabled():
        print(f"\n[jobs] fvecs import of {n}x{dim}: killed at {done_at_kill} done, resumed, "
              f"finished in {elapsed:.1f}s in all (scrolling the ids: {t_scroll:.1f}s)", flush=True)
    assert went_back is None, went_back


def test_kill_mid_stream_import(server_factory):
    """A streamed (NDJSON) import killed mid-way cannot resume: after the restart the job is
    failed, says how many lines were committed, and exactly those points are there."""
    dim, sent_before_stall = 8, 25_000
    name = "jobs_killed_stream"
    x = np.random.default_rng(606).standard_normal((sent_before_stall, dim)).astype(np.float32)
    srv = server_factory.start()
    release = threading.Event()
    outcome: list = []

    def body():
        for start in range(0, sent_before_stall, 1000):
            yield "".join(json.dumps({"id": i, "vector": x[i].tolist(), "payload": {"line": i + 1}}) + "\n"
                          for i in range(start, start + 1000)).encode()
        release.wait(120)  # the stream stalls here (the server is killed meanwhile)
        yield b""

    def sender():
        try:
            with http(srv.url, timeout=httpx.Timeout(120, write=120)) as c:
                r = c.post(f"/collections/{name}/import", params={"total": 100_000}, content=body(), headers=NDJSON)
                outcome.append((r.status_code, r.text[:300]))
        except Exception as e:  # noqa: BLE001 - expected: the server is killed
            outcome.append(repr(e))

    with http(srv.url) as h:
        create_collection(h, name, dim, "Euclid")
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        # wait until the job has committed what it will of the 25,000 lines sent, and stalls
        deadline = time.monotonic() + 60
        history: list[int] = []
        while True:
            jobs = [j for j in ok(h.get("/jobs")) if j["collection"] == name]
            if jobs:
                j = jobs[-1]
                assert j["kind"] == "import" and j["total"] == 100_000, j
                assert j["spec"]["source"] == "stream", j
                history.append(j["done"])
                if j["state"] == "running" and j["done"] > 0 and len(history) > 10 and history[-11] == j["done"]:
                    # unchanged for 0.5 s. A batch's points are visible a moment before the job's
                    # `done` counts them (it is set once the batch is in the index too, which on
                    # a busy machine can take longer than that): more points than `done` is a
                    # commit still in flight, so wait on; fewer would be rows reported done
                    # before they were visible, and fails below.
                    visible = count(h, name)
                    if visible <= j["done"]:
                        break
            assert time.monotonic() < deadline and not outcome, (jobs, outcome)
            time.sleep(0.05)
        jid = j["id"]
        assert visible == j["done"], f"the committed lines are not all visible: {visible} points, done {j['done']}"
    srv.kill()
    done = j["done"]
    release.set()
    t.join(timeout=30)
    assert 0 < done <= sent_before_stall, j

    srv2 = server_factory.restart(srv, crash=True)
    with http(srv2.url) as h:
        j = job(h, jid)
        assert j["state"] == "failed", j
        assert j["done"] == done, j
        assert j["finished_at"] is not None and j["eta_s"] == 0.0, j
        assert re.search(rf"\b{done}\b", j["error"] or "") and "committed" in j["error"], j
        assert count(h, name) == done
        assert scroll_ids(h, name) == list(range(done))
        got = retrieve(h, name, [0, done // 2, done - 1, done])
        assert sorted(got) == [0, done // 2, done - 1]
        for i, p in got.items():
            assert p["payload"] == {"line": i + 1}
            np.testing.assert_allclose(p["vector"], x[i], atol=1e-6)
        # a failed job cannot be cancelled, and the collection takes writes again
        refused(h.delete(f"/jobs/{jid}"), 409)
        ok(h.put(f"/collections/{name}/points", params={"wait": "true"},
                 json={"points": [{"id": done, "vector": [0.5] * dim}]}))
        assert count(h, name) == done + 1


# --------------------------------------------------------------------------------------------
# 5. Bad input
# --------------------------------------------------------------------------------------------

BAD_DIM = 4


def bad_lines_file(path: Path) -> tuple[Path, dict, dict]:
    """A jsonl file mixing good and bad lines: (path, {good line: (id, vector, payload)},
    {bad line: why})."""
    v = lambda k: [float(k), 1.0, 0.5, -0.25]  # noqa: E731
    lines = [
        {"id": 1, "vector": v(1), "payload": {"k": 1}},                   # 1 good
        '{"id": 2, "vector": [1, 2, 3, 4]',                                # 2 not JSON (truncated)
        {"id": 3, "vector": v(3)},                                         # 3 good, no payload
        "",                                                                # 4 blank: ignored
        {"id": 5},                                                         # 5 no vector
        {"id": 6, "vector": [1.0, 2.0]},                                   # 6 wrong dimension
        {"id": 7, "vector": v(7), "text": "both"},                         # 7 vector and text
        {"id": 8, "vector": v(8), "payload": {"k": [8, "x"], "n": {"a": None}}},  # 8 good
        {"id": "not-a-uuid", "vector": v(9)},                              # 9 bad id
        {"id": 10, "vector": v(10), "extra": 1},                           # 10 unknown field
        {"id": 11, "vector": v(11), "payload": {"k": 11}},                 # 11 good
        {"id": 12, "vector": [1e20, 1e20, 1e20, 1e20]},                    # 12 norm overflows
        '{"id": 13, "vector": [1, "a", 0, 0]}',                            # 13 not a number
        {"id": 14, "vector": v(14)},                                       # 14 good
    ]
    write_jsonl(path, lines)
    good = {n + 1: l for n, l in enumerate(lines) if n + 1 in (1, 3, 8, 11, 14)}
    bad = {2: "", 5: "vector", 6: "dim", 7: "both", 9: "", 10: "extra", 12: "norm", 13: ""}
    return path, good, bad


def test_import_bad_input(server, server_factory, tmp_path):
    imp = import_dir(server)
    path, good, bad = bad_lines_file(imp / "mixed.jsonl")
    with http(server.url) as h:
        # on_error skip: every bad line reported with its line number, the good ones imported
        create_collection(h, "jobs_bad_skip", BAD_DIM)
        j = succeeded(h, import_file(h, "jobs_bad_skip", path, "jsonl", on_error="skip"), server=server)
        assert j["skipped"] == len(bad), j
        assert [b["line"] for b in j["bad_lines"]] == sorted(bad), j["bad_lines"]
        assert all(isinstance(b["error"], str) and b["error"] for b in j["bad_lines"]), j["bad_lines"]
        by_line = {b["line"]: b["error"] for b in j["bad_lines"]}
        assert "vector" in by_line[5] and "both" in by_line[7] and "extra" in by_line[10], by_line
        assert "4" in by_line[6] and "2" in by_line[6], by_line[6]
        assert j["total"] == 14 and j["done"] == 14, j
        assert count(h, "jobs_bad_skip") == len(good)
        got = retrieve(h, "jobs_bad_skip", [l["id"] for l in good.values()] + [2, 5, 6, 7, 10, 12, 13])
        assert sorted(got) == sorted(l["id"] for l in good.values())
        for l in good.values():
            assert got[l["id"]]["payload"] == l.get("payload", {}), got[l["id"]]
            np.testing.assert_allclose(got[l["id"]]["vector"], unit_rows(np.array([l["vector"]]))[0], atol=1e-6)

        # on_error fail (the default): the job fails naming the line; the rows before it stay
        create_collection(h, "jobs_bad_fail", BAD_DIM)
        j = wait_job(h, import_file(h, "jobs_bad_fail", path, "jsonl"), server=server)
        assert j["state"] == "failed", j
        assert re.search(r"\bline 2\b", j["error"]), j
        assert count(h, "jobs_bad_fail") == 1
        assert sorted(retrieve(h, "jobs_bad_fail", [1, 3, 8, 11, 14])) == [1]
        # a later first bad line: every row before it is imported
        lines5 = [{"id": i, "vector": [float(i), 1.0, 1.0, 1.0]} for i in range(1, 5)] + [{"id": 5, "vector": [1.0]}] + \
                 [{"id": i, "vector": [float(i), 1.0, 1.0, 1.0]} for i in range(6, 9)]
        create_collection(h, "jobs_bad_fail5", BAD_DIM)
        write_jsonl(imp / "l5.jsonl", lines5)
        j = wait_job(h, import_file(h, "jobs_bad_fail5", Path("l5.jsonl"), "jsonl",  # relative to the import directory
                                    on_error="fail"), server=server)
        assert j["state"] == "failed" and re.search(r"\bline 5\b", j["error"]), j
        assert scroll_ids(h, "jobs_bad_fail5") == [1, 2, 3, 4]

        # a streamed import reports bad lines the same way, in its answer
        create_collection(h, "jobs_bad_stream", BAD_DIM)
        r = h.post("/collections/jobs_bad_stream/import", params={"on_error": "skip"}, content=path.read_bytes(),
                   headers=NDJSON)
        res = ok(r, 202)
        sj = res["job"]
        assert sj["id"] == res["job_id"] and sj["state"] == "succeeded", sj
        assert [b["line"] for b in sj["bad_lines"]] == sorted(bad) and sj["skipped"] == len(bad), sj
        assert count(h, "jobs_bad_stream") == len(good)
        r = h.post("/collections/jobs_bad_stream/import", content=path.read_bytes(), headers=NDJSON)
        sj = ok(r, 202)["job"]
        assert sj["state"] == "failed" and re.search(r"\bline 2\b", sj["error"]), sj

        # npy: ids from ids_from; other dtypes and shapes refused
        create_collection(h, "jobs_npy", BAD_DIM, "Dot")
        arr = np.random.default_rng(607).standard_normal((50, BAD_DIM)).astype(np.float32)
        np.save(imp / "ok.npy", arr)
        j = succeeded(h, import_file(h, "jobs_npy", imp / "ok.npy", "npy", ids_from=1000), server=server)
        assert j["done"] == 50 and scroll_ids(h, "jobs_npy") == list(range(1000, 1050))
        got = retrieve(h, "jobs_npy", [1000, 1049])
        np.testing.assert_allclose(got[1049]["vector"], arr[49], atol=1e-6)
        np.save(imp / "f64.npy", arr.astype(np.float64))
        np.save(imp / "one_d.npy", arr[0])
        for f in ("f64.npy", "one_d.npy"):
            err = refused(h.post("/collections/jobs_npy/import", json={"path": str(imp / f), "format": "npy"}), 400)
            assert "not a file in the import directory" not in err, err
        (imp / "fake.npy").write_bytes(b"not numpy at all")
        err = refused(h.post("/collections/jobs_npy/import", json={"path": str(imp / "fake.npy"), "format": "npy"}), 400)
        assert "not a file in the import directory" not in err, err

        # rebuild options: applied to the config
        for body, quant in (({"quantization_config": {"scalar": {"type": "int8"}}}, "int8"),
                            ({"quantization_config": "Disabled"}, None)):
            rid = ok(h.post("/collections/jobs_npy/index/rebuild", json=body), 202)["job_id"]
            j = succeeded(h, rid, server=server)
            assert j["kind"] == "rebuild" and j["result"]["points"] == 50, j
            q = ok(h.get("/collections/jobs_npy"))["config"]["quantization_config"]
            assert (q["scalar"]["type"] if q else None) == quant, q
        assert scroll_ids(h, "jobs_npy") == list(range(1000, 1050))

        # everything below is refused before a job is created
        n_jobs = len(ok(h.get("/jobs")))
        for body in ({"hnsw_config": {"m": 0}}, {"hnsw_config": {"ef_construct": 1}},
                     {"quantization_config": {"scalar": {"type": "int4"}}}, {"bogus": 1}):
            refused(h.post("/collections/jobs_npy/index/rebuild", json=body), 400)
        coll = "jobs_bad_skip"
        url = f"/collections/{coll}/import"
        fv16 = write_fvecs(imp / "d16.fvecs", np.ones((10, 16), dtype=np.float32))
        # missing file (absolute or relative to the import directory)
        for p, fmt in ((imp / "nope.fvecs", "fvecs"), (imp / "nope.jsonl", "jsonl"), ("data/x.fvecs", "fvecs")):
            err = refused(h.post(url, json={"path": str(p), "format": fmt}), 400)
            assert err == not_in_import_dir(p), err
        # anything that is not a regular file inside the import directory gets the same answer
        # as a missing file, whether it exists or not: a file outside it (absolute), `..` out of
        # it or back into it, a symlink out of it, a directory, the directory itself, a device
        outside = write_jsonl(tmp_path / "outside.jsonl", [good[1]])
        (imp / "link-out.jsonl").unlink(missing_ok=True)
        os.symlink(outside, imp / "link-out.jsonl")
        (imp / "subdir").mkdir(exist_ok=True)
        for p in (outside, tmp_path / "nope.jsonl", f"../{outside.name}", f"{imp}/../import/mixed.jsonl",
                  "subdir/../mixed.jsonl", imp / "link-out.jsonl", imp / "subdir", "subdir", imp, "/etc",
                  "/dev/zero"):
            err = refused(h.post(url, json={"path": str(p), "format": "jsonl"}), 400)
            assert err == not_in_import_dir(p), (p, err)
        assert count(h, coll) == len(good)
        # wrong dimension: both named
        err = refused(h.post(url, json={"path": str(fv16), "format": "fvecs"}), 400)
        assert re.search(r"\b16\b", err) and re.search(rf"\b{BAD_DIM}\b", err), err
        # not a whole number of rows
        (imp / "torn.fvecs").write_bytes(fv16.read_bytes()[:-3])
        err = refused(h.post(url, json={"path": str(imp / "torn.fvecs"), "format": "fvecs"}), 400)
        assert "not a file in the import directory" not in err, err
        # unknown format, unknown field, not JSON
        err = refused(h.post(url, json={"path": str(fv16), "format": "parquet"}), 400)
        assert "parquet" in err, err
        refused(h.post(url, json={"path": str(fv16), "format": "fvecs", "bogus": 1}), 400)
        refused(h.post(url, content=b"{nope", headers={"content-type": "application/json"}), 400)
        refused(h.post(url, json={"path": str(path), "format": "jsonl", "on_error": "ignore"}), 400)
        # wrong or no content type
        refused(h.post(url, content=path.read_bytes(), headers={"content-type": "text/plain"}), 415)
        refused(h.post(url, content=path.read_bytes(), headers={"content-type": "application/octet-stream"}), 415)
        # missing collection
        refused(h.post("/collections/jobs_no_such/import", json={"path": str(path), "format": "jsonl"}), 404)
        refused(h.post("/collections/jobs_no_such/import", content=path.read_bytes(), headers=NDJSON), 404)
        refused(h.post("/collections/jobs_no_such/index/rebuild"), 404)
        # jobs: unknown id
        refused(h.get("/jobs/987654"), 404)
        refused(h.delete("/jobs/987654"), 404)
        # none of the refused requests left a job or a point behind
        assert len(ok(h.get("/jobs"))) == n_jobs
        assert count(h, coll) == len(good)

    # the admin key guards the admin routes (only)
    key = "k3y-for-admin"
    srv = server_factory.start(env={"VICINITY__SERVICE__ADMIN_API_KEY": key})
    path, _, _ = bad_lines_file(import_dir(srv) / "mixed.jsonl")  # this server's import directory
    with http(srv.url) as h:
        create_collection(h, "guarded", BAD_DIM)  # not an admin route
        spec = {"path": str(path), "format": "jsonl", "on_error": "skip"}
        for headers in ({}, {"api-key": "wrong"}, {"authorization": "Bearer wrong"}):
            refused(h.post("/collections/guarded/import", json=spec, headers=headers), 401)
            refused(h.post("/collections/guarded/import", content=path.read_bytes(), headers={**NDJSON, **headers}), 401)
            refused(h.get("/jobs", headers=headers), 401)
            refused(h.post("/collections/guarded/index/rebuild", headers=headers), 401)
            refused(h.post("/collections/guarded/snapshots", headers=headers), 401)
            refused(h.get("/collections/guarded/snapshots", headers=headers), 401)
        assert count(h, "guarded") == 0
        assert not (srv.data_dir / "snapshots" / "guarded").exists() or not list((srv.data_dir / "snapshots" / "guarded").iterdir())
        jid = ok(h.post("/collections/guarded/import", json=spec, headers={"api-key": key}), 202)["job_id"]
        hk = http(srv.url, headers={"api-key": key})
        j = succeeded(hk, jid, server=srv)
        assert j["skipped"] == len(bad)
        assert count(h, "guarded") == len(good)
        ok(h.post("/collections/guarded/snapshots", headers={"authorization": f"Bearer {key}"}))
        assert [j_["id"] for j_ in ok(hk.get("/jobs"))] == [jid]
        hk.close()


# --------------------------------------------------------------------------------------------
# 6. The `vicinity import` command
# --------------------------------------------------------------------------------------------


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([vicinity_bin(), "import", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_import_cli(server, tmp_path):
    rng = np.random.default_rng(608)
    dim = 12
    with http(server.url) as h:
        create_collection(h, "jobs_cli", dim, "Euclid")

        # jsonl
        vj = rng.standard_normal((700, dim)).astype(np.float32)
        lines = [{"id": 10_000 + i, "vector": vj[i].tolist(), "payload": {"i": i, "s": f"row {i}"}} for i in range(700)]
        pj = write_jsonl(tmp_path / "points.jsonl", lines)
        p = run_cli(str(pj), "--collection", "jobs_cli", "--server", server.url)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        m = re.search(r"job (\d+): succeeded", p.stdout)
        assert m, p.stdout
        assert "700 of 700 rows" in p.stdout and "0 skipped" in p.stdout, p.stdout
        j = job(h, int(m.group(1)))
        assert (j["kind"], j["collection"], j["state"], j["done"], j["total"]) == ("import", "jobs_cli", "succeeded", 700, 700), j
        assert count(h, "jobs_cli") == 700
        got = retrieve(h, "jobs_cli", [10_000, 10_350, 10_699])
        for pid, pt in got.items():
            i = pid - 10_000
            assert pt["payload"] == {"i": i, "s": f"row {i}"}
            np.testing.assert_allclose(pt["vector"], vj[i], atol=1e-6)

        # fvecs, ids from --ids-from
        vf = rng.standard_normal((3000, dim)).astype(np.float32)
        pf = write_fvecs(tmp_path / "rows.fvecs", vf)
        p = run_cli(str(pf), "--collection", "jobs_cli", "--server", server.url, "--ids-from", "50000")
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        m = re.search(r"job (\d+): succeeded", p.stdout)
        assert m and "3000 of 3000 rows" in p.stdout, p.stdout
        assert count(h, "jobs_cli") == 3700
        ids = scroll_ids(h, "jobs_cli")
        assert ids == list(range(10_000, 10_700)) + list(range(50_000, 53_000))
        got = retrieve(h, "jobs_cli", [50_000, 51_234, 52_999])
        for pid, pt in got.items():
            np.testing.assert_allclose(pt["vector"], vf[pid - 50_000], atol=1e-6)
        res = ok(h.post("/collections/jobs_cli/points/query", json={"query": vf[1234].tolist(), "limit": 1}))
        assert res["points"][0]["id"] == 51_234

        # a bad line with the default on_error=fail: non-zero exit, the line named
        pb = write_jsonl(tmp_path / "bad.jsonl", [lines[0], {"id": 1, "vector": [1.0]}])
        p = run_cli(str(pb), "--collection", "jobs_cli", "--server", server.url)
        assert p.returncode != 0, (p.stdout, p.stderr)
        assert "failed" in p.stdout + p.stderr and "line 2" in p.stdout + p.stderr, (p.stdout, p.stderr)
        # with --on-error skip it succeeds and reports the line
        p = run_cli(str(pb), "--collection", "jobs_cli", "--server", server.url, "--on-error", "skip")
        assert p.returncode == 0 and "1 skipped" in p.stdout and "line 2" in p.stdout, (p.stdout, p.stderr)
        assert count(h, "jobs_cli") == 3700

    # a collection that does not exist: non-zero exit and a clear message
    p = run_cli(str(pj), "--collection", "jobs_cli_missing", "--server", server.url)
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert "404" in p.stderr and "jobs_cli_missing" in p.stderr and "not found" in p.stderr, p.stderr
    # nothing listening, a missing file: non-zero exit, said why
    p = run_cli(str(pj), "--collection", "jobs_cli", "--server", f"http://127.0.0.1:{free_port()}")
    assert p.returncode != 0 and "connect" in p.stderr, p.stderr
    p = run_cli(str(tmp_path / "nope.jsonl"), "--collection", "jobs_cli", "--server", server.url)
    assert p.returncode != 0 and "nope.jsonl" in p.stderr, p.stderr
