//! Typed writes: a [`Batch`] collects them and [`Storage::commit`] stores them atomically.

use rocksdb::WriteBatch;
use serde::Serialize;

use super::keys::{self, Counter};
use super::{codec, Family, Storage, CF_COLLECTIONS, CF_IDS, CF_JOBS, CF_META, CF_POINTS, CF_VECTORS};
use crate::error::Result;
use crate::id::ExtId;

pub struct Batch<'a> {
    storage: &'a Storage,
    inner: WriteBatch,
}

impl<'a> Batch<'a> {
    pub(super) fn new(storage: &'a Storage) -> Self {
        Batch { storage, inner: WriteBatch::default() }
    }

    pub(super) fn into_inner(self) -> WriteBatch {
        self.inner
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub(super) fn put(&mut self, cf: &str, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.inner.put_cf(self.storage.cf(cf), key, value);
    }

    pub(super) fn delete(&mut self, cf: &str, key: impl AsRef<[u8]>) {
        self.inner.delete_cf(self.storage.cf(cf), key);
    }

    pub(super) fn delete_range<K: AsRef<[u8]>>(&mut self, cf: &str, from: K, to: K) {
        self.inner.delete_range_cf(self.storage.cf(cf), from, to);
    }

    /// Maps an external id to its internal id.
    pub fn put_id(&mut self, cid: u32, ext: ExtId, internal: u64) {
        self.put(CF_IDS, keys::id(cid, ext), internal.to_le_bytes());
    }

    pub fn delete_id(&mut self, cid: u32, ext: ExtId) {
        self.delete(CF_IDS, keys::id(cid, ext));
    }

    /// A point's record; `payload_json` comes from [`codec::payload_json`].
    pub fn put_point(&mut self, cid: u32, internal: u64, ext: ExtId, version: u64, payload_json: &[u8]) {
        self.put(CF_POINTS, keys::numbered(cid, internal), codec::encode_point(ext, version, payload_json));
    }

    /// A point's vector in `slot` (see [`crate::collection::VectorConfig::slot`]).
    pub fn put_vector(&mut self, cid: u32, internal: u64, slot: u32, vector: &[f32]) {
        self.put(CF_VECTORS, keys::vector(cid, internal, slot), codec::encode_vector(vector));
    }

    /// A point's sparse vector in `slot`.
    pub fn put_sparse(&mut self, cid: u32, internal: u64, slot: u32, vector: &vicinity_index::SparseVector) {
        self.put(CF_VECTORS, keys::vector(cid, internal, slot), codec::encode_sparse(vector));
    }

    pub fn delete_vector(&mut self, cid: u32, internal: u64, slot: u32) {
        self.delete(CF_VECTORS, keys::vector(cid, internal, slot));
    }

    /// Removes a point's record and its vectors in `slots` (its id mapping goes with
    /// [`Batch::delete_id`]).
    pub fn delete_point(&mut self, cid: u32, internal: u64, slots: &[u32]) {
        self.delete(CF_POINTS, keys::numbered(cid, internal));
        for slot in slots {
            self.delete_vector(cid, internal, *slot);
        }
    }

    /// Records write `seq` as the collection's last, with the points whose vectors it changed.
    pub fn log_change(&mut self, cid: u32, seq: u64, changed: &[u64]) {
        self.put(super::CF_CHANGES, keys::numbered(cid, seq), codec::encode_ids(changed));
        self.set_seq(cid, seq);
    }

    /// Records write `seq` as the collection's last (a write that changed no vector).
    pub fn set_seq(&mut self, cid: u32, seq: u64) {
        self.put(CF_META, keys::meta(Counter::Seq, cid), seq.to_le_bytes());
    }

    pub fn set_next_id(&mut self, cid: u32, next: u64) {
        self.put(CF_META, keys::meta(Counter::Next, cid), next.to_le_bytes());
    }

    /// Records that the persisted index covers the writes up to `seq`.
    pub fn set_saved(&mut self, cid: u32, seq: u64) {
        self.put(CF_META, keys::meta(Counter::Saved, cid), seq.to_le_bytes());
    }

    /// Forgets the vector changes of the writes up to `through` (the index file covers them).
    pub fn prune_changes(&mut self, cid: u32, through: u64) {
        let cf = self.storage.cf(super::CF_CHANGES);
        self.inner.delete_range_cf(
            cf,
            keys::numbered(cid, 0),
            keys::numbered(cid, through.saturating_add(1)),
        );
    }

    pub fn put_collection(&mut self, name: &str, config: &impl Serialize) -> Result<()> {
        let json = codec::encode_json(&format!("config of collection `{name}`"), config)?;
        self.put(CF_COLLECTIONS, name.as_bytes(), json);
        Ok(())
    }

    /// Replaces the alias map.
    pub fn put_aliases(&mut self, aliases: &impl Serialize) -> Result<()> {
        let json = codec::encode_json("the alias map", aliases)?;
        self.put(CF_META, super::ALIASES, json);
        Ok(())
    }

    /// Removes everything stored for collection `cid`, and the config stored under `name`.
    pub fn drop_collection(&mut self, cid: u32, name: &str) {
        let (from, to) = (keys::prefix(cid), keys::prefix(cid + 1));
        for family in Family::ALL {
            self.inner.delete_range_cf(self.storage.cf(family.cf()), from, to);
        }
        for counter in [Counter::Seq, Counter::Next, Counter::Saved] {
            self.delete(CF_META, keys::meta(counter, cid));
        }
        self.delete(CF_COLLECTIONS, name.as_bytes());
    }

    /// Puts back a record a snapshot carried (its key without the collection prefix) under
    /// collection `cid`. A point record must decode, with a payload within the limits.
    pub fn restore(&mut self, cid: u32, family: Family, key: &[u8], value: &[u8]) -> Result<()> {
        if family == Family::Points {
            codec::check_point(value)?;
        }
        let mut full = keys::prefix(cid).to_vec();
        full.extend_from_slice(key);
        self.put(family.cf(), full, value);
        Ok(())
    }

    pub fn put_job(&mut self, id: u64, record: &impl Serialize) -> Result<()> {
        let json = codec::encode_json(&format!("job {id}"), record)?;
        self.put(CF_JOBS, id.to_be_bytes(), json);
        Ok(())
    }

    pub fn delete_job(&mut self, id: u64) {
        self.delete(CF_JOBS, id.to_be_bytes());
    }
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batch({} writes)", self.inner.len())
    }
}
