"""Named vectors (docs/qdrant-conventions-2.md §2): randomized congruence with qdrant-client's local
mode, plus focused checks of the documented server behaviour where local mode differs (§7 there).

Collections: NAMED has two named vectors of different sizes and distances ("image": 8 Dot,
"text": 5 Cosine); MIXED has the unnamed vector next to a named one ({"": 4 Euclid, "a": 6 Dot}).
Points carry any subset of the names, `{}` included.

Where local mode is documented to differ, the case is checked by hand against the server's
documented behaviour instead of compared:
- a plain-list vector in a `""`+named collection is the `""` vector on the server; local mode
  refuses it. So vicinity is sent the plain list (now and then) and local mode `{"": [...]}`.
- error statuses and Qdrant's words are checked on raw HTTP answers (local mode raises other
  exceptions, or none: `with_vector: ["nope"]` gives `{}`, `update_vectors` with `vector: {}` is
  accepted).
- update_vectors / delete_vectors naming a missing id: local mode raises KeyError after writing the
  others; the server answers 404 (update) or skips the id (delete). Random operations name existing
  ids only; the missing-id cases have their own tests.

Generators and comparisons come from test_congruence; seeded by CONGRUENCE_SEED the same way.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import httpx
import pytest
from qdrant_client import QdrantClient, models as M

import e2e_support as S
import test_congruence as C
from test_congruence import _announce_seed, local  # noqa: F401  (fixtures shared with that module)

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")
# Raw HTTP statuses and JSON bodies need the real server (E2E_LOCAL_MODE=1 has none).
needs_server = pytest.mark.skipif(S.LOCAL_MODE, reason="raw HTTP statuses / JSON: needs the real server")

DOT, COS, EUC = M.Distance.DOT, M.Distance.COSINE, M.Distance.EUCLID
NAMED = {"image": (8, DOT), "text": (5, COS)}
MIXED = {"": (4, EUC), "a": (6, DOT)}
nid, FULL, EXACT = C.nid, C.FULL, C.EXACT
BIG = 424242424242424242  # an id no test creates
NOT_EXISTING = "Not existing vector name error"


def vconfig(spec: dict) -> dict:
    return {n: M.VectorParams(size=d, distance=dist) for n, (d, dist) in spec.items()}


def names_of(rec: Any) -> set:
    """The vector names a record carries (a plain list is the `""` vector)."""
    return {""} if isinstance(rec.vector, list) else set(rec.vector or {})


def shape(vector: Any) -> Any:
    """"list" for a plain list, else the sorted names of the map."""
    return "list" if isinstance(vector, list) else sorted(vector)


@pytest.fixture(scope="module")
def http(request: pytest.FixtureRequest):
    """Raw HTTP to the module's server; None in local mode (no server)."""
    if S.LOCAL_MODE:
        yield None
        return
    with httpx.Client(base_url=request.getfixturevalue("server").url, timeout=60) as h:
        yield h


def jdump(model: Any) -> Any:
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True))


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:400]}"
    return r.json()["result"]


def err(r: httpx.Response, status: int, *words: str) -> str:
    """The answer is `status` and its `status.error` contains each of `words` (Qdrant's)."""
    what = f"{r.request.method} {r.request.url} {r.request.content[:200]!r}"
    assert r.status_code == status, f"{what}: expected {status}, got {r.status_code}: {r.text[:400]}"
    msg = r.json()["status"]["error"]
    for w in words:
        assert w in msg, f"{what}: error {msg!r} lacks {w!r}"
    return msg


# ------------------------------------------------------------------------------------------------
# Generator and pair
# ------------------------------------------------------------------------------------------------


class NGen(C.Gen):
    """test_congruence's generator (ids, payloads, filters, selectors) with vectors per name."""

    def __init__(self, rng: Any, spec: dict):
        super().__init__(rng, dim=1, paths=False, distance=DOT)
        self.spec, self.names = spec, list(spec)
        self.shared_by = {n: [self.raw(n) for _ in range(3)] for n in spec}

    def raw(self, name: str) -> list:
        return [round(float(x), 4) for x in self.rng.standard_normal(self.spec[name][0])]

    def vec(self, name: str) -> list:
        dim, dist = self.spec[name]
        k = self.r()
        if k < 0.03 and dist != COS:  # (zero vectors in Cosine: test_congruence's test_cosine_zero_vector)
            return [0.0] * dim
        return list(self.pick(self.shared_by[name])) if k < 0.15 else self.raw(name)

    def subset(self, nonempty: bool = False) -> list:
        while True:
            s = [n for n in self.names if self.r() < 0.55]
            if s or not nonempty:
                return s

    def vectors(self, nonempty: bool = False) -> dict:
        return {n: self.vec(n) for n in self.subset(nonempty)}

    def with_vectors(self) -> Any:
        k = self.r()
        return False if k < 0.4 else True if k < 0.65 else self.sample(self.names, self.i(1, len(self.names) + 1))

    def nfilter(self) -> Optional[M.Filter]:
        """A random filter or none; now and then with a has_vector condition."""
        f = self.maybe_filter(0.4)
        if self.r() < 0.2:
            hv = M.HasVectorCondition(has_vector=self.pick(self.names))
            f = M.Filter(must=[f] if f else None, **{self.pick(["must_not", "should"]): [hv]}) if self.r() < 0.4 \
                else M.Filter(must=[hv] + ([f] if f else []))
        return f


class NPair(C.Pair):
    """The same named-vector collection in vicinity (`v`) and in local mode (`l`)."""

    def __init__(self, v: QdrantClient, l: QdrantClient, name: str, spec: dict, ctx: C.Ctx,
                 http: Optional[httpx.Client] = None):
        self.v, self.l, self.name, self.spec, self.ctx, self.http = v, l, name, spec, ctx, http
        for c in (v, l):
            if c.collection_exists(name):
                c.delete_collection(name)
            assert c.create_collection(name, vectors_config=vconfig(spec))

    def having(self, vname: str) -> list:
        return [pid for pid, rec in self.records().items() if vname in names_of(rec)]

    def split(self, g: NGen, vec: Any) -> Any:
        """What vicinity is sent for `vec` (a point's map, or a batch's): in a `""`+named collection,
        `{"": x}` goes as the plain `x` half the time (local mode refuses that: conventions-2 §7)."""
        if "" in self.spec and list(vec) == [""] and not S.LOCAL_MODE and g.r() < 0.5:
            return vec[""]
        return vec

    def write2(self, method: str, vkw: dict, lkw: dict) -> None:
        r = getattr(self.v, method)(self.name, **vkw)
        getattr(self.l, method)(self.name, **lkw)
        assert r.status == M.UpdateStatus.COMPLETED, f"{self.ctx}: {method}: {r}"

    def check_state(self, what: str = "state") -> None:
        """Scroll everything with all vectors and with each name alone."""
        for wv in [True] + [[n] for n in self.spec]:
            (v, nv), (l, nl) = self.both("scroll", limit=FULL, with_payload=True, with_vectors=wv)
            assert nv is None and nl is None
            C.cmp_records(v, l, self.ctx, f"{what} (scroll with_vectors={wv})")
        assert self.v.count(self.name, exact=True).count == len(l), f"{self.ctx}: count() vs scroll"

    def only_having(self, got: list, vname: str, what: str) -> None:
        has = set(self.having(vname))
        lacking = [nid(x.id) for x in got if nid(x.id) not in has]
        assert not lacking, f"{self.ctx} {what}: returned {lacking}, which lack the vector {vname!r}"

    def check_query(self, using: Optional[str], query: Any, f: Optional[M.Filter], limit: int, offset: int,
                    wp: Any, wv: Any, what: str = "query") -> list:
        kw = dict(using=using, query_filter=f, with_payload=wp, with_vectors=wv)
        got = self.v.query_points(self.name, query=query, limit=limit, offset=offset or None,
                                  search_params=EXACT, **kw).points
        ext = self.l.query_points(self.name, query=query, limit=FULL, **kw).points
        desc = f"{what} using {using!r} (limit {limit}, offset {offset}, filter {f}, with_vectors {wv})"
        try:
            C.cmp_scored(got, ext, offset, limit, self.ctx, desc)
        except AssertionError as e:
            raise AssertionError(f"{e}{self.explain(f)}") from None
        self.only_having(got, using or "", desc)
        return got

    def check_legacy_search(self, using: str, q: list, f: Optional[M.Filter], limit: int, offset: int,
                            wv: Any) -> None:
        """POST /points/search with `{"name": .., "vector": ..}` (a plain list for `""`): qdrant-client
        1.20 has no `search` any more, so raw HTTP, compared with local mode's query using the name."""
        body: dict = {"vector": {"name": using, "vector": q} if using else q, "limit": limit, "offset": offset,
                      "with_payload": True, "with_vector": wv, "params": {"exact": True}}
        if f is not None:
            body["filter"] = jdump(f)
        res = ok(self.http.post(f"/collections/{self.name}/points/search", json=body))
        got = [M.ScoredPoint.model_validate(x) for x in res]
        ext = self.l.query_points(self.name, query=q, using=using, query_filter=f, limit=FULL,
                                  with_payload=True, with_vectors=wv).points
        C.cmp_scored(got, ext, offset, limit, self.ctx, f"legacy search {body}")
        self.only_having(got, using, f"legacy search {body}")


# ------------------------------------------------------------------------------------------------
# Random operations
# ------------------------------------------------------------------------------------------------


def mutate(p: NPair, g: NGen) -> str:
    existing = p.ids()
    kinds = ["upsert"] * 3 + ["update_vectors"] * 3 + ["delete_vectors"] * 3 + ["delete", "set", "overwrite", "clear"]
    kind = g.pick(kinds) if len(existing) >= 15 else "upsert"
    if kind == "upsert":
        new = [x for x in g.pool if x not in set(existing)]
        ids = g.spelled(g.sample(existing, g.i(0, 4)) + g.sample(new, g.i(1, 7)))
        if g.r() < 0.75:
            vecs = [g.vectors() for _ in ids]
            pls = [g.payload() if g.r() < 0.9 else None for _ in ids]
            lp: Any = [M.PointStruct(id=i, vector=v, payload=pl) for i, v, pl in zip(ids, vecs, pls)]
            vp: Any = [M.PointStruct(id=i, vector=p.split(g, v), payload=pl) for i, v, pl in zip(ids, vecs, pls)]
        else:  # the batch form: every point has the same names
            vecs = {n: [g.vec(n) for _ in ids] for n in g.subset(nonempty=True)}
            pls = [g.payload() for _ in ids]
            lp = M.Batch(ids=ids, vectors=vecs, payloads=pls)
            vp = M.Batch(ids=ids, vectors=p.split(g, vecs), payloads=pls)
        p.ctx.step = f"upsert {vp}"
        p.write2("upsert", dict(points=vp), dict(points=lp))
    elif kind == "update_vectors":
        ids = g.sample(existing, g.i(1, 6))
        if g.r() < 0.15:
            ids.append(g.pick(ids))  # the same id twice: merged in order, later names win (§2.6)
        pts = [M.PointVectors(id=g.spell(i), vector=g.vectors(nonempty=True)) for i in ids]
        # a plain list for `""` is fine for both here: local mode takes it in update_vectors
        pts = [M.PointVectors(id=x.id, vector=p.split(g, x.vector)) for x in pts]
        uf = g.filter() if g.r() < 0.2 else None  # only the points matching it are updated (§2.6)
        p.ctx.step = f"update_vectors {pts} update_filter={uf}"
        p.write("update_vectors", points=pts, update_filter=uf)
    elif kind == "delete_vectors":
        names = g.subset(nonempty=True)
        if g.r() < 0.6:
            sel: Any = M.PointIdsList(points=g.spelled(g.sample(existing, g.i(1, 6))))
        else:  # an empty filter matches every point
            sel = M.FilterSelector(filter=g.filter() if g.r() < 0.9 else M.Filter())
        p.ctx.step = f"delete_vectors {names} {sel}"
        p.write("delete_vectors", vectors=names, points=sel)
    elif kind == "delete":
        sel = (M.FilterSelector(filter=g.filter()) if g.r() < 0.3 else
               M.PointIdsList(points=g.spelled(g.sample(existing, g.i(0, 4)) + g.sample(g.pool, g.i(1, 3)))))
        p.ctx.step = f"delete {sel}"
        p.write("delete", points_selector=sel)
    else:
        sel = M.PointIdsList(points=g.spelled(g.sample(existing, g.i(1, 6))))
        p.ctx.step = f"{kind} {sel}"
        if kind == "set":
            p.write("set_payload", payload=g.partial_payload(), points=sel)
        elif kind == "overwrite":
            p.write("overwrite_payload", payload=g.payload(), points=sel)
        else:
            p.write("clear_payload", points_selector=sel)
    return kind


def read(p: NPair, g: NGen) -> None:
    recs = p.records()
    name = g.pick(g.names)
    using = name if name or g.r() < 0.5 else None  # the `""` vector: `using: ""` or no `using`
    has = [pid for pid, r in recs.items() if name in names_of(r)]
    f, wp, wv = g.nfilter(), g.with_payload(), g.with_vectors()
    limit, offset = g.i(1, 12), (g.i(0, 5) if g.r() < 0.3 else 0)
    kind = g.pick(["query", "query", "query_id", "recommend", "recommend", "legacy", "count", "scroll", "retrieve"])
    if kind in ("query_id", "recommend") and not has or kind == "legacy" and p.http is None:
        kind = "query"
    if kind == "query":
        q = g.raw(name) if g.r() < 0.8 else list(g.pick(g.shared_by[name]))
        p.ctx.step = f"query {q}"
        p.check_query(using, q, f, limit, offset, wp, wv)
    elif kind == "query_id":
        pid = g.pick(has)
        p.ctx.step = f"query by id {pid}"
        got = p.check_query(using, g.spell(pid), f, limit, offset, wp, wv, what="query by id")
        assert pid not in [nid(x.id) for x in got], f"{p.ctx}: the example itself must be excluded"
    elif kind == "recommend":
        strategy = g.pick([M.RecommendStrategy.AVERAGE_VECTOR, M.RecommendStrategy.BEST_SCORE,
                           M.RecommendStrategy.SUM_SCORES])
        avg = strategy == M.RecommendStrategy.AVERAGE_VECTOR
        # examples are points that have the vector, or raw vectors (not for average_vector on a
        # Cosine vector: test_congruence's test_recommend_average_raw_vectors_cosine)
        def ex() -> Any:
            return g.spell(g.pick(has)) if g.r() < 0.75 or avg and g.spec[name][1] == COS else g.raw(name)

        pos, neg = [ex() for _ in range(g.i(0, 3))], [ex() for _ in range(g.i(0, 3))]
        if avg and not pos or not (pos or neg):
            pos = [g.pick(has)]
        q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos or None, negative=neg or None, strategy=strategy))
        p.ctx.step = f"recommend {q}"
        got = p.check_query(using, q, f, limit, offset, wp, wv, what=f"recommend {strategy.value}")
        examples = {C.canon_id(x) for x in pos + neg if not isinstance(x, list)}
        assert not examples & {nid(x.id) for x in got}, f"{p.ctx}: recommend returned one of its examples"
    elif kind == "legacy":
        q = g.raw(name)
        p.ctx.step = f"legacy search {name!r} {q}"
        p.check_legacy_search(name, q, f, limit, offset, wv)
    elif kind == "count":
        p.ctx.step = f"count {f}"
        p.check_count(f)
    elif kind == "scroll":
        p.ctx.step = "scroll"
        p.check_scroll(f, limit, None if g.r() < 0.5 else g.spell(g.pick(g.pool)), wp, wv)
    else:
        ids = g.spelled(list(dict.fromkeys(g.sample(list(recs), g.i(0, 6)) + g.sample(g.pool, g.i(0, 3)))))
        p.ctx.step = f"retrieve {ids} with_vectors {wv}"
        v, l = p.both("retrieve", ids=ids, with_payload=wp, with_vectors=wv)
        C.cmp_records(v, l, p.ctx, f"retrieve {ids} with_vectors {wv}")


@pytest.mark.parametrize("kind", ["named", "mixed"])
def test_random_named_vector_operations(client: QdrantClient, local: QdrantClient, http, kind: str):
    """Upserts of points carrying any subset of the names (point and batch forms; in the mixed
    collection the `""` vector now and then as a plain list), deletes, update_vectors (same id
    twice, update_filter), delete_vectors by ids and by filter, payload edits; after each step the
    whole state (scroll with all vectors and with each name alone) agrees, and exact queries /
    queries by id / recommendations `using` each name, legacy named searches, counts, scrolls and
    retrieves with vector selectors agree, never returning a point that lacks the queried vector."""
    spec = NAMED if kind == "named" else MIXED
    name = f"nv_ops_{kind}"
    ctx = C.Ctx(name)
    g = NGen(C.rng_for(name), spec)
    p = NPair(client, local, name, spec, ctx, http)
    ctx.step = "initial load"
    ids, vecs, pls = g.sample(g.pool, 40), [], []
    for _ in ids:
        vecs.append(g.vectors())
        pls.append(g.payload())
    rows = list(zip(ids, vecs, pls))
    p.write2("upsert", dict(points=[M.PointStruct(id=i, vector=p.split(g, v), payload=pl) for i, v, pl in rows]),
             dict(points=[M.PointStruct(id=i, vector=v, payload=pl) for i, v, pl in rows]))
    p.check_state("after the initial load")
    for step in range(C.rounds(30)):
        kind_ = mutate(p, g)
        p.check_state(f"after step {step} ({kind_})")
        for _ in range(3):
            read(p, g)
    p.drop()


def random_batch(g: NGen, existing: list) -> list:
    """1-5 operations for POST /points/batch; update_vectors / delete_vectors by id name only points
    that exist when they run (a missing id: test_update_vectors_errors / test_delete_vectors_rules)."""
    alive, ids_known, ops = set(existing), True, []
    for _ in range(g.i(1, 6)):
        k = g.pick(["upsert", "update_vectors", "update_vectors", "delete_vectors", "delete_vectors", "delete", "set"])
        if k in ("update_vectors", "set") and (not ids_known or not alive):
            k = "upsert"
        chosen = g.sample(sorted(alive, key=C.id_key), g.i(1, 4)) if ids_known else []
        if k == "upsert":
            ids = g.sample(g.pool, g.i(1, 5))
            pts = [M.PointStruct(id=i, vector=g.vectors(), payload=g.payload()) for i in ids]
            ops.append(M.UpsertOperation(upsert=M.PointsList(points=pts)))
            alive |= set(ids)
        elif k == "update_vectors":
            pts = [M.PointVectors(id=i, vector=g.vectors(nonempty=True)) for i in chosen]
            ops.append(M.UpdateVectorsOperation(update_vectors=M.UpdateVectors(points=pts)))
        elif k == "delete_vectors":
            names = g.subset(nonempty=True)
            body = (M.DeleteVectors(points=chosen, vector=names) if chosen and g.r() < 0.6
                    else M.DeleteVectors(filter=g.filter(), vector=names))
            ops.append(M.DeleteVectorsOperation(delete_vectors=body))
        elif k == "delete":
            if g.r() < 0.5:
                gone = g.sample(g.pool, g.i(1, 5))
                ops.append(M.DeleteOperation(delete=M.PointIdsList(points=gone)))
                alive -= set(gone)
            else:
                ops.append(M.DeleteOperation(delete=M.FilterSelector(filter=g.filter())))
                ids_known = False
        else:
            ops.append(M.SetPayloadOperation(set_payload=M.SetPayload(payload=g.partial_payload(), points=chosen)))
    return ops


def test_batch_update_with_vector_operations(client: QdrantClient, local: QdrantClient, http):
    """client.batch_update_points with random sequences of Upsert / UpdateVectors / DeleteVectors
    (by ids and by filter) / Delete / SetPayload operations on a named-vector collection: one
    completed result per operation, and the resulting states agree."""
    name = "nv_batch"
    ctx = C.Ctx(name)
    g = NGen(C.rng_for(name), NAMED)
    p = NPair(client, local, name, NAMED, ctx, http)
    first = g.sample(g.pool, 40)
    p.write("upsert", points=[M.PointStruct(id=i, vector=g.vectors(), payload=g.payload()) for i in first])
    for i in range(C.rounds(25)):
        ops = random_batch(g, p.ids())
        ctx.step = f"batch #{i}: {ops}"
        rv, rl = p.both("batch_update_points", update_operations=ops)
        assert len(rv) == len(ops) == len(rl), f"{ctx}: {len(rv)} results for {len(ops)} operations"
        assert all(r.status == M.UpdateStatus.COMPLETED for r in rv), f"{ctx}: {rv}"
        p.check_state(f"after batch #{i}")
        if i % 3 == 2:
            read(p, g)
    p.drop()


# ------------------------------------------------------------------------------------------------
# Focused cases
# ------------------------------------------------------------------------------------------------


def test_collection_config_vectors_shape(client: QdrantClient, local: QdrantClient, http):
    """GET /collections/{c} `config.params.vectors`: the VectorParams object itself for a single
    unnamed vector; a map keyed by name (sorted) for named vectors, `""` included (§2.2)."""
    vp = M.VectorParams
    cases = {"nv_cfg_single": vp(size=4, distance=COS),
             "nv_cfg_named": {"zeta": vp(size=3, distance=EUC), "alpha": vp(size=5, distance=DOT),
                              "mid": vp(size=2, distance=COS)},
             "nv_cfg_mixed": {"a": vp(size=6, distance=DOT), "": vp(size=4, distance=EUC)}}
    for name, cfg in cases.items():
        for c in (client, local):
            if c.collection_exists(name):
                c.delete_collection(name)
            assert c.create_collection(name, vectors_config=cfg)
        gv = client.get_collection(name).config.params.vectors
        gl = local.get_collection(name).config.params.vectors
        if isinstance(cfg, vp):
            assert isinstance(gv, vp) and (gv.size, gv.distance) == (gl.size, gl.distance) == (4, COS), (name, gv)
        else:
            assert isinstance(gv, dict) and set(gv) == set(gl) == set(cfg), (name, gv, gl)
            for k in cfg:
                assert (gv[k].size, gv[k].distance) == (gl[k].size, gl[k].distance) == (cfg[k].size, cfg[k].distance)
        if http is not None:  # the JSON itself (needs the server)
            raw = ok(http.get(f"/collections/{name}"))["config"]["params"]["vectors"]
            if isinstance(cfg, vp):
                assert (raw["size"], raw["distance"]) == (4, "Cosine"), raw
            else:
                assert list(raw) == sorted(cfg), f"{name}: keys {list(raw)}, expected sorted {sorted(cfg)}"
                assert {k: (x["size"], x["distance"]) for k, x in raw.items()} == {
                    k: (x.size, x.distance.value) for k, x in cfg.items()}, raw
        for c in (client, local):
            c.delete_collection(name)


def test_search_skips_points_lacking_the_vector(client: QdrantClient, local: QdrantClient, http):
    """Points without the queried vector are not returned by queries, recommendations or legacy
    searches using that name, but appear in scroll and count; delete_vectors / update_vectors /
    upsert change which points a name finds."""
    name = "nv_lacking"
    ctx = C.Ctx(name)
    p = NPair(client, local, name, NAMED, ctx, http)
    g = NGen(C.rng_for(name), NAMED)
    sets = {1: ["image", "text"], 2: ["image"], 3: ["text"], 4: [], 5: ["image", "text"]}
    p.write("upsert", points=[M.PointStruct(id=i, vector={n: g.raw(n) for n in ns}, payload={"k": i})
                              for i, ns in sets.items()])

    def found(using: str, query: Any = None) -> set:
        got = p.check_query(using, query if query is not None else g.raw(using), None, 10, 0, True, False)
        return {nid(x.id) for x in got}

    assert (found("image"), found("text")) == ({1, 2, 5}, {1, 3, 5})
    got, _ = client.scroll(name, limit=10)
    assert [nid(x.id) for x in got] == [1, 2, 3, 4, 5] and client.count(name).count == 5
    has_text = M.Filter(must=[M.HasVectorCondition(has_vector="text")])
    p.check_count(has_text)
    assert client.count(name, count_filter=has_text).count == 3
    p.write("delete_vectors", vectors=["text"], points=[1])
    assert found("text") == {3, 5} and found("image") == {1, 2, 5}
    p.write("update_vectors", points=[M.PointVectors(id=4, vector={"text": g.raw("text")})])
    assert found("text") == {3, 4, 5}
    p.write("upsert", points=[M.PointStruct(id=2, vector={}, payload={"k": 2})])  # replaces the whole point
    assert found("image") == {1, 5} and found("image", 5) == {1}
    rec = M.RecommendQuery(recommend=M.RecommendInput(positive=[3], strategy=M.RecommendStrategy.BEST_SCORE))
    assert found("text", rec) == {4, 5}
    if http is not None:  # the legacy endpoint (raw HTTP)
        p.check_legacy_search("image", g.raw("image"), None, 10, 0, False)
    p.check_state()
    p.drop()


def test_read_shapes_list_map_and_empty(client: QdrantClient, local: QdrantClient, http):
    """with_vector: a point whose (selected) vectors are exactly the `""` one reads back as a plain
    list, otherwise as a map, `{}` when it has none; with_vector false omits `vector` (§2.4).
    Checked on the parsed records of both sides and, with a server, on the raw JSON of scroll,
    retrieve and query."""
    name = "nv_shapes"
    ctx = C.Ctx(name)
    p = NPair(client, local, name, MIXED, ctx, http)
    g = NGen(C.rng_for(name), MIXED)
    u, w = g.raw(""), g.raw("a")
    p.write("upsert", points=[M.PointStruct(id=1, vector={"": u}), M.PointStruct(id=2, vector={"": u, "a": w}),
                              M.PointStruct(id=3, vector={"a": w}), M.PointStruct(id=4, vector={})])
    expected = {
        True: {1: "list", 2: ["", "a"], 3: ["a"], 4: []},
        ("",): {1: "list", 2: "list", 3: [], 4: []},
        ("a",): {1: [], 2: ["a"], 3: ["a"], 4: []},
        ("", "a"): {1: "list", 2: ["", "a"], 3: ["a"], 4: []},
    }
    for sel, exp in expected.items():
        wv = sel if sel is True else list(sel)
        for side, c in (("vicinity", client), ("local", local)):
            pts, _ = c.scroll(name, limit=10, with_vectors=wv)
            assert {nid(x.id): shape(x.vector) for x in pts} == exp, f"{side} scroll with_vectors={wv}: {pts}"
        if http is None:
            continue
        for route, body in (("scroll", {"limit": 10}), ("", {"ids": [1, 2, 3, 4]})):
            res = ok(http.post(f"/collections/{name}/points/{route}".rstrip("/"), json={**body, "with_vector": wv}))
            pts = res["points"] if route else res
            got = {x["id"]: shape(x["vector"]) for x in pts}
            assert got == exp, f"raw {route or 'retrieve'} with_vector={wv}: {pts}"
        res = ok(http.post(f"/collections/{name}/points/query", json={"query": w, "using": "a", "with_vector": wv}))
        assert {x["id"]: shape(x["vector"]) for x in res["points"]} == {i: exp[i] for i in (2, 3)}, res
    if http is not None:
        for body in ({"limit": 10}, {"limit": 10, "with_vector": False}):
            res = ok(http.post(f"/collections/{name}/points/scroll", json=body))
            assert all("vector" not in x for x in res["points"]), f"{body}: {res['points']}"
    p.check_state()
    # a single unnamed vector: a plain list, and `{}` once it is deleted
    single = "nv_shapes_single"
    for c in (client, local):
        if c.collection_exists(single):
            c.delete_collection(single)
        c.create_collection(single, vectors_config=M.VectorParams(size=3, distance=DOT))
        c.upsert(single, points=[M.PointStruct(id=7, vector=[1.0, 2.0, 3.0])])
        for wv in (True, [""]):
            assert shape(c.retrieve(single, [7], with_vectors=wv)[0].vector) == "list", (c, wv)
        c.delete_vectors(single, vectors=[""], points=[7])
        assert shape(c.retrieve(single, [7], with_vectors=True)[0].vector) == [], c
    if http is not None:
        assert ok(http.post(f"/collections/{single}/points", json={"ids": [7], "with_vector": True}))[0]["vector"] == {}
    for c in (client, local):
        c.delete_collection(single)
    p.drop()


@needs_server  # local mode refuses a plain list in a `""`+named collection (conventions-2 §7)
def test_plain_list_is_the_unnamed_vector(client: QdrantClient, local: QdrantClient, http):
    """In a `""`+named collection a plain-list vector (point form, batch form, update_vectors) is
    the `""` vector: it reads back as a plain list and is what a query without `using` (or with
    `using: ""`) searches. Local mode is given `{"": ...}` for the same points."""
    name = "nv_plain"
    ctx = C.Ctx(name)
    p = NPair(client, local, name, MIXED, ctx, http)
    g = NGen(C.rng_for(name), MIXED)
    v1, v2, v3, v4, a4 = g.raw(""), g.raw(""), g.raw(""), g.raw(""), g.raw("a")
    p.write2("upsert", dict(points=[M.PointStruct(id=1, vector=v1, payload={"k": 1})]),
             dict(points=[M.PointStruct(id=1, vector={"": v1}, payload={"k": 1})]))
    p.write2("upsert", dict(points=M.Batch(ids=[2, 3], vectors=[v2, v3])),
             dict(points=M.Batch(ids=[2, 3], vectors={"": [v2, v3]})))
    p.write("upsert", points=[M.PointStruct(id=4, vector={"a": a4})])
    p.write("update_vectors", points=[M.PointVectors(id=4, vector=v4)])
    raw = ok(http.post(f"/collections/{name}/points", json={"ids": [1, 4], "with_vector": True}))
    assert isinstance(raw[0]["vector"], list) and sorted(raw[1]["vector"]) == ["", "a"], raw
    p.check_state()
    q = g.raw("")
    for using in (None, ""):
        got = p.check_query(using, q, None, 10, 0, False, True)
        assert {nid(x.id) for x in got} == {1, 2, 3, 4}
    assert {nid(x.id) for x in p.check_query("a", g.raw("a"), None, 10, 0, False, False)} == {4}
    p.drop()


# ------------------------------------------------------------------------------------------------
# Errors (raw HTTP: status and Qdrant's words)
# ------------------------------------------------------------------------------------------------


def err_collection(client: QdrantClient, name: str) -> None:
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=vconfig(NAMED))
    client.upsert(name, points=[
        M.PointStruct(id=1, vector={"image": [0.5] * 8, "text": [1, 0, 0, 0, 1]}, payload={"k": 1}),
        M.PointStruct(id=2, vector={"image": [0.1] * 8}, payload={"k": 2}),
        M.PointStruct(id=3, vector={"text": [0, 1, 0, 0, 0]}, payload={"k": 3}),
    ])


@needs_server
def test_upsert_errors_unknown_name_plain_list_wrong_dimension(client: QdrantClient, http):
    """Upsert (wait=true) of an unknown name, of a plain list into a named-only collection, and of a
    named vector of the wrong size: 400 in Qdrant's words (§2.3); the point is not written."""
    name = "nv_err_upsert"
    err_collection(client, name)
    url = f"/collections/{name}/points?wait=true"
    cases = [
        ({"points": [{"id": 9, "vector": {"zzz": [1.0, 2.0]}}]}, f"{NOT_EXISTING}: zzz"),
        ({"batch": {"ids": [9], "vectors": {"zzz": [[1.0, 2.0]]}}}, f"{NOT_EXISTING}: zzz"),
        ({"points": [{"id": 9, "vector": [0.1] * 8}]}, NOT_EXISTING),  # the empty name
        ({"points": [{"id": 9, "vector": {"text": [1.0, 2.0, 3.0]}}]}, "expected dim: 5, got 3"),
        ({"points": [{"id": 9, "vector": {"image": [0.1] * 8, "text": [1.0, 2.0, 3.0]}}]}, "expected dim: 5, got 3"),
        ({"points": [{"id": 9, "vector": {"image": [0.1] * 7}}]}, "expected dim: 8, got 7"),
    ]
    for body, words in cases:
        err(http.put(url, json=body), 400, words)
        assert client.retrieve(name, [9]) == [], f"{body}: the point was written"
    assert client.count(name).count == 3
    client.delete_collection(name)


@needs_server
def test_query_errors_unknown_using_and_with_vector(client: QdrantClient, http):
    """Unknown `using` (query and legacy named search), no `using` on a named-only collection, a
    query of the wrong size, and `with_vector: ["nope"]` in scroll / retrieve / query: 400 with
    `Not existing vector name error` / `expected dim` (§2.4, §2.5; local mode answers `{}` for the
    unknown with_vector name and other words for `using`: §7)."""
    name = "nv_err_query"
    err_collection(client, name)
    base = f"/collections/{name}/points"
    err(http.post(f"{base}/query", json={"query": [0.1] * 5, "using": "nope"}), 400, f"{NOT_EXISTING}: nope")
    err(http.post(f"{base}/query", json={"query": [0.1] * 5}), 400, NOT_EXISTING)
    err(http.post(f"{base}/query", json={"query": [0.1] * 3, "using": "text"}), 400, "expected dim: 5, got 3")
    err(http.post(f"{base}/search", json={"vector": {"name": "nope", "vector": [0.1] * 5}, "limit": 3}), 400,
        f"{NOT_EXISTING}: nope")
    err(http.post(f"{base}/search", json={"vector": [0.1] * 5, "limit": 3}), 400, NOT_EXISTING)
    err(http.post(f"{base}/scroll", json={"limit": 10, "with_vector": ["nope"]}), 400, f"{NOT_EXISTING}: nope")
    err(http.post(base, json={"ids": [1], "with_vector": ["text", "nope"]}), 400, f"{NOT_EXISTING}: nope")
    err(http.post(f"{base}/query", json={"query": [0.1] * 5, "using": "text", "with_vector": ["nope"]}), 400,
        f"{NOT_EXISTING}: nope")
    # the good spellings of the same requests work
    assert len(ok(http.post(f"{base}/query", json={"query": [0.1] * 5, "using": "text"}))["points"]) == 2
    assert len(ok(http.post(f"{base}/scroll", json={"limit": 10, "with_vector": ["text"]}))["points"]) == 3
    client.delete_collection(name)


@needs_server
def test_update_vectors_errors(client: QdrantClient, local: QdrantClient, http):
    """PUT /points/vectors: `points: []` and a point with `vector: {}` are 422 (validation, nothing
    written); an unknown name 400; a missing id 404 `No point with id N found` after the other points
    of the request were written (§2.6). Local mode accepts `vector: {}` and raises KeyError for the
    missing id (§7), so the state is compared after applying the same writes to it."""
    name = "nv_err_update"
    ctx = C.Ctx(name)
    p = NPair(client, local, name, NAMED, ctx, http)
    p.write("upsert", points=[M.PointStruct(id=1, vector={"image": [0.5] * 8}, payload={"k": 1}),
                              M.PointStruct(id=2, vector={"text": [1, 2, 3, 4, 5]}, payload={"k": 2})])
    url = f"/collections/{name}/points/vectors?wait=true"
    err(http.put(url, json={"points": []}), 422, "must specify points to update")
    err(http.put(url, json={"points": [{"id": 1, "vector": {}}]}), 422, "must specify vectors to update for point")
    err(http.put(url, json={"points": [{"id": 1, "vector": {"zzz": [1.0]}}]}), 400, f"{NOT_EXISTING}: zzz")
    p.check_state("after the refused updates")
    t = [0.0, 1.0, 0.0, 1.0, 0.0]
    body = {"points": [{"id": 1, "vector": {"text": t}}, {"id": BIG, "vector": {"text": t}}]}
    err(http.put(url, json=body), 404, f"No point with id {BIG} found")
    try:  # local mode writes point 1, then raises KeyError
        local.update_vectors(name, points=[M.PointVectors(id=i, vector={"text": t}) for i in (1, BIG)])
    except KeyError:
        pass
    p.check_state("after the update naming a missing id")
    assert names_of(client.retrieve(name, [1], with_vectors=True)[0]) == {"image", "text"}
    p.drop()


@needs_server
def test_delete_vectors_rules(client: QdrantClient, local: QdrantClient, http):
    """POST /points/vectors/delete: `vector: []` 422; neither points nor filter 400 `No filter or
    points provided`; an unknown name 400; missing ids skipped (200, the others deleted, deleting
    twice fine); points and filter together delete from both; `filter: {}` matches all (§2.6).
    Local mode raises KeyError for a missing id (§7), so it is given the existing ids only."""
    name = "nv_err_delete"
    ctx = C.Ctx(name)
    p = NPair(client, local, name, NAMED, ctx, http)
    g = NGen(C.rng_for(name), NAMED)
    p.write("upsert", points=[M.PointStruct(id=i, vector={"image": g.raw("image"), "text": g.raw("text")},
                                            payload={"k": i}) for i in range(1, 6)])
    url = f"/collections/{name}/points/vectors/delete?wait=true"
    err(http.post(url, json={"points": [1], "vector": []}), 422, "must specify vector names to delete")
    err(http.post(url, json={"vector": ["text"]}), 400, "No filter or points provided")
    err(http.post(url, json={"points": [1], "vector": ["zzz"]}), 400, f"{NOT_EXISTING}: zzz")
    p.check_state("after the refused deletes")
    for _ in range(2):  # twice: the second time there is nothing left to delete
        ok(http.post(url, json={"points": [1, BIG], "vector": ["text"]}))
        local.delete_vectors(name, vectors=["text"], points=[1])
        p.check_state("after deleting with a missing id")
    ok(http.post(url, json={"points": [2], "filter": {"must": [{"has_id": [3]}]}, "vector": ["image"]}))
    local.delete_vectors(name, vectors=["image"], points=[2, 3])
    p.check_state("after deleting by points and filter")
    assert {nid(x.id): shape(x.vector) for x in client.retrieve(name, [1, 2, 3, 4], with_vectors=True)} == {
        1: ["image"], 2: ["text"], 3: ["text"], 4: ["image", "text"]}
    ok(http.post(url, json={"filter": {}, "vector": ["image"]}))
    local.delete_vectors(name, vectors=["image"], points=M.Filter())
    p.check_state("after deleting by the empty filter")
    assert client.count(name, count_filter=M.Filter(must=[M.HasVectorCondition(has_vector="image")])).count == 0
    p.drop()


def test_update_vectors_merges_and_keeps_the_rest(client: QdrantClient, local: QdrantClient):
    """update_vectors changes only the names given; other vectors and the payload stay; the same id
    twice in one request is merged in order (later names win); update_filter limits it to the
    matching points (§2.6)."""
    name = "nv_update"
    ctx = C.Ctx(name)
    p = NPair(client, local, name, NAMED, ctx)
    g = NGen(C.rng_for(name), NAMED)
    img1, txt1, img2 = g.raw("image"), g.raw("text"), g.raw("image")
    p.write("upsert", points=[M.PointStruct(id=1, vector={"image": img1, "text": txt1}, payload={"k": 1}),
                              M.PointStruct(id=2, vector={"image": img2}, payload={"k": 2})])
    a, b, c, t2 = g.raw("image"), g.raw("image"), g.raw("text"), g.raw("text")
    p.write("update_vectors", points=[M.PointVectors(id=1, vector={"image": a}),
                                      M.PointVectors(id=1, vector={"image": b, "text": c}),
                                      M.PointVectors(id=2, vector={"text": t2})])
    p.check_state("after the merged update")
    got = {nid(x.id): x for x in client.retrieve(name, [1, 2], with_vectors=True)}
    assert C.vec_close(got[1].vector["image"], b) and got[1].payload == {"k": 1}, got[1]
    assert C.vec_close(got[2].vector["image"], img2) and sorted(got[2].vector) == ["image", "text"], got[2]
    only2 = M.Filter(must=[M.FieldCondition(key="k", match=M.MatchValue(value=2))])
    p.write("update_vectors", points=[M.PointVectors(id=i, vector={"image": a}) for i in (1, 2)], update_filter=only2)
    got = {nid(x.id): x for x in client.retrieve(name, [1, 2], with_vectors=["image"])}
    assert C.vec_close(got[1].vector["image"], b) and C.vec_close(got[2].vector["image"], a), got
    p.check_state("after the filtered update")
    p.drop()
