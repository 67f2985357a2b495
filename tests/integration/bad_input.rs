//! Bad input answers a 4xx whose error message names the problem, and a rejected write
//! changes nothing. Every case asserts the status code, the error envelope and the message;
//! write cases also check that nothing was stored.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use vicinity::config::Config;

use crate::common::{check_error, Server};

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const GET: Method = Method::GET;
const DELETE: Method = Method::DELETE;

/// A server with collection `c` (dim 4, Cosine) holding points 1, 2, 3 and a UUID point.
async fn seeded() -> Server {
    seeded_with(Config::default()).await
}

const UUID: &str = "550e8400-e29b-41d4-a716-446655440000";

async fn seeded_with(config: Config) -> Server {
    let s = Server::with_config(config);
    s.create("c", 4, "Cosine").await;
    s.upsert(
        "c",
        json!([
            {"id": 1, "vector": [1.0, 0.0, 0.0, 0.0], "payload": {"k": "a", "n": 1}},
            {"id": 2, "vector": [0.0, 1.0, 0.0, 0.0], "payload": {"k": "b", "n": 2}},
            {"id": 3, "vector": [0.0, 0.0, 1.0, 0.0], "payload": {"k": "c", "n": 3}},
            {"id": UUID, "vector": [0.0, 0.0, 0.0, 1.0], "payload": {"k": "d", "n": 4}},
        ]),
    )
    .await;
    s
}

/// What a rejected write must leave alone: the points, their payloads and vectors.
async fn snapshot(s: &Server, name: &str) -> Value {
    let r = s
        .post(
            &format!("/collections/{name}/points/scroll"),
            json!({"limit": 1000, "with_payload": true, "with_vector": true}),
        )
        .await;
    r["points"].clone()
}

const UPSERT: &str = "/collections/c/points?wait=true";

/// Upserts that must be rejected with `needles` in the message, leaving `c` unchanged.
async fn rejected_upsert(s: &Server, body: Value, status: StatusCode, needles: &[&str]) -> String {
    let before = snapshot(s, "c").await;
    let msg = s.err(PUT, UPSERT, Some(body.clone()), status, needles).await;
    assert_eq!(snapshot(s, "c").await, before, "rejected upsert {body} changed the collection");
    msg
}

fn v4(x: f32) -> Value {
    json!([x, x, x, x])
}

#[tokio::test]
async fn wrong_vector_size_on_upsert_writes_nothing() {
    let s = seeded().await;
    // Points form: one bad point among good ones.
    rejected_upsert(
        &s,
        json!({"points": [
            {"id": 10, "vector": [0.1, 0.2, 0.3, 0.4]},
            {"id": 11, "vector": [0.1, 0.2, 0.3]},
            {"id": 12, "vector": [0.1, 0.2, 0.3, 0.4]},
        ]}),
        BAD,
        &["point 11", "expected dim: 4, got 3"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": [0.1, 0.2, 0.3, 0.4, 0.5]}]}),
        BAD,
        &["expected dim: 4, got 5"],
    )
    .await;
    rejected_upsert(&s, json!({"points": [{"id": 10, "vector": []}]}), BAD, &["expected dim: 4, got 0"])
        .await;
    // Batch form.
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10, 11, 12], "vectors": [[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [1.0, 2.0]]}}),
        BAD,
        &["point 12", "expected dim: 4, got 2"],
    )
    .await;
    // Replacing an existing point with a bad vector keeps the old one.
    rejected_upsert(
        &s,
        json!({"points": [{"id": 1, "vector": [1.0]}]}),
        BAD,
        &["point 1", "expected dim: 4, got 1"],
    )
    .await;
    assert_eq!(s.count("c").await, 4);
    assert!(s.point("c", "10").await.is_none());
}

#[tokio::test]
async fn wrong_vector_size_on_search_routes() {
    let s = seeded().await;
    let dim = ["expected dim: 4, got 3"];
    let q3 = json!([0.1, 0.2, 0.3]);
    s.err(POST, "/collections/c/points/query", Some(json!({"query": q3})), BAD, &dim).await;
    s.err(POST, "/collections/c/points/query", Some(json!({"query": {"nearest": q3}})), BAD, &dim).await;
    s.err(
        POST,
        "/collections/c/points/query",
        Some(json!({"query": {"recommend": {"positive": [1, q3]}}})),
        BAD,
        &dim,
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/query",
        Some(json!({"query": {"recommend": {"positive": [1], "negative": [q3], "strategy": "best_score"}}})),
        BAD,
        &dim,
    )
    .await;
    s.err(POST, "/collections/c/points/search", Some(json!({"vector": q3, "limit": 3})), BAD, &dim).await;
    s.err(
        POST,
        "/collections/c/points/search",
        Some(json!({"vector": {"name": "", "vector": q3}, "limit": 3})),
        BAD,
        &dim,
    )
    .await;
    s.err(POST, "/collections/c/points/recommend", Some(json!({"positive": [q3], "limit": 3})), BAD, &dim)
        .await;
    s.err(
        POST,
        "/collections/c/points/recommend",
        Some(json!({"positive": [1], "negative": [q3], "limit": 3, "strategy": "sum_scores"})),
        BAD,
        &dim,
    )
    .await;
    // In a batch, one bad search fails the whole request.
    let good = json!({"query": [0.1, 0.2, 0.3, 0.4]});
    s.err(
        POST,
        "/collections/c/points/query/batch",
        Some(json!({"searches": [good, {"query": q3}]})),
        BAD,
        &dim,
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/search/batch",
        Some(json!({"searches": [{"vector": [1, 2, 3, 4], "limit": 1}, {"vector": q3, "limit": 1}]})),
        BAD,
        &dim,
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/recommend/batch",
        Some(json!({"searches": [{"positive": [1], "limit": 1}, {"positive": [q3], "limit": 1}]})),
        BAD,
        &dim,
    )
    .await;
}

#[tokio::test]
async fn non_finite_components_are_rejected() {
    let s = seeded().await;
    // 1e39 is a valid JSON number that overflows f32 to infinity.
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": [0.1, 1e39, 0.3, 0.4]}]}),
        BAD,
        &["point 10", "component 1", "not finite"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": [0.1, 0.2, -1e39, 0.4]}]}),
        BAD,
        &["component 2", "not finite"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10, 11], "vectors": [[0.1, 0.2, 0.3, 0.4], [1e39, 0.0, 0.0, 0.0]]}}),
        BAD,
        &["point 11", "not finite"],
    )
    .await;
    // JSON cannot carry NaN: a string "NaN" is a type error naming the component.
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": [0.1, "NaN", 0.3, 0.4]}]}),
        BAD,
        &["points[0].vector[1]", "string"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": [0.1, null, 0.3, 0.4]}]}),
        BAD,
        &["points[0].vector[1]"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10], "vectors": [["Infinity", 0, 0, 0]]}}),
        BAD,
        &["batch.vectors[0][0]"],
    )
    .await;
    // A number beyond f64 and the non-JSON literal NaN are syntax errors.
    for raw in [
        r#"{"points": [{"id": 10, "vector": [1e400, 0, 0, 0]}]}"#,
        r#"{"points": [{"id": 10, "vector": [NaN, 0, 0, 0]}]}"#,
    ] {
        let (status, v) = s.raw(PUT, UPSERT, raw.as_bytes().to_vec(), Some("application/json")).await;
        check_error(raw, status, &v, BAD, &["json", "line 1"]);
    }
    assert_eq!(s.count("c").await, 4);
    // Queries too.
    let fin = ["component 0", "not finite"];
    s.err(POST, "/collections/c/points/query", Some(json!({"query": [1e39, 0, 0, 0]})), BAD, &fin).await;
    s.err(
        POST,
        "/collections/c/points/search",
        Some(json!({"vector": [1e39, 0, 0, 0], "limit": 1})),
        BAD,
        &fin,
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/recommend",
        Some(json!({"positive": [[1e39, 0, 0, 0]], "limit": 1})),
        BAD,
        &fin,
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/query",
        Some(json!({"query": [1, "NaN", 0, 0]})),
        BAD,
        &["query", "list of numbers"],
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/search",
        Some(json!({"vector": [1, "NaN", 0, 0], "limit": 1})),
        BAD,
        &["vector", "list of numbers"],
    )
    .await;
}

#[tokio::test]
async fn zero_vector_under_cosine() {
    let s = seeded().await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 1, "vector": v4(0.0)}, {"id": 10, "vector": v4(1.0)}]}),
        BAD,
        &["point 1", "zero"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10, 11], "vectors": [v4(1.0), v4(0.0)]}}),
        BAD,
        &["point 11", "zero"],
    )
    .await;
    s.err(POST, "/collections/c/points/query", Some(json!({"query": v4(0.0)})), BAD, &["zero"]).await;
    s.err(POST, "/collections/c/points/search", Some(json!({"vector": v4(0.0), "limit": 1})), BAD, &["zero"])
        .await;
    // average_vector of opposite examples is the zero vector.
    s.err(
        POST,
        "/collections/c/points/recommend",
        Some(json!({"positive": [[1, 0, 0, 0], [-1, 0, 0, 0]], "limit": 1})),
        BAD,
        &["zero"],
    )
    .await;
    // Under Dot a zero vector is an ordinary vector.
    s.create("d", 4, "Dot").await;
    s.upsert("d", json!([{"id": 1, "vector": v4(0.0)}])).await;
    let hits = s.post("/collections/d/points/query", json!({"query": v4(0.0)})).await;
    assert_eq!(hits["points"][0]["score"], json!(0.0));
}

#[tokio::test]
async fn unknown_collection_is_404_on_every_route_family() {
    let s = seeded().await;
    let m = ["collection `nope` not found"];
    let cases: Vec<(Method, &str, Option<Value>)> = vec![
        (GET, "/collections/nope", None),
        (PUT, "/collections/nope/index", Some(json!({"field_name": "k", "field_schema": "keyword"}))),
        (DELETE, "/collections/nope/index/k", None),
        (PUT, "/collections/nope/points", Some(json!({"points": [{"id": 1, "vector": v4(1.0)}]}))),
        (POST, "/collections/nope/points", Some(json!({"ids": [1]}))),
        (GET, "/collections/nope/points/1", None),
        (POST, "/collections/nope/points/delete", Some(json!({"points": [1]}))),
        (POST, "/collections/nope/points/payload", Some(json!({"payload": {"a": 1}, "points": [1]}))),
        (PUT, "/collections/nope/points/payload", Some(json!({"payload": {"a": 1}, "points": [1]}))),
        (POST, "/collections/nope/points/payload/delete", Some(json!({"keys": ["a"], "points": [1]}))),
        (POST, "/collections/nope/points/payload/clear", Some(json!({"points": [1]}))),
        (POST, "/collections/nope/points/scroll", Some(json!({}))),
        (POST, "/collections/nope/points/count", Some(json!({}))),
        (POST, "/collections/nope/points/query", Some(json!({"query": v4(1.0)}))),
        (POST, "/collections/nope/points/query/batch", Some(json!({"searches": [{"query": v4(1.0)}]}))),
        (POST, "/collections/nope/points/search", Some(json!({"vector": v4(1.0), "limit": 1}))),
        (
            POST,
            "/collections/nope/points/search/batch",
            Some(json!({"searches": [{"vector": v4(1.0), "limit": 1}]})),
        ),
        (POST, "/collections/nope/points/recommend", Some(json!({"positive": [1], "limit": 1}))),
        (
            POST,
            "/collections/nope/points/recommend/batch",
            Some(json!({"searches": [{"positive": [1], "limit": 1}]})),
        ),
    ];
    for (method, uri, body) in cases {
        s.err(method, uri, body, NOT_FOUND, &m).await;
    }
    // Deleting is idempotent, as in Qdrant: no collection, nothing deleted, `false`.
    assert_eq!(s.ok(DELETE, "/collections/nope", None).await, json!(false));
    // `exists` answers false rather than 404.
    assert!(!s.exists("nope").await, "a 404 request created the collection");
    assert_eq!(s.get("/collections").await["collections"], json!([{"name": "c"}]));
    // Unknown routes and methods answer in the error envelope too.
    s.err(GET, "/nowhere", None, NOT_FOUND, &["no route", "/nowhere"]).await;
    s.err(GET, "/collections/c/points/1/extra", None, NOT_FOUND, &["no route"]).await;
    s.err(
        Method::PATCH,
        "/collections/c/points",
        None,
        StatusCode::METHOD_NOT_ALLOWED,
        &["PATCH", "/collections/c/points"],
    )
    .await;
    s.err(GET, "/collections/c/points/scroll", None, StatusCode::METHOD_NOT_ALLOWED, &["GET"]).await;
}

#[tokio::test]
async fn unknown_point_is_404() {
    let s = seeded().await;
    s.err(GET, "/collections/c/points/99", None, NOT_FOUND, &["No point with id 99 found"]).await;
    let other_uuid = "00000000-0000-0000-0000-000000000001";
    s.err(
        GET,
        &format!("/collections/c/points/{other_uuid}"),
        None,
        NOT_FOUND,
        &[&format!("No point with id {other_uuid} found")],
    )
    .await;
    let q = "/collections/c/points/query";
    s.err(POST, q, Some(json!({"query": 99})), NOT_FOUND, &["No point with id 99 found"]).await;
    s.err(POST, q, Some(json!({"query": other_uuid})), NOT_FOUND, &[other_uuid]).await;
    s.err(POST, q, Some(json!({"query": {"nearest": 99}})), NOT_FOUND, &["No point with id 99 found"]).await;
    for strategy in ["average_vector", "best_score", "sum_scores"] {
        s.err(
            POST,
            q,
            Some(json!({"query": {"recommend": {"positive": [1, 99], "strategy": strategy}}})),
            NOT_FOUND,
            &["No point with id 99 found"],
        )
        .await;
        s.err(
            POST,
            q,
            Some(json!({"query": {"recommend": {"positive": [1], "negative": [98], "strategy": strategy}}})),
            NOT_FOUND,
            &["No point with id 98 found"],
        )
        .await;
        s.err(
            POST,
            "/collections/c/points/recommend",
            Some(json!({"positive": [99], "limit": 3, "strategy": strategy})),
            NOT_FOUND,
            &["No point with id 99 found"],
        )
        .await;
    }
    // Payload updates naming a missing id update the points that exist, then answer 404 for
    // the missing one, as in Qdrant.
    for (method, uri, body, want) in [
        (
            POST,
            "/collections/c/points/payload",
            json!({"payload": {"z": 1}, "points": [1, 99]}),
            json!({"k": "a", "n": 1, "z": 1}),
        ),
        (
            PUT,
            "/collections/c/points/payload",
            json!({"payload": {"z": 2}, "points": [1, 99]}),
            json!({"z": 2}),
        ),
        (POST, "/collections/c/points/payload/delete", json!({"keys": ["z"], "points": [1, 99]}), json!({})),
        (POST, "/collections/c/points/payload/clear", json!({"points": [99, 2]}), json!({})),
    ] {
        let point = if uri.ends_with("clear") { "2" } else { "1" };
        s.err(method, uri, Some(body), NOT_FOUND, &["No point with id 99 found"]).await;
        assert_eq!(s.point("c", point).await.unwrap()["payload"], want, "{uri}");
    }
    s.put("/collections/c/points/payload?wait=true", json!({"payload": {"k": "a", "n": 1}, "points": [1]}))
        .await;
    s.put("/collections/c/points/payload?wait=true", json!({"payload": {"k": "b", "n": 2}, "points": [2]}))
        .await;
    let before = snapshot(&s, "c").await;
    // Qdrant-compatible: retrieve skips missing ids; deleting a missing id is a no-op.
    assert_eq!(
        s.post("/collections/c/points", json!({"ids": [99, 1]})).await.as_array().map(Vec::len),
        Some(1)
    );
    s.post("/collections/c/points/delete?wait=true", json!({"points": [99]})).await;
    assert_eq!(snapshot(&s, "c").await, before);
    // A missing payload index.
    s.err(DELETE, "/collections/c/index/k", None, NOT_FOUND, &["payload index", "`k`"]).await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let s = seeded().await;
    let before = snapshot(&s, "c").await;
    let cases: [(&str, &[&str]); 6] = [
        (r#"{"points": [{"id": 10, "vector": [1, 2, 3, 4]}"#, &["json", "eof"]),
        (r#"{"points": [{"id": 10, "vector": [1, 2, 3, 4]}]} trailing"#, &["json", "trailing"]),
        (r#"{'points': []}"#, &["json", "line 1 column 2"]),
        ("", &["json", "eof"]),
        ("[]", &["json", "expected struct UpsertPoints"]),
        ("\u{0}\u{1}", &["json"]),
    ];
    for (raw, needles) in cases {
        let (status, v) = s.raw(PUT, UPSERT, raw.as_bytes().to_vec(), Some("application/json")).await;
        check_error(&format!("upsert {raw:?}"), status, &v, BAD, needles);
        let (status, v) = s
            .raw(POST, "/collections/c/points/query", raw.as_bytes().to_vec(), Some("application/json"))
            .await;
        check_error(&format!("query {raw:?}"), status, &v, BAD, &["json"]);
    }
    let (status, v) =
        s.raw(PUT, "/collections/new", b"{\"vectors\": ".to_vec(), Some("application/json")).await;
    check_error("create", status, &v, BAD, &["json", "eof"]);
    assert!(!s.exists("new").await);
    // Invalid UTF-8 inside a string.
    let mut bytes = br#"{"points": [{"id": 10, "vector": [1, 2, 3, 4], "payload": {"k": ""#.to_vec();
    bytes.extend([0xff, 0xfe]);
    bytes.extend(br#""}}]}"#);
    let (status, v) = s.raw(PUT, UPSERT, bytes, Some("application/json")).await;
    check_error("invalid utf-8", status, &v, BAD, &["json"]);
    // No JSON content type.
    let body = br#"{"points": [{"id": 10, "vector": [1, 2, 3, 4]}]}"#.to_vec();
    let (status, v) = s.raw(PUT, UPSERT, body.clone(), None).await;
    check_error(
        "no content type",
        status,
        &v,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &["content-type", "application/json"],
    );
    let (status, v) = s.raw(PUT, UPSERT, body, Some("text/plain")).await;
    check_error("text/plain", status, &v, StatusCode::UNSUPPORTED_MEDIA_TYPE, &["application/json"]);
    assert_eq!(snapshot(&s, "c").await, before);
}

#[tokio::test]
async fn unknown_fields_are_ignored_except_where_qdrant_refuses_them() {
    let s = seeded().await;
    // Inside filters, payload selectors and vicinity's own shapes a misspelt field is named.
    let refused: Vec<(Method, &str, Value, &str)> = vec![
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "filter": {"musts": []}}), "musts"),
        (
            POST,
            "/collections/c/points/query",
            json!({"query": v4(1.0), "filter": {"must": [{"key": "k", "range": {"gtt": 1}}]}}),
            "gtt",
        ),
        (
            POST,
            "/collections/c/points/query",
            json!({"query": v4(1.0), "filter": {"must": [{"key": "k", "match": {"values": 1}}]}}),
            "values",
        ),
        (
            POST,
            "/collections/c/points/query",
            json!({"query": v4(1.0), "with_payload": {"includes": ["k"]}}),
            "includes",
        ),
        (
            POST,
            "/collections/c/points/search",
            json!({"vector": {"vector": v4(1.0), "nam": ""}, "limit": 1}),
            "nam",
        ),
        (POST, "/collections/c/points/count", json!({"filter": {"must_nt": []}}), "must_nt"),
    ];
    for (method, uri, body, field) in refused {
        let msg = s.err(method, uri, Some(body), BAD, &[&format!("`{field}`")]).await;
        assert!(msg.contains("unknown") || msg.contains("unsupported"), "{msg}");
    }
    // Anywhere else, as in Qdrant, a field no version of Qdrant knows is ignored: clients of
    // newer versions keep working.
    let before = snapshot(&s, "c").await;
    for (method, uri, body) in [
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "limt": 3})),
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "params": {"ef": 3}})),
        (POST, "/collections/c/points/search", json!({"vector": v4(1.0), "limit": 1, "vectors": 1})),
        (POST, "/collections/c/points/recommend", json!({"positive": [1], "limit": 1, "negatives": [2]})),
        (POST, "/collections/c/points/scroll", json!({"ofset": 1})),
        (POST, "/collections/c/points/count", json!({"filtr": {}})),
        (POST, "/collections/c/points", json!({"ids": [1], "with_vectors": true})),
        (POST, "/collections/c/points/query/batch", json!({"searches": [], "extra": 1})),
    ] {
        s.ok(method, uri, Some(body)).await;
    }
    assert_eq!(snapshot(&s, "c").await, before);
    s.put(
        "/collections/c/points?wait=true",
        json!({"points": [{"id": 10, "vector": v4(1.0), "payloads": {}}], "pointz": []}),
    )
    .await;
    assert_eq!(s.point("c", "10").await.unwrap()["payload"], json!({}));
    s.create_with("new", json!({"vectors": {"size": 4, "distance": "Dot", "sizes": 4}, "hnsw": {}})).await;
}

#[tokio::test]
async fn wrong_field_types_are_named() {
    let s = seeded().await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": "1,2,3,4"}]}),
        BAD,
        &["points[0].vector", "expected a list of numbers"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": v4(1.0), "payload": "k=a"}]}),
        BAD,
        &["points[0].payload", "invalid type"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": v4(1.0), "payload": [1]}]}),
        BAD,
        &["points[0].payload"],
    )
    .await;
    rejected_upsert(&s, json!({"points": {"id": 10, "vector": v4(1.0)}}), BAD, &["points", "invalid type"])
        .await;
    rejected_upsert(&s, json!({"batch": {"ids": 10, "vectors": [v4(1.0)]}}), BAD, &["batch.ids"]).await;
    rejected_upsert(&s, json!({"points": [{"vector": v4(1.0)}]}), BAD, &["points[0]", "missing field `id`"])
        .await;
    rejected_upsert(&s, json!({"points": [{"id": 10}]}), BAD, &["points[0]", "missing `vector`"]).await;
    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (PUT, "/collections/new", json!({"vectors": {"size": "4", "distance": "Dot"}}), "vectors.size"),
        (PUT, "/collections/new", json!({"vectors": {"size": 4, "distance": 1}}), "vectors.distance"),
        (PUT, "/collections/new", json!({"vectors": {"size": -4, "distance": "Dot"}}), "vectors.size"),
        (PUT, "/collections/new", json!({"vectors": {"size": 4.5, "distance": "Dot"}}), "vectors.size"),
        (
            PUT,
            "/collections/new",
            json!({"vectors": {"size": 4, "distance": "Dot"}, "hnsw_config": {"m": "16"}}),
            "hnsw_config.m",
        ),
        (PUT, "/collections/new", json!({"vectors": [4, "Dot"]}), "vectors"),
        (PUT, "/collections/new", json!({"vectors": {"distance": "Dot"}}), "size"),
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "limit": "10"}), "limit"),
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "offset": -1}), "offset"),
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "with_payload": 5}), "with_payload"),
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "with_vector": "yes"}), "with_vector"),
        (
            POST,
            "/collections/c/points/query",
            json!({"query": v4(1.0), "score_threshold": "0.5"}),
            "score_threshold",
        ),
        (
            POST,
            "/collections/c/points/query",
            json!({"query": v4(1.0), "params": {"exact": "yes"}}),
            "params.exact",
        ),
        (
            POST,
            "/collections/c/points/query",
            json!({"query": v4(1.0), "params": {"hnsw_ef": -1}}),
            "params.hnsw_ef",
        ),
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "using": 1}), "using"),
        (POST, "/collections/c/points/query", json!({"query": v4(1.0), "filter": []}), "filter"),
        (
            POST,
            "/collections/c/points/query",
            json!({"query": {"recommend": {"positive": 1}}}),
            "query.recommend.positive",
        ),
        (
            POST,
            "/collections/c/points/query",
            json!({"query": {"recommend": {"positive": [1], "strategy": 1}}}),
            "strategy",
        ),
        (POST, "/collections/c/points/search", json!({"vector": v4(1.0)}), "limit"),
        (POST, "/collections/c/points/search", json!({"vector": v4(1.0), "limit": true}), "limit"),
        (POST, "/collections/c/points/search", json!({"vector": "1,2,3,4", "limit": 1}), "vector"),
        (POST, "/collections/c/points/recommend", json!({"positive": 1, "limit": 1}), "positive"),
        (
            POST,
            "/collections/c/points/recommend",
            json!({"positive": [{"id": 1}], "limit": 1}),
            "positive[0]",
        ),
        (
            POST,
            "/collections/c/points/recommend",
            json!({"positive": [1], "limit": 1, "strategy": "best"}),
            "strategy",
        ),
        (POST, "/collections/c/points/scroll", json!({"limit": "all"}), "limit"),
        (POST, "/collections/c/points/count", json!({"exact": "yes"}), "exact"),
        (POST, "/collections/c/points", json!({"ids": "1"}), "ids"),
        (POST, "/collections/c/points/query/batch", json!({"searches": {}}), "searches"),
        (PUT, "/collections/c/index", json!({"field_name": 1, "field_schema": "keyword"}), "field_name"),
    ];
    for (method, uri, body, field) in cases {
        s.err(method, uri, Some(body), BAD, &[field]).await;
    }
    assert!(!s.exists("new").await);
    let before = snapshot(&s, "c").await;
    s.err(
        POST,
        "/collections/c/points/payload",
        Some(json!({"payload": [1], "points": [1]})),
        BAD,
        &["payload", "invalid type"],
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/payload",
        Some(json!({"payload": {"z": 1}, "points": [1], "key": 5})),
        BAD,
        &["key", "invalid type"],
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/payload/delete",
        Some(json!({"keys": "k", "points": [1]})),
        BAD,
        &["keys"],
    )
    .await;
    s.err(POST, "/collections/c/points/delete", Some(json!({"points": 1})), BAD, &["points", "invalid type"])
        .await;
    assert_eq!(snapshot(&s, "c").await, before);
}

#[tokio::test]
async fn bad_point_ids_are_rejected() {
    let s = seeded().await;
    let cases: [(Value, &str, &[&str]); 6] = [
        (json!(-1), "points[0].id", &["point id -1 is negative"]),
        (json!(1.5), "points[0].id", &["point id 1.5 is not an integer"]),
        (json!("abc"), "points[0].id", &["point id \"abc\" is not a uuid"]),
        (json!("550e8400-e29b-41d4-a716-44665544000"), "points[0].id", &["not a uuid"]),
        (json!(true), "points[0].id", &["a point id"]),
        (json!(null), "points[0].id", &["a point id"]),
    ];
    for (id, at, needles) in cases {
        let mut all = vec![at.replace("[0]", "[1]")];
        all.extend(needles.iter().map(|n| n.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        rejected_upsert(
            &s,
            json!({"points": [{"id": 10, "vector": v4(1.0)}, {"id": id, "vector": v4(1.0)}]}),
            BAD,
            &all,
        )
        .await;
    }
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10, -3], "vectors": [v4(1.0), v4(1.0)]}}),
        BAD,
        &["batch.ids[1]", "negative"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 18446744073709551616u128 as f64, "vector": v4(1.0)}]}),
        BAD,
        &["points[0].id", "too large"],
    )
    .await;
    let raw = br#"{"points": [{"id": 18446744073709551616, "vector": [1, 1, 1, 1]}]}"#.to_vec();
    let (status, v) = s.raw(PUT, UPSERT, raw, Some("application/json")).await;
    check_error("id 2^64", status, &v, BAD, &["points[0].id", "too large"]);
    let raw = br#"{"points": [{"id": -99999999999999999999, "vector": [1, 1, 1, 1]}]}"#.to_vec();
    let (status, v) = s.raw(PUT, UPSERT, raw, Some("application/json")).await;
    check_error("id -1e20", status, &v, BAD, &["points[0].id", "negative"]);
    // Ids in paths and other bodies.
    for (bad, why) in [
        ("-1", "negative"),
        ("1.5", "not an integer"),
        ("abc", "not a uuid"),
        ("18446744073709551616", "too large"),
        ("%20", "not a uuid"),
    ] {
        s.err(GET, &format!("/collections/c/points/{bad}"), None, BAD, &["point id", why]).await;
    }
    s.err(POST, "/collections/c/points", Some(json!({"ids": [1, -1]})), BAD, &["ids[1]", "negative"]).await;
    s.err(
        POST,
        "/collections/c/points/scroll",
        Some(json!({"offset": "abc"})),
        BAD,
        &["offset", "not a uuid"],
    )
    .await;
    s.err(POST, "/collections/c/points/query", Some(json!({"query": -5})), BAD, &["query", "negative"]).await;
    s.err(POST, "/collections/c/points/query", Some(json!({"query": "abc"})), BAD, &["query", "not a uuid"])
        .await;
    s.err(
        POST,
        "/collections/c/points/recommend",
        Some(json!({"positive": [2.5], "limit": 1})),
        BAD,
        &["positive[0]", "not an integer"],
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/count",
        Some(json!({"filter": {"must": [{"has_id": [1, -1]}]}})),
        BAD,
        &["has_id", "negative"],
    )
    .await;
    let before = snapshot(&s, "c").await;
    s.err(
        POST,
        "/collections/c/points/delete",
        Some(json!({"points": [1, -1]})),
        BAD,
        &["points[1]", "negative"],
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/payload",
        Some(json!({"payload": {"z": 1}, "points": [1, "x"]})),
        BAD,
        &["points[1]", "not a uuid"],
    )
    .await;
    assert_eq!(snapshot(&s, "c").await, before);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mut config = Config::default();
    config.service.max_request_bytes = 4096;
    let s = seeded_with(config).await;
    let big = "x".repeat(5000);
    let body = json!({"points": [{"id": 10, "vector": v4(1.0), "payload": {"big": big}}]});
    let before = snapshot(&s, "c").await;
    let msg = s.err(PUT, UPSERT, Some(body), StatusCode::PAYLOAD_TOO_LARGE, &["body", "4096"]).await;
    assert!(msg.to_lowercase().contains("limit") || msg.to_lowercase().contains("large"), "{msg}");
    let queries: Vec<Value> = (0..300).map(|_| json!({"query": v4(1.0)})).collect();
    s.err(
        POST,
        "/collections/c/points/query/batch",
        Some(json!({ "searches": queries })),
        StatusCode::PAYLOAD_TOO_LARGE,
        &["4096"],
    )
    .await;
    assert_eq!(snapshot(&s, "c").await, before);
    // Just under the limit is fine.
    s.upsert("c", json!([{"id": 10, "vector": v4(1.0), "payload": {"big": "x".repeat(3000)}}])).await;
    assert_eq!(s.count("c").await, 5);
}

#[tokio::test]
async fn limits_out_of_range() {
    let mut config = Config::default();
    config.search.max_batch = 2;
    let s = seeded_with(config).await;
    let zero = ["limit: value 0 invalid, must be 1 or larger"];
    let big = ["limit + offset must be at most 10000, got 1000000000"];
    for (limit, status, needles) in [(json!(0), INVALID, &zero[..]), (json!(1_000_000_000u64), BAD, &big[..])]
    {
        s.err(
            POST,
            "/collections/c/points/query",
            Some(json!({"query": v4(1.0), "limit": limit})),
            status,
            needles,
        )
        .await;
        s.err(
            POST,
            "/collections/c/points/search",
            Some(json!({"vector": v4(1.0), "limit": limit})),
            status,
            needles,
        )
        .await;
        s.err(
            POST,
            "/collections/c/points/recommend",
            Some(json!({"positive": [1], "limit": limit})),
            status,
            needles,
        )
        .await;
        s.err(POST, "/collections/c/points/scroll", Some(json!({"limit": limit})), status, needles).await;
        s.err(
            POST,
            "/collections/c/points/query/batch",
            Some(json!({"searches": [{"query": v4(1.0)}, {"query": v4(1.0), "limit": limit}]})),
            status,
            needles,
        )
        .await;
        s.err(
            POST,
            "/collections/c/points/search/batch",
            Some(json!({"searches": [{"vector": v4(1.0), "limit": limit}]})),
            status,
            needles,
        )
        .await;
        s.err(
            POST,
            "/collections/c/points/recommend/batch",
            Some(json!({"searches": [{"positive": [1], "limit": limit}]})),
            status,
            needles,
        )
        .await;
    }
    // limit + offset, and limits beyond any integer type.
    s.err(
        POST,
        "/collections/c/points/query",
        Some(json!({"query": v4(1.0), "limit": 10, "offset": 9991})),
        BAD,
        &["limit + offset", "10001"],
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/query",
        Some(json!({"query": v4(1.0), "limit": 10, "offset": u64::MAX})),
        BAD,
        &["limit + offset"],
    )
    .await;
    s.err(POST, "/collections/c/points/query", Some(json!({"query": v4(1.0), "limit": -1})), BAD, &["limit"])
        .await;
    s.err(
        POST,
        "/collections/c/points/query",
        Some(json!({"query": v4(1.0), "limit": 2.5})),
        BAD,
        &["limit"],
    )
    .await;
    s.err(
        POST,
        "/collections/c/points/query",
        Some(json!({"query": v4(1.0), "limit": 1e20})),
        BAD,
        &["limit"],
    )
    .await;
    let (status, v) = s
        .raw(
            POST,
            "/collections/c/points/query",
            br#"{"query": [1, 1, 1, 1], "limit": 100000000000000000000000}"#.to_vec(),
            Some("application/json"),
        )
        .await;
    check_error("limit 1e23 literal", status, &v, BAD, &["limit"]);
    // The largest allowed limit works and returns what exists.
    let hits = s.post("/collections/c/points/query", json!({"query": v4(1.0), "limit": 10000})).await;
    assert_eq!(hits["points"].as_array().map(Vec::len), Some(4));
    // Batches larger than search.max_batch.
    let three = json!([{"query": v4(1.0)}, {"query": v4(1.0)}, {"query": v4(1.0)}]);
    s.err(
        POST,
        "/collections/c/points/query/batch",
        Some(json!({ "searches": three })),
        BAD,
        &["at most 2 searches, got 3"],
    )
    .await;
    let three = json!([{"vector": v4(1.0), "limit": 1}, {"vector": v4(1.0), "limit": 1}, {"vector": v4(1.0), "limit": 1}]);
    s.err(
        POST,
        "/collections/c/points/search/batch",
        Some(json!({ "searches": three })),
        BAD,
        &["at most 2 searches"],
    )
    .await;
}

#[tokio::test]
async fn batch_shape_mismatches_write_nothing() {
    let s = seeded().await;
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10, 11], "vectors": [v4(1.0)]}}),
        BAD,
        &["2 ids but 1 vectors"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10], "vectors": [v4(1.0), v4(2.0)]}}),
        BAD,
        &["1 ids but 2 vectors"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10, 11], "vectors": [v4(1.0), v4(2.0)], "payloads": [{"a": 1}]}}),
        BAD,
        &["2 ids but 1 payloads"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"batch": {"ids": [10, 11], "vectors": [v4(1.0), v4(2.0)], "payloads": [{"a": 1}, 5]}}),
        BAD,
        &["batch.payloads[1]"],
    )
    .await;
    rejected_upsert(
        &s,
        json!({"points": [{"id": 10, "vector": v4(1.0)}], "batch": {"ids": [11], "vectors": [v4(1.0)]}}),
        BAD,
        &["either `points` or `batch`"],
    )
    .await;
    rejected_upsert(&s, json!({}), BAD, &["`points`", "`batch`"]).await;
    // An empty list is a valid, empty write.
    s.upsert("c", json!([])).await;
    assert_eq!(s.count("c").await, 4);
}

#[tokio::test]
async fn invalid_collection_names() {
    let s = Server::new();
    let body = json!({"vectors": {"size": 4, "distance": "Dot"}});
    // Qdrant's rules: 1 to 255 characters, none of < > : " / \\ | ? * NUL U+001F, not . or ..
    for name in ["..", ".", "%2E%2E", "..%2F..%2Fescape", "a%2Fb", "a*b", "a%00b", "a%5Cb", "a%1Fb", "a%3Ab"]
    {
        s.err(
            PUT,
            &format!("/collections/{name}"),
            Some(body.clone()),
            INVALID,
            &["Validation error in path parameters: [name: "],
        )
        .await;
    }
    let long = "a".repeat(256);
    s.err(
        PUT,
        &format!("/collections/{long}"),
        Some(body.clone()),
        INVALID,
        &["Validation error in path parameters", "must be from 1 to 255 characters"],
    )
    .await;
    assert_eq!(s.get("/collections").await["collections"], json!([]));
    assert!(s.catalog.names().is_empty());
    // Nothing was created beside or outside the data directory.
    let dir = s.dir.as_ref().unwrap().path();
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["db"], "unexpected files in the data dir");
    assert!(!dir.parent().unwrap().join("escape").exists());
    // The longest valid name, the allowed punctuation, spaces and Unicode work.
    s.create(&"a".repeat(255), 4, "Dot").await;
    s.create("a-b_c.d", 4, "Dot").await;
    for (path, name) in [("a%20b", "a b"), ("%20", " "), ("caf%C3%A9", "café")] {
        s.create(path, 4, "Dot").await;
        assert!(s.catalog.names().contains(&name.to_string()), "{name}");
    }
}

#[tokio::test]
async fn creating_a_collection_twice_is_409() {
    let s = seeded().await;
    s.err(
        PUT,
        "/collections/c",
        Some(json!({"vectors": {"size": 8, "distance": "Dot"}})),
        StatusCode::CONFLICT,
        &["collection `c` already exists"],
    )
    .await;
    let info = s.get("/collections/c").await;
    assert_eq!(info["config"]["params"]["vectors"], json!({"size": 4, "distance": "Cosine"}));
    assert_eq!(s.count("c").await, 4);
}

#[tokio::test]
async fn bad_collection_configs_create_nothing() {
    let s = Server::new();
    let vectors = |extra: Value| {
        let mut v = json!({"size": 4, "distance": "Cosine"});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"vectors": {"size": 0, "distance": "Cosine"}}), vec!["vectors.size", "integer `0`"]),
        (
            json!({"vectors": {"size": 4, "distance": "Manhattan"}}),
            vec!["vectors.distance", "Manhattan", "Cosine"],
        ),
        (json!({"vectors": {"size": 4, "distance": "cosine"}}), vec!["vectors.distance", "cosine"]),
        (
            json!({"vectors": vectors(json!({})), "quantization_config": {"product": {"compression": "x16"}}}),
            vec!["quantization_config", "only scalar"],
        ),
        (
            json!({"vectors": vectors(json!({})), "quantization_config": {"binary": {}}}),
            vec!["quantization_config", "only scalar"],
        ),
        (
            json!({"vectors": vectors(json!({"quantization_config": {"product": {"compression": "x4"}}}))}),
            vec!["quantization_config", "only scalar"],
        ),
        (
            json!({"vectors": vectors(json!({})), "quantization_config": {"scalar": {"type": "int4"}}}),
            vec!["scalar.type", "int4"],
        ),
        (
            json!({"vectors": vectors(json!({})), "sparse_vectors": {"text": {"modifier": "bm25"}}}),
            vec!["sparse_vectors.text.modifier"],
        ),
        (
            json!({"vectors": vectors(json!({})), "sparse_vectors": {"text": {"index": {"datatype": "uint8"}}}}),
            vec!["sparse_vectors.text.index.datatype", "float32"],
        ),
        (
            json!({"vectors": {"image": {"size": 4, "distance": "Manhattan"}}}),
            vec!["vectors.image.distance", "Manhattan"],
        ),
        (json!({"vectors": {"image": {"size": 0, "distance": "Cosine"}}}), vec!["vectors.image.size"]),
        (json!({}), vec!["vectors: required"]),
    ];
    for (body, needles) in cases {
        s.err(PUT, "/collections/new", Some(body), BAD, &needles).await;
        assert!(!s.exists("new").await);
    }
    // Values out of range are Qdrant's validation errors (422), naming the field and the bounds.
    let invalid: Vec<(Value, &str)> = vec![
        (
            json!({"vectors": {"size": 70000, "distance": "Cosine"}}),
            "vectors.size: value 70000 invalid, must be from 1 to 65536",
        ),
        (
            json!({"vectors": vectors(json!({})), "hnsw_config": {"m": 65}}),
            "hnsw_config.m: value 65 invalid, must be from 2 to 64",
        ),
        (
            json!({"vectors": vectors(json!({"hnsw_config": {"m": 1000}}))}),
            "vectors.hnsw_config.m: value 1000 invalid, must be from 2 to 64",
        ),
        (
            json!({"vectors": vectors(json!({})), "hnsw_config": {"m": 1}}),
            "hnsw_config.m: value 1 invalid, must be from 2 to 64",
        ),
        (
            json!({"vectors": vectors(json!({})), "hnsw_config": {"ef_construct": 0}}),
            "hnsw_config.ef_construct: value 0 invalid, must be 4 or larger",
        ),
        (
            json!({"vectors": vectors(json!({})), "hnsw_config": {"ef_construct": 100000}}),
            "hnsw_config.ef_construct: value 100000 invalid, must be 4096 or smaller",
        ),
        (
            json!({"vectors": vectors(json!({})), "quantization_config": {"scalar": {"type": "int8", "quantile": 2.0}}}),
            "quantization_config.scalar.quantile: value 2 invalid, must be from 0.5 to 1",
        ),
    ];
    for (body, needle) in invalid {
        s.err(PUT, "/collections/new", Some(body), INVALID, &[needle]).await;
        assert!(!s.exists("new").await);
    }
    assert!(s.catalog.names().is_empty());
    // Accepted-and-ignored Qdrant fields do not make a bad config good, nor a good one bad.
    s.create_with("new", json!({"vectors": vectors(json!({"on_disk": true})), "shard_number": 2, "on_disk_payload": true, "sparse_vectors": {}}))
        .await;
}

#[tokio::test]
async fn bad_filters_are_named_and_change_nothing() {
    let s = seeded().await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"must": [{"foo": {"key": "k"}}]}), vec!["filter.must[0]", "unknown condition"]),
        (
            json!({"must": [{"key": "n", "match": {"value": 1.5}}]}),
            vec!["filter.must[0].match.value", "1.5 is not an integer"],
        ),
        (json!({"must": [{"key": "n", "match": {"any": [1, 2.5]}}]}), vec!["match.any[1]", "not an integer"]),
        (
            json!({"must": [{"key": "n", "range": {"gte": "1"}}]}),
            vec!["filter.must[0].range.gte", "is not in a supported date/time format"],
        ),
        (json!({"must": [{"key": "n", "range": 5}]}), vec!["range", "gt/gte/lt/lte"]),
        (json!({"must": [{"key": "n", "match": {"value": 1, "any": [2]}}]}), vec!["match", "exactly one"]),
        (
            json!({"must": [{"key": "n", "match": {"value": 1}, "range": {"gt": 0}}]}),
            vec!["filter.must[0]", "exactly one"],
        ),
        (json!({"must": [{"key": "n", "geo_radius": {}}]}), vec!["geo_radius"]),
        (json!({"must": [{"key": "", "match": {"value": 1}}]}), vec!["filter.must[0].key"]),
        (json!({"must": [{"is_empty": {}}]}), vec!["is_empty.key"]),
        (json!({"must": [{"nested": {"filter": {}}}]}), vec!["nested.key"]),
        (json!({"must": "k"}), vec!["filter.must", "expected a condition"]),
        (json!({"must": [5]}), vec!["filter.must[0]", "condition object"]),
        (json!({"min_should": {"conditions": []}}), vec!["min_should.min_count"]),
        (json!({"must": [{"key": "k", "match": {"text": 5}}]}), vec!["match.text", "expected a string"]),
        (
            json!({"should": [{"key": "k", "values_count": {"gt": "x"}}]}),
            vec!["filter.should[0].values_count.gt"],
        ),
        (json!({"must_not": [{"has_id": "1"}]}), vec!["filter.must_not[0].has_id"]),
        (json!("k = a"), vec!["filter", "expected an object"]),
    ];
    let before = snapshot(&s, "c").await;
    for (filter, needles) in cases {
        for (method, uri, body) in [
            (POST, "/collections/c/points/count", json!({ "filter": filter })),
            (POST, "/collections/c/points/scroll", json!({ "filter": filter })),
            (POST, "/collections/c/points/query", json!({"query": v4(1.0), "filter": filter})),
            (POST, "/collections/c/points/search", json!({"vector": v4(1.0), "limit": 1, "filter": filter})),
            (POST, "/collections/c/points/recommend", json!({"positive": [1], "limit": 1, "filter": filter})),
            (POST, "/collections/c/points/delete", json!({ "filter": filter })),
            (POST, "/collections/c/points/payload", json!({"payload": {"z": 1}, "filter": filter})),
            (PUT, "/collections/c/points/payload", json!({"payload": {"z": 1}, "filter": filter})),
            (POST, "/collections/c/points/payload/delete", json!({"keys": ["k"], "filter": filter})),
            (POST, "/collections/c/points/payload/clear", json!({ "filter": filter })),
        ] {
            s.err(method, uri, Some(body), BAD, &needles).await;
        }
    }
    assert_eq!(snapshot(&s, "c").await, before);
}

#[tokio::test]
async fn bad_query_shapes() {
    let s = seeded().await;
    let q = "/collections/c/points/query";
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"query": {"fusion": "rrf"}}), vec!["cannot apply Fusion without prefetches"]),
        (
            json!({"query": {"sample": "random"}}),
            vec!["`sample`", "nearest, recommend, discover, context, order_by"],
        ),
        (json!({"query": {"discover": {"context": []}}}), vec!["query.discover", "missing field `target`"]),
        (
            json!({"query": {"context": [{"positive": 1}]}}),
            vec!["query.context[0]", "missing field `negative`"],
        ),
        (json!({"query": {"nearest": v4(1.0), "mmr": {"diversity": "x"}}}), vec!["query.mmr"]),
        (json!({"query": {"nearest": v4(1.0), "recommend": {}}}), vec!["query", "one of nearest, recommend"]),
        (json!({"query": {}}), vec!["query", "one of nearest, recommend"]),
        (json!({"query": {"nearest": {"nearest": v4(1.0)}}}), vec!["query.nearest"]),
        (json!({"query": {"nearest": true}}), vec!["query.nearest"]),
        (json!({"query": [v4(1.0), v4(0.5)]}), vec!["multi-vectors are not supported"]),
        (json!({"query": {"nearest": [v4(1.0), v4(0.5)]}}), vec!["query.nearest", "list of numbers"]),
        (json!({"query": v4(1.0), "using": "image"}), vec!["Not existing vector name error: image"]),
        (json!({"prefetch": [{"query": v4(1.0)}]}), vec!["A query is needed to merge the prefetches"]),
        (json!({"query": v4(1.0), "prefetch": 3}), vec!["prefetch: expected a prefetch object"]),
        (json!({"query": v4(1.0), "prefetch": {"query": v4(1.0), "limit": "x"}}), vec!["prefetch[0].limit"]),
        (json!({"query": v4(1.0), "lookup_from": {"collection": "c"}}), vec!["lookup_from"]),
        (json!({"query": true}), vec!["query", "vector", "point id"]),
        (json!({"query": {"recommend": [1]}}), vec!["query.recommend", "positive"]),
        (
            json!({"query": {"recommend": {"positive": [1], "strategy": "best"}}}),
            vec!["recommend.strategy", "best_score"],
        ),
        (json!({"query": {"recommend": {"positive": [true]}}}), vec!["query.recommend.positive[0]"]),
        (
            json!({"query": {"recommend": {"negative": [1]}}}),
            vec!["average_vector", "at least one positive vector id required"],
        ),
    ];
    for (body, needles) in cases {
        s.err(POST, q, Some(body.clone()), BAD, &needles).await;
        s.err(POST, "/collections/c/points/query/batch", Some(json!({"searches": [body]})), BAD, &needles)
            .await;
    }
    // No examples at all is Qdrant's validation error, whatever the strategy.
    for body in
        [json!({"query": {"recommend": {}}}), json!({"query": {"recommend": {"strategy": "best_score"}}})]
    {
        let needles = [
            "query.recommend.positives, negatives",
            "At least one positive or negative vector/id must be provided",
        ];
        s.err(POST, q, Some(body.clone()), INVALID, &needles).await;
        s.err(
            POST,
            "/collections/c/points/query/batch",
            Some(json!({"searches": [body]})),
            INVALID,
            &needles,
        )
        .await;
    }
    // The legacy routes.
    let r = "/collections/c/points/recommend";
    s.err(
        POST,
        r,
        Some(json!({"positive": [1], "limit": 1, "using": "image"})),
        BAD,
        &["Not existing vector name error: image"],
    )
    .await;
    s.err(POST, r, Some(json!({"positive": [], "limit": 1})), BAD, &["at least one positive"]).await;
    s.err(
        POST,
        r,
        Some(json!({"limit": 1, "strategy": "sum_scores"})),
        BAD,
        &["at least one positive or negative"],
    )
    .await;
    s.err(POST, r, Some(json!({"positive": [[v4(1.0)]], "limit": 1})), BAD, &["positive[0]"]).await;
    let search = "/collections/c/points/search";
    s.err(
        POST,
        search,
        Some(json!({"vector": {"name": "image", "vector": v4(1.0)}, "limit": 1})),
        BAD,
        &["Not existing vector name error: image"],
    )
    .await;
    s.err(POST, search, Some(json!({"vector": {"name": "image"}, "limit": 1})), BAD, &["vector"]).await;
    s.err(POST, search, Some(json!({"vector": [v4(1.0)], "limit": 1})), BAD, &["vector", "list of numbers"])
        .await;
    s.err(POST, search, Some(json!({"vector": null, "limit": 1})), BAD, &["vector"]).await;
}

#[tokio::test]
async fn points_and_filter_together_change_nothing() {
    let s = seeded().await;
    let before = snapshot(&s, "c").await;
    let f = json!({"must": [{"key": "k", "match": {"value": "a"}}]});
    let both = ["either `points` or `filter`, not both"];
    let neither = ["`points`", "`filter`"];
    for (method, uri, base) in [
        (POST, "/collections/c/points/delete", json!({})),
        (POST, "/collections/c/points/payload", json!({"payload": {"z": 1}})),
        (PUT, "/collections/c/points/payload", json!({"payload": {"z": 1}})),
        (POST, "/collections/c/points/payload/delete", json!({"keys": ["k"]})),
        (POST, "/collections/c/points/payload/clear", json!({})),
    ] {
        let mut body = base.clone();
        body["points"] = json!([1]);
        body["filter"] = f.clone();
        s.err(method.clone(), uri, Some(body), BAD, &both).await;
        s.err(method, uri, Some(base), BAD, &neither).await;
    }
    assert_eq!(snapshot(&s, "c").await, before);
}

#[tokio::test]
async fn bad_search_params() {
    let s = seeded().await;
    // As in Qdrant, hnsw_ef has no lower bound: 0 searches with a beam as wide as the limit.
    let p = json!({"hnsw_ef": 0});
    let hits =
        s.post("/collections/c/points/query", json!({"query": v4(1.0), "params": p, "limit": 2})).await;
    assert_eq!(hits["points"].as_array().unwrap().len(), 2, "{hits}");
    let hits =
        s.post("/collections/c/points/search", json!({"vector": v4(1.0), "limit": 1, "params": p})).await;
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    for bad in [0.5, -1.0, 0.0] {
        let p = json!({"quantization": {"oversampling": bad}});
        s.err(
            POST,
            "/collections/c/points/query",
            Some(json!({"query": v4(1.0), "params": p})),
            BAD,
            &["oversampling"],
        )
        .await;
    }
    s.err(POST, "/collections/c/points/scroll", Some(json!({"order_by": "n"})), BAD, &["order_by"]).await;
}

#[tokio::test]
async fn bad_wait_param_writes_nothing() {
    let s = seeded().await;
    let before = snapshot(&s, "c").await;
    let w = ["Deserialize error in query parameters", "wait"];
    for wait in ["maybe", "1", "", "TRUE"] {
        let uri = format!("/collections/c/points?wait={wait}");
        s.err(PUT, &uri, Some(json!({"points": [{"id": 10, "vector": v4(1.0)}]})), BAD, &w).await;
        s.err(
            POST,
            &format!("/collections/c/points/delete?wait={wait}"),
            Some(json!({"points": [1]})),
            BAD,
            &w,
        )
        .await;
        s.err(
            POST,
            &format!("/collections/c/points/payload?wait={wait}"),
            Some(json!({"payload": {"z": 1}, "points": [1]})),
            BAD,
            &w,
        )
        .await;
        s.err(
            PUT,
            &format!("/collections/c/points/payload?wait={wait}"),
            Some(json!({"payload": {"z": 1}, "points": [1]})),
            BAD,
            &w,
        )
        .await;
        s.err(
            POST,
            &format!("/collections/c/points/payload/delete?wait={wait}"),
            Some(json!({"keys": ["k"], "points": [1]})),
            BAD,
            &w,
        )
        .await;
        s.err(
            POST,
            &format!("/collections/c/points/payload/clear?wait={wait}"),
            Some(json!({"points": [1]})),
            BAD,
            &w,
        )
        .await;
        s.err(
            PUT,
            &format!("/collections/c/index?wait={wait}"),
            Some(json!({"field_name": "k", "field_schema": "keyword"})),
            BAD,
            &w,
        )
        .await;
    }
    s.ok(PUT, "/collections/c/index?wait=false", Some(json!({"field_name": "k", "field_schema": "keyword"})))
        .await;
    for wait in ["maybe", "2"] {
        s.err(DELETE, &format!("/collections/c/index/k?wait={wait}"), None, BAD, &w).await;
    }
    assert_eq!(snapshot(&s, "c").await, before);
    assert_eq!(s.get("/collections/c").await["payload_schema"]["k"]["data_type"], "keyword");
    // Unknown query parameters (Qdrant clients send `ordering`) are ignored.
    let r = s
        .put(
            "/collections/c/points?wait=false&ordering=weak",
            json!({"points": [{"id": 10, "vector": v4(1.0)}]}),
        )
        .await;
    assert_eq!(r["status"], "acknowledged");
}

#[tokio::test]
async fn bad_payload_index_requests() {
    let s = seeded().await;
    let i = "/collections/c/index";
    s.err(
        PUT,
        i,
        Some(json!({"field_name": "k", "field_schema": "vector"})),
        BAD,
        &["field_schema", "\"vector\""],
    )
    .await;
    s.err(
        PUT,
        i,
        Some(json!({"field_name": "k", "field_schema": {"type": "sparse"}})),
        BAD,
        &["field_schema", "\"sparse\""],
    )
    .await;
    s.err(PUT, i, Some(json!({"field_name": "k", "field_schema": 5})), BAD, &["field_schema"]).await;
    s.err(PUT, i, Some(json!({"field_name": "", "field_schema": "keyword"})), BAD, &["field_name"]).await;
    s.err(PUT, i, Some(json!({"field_schema": "keyword"})), BAD, &["field_name"]).await;
    assert!(s.get("/collections/c").await["payload_schema"].as_object().is_some_and(|o| o.is_empty()));
}

/// Finite components whose products overflow f32 would score ±inf / NaN (sent as `null`).
#[tokio::test]
async fn vectors_too_large_to_score_are_rejected() {
    let s = Server::new();
    for metric in ["Dot", "Euclid", "Cosine"] {
        let name = metric.to_lowercase();
        s.create(&name, 4, metric).await;
        s.upsert(&name, json!([{"id": 1, "vector": [1, 2, 3, 4]}])).await;
        let huge = json!([3e38, 3e38, 3e38, 3e38]);
        let before = snapshot(&s, &name).await;
        let uri = format!("/collections/{name}/points?wait=true");
        s.err(
            PUT,
            &uri,
            Some(json!({"points": [{"id": 2, "vector": huge}]})),
            BAD,
            &["point 2", "norm", "too large"],
        )
        .await;
        s.err(
            PUT,
            &uri,
            Some(json!({"batch": {"ids": [2, 3], "vectors": [[1, 1, 1, 1], huge]}})),
            BAD,
            &["point 3", "too large"],
        )
        .await;
        assert_eq!(snapshot(&s, &name).await, before);
        let q = format!("/collections/{name}/points/query");
        s.err(POST, &q, Some(json!({"query": huge})), BAD, &["norm", "too large"]).await;
        s.err(
            POST,
            &q,
            Some(json!({"query": {"recommend": {"positive": [1, huge], "strategy": "sum_scores"}}})),
            BAD,
            &["too large"],
        )
        .await;
        // Large but scoreable vectors are fine, and their scores are numbers.
        let big = if metric == "Cosine" { json!([1e19, 0, 0, 0]) } else { json!([4e18, 0, 0, 0]) };
        s.upsert(&name, json!([{"id": 2, "vector": big}])).await;
        let r = s.post(&q, json!({"query": big, "limit": 2})).await;
        assert!(
            r["points"].as_array().unwrap().iter().all(|h| h["score"].as_f64().is_some_and(f64::is_finite)),
            "{metric}: {r}"
        );
    }
}

/// A huge per-request oversampling must not size the search beam (it used to panic with a
/// capacity overflow — or abort the process when the allocation was merely enormous).
#[tokio::test]
async fn huge_search_params_are_clamped() {
    let s = Server::new();
    s.create_with(
        "q",
        json!({"vectors": {"size": 4, "distance": "Cosine"}, "hnsw_config": {"full_scan_threshold": 0},
               "quantization_config": {"scalar": {"type": "int8"}}}),
    )
    .await;
    let points: Vec<Value> =
        (0..300).map(|i| json!({"id": i, "vector": [1.0 + i as f32, 2.0, (i % 7) as f32, 1.0]})).collect();
    s.upsert("q", Value::Array(points)).await;
    for params in [
        json!({"quantization": {"oversampling": 1e30}}),
        json!({"quantization": {"oversampling": 1e15}}),
        json!({"quantization": {"oversampling": 1e6}, "hnsw_ef": 1_000_000_000u64}),
        json!({"hnsw_ef": u64::MAX}),
    ] {
        let r = s
            .post(
                "/collections/q/points/query",
                json!({"query": [1, 2, 3, 4], "limit": 10, "params": params}),
            )
            .await;
        assert_eq!(r["points"].as_array().map(Vec::len), Some(10), "{params}");
        let r = s
            .post(
                "/collections/q/points/recommend",
                json!({"positive": [1], "limit": 10, "strategy": "best_score", "params": params}),
            )
            .await;
        assert_eq!(r.as_array().map(Vec::len), Some(10), "{params}");
    }
}

/// Path segments that do not decode answer in the error envelope too.
#[tokio::test]
async fn undecodable_paths_are_400() {
    let s = seeded().await;
    for uri in ["/collections/%FF", "/collections/%FF/points/1", "/collections/c/points/%FF%FE"] {
        let (status, v) = s.raw(GET, uri, Vec::new(), None).await;
        check_error(uri, status, &v, BAD, &["path", "utf-8"]);
    }
    let (status, v) = s
        .raw(
            PUT,
            "/collections/%C0",
            serde_json::to_vec(&json!({"vectors": {"size": 4, "distance": "Dot"}})).unwrap(),
            Some("application/json"),
        )
        .await;
    check_error("create %C0", status, &v, BAD, &["path"]);
    assert_eq!(s.catalog.names(), ["c"]);
}
