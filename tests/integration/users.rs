//! Users: events, profiles, the `users/{user}/recommend` route and the popular list, on small
//! collections with planted tastes: items in three clusters (0, 1, 2), each near one axis.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::Server;

const DAY: i64 = 86_400;
/// 2024-01-01T00:00:00Z, in Unix seconds.
const T0: i64 = 1_704_067_200;

/// Items 1..=30: ten per cluster (1–10 → 0, 11–20 → 1, 21–30 → 2).
fn cluster_of(id: u64) -> u64 {
    (id - 1) / 10
}

async fn collection(s: &Server, name: &str, recommendation: Value) {
    s.create_with(
        name,
        json!({"vectors": {"size": 4, "distance": "Cosine"}, "recommendation": recommendation}),
    )
    .await;
    let points: Vec<Value> = (1..=30u64)
        .map(|id| {
            let c = cluster_of(id) as usize;
            let mut v = [0.0f32; 4];
            v[c] = 1.0;
            v[3] = 0.05 * (id % 5) as f32;
            v[(c + 1) % 3] = 0.02 * (id % 4) as f32;
            json!({"id": id, "vector": v, "payload": {"cluster": cluster_of(id)}})
        })
        .collect();
    s.upsert(name, json!(points)).await;
}

/// A collection whose rankings are the profiles alone (no popularity prior, no decay).
async fn plain(s: &Server, name: &str) {
    collection(s, name, json!({"popularity_weight": 0.0, "half_life_days": null})).await;
}

async fn events(s: &Server, name: &str, events: Value) -> Value {
    s.post(&format!("/collections/{name}/interactions?wait=true"), json!({ "events": events })).await
}

fn views(user: &str, items: &[u64]) -> Value {
    json!(items
        .iter()
        .map(|i| json!({"user": user, "item": i, "type": "view", "timestamp": T0}))
        .collect::<Vec<_>>())
}

async fn recommend(s: &Server, name: &str, user: &str, body: Value) -> Value {
    s.post(&format!("/collections/{name}/users/{user}/recommend"), body).await
}

fn ids(answer: &Value) -> Vec<u64> {
    answer["points"].as_array().expect("points").iter().map(|p| p["id"].as_u64().expect("an id")).collect()
}

fn clusters(answer: &Value) -> Vec<u64> {
    ids(answer).into_iter().map(cluster_of).collect()
}

#[tokio::test]
async fn recommendations_follow_the_history_and_leave_out_what_was_seen() {
    let s = Server::new();
    plain(&s, "c").await;
    let r = events(&s, "c", views("ann", &[1, 2, 3])).await;
    assert_eq!(r["status"], "completed", "{r}");
    let a = recommend(&s, "c", "ann", json!({"limit": 5})).await;
    assert_eq!(a["served_by"], "centroid");
    assert_eq!(clusters(&a), [0; 5], "{a}");
    assert!(ids(&a).iter().all(|i| ![1, 2, 3].contains(i)), "{a}");
    // Nine of the ten cluster-0 items seen: still `limit` hits, none of them seen.
    events(&s, "c", views("ann", &[4, 5, 6, 7, 8, 9])).await;
    let a = recommend(&s, "c", "ann", json!({"limit": 5})).await;
    let got = ids(&a);
    assert_eq!(got.len(), 5, "{a}");
    assert_eq!(got[0], 10, "{a}");
    assert!(got.iter().all(|i| *i >= 10), "{a}");
    // exclude_seen: false lets them back in.
    let a = recommend(&s, "c", "ann", json!({"limit": 5, "exclude_seen": false})).await;
    assert_eq!(clusters(&a), [0; 5], "{a}");
    assert!(ids(&a).iter().any(|i| *i < 10), "{a}");
    // A filter combines with the exclusion.
    let a = recommend(
        &s,
        "c",
        "ann",
        json!({"limit": 3, "filter": {"must": [{"key": "cluster", "match": {"value": 2}}]}}),
    )
    .await;
    assert_eq!(clusters(&a), [2, 2, 2]);
}

#[tokio::test]
async fn newer_events_outweigh_older_ones_as_they_decay() {
    let s = Server::new();
    collection(&s, "c", json!({"popularity_weight": 0.0, "half_life_days": 1.0})).await;
    let old: Vec<Value> =
        [1, 2, 3, 4].iter().map(|i| json!({"user": 7, "item": i, "type": "like", "timestamp": T0})).collect();
    let new: Vec<Value> = [11, 12]
        .iter()
        .map(|i| json!({"user": "7", "item": i, "type": "view", "timestamp": T0 + 10 * DAY}))
        .collect();
    events(&s, "c", json!(old)).await;
    // Before the newer events, the older taste rules.
    assert_eq!(clusters(&recommend(&s, "c", "7", json!({"limit": 3})).await), [0, 0, 0]);
    events(&s, "c", json!(new)).await;
    // 42 and "42" are one user: the integer and the string both name user "7".
    let a = recommend(&s, "c", "7", json!({"limit": 3})).await;
    assert_eq!(clusters(&a), [1, 1, 1], "{a}");
    let user = s.get("/collections/c/users/7").await;
    assert_eq!(user["events"], 6);
    assert_eq!(user["by_type"], json!({"like": 4, "view": 2}));
    assert_eq!(user["history"], 6);
    assert_eq!(user["first_seen"], "2024-01-01T00:00:00Z");
    assert_eq!(user["last_seen"], "2024-01-11T00:00:00Z");
    // Without decay the four likes (weight 2 each) outweigh the two views.
    s.ok(Method::PATCH, "/collections/c", Some(json!({"recommendation": {"half_life_days": null}}))).await;
    assert_eq!(clusters(&recommend(&s, "c", "7", json!({"limit": 3})).await), [0, 0, 0]);
    let info = s.get("/collections/c").await;
    assert_eq!(info["recommendation"]["half_life_days"], Value::Null, "{info}");
}

#[tokio::test]
async fn dislikes_push_items_away_and_multi_interest_keeps_both_tastes() {
    let s = Server::new();
    plain(&s, "c").await;
    let e = json!([
        {"user": "bo", "item": 1, "type": "like", "timestamp": T0},
        {"user": "bo", "item": 11, "type": "like", "timestamp": T0},
        {"user": "bo", "item": 12, "type": "dislike", "timestamp": T0, "weight": 3.0},
    ]);
    events(&s, "c", e).await;
    let a = recommend(&s, "c", "bo", json!({"limit": 4})).await;
    assert_eq!(clusters(&a), [0, 0, 0, 0], "{a}");
    // Two unrelated tastes: the centroid falls between them, multi-interest serves both.
    events(&s, "c", views("cy", &[1, 2, 21, 22])).await;
    let a = recommend(&s, "c", "cy", json!({"limit": 6, "strategy": "multi_interest"})).await;
    assert_eq!(a["served_by"], "multi_interest");
    let got: HashSet<u64> = clusters(&a).into_iter().collect();
    assert_eq!(got, HashSet::from([0, 2]), "{a}");
    // A user who only disliked gets the popular list.
    events(&s, "c", json!([{"user": "dee", "item": 5, "type": "dislike", "timestamp": T0}])).await;
    let a = recommend(&s, "c", "dee", json!({"limit": 3})).await;
    assert_eq!(a["served_by"], "popular");
    assert!(!ids(&a).contains(&5), "{a}");
}

#[tokio::test]
async fn deleted_points_and_forgotten_users_are_gone_at_once_and_the_cache_follows() {
    let s = Server::new();
    plain(&s, "c").await;
    events(&s, "c", views("ed", &[1, 2])).await;
    let first = recommend(&s, "c", "ed", json!({"limit": 3})).await;
    let top = ids(&first)[0];
    // The same request again is answered from the cache; a point delete makes it stale.
    assert_eq!(recommend(&s, "c", "ed", json!({"limit": 3})).await, first);
    s.post("/collections/c/points/delete?wait=true", json!({"points": [top]})).await;
    let after = recommend(&s, "c", "ed", json!({"limit": 3})).await;
    assert!(!ids(&after).contains(&top), "{after}");
    // A seen item that is deleted is skipped by the profile.
    s.post("/collections/c/points/delete?wait=true", json!({"points": [1, 2]})).await;
    assert_eq!(recommend(&s, "c", "ed", json!({"limit": 3})).await["served_by"], "popular");
    // An event changes the next answer (never the cached one).
    events(&s, "c", views("ed", &[21])).await;
    assert_eq!(clusters(&recommend(&s, "c", "ed", json!({"limit": 3})).await), [2, 2, 2]);
    // Forgetting: gone at once, everywhere.
    assert_eq!(s.ok(Method::DELETE, "/collections/c/users/ed", None).await, json!(true));
    assert_eq!(s.ok(Method::DELETE, "/collections/c/users/ed", None).await, json!(false));
    s.err(Method::GET, "/collections/c/users/ed", None, StatusCode::NOT_FOUND, &["user `ed`"]).await;
    s.err(
        Method::POST,
        "/collections/c/users/ed/recommend",
        Some(json!({})),
        StatusCode::NOT_FOUND,
        &["user `ed`"],
    )
    .await;
    let a = recommend(&s, "c", "ed", json!({"fallback": "popular"})).await;
    assert_eq!(a["served_by"], "popular");
}

#[tokio::test]
async fn popularity_counts_positive_events_and_answers_cold_starts() {
    let s = Server::new();
    plain(&s, "c").await;
    let mut e = Vec::new();
    for (item, n) in [(5u64, 3), (25, 2), (15, 1)] {
        for u in 0..n {
            e.push(json!({"user": format!("u{u}"), "item": item, "type": "view", "timestamp": T0}));
        }
    }
    // Dislikes make nothing popular.
    for u in 0..5 {
        e.push(json!({"user": format!("d{u}"), "item": 30, "type": "dislike", "timestamp": T0}));
    }
    events(&s, "c", json!(e)).await;
    let r = s.post("/collections/c/points/query", json!({"query": {"popular": {}}, "limit": 5})).await;
    let got: Vec<(u64, f64)> = r["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_u64().unwrap(), p["score"].as_f64().unwrap()))
        .collect();
    // Then, once the popular items run out, the others in id order, scored 0.
    assert_eq!(got, [(5, 3.0), (25, 2.0), (15, 1.0), (1, 0.0), (2, 0.0)], "{r}");
    let r = s
        .post(
            "/collections/c/points/query",
            json!({"query": {"popular": {}}, "limit": 3, "filter": {"must": [{"key": "cluster", "match": {"value": 2}}]}}),
        )
        .await;
    let got: Vec<u64> = r["points"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(got, [25, 21, 22], "{r}");
    // A new event is seen by the next popular query, not hidden by the cache.
    events(&s, "c", views("z", &[15, 15, 15])).await;
    let r = s.post("/collections/c/points/query", json!({"query": {"popular": {}}, "limit": 1})).await;
    assert_eq!(r["points"][0]["id"], 15, "{r}");
    // An unknown user with the fallback: the popular list, as it is.
    let a = recommend(&s, "c", "nobody", json!({"fallback": "popular", "limit": 2})).await;
    assert_eq!((a["served_by"].clone(), ids(&a)), (json!("popular"), vec![15, 5]));
}

#[tokio::test]
async fn popularity_blends_into_profiles_when_weighted() {
    let s = Server::new();
    collection(&s, "c", json!({"popularity_weight": 0.6, "half_life_days": null})).await;
    let mut e = Vec::new();
    for u in 0..20 {
        e.push(json!({"user": format!("fan{u}"), "item": 25, "type": "purchase", "timestamp": T0}));
    }
    e.extend(views("amy", &[1, 2]).as_array().unwrap().iter().cloned());
    events(&s, "c", json!(e)).await;
    let a = recommend(&s, "c", "amy", json!({"limit": 3})).await;
    assert_eq!(ids(&a)[0], 25, "the popular item leads the blend: {a}");
    s.ok(Method::PATCH, "/collections/c", Some(json!({"recommendation": {"popularity_weight": 0.0}}))).await;
    let a = recommend(&s, "c", "amy", json!({"limit": 3})).await;
    assert_eq!(clusters(&a), [0, 0, 0], "{a}");
}

#[tokio::test]
async fn diversity_groups_and_batches() {
    let s = Server::new();
    plain(&s, "c").await;
    events(&s, "c", views("fi", &[1, 2, 11])).await;
    let plain_answer = recommend(&s, "c", "fi", json!({"limit": 4})).await;
    let diverse =
        recommend(&s, "c", "fi", json!({"limit": 4, "diversity": 1.0, "candidates_limit": 27})).await;
    let spread = |a: &Value| clusters(a).into_iter().collect::<HashSet<u64>>().len();
    assert!(spread(&diverse) > spread(&plain_answer), "{plain_answer} vs {diverse}");
    assert!(ids(&diverse).iter().all(|i| ![1, 2, 11].contains(i)), "{diverse}");
    let g = recommend(&s, "c", "fi", json!({"limit": 2, "group_by": "cluster", "group_size": 2})).await;
    let groups = g["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2, "{g}");
    assert!(groups.iter().all(|gr| gr["hits"].as_array().unwrap().len() == 2), "{g}");
    assert_eq!(g["served_by"], "centroid");
    let b = s
        .post(
            "/collections/c/users/recommend/batch",
            json!({"searches": [{"user": "fi", "limit": 4}, {"user": 404, "fallback": "popular", "limit": 1}]}),
        )
        .await;
    assert_eq!(b[0], plain_answer, "{b}");
    assert_eq!(b[1]["served_by"], "popular");
    // A user literally named "recommend" is a user like any other.
    events(&s, "c", views("recommend", &[21])).await;
    assert_eq!(s.get("/collections/c/users/recommend").await["events"], 1);
    assert_eq!(clusters(&recommend(&s, "c", "recommend", json!({"limit": 2})).await), [2, 2]);
}

#[tokio::test]
async fn bad_input_is_named_and_writes_nothing() {
    let s = Server::new();
    plain(&s, "c").await;
    let post = |body: Value| async {
        let (status, v) = s.call(Method::POST, "/collections/c/interactions", Some(body)).await;
        (status, v["status"]["error"].as_str().unwrap_or_default().to_string())
    };
    let ok_event = json!({"user": "gu", "item": 1, "type": "view"});
    for (bad, needle) in [
        (json!({"user": "gu", "item": 999, "type": "view"}), "999"),
        (json!({"user": "gu", "item": 1, "type": "teleport"}), "teleport"),
        (json!({"user": "gu", "item": 1, "type": "view", "weight": 1e39}), "weight"),
        (json!({"user": "gu", "item": 1, "type": "view", "timestamp": "last tuesday"}), "timestamp"),
        (json!({"user": "gu", "item": 1, "type": "view", "timestamp": 9e12}), "timestamp"),
        (json!({"user": "", "item": 1, "type": "view"}), "user"),
        (json!({"user": "x".repeat(300), "item": 1, "type": "view"}), "user"),
        (json!({"user": [1], "item": 1, "type": "view"}), "user"),
        (json!({"user": "gu", "item": -1, "type": "view"}), "item"),
        (json!({"user": "gu", "item": 1, "type": "view", "colour": "red"}), "colour"),
    ] {
        let (status, msg) = post(json!({"events": [ok_event.clone(), bad.clone()]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {msg}");
        assert!(msg.contains(needle), "{bad}: {msg}");
    }
    // Nothing of those batches was written: the good event beside each bad one neither.
    s.err(Method::GET, "/collections/c/users/gu", None, StatusCode::NOT_FOUND, &["user `gu`"]).await;
    let r = s.post("/collections/c/points/query", json!({"query": {"popular": {}}})).await;
    assert!(r["points"].as_array().unwrap().iter().all(|p| p["score"] == 0.0), "{r}");
    events(&s, "c", json!([ok_event])).await;
    for (body, needle) in [
        (json!({"diversity": 1.5}), "diversity"),
        (json!({"diversity": -0.1}), "diversity"),
        (json!({"limit": 0}), "limit"),
        (json!({"strategy": "psychic"}), "strategy"),
        (json!({"candidates_limit": 0}), "candidates_limit"),
        (json!({"group_size": 2}), "group_by"),
        (json!({"using": "nope"}), "nope"),
        (json!({"exclude_seen": "yes"}), "exclude_seen"),
    ] {
        let (status, v) = s.call(Method::POST, "/collections/c/users/gu/recommend", Some(body.clone())).await;
        let msg = v["status"]["error"].as_str().unwrap_or_default();
        assert!(status.is_client_error(), "{body}: {status} {v}");
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    s.err(
        Method::PATCH,
        "/collections/c",
        Some(json!({"recommendation": {"max_history": 0}})),
        StatusCode::BAD_REQUEST,
        &["max_history"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/d",
        Some(json!({"vectors": {"size": 2, "distance": "Dot"}, "recommendation": {"popularity_weight": 2}})),
        StatusCode::BAD_REQUEST,
        &["popularity_weight"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/none/interactions",
        Some(json!({"events": []})),
        StatusCode::NOT_FOUND,
        &["none"],
    )
    .await;
}

#[tokio::test]
async fn events_and_settings_survive_a_restart_and_history_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (before, popular) = {
        let s = Server::open(dir.path());
        collection(&s, "c", json!({"popularity_weight": 0.3, "half_life_days": 2.0, "max_history": 3})).await;
        let e: Vec<Value> = [1u64, 2, 3, 4, 5]
            .iter()
            .enumerate()
            .map(|(i, item)| json!({"user": "hal", "item": item, "type": "view", "timestamp": T0 + i as i64 * DAY}))
            .collect();
        events(&s, "c", json!(e)).await;
        events(&s, "c", views("ivy", &[11, 12, 13])).await;
        let user = s.get("/collections/c/users/hal").await;
        assert_eq!(user["events"], 3, "the oldest two went past max_history: {user}");
        assert_eq!(user["first_seen"], "2024-01-03T00:00:00Z");
        // A smaller history drops the oldest events of every user.
        s.ok(Method::PATCH, "/collections/c", Some(json!({"recommendation": {"max_history": 2}}))).await;
        assert_eq!(s.get("/collections/c/users/ivy").await["events"], 2);
        let popular = s.post("/collections/c/points/query", json!({"query": {"popular": {}}})).await;
        (recommend(&s, "c", "hal", json!({"limit": 5})).await, popular)
    };
    let s = Server::open(dir.path());
    let user = s.get("/collections/c/users/hal").await;
    assert_eq!(
        (user["events"].clone(), user["first_seen"].clone()),
        (json!(2), json!("2024-01-04T00:00:00Z"))
    );
    assert_eq!(s.get("/collections/c/users/ivy").await["events"], 2);
    assert_eq!(recommend(&s, "c", "hal", json!({"limit": 5})).await, before);
    assert_eq!(s.post("/collections/c/points/query", json!({"query": {"popular": {}}})).await, popular);
    assert_eq!(s.get("/collections/c").await["recommendation"]["max_history"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactions_import_from_jsonl_and_csv_files_naming_bad_lines() {
    let files = tempfile::tempdir().unwrap();
    let mut config = vicinity::config::Config::default();
    config.storage.import_dir = Some(files.path().to_path_buf());
    let s = Server::with_config(config);
    plain(&s, "c").await;
    let jsonl = [
        r#"{"user": "jo", "item": 1, "type": "view", "timestamp": 1704067200}"#,
        r#"{"user": "jo", "item": 404, "type": "view"}"#,
        "",
        r#"{"user": "jo", "item": 2, "type": "like"}"#,
        r#"{"user": "kim", "item": 3, "type": "shrug"}"#,
    ];
    // Line 6 is not UTF-8: a bad line, not the end of the job.
    let mut bytes = jsonl.join("\n").into_bytes();
    bytes.extend_from_slice(b"\n{\"user\": \"jo\", \"item\": 1, \"type\": \"view\xff\"}\n");
    std::fs::write(files.path().join("e.jsonl"), bytes).unwrap();
    // A byte-order mark before the header; line 6's timestamp is not a time.
    let csv = "\u{feff}user,item,type,weight,timestamp\nkim,11,view,,2024-01-01T00:00:00Z\nkim,12,like,2,1704067200\n\"lee, jr\",13,view,,\nkim,999,view,,\nkim,14,view,,NaN\n";
    std::fs::write(files.path().join("e.csv"), csv).unwrap();
    for (file, format, bad) in [("e.jsonl", "jsonl", vec![2u64, 5, 6]), ("e.csv", "csv", vec![5, 6])] {
        let body = json!({"path": file, "format": format, "on_error": "skip"});
        let (status, r) = s.call(Method::POST, "/collections/c/interactions/import", Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{r}");
        let job = crate::jobs::wait_job(&s, &r["result"]["job_id"]).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        let lines: Vec<u64> =
            job["bad_lines"].as_array().unwrap().iter().map(|b| b["line"].as_u64().unwrap()).collect();
        assert_eq!(lines, bad, "{job}");
    }
    assert_eq!(s.get("/collections/c/users/jo").await["events"], 2);
    assert_eq!(s.get("/collections/c/users/kim").await["by_type"], json!({"like": 1, "view": 1}));
    assert_eq!(s.get("/collections/c/users/lee,%20jr").await["events"], 1);
    // Points files are not events, and events are not points.
    s.err(
        Method::POST,
        "/collections/c/interactions/import",
        Some(json!({"path": "e.csv", "format": "npy"})),
        StatusCode::BAD_REQUEST,
        &["jsonl or csv"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/c/import",
        Some(json!({"path": "e.csv", "format": "csv"})),
        StatusCode::BAD_REQUEST,
        &["csv"],
    )
    .await;
}

/// What a hostile probe of these routes found, each pinned.
#[tokio::test]
async fn hostile_probe_regressions() {
    let s = Server::new();
    plain(&s, "c").await;
    events(&s, "c", views("hu", &[1, 2])).await;
    // A threshold too large for f32 is not the same cache entry as no threshold.
    let r = recommend(&s, "c", "hu", json!({"limit": 3, "score_threshold": 1e39})).await;
    assert_eq!(r["points"], json!([]), "{r}");
    assert_eq!(ids(&recommend(&s, "c", "hu", json!({"limit": 3})).await).len(), 3);
    let q = json!({"query": [1.0, 0.0, 0.0, 0.0], "limit": 2});
    assert_eq!(s.post("/collections/c/points/query", q.clone()).await["points"].as_array().unwrap().len(), 2);
    let mut tight = q.clone();
    tight["score_threshold"] = json!(3.5e38);
    assert_eq!(s.post("/collections/c/points/query", tight).await["points"], json!([]));
    // The popular query spelled with an escape still follows the events.
    let escaped = r#"{"query": {"p\u006fpular": {}}, "limit": 1}"#;
    let query = |body: &str| {
        s.raw(Method::POST, "/collections/c/points/query", body.as_bytes().to_vec(), Some("application/json"))
    };
    let (_, before) = query(escaped).await;
    events(&s, "c", views("fan", &[30, 30, 30])).await;
    let (_, after) = query(escaped).await;
    assert_ne!(before["result"]["points"][0]["id"], 30, "{before}");
    assert_eq!(after["result"]["points"][0]["id"], 30, "{after}");
    // A batch is bounded by its results in all, like points/query/batch.
    let big: Vec<Value> = (0..20).map(|_| json!({"user": "hu", "limit": 10_000})).collect();
    s.err(
        Method::POST,
        "/collections/c/users/recommend/batch",
        Some(json!({"searches": big})),
        StatusCode::BAD_REQUEST,
        &["max_batch_results"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/c/users/hu/recommend",
        Some(json!({"group_by": "cluster", "offset": 2})),
        StatusCode::BAD_REQUEST,
        &["offset"],
    )
    .await;
    // A PATCH refused for another setting changes no recommendation setting either.
    let (status, _) = s
        .call(
            Method::PATCH,
            "/collections/c",
            Some(json!({"recommendation": {"max_history": 1}, "hnsw_config": {"m": 0}})),
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(s.get("/collections/c/users/hu").await["events"], 2);
    assert_eq!(s.get("/collections/c").await["recommendation"]["max_history"], 500);
    // A missing vector is named on every path, the popular one too.
    s.err(
        Method::POST,
        "/collections/c/users/nobody/recommend",
        Some(json!({"using": "nope", "fallback": "popular"})),
        StatusCode::BAD_REQUEST,
        &["nope"],
    )
    .await;
}

#[tokio::test]
async fn euclid_profiles_score_higher_is_closer_in_distance_units() {
    let s = Server::new();
    s.create_with(
        "e",
        json!({"vectors": {"size": 2, "distance": "Euclid"}, "recommendation": {"popularity_weight": 0.0}}),
    )
    .await;
    let points: Vec<Value> = (1..=5u64).map(|i| json!({"id": i, "vector": [i as f32, 0.0]})).collect();
    s.upsert("e", json!(points)).await;
    events(&s, "e", views("eu", &[1])).await;
    let r = recommend(&s, "e", "eu", json!({"limit": 2})).await;
    let got: Vec<(u64, f64)> = r["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_u64().unwrap(), p["score"].as_f64().unwrap()))
        .collect();
    assert_eq!(got, [(2, -1.0), (3, -2.0)], "{r}");
    let r = recommend(&s, "e", "eu", json!({"limit": 3, "score_threshold": -1.5})).await;
    assert_eq!(ids(&r), [2], "{r}");
}
