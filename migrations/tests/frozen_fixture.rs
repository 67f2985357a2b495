//! The frozen data directory (`tests/fixtures/datadir`, written by the service at storage
//! format v1; see `tests/fixtures/README.md`) goes through the version check as a real data
//! directory would. Always on a copy: the committed fixture is never opened for writing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rocksdb::{IteratorMode, Options, DB};
use vicinity_migrations::{plan, MigrationError, CURRENT, STEPS};

/// The storage format the fixture was written in: a fact of the fixture, not of this build.
const FIXTURE_VERSION: u32 = 1;

fn fixture() -> PathBuf {
    fixture_named("datadir")
}

fn fixture_named(name: &str) -> PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    PathBuf::from(dir).join("../tests/fixtures").join(name)
}

fn copy_dir(from: &Path, to: &Path) {
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

/// A copy of the fixture in a temporary directory.
fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), tmp.path());
    tmp
}

/// The storage-format v2 data dir (`tests/fixtures/datadir-v2`), copied.
fn copy_v2() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_named("datadir-v2"), tmp.path());
    tmp
}

/// Opens a data dir as the service does: every family it has, and those a later format added.
fn open(dir: &Path) -> DB {
    let mut opts = Options::default();
    opts.create_missing_column_families(true);
    let mut families = DB::list_cf(&Options::default(), dir.join("db")).unwrap();
    if !families.iter().any(|f| f == "interactions") {
        families.push("interactions".into());
    }
    DB::open_cf(&opts, dir.join("db"), &families).unwrap()
}

fn schema_version(db: &DB) -> u32 {
    let bytes = db.get_cf(db.cf_handle("meta").unwrap(), b"schema_version").unwrap().expect("schema_version");
    u32::from_le_bytes(bytes.as_slice().try_into().expect("a u32"))
}

/// Every entry of every family, to compare a database before and after.
fn contents(db: &DB, families: &[String]) -> BTreeMap<(String, Vec<u8>), Vec<u8>> {
    let mut out = BTreeMap::new();
    for name in families {
        let cf = db.cf_handle(name).unwrap();
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item.unwrap();
            out.insert((name.clone(), k.to_vec()), v.to_vec());
        }
    }
    out
}

#[test]
fn the_fixture_holds_the_families_and_version_it_was_written_with() {
    let dir = copy();
    let mut families = DB::list_cf(&Options::default(), dir.path().join("db")).unwrap();
    families.sort();
    assert_eq!(
        families,
        ["changes", "collections", "default", "ids", "jobs", "meta", "points", "vectors"],
        "the fixture's column families"
    );
    assert_eq!(schema_version(&open(dir.path())), FIXTURE_VERSION);
}

#[test]
fn upgrading_the_fixture_rewrites_only_the_collection_configs() {
    let dir = copy();
    let families = {
        let mut f = DB::list_cf(&Options::default(), dir.path().join("db")).unwrap();
        f.sort();
        f
    };
    let db = open(dir.path());
    let before = contents(&db, &families);
    assert!(before.len() > 100, "the fixture is nearly empty: {} entries", before.len());
    let steps = plan(schema_version(&db)).expect("the fixture's version is accepted");
    assert_eq!(
        steps.iter().map(|s| s.from).collect::<Vec<_>>(),
        (FIXTURE_VERSION..CURRENT).collect::<Vec<_>>()
    );
    for step in steps {
        vicinity_migrations::apply(step, &db).unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"schema_version", (step.from + 1).to_le_bytes()).unwrap();
    }
    let after = contents(&db, &families);
    let changed: Vec<String> = before
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|(f, k)| format!("{f}/{}", String::from_utf8_lossy(k)))
        .collect();
    assert_eq!(
        changed,
        ["collections/docs", "collections/items", "meta/schema_version"],
        "the upgrade touched more than the configs"
    );
    // The fixture's two collections, as v2 describes them (facts of the fixture).
    let config = |name: &str| -> serde_json::Value {
        let bytes = db.get_cf(db.cf_handle("collections").unwrap(), name).unwrap().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let docs = config("docs");
    assert_eq!(docs["vectors"][""]["size"], 8);
    assert_eq!(docs["vectors"][""]["distance"], "Cosine");
    assert_eq!(docs["vectors"][""]["slot"], 0);
    assert!(docs.get("size").is_none() && docs.get("distance").is_none(), "{docs}");
    let items = config("items");
    assert_eq!(items["vectors"][""]["size"], 6);
    assert_eq!(items["vectors"][""]["hnsw"]["m"], 8);
    assert!(items["vectors"][""]["quantization"].is_object(), "{items}");
    assert_eq!(items["hnsw"]["m"], 8);
    // v3: the recommendation settings of their time.
    assert_eq!(docs["recommendation"]["max_history"], 500);
    assert_eq!(items["recommendation"]["event_types"]["dislike"], -2.0);
    assert_eq!(schema_version(&db), CURRENT);
}

#[test]
fn every_version_from_the_fixture_to_current_has_a_step() {
    let steps = plan(FIXTURE_VERSION).expect("a path from the fixture's version");
    let froms: Vec<u32> = steps.iter().map(|s| s.from).collect();
    assert_eq!(froms, (FIXTURE_VERSION..CURRENT).collect::<Vec<_>>());
    assert!(froms.iter().all(|f| STEPS.iter().any(|s| s.from == *f)));
}

#[test]
fn the_fixture_with_a_newer_version_is_refused() {
    let dir = copy();
    let newer = CURRENT + 1;
    {
        let db = open(dir.path());
        db.put_cf(db.cf_handle("meta").unwrap(), b"schema_version", newer.to_le_bytes()).unwrap();
    }
    let db = open(dir.path());
    let found = schema_version(&db);
    assert_eq!(found, newer);
    assert_eq!(plan(found).unwrap_err(), MigrationError::TooNew { found: newer, current: CURRENT });
}

#[test]
fn upgrading_the_v2_fixture_adds_the_recommendation_settings_and_nothing_else() {
    let dir = copy_v2();
    let mut families = DB::list_cf(&Options::default(), dir.path().join("db")).unwrap();
    families.sort();
    assert!(!families.iter().any(|f| f == "interactions"), "{families:?}");
    let db = open(dir.path());
    assert_eq!(schema_version(&db), 2);
    let before = contents(&db, &families);
    let steps = plan(2).unwrap();
    assert_eq!(steps.iter().map(|s| s.from).collect::<Vec<_>>(), (2..CURRENT).collect::<Vec<_>>());
    for step in steps {
        vicinity_migrations::apply(step, &db).unwrap();
    }
    let after = contents(&db, &families);
    let changed: Vec<String> = before
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|(f, k)| format!("{f}/{}", String::from_utf8_lossy(k)))
        .collect();
    assert_eq!(changed, ["collections/media", "collections/plain"]);
    let bytes = db.get_cf(db.cf_handle("collections").unwrap(), "media").unwrap().unwrap();
    let media: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(media["recommendation"]["half_life_days"], 30.0, "{media}");
    assert_eq!(media["vectors"]["text"]["hnsw"]["m"], 8, "the rest is as it was: {media}");
    assert!(db.cf_handle("interactions").is_some());
}
