"""kill -9 after the index was saved and more writes arrived: the restart must load the persisted
index (not rebuild it), replay the later writes, and serve all points."""

from __future__ import annotations

import re
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
    save_rx = rf"collection {NAME}: saved index at seq (\d+)"
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
    later_saves = re.findall(rf"collection {NAME}: saved index at seq (\d+)", srv.log_text()[after_save:])
    report(f"saves after the late upserts, before the kill: {later_saves}")

    srv2 = server_factory.restart(srv, crash=True)
    report(f"restart after kill -9: {srv2.startup_secs:.3f}s to 'listening on'")
    log = srv2.log_text()
    m = re.search(rf"collection {NAME}: loaded persisted index at seq (\d+) \((\d+) points\), replayed (\d+) changes", log)
    assert m, f"expected 'loaded persisted index' at restart; log:\n{srv2.log_tail()}"
    assert f"collection {NAME}: rebuilt index" not in log, f"index was rebuilt; log:\n{srv2.log_tail()}"
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
    assert f"collection {NAME}: loaded persisted index" in log, srv3.log_tail()
    assert f"collection {NAME}: rebuilt index" not in log, srv3.log_tail()
    c = connect(srv3)
    assert c.count(NAME).count == total
    r = N_FIRST + 7
    res = c.query_points(NAME, query=ds.vectors[r].tolist(), limit=1).points
    assert res[0].id == ds.ids[r]
    c.close()
