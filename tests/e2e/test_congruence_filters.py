"""Full-text, geo, datetime and uuid filters, values_count / is_empty / is_null, with and without
payload indexes (docs/qdrant-conventions-3.md §7): randomized congruence with qdrant-client's local
mode, plus hand-checked tests where local mode lacks the feature or differs.

Every random filter is checked three ways on vicinity: filtered scroll (the id set), exact count,
and a filtered exact query (ranked like local mode's query over exactly the expected ids).

Where the expected ids come from:
- local mode, for everything it answers like the server: unindexed text / text_any / phrase
  (token-aware, word tokenizer, lowercase: §7.1's recommendation), text / text_any on a default
  text index (same tokenizer), geo conditions (the same with and without a geo index: §7.2),
  datetime ranges (§7.3; local mode parses the same formats), unindexed uuid matches (exact string
  compare: §7.4), values_count / is_empty / is_null (§7.5: indexes do not change them).
- a reference predicate written from the spec (congruence_support.ref_*), for what local mode
  cannot do because it builds no indexes: text indexes with non-default params (prefix /
  whitespace tokenizers, token length bounds, lowercase false, phrase_matching) and a phrase on a
  text index without phrase_matching (matches nothing), and matches on a uuid index (compared as
  UUID values, so case and form do not matter).
A filter mixing both kinds is evaluated leaf by leaf and combined (congruence_support.expected_ids).

Each point carries the same value under an unindexed and an indexed key (t / td, loc / geo,
dt / dti, u / ui, e0 / ek / ei), so the index and no-index paths are held to the same answer.
Seeded by CONGRUENCE_SEED.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any, Callable, Optional

import pytest
from qdrant_client import QdrantClient, models as M

import congruence_support as X
import e2e_support as S
from congruence_support import _announce_seed, http, local, needs_server  # noqa: F401  (fixtures)

# reference predicates for indexes local mode does not build: the self-test (E2E_LOCAL_MODE=1) has no index
needs_indexes = pytest.mark.skipif(S.LOCAL_MODE, reason="index semantics local mode lacks: needs the real server")
pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact", "ignore:Payload indexes have no effect")
nid, FULL = X.nid, X.FULL

# Local mode parses every stored date string for every datetime condition it checks (~0.5 ms a
# string); memoising its pure parse function keeps these tests fast and changes no answer.
import qdrant_client.local.datetime_utils as _dtu  # noqa: E402

if not hasattr(_dtu.parse, "cache_info"):
    _dtu.parse = functools.lru_cache(maxsize=None)(_dtu.parse)
MISSING = object()

# ------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------

ASCII_WORDS = ["Good", "good", "GOOD", "cheap", "Cheap", "food", "qdrant", "Qdrant", "vector", "search", "fast",
               "a", "I", "of", "the", "engine", "databases", "goodness", "x1", "v2"]
WORDS = ASCII_WORDS + ["Müsli", "café"]
PREFIXES = ["qd", "goo", "dat", "ve", "q", "se", "Mü", "caf"]
SEPS = [" ", " ", " ", ", ", "-", ". ", "_", "  "]
TEXT_KEYS = {
    # key: (index params or None, words used in its documents)
    "t": (None, WORDS),
    "td": (M.TextIndexParams(type=M.TextIndexType.TEXT), WORDS),
    "tp": (M.TextIndexParams(type=M.TextIndexType.TEXT, tokenizer=M.TokenizerType.PREFIX, min_token_len=2,
                             max_token_len=10, lowercase=True), WORDS),
    "tc": (M.TextIndexParams(type=M.TextIndexType.TEXT, tokenizer=M.TokenizerType.WORD, lowercase=False,
                             phrase_matching=True), WORDS),
    # (ASCII only: a token length bound on characters and on bytes must give the same answer)
    "tw": (M.TextIndexParams(type=M.TextIndexType.TEXT, tokenizer=M.TokenizerType.WHITESPACE, min_token_len=3,
                             max_token_len=7, lowercase=True, phrase_matching=True), ASCII_WORDS),
}
DEFAULT_TEXT = M.TextIndexParams(type=M.TextIndexType.TEXT)

CENTERS = {"berlin": (13.4, 52.52), "fiji_e": (179.6, -17.0), "fiji_w": (-179.7, -16.9), "santiago": (-70.6, -33.4)}
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
UUIDS = [uuid.UUID(int=(0x1234 + k) * 0x9E3779B97F4A7C15 % 2**122 | (4 << 76), version=4) for k in range(5)]
EDGE = [MISSING, None, [], [None], [None, "x"], "x", ["x", "y"], ["x", "x"], 5, [1, 2], {"a": 1}, "", [5, None], 0]


def uuid_form(g: X.C.Gen, u: uuid.UUID, exotic: bool = False) -> str:
    forms = [str(u), str(u), str(u).upper(), u.hex, u.hex.upper()]
    if exotic:
        forms += ["{" + str(u) + "}", "urn:uuid:" + str(u)]
    return g.pick(forms)


class FGen(X.C.Gen):
    """Payloads with text, geo, datetime, uuid and edge-shaped values, and conditions on them."""

    # --- values
    def sentence(self, words: list) -> str:
        n = self.i(1, 8)
        out = self.pick(words)
        for _ in range(n - 1):
            out += self.pick(SEPS) + self.pick(words)
        return out

    def text_value(self, words: list) -> Any:
        k = self.r()
        if k < 0.62:
            return self.sentence(words)
        if k < 0.77:
            return [self.sentence(words) for _ in range(self.i(1, 4))]
        return self.pick([MISSING, MISSING, None, 5, "", [], [None, self.sentence(words)]])

    def point(self) -> dict:
        lon0, lat0 = CENTERS[self.pick(list(CENTERS))]
        spread = self.pick([0.05, 0.3, 1.0, 3.0])
        lon = lon0 + float(self.rng.normal()) * spread
        lat = max(-89.0, min(89.0, lat0 + float(self.rng.normal()) * spread))
        lon = lon - 360 if lon > 180 else lon + 360 if lon < -180 else lon
        p = {"lon": round(lon, 6), "lat": round(lat, 6)}
        return p if self.r() < 0.7 else {"lat": p["lat"], "lon": p["lon"], "name": "x"}

    def geo_value(self) -> Any:
        k = self.r()
        if k < 0.65:
            return self.point()
        if k < 0.82:
            return [self.point() for _ in range(self.i(1, 4))]
        return self.pick([MISSING, None, "Berlin", {"lon": 13.4}, [], 7])

    def instant(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=int(self.i(0, 10 * 86400)), microseconds=int(self.i(0, 10**6)) if self.r() < 0.4 else 0)

    def date_string(self, t: dt.datetime) -> str:
        k = self.i(0, 12)
        plus2 = t.astimezone(dt.timezone(dt.timedelta(hours=2)))
        return [
            t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z",  # nanoseconds: truncated to microseconds
            plus2.strftime("%Y-%m-%dT%H:%M:%S+02:00"),
            plus2.strftime("%Y-%m-%dT%H:%M:%S+0200"),
            plus2.strftime("%Y-%m-%d %H:%M:%S+02:00"),
            t.strftime("%Y-%m-%d %H:%M:%S"),  # naive: UTC
            t.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            t.strftime("%Y-%m-%d %H:%M"),
            t.strftime("%Y-%m-%d"),
            plus2.strftime("%Y-%m-%dT%H:%M:%S.%f+02"),  # offset hours only (%#z)
            t.strftime("%Y-%m-%d %H:%M:%S UTC"),  # chrono's Display form
        ][k]

    def date_value(self) -> Any:
        k = self.r()
        if k < 0.65:
            return self.date_string(self.instant())
        if k < 0.8:
            return [self.date_string(self.instant()) for _ in range(self.i(1, 3))]
        return self.pick([MISSING, MISSING, None, "yesterday", "2024-13-45", 1704067200, []])

    def uuid_value(self) -> Any:
        k = self.r()
        if k < 0.6:
            return uuid_form(self, self.pick(UUIDS))
        if k < 0.75:
            return [uuid_form(self, self.pick(UUIDS)) for _ in range(self.i(1, 3))]
        return self.pick([MISSING, None, "not-a-uuid", str(UUIDS[0])[:-1], 7, []])

    def edge(self, ints: bool) -> Any:
        v = self.pick(EDGE)
        if ints and isinstance(v, (str, list)) and self.r() < 0.6:
            v = self.pick([3, [1, 2], [4, 4], [None, 2]])
        return v

    def fpayload(self) -> dict:
        p: dict = {}

        def put(keys: list, v: Any) -> None:
            if v is not MISSING:
                for k in keys:
                    p[k] = v

        put(["t", "td"], self.text_value(WORDS))
        for k in ("tp", "tc"):
            put([k], self.text_value(WORDS))
        put(["tw"], self.text_value(ASCII_WORDS))
        put(["loc", "geo"], self.geo_value())
        put(["dt", "dti"], self.date_value())
        put(["u", "ui"], self.uuid_value())
        put(["e0", "ek"], self.edge(ints=False))
        put(["ei"], self.edge(ints=True))
        p["n"] = self.i(0, 10)
        return p

    # --- conditions
    docs: dict = {}  # key -> the strings stored under it (set once the payloads exist)

    def text_query(self, words: list, key: str = "") -> str:
        k = self.r()
        stored = self.docs.get(key)
        if stored and k > 0.6:  # a run of consecutive words of a stored string: phrases that match
            toks = X.WORD_RE.findall(self.pick(stored)) if key != "tw" else self.pick(stored).split()
            start = self.i(0, len(toks))
            run = toks[start:start + self.i(1, 4)]
            return " ".join(self.pick([w, w, w.lower(), w.upper()]) for w in run)
        if k < 0.06:
            return self.pick(["", "a", " ", "zzz", "good zzz"])
        toks = []
        for _ in range(self.i(1, 4)):
            w = self.pick(words) if self.r() < 0.8 else self.pick(PREFIXES)
            toks.append(self.pick([w, w, w.lower(), w.upper()]))
        return self.pick([" ", " ", ", "]).join(toks)

    def text_condition(self, keys: list) -> M.FieldCondition:
        key = self.pick(keys)
        kind = self.pick(["text", "text_any", "phrase"])
        q = self.text_query(TEXT_KEYS[key][1], key)
        m = {"text": lambda: M.MatchText(text=q), "text_any": lambda: M.MatchTextAny(text_any=q),
             "phrase": lambda: M.MatchPhrase(phrase=q)}[kind]()
        return M.FieldCondition(key=key, match=m)

    def geo_condition(self, key: str) -> M.FieldCondition:
        name = self.pick(list(CENTERS))
        lon0, lat0 = CENTERS[name]
        lon = lon0 + float(self.rng.normal()) * 0.3
        lon = lon - 360 if lon > 180 else lon + 360 if lon < -180 else lon
        lat = lat0 + float(self.rng.normal()) * 0.3
        k = self.pick(["radius", "box", "box", "polygon"] if not name.startswith("fiji") else ["radius", "box"])
        if k == "radius":
            return M.FieldCondition(key=key, geo_radius=M.GeoRadius(
                center=M.GeoPoint(lon=round(lon, 5), lat=round(lat, 5)), radius=self.pick([1e3, 2e4, 5e4, 1e5, 3e5])))
        w, h = self.pick([0.1, 0.5, 1.0, 2.0]), self.pick([0.1, 0.5, 1.0, 2.0])
        if k == "box":
            left, right = lon - w, lon + w
            left = left + 360 if left < -180 else left  # crossing the antimeridian: top_left.lon > bottom_right.lon
            right = right - 360 if right > 180 else right
            return M.FieldCondition(key=key, geo_bounding_box=M.GeoBoundingBox(
                top_left=M.GeoPoint(lon=round(left, 5), lat=round(min(lat + h, 90), 5)),
                bottom_right=M.GeoPoint(lon=round(right, 5), lat=round(max(lat - h, -90), 5))))

        def ring(cw: float, ch: float) -> M.GeoLineString:
            pts = [(lon - cw, lat - ch), (lon + cw, lat - ch), (lon + cw, lat + ch), (lon - cw * 0.5, lat + ch * 1.2),
                   (lon - cw, lat + ch), (lon - cw, lat - ch)]
            return M.GeoLineString(points=[M.GeoPoint(lon=round(a, 5), lat=round(b, 5)) for a, b in pts])

        holes = [ring(w / 3, h / 3)] if self.r() < 0.6 else ([] if self.r() < 0.5 else None)
        return M.FieldCondition(key=key, geo_polygon=M.GeoPolygon(exterior=ring(w, h), interiors=holes))

    def date_bound(self, known: list) -> Any:
        t = self.pick(known) if known and self.r() < 0.3 else self.instant()
        k = self.i(0, 4)
        if k == 0:
            return t
        if k == 1:
            return t.astimezone(dt.timezone(dt.timedelta(hours=2)))
        if k == 2:
            return t.replace(tzinfo=None)  # naive: UTC
        return t.date()

    def date_condition(self, key: str, known: list) -> M.FieldCondition:
        if key == "dt" and self.r() < 0.1:  # a numeric range never matches a date string
            return M.FieldCondition(key=key, range=M.Range(gte=1.6e9))
        bounds = {b: self.date_bound(known) for b in self.sample(["gt", "gte", "lt", "lte"], self.i(1, 3))}
        return M.FieldCondition(key=key, range=M.DatetimeRange(**bounds))

    def uuid_condition(self, key: str) -> M.FieldCondition:
        def one() -> Any:
            if self.r() < 0.12:
                return self.pick(["not-a-uuid", str(UUIDS[1])[:-1], str(uuid.UUID(int=99, version=4))])
            return uuid_form(self, self.pick(UUIDS), exotic=True)
        if key == "u" and self.r() < 0.15:
            return M.FieldCondition(key=key, match=M.MatchExcept(**{"except": [one() for _ in range(self.i(1, 3))]}))
        if self.r() < 0.6:
            return M.FieldCondition(key=key, match=M.MatchValue(value=one()))
        return M.FieldCondition(key=key, match=M.MatchAny(any=[one() for _ in range(self.i(1, 4))]))

    def shape_condition(self, keys: list) -> Any:
        key = self.pick(keys)
        k = self.pick(["count", "count", "empty", "null", "fc_empty", "fc_null"])
        if k == "count":
            bounds = {b: self.i(0, 4) for b in self.sample(["gt", "gte", "lt", "lte"], self.i(1, 3))}
            return M.FieldCondition(key=key, values_count=M.ValuesCount(**bounds))
        if k == "empty":
            return M.IsEmptyCondition(is_empty=M.PayloadField(key=key))
        if k == "null":
            return M.IsNullCondition(is_null=M.PayloadField(key=key))
        if k == "fc_empty":
            return M.FieldCondition(key=key, is_empty=bool(self.i(0, 2)))
        return M.FieldCondition(key=key, is_null=bool(self.i(0, 2)))

    def combine(self, make: Callable[[], Any], depth: int = 0) -> M.Filter:
        f: dict = {}
        for clause in self.sample(["must", "should", "must_not", "min_should"], self.i(1, 3)):
            conds = [make() if depth > 0 or self.r() < 0.8 else self.combine(make, depth + 1)
                     for _ in range(self.i(1, 4))]
            if clause == "min_should":
                f[clause] = M.MinShould(conditions=conds, min_count=self.i(1, len(conds) + 1))
            else:
                f[clause] = conds
        return M.Filter(**f)


# ------------------------------------------------------------------------------------------------
# Collections and the leaf references
# ------------------------------------------------------------------------------------------------

INDEXES = {
    **{k: params for k, (params, _) in TEXT_KEYS.items() if params is not None},
    "geo": M.PayloadSchemaType.GEO, "dti": M.PayloadSchemaType.DATETIME, "ui": M.PayloadSchemaType.UUID,
    "ek": M.PayloadSchemaType.KEYWORD, "ei": M.PayloadSchemaType.INTEGER,
}


class FData:
    def __init__(self, client: QdrantClient, local: QdrantClient, name: str, indexes: list, n: int = 260):
        rng = X.rng_for(name)
        self.ctx = X.Ctx(name)
        self.g = FGen(rng, dim=5, paths=False, distance=X.COS, uuids=False)
        self.ids = X.int_ids(rng, n)
        self.payloads = [self.g.fpayload() for _ in self.ids]
        self.g.docs = {k: [v for p in self.payloads for v in X.json_values(p, k) if isinstance(v, str) and v]
                       for k in TEXT_KEYS}
        self.p = X.XPair(client, local, name, 5, X.COS, self.ctx)
        self.ctx.step = "indexes"
        for k in indexes:
            self.p.index(k, INDEXES[k])
        self.ctx.step = "load"
        self.p.load(self.ids, X.vectors(rng, n, 5), self.payloads)
        # instants stored in the data: bounds equal to them check gt vs gte, lt vs lte
        stored = [p["dt"] for p in self.payloads if isinstance(p.get("dt"), str)][:40]
        self.known_dates = [t for t in (parse_dt(s) for s in stored) if t is not None]

    def leaf_ref(self, c: Any) -> Optional[Callable[[Any, dict], bool]]:
        """The reference predicate for a leaf local mode cannot answer like the server, else None."""
        if not isinstance(c, M.FieldCondition) or c.match is None:
            return None
        m = c.match
        if c.key in TEXT_KEYS and c.key != "t":
            params = TEXT_KEYS[c.key][0]
            if c.key == "td" and not isinstance(m, M.MatchPhrase):
                return None  # a default text index tokenizes like local mode's unindexed text match
            kind, q = ((("text", m.text) if isinstance(m, M.MatchText) else ("text_any", m.text_any)
                        if isinstance(m, M.MatchTextAny) else ("phrase", m.phrase)))
            return X.ref_text(params, c.key, kind, q)
        if c.key == "ui" and isinstance(m, (M.MatchValue, M.MatchAny)):
            return X.ref_uuid_match("ui", m)
        return None

    def unambiguous(self, c: Any) -> bool:
        """False for a text condition on an indexed key that some array payload would answer
        differently as one document than as one document per element (congruence_support)."""
        if not (isinstance(c, M.FieldCondition) and c.key in TEXT_KEYS and c.key != "t" and c.match is not None):
            return True
        m = c.match
        kind, q = (("text", m.text) if isinstance(m, M.MatchText) else ("text_any", m.text_any)
                   if isinstance(m, M.MatchTextAny) else ("phrase", m.phrase))
        return not X.text_ambiguous(TEXT_KEYS[c.key][0], c.key, kind, q, self.payloads)

    def run(self, make: Callable[[], Any], rounds: int) -> int:
        """`rounds` random filters built from `make`: scroll / count / exact query against the
        expected ids. Returns how many filters matched some but not all points (a sanity figure)."""
        informative = 0
        for i in range(X.rounds(rounds)):
            def leaf() -> Any:
                for _ in range(20):
                    c = make()
                    if self.unambiguous(c):
                        return c
                raise AssertionError("no unambiguous condition in 20 tries")
            f = self.g.combine(leaf) if self.g.r() < 0.6 else M.Filter(must=[leaf()])
            self.ctx.step = f"filter #{i}: {f}"
            exp = X.expected_ids(self.p, f, self.leaf_ref)
            informative += 0 < len(exp) < len(self.ids)
            X.check_filter(self.p, f, exp, query=self.g.raw_vector() if i % 2 else None)
        return informative

    def drop(self) -> None:
        self.p.drop()


def parse_dt(s: str) -> Optional[dt.datetime]:
    return _dtu.parse(s)


def leaf_ids(d: FData, c: Any) -> set:
    return X.expected_ids(d.p, M.Filter(must=[c]), d.leaf_ref)


# ------------------------------------------------------------------------------------------------
# Random tests
# ------------------------------------------------------------------------------------------------


def test_text_unindexed_random(client: QdrantClient, local: QdrantClient):
    """match text / text_any / phrase on a key without a text index: word tokens, lowercase; text =
    all query tokens present, text_any = any, phrase = consecutive in order; arrays: any element
    (§7.1, the token-aware behaviour local mode implements)."""
    d = FData(client, local, "cf_text_plain", [])
    assert d.run(lambda: d.g.text_condition(["t"]), 40) >= 10
    # the reference predicate of the indexed tests, with the default tokenizer (and positions for
    # phrases), answers like local mode here: a check of the reference itself
    with_positions = M.TextIndexParams(type=M.TextIndexType.TEXT, phrase_matching=True)
    for i in range(X.rounds(60)):
        c = d.g.text_condition(["t"])
        m = c.match
        kind, q = (("text", m.text) if isinstance(m, M.MatchText) else ("text_any", m.text_any)
                   if isinstance(m, M.MatchTextAny) else ("phrase", m.phrase))
        pred = X.ref_text(with_positions, "t", kind, q)
        ref = {pid for pid, pl in d.p.payloads().items() if pred(pid, pl or {})}
        assert ref == set(d.p.scroll_ids(local, M.Filter(must=[c]))), f"reference vs local mode for {c}"
    d.drop()


@needs_indexes
def test_text_indexed_random(client: QdrantClient, local: QdrantClient):
    """The same conditions on keys with text indexes: default params (text / text_any as local
    mode; phrase without phrase_matching matches nothing), prefix tokenizer with min/max token
    length, word tokenizer with lowercase false and phrase_matching, whitespace tokenizer with
    length bounds and phrase_matching (§7.1; reference predicates)."""
    d = FData(client, local, "cf_text_idx", ["td", "tp", "tc", "tw"])
    assert d.run(lambda: d.g.text_condition(["td", "tp", "tc", "tw"]), 60) >= 15
    d.drop()


@pytest.mark.parametrize("key", ["loc", "geo"], ids=["no_index", "geo_index"])
def test_geo_random(client: QdrantClient, local: QdrantClient, key: str):
    """geo_radius (haversine, strict), geo_bounding_box (strict, including boxes across the
    antimeridian), geo_polygon (with and without holes) over points, arrays of points and
    non-point values, without and with a geo index (§7.2)."""
    d = FData(client, local, f"cf_geo_{key}", ["geo"] if key == "geo" else [])
    assert d.run(lambda: d.g.geo_condition(key), 40) >= 10
    d.drop()


@pytest.mark.parametrize("key", ["dt", "dti"], ids=["no_index", "datetime_index"])
def test_datetime_random(client: QdrantClient, local: QdrantClient, key: str):
    """Datetime ranges (gt / gte / lt / lte; bounds in UTC, +02:00, naive = UTC, date-only) over
    values in the §7.3 formats (RFC 3339 with Z / offsets / fractions incl. nanoseconds, offsets
    without colon, space-separated, naive, date-only, `%Y-%m-%d %H:%M`), unparseable strings and
    numbers (never match), arrays; bounds equal to stored values (inclusive / exclusive); without
    and with a datetime index."""
    d = FData(client, local, f"cf_dt_{key}", ["dti"] if key == "dti" else [])
    assert d.run(lambda: d.g.date_condition(key, d.known_dates), 40) >= 10
    d.drop()


@pytest.mark.parametrize("key", ["u", "ui"], ids=["no_index", "uuid_index"])
def test_uuid_random(client: QdrantClient, local: QdrantClient, key: str):
    """match value / any (and except, unindexed) with UUIDs in several spellings: without an index
    an exact string compare (local mode), with a uuid index a compare of UUID values (§7.4)."""
    if key == "ui" and S.LOCAL_MODE:
        pytest.skip("uuid index semantics: needs the real server")
    d = FData(client, local, f"cf_uuid_{key}", ["ui"] if key == "ui" else [])
    assert d.run(lambda: d.g.uuid_condition(key), 40) >= 10
    d.drop()


@pytest.mark.parametrize("indexed", [False, True], ids=["no_index", "indexes"])
def test_values_count_empty_null_random(client: QdrantClient, local: QdrantClient, indexed: bool):
    """values_count / is_empty / is_null (both spellings) over missing keys, null, `[]`, `[null]`,
    `[null, "x"]`, scalars, arrays, objects — on plain keys and on the keys of every index type
    (keyword, integer, text, geo, datetime, uuid), which must not change the answers (§7.5)."""
    d = FData(client, local, f"cf_shape_{'idx' if indexed else 'plain'}", list(INDEXES) if indexed else [])
    keys = ["e0", "ek", "ei", "t", "td", "tp", "loc", "geo", "dt", "dti", "u", "ui", "nope"]
    assert d.run(lambda: d.g.shape_condition(keys), 50) >= 15
    d.drop()


@needs_indexes
def test_mixed_filters_random(client: QdrantClient, local: QdrantClient):
    """Filters mixing every family above (nested must / should / must_not / min_should), with all
    the indexes in place."""
    d = FData(client, local, "cf_mixed", list(INDEXES))
    g = d.g

    def any_condition() -> Any:
        k = g.pick(["text", "text", "geo", "date", "uuid", "shape", "n"])
        if k == "text":
            return g.text_condition(list(TEXT_KEYS))
        if k == "geo":
            return g.geo_condition(g.pick(["loc", "geo"]))
        if k == "date":
            return g.date_condition(g.pick(["dt", "dti"]), d.known_dates)
        if k == "uuid":
            return g.uuid_condition(g.pick(["u", "ui"]))
        if k == "shape":
            return g.shape_condition(["e0", "ek", "ei", "td", "geo", "dti", "ui"])
        return M.FieldCondition(key="n", range=M.Range(lt=g.i(0, 10)))

    assert d.run(any_condition, 40) >= 10
    d.drop()


# ------------------------------------------------------------------------------------------------
# Hand-checked cases (spec probes; local mode lacks the feature or differs)
# ------------------------------------------------------------------------------------------------


def small(client: QdrantClient, local: QdrantClient, name: str, payloads: list, indexes: dict) -> X.XPair:
    p = X.XPair(client, local, name, 2, X.DOT, X.Ctx(name))
    for k, schema in indexes.items():
        p.index(k, schema)
    p.write("upsert", points=[M.PointStruct(id=i + 1, vector=[1.0, float(i)], payload=pl) for i, pl in enumerate(payloads)])
    return p


def hits(c: QdrantClient, name: str, cond: Any) -> list:
    f = cond if isinstance(cond, M.Filter) else M.Filter(must=[cond])
    ids = sorted(nid(x.id) for x in c.scroll(name, scroll_filter=f, limit=100)[0])
    assert c.count(name, count_filter=f, exact=True).count == len(ids)
    return ids


def test_text_probes(client: QdrantClient, local: QdrantClient):
    """§7.1 probes. Unindexed (vicinity and local mode): "good cheap" matches "Good cheap food",
    "cheap and good", "GOOD CHEAP" but not "goodcheap"; phrase "cheap food" only "Good cheap food".
    Indexed (vicinity only: local mode ignores text index params): a prefix index matches "qdr" in
    "qdrant" and drops tokens shorter than min_token_len; lowercase false is case-sensitive; a
    phrase on an index without phrase_matching matches nothing; a query without tokens matches
    nothing; text_any needs one token."""
    docs = ["Good cheap food", "cheap and good", "GOOD CHEAP", "goodcheap", "qdrant is a vector engine", "Qdrant Rocks", 5]
    p = small(client, local, "cf_text_probe", [{"t": s, "td": s, "tp": s, "tc": s} for s in docs], {
        "td": DEFAULT_TEXT,
        "tp": M.TextIndexParams(type=M.TextIndexType.TEXT, tokenizer=M.TokenizerType.PREFIX, min_token_len=3),
        "tc": M.TextIndexParams(type=M.TextIndexType.TEXT, lowercase=False, phrase_matching=True)})
    T = lambda k, q: M.FieldCondition(key=k, match=M.MatchText(text=q))  # noqa: E731
    A = lambda k, q: M.FieldCondition(key=k, match=M.MatchTextAny(text_any=q))  # noqa: E731
    P = lambda k, q: M.FieldCondition(key=k, match=M.MatchPhrase(phrase=q))  # noqa: E731
    for c in (client, local):
        assert hits(c, p.name, T("t", "good cheap")) == [1, 2, 3]
        assert hits(c, p.name, P("t", "cheap food")) == [1]
        assert hits(c, p.name, A("t", "food rocks")) == [1, 6]
        assert hits(c, p.name, T("t", "")) == []
    if S.LOCAL_MODE:
        return p.drop()
    assert hits(client, p.name, T("td", "good cheap")) == [1, 2, 3]
    assert hits(client, p.name, P("td", "cheap food")) == []  # no phrase_matching: nothing
    assert hits(client, p.name, T("tp", "qdr")) == [5, 6]
    assert hits(client, p.name, T("tp", "qdr is")) == [5, 6]  # "is" is shorter than min_token_len: dropped
    assert hits(client, p.name, T("tp", "is")) == []  # no tokens left: nothing
    assert hits(client, p.name, T("tp", "drant")) == []  # prefixes, not substrings
    assert hits(client, p.name, T("tc", "Good")) == [1]
    assert hits(client, p.name, T("tc", "good")) == [2]
    assert hits(client, p.name, P("tc", "cheap food")) == [1]
    assert hits(client, p.name, P("tc", "food cheap")) == []
    assert hits(client, p.name, A("tc", "GOOD nothing")) == [3]
    p.drop()


def test_geo_probe(client: QdrantClient, local: QdrantClient):
    """The §7.2 probe (Berlin points, an array point, a far point; radius, box and polygon with a
    hole), an antimeridian box, strict box edges; with and without a geo index, vicinity and local
    mode alike."""
    pts = [{"g": {"lon": 13.40, "lat": 52.52}}, {"g": [{"lon": 0, "lat": 0}, {"lon": 13.41, "lat": 52.521}]},
           {"g": {"lon": 100, "lat": 10}}, {"g": {"lat": 52.5201, "lon": 13.4001}},
           {"g": {"lon": 179.5, "lat": -17}}, {"g": {"lon": -179.5, "lat": -17}}, {"g": {"lon": 170, "lat": -17}},
           {"g": {"lon": 14.0, "lat": 52.0}}]
    pl = [{"g": x["g"], "gi": x["g"]} for x in pts]
    p = small(client, local, "cf_geo_probe", pl, {"gi": M.PayloadSchemaType.GEO})
    berlin = M.GeoPoint(lon=13.40, lat=52.52)

    def ring(a: float, b: float, c: float, dd: float) -> M.GeoLineString:
        return M.GeoLineString(points=[M.GeoPoint(lon=x, lat=y) for x, y in ((a, c), (b, c), (b, dd), (a, dd), (a, c))])

    for key in ("g", "gi"):
        cases = [
            (M.FieldCondition(key=key, geo_radius=M.GeoRadius(center=berlin, radius=1000.0)), [1, 2, 4]),
            (M.FieldCondition(key=key, geo_bounding_box=M.GeoBoundingBox(
                top_left=M.GeoPoint(lon=13.0, lat=53.0), bottom_right=M.GeoPoint(lon=14.0, lat=52.0))), [1, 2, 4]),
            (M.FieldCondition(key=key, geo_polygon=M.GeoPolygon(exterior=ring(13, 14, 52, 53))), [1, 2, 4]),
            (M.FieldCondition(key=key, geo_polygon=M.GeoPolygon(exterior=ring(13, 14, 52, 53),
                                                                 interiors=[ring(13.39, 13.405, 52.51, 52.53)])), [2]),
            (M.FieldCondition(key=key, geo_bounding_box=M.GeoBoundingBox(  # across the antimeridian
                top_left=M.GeoPoint(lon=175.0, lat=-10.0), bottom_right=M.GeoPoint(lon=-175.0, lat=-20.0))), [5, 6]),
        ]
        for cond, exp in cases:
            for side, c in (("vicinity", client), ("local", local)):
                got = hits(c, p.name, cond)
                assert got == exp, f"{side} {cond}: {got}, expected {exp}"
    p.drop()


@needs_server
def test_geo_errors_and_invalid_payload(client: QdrantClient, http):
    """§7.2 by hand: a GeoPoint out of range in a filter → 400 naming the GeoPoint bounds; a polygon
    ring with fewer than 4 points or not closed → 400; a payload point out of range is stored (the
    upsert succeeds) but never matches, with or without an index."""
    name = "cf_geo_err"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=X.DOT))
    client.create_payload_index(name, "gi", M.PayloadSchemaType.GEO, wait=True)
    r = http.put(f"/collections/{name}/points?wait=true", json={"points": [
        {"id": 1, "vector": [1, 0], "payload": {"g": {"lon": 10, "lat": 95}, "gi": {"lon": 10, "lat": 95}}},
        {"id": 2, "vector": [1, 0], "payload": {"g": {"lon": 10, "lat": 85}, "gi": {"lon": 10, "lat": 85}}}]})
    X.ok(r)
    url = f"/collections/{name}/points/scroll"
    for key in ("g", "gi"):
        res = X.ok(http.post(url, json={"filter": {"must": [{"key": key, "geo_radius": {
            "center": {"lon": 10, "lat": 89.9}, "radius": 2_000_000}}]}}))
        assert [x["id"] for x in res["points"]] == [2], res
    X.err(http.post(url, json={"filter": {"must": [{"key": "g", "geo_radius": {"center": {"lon": 10, "lat": 95}, "radius": 10}}]}}), 400)
    X.err(http.post(url, json={"filter": {"must": [{"key": "g", "geo_polygon": {"exterior": {"points": [
        {"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 0, "lat": 0}]}}}]}}), 400, "polygon")
    X.err(http.post(url, json={"filter": {"must": [{"key": "g", "geo_polygon": {"exterior": {"points": [
        {"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 1}]}}}]}}), 400, "polygon")
    client.delete_collection(name)


@needs_server
def test_datetime_probe_and_bounds(client: QdrantClient, local: QdrantClient, http):
    """The §7.3 probe (vicinity and local mode), then bounds local mode's client cannot send, over
    raw HTTP: offsets without colon (`+0200`, `+02`), chrono's `… UTC` form, naive and date-only
    bounds; mixing a number and a string in one range, or an unparseable string → 400."""
    vals = ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+02:00", "2024-01-01", "2024-01-01 00:30:00", 1704067200]
    p = small(client, local, "cf_dt_probe", [{"d": v, "di": v} for v in vals], {"di": M.PayloadSchemaType.DATETIME})
    z = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for key in ("d", "di"):
        R = lambda **kw: M.FieldCondition(key=key, range=M.DatetimeRange(**kw))  # noqa: E731
        cases = [(R(gte=z), [1, 3, 4]), (R(gt=z), [4]), (R(lt=dt.datetime(2024, 1, 1, 0, 0, 1)), [1, 2, 3]),
                 (R(lte=dt.datetime(2023, 12, 31, 23, 0, tzinfo=dt.timezone.utc)), [2])]
        for cond, exp in cases:
            for side, c in (("vicinity", client), ("local", local)):
                assert hits(c, p.name, cond) == exp, f"{side} {cond}"
        url = f"/collections/{p.name}/points/scroll"

        def raw(rng: dict) -> list:
            res = X.ok(http.post(url, json={"filter": {"must": [{"key": key, "range": rng}]}, "limit": 10}))
            return sorted(x["id"] for x in res["points"])

        assert raw({"gte": "2024-01-01T02:00:00+0200"}) == [1, 3, 4]
        assert raw({"gte": "2024-01-01T02:00:00+02"}) == [1, 3, 4]
        assert raw({"lte": "2023-12-31 23:00:00 UTC"}) == [2]
        assert raw({"gt": "2024-01-01 00:00"}) == [4]
        assert raw({"gte": "2024-01-01", "lt": "2024-01-01T00:30:00"}) == [1, 3]
        if key == "d":  # all-number bounds are a float range: only the number matches, no date string
            assert raw({"gt": 1e9}) == [5]
        X.err(http.post(url, json={"filter": {"must": [{"key": key, "range": {"gte": "2024-01-01", "lt": 5}}]}}), 400)
        X.err(http.post(url, json={"filter": {"must": [{"key": key, "range": {"gte": "tomorrow"}}]}}), 400)
    p.drop()


def test_uuid_probe(client: QdrantClient, local: QdrantClient):
    """§7.4: without an index, match.value is an exact string compare (vicinity and local mode);
    with a uuid index the same UUID in another case or form matches, a non-UUID string matches
    nothing, and is_empty / values_count are unchanged (vicinity only: local mode has no index)."""
    u = UUIDS[2]
    forms = [str(u), str(u).upper(), u.hex, "not-a-uuid", str(UUIDS[3])]
    p = small(client, local, "cf_uuid_probe", [{"u": f, "ui": f} for f in forms] + [{"u": None, "ui": None}],
              {"ui": M.PayloadSchemaType.UUID})
    V = lambda k, v: M.FieldCondition(key=k, match=M.MatchValue(value=v))  # noqa: E731
    for c in (client, local):
        assert hits(c, p.name, V("u", str(u))) == [1]
        assert hits(c, p.name, V("u", str(u).upper())) == [2]
        assert hits(c, p.name, V("u", "not-a-uuid")) == [4]
    if S.LOCAL_MODE:
        return p.drop()
    assert hits(client, p.name, V("ui", str(u))) == [1, 2, 3]
    assert hits(client, p.name, V("ui", str(u).upper())) == [1, 2, 3]
    assert hits(client, p.name, V("ui", "{" + str(u) + "}")) == [1, 2, 3]
    assert hits(client, p.name, V("ui", "not-a-uuid")) == []
    assert hits(client, p.name, M.FieldCondition(key="ui", match=M.MatchAny(any=[u.hex.upper(), str(UUIDS[3]), "zz"]))) == [1, 2, 3, 5]
    assert hits(client, p.name, M.IsEmptyCondition(is_empty=M.PayloadField(key="ui"))) == [6]
    assert hits(client, p.name, M.FieldCondition(key="ui", values_count=M.ValuesCount(gte=1))) == [1, 2, 3, 4, 5]
    p.drop()


def test_empty_null_probe(client: QdrantClient, local: QdrantClient):
    """§7.5 by hand on one value each: is_empty is true for missing / null / `[]` only; is_null for
    null and arrays holding a null; values_count counts null as 0 and a missing key as 0 — the same
    with a keyword index, and in local mode."""
    vals = [MISSING, None, [], [None], [None, "x"], "x", ["x", "y"]]
    pl = [{} if v is MISSING else {"k": v, "ki": v} for v in vals]
    p = small(client, local, "cf_empty_probe", pl, {"ki": M.PayloadSchemaType.KEYWORD})
    for key in ("k", "ki"):
        for side, c in (("vicinity", client), ("local", local)):
            assert hits(c, p.name, M.IsEmptyCondition(is_empty=M.PayloadField(key=key))) == [1, 2, 3], f"{side} {key}"
            assert hits(c, p.name, M.IsNullCondition(is_null=M.PayloadField(key=key))) == [2, 4, 5], f"{side} {key}"
            assert hits(c, p.name, M.FieldCondition(key=key, values_count=M.ValuesCount(lt=1))) == [1, 2, 3], f"{side} {key}"
            assert hits(c, p.name, M.FieldCondition(key=key, values_count=M.ValuesCount(gte=2))) == [5, 7], f"{side} {key}"
            assert hits(c, p.name, M.FieldCondition(key=key, values_count=M.ValuesCount(gt=0, lt=2))) == [4, 6], f"{side} {key}"
    p.drop()
