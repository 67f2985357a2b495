//! What survives closing and re-opening the catalog on the same data directory: points and
//! payloads, searchability, payload indexes, deletes, dropped collections — whether the index
//! was saved, saved before later writes, never saved, or its file is damaged.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{assert_hits, dataset, ids, load, top_k, Metric, Pt, Rng, Server};

const DIM: usize = 8;

/// The index files under `<data_dir>/indexes/`.
fn index_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir.join("indexes")) {
        Ok(entries) => {
            let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
            files.sort();
            files
        }
        Err(_) => Vec::new(),
    }
}

fn save(s: &Server, name: &str) {
    assert!(s.catalog.get(name).expect("collection").save_index().expect("save_index"), "nothing to save");
}

/// The state a collection should be in: live points by id (vector, payload).
struct Expected {
    metric: Metric,
    live: HashMap<u64, Pt>,
    gone: HashSet<u64>,
}

impl Expected {
    fn new(metric: Metric) -> Self {
        Expected { metric, live: HashMap::new(), gone: HashSet::new() }
    }

    fn upsert(&mut self, points: &[Pt]) {
        for p in points {
            self.gone.remove(&p.id);
            self.live.insert(p.id, p.clone());
        }
    }

    fn delete(&mut self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            self.live.remove(&id);
            self.gone.insert(id);
        }
    }
}

/// Checks every point, its payload and vector, the deleted ones, and exact and approximate
/// search against brute force.
async fn verify(s: &Server, name: &str, want: &Expected) {
    assert_eq!(s.count(name).await as usize, want.live.len(), "{name}: count");
    let scrolled = s.scroll_all(name, 97, None).await;
    let mut want_ids: Vec<u64> = want.live.keys().copied().collect();
    want_ids.sort_unstable();
    assert_eq!(ids(&Value::Array(scrolled.clone())), want_ids, "{name}: scrolled ids");
    for p in &scrolled {
        let id = p["id"].as_u64().unwrap();
        assert_eq!(p["payload"], want.live[&id].payload, "{name}: payload of {id}");
    }
    let all_ids: Vec<u64> = want.live.keys().chain(&want.gone).copied().collect();
    let records =
        s.post(&format!("/collections/{name}/points"), json!({"ids": all_ids, "with_vector": true})).await;
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), want.live.len(), "{name}: retrieve returned deleted points");
    for r in records {
        let id = r["id"].as_u64().unwrap();
        let stored: Vec<f32> = serde_json::from_value(r["vector"].clone()).unwrap();
        let expected = want.metric.prepare(&want.live[&id].vector);
        assert!(stored.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-6), "{name}: vector of {id}");
    }
    for id in want.gone.iter().take(20) {
        assert!(s.point(name, &id.to_string()).await.is_none(), "{name}: deleted point {id} is back");
    }
    let mut rng = Rng::new(want.live.len() as u64);
    for _ in 0..4 {
        let query = rng.vector(DIM);
        let all: HashMap<u64, f32> =
            want.live.values().map(|p| (p.id, want.metric.reported(&query, &p.vector))).collect();
        let best = top_k(all.iter().map(|(i, s)| (*i, *s)).collect(), 10, want.metric.ascending());
        let r = s
            .post(
                &format!("/collections/{name}/points/query"),
                json!({"query": query, "limit": 10, "params": {"exact": true}}),
            )
            .await;
        assert_hits(&format!("{name} exact after reopen"), &r["points"], &best, &all);
        // The graph serves every live point and none of the deleted ones.
        let r =
            s.post(&format!("/collections/{name}/points/query"), json!({"query": query, "limit": 10})).await;
        let got = ids(&r["points"]);
        assert_eq!(got.len(), 10.min(want.live.len()));
        assert!(got.iter().all(|id| want.live.contains_key(id)), "{name}: graph returned a deleted point");
        let wanted: HashSet<u64> = best.iter().map(|(i, _)| *i).collect();
        assert!(got.iter().filter(|i| wanted.contains(i)).count() >= 8, "{name}: poor recall after reopen");
    }
    // Every live point finds itself through the graph (under Dot a longer neighbour may win).
    for p in want.live.values().filter(|_| want.metric != Metric::Dot).take(25) {
        let r = s
            .post(&format!("/collections/{name}/points/query"), json!({"query": p.vector, "limit": 1}))
            .await;
        assert_eq!(ids(&r["points"]), [p.id], "{name}: point {} does not find itself", p.id);
    }
}

/// Writes before and after a save, with deletes and payload changes on both sides.
async fn write_history(s: &Server, name: &str, metric: Metric, save_midway: bool) -> Expected {
    let points = dataset(400, DIM, 21);
    let mut want = Expected::new(metric);
    s.create(name, DIM, metric.name()).await;
    load(s, name, &points[..250]).await;
    want.upsert(&points[..250]);
    s.put(
        &format!("/collections/{name}/index?wait=true"),
        json!({"field_name": "group", "field_schema": "keyword"}),
    )
    .await;
    s.post(
        &format!("/collections/{name}/points/delete?wait=true"),
        json!({"points": [points[0].id, points[1].id]}),
    )
    .await;
    want.delete([points[0].id, points[1].id]);
    if save_midway {
        save(s, name);
    }
    // After the save: more points, a vector replaced, deletes of saved points, payload updates.
    load(s, name, &points[250..]).await;
    want.upsert(&points[250..]);
    let mut moved = points[10].clone();
    moved.vector = Rng::new(1234).vector(DIM);
    moved.payload = json!({"moved": true});
    s.upsert(name, json!([{"id": moved.id, "vector": moved.vector, "payload": moved.payload}])).await;
    want.upsert(std::slice::from_ref(&moved));
    let g4 = json!({"must": [{"key": "group", "match": {"value": "g4"}}]});
    let doomed: Vec<u64> = want.live.values().filter(|p| p.payload["group"] == "g4").map(|p| p.id).collect();
    assert!(doomed.len() > 30);
    s.post(&format!("/collections/{name}/points/delete?wait=true"), json!({ "filter": g4 })).await;
    want.delete(doomed);
    s.post(
        &format!("/collections/{name}/points/payload?wait=true"),
        json!({"payload": {"extra": 1}, "points": [points[20].id, points[300].id]}),
    )
    .await;
    for id in [points[20].id, points[300].id] {
        want.live.get_mut(&id).unwrap().payload["extra"] = json!(1);
    }
    s.put(
        &format!("/collections/{name}/points/payload?wait=true"),
        json!({"payload": {"replaced": true}, "points": [points[21].id]}),
    )
    .await;
    want.live.get_mut(&points[21].id).unwrap().payload = json!({"replaced": true});
    // A point deleted and then re-inserted.
    s.post(&format!("/collections/{name}/points/delete"), json!({"points": [points[30].id]})).await;
    s.upsert(name, json!([{"id": points[30].id, "vector": points[30].vector, "payload": {"again": true}}]))
        .await;
    let mut again = points[30].clone();
    again.payload = json!({"again": true});
    want.upsert(&[again]);
    verify(s, name, &want).await;
    want
}

async fn check_payload_index(s: &Server, name: &str, want: &Expected) {
    let info = s.get(&format!("/collections/{name}")).await;
    let with_group = want.live.values().filter(|p| p.payload.get("group").is_some()).count();
    assert_eq!(
        info["payload_schema"]["group"],
        json!({"data_type": "keyword", "points": with_group}),
        "{name}"
    );
    for g in ["g1", "g4", "g7"] {
        let n = want.live.values().filter(|p| p.payload["group"] == g).count();
        let f = json!({"must": [{"key": "group", "match": {"value": g}}]});
        assert_eq!(s.count_filtered(name, f.clone()).await as usize, n, "{name}: count {g}");
        let r = s
            .post(
                &format!("/collections/{name}/points/query"),
                json!({"query": vec![0.5f32; DIM], "limit": 5, "filter": f}),
            )
            .await;
        assert_eq!(ids(&r["points"]).len(), n.min(5));
    }
}

#[tokio::test]
async fn points_survive_a_restart_after_save_and_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let want = {
        let s = Server::open(dir.path());
        let want = write_history(&s, "c", Metric::Cosine, true).await;
        assert_eq!(index_files(dir.path()).len(), 1, "the saved index file");
        want
    };
    let s = Server::open(dir.path());
    verify(&s, "c", &want).await;
    check_payload_index(&s, "c", &want).await;
    // A second round: write, save, write, reopen again.
    let extra = dataset(30, DIM, 77).into_iter().map(|mut p| {
        p.id += 10_000;
        p
    });
    let extra: Vec<Pt> = extra.collect();
    let mut want = want;
    load(&s, "c", &extra[..15]).await;
    want.upsert(&extra[..15]);
    save(&s, "c");
    load(&s, "c", &extra[15..]).await;
    want.upsert(&extra[15..]);
    drop(s);
    let s = Server::open(dir.path());
    verify(&s, "c", &want).await;
    check_payload_index(&s, "c", &want).await;
}

#[tokio::test]
async fn points_survive_a_restart_without_any_save() {
    let dir = tempfile::tempdir().unwrap();
    let want = {
        let s = Server::open(dir.path());
        let want = write_history(&s, "e", Metric::Euclid, false).await;
        assert!(index_files(dir.path()).is_empty(), "no index was saved");
        want
    };
    let s = Server::open(dir.path());
    verify(&s, "e", &want).await;
    check_payload_index(&s, "e", &want).await;
}

#[tokio::test]
async fn several_collections_restart_together() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = {
        let s = Server::open(dir.path());
        let a = write_history(&s, "a", Metric::Dot, true).await;
        let b = write_history(&s, "b", Metric::Cosine, false).await;
        (a, b)
    };
    let s = Server::open(dir.path());
    assert_eq!(s.get("/collections").await["collections"], json!([{"name": "a"}, {"name": "b"}]));
    verify(&s, "a", &a).await;
    verify(&s, "b", &b).await;
}

#[tokio::test]
async fn a_recreated_collection_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dataset(50, DIM, 5).into_iter().map(|mut p| {
        p.id += 5_000;
        p
    });
    let fresh: Vec<Pt> = fresh.collect();
    {
        let s = Server::open(dir.path());
        write_history(&s, "c", Metric::Cosine, true).await;
        let old_index = index_files(dir.path());
        assert_eq!(old_index.len(), 1);
        assert_eq!(s.ok(axum::http::Method::DELETE, "/collections/c", None).await, json!(true));
        assert!(!old_index[0].exists(), "the dropped collection's index file is still there");
        // Same name, another metric: nothing of the old one shows.
        s.create_with("c", json!({"vectors": {"size": DIM, "distance": "Dot"}})).await;
        assert_eq!(s.count("c").await, 0);
        assert_eq!(s.scroll_all("c", 10, None).await, Vec::<Value>::new());
        assert!(s.get("/collections/c").await["payload_schema"].as_object().unwrap().is_empty());
        s.err(
            axum::http::Method::GET,
            "/collections/c/points/1",
            None,
            axum::http::StatusCode::NOT_FOUND,
            &["No point with id 1 found"],
        )
        .await;
    }
    // Still empty after a restart; then only the new points.
    let s = Server::open(dir.path());
    assert_eq!(s.count("c").await, 0);
    let r = s.post("/collections/c/points/query", json!({"query": vec![1.0f32; DIM], "limit": 10})).await;
    assert_eq!(r["points"], json!([]));
    load(&s, "c", &fresh).await;
    save(&s, "c");
    drop(s);
    let s = Server::open(dir.path());
    let mut want = Expected::new(Metric::Dot);
    want.upsert(&fresh);
    verify(&s, "c", &want).await;
    assert_eq!(s.get("/collections/c").await["config"]["params"]["vectors"]["distance"], "Dot");
    // A dropped collection stays dropped.
    assert_eq!(s.ok(axum::http::Method::DELETE, "/collections/c", None).await, json!(true));
    drop(s);
    let s = Server::open(dir.path());
    assert!(!s.exists("c").await);
    assert!(s.catalog.names().is_empty());
}

/// Damaged index files are rebuilt from RocksDB.
#[tokio::test]
async fn a_damaged_index_file_is_rebuilt() {
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 5] = [
        ("garbage", |p| std::fs::write(p, b"this is not an index").unwrap()),
        ("empty", |p| std::fs::write(p, b"").unwrap()),
        ("truncated", |p| {
            let bytes = std::fs::read(p).unwrap();
            std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("flipped bytes", |p| {
            let mut bytes = std::fs::read(p).unwrap();
            let n = bytes.len();
            for i in (n / 3..n).step_by(97) {
                bytes[i] ^= 0x5a;
            }
            std::fs::write(p, bytes).unwrap();
        }),
        ("missing", |p| std::fs::remove_file(p).unwrap()),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let want = {
            let s = Server::open(dir.path());
            let want = write_history(&s, "c", Metric::Cosine, true).await;
            // Save again so that the file covers every write.
            save(&s, "c");
            want
        };
        let files = index_files(dir.path());
        assert_eq!(files.len(), 1, "{what}");
        damage(&files[0]);
        let s = Server::open(dir.path());
        verify(&s, "c", &want).await;
        check_payload_index(&s, "c", &want).await;
        // And it keeps working: write, save, reopen.
        s.upsert("c", json!([{"id": 777_777, "vector": vec![0.25f32; DIM]}])).await;
        save(&s, "c");
        drop(s);
        let s = Server::open(dir.path());
        assert!(s.point("c", "777777").await.is_some(), "{what}");
        assert_eq!(s.count("c").await as usize, want.live.len() + 1, "{what}");
    }
}

/// An index file that belongs to another collection (other dimension) is not used.
#[tokio::test]
async fn an_index_file_of_another_shape_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let want = {
        let s = Server::open(dir.path());
        let want = write_history(&s, "c", Metric::Cosine, true).await;
        save(&s, "c");
        s.create("other", 3, "Dot").await;
        s.upsert("other", json!([{"id": 1, "vector": [1, 2, 3]}, {"id": 2, "vector": [3, 2, 1]}])).await;
        save(&s, "other");
        want
    };
    let files = index_files(dir.path());
    assert_eq!(files.len(), 2);
    // Swap the two files.
    let tmp = dir.path().join("swap");
    std::fs::rename(&files[0], &tmp).unwrap();
    std::fs::rename(&files[1], &files[0]).unwrap();
    std::fs::rename(&tmp, &files[1]).unwrap();
    let s = Server::open(dir.path());
    verify(&s, "c", &want).await;
    let r = s
        .post(
            "/collections/other/points/query",
            json!({"query": [1, 2, 3], "limit": 5, "params": {"exact": true}}),
        )
        .await;
    assert_eq!(ids(&r["points"]), [1, 2]);
}

/// A data directory written by a newer vicinity (a higher storage-format version) is refused
/// with both versions named, and left untouched.
#[test]
fn newer_storage_format_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(vicinity::catalog::Catalog::open(dir.path()).expect("fresh open"));
    let newer = vicinity_migrations::CURRENT + 1;
    {
        let mut opts = rocksdb::Options::default();
        opts.create_missing_column_families(true);
        let cfs = rocksdb::DB::list_cf(&opts, dir.path().join("db")).unwrap();
        let db = rocksdb::DB::open_cf(&opts, dir.path().join("db"), &cfs).unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"schema_version", newer.to_le_bytes()).unwrap();
    }
    let err = match vicinity::catalog::Catalog::open(dir.path()) {
        Ok(_) => panic!("a newer storage format was opened"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("v{newer}")) && err.contains(&format!("v{}", vicinity_migrations::CURRENT)),
        "{err}"
    );
    assert!(err.contains("newer"), "{err}");
}
