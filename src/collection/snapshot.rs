//! Writing a snapshot of one collection: a consistent RocksDB view of its records plus the
//! persisted index that goes with them (see `src/snapshots/format.rs` for the file).
//!
//! Consistency: under the save lock (so the index file on disk and its `saved` mark agree and
//! cannot change), take a RocksDB snapshot and copy the index file; then stream the records from
//! that snapshot while writes go on. The snapshot holds exactly the writes committed before it:
//! every acknowledged write, and none half-applied (each write is one RocksDB batch).

use std::io::Write;

use super::{Collection, CollectionConfig};
use crate::error::{Error, Result};
use crate::snapshots::format::{Manifest, Writer, FAMILIES};
use crate::storage::{keys, CF_COLLECTIONS, CF_IDS, CF_META};

impl Collection {
    /// Writes the collection as it is now to `out`; returns `out`, the manifest and the
    /// file's SHA-256.
    pub fn write_snapshot<W: Write>(&self, out: W, created_at: f64) -> Result<(W, Manifest, String)> {
        let saving = self.save_lock.lock();
        let view = self.storage.snapshot();
        let cid = self.id();
        let stored = view
            .get_cf(self.storage.cf(CF_COLLECTIONS), self.name.as_bytes())?
            .ok_or_else(|| Error::not_found(format!("collection `{}`", self.name)))?;
        let config: CollectionConfig =
            serde_json::from_slice(&stored).map_err(|e| Error::Storage(format!("bad stored config: {e}")))?;
        let meta = |kind: &[u8]| self.storage.get_u64_at(&view, CF_META, &keys::meta(kind, cid));
        let seq = meta(b"seq/")?.unwrap_or(0);
        let next = meta(b"next/")?.unwrap_or(0);
        let index_file = match meta(b"saved/")? {
            Some(saved) => std::fs::File::open(&self.index_path).ok().map(|f| (saved, f)),
            None => None,
        };
        let prefix = keys::prefix(cid);
        let points = self.storage.scan_prefix_at(&view, CF_IDS, &prefix).count() as u64;
        let manifest = Manifest {
            format: 1,
            collection: self.name.clone(),
            created_at,
            config,
            seq,
            next,
            saved: index_file.as_ref().map(|(saved, _)| *saved),
            points,
        };
        let mut w = Writer::start(out, &manifest)?;
        match index_file {
            Some((_, mut f)) => {
                let len = f.metadata().map_err(Error::file(&self.index_path))?.len();
                w.index(len, &mut f)?;
            }
            None => w.index(0, &mut std::io::empty())?,
        }
        drop(saving);
        for (tag, family) in FAMILIES.iter().enumerate() {
            for item in self.storage.scan_prefix_at(&view, family, &prefix) {
                let (key, value) = item?;
                w.record(tag as u8, &key[prefix.len()..], &value)?;
            }
        }
        let (out, checksum) = w.finish()?;
        Ok((out, manifest, checksum))
    }
}
