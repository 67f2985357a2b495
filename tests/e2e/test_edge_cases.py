"""Edge cases and load shapes beyond the main walkthrough: payload value round-trips, empty
collections, large limits and requests, async writes, concurrency, re-creating collections."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

import e2e_support as S

EXACT = M.SearchParams(exact=True)


def test_payload_roundtrip_edge_values(client: QdrantClient):
    name = "edge_payload"
    S.create(client, name, M.Distance.DOT)
    payload = {
        "unicode": "héllo ✓ 日本語 \"quoted\" \\ back\nslash",
        "nested": {"a": [1, {"b": None, "c": [True, False]}], "d": {"e": {"f": 1.5}}},
        "big": 9007199254740993,  # > 2^53: must not go through f64
        "i64max": 2**63 - 1,
        "neg": -5,
        "negf": -0.125,
        "tiny": 1e-300,
        "huge": 1.7976931348623157e308,
        "zero_f": 0.0,
        "f": 0.1,
        "b": False,
        "empty_str": "",
        "empty_obj": {},
        "empty_list": [],
        "mixed_list": [1, "a", None, 2.5, {"k": "v"}],
        "key with spaces": 1,
        "ключ": "значение",
    }
    client.upsert(name, points=[M.PointStruct(id=1, vector=[1.0] * S.DIM, payload=payload)], wait=True)
    [rec] = client.retrieve(name, ids=[1])
    assert rec.payload == payload
    for k, v in payload.items():
        assert type(rec.payload[k]) is type(v), (k, rec.payload[k], v)
    res = client.query_points(name, query=[1.0] * S.DIM, limit=1).points
    assert res[0].payload == payload
    # filters on some of these
    for flt in [
        M.Filter(must=[S.fc_value("unicode", payload["unicode"])]),
        M.Filter(must=[S.fc_value("big", 9007199254740993)]),
        M.Filter(must=[S.fc_range("nested.d.e.f", gte=1.5, lte=1.5)]),
        M.Filter(must=[S.fc_value("b", False)]),
        M.Filter(must=[S.fc_value("ключ", "значение")]),
        M.Filter(must=[S.fc_range("negf", lt=0)]),
        M.Filter(must=[M.IsEmptyCondition(is_empty=M.PayloadField(key="empty_list"))]),
    ]:
        assert client.count(name, count_filter=flt).count == 1, flt
    for flt in [
        M.Filter(must=[S.fc_value("big", 9007199254740992)]),  # differs only beyond f64 precision
        M.Filter(must=[S.fc_value("b", True)]),
        M.Filter(must=[M.IsEmptyCondition(is_empty=M.PayloadField(key="unicode"))]),
    ]:
        assert client.count(name, count_filter=flt).count == 0, flt
    client.delete_collection(name)


def test_empty_collection(client: QdrantClient):
    name = "empty"
    S.create(client, name, M.Distance.COSINE)
    assert client.count(name).count == 0
    assert client.query_points(name, query=[0.1] * S.DIM, limit=10).points == []
    assert client.query_points(name, query=[0.1] * S.DIM, limit=10, search_params=EXACT).points == []
    pts, nxt = client.scroll(name, limit=10)
    assert pts == [] and nxt is None
    assert client.retrieve(name, ids=[1, 2]) == []
    assert client.get_collection(name).points_count == 0
    out = client.query_batch_points(name, requests=[M.QueryRequest(query=[0.1] * S.DIM, limit=3)] * 2)
    assert [o.points for o in out] == [[], []]
    client.delete_collection(name)


def test_limit_larger_than_collection(client: QdrantClient):
    name = "tiny"
    ds = S.make_dataset(7, seed=3, distance=M.Distance.EUCLID)
    S.create(client, name, M.Distance.EUCLID)
    S.upload(client, name, ds, batch=3)
    q = np.zeros(S.DIM, dtype=np.float32)
    for params in (EXACT, None):
        res = client.query_points(name, query=q.tolist(), limit=100, search_params=params).points
        S.check_topk(res, ds, S.nearest_scores(ds.stored, q, ds.distance), None, 100, False, what="limit > size")
    res = client.query_points(name, query=ds.ids[0], limit=100).points
    assert len(res) == 6
    res = client.query_points(name, query=q.tolist(), limit=5, offset=5, search_params=EXACT).points
    assert len(res) == 2
    res = client.query_points(name, query=q.tolist(), limit=5, offset=50).points
    assert res == []
    client.delete_collection(name)


def test_large_limit_and_single_big_request(client: QdrantClient):
    name = "big"
    ds = S.make_dataset(10_000, seed=31, distance=M.Distance.COSINE)
    S.create(client, name, M.Distance.COSINE)
    # one request with all 10,000 points (about 4 MB of JSON)
    client.upsert(name, points=[M.PointStruct(id=pid, vector=v.tolist(), payload=p)
                                for pid, v, p in zip(ds.ids, ds.vectors, ds.payloads)], wait=True)
    assert client.count(name).count == 10_000
    rng = np.random.default_rng(5)
    recalls = []
    for i in range(10):
        q = rng.standard_normal(S.DIM).astype(np.float32)
        scores = S.nearest_scores(ds.stored, q, ds.distance)
        res = client.query_points(name, query=q.tolist(), limit=100, search_params=EXACT).points
        S.check_topk(res, ds, scores, None, 100, True, what=f"exact limit 100 #{i}")
        res = client.query_points(name, query=q.tolist(), limit=100).points
        assert len(res) == 100
        recalls.append(S.recall(res, ds, scores, None, 100, True))
    print(f"recall@100: {np.mean(recalls):.3f}")
    assert np.mean(recalls) >= 0.9, recalls
    # limit 1000, filtered, approximate
    flt = M.Filter(must=[S.fc_value("group", "a")])
    mask = S.mask_of(ds, S.p_value("group", "a"))
    q = rng.standard_normal(S.DIM).astype(np.float32)
    res = client.query_points(name, query=q.tolist(), query_filter=flt, limit=1000).points
    assert len(res) == min(1000, int(mask.sum()))
    assert all(mask[ds.index_of[p.id]] for p in res)
    res = client.query_points(name, query=q.tolist(), query_filter=flt, limit=1000, search_params=EXACT).points
    S.check_topk(res, ds, S.nearest_scores(ds.stored, q, ds.distance), mask, 1000, True, what="exact limit 1000")
    client.delete_collection(name)


def test_wait_false_eventually_visible(client: QdrantClient):
    name = "async"
    ds = S.make_dataset(3000, seed=32, distance=M.Distance.DOT)
    S.create(client, name, M.Distance.DOT)
    for start in range(0, 3000, 500):
        res = client.upsert(name, wait=False, points=M.Batch(
            ids=ds.ids[start:start + 500], vectors=ds.vectors[start:start + 500].tolist(),
            payloads=ds.payloads[start:start + 500]))
        assert res.status in (M.UpdateStatus.ACKNOWLEDGED, M.UpdateStatus.COMPLETED)
    deadline = time.monotonic() + 60
    while client.count(name).count < 3000:
        assert time.monotonic() < deadline, f"only {client.count(name).count} of 3000 points visible after 60 s"
        time.sleep(0.1)
    # once counted, searchable and exact
    q = np.random.default_rng(1).standard_normal(S.DIM).astype(np.float32)
    res = client.query_points(name, query=q.tolist(), limit=10, search_params=EXACT).points
    S.check_topk(res, ds, S.nearest_scores(ds.stored, q, ds.distance), None, 10, True, what="after async upserts")
    # a wait=true write after wait=false writes: everything before it is applied (ordering)
    client.delete(name, points_selector=ds.ids[:100], wait=False)
    client.set_payload(name, payload={"after": True}, points=ds.ids[100:110], wait=True)
    assert client.count(name).count == 2900
    client.delete_collection(name)


def test_recommend_threshold_and_offset(client: QdrantClient):
    name = "reco_thr"
    ds = S.make_dataset(3000, seed=33, distance=M.Distance.COSINE)
    S.create(client, name, M.Distance.COSINE)
    S.upload(client, name, ds)
    pos, neg = [ds.ids[0], ds.ids[1]], [ds.ids[2], ds.ids[3]]
    mask = np.ones(len(ds.ids), dtype=bool)
    mask[[0, 1, 2, 3]] = False
    for strategy in ("best_score", "sum_scores", "average_vector"):
        q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos, negative=neg, strategy=strategy))
        scores, higher = S.recommend_scores(ds, pos, neg, strategy)
        res = client.query_points(name, query=q, limit=10, offset=10, search_params=EXACT).points
        S.check_topk(res, ds, scores, mask, 10, higher, offset=10, what=f"{strategy} offset")
        top = S.exact_topk(scores, mask, 30, higher)
        thr = float((scores[top[19]] + scores[top[20]]) / 2)
        res = client.query_points(name, query=q, limit=50, score_threshold=thr, search_params=EXACT).points
        assert [p.id for p in res] == [ds.ids[r] for r in top[:20]], (strategy, thr)
    # best_score: the negative side scores below 0, so threshold 0 keeps only points closer to a positive
    q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos, negative=neg, strategy="best_score"))
    scores, _ = S.recommend_scores(ds, pos, neg, "best_score")
    res = client.query_points(name, query=q, limit=len(ds.ids), score_threshold=0.0, search_params=EXACT).points
    want = {ds.ids[r] for r in np.flatnonzero(mask & (scores > 0))}
    assert {p.id for p in res} == want
    # only negatives with best_score: every score is negative, the least similar to the negatives first
    q = M.RecommendQuery(recommend=M.RecommendInput(positive=[], negative=neg, strategy="best_score"))
    scores, _ = S.recommend_scores(ds, [], neg, "best_score")
    res = client.query_points(name, query=q, limit=10, search_params=EXACT).points
    S.check_topk(res, ds, scores, np.isin(np.arange(len(ds.ids)), [2, 3], invert=True), 10, True,
                 what="best_score negatives only")
    assert all(p.score < 0 for p in res)
    client.delete_collection(name)


@pytest.mark.skipif(S.LOCAL_MODE, reason="local mode is not thread-safe")
def test_concurrent_reads_and_writes(client: QdrantClient, request):
    """2 writers (wait=true batches) and 4 readers at once; readers check exact answers on a
    collection that is not being written, writers' data must all be there at the end."""
    ro, rw = "conc_ro", "conc_rw"
    ds = S.make_dataset(5000, seed=34, distance=M.Distance.COSINE)
    wds = S.make_dataset(4000, seed=35, distance=M.Distance.COSINE)
    S.create(client, ro, M.Distance.COSINE)
    S.upload(client, ro, ds)
    S.create(client, rw, M.Distance.COSINE)
    url = request.getfixturevalue("server").url
    errors: list = []
    stop = threading.Event()

    def new_client() -> QdrantClient:
        return QdrantClient(url=url, check_compatibility=False, timeout=300)

    def writer(part: int) -> int:
        c = new_client()
        n = 0
        for start in range(part * 2000, part * 2000 + 2000, 200):
            c.upsert(rw, wait=True, points=[M.PointStruct(id=wds.ids[i], vector=wds.vectors[i].tolist(),
                                                          payload=wds.payloads[i]) for i in range(start, start + 200)])
            n += 200
        return n

    def reader(seed: int) -> int:
        c = new_client()
        rng = np.random.default_rng(seed)
        n = 0
        while not stop.is_set() or n < 20:
            q = rng.standard_normal(S.DIM).astype(np.float32)
            res = c.query_points(ro, query=q.tolist(), limit=10, search_params=EXACT).points
            S.check_topk(res, ds, S.nearest_scores(ds.stored, q, ds.distance), None, 10, True, what="concurrent")
            res = c.query_points(rw, query=q.tolist(), limit=10).points  # must not fail mid-write
            assert len(res) <= 10
            n += 1
            if n >= 200:
                break
        return n

    with ThreadPoolExecutor(max_workers=6) as ex:
        readers = [ex.submit(reader, s) for s in range(4)]
        writers = [ex.submit(writer, p) for p in range(2)]
        written = sum(w.result(timeout=600) for w in writers)
        stop.set()
        reads = sum(r.result(timeout=600) for r in readers)
    print(f"concurrent: {written} points written, {reads} reads checked")
    assert written == 4000
    assert client.count(rw).count == 4000
    q = np.random.default_rng(9).standard_normal(S.DIM).astype(np.float32)
    res = client.query_points(rw, query=q.tolist(), limit=10, search_params=EXACT).points
    S.check_topk(res, wds, S.nearest_scores(wds.stored, q, wds.distance), None, 10, True, what="after concurrent writes")
    client.delete_collection(ro)
    client.delete_collection(rw)


def test_recreate_collection_same_name(client: QdrantClient):
    name = "again"
    S.create(client, name, M.Distance.COSINE)
    ds = S.make_dataset(500, seed=36)
    S.upload(client, name, ds)
    assert client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=8, distance=M.Distance.EUCLID))
    assert client.count(name).count == 0
    assert client.retrieve(name, ids=ds.ids[:5]) == []
    info = client.get_collection(name)
    assert info.config.params.vectors.size == 8
    assert info.config.params.vectors.distance == M.Distance.EUCLID
    with S.http_error(400, 422):
        client.upsert(name, points=[M.PointStruct(id=1, vector=[0.0] * S.DIM)])
    client.upsert(name, points=[M.PointStruct(id=1, vector=[0.0] * 8)])
    assert client.count(name).count == 1
    # creating an existing collection is an error (Qdrant: 409 Conflict... or 400)
    with S.http_error(400, 409):
        client.create_collection(name, vectors_config=M.VectorParams(size=8, distance=M.Distance.EUCLID))
    client.delete_collection(name)
