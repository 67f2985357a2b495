"""Sparse vectors (with and without IDF), prefetch, RRF / DBSF fusion and rescoring
(docs/qdrant-conventions-4.md): randomized congruence with qdrant-client's local mode, through
the client's typed calls, plus raw-HTTP checks of the server's statuses and words.

One collection on both sides: dense "d" (4, Dot) and sparse "s" (plain) and "w" (IDF). Points
get random sparse vectors over a small vocabulary (so queries overlap many points), given
unsorted now and then, empty now and then; random deletes and vector edits between reads move
the IDF statistics. Ties are expected (RRF ranks, equal sparse sums): `cmp_scored` accepts a
vicinity id in place of local mode's when their scores are equal.

Where local mode is documented to differ from the server (§6 of the conventions: error texts,
tie order, IDF staleness after deletes on the server), the server's behaviour is what vicinity
implements; those cases are checked on raw HTTP only.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

import congruence_support as X
from congruence_support import _announce_seed, http, local  # noqa: F401  (fixtures)

Ctx, nid, rng_for, rounds, ok, err = X.Ctx, X.nid, X.rng_for, X.rounds, X.ok, X.err
cmp_scored = X.C.cmp_scored
NAME = "hybrid"
VOCAB = 30
BIG = 1000  # a root limit that takes everything the prefetches found


def create(c: QdrantClient) -> None:
    if c.collection_exists(NAME):
        c.delete_collection(NAME)
    c.create_collection(
        NAME,
        vectors_config={"d": M.VectorParams(size=4, distance=M.Distance.DOT)},
        sparse_vectors_config={"s": M.SparseVectorParams(), "w": M.SparseVectorParams(modifier=M.Modifier.IDF)},
    )


# Sparse values on a coarse grid (exact ties and exact zero sums happen), or not: rank fusion
# over lists with ties depends on the tie order, which the server leaves unspecified.
COARSE = [True]


def sparse(g: np.random.Generator, empty_ok: bool = True) -> M.SparseVector:
    n = int(g.integers(0 if empty_ok else 1, 7))
    idx = [int(i) for i in g.choice(VOCAB, size=n, replace=False)]
    if g.random() < 0.7:
        idx.sort()
    if COARSE[0]:
        vals = [float(x) for x in g.integers(-2, 5, size=n) / 2]
    else:
        vals = [round(float(x), 4) for x in g.uniform(-1, 2, size=n)]
    return M.SparseVector(indices=idx, values=vals)


def point(g: np.random.Generator, pid: int) -> M.PointStruct:
    vector: dict = {"d": [round(float(x), 3) for x in g.standard_normal(4)]}
    if g.random() < 0.85:
        vector["s"] = sparse(g)
    if g.random() < 0.85:
        vector["w"] = sparse(g)
    return M.PointStruct(id=pid, vector=vector, payload={"n": pid, "g": pid % 5})


def as_plain(v: Any) -> Any:
    if isinstance(v, M.SparseVector):
        pairs = sorted(zip(v.indices, v.values))
        return {"indices": [i for i, _ in pairs], "values": [round(x, 5) for _, x in pairs]}
    if isinstance(v, dict):
        return {k: as_plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [round(float(x), 5) for x in v]
    return v


class Both:
    def __init__(self, v: QdrantClient, l: QdrantClient, ctx: Ctx):
        self.v, self.l, self.ctx = v, l, ctx
        create(v)
        create(l)

    def write(self, method: str, *args: Any, **kw: Any) -> None:
        for c in (self.v, self.l):
            r = getattr(c, method)(NAME, *args, **kw)
            assert r.status == M.UpdateStatus.COMPLETED, f"{self.ctx}: {method}: {r}"

    def ids(self) -> list:
        pts, _ = self.l.scroll(NAME, limit=X.FULL)
        return [nid(p.id) for p in pts]

    def check_records(self) -> None:
        (v, _), (l, _) = [c.scroll(NAME, limit=X.FULL, with_payload=True, with_vectors=True) for c in (self.v, self.l)]
        assert [nid(p.id) for p in v] == [nid(p.id) for p in l], f"{self.ctx}: ids differ"
        for a, b in zip(v, l):
            assert as_plain(a.vector) == as_plain(b.vector), f"{self.ctx}: vectors of {a.id}: {a.vector} vs {b.vector}"

    def query(self, what: str, offset: int = 0, limit: int = 10, **kw: Any) -> None:
        self.ctx.step = what
        got = self.v.query_points(NAME, offset=offset, limit=limit, with_payload=True, **kw).points
        ext = self.l.query_points(NAME, limit=BIG, with_payload=True, **kw).points
        cmp_scored(got, ext, offset, limit, self.ctx, what)


def mutate(b: Both, g: np.random.Generator, next_id: list) -> None:
    existing = b.ids()
    r = g.random()
    if r < 0.4 or len(existing) < 20:
        pts = [point(g, next_id[0] + i) for i in range(int(g.integers(1, 8)))]
        next_id[0] += len(pts)
        b.write("upsert", points=pts)
    elif r < 0.6:
        victims = [int(x) for x in g.choice(existing, size=min(3, len(existing)), replace=False)]
        b.write("delete", points_selector=M.PointIdsList(points=victims))
    elif r < 0.8:
        pid = int(g.choice(existing))
        b.write("update_vectors", points=[M.PointVectors(id=pid, vector={"s": sparse(g), "w": sparse(g, False)})])
    else:
        pid = int(g.choice(existing))
        b.write("delete_vectors", points=M.PointIdsList(points=[pid]), vectors=[str(g.choice(["s", "w"]))])


def random_filter(g: np.random.Generator) -> Optional[M.Filter]:
    if g.random() < 0.5:
        return None
    return M.Filter(must=[M.FieldCondition(key="g", match=M.MatchAny(any=[int(x) for x in g.choice(5, size=2, replace=False)]))])


def dense_query(g: np.random.Generator) -> list:
    return [round(float(x), 3) for x in g.standard_normal(4)]


def prefetch(g: np.random.Generator, using: Optional[str] = None) -> M.Prefetch:
    using = using or str(g.choice(["d", "s", "w"]))
    q: Any = dense_query(g) if using == "d" else sparse(g, False)
    return M.Prefetch(query=q, using=using, limit=int(g.integers(3, 15)), filter=random_filter(g))


def fusion(g: np.random.Generator, n: int) -> Any:
    r = g.random()
    if r < 0.3:
        return M.FusionQuery(fusion=M.Fusion.RRF)
    if r < 0.5:
        return M.FusionQuery(fusion=M.Fusion.DBSF)
    if r < 0.75:
        return M.RrfQuery(rrf=M.Rrf(k=int(g.integers(1, 80))))
    return M.RrfQuery(rrf=M.Rrf(weights=[float(x) for x in g.integers(0, 4, size=n)]))


def test_sparse_search_and_records_follow_local_mode(client: QdrantClient, local: QdrantClient):
    g = rng_for("sparse")
    b = Both(client, local, Ctx("sparse"))
    b.write("upsert", points=[point(g, i) for i in range(60)])
    next_id = [60]
    for round_ in range(rounds(40)):
        mutate(b, g, next_id)
        if round_ % 10 == 0:
            b.check_records()
        using = str(g.choice(["s", "w"]))
        q = sparse(g, False)
        f = random_filter(g)
        off = int(g.integers(0, 3))
        b.query(f"{round_} nearest {using}", offset=off, query=q, using=using, query_filter=f)
        ids = b.ids()
        pid = int(g.choice(ids))
        if client.retrieve(NAME, [pid], with_vectors=[using])[0].vector:
            b.query(f"{round_} by id {using}", query=pid, using=using)
    b.check_records()


@pytest.fixture
def continuous():
    COARSE[0] = False
    yield
    COARSE[0] = True


def test_prefetch_fusion_and_rescoring_follow_local_mode(client: QdrantClient, local: QdrantClient, continuous):
    g = rng_for("prefetch")
    b = Both(client, local, Ctx("prefetch"))
    b.write("upsert", points=[point(g, i) for i in range(80)])
    next_id = [80]
    for round_ in range(rounds(40)):
        if round_ % 4 == 0:
            mutate(b, g, next_id)
        n = int(g.integers(1, 4))
        pre = [prefetch(g) for _ in range(n)]
        f = random_filter(g)
        off = int(g.integers(0, 3))
        b.query(f"{round_} fusion", offset=off, prefetch=pre, query=fusion(g, n), query_filter=f)
        # Rescoring: the prefetches' points ordered by another query.
        using = str(g.choice(["d", "s", "w"]))
        q: Any = dense_query(g) if using == "d" else sparse(g, False)
        b.query(f"{round_} rescore {using}", offset=off, prefetch=pre, query=q, using=using, query_filter=f)
        # Nested: a fusion inside, rescored or fused again above.
        inner = M.Prefetch(prefetch=pre, query=fusion(g, n), limit=int(g.integers(2, 12)))
        b.query(f"{round_} nested rescore", prefetch=[inner], query=dense_query(g), using="d")
        b.query(f"{round_} nested fusion", prefetch=[inner, prefetch(g)], query=M.FusionQuery(fusion=M.Fusion.RRF))


def test_thresholds_offsets_and_query_less_prefetches(client: QdrantClient, local: QdrantClient, continuous):
    g = rng_for("thresholds")
    b = Both(client, local, Ctx("thresholds"))
    b.write("upsert", points=[point(g, i) for i in range(50)])
    pre = [M.Prefetch(query=dense_query(g), using="d", limit=8), M.Prefetch(query=sparse(g, False), using="s", limit=8)]
    fused = local.query_points(NAME, prefetch=pre, query=M.FusionQuery(fusion=M.Fusion.RRF), limit=BIG).points
    # Fusion thresholds are inclusive: a threshold equal to a fused score keeps that point.
    for t in sorted({p.score for p in fused})[:3]:
        b.query(f"rrf threshold {t}", prefetch=pre, query=M.FusionQuery(fusion=M.Fusion.RRF), score_threshold=t)
    # A prefetch's own threshold is a vector-search threshold: strict.
    hits = local.query_points(NAME, query=pre[0].query, using="d", limit=8).points
    strict = M.Prefetch(query=pre[0].query, using="d", limit=8, score_threshold=hits[3].score)
    b.query("prefetch threshold", prefetch=[strict, pre[1]], query=M.FusionQuery(fusion=M.Fusion.DBSF))
    # The root offset is not added to the prefetch limits.
    b.query("offset", offset=5, limit=10, prefetch=pre, query=M.FusionQuery(fusion=M.Fusion.RRF))
    # A prefetch without a query: the first points in id order, rescored above.
    b.query("scroll prefetch", prefetch=M.Prefetch(limit=7), query=dense_query(g), using="d")
    # A single list fused: renumbered by position.
    b.query("one list", prefetch=pre[:1], query=M.FusionQuery(fusion=M.Fusion.RRF))


@X.needs_server
def test_errors_in_the_servers_words(http):  # noqa: F811  (fixture)
    ok(http.put("/collections/hyb_err", json={"vectors": {"d": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"s": {}}}))
    up = lambda v: http.put("/collections/hyb_err/points?wait=true", json={"points": [{"id": 1, "vector": v}]})  # noqa: E731
    err(up({"s": {"indices": [1, 1], "values": [1, 2]}}), 422,
        "Validation error in JSON body: [points[0].vector.?.indices: Validation error: must be unique [{}]]")
    err(up({"s": {"indices": [1, 2], "values": [1]}}), 422,
        "points[0].vector.?.values: Validation error: must be the same length as indices [{}]")
    err(up({"s": [1.0, 2.0]}), 400, "Wrong input: Conversion between sparse and regular vectors failed")
    err(up({"d": {"indices": [1], "values": [1]}}), 400, "Wrong input: Conversion between sparse and regular vectors failed")
    q = lambda body: http.post("/collections/hyb_err/points/query", json=body)  # noqa: E731
    leaf = {"query": [1.0, 0.0], "using": "d"}
    err(q({"query": {"fusion": "rrf"}}), 400, "Wrong input: Validation failed: cannot apply Fusion without prefetches")
    err(q({"prefetch": leaf}), 400,
        "Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query.")
    err(q({"prefetch": leaf, "query": {"fusion": "rrf"}, "using": "d"}), 400,
        "Bad request: Fusion queries cannot be combined with the 'using' field.")
    err(q({"prefetch": [leaf, leaf], "query": {"rrf": {"weights": [1]}}}), 400,
        "Wrong input: Validation failed: RRF weights length (1) does not match number of prefetches (2)")
    err(q({"prefetch": {**leaf, "limit": 0}, "query": {"fusion": "rrf"}}), 422, "prefetch[0].limit")
    # Nothing was written by the refused upserts.
    assert ok(http.post("/collections/hyb_err/points/count", json={"exact": True}))["count"] == 0
    # An empty sparse vector is stored (the point has it); an empty query finds nothing.
    ok(up({"s": {"indices": [], "values": []}}))
    assert ok(http.post("/collections/hyb_err/points/count", json={"filter": {"must": [{"has_vector": "s"}]}}))["count"] == 1
    assert ok(q({"query": {"indices": [], "values": []}, "using": "s"}))["points"] == []
    ok(http.delete("/collections/hyb_err"))


def formula_expr(g: np.random.Generator, depth: int = 0) -> Any:
    """A random finite expression: scores, payload numbers (with defaults), conditions, decays."""
    leaves = [
        lambda: "$score",
        lambda: "$score[1]",
        lambda: "x",
        lambda: "n",
        lambda: round(float(g.uniform(-2, 2)), 3),
        lambda: M.FieldCondition(key="g", match=M.MatchValue(value=int(g.integers(0, 5)))),
        lambda: M.ExpDecayExpression(exp_decay=M.DecayParamsExpression(
            x="x", target=round(float(g.uniform(-1, 1)), 2), scale=round(float(g.uniform(0.5, 3)), 2),
            midpoint=round(float(g.uniform(0.1, 0.9)), 2))),
        lambda: M.GaussDecayExpression(gauss_decay=M.DecayParamsExpression(x="n", target=40, scale=25)),
        lambda: M.LinDecayExpression(lin_decay=M.DecayParamsExpression(x="$score", scale=2, midpoint=0.3)),
    ]
    if depth >= 2 or g.random() < 0.35:
        return leaves[int(g.integers(0, len(leaves)))]()
    sub = lambda: formula_expr(g, depth + 1)  # noqa: E731
    positive = lambda: M.SumExpression(sum=[M.AbsExpression(abs=sub()), 1.0])  # noqa: E731
    ops = [
        lambda: M.SumExpression(sum=[sub() for _ in range(int(g.integers(1, 4)))]),
        lambda: M.MultExpression(mult=[sub() for _ in range(int(g.integers(1, 3)))]),
        lambda: M.NegExpression(neg=sub()),
        lambda: M.DivExpression(div=M.DivParams(left=sub(), right=positive())),
        lambda: M.LnExpression(ln=positive()),
        lambda: M.SqrtExpression(sqrt=M.AbsExpression(abs=sub())),
        lambda: M.PowExpression(pow=M.PowParams(base=positive(), exponent=round(float(g.uniform(0, 2)), 2))),
    ]
    return ops[int(g.integers(0, len(ops)))]()


def test_formula_queries_follow_local_mode(client: QdrantClient, local: QdrantClient, continuous):
    g = rng_for("formula")
    b = Both(client, local, Ctx("formula"))
    pts = []
    for i in range(60):
        p = point(g, i)
        if g.random() < 0.7:
            p.payload["x"] = round(float(g.uniform(-2, 2)), 3)
        pts.append(p)
    b.write("upsert", points=pts)
    for round_ in range(rounds(40)):
        pre = [prefetch(g) for _ in range(int(g.integers(1, 3)))]
        q = M.FormulaQuery(formula=formula_expr(g), defaults={"x": 0.25, "$score[1]": 0.0})
        b.query(f"{round_} formula {q.formula}", prefetch=pre, query=q, offset=int(g.integers(0, 3)))
