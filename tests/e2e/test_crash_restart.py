"""kill -9 after the index was saved and more writes arrived: the restart must load the persisted
index (not rebuild it), replay the later writes, and serve all points."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

import e2e_support as S

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")

NAME = "crash"
N_FIRST = 10_000
N_LATE = 500
SAVE_ENV = {"VICINITY__STORAGE__INDEX_SAVE_INTERVAL_SECS": "1"}


def wait_for_log(server, pattern: str, timeout: float = 60.0, after: int = 0) -> re.Match:
    """Wait until the log (from byte/char offset `after`) matches `pattern`."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        m = rx.search(server.log_text(), after)
        if m:
            return m
        assert server.alive(), f"server died; log:\n{server.log_tail()}"
        time.sleep(0.1)
    raise AssertionError(f"no /{pattern}/ in the log within {timeout}s; log tail:\n{server.log_tail()}")


def connect(server) -> QdrantClient:
    return QdrantClient(url=server.url, prefer_grpc=False, check_compatibility=False, timeout=300)


def test_kill9_after_save_then_restart(server_factory, capsys):
    def report(msg: str) -> None:
        with capsys.disabled():
            print(f"[crash_restart] {msg}", flush=True)

    ds = S.make_dataset(N_FIRST + N_LATE, seed=2024, distance=M.Distance.COSINE)
    first_rows = slice(0, N_FIRST)
    first = S.Dataset(ids=ds.ids[first_rows], vectors=ds.vectors[first_rows], payloads=ds.payloads[first_rows],
                      distance=ds.distance)
    late = S.Dataset(ids=ds.ids[N_FIRST:], vectors=ds.vectors[N_FIRST:], payloads=ds.payloads[N_FIRST:],
                     distance=ds.distance)

    srv = server_factory.start(env=SAVE_ENV)
    report(f"first start: {srv.startup_secs:.3f}s to 'listening on' (empty data dir)")
    c = connect(srv)
    S.create(c, NAME, M.Distance.COSINE)
    mark = len(srv.log_text())
    S.upload(c, NAME, first)  # wait=True batches
    assert c.count(NAME).count == N_FIRST

    # a save that covers the whole first upload (one is expected within ~1 s of the last write);
    # if the server saved only during the upload, that save is used.
    save_rx = rf"collection \x22{NAME}\x22: saved index at seq (\d+)"
    try:
        m = wait_for_log(srv, save_rx, timeout=30, after=len(srv.log_text()))
    except AssertionError:
        m = wait_for_log(srv, save_rx, timeout=30, after=mark)
    saved_seq = int(m.group(1))
    report(f"saved index at seq {saved_seq}")
    # writes after the save (the next periodic save must not happen before the kill for this
    # test to exercise the replay; it may, though, so what we assert is only that no data is lost)
    after_save = len(srv.log_text())
    S.upload(c, NAME, late, batch=100)
    assert c.count(NAME).count == N_FIRST + N_LATE
    c.close()
    srv.kill()  # kill -9
    later_saves = re.findall(rf"collection \x22{NAME}\x22: saved index at seq (\d+)", srv.log_text()[after_save:])
    report(f"saves after the late upserts, before the kill: {later_saves}")

    srv2 = server_factory.restart(srv, crash=True)
    report(f"restart after kill -9: {srv2.startup_secs:.3f}s to 'listening on'")
    log = srv2.log_text()
    m = re.search(rf"collection \x22{NAME}\x22: loaded persisted index at seq (\d+) \((\d+) points\), replayed (\d+) changes", log)
    assert m, f"expected 'loaded persisted index' at restart; log:\n{srv2.log_tail()}"
    assert f"collection \"{NAME}\": rebuilt index" not in log, f"index was rebuilt; log:\n{srv2.log_tail()}"
    seq, pts, replayed = int(m.group(1)), int(m.group(2)), int(m.group(3))
    report(f"loaded persisted index at seq {seq} ({pts} points), replayed {replayed} changes")
    assert seq >= saved_seq
    if not later_saves:
        assert replayed > 0, "writes after the last save must be replayed"

    c = connect(srv2)
    total = N_FIRST + N_LATE
    assert c.count(NAME).count == total
    assert c.get_collection(NAME).points_count == total

    # retrieve a sample (payload + vector), including late points
    rng = np.random.default_rng(3)
    rows = sorted(set(rng.choice(total, size=200, replace=False).tolist()) | set(range(N_FIRST, N_FIRST + 20)))
    recs = {r.id: r for r in c.retrieve(NAME, ids=[ds.ids[r] for r in rows], with_vectors=True)}
    assert len(recs) == len(rows)
    stored = ds.stored
    for r in rows:
        rec = recs[ds.ids[r]]
        assert rec.payload == ds.payloads[r]
        np.testing.assert_allclose(rec.vector, stored[r], atol=1e-5)

    # scroll all ids
    seen, offset = [], None
    while True:
        pts_, offset = c.scroll(NAME, limit=1000, offset=offset, with_payload=False)
        seen += [p.id for p in pts_]
        if offset is None:
            break
    assert seen == sorted(ds.ids)

    # searchable: 50 of the late points, each queried by its own vector (approximate search)
    misses = []
    for r in rng.choice(np.arange(N_FIRST, total), size=50, replace=False):
        res = c.query_points(NAME, query=ds.vectors[r].tolist(), limit=1).points
        if not res or res[0].id != ds.ids[r]:
            misses.append((ds.ids[r], [(p.id, p.score) for p in res]))
    assert not misses, f"late points not found as their own nearest neighbour: {misses[:5]}"
    # and a sample of the early ones
    for r in rng.choice(N_FIRST, size=20, replace=False):
        res = c.query_points(NAME, query=ds.vectors[r].tolist(), limit=1).points
        assert res and res[0].id == ds.ids[r], (ds.ids[r], res)
    # exact search over everything agrees with numpy
    q = rng.standard_normal(S.DIM).astype(np.float32)
    res = c.query_points(NAME, query=q.tolist(), limit=10, search_params=M.SearchParams(exact=True)).points
    S.check_topk(res, ds, S.nearest_scores(stored, q, ds.distance), None, 10, True, what="exact after restart")

    # graceful stop + restart: loads the index saved at shutdown, nothing to replay or rebuild
    c.close()
    code = srv2.stop()
    srv3 = server_factory.restart(srv2)
    report(f"restart after SIGTERM (exit code {code}): {srv3.startup_secs:.3f}s to 'listening on'")
    log = srv3.log_text()
    assert f"collection \"{NAME}\": loaded persisted index" in log, srv3.log_tail()
    assert f"collection \"{NAME}\": rebuilt index" not in log, srv3.log_tail()
    c = connect(srv3)
    assert c.count(NAME).count == total
    r = N_FIRST + 7
    res = c.query_points(NAME, query=ds.vectors[r].tolist(), limit=1).points
    assert res[0].id == ds.ids[r]
    c.close()


def _scroll_ids(c: QdrantClient, name: str) -> list:
    seen, offset = [], None
    while True:
        pts_, offset = c.scroll(name, limit=1000, offset=offset, with_payload=False)
        seen += [p.id for p in pts_]
        if offset is None:
            return seen


def test_deletes_and_updates_after_save_survive_kill9(server_factory):
    """Deletes, payload updates and vector overwrites made after the last index save are replayed:
    deleted points must not come back, updated ones must show the new state."""
    ds = S.make_dataset(6000, seed=2025, distance=M.Distance.COSINE)
    srv = server_factory.start(env=SAVE_ENV)
    c = connect(srv)
    name = "crash_mut"
    S.create(c, name, M.Distance.COSINE)
    S.upload(c, name, ds)
    wait_for_log(srv, rf"collection \x22{name}\x22: saved index at seq \d+", timeout=30, after=len(srv.log_text()))

    dead = ds.ids[:300:3]  # 100 deleted by id
    c.delete(name, points_selector=dead, wait=True)
    flt = M.Filter(must=[S.fc_range("n", lt=30)])
    c.delete(name, points_selector=M.FilterSelector(filter=flt), wait=True)
    alive = np.ones(len(ds.ids), dtype=bool)
    alive[list(range(0, 300, 3))] = False
    alive &= ~S.mask_of(ds, S.p_range("n", lt=30))
    updated = [ds.ids[r] for r in np.flatnonzero(alive)[:20]]
    c.set_payload(name, payload={"updated": True}, points=updated, wait=True)
    moved_row = int(np.flatnonzero(alive)[50])
    new_vec = S.unit(np.random.default_rng(1).standard_normal(S.DIM))
    c.upsert(name, points=[M.PointStruct(id=ds.ids[moved_row], vector=new_vec.tolist(), payload={"moved": 1})], wait=True)
    expected = int(alive.sum())
    assert c.count(name).count == expected
    c.close()

    srv2 = server_factory.restart(srv, crash=True)
    log = srv2.log_text()
    assert re.search(rf"collection \x22{name}\x22: (loaded persisted index|rebuilt index)", log), srv2.log_tail()
    c = connect(srv2)
    assert c.count(name).count == expected
    assert c.retrieve(name, ids=dead) == []
    assert c.count(name, count_filter=flt).count == 0
    assert _scroll_ids(c, name) == sorted(ds.ids[r] for r in np.flatnonzero(alive))
    assert c.count(name, count_filter=M.Filter(must=[S.fc_value("updated", True)])).count == 20
    [rec] = c.retrieve(name, ids=[ds.ids[moved_row]], with_vectors=True)
    assert rec.payload == {"moved": 1}
    np.testing.assert_allclose(rec.vector, new_vec, atol=1e-5)
    res = c.query_points(name, query=new_vec.tolist(), limit=1).points
    assert res[0].id == ds.ids[moved_row]
    # deleted points never come back in searches (by their own vectors, approximate and exact)
    stored = ds.stored
    for r in list(range(0, 300, 30)):
        for exact in (False, True):
            res = c.query_points(name, query=ds.vectors[r].tolist(), limit=10,
                                 search_params=M.SearchParams(exact=exact)).points
            assert all(p.id not in dead for p in res), (r, exact, [p.id for p in res])
    # the old vector of the moved point is gone from the index
    res = c.query_points(name, query=stored[moved_row].tolist(), limit=3).points
    assert not (res[0].id == ds.ids[moved_row] and res[0].score > 0.999), res
    c.close()


def test_kill9_before_any_save(server_factory):
    """No index save has happened yet (long interval): a kill -9 must still lose no write."""
    ds = S.make_dataset(3000, seed=2026, distance=M.Distance.DOT)
    srv = server_factory.start(env={"VICINITY__STORAGE__INDEX_SAVE_INTERVAL_SECS": "3600"})
    c = connect(srv)
    name = "crash_nosave"
    S.create(c, name, M.Distance.DOT)
    S.upload(c, name, ds)
    c.close()
    srv2 = server_factory.restart(srv, crash=True)
    print(f"restart log: {[l for l in srv2.log_text().splitlines() if name in l]}")
    c = connect(srv2)
    assert c.count(name).count == 3000
    assert _scroll_ids(c, name) == sorted(ds.ids)
    rng = np.random.default_rng(4)
    for r in rng.choice(3000, size=20, replace=False):
        q = ds.vectors[r]
        res = c.query_points(name, query=q.tolist(), limit=10, search_params=M.SearchParams(exact=True)).points
        S.check_topk(res, ds, S.nearest_scores(ds.stored, q, ds.distance), None, 10, True, what="after restart, no save")
        res = c.query_points(name, query=q.tolist(), limit=10).points
        assert S.recall(res, ds, S.nearest_scores(ds.stored, q, ds.distance), None, 10, True) >= 0.7
    c.close()


@pytest.mark.parametrize("extra_delay", [0.0, 0.037, 0.211])
def test_kill9_during_writes_loses_no_acknowledged_write(server_factory, extra_delay: float):
    """A writer upserts wait=true batches while the server is killed at an arbitrary moment:
    every batch acknowledged before the kill is there after the restart, whole."""
    ds = S.make_dataset(40_000, seed=2027, distance=M.Distance.COSINE)
    srv = server_factory.start(env=SAVE_ENV)
    name = "crash_stream"
    c = connect(srv)
    S.create(c, name, M.Distance.COSINE)
    acked: list[int] = []  # batch start rows
    failed = threading.Event()

    def writer():
        wc = QdrantClient(url=srv.url, check_compatibility=False, timeout=60)
        for start in range(0, len(ds.ids), 250):
            try:
                wc.upsert(name, wait=True, points=[
                    M.PointStruct(id=ds.ids[i], vector=ds.vectors[i].tolist(), payload=ds.payloads[i])
                    for i in range(start, start + 250)])
            except Exception:
                failed.set()
                return
            acked.append(start)
            time.sleep(0.005)  # keep the stream going for a while on fast machines

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    # kill after at least one save and a few more batches, at a moment not aligned with anything
    wait_for_log(srv, rf"collection \x22{name}\x22: saved index at seq \d+", timeout=60)
    n0 = len(acked)
    deadline = time.monotonic() + 30
    while len(acked) < n0 + 7 and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.01)
    time.sleep(extra_delay)
    srv.kill()
    t.join(timeout=60)
    n_acked = len(acked)
    print(f"killed with {n_acked} acknowledged batches of 250 ({n_acked * 250} points)")
    assert n_acked < len(ds.ids) // 250, "writer finished before the kill; test did not exercise a crash"

    srv2 = server_factory.restart(srv, crash=True)
    print(f"restart: {[l for l in srv2.log_text().splitlines() if name in l]}")
    c = connect(srv2)
    count = c.count(name).count
    # every acknowledged batch is there; at most the one in flight may additionally be there, whole
    assert n_acked * 250 <= count <= (n_acked + 1) * 250, (count, n_acked)
    assert count % 250 == 0, f"a batch was applied partially: {count} points"
    ids = _scroll_ids(c, name)
    want = sorted(ds.ids[i] for s in acked for i in range(s, s + 250))
    assert set(want) <= set(ids)
    rows = np.array([ds.index_of[i] for i in ids])
    sub = S.Dataset(ids=[ds.ids[r] for r in rows], vectors=ds.vectors[rows], payloads=[ds.payloads[r] for r in rows],
                    distance=ds.distance)
    recs = c.retrieve(name, ids=sub.ids[::97], with_vectors=True)
    for rec in recs:
        r = ds.index_of[rec.id]
        assert rec.payload == ds.payloads[r]
        np.testing.assert_allclose(rec.vector, ds.stored[r], atol=1e-5)
    rng = np.random.default_rng(6)
    for r in rng.choice(len(sub.ids), size=30, replace=False):
        res = c.query_points(name, query=sub.vectors[r].tolist(), limit=1).points
        assert res and res[0].id == sub.ids[r], (sub.ids[r], res)
    # and the collection keeps working: finish the upload
    for start in range(0, len(ds.ids), 1000):
        c.upsert(name, wait=True, points=M.Batch(ids=ds.ids[start:start + 1000],
                                                 vectors=ds.vectors[start:start + 1000].tolist(),
                                                 payloads=ds.payloads[start:start + 1000]))
    assert c.count(name).count == len(ds.ids)
    c.close()


def test_deleted_collection_stays_deleted_after_restart(server_factory):
    srv = server_factory.start(env=SAVE_ENV)
    c = connect(srv)
    keep, gone = "keep_me", "drop_me"
    dsk = S.make_dataset(1000, seed=1)
    dsg = S.make_dataset(1000, seed=2)
    S.create(c, keep, M.Distance.COSINE)
    S.create(c, gone, M.Distance.COSINE)
    S.upload(c, keep, dsk)
    S.upload(c, gone, dsg)
    wait_for_log(srv, rf"collection \x22{gone}\x22: saved index", timeout=30)
    assert c.delete_collection(gone)
    c.close()
    for crash in (True, False):
        srv = server_factory.restart(srv, crash=crash)
        c = connect(srv)
        assert c.collection_exists(gone) is False, f"deleted collection is back after restart (crash={crash})"
        assert [x.name for x in c.get_collections().collections] == [keep]
        assert c.count(keep).count == 1000
        c.close()
    c = connect(srv)
    S.create(c, gone, M.Distance.EUCLID)
    assert c.count(gone).count == 0
    c.close()
    srv = server_factory.restart(srv, crash=True)
    c = connect(srv)
    assert c.count(gone).count == 0
    assert c.get_collection(gone).config.params.vectors.distance == M.Distance.EUCLID
    c.close()


def test_kill9_around_index_saves(server_factory):
    """Kill -9 at moments spread around the periodic save (about 1 s after the last write), many
    times on the same data dir: a torn save must never cost data or the ability to start."""
    ds = S.make_dataset(8000, seed=2028, distance=M.Distance.COSINE)
    name = "crash_saves"
    srv = server_factory.start(env=SAVE_ENV)
    c = connect(srv)
    S.create(c, name, M.Distance.COSINE)
    S.upload(c, name, S.Dataset(ids=ds.ids[:4000], vectors=ds.vectors[:4000], payloads=ds.payloads[:4000],
                                distance=ds.distance))
    c.close()
    rng = np.random.default_rng(8)
    total = 4000
    loaded = rebuilt = 0
    for it in range(8):
        c = connect(srv)
        rows = range(total, total + 500)
        c.upsert(name, wait=True, points=M.Batch(ids=[ds.ids[r] for r in rows], vectors=ds.vectors[total:total + 500].tolist(),
                                                 payloads=[ds.payloads[r] for r in rows]))
        total += 500
        c.close()
        time.sleep(float(rng.uniform(0.85, 1.25)))
        srv = server_factory.restart(srv, crash=True)
        log = srv.log_text()
        loaded += f"collection \"{name}\": loaded persisted index" in log
        rebuilt += f"collection \"{name}\": rebuilt index" in log
        c = connect(srv)
        assert c.count(name).count == total, (it, total)
        r = int(rng.integers(0, total))
        res = c.query_points(name, query=ds.vectors[r].tolist(), limit=1).points
        assert res and res[0].id == ds.ids[r], (it, ds.ids[r], res)
        c.close()
    print(f"restarts: {loaded} loaded a persisted index, {rebuilt} rebuilt")
    assert loaded >= 1
