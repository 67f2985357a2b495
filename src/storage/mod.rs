//! RocksDB, the source of truth. Every index is derived from what is stored here. The only
//! module that knows RocksDB: the rest of the service reads and writes through typed
//! operations ([`Storage`]'s reads, a [`Batch`]'s writes, a [`View`]'s consistent reads).
//!
//! Column families and keys (`cid` = a collection's numeric id, big-endian u32, never reused):
//! - `meta`: `schema_version` → u32; `next_collection_id` → u32; per collection
//!   `seq/{cid}` (last write sequence), `next/{cid}` (next internal point id) and
//!   `saved/{cid}` (the write sequence the persisted index covers) → u64.
//! - `collections`: name → the collection's config as JSON.
//! - `ids`: `cid · external id key` → internal id (u64). External keys sort numbers before
//!   UUIDs and numbers numerically, so iterating this family is scrolling in id order.
//! - `points`: `cid · internal id` → external id key, version, payload JSON.
//! - `vectors`: `cid · internal id` (the vector in slot 0) or `cid · internal id · slot` (u32,
//!   the others) → the prepared vector (f32 little-endian). Each of a collection's vectors
//!   (Qdrant's named vectors) has its slot, never reused, in the collection's config.
//! - `changes`: `cid · seq` → the internal ids whose vector changed in that write. A restart
//!   replays the entries after the persisted index's sequence; saving an index prunes them
//!   (up to the write a running rebuild started from).
//! - `jobs`: job id (big-endian u64) → the job's record as JSON (see `src/jobs`).
//! - `interactions`: users' events and items' popularity (`interactions.rs`).
//!
//! Every write of the service is one [`Batch`]; `sync` commits fsync the WAL before returning.

mod batch;
pub mod codec;
mod interactions;
mod keys;

use std::collections::HashSet;
use std::path::Path;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteOptions, DB};
use serde::de::DeserializeOwned;

pub use batch::Batch;
pub use codec::{StoredPoint, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH};
pub use interactions::StoredEvent;
use keys::Counter;

use crate::error::{Error, Result};
use crate::id::ExtId;

const CF_META: &str = "meta";
const CF_COLLECTIONS: &str = "collections";
const CF_IDS: &str = "ids";
const CF_POINTS: &str = "points";
const CF_VECTORS: &str = "vectors";
const CF_CHANGES: &str = "changes";
const CF_JOBS: &str = "jobs";
const CF_INTERACTIONS: &str = "interactions";
const FAMILIES: [&str; 8] =
    [CF_META, CF_COLLECTIONS, CF_IDS, CF_POINTS, CF_VECTORS, CF_CHANGES, CF_JOBS, CF_INTERACTIONS];

const SCHEMA_VERSION: &[u8] = b"schema_version";
const NEXT_COLLECTION_ID: &[u8] = b"next_collection_id";
/// The alias map (alias → collection name), one record: every change rewrites it whole.
pub(crate) const ALIASES: &[u8] = b"aliases";

/// The families that hold a collection's records, each keyed `cid · …`: what a snapshot
/// carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Ids,
    Points,
    Vectors,
    Changes,
    Interactions,
}

impl Family {
    pub const ALL: [Family; 5] =
        [Family::Ids, Family::Points, Family::Vectors, Family::Changes, Family::Interactions];

    fn cf(self) -> &'static str {
        match self {
            Family::Ids => CF_IDS,
            Family::Points => CF_POINTS,
            Family::Vectors => CF_VECTORS,
            Family::Changes => CF_CHANGES,
            Family::Interactions => CF_INTERACTIONS,
        }
    }
}

/// A collection's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// The last write sequence.
    pub seq: u64,
    /// The next internal point id.
    pub next: u64,
    /// The write the persisted index covers (`None`: no index was saved).
    pub saved: Option<u64>,
}

/// A key and its value, as RocksDB's iterators yield them.
type Entry = (Box<[u8]>, Box<[u8]>);

fn db_error(e: rocksdb::Error) -> Error {
    Error::Storage(e.into_string())
}

pub struct Storage {
    db: DB,
}

impl Storage {
    /// Opens (or creates) the database under `dir`, checking and upgrading its format version.
    pub fn open(dir: &Path) -> Result<Storage> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Storage(format!("cannot create data dir {}: {e}", dir.display())))?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let families = FAMILIES.iter().map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir.join("db"), families).map_err(db_error)?;
        let storage = Storage { db };
        storage.check_schema()?;
        Ok(storage)
    }

    fn check_schema(&self) -> Result<()> {
        let found = match self.get(CF_META, SCHEMA_VERSION)? {
            Some(bytes) => codec::decode_u32("schema_version", &bytes)?,
            None => {
                let empty =
                    self.db.iterator_cf(self.cf(CF_COLLECTIONS), IteratorMode::Start).next().is_none();
                if !empty {
                    return Err(Error::Storage("database has collections but no schema_version".into()));
                }
                self.put_meta_u32(SCHEMA_VERSION, vicinity_migrations::CURRENT)?;
                return Ok(());
            }
        };
        let steps = vicinity_migrations::plan(found).map_err(|e| Error::Storage(e.to_string()))?;
        for step in steps {
            tracing::info!("upgrading storage format v{} → v{}: {}", step.from, step.from + 1, step.describe);
            vicinity_migrations::apply(step, &self.db).map_err(|e| Error::Storage(e.to_string()))?;
            self.put_meta_u32(SCHEMA_VERSION, step.from + 1)?;
        }
        Ok(())
    }

    fn put_meta_u32(&self, key: &[u8], value: u32) -> Result<()> {
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.put_cf_opt(self.cf(CF_META), key, value.to_le_bytes(), &opts).map_err(db_error)
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        // The families are created at open; a missing one is a bug, not an input error.
        self.db.cf_handle(name).unwrap_or_else(|| panic!("column family {name} exists after open"))
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get_cf(self.cf(cf), key).map_err(db_error)
    }

    /// Every entry of `cf` whose key starts with `prefix`, from `start` (a full key) on.
    fn scan<'a>(
        &'a self,
        cf: &str,
        prefix: &'a [u8],
        start: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<Entry>> + 'a {
        let from = start.unwrap_or(prefix);
        within(prefix, self.db.iterator_cf(self.cf(cf), IteratorMode::From(from, Direction::Forward)))
    }

    /// A new, empty batch of writes; nothing is stored until it is [`Storage::commit`]ted.
    pub fn batch(&self) -> Batch<'_> {
        Batch::new(self)
    }

    /// Commits a batch atomically; `sync` waits for the WAL to reach the disk.
    pub fn commit(&self, batch: Batch<'_>, sync: bool) -> Result<()> {
        let mut opts = WriteOptions::default();
        opts.set_sync(sync);
        self.db.write_opt(batch.into_inner(), &opts).map_err(db_error)
    }

    /// Makes every write committed so far durable (one fsync of the log covers them all).
    pub fn sync(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(db_error)
    }

    /// A consistent point-in-time view, for reads that must not see later writes (snapshots).
    pub fn view(&self) -> View<'_> {
        View { storage: self, snap: self.db.snapshot() }
    }

    /// Every stored collection: its name and config.
    pub fn collections<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>> {
        self.scan(CF_COLLECTIONS, b"", None)
            .map(|item| {
                let (k, v) = item?;
                let name = String::from_utf8_lossy(&k).into_owned();
                let config = codec::decode_json(&format!("config of collection `{name}`"), &v)?;
                Ok((name, config))
            })
            .collect()
    }

    /// The stored alias map, if any was stored.
    pub fn aliases<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        match self.get(CF_META, ALIASES)? {
            Some(v) => codec::decode_json("the alias map", &v).map(Some),
            None => Ok(None),
        }
    }

    /// Allocates a collection id (never reused, so a re-created name starts empty).
    pub fn next_collection_id(&self) -> Result<u32> {
        let current = match self.get(CF_META, NEXT_COLLECTION_ID)? {
            Some(b) => codec::decode_u32("next_collection_id", &b)?,
            None => 1,
        };
        self.put_meta_u32(NEXT_COLLECTION_ID, current + 1)?;
        Ok(current)
    }

    pub fn counters(&self, cid: u32) -> Result<Counters> {
        counters(|key| self.get(CF_META, key), cid)
    }

    /// Every stored point of a collection: internal id and record, in internal id order.
    pub fn points(&self, cid: u32) -> impl Iterator<Item = Result<(u64, StoredPoint)>> + '_ {
        self.scan_owned(CF_POINTS, cid).map(|item| {
            let (key, value) = item?;
            let id = keys::number_of(&key).ok_or_else(|| Error::Storage("bad point key".into()))?;
            Ok((id, codec::decode_point(&value)?))
        })
    }

    /// Internal ids in external id order, from `start` (inclusive): scrolling.
    pub fn ids_from(&self, cid: u32, start: Option<ExtId>) -> impl Iterator<Item = Result<u64>> + '_ {
        let from = start.map(|s| keys::id(cid, s));
        let prefix = keys::prefix(cid).to_vec();
        let mode = IteratorMode::From(from.as_deref().unwrap_or(&prefix), Direction::Forward);
        let entries = self.db.iterator_cf(self.cf(CF_IDS), mode);
        within(prefix, entries).map(|item| codec::decode_u64("id map entry", &item?.1))
    }

    /// The stored vectors of one slot of a collection: internal id and vector, in internal id
    /// order.
    pub fn vectors(&self, cid: u32, slot: u32) -> impl Iterator<Item = Result<(u64, Vec<f32>)>> + '_ {
        self.slot_records(cid, slot, codec::decode_vector)
    }

    /// The stored sparse vectors of one slot, in internal id order.
    pub fn sparse_vectors(
        &self,
        cid: u32,
        slot: u32,
    ) -> impl Iterator<Item = Result<(u64, vicinity_index::SparseVector)>> + '_ {
        self.slot_records(cid, slot, codec::decode_sparse)
    }

    /// The records of one vector slot of a collection, decoded, in internal id order.
    fn slot_records<T: 'static>(
        &self,
        cid: u32,
        slot: u32,
        decode: fn(&[u8]) -> Result<T>,
    ) -> impl Iterator<Item = Result<(u64, T)>> + '_ {
        self.scan_owned(CF_VECTORS, cid).filter_map(move |item| {
            let (key, value) = match item {
                Ok(entry) => entry,
                Err(e) => return Some(Err(e)),
            };
            match keys::vector_of(&key) {
                None => Some(Err(Error::Storage("bad vector key".into()))),
                Some((id, s)) if s == slot => Some(decode(&value).map(|v| (id, v))),
                Some(_) => None,
            }
        })
    }

    pub fn sparse_vector(
        &self,
        cid: u32,
        id: u64,
        slot: u32,
    ) -> Result<Option<vicinity_index::SparseVector>> {
        self.get(CF_VECTORS, &keys::vector(cid, id, slot))?.map(|v| codec::decode_sparse(&v)).transpose()
    }

    pub fn vector(&self, cid: u32, id: u64, slot: u32) -> Result<Option<Vec<f32>>> {
        self.get(CF_VECTORS, &keys::vector(cid, id, slot))?.map(|v| codec::decode_vector(&v)).transpose()
    }

    /// Several vectors of one slot in one call; a missing or unreadable one is `None`.
    pub fn vectors_of(&self, cid: u32, ids: &[u64], slot: u32) -> Vec<Option<Vec<f32>>> {
        let cf = self.cf(CF_VECTORS);
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| keys::vector(cid, *id, slot)).collect();
        self.db
            .multi_get_cf(keys.iter().map(|k| (cf, k.as_slice())))
            .into_iter()
            .map(|r| r.ok().flatten().and_then(|bytes| codec::decode_vector(&bytes).ok()))
            .collect()
    }

    /// The writes after `after` that changed vectors: how many, and the internal ids changed.
    pub fn changed_after(&self, cid: u32, after: u64) -> Result<(usize, HashSet<u64>)> {
        let prefix = keys::prefix(cid);
        let start = keys::numbered(cid, after.saturating_add(1));
        let (mut writes, mut ids) = (0, HashSet::new());
        for item in self.scan(CF_CHANGES, &prefix, Some(&start)) {
            writes += 1;
            ids.extend(codec::decode_ids(&item?.1)?);
        }
        Ok((writes, ids))
    }

    /// Every stored job record.
    pub fn jobs<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.scan(CF_JOBS, b"", None).map(|item| codec::decode_json("job record", &item?.1)).collect()
    }

    /// [`Storage::scan`] over one collection's range of `cf`, owning its prefix.
    fn scan_owned(&self, cf: &str, cid: u32) -> impl Iterator<Item = Result<Entry>> + '_ {
        self.scan_prefix(cf, keys::prefix(cid).to_vec())
    }

    /// Every entry of `cf` whose key starts with `prefix` (owned).
    fn scan_prefix(&self, cf: &str, prefix: Vec<u8>) -> impl Iterator<Item = Result<Entry>> + '_ {
        let entries = self.db.iterator_cf(self.cf(cf), IteratorMode::From(&prefix, Direction::Forward));
        within(prefix, entries)
    }
}

/// A collection's counters, read through `get`.
fn counters(get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>>, cid: u32) -> Result<Counters> {
    let read = |counter| -> Result<Option<u64>> {
        get(&keys::meta(counter, cid))?.map(|b| codec::decode_u64("collection counter", &b)).transpose()
    };
    Ok(Counters {
        seq: read(Counter::Seq)?.unwrap_or(0),
        next: read(Counter::Next)?.unwrap_or(0),
        saved: read(Counter::Saved)?,
    })
}

/// The entries of a forward iterator while their keys start with `prefix` (borrowed or owned).
fn within<'a>(
    prefix: impl AsRef<[u8]> + 'a,
    entries: impl Iterator<Item = std::result::Result<Entry, rocksdb::Error>> + 'a,
) -> impl Iterator<Item = Result<Entry>> + 'a {
    entries
        .map(|item| item.map_err(db_error))
        .take_while(move |item| item.as_ref().map_or(true, |(k, _)| k.starts_with(prefix.as_ref())))
}

/// The database as it was when the view was taken; later writes are not seen.
pub struct View<'a> {
    storage: &'a Storage,
    snap: rocksdb::Snapshot<'a>,
}

impl View<'_> {
    pub fn collection<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let stored = self.snap.get_cf(self.storage.cf(CF_COLLECTIONS), name.as_bytes()).map_err(db_error)?;
        stored.map(|v| codec::decode_json(&format!("config of collection `{name}`"), &v)).transpose()
    }

    pub fn counters(&self, cid: u32) -> Result<Counters> {
        counters(|key| self.snap.get_cf(self.storage.cf(CF_META), key).map_err(db_error), cid)
    }

    /// A collection's records in `family`: keys without the collection prefix, and values.
    pub fn records(&self, cid: u32, family: Family) -> impl Iterator<Item = Result<Entry>> + '_ {
        let prefix = keys::prefix(cid).to_vec();
        let cf = self.storage.cf(family.cf());
        let entries = self.snap.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward));
        within(prefix, entries).map(|item| {
            let (key, value) = item?;
            Ok((key[4..].into(), value))
        })
    }
}
