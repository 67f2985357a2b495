"""Text, geo, datetime and uuid payload indexes survive kill -9: their schema is in the stored
config and they are rebuilt from the payloads at open, so the indexed filters answer as before."""

from __future__ import annotations

import httpx
import pytest

import e2e_support as S

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="needs the real server")

NAME = "filters"
UUID = "550e8400-e29b-41d4-a716-446655440000"

POINTS = [
    (1, {"t": "Qdrant is a vector database", "name": "Qdrant", "loc": {"lon": 13.40, "lat": 52.52},
         "when": "2024-01-01T00:00:00Z", "u": UUID}),
    (2, {"t": "Good cheap food", "name": "qdrant-client", "loc": [{"lon": 0, "lat": 0}, {"lon": 13.41, "lat": 52.521}],
         "when": "2024-01-01T01:00:00+02:00", "u": UUID.upper()}),
    (3, {"t": "cheap and good", "name": "Quickwit", "loc": {"lon": 100, "lat": 10},
         "when": "2024-01-01", "u": UUID.replace("-", "")}),
    (4, {"t": ["nothing", "GOOD CHEAP"], "name": "Milvus", "loc": {"lat": 52.5201, "lon": 13.4001},
         "when": "2024-01-01 00:30:00", "u": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}),
    (5, {"t": "goodcheap", "name": "qd", "loc": {"lon": 200, "lat": 0}, "when": 1704067200, "u": "not-a-uuid"}),
]

INDEXES = {
    "t": {"type": "text", "phrase_matching": True},
    "name": {"type": "text", "tokenizer": "prefix"},
    "loc": "geo",
    "when": "datetime",
    "u": {"type": "uuid", "is_tenant": True},
}


def ring(corners):
    pts = [{"lon": lon, "lat": lat} for lon, lat in corners]
    return {"points": pts + [pts[0]]}


SQUARE = ring([(13.0, 52.0), (14.0, 52.0), (14.0, 53.0), (13.0, 53.0)])
HOLE = ring([(13.39, 52.51), (13.405, 52.51), (13.405, 52.53), (13.39, 52.53)])

# (condition, ids) — with the indexes above
CASES = [
    ({"key": "t", "match": {"text": "good cheap"}}, [2, 3, 4]),
    ({"key": "t", "match": {"text_any": "cheap database"}}, [1, 2, 3, 4]),
    ({"key": "t", "match": {"phrase": "good cheap"}}, [2, 4]),
    ({"key": "t", "match": {"phrase": "cheap food"}}, [2]),
    ({"key": "name", "match": {"text": "qdr"}}, [1, 2]),
    ({"key": "name", "match": {"text": "qd"}}, [1, 2, 5]),
    ({"key": "name", "match": {"phrase": "qdrant"}}, []),
    ({"key": "loc", "geo_radius": {"center": {"lon": 13.40, "lat": 52.52}, "radius": 1000.0}}, [1, 2, 4]),
    ({"key": "loc", "geo_bounding_box": {"top_left": {"lon": 13.0, "lat": 53.0},
                                         "bottom_right": {"lon": 14.0, "lat": 52.0}}}, [1, 2, 4]),
    ({"key": "loc", "geo_polygon": {"exterior": SQUARE, "interiors": [HOLE]}}, [2]),
    ({"key": "when", "range": {"gte": "2024-01-01T00:00:00Z"}}, [1, 3, 4]),
    ({"key": "when", "range": {"gt": "2024-01-01T00:00:00Z"}}, [4]),
    ({"key": "when", "range": {"lt": "2024-01-01T00:00:01"}}, [1, 2, 3]),
    ({"key": "when", "range": {"lte": "2023-12-31T23:00:00Z"}}, [2]),
    ({"key": "u", "match": {"value": UUID}}, [1, 2, 3]),
    ({"key": "u", "match": {"value": "not-a-uuid"}}, []),
]


def answers(http: httpx.Client) -> list[tuple[list[int], int]]:
    out = []
    for cond, _ in CASES:
        body = {"filter": {"must": [cond]}, "limit": 100, "with_payload": False}
        r = http.post(f"/collections/{NAME}/points/scroll", json=body)
        assert r.status_code == 200, r.text
        ids = [p["id"] for p in r.json()["result"]["points"]]
        r = http.post(f"/collections/{NAME}/points/count", json={"filter": {"must": [cond]}})
        assert r.status_code == 200, r.text
        out.append((ids, r.json()["result"]["count"]))
    return out


def test_special_indexes_after_kill9(server_factory):
    srv = server_factory.start()
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        r = http.put(f"/collections/{NAME}", json={"vectors": {"size": 4, "distance": "Cosine"}})
        assert r.status_code == 200, r.text
        # Half the indexes before the points, half after: both fill the same way.
        for field in ["t", "loc"]:
            r = http.put(f"/collections/{NAME}/index?wait=true", json={"field_name": field, "field_schema": INDEXES[field]})
            assert r.status_code == 200, r.text
        points = [{"id": i, "vector": [1.0, float(i), 0.5, 0.0], "payload": p} for i, p in POINTS]
        r = http.put(f"/collections/{NAME}/points?wait=true", json={"points": points})
        assert r.status_code == 200, r.text
        for field in ["name", "when", "u"]:
            r = http.put(f"/collections/{NAME}/index?wait=true", json={"field_name": field, "field_schema": INDEXES[field]})
            assert r.status_code == 200, r.text
        before = answers(http)
        assert before == [(ids, len(ids)) for _, ids in CASES]
        schema = http.get(f"/collections/{NAME}").json()["result"]["payload_schema"]
    srv.kill()  # kill -9

    srv2 = server_factory.restart(srv, crash=True)
    with httpx.Client(base_url=srv2.url, timeout=60) as http:
        assert answers(http) == before
        info = http.get(f"/collections/{NAME}").json()["result"]
        assert info["payload_schema"] == schema
        assert info["payload_schema"]["t"]["params"] == {"type": "text", "tokenizer": "word", "phrase_matching": True}
        assert info["payload_schema"]["loc"] == {"data_type": "geo", "points": 5}
        assert info["payload_schema"]["u"]["params"] == {"type": "uuid", "is_tenant": True}
        # Dropping the uuid index makes `u` an exact string match again.
        r = http.delete(f"/collections/{NAME}/index/u?wait=true")
        assert r.status_code == 200, r.text
        r = http.post(f"/collections/{NAME}/points/count", json={"filter": {"must": [{"key": "u", "match": {"value": UUID}}]}})
        assert r.json()["result"]["count"] == 1
