"""MMR, discovery / context and grouped queries (docs/qdrant-conventions-3.md §2-§4): randomized
congruence with qdrant-client's local mode, over Dot, Cosine and Euclid collections.

Random vectors make ties unlikely (context scores tie at 0 often); where two scores tie, either
id may come first (the order of ties is unspecified in Qdrant). Local mode's MMR pool defaults to
`limit` where the server's is `limit + offset`: local mode is given the server's default. Every request is exact (`params.exact`), so the
engine's approximation plays no part. Seeded by CONGRUENCE_SEED like test_congruence.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest
from qdrant_client import QdrantClient, models as M

from test_congruence import _announce_seed, local, nid, rng_for, rounds, score_close  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")

DISTANCES = [M.Distance.DOT, M.Distance.COSINE, M.Distance.EUCLID]
EXACT = M.SearchParams(exact=True)
DIM = 4
# Group keys: strings, integers, arrays of them, and values that are no key (the point is in no
# group) or no value at all.
KEYS: list[Any] = ["a", "b", "c", 1, 2, -3, ["a", "b"], [3, "c"], ["a", "a"], True, 2.5, ["c", 1.5], None, "-"]


def setup(client: QdrantClient, local: QdrantClient, name: str, distance: M.Distance,
          rng: np.random.Generator, n: int = 120) -> list[int]:
    vectors = rng.normal(size=(n, DIM)).round(3)
    points = []
    for i in range(n):
        key = KEYS[int(rng.integers(len(KEYS)))]
        payload = {"n": i} if key == "-" else {"g": key, "n": i}
        points.append(M.PointStruct(id=i + 1, vector=vectors[i].tolist(), payload=payload))
    for c in (client, local):
        if c.collection_exists(name):
            c.delete_collection(name)
        c.create_collection(name, vectors_config=M.VectorParams(size=DIM, distance=distance))
        c.upsert(name, points=points, wait=True)
    return [p.id for p in points]


def example(rng: np.random.Generator, ids: list[int]) -> Any:
    """A point id (a third of the time) or a random vector."""
    if rng.random() < 0.33:
        return int(ids[int(rng.integers(len(ids)))])
    return rng.normal(size=DIM).round(3).tolist()


def same_ranking(got: list, exp: list, ctx: str, everything: Optional[list] = None) -> None:
    """Position by position: equal scores, and the same id unless the two tie (in `everything`,
    the whole ranking `exp` is a page of, when given)."""
    assert len(got) == len(exp), f"{ctx}: {len(got)} vs {len(exp)}\n {got}\n {exp}"
    exp_scores = {nid(p.id): p.score for p in (exp if everything is None else everything)}
    for i, (g, e) in enumerate(zip(got, exp)):
        assert score_close(g.score, e.score), f"{ctx}: position {i}: {g.score} vs {e.score}\n {got}\n {exp}"
        if nid(g.id) != nid(e.id):
            tie = nid(g.id) in exp_scores and score_close(exp_scores[nid(g.id)], g.score)
            assert tie, f"{ctx}: position {i}: id {nid(g.id)} vs {nid(e.id)}, not a tie\n {got}\n {exp}"


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_discover_and_context(client: QdrantClient, local: QdrantClient, distance: M.Distance):
    name = f"qc_disc_{distance.value.lower()}"
    rng = rng_for(name)
    ids = setup(client, local, name, distance, rng)
    for i in range(rounds(20)):
        pairs = [M.ContextPair(positive=example(rng, ids), negative=example(rng, ids))
                 for _ in range(int(rng.integers(0, 4)))]
        limit, offset = int(rng.integers(1, 15)), int(rng.integers(0, 4))
        if rng.random() < 0.5:
            q: Any = M.DiscoverQuery(discover=M.DiscoverInput(target=example(rng, ids), context=pairs))
        else:
            pairs = pairs or [M.ContextPair(positive=example(rng, ids), negative=example(rng, ids))]
            q = M.ContextQuery(context=pairs)
        got = client.query_points(name, query=q, limit=limit, offset=offset, search_params=EXACT).points
        everything = local.query_points(name, query=q, limit=len(ids), search_params=EXACT).points
        exp = everything[offset:offset + limit]
        same_ranking(got, exp, f"#{i} {q} limit {limit} offset {offset}", everything)
    client.delete_collection(name)
    local.delete_collection(name)


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_mmr(client: QdrantClient, local: QdrantClient, distance: M.Distance):
    name = f"qc_mmr_{distance.value.lower()}"
    rng = rng_for(name)
    ids = setup(client, local, name, distance, rng)
    for i in range(rounds(20)):
        limit, offset = int(rng.integers(1, 10)), int(rng.integers(0, 3))
        candidates = int(rng.integers(1, 40)) if rng.random() < 0.8 else None
        mmr = M.Mmr(diversity=float(rng.choice([0.0, 0.3, 0.5, 0.9, 1.0])), candidates_limit=candidates)
        q = M.NearestQuery(nearest=example(rng, ids), mmr=mmr)
        # The server's default pool is limit + offset; local mode's is limit alone (a known
        # difference): local mode is told the server's default.
        pool = M.Mmr(diversity=mmr.diversity, candidates_limit=candidates or limit + offset)
        ref = M.NearestQuery(nearest=q.nearest, mmr=pool)
        got = client.query_points(name, query=q, limit=limit, offset=offset, search_params=EXACT).points
        exp = local.query_points(name, query=ref, limit=limit, offset=offset, search_params=EXACT).points
        ctx = f"#{i} {q} limit {limit} offset {offset}"
        # MMR's order is its pick order (not sorted); each hit keeps its nearest score.
        assert [nid(p.id) for p in got] == [nid(p.id) for p in exp], f"{ctx}\n {got}\n {exp}"
        assert all(score_close(g.score, e.score) for g, e in zip(got, exp)), f"{ctx}\n {got}\n {exp}"
    client.delete_collection(name)
    local.delete_collection(name)


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_groups(client: QdrantClient, local: QdrantClient, distance: M.Distance):
    name = f"qc_groups_{distance.value.lower()}"
    rng = rng_for(name)
    ids = setup(client, local, name, distance, rng)
    for i in range(rounds(20)):
        group_size, limit = int(rng.integers(1, 5)), int(rng.integers(1, 8))
        q = example(rng, ids)
        kw = dict(query=q, group_by="g", group_size=group_size, limit=limit, search_params=EXACT)
        got = client.query_points_groups(name, **kw).groups
        exp = local.query_points_groups(name, **kw).groups
        ctx = f"#{i} {kw}"
        assert [g.id for g in got] == [g.id for g in exp], f"{ctx}\n {got}\n {exp}"
        for g, e in zip(got, exp):
            same_ranking(g.hits, e.hits, f"{ctx} group {g.id}")
    client.delete_collection(name)
    local.delete_collection(name)
