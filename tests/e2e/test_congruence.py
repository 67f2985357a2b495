"""Randomized congruence: the same operations against vicinity (REST, driven by qdrant-client) and
against qdrant-client's local mode (`QdrantClient(":memory:")`, the client's own pure-Python
re-implementation of Qdrant), with the answers compared.

What is compared: ids and their order (results whose scores tie may swap, so a differing id must
be a tie of the expected one), scores (relative tolerance ~1e-4), payloads exactly (types included:
`1` is not `1.0`), vectors with a float32 tolerance, counts exactly, and `next_page_offset`.

Local mode is a reference, not the spec: where it is known to differ from the real server
(docs/qdrant-conventions-2.md §7, or Qdrant's source as cited at the case), the case is checked by
hand against the documented server behaviour, or skipped with a comment naming the difference.

Behaviours a random run would keep tripping over once they differ have focused tests, and the
random generators steer clear of them so the random tests stay useful: score_threshold at exactly
a result's score (test_score_threshold_is_strict), payload operations naming missing ids
(test_missing_ids_in_payload_ops, test_batch_failure_midway), duplicate ids in a retrieve
(test_retrieve_duplicates_and_order). Two are kept out of the random runs altogether: zero vectors
in Cosine collections (vicinity refuses them with a 400 where Qdrant stores them and scores them 0:
README, "Differences from Qdrant"; tests/integration/bad_input.rs shows the refusal), and
score_threshold on best_score / sum_scores in Euclid collections (which side of the threshold
Qdrant keeps there is not settled against the server).

Randomness: everything derives from CONGRUENCE_SEED (default below), printed at the start of every
test (pytest shows it with a failure). CONGRUENCE_SCALE multiplies the number of rounds (default 1;
the file is sized to stay well under a minute on a busy 2-core machine).
"""

from __future__ import annotations

import copy
import json
import os
import uuid
import zlib
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M
from qdrant_client.http.exceptions import UnexpectedResponse

import e2e_support as S

SEED = int(os.environ.get("CONGRUENCE_SEED", "4242"))
SCALE = float(os.environ.get("CONGRUENCE_SCALE", "1"))
EXACT = M.SearchParams(exact=True)
# "everything" for scroll: vicinity bounds limit + offset by search.max_limit (default 10 000; a
# deliberate cost bound, 400 above it). Qdrant has no upper bound; every collection here is smaller.
FULL = 10_000
pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")


def rounds(n: int) -> int:
    return max(1, int(round(n * SCALE)))


@pytest.fixture(autouse=True)
def _announce_seed(request: pytest.FixtureRequest):
    print(f"CONGRUENCE_SEED={SEED} CONGRUENCE_SCALE={SCALE} (rerun: CONGRUENCE_SEED={SEED} "
          f"python -m pytest 'tests/e2e/{request.node.nodeid.split('/')[-1]}')")
    yield


@pytest.fixture(scope="module")
def local() -> QdrantClient:
    c = QdrantClient(":memory:")
    yield c
    c.close()


def rng_for(tag: str) -> np.random.Generator:
    """An independent stream per test, so each test reproduces on its own."""
    return np.random.default_rng([SEED, zlib.crc32(tag.encode())])


# ------------------------------------------------------------------------------------------------
# Comparison helpers
# ------------------------------------------------------------------------------------------------


def nid(pid: Any) -> Any:
    return str(pid) if isinstance(pid, uuid.UUID) else pid


def canon_id(pid: Any) -> Any:
    """A point id as the server prints it (UUIDs hyphenated, lower case)."""
    return str(uuid.UUID(str(pid))) if isinstance(pid, (str, uuid.UUID)) else pid


def id_key(pid: Any) -> tuple:
    """Qdrant's ExtendedPointId order: every integer (ascending) before every UUID (ascending)."""
    pid = nid(pid)
    return (0, pid, "") if isinstance(pid, int) else (1, 0, str(uuid.UUID(pid)))


def canon(payload: Any) -> str:
    """Strict JSON form: key order ignored, but 1 != 1.0 and [] != {} != null."""
    return json.dumps(payload, sort_keys=True)


def score_close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


def vec_close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            vec_close(a[k], b[k]) for k in a)
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-5, atol=1e-6))


class Ctx:
    """What is being checked, for assertion messages (the seed is printed by the fixture too)."""

    def __init__(self, test: str):
        self.test = test
        self.step = ""

    def __str__(self) -> str:
        return f"[seed {SEED}] {self.test} {self.step}"


def cmp_records(got: Sequence, exp: Sequence, ctx: Any, what: str = "") -> None:
    """Records (scroll / retrieve / query without a query): same ids in the same order, same
    payloads, same vectors."""
    gi, ei = [nid(p.id) for p in got], [nid(p.id) for p in exp]
    assert gi == ei, f"{ctx} {what}: ids differ\n vicinity: {gi}\n local:    {ei}"
    for g, e in zip(got, exp):
        assert canon(g.payload) == canon(e.payload), (
            f"{ctx} {what}: payload of id {nid(g.id)} differs\n vicinity: {canon(g.payload)}\n local:    {canon(e.payload)}")
        assert vec_close(g.vector, e.vector), (
            f"{ctx} {what}: vector of id {nid(g.id)} differs\n vicinity: {g.vector}\n local:    {e.vector}")


def cmp_scored(got: Sequence, ext: Sequence, offset: int, limit: int, ctx: Any, what: str = "") -> None:
    """`got` (vicinity, with offset/limit) against `ext`, local mode's answer for the same query
    from offset 0 with no effective limit. Scores must agree position by position; where ids differ the
    vicinity id must tie (equal score) with the expected one. Payloads / vectors are compared with
    local mode's copy of the same id."""
    exp = list(ext[offset:offset + limit])
    gi = [nid(p.id) for p in got]
    ctxs = f"{ctx} {what}"
    assert len(got) == len(exp), (
        f"{ctxs}: {len(got)} results, expected {len(exp)}\n vicinity: {[(nid(p.id), p.score) for p in got]}\n"
        f" local:    {[(nid(p.id), p.score) for p in exp]}")
    assert len(set(gi)) == len(gi), f"{ctxs}: duplicate ids {gi}"
    by_id = {nid(p.id): p for p in ext}
    for i, (g, e) in enumerate(zip(got, exp)):
        assert score_close(g.score, e.score), (
            f"{ctxs}: position {i}: score {g.score} (id {nid(g.id)}) vs local {e.score} (id {nid(e.id)})\n"
            f" vicinity: {[(nid(p.id), round(p.score, 5)) for p in got]}\n"
            f" local:    {[(nid(p.id), round(p.score, 5)) for p in exp]}")
        ref = e
        if nid(g.id) != nid(e.id):
            ties = {nid(p.id) for p in ext if score_close(p.score, g.score)}
            assert nid(g.id) in ties, (
                f"{ctxs}: position {i}: id {nid(g.id)} (score {g.score}) vs local {nid(e.id)} "
                f"(score {e.score}), not a tie\n vicinity: {gi}\n local:    {[nid(p.id) for p in exp]}")
            ref = by_id[nid(g.id)]
        assert canon(g.payload) == canon(ref.payload), (
            f"{ctxs}: payload of id {nid(g.id)}\n vicinity: {canon(g.payload)}\n local:    {canon(ref.payload)}")
        assert vec_close(g.vector, ref.vector), (
            f"{ctxs}: vector of id {nid(g.id)}\n vicinity: {g.vector}\n local:    {ref.vector}")


class Fails:
    """`with Fails(ctx, 404) as f: ...`: the vicinity call must fail with one of these statuses."""

    def __init__(self, ctx: Any, *statuses: int):
        self.ctx, self.statuses, self.status = ctx, statuses, None

    def __enter__(self) -> "Fails":
        return self

    def __exit__(self, et, ev, tb) -> bool:
        if et is None:
            raise AssertionError(f"{self.ctx}: expected HTTP {self.statuses}, the call succeeded")
        if issubclass(et, UnexpectedResponse):
            self.status = ev.status_code
            assert not self.statuses or ev.status_code in self.statuses, (
                f"{self.ctx}: expected HTTP {self.statuses}, got {ev.status_code}: {ev.content[:300]!r}")
            return True
        if S.LOCAL_MODE and issubclass(et, (ValueError, KeyError, AssertionError)):
            return True
        return False


def local_fails(fn: Callable[[], Any], ctx: Any) -> None:
    try:
        fn()
    except (ValueError, KeyError, AssertionError, UnexpectedResponse):
        return
    raise AssertionError(f"{ctx}: local mode accepted the call (expected an error)")


# ------------------------------------------------------------------------------------------------
# Random data
# ------------------------------------------------------------------------------------------------

COUNTRIES = ["Germany", "Japan", "France", "Chile"]
CITIES = ["Berlin", "Munich", "Tokyo", "Osaka", "Paris", "Lyon", "Santiago"]
SIGHTS = ["castle", "tower", "museum", "park"]
TAGS = ["red", "green", "blue", "x", "y"]
WORDS = ["alpha", "beta", "gamma", "delta", "Alpha", ""]
# the "odd" object: keys that need quoting in paths, Unicode, arrays of arrays, awkward numbers
ODD_WORDS = ["Müesli", "日本", "a b", "", "x.y", "🙂", "A"]
ODD_NUMS = [-0.0, 0.0, 1e16, 1.5e-7, 123.456, 2**62 + 1, -2**63, 2**64 - 1, 2**53 + 1, 7, 7.0, -1e300, 3.0]
ODD_INTS = [0, 1, 2, 3, 7, 2**62 + 1, -2**63]

# Keys by value domain. The first list of each pair uses plain keys and dotted object paths only;
# the second adds Qdrant's array paths (`[]`, `[N]`), and paths that select nothing because a key
# step meets an array (`country.cities.population`: conventions-2 §1.2).
KW_KEYS = (["s", "tags", "country.name"],
           ["tags[]", "tags[0]", "tags[1]", "country.cities[].name", "country.cities[0].name",
            "country.cities[].sights", "country.cities[].sights[]", "country.cities.name",
            'odd."a b"', "odd.Müesli", "odd.Müesli[]", "odd.Müesli[1]", '"odd".Müesli'])
INT_KEYS = (["n", "a.b"], ["a.b[].c", "a.b[0].c", "country.cities[].population", "a.b[]",
                           'odd."b.c"', "odd.deep[]", "odd.deep[][]", "odd.deep[0][1]", "odd.num"])
# (no range on odd.num: Qdrant compares numbers as f64, local mode compares Python ints exactly,
# which differ for integers beyond 2^53 near a bound)
RANGE_KEYS = (["n", "a.b"], ["country.cities[].population", "country.cities[1].population", "a.b[].c",
                             "country.cities.population", "a.b[]", 'odd."b.c"', "odd.deep[][]"])
COUNT_KEYS = (["tags", "country", "n", "s", "missing", "country.cities", "odd"],
              ["tags[]", "country.cities[].sights", "country.cities[].name", "a.b[]", "odd.deep",
               "odd.deep[]", "odd.obj", "odd.Müesli"])
EMPTY_KEYS = (["tags", "s", "n", "country", "missing", "country.cities", "a", "odd"],
              ["country.cities[].sights", "country.cities[].population", "a.b", "tags[]", "a.b[].c",
               "odd.obj", "odd.obj.e", "odd.deep[]", "odd.Müesli"])
NULL_KEYS = (["n", "s", "tags", "missing", "country.cities"],
             ["country.cities[].name", "tags[]", "tags[0]", "a.b[].c", "odd.obj.e", "odd.num"])
# nested filters: keys relative to each element of country.cities
NESTED_KW = (["name"], ["sights[]", "sights[0]"])

# set_payload `key` values and delete_payload keys (conventions-2 §1.6)
SET_KEYS = ["country", "country.cities[0]", "country.cities[]", "country.cities[].meta", "a.b",
            "a.b[0]", "a.b[]", "new.deep", "s", "tags[]", "tags[0]", "n[0]", "country.cities[5]", "a",
            'odd."b.c"', "odd.deep[0]", "odd.deep[]", '"odd"."a b"', "odd.obj"]
DEL_KEYS = ["country.cities[].population", "country.cities[0].name", "tags[]", "tags[0]", "a.b",
            "country.name", "missing.x", "a.b[].c", "country.cities[].sights[]", "country.cities.name",
            'odd."a b"', "odd.deep[]", "odd.deep[0]", "odd.Müesli[]", "odd.obj.e"]
# with_payload selectors (conventions-2 §1.5)
SEL_PLAIN = ["n", "s", "tags", "country", "flag", "nope", "country.name"]
SEL_PATHS = ["country.cities[].name", "country.cities.name", "country.cities[0].name", "tags[]", "tags[0]",
             "a.b[].c", "a.b", "country.cities[].sights[]", "country.cities[]", 'odd."b.c"', 'odd."a b"',
             "odd.deep[]", '"odd".Müesli', "odd"]


def domain_of(key: str) -> list:
    if key.startswith(("odd", '"odd"')):
        return ODD_WORDS
    k = key.split(".")[-1].split("[")[0]
    return {"s": WORDS, "tags": TAGS, "name": CITIES if "cities" in key else COUNTRIES,
            "sights": SIGHTS}.get(k, WORDS)


class Gen:
    """Random points, payloads, filters and selectors for one collection."""

    def __init__(self, rng: np.random.Generator, dim: int, paths: bool, distance: M.Distance,
                 uuids: bool = True):
        self.rng, self.dim, self.paths, self.distance = rng, dim, paths, distance
        ints = sorted(int(x) for x in rng.choice(400, size=60, replace=False))
        self.pool: list = ints + [10**15 + 7, 2**63 + 5, 2**64 - 1]
        if uuids:
            self.pool += [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(30)]
        # a few shared vectors: points that get them tie exactly
        self.shared = [self.raw_vector() for _ in range(3)]

    # --- basics
    def r(self) -> float:
        return float(self.rng.random())

    def i(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi))

    def pick(self, seq: Sequence) -> Any:
        return seq[self.i(0, len(seq))]

    def sample(self, seq: Sequence, k: int) -> list:
        k = max(0, min(k, len(seq)))
        return [seq[j] for j in self.rng.choice(len(seq), size=k, replace=False)]

    def spell(self, pid: Any) -> Any:
        """The same id as a client may send it: a UUID in any spelling Qdrant's parser takes
        (upper case, simple, braced, urn), now and then."""
        if isinstance(pid, int) or self.r() < 0.8:
            return pid
        u = uuid.UUID(pid)
        return self.pick([str(u).upper(), u.hex, "{" + str(u) + "}", "urn:uuid:" + str(u)])

    def spelled(self, ids: Sequence) -> list:
        return [self.spell(x) for x in ids]

    def keys(self, pair: tuple) -> list:
        return pair[0] + pair[1] if self.paths else pair[0]

    # --- vectors and payloads
    def raw_vector(self) -> list:
        return [round(float(x), 4) for x in self.rng.standard_normal(self.dim)]

    def vector(self) -> list:
        k = self.r()
        if k < 0.02 and self.distance != M.Distance.COSINE:
            # (zero vectors in Cosine collections differ on purpose: see the module docs)
            return [0.0] * self.dim
        return list(self.pick(self.shared)) if k < 0.12 else self.raw_vector()

    def city(self) -> dict:
        c: dict = {"name": self.pick(CITIES)}
        c["population"] = self.i(0, 12) if self.r() < 0.5 else round(self.r() * 12, 2)
        if self.r() < 0.6:
            c["sights"] = [self.pick(SIGHTS) for _ in range(self.i(0, 3))]
        return c

    def payload(self) -> dict:
        p: dict = {}
        if self.r() < 0.85:
            k = self.r()
            p["n"] = self.i(-3, 12) if k < 0.7 else (round(self.r() * 15 - 3, 2) if k < 0.85 else None)
        if self.r() < 0.8:
            p["s"] = self.pick(WORDS) if self.r() < 0.85 else None
        if self.r() < 0.8:
            k = self.r()
            if k < 0.15:
                p["tags"] = []
            elif k < 0.22:
                p["tags"] = [None] + ([self.pick(TAGS)] if self.r() < 0.5 else [])
            else:
                p["tags"] = [self.pick(TAGS) for _ in range(self.i(1, 4))]
        if self.r() < 0.7:
            c: dict = {"name": self.pick(COUNTRIES)}
            k = self.r()
            if k < 0.8:
                c["cities"] = [self.city() for _ in range(self.i(0, 4))]
            elif k < 0.9:
                c["cities"] = None
            p["country"] = c
        if self.r() < 0.3:
            p["a"] = ({"b": [{"c": self.i(0, 5)} for _ in range(self.i(0, 3))] + ([{"d": 1}] if self.r() < 0.3 else [])}
                      if self.r() < 0.6 else {"b": self.i(0, 5)})
        if self.r() < 0.5:
            p["flag"] = bool(self.i(0, 2))
        if self.r() < 0.2:
            p["odd"] = self.odd()
        return p

    def odd(self) -> dict:
        o: dict = {}
        if self.r() < 0.7:
            o["b.c"] = self.i(0, 4)
        if self.r() < 0.6:
            o["a b"] = self.pick(ODD_WORDS)
        if self.r() < 0.5:
            o["Müesli"] = [self.pick(ODD_WORDS) for _ in range(self.i(0, 3))]
        if self.r() < 0.3:
            o[""] = self.i(0, 3)
        if self.r() < 0.5:
            o["deep"] = [[self.i(0, 4) for _ in range(self.i(0, 3))] for _ in range(self.i(0, 3))] + (
                [self.i(0, 4)] if self.r() < 0.3 else [])
        if self.r() < 0.6:
            o["num"] = self.pick(ODD_NUMS)
        if self.r() < 0.3:
            o["obj"] = self.pick([{}, {"e": None}, {"e": [None]}, {"e": 1}])
        return o

    def partial_payload(self) -> dict:
        """A payload for set_payload: some keys of a random payload, sometimes a null (which
        removes that key: conventions-2 §1.6 merge rule)."""
        full = self.payload()
        part = {k: full[k] for k in self.sample(list(full), self.i(1, 3))} if full else {}
        if self.r() < 0.3:
            part[self.pick(["n", "s", "tags", "flag", "zz"])] = None
        if self.r() < 0.3:
            part["extra"] = {"k": self.i(0, 3), "l": [self.pick(TAGS)]}
        return part or {"extra": 1}

    # --- filters
    def match_value(self, key: str) -> Any:
        if key.startswith("odd") and key in INT_KEYS[1]:
            return self.pick(ODD_INTS)
        if key in INT_KEYS[0] + INT_KEYS[1]:
            return self.i(-3, 12) if key == "n" else self.i(0, 6)
        if self.r() < 0.05:
            return self.i(0, 5)  # a type that never matches a keyword
        return self.pick(domain_of(key))

    def condition(self, depth: int) -> Any:
        kinds = ["value", "value", "any", "except", "range", "range", "count", "empty", "null",
                 "has_id", "nested", "fc_empty", "fc_null", "flag"]
        if depth < 2:
            kinds += ["filter", "filter"]
        k = self.pick(kinds)
        if k == "flag":
            return M.FieldCondition(key="flag", match=M.MatchValue(value=bool(self.i(0, 2))))
        if k == "value":
            key = self.pick(self.keys(KW_KEYS) + self.keys(INT_KEYS))
            return M.FieldCondition(key=key, match=M.MatchValue(value=self.match_value(key)))
        if k in ("any", "except"):
            if self.r() < 0.5:
                key = self.pick(self.keys(INT_KEYS))
                vals = [self.i(-3, 12) for _ in range(self.i(0, 4) if self.r() < 0.1 else self.i(1, 4))]
            else:
                key = self.pick(self.keys(KW_KEYS))
                vals = self.sample(domain_of(key), self.i(0, 3) if self.r() < 0.1 else self.i(1, 3))
            m = M.MatchAny(any=vals) if k == "any" else M.MatchExcept(**{"except": vals})
            return M.FieldCondition(key=key, match=m)
        if k == "range":
            key = self.pick(self.keys(RANGE_KEYS))
            bounds = {}
            for b in self.sample(["gt", "gte", "lt", "lte"], self.i(1, 3)):
                bounds[b] = self.i(-2, 10) if self.r() < 0.5 else round(self.r() * 12 - 2, 1)
            return M.FieldCondition(key=key, range=M.Range(**bounds))
        if k == "count":
            key = self.pick(self.keys(COUNT_KEYS))
            b = self.pick(["gt", "gte", "lt", "lte"])
            return M.FieldCondition(key=key, values_count=M.ValuesCount(**{b: self.i(0, 4)}))
        if k == "empty":
            return M.IsEmptyCondition(is_empty=M.PayloadField(key=self.pick(self.keys(EMPTY_KEYS))))
        if k == "null":
            return M.IsNullCondition(is_null=M.PayloadField(key=self.pick(self.keys(NULL_KEYS))))
        if k == "fc_empty":
            return M.FieldCondition(key=self.pick(self.keys(EMPTY_KEYS)), is_empty=bool(self.i(0, 2)))
        if k == "fc_null":
            return M.FieldCondition(key=self.pick(self.keys(NULL_KEYS)), is_null=bool(self.i(0, 2)))
        if k == "has_id":
            return M.HasIdCondition(has_id=self.spelled(self.sample(self.pool, self.i(1, 12))))
        if k == "nested":
            return M.NestedCondition(nested=M.Nested(
                key="country.cities[]" if self.paths and self.r() < 0.3 else "country.cities",
                filter=self.nested_filter()))
        return self.filter(depth + 1)

    def nested_condition(self) -> Any:
        k = self.pick(["name", "name", "pop", "sights", "count", "empty"])
        if k == "name":
            key = self.pick(self.keys(NESTED_KW))
            dom = SIGHTS if key.startswith("sights") else CITIES
            return M.FieldCondition(key=key, match=M.MatchValue(value=self.pick(dom)) if self.r() < 0.7
                                    else M.MatchAny(any=self.sample(dom, 2)))
        if k == "pop":
            return M.FieldCondition(key="population", range=M.Range(**{self.pick(["gt", "lt", "gte", "lte"]): round(self.r() * 12, 1)}))
        if k == "sights":
            return M.FieldCondition(key="sights", match=M.MatchExcept(**{"except": self.sample(SIGHTS, 2)}))
        if k == "count":
            return M.FieldCondition(key="sights", values_count=M.ValuesCount(gte=self.i(0, 3)))
        return M.IsEmptyCondition(is_empty=M.PayloadField(key="sights"))

    def nested_filter(self) -> M.Filter:
        conds = [self.nested_condition() for _ in range(self.i(1, 3))]
        return M.Filter(must=conds) if self.r() < 0.7 else M.Filter(must=conds[:1], must_not=conds[1:] or None)

    def filter(self, depth: int = 0) -> M.Filter:
        f: dict = {}
        for clause in self.sample(["must", "should", "must_not", "min_should"], self.i(1, 3)):
            conds = [self.condition(depth) for _ in range(self.i(1, 3 if clause == "must" else 4))]
            if clause == "min_should":
                # now and then more than there are conditions: matches nothing
                f[clause] = M.MinShould(conditions=conds, min_count=self.i(1, len(conds) + (2 if self.r() < 0.1 else 1)))
            elif clause == "must" and len(conds) == 1 and self.r() < 0.3:
                f[clause] = conds[0]  # a single condition, not a list
            else:
                f[clause] = conds
        return M.Filter(**f)

    def maybe_filter(self, p: float = 0.5) -> Optional[M.Filter]:
        return self.filter() if self.r() < p else None

    # --- selectors
    def with_payload(self) -> Any:
        keys = SEL_PLAIN + (SEL_PATHS if self.paths else [])
        k = self.r()
        if k < 0.45:
            return True
        if k < 0.55:
            return False
        sel = self.sample(keys, self.i(1, 4))
        if k < 0.7:
            return sel
        if k < 0.85:
            return M.PayloadSelectorInclude(include=sel)
        return M.PayloadSelectorExclude(exclude=sel)


# ------------------------------------------------------------------------------------------------
# The pair of collections
# ------------------------------------------------------------------------------------------------


class Pair:
    """The same collection in vicinity (`v`) and in local mode (`l`)."""

    def __init__(self, v: QdrantClient, l: QdrantClient, name: str, dim: int, distance: M.Distance, ctx: Ctx):
        self.v, self.l, self.name, self.dim, self.distance, self.ctx = v, l, name, dim, distance, ctx
        for c in (v, l):
            if c.collection_exists(name):
                c.delete_collection(name)
            assert c.create_collection(name, vectors_config=M.VectorParams(size=dim, distance=distance))

    def drop(self) -> None:
        for c in (self.v, self.l):
            c.delete_collection(self.name)

    def both(self, method: str, *args: Any, **kw: Any) -> tuple:
        rv = getattr(self.v, method)(self.name, *args, **kw)
        rl = getattr(self.l, method)(self.name, *args, **kw)
        return rv, rl

    def write(self, method: str, *args: Any, **kw: Any) -> None:
        rv, _ = self.both(method, *args, **kw)
        results = rv if isinstance(rv, list) else [rv]
        for r in results:
            assert r.status == M.UpdateStatus.COMPLETED, f"{self.ctx}: {method}: {r}"

    def ids(self) -> list:
        pts, _ = self.l.scroll(self.name, limit=FULL, with_payload=False)
        return [nid(p.id) for p in pts]

    def records(self) -> dict:
        pts, _ = self.l.scroll(self.name, limit=FULL, with_payload=True, with_vectors=True)
        return {nid(p.id): p for p in pts}

    # --- checks
    def check_state(self, what: str = "state") -> None:
        v, nv = self.v.scroll(self.name, limit=FULL, with_payload=True, with_vectors=True)
        l, nl = self.l.scroll(self.name, limit=FULL, with_payload=True, with_vectors=True)
        assert nv is None and nl is None
        cmp_records(v, l, self.ctx, what)
        assert self.v.count(self.name, exact=True).count == len(l), f"{self.ctx}: count() vs scroll"

    def check_count(self, f: Optional[M.Filter]) -> None:
        cv, cl = self.both("count", count_filter=f, exact=True)
        assert cv.count == cl.count, (
            f"{self.ctx}: count with filter {f}: vicinity {cv.count}, local {cl.count}{self.explain(f)}")

    def explain(self, f: Optional[M.Filter]) -> str:
        """For a failure message: the first point the two sides filter differently, its payload, and
        the leaf conditions of `f` they disagree on for that point."""
        if f is None:
            return ""
        try:
            (v, _), (l, _) = self.both("scroll", scroll_filter=f, limit=FULL, with_payload=False)
            diff = {nid(x.id) for x in v} ^ {nid(x.id) for x in l}
            if not diff:
                return "\n (the filtered id sets agree)"
            pid = sorted(diff, key=id_key)[0]
            payload = self.l.retrieve(self.name, [pid])[0].payload
            bad = []
            for leaf in leaves(f):
                probe = M.Filter(must=[leaf, M.HasIdCondition(has_id=[pid])])
                a = self.v.count(self.name, count_filter=probe).count
                b = self.l.count(self.name, count_filter=probe).count
                if a != b:
                    bad.append(f"{leaf!r}: vicinity {'matches' if a else 'does not match'}, local "
                               f"{'matches' if b else 'does not match'}")
            return (f"\n first differing point: id {pid} payload {canon(payload)}"
                    + "".join(f"\n  leaf {x}" for x in bad))
        except Exception as e:  # the explanation must not hide the failure
            return f"\n (no explanation: {e!r})"

    def check_query(self, query: Any, f: Optional[M.Filter], limit: int, offset: int, with_payload: Any,
                    with_vectors: bool, threshold: Optional[float] = None, what: str = "query") -> list:
        kw = dict(query_filter=f, with_payload=with_payload, with_vectors=with_vectors, score_threshold=threshold)
        got = self.v.query_points(self.name, query=query, limit=limit, offset=offset or None,
                                  search_params=EXACT, **kw).points
        # every point, so that a tie group running past the page can be checked whole
        ext = self.l.query_points(self.name, query=query, limit=FULL, **kw).points
        try:
            cmp_scored(got, ext, offset, limit, self.ctx, f"{what} (limit {limit}, offset {offset}, filter {f}, "
                                                          f"with_payload {with_payload}, threshold {threshold})")
        except AssertionError as e:
            raise AssertionError(f"{e}{self.explain(f)}") from None
        return got

    def check_scroll(self, f: Optional[M.Filter], limit: int, offset: Any, with_payload: Any, with_vectors: bool) -> Any:
        kw = dict(scroll_filter=f, limit=limit, offset=offset, with_payload=with_payload, with_vectors=with_vectors)
        (v, nv), (l, nl) = self.both("scroll", **kw)
        what = f"scroll (limit {limit}, offset {offset}, filter {f}, with_payload {with_payload})"
        try:
            cmp_records(v, l, self.ctx, what)
        except AssertionError as e:
            raise AssertionError(f"{e}{self.explain(f)}") from None
        assert nid(nv) == nid(nl), f"{self.ctx} {what}: next_page_offset {nv} vs local {nl}"
        return nl


# ------------------------------------------------------------------------------------------------
# Random operations
# ------------------------------------------------------------------------------------------------


def leaves(f: Any) -> list:
    """The conditions of a filter, recursively (a nested condition counts as one leaf)."""
    if not isinstance(f, M.Filter):
        return [f]
    out: list = []
    for clause in (f.must, f.should, f.must_not, f.min_should.conditions if f.min_should else None):
        if clause is None:
            continue
        for c in clause if isinstance(clause, list) else [clause]:
            out += leaves(c)
    return out


def points_selector(g: Gen, existing: list, for_payload: bool) -> Any:
    """Ids (existing ones only for payload ops: a missing id is a 404, tested separately) or a filter."""
    if g.r() < 0.3 or not existing:
        return M.FilterSelector(filter=g.filter())
    if for_payload:
        return M.PointIdsList(points=g.spelled(g.sample(existing, g.i(1, 6))))
    return M.PointIdsList(points=g.spelled(g.sample(existing, g.i(0, 4)) + g.sample(g.pool, g.i(1, 4))))


def upsert_args(g: Gen, existing: list) -> dict:
    k = g.i(1, 9)
    new = [x for x in g.pool if x not in set(existing)]
    ids = g.sample(existing, g.i(0, k + 1)) + g.sample(new, k)
    ids = g.sample(ids, min(len(ids), k)) or [g.pick(g.pool)]  # (an empty upsert is not compared)
    vectors = [g.vector() for _ in ids]
    payloads = [g.payload() if g.r() < 0.9 else None for _ in ids]
    mode = g.pick([None, None, None, M.UpdateMode.UPSERT, M.UpdateMode.INSERT_ONLY, M.UpdateMode.UPDATE_ONLY])
    update_filter = g.filter() if g.r() < 0.3 else None
    if mode in (None, M.UpdateMode.UPSERT) and update_filter is None and g.r() < 0.15:
        # the same id twice in one request: the last one wins (Qdrant collects the points of an
        # upsert into a map by id, segments_updater `upsert_points`). Not combined with a filter or
        # a mode, where the outcome would depend on the order the points are decided in.
        ids.append(g.pick(ids))
        vectors.append(g.vector())
        payloads.append(g.payload())
    ids = g.spelled(ids)
    if g.r() < 0.5:
        points: Any = [M.PointStruct(id=i, vector=v, payload=p) for i, v, p in zip(ids, vectors, payloads)]
    else:
        # the batch form takes a payload for every point, or none at all
        points = M.Batch(ids=ids, vectors=vectors, payloads=None if g.r() < 0.15 else [p or {} for p in payloads])
    return dict(points=points, update_mode=mode, update_filter=update_filter)


def random_mutation(p: Pair, g: Gen, payload_keys: bool) -> str:
    existing = p.ids()
    kinds = ["upsert"] * 4 + ["delete_ids", "set", "set", "overwrite", "delete_payload", "clear"]
    if len(existing) > 40:
        kinds += ["delete_filter"]
    if len(existing) < 20:
        kinds = ["upsert"]
    kind = g.pick(kinds)
    if kind == "upsert":
        a = upsert_args(g, existing)
        p.ctx.step = f"upsert {a}"
        p.write("upsert", **a)
    elif kind == "delete_ids":
        sel = points_selector(g, existing, for_payload=False)
        p.ctx.step = f"delete {sel}"
        p.write("delete", points_selector=sel)
    elif kind == "delete_filter":
        # now and then an empty filter, which matches every point
        sel = M.FilterSelector(filter=g.filter() if g.r() < 0.92 else M.Filter())
        p.ctx.step = f"delete {sel}"
        p.write("delete", points_selector=sel)
    elif kind == "set":
        sel = points_selector(g, existing, for_payload=True)
        key = g.pick(SET_KEYS) if payload_keys and g.r() < 0.6 else None
        pl = g.partial_payload()
        p.ctx.step = f"set_payload {pl} key={key} {sel}"
        p.write("set_payload", payload=pl, points=sel, key=key)
    elif kind == "overwrite":
        sel = points_selector(g, existing, for_payload=True)
        pl = g.payload()
        p.ctx.step = f"overwrite_payload {pl} {sel}"
        p.write("overwrite_payload", payload=pl, points=sel)
    elif kind == "delete_payload":
        sel = points_selector(g, existing, for_payload=True)
        keys = (g.sample(DEL_KEYS + ["n", "s", "tags", "country"], g.i(1, 4)) if payload_keys
                else g.sample(["n", "s", "tags", "country", "flag", "nope"], g.i(1, 4)))
        p.ctx.step = f"delete_payload {keys} {sel}"
        p.write("delete_payload", keys=keys, points=sel)
    else:
        sel = points_selector(g, existing, for_payload=True)
        p.ctx.step = f"clear_payload {sel}"
        p.write("clear_payload", points_selector=sel)
    return kind


def example(g: Gen, existing: list) -> Any:
    """A recommend example: mostly a point id, sometimes a raw vector."""
    if g.r() < 0.75:
        return g.spell(g.pick(existing))
    return g.raw_vector()


def pick_threshold(p: Pair, g: Gen, q: Any, f: Optional[M.Filter]) -> Optional[float]:
    """Now and then a score_threshold half-way between two well-separated scores of local mode's
    answer (so float noise cannot put a point on either side). Not for best_score / sum_scores in
    a Euclid collection (see the module docs)."""
    if g.r() >= 0.25:
        return None
    if (g.distance == M.Distance.EUCLID and isinstance(q, M.RecommendQuery)
            and q.recommend.strategy != M.RecommendStrategy.AVERAGE_VECTOR):
        return None
    ref = p.l.query_points(p.name, query=q, limit=FULL, query_filter=f, with_payload=False).points
    gaps = [(a.score + b.score) / 2 for a, b in zip(ref, ref[1:]) if abs(a.score - b.score) > 1e-2]
    return g.pick(gaps) if gaps else None


def random_read(p: Pair, g: Gen) -> None:
    recs = p.records()
    existing = list(recs)
    kind = g.pick(["count", "query", "query", "query_id", "no_query", "recommend", "recommend", "scroll", "retrieve"])
    f = g.maybe_filter(0.5)
    limit, offset = g.i(1, 16), (g.i(0, 6) if g.r() < 0.4 else 0)
    wp, wv = g.with_payload(), g.r() < 0.3
    if kind == "count" or not existing:
        p.ctx.step = f"count {f}"
        p.check_count(f)
    elif kind == "query":
        q = g.raw_vector() if g.r() < 0.7 else list(g.pick(g.shared))
        threshold = pick_threshold(p, g, q, f)
        p.ctx.step = f"query {q}"
        p.check_query(q, f, limit, offset, wp, wv, threshold)
    elif kind == "query_id":
        pid = g.pick(existing)
        p.ctx.step = f"query by id {pid}"
        got = p.check_query(g.spell(pid), f, limit, offset, wp, wv, what="query by id")
        assert pid not in [nid(x.id) for x in got], f"{p.ctx}: the example itself must be excluded"
    elif kind == "no_query":
        p.ctx.step = "query without a query"
        got = p.v.query_points(p.name, query_filter=f, limit=limit, offset=offset or None,
                               with_payload=wp, with_vectors=wv).points
        exp = p.l.query_points(p.name, query_filter=f, limit=limit, offset=offset,
                               with_payload=wp, with_vectors=wv).points
        cmp_records(got, exp, p.ctx, f"query without a query (limit {limit}, offset {offset}, filter {f})")
        assert all(x.score == 1.0 for x in got), f"{p.ctx}: scores {[x.score for x in got]} (expected 1.0)"
        assert [id_key(x.id) for x in got] == sorted(id_key(x.id) for x in got), f"{p.ctx}: not in id order"
    elif kind == "recommend":
        strategy = g.pick([M.RecommendStrategy.AVERAGE_VECTOR, M.RecommendStrategy.BEST_SCORE,
                           M.RecommendStrategy.SUM_SCORES])
        pos = [example(g, existing) for _ in range(g.i(0, 3))]
        neg = [example(g, existing) for _ in range(g.i(0, 3))]
        if strategy == M.RecommendStrategy.AVERAGE_VECTOR and not pos or not pos and not neg:
            pos = [g.pick(existing)]
        q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos or None, negative=neg or None, strategy=strategy))
        p.ctx.step = f"recommend {q}"
        got = p.check_query(q, f, limit, offset, wp, wv, pick_threshold(p, g, q, f), what=f"recommend {strategy.value}")
        examples = {canon_id(x) for x in pos + neg if not isinstance(x, list)}
        assert not examples & {nid(x.id) for x in got}, f"{p.ctx}: recommend returned one of its examples"
    elif kind == "scroll":
        start = None if g.r() < 0.4 else g.spell(g.pick(g.pool))
        p.ctx.step = "scroll"
        p.check_scroll(f, limit, start, wp, wv)
    else:
        ids = g.sample(existing, g.i(0, 6)) + g.sample(g.pool, g.i(0, 4))
        ids = g.spelled(list(dict.fromkeys(ids)))  # duplicates: see test_retrieve_duplicates_and_order
        p.ctx.step = f"retrieve {ids}"
        (v, l) = p.both("retrieve", ids=ids, with_payload=wp, with_vectors=wv)
        # Qdrant returns the points in the order they were requested
        # (lib/collection/src/collection/point_ops.rs `retrieve`); local mode does the same.
        cmp_records(v, l, p.ctx, f"retrieve {ids} with_payload {wp}")


def run_random(v: QdrantClient, l: QdrantClient, name: str, distance: M.Distance, *, paths: bool,
               steps: int, reads: int, uuids: bool = True) -> None:
    ctx = Ctx(name)
    g = Gen(rng_for(name), dim=int(rng_for(name + "dim").integers(4, 9)), paths=paths, distance=distance, uuids=uuids)
    p = Pair(v, l, name, g.dim, distance, ctx)
    # an initial load, so reads have something to chew on
    first = g.sample(g.pool, 40)
    ctx.step = "initial load"
    p.write("upsert", points=[M.PointStruct(id=i, vector=g.vector(), payload=g.payload()) for i in first])
    p.check_state("after the initial load")
    for step in range(steps):
        kind = random_mutation(p, g, payload_keys=paths)
        if step % 4 == 3 or kind not in ("upsert",):
            p.check_state(f"after step {step} ({kind})")
        for _ in range(reads):
            random_read(p, g)
    ctx.step = "final"
    p.check_state("final")
    p.drop()


@pytest.mark.parametrize("distance", [M.Distance.DOT, M.Distance.COSINE, M.Distance.EUCLID], ids=lambda d: d.value)
def test_random_operations(client: QdrantClient, local: QdrantClient, distance: M.Distance):
    """Upserts (points and batch forms, update_mode, update_filter), deletes by ids and by filter,
    set / overwrite / delete / clear payload on top-level keys, with exact queries, queries by id,
    queries without a query, recommendations, counts, scrolls and retrieves compared after each
    step. Filters use plain and dotted object keys."""
    run_random(client, local, f"cg_ops_{distance.value.lower()}", distance, paths=False, steps=rounds(45), reads=3)


def test_random_operations_with_paths(client: QdrantClient, local: QdrantClient):
    """As above, with Qdrant's JSON paths everywhere: set_payload `key` (`a.b`, `a.b[0]`, `a.b[]`,
    ...), delete_payload paths, include/exclude selectors with nested paths, and filters on keys with
    `[]` and `[N]` (conventions-2 §1)."""
    run_random(client, local, "cg_ops_paths", M.Distance.DOT, paths=True, steps=rounds(60), reads=3)


# ------------------------------------------------------------------------------------------------
# Filters on a fixed data set
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("paths", [False, True], ids=["plain_keys", "array_paths"])
def test_random_filters(client: QdrantClient, local: QdrantClient, paths: bool):
    """Many random filters (match value / any / except, range, values_count, is_empty, is_null,
    has_id, nested, must / should / must_not / min_should) over one collection: count, filtered
    scroll and filtered exact query agree."""
    name = f"cg_filters_{'paths' if paths else 'plain'}"
    ctx = Ctx(name)
    g = Gen(rng_for(name), dim=5, paths=paths, distance=M.Distance.COSINE)
    p = Pair(client, local, name, g.dim, M.Distance.COSINE, ctx)
    ctx.step = "load"
    ids = g.sample(g.pool, 90)
    p.write("upsert", points=M.Batch(ids=ids, vectors=[g.vector() for _ in ids], payloads=[g.payload() for _ in ids]))
    # a few hand-made payloads with the edge shapes of conventions-2 §1.3
    edge = [
        {"country": {"name": "Germany", "cities": [{"name": "Berlin", "population": 3.7, "sights": ["castle", "tower"]},
                                                   {"name": "Munich", "population": 1.5}]}},
        {"country": {"name": "Japan", "cities": [{"name": "Tokyo", "population": 9.3, "sights": ["tower"]},
                                                 {"name": "Osaka", "population": 2.7, "sights": []}]}},
        {"a": {"b": [{"c": 1}, {"c": 2}, {"d": {"e": 3}}]}, "tags": ["x", "y"], "n": None, "s": None},
        {"a": 5, "tags": [None], "country": {"cities": []}},
        {"tags": [None, "red"], "country": {"name": "Chile", "cities": None}, "n": 3.0},
        {"a": {"b": [[1, 2], 3]}, "n": [1, 2, 3], "s": ["alpha", "beta"]},
        {},
    ]
    extra = [x for x in range(1000, 1000 + len(edge))]
    p.write("upsert", points=[M.PointStruct(id=i, vector=g.vector(), payload=pl) for i, pl in zip(extra, edge)])
    p.check_state()
    for i in range(rounds(100)):
        f = g.filter()
        ctx.step = f"filter #{i}: {f}"
        p.check_count(f)
        if i % 3 == 0:
            p.check_scroll(f, 200, None, True, False)
        if i % 3 == 1:
            p.check_query(g.raw_vector(), f, 10, 0, False, False)
    p.drop()


# ------------------------------------------------------------------------------------------------
# Scroll pagination and queries without a query
# ------------------------------------------------------------------------------------------------


def test_scroll_pagination(client: QdrantClient, local: QdrantClient):
    """Walk whole collections page by page (random page sizes, filters, selectors): every page and
    every next_page_offset agree, and the pages concatenate to the filtered collection in id order."""
    name = "cg_scroll"
    ctx = Ctx(name)
    g = Gen(rng_for(name), dim=4, paths=False, distance=M.Distance.EUCLID)
    p = Pair(client, local, name, g.dim, M.Distance.EUCLID, ctx)
    ids = g.sample(g.pool, 80)
    p.write("upsert", points=[M.PointStruct(id=i, vector=g.vector(), payload=g.payload()) for i in ids])
    for walk in range(rounds(8)):
        f = g.maybe_filter(0.5)
        limit = g.i(1, 25)
        wp = g.with_payload()
        offset = None if walk % 2 == 0 else g.pick(g.pool)
        seen: list = []
        for page in range(200):
            ctx.step = f"walk {walk} page {page} (limit {limit}, offset {offset}, filter {f})"
            got, _ = client.scroll(name, scroll_filter=f, limit=limit, offset=offset, with_payload=False)
            nxt = p.check_scroll(f, limit, offset, wp, False)  # vicinity's next_page_offset == local's
            seen += [nid(x.id) for x in got]
            if nxt is None:
                break
            offset = nid(nxt)
        else:
            raise AssertionError(f"{ctx}: no last page")
        every, _ = local.scroll(name, scroll_filter=f, limit=10_000, with_payload=False)
        exp = [nid(x.id) for x in every]
        if walk % 2 == 0:
            assert seen == exp, f"{ctx}: pages concatenate to {seen}, expected {exp}"
        else:
            assert seen == exp[len(exp) - len(seen):], f"{ctx}: pages {seen} are not a suffix of {exp}"
    p.drop()


def test_query_without_query(client: QdrantClient, local: QdrantClient):
    """POST /points/query with no query: points in id order (integers, then UUIDs), score 1.0,
    `offset` counts points (conventions §7)."""
    name = "cg_noquery"
    ctx = Ctx(name)
    g = Gen(rng_for(name), dim=6, paths=False, distance=M.Distance.DOT)
    p = Pair(client, local, name, g.dim, M.Distance.DOT, ctx)
    ids = g.sample(g.pool, 60)
    p.write("upsert", points=[M.PointStruct(id=i, vector=g.vector(), payload=g.payload()) for i in ids])
    order = sorted(ids, key=id_key)
    for i in range(rounds(25)):
        f = g.maybe_filter(0.4)
        limit, offset = g.i(1, 30), g.i(0, 70)
        wp, wv = g.with_payload(), g.r() < 0.3
        ctx.step = f"#{i} limit {limit} offset {offset} filter {f}"
        got = client.query_points(name, limit=limit, offset=offset or None, query_filter=f,
                                  with_payload=wp, with_vectors=wv).points
        exp = local.query_points(name, limit=limit, offset=offset, query_filter=f,
                                 with_payload=wp, with_vectors=wv).points
        cmp_records(got, exp, ctx, "query without a query")
        assert all(x.score == 1.0 for x in got), f"{ctx}: {[x.score for x in got]}"
        if f is None:  # independent of local mode: offset counts points of the id order
            assert [nid(x.id) for x in got] == order[offset:offset + limit], f"{ctx}: {[nid(x.id) for x in got]}"
    p.drop()


def test_score_threshold_needs_a_query(client: QdrantClient, local: QdrantClient):
    """score_threshold without a query is refused: 400 "Bad request: A query is needed to use the
    score_threshold. Can't have score_threshold without defining a query."
    (CollectionQueryRequest::validation; asserted verbatim by Qdrant's tests/openapi query tests).
    Local mode refuses it too."""
    name = "cg_threshold_noquery"
    ctx = Ctx(name)
    p = Pair(client, local, name, 2, M.Distance.DOT, ctx)
    p.write("upsert", points=[M.PointStruct(id=1, vector=[1.0, 0.0])])
    with Fails(ctx, 400):
        client.query_points(name, score_threshold=0.5)
    local_fails(lambda: local.query_points(name, score_threshold=0.5), ctx)
    p.drop()


# ------------------------------------------------------------------------------------------------
# Recommend
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", [M.Distance.DOT, M.Distance.COSINE, M.Distance.EUCLID], ids=lambda d: d.value)
def test_recommend(client: QdrantClient, local: QdrantClient, distance: M.Distance):
    """RecommendQuery with average_vector / best_score / sum_scores, ids and raw vectors as examples,
    with filters, limits and offsets, exact."""
    name = f"cg_reco_{distance.value.lower()}"
    ctx = Ctx(name)
    g = Gen(rng_for(name), dim=8, paths=False, distance=distance)
    p = Pair(client, local, name, g.dim, distance, ctx)
    ids = g.sample(g.pool, 70)
    p.write("upsert", points=M.Batch(ids=ids, vectors=[g.vector() for _ in ids], payloads=[g.payload() for _ in ids]))
    for i in range(rounds(15)):
        for strategy in (M.RecommendStrategy.AVERAGE_VECTOR, M.RecommendStrategy.BEST_SCORE,
                         M.RecommendStrategy.SUM_SCORES):
            pos = [example(g, ids) for _ in range(g.i(0, 4))]
            neg = [example(g, ids) for _ in range(g.i(0, 3))]
            if strategy == M.RecommendStrategy.AVERAGE_VECTOR and not pos or not (pos or neg):
                pos = [g.pick(ids)]
            q = M.RecommendQuery(recommend=M.RecommendInput(positive=pos or None, negative=neg or None,
                                                            strategy=strategy))
            ctx.step = f"#{i} {q}"
            f = g.maybe_filter(0.3)
            p.check_query(q, f, g.i(1, 12), g.i(0, 4) if g.r() < 0.3 else 0, g.with_payload(), False,
                          pick_threshold(p, g, q, f), what=f"recommend {strategy.value}")
    p.drop()


# ------------------------------------------------------------------------------------------------
# points/batch
# ------------------------------------------------------------------------------------------------


def random_batch_ops(g: Gen, existing: list) -> list:
    """1-6 operations for POST /points/batch. Payload operations by id only name points that exist
    when they run (a missing id is a 404 that aborts the batch: test_batch_failure_midway)."""
    alive = set(existing)
    ids_known = True  # False after a delete by filter: then payload ops select by filter
    ops: list = []
    for _ in range(g.i(1, 7)):
        k = g.pick(["upsert", "upsert", "delete", "set", "set", "overwrite", "delete_payload", "clear"])

        def sel() -> tuple:
            if not ids_known or not alive or g.r() < 0.3:
                return {"filter": g.filter()}, M.FilterSelector(filter=g.filter())
            chosen = g.sample(sorted(alive, key=id_key), g.i(1, 5))
            return {"points": chosen}, M.PointIdsList(points=chosen)

        if k == "upsert":
            a = upsert_args(g, sorted(alive, key=id_key))
            pts = a["points"]
            body = (M.PointsList(points=pts, update_mode=a["update_mode"], update_filter=a["update_filter"])
                    if isinstance(pts, list) else
                    M.PointsBatch(batch=pts, update_mode=a["update_mode"], update_filter=a["update_filter"]))
            ops.append(M.UpsertOperation(upsert=body))
            new = [x.id for x in pts] if isinstance(pts, list) else list(pts.ids)
            if a["update_mode"] != M.UpdateMode.UPDATE_ONLY:
                alive |= set(new)
        elif k == "delete":
            if g.r() < 0.5:
                chosen = g.sample(g.pool, g.i(1, 5))
                ops.append(M.DeleteOperation(delete=M.PointIdsList(points=chosen)))
                alive -= set(chosen)
            else:
                ops.append(M.DeleteOperation(delete=M.FilterSelector(filter=g.filter())))
                ids_known = False
        elif k in ("set", "overwrite"):
            d, _ = sel()
            key = g.pick(SET_KEYS) if k == "set" and g.paths and g.r() < 0.5 else None
            body = M.SetPayload(payload=g.partial_payload() if k == "set" else g.payload(), key=key, **d)
            ops.append(M.SetPayloadOperation(set_payload=body) if k == "set"
                       else M.OverwritePayloadOperation(overwrite_payload=body))
        elif k == "delete_payload":
            d, _ = sel()
            keys = g.sample(DEL_KEYS + ["n", "s"] if g.paths else ["n", "s", "tags", "country"], g.i(1, 3))
            ops.append(M.DeletePayloadOperation(delete_payload=M.DeletePayload(keys=keys, **d)))
        else:
            _, s = sel()
            ops.append(M.ClearPayloadOperation(clear_payload=s))
    return ops


def test_batch_update_random(client: QdrantClient, local: QdrantClient):
    """client.batch_update_points with random sequences of Upsert / Delete / SetPayload /
    OverwritePayload / DeletePayload / ClearPayload operations: one result per operation, and the
    resulting collections agree."""
    name = "cg_batch"
    ctx = Ctx(name)
    g = Gen(rng_for(name), dim=5, paths=True, distance=M.Distance.COSINE)
    p = Pair(client, local, name, g.dim, M.Distance.COSINE, ctx)
    p.write("upsert", points=[M.PointStruct(id=i, vector=g.vector(), payload=g.payload()) for i in g.sample(g.pool, 40)])
    for i in range(rounds(35)):
        ops = random_batch_ops(g, p.ids())
        ctx.step = f"batch #{i}: {ops}"
        rv, rl = p.both("batch_update_points", update_operations=ops)
        assert len(rv) == len(ops) == len(rl), f"{ctx}: {len(rv)} results for {len(ops)} operations"
        assert all(r.status == M.UpdateStatus.COMPLETED for r in rv), f"{ctx}: {rv}"
        p.check_state(f"after batch #{i}")
        if i % 5 == 4:
            random_read(p, g)
    p.drop()


def test_batch_sequence(client: QdrantClient, local: QdrantClient):
    """Operations in a batch see the effects of the earlier ones (Qdrant's test_batch_update:
    overwrite -> set -> delete_payload); one result per operation."""
    name = "cg_batch_seq"
    ctx = Ctx(name)
    p = Pair(client, local, name, 4, M.Distance.DOT, ctx)
    p.write("upsert", points=[M.PointStruct(id=i, vector=[1.0, i, 0.5, -1.0], payload={"k": i}) for i in range(1, 6)])
    ops = [
        M.OverwritePayloadOperation(overwrite_payload=M.SetPayload(payload={"a": 1, "b": {"c": 2}}, points=[1, 2])),
        M.SetPayloadOperation(set_payload=M.SetPayload(payload={"d": [1, 2]}, points=[1])),
        M.SetPayloadOperation(set_payload=M.SetPayload(payload={"e": 5}, points=[2], key="b")),
        M.DeletePayloadOperation(delete_payload=M.DeletePayload(keys=["a"], points=[2])),
        M.ClearPayloadOperation(clear_payload=M.PointIdsList(points=[3])),
        M.DeleteOperation(delete=M.PointIdsList(points=[4, 999])),  # deleting a missing id is fine
    ]
    ctx.step = "sequence"
    rv, _ = p.both("batch_update_points", update_operations=ops)
    assert len(rv) == len(ops)
    p.check_state("after the sequence")
    got = {nid(x.id): x.payload for x in client.retrieve(name, [1, 2, 3, 4])}
    assert got == {1: {"a": 1, "b": {"c": 2}, "d": [1, 2]}, 2: {"b": {"c": 2, "e": 5}}, 3: {}}, f"{ctx}: {got}"
    p.drop()


@pytest.mark.parametrize("found", [False, True], ids=["only_missing", "with_found_points"])
def test_batch_failure_midway(client: QdrantClient, local: QdrantClient, found: bool):
    """A failing operation (set_payload naming a missing id: 404 `No point with id N found`) aborts
    the batch: the operations before it stay applied and the ones after it never run
    (conventions-2 §5, src/common/update.rs `do_batch_update_points`). With `with_found_points`
    the failing operation also names existing points, which it writes before failing
    (segments_updater `set_payload`, then `check_unprocessed_points`: see
    test_missing_ids_in_payload_ops)."""
    name = f"cg_batch_fail_{int(found)}"
    ctx = Ctx(name)
    p = Pair(client, local, name, 4, M.Distance.DOT, ctx)
    p.write("upsert", points=[M.PointStruct(id=i, vector=[1.0, i, 0.5, -1.0], payload={"k": i}) for i in range(1, 6)])
    failing = [
        M.UpsertOperation(upsert=M.PointsList(points=[M.PointStruct(id=7, vector=[0.1, 0.2, 0.3, 0.4], payload={"new": True})])),
        M.SetPayloadOperation(set_payload=M.SetPayload(payload={"x": 1}, points=[7])),
        M.SetPayloadOperation(set_payload=M.SetPayload(payload={"y": 2}, points=[5, 424242, 1] if found else [424242])),
        M.DeleteOperation(delete=M.PointIdsList(points=[1, 2, 5, 7])),
    ]
    ctx.step = f"failing batch {failing}"
    with Fails(ctx, 404):
        client.batch_update_points(name, update_operations=failing)
    local_fails(lambda: local.batch_update_points(name, update_operations=failing), ctx)
    p.check_state("after the failing batch")
    after = {nid(x.id): x.payload for x in client.retrieve(name, [1, 2, 5, 7])}
    y = {"y": 2} if found else {}
    assert after == {1: {"k": 1, **y}, 2: {"k": 2}, 5: {"k": 5, **y}, 7: {"new": True, "x": 1}}, f"{ctx}: {after}"
    p.drop()


# ------------------------------------------------------------------------------------------------
# Conditional upserts
# ------------------------------------------------------------------------------------------------


def test_update_mode_and_filter(client: QdrantClient, local: QdrantClient):
    """Qdrant's test_conditional_update scenario plus every update_mode with and without an
    update_filter, in both upsert forms (conventions §9)."""
    name = "cg_cond"
    ctx = Ctx(name)
    p = Pair(client, local, name, 4, M.Distance.EUCLID, ctx)
    p.write("upsert", points=[M.PointStruct(id=i, vector=[float(i), 0, 0, 1], payload={"version": 5, "i": i})
                              for i in range(1, 9)])
    ctx.step = "version filter"
    lt = lambda x: M.Filter(must=[M.FieldCondition(key="version", range=M.Range(lt=x))])  # noqa: E731
    p.write("upsert", points=[M.PointStruct(id=6, vector=[6, 0, 0, 1], payload={"version": 4})], update_filter=lt(4))
    assert client.retrieve(name, [6])[0].payload == {"version": 5, "i": 6}
    p.write("upsert", points=[M.PointStruct(id=6, vector=[6, 0, 0, 2], payload={"version": 6})], update_filter=lt(6))
    assert client.retrieve(name, [6])[0].payload == {"version": 6}
    p.check_state()
    even = M.Filter(must=[M.FieldCondition(key="i", match=M.MatchAny(any=[2, 4, 8, 10]))])
    step = 0
    for mode in (None, M.UpdateMode.UPSERT, M.UpdateMode.INSERT_ONLY, M.UpdateMode.UPDATE_ONLY):
        for flt in (None, even):
            for batch in (False, True):
                step += 1
                ids = [1, 2, 3, 4, 20 + step, 40 + step]
                vecs = [[float(step), float(j), 1.0, 0.0] for j in range(len(ids))]
                pls = [{"step": step, "i": j} for j in range(len(ids))]
                pts: Any = (M.Batch(ids=ids, vectors=vecs, payloads=pls) if batch
                            else [M.PointStruct(id=a, vector=b, payload=c) for a, b, c in zip(ids, vecs, pls)])
                ctx.step = f"mode {mode} filter {flt} batch {batch}"
                p.write("upsert", points=pts, update_mode=mode, update_filter=flt)
                p.check_state(ctx.step)
    p.drop()


# ------------------------------------------------------------------------------------------------
# Payload paths, case by case
# ------------------------------------------------------------------------------------------------

PATH_BASE = {"a": {"b": [{"c": 1, "d": 1}, {"c": 2, "d": 2}, {"x": {"e": 3}}], "s": "str"}, "f": 3,
             "g": ["g0", "g1"], "k": {"b.c": 7, "z": 1}, "sc": 5}


def test_payload_paths_table(client: QdrantClient, local: QdrantClient):
    """The set_payload-with-key, delete_payload and include/exclude tables of conventions-2 §1.5 and
    §1.6, each case run on both sides and checked against the documented result."""
    name = "cg_paths"
    ctx = Ctx(name)
    p = Pair(client, local, name, 4, M.Distance.DOT, ctx)

    def reset() -> None:
        p.write("overwrite_payload", payload=copy.deepcopy(PATH_BASE), points=[1])

    p.write("upsert", points=[M.PointStruct(id=1, vector=[1, 2, 3, 4], payload=copy.deepcopy(PATH_BASE))])
    b = PATH_BASE["a"]["b"]

    def with_a_b(new_b: Any) -> dict:
        x = copy.deepcopy(PATH_BASE)
        x["a"]["b"] = new_b
        return x

    def changed(**kw: Any) -> dict:
        x = copy.deepcopy(PATH_BASE)
        x.update(kw)
        return x

    set_cases = [
        ("a.b[0]", {"c": 9}, with_a_b([{"c": 9, "d": 1}] + b[1:])),
        ("a.b[5]", {"c": 9}, PATH_BASE),
        ("a.b[]", {"n": 1}, with_a_b([dict(e, n=1) for e in b])),
        ("a.b[].x", {"n": 1}, with_a_b([dict(b[0], x={"n": 1}), dict(b[1], x={"n": 1}), {"x": {"e": 3, "n": 1}}])),
        ("a.b[0].new", {"q": 1}, with_a_b([dict(b[0], new={"q": 1})] + b[1:])),
        ("a.b", {"v": 1}, with_a_b({"v": 1})),
        ("a.b.x", {"v": 1}, with_a_b({"x": {"v": 1}})),
        ("new.deep", {"v": 1}, changed(new={"deep": {"v": 1}})),
        ("sc", {"v": 1}, changed(sc={"v": 1})),
        ("sc.x.y", {"v": 1}, changed(sc={"x": {"y": {"v": 1}}})),
        ("f[0]", {"v": 1}, changed(f=[])),
        ("g[]", {"v": 1}, changed(g=[{"v": 1}, {"v": 1}])),
        ("new[0]", {"v": 1}, changed(new=[])),
        ("new[]", {"v": 1}, changed(new=[])),
        ('k."b.c"', {"v": 1}, changed(k={"b.c": {"v": 1}, "z": 1})),
        ("a", {"s": None}, changed(a={"b": b})),
        (None, {"f": None, "h": [1]}, {k: v for k, v in changed(h=[1]).items() if k != "f"}),
    ]
    for key, pl, expected in set_cases:
        reset()
        ctx.step = f"set_payload key={key} payload={pl}"
        p.write("set_payload", payload=pl, points=[1], key=key)
        got = client.retrieve(name, [1])[0].payload
        assert got == expected, f"{ctx}\n vicinity: {got}\n expected: {expected}"
        p.check_state(ctx.step)

    del_cases = [
        (["a.b[].c"], with_a_b([{"d": 1}, {"d": 2}, {"x": {"e": 3}}])),
        (["a.b[0].c"], with_a_b([{"d": 1}] + b[1:])),
        (["a.b.c"], PATH_BASE),
        (["a.b[0]"], PATH_BASE),
        (["a.b[]"], with_a_b([])),
        (["a.b"], {**PATH_BASE, "a": {"s": "str"}}),
        (['k."b.c"'], changed(k={"z": 1})),
        (["g[]", "nope.x", "f"], {k: v for k, v in changed(g=[]).items() if k != "f"}),
    ]
    for keys, expected in del_cases:
        reset()
        ctx.step = f"delete_payload {keys}"
        p.write("delete_payload", keys=keys, points=[1])
        got = client.retrieve(name, [1])[0].payload
        assert got == expected, f"{ctx}\n vicinity: {got}\n expected: {expected}"
        p.check_state(ctx.step)

    reset()
    sel_cases = [
        (["a.b[].c"], {"a": {"b": [{"c": 1}, {"c": 2}, {}]}}),
        (["a.b.c"], {"a": {"b": []}}),
        (["a.b[0]"], {"a": {"b": []}}),
        (["a.b[0].c"], {"a": {"b": []}}),
        (["a.b"], {"a": {"b": b}}),
        (["a.b[]"], {"a": {"b": b}}),
        (["a.s", "f"], {"a": {"s": "str"}, "f": 3}),
        (["sc.x"], {"sc": 5}),
        (['k."b.c"'], {"k": {"b.c": 7}}),
        (["g[]"], {"g": ["g0", "g1"]}),
        (["g[0]"], {"g": []}),
        (["nope"], {}),
    ]
    exc_cases = [
        (["a.b[].c"], with_a_b([{"d": 1}, {"d": 2}, {"x": {"e": 3}}])),
        (["a.b.c"], PATH_BASE),
        (["a.b[0]"], PATH_BASE),
        (["a.b"], {**PATH_BASE, "a": {"s": "str"}}),
        (["a"], {k: v for k, v in PATH_BASE.items() if k != "a"}),
        (["g[]"], changed(g=[])),
        (['k."b.c"'], changed(k={"z": 1})),
    ]
    for keys, expected in sel_cases:
        for sel in (keys, M.PayloadSelectorInclude(include=keys)):
            ctx.step = f"with_payload {sel}"
            (v, l) = p.both("retrieve", ids=[1], with_payload=sel)
            cmp_records(v, l, ctx, "retrieve")
            assert v[0].payload == expected, f"{ctx}\n vicinity: {v[0].payload}\n expected: {expected}"
            (sv, _), (sl, _) = p.both("scroll", with_payload=sel)
            cmp_records(sv, sl, ctx, "scroll")
            qv = client.query_points(name, query=[1, 1, 1, 1], with_payload=sel, search_params=EXACT).points
            assert qv[0].payload == expected, f"{ctx} (query)\n vicinity: {qv[0].payload}\n expected: {expected}"
    for keys, expected in exc_cases:
        sel = M.PayloadSelectorExclude(exclude=keys)
        ctx.step = f"with_payload {sel}"
        (v, l) = p.both("retrieve", ids=[1], with_payload=sel)
        cmp_records(v, l, ctx, "retrieve")
        assert v[0].payload == expected, f"{ctx}\n vicinity: {v[0].payload}\n expected: {expected}"
    p.drop()


def test_filter_paths_table(client: QdrantClient, local: QdrantClient):
    """The probe table of conventions-2 §1.3 (ids 1-4), on both sides."""
    name = "cg_filter_table"
    ctx = Ctx(name)
    p = Pair(client, local, name, 4, M.Distance.COSINE, ctx)
    payloads = {
        1: {"country": {"name": "Germany", "cities": [{"name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate", "Reichstag"]},
                                                      {"name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz", "Olympiapark"]}]}},
        2: {"country": {"name": "Japan", "cities": [{"name": "Tokyo", "population": 9.3, "sightseeing": ["Tokyo Tower", "Tokyo Skytree"]},
                                                    {"name": "Osaka", "population": 2.7, "sightseeing": ["Osaka Castle", "Universal Studios Japan"]}]}},
        3: {"a": {"b.c": 5, "b": {"c": 6}}, "tags": ["x", "y"], "n": None, "e": [], "nn": [None],
            "arr": [{"a": [1, 2, 3]}, {"a": 4}, {"b": 5}]},
        4: {"a": 5},
    }
    p.write("upsert", points=[M.PointStruct(id=i, vector=[1, i, 0, 1], payload=pl) for i, pl in payloads.items()])
    FC, R, MV = M.FieldCondition, M.Range, M.MatchValue
    VC = lambda k, **kw: FC(key=k, values_count=M.ValuesCount(**kw))  # noqa: E731
    EMPTY = lambda k: M.IsEmptyCondition(is_empty=M.PayloadField(key=k))  # noqa: E731
    NULL = lambda k: M.IsNullCondition(is_null=M.PayloadField(key=k))  # noqa: E731
    table = [
        (FC(key="country.cities.population", range=R(gte=9)), []),
        (FC(key="country.cities[].population", range=R(gte=9)), [2]),
        (FC(key="country.cities[0].population", range=R(gte=9)), [2]),
        (FC(key="country.cities[1].population", range=R(gte=2)), [2]),
        (FC(key="country.cities[].sightseeing", match=MV(value="Osaka Castle")), [2]),
        (FC(key="country.cities.sightseeing", match=MV(value="Osaka Castle")), []),
        (FC(key='a."b.c"', match=MV(value=5)), [3]),
        (FC(key="a.b.c", match=MV(value=6)), [3]),
        (FC(key="a.b.c", match=MV(value=5)), []),
        (FC(key="tags", match=MV(value="y")), [3]),
        (FC(key="tags[]", match=MV(value="y")), [3]),
        (FC(key="tags[1]", match=MV(value="y")), [3]),
        (FC(key="tags[0]", match=MV(value="y")), []),
        (VC("country.cities", gte=2), [1, 2]),
        (VC("country.cities[].name", gte=2), []),
        (VC("country.cities[].sightseeing", gte=2), [1, 2]),
        (VC("country.cities[].sightseeing", gte=3), []),
        (VC("missing", lt=1), [1, 2, 3, 4]),
        (VC("tags", gte=2), [3]),
        (VC("tags[]", gte=2), []),
        (EMPTY("n"), [1, 2, 3, 4]),
        (EMPTY("e"), [1, 2, 3, 4]),
        (EMPTY("nn"), [1, 2, 4]),
        (EMPTY("country.cities.population"), [1, 2, 3, 4]),
        (EMPTY("country.cities[].population"), [3, 4]),
        (NULL("n"), [3]),
        (NULL("nn"), [3]),
        (NULL("missing"), []),
        (NULL("e"), []),
        (EMPTY("a.b"), [1, 2, 4]),
        (FC(key="arr[].a", match=MV(value=2)), [3]),
        (FC(key="arr[].a[]", match=MV(value=2)), [3]),
        (FC(key="arr[].a", match=MV(value=4)), [3]),
        (M.NestedCondition(nested=M.Nested(key="country.cities", filter=M.Filter(must=[FC(key="population", range=R(gte=9))]))), [2]),
        (M.NestedCondition(nested=M.Nested(key="country.cities[]", filter=M.Filter(must=[FC(key="population", range=R(gte=9))]))), [2]),
        (M.NestedCondition(nested=M.Nested(key="country.cities", filter=M.Filter(must=[
            FC(key="name", match=MV(value="Berlin")), FC(key="population", range=R(lt=2))]))), []),
        (M.NestedCondition(nested=M.Nested(key="country.cities", filter=M.Filter(must=[
            FC(key="name", match=MV(value="Munich")), FC(key="population", range=R(lt=2))]))), [1]),
    ]
    for cond, expected in table:
        f = M.Filter(must=[cond])
        ctx.step = f"filter {f}"
        (v, _), (l, _) = p.both("scroll", scroll_filter=f, limit=100, with_payload=False)
        cmp_records(v, l, ctx, "scroll")
        assert [nid(x.id) for x in v] == expected, f"{ctx}: vicinity {[nid(x.id) for x in v]}, expected {expected}"
        p.check_count(f)
    p.drop()


# ------------------------------------------------------------------------------------------------
# Aliases
# ------------------------------------------------------------------------------------------------


def alias_set(c: QdrantClient, prefix: str, collection: Optional[str] = None) -> set:
    res = c.get_collection_aliases(collection) if collection else c.get_aliases()
    return {(a.alias_name, a.collection_name) for a in res.aliases if a.alias_name.startswith(prefix)}


def test_aliases(client: QdrantClient, local: QdrantClient):
    """Aliases created / deleted / renamed through update_collection_aliases (also several actions in
    one call), operations through an alias, alias listings, and the error cases both sides agree on
    (conventions-2 §3)."""
    ctx = Ctx("aliases")
    g = Gen(rng_for("aliases"), dim=4, paths=False, distance=M.Distance.DOT)
    A = Pair(client, local, "cg_al_a", 4, M.Distance.DOT, ctx)
    B = Pair(client, local, "cg_al_b", 4, M.Distance.DOT, ctx)
    for p in (A, B):
        p.write("upsert", points=[M.PointStruct(id=i, vector=g.vector(), payload=g.payload()) for i in g.sample(g.pool, 30)])

    def aliases(*ops: Any) -> None:
        ctx.step = f"aliases {ops}"
        assert client.update_collection_aliases(change_aliases_operations=list(ops)) is True
        local.update_collection_aliases(change_aliases_operations=list(ops))
        assert alias_set(client, "cg_al") == alias_set(local, "cg_al"), f"{ctx}: {alias_set(client, 'cg_al')}"
        for c in ("cg_al_a", "cg_al_b", "cg_al_nope"):
            assert alias_set(client, "cg_al", c) == alias_set(local, "cg_al", c), f"{ctx}: aliases of {c}"

    create = lambda c, a: M.CreateAliasOperation(create_alias=M.CreateAlias(collection_name=c, alias_name=a))  # noqa: E731
    delete = lambda a: M.DeleteAliasOperation(delete_alias=M.DeleteAlias(alias_name=a))  # noqa: E731
    rename = lambda o, n: M.RenameAliasOperation(rename_alias=M.RenameAlias(old_alias_name=o, new_alias_name=n))  # noqa: E731

    def through(alias: str, target: Pair) -> None:
        """Every operation through `alias` acts on `target`."""
        via = Pair.__new__(Pair)
        via.v, via.l, via.name, via.dim, via.distance, via.ctx = client, local, alias, 4, target.distance, ctx
        random_mutation(via, g, payload_keys=False)
        ops = random_batch_ops(g, via.ids())
        ctx.step = f"batch through {alias}: {ops}"
        rv, _ = via.both("batch_update_points", update_operations=ops)
        assert len(rv) == len(ops), f"{ctx}: {rv}"
        for _ in range(3):
            random_read(via, g)
        target.check_state(f"{target.name} after writes through {alias}")
        info = client.get_collection(alias)
        assert info.points_count == client.count(target.name).count, f"{ctx}: GET /collections/{alias}"

    aliases(create("cg_al_a", "cg_al_x"))
    through("cg_al_x", A)
    aliases(create("cg_al_a", "cg_al_y"), create("cg_al_b", "cg_al_z"))
    through("cg_al_z", B)
    # switch an alias to another collection in one call (the blue/green pattern)
    aliases(delete("cg_al_x"), create("cg_al_b", "cg_al_x"))
    through("cg_al_x", B)
    # creating an existing alias re-points it (conventions-2 §3.2)
    aliases(create("cg_al_a", "cg_al_x"))
    through("cg_al_x", A)
    aliases(rename("cg_al_y", "cg_al_w"))
    through("cg_al_w", A)
    with Fails(ctx, 404):
        client.count("cg_al_y")
    # renaming onto an existing alias overwrites it (conventions-2 §3.2)
    aliases(rename("cg_al_w", "cg_al_z"))
    through("cg_al_z", A)
    aliases(delete("cg_al_nothing"))  # deleting a missing alias is a no-op
    aliases()  # no actions

    ctx.step = "errors"
    for ops, status in (([create("cg_al_missing", "cg_al_q")], 404),   # target does not exist
                        ([create("cg_al_x", "cg_al_q")], 404),         # aliases are not resolved as targets
                        ([create("cg_al_a", "cg_al_b")], 409),         # alias named like a collection
                        ([rename("cg_al_none", "cg_al_q")], 404)):     # rename of a missing alias
        ctx.step = f"error case {ops}"
        with Fails(ctx, status):
            client.update_collection_aliases(change_aliases_operations=ops)
        local_fails(lambda: local.update_collection_aliases(change_aliases_operations=ops), ctx)
        assert alias_set(client, "cg_al") == alias_set(local, "cg_al"), f"{ctx}: {alias_set(client, 'cg_al')}"
    # Not compared: renaming an alias onto a *collection* name. Local mode rejects it; the server does
    # not check it (conventions-2 §3.2/§7, "rename alias onto a collection name"), and the alias then
    # shadows the collection. Neither is asserted here.

    ctx.step = "create a collection named like an alias"
    with Fails(ctx, 400):  # conventions-2 §3.2: 400 "Can't create collection with name ... Alias with the same name already exists"
        client.create_collection("cg_al_x", vectors_config=M.VectorParams(size=4, distance=M.Distance.DOT))
    local_fails(lambda: local.create_collection("cg_al_x", vectors_config=M.VectorParams(size=4, distance=M.Distance.DOT)), ctx)

    ctx.step = "DELETE /collections/{alias}"
    # does not resolve the alias: result false, the alias and its target survive (conventions-2 §3.4)
    assert client.delete_collection("cg_al_x") is False
    assert local.delete_collection("cg_al_x") is False
    assert client.collection_exists("cg_al_a") and alias_set(client, "cg_al") == alias_set(local, "cg_al")

    ctx.step = "drop a collection: its aliases go with it"
    A.drop()
    assert alias_set(client, "cg_al") == alias_set(local, "cg_al"), f"{ctx}: {alias_set(client, 'cg_al')}"
    assert all(c != "cg_al_a" for _, c in alias_set(client, "cg_al")), f"{ctx}: {alias_set(client, 'cg_al')}"
    with Fails(ctx, 404):
        client.count("cg_al_x")
    aliases(delete("cg_al_z"))
    B.drop()
    assert alias_set(client, "cg_al") == set() == alias_set(local, "cg_al")


# ------------------------------------------------------------------------------------------------
# Small cases where local mode and the server differ, checked by hand
# ------------------------------------------------------------------------------------------------


def test_aliases_random(client: QdrantClient, local: QdrantClient):
    """Random alias actions over two collections and four alias names, alone or several per call,
    with reads through whichever aliases exist. Calls that must fail (a missing target, an alias
    named like a collection, an alias as a target, renaming a missing alias) are sent one action
    at a time: Qdrant applies the actions before a failing one (conventions-2 §3.3), local mode
    applies none, so a failing multi-action call is not comparable."""
    ctx = Ctx("aliases_random")
    g = Gen(rng_for("aliases_random"), dim=4, paths=False, distance=M.Distance.COSINE)
    cols = {"cg_ar_c1": Pair(client, local, "cg_ar_c1", 4, M.Distance.COSINE, ctx),
            "cg_ar_c2": Pair(client, local, "cg_ar_c2", 4, M.Distance.COSINE, ctx)}
    for p in cols.values():
        p.write("upsert", points=[M.PointStruct(id=i, vector=g.vector(), payload=g.payload()) for i in g.sample(g.pool, 25)])
    names = ["cg_ar_a1", "cg_ar_a2", "cg_ar_a3", "cg_ar_a4"]
    model: dict = {}

    def error_of(op: Any, m: dict) -> Optional[int]:
        """The HTTP status Qdrant fails the action with given the aliases `m` (conventions-2 §3.2),
        or None when it succeeds (and then it is applied to `m`)."""
        if isinstance(op, M.CreateAliasOperation):
            c, a = op.create_alias.collection_name, op.create_alias.alias_name
            if c not in cols:
                return 404  # a missing target (aliases are not resolved as targets)
            if a in cols:
                return 409  # an alias named like a collection
            m[a] = c
        elif isinstance(op, M.DeleteAliasOperation):
            m.pop(op.delete_alias.alias_name, None)
        else:
            o, n = op.rename_alias.old_alias_name, op.rename_alias.new_alias_name
            if o not in m:
                return 404
            m[n] = m.pop(o)
        return None

    def random_op() -> Any:
        k = g.pick(["create", "create", "delete", "rename"])
        if k == "create":
            target = g.pick(list(cols) + names + ["cg_ar_none"])
            return M.CreateAliasOperation(create_alias=M.CreateAlias(
                collection_name=target, alias_name=g.pick(names + (["cg_ar_c2"] if g.r() < 0.1 else []))))
        if k == "delete":
            return M.DeleteAliasOperation(delete_alias=M.DeleteAlias(alias_name=g.pick(names)))
        # (never onto a collection name: Qdrant does not check it, local mode refuses; see test_aliases)
        return M.RenameAliasOperation(rename_alias=M.RenameAlias(old_alias_name=g.pick(names), new_alias_name=g.pick(names)))

    for i in range(rounds(30)):
        ops = [random_op() for _ in range(g.i(1, 4))]
        trial = dict(model)
        status = next((e for e in (error_of(op, trial) for op in ops) if e), None)
        if status and len(ops) > 1:
            ops = ops[:1]
            trial = dict(model)
            status = error_of(ops[0], trial)
        ctx.step = f"#{i} {ops} (expected {status or 'success'}; aliases before: {model})"
        if not status:
            assert client.update_collection_aliases(change_aliases_operations=ops) is True
            local.update_collection_aliases(change_aliases_operations=ops)
            model = trial
        else:
            with Fails(ctx, status):
                client.update_collection_aliases(change_aliases_operations=ops)
            local_fails(lambda: local.update_collection_aliases(change_aliases_operations=ops), ctx)
        got = alias_set(client, "cg_ar_")
        assert got == alias_set(local, "cg_ar_") == set(model.items()), f"{ctx}: vicinity {got}"
        for alias in names:
            if alias in model:
                via = Pair.__new__(Pair)
                via.v, via.l, via.name, via.dim, via.distance, via.ctx = client, local, alias, 4, M.Distance.COSINE, ctx
                if g.r() < 0.3:
                    random_mutation(via, g, payload_keys=False)
                random_read(via, g)
            else:
                with Fails(ctx, 404):
                    client.count(alias)
    for p in cols.values():
        p.check_state("final")
        p.drop()
    assert alias_set(client, "cg_ar_") == set() == alias_set(local, "cg_ar_")


def test_retrieve_duplicates_and_order(client: QdrantClient, local: QdrantClient):
    """Retrieve returns points in the requested order, each once, missing ids skipped. Qdrant dedups
    (lib/collection/src/collection/point_ops.rs `retrieve`: "Add each point only once" into a map,
    then "Collect points in the same order as they were requested"); local mode repeats duplicates,
    so duplicates are checked by hand."""
    name = "cg_retrieve"
    ctx = Ctx(name)
    p = Pair(client, local, name, 4, M.Distance.DOT, ctx)
    u = str(uuid.UUID(int=7, version=4))
    p.write("upsert", points=[M.PointStruct(id=i, vector=[1, 0, 0, float(i)], payload={"i": i}) for i in (1, 2, 3)]
            + [M.PointStruct(id=u, vector=[0, 1, 0, 0], payload={"u": 1})])
    ctx.step = "order"
    for ids in ([3, 1, 2], [u, 2, 99, 1], [2, 3, u]):
        v, l = p.both("retrieve", ids=ids)
        cmp_records(v, l, ctx, f"retrieve {ids}")
    ctx.step = "duplicates"
    got = [nid(x.id) for x in client.retrieve(name, [2, 1, 2, u, 1])]
    if not S.LOCAL_MODE:  # (the self-test's "server" is local mode, which repeats them)
        assert got == [2, 1, u], f"{ctx}: {got}"
    p.drop()


def test_uuid_spellings(client: QdrantClient, local: QdrantClient):
    """A UUID id may be sent in any form Qdrant's parser takes (hyphenated, upper case, simple
    32-hex, braced, urn); it is the same point and always comes back hyphenated lower case."""
    name = "cg_uuid"
    ctx = Ctx(name)
    p = Pair(client, local, name, 4, M.Distance.COSINE, ctx)
    u = uuid.UUID(bytes=rng_for(name).bytes(16), version=4)
    forms = [str(u), str(u).upper(), u.hex, "{" + str(u) + "}", "urn:uuid:" + str(u)]
    for j, form in enumerate(forms):
        ctx.step = f"upsert as {form}"
        p.write("upsert", points=[M.PointStruct(id=form, vector=[1, 2, 3, float(j)], payload={"form": j})])
        p.check_state(ctx.step)
        v, l = p.both("retrieve", ids=[forms[(j + 1) % len(forms)]])
        cmp_records(v, l, ctx, "retrieve")
        assert [nid(x.id) for x in v] == [str(u)], f"{ctx}: {v}"
    p.drop()


def test_missing_ids_in_payload_ops(client: QdrantClient, local: QdrantClient):
    """set / overwrite / delete / clear payload naming a missing id: 404, and the points that exist
    are still written (segments_updater: write, then `check_unprocessed_points` -> PointNotFound)."""
    name = "cg_missing"
    ctx = Ctx(name)
    p = Pair(client, local, name, 4, M.Distance.DOT, ctx)
    p.write("upsert", points=[M.PointStruct(id=i, vector=[1, 0, 0, float(i)], payload={"i": i, "t": [i]}) for i in (1, 2, 3)])
    calls = [
        ("set_payload", dict(payload={"x": 1}, points=[1, 77, 2])),
        ("set_payload", dict(payload={"y": 1}, points=[3, 78], key="t")),
        ("overwrite_payload", dict(payload={"o": 1}, points=[79, 2])),
        ("delete_payload", dict(keys=["i"], points=[80, 1])),
        ("clear_payload", dict(points_selector=[3, 81])),
    ]
    for method, kw in calls:
        ctx.step = f"{method} {kw}"
        with Fails(ctx, 404):
            getattr(client, method)(name, **kw)
        local_fails(lambda: getattr(local, method)(name, **kw), ctx)
        p.check_state(ctx.step)
    p.drop()


@pytest.mark.parametrize("distance", [M.Distance.DOT, M.Distance.COSINE, M.Distance.EUCLID], ids=lambda d: d.value)
def test_score_threshold_is_strict(client: QdrantClient, local: QdrantClient, distance: M.Distance):
    """A result whose score equals score_threshold is not returned: Distance::check_threshold is
    `score > threshold` (Dot, Cosine) and `score < threshold` (Euclid), applied to the final
    scores (lib/segment/src/types.rs; local_shard search `take_while`). The API reference words it
    as "only higher scores will be returned" for cosine. Local mode does the same. Scores here are
    exact in f32 (0.5, 1.0, 5.0)."""
    name = f"cg_strict_{distance.value.lower()}"
    ctx = Ctx(name)
    p = Pair(client, local, name, 2, distance, ctx)
    if distance == M.Distance.EUCLID:
        pts, q, cases = ((1, [0.0, 0.0]), (2, [3.0, 4.0]), (3, [6.0, 8.0])), [0.0, 0.0], ((5.0, [1]), (10.0, [1, 2]), (0.0, []))
    elif distance == M.Distance.DOT:
        pts, q, cases = ((1, [1.0, 0.0]), (2, [0.5, 0.0]), (3, [-1.0, 0.0])), [1.0, 0.0], ((0.5, [1]), (1.0, []), (-1.0, [1, 2]))
    else:
        pts, q, cases = ((1, [1.0, 0.0]), (2, [0.0, 1.0]), (3, [-1.0, 0.0])), [1.0, 0.0], ((0.0, [1]), (1.0, []), (-1.0, [1, 2]))
    p.write("upsert", points=[M.PointStruct(id=i, vector=v) for i, v in pts])
    for t, expected in cases:
        ctx.step = f"threshold {t}"
        got = p.check_query(q, None, 10, 0, False, False, threshold=t)
        assert [nid(x.id) for x in got] == expected, f"{ctx}: {[(nid(x.id), x.score) for x in got]}"
    p.drop()
