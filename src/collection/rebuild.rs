//! Building an index from RocksDB: at start-up (no usable file), after a restart (replaying the
//! writes the file misses), and online — `rebuild_index` builds a fresh index while the current
//! one keeps serving, catches up with the writes that arrived meanwhile, and swaps it in.
//!
//! Online rebuild, step by step:
//! 1. Under the save lock, note the current write `from` and set `changes_floor` to it, so no
//!    save prunes the `changes` entries after it.
//! 2. Read every stored vector into a new index (searches and writes go on against the old one).
//! 3. Replay the changes after `from` into the new index without blocking writers, then once
//!    more under the writer lock (only the last few), and swap while still holding it: no write
//!    lands in the old index after its last replay.
//! 4. Save the new index; the floor is lifted.
//!
//! Replay is idempotent (a changed point is set to its current stored state), so a vector the
//! scan already saw and a change replayed twice do no harm.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use vicinity_index::{AnyIndex, VectorIndex};

use super::config::{HnswConfig, IndexConfig, ScalarQuantization};
use super::{Collection, CollectionConfig};
use crate::error::{Error, Result};

/// Vectors are read from RocksDB and inserted into a fresh index in chunks of this many. Small
/// enough that a write racing with an online rebuild waits little for the shared thread pool.
const CHUNK: usize = 2_000;

/// What a rebuild may change; `None` keeps the collection's current setting.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RebuildOptions {
    #[serde(default)]
    pub hnsw: Option<HnswConfig>,
    /// `Some(None)` switches quantization off. Stored in a job's spec as `null` (off) or absent
    /// (unchanged), so a resumed rebuild does what was asked.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub quantization: Option<Option<ScalarQuantization>>,
    /// Switch the index kind (HNSW ⇄ Faiss).
    #[serde(default)]
    pub index: Option<IndexConfig>,
    /// The vector to rebuild; `None`: every vector (and the settings above become the
    /// collection-level ones too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
}

impl RebuildOptions {
    /// The vectors this rebuild builds anew.
    pub fn vectors(&self, config: &CollectionConfig) -> Result<Vec<String>> {
        match &self.vector {
            Some(name) => config.vector(name).map(|_| vec![name.clone()]),
            None => Ok(config.vectors.keys().cloned().collect()),
        }
    }

    /// `config` with these settings applied to the rebuilt vectors, checked.
    pub fn applied_to(&self, mut config: CollectionConfig) -> Result<CollectionConfig> {
        for name in self.vectors(&config)? {
            let Some(v) = config.vectors.get_mut(&name) else { continue };
            if let Some(h) = &self.hnsw {
                v.hnsw = h.clone();
            }
            if let Some(index) = &self.index {
                // Scalar quantization is HNSW's; a Faiss index compresses through its factory.
                if matches!(index, IndexConfig::Faiss { .. }) && self.quantization.is_none() {
                    v.quantization = None;
                }
                v.index = index.clone();
            }
            if let Some(q) = &self.quantization {
                v.quantization = q.clone();
            }
        }
        if self.vector.is_none() {
            if let Some(h) = &self.hnsw {
                config.hnsw = h.clone();
            }
            if let Some(q) = &self.quantization {
                config.quantization = q.clone();
            }
        }
        config.validate()?;
        Ok(config)
    }
}

/// A field that is present (even as `null`) is `Some`; an absent one takes the default, `None`.
fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RebuildReport {
    /// Points read from storage into the new index.
    pub points: usize,
    /// Writes that arrived during the build and were replayed into it.
    pub caught_up: usize,
    /// Tombstones the old index held (gone now).
    pub removed_tombstones: usize,
    pub seconds: f64,
}

/// Lifts the changes floor however the rebuild ends.
struct Floor<'a>(&'a Collection);

impl Drop for Floor<'_> {
    fn drop(&mut self) {
        self.0.changes_floor.store(u64::MAX, Ordering::SeqCst);
    }
}

impl Collection {
    /// Inserts every stored vector into `index`, in chunks; `keep_going(points so far)` is
    /// asked after each chunk and stops the fill when it answers false.
    pub(super) fn fill_from_storage(
        &self,
        index: &AnyIndex,
        slot: u32,
        keep_going: &dyn Fn(usize) -> bool,
    ) -> Result<bool> {
        let cid = self.config.read().id;
        let (mut ids, mut values) = (Vec::with_capacity(CHUNK), Vec::new());
        let mut done = 0;
        for item in self.storage.vectors(cid, slot) {
            let (id, vector) = item?;
            ids.push(id);
            values.extend(vector);
            if ids.len() == CHUNK {
                super::building(|| index.upsert(&ids, &values))?;
                done += ids.len();
                ids.clear();
                values.clear();
                if !keep_going(done) {
                    return Ok(false);
                }
            }
        }
        super::building(|| index.upsert(&ids, &values))?;
        Ok(keep_going(done + ids.len()))
    }

    /// Re-applies to `index` every vector change after write `after`; returns how many writes
    /// were replayed. Idempotent: each changed point is set to its current stored state.
    pub(super) fn replay_into(&self, index: &AnyIndex, slot: u32, after: u64) -> Result<usize> {
        let cid = self.config.read().id;
        let (writes, changed) = self.storage.changed_after(cid, after)?;
        let (mut ids, mut values, mut gone) = (Vec::new(), Vec::new(), Vec::new());
        for id in changed {
            match self.storage.vector(cid, id, slot)? {
                Some(v) => {
                    // Already there (the fill saw it): re-inserting would only leave a tombstone.
                    let same = index.leaves_tombstones()
                        && index.vector(id).is_some_and(|old| {
                            old.len() == v.len() && old.iter().zip(&v).all(|(a, b)| (a - b).abs() <= 1e-6)
                        });
                    if !same {
                        ids.push(id);
                        values.extend(v);
                    }
                }
                None => gone.push(id),
            }
        }
        index.delete(&gone);
        super::building(|| index.upsert(&ids, &values))?;
        Ok(writes)
    }

    /// Builds a fresh index from storage (with `options` applied to the config) while the
    /// current one serves, then swaps it in (see the module docs). `progress(done, total)` is
    /// called as points are read; when `cancelled()` turns true the new index is dropped and
    /// the collection keeps its current one (`Ok(None)`).
    pub fn rebuild_index(
        &self,
        options: &RebuildOptions,
        progress: &dyn Fn(usize, usize),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<RebuildReport>> {
        let started = Instant::now();
        let config = options.applied_to(self.config.read().clone())?;
        let fresh = options
            .vectors(&config)?
            .into_iter()
            .map(|name| {
                let v = config.vector(&name)?;
                Ok((name.clone(), v.slot, Self::new_index(v, config.id, &self.storage)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let from = {
            let _saving = self.save_lock.lock();
            let from = self.seq.load(Ordering::SeqCst);
            if self
                .changes_floor
                .compare_exchange(u64::MAX, from, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return Err(Error::Conflict(format!("collection `{}` is already being rebuilt", self.name)));
            }
            from
        };
        let _floor = Floor(self);
        // The points that have each rebuilt vector, as the serving indexes hold them now.
        let total: usize = {
            let serving = self.indexes.load();
            fresh.iter().filter_map(|(name, ..)| serving.get(name)).map(|i| i.len()).sum()
        };
        let mut before = 0;
        for (_, slot, index) in &fresh {
            let finished = self.fill_from_storage(index, *slot, &|done| {
                progress(before + done, total.max(before + done));
                !cancelled()
            })?;
            if !finished {
                return Ok(None);
            }
            before += index.len();
        }
        let seen = self.seq.load(Ordering::SeqCst);
        let mut caught_up = 0;
        for (_, slot, index) in &fresh {
            caught_up = caught_up.max(self.replay_into(index, *slot, from)?);
        }
        let mut removed_tombstones = 0;
        {
            let _writer = self.writer.lock();
            self.check_live()?;
            let mut last = 0;
            for (_, slot, index) in &fresh {
                last = last.max(self.replay_into(index, *slot, seen)?);
            }
            caught_up += last;
            if cancelled() {
                return Ok(None);
            }
            if config != *self.config.read() {
                self.store_config(&config, true)?;
                *self.config.write() = config;
            }
            let mut indexes = (**self.indexes.load()).clone();
            for (name, _, index) in fresh {
                if let Some(old) = indexes.insert(name, Arc::new(index)) {
                    removed_tombstones += old.deleted_count();
                }
            }
            self.indexes.store(Arc::new(indexes));
            // The files on disk are the old indexes: make the next save write the new ones.
            self.saved_seq.store(u64::MAX, Ordering::SeqCst);
        }
        self.save_index()?;
        let points = before;
        tracing::info!(
            "collection {:?}: index rebuilt ({points} points, {caught_up} writes caught up, {removed_tombstones} tombstones dropped) in {:.1?}",
            self.name,
            started.elapsed()
        );
        Ok(Some(RebuildReport {
            points,
            caught_up,
            removed_tombstones,
            seconds: started.elapsed().as_secs_f64(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_off_survives_a_stored_job_spec() {
        for (options, stored) in [
            (
                RebuildOptions { quantization: Some(None), ..Default::default() },
                "{\"hnsw\":null,\"quantization\":null,\"index\":null}",
            ),
            (RebuildOptions::default(), "{\"hnsw\":null,\"index\":null}"),
        ] {
            let json = serde_json::to_string(&options).unwrap();
            assert_eq!(json, stored);
            let back: RebuildOptions = serde_json::from_str(&json).unwrap();
            assert_eq!(back.quantization, options.quantization, "{json}");
        }
    }
}
