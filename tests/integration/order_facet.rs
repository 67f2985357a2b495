//! `order_by` (scroll and `points/query`), `facet` and `count` as Qdrant answers them
//! (docs/qdrant-conventions-3.md §0.3, §1, §5, §6): the worked examples, asserted exactly.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::Server;

/// §1.5's collection: id1 n=5, id2 n=[1,7], id3 n=5, id4 no n, id5 n=2.5; `n` indexed as `kind`.
async fn numbers(s: &Server, name: &str, kind: &str) {
    s.create(name, 2, "Dot").await;
    s.upsert(
        name,
        json!([
            {"id": 1, "vector": [1, 0], "payload": {"n": 5}},
            {"id": 2, "vector": [1, 0], "payload": {"n": [1, 7]}},
            {"id": 3, "vector": [1, 0], "payload": {"n": 5}},
            {"id": 4, "vector": [1, 0], "payload": {"m": 5}},
            {"id": 5, "vector": [1, 0], "payload": {"n": 2.5}},
        ]),
    )
    .await;
    s.put(&format!("/collections/{name}/index?wait=true"), json!({"field_name": "n", "field_schema": kind}))
        .await;
}

/// The whole `result` of a call, for exact comparison.
async fn result(s: &Server, uri: &str, body: Value) -> Value {
    s.post(uri, body).await
}

/// `(id, order_value)` of each point or hit.
fn ordered(list: &Value) -> Vec<(u64, Value)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|p| (p["id"].as_u64().unwrap(), p["order_value"].clone()))
        .collect()
}

#[tokio::test]
async fn scroll_order_by_follows_the_worked_example() {
    let s = Server::new();
    numbers(&s, "c", "integer").await;
    let page = result(
        &s,
        "/collections/c/points/scroll",
        json!({"order_by": {"key": "n", "direction": "desc"}, "limit": 3, "with_payload": false}),
    )
    .await;
    assert_eq!(
        page,
        json!({"points": [{"id": 2, "order_value": 7}, {"id": 3, "order_value": 5}, {"id": 1, "order_value": 5}],
               "next_page_offset": null})
    );
    // The paging recipe: start_from the last value, the ids already seen with it filtered out.
    let next = result(
        &s,
        "/collections/c/points/scroll",
        json!({"order_by": {"key": "n", "direction": "desc", "start_from": 5},
               "filter": {"must_not": [{"has_id": [1, 3]}]}, "with_payload": false}),
    )
    .await;
    assert_eq!(next, json!({"points": [{"id": 2, "order_value": 1}], "next_page_offset": null}));
    // The key alone: ascending; payloads by default, as any scroll.
    let asc = result(&s, "/collections/c/points/scroll", json!({"order_by": "n"})).await;
    assert_eq!(ordered(&asc["points"]), [(2, json!(1)), (1, json!(5)), (3, json!(5)), (2, json!(7))]);
    assert_eq!(asc["points"][0]["payload"], json!({"n": [1, 7]}));
    assert!(asc["next_page_offset"].is_null());
    // The filter applies first; start_from is inclusive ascending too.
    let filtered = result(
        &s,
        "/collections/c/points/scroll",
        json!({"order_by": {"key": "n", "start_from": 5}, "filter": {"must": [{"has_id": [1, 2, 4]}]},
               "with_payload": false}),
    )
    .await;
    assert_eq!(ordered(&filtered["points"]), [(1, json!(5)), (2, json!(7))]);
    // A plain scroll carries no order_value.
    let plain = result(&s, "/collections/c/points/scroll", json!({"limit": 1, "with_payload": false})).await;
    assert_eq!(plain, json!({"points": [{"id": 1}], "next_page_offset": 2}));
}

#[tokio::test]
async fn a_float_index_orders_every_number_as_a_float() {
    let s = Server::new();
    numbers(&s, "c", "float").await;
    let page = result(
        &s,
        "/collections/c/points/scroll",
        json!({"order_by": {"key": "n", "direction": "desc"}, "limit": 3, "with_payload": false}),
    )
    .await;
    assert_eq!(
        page,
        json!({"points": [{"id": 2, "order_value": 7.0}, {"id": 3, "order_value": 5.0}, {"id": 1, "order_value": 5.0}],
               "next_page_offset": null})
    );
    // JSON floats: `5.0` is not `5` here.
    let all =
        result(&s, "/collections/c/points/scroll", json!({"order_by": "n", "with_payload": false})).await;
    assert_eq!(
        ordered(&all["points"]),
        [(2, json!(1.0)), (5, json!(2.5)), (1, json!(5.0)), (3, json!(5.0)), (2, json!(7.0))]
    );
}

#[tokio::test]
async fn order_by_needs_a_range_index_and_no_offset() {
    let s = Server::new();
    numbers(&s, "c", "integer").await;
    s.put("/collections/c/index?wait=true", json!({"field_name": "g", "field_schema": "keyword"})).await;
    for key in ["m", "g"] {
        let (status, v) =
            s.call(Method::POST, "/collections/c/points/scroll", Some(json!({"order_by": key}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(
            v["status"]["error"],
            format!(
                "Wrong input: No range index for `order_by` key: `{key}`. Please create one to use `order_by`. \
                 Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload \
                 schemas support Range conditions"
            )
        );
    }
    let (status, v) = s
        .call(Method::POST, "/collections/c/points/scroll", Some(json!({"order_by": "n", "offset": 1})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        v["status"]["error"],
        "Wrong input: Cannot use an `offset` when using `order_by`. The alternative for paging is to use \
         `order_by.start_from` and a filter to exclude the IDs that you've already seen for the \
         `order_by.start_from` value"
    );
    s.err(
        Method::POST,
        "/collections/c/points/scroll",
        Some(json!({"order_by": {"key": "n", "direction": "up"}})),
        StatusCode::BAD_REQUEST,
        &["unknown variant `up`"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/c/points/scroll",
        Some(json!({"order_by": 7})),
        StatusCode::BAD_REQUEST,
        &["Expected a string, or an object with a key, direction and/or start_from"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/c/points/scroll",
        Some(json!({"order_by": "n", "limit": 0})),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["scroll_request.limit: value 0 invalid, must be 1 or larger"],
    )
    .await;
}

#[tokio::test]
async fn query_order_by_scores_one_and_takes_an_offset() {
    let s = Server::new();
    numbers(&s, "c", "integer").await;
    let hits = result(
        &s,
        "/collections/c/points/query",
        json!({"query": {"order_by": "n"}, "limit": 2, "offset": 1}),
    )
    .await;
    assert_eq!(
        hits,
        json!({"points": [
            {"id": 1, "version": 0, "score": 1.0, "order_value": 5},
            {"id": 3, "version": 0, "score": 1.0, "order_value": 5}]})
    );
    // §1.6 with a float index: limit 2 offset 1 → id5 (2.5), id1 (5.0).
    numbers(&s, "f", "float").await;
    let hits = result(
        &s,
        "/collections/f/points/query",
        json!({"query": {"order_by": {"key": "n"}}, "limit": 2, "offset": 1, "with_payload": true}),
    )
    .await;
    assert_eq!(
        hits,
        json!({"points": [
            {"id": 5, "version": 0, "score": 1.0, "payload": {"n": 2.5}, "order_value": 2.5},
            {"id": 1, "version": 0, "score": 1.0, "payload": {"n": 5}, "order_value": 5.0}]})
    );
    let batch = result(
        &s,
        "/collections/c/points/query/batch",
        json!({"searches": [{"query": {"order_by": {"key": "n", "direction": "desc"}}, "limit": 1}, {"query": [1, 0], "limit": 1}]}),
    )
    .await;
    assert_eq!(batch[0], json!({"points": [{"id": 2, "version": 0, "score": 1.0, "order_value": 7}]}));
    assert!(batch[1]["points"][0].get("order_value").is_none(), "{batch}");
    // A write is seen at once (the result cache is keyed by the collection's version).
    s.upsert("c", json!([{"id": 9, "vector": [1, 0], "payload": {"n": 100}}])).await;
    let again = result(
        &s,
        "/collections/c/points/query/batch",
        json!({"searches": [{"query": {"order_by": {"key": "n", "direction": "desc"}}, "limit": 1}, {"query": [1, 0], "limit": 1}]}),
    )
    .await;
    assert_eq!(again[0], json!({"points": [{"id": 9, "version": 0, "score": 1.0, "order_value": 100}]}));
    let (status, v) = s
        .call(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": {"order_by": "n"}, "score_threshold": 0.5})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["status"]["error"], "Bad request: Can't use score_threshold with an order_by query.");
    let (status, v) =
        s.call(Method::POST, "/collections/c/points/query", Some(json!({"score_threshold": 0.5}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        v["status"]["error"],
        "Bad request: A query is needed to use the score_threshold. Can't have score_threshold without defining a query."
    );
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"query": {"order_by": "m"}})),
        StatusCode::BAD_REQUEST,
        &["No range index for `order_by` key: `m`"],
    )
    .await;
}

/// §5.3's probe: a keyword index on `g`.
async fn facet_probe(s: &Server) {
    s.create("c", 2, "Dot").await;
    let payloads = [
        json!({"g": "a", "n": 1}),
        json!({"g": "b"}),
        json!({"g": ["a", "b"], "n": 1}),
        json!({"g": "b"}),
        json!({"g": 3}),
        json!({"g": true}),
        json!({"g": null}),
        json!({}),
        json!({"g": 2.5}),
        json!({"g": ["c", 1.5]}),
    ];
    let points: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": i + 1, "vector": [1, 0], "payload": p}))
        .collect();
    s.upsert("c", Value::Array(points)).await;
    s.put("/collections/c/index?wait=true", json!({"field_name": "g", "field_schema": "keyword"})).await;
}

#[tokio::test]
async fn facet_counts_points_per_value() {
    let s = Server::new();
    facet_probe(&s).await;
    let all =
        json!({"hits": [{"value": "b", "count": 3}, {"value": "a", "count": 2}, {"value": "c", "count": 1}]});
    assert_eq!(result(&s, "/collections/c/facet", json!({"key": "g"})).await, all);
    assert_eq!(result(&s, "/collections/c/facet", json!({"key": "g", "exact": false})).await, all);
    assert_eq!(
        result(
            &s,
            "/collections/c/facet",
            json!({"key": "g", "filter": {"must": [{"key": "n", "match": {"value": 1}}]}})
        )
        .await,
        json!({"hits": [{"value": "a", "count": 2}, {"value": "b", "count": 1}]})
    );
    assert_eq!(
        result(&s, "/collections/c/facet", json!({"key": "g", "limit": 1})).await,
        json!({"hits": [{"value": "b", "count": 3}]})
    );
    // Never stale: a write changes the next answer.
    s.upsert("c", json!([{"id": 2, "vector": [1, 0], "payload": {"g": "c"}}])).await;
    assert_eq!(
        result(&s, "/collections/c/facet", json!({"key": "g"})).await,
        json!({"hits": [{"value": "a", "count": 2}, {"value": "b", "count": 2}, {"value": "c", "count": 2}]})
    );
    // Integer and bool indexes facet their own values; ties by value.
    s.put("/collections/c/index?wait=true", json!({"field_name": "n", "field_schema": "integer"})).await;
    assert_eq!(
        result(&s, "/collections/c/facet", json!({"key": "n"})).await,
        json!({"hits": [{"value": 1, "count": 2}]})
    );
    s.upsert(
        "c",
        json!([{"id": 11, "vector": [1, 0], "payload": {"b": [true, false, true]}},
                         {"id": 12, "vector": [1, 0], "payload": {"b": false}}]),
    )
    .await;
    s.put("/collections/c/index?wait=true", json!({"field_name": "b", "field_schema": "bool"})).await;
    assert_eq!(
        result(&s, "/collections/c/facet", json!({"key": "b"})).await,
        json!({"hits": [{"value": false, "count": 2}, {"value": true, "count": 1}]})
    );
}

#[tokio::test]
async fn facet_refuses_what_qdrant_refuses() {
    let s = Server::new();
    facet_probe(&s).await;
    s.put("/collections/c/index?wait=true", json!({"field_name": "x", "field_schema": "float"})).await;
    for key in ["x", "n"] {
        let (status, v) = s.call(Method::POST, "/collections/c/facet", Some(json!({"key": key}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(
            v["status"]["error"],
            format!(
                "Wrong input: No appropriate index for faceting: `{key}`. Please create one to facet on this field. \
                 Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload \
                 schemas support Match conditions"
            )
        );
    }
    let (status, v) =
        s.call(Method::POST, "/collections/c/facet", Some(json!({"key": "g", "limit": 0}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["status"]["error"],
        "Validation error in JSON body: [facet_request.limit: value 0 invalid, must be 1 or larger]"
    );
    s.err(
        Method::POST,
        "/collections/c/facet",
        Some(json!({"key": "a..b"})),
        StatusCode::BAD_REQUEST,
        &["Invalid json path"],
    )
    .await;
    s.err(Method::POST, "/collections/c/facet", Some(json!({"limit": 3})), StatusCode::BAD_REQUEST, &["key"])
        .await;
    s.err(
        Method::POST,
        "/collections/missing/facet",
        Some(json!({"key": "g"})),
        StatusCode::NOT_FOUND,
        &["missing"],
    )
    .await;
}

#[tokio::test]
async fn count_is_exact_either_way() {
    let s = Server::new();
    facet_probe(&s).await;
    // `g` is indexed, `n` is not: Qdrant's estimate would be a guess for the second filter.
    for filter in [
        json!({"must": [{"key": "g", "match": {"value": "b"}}]}),
        json!({"must": [{"key": "n", "match": {"value": 1}}]}),
    ] {
        for exact in [json!(true), json!(false), Value::Null] {
            let mut body = json!({"filter": filter});
            if !exact.is_null() {
                body["exact"] = exact.clone();
            }
            let want = if filter["must"][0]["key"] == "g" { 3 } else { 2 };
            assert_eq!(
                result(&s, "/collections/c/points/count", body).await,
                json!({"count": want}),
                "{exact}"
            );
        }
    }
    assert_eq!(
        result(&s, "/collections/c/points/count", json!({"exact": false})).await,
        json!({"count": 10})
    );
}
