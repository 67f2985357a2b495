//! Text, geo, datetime and uuid payload indexes and their conditions through the API:
//! the answers of the conventions' probes, the same with and without the indexes where Qdrant's
//! are the same, the same after re-opening the data dir, and the index schema as shown.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::Server;

const UUID: &str = "550e8400-e29b-41d4-a716-446655440000";

fn points() -> Value {
    json!([
        {"id": 1, "vector": [1.0, 1.0, 0.5, 0.0], "payload": {"t": "Qdrant is a vector database", "name": "Qdrant",
            "loc": {"lon": 13.40, "lat": 52.52}, "when": "2024-01-01T00:00:00Z", "u": UUID}},
        {"id": 2, "vector": [1.0, 2.0, 0.5, 0.0], "payload": {"t": "Good cheap food", "name": "qdrant-client",
            "loc": [{"lon": 0, "lat": 0}, {"lon": 13.41, "lat": 52.521}], "when": "2024-01-01T01:00:00+02:00",
            "u": UUID.to_uppercase()}},
        {"id": 3, "vector": [1.0, 3.0, 0.5, 0.0], "payload": {"t": "cheap and good", "name": "Quickwit",
            "loc": {"lon": 100, "lat": 10}, "when": "2024-01-01", "u": UUID.replace('-', "")}},
        {"id": 4, "vector": [1.0, 4.0, 0.5, 0.0], "payload": {"t": ["nothing", "GOOD CHEAP"], "name": "Milvus",
            "loc": {"lat": 52.5201, "lon": 13.4001}, "when": "2024-01-01 00:30:00",
            "u": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}},
        {"id": 5, "vector": [1.0, 5.0, 0.5, 0.0], "payload": {"t": "goodcheap", "name": "qd",
            "loc": {"lon": 200, "lat": 0}, "when": 1704067200, "u": "not-a-uuid"}},
    ])
}

fn indexes() -> Vec<(&'static str, Value)> {
    vec![
        ("t", json!({"type": "text", "phrase_matching": true})),
        ("name", json!({"type": "text", "tokenizer": "prefix"})),
        ("loc", json!("geo")),
        ("when", json!("datetime")),
        ("u", json!({"type": "uuid", "is_tenant": true})),
    ]
}

fn ring(corners: &[(f64, f64)]) -> Value {
    let mut r: Vec<Value> = corners.iter().map(|(lon, lat)| json!({"lon": lon, "lat": lat})).collect();
    r.push(r[0].clone());
    json!({"points": r})
}

/// (condition, ids with the indexes, ids without them).
fn cases() -> Vec<(Value, Vec<u64>, Vec<u64>)> {
    let square = ring(&[(13.0, 52.0), (14.0, 52.0), (14.0, 53.0), (13.0, 53.0)]);
    let hole = ring(&[(13.39, 52.51), (13.405, 52.51), (13.405, 52.53), (13.39, 52.53)]);
    vec![
        (json!({"key": "t", "match": {"text": "good cheap"}}), vec![2, 3, 4], vec![2, 3, 4]),
        (json!({"key": "t", "match": {"text_any": "cheap database"}}), vec![1, 2, 3, 4], vec![1, 2, 3, 4]),
        (json!({"key": "t", "match": {"phrase": "good cheap"}}), vec![2, 4], vec![2, 4]),
        (json!({"key": "t", "match": {"phrase": "cheap food"}}), vec![2], vec![2]),
        (json!({"key": "t", "match": {"text": ", ."}}), vec![], vec![]),
        (json!({"key": "name", "match": {"text": "qdr"}}), vec![1, 2], vec![]),
        (json!({"key": "name", "match": {"text": "qd"}}), vec![1, 2, 5], vec![5]),
        (json!({"key": "name", "match": {"phrase": "qdrant"}}), vec![], vec![1, 2]),
        (
            json!({"key": "loc", "geo_radius": {"center": {"lon": 13.40, "lat": 52.52}, "radius": 1000.0}}),
            vec![1, 2, 4],
            vec![1, 2, 4],
        ),
        (
            json!({"key": "loc", "geo_bounding_box": {"top_left": {"lon": 13.0, "lat": 53.0}, "bottom_right": {"lon": 14.0, "lat": 52.0}}}),
            vec![1, 2, 4],
            vec![1, 2, 4],
        ),
        (json!({"key": "loc", "geo_polygon": {"exterior": square}}), vec![1, 2, 4], vec![1, 2, 4]),
        (json!({"key": "loc", "geo_polygon": {"exterior": square, "interiors": [hole]}}), vec![2], vec![2]),
        (json!({"key": "when", "range": {"gte": "2024-01-01T00:00:00Z"}}), vec![1, 3, 4], vec![1, 3, 4]),
        (json!({"key": "when", "range": {"gt": "2024-01-01T00:00:00Z"}}), vec![4], vec![4]),
        (json!({"key": "when", "range": {"lt": "2024-01-01T00:00:01"}}), vec![1, 2, 3], vec![1, 2, 3]),
        (json!({"key": "when", "range": {"lte": "2023-12-31T23:00:00Z"}}), vec![2], vec![2]),
        (json!({"key": "when", "range": {"gte": 1704067200}}), vec![5], vec![5]),
        (json!({"key": "u", "match": {"value": UUID}}), vec![1, 2, 3], vec![1]),
        (
            json!({"key": "u", "match": {"any": [UUID.replace('-', "").to_uppercase()]}}),
            vec![1, 2, 3],
            vec![],
        ),
        (json!({"key": "u", "match": {"value": "not-a-uuid"}}), vec![], vec![5]),
    ]
}

/// The ids scroll, count and a filtered query give for one condition (all three must agree).
async fn answer(s: &Server, cond: &Value) -> Vec<u64> {
    let filter = json!({"must": [cond]});
    let scrolled: Vec<u64> =
        s.scroll_all("c", 2, Some(filter.clone())).await.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(s.count_filtered("c", filter.clone()).await as usize, scrolled.len(), "count of {cond}");
    let r = s
        .post(
            "/collections/c/points/query",
            json!({"query": [1.0, 0.0, 0.0, 0.0], "limit": 10, "filter": filter}),
        )
        .await;
    let mut queried: Vec<u64> =
        r["points"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect();
    queried.sort_unstable();
    assert_eq!(queried, scrolled, "query with {cond}");
    scrolled
}

async fn create_indexes(s: &Server) {
    for (field, schema) in indexes() {
        s.put("/collections/c/index?wait=true", json!({"field_name": field, "field_schema": schema})).await;
    }
}

#[tokio::test]
async fn special_indexes_answer_the_probes_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Server::open(dir.path());
        s.create("c", 4, "Cosine").await;
        s.upsert("c", points()).await;
        for (cond, _, without) in cases() {
            assert_eq!(answer(&s, &cond).await, without, "without indexes: {cond}");
        }
        create_indexes(&s).await;
        for (cond, with, _) in cases() {
            assert_eq!(answer(&s, &cond).await, with, "with indexes: {cond}");
        }
        let info = s.get("/collections/c").await;
        assert_eq!(
            info["payload_schema"]["t"],
            json!({"data_type": "text", "params": {"type": "text", "tokenizer": "word", "phrase_matching": true}, "points": 5})
        );
        assert_eq!(info["payload_schema"]["name"]["params"], json!({"type": "text", "tokenizer": "prefix"}));
        assert_eq!(info["payload_schema"]["loc"], json!({"data_type": "geo", "points": 5}));
        assert_eq!(info["payload_schema"]["when"], json!({"data_type": "datetime", "points": 5}));
        assert_eq!(
            info["payload_schema"]["u"],
            json!({"data_type": "uuid", "params": {"type": "uuid", "is_tenant": true}, "points": 5})
        );
        // Writes after the indexes: a changed point leaves its old tokens / places / times.
        s.upsert("c", json!([{"id": 3, "vector": [1.0, 3.0, 0.5, 0.0], "payload": {"t": "expensive", "loc": {"lon": 13.4, "lat": 52.52}}}]))
            .await;
        assert_eq!(answer(&s, &json!({"key": "t", "match": {"text": "good cheap"}})).await, [2, 4]);
        assert_eq!(
            answer(
                &s,
                &json!({"key": "loc", "geo_radius": {"center": {"lon": 13.40, "lat": 52.52}, "radius": 1.0}})
            )
            .await,
            [1, 3]
        );
        assert_eq!(
            answer(&s, &json!({"key": "when", "range": {"gte": "2024-01-01T00:00:00Z"}})).await,
            [1, 4]
        );
        s.upsert("c", json!([points()[2].clone()])).await;
    }
    let s = Server::open(dir.path());
    for (cond, with, _) in cases() {
        assert_eq!(answer(&s, &cond).await, with, "after reopening: {cond}");
    }
    // Dropping an index restores the unindexed meaning at once (cached answers included).
    s.ok(Method::DELETE, "/collections/c/index/name", None).await;
    assert_eq!(answer(&s, &json!({"key": "name", "match": {"text": "qdr"}})).await, Vec::<u64>::new());
    s.ok(Method::DELETE, "/collections/c/index/u", None).await;
    assert_eq!(answer(&s, &json!({"key": "u", "match": {"value": UUID}})).await, [1]);
}

#[tokio::test]
async fn indexes_made_before_the_points_fill_the_same_way() {
    let s = Server::new();
    s.create("c", 4, "Cosine").await;
    create_indexes(&s).await;
    s.upsert("c", points()).await;
    for (cond, with, _) in cases() {
        assert_eq!(answer(&s, &cond).await, with, "{cond}");
    }
}

#[tokio::test]
async fn bad_index_schemas_and_conditions_are_400() {
    let s = Server::new();
    s.create("c", 4, "Cosine").await;
    let i = "/collections/c/index";
    let bad = StatusCode::BAD_REQUEST;
    for (schema, needle) in [
        (json!("vector"), "unknown type \"vector\""),
        (json!({"type": "text", "tokenizer": "ngram"}), "unknown variant `ngram`"),
        (
            json!({"type": "text", "stemmer": {"type": "snowball", "language": "english"}}),
            "field_schema.stemmer",
        ),
        (json!({"type": "text", "stopwords": "english"}), "field_schema.stopwords"),
        (json!({"type": "text", "ascii_folding": true}), "field_schema.ascii_folding"),
        (json!({"type": "geo", "tokenizer": "word"}), "unknown field `tokenizer`"),
        (json!({"type": "uuid", "lookup": true}), "unknown field `lookup`"),
    ] {
        s.err(
            Method::PUT,
            i,
            Some(json!({"field_name": "k", "field_schema": schema})),
            bad,
            &[needle, "Format error in JSON body"],
        )
        .await;
    }
    assert!(s.get("/collections/c").await["payload_schema"].as_object().is_some_and(|o| o.is_empty()));
    let scroll = "/collections/c/points/scroll";
    for (cond, needle) in [
        (json!({"key": "d", "range": {"gte": "2024-01-01", "lt": 5}}), "untagged enum RangeInterface"),
        (json!({"key": "d", "range": {"gte": "tomorrow"}}), "'tomorrow' is not in a supported date/time format, please use RFC 3339"),
        (
            json!({"key": "l", "geo_radius": {"center": {"lon": 190.5, "lat": 0}, "radius": 1.0}}),
            "Wrong format of GeoPoint payload: expected `lat` = 0 within [-90;90] and `lon` = 190.5 within [-180;180]",
        ),
        (
            json!({"key": "l", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 0}]}}}),
            "polygon invalid, the size must be at least 4, got 3",
        ),
        (
            json!({"key": "l", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 1}]}}}),
            "the first and the last points should be the same to form a closed line",
        ),
        (json!({"key": "t", "match": {"text": "x ".repeat(3000)}}), "the limit is 4096"),
    ] {
        s.err(Method::POST, scroll, Some(json!({"filter": {"must": [cond]}})), bad, &[needle]).await;
    }
    let many: Vec<Value> =
        (0..10_001).map(|i| json!({"lon": (i % 100) as f64 / 100.0, "lat": 0.5})).collect();
    s.err(
        Method::POST,
        scroll,
        Some(json!({"filter": {"must": [{"key": "l", "geo_polygon": {"exterior": {"points": many}}}]}})),
        bad,
        &["more than 10000 points"],
    )
    .await;
}
