"""Helpers shared by test_congruence_queries.py and test_congruence_filters.py (docs/qdrant-conventions-3.md).

Built on test_congruence (generators, comparisons, the vicinity/local-mode Pair) and
test_congruence_named (raw HTTP helpers); the fixtures `local`, `http` and the autouse seed
announcement are re-exported from here so a test module gets them with one import.

The pieces added here:
- `XPair`: a Pair whose payload indexes are created on the vicinity side only (local mode builds
  no indexes; it answers every filter by scanning), plus loading and id-set helpers.
- `vectors`: seeded random vectors with a few exact duplicates (deliberate ties).
- `expected_ids`: the ids a filter selects, combined leaf by leaf, where each leaf is answered by
  local mode or, for the conditions local mode cannot answer like the server (a text index with
  non-default params, a uuid index), by a reference predicate written from the spec.
- `ref_*`: those reference predicates.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

import e2e_support as S
import test_congruence as C
import test_congruence_named as N
from test_congruence import _announce_seed, local  # noqa: F401  (fixtures, re-exported)
from test_congruence_named import http  # noqa: F401  (fixture, re-exported)

nid, FULL, EXACT, Ctx, rng_for, rounds = C.nid, C.FULL, C.EXACT, C.Ctx, C.rng_for, C.rounds
ok, err, jdump, canon, score_close, vec_close = N.ok, N.err, N.jdump, C.canon, C.score_close, C.vec_close
DOT, COS, EUC = M.Distance.DOT, M.Distance.COSINE, M.Distance.EUCLID
DISTANCES = [DOT, COS, EUC]
needs_server = pytest.mark.skipif(S.LOCAL_MODE, reason="raw HTTP statuses / JSON: needs the real server")


def dist_id(d: M.Distance) -> str:
    return d.value.lower()


def higher(d: M.Distance) -> bool:
    return d in (DOT, COS)


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def vectors(rng: np.random.Generator, n: int, dim: int, dups: int = 0) -> list:
    """`n` random vectors (4 decimals, never zero), the last `dups` of them exact copies of
    earlier ones: points that tie exactly under every query."""
    out = [[round(float(x), 4) for x in rng.standard_normal(dim)] for _ in range(n)]
    for j in range(n - dups, n):
        out[j] = list(out[int(rng.integers(0, n - dups))])
    for v in out:
        if not any(v):
            v[0] = 0.5
    return out


def int_ids(rng: np.random.Generator, n: int, spread: int = 4) -> list:
    """`n` distinct non-contiguous integer ids, shuffled."""
    ids = [int(x) for x in rng.choice(spread * n, size=n, replace=False)]
    return ids


class XPair(C.Pair):
    """The same collection in vicinity (`v`) and local mode (`l`); payload indexes on vicinity only."""

    def __init__(self, v: QdrantClient, l: QdrantClient, name: str, dim: int, distance: M.Distance, ctx: Ctx):
        super().__init__(v, l, name, dim, distance, ctx)

    def load(self, ids: Sequence, vecs: Sequence, payloads: Sequence, batch: int = 200) -> None:
        for s in range(0, len(ids), batch):
            self.write("upsert", points=M.Batch(ids=list(ids[s:s + batch]), vectors=list(vecs[s:s + batch]),
                                                payloads=list(payloads[s:s + batch])))

    def index(self, field: str, schema: Any) -> None:
        """A payload index on vicinity (local mode answers the same filters without one)."""
        r = self.v.create_payload_index(self.name, field_name=field, field_schema=schema, wait=True)
        assert r.status == M.UpdateStatus.COMPLETED, f"{self.ctx}: index {field} {schema}: {r}"

    def scroll_ids(self, client: QdrantClient, f: Optional[M.Filter]) -> list:
        pts, nxt = client.scroll(self.name, scroll_filter=f, limit=FULL, with_payload=False)
        assert nxt is None
        return [nid(x.id) for x in pts]

    def payloads(self) -> dict:
        pts, _ = self.l.scroll(self.name, limit=FULL, with_payload=True)
        return {nid(x.id): x.payload for x in pts}


# ------------------------------------------------------------------------------------------------
# Filters answered leaf by leaf
# ------------------------------------------------------------------------------------------------


def clauses(f: M.Filter) -> dict:
    def lst(x: Any) -> Optional[list]:
        return None if x is None else (x if isinstance(x, list) else [x])
    return {"must": lst(f.must), "should": lst(f.should), "must_not": lst(f.must_not)}


def expected_ids(p: XPair, f: Optional[M.Filter], leaf_ref: Callable[[Any], Optional[Callable[[Any, dict], bool]]]) -> set:
    """The ids `f` selects. A leaf for which `leaf_ref(leaf)` gives a predicate `(id, payload) ->
    bool` is evaluated with it; every other leaf by local mode (`scroll` with that leaf alone).
    must / should / must_not / min_should combine as in Qdrant (an empty or absent clause places no
    constraint)."""
    if f is None or not any(leaf_ref(c) is not None for c in C.leaves(f)):
        return set(p.scroll_ids(p.l, f))  # local mode answers all of it
    payloads = p.payloads()
    everything = set(payloads)

    def leaf(c: Any) -> set:
        pred = leaf_ref(c)
        if pred is not None:
            return {pid for pid, pl in payloads.items() if pred(pid, pl or {})}
        return set(p.scroll_ids(p.l, M.Filter(must=[c])))

    def ev(x: Any) -> set:
        if not isinstance(x, M.Filter):
            return leaf(x)
        out = set(everything)
        cl = clauses(x)
        if cl["must"]:
            for c in cl["must"]:
                out &= ev(c)
        if cl["should"]:
            out &= set().union(*(ev(c) for c in cl["should"]))
        if cl["must_not"]:
            out -= set().union(*(ev(c) for c in cl["must_not"]))
        if x.min_should is not None:
            sets = [ev(c) for c in x.min_should.conditions]
            out &= {pid for pid in everything if sum(pid in s for s in sets) >= x.min_should.min_count}
        return out

    return ev(f) if f is not None else everything


def check_filter(p: XPair, f: M.Filter, exp: set, query: Optional[list] = None, limit: int = 10) -> None:
    """vicinity's filtered scroll, exact count and filtered exact query against the expected id set
    (scroll: in id order; query: local mode's ranking of exactly those ids)."""
    got = p.scroll_ids(p.v, f)
    want = sorted(exp, key=C.id_key)
    if got != want:
        pl = p.payloads()
        diff = sorted(set(got) ^ exp, key=C.id_key)[:5]
        raise AssertionError(
            f"{p.ctx}: filtered scroll differs for {f}\n vicinity only: {sorted(set(got) - exp, key=C.id_key)[:10]}"
            f"\n expected only: {sorted(exp - set(got), key=C.id_key)[:10]}\n payloads: "
            + "; ".join(f"{d}: {canon(pl.get(d))}" for d in diff))
    assert p.v.count(p.name, count_filter=f, exact=True).count == len(exp), f"{p.ctx}: count of {f}"
    if query is not None:
        got_q = p.v.query_points(p.name, query=query, query_filter=f, limit=limit, search_params=EXACT).points
        ext = p.l.query_points(p.name, query=query, limit=FULL,
                               query_filter=M.Filter(must=[M.HasIdCondition(has_id=list(exp) or [10**18])])).points
        C.cmp_scored(got_q, ext, 0, limit, p.ctx, f"filtered exact query {f}")


# ------------------------------------------------------------------------------------------------
# Reference predicates (conventions-3 §7)
# ------------------------------------------------------------------------------------------------


def json_values(payload: dict, key: str) -> list:
    """The values a plain (dotted, no brackets) key selects, arrays flattened one level."""
    cur: list = [payload]
    for part in key.split("."):
        nxt = []
        for c in cur:
            if isinstance(c, dict) and part in c:
                nxt.append(c[part])
        cur = nxt
    out: list = []
    for v in cur:
        out.extend(v if isinstance(v, list) else [v])
    return out


WORD_RE = re.compile(r"[^\W_]+")


def text_tokens(s: str, params: M.TextIndexParams, document: bool) -> list:
    """A text index's tokens (§7.1): tokenize, lowercase, length filter; the prefix tokenizer
    indexes every prefix of a document token (within the length bounds), not of a query token."""
    tok = params.tokenizer or M.TokenizerType.WORD
    parts = s.split() if tok == M.TokenizerType.WHITESPACE else WORD_RE.findall(s)
    if params.lowercase is not False:
        parts = [t.lower() for t in parts]
    lo, hi = params.min_token_len or 0, params.max_token_len or 10**9
    if tok == M.TokenizerType.PREFIX and document:
        out = []
        for t in parts:
            out += [t[:k] for k in range(max(lo, 1), min(len(t), hi) + 1)]
        return out
    return [t for t in parts if lo <= len(t) <= hi]


def text_match(params: M.TextIndexParams, kind: str, query: str, value: Any) -> bool:
    """Does one document (a string) match `text` / `text_any` / `phrase` under a text index?"""
    if not isinstance(value, str):
        return False
    q = text_tokens(query, params, document=False)
    if not q:
        return False  # a query without tokens matches nothing
    d = text_tokens(value, params, document=True)
    if kind == "text":
        return set(q) <= set(d)
    if kind == "text_any":
        return bool(set(q) & set(d))
    if not params.phrase_matching:
        return False  # no positions stored: a phrase matches nothing (not an error)
    return any(d[i:i + len(q)] == q for i in range(len(d) - len(q) + 1))


def ref_text(params: M.TextIndexParams, key: str, kind: str, query: str) -> Callable[[Any, dict], bool]:
    """Each string of an array is its own document; any one matching is enough (§7.1)."""
    return lambda pid, pl: any(text_match(params, kind, query, v) for v in json_values(pl, key))


def text_ambiguous(params: M.TextIndexParams, key: str, kind: str, query: str, payloads: Iterable[dict]) -> bool:
    """True when, for some point, treating its array of strings as one document (the tokens of all
    elements together) would answer differently from one document per element. The spec says per
    element; random tests steer clear of the cases where the two readings differ."""
    for pl in payloads:
        vals = [v for v in json_values(pl or {}, key) if isinstance(v, str)]
        if len(vals) < 2:
            continue
        per = any(text_match(params, kind, query, v) for v in vals)
        joined = text_match(params, kind, query, " \n ".join(vals)) if params.tokenizer != M.TokenizerType.WHITESPACE \
            else text_match(params, kind, query, "\n".join(vals))
        if per != joined:
            return True
    return False


def parse_uuid(s: Any) -> Optional[uuid.UUID]:
    """A string as the uuid crate parses it: hyphenated, simple (32 hex), braced, urn; any case."""
    if not isinstance(s, str):
        return None
    t = s
    if t.lower().startswith("urn:uuid:"):
        t = t[9:]
    elif t.startswith("{") and t.endswith("}"):
        t = t[1:-1]
    if not (re.fullmatch(r"[0-9a-fA-F]{32}", t) or re.fullmatch(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", t)):
        return None
    return uuid.UUID(t)


def ref_uuid_match(key: str, match: Any) -> Callable[[Any, dict], bool]:
    """match.value / match.any on a uuid-indexed key: compared as UUID values; payload strings that
    are not UUIDs are not in the index, match strings that are not UUIDs match nothing (§7.4)."""
    wanted = [match.value] if isinstance(match, M.MatchValue) else list(match.any)
    want = {u for u in (parse_uuid(x) for x in wanted) if u is not None}
    return lambda pid, pl: any(parse_uuid(v) in want for v in json_values(pl, key) if parse_uuid(v) is not None)


# ------------------------------------------------------------------------------------------------
# Id / group helpers
# ------------------------------------------------------------------------------------------------


def gkey(gid: Any) -> tuple:
    """A group id as a comparable key: "3" and 3 are different groups."""
    return ("s", gid) if isinstance(gid, str) else ("i", int(gid))


def ids_of(points: Sequence) -> list:
    return [nid(x.id) for x in points]
