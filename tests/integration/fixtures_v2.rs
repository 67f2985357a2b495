//! The frozen data directory `tests/fixtures/datadir-v2` (see `tests/fixtures/README.md`):
//! written once by the service at storage format v2 (named vectors) and never regenerated.
//! Every number below was printed once by the program that wrote it
//! (`tests/fixtures/makers/make_datadir_v2.rs`). Tests open a copy.
//!
//! - `media` (collection id 1): "image" (6 dims, Dot) and "text" (4 dims, Cosine, `m` 8);
//!   points 1..=24, point `i` with both vectors when `i % 3 == 0`, only "image" when 1, only
//!   "text" when 2; payload `i` and `kind`, keyword index on `kind`; indexes saved at write 1,
//!   then (replayed at open) point 25 with both, "text" added to point 4, "image" removed from
//!   point 6, point 9 deleted.
//! - `plain` (collection id 2): the unnamed vector, 3 dims, Euclid, points 1..=10; never saved.

use serde_json::{json, Value};

use crate::common::{ids, repo_file, Server};
use crate::fixtures::copy_dir;

fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo_file("tests/fixtures/datadir-v2"), tmp.path());
    tmp
}

/// The maker's vectors (`v(seed, dim)`), for queries.
fn v(seed: u64, dim: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 58) as f32 - 32.0) / 32.0 + 1.0 / 64.0
        })
        .collect()
}

fn names(point: &Value) -> Vec<String> {
    point["vector"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[tokio::test]
async fn the_v2_data_dir_opens_each_vector_from_its_index_file_and_replays() {
    let dir = copy();
    assert!(dir.path().join("indexes/1.hnsw").is_file() && dir.path().join("indexes/1.1.hnsw").is_file());
    let s = Server::open(dir.path());
    let media = s.catalog.get("media").unwrap();
    // Loaded from the files and replayed, not rebuilt: the replayed removals left tombstones
    // (image: points 6 and 9; text: point 9).
    let (live, per_vector) = media.stats();
    assert_eq!((live, per_vector["image"].0, per_vector["text"].0), (24, 2, 1));
    assert!(media.is_dirty() && media.version() == 5);
    let info = s.get("/collections/media").await;
    let vectors = &info["config"]["params"]["vectors"];
    assert_eq!(vectors["image"], json!({"size": 6, "distance": "Dot"}), "{info}");
    assert_eq!(
        (vectors["text"]["size"].clone(), vectors["text"]["hnsw_config"]["m"].clone()),
        (json!(4), json!(8))
    );
    assert_eq!(info["payload_schema"]["kind"]["points"], 23);
    // Each point with the vectors it was left with.
    let r = s
        .post("/collections/media/points", json!({"ids": [1, 2, 3, 4, 6, 9, 25], "with_vector": true}))
        .await;
    let got: Vec<(u64, Vec<String>)> =
        r.as_array().unwrap().iter().map(|p| (p["id"].as_u64().unwrap(), names(p))).collect();
    let both = || vec!["image".to_string(), "text".to_string()];
    assert_eq!(
        got,
        [
            (1, vec!["image".into()]),
            (2, vec!["text".into()]),
            (3, both()),
            (4, both()),
            (6, vec!["text".into()]),
            (25, both())
        ]
    );
    assert_eq!(
        r[0]["vector"]["image"],
        json!([0.734375, -0.203125, -0.046875, -0.609375, -0.640625, 0.171875])
    );
    // Searches on each vector, approximate and exact, as the writer answered them.
    for (using, query, want) in
        [("image", v(7, 6), [24, 7, 13, 3, 16]), ("text", v(8, 4), [11, 15, 5, 18, 23])]
    {
        for exact in [false, true] {
            let body = json!({"query": query, "using": using, "limit": 5, "params": {"exact": exact}});
            let r = s.post("/collections/media/points/query", body).await;
            assert_eq!(ids(&r["points"]), want, "{using}, exact {exact}");
        }
    }
    let r = s
        .post("/collections/media/points/query", json!({"query": v(7, 6), "using": "image", "limit": 1}))
        .await;
    assert!((r["points"][0]["score"].as_f64().unwrap() - 2.1430664).abs() < 1e-5, "{r}");
    // The unnamed vector, written at v2 in slot 0's key layout, rebuilt from storage.
    let r = s
        .post("/collections/plain/points/query", json!({"query": v(305, 3), "limit": 3, "with_vector": true}))
        .await;
    assert_eq!(ids(&r["points"]), [5, 3, 7]);
    assert_eq!(r["points"][0]["vector"], json!([0.546875, -0.234375, -0.453125]));
    assert_eq!(s.count("plain").await, 10);
}
