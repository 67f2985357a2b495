//! The frozen data directory `tests/fixtures/datadir-v3` (see `tests/fixtures/README.md`):
//! written once by the service at storage format v3 (users' events) and never regenerated.
//! Every answer below was printed once by the program that wrote it
//! (`tests/fixtures/makers/make_datadir_v3.rs`). Tests open a copy.
//!
//! `shop` (collection id 1): 4 dims, Cosine, items 1..=12 in three clusters; half-life 7
//! days, `max_history` 4, `popularity_weight` 0.2; users `ann` (six events, the oldest two
//! pushed out), `42`, `bob`, and `gone` (forgotten); index saved.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{repo_file, Server};
use crate::fixtures::copy_dir;

fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo_file("tests/fixtures/datadir-v3"), tmp.path());
    tmp
}

/// Ids and scores of an answer's points.
fn scored(answer: &Value) -> Vec<(u64, f64)> {
    answer["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| (p["id"].as_u64().unwrap(), p["score"].as_f64().unwrap()))
        .collect()
}

fn same(got: &[(u64, f64)], want: &[(u64, f64)]) {
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), want.iter().map(|w| w.0).collect::<Vec<_>>());
    for (g, w) in got.iter().zip(want) {
        assert!((g.1 - w.1).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[tokio::test]
async fn the_v3_data_dir_keeps_profiles_popularity_and_answers() {
    let dir = copy();
    let s = Server::open(dir.path());
    let ann = s.get("/collections/shop/users/ann").await;
    assert_eq!(
        ann,
        json!({"by_type": {"dislike": 1, "like": 1, "view": 2}, "events": 4, "first_seen": "2024-01-03T00:00:00Z",
               "history": 4, "last_seen": "2024-01-06T00:00:00Z", "user": "ann"})
    );
    assert_eq!(
        s.get("/collections/shop/users/42").await,
        json!({"by_type": {"like": 1, "view": 1}, "events": 2, "first_seen": "2024-01-02T00:00:00Z",
               "history": 2, "last_seen": "2024-01-03T00:00:00Z", "user": "42"})
    );
    assert_eq!(s.get("/collections/shop/users/bob").await["by_type"], json!({"view": 2}));
    s.err(Method::GET, "/collections/shop/users/gone", None, StatusCode::NOT_FOUND, &["gone"]).await;
    let recommend = |user: &'static str| {
        let s = &s;
        async move { s.post(&format!("/collections/shop/users/{user}/recommend"), json!({"limit": 4})).await }
    };
    let r = recommend("ann").await;
    assert_eq!(r["served_by"], "centroid");
    same(&scored(&r), &[(4, 0.70369667), (11, 0.14033645), (10, 0.113913946), (9, 0.08755767)]);
    same(
        &scored(&recommend("42").await),
        &[(5, 0.7920851), (8, 0.7920851), (1, 0.25537914), (2, 0.20858529)],
    );
    same(
        &scored(&recommend("bob").await),
        &[(2, 0.7175248), (7, 0.71225995), (3, 0.68122107), (5, 0.6307175)],
    );
    let popular =
        s.post("/collections/shop/points/query", json!({"query": {"popular": {}}, "limit": 12})).await;
    same(
        &scored(&popular),
        &[
            (1, 1.6729501),
            (6, 1.6095068),
            (3, 0.9057237),
            (2, 0.74299717),
            (7, 0.6729501),
            (11, 0.6729501),
            (10, 0.60950685),
            (9, 0.55204475),
            (4, 0.0),
            (5, 0.0),
            (8, 0.0),
            (12, 0.0),
        ],
    );
    let config = &s.get("/collections/shop").await["recommendation"];
    assert_eq!((config["max_history"].clone(), config["half_life_days"].clone()), (json!(4), json!(7.0)));
    // New events go on from the stored ones: ann's history stays at four.
    s.post(
        "/collections/shop/interactions?wait=true",
        json!({"events": [{"user": "ann", "item": 12, "type": "view"}]}),
    )
    .await;
    assert_eq!(s.get("/collections/shop/users/ann").await["events"], 4);
}
