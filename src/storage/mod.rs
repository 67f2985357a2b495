//! RocksDB, the source of truth. Every index is derived from what is stored here.
//!
//! Column families and keys (`cid` = a collection's numeric id, big-endian u32, never reused):
//! - `meta`: `schema_version` → u32; `next_collection_id` → u32; per collection
//!   `seq/{cid}` (last write sequence), `next/{cid}` (next internal point id) and
//!   `saved/{cid}` (the write sequence the persisted index covers) → u64.
//! - `collections`: name → the collection's config as JSON.
//! - `ids`: `cid · external id key` → internal id (u64). External keys sort numbers before
//!   UUIDs and numbers numerically, so iterating this family is scrolling in id order.
//! - `points`: `cid · internal id` → external id key, version, payload JSON.
//! - `vectors`: `cid · internal id` → the prepared vector (f32 little-endian).
//! - `changes`: `cid · seq` → the internal ids whose vector changed in that write. A restart
//!   replays the entries after the persisted index's sequence; saving an index prunes them
//!   (up to the write a running rebuild started from).
//! - `jobs`: job id (big-endian u64) → the job's record as JSON (see `src/jobs`).
//!
//! Every write of the service is one `WriteBatch`; `sync` writes fsync the WAL before returning.

use std::path::Path;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};

use crate::error::{Error, Result};

pub const CF_META: &str = "meta";
pub const CF_COLLECTIONS: &str = "collections";
pub const CF_IDS: &str = "ids";
pub const CF_POINTS: &str = "points";
pub const CF_VECTORS: &str = "vectors";
pub const CF_CHANGES: &str = "changes";
pub const CF_JOBS: &str = "jobs";
const FAMILIES: [&str; 7] = [CF_META, CF_COLLECTIONS, CF_IDS, CF_POINTS, CF_VECTORS, CF_CHANGES, CF_JOBS];
/// Families whose keys start with the collection id.
pub const PER_COLLECTION: [&str; 4] = [CF_IDS, CF_POINTS, CF_VECTORS, CF_CHANGES];

const SCHEMA_VERSION: &[u8] = b"schema_version";
const NEXT_COLLECTION_ID: &[u8] = b"next_collection_id";

/// A key and its value, as iterators yield them.
pub type Entry = (Box<[u8]>, Box<[u8]>);

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
        let db = DB::open_cf_descriptors(&opts, dir.join("db"), families)?;
        let storage = Storage { db };
        storage.check_schema()?;
        Ok(storage)
    }

    fn check_schema(&self) -> Result<()> {
        let meta = self.cf(CF_META);
        let found = match self.db.get_cf(meta, SCHEMA_VERSION)? {
            Some(bytes) => u32::from_le_bytes(
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Storage("schema_version is not a u32".into()))?,
            ),
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
        self.db.put_cf_opt(self.cf(CF_META), key, value.to_le_bytes(), &opts)?;
        Ok(())
    }

    pub fn cf(&self, name: &str) -> &ColumnFamily {
        // The families are created at open; a missing one is a bug, not an input error.
        self.db.cf_handle(name).unwrap_or_else(|| panic!("column family {name} exists after open"))
    }

    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    /// Several keys of one family in one call; an unreadable entry counts as missing.
    pub fn multi_get(&self, cf: &str, keys: &[impl AsRef<[u8]>]) -> Vec<Option<Vec<u8>>> {
        let cf = self.cf(cf);
        self.db
            .multi_get_cf(keys.iter().map(|k| (cf, k.as_ref())))
            .into_iter()
            .map(|r| r.ok().flatten())
            .collect()
    }

    pub fn get_u64(&self, cf: &str, key: &[u8]) -> Result<Option<u64>> {
        self.get(cf, key)?.map(|b| decode_u64(cf, &b)).transpose()
    }

    /// [`Storage::get_u64`] from a point-in-time view.
    pub fn get_u64_at(&self, view: &rocksdb::Snapshot<'_>, cf: &str, key: &[u8]) -> Result<Option<u64>> {
        view.get_cf(self.cf(cf), key)?.map(|b| decode_u64(cf, &b)).transpose()
    }

    /// Commits a batch; `sync` waits for the WAL to reach the disk.
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let mut opts = WriteOptions::default();
        opts.set_sync(sync);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }

    /// Every entry of `cf` whose key starts with `prefix`, from `start` (a full key) on.
    pub fn scan_prefix<'a>(
        &'a self,
        cf: &str,
        prefix: &'a [u8],
        start: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<Entry>> + 'a {
        let from = start.unwrap_or(prefix);
        within(prefix, self.db.iterator_cf(self.cf(cf), IteratorMode::From(from, Direction::Forward)))
    }

    /// A consistent point-in-time view for reads that must not see later writes (snapshots).
    pub fn snapshot(&self) -> rocksdb::Snapshot<'_> {
        self.db.snapshot()
    }

    /// [`Storage::scan_prefix`] over a point-in-time view.
    pub fn scan_prefix_at<'a>(
        &'a self,
        view: &'a rocksdb::Snapshot<'a>,
        cf: &str,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = Result<Entry>> + 'a {
        within(prefix, view.iterator_cf(self.cf(cf), IteratorMode::From(prefix, Direction::Forward)))
    }

    /// All (name, JSON) collection records.
    pub fn collections(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.scan_prefix(CF_COLLECTIONS, b"", None)
            .map(|item| {
                let (k, v) = item?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.into_vec()))
            })
            .collect()
    }

    /// Allocates a collection id (never reused, so a re-created name starts empty).
    pub fn next_collection_id(&self) -> Result<u32> {
        let current = match self.get(CF_META, NEXT_COLLECTION_ID)? {
            Some(b) => {
                u32::from_le_bytes(b.as_slice().try_into().map_err(|_| Error::Storage("bad id".into()))?)
            }
            None => 1,
        };
        self.put_meta_u32(NEXT_COLLECTION_ID, current + 1)?;
        Ok(current)
    }

    /// Adds to `batch` the removal of everything stored for collection `cid` (named `name`).
    pub fn drop_collection(&self, batch: &mut WriteBatch, cid: u32, name: &str) {
        let (from, to) = (keys::prefix(cid), keys::prefix(cid + 1));
        for cf in PER_COLLECTION {
            batch.delete_range_cf(self.cf(cf), from, to);
        }
        for key in [keys::meta(b"seq/", cid), keys::meta(b"next/", cid), keys::meta(b"saved/", cid)] {
            batch.delete_cf(self.cf(CF_META), key);
        }
        batch.delete_cf(self.cf(CF_COLLECTIONS), name.as_bytes());
    }
}

fn decode_u64(cf: &str, bytes: &[u8]) -> Result<u64> {
    Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| Error::Storage(format!("{cf} value is not a u64")))?))
}

/// The entries of a forward iterator while their keys start with `prefix`.
fn within<'a>(
    prefix: &'a [u8],
    entries: impl Iterator<Item = std::result::Result<Entry, rocksdb::Error>> + 'a,
) -> impl Iterator<Item = Result<Entry>> + 'a {
    entries
        .map(|item| item.map_err(Error::from))
        .take_while(move |item| item.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
}

/// Key layout helpers (see the module docs).
pub mod keys {
    pub fn prefix(cid: u32) -> [u8; 4] {
        cid.to_be_bytes()
    }

    /// `cid · n`, for points, vectors (n = internal id) and changes (n = sequence).
    pub fn numbered(cid: u32, n: u64) -> [u8; 12] {
        let mut k = [0u8; 12];
        k[..4].copy_from_slice(&cid.to_be_bytes());
        k[4..].copy_from_slice(&n.to_be_bytes());
        k
    }

    /// The number of a `numbered` key.
    pub fn number_of(key: &[u8]) -> Option<u64> {
        key.get(4..12).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
    }

    pub fn id(cid: u32, external: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(4 + external.len());
        k.extend_from_slice(&cid.to_be_bytes());
        k.extend_from_slice(external);
        k
    }

    pub fn meta(kind: &[u8], cid: u32) -> Vec<u8> {
        let mut k = kind.to_vec();
        k.extend_from_slice(&cid.to_be_bytes());
        k
    }
}
