"""Groups, MMR, discover / context, order_by, facet and count (docs/qdrant-conventions-3.md §0-§6):
randomized congruence with qdrant-client's local mode, plus hand-checked tests where local mode
differs from the server (§8 there) or where the spec gives exact probes and error texts.

How answers are compared (tolerances and tie rules from test_congruence):
- scored lists: scores position by position (relative 1e-4); a differing id must tie (equal score)
  with the expected one. Local mode is asked for everything (no limit) so a tie group running past
  the page is checked whole.
- groups: vicinity's groups against local mode's complete grouping (every group, every member):
  group best scores position by position, each group's hits as a scored list, lookups per group id.
- MMR: a float64 reference of §3.2 finds the selection steps whose two best candidates are within
  float noise of each other; ids are compared strictly up to the first such step only (after a
  near-tie the two selections legitimately diverge). Local mode is held to the same reference.
- order_by: the spec'd order (§1.4: (value, id) ascending, or both descending for `desc`), computed
  from local mode's records; local mode breaks `desc` ties by id ascending (§8), so its own order
  is not used for `desc`.
- facet: local mode counts every value type without an index; the server counts what its index
  holds (§5.3), so local hits are kept to the indexed type and re-sorted count desc, value asc.

Legacy endpoints the client no longer has (search/groups, recommend/groups, discover) go over raw
HTTP and are compared with local mode's query API equivalents. Seeded by CONGRUENCE_SEED.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional, Sequence

import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

import e2e_support as S
import test_congruence as C
import congruence_support as X
from congruence_support import _announce_seed, http, local, needs_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact", "ignore:Payload indexes have no effect")
nid, FULL, EXACT, DOT, COS, EUC = X.nid, X.FULL, X.EXACT, X.DOT, X.COS, X.EUC

GS = ["a", "b", "c", "d", "e", "f"]
LOOKUP_UUID = str(uuid.UUID(int=0x5A5A, version=4))
KW = ["alpha", "beta", "Gamma", "delta", "epsilon", "ß", "Zeta"]
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


class QGen(C.Gen):
    """test_congruence's generator (filters on n / s / tags / country / ...) with the payload keys
    these tests group, order and facet on."""

    def group_value(self) -> Any:
        k = self.r()
        if k < 0.42:
            return self.pick(GS)
        if k < 0.62:
            return self.i(0, 8)
        if k < 0.78:
            return [self.pick(GS + [0, 1, 2, 3]) for _ in range(self.i(1, 4))]  # duplicates too
        return self.pick([None, True, 2.5, ["c", 1.5], -1, LOOKUP_UUID, [], [None], "missing"])

    def date(self) -> str:
        t = T0 + dt.timedelta(seconds=int(self.i(0, 10 * 86400)), microseconds=int(self.i(0, 10**6)))
        k = self.i(0, 4)
        if k == 0:
            return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if k == 1:
            return t.astimezone(dt.timezone(dt.timedelta(hours=2))).strftime("%Y-%m-%dT%H:%M:%S+02:00")
        if k == 2:
            return t.strftime("%Y-%m-%d %H:%M:%S")  # naive = UTC
        return t.strftime("%Y-%m-%d")

    def qpayload(self) -> dict:
        p = self.payload()
        gv = self.group_value()
        if gv != "missing":
            p["g"] = gv
        k = self.r()
        if k < 0.55:
            p["kw"] = self.pick(KW)
        elif k < 0.75:
            p["kw"] = [self.pick(KW) for _ in range(self.i(0, 4))]
        elif k < 0.82:
            p["kw"] = self.pick([None, 5, ["x", 1.5], True])
        k = self.r()
        if k < 0.55:
            p["ki"] = self.i(-3, 7)
        elif k < 0.72:
            p["ki"] = [self.i(-3, 7) for _ in range(self.i(0, 3))]
        elif k < 0.85:
            p["ki"] = self.pick([None, 2.5, "7", True, 2**40])
        k = self.r()
        if k < 0.6:
            p["oi"] = self.i(-5, 20)
        elif k < 0.75:
            p["oi"] = [self.i(-5, 20) for _ in range(self.i(0, 4))]
        elif k < 0.85:
            p["oi"] = self.pick([None, True, [3, 3]])
        k = self.r()
        if k < 0.6:
            p["of"] = self.i(-5, 20) if self.r() < 0.4 else round(self.r() * 25 - 5, 3)
        elif k < 0.75:
            p["of"] = [round(self.r() * 25 - 5, 1) for _ in range(self.i(0, 3))] + ([5, 5.0] if self.r() < 0.2 else [])
        elif k < 0.85:
            p["of"] = None
        k = self.r()
        if k < 0.65:
            p["od"] = self.date()
        elif k < 0.78:
            p["od"] = [self.date() for _ in range(self.i(0, 3))]
        elif k < 0.85:
            p["od"] = self.pick([None, "not a date", "2024-13-45"])
        return p


class Data:
    """One collection (both sides) of a few hundred points, and its lookup collection."""

    def __init__(self, client: QdrantClient, local: QdrantClient, name: str, distance: M.Distance,
                 n: int = 240, dups: int = 0, lookup: bool = False):
        rng = X.rng_for(name)
        self.dim = int(rng.integers(4, 9))
        self.ctx = X.Ctx(name)
        self.g = QGen(rng, dim=self.dim, paths=False, distance=distance, uuids=False)
        self.ids = X.int_ids(rng, n)
        self.vecs = X.vectors(rng, n, self.dim, dups)
        self.payloads = [self.g.qpayload() for _ in self.ids]
        self.p = X.XPair(client, local, name, self.dim, distance, self.ctx)
        self.ctx.step = "load"
        self.p.load(self.ids, self.vecs, self.payloads)
        self.lk: Optional[str] = None
        if lookup:
            self.lk = name + "_lk"
            for c in (client, local):
                if c.collection_exists(self.lk):
                    c.delete_collection(self.lk)
                c.create_collection(self.lk, vectors_config=M.VectorParams(size=3, distance=DOT))
                c.upsert(self.lk, points=[M.PointStruct(id=i, vector=[float(i), 1.0, -1.0], payload={"name": f"g{i}", "i": i})
                                          for i in (0, 1, 2, 3, 5)]
                         + [M.PointStruct(id=LOOKUP_UUID, vector=[0.5, 0.5, 0.5], payload={"name": "uuid"})], wait=True)

    def drop(self) -> None:
        self.p.drop()
        if self.lk:
            for c in (self.p.v, self.p.l):
                c.delete_collection(self.lk)

    def vector_query(self) -> list:
        return [round(float(x), 4) for x in self.g.rng.standard_normal(self.dim)]


def wire(x: Any) -> Any:
    """A client-side value as JSON for a raw request."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, list):
        return [wire(v) for v in x]
    return X.jdump(x)


# ------------------------------------------------------------------------------------------------
# Groups
# ------------------------------------------------------------------------------------------------


def expected_lookup(local: QdrantClient, lk: str, gid: Any, wl: Any) -> Any:
    """The record a group's lookup shows (§2.5): non-negative integer keys and UUID strings name a
    point of the lookup collection; anything else (or a missing point) gives no lookup."""
    if isinstance(gid, int):
        if gid < 0:
            return None
        pid: Any = gid
    else:
        u = X.parse_uuid(gid)
        if u is None:
            return None
        pid = str(u)
    if isinstance(wl, str):
        wp, wv = True, False
    else:
        wp = True if wl.with_payload is None else wl.with_payload
        wv = False if wl.with_vectors is None else wl.with_vectors
    recs = local.retrieve(lk, [pid], with_payload=wp, with_vectors=wv)
    return recs[0] if recs else None


def cmp_groups(got: Sequence, full: Sequence, limit: int, size: int, ctx: Any, what: str,
               lookup: Any = None, local: Optional[QdrantClient] = None, lk: Optional[str] = None) -> None:
    """`got` (vicinity, `limit` groups of at most `size`) against `full`, local mode's answer with
    every group and every member. Groups are ordered by their best hit; groups whose best hits tie
    may swap or be cut differently."""
    ref = {X.gkey(g.id): g for g in full}
    exp_n = min(limit, len(full))
    desc = f"{what}\n vicinity: {[(g.id, X.ids_of(g.hits)) for g in got]}\n local:    {[(g.id, X.ids_of(g.hits)[:size]) for g in full[:limit + 2]]}"
    assert len(got) == exp_n, f"{ctx} {desc}: {len(got)} groups, expected {exp_n}"
    keys = [X.gkey(g.id) for g in got]
    assert len(set(keys)) == len(keys), f"{ctx} {desc}: a group twice"
    for i, g in enumerate(got):
        assert X.gkey(g.id) in ref, f"{ctx} {desc}: group {g.id!r} does not exist"
        assert g.hits, f"{ctx} {desc}: group {g.id!r} without hits"
        assert X.score_close(g.hits[0].score, full[i].hits[0].score), (
            f"{ctx} {desc}: group #{i} ({g.id!r}) best score {g.hits[0].score}, expected {full[i].hits[0].score}")
        C.cmp_scored(g.hits, ref[X.gkey(g.id)].hits, 0, size, ctx, f"{what}: hits of group {g.id!r}")
        if lookup is None:
            assert g.lookup is None, f"{ctx} {what}: group {g.id!r} has a lookup {g.lookup}"
        else:
            e = expected_lookup(local, lk, g.id, lookup)
            if e is None:
                assert g.lookup is None, f"{ctx} {what}: group {g.id!r}: lookup {g.lookup}, expected none"
            else:
                assert g.lookup is not None and nid(g.lookup.id) == nid(e.id), f"{ctx} {what}: group {g.id!r}: lookup {g.lookup}, expected {e}"
                assert X.canon(g.lookup.payload) == X.canon(e.payload), f"{ctx} {what}: lookup payload {g.lookup.payload} vs {e.payload}"
                assert X.vec_close(g.lookup.vector, e.vector), f"{ctx} {what}: lookup vector {g.lookup.vector} vs {e.vector}"


def random_lookup(g: QGen, lk: str) -> Any:
    k = g.r()
    if k < 0.35:
        return None
    if k < 0.55:
        return lk
    return M.WithLookup(collection=lk, with_payload=g.pick([True, False, ["name"], None]),
                        with_vectors=g.pick([True, False, None]))


@pytest.mark.parametrize("distance", X.DISTANCES, ids=X.dist_id)
def test_groups_random(client: QdrantClient, local: QdrantClient, http, distance: M.Distance):
    """query_points_groups with nearest (vector and id), recommend (three strategies) and discover
    queries, random group_by keys (strings, integers, arrays of both, and values that drop a point:
    bool, float, null, `[null]`, `["c", 1.5]`), filters, limits, group sizes and payload selectors,
    with and without with_lookup (string and object forms). With a server also the legacy
    search/groups and recommend/groups endpoints (raw HTTP) for the same requests (§2)."""
    d = Data(client, local, f"cq_groups_{X.dist_id(distance)}", distance, dups=12, lookup=True)
    g, p = d.g, d.p
    for i in range(X.rounds(16)):
        kind = g.pick(["vector", "vector", "id", "recommend", "recommend", "discover"])
        if kind == "vector":
            q: Any = d.vector_query()
        elif kind == "id":
            q = g.pick(d.ids)
        elif kind == "recommend":
            strategy = g.pick([M.RecommendStrategy.AVERAGE_VECTOR, M.RecommendStrategy.BEST_SCORE,
                               M.RecommendStrategy.SUM_SCORES])
            pos = [g.pick(d.ids) for _ in range(g.i(1, 3))]
            neg = [g.pick(d.ids) if g.r() < 0.7 else d.vector_query() for _ in range(g.i(0, 3))]
            q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos, negative=neg or None, strategy=strategy))
        else:
            q = M.DiscoverQuery(discover=M.DiscoverInput(target=d.vector_query(), context=[
                M.ContextPair(positive=g.pick(d.ids), negative=g.pick(d.ids))]))
        key = g.pick(["g", "g", "g", "kw", "ki", "tags", "country.name"])
        f = g.maybe_filter(0.3)
        limit, size = g.i(1, 9), g.i(1, 5)
        wp = g.with_payload()
        wl = random_lookup(g, d.lk)
        # now and then a score_threshold half-way between two well-separated scores (test_congruence)
        th = C.pick_threshold(p, g, q, f) if kind in ("vector", "recommend") else None
        d.ctx.step = f"#{i} groups by {key} of {q} (limit {limit}, group_size {size}, filter {f}, lookup {wl}, threshold {th})"
        got = client.query_points_groups(p.name, query=q, group_by=key, limit=limit, group_size=size, query_filter=f,
                                         with_payload=wp, with_lookup=wl, search_params=EXACT, score_threshold=th).groups
        full = local.query_points_groups(p.name, query=q, group_by=key, limit=FULL, group_size=FULL, query_filter=f,
                                         with_payload=wp, score_threshold=th).groups
        cmp_groups(got, full, limit, size, d.ctx, "query groups", wl, local, d.lk)
        if http is None or kind not in ("vector", "recommend"):
            continue
        body: dict = {"group_by": key, "limit": limit, "group_size": size, "with_payload": wire(wp),
                      "params": {"exact": True}}
        if f is not None:
            body["filter"] = X.jdump(f)
        if wl is not None:
            body["with_lookup"] = wire(wl)
        if th is not None:
            body["score_threshold"] = th
        if kind == "vector":
            route, body["vector"] = "search/groups", q
        else:
            route = "recommend/groups"
            body.update(positive=q.recommend.positive, negative=wire(q.recommend.negative or []),
                        strategy=q.recommend.strategy.value)
        res = X.ok(http.post(f"/collections/{p.name}/points/{route}", json=body))
        legacy = [M.PointGroup.model_validate(x) for x in res["groups"]]
        cmp_groups(legacy, full, limit, size, d.ctx, f"legacy {route}", wl, local, d.lk)
    d.drop()


def test_groups_probe(client: QdrantClient, local: QdrantClient):
    """The §2.6 probe: keys, arrays flattened, a point in several groups, points dropped whole for a
    bad value; group_size and limit; the lookup of §2.5 (only group 3 finds a point). Local mode
    agrees here; both are checked against the spec's answer."""
    name, lk = "cq_groups_probe", "cq_groups_probe_lk"
    ctx = X.Ctx(name)
    p = X.XPair(client, local, name, 2, DOT, ctx)
    rows = [(1, [1.0, 0], {"g": "a"}), (2, [0.9, 0], {"g": "b"}), (3, [0.8, 0], {"g": ["a", "b"]}),
            (4, [0.7, 0], {"g": "b"}), (5, [0.6, 0], {"g": 3}), (6, [0.55, 0], {"g": True}),
            (7, [0.5, 0], {"g": None}), (8, [0.45, 0], {}), (9, [0.4, 0], {"g": 2.5}), (10, [0.95, 0], {"g": ["c", 1.5]})]
    p.write("upsert", points=[M.PointStruct(id=i, vector=v, payload=pl) for i, v, pl in rows])
    for c in (client, local):
        if c.collection_exists(lk):
            c.delete_collection(lk)
        c.create_collection(lk, vectors_config=M.VectorParams(size=2, distance=DOT))
        c.upsert(lk, points=[M.PointStruct(id=3, vector=[1.0, 1.0], payload={"name": "three"})])
    for c, side in ((client, "vicinity"), (local, "local")):
        res = c.query_points_groups(name, query=[1.0, 0.0], group_by="g", group_size=2, limit=10, with_payload=False).groups
        assert [(x.id, X.ids_of(x.hits)) for x in res] == [("a", [1, 3]), ("b", [2, 3]), (3, [5])], f"{side}: {res}"
        res = c.query_points_groups(name, query=[1.0, 0.0], group_by="g", group_size=1, limit=2).groups
        assert [(x.id, X.ids_of(x.hits)) for x in res] == [("a", [1]), ("b", [2])], f"{side}: {res}"
        res = c.query_points_groups(name, query=[1.0, 0.0], group_by="g", group_size=2, limit=10,
                                    with_lookup=M.WithLookup(collection=lk, with_payload=False, with_vectors=True)).groups
        looks = {x.id: x.lookup for x in res}
        assert looks["a"] is None and looks["b"] is None, f"{side}: {res}"
        assert nid(looks[3].id) == 3 and looks[3].payload is None and X.vec_close(looks[3].vector, [1.0, 1.0]), f"{side}: {looks[3]}"
        res = c.query_points_groups(name, query=[1.0, 0.0], group_by="g", group_size=2, limit=10, with_lookup=lk).groups
        assert {x.id: (x.lookup.payload if x.lookup else None) for x in res} == {"a": None, "b": None, 3: {"name": "three"}}, f"{side}"
        assert all(x.lookup is None or x.lookup.vector is None for x in res), f"{side}: string lookup has no vectors"
    for c in (client, local):
        c.delete_collection(lk)
    p.drop()


@needs_server
def test_groups_errors(client: QdrantClient, http):
    """Raw HTTP (§2.1, §2.5): group_by missing → 400 naming it; group_size / limit 0 → 422 with the
    request's path prefix; a with_lookup collection that does not exist → 404 `Collection ... not
    found`; the legacy endpoints require group_size and limit."""
    name = "cq_groups_err"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=DOT))
    client.upsert(name, points=[M.PointStruct(id=1, vector=[1.0, 0.0], payload={"g": "a"})])
    base = f"/collections/{name}/points"
    X.err(http.post(f"{base}/query/groups", json={"query": [1, 0]}), 400, "group_by")
    X.err(http.post(f"{base}/query/groups", json={"query": [1, 0], "group_by": "g", "group_size": 0}), 422,
          "group_size: value 0 invalid, must be 1 or larger")
    X.err(http.post(f"{base}/search/groups", json={"vector": [1, 0], "group_by": "g", "group_size": 0, "limit": 3}), 422,
          "search_group_request.group_request.group_size: value 0 invalid, must be 1 or larger")
    X.err(http.post(f"{base}/search/groups", json={"vector": [1, 0], "group_by": "g", "group_size": 2}), 400, "limit")
    X.err(http.post(f"{base}/query/groups", json={"query": [1, 0], "group_by": "g", "with_lookup": "cq_nope_lk"}), 404,
          "Collection cq_nope_lk not found")
    res = X.ok(http.post(f"{base}/query/groups", json={"query": [1, 0], "group_by": "g"}))
    assert [(x["id"], [h["id"] for h in x["hits"]]) for x in res["groups"]] == [("a", [1])], res
    assert "lookup" not in res["groups"][0] and "payload" not in res["groups"][0]["hits"][0], res
    client.delete_collection(name)


# ------------------------------------------------------------------------------------------------
# MMR
# ------------------------------------------------------------------------------------------------


def raw_sim(a: np.ndarray, b: np.ndarray, distance: M.Distance) -> np.ndarray:
    """§0.1 raw similarity (larger is better) of the rows of `a` with `b`."""
    if distance == EUC:
        return -((a - b) ** 2).sum(axis=-1)
    return a @ b


def stored(v: Sequence, distance: M.Distance) -> np.ndarray:
    x = np.asarray(v, dtype=np.float64)
    if distance == COS:
        n = np.sqrt((x * x).sum())
        x = x / (n if n > 0 else 1.0)
    return x


def mmr_reference(pool_vecs: np.ndarray, qv: np.ndarray, diversity: float, n: int, distance: M.Distance) -> tuple:
    """The §3.2 selection over the candidate pool (rows of pool_vecs, nearest first): returns the
    selected row indexes and, per step, the gap between the best and second-best MMR value."""
    lam = 1.0 - diversity
    rel = raw_sim(pool_vecs, qv, distance)
    m = len(pool_vecs)
    if m < 2:
        return list(range(m)), [float("inf")] * m
    order = [int(np.argmax(rel))]
    srt = np.sort(rel)[::-1]
    gaps = [float(srt[0] - srt[1])]
    maxsim = raw_sim(pool_vecs, pool_vecs[order[0]], distance)
    left = [j for j in range(m) if j != order[0]]
    while left and len(order) < n:
        vals = lam * rel[left] - (1 - lam) * maxsim[left]
        k = int(np.argmax(vals))
        s = np.sort(vals)[::-1]
        gaps.append(float(s[0] - s[1]) if len(s) > 1 else float("inf"))
        pick = left.pop(k)
        order.append(pick)
        maxsim = np.maximum(maxsim, raw_sim(pool_vecs, pool_vecs[pick], distance))
    return order, gaps


def check_mmr(d: Data, q: Any, diversity: float, cand: Optional[int], limit: int, offset: int,
              f: Optional[M.Filter], th: Optional[float] = None) -> int:
    """One MMR query on both sides against the reference; returns how many positions were
    compared strictly (before the first near-tie)."""
    p, distance = d.p, d.p.distance
    mq = M.NearestQuery(nearest=q, mmr=M.Mmr(diversity=diversity, candidates_limit=cand))
    got = p.v.query_points(p.name, query=mq, limit=limit, offset=offset or None, query_filter=f, search_params=EXACT,
                           score_threshold=th).points
    loc = p.l.query_points(p.name, query=mq, limit=limit, offset=offset or None, query_filter=f, score_threshold=th).points
    size = cand if cand is not None else limit + offset
    # the candidate pool: nearest with the request's filter and score_threshold (§3.2 step 1)
    pool = p.l.query_points(p.name, query=q, limit=size + 1, query_filter=f, with_vectors=True, score_threshold=th).points
    what = f"MMR {mq} (limit {limit}, offset {offset}, filter {f}, threshold {th})"
    boundary_tie = len(pool) > size and X.score_close(pool[size - 1].score, pool[size].score)
    pool = pool[:size]
    if isinstance(q, list):
        qv = stored(q, distance)
    else:
        qv = stored(p.l.retrieve(p.name, [q], with_vectors=True)[0].vector, distance)
    vecs = np.array([stored(x.vector, distance) for x in pool]) if pool else np.zeros((0, d.dim))
    order, gaps = mmr_reference(vecs, qv, diversity, limit + offset, distance)
    ref_ids = [nid(pool[j].id) for j in order][offset:offset + limit]
    scale = 1.0 + float(np.abs(raw_sim(vecs, qv, distance)).max()) if len(vecs) else 1.0
    near = [k for k, gap in enumerate(gaps) if gap <= 1e-4 * scale]
    strict = len(ref_ids) if not near else max(0, near[0] - offset)
    if boundary_tie:
        strict = 0
    pool_ids = {nid(x.id) for x in pool}
    # Local mode's default candidates_limit is `limit`, without the offset (the spec: limit + offset,
    # §3.1); with an offset and no candidates_limit only vicinity is held to the reference.
    sides = [("vicinity", got), ("local", loc)] if cand is not None or not offset else [("vicinity", got)]
    if S.LOCAL_MODE and cand is None and offset:  # (the self-test's "vicinity" is local mode)
        sides = []
    for side, res in sides:
        ids = X.ids_of(res)
        assert len(ids) == len(ref_ids), f"{d.ctx} {what}: {side} gave {len(ids)} results, expected {len(ref_ids)}: {ids} vs {ref_ids}"
        assert len(set(ids)) == len(ids) and set(ids) <= pool_ids, f"{d.ctx} {what}: {side} {ids} not distinct candidates"
        assert ids[:strict] == ref_ids[:strict], (
            f"{d.ctx} {what}: {side} selection {ids} differs from the reference {ref_ids} before any near-tie (first at {near[:1]})")
    assert all(x.vector is None for x in got), f"{d.ctx} {what}: the vectors MMR used were not stripped (§3.2 step 10)"
    by_id = {nid(x.id): x for x in pool}
    for x in got:  # reported score = the candidate's nearest score (post-processed)
        assert X.score_close(x.score, by_id[nid(x.id)].score), f"{d.ctx} {what}: id {nid(x.id)} score {x.score}, nearest score {by_id[nid(x.id)].score}"
    if isinstance(q, (int, str)):
        assert nid(q) not in X.ids_of(got), f"{d.ctx} {what}: the example itself was returned"
    return strict


@pytest.mark.parametrize("distance", X.DISTANCES, ids=X.dist_id)
def test_mmr_random(client: QdrantClient, local: QdrantClient, distance: M.Distance):
    """NearestQuery with mmr: diversity 0..1 (0 = plain nearest, 1 = pure diversity), candidates_limit
    below / at / above limit and absent, offsets, filters, query by vector and by id (§3)."""
    d = Data(client, local, f"cq_mmr_{X.dist_id(distance)}", distance, n=200)
    g = d.g
    strict = 0
    for i in range(X.rounds(16)):
        q = d.vector_query() if g.r() < 0.75 else g.pick(d.ids)
        diversity = g.pick([0.0, 0.25, 0.5, 0.5, 0.8, 1.0, round(g.r(), 3)])
        limit = g.i(1, 10)
        offset = g.i(0, 4) if g.r() < 0.3 else 0
        cand = g.pick([None, limit, limit + offset + g.i(0, 40), g.i(1, 6), 100])
        f = g.maybe_filter(0.3)
        th = C.pick_threshold(d.p, g, q, f)
        d.ctx.step = f"#{i}"
        strict += check_mmr(d, q, diversity, cand, limit, offset, f, th)
    assert strict >= X.rounds(16) * 2, f"only {strict} positions compared strictly: the random cases are too tie-prone"
    d.drop()


def test_mmr_probe(client: QdrantClient, local: QdrantClient):
    """The §3.3 probes: selection order is not score order, scores are the nearest scores,
    candidates_limit defaults to limit and caps the answer, diversity 0 = nearest; per distance.
    And the Qdrant unit-test expectation (Euclid, λ 1 / 0.5 / 0.01)."""
    pts = {1: [1, 0], 2: [0, 1], 3: [1, 1], 4: [-1, 0], 5: [0.5, 0.2], 6: [2, 2]}
    cases = {
        DOT: [(0.5, 6, 3, [(6, 2.0), (4, -1.0), (5, 0.5)]), (1.0, 6, 3, [(6, 2.0), (4, -1.0), (5, 0.5)]),
              (0.0, 6, 3, [(6, 2.0), (1, 1.0), (3, 1.0)]), (0.5, None, 3, [(6, 2.0), (1, 1.0), (3, 1.0)]),
              (0.5, 2, 3, [(6, 2.0), (3, 1.0)])],
        EUC: [(0.5, 6, 3, [(1, 0.0), (4, 2.0), (2, 1.41421)])],
        COS: [(0.5, 6, 3, [(1, 1.0), (2, 0.0), (3, 0.70711)])],
    }
    for distance, rows in cases.items():
        name = f"cq_mmr_probe_{X.dist_id(distance)}"
        p = X.XPair(client, local, name, 2, distance, X.Ctx(name))
        p.write("upsert", points=[M.PointStruct(id=i, vector=v) for i, v in pts.items()])
        for div, cand, limit, exp in rows:
            q = M.NearestQuery(nearest=[1.0, 0.0], mmr=M.Mmr(diversity=div, candidates_limit=cand))
            for side, c in (("vicinity", client), ("local", local)):
                got = [(nid(x.id), x.score) for x in c.query_points(name, query=q, limit=limit).points]
                # points that tie exactly as candidates may stand in for each other (Dot: 1 and 3
                # both score 1.0; Cosine: 3 and 6 are the same direction)
                tok = {DOT: {3: 1}, COS: {6: 3}, EUC: {}}[distance]
                same = len(got) == len(exp) and all(
                    tok.get(a, a) == tok.get(b, b) and abs(s - t) < 1e-4 for (a, s), (b, t) in zip(got, exp))
                assert same, f"{name} {q} limit {limit}: {side} {got}, expected {exp}"
        p.drop()
    name = "cq_mmr_unit"
    p = X.XPair(client, local, name, 2, EUC, X.Ctx(name))
    p.write("upsert", points=[M.PointStruct(id=i, vector=v) for i, v in
                              {1: [1, 0.05], 2: [0.95, 0.15], 3: [0.8, 0], 4: [0.85, 0.25], 5: [1, 0.5]}.items()])
    for lam, exp in ((1.0, [1, 2, 3]), (0.5, [1, 3, 2]), (0.01, [1, 5, 4])):
        q = M.NearestQuery(nearest=[1.0, 0.0], mmr=M.Mmr(diversity=round(1 - lam, 6), candidates_limit=5))
        for side, c in (("vicinity", client), ("local", local)):
            assert X.ids_of(c.query_points(name, query=q, limit=3).points) == exp, f"{side} λ={lam}"
    p.drop()


@needs_server
def test_mmr_validation(client: QdrantClient, http):
    """§3.1 / §8: the server's 422 wording (local mode raises its own messages): diversity outside
    [0, 1] and candidates_limit above 16384 (in a prefetch too); a negative candidates_limit is a
    400 body error."""
    name = "cq_mmr_val"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=DOT))
    client.upsert(name, points=[M.PointStruct(id=1, vector=[1.0, 0.0])])
    url = f"/collections/{name}/points/query"
    X.err(http.post(url, json={"query": {"nearest": [1, 0], "mmr": {"diversity": 1.5}}}), 422,
          "internal.query.mmr.diversity: value 1.5 invalid, must be from 0.0 to 1.0")
    X.err(http.post(url, json={"query": {"nearest": [1, 0], "mmr": {"diversity": -0.5}}}), 422,
          "internal.query.mmr.diversity")
    X.err(http.post(url, json={"query": {"nearest": [1, 0], "mmr": {"candidates_limit": 20000}}}), 422,
          "internal.query.mmr.candidates_limit: value 20000 invalid, must be 16384 or smaller")
    X.err(http.post(url, json={"prefetch": [{"query": {"nearest": [1, 0], "mmr": {"diversity": 2}}}], "query": [1, 0]}),
          422, "internal.prefetch[0].query.mmr.diversity: value 2 invalid, must be from 0.0 to 1.0")
    X.err(http.post(url, json={"query": {"nearest": [1, 0], "mmr": {"candidates_limit": -1}}}), 400)
    res = X.ok(http.post(url, json={"query": {"nearest": [1, 0], "mmr": {}}}))
    assert [x["id"] for x in res["points"]] == [1], res
    client.delete_collection(name)


# ------------------------------------------------------------------------------------------------
# Discover and context
# ------------------------------------------------------------------------------------------------


def example(d: Data) -> Any:
    return d.g.pick(d.ids) if d.g.r() < 0.6 else d.vector_query()


@pytest.mark.parametrize("distance", X.DISTANCES, ids=X.dist_id)
def test_discover_context_random(client: QdrantClient, local: QdrantClient, http, distance: M.Distance):
    """DiscoverQuery (target plus 0-3 pairs) and ContextQuery (1-3 pairs), ids and raw vectors as
    examples, filters, limits, offsets, payload selectors: scores (raw, descending for every metric:
    §4.2) and ids compared with local mode, referenced ids never returned (§0.4). With a server also
    the legacy POST /points/discover for the same requests (§4.3)."""
    d = Data(client, local, f"cq_disc_{X.dist_id(distance)}", distance, n=200)
    g, p = d.g, d.p
    for i in range(X.rounds(20)):
        pairs = [(example(d), example(d)) for _ in range(g.i(0, 4))]
        ctxp = [M.ContextPair(positive=a, negative=b) for a, b in pairs]
        if g.r() < 0.6 or not pairs:
            target = example(d)
            q: Any = M.DiscoverQuery(discover=M.DiscoverInput(target=target, context=ctxp))
        else:
            target = None
            q = M.ContextQuery(context=ctxp)
        f = g.maybe_filter(0.3)
        limit, offset, wp = g.i(1, 12), (g.i(0, 5) if g.r() < 0.3 else 0), g.with_payload()
        d.ctx.step = f"#{i} {q}"
        got = p.check_query(q, f, limit, offset, wp, False, what="discover" if target is not None else "context")
        refs = {x for x in [target] + [y for pr in pairs for y in pr] if isinstance(x, int)}
        assert not refs & set(X.ids_of(got)), f"{d.ctx}: a referenced id was returned"
        if http is None:
            continue
        body: dict = {"limit": limit, "offset": offset, "with_payload": wire(wp), "params": {"exact": True},
                      "context": [{"positive": a, "negative": b} for a, b in pairs]}
        if target is not None:
            body["target"] = target
        if f is not None:
            body["filter"] = X.jdump(f)
        res = X.ok(http.post(f"/collections/{p.name}/points/discover", json=body))
        ext = local.query_points(p.name, query=q, query_filter=f, limit=FULL, with_payload=wp).points
        C.cmp_scored([M.ScoredPoint.model_validate(x) for x in res], ext, offset, limit, d.ctx, f"legacy discover {body}")
    d.drop()


def test_discover_probe(client: QdrantClient, local: QdrantClient):
    """The §4.2 worked examples (Dot and Euclid discovery scores, context score), and the §4.2
    example request's answer."""
    pts = {1: [1, 0], 2: [0, 1], 3: [1, 1], 4: [-1, 0], 5: [0.5, 0.2], 6: [2, 2]}
    pair = [M.ContextPair(positive=[1.0, 1.0], negative=[-1.0, 0.0])]
    disc = M.DiscoverQuery(discover=M.DiscoverInput(target=[1.0, 0.0], context=pair))
    for distance, expect in ((DOT, {6: 1.83333, 4: -0.75, 3: 1.75, 1: 1.75}), (EUC, {5: 1.3876})):
        name = f"cq_disc_probe_{X.dist_id(distance)}"
        p = X.XPair(client, local, name, 2, distance, X.Ctx(name))
        p.write("upsert", points=[M.PointStruct(id=i, vector=v) for i, v in pts.items()])
        for side, c in (("vicinity", client), ("local", local)):
            got = {nid(x.id): x.score for x in c.query_points(name, query=disc, limit=10).points}
            for pid, s in expect.items():
                assert abs(got[pid] - s) < 1e-4, f"{name} {side}: id {pid} score {got[pid]}, expected {s}"
            res = c.query_points(name, query=disc, limit=10).points
            assert [x.score for x in res] == sorted([x.score for x in res], reverse=True), f"{side}: not descending"
            if distance == DOT:
                top = [(nid(x.id), round(x.score, 4)) for x in c.query_points(name, query=disc, limit=3).points]
                assert top[0] == (6, 1.8333) and sorted(top[1:]) == [(1, 1.75), (3, 1.75)], f"{side}: {top}"
                ctx_scores = {nid(x.id): x.score for x in c.query_points(name, query=M.ContextQuery(context=pair), limit=10).points}
                assert abs(ctx_scores[4] + 0.66667) < 1e-4, f"{side}: context score of 4: {ctx_scores[4]}"
                assert all(abs(s) < 1e-6 for pid, s in ctx_scores.items() if pid != 4), f"{side}: {ctx_scores}"
        p.drop()


@needs_server
def test_discover_errors_and_empty_context(client: QdrantClient, local: QdrantClient, http):
    """Legacy discover: neither target nor context → 400 `target and/or context_pairs must be
    specified`; an unknown example id → 404 `No point with id`; limit 0 → 422 `discover_request.`
    (§4.3). Query API: an unknown example id → 404 `Vector with name "" for point not found`
    (§0.4); a context query with no pairs passes (local mode rejects it: §8) and — the spec's
    recommendation — scores every point 0.0."""
    name = "cq_disc_err"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=DOT))
    client.upsert(name, points=[M.PointStruct(id=i, vector=[float(i), 1.0]) for i in (1, 2, 3)])
    base = f"/collections/{name}/points"
    X.err(http.post(f"{base}/discover", json={"limit": 3}), 400, "Bad request: target and/or context_pairs must be specified")
    X.err(http.post(f"{base}/discover", json={"limit": 3, "context": []}), 400, "target and/or context_pairs must be specified")
    X.err(http.post(f"{base}/discover", json={"limit": 3, "target": 777}), 404, "No point with id 777 found")
    X.err(http.post(f"{base}/discover", json={"limit": 0, "target": 1}), 422, "discover_request.limit")
    X.err(http.post(f"{base}/query", json={"query": {"discover": {"target": 777, "context": []}}}), 404,
          'Vector with name "" for point')
    res = X.ok(http.post(f"{base}/query", json={"query": {"context": []}, "limit": 10}))
    assert sorted(x["id"] for x in res["points"]) == [1, 2, 3] and all(x["score"] == 0.0 for x in res["points"]), res
    res = X.ok(http.post(f"{base}/discover", json={"limit": 3, "target": 1}))
    assert [x["id"] for x in res] == [3, 2], res  # the target itself is excluded
    client.delete_collection(name)


# ------------------------------------------------------------------------------------------------
# order_by
# ------------------------------------------------------------------------------------------------

ORDER_KEYS = {"oi": M.PayloadSchemaType.INTEGER, "of": M.PayloadSchemaType.FLOAT, "od": M.PayloadSchemaType.DATETIME}


def spec_order(records: Sequence, direction: Optional[str]) -> list:
    """(id, value) pairs of an order_by answer in the spec'd order (§1.3-§1.4): one entry per
    distinct (value, id), by (value, id) ascending, or both descending for `desc`."""
    pairs = {(float(x.order_value), nid(x.id)) for x in records if x.order_value is not None}
    return [(i, v) for v, i in sorted(pairs, reverse=direction == "desc")]


def random_start(g: QGen, key: str) -> Any:
    if g.r() < 0.55:
        return None
    if key == "od":
        return T0 + dt.timedelta(seconds=int(g.i(0, 10 * 86400)))
    return g.i(-5, 20) if key == "oi" or g.r() < 0.5 else round(g.r() * 25 - 5, 2)


def test_order_by_random(client: QdrantClient, local: QdrantClient):
    """order_by in scroll and in query over an integer, a float and a datetime range index: asc and
    desc, start_from (number / datetime), filters, limits, query offsets; arrays give one entry per
    value (§1.3); order values and ids against local mode's records put in the spec'd order (§1.4:
    ties by id ascending for asc, descending for desc). Local mode's own tie order is not used: it
    is id ascending for `desc` (§8) and, for `asc`, the order points were stored in (not by id, as
    §1.4 says). Scroll returns payloads by default and no next_page_offset; query hits have score 1.0."""
    d = Data(client, local, "cq_order", DOT, n=220)
    g, p = d.g, d.p
    for key, schema in ORDER_KEYS.items():
        p.index(key, schema)
    for i in range(X.rounds(30)):
        key = g.pick(list(ORDER_KEYS))
        direction = g.pick([None, "asc", "desc"])
        ob = M.OrderBy(key=key, direction=direction, start_from=random_start(g, key))
        f = g.maybe_filter(0.3)
        limit = g.i(1, 40)
        d.ctx.step = f"#{i} {ob} filter {f} limit {limit}"
        full, _ = local.scroll(p.name, order_by=ob, scroll_filter=f, limit=FULL, with_payload=True)
        exp = spec_order(full, direction)
        payload_of = {nid(x.id): x.payload for x in full}
        if g.r() < 0.5:
            got, nxt = client.scroll(p.name, order_by=ob if g.r() < 0.8 or direction or ob.start_from is not None else key,
                                     scroll_filter=f, limit=limit)
            assert nxt is None, f"{d.ctx}: next_page_offset {nxt} with order_by"
            assert all(X.canon(x.payload) == X.canon(payload_of[nid(x.id)]) for x in got), f"{d.ctx}: payloads"
            offset = 0
        else:
            offset = g.i(0, 6) if g.r() < 0.4 else 0
            got = client.query_points(p.name, query=M.OrderByQuery(order_by=ob), query_filter=f, limit=limit,
                                      offset=offset or None).points
            assert all(x.score == 1.0 for x in got), f"{d.ctx}: scores {[x.score for x in got]}"
            assert all(X.canon(x.payload) == X.canon(payload_of[nid(x.id)]) for x in got), f"{d.ctx}: payloads"
        pairs = [(nid(x.id), float(x.order_value)) for x in got]
        want = exp[offset:offset + limit]
        if S.LOCAL_MODE:  # (self-test: local mode does not order ties by id, §8)
            pairs, want = [v for _, v in pairs], [v for _, v in want]
        assert pairs == want, f"{d.ctx}:\n vicinity: {pairs}\n expected: {want}"
        if key == "oi" or key == "od":
            assert all(isinstance(x.order_value, int) for x in got), f"{d.ctx}: integer order values expected: {got[:3]}"
        elif not S.LOCAL_MODE:  # a float index prints floats, 5.0 for 5 (§0.2, §1.3)
            assert all(isinstance(x.order_value, float) for x in got), f"{d.ctx}: float order values expected: {got[:3]}"
    d.drop()


@needs_server
def test_order_by_server_rules(client: QdrantClient, local: QdrantClient, http):
    """§1.2-§1.6 and §8, where local mode differs or the spec has a probe:
    no index / a keyword index → 400 `No range index for `order_by` key`; points lacking the key are
    not returned; `desc` ties by id descending; scroll `offset` + order_by → 400; the §1.5 example
    and its next page; integer order values for an integer index, floats for a float index (2.5
    then included), microseconds for a datetime index; score_threshold with order_by → 400."""
    name = "cq_order_rules"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=DOT))
    client.upsert(name, points=[
        M.PointStruct(id=1, vector=[1, 0], payload={"n": 5, "f": 5, "k": "x", "d": "2024-01-01T00:00:00Z"}),
        M.PointStruct(id=2, vector=[1, 0], payload={"n": [1, 7], "f": [1, 7], "d": "2024-01-01T01:00:00+02:00"}),
        M.PointStruct(id=3, vector=[1, 0], payload={"n": 5, "f": 5.0, "d": "2024-01-01"}),
        M.PointStruct(id=4, vector=[1, 0], payload={"k": "y"}),
        M.PointStruct(id=5, vector=[1, 0], payload={"n": 2.5, "f": 2.5, "d": 1704067200}),
    ], wait=True)
    base = f"/collections/{name}/points"
    for key in ("n", "k"):
        X.err(http.post(f"{base}/scroll", json={"order_by": key}), 400, "No range index for `order_by` key")
        X.err(http.post(f"{base}/query", json={"query": {"order_by": key}}), 400, "No range index for `order_by` key")
    client.create_payload_index(name, "k", M.PayloadSchemaType.KEYWORD, wait=True)
    X.err(http.post(f"{base}/scroll", json={"order_by": "k"}), 400, "No range index for `order_by` key")
    client.create_payload_index(name, "n", M.PayloadSchemaType.INTEGER, wait=True)
    client.create_payload_index(name, "f", M.PayloadSchemaType.FLOAT, wait=True)
    client.create_payload_index(name, "d", M.PayloadSchemaType.DATETIME, wait=True)

    def scroll(body: dict) -> list:
        res = X.ok(http.post(f"{base}/scroll", json={"with_payload": False, **body}))
        assert res["next_page_offset"] is None, res
        return [(x["id"], x["order_value"]) for x in res["points"]]

    got = scroll({"order_by": {"key": "n", "direction": "desc"}, "limit": 3})
    assert got == [(2, 7), (3, 5), (1, 5)], got
    got = scroll({"order_by": {"key": "n", "direction": "desc", "start_from": 5}, "filter": {"must_not": [{"has_id": [1, 3]}]}})
    assert got == [(2, 1)], got
    got = scroll({"order_by": "n", "limit": 10})
    assert got == [(2, 1), (1, 5), (3, 5), (2, 7)], got  # 2.5 is not in an integer index; id 4 lacks n
    assert all(isinstance(v, int) for _, v in got), got
    got = scroll({"order_by": {"key": "f"}, "limit": 10})
    assert got == [(2, 1.0), (5, 2.5), (1, 5.0), (3, 5.0), (2, 7.0)] and all(isinstance(v, float) for _, v in got), got
    got = scroll({"order_by": {"key": "d", "start_from": "2024-01-01T00:00:00Z"}, "limit": 10})
    assert got == [(1, 1704067200000000), (3, 1704067200000000)], got  # the +02:00 value is 23:00 the day before
    got = scroll({"order_by": {"key": "d", "direction": "desc"}, "limit": 10})
    assert got == [(3, 1704067200000000), (1, 1704067200000000), (2, 1704063600000000)], got
    X.err(http.post(f"{base}/scroll", json={"order_by": "n", "offset": 1}), 400, "Cannot use an `offset` when using `order_by`")
    X.err(http.post(f"{base}/scroll", json={"order_by": {"key": "n", "direction": "DESC"}}), 400)
    res = X.ok(http.post(f"{base}/query", json={"query": {"order_by": "n"}, "limit": 2, "offset": 1}))
    assert [(x["id"], x["order_value"], x["score"]) for x in res["points"]] == [(1, 5, 1.0), (3, 5, 1.0)], res
    X.err(http.post(f"{base}/query", json={"query": {"order_by": "n"}, "score_threshold": 0.5}), 400,
          "Can't use score_threshold with an order_by query")
    client.delete_collection(name)


# ------------------------------------------------------------------------------------------------
# Facet and count
# ------------------------------------------------------------------------------------------------


def spec_facet(local_hits: Sequence, typ: type, limit: int) -> list:
    hits = [(h.value, h.count) for h in local_hits if type(h.value) is typ]
    return sorted(hits, key=lambda vc: (-vc[1], vc[0]))[:limit]


def test_facet_and_count_random(client: QdrantClient, local: QdrantClient):
    """facet over a keyword and an integer index (values of other types in the data are not in
    the index and not counted: §5.3), with filters, limits and exact true/false; count with exact
    true (against local mode) and exact false without a filter (the exact number: §6)."""
    d = Data(client, local, "cq_facet", COS, n=260)
    g, p = d.g, d.p
    p.index("kw", M.PayloadSchemaType.KEYWORD)
    p.index("ki", M.PayloadSchemaType.INTEGER)
    for i in range(X.rounds(30)):
        key = g.pick(["kw", "ki"])
        f = g.maybe_filter(0.5)
        exact = g.r() < 0.5
        limit = g.i(1, 12)
        d.ctx.step = f"#{i} facet {key} filter {f} limit {limit} exact {exact}"
        got = [(h.value, h.count) for h in client.facet(p.name, key=key, facet_filter=f, limit=limit, exact=exact).hits]
        if S.LOCAL_MODE:  # (self-test: local mode facets every value type, §8)
            got = spec_facet(client.facet(p.name, key=key, facet_filter=f, limit=FULL).hits,
                             str if key == "kw" else int, limit)
            got = [(h[0], h[1]) for h in got]
        exp = spec_facet(local.facet(p.name, key=key, facet_filter=f, limit=FULL).hits, str if key == "kw" else int, limit)
        if exact or f is None:
            assert got == exp, f"{d.ctx}:\n vicinity: {got}\n expected: {exp}"
        else:  # an estimate may be off (§5.3); the values and their order rules still hold
            assert len(got) <= limit and all(type(v) is (str if key == "kw" else int) for v, _ in got), f"{d.ctx}: {got}"
            assert got == sorted(got, key=lambda vc: (-vc[1], vc[0])), f"{d.ctx}: order {got}"
        d.ctx.step = f"#{i} count filter {f}"
        p.check_count(f)
    assert client.count(p.name, exact=False).count == len(d.ids)
    assert client.count(p.name, exact=True).count == len(d.ids)
    d.drop()


@needs_server
def test_facet_rules(client: QdrantClient, local: QdrantClient, http):
    """§5 by hand: no index, a float index or a datetime index → 400 `No appropriate index for
    faceting` (local mode facets without an index: §8); the §5.3 probe over a keyword index
    (`b:3, a:2, c:1`; with a filter `a:2, b:1`), an integer index counts integers only; limit 0 → 422;
    the response shape."""
    name = "cq_facet_rules"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=DOT))
    gs = ["a", "b", ["a", "b"], "b", 3, True, None, "missing", 2.5, ["c", 1.5]]
    client.upsert(name, points=[M.PointStruct(id=i + 1, vector=[1, 0], payload={
        **({} if v == "missing" else {"g": v, "h": v}), "n": 1 if i in (0, 2) else 2, "f": 1.5, "d": "2024-01-01"})
        for i, v in enumerate(gs)], wait=True)
    url = f"/collections/{name}/facet"
    X.err(http.post(url, json={"key": "g"}), 400, "No appropriate index for faceting")
    for key, schema in (("f", "float"), ("d", "datetime")):
        client.create_payload_index(name, key, schema, wait=True)
        X.err(http.post(url, json={"key": key}), 400, "No appropriate index for faceting")
    client.create_payload_index(name, "g", M.PayloadSchemaType.KEYWORD, wait=True)
    client.create_payload_index(name, "h", M.PayloadSchemaType.INTEGER, wait=True)
    client.create_payload_index(name, "n", M.PayloadSchemaType.INTEGER, wait=True)
    for exact in (False, True):
        res = X.ok(http.post(url, json={"key": "g", "exact": exact}))
        assert res == {"hits": [{"value": "b", "count": 3}, {"value": "a", "count": 2}, {"value": "c", "count": 1}]}, res
    res = X.ok(http.post(url, json={"key": "g", "exact": True, "filter": {"must": [{"key": "n", "match": {"value": 1}}]}}))
    assert res["hits"] == [{"value": "a", "count": 2}, {"value": "b", "count": 1}], res
    assert X.ok(http.post(url, json={"key": "g", "limit": 1}))["hits"] == [{"value": "b", "count": 3}]
    assert X.ok(http.post(url, json={"key": "h"}))["hits"] == [{"value": 3, "count": 1}]
    assert X.ok(http.post(url, json={"key": "n"}))["hits"] == [{"value": 2, "count": 8}, {"value": 1, "count": 2}]
    X.err(http.post(url, json={"key": "g", "limit": 0}), 422, "limit: value 0 invalid, must be 1 or larger")
    client.delete_collection(name)


@needs_server
def test_count_exact_false_estimate(client: QdrantClient, local: QdrantClient, http):
    """§6 / §8: `exact: false` without a filter is the exact number; with a filter on an unindexed key
    Qdrant answers its estimate ⌊N/2⌋, local mode counts exactly — vicinity may do either (the
    spec only promises an approximation); `exact` defaults to true."""
    name = "cq_count"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=DOT))
    client.upsert(name, points=[M.PointStruct(id=i, vector=[1, 0], payload={"n": i % 10}) for i in range(1, 51)], wait=True)
    url = f"/collections/{name}/points/count"
    f = {"must": [{"key": "n", "match": {"value": 3}}]}
    assert X.ok(http.post(url, json={"exact": False}))["count"] == 50
    assert X.ok(http.post(url, json={"filter": f}))["count"] == 5
    assert X.ok(http.post(url, json={"filter": f, "exact": True}))["count"] == 5
    assert X.ok(http.post(url, json={"filter": f, "exact": False}))["count"] in (5, 25)
    client.delete_collection(name)
