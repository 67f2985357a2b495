//! Upserts, deletes and payload updates. Each is validated first (a rejected request writes
//! nothing), committed as one RocksDB batch under the writer lock with the next write sequence,
//! then applied in memory.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use vicinity_index::VectorIndex;

use super::filter::{Filter, Payload};
use super::json_path;
use super::{Collection, PointMeta, Points};
use crate::error::{Error, Result};
use crate::id::ExtId;
use crate::storage::{codec, Batch, MAX_PAYLOAD_DEPTH};

pub struct NewPoint {
    pub id: ExtId,
    pub vector: Vec<f32>,
    pub payload: Option<Payload>,
}

/// Which points of an upsert are written (Qdrant's `update_mode` and `update_filter`).
#[derive(Clone, Debug, Default)]
pub struct UpsertRule {
    pub mode: UpdateMode,
    /// An existing point is replaced only when it matches; new points are written regardless.
    pub filter: Option<Filter>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpdateMode {
    /// New points are inserted and existing ones replaced.
    #[default]
    Upsert,
    /// Only new points are written; existing ones are left as they are.
    InsertOnly,
    /// Only existing points are replaced; new ids are not inserted.
    UpdateOnly,
}

impl UpsertRule {
    /// Whether every point is written whatever is stored (the default: no lookups needed).
    fn admits_all(&self) -> bool {
        self.mode == UpdateMode::Upsert && self.filter.is_none()
    }

    /// Whether a point is written, given what is stored under its id now.
    fn admits(&self, ext: ExtId, stored: Option<&PointMeta>) -> bool {
        match stored {
            None => self.mode != UpdateMode::UpdateOnly,
            Some(m) => {
                self.mode != UpdateMode::InsertOnly
                    && self.filter.as_ref().is_none_or(|f| f.matches(&m.payload, Some(ext)))
            }
        }
    }
}

/// Which points an operation applies to.
pub enum Selector {
    Ids(Vec<ExtId>),
    Filter(Filter),
}

pub enum PayloadUpdate {
    /// Merge these keys into the payload (optionally under a nested `key`).
    Set {
        payload: Payload,
        key: Option<String>,
    },
    /// Replace the whole payload.
    Overwrite(Payload),
    /// Remove these keys.
    DeleteKeys(Vec<String>),
    Clear,
}

/// Checks that a payload can be stored and read back: its depth, then its encoded size.
/// Returns the encoded payload.
pub(crate) fn check_payload(payload: &Payload) -> Result<Vec<u8>> {
    codec::payload_json(payload)
}

impl Collection {
    /// Inserts or replaces points (payload included). Returns the write sequence.
    pub fn upsert(&self, points: Vec<NewPoint>, sync: bool) -> Result<u64> {
        self.upsert_with(points, sync, self.storage.batch())
    }

    /// [`Collection::upsert`] of the points `rule` admits, decided under the writer lock
    /// against what is stored then.
    pub fn upsert_where(&self, points: Vec<NewPoint>, rule: &UpsertRule, sync: bool) -> Result<u64> {
        self.write_points(points, rule, sync, self.storage.batch())
    }

    /// [`Collection::upsert`], committed in one batch with the writes already in `batch` (a
    /// job records its progress atomically with the points it wrote).
    pub fn upsert_with(&self, points: Vec<NewPoint>, sync: bool, batch: Batch<'_>) -> Result<u64> {
        self.write_points(points, &UpsertRule::default(), sync, batch)
    }

    fn write_points(
        &self,
        points: Vec<NewPoint>,
        rule: &UpsertRule,
        sync: bool,
        mut batch: Batch<'_>,
    ) -> Result<u64> {
        let (metric, dim, cid) = {
            let c = self.config.read();
            (c.distance.metric(), c.size, c.id)
        };
        // Validate everything before taking the lock; the last occurrence of an id wins.
        let mut prepared: Vec<(ExtId, Vec<f32>, Payload, Vec<u8>)> = Vec::with_capacity(points.len());
        let mut position: HashMap<ExtId, usize> = HashMap::new();
        for p in points {
            let v = super::prepare_vector(metric, p.vector, dim)
                .map_err(|e| Error::bad(format!("point {}: {e}", p.id)))?
                .into_vector();
            let payload = p.payload.unwrap_or_default();
            let json = check_payload(&payload).map_err(|e| Error::bad(format!("point {}: {e}", p.id)))?;
            let entry = (p.id, v, payload, json);
            match position.get(&p.id) {
                Some(&i) => prepared[i] = entry,
                None => {
                    position.insert(p.id, prepared.len());
                    prepared.push(entry);
                }
            }
        }
        if prepared.is_empty() {
            return self.write_batch_only(batch, sync);
        }
        let mut next = self.writer.lock();
        self.check_live()?;
        let seq = self.seq.load(Ordering::SeqCst) + 1;
        let mut internal = Vec::with_capacity(prepared.len());
        {
            let points = self.points.read();
            if !rule.admits_all() {
                prepared.retain(|(ext, ..)| {
                    let stored = points.by_ext.get(ext).and_then(|id| points.meta.get(id));
                    rule.admits(*ext, stored)
                });
            }
            for (ext, ..) in &prepared {
                let id = match points.by_ext.get(ext) {
                    Some(&id) => id,
                    None => {
                        let id = *next;
                        *next += 1;
                        batch.put_id(cid, *ext, id);
                        id
                    }
                };
                internal.push(id);
            }
        }
        if prepared.is_empty() {
            // The rule admitted none: only what the batch already held is written.
            return self.write_batch_only(batch, sync);
        }
        let mut metas = Vec::with_capacity(prepared.len());
        let mut vectors = Vec::with_capacity(prepared.len() * dim);
        for ((ext, v, payload, json), &id) in prepared.into_iter().zip(&internal) {
            batch.put_point(cid, id, ext, seq, &json);
            batch.put_vector(cid, id, &v);
            vectors.extend_from_slice(&v);
            metas.push(PointMeta { ext, version: seq, payload });
        }
        batch.log_change(cid, seq, &internal);
        batch.set_next_id(cid, *next);
        self.storage.commit(batch, sync)?;
        {
            let mut points = self.points.write();
            for (meta, &id) in metas.into_iter().zip(&internal) {
                replace_meta(&mut points, id, meta);
            }
        }
        let index = self.index.load_full();
        let applied = super::building(|| index.upsert(&internal, &vectors));
        self.seq.store(seq, Ordering::SeqCst);
        applied
            .map_err(|e| Error::Internal(format!("stored write {seq} failed to apply to the index: {e}")))?;
        Ok(seq)
    }

    /// An upsert with no point to write: commits what `batch` already holds (a job's progress)
    /// and returns the current write sequence.
    fn write_batch_only(&self, batch: Batch<'_>, sync: bool) -> Result<u64> {
        if !batch.is_empty() {
            self.storage.commit(batch, sync)?;
        }
        Ok(self.seq.load(Ordering::SeqCst))
    }

    /// Internal ids of the selected points that exist.
    pub(super) fn select(&self, points: &Points, selector: &Selector) -> Vec<u64> {
        match selector {
            Selector::Ids(ids) => ids.iter().filter_map(|e| points.by_ext.get(e).copied()).collect(),
            Selector::Filter(f) => points
                .meta
                .iter()
                .filter(|(_, m)| f.matches(&m.payload, Some(m.ext)))
                .map(|(id, _)| *id)
                .collect(),
        }
    }

    /// Deletes the selected points (missing ids are ignored). Returns the write sequence.
    pub fn delete(&self, selector: &Selector, sync: bool) -> Result<u64> {
        let _writer = self.writer.lock();
        self.check_live()?;
        let cid = self.config.read().id;
        let mut victims = self.select(&self.points.read(), selector);
        victims.sort_unstable();
        victims.dedup();
        if victims.is_empty() {
            return Ok(self.seq.load(Ordering::SeqCst));
        }
        let seq = self.seq.load(Ordering::SeqCst) + 1;
        let mut batch = self.storage.batch();
        {
            let points = self.points.read();
            for id in &victims {
                if let Some(m) = points.meta.get(id) {
                    batch.delete_id(cid, m.ext);
                }
                batch.delete_point(cid, *id);
            }
        }
        batch.log_change(cid, seq, &victims);
        self.storage.commit(batch, sync)?;
        self.index.load().delete(&victims);
        {
            let mut points = self.points.write();
            for id in &victims {
                if let Some(m) = points.meta.remove(id) {
                    points.by_ext.remove(&m.ext);
                    points.payload_index.remove(*id, &m.payload);
                }
            }
        }
        self.seq.store(seq, Ordering::SeqCst);
        Ok(seq)
    }

    /// Changes the payloads of the selected points. Ids that do not exist are a 404.
    pub fn update_payload(&self, selector: &Selector, update: &PayloadUpdate, sync: bool) -> Result<u64> {
        let _writer = self.writer.lock();
        self.check_live()?;
        let cid = self.config.read().id;
        // As in Qdrant, the points that exist are updated, then a listed id that does not
        // exist is reported.
        let (targets, missing) = {
            let points = self.points.read();
            let missing = match selector {
                Selector::Ids(ids) => ids.iter().find(|e| !points.by_ext.contains_key(e)).copied(),
                Selector::Filter(_) => None,
            };
            (self.select(&points, selector), missing)
        };
        let not_found = |seq: u64| match missing {
            Some(id) => Err(Error::not_found(format!("point {id}"))),
            None => Ok(seq),
        };
        if targets.is_empty() {
            return not_found(self.seq.load(Ordering::SeqCst));
        }
        let seq = self.seq.load(Ordering::SeqCst) + 1;
        let mut batch = self.storage.batch();
        let mut updated = Vec::with_capacity(targets.len());
        {
            let points = self.points.read();
            for id in targets {
                let Some(old) = points.meta.get(&id) else { continue };
                let payload = apply_update(&old.payload, update)?;
                let json =
                    check_payload(&payload).map_err(|e| Error::bad(format!("point {}: {e}", old.ext)))?;
                batch.put_point(cid, id, old.ext, seq, &json);
                updated.push((id, PointMeta { ext: old.ext, version: seq, payload }));
            }
        }
        batch.set_seq(cid, seq);
        self.storage.commit(batch, sync)?;
        {
            let mut points = self.points.write();
            for (id, meta) in updated {
                replace_meta(&mut points, id, meta);
            }
        }
        self.seq.store(seq, Ordering::SeqCst);
        not_found(seq)
    }
}

fn replace_meta(points: &mut Points, id: u64, meta: PointMeta) {
    if let Some(old) = points.meta.remove(&id) {
        points.payload_index.remove(id, &old.payload);
    }
    points.payload_index.add(id, &meta.payload);
    points.by_ext.insert(meta.ext, id);
    points.meta.insert(id, meta);
}

fn apply_update(old: &Payload, update: &PayloadUpdate) -> Result<Payload> {
    let path = |key: &str| json_path::parse(key).map_err(Error::bad);
    Ok(match update {
        PayloadUpdate::Overwrite(p) => p.clone(),
        PayloadUpdate::Clear => Payload::new(),
        PayloadUpdate::DeleteKeys(keys) => {
            let mut p = old.clone();
            for k in keys {
                json_path::remove(&mut p, &path(k)?);
            }
            p
        }
        PayloadUpdate::Set { payload, key: None } => {
            let mut p = old.clone();
            json_path::set_top(&mut p, payload);
            p
        }
        PayloadUpdate::Set { payload, key: Some(key) } => {
            let steps = path(key)?;
            if steps.len() >= MAX_PAYLOAD_DEPTH {
                return Err(Error::bad(format!(
                    "payload key has {} steps; the payload depth limit is {MAX_PAYLOAD_DEPTH}",
                    steps.len()
                )));
            }
            let mut p = old.clone();
            json_path::set(&mut p, &steps, payload);
            p
        }
    })
}
