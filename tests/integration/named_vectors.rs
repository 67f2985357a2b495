//! Named vectors (Qdrant's `vectors: {name: params}`): points with any subset of the names,
//! searches by `using`, the shapes vectors are read back in, replacing and removing some
//! vectors of a point, and what survives a restart and a per-vector rebuild.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{dot, ids, Rng, Server};
use crate::jobs::wait_job;

/// "image": 8 dims, Dot; "text": 4 dims, Cosine.
fn body() -> Value {
    json!({"vectors": {"image": {"size": 8, "distance": "Dot"}, "text": {"size": 4, "distance": "Cosine"}}})
}

/// Point `i` has both vectors when `i % 3 == 0`, only "image" when 1, only "text" when 2.
fn point(i: u64, rng: &mut Rng) -> (Value, BTreeMap<&'static str, Vec<f32>>) {
    let mut vectors = BTreeMap::new();
    if i % 3 != 2 {
        vectors.insert("image", rng.vector(8));
    }
    if i % 3 != 1 {
        vectors.insert("text", rng.vector(4));
    }
    (json!({"id": i, "vector": vectors, "payload": {"i": i}}), vectors)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

/// The ids that have vector `name`, best first against `query`, by brute force.
fn expected(points: &BTreeMap<u64, BTreeMap<&'static str, Vec<f32>>>, name: &str, query: &[f32]) -> Vec<u64> {
    let mut scored: Vec<(u64, f32)> = points
        .iter()
        .filter_map(|(id, vs)| {
            let v = vs.get(name)?;
            Some((*id, if name == "text" { cosine(query, v) } else { dot(query, v) }))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().map(|(id, _)| id).collect()
}

async fn load(s: &Server, n: u64, seed: u64) -> BTreeMap<u64, BTreeMap<&'static str, Vec<f32>>> {
    s.create_with("c", body()).await;
    let mut rng = Rng::new(seed);
    let (mut points, mut stored) = (Vec::new(), BTreeMap::new());
    for i in 0..n {
        let (p, vectors) = point(i, &mut rng);
        points.push(p);
        stored.insert(i, vectors);
    }
    s.upsert("c", json!(points)).await;
    stored
}

/// Checks exact searches on both vectors against brute force, and that the approximate ones
/// find each point by its own vector.
async fn check_searches(s: &Server, stored: &BTreeMap<u64, BTreeMap<&'static str, Vec<f32>>>, seed: u64) {
    let mut rng = Rng::new(seed);
    for (name, dim) in [("image", 8), ("text", 4)] {
        let query = rng.vector(dim);
        let want = expected(stored, name, &query);
        let r = s
            .post(
                "/collections/c/points/query",
                json!({"query": query, "using": name, "limit": 1000, "params": {"exact": true}}),
            )
            .await;
        assert_eq!(ids(&r["points"]), want, "{name}: exact search");
        let (id, vectors) = stored.iter().find(|(_, v)| v.contains_key(name)).unwrap();
        let r = s
            .post("/collections/c/points/query", json!({"query": vectors[name], "using": name, "limit": 1}))
            .await;
        assert_eq!(ids(&r["points"]), [*id], "{name}: a point finds itself");
    }
}

#[tokio::test]
async fn points_carry_any_subset_of_the_named_vectors_and_each_is_searched_by_using() {
    let s = Server::new();
    let stored = load(&s, 60, 1).await;
    let info = s.get("/collections/c").await;
    assert_eq!(
        info["config"]["params"]["vectors"],
        json!({"image": {"size": 8, "distance": "Dot"}, "text": {"size": 4, "distance": "Cosine"}}),
        "{info}"
    );
    // Read shapes: a map by name, with the vectors the point has.
    let r = s.post("/collections/c/points", json!({"ids": [0, 1, 2], "with_vector": true})).await;
    let keys = |p: &Value| p["vector"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        r.as_array().unwrap().iter().map(keys).collect::<Vec<_>>(),
        [vec!["image", "text"], vec!["image"], vec!["text"]]
    );
    let read: Vec<f32> = serde_json::from_value(r[1]["vector"]["image"].clone()).unwrap();
    assert_eq!(read, stored[&1]["image"]);
    let r = s.post("/collections/c/points", json!({"ids": [0, 1], "with_vector": ["text"]})).await;
    assert_eq!(r.as_array().unwrap().iter().map(keys).collect::<Vec<_>>(), [vec!["text"], vec![]]);
    check_searches(&s, &stored, 2).await;
    // The legacy named form searches the same vector.
    let q = [0.1, -0.2, 0.3, 0.4];
    let legacy = s
        .post(
            "/collections/c/points/search",
            json!({"vector": {"name": "text", "vector": q}, "limit": 5, "params": {"exact": true}}),
        )
        .await;
    assert_eq!(ids(&legacy), expected(&stored, "text", &q)[..5]);
    // By example: point 0's "image", not returned itself; a point without the vector is a 404.
    let r = s.post("/collections/c/points/query", json!({"query": 0, "using": "image", "limit": 3})).await;
    assert!(!ids(&r["points"]).contains(&0) && r["points"].as_array().unwrap().len() == 3, "{r}");
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"query": 1, "using": "text"})),
        StatusCode::NOT_FOUND,
        &["vector \"text\" of point 1"],
    )
    .await;
    let r = s
        .post("/collections/c/points/recommend", json!({"positive": [0, 3], "using": "image", "limit": 4}))
        .await;
    assert!(ids(&r).iter().all(|id| id % 3 != 2 && *id != 0 && *id != 3), "{r}");
}

#[tokio::test]
async fn vector_names_and_sizes_are_checked_in_qdrants_words() {
    let s = Server::new();
    load(&s, 6, 3).await;
    let query = |body: Value| (Method::POST, "/collections/c/points/query", Some(body));
    for ((method, uri, body), needles) in [
        (
            query(json!({"query": [1.0, 0.0, 0.0, 0.0], "using": "nope"})),
            &["Not existing vector name error: nope"][..],
        ),
        // No `using` is the unnamed vector, which this collection does not have.
        (query(json!({"query": [1.0, 0.0, 0.0, 0.0]})), &["Not existing vector name error: "]),
        (query(json!({"query": [1.0, 0.0, 0.0], "using": "text"})), &["expected dim: 4, got 3"]),
        (
            (Method::POST, "/collections/c/points", Some(json!({"ids": [0], "with_vector": ["nope"]}))),
            &["Not existing vector name error: nope"],
        ),
        (
            (Method::POST, "/collections/c/points/scroll", Some(json!({"with_vector": ["text", "nope"]}))),
            &["Not existing vector name error: nope"],
        ),
        (
            (
                Method::PUT,
                "/collections/c/points",
                Some(json!({"points": [{"id": 9, "vector": {"zzz": [1.0]}}]})),
            ),
            &["Not existing vector name error: zzz"],
        ),
        (
            (
                Method::PUT,
                "/collections/c/points",
                Some(json!({"points": [{"id": 9, "vector": [1.0, 2.0, 3.0, 4.0]}]})),
            ),
            &["Not existing vector name error: "],
        ),
        (
            (
                Method::PUT,
                "/collections/c/points",
                Some(json!({"points": [{"id": 9, "vector": {"text": [1.0, 2.0, 3.0]}}]})),
            ),
            &["point 9", "expected dim: 4, got 3", "for vector 'text'"],
        ),
    ] {
        s.err(method, uri, body, StatusCode::BAD_REQUEST, needles).await;
    }
    assert_eq!(s.count("c").await, 6, "a refused upsert wrote nothing");
}

async fn vector_of(s: &Server, id: &str) -> Value {
    s.point("c", id).await.unwrap()["vector"].clone()
}

#[tokio::test]
async fn an_upsert_replaces_every_vector_and_vector_updates_change_only_the_named_ones() {
    let s = Server::new();
    s.create_with("c", body()).await;
    let (image, text) = ([1.0f32; 8], [0.5f32, 0.5, 0.5, 0.5]);
    s.upsert("c", json!([{"id": 1, "vector": {"image": image, "text": text}, "payload": {"k": 1}}])).await;
    // An upsert without "text" removes it: the point no longer answers a text search.
    s.upsert("c", json!([{"id": 1, "vector": {"image": image}, "payload": {"k": 1}}])).await;
    assert_eq!(vector_of(&s, "1").await, json!({"image": image}));
    let r = s.post("/collections/c/points/query", json!({"query": text, "using": "text"})).await;
    assert_eq!(r["points"], json!([]));
    // PUT points/vectors adds "text" back; "image" and the payload stay.
    let r = s
        .put("/collections/c/points/vectors", json!({"points": [{"id": 1, "vector": {"text": text}}]}))
        .await;
    assert_eq!(r["status"], "completed");
    assert_eq!(vector_of(&s, "1").await, json!({"image": image, "text": text}));
    assert_eq!(s.point("c", "1").await.unwrap()["payload"], json!({"k": 1}));
    let r = s.post("/collections/c/points/query", json!({"query": text, "using": "text"})).await;
    assert_eq!(ids(&r["points"]), [1]);
    // A missing id: the others are updated, then a 404.
    s.upsert("c", json!([{"id": 2, "vector": {"image": image}}])).await;
    s.err(
        Method::PUT,
        "/collections/c/points/vectors",
        Some(json!({"points": [{"id": 2, "vector": {"text": text}}, {"id": 99, "vector": {"text": text}}]})),
        StatusCode::NOT_FOUND,
        &["No point with id 99 found"],
    )
    .await;
    assert_eq!(s.point("c", "2").await.unwrap()["vector"], json!({"image": image, "text": text}));
    // Qdrant's validation of the bodies.
    for (uri, body, message) in [
        (
            "/collections/c/points/vectors",
            json!({"points": []}),
            "Validation error in JSON body: [points: must specify points to update]",
        ),
        (
            "/collections/c/points/vectors",
            json!({"points": [{"id": 1, "vector": {}}]}),
            "Validation error in JSON body: [points[0].vector: must specify vectors to update for point]",
        ),
        (
            "/collections/c/points/vectors/delete",
            json!({"points": [1], "vector": []}),
            "Validation error in JSON body: [vector: must specify vector names to delete]",
        ),
    ] {
        let method = if uri.ends_with("delete") { Method::POST } else { Method::PUT };
        let (status, v) = s.call(method, uri, Some(body)).await;
        assert_eq!(
            (status, v["status"]["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(message)),
            "{v}"
        );
    }
    s.err(
        Method::POST,
        "/collections/c/points/vectors/delete",
        Some(json!({"vector": ["text"]})),
        StatusCode::BAD_REQUEST,
        &["No filter or points provided"],
    )
    .await;
    // Deleting a vector: missing ids are skipped; the point stays with its other vector.
    let r =
        s.post("/collections/c/points/vectors/delete", json!({"points": [1, 77], "vector": ["text"]})).await;
    assert_eq!(r["status"], "completed");
    assert_eq!(vector_of(&s, "1").await, json!({"image": image}));
    assert_eq!(s.count("c").await, 2);
    let r = s
        .post("/collections/c/points/vectors/delete", json!({"filter": {}, "vectors": ["image", "text"]}))
        .await;
    assert_eq!(r["status"], "completed");
    assert_eq!(vector_of(&s, "1").await, json!({}));
    let r = s.post("/collections/c/points/query", json!({"query": image, "using": "image"})).await;
    assert_eq!(r["points"], json!([]));
    // The unnamed vector is `""`: a plain list while the point has only it, `{}` without it.
    s.create("u", 2, "Dot").await;
    s.upsert("u", json!([{"id": 1, "vector": [1.0, 2.0]}])).await;
    assert_eq!(s.point("u", "1").await.unwrap()["vector"], json!([1.0, 2.0]));
    s.post("/collections/u/points/vectors/delete", json!({"points": [1], "vector": [""]})).await;
    assert_eq!(s.point("u", "1").await.unwrap()["vector"], json!({}));
    s.put("/collections/u/points/vectors", json!({"points": [{"id": 1, "vector": [3.0, 4.0]}]})).await;
    assert_eq!(s.point("u", "1").await.unwrap()["vector"], json!([3.0, 4.0]));
}

#[tokio::test]
async fn batches_update_and_delete_named_vectors_in_order() {
    let s = Server::new();
    s.create_with("c", body()).await;
    let ones = [1.0f32; 8];
    let ops = json!({"operations": [
        {"upsert": {"points": [{"id": 1, "vector": {"image": ones}}, {"id": 2, "vector": {"text": [1.0, 0.0, 0.0, 0.0]}}]}},
        {"update_vectors": {"points": [{"id": 1, "vector": {"text": [0.0, 1.0, 0.0, 0.0]}}]}},
        {"delete_vectors": {"points": [2], "vector": ["text"]}},
    ]});
    let r = s.post("/collections/c/points/batch", ops).await;
    assert_eq!(r.as_array().map(Vec::len), Some(3), "{r}");
    assert_eq!(
        s.point("c", "1").await.unwrap()["vector"],
        json!({"image": ones, "text": [0.0, 1.0, 0.0, 0.0]})
    );
    assert_eq!(s.point("c", "2").await.unwrap()["vector"], json!({}));
    // A bad vector anywhere stops the batch before anything is applied.
    let ops = json!({"operations": [
        {"delete": {"points": [1]}},
        {"update_vectors": {"points": [{"id": 2, "vector": {"text": [1.0]}}]}},
    ]});
    s.err(
        Method::POST,
        "/collections/c/points/batch",
        Some(ops),
        StatusCode::BAD_REQUEST,
        &["operations[1]", "expected dim: 4, got 1"],
    )
    .await;
    assert_eq!(s.count("c").await, 2);
}

#[tokio::test]
async fn named_vectors_survive_a_restart_and_a_vector_is_rebuilt_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut stored;
    {
        let s = Server::open(dir.path());
        stored = load(&s, 300, 4).await;
        assert!(s.catalog.get("c").unwrap().save_index().unwrap());
        // Written after the save: replayed at the next start.
        let mut rng = Rng::new(5);
        let (p, vectors) = point(1000, &mut rng);
        s.upsert("c", json!([p])).await;
        stored.insert(1000, vectors);
        s.post("/collections/c/points/vectors/delete", json!({"points": [0], "vector": ["image"]})).await;
        stored.get_mut(&0).unwrap().remove("image");
    }
    let files: Vec<String> = std::fs::read_dir(dir.path().join("indexes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(files.contains(&"1.hnsw".to_string()) && files.contains(&"1.1.hnsw".to_string()), "{files:?}");
    let s = Server::open(dir.path());
    assert_eq!(s.count("c").await, 301);
    check_searches(&s, &stored, 6).await;
    // Rebuild "text" alone with its own settings; "image" keeps the collection's.
    let (status, v) = s
        .call(
            Method::POST,
            "/collections/c/index/rebuild",
            Some(json!({"vector": "text", "hnsw_config": {"m": 8}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let job = wait_job(&s, &v["result"]["job_id"]).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let info = s.get("/collections/c").await;
    let vectors = &info["config"]["params"]["vectors"];
    assert_eq!(vectors["text"]["hnsw_config"]["m"], 8, "{info}");
    assert!(vectors["image"].get("hnsw_config").is_none(), "{info}");
    check_searches(&s, &stored, 7).await;
    s.err(
        Method::POST,
        "/collections/c/index/rebuild",
        Some(json!({"vector": "nope"})),
        StatusCode::BAD_REQUEST,
        &["Not existing vector name error: nope"],
    )
    .await;
}

#[tokio::test]
async fn the_number_of_vectors_and_the_length_of_their_names_are_bounded() {
    let s = Server::new();
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("v{i}"), json!({"size": 2, "distance": "Dot"}))).collect();
    s.err(
        Method::PUT,
        "/collections/c",
        Some(json!({"vectors": many})),
        StatusCode::BAD_REQUEST,
        &["at most 64 vectors", "got 65"],
    )
    .await;
    let long = "x".repeat(201);
    let body = json!({"vectors": {long: {"size": 2, "distance": "Dot"}}});
    s.err(
        Method::PUT,
        "/collections/c",
        Some(body),
        StatusCode::BAD_REQUEST,
        &["vector name must be at most 200 bytes long"],
    )
    .await;
    assert!(!s.exists("c").await);
    let most: serde_json::Map<String, Value> =
        (0..64).map(|i| (format!("v{i}"), json!({"size": 2, "distance": "Dot"}))).collect();
    s.create_with("c", json!({"vectors": most})).await;
    s.upsert("c", json!([{"id": 1, "vector": {"v0": [1.0, 0.0], "v63": [0.0, 1.0]}}])).await;
    let r = s.post("/collections/c/points/query", json!({"query": [0.0, 1.0], "using": "v63"})).await;
    assert_eq!(ids(&r["points"]), [1]);
}
