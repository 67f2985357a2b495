//! A record, not a test: the program that wrote `tests/fixtures/datadir-v3` (storage format v3,
//! users' events), run once as a module of tests/integration with `FIXTURE_OUT=… cargo test
//! --release --features vicinity/faiss --test integration make_datadir_v3 -- --ignored
//! --test-threads=1 --nocapture`, and the facts it printed, which
//! tests/integration/fixtures_v3.rs asserts. Kept for provenance; compiled by nothing; never run
//! to overwrite the fixture.
use axum::http::Method;
use serde_json::json;

use crate::common::Server;

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200;
const DAY: i64 = 86_400;

#[tokio::test]
#[ignore]
async fn make_datadir_v3_fixture() {
    let out = std::path::PathBuf::from(std::env::var("FIXTURE_OUT").expect("FIXTURE_OUT"));
    assert!(!out.exists(), "{} exists", out.display());
    let s = Server::open(&out);
    // shop: 4 dims, Cosine; items 1..=12 in three clusters (1–4, 5–8, 9–12) near one axis each.
    s.create_with(
        "shop",
        json!({"vectors": {"size": 4, "distance": "Cosine"},
               "recommendation": {"half_life_days": 7.0, "max_history": 4, "popularity_weight": 0.2,
                                  "event_types": {"view": 1.0, "like": 2.0, "dislike": -1.0}}}),
    )
    .await;
    let points: Vec<_> = (1..=12u64)
        .map(|id| {
            let c = ((id - 1) / 4) as usize;
            let mut v = [0.05f32 * (id % 3) as f32; 4];
            v[c] = 1.0;
            json!({"id": id, "vector": v, "payload": {"cluster": c}})
        })
        .collect();
    s.upsert("shop", json!(points)).await;
    let e = |user: serde_json::Value, item: u64, kind: &str, day: i64| json!({"user": user, "item": item, "type": kind, "timestamp": T0 + day * DAY});
    // ann: six events, the first two pushed out by max_history 4.
    let ann = vec![
        e(json!("ann"), 9, "view", 0),
        e(json!("ann"), 10, "view", 1),
        e(json!("ann"), 1, "like", 2),
        e(json!("ann"), 2, "view", 3),
        e(json!("ann"), 5, "dislike", 4),
        e(json!("ann"), 3, "view", 5),
    ];
    s.post("/collections/shop/interactions?wait=true", json!({"events": ann})).await;
    // 42: an integer user; gone: forgotten.
    let more = vec![
        e(json!(42), 6, "like", 1),
        e(json!(42), 7, "view", 2),
        e(json!("gone"), 11, "like", 2),
        e(json!("bob"), 1, "view", 6),
        e(json!("bob"), 6, "view", 6),
    ];
    s.post("/collections/shop/interactions?wait=true", json!({"events": more})).await;
    s.ok(Method::DELETE, "/collections/shop/users/gone", None).await;
    s.catalog.get("shop").unwrap().save_index().unwrap();
    for user in ["ann", "42", "bob"] {
        println!("user {user}: {}", s.get(&format!("/collections/shop/users/{user}")).await);
        let r = s.post(&format!("/collections/shop/users/{user}/recommend"), json!({"limit": 4})).await;
        println!("recommend {user}: {r}");
    }
    let p = s.post("/collections/shop/points/query", json!({"query": {"popular": {}}, "limit": 12})).await;
    println!("popular: {p}");
}
