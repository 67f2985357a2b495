"""vicinity driven by the real qdrant-client (REST), every answer checked against an exact numpy
computation (and, where results are exact, against qdrant-client's local mode as a second opinion)."""

from __future__ import annotations

import uuid

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

import e2e_support as S

N = 10_000
DS = S.make_dataset(N, seed=42, distance=M.Distance.COSINE)
CASES = {name: (flt, pred) for name, flt, pred in S.filter_cases(DS)}
EXACT = M.SearchParams(exact=True)
COS = "cos"


def qrng(seed: int = 1234) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def cos(client: QdrantClient) -> str:
    S.create(client, COS, M.Distance.COSINE, hnsw_config=M.HnswConfigDiff(m=16, ef_construct=100))
    S.upload(client, COS, DS)
    return COS


@pytest.fixture(scope="module")
def local() -> QdrantClient:
    return S.local_client(DS, COS)


# ------------------------------------------------------------------------------------------
# service + collections
# ------------------------------------------------------------------------------------------


@pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")
def test_root_version(server):
    r = httpx.get(server.url + "/", timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("title"), str) and isinstance(body.get("version"), str), body
    c = QdrantClient(url=server.url)  # default check_compatibility=True: does GET / in a thread
    info = c.info()
    assert info.version == body["version"]
    c.close()


def test_collection_lifecycle(client: QdrantClient):
    name = "lifecycle"
    if client.collection_exists(name):
        client.delete_collection(name)
    assert client.collection_exists(name) is False
    assert client.create_collection(
        name,
        vectors_config=M.VectorParams(size=S.DIM, distance=M.Distance.COSINE),
        hnsw_config=M.HnswConfigDiff(m=8, ef_construct=64),
    ) is True
    assert client.collection_exists(name) is True
    assert name in [c.name for c in client.get_collections().collections]
    info = client.get_collection(name)
    assert info.status in (M.CollectionStatus.GREEN, M.CollectionStatus.YELLOW)
    assert info.config.params.vectors.size == S.DIM
    assert info.config.params.vectors.distance == M.Distance.COSINE
    if not S.LOCAL_MODE:  # local mode does not keep hnsw settings
        assert info.config.hnsw_config.m == 8
        assert info.config.hnsw_config.ef_construct == 64
    assert (info.points_count or 0) == 0
    assert client.delete_collection(name) is True
    assert client.collection_exists(name) is False
    assert name not in [c.name for c in client.get_collections().collections]
    with S.http_error(404):
        client.get_collection(name)


def test_errors(client: QdrantClient, cos: str):
    with S.http_error(404):
        client.query_points("no_such_collection", query=[0.0] * S.DIM)
    with S.http_error(400, 422):
        client.upsert(cos, points=[M.PointStruct(id=1, vector=[0.5] * (S.DIM - 1))])
    with S.http_error(400, 422):
        client.query_points(cos, query=[0.5] * (S.DIM + 1))
    assert client.count(cos).count == N  # nothing was written by the failed upsert


def test_collection_info(client: QdrantClient, cos: str):
    info = client.get_collection(cos)
    assert info.points_count == N
    assert info.config.params.vectors.size == S.DIM
    assert info.config.params.vectors.distance == M.Distance.COSINE
    if not S.LOCAL_MODE:
        assert info.config.hnsw_config.m == 16


# ------------------------------------------------------------------------------------------
# nearest queries
# ------------------------------------------------------------------------------------------


def test_query_by_vector_exact(client: QdrantClient, cos: str, local: QdrantClient):
    rng = qrng(1)
    stored = DS.stored
    for i in range(20):
        q = rng.standard_normal(S.DIM).astype(np.float32)
        res = client.query_points(cos, query=q.tolist(), limit=10, search_params=EXACT).points
        scores = S.nearest_scores(stored, q, DS.distance)
        S.check_topk(res, DS, scores, None, 10, True, what=f"exact query {i}")
        if i < 5:
            ref = local.query_points(COS, query=q.tolist(), limit=10).points
            S.same_ids_modulo_ties(res, ref, what=f"exact query {i} vs local mode")


def test_query_by_vector_hnsw_recall(client: QdrantClient, cos: str):
    rng = qrng(2)
    stored = DS.stored
    recalls = []
    for i in range(50):
        q = rng.standard_normal(S.DIM).astype(np.float32)
        res = client.query_points(cos, query=q.tolist(), limit=10).points
        scores = S.nearest_scores(stored, q, DS.distance)
        assert len(res) == 10
        for p in res:  # scores are true scores even when the candidates are approximate
            r = DS.index_of[p.id]
            assert abs(p.score - scores[r]) <= S.score_tol(scores[r]), (p.id, p.score, scores[r])
        assert [p.score for p in res] == sorted([p.score for p in res], reverse=True)
        recalls.append(S.recall(res, DS, scores, None, 10, True))
    mean = float(np.mean(recalls))
    print(f"hnsw recall@10 (default params, 50 queries): {mean:.3f}")
    assert mean >= 0.9, f"recall@10 {mean:.3f} < 0.9 ({recalls})"


def test_query_numpy_and_nearest_query_forms(client: QdrantClient, cos: str):
    q = qrng(3).standard_normal(S.DIM).astype(np.float32)
    a = client.query_points(cos, query=q, limit=5, search_params=EXACT).points
    b = client.query_points(cos, query=M.NearestQuery(nearest=q.tolist()), limit=5, search_params=EXACT).points
    assert [p.id for p in a] == [p.id for p in b]
    S.check_topk(a, DS, S.nearest_scores(DS.stored, q, DS.distance), None, 5, True, what="numpy query")


@pytest.mark.parametrize("exact", [True, False])
def test_query_by_point_id(client: QdrantClient, cos: str, local: QdrantClient, exact: bool):
    rng = qrng(4)
    stored = DS.stored
    rows = rng.choice(N, size=10, replace=False)
    for r in list(rows) + [N - 1, N - 2]:  # include the huge u64 ids
        pid = DS.ids[r]
        res = client.query_points(cos, query=pid, limit=10, search_params=M.SearchParams(exact=exact)).points
        ids = [p.id for p in res]
        assert pid not in ids, f"query by id {pid}: the point itself must be excluded, got {ids}"
        mask = np.ones(N, dtype=bool)
        mask[r] = False
        scores = S.nearest_scores(stored, stored[r], DS.distance)
        if exact:
            S.check_topk(res, DS, scores, mask, 10, True, what=f"query by id {pid}")
            ref = local.query_points(COS, query=pid, limit=10).points
            S.same_ids_modulo_ties(res, ref, what=f"query by id {pid} vs local mode")
        else:
            assert len(res) == 10
            assert S.recall(res, DS, scores, mask, 10, True) >= 0.7


def test_query_missing_point_id(client: QdrantClient, cos: str):
    with S.http_error(400, 404):
        client.query_points(cos, query=5 * N + 3, limit=3)


# ------------------------------------------------------------------------------------------
# recommend
# ------------------------------------------------------------------------------------------


def _reco_examples():
    rng = qrng(5)
    raw_pos = S.unit(rng.standard_normal(S.DIM)).tolist()
    raw_neg = S.unit(rng.standard_normal(S.DIM)).tolist()
    return [
        ("pos_ids_only", [DS.ids[10], DS.ids[20]], []),
        ("pos_and_neg_ids", [DS.ids[10], DS.ids[20], DS.ids[30]], [DS.ids[40], DS.ids[50]]),
        ("mixed_raw", [DS.ids[60], raw_pos], [raw_neg, DS.ids[70]]),
        ("single_pos_single_neg", [DS.ids[80]], [DS.ids[81]]),
    ]


RECO = _reco_examples()


@pytest.mark.parametrize("strategy", ["average_vector", "best_score", "sum_scores"])
@pytest.mark.parametrize("case", [c[0] for c in RECO])
def test_recommend_exact(client: QdrantClient, cos: str, local: QdrantClient, strategy: str, case: str):
    _, pos, neg = next(c for c in RECO if c[0] == case)
    q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos, negative=neg or None, strategy=strategy))
    res = client.query_points(cos, query=q, limit=10, search_params=EXACT).points
    scores, higher = S.recommend_scores(DS, pos, neg, strategy)
    mask = np.ones(N, dtype=bool)
    for e in pos + neg:
        if not isinstance(e, list):
            mask[DS.index_of[e]] = False
    got = [p.id for p in res]
    for e in pos + neg:
        if not isinstance(e, list):
            assert e not in got, f"example point {e} returned by recommend {strategy}: {got}"
    S.check_topk(res, DS, scores, mask, 10, higher, what=f"recommend {strategy} {case}")
    ref = local.query_points(COS, query=q, limit=10).points
    S.same_ids_modulo_ties(res, ref, what=f"recommend {strategy} {case} vs local mode")


def test_recommend_default_strategy_is_average(client: QdrantClient, cos: str):
    pos, neg = [DS.ids[1], DS.ids[2]], [DS.ids[3]]
    a = client.query_points(cos, query=M.RecommendQuery(recommend=M.RecommendInput(positive=pos, negative=neg)),
                            limit=10, search_params=EXACT).points
    b = client.query_points(cos, query=M.RecommendQuery(recommend=M.RecommendInput(
        positive=pos, negative=neg, strategy="average_vector")), limit=10, search_params=EXACT).points
    assert [p.id for p in a] == [p.id for p in b]


@pytest.mark.parametrize("strategy", ["average_vector", "best_score", "sum_scores"])
def test_recommend_hnsw(client: QdrantClient, cos: str, strategy: str):
    pos, neg = [DS.ids[100], DS.ids[200]], [DS.ids[300]]
    q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos, negative=neg, strategy=strategy))
    res = client.query_points(cos, query=q, limit=10).points
    scores, higher = S.recommend_scores(DS, pos, neg, strategy)
    mask = np.ones(N, dtype=bool)
    for e in pos + neg:
        mask[DS.index_of[e]] = False
    assert len(res) == 10
    for p in res:
        assert p.id not in pos + neg
        r = DS.index_of[p.id]
        assert abs(p.score - scores[r]) <= S.score_tol(scores[r]), (strategy, p.id, p.score, scores[r])
    rec = S.recall(res, DS, scores, mask, 10, higher)
    print(f"recommend {strategy} hnsw recall@10: {rec:.2f}")
    assert rec >= (0.7 if strategy == "average_vector" else 0.5), f"recommend {strategy} recall {rec}"


def test_recommend_with_filter(client: QdrantClient, cos: str):
    flt, pred = CASES["match_value_keyword"]
    pos, neg = [DS.ids[5]], [DS.ids[6]]
    for strategy in ["average_vector", "best_score", "sum_scores"]:
        q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos, negative=neg, strategy=strategy))
        res = client.query_points(cos, query=q, query_filter=flt, limit=10, search_params=EXACT).points
        scores, higher = S.recommend_scores(DS, pos, neg, strategy)
        mask = S.mask_of(DS, pred)
        mask[DS.index_of[pos[0]]] = mask[DS.index_of[neg[0]]] = False
        S.check_topk(res, DS, scores, mask, 10, higher, what=f"filtered recommend {strategy}")


# ------------------------------------------------------------------------------------------
# filters
# ------------------------------------------------------------------------------------------


def test_reference_filters_agree_with_local_mode(local: QdrantClient):
    """Validates this file's predicates (not the server): local mode must select the same ids."""
    for name, (flt, pred) in CASES.items():
        got = set()
        offset = None
        while True:
            pts, offset = local.scroll(COS, scroll_filter=flt, limit=10_000, offset=offset)
            got |= {p.id for p in pts}
            if offset is None:
                break
        want = {pid for pid, p in zip(DS.ids, DS.payloads) if pred(pid, p)}
        assert got == want, f"{name}: local mode {len(got)} vs predicate {len(want)}"


@pytest.mark.parametrize("name", list(CASES))
def test_filtered_query_exact(client: QdrantClient, cos: str, name: str):
    flt, pred = CASES[name]
    mask = S.mask_of(DS, pred)
    rng = qrng(6)
    for i in range(3):
        q = rng.standard_normal(S.DIM).astype(np.float32)
        res = client.query_points(cos, query=q.tolist(), query_filter=flt, limit=10, search_params=EXACT).points
        S.check_topk(res, DS, S.nearest_scores(DS.stored, q, DS.distance), mask, 10, True,
                     what=f"filter {name} exact ({int(mask.sum())} matches)")


@pytest.mark.parametrize("name", list(CASES))
def test_filtered_query_hnsw(client: QdrantClient, cos: str, name: str):
    """Filtered approximate search must return `limit` results whenever that many points match,
    all of them matching, with good recall."""
    flt, pred = CASES[name]
    mask = S.mask_of(DS, pred)
    matches = int(mask.sum())
    rng = qrng(7)
    recalls = []
    for i in range(5):
        q = rng.standard_normal(S.DIM).astype(np.float32)
        res = client.query_points(cos, query=q.tolist(), query_filter=flt, limit=10).points
        scores = S.nearest_scores(DS.stored, q, DS.distance)
        assert len(res) == min(10, matches), f"filter {name}: {len(res)} results, {matches} points match"
        for p in res:
            assert mask[DS.index_of[p.id]], f"filter {name}: id {p.id} does not match"
        recalls.append(S.recall(res, DS, scores, mask, 10, True))
    assert np.mean(recalls) >= 0.8, f"filter {name}: recall {recalls}"


@pytest.mark.parametrize("name", list(CASES))
def test_count_with_filter(client: QdrantClient, cos: str, name: str):
    flt, pred = CASES[name]
    assert client.count(cos, count_filter=flt, exact=True).count == int(S.mask_of(DS, pred).sum()), name


def test_filter_vs_local_mode(client: QdrantClient, cos: str, local: QdrantClient):
    q = qrng(8).standard_normal(S.DIM).astype(np.float32).tolist()
    for name, (flt, _) in CASES.items():
        a = client.query_points(cos, query=q, query_filter=flt, limit=10, search_params=EXACT).points
        b = local.query_points(COS, query=q, query_filter=flt, limit=10).points
        S.same_ids_modulo_ties(a, b, what=f"filter {name} vs local mode")


# ------------------------------------------------------------------------------------------
# limit / offset / score_threshold / payload + vector selection
# ------------------------------------------------------------------------------------------


def test_offset(client: QdrantClient, cos: str):
    q = qrng(9).standard_normal(S.DIM).astype(np.float32)
    scores = S.nearest_scores(DS.stored, q, DS.distance)
    full = client.query_points(cos, query=q.tolist(), limit=30, search_params=EXACT).points
    S.check_topk(full, DS, scores, None, 30, True, what="limit 30")
    for off in (0, 5, 17):
        res = client.query_points(cos, query=q.tolist(), limit=7, offset=off, search_params=EXACT).points
        S.check_topk(res, DS, scores, None, 7, True, offset=off, what=f"offset {off}")
        assert [p.id for p in res] == [p.id for p in full[off : off + 7]]
    # hnsw with offset: same contract on length
    res = client.query_points(cos, query=q.tolist(), limit=10, offset=10).points
    assert len(res) == 10


def test_score_threshold(client: QdrantClient, cos: str):
    q = qrng(10).standard_normal(S.DIM).astype(np.float32)
    scores = S.nearest_scores(DS.stored, q, DS.distance)
    top = S.exact_topk(scores, None, 20, True)
    thr = float((scores[top[6]] + scores[top[7]]) / 2)  # exactly 7 points score above
    for params in (EXACT, None):
        res = client.query_points(cos, query=q.tolist(), limit=20, score_threshold=thr, search_params=params).points
        assert all(p.score >= thr for p in res), [p.score for p in res]
        if params is EXACT:
            assert [p.id for p in res] == [DS.ids[r] for r in top[:7]]
        else:
            assert len(res) >= 6
    # threshold above everything
    assert client.query_points(cos, query=q.tolist(), limit=10, score_threshold=1.01, search_params=EXACT).points == []


def test_with_payload_and_vector(client: QdrantClient, cos: str):
    q = qrng(11).standard_normal(S.DIM).astype(np.float32).tolist()
    res = client.query_points(cos, query=q, limit=10, with_payload=True, with_vectors=True, search_params=EXACT).points
    for p in res:
        r = DS.index_of[p.id]
        assert p.payload == DS.payloads[r], (p.id, p.payload, DS.payloads[r])
        assert p.vector is not None and len(p.vector) == S.DIM
        np.testing.assert_allclose(p.vector, DS.stored[r], atol=1e-5, err_msg=f"vector of {p.id} (normalised)")
        assert p.version is not None
    res = client.query_points(cos, query=q, limit=10, with_payload=False, with_vectors=False, search_params=EXACT).points
    assert len(res) == 10
    for p in res:
        assert not p.payload, p.payload
        assert p.vector is None, p.vector
    res = client.query_points(cos, query=q, limit=10, with_payload=["group", "n", "opt"], search_params=EXACT).points
    for p in res:
        src = DS.payloads[DS.index_of[p.id]]
        assert p.payload == {k: src[k] for k in ("group", "n", "opt") if k in src}, (p.payload, src)
    res = client.query_points(cos, query=q, limit=10, with_payload=M.PayloadSelectorExclude(exclude=["tags", "price"]),
                              search_params=EXACT).points
    for p in res:
        src = DS.payloads[DS.index_of[p.id]]
        assert p.payload == {k: v for k, v in src.items() if k not in ("tags", "price")}, (p.payload, src)
    res = client.query_points(cos, query=q, limit=10, with_payload=M.PayloadSelectorInclude(include=["price"]),
                              search_params=EXACT).points
    for p in res:
        assert p.payload == {"price": DS.payloads[DS.index_of[p.id]]["price"]}


def test_query_batch_points(client: QdrantClient, cos: str):
    rng = qrng(12)
    q1 = rng.standard_normal(S.DIM).astype(np.float32).tolist()
    q2 = rng.standard_normal(S.DIM).astype(np.float32).tolist()
    flt, pred = CASES["range_int"]
    reqs = [
        M.QueryRequest(query=q1, limit=5, params=EXACT, with_payload=True),
        M.QueryRequest(query=DS.ids[42], limit=7, params=EXACT),
        M.QueryRequest(query=q2, limit=10, filter=flt, params=EXACT, with_vector=True),
        M.QueryRequest(query=M.RecommendQuery(recommend=M.RecommendInput(positive=[DS.ids[1]], negative=[DS.ids[2]],
                                                                         strategy="best_score")),
                       limit=4, params=EXACT),
        M.QueryRequest(query=q1, limit=3, offset=2, params=EXACT),
    ]
    out = client.query_batch_points(cos, requests=reqs)
    assert len(out) == len(reqs)
    stored = DS.stored
    S.check_topk(out[0].points, DS, S.nearest_scores(stored, np.array(q1), DS.distance), None, 5, True, what="batch 0")
    assert all(p.payload == DS.payloads[DS.index_of[p.id]] for p in out[0].points)
    m1 = np.ones(N, dtype=bool)
    m1[42] = False
    S.check_topk(out[1].points, DS, S.nearest_scores(stored, stored[42], DS.distance), m1, 7, True, what="batch 1")
    S.check_topk(out[2].points, DS, S.nearest_scores(stored, np.array(q2), DS.distance), S.mask_of(DS, pred), 10, True,
                 what="batch 2")
    assert all(p.vector is not None for p in out[2].points)
    sc, hi = S.recommend_scores(DS, [DS.ids[1]], [DS.ids[2]], "best_score")
    m3 = np.ones(N, dtype=bool)
    m3[1] = m3[2] = False
    S.check_topk(out[3].points, DS, sc, m3, 4, hi, what="batch 3")
    S.check_topk(out[4].points, DS, S.nearest_scores(stored, np.array(q1), DS.distance), None, 3, True, offset=2,
                 what="batch 4")
    # each batch answer equals the single-query answer
    single = client.query_points(cos, query=q2, query_filter=flt, limit=10, search_params=EXACT).points
    assert [p.id for p in single] == [p.id for p in out[2].points]


# ------------------------------------------------------------------------------------------
# retrieve / scroll / count
# ------------------------------------------------------------------------------------------


def test_retrieve(client: QdrantClient, cos: str):
    rng = qrng(13)
    rows = list(rng.choice(N, size=100, replace=False)) + [N - 1, N - 2, N - 3, N - 4]
    ids = [DS.ids[r] for r in rows] + [5 * N + 3]  # one id that does not exist
    recs = client.retrieve(cos, ids=ids, with_payload=True, with_vectors=True)
    assert sorted(r.id for r in recs) == sorted(DS.ids[r] for r in rows)
    for rec in recs:
        r = DS.index_of[rec.id]
        assert rec.payload == DS.payloads[r], (rec.id, rec.payload, DS.payloads[r])
        np.testing.assert_allclose(rec.vector, DS.stored[r], atol=1e-5, err_msg=f"vector of {rec.id}")
        assert abs(np.linalg.norm(rec.vector) - 1.0) < 1e-4, "Cosine vectors come back L2-normalised"
    recs = client.retrieve(cos, ids=ids[:10])  # defaults: payload yes, vector no
    assert len(recs) == 10
    assert all(r.vector is None and r.payload == DS.payloads[DS.index_of[r.id]] for r in recs)
    recs = client.retrieve(cos, ids=ids[:10], with_payload=False, with_vectors=False)
    assert all(not r.payload and r.vector is None for r in recs)
    recs = client.retrieve(cos, ids=ids[:10], with_payload=["group"])
    assert all(r.payload == {"group": DS.payloads[DS.index_of[r.id]]["group"]} for r in recs)
    assert client.retrieve(cos, ids=[5 * N + 3]) == []


def test_scroll_all(client: QdrantClient, cos: str):
    seen = []
    offset = None
    pages = 0
    while True:
        pts, nxt = client.scroll(cos, limit=1000, offset=offset, with_payload=True, with_vectors=False)
        pages += 1
        assert pages <= 11, "scroll does not terminate"
        assert len(pts) <= 1000
        if nxt is not None:
            assert len(pts) == 1000, f"page {pages}: {len(pts)} points but next_page_offset {nxt}"
            assert nxt > pts[-1].id
        for p in pts:
            assert p.payload == DS.payloads[DS.index_of[p.id]]
        seen += [p.id for p in pts]
        if nxt is None:
            break
        offset = nxt
    assert pages == 10, pages
    assert len(seen) == N and len(set(seen)) == N, (len(seen), len(set(seen)))
    assert seen == sorted(DS.ids), "scroll must return points ordered by id"


def test_scroll_with_filter_and_offset(client: QdrantClient, cos: str):
    flt, pred = CASES["match_value_keyword"]
    want = sorted(pid for pid, p in zip(DS.ids, DS.payloads) if pred(pid, p))
    seen, offset = [], None
    while True:
        pts, offset = client.scroll(cos, scroll_filter=flt, limit=300, offset=offset, with_payload=False)
        seen += [p.id for p in pts]
        if offset is None:
            break
    assert seen == want
    # an explicit start offset that is not an existing id: starts at the next id
    start = DS.ids[500] + 1 if DS.ids[500] + 1 not in DS.index_of else DS.ids[500]
    pts, _ = client.scroll(cos, limit=5, offset=start, with_payload=False)
    assert [p.id for p in pts] == [i for i in sorted(DS.ids) if i >= start][:5]
    pts, _ = client.scroll(cos, limit=3, with_vectors=True, with_payload=False)
    for p in pts:
        np.testing.assert_allclose(p.vector, DS.stored[DS.index_of[p.id]], atol=1e-5)


def test_count(client: QdrantClient, cos: str):
    assert client.count(cos).count == N
    assert client.count(cos, exact=True).count == N


def test_payload_index(client: QdrantClient, cos: str):
    for field, schema in [("group", M.PayloadSchemaType.KEYWORD), ("n", M.PayloadSchemaType.INTEGER),
                          ("price", M.PayloadSchemaType.FLOAT)]:
        res = client.create_payload_index(cos, field_name=field, field_schema=schema, wait=True)
        assert res.status == M.UpdateStatus.COMPLETED
    info = client.get_collection(cos)
    if not S.LOCAL_MODE:  # local mode keeps no payload schema
        assert info.payload_schema["group"].data_type == M.PayloadSchemaType.KEYWORD
        assert info.payload_schema["n"].data_type == M.PayloadSchemaType.INTEGER
    # filtered results are unchanged with indexes present
    q = qrng(14).standard_normal(S.DIM).astype(np.float32)
    for name in ("match_value_keyword", "range_int", "range_float", "very_selective"):
        flt, pred = CASES[name]
        res = client.query_points(cos, query=q.tolist(), query_filter=flt, limit=10, search_params=EXACT).points
        S.check_topk(res, DS, S.nearest_scores(DS.stored, q, DS.distance), S.mask_of(DS, pred), 10, True,
                     what=f"{name} with payload index")
        res = client.query_points(cos, query=q.tolist(), query_filter=flt, limit=10).points
        assert len(res) == min(10, int(S.mask_of(DS, pred).sum()))


# ------------------------------------------------------------------------------------------
# other distances, quantization, uuid ids
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", [M.Distance.EUCLID, M.Distance.DOT])
def test_other_distance(client: QdrantClient, distance: M.Distance):
    n = 5000
    ds = S.make_dataset(n, seed=99, distance=distance)
    name = f"dist_{distance.value.lower()}"
    S.create(client, name, distance)
    S.upload(client, name, ds)
    loc = S.local_client(ds, name)
    higher = S.higher_is_better(distance)
    stored = ds.stored
    assert client.count(name).count == n
    rng = qrng(15)
    recalls = []
    for i in range(10):
        q = rng.standard_normal(S.DIM).astype(np.float32)
        scores = S.nearest_scores(stored, q, distance)
        res = client.query_points(name, query=q.tolist(), limit=10, search_params=EXACT).points
        S.check_topk(res, ds, scores, None, 10, higher, what=f"{distance} exact {i}")
        S.same_ids_modulo_ties(res, loc.query_points(name, query=q.tolist(), limit=10).points, what=f"{distance} local")
        res = client.query_points(name, query=q.tolist(), limit=10).points
        recalls.append(S.recall(res, ds, scores, None, 10, higher))
    assert np.mean(recalls) >= 0.9, recalls
    # score_threshold semantics: Euclid keeps distance <= thr, Dot keeps score >= thr
    q = rng.standard_normal(S.DIM).astype(np.float32)
    scores = S.nearest_scores(stored, q, distance)
    top = S.exact_topk(scores, None, 10, higher)
    thr = float((scores[top[4]] + scores[top[5]]) / 2)
    res = client.query_points(name, query=q.tolist(), limit=10, score_threshold=thr, search_params=EXACT).points
    assert [p.id for p in res] == [ds.ids[r] for r in top[:5]], (thr, [p.score for p in res])
    # recommend (internal similarity for Euclid is the negative squared distance)
    for strategy in ("average_vector", "best_score", "sum_scores"):
        pos, neg = [ds.ids[3], ds.ids[4]], [ds.ids[5]]
        qq = M.RecommendQuery(recommend=M.RecommendInput(positive=pos, negative=neg, strategy=strategy))
        res = client.query_points(name, query=qq, limit=10, search_params=EXACT).points
        sc, hi = S.recommend_scores(ds, pos, neg, strategy)
        mask = np.ones(n, dtype=bool)
        mask[[3, 4, 5]] = False
        S.check_topk(res, ds, sc, mask, 10, hi, what=f"{distance} recommend {strategy}")
        S.same_ids_modulo_ties(res, loc.query_points(name, query=qq, limit=10).points,
                               what=f"{distance} recommend {strategy} vs local")
    # by id, filters
    res = client.query_points(name, query=ds.ids[7], limit=10, search_params=EXACT).points
    mask = np.ones(n, dtype=bool)
    mask[7] = False
    S.check_topk(res, ds, S.nearest_scores(stored, stored[7], distance), mask, 10, higher, what=f"{distance} by id")
    for cname, flt, pred in S.filter_cases(ds)[:6]:
        res = client.query_points(name, query=q.tolist(), query_filter=flt, limit=10, search_params=EXACT).points
        S.check_topk(res, ds, scores, S.mask_of(ds, pred), 10, higher, what=f"{distance} filter {cname}")
    # vectors are stored as given (no normalisation)
    recs = client.retrieve(name, ids=ds.ids[:20], with_vectors=True)
    for rec in recs:
        np.testing.assert_allclose(rec.vector, ds.vectors[ds.index_of[rec.id]], rtol=1e-6, atol=1e-6)
    client.delete_collection(name)


def test_scalar_quantization(client: QdrantClient):
    n = 5000
    ds = S.make_dataset(n, seed=77, distance=M.Distance.COSINE)
    name = "quant"
    S.create(client, name, M.Distance.COSINE,
             quantization_config=M.ScalarQuantization(scalar=M.ScalarQuantizationConfig(
                 type=M.ScalarType.INT8, quantile=0.99, always_ram=True)))
    S.upload(client, name, ds)
    info = client.get_collection(name)
    if not S.LOCAL_MODE:  # local mode keeps no quantization config
        assert isinstance(info.config.quantization_config, M.ScalarQuantization), info.config.quantization_config
        assert info.config.quantization_config.scalar.type == M.ScalarType.INT8
    rng = qrng(16)
    recalls = []
    for i in range(20):
        q = rng.standard_normal(S.DIM).astype(np.float32)
        scores = S.nearest_scores(ds.stored, q, ds.distance)
        res = client.query_points(name, query=q.tolist(), limit=10).points
        assert len(res) == 10
        recalls.append(S.recall(res, ds, scores, None, 10, True))
        res = client.query_points(name, query=q.tolist(), limit=10, search_params=M.SearchParams(
            exact=True, quantization=M.QuantizationSearchParams(ignore=True))).points
        S.check_topk(res, ds, scores, None, 10, True, what=f"quantized collection, exact + ignore {i}")
        res = client.query_points(name, query=q.tolist(), limit=10, search_params=M.SearchParams(
            quantization=M.QuantizationSearchParams(rescore=True, oversampling=3.0))).points
        for p in res:  # rescored: true scores
            r = ds.index_of[p.id]
            assert abs(p.score - scores[r]) <= S.score_tol(scores[r]), (p.id, p.score, scores[r])
    print(f"int8 recall@10: {np.mean(recalls):.3f}")
    assert np.mean(recalls) >= 0.9, recalls
    client.delete_collection(name)


def test_uuid_ids(client: QdrantClient):
    n = 1000
    ds = S.make_dataset(n, seed=5, distance=M.Distance.COSINE, uuid_ids=True)
    name = "uuids"
    S.create(client, name, M.Distance.COSINE)
    S.upload(client, name, ds, batch=100)
    assert client.count(name).count == n
    stored = ds.stored
    # retrieve by str and by uuid.UUID
    recs = client.retrieve(name, ids=[ds.ids[0], uuid.UUID(ds.ids[1])], with_vectors=True)
    assert sorted(str(r.id) for r in recs) == sorted(ds.ids[:2])
    for r in recs:
        assert isinstance(r.id, str) and r.id == str(uuid.UUID(r.id)), f"uuid id must come back canonical: {r.id!r}"
        np.testing.assert_allclose(r.vector, stored[ds.index_of[r.id]], atol=1e-5)
        assert r.payload == ds.payloads[ds.index_of[r.id]]
    # upper-case / un-hyphenated forms refer to the same point (Qdrant parses them as UUIDs)
    recs = client.retrieve(name, ids=[ds.ids[2].upper()])
    assert [str(r.id) for r in recs] == [ds.ids[2]]
    # query by vector and by uuid
    q = qrng(17).standard_normal(S.DIM).astype(np.float32)
    res = client.query_points(name, query=q.tolist(), limit=10, search_params=EXACT).points
    S.check_topk(res, ds, S.nearest_scores(stored, q, ds.distance), None, 10, True, what="uuid exact")
    res = client.query_points(name, query=ds.ids[3], limit=10, search_params=EXACT).points
    mask = np.ones(n, dtype=bool)
    mask[3] = False
    assert ds.ids[3] not in [p.id for p in res]
    S.check_topk(res, ds, S.nearest_scores(stored, stored[3], ds.distance), mask, 10, True, what="uuid by id")
    # has_id with uuids
    sel = ds.ids[10:25]
    res = client.query_points(name, query=q.tolist(), limit=100, search_params=EXACT,
                              query_filter=M.Filter(must=[M.HasIdCondition(has_id=sel)])).points
    assert sorted(p.id for p in res) == sorted(sel)
    # recommend with uuid examples
    qq = M.RecommendQuery(recommend=M.RecommendInput(positive=[ds.ids[4]], negative=[ds.ids[5]], strategy="best_score"))
    res = client.query_points(name, query=qq, limit=10, search_params=EXACT).points
    sc, hi = S.recommend_scores(ds, [ds.ids[4]], [ds.ids[5]], "best_score")
    mask = np.ones(n, dtype=bool)
    mask[[4, 5]] = False
    S.check_topk(res, ds, sc, mask, 10, hi, what="uuid recommend")
    # scroll: every uuid once, ordered (uuid order == canonical lower-case hex order)
    seen, offset = [], None
    while True:
        pts, offset = client.scroll(name, limit=300, offset=offset, with_payload=False)
        seen += [p.id for p in pts]
        if offset is None:
            break
    assert len(seen) == n and set(seen) == set(ds.ids)
    assert seen == sorted(ds.ids, key=lambda s: uuid.UUID(s).int)
    # delete by uuid
    client.delete(name, points_selector=M.PointIdsList(points=ds.ids[:10]), wait=True)
    assert client.count(name).count == n - 10
    assert client.retrieve(name, ids=ds.ids[:10]) == []
    client.delete_collection(name)


def test_mixed_int_and_uuid_ids(client: QdrantClient):
    name = "mixed"
    S.create(client, name, M.Distance.DOT)
    u = "6f1b3c2e-8a9d-4e5f-9a0b-1c2d3e4f5a6b"
    client.upsert(name, points=[M.PointStruct(id=5, vector=[1.0] + [0.0] * (S.DIM - 1), payload={"k": "int"}),
                                M.PointStruct(id=u, vector=[0.0, 1.0] + [0.0] * (S.DIM - 2), payload={"k": "uuid"}),
                                M.PointStruct(id=3, vector=[0.5] * S.DIM)])
    pts, nxt = client.scroll(name, limit=10)
    assert [p.id for p in pts] == [3, 5, u], "Qdrant orders integer ids before uuids"
    assert nxt is None
    assert {r.id for r in client.retrieve(name, ids=[5, u])} == {5, u}
    client.delete_collection(name)


# ------------------------------------------------------------------------------------------
# writes: overwrite, payload ops, deletes
# ------------------------------------------------------------------------------------------


def test_upsert_overwrites(client: QdrantClient):
    n = 2000
    ds = S.make_dataset(n, seed=11, distance=M.Distance.COSINE)
    name = "overwrite"
    S.create(client, name, M.Distance.COSINE)
    S.upload(client, name, ds)
    target = ds.ids[123]
    new_vec = S.unit(qrng(18).standard_normal(S.DIM))
    old_vec = ds.stored[123]
    client.upsert(name, points=[M.PointStruct(id=target, vector=new_vec.tolist(), payload={"new": True})], wait=True)
    assert client.count(name).count == n
    [rec] = client.retrieve(name, ids=[target], with_vectors=True)
    assert rec.payload == {"new": True}
    np.testing.assert_allclose(rec.vector, new_vec, atol=1e-5)
    for exact in (True, False):
        res = client.query_points(name, query=new_vec.tolist(), limit=1, search_params=M.SearchParams(exact=exact)).points
        assert res[0].id == target and abs(res[0].score - 1.0) < 1e-4, res
        res = client.query_points(name, query=old_vec.tolist(), limit=5, search_params=M.SearchParams(exact=exact)).points
        if res[0].id == target:
            assert res[0].score < 0.999, "old vector still indexed for the overwritten point"
    client.delete_collection(name)


def test_payload_operations(client: QdrantClient):
    n = 3000
    ds = S.make_dataset(n, seed=12, distance=M.Distance.COSINE)
    name = "payload_ops"
    S.create(client, name, M.Distance.COSINE)
    S.upload(client, name, ds)
    a, b, c = ds.ids[1], ds.ids[2], ds.ids[3]
    exp = {pid: dict(ds.payloads[ds.index_of[pid]]) for pid in (a, b, c)}

    def check():
        recs = {r.id: r.payload for r in client.retrieve(name, ids=[a, b, c])}
        for pid in (a, b, c):
            assert recs[pid] == exp[pid], (pid, recs[pid], exp[pid])

    client.set_payload(name, payload={"x": 1, "group": "z", "obj": {"k": [1, 2]}}, points=[a, b], wait=True)
    for pid in (a, b):
        exp[pid].update({"x": 1, "group": "z", "obj": {"k": [1, 2]}})
    check()
    client.overwrite_payload(name, payload={"only": "this"}, points=[b], wait=True)
    exp[b] = {"only": "this"}
    check()
    client.delete_payload(name, keys=["x", "price", "not_there"], points=[a, c], wait=True)
    for pid in (a, c):
        exp[pid].pop("x", None)
        exp[pid].pop("price", None)
    check()
    client.clear_payload(name, points_selector=[c], wait=True)
    exp[c] = {}
    check()
    # the new payload values are visible to filters
    flt = M.Filter(must=[S.fc_value("group", "z")])
    assert client.count(name, count_filter=flt).count == 1
    res = client.query_points(name, query=ds.vectors[0].tolist(), query_filter=flt, limit=10, search_params=EXACT).points
    assert [p.id for p in res] == [a]
    res = client.query_points(name, query=ds.vectors[0].tolist(), query_filter=flt, limit=10).points
    assert [p.id for p in res] == [a]
    # set_payload by filter
    sel = M.Filter(must=[S.fc_range("n", lt=50)])
    matched = {pid for pid, p in zip(ds.ids, ds.payloads) if p["n"] < 50 and pid not in (a, b, c)}
    matched |= {pid for pid in (a, b, c) if isinstance(exp[pid].get("n"), int) and exp[pid]["n"] < 50}
    client.set_payload(name, payload={"marked": True}, points=sel, wait=True)
    assert client.count(name, count_filter=M.Filter(must=[S.fc_value("marked", True)])).count == len(matched)
    # delete_payload by filter
    client.delete_payload(name, keys=["marked"], points=sel, wait=True)
    assert client.count(name, count_filter=M.Filter(must=[S.fc_value("marked", True)])).count == 0
    client.delete_collection(name)


def test_deletes(client: QdrantClient):
    ds = DS  # same 10k points, own collection
    name = "deletes"
    S.create(client, name, M.Distance.COSINE)
    S.upload(client, name, ds)
    rng = qrng(19)
    del_rows = sorted(int(r) for r in rng.choice(N, size=200, replace=False))
    del_ids = [ds.ids[r] for r in del_rows]
    res = client.delete(name, points_selector=M.PointIdsList(points=del_ids[:100]), wait=True)
    assert res.status == M.UpdateStatus.COMPLETED
    client.delete(name, points_selector=del_ids[100:], wait=True)  # plain list form
    alive = np.ones(N, dtype=bool)
    alive[del_rows] = False
    assert client.count(name).count == N - 200
    assert client.retrieve(name, ids=del_ids) == []
    # by filter
    flt = M.Filter(must=[S.fc_value("group", "e")])
    g_e = S.mask_of(ds, S.p_value("group", "e"))
    res = client.delete(name, points_selector=M.FilterSelector(filter=flt), wait=True)
    assert res.status == M.UpdateStatus.COMPLETED
    alive &= ~g_e
    assert client.count(name).count == int(alive.sum())
    assert client.count(name, count_filter=flt).count == 0
    # a bare Filter as selector
    flt2 = M.Filter(must=[S.fc_range("n", gte=990)])
    client.delete(name, points_selector=flt2, wait=True)
    alive &= ~S.mask_of(ds, S.p_range("n", gte=990))
    assert client.count(name).count == int(alive.sum())
    # deleted points never come back: queries by their own vectors, exact and approximate
    stored = ds.stored
    dead_rows = np.flatnonzero(~alive)
    for r in dead_rows[:: max(1, len(dead_rows) // 40)]:
        for exact in (True, False):
            res = client.query_points(name, query=ds.vectors[r].tolist(), limit=10,
                                      search_params=M.SearchParams(exact=exact)).points
            assert len(res) == 10
            for p in res:
                assert alive[ds.index_of[p.id]], f"deleted point {p.id} returned (query by its vector, exact={exact})"
            if exact:
                S.check_topk(res, ds, S.nearest_scores(stored, ds.vectors[r], ds.distance), alive, 10, True,
                             what="after deletes")
    # recommend from a deleted id fails; query by deleted id fails
    with S.http_error(400, 404):
        client.query_points(name, query=del_ids[0], limit=3)
    # scroll sees exactly the alive points
    seen, offset = [], None
    while True:
        pts, offset = client.scroll(name, limit=1000, offset=offset, with_payload=False)
        seen += [p.id for p in pts]
        if offset is None:
            break
    assert seen == sorted(ds.ids[r] for r in np.flatnonzero(alive))
    # filtered searches still fill `limit` with alive points
    q = rng.standard_normal(S.DIM).astype(np.float32)
    for cname in ("match_value_keyword", "match_any_keyword", "range_int"):
        f, pred = CASES[cname]
        m = S.mask_of(ds, pred) & alive
        res = client.query_points(name, query=q.tolist(), query_filter=f, limit=10).points
        assert len(res) == 10 and all(m[ds.index_of[p.id]] for p in res), cname
        res = client.query_points(name, query=q.tolist(), query_filter=f, limit=10, search_params=EXACT).points
        S.check_topk(res, ds, S.nearest_scores(stored, q, ds.distance), m, 10, True, what=f"{cname} after deletes")
    # re-insert a deleted point: it is back
    r = del_rows[0]
    client.upsert(name, points=[M.PointStruct(id=ds.ids[r], vector=ds.vectors[r].tolist(), payload=ds.payloads[r])])
    res = client.query_points(name, query=ds.vectors[r].tolist(), limit=1).points
    assert res[0].id == ds.ids[r]
    assert client.count(name).count == int(alive.sum()) + 1
    assert client.delete_collection(name) is True
    assert client.collection_exists(name) is False


def test_delete_collection_last(client: QdrantClient, cos: str):
    assert client.delete_collection(cos) is True
    assert client.collection_exists(cos) is False
    with S.http_error(404):
        client.count(cos)
