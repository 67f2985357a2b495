//! Upserts, deletes and payload updates. Each is validated first (a rejected request writes
//! nothing), committed as one RocksDB batch under the writer lock with the next write sequence,
//! then applied in memory.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use rocksdb::WriteBatch;
use serde_json::Value;
use vicinity_index::VectorIndex;

use super::filter::{Filter, Payload};
use super::id::ExtId;
use super::{Collection, PointMeta, Points};
use crate::error::{Error, Result};
use crate::storage::{keys, Storage, CF_CHANGES, CF_IDS, CF_META, CF_POINTS, CF_VECTORS};

pub struct NewPoint {
    pub id: ExtId,
    pub vector: Vec<f32>,
    pub payload: Option<Payload>,
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

/// Deepest nesting of objects and arrays a payload may have (the payload object is level 1).
/// Well under serde_json's recursion limit (128), so every stored record decodes.
pub const MAX_PAYLOAD_DEPTH: usize = 64;
/// Largest payload of one point, as stored JSON.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// Nesting depth of a payload, without recursion (a hostile value must not exhaust the stack).
fn payload_depth(payload: &Payload) -> usize {
    let mut deepest = 1;
    let mut stack: Vec<(&Value, usize)> = payload.values().map(|v| (v, 1)).collect();
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => continue,
        };
        deepest = deepest.max(depth + 1);
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    deepest
}

/// Checks that a payload can be stored and read back: its depth, then its encoded size.
/// Returns the encoded payload.
pub(crate) fn check_payload(payload: &Payload) -> Result<Vec<u8>> {
    let depth = payload_depth(payload);
    if depth > MAX_PAYLOAD_DEPTH {
        return Err(Error::bad(format!(
            "payload is nested {depth} levels deep; the limit is {MAX_PAYLOAD_DEPTH}"
        )));
    }
    let json =
        serde_json::to_vec(payload).map_err(|e| Error::bad(format!("payload cannot be stored: {e}")))?;
    if json.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::bad(format!(
            "payload is {} bytes as JSON; the limit is {MAX_PAYLOAD_BYTES}",
            json.len()
        )));
    }
    Ok(json)
}

/// A point record: external id, version, payload JSON. Refuses a payload that
/// [`decode_point`] could not read back.
pub(super) fn encode_point(meta: &PointMeta) -> Result<Vec<u8>> {
    let json = check_payload(&meta.payload).map_err(|e| Error::bad(format!("point {}: {e}", meta.ext)))?;
    let mut out = meta.ext.to_key();
    out.extend_from_slice(&meta.version.to_le_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

pub(super) fn decode_point(bytes: &[u8]) -> Result<PointMeta> {
    let bad = || Error::Storage("corrupt point record".into());
    let (ext, used) = ExtId::from_key(bytes).ok_or_else(bad)?;
    let version =
        u64::from_le_bytes(bytes.get(used..used + 8).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let payload = serde_json::from_slice(&bytes[used + 8..]).map_err(|_| bad())?;
    Ok(PointMeta { ext, version, payload })
}

fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::Storage("corrupt vector record".into()));
    }
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

impl Collection {
    /// Inserts or replaces points (payload included). Returns the write sequence.
    pub fn upsert(&self, points: Vec<NewPoint>, sync: bool) -> Result<u64> {
        self.upsert_with(points, sync, |_, _| {})
    }

    /// [`Collection::upsert`], with `extra` adding its own entries to the same RocksDB batch
    /// (a job records its progress atomically with the points it wrote).
    pub fn upsert_with(
        &self,
        points: Vec<NewPoint>,
        sync: bool,
        extra: impl FnOnce(&Storage, &mut WriteBatch),
    ) -> Result<u64> {
        let (metric, dim, cid) = {
            let c = self.config.read();
            (c.distance.metric(), c.size, c.id)
        };
        // Validate everything before taking the lock; the last occurrence of an id wins.
        let mut prepared: Vec<(ExtId, Vec<f32>, Payload)> = Vec::with_capacity(points.len());
        let mut position: HashMap<ExtId, usize> = HashMap::new();
        for p in points {
            let v = super::prepare_vector(metric, &p.vector, dim)
                .map_err(|e| Error::bad(format!("point {}: {e}", p.id)))?;
            let payload = p.payload.unwrap_or_default();
            check_payload(&payload).map_err(|e| Error::bad(format!("point {}: {e}", p.id)))?;
            let entry = (p.id, v, payload);
            match position.get(&p.id) {
                Some(&i) => prepared[i] = entry,
                None => {
                    position.insert(p.id, prepared.len());
                    prepared.push(entry);
                }
            }
        }
        if prepared.is_empty() {
            let mut batch = WriteBatch::default();
            extra(&self.storage, &mut batch);
            if !batch.is_empty() {
                self.storage.write(batch, sync)?;
            }
            return Ok(self.seq.load(Ordering::SeqCst));
        }
        let mut next = self.writer.lock();
        self.check_live()?;
        let seq = self.seq.load(Ordering::SeqCst) + 1;
        let mut internal = Vec::with_capacity(prepared.len());
        let mut batch = WriteBatch::default();
        {
            let points = self.points.read();
            for (ext, _, _) in &prepared {
                let id = match points.by_ext.get(ext) {
                    Some(&id) => id,
                    None => {
                        let id = *next;
                        *next += 1;
                        batch.put_cf(self.storage.cf(CF_IDS), keys::id(cid, &ext.to_key()), id.to_le_bytes());
                        id
                    }
                };
                internal.push(id);
            }
        }
        let mut metas = Vec::with_capacity(prepared.len());
        let mut vectors = Vec::with_capacity(prepared.len() * dim);
        for ((ext, v, payload), &id) in prepared.into_iter().zip(&internal) {
            let meta = PointMeta { ext, version: seq, payload };
            batch.put_cf(self.storage.cf(CF_POINTS), keys::numbered(cid, id), encode_point(&meta)?);
            batch.put_cf(self.storage.cf(CF_VECTORS), keys::numbered(cid, id), encode_vector(&v));
            vectors.extend_from_slice(&v);
            metas.push(meta);
        }
        self.log_change(&mut batch, seq, &internal);
        batch.put_cf(self.storage.cf(CF_META), keys::meta(b"next/", cid), next.to_le_bytes());
        extra(&self.storage, &mut batch);
        self.storage.write(batch, sync)?;
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

    fn log_change(&self, batch: &mut WriteBatch, seq: u64, ids: &[u64]) {
        let cid = self.config.read().id;
        let ids: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
        batch.put_cf(self.storage.cf(CF_CHANGES), keys::numbered(cid, seq), ids);
        batch.put_cf(self.storage.cf(CF_META), keys::meta(b"seq/", cid), seq.to_le_bytes());
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
        let mut batch = WriteBatch::default();
        {
            let points = self.points.read();
            for id in &victims {
                if let Some(m) = points.meta.get(id) {
                    batch.delete_cf(self.storage.cf(CF_IDS), keys::id(cid, &m.ext.to_key()));
                }
                batch.delete_cf(self.storage.cf(CF_POINTS), keys::numbered(cid, *id));
                batch.delete_cf(self.storage.cf(CF_VECTORS), keys::numbered(cid, *id));
            }
        }
        self.log_change(&mut batch, seq, &victims);
        self.storage.write(batch, sync)?;
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
        let targets = {
            let points = self.points.read();
            if let Selector::Ids(ids) = selector {
                if let Some(missing) = ids.iter().find(|e| !points.by_ext.contains_key(e)) {
                    return Err(Error::not_found(format!("point {missing}")));
                }
            }
            self.select(&points, selector)
        };
        if targets.is_empty() {
            return Ok(self.seq.load(Ordering::SeqCst));
        }
        let seq = self.seq.load(Ordering::SeqCst) + 1;
        let mut batch = WriteBatch::default();
        let mut updated = Vec::with_capacity(targets.len());
        {
            let points = self.points.read();
            for id in targets {
                let Some(old) = points.meta.get(&id) else { continue };
                let payload = apply_update(&old.payload, update)?;
                let meta = PointMeta { ext: old.ext, version: seq, payload };
                batch.put_cf(self.storage.cf(CF_POINTS), keys::numbered(cid, id), encode_point(&meta)?);
                updated.push((id, meta));
            }
        }
        batch.put_cf(self.storage.cf(CF_META), keys::meta(b"seq/", cid), seq.to_le_bytes());
        self.storage.write(batch, sync)?;
        {
            let mut points = self.points.write();
            for (id, meta) in updated {
                replace_meta(&mut points, id, meta);
            }
        }
        self.seq.store(seq, Ordering::SeqCst);
        Ok(seq)
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
    Ok(match update {
        PayloadUpdate::Overwrite(p) => p.clone(),
        PayloadUpdate::Clear => Payload::new(),
        PayloadUpdate::DeleteKeys(keys) => {
            let mut p = old.clone();
            for k in keys {
                p.remove(k);
            }
            p
        }
        PayloadUpdate::Set { payload, key: None } => {
            let mut p = old.clone();
            p.extend(payload.clone());
            p
        }
        PayloadUpdate::Set { payload, key: Some(path) } => {
            let segments = path.split('.').count();
            if segments >= MAX_PAYLOAD_DEPTH {
                return Err(Error::bad(format!(
                    "payload key has {segments} segments; the payload depth limit is {MAX_PAYLOAD_DEPTH}"
                )));
            }
            let mut p = old.clone();
            let mut target = &mut p;
            for part in path.split('.') {
                let slot = target.entry(part.to_string()).or_insert_with(|| Value::Object(Payload::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Payload::new());
                }
                target = slot
                    .as_object_mut()
                    .ok_or_else(|| Error::Internal("payload path is not an object".into()))?;
            }
            target.extend(payload.clone());
            p
        }
    })
}
