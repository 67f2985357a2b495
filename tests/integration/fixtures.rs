//! The frozen data directory `tests/fixtures/datadir` (see `tests/fixtures/README.md`): written
//! once by the service at storage format v1 / index format 2 and never regenerated. Today's code
//! must open it and answer as the service that wrote it did: every number below was printed once
//! by the program that wrote it. Tests open a copy; the committed fixture is never touched.
//!
//! - `docs` (collection id 1): Cosine, 8 dims, ids 1..=30 (payload `tag` red / green / blue by
//!   `id % 3`, `n` = id, `title`) and six UUIDs `7b0c3f5e-…-0000000000{01..06}` (`tag` "uuid",
//!   `n` 101..=106, a nested object); keyword index on `tag`, integer index on `n`; point 4
//!   deleted; index saved at write 2; then points 31, 32 and UUID `…99` added, point 7's vector
//!   replaced, point 9 deleted, `extra` set on point 10 (writes 3..=5, replayed at open).
//! - `items` (collection id 2): Euclid, 6 dims, int8 codes, ids 1000..=40000 by 1000
//!   (`price`, `in_stock`), bool index on `in_stock`, 13000 and 27000 deleted; saved after its
//!   last write.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{ids, repo_file, Server};

const UUID3: &str = "7b0c3f5e-0000-4000-8000-000000000003";
const UUID4: &str = "7b0c3f5e-0000-4000-8000-000000000004";
const UUID99: &str = "7b0c3f5e-0000-4000-8000-000000000099";

/// Point 12 of `docs` as it was given (it is stored normalised).
const DOCS_12: [f32; 8] = [-0.078125, 0.796875, 0.140625, 0.046875, 0.078125, 0.140625, 0.890625, 0.421875];
/// Point 5000 of `items`.
const ITEMS_5000: [f32; 6] = [-0.921875, -0.828125, 0.734375, 0.234375, 0.359375, 0.265625];

fn fixture() -> PathBuf {
    repo_file("tests/fixtures/datadir")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file of the committed fixture with its bytes, to prove the tests left it alone.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A copy of the fixture in a temporary directory.
fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), tmp.path());
    tmp
}

/// The (id, score) pairs of a hit list; ids as JSON (numbers or UUID strings).
fn hits(list: &Value) -> Vec<(Value, f32)> {
    list.as_array()
        .expect("hits")
        .iter()
        .map(|h| (h["id"].clone(), h["score"].as_f64().unwrap() as f32))
        .collect()
}

fn assert_hits(what: &str, got: &Value, want: &[(Value, f32)]) {
    let got = hits(got);
    let got_ids: Vec<&Value> = got.iter().map(|(i, _)| i).collect();
    let want_ids: Vec<&Value> = want.iter().map(|(i, _)| i).collect();
    assert_eq!(got_ids, want_ids, "{what}: ids");
    for ((id, s), (_, w)) in got.iter().zip(want) {
        assert!((s - w).abs() <= 1e-5, "{what}: {id} scored {s}, the fixture's answer {w}");
    }
}

fn assert_vector(what: &str, got: &Value, want: &[f32]) {
    let got: Vec<f32> = serde_json::from_value(got.clone()).unwrap_or_else(|e| panic!("{what}: {e}: {got}"));
    assert_eq!(got.len(), want.len(), "{what}");
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() <= 1e-6, "{what}: {got:?}, the fixture holds {want:?}");
    }
}

/// The write sequences in `meta` before anything opens the copy: `docs` saved at 2 of 5.
#[test]
fn the_fixture_needs_a_replay() {
    let dir = copy();
    let opts = rocksdb::Options::default();
    let families = rocksdb::DB::list_cf(&opts, dir.path().join("db")).unwrap();
    let db = rocksdb::DB::open_cf_for_read_only(&opts, dir.path().join("db"), &families, false).unwrap();
    let meta = db.cf_handle("meta").unwrap();
    let u64_at = |key: &[u8]| u64::from_le_bytes(db.get_cf(meta, key).unwrap().unwrap().try_into().unwrap());
    let key = |kind: &[u8], cid: u32| [kind, &cid.to_be_bytes()[..]].concat();
    assert_eq!((u64_at(&key(b"seq/", 1)), u64_at(&key(b"saved/", 1))), (5, 2), "docs");
    assert_eq!((u64_at(&key(b"seq/", 2)), u64_at(&key(b"saved/", 2))), (2, 2), "items");
    let changes = db.cf_handle("changes").unwrap();
    let pending: Vec<Vec<u8>> =
        db.iterator_cf(changes, rocksdb::IteratorMode::Start).map(|e| e.unwrap().0.to_vec()).collect();
    // docs' writes 3 (points 31, 32, UUID …99 and 7) and 4 (delete 9); write 5 changed no vector.
    assert_eq!(pending, [[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4]]);
    assert!(dir.path().join("indexes/1.hnsw").is_file() && dir.path().join("indexes/2.hnsw").is_file());
}

#[tokio::test]
async fn the_frozen_data_dir_opens_with_its_points_payloads_and_indexes() {
    let before = snapshot(&fixture());
    let dir = copy();
    let s = Server::open(dir.path());
    assert_eq!(s.get("/collections").await["collections"], json!([{"name": "docs"}, {"name": "items"}]));

    // docs: counts, the ids in scroll order (numbers first, then UUIDs), points and payloads.
    assert_eq!(s.count("docs").await, 37);
    let all = s.scroll_all("docs", 10, None).await;
    let mut want: Vec<Value> = (1..=32).filter(|i| *i != 4 && *i != 9).map(|i| json!(i)).collect();
    want.extend((1..=6).map(|k| json!(format!("7b0c3f5e-0000-4000-8000-0000000000{k:02}"))));
    want.push(json!(UUID99));
    assert_eq!(all.iter().map(|p| p["id"].clone()).collect::<Vec<_>>(), want);
    assert!(s.point("docs", "4").await.is_none() && s.point("docs", "9").await.is_none());
    let p7 = s.point("docs", "7").await.expect("point 7");
    assert_eq!(p7["payload"], json!({"n": 7, "tag": "blue", "title": "doc 7, moved"}));
    assert_vector(
        "docs 7 (replaced after the save)",
        &p7["vector"],
        &[-0.05298799, 0.18015917, -0.41330633, -0.28613514, -0.4768919, -0.49808708, 0.4768919, 0.09537838],
    );
    assert_eq!(
        s.point("docs", "10").await.unwrap()["payload"],
        json!({"extra": true, "n": 10, "tag": "green", "title": "doc 10"})
    );
    let p12 = s.point("docs", "12").await.unwrap();
    assert_eq!(p12["payload"], json!({"n": 12, "tag": "red", "title": "doc 12"}));
    assert_vector(
        "docs 12",
        &p12["vector"],
        &[-0.060633905, 0.61846584, 0.10914103, 0.036380343, 0.060633905, 0.10914103, 0.69122654, 0.3274231],
    );
    let u3 = s.point("docs", UUID3).await.expect("a UUID point");
    assert_eq!(u3["payload"], json!({"n": 103, "nested": {"k": 3, "list": [3, 6]}, "tag": "uuid"}));
    assert_vector(
        "docs UUID 3",
        &u3["vector"],
        &[-0.015103052, -0.2567519, -0.43798852, 0.3171641, -0.3473702, 0.286958, -0.46819463, 0.46819463],
    );
    assert_eq!(s.point("docs", UUID99).await.unwrap()["payload"], json!({"n": 199, "tag": "uuid"}));

    // items: int8 codes, integer ids.
    assert_eq!(s.count("items").await, 38);
    assert!(s.point("items", "13000").await.is_none() && s.point("items", "27000").await.is_none());
    let p = s.point("items", "5000").await.unwrap();
    assert_eq!(p["payload"], json!({"in_stock": true, "price": 6.25}));
    assert_vector("items 5000", &p["vector"], &ITEMS_5000);

    // The configs and payload indexes as stored.
    let info = s.get("/collections/docs").await;
    assert_eq!(info["config"]["params"]["vectors"], json!({"distance": "Cosine", "size": 8}));
    assert_eq!(
        info["payload_schema"],
        json!({"n": {"data_type": "integer", "points": 37},
               "tag": {"data_type": "keyword", "points": 37}})
    );
    let info = s.get("/collections/items").await;
    assert_eq!(info["config"]["params"]["vectors"], json!({"distance": "Euclid", "size": 6}));
    assert_eq!(info["config"]["hnsw_config"]["m"], 8);
    assert_eq!(info["config"]["quantization_config"]["scalar"]["type"], "int8");
    assert_eq!(info["payload_schema"], json!({"in_stock": {"data_type": "bool", "points": 38}}));
    drop(s);
    assert!(snapshot(&fixture()) == before, "a test changed the committed fixture");
}

#[tokio::test]
async fn the_frozen_data_dir_answers_searches_as_it_did() {
    let dir = copy();
    let s = Server::open(dir.path());
    // By a stored point's own vector: the graph and the exact scan agree with the fixture.
    let docs_12 = [
        (json!(12), 1.0),
        (json!(UUID4), 0.7276802),
        (json!(32), 0.6246698),
        (json!(26), 0.57662076),
        (json!(14), 0.54644597),
    ];
    for exact in [false, true] {
        let r = s
            .post(
                "/collections/docs/points/query",
                json!({"query": DOCS_12, "limit": 5, "params": {"exact": exact}}),
            )
            .await;
        assert_hits(&format!("docs by 12's vector, exact {exact}"), &r["points"], &docs_12);
        let r = s
            .post(
                "/collections/items/points/query",
                json!({"query": ITEMS_5000, "limit": 5, "params": {"exact": exact}}),
            )
            .await;
        let want = [
            (json!(5000), 0.0),
            (json!(29000), 0.63584346),
            (json!(8000), 1.1013131),
            (json!(7000), 1.1528667),
            (json!(9000), 1.372512),
        ];
        assert_hits(&format!("items by 5000's vector, exact {exact}"), &r["points"], &want);
    }
    // By a UUID point's id (its stored vector; the point itself is left out).
    let r = s.post("/collections/docs/points/query", json!({"query": UUID3, "limit": 3})).await;
    assert_hits(
        "docs by UUID 3",
        &r["points"],
        &[(json!(21), 0.6058529), (json!(18), 0.5097394), (json!(29), 0.47004348)],
    );

    // The payload indexes in filtered counts and searches.
    let red = json!({"must": [{"key": "tag", "match": {"value": "red"}}]});
    assert_eq!(s.count_filtered("docs", red.clone()).await, 10);
    let r =
        s.post("/collections/docs/points/query", json!({"query": DOCS_12, "limit": 5, "filter": red})).await;
    assert_eq!(ids(&r["points"]), [12, 15, 3, 24, 21]);
    let uuids =
        json!({"must": [{"key": "tag", "match": {"value": "uuid"}}, {"key": "n", "range": {"gte": 103}}]});
    assert_eq!(s.count_filtered("docs", uuids.clone()).await, 5);
    let r = s
        .post("/collections/docs/points/query", json!({"query": DOCS_12, "limit": 10, "filter": uuids}))
        .await;
    let want = [
        UUID4,
        "7b0c3f5e-0000-4000-8000-000000000006",
        "7b0c3f5e-0000-4000-8000-000000000005",
        UUID99,
        UUID3,
    ];
    assert_eq!(hits(&r["points"]).into_iter().map(|(i, _)| i).collect::<Vec<_>>(), want.map(|u| json!(u)));
    let out = json!({"must": [{"key": "in_stock", "match": {"value": false}}]});
    assert_eq!(s.count_filtered("items", out.clone()).await, 10);
    let r = s
        .post("/collections/items/points/query", json!({"query": ITEMS_5000, "limit": 3, "filter": out}))
        .await;
    assert_eq!(ids(&r["points"]), [8000, 40000, 28000]);
}

/// `docs` was opened from its index file plus a replay of writes 3..=5, not rebuilt: the index
/// holds the file's tombstone (point 4) and the replay's two (7's old vector, point 9); a
/// rebuild from storage would hold none. The points written after the save are in the graph.
#[tokio::test]
async fn the_frozen_data_dir_is_opened_from_its_index_files_and_replayed() {
    let dir = copy();
    let s = Server::open(dir.path());
    let docs = s.catalog.get("docs").unwrap();
    let (live, per_vector) = docs.stats();
    let tombstones = per_vector[""].0;
    assert_eq!((live, tombstones), (37, 3), "docs: loaded and replayed");
    assert!(docs.is_dirty() && docs.version() == 5, "docs: the replayed writes are not saved yet");
    let items = s.catalog.get("items").unwrap();
    let (live, per_vector) = items.stats();
    let tombstones = per_vector[""].0;
    assert_eq!((live, tombstones), (38, 2), "items: loaded");
    assert!(!items.is_dirty() && items.version() == 2);
    // Replayed points found through the graph by their own vectors.
    for (id, vector) in [
        (json!(31), s.point("docs", "31").await.unwrap()["vector"].clone()),
        (json!(7), s.point("docs", "7").await.unwrap()["vector"].clone()),
        (json!(UUID99), s.point("docs", UUID99).await.unwrap()["vector"].clone()),
    ] {
        let r = s.post("/collections/docs/points/query", json!({"query": vector, "limit": 1})).await;
        assert_eq!(r["points"][0]["id"], id, "a replayed point does not find itself");
    }
    // 7's vector before the save (as the fixture's writer gave it) is no longer in the index:
    // nothing scores 1 against it.
    let old_7 = [0.921875, 0.859375, -0.015625, 0.140625, -0.296875, -0.578125, -0.828125, 0.328125];
    let r = s.post("/collections/docs/points/query", json!({"query": old_7, "limit": 3})).await;
    let top = hits(&r["points"]);
    assert!(top[0].1 < 0.99, "7's replaced vector is still in the index: {top:?}");

    // It keeps working: a write, a save, a reopen.
    s.upsert("docs", json!([{"id": 33, "vector": DOCS_12, "payload": {"tag": "red"}}])).await;
    assert!(docs.save_index().unwrap());
    drop((docs, items, s));
    let s = Server::open(dir.path());
    assert_eq!(s.count("docs").await, 38);
    let red = json!({"must": [{"key": "tag", "match": {"value": "red"}}]});
    assert_eq!(s.count_filtered("docs", red).await, 11);
    assert!(!s.catalog.get("docs").unwrap().is_dirty());
}

/// The fixture with its storage version raised above this build's is refused, naming both.
#[test]
fn the_frozen_data_dir_with_a_newer_storage_version_is_refused() {
    let dir = copy();
    let newer = vicinity_migrations::CURRENT + 1;
    {
        let opts = rocksdb::Options::default();
        let families = rocksdb::DB::list_cf(&opts, dir.path().join("db")).unwrap();
        let db = rocksdb::DB::open_cf(&opts, dir.path().join("db"), &families).unwrap();
        assert_eq!(
            db.get_cf(db.cf_handle("meta").unwrap(), b"schema_version").unwrap().unwrap(),
            1u32.to_le_bytes()
        );
        db.put_cf(db.cf_handle("meta").unwrap(), b"schema_version", newer.to_le_bytes()).unwrap();
    }
    let err = match vicinity::catalog::Catalog::open(dir.path()) {
        Ok(_) => panic!("a newer storage format was opened"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&format!("v{newer}")) && err.contains("newer"), "{err}");
}
