//! A collection indexed by Faiss (`"index": {"type": "faiss", …}` in the create body): filled
//! and queried over HTTP, rescored from RocksDB, filtered, restarted, and switched to HNSW and
//! back by a rebuild. Built only with the `faiss` feature; without it the kind is a 400.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::Server;

const DIM: usize = 16;

fn create_body(index: Value) -> Value {
    json!({"vectors": {"size": DIM, "distance": "Euclid"}, "index": index})
}

#[cfg(feature = "faiss")]
mod served {
    use super::*;
    use crate::common::{dataset, l2sq, load, top_k};

    /// Ids of `limit` nearest stored points to `q` (exact), for recall.
    fn exact(
        points: &[crate::common::Pt],
        q: &[f32],
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Vec<u64> {
        let scored = points.iter().filter(|p| keep(&p.payload)).map(|p| (p.id, l2sq(q, &p.vector))).collect();
        top_k(scored, limit, true).into_iter().map(|(id, _)| id).collect()
    }

    async fn recall(
        s: &Server,
        points: &[crate::common::Pt],
        filter: Option<Value>,
        keep: impl Fn(&Value) -> bool,
    ) -> f64 {
        let (mut hits, mut total) = (0, 0);
        for p in points.iter().step_by(97).take(20) {
            let mut body = json!({"query": p.vector, "limit": 10});
            if let Some(f) = &filter {
                body["filter"] = f.clone();
            }
            let got = s.post("/collections/c/points/query", body).await;
            let got: Vec<u64> =
                got["points"].as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect();
            let want = exact(points, &p.vector, 10, &keep);
            assert_eq!(got.len(), want.len(), "a search returns min(limit, allowed) points");
            hits += got.iter().filter(|id| want.contains(id)).count();
            total += want.len();
        }
        hits as f64 / total as f64
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_faiss_collection_serves_restarts_and_switches_kind() {
        let dir = tempfile::tempdir().unwrap();
        let s = Server::open(dir.path());
        let index = json!({"type": "faiss", "factory": "IVF16,PQ4x8", "train_size": 1000, "nprobe": 16});
        s.create_with("c", create_body(index)).await;
        let points = dataset(3000, DIM, 7);
        load(&s, "c", &points).await;
        let info = s.get("/collections/c").await;
        assert_eq!(info["vicinity"]["backend"], "faiss", "{info}");
        let bytes = info["vicinity"]["index_bytes"].as_u64().unwrap();
        assert!(bytes < 3000 * DIM as u64 * 4 / 2, "PQ codes, not f32 vectors: {bytes} bytes");

        // Rescored from the vectors in RocksDB: near-exact answers.
        let r = recall(&s, &points, None, |_| true).await;
        assert!(r >= 0.95, "recall {r}");
        // A 1% payload filter is answered exactly; a broad one through Faiss's ID selector.
        let rare = json!({"must": [{"key": "rare", "match": {"value": true}}]});
        assert_eq!(recall(&s, &points, Some(rare), |p| p["rare"] == true).await, 1.0);
        let even = json!({"must": [{"key": "even", "match": {"value": true}}]});
        assert!(recall(&s, &points, Some(even), |p| p["even"] == true).await >= 0.95);
        // Per-request nprobe; the stored vector comes back with the point.
        let q = json!({"query": points[5].vector, "limit": 1, "params": {"nprobe": 1}, "with_vector": true});
        let hit = &s.post("/collections/c/points/query", q).await["points"][0];
        assert_eq!(hit["id"], points[5].id);
        assert_eq!(serde_json::from_value::<Vec<f32>>(hit["vector"].clone()).unwrap(), points[5].vector);

        // Deleted points are never returned.
        let gone: Vec<u64> = points.iter().take(1000).map(|p| p.id).collect();
        s.post("/collections/c/points/delete?wait=true", json!({"points": gone})).await;
        let rest = &points[1000..];
        assert!(recall(&s, rest, None, |_| true).await >= 0.95);

        // After a save, a restart loads the Faiss index from its file and answers alike.
        let before =
            s.post("/collections/c/points/query", json!({"query": rest[0].vector, "limit": 10})).await;
        assert!(s.catalog.get("c").unwrap().save_index().unwrap());
        drop(s);
        let s = Server::open(dir.path());
        let after =
            s.post("/collections/c/points/query", json!({"query": rest[0].vector, "limit": 10})).await;
        assert_eq!(before, after);

        // Rebuild to HNSW, then back to Faiss (IVF-SQ8 preset), serving throughout.
        for (kind, index) in [
            ("hnsw", json!({"type": "hnsw"})),
            ("faiss", json!({"type": "faiss", "preset": "ivf_sq8", "nlist": 8, "train_size": 500})),
        ] {
            let (status, v) =
                s.call(Method::POST, "/collections/c/index/rebuild", Some(json!({"index": index}))).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{v}");
            let job = crate::jobs::wait_job(&s, &v["result"]["job_id"]).await;
            assert_eq!(job["state"], "succeeded", "{job}");
            assert_eq!(s.get("/collections/c").await["vicinity"]["backend"], kind);
            assert!(recall(&s, rest, None, |_| true).await >= 0.95, "{kind}");
            assert_eq!(s.count("c").await, 2000);
        }
    }
}

#[tokio::test]
async fn bad_index_settings_are_400() {
    let s = Server::new();
    let cases: Vec<(Value, &[&str])> = if cfg!(feature = "faiss") {
        vec![
            (json!({"type": "faiss", "factory": "IVF16,Bogus"}), &["factory", "IVF16,Bogus"]),
            (json!({"type": "faiss", "factory": "IVF16,Flat", "preset": "ivf_pq"}), &["exactly one"]),
            (json!({"type": "faiss", "preset": "ivf_zz"}), &["ivf_zz"]),
            (json!({"type": "faiss", "factory": "IVF16,Flat", "nprobe": 0}), &["nprobe"]),
            (json!({"type": "annoy"}), &["annoy"]),
            (json!({"type": "faiss", "factory": "HNSW32"}), &["cannot remove", "HNSW32"]),
        ]
    } else {
        vec![(json!({"type": "faiss", "factory": "IVF16,Flat"}), &["faiss"])]
    };
    for (index, needles) in cases {
        s.err(Method::PUT, "/collections/x", Some(create_body(index)), StatusCode::BAD_REQUEST, needles)
            .await;
    }
    if cfg!(feature = "faiss") {
        let mut body = create_body(json!({"type": "faiss", "factory": "IVF16,Flat"}));
        body["quantization_config"] = json!({"scalar": {"type": "int8"}});
        s.err(Method::PUT, "/collections/x", Some(body), StatusCode::BAD_REQUEST, &["quantization_config"])
            .await;
    }
    assert!(!s.exists("x").await);
}
