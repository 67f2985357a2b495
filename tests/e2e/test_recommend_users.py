"""Users, interactions and recommendations (issue 20) over HTTP, against real servers.

- a kill -9 after acknowledged events (`wait=true`) loses none: the users' summaries and their
  recommendations are the same after the restart, and a forgotten user stays forgotten;
- the interactions import job: jsonl and csv files with bad lines (an unknown item, an unknown
  event type) and `on_error: skip` succeed, name the bad lines and count the good events; the
  streamed NDJSON form does the same in its answer;
- planted tastes end to end: synthetic vectors in two clusters; a user who viewed cluster A gets
  cluster A, one with a recent taste for B and an old one for A gets B first, multi_interest
  serves both tastes of a two-taste user, a disliked region is pushed away; exclude_seen never
  returns a seen item and still returns `limit` hits; deleted points, forgotten users and new
  events show at once (never a stale cached answer); the popularity fallback for unknown users.

Everything is seeded and small (tens of points, a few users); nothing depends on timing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import e2e_support as S

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")

DIM = 8
FINISHED = ("succeeded", "failed", "cancelled")
NDJSON = {"content-type": "application/x-ndjson"}
A = list(range(1, 31))  # cluster A: ids 1..30 around e0
B = list(range(101, 131))  # cluster B: ids 101..130 around e1
DAY = 86400


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, str(r.request.url), r.status_code, r.text[:800])
    body = r.json()
    assert body.get("status") == "ok", body
    return body["result"]


def refused(r: httpx.Response, status: int | tuple) -> str:
    """The request failed with `status` (or one of them) and the error envelope; the message."""
    assert r.status_code in (status if isinstance(status, tuple) else (status,)), (r.request.method, str(r.request.url), r.status_code, r.text[:800])
    err = r.json()["status"]["error"]
    assert isinstance(err, str) and err, r.text
    return err


def cluster_points(seed: int = 11) -> list[dict]:
    """Two tight clusters, far apart: A around e0, B around e1 (Cosine)."""
    rng = np.random.default_rng(seed)
    pts = []
    for ids, axis in ((A, 0), (B, 1)):
        for i in ids:
            v = np.zeros(DIM)
            v[axis] = 1.0
            v += 0.15 * rng.standard_normal(DIM)
            pts.append({"id": i, "vector": v.round(5).tolist(), "payload": {"cluster": "AB"[axis], "n": i}})
    return pts


def create(h: httpx.Client, name: str, recommendation: dict | None = None, points: list | None = None) -> None:
    h.delete(f"/collections/{name}")
    body: dict = {"vectors": {"size": DIM, "distance": "Cosine"}}
    if recommendation is not None:
        body["recommendation"] = recommendation
    ok(h.put(f"/collections/{name}", json=body))
    ok(h.put(f"/collections/{name}/points?wait=true", json={"points": points or cluster_points()}))


def events(h: httpx.Client, name: str, evs: list[dict]) -> dict:
    res = ok(h.post(f"/collections/{name}/interactions?wait=true", json={"events": evs}))
    assert res["status"] == "completed", res
    return res


def recommend(h: httpx.Client, name: str, user: Any, **body: Any) -> dict:
    return ok(h.post(f"/collections/{name}/users/{user}/recommend", json=body))


def ids(res: dict) -> list:
    return [p["id"] for p in res["points"]]


def user(h: httpx.Client, name: str, u: Any) -> dict:
    return ok(h.get(f"/collections/{name}/users/{u}"))


def wait_job(h: httpx.Client, jid: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        j = ok(h.get(f"/jobs/{jid}"))
        if j["state"] in FINISHED:
            return j
        assert time.monotonic() < deadline, f"job {jid} not finished within {timeout}s: {j}"
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# kill -9 after acknowledged events
# --------------------------------------------------------------------------------------------


def test_kill9_after_acknowledged_events_loses_none(server_factory):
    name = "recs_crash"
    rng = np.random.default_rng(20)
    srv = server_factory.start()
    users = ["u1", "u2", 42, "bob", 7, "forget-me"]
    sent: dict[str, dict[str, int]] = {str(u): {} for u in users}
    with httpx.Client(base_url=srv.url, timeout=60) as h:
        create(h, name, {"half_life_days": None})
        # Several acknowledged batches, each mixing users and types; explicit times (distinct per
        # user, so history order is unambiguous) in the past.
        t0 = int(time.time()) - 40 * DAY
        k = 0
        for batch in range(6):
            evs = []
            for u in users:
                for n in range(int(rng.integers(1, 5))):
                    # a like first, so that every profile leans positive
                    typ = "like" if n == 0 else str(rng.choice(["view", "click", "like", "purchase", "dislike"]))
                    item = int(rng.choice(A + B))
                    evs.append({"user": u, "item": item, "type": typ, "timestamp": t0 + k * 60,
                                "weight": float(rng.choice([0.5, 1.0, 2.0]))})
                    sent[str(u)][typ] = sent[str(u)].get(typ, 0) + 1
                    k += 1
            events(h, name, evs)
        assert ok(h.delete(f"/collections/{name}/users/forget-me")) is True
        before_users = {u: user(h, name, u) for u in users if u != "forget-me"}
        for u, summary in before_users.items():
            assert summary["user"] == str(u), summary
            assert summary["events"] == sum(sent[str(u)].values()), (summary, sent[str(u)])
            assert summary["by_type"] == sent[str(u)], (summary, sent[str(u)])
        before_recs = {}
        for u in before_users:
            for strategy in ("centroid", "multi_interest"):
                r = recommend(h, name, u, limit=10, strategy=strategy, cache=False)
                before_recs[(u, strategy)] = r
    srv.kill()  # kill -9

    srv2 = server_factory.restart(srv, crash=True)
    with httpx.Client(base_url=srv2.url, timeout=60) as h:
        for u, summary in before_users.items():
            assert user(h, name, u) == summary
        for (u, strategy), r in before_recs.items():
            after = recommend(h, name, u, limit=10, strategy=strategy, cache=False)
            assert after["served_by"] == r["served_by"] == strategy
            assert ids(after) == ids(r), (u, strategy)
            np.testing.assert_allclose([p["score"] for p in after["points"]], [p["score"] for p in r["points"]],
                                       rtol=1e-5, atol=1e-6)
        refused(h.get(f"/collections/{name}/users/forget-me"), 404)
        refused(h.post(f"/collections/{name}/users/forget-me/recommend", json={}), 404)


# --------------------------------------------------------------------------------------------
# Import jobs
# --------------------------------------------------------------------------------------------


def import_dir(server) -> Path:
    d = server.data_dir / "import"  # storage.import_dir's default
    d.mkdir(parents=True, exist_ok=True)
    return d


GOOD = [  # (user, item, type): the good events of every import below
    ("imp1", 1, "view"), ("imp1", 2, "like"), (5, 101, "purchase"), ("imp1", 3, "view"), (5, 102, "dislike"),
]
# the bad events, inserted after GOOD's 2nd and 4th events: an unknown item, an unknown type
BAD_ITEM = ("imp1", 999, "view")
BAD_TYPE = ("imp1", 4, "teleport")


def rows_with_bad() -> list[tuple]:
    return GOOD[:2] + [BAD_ITEM] + GOOD[2:4] + [BAD_TYPE] + GOOD[4:]


def check_import_job(j: dict, bad_lines: list[int], lines: int) -> None:
    assert j["state"] == "succeeded", j
    assert j["skipped"] == 2, j
    assert [b["line"] for b in j["bad_lines"]] == bad_lines, j["bad_lines"]
    by_line = {b["line"]: b["error"] for b in j["bad_lines"]}
    assert "999" in by_line[bad_lines[0]], by_line
    assert "teleport" in by_line[bad_lines[1]], by_line
    assert j["done"] == lines, j
    assert j["total"] in (lines, None), j  # a stream's length is not known in advance


def check_imported(h: httpx.Client, name: str) -> None:
    a = user(h, name, "imp1")
    assert a["events"] == 3 and a["by_type"] == {"view": 2, "like": 1}, a
    b = user(h, name, 5)
    assert b["user"] == "5" and b["events"] == 2 and b["by_type"] == {"purchase": 1, "dislike": 1}, b


def test_import_jsonl_and_csv_with_bad_lines(server):
    imp = import_dir(server)
    t0 = 1_700_000_000
    rows = rows_with_bad()
    (imp / "events.jsonl").write_text("".join(
        json.dumps({"user": u, "item": i, "type": t, "timestamp": t0 + n}) + "\n" for n, (u, i, t) in enumerate(rows)))
    (imp / "events.csv").write_text("user,item,type,weight,timestamp\n" + "".join(
        f"{u},{i},{t},1.5,{t0 + n}\n" for n, (u, i, t) in enumerate(rows)))
    with httpx.Client(base_url=server.url, timeout=60) as h:
        for fmt, bad_lines in (("jsonl", [3, 6]), ("csv", [4, 7])):  # csv: the header is line 1
            name = f"recs_import_{fmt}"
            create(h, name, {"popularity_weight": 0.0})
            r = h.post(f"/collections/{name}/interactions/import",
                       json={"path": f"events.{fmt}", "format": fmt, "on_error": "skip"})
            jid = ok(r, 202)["job_id"]
            check_import_job(wait_job(h, jid), bad_lines, len(rows) + (fmt == "csv"))
            check_imported(h, name)
            # the imported events drive recommendations: imp1 saw 1, 2, 3 (cluster A)
            res = recommend(h, name, "imp1", limit=5, cache=False)
            assert set(ids(res)) <= set(A) - {1, 2, 3}, res

        # on_error fail: the job fails naming the first bad line
        name = "recs_import_fail"
        create(h, name)
        jid = ok(h.post(f"/collections/{name}/interactions/import",
                        json={"path": "events.jsonl", "format": "jsonl", "on_error": "fail"}), 202)["job_id"]
        j = wait_job(h, jid)
        assert j["state"] == "failed" and "line 3" in (j["error"] or ""), j


def test_import_ndjson_stream(server):
    rows = rows_with_bad()
    body = "".join(json.dumps({"user": u, "item": i, "type": t}) + "\n" for u, i, t in rows).encode()
    with httpx.Client(base_url=server.url, timeout=60) as h:
        name = "recs_import_stream"
        create(h, name)
        res = ok(h.post(f"/collections/{name}/interactions/import", params={"on_error": "skip"}, content=body,
                        headers=NDJSON), 202)
        j = res["job"] if "job" in res else wait_job(h, res["job_id"])
        if j["state"] not in FINISHED:
            j = wait_job(h, res["job_id"])
        check_import_job(j, [3, 6], len(rows))
        check_imported(h, name)


# --------------------------------------------------------------------------------------------
# Planted tastes
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(server):
    """Collection `recs_taste` (two clusters, 30-day half-life, no popularity blend) and users
    with planted tastes."""
    name = "recs_taste"
    now = int(time.time())
    with httpx.Client(base_url=server.url, timeout=60) as h:
        create(h, name, {"half_life_days": 30.0, "popularity_weight": 0.0})
        events(h, name, [{"user": "alice", "item": i, "type": "view"} for i in A[:5]])
        events(h, name, [{"user": "bert", "item": i, "type": "like"} for i in B[:5]])
        # carol has seen 25 of A's 30 items
        events(h, name, [{"user": "carol", "item": i, "type": "view"} for i in A[:25]])
        # dora: A a year ago, B yesterday
        events(h, name, [{"user": "dora", "item": i, "type": "view", "timestamp": now - 365 * DAY} for i in A[:6]] +
               [{"user": "dora", "item": i, "type": "view", "timestamp": now - DAY} for i in B[:6]])
        # eve: both tastes, equally
        events(h, name, [{"user": "eve", "item": i, "type": "like"} for i in A[:4] + B[:4]])
        yield h, name


def test_history_picks_the_cluster(planted):
    h, name = planted
    for u, seen, cluster in (("alice", A[:5], A), ("bert", B[:5], B)):
        for strategy in ("centroid", "multi_interest"):
            res = recommend(h, name, u, limit=10, strategy=strategy)
            assert res["served_by"] == strategy, res
            got = ids(res)
            assert len(got) == 10, res
            assert set(got) <= set(cluster) - set(seen), (u, strategy, got)
            scores = [p["score"] for p in res["points"]]
            assert scores == sorted(scores, reverse=True), scores
    assert user(h, name, "alice")["history"] == 5


def test_exclude_seen_keeps_limit(planted):
    h, name = planted
    seen = set(A[:25])
    for strategy in ("centroid", "multi_interest"):
        for limit in (5, 10, 30):
            got = ids(recommend(h, name, "carol", limit=limit, strategy=strategy))
            assert len(got) == limit, (strategy, limit, got)
            assert not seen & set(got), (strategy, limit, got)
            # the 5 unseen A items come first, then B
            assert set(got[:5]) == set(A[25:]), (strategy, got)
    # paging over everything: 60 items - 25 seen
    got = ids(recommend(h, name, "carol", limit=100))
    assert sorted(got) == sorted(set(A + B) - seen), got
    assert len(ids(recommend(h, name, "carol", limit=10, offset=30))) == 5
    # exclude_seen false: seen items come back, first
    got = ids(recommend(h, name, "carol", limit=10, exclude_seen=False))
    assert len(got) == 10 and set(got) <= set(A), got
    assert seen & set(got), got
    # with a filter: still limit hits, none seen
    got = ids(recommend(h, name, "carol", limit=8, filter={"must": [{"key": "cluster", "match": {"value": "A"}}]}))
    assert sorted(got) == A[25:], got


def test_decay_and_multi_interest(planted):
    h, name = planted
    # dora's recent taste (B, yesterday) outweighs the old one (A, a year ago: 2^-12)
    got = ids(recommend(h, name, "dora", limit=10, strategy="centroid"))
    assert set(got) <= set(B[6:]), got
    # eve likes A and B equally: multi_interest serves both in its top 10
    got = ids(recommend(h, name, "eve", limit=10, strategy="multi_interest"))
    assert set(got) & set(A[4:]) and set(got) & set(B[4:]), got


def test_dislike_pushes_away(planted):
    h, name = planted
    # frank viewed one A item and disliked five B items: everything A ranks above everything B
    events(h, name, [{"user": "frank", "item": A[10], "type": "view"}] +
           [{"user": "frank", "item": i, "type": "dislike"} for i in B[10:15]])
    got = ids(recommend(h, name, "frank", limit=60, strategy="centroid"))
    assert len(got) == 54, got  # 60 - 6 seen (disliked items are seen too)
    assert set(got[:29]) == set(A) - {A[10]}, got
    assert not {A[10], *B[10:15]} & set(got), got


def test_never_stale(planted):
    h, name = planted
    # new event: the cached answer's top hit becomes seen and leaves the next answer at once
    first = ids(recommend(h, name, "alice", limit=10))
    again = ids(recommend(h, name, "alice", limit=10))
    assert again == first
    events(h, name, [{"user": "alice", "item": first[0], "type": "view"}])
    after = ids(recommend(h, name, "alice", limit=10))
    assert first[0] not in after and len(after) == 10, (first, after)
    # a deleted point disappears from every user's answers at once
    gone = after[0]
    ok(h.post(f"/collections/{name}/points/delete?wait=true", json={"points": [gone]}))
    for u in ("alice", "carol", "eve"):
        got = ids(recommend(h, name, u, limit=30))
        assert gone not in got and len(got) == 30, (u, got)
    # a forgotten user: 404 at once (cached answers included), recreated by a new event
    ids(recommend(h, name, "bert", limit=10))
    assert ok(h.delete(f"/collections/{name}/users/bert")) is True
    assert ok(h.delete(f"/collections/{name}/users/bert")) is False
    refused(h.get(f"/collections/{name}/users/bert"), 404)
    refused(h.post(f"/collections/{name}/users/bert/recommend", json={"limit": 10}), 404)
    events(h, name, [{"user": "bert", "item": A[0], "type": "view"}])
    assert user(h, name, "bert")["events"] == 1
    assert set(ids(recommend(h, name, "bert", limit=5))) <= set(A)


def test_cold_start_popular(server):
    name = "recs_popular"
    with httpx.Client(base_url=server.url, timeout=60) as h:
        create(h, name, {"half_life_days": None})
        # item 105 seen by 4 users, 3 by 3, 20 by 2, the rest by nobody
        evs = [{"user": f"p{k}", "item": 105, "type": "view"} for k in range(4)]
        evs += [{"user": f"p{k}", "item": 3, "type": "view"} for k in range(3)]
        evs += [{"user": f"p{k}", "item": 20, "type": "view"} for k in range(2)]
        events(h, name, evs)
        refused(h.post(f"/collections/{name}/users/nobody/recommend", json={"limit": 3}), 404)
        res = recommend(h, name, "nobody", limit=3, fallback="popular")
        assert res["served_by"] == "popular", res
        assert ids(res) == [105, 3, 20], res
        res = ok(h.post(f"/collections/{name}/points/query", json={"query": {"popular": {}}, "limit": 3}))
        assert ids(res) == [105, 3, 20], res
        assert [p["score"] for p in res["points"]] == pytest.approx([4.0, 3.0, 2.0]), res
        # popular with a filter: the most popular of cluster A
        res = ok(h.post(f"/collections/{name}/points/query", json={
            "query": {"popular": {}}, "limit": 2, "filter": {"must": [{"key": "cluster", "match": {"value": "A"}}]}}))
        assert ids(res) == [3, 20], res
        # a known user with history is served by the profile even when a fallback is named
        assert recommend(h, name, "p0", limit=3, fallback="popular")["served_by"] == "centroid"
        # batch: one known, one unknown user with the fallback
        res = ok(h.post(f"/collections/{name}/users/recommend/batch", json={"searches": [
            {"user": "p1", "limit": 3}, {"user": "nobody", "limit": 3, "fallback": "popular"}]}))
        assert [r["served_by"] for r in res] == ["centroid", "popular"], res
        assert not {105, 3, 20} & set(ids(res[0])), res[0]
        assert ids(res[1]) == [105, 3, 20], res[1]


def test_bad_events_write_nothing(planted):
    h, name = planted
    before = user(h, name, "alice")
    good = {"user": "alice", "item": A[20], "type": "view"}
    cases = [
        ({"user": "alice", "item": 999, "type": "view"}, "999"),
        ({"user": "alice", "item": A[20], "type": "teleport"}, "teleport"),
        ({"user": "alice", "item": A[20], "type": "view", "timestamp": "yesterday"}, "timestamp"),
        ({"user": "alice", "item": A[20], "type": "view", "weight": "heavy"}, "weight"),
        ({"user": "", "item": A[20], "type": "view"}, "user"),
    ]
    for bad, word in cases:
        err = refused(h.post(f"/collections/{name}/interactions?wait=true", json={"events": [good, bad]}), 400)
        assert word in err, (bad, err)
    # a weight that is not finite (1e400 overflows to infinity)
    body = ('{"events": [{"user": "alice", "item": %d, "type": "view", "weight": 1e400}]}' % A[20]).encode()
    r = h.post(f"/collections/{name}/interactions?wait=true", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert user(h, name, "alice") == before
    refused(h.get(f"/collections/{name}/users/nobody"), 404)
    for d in (-0.1, 1.5):
        err = refused(h.post(f"/collections/{name}/users/alice/recommend", json={"diversity": d}), (400, 422))
        assert "diversity" in err, err
    err = refused(h.post(f"/collections/{name}/users/alice/recommend", json={"strategy": "telepathy"}), (400, 422))
    assert "strategy" in err or "telepathy" in err, err
