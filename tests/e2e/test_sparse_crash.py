"""Sparse vectors survive kill -9: every acknowledged sparse upsert, vector edit and delete is
there after a restart, whether the sparse index file was saved before them (replayed from the
`changes` log) or not at all (rebuilt from RocksDB), and searches answer as before."""

from __future__ import annotations

import random
import time

import httpx
import pytest

import e2e_support as S

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")

NAME = "sparse_crash"


def sparse(rng: random.Random) -> dict:
    idx = rng.sample(range(200), rng.randint(1, 12))
    return {"indices": idx, "values": [round(rng.uniform(-1, 2), 3) for _ in idx]}


def state(http: httpx.Client) -> dict:
    r = http.post(f"/collections/{NAME}/points/scroll", json={"limit": 10000, "with_vector": True})
    assert r.status_code == 200, r.text
    return {p["id"]: p["vector"] for p in r.json()["result"]["points"]}


def searches(http: httpx.Client, rng: random.Random) -> list:
    out = []
    for using in ["s", "w"]:
        for _ in range(5):
            body = {"query": sparse(rng), "using": using, "limit": 10}
            r = http.post(f"/collections/{NAME}/points/query", json=body)
            assert r.status_code == 200, r.text
            out.append([(p["id"], round(p["score"], 4)) for p in r.json()["result"]["points"]])
    return out


@pytest.mark.parametrize("saved_first", [True, False])
def test_acknowledged_sparse_writes_survive_kill9(server_factory, saved_first: bool):
    env = {"VICINITY__STORAGE__INDEX_SAVE_INTERVAL_SECS": "1" if saved_first else "3600"}
    srv = server_factory.start(env=env)
    rng = random.Random(7)
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        r = http.put(f"/collections/{NAME}", json={"sparse_vectors": {"s": {}, "w": {"modifier": "idf"}}})
        assert r.status_code == 200, r.text
        for batch in range(10):
            points = [{"id": batch * 50 + i, "vector": {"s": sparse(rng), "w": sparse(rng)}} for i in range(50)]
            r = http.put(f"/collections/{NAME}/points?wait=true", json={"points": points})
            assert r.status_code == 200, r.text
        if saved_first:
            # The background saver writes the sparse index files.
            deadline = time.monotonic() + 30
            while not list((srv.data_dir / "indexes").glob("*.sparse")) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert list((srv.data_dir / "indexes").glob("*.sparse")), "the saver never wrote the sparse indexes"
        # After the save (if any): edits the restart must replay.
        r = http.put(f"/collections/{NAME}/points/vectors?wait=true",
                     json={"points": [{"id": i, "vector": {"w": sparse(rng)}} for i in range(0, 100, 3)]})
        assert r.status_code == 200, r.text
        r = http.post(f"/collections/{NAME}/points/delete?wait=true", json={"points": list(range(100, 160))})
        assert r.status_code == 200, r.text
        r = http.post(f"/collections/{NAME}/points/vectors/delete?wait=true", json={"points": [200, 201], "vector": ["s"]})
        assert r.status_code == 200, r.text
        last = [{"id": 1000 + i, "vector": {"w": {"text": f"note {i} about sparse recovery", "model": "qdrant/bm25"}}}
                for i in range(20)]
        r = http.put(f"/collections/{NAME}/points?wait=true", json={"points": last})
        assert r.status_code == 200, r.text
        before = state(http)
        asked = searches(http, random.Random(11))
        bm25 = http.post(f"/collections/{NAME}/points/query",
                         json={"query": {"text": "recovery notes", "model": "qdrant/bm25"}, "using": "w", "limit": 5}).json()
    srv.kill()
    srv2 = server_factory.restart(srv, env=env, crash=True)
    with httpx.Client(base_url=srv2.url, timeout=60) as http:
        after = state(http)
        assert len(after) == len(before) == 500 - 60 + 20
        assert after == before
        assert searches(http, random.Random(11)) == asked
        again = http.post(f"/collections/{NAME}/points/query",
                          json={"query": {"text": "recovery notes", "model": "qdrant/bm25"}, "using": "w", "limit": 5}).json()
        assert again["result"]["points"] == bm25["result"]["points"]
