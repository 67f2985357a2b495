"""Shared data, exact numpy references and checks for the end-to-end tests.

Everything here is deterministic (seeded numpy RNG) and independent of the server, so the
reference itself can be validated against qdrant-client's pure-Python local mode.
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
from qdrant_client import QdrantClient, models as M

DIM = 32
GROUPS = ["a", "b", "c", "d", "e"]
TAGS = ["red", "green", "blue", "x", "y"]
F32_EPS = 1.1920929e-7


# --------------------------------------------------------------------------------------------
# Data set
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    ids: list  # point ids (int or uuid str), index-aligned with vectors/payloads
    vectors: np.ndarray  # float32 (N, DIM), as sent
    payloads: list  # dicts, as sent
    distance: M.Distance
    index_of: dict = field(default_factory=dict)  # id -> row

    def __post_init__(self) -> None:
        self.index_of = {pid: i for i, pid in enumerate(self.ids)}

    @property
    def stored(self) -> np.ndarray:
        """The vectors as Qdrant stores them (L2-normalised for Cosine), as float64."""
        return stored_vectors(self.vectors, self.distance)


def stored_vectors(vectors: np.ndarray, distance: M.Distance) -> np.ndarray:
    v = vectors.astype(np.float32)
    if distance == M.Distance.COSINE:
        norms = np.sqrt((v * v).sum(axis=1, dtype=np.float32))
        v = v / np.where(norms > 0, norms, F32_EPS)[:, None]
    return v.astype(np.float64)


def make_payload(rng: np.random.Generator, i: int) -> dict:
    p: dict[str, Any] = {
        "group": GROUPS[int(rng.integers(0, len(GROUPS)))],
        "n": int(rng.integers(0, 1000)),
        "price": round(float(rng.uniform(0.0, 100.0)), 3),
        "flag": bool(rng.integers(0, 2)),
    }
    r = i % 10
    if r == 0:
        p["tags"] = []  # empty list
    elif r == 1:
        pass  # tags missing
    else:
        k = int(rng.integers(1, 4))
        p["tags"] = [TAGS[j] for j in sorted(rng.choice(len(TAGS), size=k, replace=False))]
    o = i % 7
    if o == 0:
        p["opt"] = None
    elif o == 1:
        p["opt"] = "set"
    elif o == 2:
        p["opt"] = int(rng.integers(0, 10))
    # else: "opt" missing
    if i % 3 == 0:
        p["meta"] = {"color": TAGS[int(rng.integers(0, len(TAGS)))], "size": int(rng.integers(0, 10))}
    return p


def make_int_ids(rng: np.random.Generator, n: int) -> list[int]:
    """Non-contiguous ids, a few of them very large (u64), so id != internal offset."""
    base = rng.choice(5 * n, size=n - 4, replace=False)
    ids = sorted(int(x) for x in base)
    ids += [10**15 + 7, 2**53 + 1, 2**63 + 5, 2**64 - 1]
    return ids


def make_dataset(
    n: int = 10_000, seed: int = 42, distance: M.Distance = M.Distance.COSINE, uuid_ids: bool = False
) -> Dataset:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    if uuid_ids:
        ids: list = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]
    else:
        ids = make_int_ids(rng, n)
    payloads = [make_payload(rng, i) for i in range(n)]
    return Dataset(ids=ids, vectors=vectors, payloads=payloads, distance=distance)


def upload(
    client: QdrantClient, name: str, ds: Dataset, batch: int = 500, seed: int = 7, shuffle: bool = True
) -> None:
    """Upsert in batches of `batch`, alternating PointStruct lists and Batch, in shuffled order."""
    order = np.arange(len(ds.ids))
    if shuffle:
        np.random.default_rng(seed).shuffle(order)
    for b, start in enumerate(range(0, len(order), batch)):
        rows = order[start : start + batch]
        if b % 2 == 0:
            points = [
                M.PointStruct(id=ds.ids[r], vector=ds.vectors[r].tolist(), payload=ds.payloads[r]) for r in rows
            ]
            res = client.upsert(name, points=points, wait=True)
        else:
            res = client.upsert(
                name,
                points=M.Batch(
                    ids=[ds.ids[r] for r in rows],
                    vectors=[ds.vectors[r].tolist() for r in rows],
                    payloads=[ds.payloads[r] for r in rows],
                ),
                wait=True,
            )
        assert res.status == M.UpdateStatus.COMPLETED, res


def create(client: QdrantClient, name: str, distance: M.Distance, **kw: Any) -> None:
    if client.collection_exists(name):
        client.delete_collection(name)
    assert client.create_collection(name, vectors_config=M.VectorParams(size=DIM, distance=distance), **kw)


# --------------------------------------------------------------------------------------------
# Exact scoring
# --------------------------------------------------------------------------------------------


def higher_is_better(distance: M.Distance) -> bool:
    return distance in (M.Distance.COSINE, M.Distance.DOT)


def _prep_query(q: np.ndarray, distance: M.Distance) -> np.ndarray:
    q = np.asarray(q, dtype=np.float32)
    if distance == M.Distance.COSINE:
        n = float(np.sqrt((q * q).sum(dtype=np.float32)))
        q = q / (n if n > 0 else F32_EPS)
    return q.astype(np.float64)


def nearest_scores(stored: np.ndarray, q: np.ndarray, distance: M.Distance) -> np.ndarray:
    """Score of every stored vector for a nearest query, as Qdrant reports it."""
    q = _prep_query(q, distance)
    if distance in (M.Distance.COSINE, M.Distance.DOT):
        return stored @ q
    if distance == M.Distance.EUCLID:
        return np.sqrt(((stored - q) ** 2).sum(axis=1))
    if distance == M.Distance.MANHATTAN:
        return np.abs(stored - q).sum(axis=1)
    raise ValueError(distance)


def internal_sim(stored: np.ndarray, q: np.ndarray, distance: M.Distance) -> np.ndarray:
    """Qdrant's internal similarity (bigger is better), used by best_score / sum_scores."""
    q = _prep_query(q, distance)
    if distance in (M.Distance.COSINE, M.Distance.DOT):
        return stored @ q
    if distance == M.Distance.EUCLID:
        return -((stored - q) ** 2).sum(axis=1)
    if distance == M.Distance.MANHATTAN:
        return -np.abs(stored - q).sum(axis=1)
    raise ValueError(distance)


def scaled_fast_sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (x / (1.0 + np.abs(x)) + 1.0)


def example_vectors(ds: Dataset, examples: Sequence) -> list[np.ndarray]:
    """Point ids -> stored vector; raw vectors as given."""
    out = []
    for e in examples:
        if isinstance(e, (list, tuple, np.ndarray)):
            out.append(np.asarray(e, dtype=np.float64))
        else:
            out.append(ds.stored[ds.index_of[e]])
    return out


def recommend_scores(
    ds: Dataset, positive: Sequence, negative: Sequence, strategy: str
) -> tuple[np.ndarray, bool]:
    """(scores over all points, higher_is_better) for a RecommendQuery, per Qdrant's formulas."""
    stored = ds.stored
    pos = example_vectors(ds, positive)
    neg = example_vectors(ds, negative)
    if strategy == "average_vector":
        avg_pos = np.mean(pos, axis=0)
        q = avg_pos if not neg else avg_pos + (avg_pos - np.mean(neg, axis=0))
        return nearest_scores(stored, q, ds.distance), higher_is_better(ds.distance)
    if strategy == "best_score":
        bp = np.max([internal_sim(stored, v, ds.distance) for v in pos], axis=0) if pos else np.full(len(stored), -np.inf)
        bn = np.max([internal_sim(stored, v, ds.distance) for v in neg], axis=0) if neg else np.full(len(stored), -np.inf)
        with np.errstate(invalid="ignore"):
            s = np.where(bp > bn, scaled_fast_sigmoid(bp), -scaled_fast_sigmoid(bn))
        return s, True
    if strategy == "sum_scores":
        sp = np.sum([internal_sim(stored, v, ds.distance) for v in pos], axis=0) if pos else 0.0
        sn = np.sum([internal_sim(stored, v, ds.distance) for v in neg], axis=0) if neg else 0.0
        return np.asarray(sp - sn, dtype=np.float64) * np.ones(len(stored)), True
    raise ValueError(strategy)


def exact_topk(scores: np.ndarray, mask: Optional[np.ndarray], k: int, higher: bool, offset: int = 0) -> list[int]:
    """Row indices of the exact top k (after offset) among rows where mask is True."""
    s = np.where(mask, scores, np.nan) if mask is not None else scores.astype(np.float64)
    rows = np.flatnonzero(~np.isnan(s))
    key = -s[rows] if higher else s[rows]
    order = rows[np.argsort(key, kind="stable")]
    return [int(r) for r in order[offset : offset + k]]


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def score_tol(ref: float) -> float:
    return 2e-4 + 2e-4 * abs(ref)


def norm_id(pid: Any) -> Any:
    return str(pid) if isinstance(pid, uuid.UUID) else pid


def check_topk(
    points: Sequence,
    ds: Dataset,
    scores: np.ndarray,
    mask: Optional[np.ndarray],
    k: int,
    higher: bool,
    offset: int = 0,
    what: str = "",
    check_scores: bool = True,
) -> None:
    """`points` (ScoredPoint list) must be the exact top k of `scores` restricted to `mask`,
    ordered best first, with correct scores. Exact ties (within float tolerance) may swap."""
    expected_rows = exact_topk(scores, mask, k, higher, offset)
    got_ids = [norm_id(p.id) for p in points]
    ctx = f"{what}: got ids {got_ids[:12]} expected {[ds.ids[r] for r in expected_rows][:12]}"
    assert len(got_ids) == len(expected_rows), f"{ctx}: expected {len(expected_rows)} results, got {len(got_ids)}"
    assert len(set(got_ids)) == len(got_ids), f"{ctx}: duplicate ids"
    rows = []
    for p, pid in zip(points, got_ids):
        assert pid in ds.index_of, f"{ctx}: unknown id {pid!r}"
        r = ds.index_of[pid]
        assert mask is None or mask[r], f"{ctx}: id {pid} does not satisfy the filter / is excluded"
        if check_scores:
            assert abs(p.score - scores[r]) <= score_tol(scores[r]), (
                f"{ctx}: score of id {pid}: got {p.score}, exact {scores[r]}"
            )
        rows.append(r)
    ref = [scores[r] for r in rows]
    for a, b in zip(ref, ref[1:]):
        ok = a >= b - score_tol(a) if higher else a <= b + score_tol(a)
        assert ok, f"{ctx}: results not ordered by score: {ref}"
    if expected_rows:
        got_set, exp_set = set(rows), set(expected_rows)
        if got_set != exp_set:
            # only acceptable if the differing items are ties with the boundary
            for r in got_set ^ exp_set:
                s_got = [scores[x] for x in expected_rows]
                lo, hi = min(s_got), max(s_got)
                boundary = lo if higher else hi
                assert abs(scores[r] - boundary) <= score_tol(boundary), (
                    f"{ctx}: result set differs from exact top-{k} beyond ties (row {r}, id {ds.ids[r]}, "
                    f"score {scores[r]}, boundary {boundary})"
                )


def recall(points: Sequence, ds: Dataset, scores: np.ndarray, mask: Optional[np.ndarray], k: int, higher: bool) -> float:
    expected = exact_topk(scores, mask, k, higher)
    if not expected:
        return 1.0
    # count ties with the k-th score as hits
    boundary = scores[expected[-1]]
    hits = 0
    for p in points:
        r = ds.index_of.get(norm_id(p.id))
        if r is None:
            continue
        if mask is not None and not mask[r]:
            continue
        s = scores[r]
        if (s >= boundary - score_tol(boundary)) if higher else (s <= boundary + score_tol(boundary)):
            hits += 1
    return min(hits, len(expected)) / len(expected)


def same_ids_modulo_ties(a: Sequence, b: Sequence, what: str = "") -> None:
    """Two ScoredPoint lists (e.g. vicinity vs local mode) agree: same length, same scores position
    by position, and same ids except where scores tie."""
    assert len(a) == len(b), f"{what}: lengths {len(a)} vs {len(b)}: {[p.id for p in a]} vs {[p.id for p in b]}"
    for i, (x, y) in enumerate(zip(a, b)):
        assert abs(x.score - y.score) <= score_tol(y.score), f"{what}: position {i}: score {x.score} vs {y.score}"
        if norm_id(x.id) != norm_id(y.id):
            ties = [norm_id(p.id) for p in b if abs(p.score - x.score) <= score_tol(x.score)]
            assert norm_id(x.id) in ties, f"{what}: position {i}: id {x.id} vs {y.id} (not a tie)"


# --------------------------------------------------------------------------------------------
# Filters: each case is a Filter plus the Python predicate that defines the expected matches
# (Qdrant semantics: a condition on a missing key is false; array values match if any element does)
# --------------------------------------------------------------------------------------------


def _vals(p: dict, key: str) -> list:
    if key not in p or p[key] is None:
        return []
    v = p[key]
    return v if isinstance(v, list) else [v]


def fc_value(key: str, value: Any) -> M.FieldCondition:
    return M.FieldCondition(key=key, match=M.MatchValue(value=value))


def fc_any(key: str, values: list) -> M.FieldCondition:
    return M.FieldCondition(key=key, match=M.MatchAny(any=values))


def fc_except(key: str, values: list) -> M.FieldCondition:
    return M.FieldCondition(key=key, match=M.MatchExcept(**{"except": values}))


def fc_range(key: str, **kw: float) -> M.FieldCondition:
    return M.FieldCondition(key=key, range=M.Range(**kw))


def p_value(key: str, value: Any) -> Callable[[Any, dict], bool]:
    return lambda pid, p: any(v == value and type(v) is type(value) for v in _vals(p, key))


def p_any(key: str, values: list) -> Callable[[Any, dict], bool]:
    return lambda pid, p: any(v in values for v in _vals(p, key))


def p_range(key: str, gt=None, gte=None, lt=None, lte=None) -> Callable[[Any, dict], bool]:
    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return (
            (gt is None or v > gt)
            and (gte is None or v >= gte)
            and (lt is None or v < lt)
            and (lte is None or v <= lte)
        )

    return lambda pid, p: any(ok(v) for v in _vals(p, key))


def p_is_empty(key: str) -> Callable[[Any, dict], bool]:
    return lambda pid, p: key not in p or p[key] is None or p[key] == []


def p_is_null(key: str) -> Callable[[Any, dict], bool]:
    return lambda pid, p: key in p and p[key] is None


def filter_cases(ds: Dataset) -> list[tuple[str, M.Filter, Callable[[Any, dict], bool]]]:
    some_ids = [ds.ids[i] for i in range(0, len(ds.ids), max(1, len(ds.ids) // 25))][:25]
    if isinstance(ds.ids[0], int):
        missing = [x for x in [5 * len(ds.ids) + 3, 5 * len(ds.ids) + 11] if x not in ds.index_of]
    else:
        missing = ["00000000-0000-4000-8000-000000000000"]
    has_ids = some_ids + missing
    sid = set(some_ids)
    nv, gv = p_value("n", 7), p_value("group", "a")
    return [
        ("match_value_keyword", M.Filter(must=[fc_value("group", "b")]), p_value("group", "b")),
        ("match_value_int_selective", M.Filter(must=[fc_value("n", 7)]), nv),
        ("match_value_bool", M.Filter(must=[fc_value("flag", True)]), p_value("flag", True)),
        ("match_any_keyword", M.Filter(must=[fc_any("group", ["a", "c"])]), p_any("group", ["a", "c"])),
        ("match_any_int", M.Filter(must=[fc_any("n", [1, 2, 3, 500, 999])]), p_any("n", [1, 2, 3, 500, 999])),
        ("match_value_array", M.Filter(must=[fc_value("tags", "blue")]), p_value("tags", "blue")),
        ("match_any_array", M.Filter(must=[fc_any("tags", ["red", "x"])]), p_any("tags", ["red", "x"])),
        ("match_except", M.Filter(must=[fc_except("group", ["a", "b", "c"])]),
         lambda pid, p: p["group"] not in ("a", "b", "c")),
        ("range_int", M.Filter(must=[fc_range("n", gte=100, lt=300)]), p_range("n", gte=100, lt=300)),
        ("range_float", M.Filter(must=[fc_range("price", gt=10.5, lte=20.25)]), p_range("price", gt=10.5, lte=20.25)),
        ("range_int_float_bounds", M.Filter(must=[fc_range("n", gt=899.5)]), p_range("n", gt=899.5)),
        ("should", M.Filter(should=[fc_value("group", "a"), fc_range("n", lt=100)]),
         lambda pid, p: p["group"] == "a" or p["n"] < 100),
        ("must_not", M.Filter(must_not=[fc_value("group", "a"), fc_range("n", gte=500)]),
         lambda pid, p: p["group"] != "a" and not p["n"] >= 500),
        ("min_should", M.Filter(min_should=M.MinShould(
            conditions=[fc_value("group", "a"), fc_range("n", lt=500), fc_range("price", gt=50)], min_count=2)),
         lambda pid, p: (p["group"] == "a") + (p["n"] < 500) + (p["price"] > 50) >= 2),
        ("has_id", M.Filter(must=[M.HasIdCondition(has_id=has_ids)]), lambda pid, p: pid in sid),
        ("must_not_has_id", M.Filter(must_not=[M.HasIdCondition(has_id=has_ids)]), lambda pid, p: pid not in sid),
        ("is_empty", M.Filter(must=[M.IsEmptyCondition(is_empty=M.PayloadField(key="tags"))]), p_is_empty("tags")),
        ("not_is_empty", M.Filter(must_not=[M.IsEmptyCondition(is_empty=M.PayloadField(key="tags"))]),
         lambda pid, p: not p_is_empty("tags")(pid, p)),
        ("is_null", M.Filter(must=[M.IsNullCondition(is_null=M.PayloadField(key="opt"))]), p_is_null("opt")),
        ("not_is_null", M.Filter(must_not=[M.IsNullCondition(is_null=M.PayloadField(key="opt"))]),
         lambda pid, p: not p_is_null("opt")(pid, p)),
        ("nested_filter", M.Filter(must=[
            M.Filter(should=[fc_value("group", "a"), fc_value("group", "b")]),
            M.Filter(must_not=[fc_range("n", lt=500)]),
        ]), lambda pid, p: p["group"] in ("a", "b") and p["n"] >= 500),
        ("combined", M.Filter(
            must=[fc_value("group", "c")],
            should=[fc_any("tags", ["red"]), fc_range("price", lt=10)],
            must_not=[M.IsEmptyCondition(is_empty=M.PayloadField(key="tags"))]),
         lambda pid, p: p["group"] == "c" and (("red" in (p.get("tags") or [])) or p["price"] < 10)
         and bool(p.get("tags"))),
        ("very_selective", M.Filter(must=[fc_value("n", 7), fc_value("group", "a")]),
         lambda pid, p: nv(pid, p) and gv(pid, p)),
        ("nested_key_value", M.Filter(must=[fc_value("meta.color", "red")]),
         lambda pid, p: isinstance(p.get("meta"), dict) and p["meta"].get("color") == "red"),
        ("nested_key_range", M.Filter(must=[fc_range("meta.size", gte=7)]),
         lambda pid, p: isinstance(p.get("meta"), dict) and p["meta"].get("size", -1) >= 7),
        ("values_count_gte", M.Filter(must=[M.FieldCondition(key="tags", values_count=M.ValuesCount(gte=2))]),
         lambda pid, p: len(_vals(p, "tags")) >= 2),
        ("values_count_lt", M.Filter(must=[M.FieldCondition(key="tags", values_count=M.ValuesCount(lt=2))]),
         lambda pid, p: len(_vals(p, "tags")) < 2),
        ("single_condition_not_list", M.Filter(must=fc_value("group", "d")), p_value("group", "d")),
        ("no_match", M.Filter(must=[fc_value("n", 5000)]), lambda pid, p: False),
    ]


def mask_of(ds: Dataset, pred: Callable[[Any, dict], bool]) -> np.ndarray:
    return np.array([bool(pred(pid, p)) for pid, p in zip(ds.ids, ds.payloads)])


def local_client(ds: Dataset, name: str, **create_kw: Any) -> QdrantClient:
    """qdrant-client's pure-Python local mode with the same data, as a second reference."""
    c = QdrantClient(":memory:")
    c.create_collection(name, vectors_config=M.VectorParams(size=DIM, distance=ds.distance), **create_kw)
    for start in range(0, len(ds.ids), 2000):
        c.upsert(
            name,
            points=M.Batch(
                ids=ds.ids[start : start + 2000],
                vectors=ds.vectors[start : start + 2000].tolist(),
                payloads=ds.payloads[start : start + 2000],
            ),
        )
    return c


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.float32(math.sqrt(float((v.astype(np.float64) ** 2).sum())))


# --------------------------------------------------------------------------------------------
# Self-test mode (E2E_LOCAL_MODE=1: the `client` fixture is qdrant-client's local mode)
# --------------------------------------------------------------------------------------------

LOCAL_MODE = os.environ.get("E2E_LOCAL_MODE") == "1"


class http_error:
    """`with http_error(404): ...` — the block must fail with one of these HTTP statuses.
    In local mode (no HTTP) any ValueError/KeyError counts."""

    def __init__(self, *statuses: int):
        self.statuses = statuses
        self.status_code: Optional[int] = None

    def __enter__(self) -> "http_error":
        return self

    def __exit__(self, et, ev, tb) -> bool:
        from qdrant_client.http.exceptions import UnexpectedResponse

        if et is None:
            raise AssertionError(f"expected an HTTP error {self.statuses or ''}, the call succeeded")
        if issubclass(et, UnexpectedResponse):
            self.status_code = ev.status_code
            assert not self.statuses or ev.status_code in self.statuses, (
                f"expected HTTP {self.statuses}, got {ev.status_code}: {ev}"
            )
            return True
        if LOCAL_MODE and issubclass(et, (ValueError, KeyError, AssertionError)):
            return True
        return False
