//! MMR, discovery / context and grouped searches, against the worked examples and probes of
//! docs/qdrant-conventions-3.md (§2.6, §3.3, §4.2), and their errors.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::Server;

/// The probe's points: 1 [1,0], 2 [0,1], 3 [1,1], 4 [-1,0], 5 [0.5,0.2], 6 [2,2].
async fn probe(s: &Server, name: &str, distance: &str) {
    s.create(name, 2, distance).await;
    let v = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.5, 0.2], [2.0, 2.0]];
    let points: Vec<Value> = v.iter().enumerate().map(|(i, v)| json!({"id": i + 1, "vector": v})).collect();
    s.upsert(name, json!(points)).await;
}

fn ids(points: &Value) -> Vec<u64> {
    points.as_array().expect("a list").iter().map(|p| p["id"].as_u64().expect("an id")).collect()
}

fn scores(points: &Value) -> Vec<f64> {
    points.as_array().expect("a list").iter().map(|p| p["score"].as_f64().expect("a score")).collect()
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
    }
}

async fn query(s: &Server, name: &str, body: Value) -> Value {
    s.post(&format!("/collections/{name}/points/query"), body).await["points"].clone()
}

async fn mmr(s: &Server, name: &str, mmr: Value, limit: usize) -> Value {
    query(s, name, json!({"query": {"nearest": [1, 0], "mmr": mmr}, "limit": limit})).await
}

#[tokio::test]
async fn mmr_follows_the_dot_probe() {
    let s = Server::new();
    probe(&s, "c", "Dot").await;
    let r = mmr(&s, "c", json!({"diversity": 0.5, "candidates_limit": 6}), 3).await;
    assert_eq!(ids(&r), [6, 4, 5]);
    close(&scores(&r), &[2.0, -1.0, 0.5]);
    assert!(r[0].get("version").is_some() && r[0].get("payload").is_none(), "{r}");
    assert_eq!(ids(&mmr(&s, "c", json!({"diversity": 1.0, "candidates_limit": 6}), 3).await), [6, 4, 5]);
    assert_eq!(ids(&mmr(&s, "c", json!({"diversity": 0.0, "candidates_limit": 6}), 3).await), [6, 1, 3]);
    // The default pool is limit + offset: MMR can only reorder it.
    let r = mmr(&s, "c", json!({"diversity": 0.5}), 3).await;
    assert_eq!(ids(&r), [6, 1, 3]);
    close(&scores(&r), &[2.0, 1.0, 1.0]);
    assert_eq!(ids(&mmr(&s, "c", json!({}), 3).await), [6, 1, 3]);
    // A pool smaller than the limit: that many results.
    assert_eq!(ids(&mmr(&s, "c", json!({"candidates_limit": 2}), 3).await), [6, 3]);
    // offset: limit + offset picked, the first offset dropped.
    let r = query(
        &s,
        "c",
        json!({"query": {"nearest": [1, 0], "mmr": {"candidates_limit": 6}}, "limit": 3, "offset": 1}),
    )
    .await;
    assert_eq!(ids(&r), [4, 5, 1]);
    // score_threshold applies to the candidates (their nearest scores).
    let r = query(
        &s,
        "c",
        json!({"query": {"nearest": [1, 0], "mmr": {"candidates_limit": 6}}, "limit": 3, "score_threshold": 0.4}),
    )
    .await;
    assert_eq!(ids(&r), [6, 5, 1]);
    // A point as the example is not among the results; a missing one is a 404.
    let r =
        query(&s, "c", json!({"query": {"nearest": 6, "mmr": {"candidates_limit": 6}}, "limit": 5})).await;
    assert!(!ids(&r).contains(&6) && ids(&r).len() == 5, "{r}");
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"query": {"nearest": 99, "mmr": {}}})),
        StatusCode::NOT_FOUND,
        &[r#"Vector with name "" for point not found"#],
    )
    .await;
    // The batch runs each query as alone.
    let b = s
        .post(
            "/collections/c/points/query/batch",
            json!({"searches": [
                {"query": {"nearest": [1, 0], "mmr": {"diversity": 0.5, "candidates_limit": 6}}, "limit": 3},
                {"query": {"nearest": [1, 0], "mmr": {"diversity": 0.0, "candidates_limit": 6}}, "limit": 3}
            ]}),
        )
        .await;
    assert_eq!(ids(&b[0]["points"]), [6, 4, 5]);
    assert_eq!(ids(&b[1]["points"]), [6, 1, 3]);
}

#[tokio::test]
async fn mmr_follows_the_euclid_and_cosine_probes() {
    let s = Server::new();
    probe(&s, "e", "Euclid").await;
    let r = mmr(&s, "e", json!({"diversity": 0.5, "candidates_limit": 6}), 3).await;
    assert_eq!(ids(&r), [1, 4, 2]);
    // Each hit keeps its nearest score (the distance), unsorted.
    close(&scores(&r), &[0.0, 2.0, std::f64::consts::SQRT_2]);
    probe(&s, "k", "Cosine").await;
    let r = mmr(&s, "k", json!({"diversity": 0.5, "candidates_limit": 6}), 3).await;
    assert_eq!(ids(&r), [1, 2, 3]);
    close(&scores(&r), &[1.0, 0.0, std::f64::consts::FRAC_1_SQRT_2]);
}

#[tokio::test]
async fn mmr_out_of_range_is_qdrants_422() {
    let s = Server::new();
    probe(&s, "c", "Dot").await;
    let q = "/collections/c/points/query";
    for (mmr, needle) in [
        (
            json!({"diversity": 1.5}),
            "internal.query.mmr.diversity: value 1.5 invalid, must be from 0.0 to 1.0",
        ),
        (
            json!({"diversity": -0.5}),
            "internal.query.mmr.diversity: value -0.5 invalid, must be from 0.0 to 1.0",
        ),
        (
            json!({"candidates_limit": 20000}),
            "internal.query.mmr.candidates_limit: value 20000 invalid, must be 16384 or smaller",
        ),
    ] {
        let body = json!({"query": {"nearest": [1, 0], "mmr": mmr}});
        s.err(Method::POST, q, Some(body), StatusCode::UNPROCESSABLE_ENTITY, &[needle]).await;
    }
    s.err(
        Method::POST,
        "/collections/c/points/query/batch",
        Some(json!({"searches": [{"query": {"nearest": [1, 0], "mmr": {"diversity": 2}}}]})),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["searches[0].internal.query.mmr.diversity: value 2 invalid"],
    )
    .await;
    for bad in [json!({"candidates_limit": -1}), json!({"candidates_limit": 2.5}), json!(5)] {
        let body = json!({"query": {"nearest": [1, 0], "mmr": bad}});
        s.err(Method::POST, q, Some(body), StatusCode::BAD_REQUEST, &["query.mmr"]).await;
    }
}

const PAIR: &str = r#"{"positive": [1, 1], "negative": [-1, 0]}"#;

fn pair() -> Value {
    serde_json::from_str(PAIR).expect("json")
}

#[tokio::test]
async fn discover_and_context_follow_the_worked_examples() {
    let s = Server::new();
    probe(&s, "c", "Dot").await;
    let r =
        query(&s, "c", json!({"query": {"discover": {"target": [1, 0], "context": [pair()]}}, "limit": 3}))
            .await;
    assert_eq!(r[0]["id"], 6);
    close(&scores(&r), &[1.833_333_4, 1.75, 1.75]);
    let mut tied = ids(&r)[1..].to_vec();
    tied.sort_unstable();
    assert_eq!(tied, [1, 3]);
    // Every point, descending: rank + scaled target similarity.
    let r =
        query(&s, "c", json!({"query": {"discover": {"target": [1, 0], "context": pair()}}, "limit": 10}))
            .await;
    assert_eq!(ids(&r), [6, 1, 3, 5, 2, 4]);
    close(&scores(&r), &[1.833_333_4, 1.75, 1.75, 1.666_666_7, 1.5, -0.75]);
    // score_threshold: larger is better.
    let body = json!({"query": {"discover": {"target": [1, 0], "context": pair()}}, "score_threshold": 1.7});
    assert_eq!(ids(&query(&s, "c", body).await), [6, 1, 3]);
    // offset pages the same order.
    let body =
        json!({"query": {"discover": {"target": [1, 0], "context": [pair()]}}, "limit": 2, "offset": 3});
    assert_eq!(ids(&query(&s, "c", body).await), [5, 2]);
    // Context: 0 for points on the positive side, fast_sigmoid of the loss otherwise.
    let r = query(&s, "c", json!({"query": {"context": pair()}, "limit": 10})).await;
    assert_eq!(ids(&r)[5], 4);
    close(&scores(&r), &[0.0, 0.0, 0.0, 0.0, 0.0, -0.666_666_7]);
    // No pairs: every point scores 0.
    let r = query(&s, "c", json!({"query": {"context": []}, "limit": 10})).await;
    close(&scores(&r), &[0.0; 6]);
    // Euclid: the raw similarity is the negative squared distance; still descending.
    probe(&s, "e", "Euclid").await;
    let r =
        query(&s, "e", json!({"query": {"discover": {"target": [1, 0], "context": [pair()]}}, "limit": 10}))
            .await;
    let five = r.as_array().unwrap().iter().find(|p| p["id"] == 5).expect("point 5");
    assert!((five["score"].as_f64().unwrap() - 1.387_597).abs() < 1e-4, "{five}");
    let all = scores(&r);
    assert!(all.windows(2).all(|w| w[0] >= w[1]), "{all:?}");
}

#[tokio::test]
async fn discover_excludes_its_examples_and_names_missing_ones() {
    let s = Server::new();
    probe(&s, "c", "Dot").await;
    let body =
        json!({"query": {"discover": {"target": 6, "context": {"positive": 3, "negative": 4}}}, "limit": 10});
    let r = query(&s, "c", body).await;
    let mut got = ids(&r);
    got.sort_unstable();
    assert_eq!(got, [1, 2, 5]);
    let r = query(&s, "c", json!({"query": {"context": {"positive": 3, "negative": [-1, 0]}}, "limit": 10}))
        .await;
    assert!(!ids(&r).contains(&3) && ids(&r).len() == 5, "{r}");
    let q = "/collections/c/points/query";
    for body in [
        json!({"query": {"discover": {"target": 99, "context": []}}}),
        json!({"query": {"context": {"positive": [1, 0], "negative": 99}}}),
    ] {
        s.err(
            Method::POST,
            q,
            Some(body),
            StatusCode::NOT_FOUND,
            &[r#"Vector with name "" for point not found"#],
        )
        .await;
    }
    for (body, needle) in [
        (json!({"query": {"context": {"positive": [1, 0]}}}), "missing field `negative`"),
        (json!({"query": {"discover": {"context": []}}}), "missing field `target`"),
        (json!({"query": {"discover": {"target": [1, 0, 0]}}}), "dimension"),
    ] {
        s.err(Method::POST, q, Some(body), StatusCode::BAD_REQUEST, &[needle]).await;
    }
}

#[tokio::test]
async fn the_legacy_discover_route() {
    let s = Server::new();
    probe(&s, "c", "Dot").await;
    let d = "/collections/c/points/discover";
    let r = s.post(d, json!({"target": [1, 0], "context": [pair()], "limit": 3})).await;
    assert_eq!(r[0]["id"], 6);
    close(&scores(&r), &[1.833_333_4, 1.75, 1.75]);
    // Without a target: context scoring.
    let r = s.post(d, json!({"context": [pair()], "limit": 10})).await;
    close(&scores(&r), &[0.0, 0.0, 0.0, 0.0, 0.0, -0.666_666_7]);
    let b = s
        .post(
            "/collections/c/points/discover/batch",
            json!({"searches": [{"target": [1, 0], "context": [pair()], "limit": 1}, {"target": [1, 0], "limit": 2}]}),
        )
        .await;
    assert_eq!(ids(&b[0]), [6]);
    // Target only: by target similarity (Dot [1,0]: 6 (2), then 1 and 3 (1)).
    assert_eq!(b[1][0]["id"], 6);
    close(&scores(&b[1]), &[0.833_333_3, 0.75]);
    for (body, status, needle) in [
        (json!({"limit": 3}), StatusCode::BAD_REQUEST, "target and/or context_pairs must be specified"),
        (
            json!({"context": [], "limit": 3}),
            StatusCode::BAD_REQUEST,
            "target and/or context_pairs must be specified",
        ),
        (json!({"target": 99, "limit": 3}), StatusCode::NOT_FOUND, "No point with id 99 found"),
        (json!({"target": [1, 0]}), StatusCode::BAD_REQUEST, "missing field `limit`"),
        (
            json!({"target": [1, 0], "limit": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "discover_request.limit: value 0 invalid, must be 1 or larger",
        ),
    ] {
        s.err(Method::POST, d, Some(body), status, &[needle]).await;
    }
}

/// The groups probe (§2.6): Dot, query [1,0]; scores 1 1.0, 2 0.9, 3 0.8, 4 0.7, 5 0.6, 10 0.95.
async fn groups_probe(s: &Server) {
    s.create("g", 2, "Dot").await;
    let g = [
        (1, 1.0, json!("a")),
        (2, 0.9, json!("b")),
        (3, 0.8, json!(["a", "b"])),
        (4, 0.7, json!("b")),
        (5, 0.6, json!(3)),
        (6, 0.5, json!(true)),
        (7, 0.4, json!(null)),
        (8, 0.3, Value::Null),
        (9, 0.2, json!(2.5)),
        (10, 0.95, json!(["c", 1.5])),
    ];
    let points: Vec<Value> = g
        .iter()
        .map(|(id, score, key)| {
            let payload = if *id == 8 { json!({"other": 1}) } else { json!({"g": key}) };
            json!({"id": id, "vector": [score, 0.0], "payload": payload})
        })
        .collect();
    s.upsert("g", json!(points)).await;
}

/// `[(group id, [hit ids])]`.
fn groups(r: &Value) -> Vec<(Value, Vec<u64>)> {
    r["groups"].as_array().expect("groups").iter().map(|g| (g["id"].clone(), ids(&g["hits"]))).collect()
}

#[tokio::test]
async fn groups_follow_the_probe_on_every_route() {
    let s = Server::new();
    groups_probe(&s).await;
    let want = vec![(json!("a"), vec![1, 3]), (json!("b"), vec![2, 3]), (json!(3), vec![5])];
    let body = json!({"query": [1, 0], "group_by": "g", "group_size": 2, "limit": 10});
    let r = s.post("/collections/g/points/query/groups", body).await;
    assert_eq!(groups(&r), want);
    close(&scores(&r["groups"][0]["hits"]), &[1.0, 0.8]);
    assert!(
        r["groups"][0]["hits"][0].get("payload").is_none() && r["groups"][0].get("lookup").is_none(),
        "{r}"
    );
    let body = json!({"query": [1, 0], "group_by": "g", "group_size": 1, "limit": 2});
    let r = s.post("/collections/g/points/query/groups", body).await;
    assert_eq!(groups(&r), [(json!("a"), vec![1]), (json!("b"), vec![2])]);
    // Defaults: group_size 3, limit 10.
    let r = s.post("/collections/g/points/query/groups", json!({"query": [1, 0], "group_by": "g"})).await;
    assert_eq!(groups(&r), [(json!("a"), vec![1, 3]), (json!("b"), vec![2, 3, 4]), (json!(3), vec![5])]);
    let body = json!({"vector": [1, 0], "group_by": "g", "group_size": 2, "limit": 10, "with_payload": true});
    let r = s.post("/collections/g/points/search/groups", body).await;
    assert_eq!(groups(&r), want);
    assert_eq!(r["groups"][0]["hits"][0]["payload"], json!({"g": "a"}));
    let body = json!({"positive": [[1, 0]], "group_by": "g", "group_size": 2, "limit": 10});
    assert_eq!(groups(&s.post("/collections/g/points/recommend/groups", body).await), want);
    // A filter and a threshold narrow the candidates first.
    let body = json!({"query": [1, 0], "group_by": "g", "group_size": 2, "score_threshold": 0.85,
        "filter": {"must_not": [{"has_id": [1]}]}});
    assert_eq!(groups(&s.post("/collections/g/points/query/groups", body).await), [(json!("b"), vec![2])]);
}

#[tokio::test]
async fn groups_look_up_their_keys_in_another_collection() {
    let s = Server::new();
    groups_probe(&s).await;
    s.create("lk", 2, "Dot").await;
    let uuid = "550e8400-e29b-41d4-a716-446655440000";
    s.upsert(
        "lk",
        json!([
            {"id": 3, "vector": [0.5, 0.5], "payload": {"name": "three"}},
            {"id": uuid, "vector": [0.1, 0.2], "payload": {"name": "uuid"}}
        ]),
    )
    .await;
    let q = "/collections/g/points/query/groups";
    let body = json!({"query": [1, 0], "group_by": "g", "group_size": 2, "with_lookup": "lk"});
    let r = s.post(q, body).await;
    assert!(r["groups"][0].get("lookup").is_none() && r["groups"][1].get("lookup").is_none(), "{r}");
    assert_eq!(r["groups"][2]["lookup"], json!({"id": 3, "payload": {"name": "three"}}));
    let body = json!({"query": [1, 0], "group_by": "g", "group_size": 2,
        "with_lookup": {"collection": "lk", "with_payload": false, "with_vectors": true}});
    let r = s.post(q, body).await;
    assert_eq!(r["groups"][2]["lookup"], json!({"id": 3, "vector": [0.5, 0.5]}));
    // A write to the looked-up collection shows at once (lookups are not cached).
    s.upsert("lk", json!([{"id": 3, "vector": [0.5, 0.5], "payload": {"name": "drei"}}])).await;
    let body = json!({"query": [1, 0], "group_by": "g", "group_size": 2, "with_lookup": "lk"});
    assert_eq!(s.post(q, body).await["groups"][2]["lookup"]["payload"], json!({"name": "drei"}));
    // A UUID key in another spelling finds the point.
    s.upsert("g", json!([{"id": 20, "vector": [2.0, 0.0], "payload": {"g": uuid.to_uppercase()}}])).await;
    let body = json!({"vector": [1, 0], "group_by": "g", "group_size": 1, "limit": 1, "with_lookup": "lk"});
    let r = s.post("/collections/g/points/search/groups", body).await;
    assert_eq!(r["groups"][0]["id"], json!(uuid.to_uppercase()));
    assert_eq!(r["groups"][0]["lookup"], json!({"id": uuid, "payload": {"name": "uuid"}}));
    s.err(
        Method::POST,
        q,
        Some(json!({"query": [1, 0], "group_by": "g", "with_lookup": "nope"})),
        StatusCode::NOT_FOUND,
        &["Collection nope not found"],
    )
    .await;
    s.err(
        Method::POST,
        q,
        Some(json!({"query": [1, 0], "group_by": "g", "with_lookup": 5})),
        StatusCode::BAD_REQUEST,
        &["did not match any variant of untagged enum WithLookupInterface"],
    )
    .await;
}

#[tokio::test]
async fn groups_widen_the_search_past_points_without_keys() {
    let s = Server::new();
    s.create("w", 2, "Dot").await;
    // 500 points nearer the query than any with a key.
    let mut points: Vec<Value> =
        (1..=500).map(|i| json!({"id": i, "vector": [1.0, 0.0], "payload": {"n": i}})).collect();
    points.push(json!({"id": 501, "vector": [0.5, 0.0], "payload": {"g": "x"}}));
    points.push(json!({"id": 502, "vector": [0.4, 0.0], "payload": {"g": ["x", "y"]}}));
    s.upsert("w", json!(points)).await;
    let body = json!({"query": [1, 0], "group_by": "g", "group_size": 2, "limit": 3});
    let r = s.post("/collections/w/points/query/groups", body).await;
    assert_eq!(groups(&r), [(json!("x"), vec![501, 502]), (json!("y"), vec![502])]);
}

#[tokio::test]
async fn groups_errors() {
    let s = Server::new();
    groups_probe(&s).await;
    let (q, sg, rg) = (
        "/collections/g/points/query/groups",
        "/collections/g/points/search/groups",
        "/collections/g/points/recommend/groups",
    );
    for (uri, body, status, needle) in [
        (q, json!({"query": [1, 0]}), StatusCode::BAD_REQUEST, "missing field `group_by`"),
        (
            sg,
            json!({"vector": [1, 0], "limit": 1, "group_by": "g"}),
            StatusCode::BAD_REQUEST,
            "missing field `group_size`",
        ),
        (
            sg,
            json!({"vector": [1, 0], "group_size": 1, "group_by": "g"}),
            StatusCode::BAD_REQUEST,
            "missing field `limit`",
        ),
        (
            q,
            json!({"query": [1, 0], "group_by": "g", "group_size": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "search_group_request.group_request.group_size: value 0 invalid, must be 1 or larger",
        ),
        (
            sg,
            json!({"vector": [1, 0], "group_by": "g", "group_size": 0, "limit": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "search_group_request.group_request.group_size: value 0 invalid, must be 1 or larger",
        ),
        (
            rg,
            json!({"positive": [1], "group_by": "g", "group_size": 1, "limit": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "recommend_group_request.group_request.limit: value 0 invalid, must be 1 or larger",
        ),
        (
            q,
            json!({"query": [1, 0], "group_by": "g[", "group_size": 1}),
            StatusCode::BAD_REQUEST,
            "Invalid json path",
        ),
        (
            q,
            json!({"query": [1, 0], "group_by": "g", "group_size": 1000, "limit": 1000}),
            StatusCode::BAD_REQUEST,
            "search.max_limit",
        ),
        (
            rg,
            json!({"positive": [99], "group_by": "g", "group_size": 1, "limit": 1}),
            StatusCode::NOT_FOUND,
            "99",
        ),
        (
            "/collections/nope/points/query/groups",
            json!({"query": [1, 0], "group_by": "g"}),
            StatusCode::NOT_FOUND,
            "nope",
        ),
    ] {
        s.err(Method::POST, uri, Some(body), status, &[needle]).await;
    }
}

#[tokio::test]
async fn cached_answers_follow_writes_and_routes() {
    let s = Server::new();
    groups_probe(&s).await;
    let body = json!({"query": [1, 0], "group_by": "g", "group_size": 1, "limit": 1});
    // The same body on two routes: two answers.
    let points = s.post("/collections/g/points/query", body.clone()).await;
    assert!(points["points"].is_array(), "{points}");
    let r = s.post("/collections/g/points/query/groups", body.clone()).await;
    assert_eq!(groups(&r), [(json!("a"), vec![1])]);
    // A write changes the next answer.
    s.upsert("g", json!([{"id": 11, "vector": [3.0, 0.0], "payload": {"g": "z"}}])).await;
    let r = s.post("/collections/g/points/query/groups", body).await;
    assert_eq!(groups(&r), [(json!("z"), vec![11])]);
    let d = json!({"query": {"discover": {"target": [1, 0], "context": []}}, "limit": 1});
    assert_eq!(ids(&query(&s, "g", d.clone()).await), [11]);
    s.upsert("g", json!([{"id": 12, "vector": [4.0, 0.0]}])).await;
    assert_eq!(ids(&query(&s, "g", d).await), [12]);
}

#[tokio::test]
async fn context_pairs_are_bounded() {
    let s = Server::new();
    probe(&s, "c", "Dot").await;
    let many: Vec<Value> = (0..129).map(|_| pair()).collect();
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"query": {"context": many.clone()}})),
        StatusCode::BAD_REQUEST,
        &["at most 128 context pairs, got 129"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/c/points/discover",
        Some(json!({"context": many, "limit": 1})),
        StatusCode::BAD_REQUEST,
        &["at most 128 context pairs, got 129"],
    )
    .await;
}
