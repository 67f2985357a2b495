//! Upserts, deletes and payload updates. Each is validated first (a rejected request writes
//! nothing), committed as one RocksDB batch under the writer lock with the next write sequence,
//! then applied in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use vicinity_index::{SparseVector, VectorIndex};

use super::filter::{Filter, Payload};
use super::json_path;
use super::{Collection, CollectionConfig, PointMeta, Points};
use crate::error::{Error, Result};
use crate::id::ExtId;
use crate::storage::{codec, Batch, MAX_PAYLOAD_DEPTH};

/// One vector of a point: dense (a named or the unnamed vector) or sparse.
#[derive(Clone, Debug, PartialEq)]
pub enum Vector {
    Dense(Vec<f32>),
    Sparse(SparseVector),
}

/// A point's vectors by name (`""`: the unnamed vector).
pub type Vectors = BTreeMap<String, Vector>;

pub struct NewPoint {
    pub id: ExtId,
    /// Any of the collection's vectors; an upsert removes those the point had and this lacks.
    pub vectors: Vectors,
    pub payload: Option<Payload>,
}

impl NewPoint {
    /// A point with only the unnamed vector.
    pub fn unnamed(id: ExtId, vector: Vec<f32>, payload: Option<Payload>) -> Self {
        NewPoint { id, vectors: Vectors::from([(String::new(), Vector::Dense(vector))]), payload }
    }
}

/// What a write does to one vector's index.
#[derive(Default)]
struct IndexChanges {
    ids: Vec<u64>,
    /// The vectors of `ids`, one after another.
    values: Vec<f32>,
    /// Points whose vector is removed.
    gone: Vec<u64>,
    /// For a sparse vector: the new vectors (`ids` and `values` stay empty).
    sparse: Vec<(u64, SparseVector)>,
}

impl IndexChanges {
    fn put(&mut self, id: u64, v: &Vector) {
        match v {
            Vector::Dense(v) => {
                self.ids.push(id);
                self.values.extend_from_slice(v);
            }
            Vector::Sparse(v) => self.sparse.push((id, v.clone())),
        }
    }
}

/// Checks a point's vectors against the collection's (names, sizes, values) and prepares them
/// as the engine stores them.
fn prepare_vectors(config: &CollectionConfig, id: ExtId, vectors: Vectors) -> Result<Vectors> {
    vectors
        .into_iter()
        .map(|(name, v)| {
            let v = match v {
                Vector::Dense(v) => {
                    let Some(c) = config.vectors.get(&name) else {
                        config.sparse_vector(&name)?;
                        return Err(super::sparse::wrong_kind(&name));
                    };
                    let prepared = super::prepare_vector(c.distance.metric(), v, c.size).map_err(|e| {
                        let of =
                            if name.is_empty() { String::new() } else { format!(" for vector '{name}'") };
                        Error::bad(format!("point {id}: {e}{of}"))
                    })?;
                    Vector::Dense(prepared.into_vector())
                }
                Vector::Sparse(v) => {
                    if !config.sparse_vectors.contains_key(&name) {
                        config.vector(&name)?;
                        return Err(super::sparse::wrong_kind(&name));
                    }
                    Vector::Sparse(v)
                }
            };
            Ok((name, v))
        })
        .collect()
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

    /// Whether a point is written, given what is stored under its id now (and which vectors
    /// it has).
    fn admits(&self, ext: ExtId, stored: Option<&PointMeta>, vectors: &dyn Fn(&str) -> bool) -> bool {
        match stored {
            None => self.mode != UpdateMode::UpdateOnly,
            Some(m) => {
                self.mode != UpdateMode::InsertOnly
                    && self.filter.as_ref().is_none_or(|f| f.matches(&m.payload, Some(ext), vectors))
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
        let rule = &UpsertRule { mode: rule.mode, filter: rule.filter.as_ref().map(|f| self.bind(f)) };
        let config = self.config.read().clone();
        let cid = config.id;
        // Validate everything before taking the lock; the last occurrence of an id wins.
        let mut prepared: Vec<(ExtId, Vectors, Payload, Vec<u8>)> = Vec::with_capacity(points.len());
        let mut position: HashMap<ExtId, usize> = HashMap::new();
        for p in points {
            let vectors = prepare_vectors(&config, p.id, p.vectors)?;
            let payload = p.payload.unwrap_or_default();
            let json = check_payload(&payload).map_err(|e| Error::bad(format!("point {}: {e}", p.id)))?;
            let entry = (p.id, vectors, payload, json);
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
        // Internal id, and whether the point existed (then vectors it lacks now are removed).
        let mut internal: Vec<(u64, bool)> = Vec::with_capacity(prepared.len());
        {
            let points = self.points.read();
            if !rule.admits_all() {
                prepared.retain(|(ext, ..)| {
                    let id = points.by_ext.get(ext).copied();
                    let stored = id.and_then(|id| points.meta.get(&id));
                    rule.admits(*ext, stored, &self.has_vector(id.unwrap_or(u64::MAX)))
                });
            }
            for (ext, ..) in &prepared {
                let id = match points.by_ext.get(ext) {
                    Some(&id) => (id, true),
                    None => {
                        let id = *next;
                        *next += 1;
                        batch.put_id(cid, *ext, id);
                        (id, false)
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
        let mut changes: BTreeMap<&str, IndexChanges> = BTreeMap::new();
        for ((ext, vectors, payload, json), &(id, existed)) in prepared.into_iter().zip(&internal) {
            batch.put_point(cid, id, ext, seq, &json);
            let slots = config.vectors.iter().map(|(n, c)| (n, c.slot));
            for (name, slot) in slots.chain(config.sparse_vectors.iter().map(|(n, c)| (n, c.slot))) {
                let change = changes.entry(name).or_default();
                match vectors.get(name) {
                    Some(v) => {
                        put_vector(&mut batch, cid, id, slot, v);
                        change.put(id, v);
                    }
                    None if existed => {
                        batch.delete_vector(cid, id, slot);
                        change.gone.push(id);
                    }
                    None => {}
                }
            }
            metas.push(PointMeta { ext, version: seq, payload });
        }
        let ids: Vec<u64> = internal.iter().map(|(id, _)| *id).collect();
        batch.log_change(cid, seq, &ids);
        batch.set_next_id(cid, *next);
        self.storage.commit(batch, sync)?;
        {
            let mut points = self.points.write();
            for (meta, &id) in metas.into_iter().zip(&ids) {
                replace_meta(&mut points, id, meta);
            }
        }
        let applied = self.apply_to_indexes(changes);
        self.seq.store(seq, Ordering::SeqCst);
        applied
            .map_err(|e| Error::Internal(format!("stored write {seq} failed to apply to the index: {e}")))?;
        Ok(seq)
    }

    /// Applies a committed write's vector changes to the indexes.
    fn apply_to_indexes(&self, changes: BTreeMap<&str, IndexChanges>) -> Result<()> {
        let indexes = self.indexes.load_full();
        let sparse = self.sparse.load_full();
        let mut result = Ok(());
        for (name, change) in changes {
            if let Some(index) = sparse.get(name) {
                index.delete(&change.gone);
                index.upsert(change.sparse);
                continue;
            }
            let Some(index) = indexes.get(name) else { continue };
            index.delete(&change.gone);
            if !change.ids.is_empty() {
                let applied = super::building(|| index.upsert(&change.ids, &change.values));
                if let (Ok(()), Err(e)) = (&result, applied) {
                    result = Err(e.into());
                }
            }
        }
        result
    }

    /// Replaces the given vectors of existing points (the others and the payload stay), when
    /// the point matches `filter` (if any). Entries for one id are merged in order. As in
    /// Qdrant, the points that exist are updated, then a listed id that does not is a 404.
    pub fn update_vectors(
        &self,
        points: Vec<(ExtId, Vectors)>,
        filter: Option<&Filter>,
        sync: bool,
    ) -> Result<u64> {
        let bound = filter.map(|f| self.bind(f));
        let filter = bound.as_ref();
        let config = self.config.read().clone();
        let cid = config.id;
        let mut merged: Vec<(ExtId, Vectors)> = Vec::with_capacity(points.len());
        let mut position: HashMap<ExtId, usize> = HashMap::new();
        for (ext, vectors) in points {
            let vectors = prepare_vectors(&config, ext, vectors)?;
            match position.get(&ext) {
                Some(&i) => merged[i].1.extend(vectors),
                None => {
                    position.insert(ext, merged.len());
                    merged.push((ext, vectors));
                }
            }
        }
        let _writer = self.writer.lock();
        self.check_live()?;
        let seq = self.seq.load(Ordering::SeqCst) + 1;
        let mut batch = self.storage.batch();
        let mut changes: BTreeMap<&str, IndexChanges> = BTreeMap::new();
        let mut updated = Vec::new();
        let mut missing = None;
        {
            let points = self.points.read();
            for (ext, vectors) in &merged {
                let Some((&id, m)) = points.by_ext.get(ext).and_then(|id| Some((id, points.meta.get(id)?)))
                else {
                    missing = missing.or(Some(*ext));
                    continue;
                };
                if filter.is_some_and(|f| !f.matches(&m.payload, Some(*ext), &self.has_vector(id))) {
                    continue;
                }
                batch.put_point(cid, id, *ext, seq, &check_payload(&m.payload)?);
                for (name, v) in vectors {
                    put_vector(&mut batch, cid, id, config.slot_of(name)?, v);
                    changes.entry(name).or_default().put(id, v);
                }
                updated.push(id);
            }
        }
        let not_found = |seq: u64| match missing {
            Some(id) => Err(Error::NoPoint(id.to_string())),
            None => Ok(seq),
        };
        if updated.is_empty() {
            return not_found(self.seq.load(Ordering::SeqCst));
        }
        batch.log_change(cid, seq, &updated);
        self.storage.commit(batch, sync)?;
        self.set_versions(&updated, seq);
        let applied = self.apply_to_indexes(changes);
        self.seq.store(seq, Ordering::SeqCst);
        applied
            .map_err(|e| Error::Internal(format!("stored write {seq} failed to apply to the index: {e}")))?;
        not_found(seq)
    }

    /// Removes the named vectors of the selected points (missing ids are skipped).
    pub fn delete_vectors(&self, selector: &Selector, names: &[String], sync: bool) -> Result<u64> {
        let config = self.config.read().clone();
        let slots = names.iter().map(|n| config.slot_of(n)).collect::<Result<Vec<_>>>()?;
        let cid = config.id;
        let _writer = self.writer.lock();
        self.check_live()?;
        let victims = self.select(&self.points.read(), selector);
        if victims.is_empty() {
            return Ok(self.seq.load(Ordering::SeqCst));
        }
        let seq = self.seq.load(Ordering::SeqCst) + 1;
        let mut batch = self.storage.batch();
        {
            let points = self.points.read();
            for id in &victims {
                let Some(m) = points.meta.get(id) else { continue };
                batch.put_point(cid, *id, m.ext, seq, &check_payload(&m.payload)?);
                for slot in &slots {
                    batch.delete_vector(cid, *id, *slot);
                }
            }
        }
        batch.log_change(cid, seq, &victims);
        self.storage.commit(batch, sync)?;
        self.set_versions(&victims, seq);
        let changes = names
            .iter()
            .map(|n| (n.as_str(), IndexChanges { gone: victims.clone(), ..Default::default() }))
            .collect();
        self.apply_to_indexes(changes)?;
        self.seq.store(seq, Ordering::SeqCst);
        Ok(seq)
    }

    fn set_versions(&self, ids: &[u64], seq: u64) {
        let mut points = self.points.write();
        for id in ids {
            if let Some(m) = points.meta.get_mut(id) {
                m.version = seq;
            }
        }
    }

    /// Checks a point's vectors as a write would (names, sizes, values), writing nothing.
    pub fn check_vectors(&self, id: ExtId, vectors: &Vectors) -> Result<()> {
        prepare_vectors(&self.config.read(), id, vectors.clone()).map(|_| ())
    }

    /// An upsert with no point to write: commits what `batch` already holds (a job's progress)
    /// and returns the current write sequence.
    fn write_batch_only(&self, batch: Batch<'_>, sync: bool) -> Result<u64> {
        if !batch.is_empty() {
            self.storage.commit(batch, sync)?;
        }
        Ok(self.seq.load(Ordering::SeqCst))
    }

    /// The selected points that exist: internal ids, ascending, each once.
    pub(super) fn select(&self, points: &Points, selector: &Selector) -> Vec<u64> {
        let mut ids: Vec<u64> = match selector {
            Selector::Ids(ids) => ids.iter().filter_map(|e| points.by_ext.get(e).copied()).collect(),
            Selector::Filter(f) => {
                // Callers hold the writer lock, so the schema cannot change meanwhile.
                let f = self.bind(f);
                points
                    .meta
                    .iter()
                    .filter(|(id, m)| f.matches(&m.payload, Some(m.ext), &self.has_vector(**id)))
                    .map(|(id, _)| *id)
                    .collect()
            }
        };
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Deletes the selected points (missing ids are ignored). Returns the write sequence.
    pub fn delete(&self, selector: &Selector, sync: bool) -> Result<u64> {
        let _writer = self.writer.lock();
        self.check_live()?;
        let (cid, slots) = {
            let c = self.config.read();
            (c.id, c.all_slots())
        };
        let victims = self.select(&self.points.read(), selector);
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
                batch.delete_point(cid, *id, &slots);
            }
        }
        batch.log_change(cid, seq, &victims);
        self.storage.commit(batch, sync)?;
        for index in self.indexes.load().values() {
            index.delete(&victims);
        }
        for index in self.sparse.load().values() {
            index.delete(&victims);
        }
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
            Some(id) => Err(Error::NoPoint(id.to_string())),
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

fn put_vector(batch: &mut Batch<'_>, cid: u32, id: u64, slot: u32, v: &Vector) {
    match v {
        Vector::Dense(v) => batch.put_vector(cid, id, slot, v),
        Vector::Sparse(v) => batch.put_sparse(cid, id, slot, v),
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
