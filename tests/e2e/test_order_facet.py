"""order_by (scroll and query), facet and count through the real qdrant-client (REST): the client
sends its own request shapes and parses vicinity's answers into its models
(docs/qdrant-conventions-3.md §1, §5, §6 worked examples)."""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient, models as M
from qdrant_client.http.exceptions import UnexpectedResponse

import e2e_support as S

pytestmark = pytest.mark.skipif(S.LOCAL_MODE, reason="local mode orders and facets without indexes")


def numbers(client: QdrantClient, name: str, schema: M.PayloadSchemaType) -> None:
    """§1.5: id1 n=5, id2 n=[1,7], id3 n=5, id4 no n, id5 n=2.5."""
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=M.Distance.DOT))
    payloads = [{"n": 5}, {"n": [1, 7]}, {"n": 5}, {"m": 5}, {"n": 2.5}]
    client.upsert(name, points=[M.PointStruct(id=i + 1, vector=[1.0, 0.0], payload=p) for i, p in enumerate(payloads)])
    client.create_payload_index(name, "n", field_schema=schema, wait=True)


def pairs(points) -> list:
    return [(p.id, p.order_value) for p in points]


def test_scroll_order_by(client: QdrantClient):
    numbers(client, "ob_int", M.PayloadSchemaType.INTEGER)
    points, next_offset = client.scroll(
        "ob_int", order_by=M.OrderBy(key="n", direction=M.Direction.DESC), limit=3, with_payload=False
    )
    assert pairs(points) == [(2, 7), (3, 5), (1, 5)]
    assert next_offset is None
    points, _ = client.scroll(
        "ob_int",
        order_by=M.OrderBy(key="n", direction=M.Direction.DESC, start_from=5),
        scroll_filter=M.Filter(must_not=[M.HasIdCondition(has_id=[1, 3])]),
    )
    assert pairs(points) == [(2, 1)]
    assert points[0].payload == {"n": [1, 7]}
    numbers(client, "ob_float", M.PayloadSchemaType.FLOAT)
    points, _ = client.scroll("ob_float", order_by="n", with_payload=False)
    assert pairs(points) == [(2, 1.0), (5, 2.5), (1, 5.0), (3, 5.0), (2, 7.0)]
    assert all(isinstance(p.order_value, float) for p in points)
    with pytest.raises(UnexpectedResponse) as e:
        client.scroll("ob_int", order_by="m")
    assert e.value.status_code == 400 and "No range index for `order_by` key: `m`" in e.value.content.decode()


def test_query_order_by(client: QdrantClient):
    numbers(client, "ob_query", M.PayloadSchemaType.FLOAT)
    hits = client.query_points("ob_query", query=M.OrderByQuery(order_by="n"), limit=2, offset=1).points
    assert [(h.id, h.order_value, h.score, h.version) for h in hits] == [(5, 2.5, 1.0, 0), (1, 5.0, 1.0, 0)]
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points("ob_query", query=M.OrderByQuery(order_by="n"), score_threshold=0.5)
    assert e.value.status_code == 400
    assert "Can't use score_threshold with an order_by query." in e.value.content.decode()


def test_facet_and_count(client: QdrantClient):
    name = "facets"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=M.VectorParams(size=2, distance=M.Distance.DOT))
    payloads = [{"g": "a", "n": 1}, {"g": "b"}, {"g": ["a", "b"], "n": 1}, {"g": "b"}, {"g": 3}, {"g": True},
                {"g": None}, {}, {"g": 2.5}, {"g": ["c", 1.5]}]
    client.upsert(name, points=[M.PointStruct(id=i + 1, vector=[1.0, 0.0], payload=p) for i, p in enumerate(payloads)])
    client.create_payload_index(name, "g", field_schema=M.PayloadSchemaType.KEYWORD, wait=True)
    hits = client.facet(name, key="g").hits
    assert [(h.value, h.count) for h in hits] == [("b", 3), ("a", 2), ("c", 1)]
    flt = M.Filter(must=[M.FieldCondition(key="n", match=M.MatchValue(value=1))])
    hits = client.facet(name, key="g", facet_filter=flt, exact=True).hits
    assert [(h.value, h.count) for h in hits] == [("a", 2), ("b", 1)]
    assert client.count(name, count_filter=flt, exact=False).count == 2
    assert client.count(name, exact=False).count == 10
    with pytest.raises(UnexpectedResponse) as e:
        client.facet(name, key="n")
    assert e.value.status_code == 400 and "No appropriate index for faceting: `n`" in e.value.content.decode()
