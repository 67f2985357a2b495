//! Sparse vectors (Qdrant's `sparse_vectors`, with and without the IDF modifier) and
//! `prefetch` with fusion and rescoring: answers against brute force, the wire forms, bad input
//! writing nothing, and what survives a restart.

use std::collections::{BTreeMap, HashMap};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{dot, Rng, Server};

/// "d": 4 dims, Dot; "s": sparse; "w": sparse with IDF.
fn body() -> Value {
    json!({
        "vectors": {"d": {"size": 4, "distance": "Dot"}},
        "sparse_vectors": {"s": {}, "w": {"modifier": "idf", "index": {"on_disk": false}}}
    })
}

type Sparse = BTreeMap<u32, f32>;

struct Stored {
    dense: BTreeMap<u64, Vec<f32>>,
    sparse: BTreeMap<u64, Sparse>,
}

fn sparse_vector(rng: &mut Rng, dims: u64, nnz: u64) -> Sparse {
    (0..1 + rng.below(nnz)).map(|_| (rng.below(dims) as u32, rng.unit() * 2.0 - 0.5)).collect()
}

fn wire(v: &Sparse) -> Value {
    // Given out of order: the service sorts them.
    let (indices, values): (Vec<u32>, Vec<f32>) = v.iter().rev().map(|(i, x)| (*i, *x)).unzip();
    json!({"indices": indices, "values": values})
}

/// Every point has "d"; even ids have "s" and "w" (the same vector).
async fn load(s: &Server, n: u64, seed: u64) -> Stored {
    s.create_with("c", body()).await;
    let mut rng = Rng::new(seed);
    let mut stored = Stored { dense: BTreeMap::new(), sparse: BTreeMap::new() };
    let mut points = Vec::new();
    for i in 0..n {
        let d = rng.vector(4);
        let mut vector = json!({"d": d});
        if i % 2 == 0 {
            let sp = sparse_vector(&mut rng, 40, 6);
            vector["s"] = wire(&sp);
            vector["w"] = wire(&sp);
            stored.sparse.insert(i, sp);
        }
        stored.dense.insert(i, d);
        points.push(json!({"id": i, "vector": vector, "payload": {"i": i, "odd": i % 4 == 2}}));
    }
    s.upsert("c", json!(points)).await;
    stored
}

fn idf(n: usize, df: usize) -> f32 {
    ((n as f64 - df as f64 + 0.5) / (df as f64 + 0.5) + 1.0).ln() as f32
}

/// Points sharing a dimension with `query`, best first (ties by id), by brute force.
fn expected(stored: &Stored, query: &Sparse, with_idf: bool, keep: &dyn Fn(u64) -> bool) -> Vec<(u64, f32)> {
    let n = stored.sparse.len();
    let df = |i: u32| stored.sparse.values().filter(|v| v.contains_key(&i)).count();
    let mut out: Vec<(u64, f32)> = stored
        .sparse
        .iter()
        .filter(|(id, _)| keep(**id))
        .filter_map(|(id, v)| {
            let mut score = 0.0f32;
            let mut shared = false;
            for (i, q) in query {
                if let Some(x) = v.get(i) {
                    shared = true;
                    score += q * if with_idf { idf(n, df(*i)) } else { 1.0 } * x;
                }
            }
            shared.then_some((*id, score))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

fn scored(answer: &Value) -> Vec<(u64, f32)> {
    let points = answer["points"].as_array().or(answer.as_array()).expect("points");
    points.iter().map(|p| (p["id"].as_u64().unwrap(), p["score"].as_f64().unwrap() as f32)).collect()
}

fn assert_close(got: &[(u64, f32)], want: &[(u64, f32)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g.1 - w.1).abs() <= 1e-4 * w.1.abs().max(1.0), "{what}: {got:?} vs {want:?}");
    }
    // Equal scores may come in either order: compare the ids as sets per score.
    let ids = |v: &[(u64, f32)]| {
        let mut ids: Vec<u64> = v.iter().map(|p| p.0).collect();
        ids.sort_unstable();
        ids
    };
    if got.last().map(|p| p.1) != want.last().map(|p| p.1) || got.len() < 2 {
        assert_eq!(ids(got), ids(want), "{what}");
    }
}

#[tokio::test]
async fn sparse_searches_equal_brute_force_with_and_without_idf() {
    let s = Server::new();
    let stored = load(&s, 300, 1).await;
    let mut rng = Rng::new(2);
    for round in 0..20 {
        let q = sparse_vector(&mut rng, 40, 5);
        for (using, with_idf) in [("s", false), ("w", true)] {
            let answer = s
                .post("/collections/c/points/query", json!({"query": wire(&q), "using": using, "limit": 7}))
                .await;
            let want: Vec<(u64, f32)> =
                expected(&stored, &q, with_idf, &|_| true).into_iter().take(7).collect();
            assert_close(&scored(&answer), &want, &format!("round {round} {using}"));
            // Filtered inside the search: still `limit` hits when enough points match.
            let filtered = s
                .post(
                    "/collections/c/points/query",
                    json!({"query": {"nearest": wire(&q)}, "using": using, "limit": 5,
                           "filter": {"must": [{"key": "odd", "match": {"value": true}}]}}),
                )
                .await;
            let want: Vec<(u64, f32)> =
                expected(&stored, &q, with_idf, &|id| id % 4 == 2).into_iter().take(5).collect();
            assert_close(&scored(&filtered), &want, &format!("round {round} {using} filtered"));
        }
    }
    // The legacy search route takes Qdrant's named sparse form.
    let q: Sparse = [(3, 1.0), (7, 0.5)].into();
    let legacy = s
        .post(
            "/collections/c/points/search",
            json!({"vector": {"name": "s", "vector": wire(&q)}, "limit": 4}),
        )
        .await;
    let want: Vec<(u64, f32)> = expected(&stored, &q, false, &|_| true).into_iter().take(4).collect();
    assert_close(&scored(&legacy), &want, "legacy search");
    // By example point: the point itself is left out.
    let by_id = s.post("/collections/c/points/query", json!({"query": 10, "using": "s", "limit": 3})).await;
    let want: Vec<(u64, f32)> =
        expected(&stored, &stored.sparse[&10], false, &|id| id != 10).into_iter().take(3).collect();
    assert_close(&scored(&by_id), &want, "by id");
}

#[tokio::test]
async fn sparse_vectors_read_back_sorted_and_show_in_the_config() {
    let s = Server::new();
    let stored = load(&s, 10, 3).await;
    let point = s.get("/collections/c/points/4").await;
    let (indices, values): (Vec<u32>, Vec<f32>) = stored.sparse[&4].iter().map(|(i, x)| (*i, *x)).unzip();
    let read: Vec<f32> = point["vector"]["s"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!((&point["vector"]["s"]["indices"], read), (&json!(indices), values), "{point}");
    assert_eq!(point["vector"]["w"], point["vector"]["s"]);
    assert!(point["vector"]["d"].is_array(), "{point}");
    // Odd points have no sparse vectors.
    let odd = s.post("/collections/c/points", json!({"ids": [3], "with_vector": ["s", "d"]})).await;
    assert_eq!(odd[0]["vector"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["d"], "{odd}");
    let info = s.get("/collections/c").await;
    assert_eq!(
        info["config"]["params"]["sparse_vectors"],
        json!({"s": {}, "w": {"modifier": "idf", "index": {"on_disk": false}}}),
        "{info}"
    );
    // has_vector sees sparse vectors.
    let counted = s
        .post(
            "/collections/c/points/count",
            json!({"filter": {"must": [{"has_vector": "s"}]}, "exact": true}),
        )
        .await;
    assert_eq!(counted["count"], 5, "{counted}");
    // A collection of sparse vectors only.
    s.create_with("only", json!({"sparse_vectors": {"text": {"modifier": "idf"}}})).await;
    s.upsert("only", json!([{"id": 1, "vector": {"text": {"indices": [1, 2], "values": [0.5, 0.5]}}}])).await;
    let hits = s
        .post(
            "/collections/only/points/query",
            json!({"query": {"indices": [2], "values": [1.0]}, "using": "text"}),
        )
        .await;
    assert_eq!(scored(&hits).len(), 1, "{hits}");
}

#[tokio::test]
async fn bad_sparse_input_is_named_and_writes_nothing() {
    let s = Server::new();
    load(&s, 10, 4).await;
    let upsert = |vector: Value| json!({"points": [{"id": 100, "vector": vector}]});
    let cases: Vec<(Value, StatusCode, Vec<&str>)> = vec![
        (
            json!({"s": {"indices": [1, 2], "values": [1.0]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["points[0].vector.?.values: Validation error: must be the same length as indices"],
        ),
        (
            json!({"s": {"indices": [3, 1, 3], "values": [1.0, 2.0, 3.0]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["points[0].vector.?.indices: Validation error: must be unique"],
        ),
        (
            json!({"s": {"indices": [1], "values": [1e39]}}),
            StatusCode::BAD_REQUEST,
            vec!["vector.s.values[0]", "does not fit in f32"],
        ),
        (
            json!({"s": {"indices": [-1], "values": [1.0]}}),
            StatusCode::BAD_REQUEST,
            vec!["vector.s.indices[0]"],
        ),
        (json!({"s": {"indices": [1]}}), StatusCode::BAD_REQUEST, vec!["vector.s", "missing field `values`"]),
        (
            json!({"s": [1.0, 2.0]}),
            StatusCode::BAD_REQUEST,
            vec!["Conversion between sparse and regular vectors failed"],
        ),
        (
            json!({"d": {"indices": [1], "values": [1.0]}}),
            StatusCode::BAD_REQUEST,
            vec!["Conversion between sparse and regular vectors failed"],
        ),
        (
            json!({"nope": {"indices": [1], "values": [1.0]}}),
            StatusCode::BAD_REQUEST,
            vec!["Not existing vector name error: nope"],
        ),
    ];
    for (vector, status, needles) in cases {
        s.err(Method::PUT, "/collections/c/points?wait=true", Some(upsert(vector)), status, &needles).await;
    }
    assert_eq!(s.count("c").await, 10);
    let query_cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"query": [1.0, 2.0], "using": "s"}),
            vec!["Conversion between sparse and regular vectors failed"],
        ),
        (
            json!({"query": {"indices": [1], "values": [1.0]}, "using": "d"}),
            vec!["Conversion between sparse and regular vectors failed"],
        ),
        (
            json!({"query": {"nearest": [0.1, 0.2, 0.3, 0.4], "mmr": {"diversity": 0.5}}, "using": "s"}),
            vec!["nearest and recommend queries only"],
        ),
        (
            json!({"query": {"fusion": "rrf"}}),
            vec!["Validation failed: cannot apply Fusion without prefetches"],
        ),
        (
            json!({"prefetch": {"query": [1.0, 0.0, 0.0, 0.0], "using": "d"}}),
            vec!["A query is needed to merge the prefetches"],
        ),
        (
            json!({"query": {"fusion": "rrf"}, "using": "d", "prefetch": {"query": [1.0, 0.0, 0.0, 0.0], "using": "d"}}),
            vec!["Fusion queries cannot be combined with the 'using' field"],
        ),
        (
            json!({"query": {"rrf": {"weights": [1.0, 2.0]}}, "prefetch": {"query": [1.0, 0.0, 0.0, 0.0], "using": "d"}}),
            vec!["RRF weights length (2) does not match number of prefetches (1)"],
        ),
        (
            json!({"query": {"fusion": "max"}, "prefetch": {"query": [1.0, 0.0, 0.0, 0.0], "using": "d"}}),
            vec!["query.fusion"],
        ),
    ];
    for (body, needles) in query_cases {
        s.err(Method::POST, "/collections/c/points/query", Some(body), StatusCode::BAD_REQUEST, &needles)
            .await;
    }
    s.err(
        Method::PUT,
        "/collections/x",
        Some(json!({"vectors": {"a": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"a": {}}})),
        StatusCode::BAD_REQUEST,
        &["Dense and sparse vector names must be unique - duplicate found with 'a'"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/x",
        Some(json!({"sparse_vectors": {"a": {"modifier": "bm25"}}})),
        StatusCode::BAD_REQUEST,
        &["sparse_vectors"],
    )
    .await;
    assert!(!s.exists("x").await);
}

#[tokio::test]
async fn sparse_vectors_are_replaced_removed_and_deleted_with_their_points() {
    let s = Server::new();
    let stored = load(&s, 20, 5).await;
    let q: Sparse = stored.sparse[&0].clone();
    let top = |answer: &Value| scored(answer).first().map(|p| p.0);
    let query = json!({"query": wire(&q), "using": "s", "limit": 1});
    assert_eq!(top(&s.post("/collections/c/points/query", query.clone()).await), Some(0));
    // Point 0's sparse vector replaced with one sharing nothing with the query.
    s.put(
        "/collections/c/points/vectors",
        json!({"points": [{"id": 0, "vector": {"s": {"indices": [999], "values": [1.0]}}}]}),
    )
    .await;
    assert_ne!(top(&s.post("/collections/c/points/query", query.clone()).await), Some(0));
    s.post("/collections/c/points/vectors/delete", json!({"points": [2], "vector": ["s"]})).await;
    let point = s.post("/collections/c/points", json!({"ids": [2], "with_vector": true})).await;
    assert!(point[0]["vector"].get("s").is_none() && point[0]["vector"].get("w").is_some(), "{point}");
    s.post("/collections/c/points/delete", json!({"points": [4]})).await;
    let all = s.post("/collections/c/points/query", json!({"query": {"indices": (0..1000).collect::<Vec<u32>>(), "values": vec![1.0; 1000]}, "using": "s", "limit": 100})).await;
    let ids: Vec<u64> = scored(&all).iter().map(|p| p.0).collect();
    assert!(!ids.contains(&2) && !ids.contains(&4) && ids.contains(&0), "{ids:?}");
    assert_eq!(ids.len(), 8, "{ids:?}");
}

#[tokio::test]
async fn sparse_indexes_survive_a_restart_from_their_files_or_from_storage() {
    let dir = tempfile::tempdir().unwrap();
    async fn ask(s: &Server, using: &str) -> Vec<(u64, f32)> {
        let q: Sparse = [(1, 1.0), (5, 0.7), (9, -0.2), (20, 0.4)].into();
        scored(
            &s.post("/collections/c/points/query", json!({"query": wire(&q), "using": using, "limit": 20}))
                .await,
        )
    }
    let (before_s, before_w);
    {
        let s = Server::open(dir.path());
        load(&s, 200, 6).await;
        assert!(s.catalog.get("c").unwrap().save_index().unwrap());
        // After the save: replayed at the next start.
        s.upsert("c", json!([{"id": 500, "vector": {"d": [1, 0, 0, 0], "s": {"indices": [1, 5], "values": [9.0, 9.0]}, "w": {"indices": [1], "values": [1.0]}}}])).await;
        s.post("/collections/c/points/delete", json!({"points": [0, 2]})).await;
        before_s = ask(&s, "s").await;
        before_w = ask(&s, "w").await;
        assert_eq!(before_s[0].0, 500);
    }
    let files: Vec<String> = std::fs::read_dir(dir.path().join("indexes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        files.contains(&"1.1.sparse".to_string()) && files.contains(&"1.2.sparse".to_string()),
        "{files:?}"
    );
    {
        let s = Server::open(dir.path());
        assert_eq!(ask(&s, "s").await, before_s);
        assert_eq!(ask(&s, "w").await, before_w);
    }
    // Without their files the sparse indexes are rebuilt from RocksDB.
    for f in &files {
        if f.ends_with(".sparse") {
            std::fs::remove_file(dir.path().join("indexes").join(f)).unwrap();
        }
    }
    let s = Server::open(dir.path());
    assert_eq!(ask(&s, "s").await, before_s);
    assert_eq!(ask(&s, "w").await, before_w);
}

/// Qdrant's DBSF: each list normalised by mean ± 3 sample standard deviations, summed.
fn dbsf_of(lists: &[Vec<(u64, f32)>]) -> Vec<(u64, f32)> {
    let mut total: HashMap<u64, f64> = HashMap::new();
    for list in lists {
        let n = list.len() as f64;
        let mean = list.iter().map(|p| f64::from(p.1)).sum::<f64>() / n;
        let sd = (list.iter().map(|p| (f64::from(p.1) - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        for (id, score) in list {
            *total.entry(*id).or_default() += (f64::from(*score) - (mean - 3.0 * sd)) / (6.0 * sd);
        }
    }
    let mut out: Vec<(u64, f32)> = total.into_iter().map(|(id, s)| (id, s as f32)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

fn rrf(lists: &[Vec<(u64, f32)>], k: f32) -> Vec<(u64, f32)> {
    let mut total: HashMap<u64, f32> = HashMap::new();
    for list in lists {
        for (rank, (id, _)) in list.iter().enumerate() {
            *total.entry(*id).or_default() += 1.0 / (k + rank as f32);
        }
    }
    let mut out: Vec<(u64, f32)> = total.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[tokio::test]
async fn prefetches_fuse_by_rank_and_are_rescored_by_the_query_above() {
    let s = Server::new();
    let stored = load(&s, 300, 7).await;
    let sq: Sparse = [(2, 1.0), (4, 0.5), (11, 0.8)].into();
    let dq = vec![0.3f32, -0.2, 0.9, 0.1];
    let dense = json!({"query": dq, "using": "d", "limit": 15});
    let sparse = json!({"query": wire(&sq), "using": "s", "limit": 15});
    let dense_hits = scored(&s.post("/collections/c/points/query", dense.clone()).await);
    let sparse_hits = scored(&s.post("/collections/c/points/query", sparse.clone()).await);
    for (fusion, k) in [(json!({"fusion": "rrf"}), 2.0), (json!({"rrf": {"k": 60}}), 60.0)] {
        let fused = s
            .post(
                "/collections/c/points/query",
                json!({"prefetch": [dense, sparse], "query": fusion, "limit": 10}),
            )
            .await;
        let want: Vec<(u64, f32)> =
            rrf(&[dense_hits.clone(), sparse_hits.clone()], k).into_iter().take(10).collect();
        assert_close(&scored(&fused), &want, &format!("rrf k={k}"));
    }
    let dbsf = s
        .post(
            "/collections/c/points/query",
            json!({"prefetch": [dense, sparse], "query": {"fusion": "dbsf"}, "limit": 30}),
        )
        .await;
    assert_close(&scored(&dbsf), &dbsf_of(&[dense_hits.clone(), sparse_hits.clone()]), "dbsf");
    // Weighted RRF, and the fusion threshold is inclusive.
    let weighted = s
        .post(
            "/collections/c/points/query",
            json!({"prefetch": [dense, sparse], "query": {"rrf": {"weights": [3.0, 0.0]}}, "limit": 30}),
        )
        .await;
    let weighted = scored(&weighted);
    assert!(
        (weighted[0].1 - 1.0 / (1.0 / 3.0 + 1.0)).abs() < 1e-5 && weighted[0].0 == dense_hits[0].0,
        "{weighted:?}"
    );
    let at = weighted[2].1;
    let kept = s
        .post("/collections/c/points/query", json!({"prefetch": [dense, sparse], "query": {"rrf": {"weights": [3.0, 0.0]}}, "limit": 30, "score_threshold": at}))
        .await;
    assert!(scored(&kept).len() >= 3, "{kept}");
    // Rescoring: the sparse prefetch's points ordered by the dense query.
    let rescored = s
        .post(
            "/collections/c/points/query",
            json!({"prefetch": sparse, "query": dq, "using": "d", "limit": 5}),
        )
        .await;
    let mut want: Vec<(u64, f32)> =
        sparse_hits.iter().map(|(id, _)| (*id, dot(&dq, &stored.dense[id]))).collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(5);
    assert_close(&scored(&rescored), &want, "rescored");
    // The outer filter applies inside every prefetch too.
    let filter = json!({"must": [{"key": "odd", "match": {"value": true}}]});
    let filtered = s
        .post(
            "/collections/c/points/query",
            json!({"prefetch": [dense, sparse], "query": {"fusion": "rrf"}, "filter": filter, "limit": 50}),
        )
        .await;
    assert!(scored(&filtered).iter().all(|p| p.0 % 4 == 2), "{filtered}");
    // Nested: fuse two levels down, rescore on top.
    let nested = s
        .post(
            "/collections/c/points/query",
            json!({
                "prefetch": {"prefetch": [dense, sparse], "query": {"fusion": "rrf"}, "limit": 8},
                "query": dq, "using": "d", "limit": 3
            }),
        )
        .await;
    let inner: Vec<u64> =
        rrf(&[dense_hits.clone(), sparse_hits.clone()], 2.0).into_iter().take(8).map(|p| p.0).collect();
    let mut want: Vec<(u64, f32)> = inner.iter().map(|id| (*id, dot(&dq, &stored.dense[id]))).collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(3);
    assert_close(&scored(&nested), &want, "nested");
    // Answers carry what was asked for.
    let with = s
        .post("/collections/c/points/query", json!({"prefetch": [dense, sparse], "query": {"fusion": "rrf"}, "limit": 2, "with_payload": true}))
        .await;
    assert!(with["points"][0]["payload"]["i"].is_u64(), "{with}");
    // Bounded: depth and count.
    let mut deep = json!({"query": dq, "using": "d"});
    for _ in 0..66 {
        deep = json!({"prefetch": deep, "query": dq, "using": "d"});
    }
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(deep),
        StatusCode::BAD_REQUEST,
        &["exceeds max depth 64"],
    )
    .await;
    let many: Vec<Value> = (0..65).map(|_| dense.clone()).collect();
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"prefetch": many, "query": {"fusion": "rrf"}})),
        StatusCode::BAD_REQUEST,
        &["at most 64 prefetches"],
    )
    .await;
}

/// Qdrant's worked probe of formula queries (docs/qdrant-conventions-4.md §4.7): prefetch
/// `[1, 0]` scores the points 1.0, 0.8, 0.5, 0.2, 0.1; `[0, 1]` finds point 3 first.
async fn formula_collection(s: &Server) {
    s.create("f", 2, "Dot").await;
    s.upsert(
        "f",
        json!([
            {"id": 1, "vector": [1.0, 0.0], "payload": {"pop": 10, "tag": "a", "ts": "2024-01-02T00:00:00Z", "at": {"lat": 52.52, "lon": 13.40}}},
            {"id": 2, "vector": [0.8, 0.0], "payload": {"pop": 0, "tag": "b", "ts": "2024-01-01T00:00:00Z"}},
            {"id": 3, "vector": [0.5, 0.5], "payload": {"pop": "x", "tag": "a"}},
            {"id": 4, "vector": [0.2, 0.0], "payload": {"pop": [1, 2]}},
            {"id": 5, "vector": [0.1, 0.0], "payload": {}}
        ]),
    )
    .await;
}

async fn formula(s: &Server, prefetch: Value, formula: Value, extra: Value) -> Vec<(u64, f32)> {
    let mut body = json!({"prefetch": prefetch, "query": formula});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    scored(&s.post("/collections/f/points/query", body).await)
}

fn close(got: &[(u64, f32)], want: &[(u64, f32)]) {
    assert_eq!(
        got.iter().map(|p| p.0).collect::<Vec<_>>(),
        want.iter().map(|p| p.0).collect::<Vec<_>>(),
        "{got:?} vs {want:?}"
    );
    for (g, w) in got.iter().zip(want) {
        assert!((g.1 - w.1).abs() < 1e-4 * w.1.abs().max(1.0), "{got:?} vs {want:?}");
    }
}

#[tokio::test]
async fn formula_queries_follow_qdrants_worked_examples() {
    let s = Server::new();
    formula_collection(&s).await;
    let first = json!({"query": [1.0, 0.0], "limit": 10});
    let f = |expr: Value| json!({"formula": expr});
    close(
        &formula(&s, first.clone(), f(json!("$score")), json!({})).await,
        &[(1, 1.0), (2, 0.8), (3, 0.5), (4, 0.2), (5, 0.1)],
    );
    let boosted = json!({"sum": ["$score", {"mult": [0.5, {"key": "tag", "match": {"value": "a"}}]}]});
    close(
        &formula(&s, first.clone(), f(boosted), json!({})).await,
        &[(1, 1.5), (3, 1.0), (2, 0.8), (4, 0.2), (5, 0.1)],
    );
    let two = json!({"query": [1.0, 0.0], "limit": 2});
    close(&formula(&s, two.clone(), f(json!("pop")), json!({})).await, &[(1, 10.0), (2, 0.0)]);
    let both = json!([two, {"query": [0.0, 1.0], "limit": 1}]);
    let sum = json!({"sum": ["$score[0]", "$score[1]"]});
    close(&formula(&s, both.clone(), f(sum.clone()), json!({})).await, &[(1, 1.0), (2, 0.8), (3, 0.5)]);
    let with_default = json!({"formula": sum, "defaults": {"$score[1]": 100}});
    close(&formula(&s, both.clone(), with_default, json!({})).await, &[(1, 101.0), (2, 100.8), (3, 0.5)]);
    close(&formula(&s, two.clone(), f(json!("$score[5]")), json!({})).await, &[(1, 0.0), (2, 0.0)]);
    // Thresholds are inclusive; offset and limit page the scores; order is always descending.
    close(
        &formula(&s, first.clone(), f(json!("$score")), json!({"score_threshold": 0.8})).await,
        &[(1, 1.0), (2, 0.8)],
    );
    close(
        &formula(&s, first.clone(), f(json!("$score")), json!({"limit": 2, "offset": 1})).await,
        &[(2, 0.8), (3, 0.5)],
    );
    close(
        &formula(&s, first.clone(), f(json!({"neg": "$score"})), json!({})).await,
        &[(5, -0.1), (4, -0.2), (3, -0.5), (2, -0.8), (1, -1.0)],
    );
    let one = json!({"query": [1.0, 0.0], "limit": 1});
    for (expr, want) in [
        (json!({"div": {"left": 1, "right": 0, "by_zero_default": 7}}), 7.0),
        (json!({"div": {"left": 0, "right": 0}}), 0.0),
        (json!({"mult": [0, {"ln": 0}]}), 0.0),
        (json!({"pow": {"base": 2, "exponent": 10}}), 1024.0),
        (json!({"log10": 100}), 2.0),
        (json!({"exp_decay": {"x": 1}}), 0.5),
        (json!({"gauss_decay": {"x": 2, "scale": 2}}), 0.5),
        (json!({"lin_decay": {"x": 3, "target": 1, "scale": 4}}), 0.75),
        (json!({"lin_decay": {"x": 100}}), 0.0),
        (
            json!({"exp_decay": {"x": {"datetime_key": "ts"}, "target": {"datetime": "2024-01-02T00:00:00Z"}, "scale": 86400}}),
            1.0,
        ),
        (json!({"geo_distance": {"origin": {"lat": 52.52, "lon": 13.41}, "to": "at"}}), 676.6048),
        (json!({"sqrt": {"abs": -16}}), 4.0),
    ] {
        close(&formula(&s, one.clone(), f(expr.clone()), json!({})).await, &[(1, want)]);
    }
    // A day before the target is the midpoint of a one-day exponential decay.
    let day = json!({"exp_decay": {"x": {"datetime_key": "ts"}, "target": {"datetime": "2024-01-02T00:00:00Z"}, "scale": 86400}});
    close(&formula(&s, two.clone(), f(day), json!({})).await, &[(1, 1.0), (2, 0.5)]);
    // Errors name the problem in Qdrant's words and fail the whole request.
    let bad = |expr: Value| json!({"prefetch": first.clone(), "query": {"formula": expr}});
    for (body, needles) in [
        (bad(json!("pop")), vec!["Expected number value for pop in the payload and/or in the formula defaults. Error: Value is not a number"]),
        (bad(json!("missing")), vec!["Expected number value for missing", "No value found in a payload nor defaults"]),
        (bad(json!({"div": {"left": 1, "right": 0}})), vec!["The expression 1/0 = inf produced a non-finite number"]),
        (bad(json!({"sqrt": -3})), vec!["The expression √-3 = NaN produced a non-finite number"]),
        (bad(json!({"exp": 1000})), vec!["exp(1000) = inf"]),
        (bad(json!({"lin_decay": {"x": 1, "midpoint": 1.5}})), vec!["Linear decay midpoint should be in the range [0.0, 1.0], got 1.5."]),
        (bad(json!({"exp_decay": {"x": 1, "midpoint": 1}})), vec!["Decay midpoint should be in the range (0.0, 1.0), got 1."]),
        (bad(json!({"gauss_decay": {"x": 1, "scale": 0}})), vec!["Decay scale should be non-zero positive, got 0."]),
        (bad(json!("$foo")), vec!["Invalid reserved word: $foo"]),
        (bad(json!("$score[x]")), vec!["Invalid reserved variable: $score[x]"]),
        (bad(json!({"datetime_key": "tag"})), vec!["Expected datetime value for tag"]),
        (json!({"query": {"formula": "$score"}}), vec!["cannot apply Formula without prefetches"]),
    ] {
        s.err(Method::POST, "/collections/f/points/query", Some(body), StatusCode::BAD_REQUEST, &needles).await;
    }
}

#[tokio::test]
async fn bm25_documents_become_sparse_vectors_and_queries() {
    let s = Server::new();
    s.create_with("b", json!({"sparse_vectors": {"text": {"modifier": "idf"}}})).await;
    let doc = |text: &str| json!({"text": {"text": text, "model": "qdrant/bm25"}});
    let mut points = vec![json!({"id": 1, "vector": doc("I must not fear. Fear is the mind-killer.")})];
    for i in 2..=20u64 {
        points.push(json!({"id": i, "vector": doc(&format!("a quiet walk number {i} in the park"))}));
    }
    s.upsert("b", json!(points)).await;
    // Qdrant's worked example (docs/qdrant-conventions-4.md §5.4).
    let stored = s.get("/collections/b/points/1").await;
    assert_eq!(
        stored["vector"]["text"]["indices"],
        json!([418093614, 627261019, 844849131, 1432942394]),
        "{stored}"
    );
    let values: Vec<f64> =
        stored["vector"]["text"]["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for (got, want) in values.iter().zip([1.6697302, 1.6697302, 1.6697302, 1.8985336]) {
        assert!((got - want).abs() < 1e-5, "{values:?}");
    }
    let hits = s
        .post("/collections/b/points/query", json!({"query": {"text": "I should not fear", "model": "Qdrant/BM25"}, "using": "text", "limit": 3}))
        .await;
    let hits = scored(&hits);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!((hits[0].1 - 5.01034).abs() < 1e-3, "{hits:?}");
    // Options change the pipeline: without stemming "walking" is not "walk".
    let opts = json!({"stemmer": {"type": "none"}});
    let with = s
        .post(
            "/collections/b/points/query",
            json!({"query": {"text": "walking", "model": "bm25"}, "using": "text"}),
        )
        .await;
    let without = s
        .post(
            "/collections/b/points/query",
            json!({"query": {"text": "walking", "model": "bm25", "options": opts}, "using": "text"}),
        )
        .await;
    assert_eq!((scored(&with).len(), scored(&without).len()), (10, 0));
    s.err(
        Method::POST,
        "/collections/b/points/query",
        Some(json!({"query": {"text": "x", "model": "bm25", "options": {"b": 3}}, "using": "text"})),
        StatusCode::BAD_REQUEST,
        &["Invalid BM25 config", "b must be in [0, 1]"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/b/points",
        Some(json!({"points": [{"id": 99, "vector": {"text": {"text": "x", "model": "all-minilm-l6-v2"}}}]})),
        StatusCode::BAD_REQUEST,
        &["points[0].vector.text", "qdrant/bm25"],
    )
    .await;
    assert_eq!(s.count("b").await, 20);
}

#[tokio::test]
async fn texts_fill_the_dense_and_the_bm25_vector_and_hybrid_queries_fuse_them() {
    let Some(s) = Server::with_embedder() else { return };
    let (status, v) = s
        .call(
            Method::PUT,
            "/collections/h",
            Some(json!({
                "embedding": {"model": "all-minilm-l6-v2", "bm25": {"vector": "keywords"}},
                "sparse_vectors": {"keywords": {"modifier": "idf"}}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let texts = [
        "The quick brown fox jumps over the lazy dog",
        "Part number XJ-4471 fits the 2019 model only",
        "A recipe for sourdough bread with a crisp crust",
        "Foxes are small omnivorous mammals of the dog family",
        "Replacement filter for part XJ-4470 and XJ-4472",
    ];
    let points: Vec<Value> = texts.iter().enumerate().map(|(i, t)| json!({"id": i, "text": t})).collect();
    s.upsert("h", json!(points)).await;
    let p = s.post("/collections/h/points", json!({"ids": [1], "with_vector": true})).await;
    assert!(p[0]["vector"][""].is_array() && p[0]["vector"]["keywords"]["indices"].is_array(), "{p}");
    // A product code is an exact word: BM25 finds it where the embedding may not.
    let keyword = s
        .post(
            "/collections/h/points/query",
            json!({"query": {"text": "XJ-4471"}, "using": "keywords", "limit": 1}),
        )
        .await;
    assert_eq!(scored(&keyword)[0].0, 1, "{keyword}");
    let hybrid = s
        .post(
            "/collections/h/points/query",
            json!({"prefetch": [{"query": {"text": "fox"}, "limit": 3}, {"query": {"text": "fox"}, "using": "keywords", "limit": 3}],
                   "query": {"fusion": "rrf"}, "limit": 2}),
        )
        .await;
    let ids: Vec<u64> = scored(&hybrid).iter().map(|p| p.0).collect();
    assert!(ids.contains(&0) && ids.contains(&3), "{hybrid}");
    s.err(
        Method::POST,
        "/collections/h/points/query",
        Some(json!({"query": {"text": "fox"}, "using": "nope"})),
        StatusCode::BAD_REQUEST,
        &["texts are embedded into the unnamed vector"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/bad",
        Some(json!({"embedding": {"model": "all-minilm-l6-v2", "bm25": {"vector": "nope"}}})),
        StatusCode::BAD_REQUEST,
        &["embedding.bm25.vector", "not a sparse vector"],
    )
    .await;
}

#[tokio::test]
async fn cached_hybrid_answers_follow_writes_and_modifier_changes() {
    let s = Server::new();
    load(&s, 40, 9).await;
    let q: Sparse = [(3, 1.0), (4, 1.0)].into();
    let body = json!({
        "prefetch": [{"query": wire(&q), "using": "s", "limit": 5}, {"query": [1.0, 0.0, 0.0, 0.0], "using": "d", "limit": 5}],
        "query": {"fusion": "rrf"}, "limit": 3
    });
    let first = s.post("/collections/c/points/query", body.clone()).await;
    assert_eq!(s.post("/collections/c/points/query", body.clone()).await, first);
    // A new point first in both lists: the cached answer must not be served.
    s.upsert("c", json!([{"id": 900, "vector": {"d": [100.0, 0.0, 0.0, 0.0], "s": {"indices": [3, 4], "values": [50.0, 50.0]}}}])).await;
    let after = s.post("/collections/c/points/query", body.clone()).await;
    assert_eq!(after["points"][0]["id"], 900, "{after}");
    // Switching IDF off changes the scores on "w" at once.
    let on_w = json!({"query": wire(&q), "using": "w", "limit": 3});
    let with_idf = scored(&s.post("/collections/c/points/query", on_w.clone()).await);
    s.ok(Method::PATCH, "/collections/c", Some(json!({"sparse_vectors": {"w": {"modifier": "none"}}}))).await;
    let without = scored(&s.post("/collections/c/points/query", on_w.clone()).await);
    assert_ne!(
        with_idf.iter().map(|p| p.1).collect::<Vec<_>>(),
        without.iter().map(|p| p.1).collect::<Vec<_>>()
    );
    let info = s.get("/collections/c").await;
    assert_eq!(info["config"]["params"]["sparse_vectors"]["w"]["modifier"], "none", "{info}");
    s.err(
        Method::PATCH,
        "/collections/c",
        Some(json!({"sparse_vectors": {"nope": {"modifier": "idf"}}})),
        StatusCode::BAD_REQUEST,
        &["Not existing vector name error: nope"],
    )
    .await;
}

#[tokio::test]
async fn hostile_probe_regressions() {
    let s = Server::new();
    s.create_with(
        "r",
        json!({"vectors": {"d": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"s": {}}}),
    )
    .await;
    let sp = |pairs: &[(u32, f32)]| wire(&pairs.iter().copied().collect());
    s.upsert(
        "r",
        json!([
            {"id": 1, "vector": {"d": [1, 0], "s": sp(&[(1, 1.0), (2, 1.0)])}},
            {"id": 2, "vector": {"d": [0, 1], "s": sp(&[(1, 2.0)])}},
            {"id": 3, "vector": {"d": [1, 1], "s": sp(&[(7, 1.0)])}},
            {"id": 4, "vector": {"d": [1, 1]}}
        ]),
    )
    .await;
    // best_score on a sparse vector: a point sharing nothing with the examples scores
    // similarity 0, i.e. 0.5 (Qdrant's); a point without the vector is never returned.
    let best = s
        .post(
            "/collections/r/points/query",
            json!({"query": {"recommend": {"positive": [1], "strategy": "best_score"}}, "using": "s"}),
        )
        .await;
    let got = scored(&best);
    assert_eq!(got.iter().map(|p| p.0).collect::<Vec<_>>(), vec![2, 3], "{best}");
    // scaled sigmoid: 0.5 * (x / (1 + |x|) + 1), x = 2 for point 2, 0 for point 3.
    assert!((got[0].1 - 5.0 / 6.0).abs() < 1e-6 && (got[1].1 - 0.5).abs() < 1e-6, "{got:?}");
    // A BM25 text with more distinct tokens than a sparse vector holds is refused, not cut.
    let many: String = (0..70_000).map(|i| format!("w{i} ")).collect();
    s.err(
        Method::PUT,
        "/collections/r/points",
        Some(json!({"points": [{"id": 9, "vector": {"s": {"text": many, "model": "qdrant/bm25", "options": {"stemmer": {"type": "none"}}}}}]})),
        StatusCode::BAD_REQUEST,
        &["distinct BM25 tokens", "65536"],
    )
    .await;
    assert_eq!(s.count("r").await, 4);
    // A broken condition inside a formula or a prefetch's filter is Qdrant's 422 at its path.
    let leaf = json!({"query": [1.0, 0.0], "using": "d"});
    s.err(
        Method::POST,
        "/collections/r/points/query",
        Some(json!({"prefetch": leaf, "query": {"formula": {"key": "a"}}})),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["query.formula.__all__: Validation error: At least one field condition must be specified"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/r/points/query",
        Some(json!({"prefetch": {"query": [1.0, 0.0], "using": "d", "filter": {"must": [{"key": "a"}]}}, "query": {"fusion": "rrf"}})),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["prefetch[0].filter.must[0].__all__"],
    )
    .await;
    // A document for a sparse vector names the wrong model: said so.
    s.err(
        Method::POST,
        "/collections/r/points/query",
        Some(json!({"query": {"text": "x", "model": "other/model"}, "using": "s"})),
        StatusCode::BAD_REQUEST,
        &["model `other/model`", "qdrant/bm25"],
    )
    .await;
}
