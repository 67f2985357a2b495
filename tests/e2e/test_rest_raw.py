"""Raw REST shapes that other Qdrant clients send (and qdrant-client 1.20 no longer does):
legacy search / recommend endpoints, shorthand `query` forms, envelopes and health routes."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

import e2e_support as S

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")

NAME = "raw"
DS = S.make_dataset(3000, seed=55, distance=M.Distance.COSINE)


@pytest.fixture(scope="module")
def raw(server, client: QdrantClient):
    S.create(client, NAME, M.Distance.COSINE)
    S.upload(client, NAME, DS)
    with httpx.Client(base_url=server.url, timeout=60) as h:
        yield h


def ok(r: httpx.Response):
    assert r.status_code == 200, (r.request.method, r.request.url, r.status_code, r.text[:500])
    body = r.json()
    assert body.get("status") == "ok", body
    assert isinstance(body.get("time"), (int, float)), body
    return body["result"]


def q_vec(seed: int) -> list:
    return np.random.default_rng(seed).standard_normal(S.DIM).astype(np.float32).tolist()


class P:  # minimal ScoredPoint stand-in for check_topk
    def __init__(self, d: dict):
        self.id, self.score = d["id"], d["score"]
        assert isinstance(d.get("version"), int), d


def test_health_routes(raw):
    # Plain text, as Qdrant's probes answer.
    for path, text in (("/healthz", "healthz check passed"), ("/livez", "healthz check passed"),
                       ("/readyz", "all shards are ready")):
        r = raw.get(path)
        assert (r.status_code, r.text) == (200, text), path
        assert r.headers["content-type"].startswith("text/plain"), r.headers
    body = raw.get("/").json()
    assert "title" in body and "version" in body


def test_error_envelope(raw):
    r = raw.get("/collections/nope")
    assert r.status_code == 404
    assert isinstance(r.json()["status"]["error"], str), r.text
    r = raw.post(f"/collections/{NAME}/points/query", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert isinstance(r.json()["status"]["error"], str), r.text


def test_query_shorthand_forms(raw):
    q = q_vec(1)
    scores = S.nearest_scores(DS.stored, np.array(q), DS.distance)
    for query in (q, {"nearest": q}):
        res = ok(raw.post(f"/collections/{NAME}/points/query",
                          json={"query": query, "limit": 5, "params": {"exact": True}}))
        S.check_topk([P(p) for p in res["points"]], DS, scores, None, 5, True, what=f"query form {type(query)}")
    pid = DS.ids[9]
    mask = np.ones(len(DS.ids), dtype=bool)
    mask[9] = False
    res = ok(raw.post(f"/collections/{NAME}/points/query", json={"query": pid, "limit": 5, "params": {"exact": True}}))
    S.check_topk([P(p) for p in res["points"]], DS, S.nearest_scores(DS.stored, DS.stored[9], DS.distance), mask, 5,
                 True, what="query: bare id")
    # QueryRequest defaults: limit 10, no payload, no vector
    res = ok(raw.post(f"/collections/{NAME}/points/query", json={"query": q}))
    assert len(res["points"]) == 10
    assert all(not p.get("payload") and p.get("vector") is None for p in res["points"]), res["points"][0]


def test_legacy_search(raw):
    q = q_vec(2)
    scores = S.nearest_scores(DS.stored, np.array(q), DS.distance)
    res = ok(raw.post(f"/collections/{NAME}/points/search",
                      json={"vector": q, "limit": 7, "params": {"exact": True}, "with_payload": True}))
    assert isinstance(res, list)
    S.check_topk([P(p) for p in res], DS, scores, None, 7, True, what="legacy search")
    assert all(p["payload"] == DS.payloads[DS.index_of[p["id"]]] for p in res)
    flt = {"must": [{"key": "group", "match": {"value": "c"}}]}
    res = ok(raw.post(f"/collections/{NAME}/points/search",
                      json={"vector": q, "limit": 7, "filter": flt, "params": {"exact": True}}))
    S.check_topk([P(p) for p in res], DS, scores, S.mask_of(DS, S.p_value("group", "c")), 7, True,
                 what="legacy search filtered")
    res = ok(raw.post(f"/collections/{NAME}/points/search/batch",
                      json={"searches": [{"vector": q, "limit": 3, "params": {"exact": True}},
                                         {"vector": q_vec(3), "limit": 4}]}))
    assert [len(r) for r in res] == [3, 4]
    S.check_topk([P(p) for p in res[0]], DS, scores, None, 3, True, what="legacy search batch")


def test_legacy_recommend(raw):
    pos, neg = [DS.ids[1], DS.ids[2]], [DS.ids[3]]
    mask = np.ones(len(DS.ids), dtype=bool)
    mask[[1, 2, 3]] = False
    for strategy in ("average_vector", "best_score", "sum_scores"):
        res = ok(raw.post(f"/collections/{NAME}/points/recommend",
                          json={"positive": pos, "negative": neg, "strategy": strategy, "limit": 6,
                                "params": {"exact": True}}))
        scores, higher = S.recommend_scores(DS, pos, neg, strategy)
        S.check_topk([P(p) for p in res], DS, scores, mask, 6, higher, what=f"legacy recommend {strategy}")
    res = ok(raw.post(f"/collections/{NAME}/points/recommend/batch",
                      json={"searches": [{"positive": pos, "limit": 2}, {"positive": [DS.ids[5]], "limit": 3}]}))
    assert [len(r) for r in res] == [2, 3]


def test_get_point_by_id(raw):
    pid = DS.ids[17]
    res = ok(raw.get(f"/collections/{NAME}/points/{pid}"))
    assert res["id"] == pid
    assert res["payload"] == DS.payloads[17]
    np.testing.assert_allclose(res["vector"], DS.stored[17], atol=1e-5)
    r = raw.get(f"/collections/{NAME}/points/{5 * 3000 + 3}")
    assert r.status_code == 404, r.text
