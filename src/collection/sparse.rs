//! Sparse vectors in a collection: their indexes opened from their files and caught up with
//! the later writes (or rebuilt from RocksDB), and searched.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use vicinity_index::{ScoredPoint, SparseIndex, SparseVector};

use super::read::{Example, Hit, Query, Search, Strategy};
use super::{Collection, Deadline, Points, SparseIndexes, SparseVectorConfig};
use crate::error::{Error, Result};

impl Collection {
    /// Opens every sparse vector's index: its file caught up with the writes after `saved`, or
    /// (no usable file) rebuilt from the stored vectors.
    pub(super) fn open_sparse(&self, saved: Option<u64>) -> Result<()> {
        let started = Instant::now();
        let vectors = self.config.read().sparse_vectors.clone();
        let mut indexes = SparseIndexes::new();
        for (name, v) in &vectors {
            let path = self.sparse_index_path(v.slot);
            let loaded = saved.map(|s| (s, SparseIndex::load(&path)));
            let index = match loaded {
                Some((saved, Ok(index))) if index.with_idf() == v.with_idf() => {
                    let replayed = self.replay_sparse(&index, v.slot, saved)?;
                    tracing::info!(
                        "collection {:?} (sparse vector {name:?}): loaded persisted index at seq {saved}, replayed {replayed} changes in {:.0?}",
                        self.name,
                        started.elapsed()
                    );
                    index
                }
                other => {
                    if let Some((_, Err(e))) = other {
                        tracing::warn!(
                            "collection {:?} (sparse vector {name:?}): persisted index unusable ({e}); rebuilding from storage",
                            self.name
                        );
                    }
                    self.sparse_from_storage(v)?
                }
            };
            indexes.insert(name.clone(), Arc::new(index));
        }
        self.sparse.store(Arc::new(indexes));
        Ok(())
    }

    fn sparse_from_storage(&self, v: &SparseVectorConfig) -> Result<SparseIndex> {
        let index = SparseIndex::new(v.with_idf());
        let mut chunk = Vec::with_capacity(CHUNK);
        for item in self.storage.sparse_vectors(self.id(), v.slot) {
            chunk.push(item?);
            if chunk.len() == CHUNK {
                index.upsert(std::mem::take(&mut chunk));
            }
        }
        index.upsert(chunk);
        Ok(index)
    }

    /// Sets every point changed after write `after` to its stored sparse vector in `slot`.
    fn replay_sparse(&self, index: &SparseIndex, slot: u32, after: u64) -> Result<usize> {
        let cid = self.id();
        let (writes, changed) = self.storage.changed_after(cid, after)?;
        let (mut put, mut gone) = (Vec::new(), Vec::new());
        for id in changed {
            match self.storage.sparse_vector(cid, id, slot)? {
                Some(v) => put.push((id, v)),
                None => gone.push(id),
            }
        }
        index.delete(&gone);
        index.upsert(put);
        Ok(writes)
    }

    /// A nearest or recommend query on a sparse vector (`s.using` names one): exact, with the
    /// filter and the examples' own points left out inside the search.
    pub(super) fn sparse_search(&self, s: &Search, deadline: Deadline) -> Result<Vec<Hit>> {
        self.check_selector(&s.with_vector)?;
        let index = self.sparse_index(&s.using)?;
        let points = self.points.read();
        let resolve = |e: &Example| -> Result<(SparseVector, Option<u64>)> {
            match e {
                Example::Sparse(v) => Ok((v.clone(), None)),
                Example::Vector(_) => Err(wrong_kind(&s.using)),
                Example::Id(ext) => {
                    let id = *points.by_ext.get(ext).ok_or_else(|| Error::NoPoint(ext.to_string()))?;
                    let v = index
                        .vector(id)
                        .ok_or_else(|| Error::not_found(format!("vector {:?} of point {ext}", s.using)))?;
                    Ok((v, Some(id)))
                }
            }
        };
        let k = s.limit + s.offset;
        let (scored, exclude) = match &s.query {
            Query::Nearest(e) => {
                let (q, id) = resolve(e)?;
                let exclude: HashSet<u64> = id.into_iter().collect();
                (self.sparse_top(&index, &points, &q, k, s, &exclude, deadline), exclude)
            }
            Query::Recommend { positive, negative, strategy } => {
                let pos = positive.iter().map(resolve).collect::<Result<Vec<_>>>()?;
                let neg = negative.iter().map(resolve).collect::<Result<Vec<_>>>()?;
                let exclude: HashSet<u64> = pos.iter().chain(&neg).filter_map(|(_, id)| *id).collect();
                let pos: Vec<SparseVector> = pos.into_iter().map(|(v, _)| v).collect();
                let neg: Vec<SparseVector> = neg.into_iter().map(|(v, _)| v).collect();
                let hits = match strategy {
                    Strategy::AverageVector => {
                        if pos.is_empty() {
                            return Err(Error::bad(
                                "At least one positive vector ID required with this strategy (average_vector)",
                            ));
                        }
                        let q = sparse_average_query(&pos, &neg)?;
                        self.sparse_top(&index, &points, &q, k, s, &exclude, deadline)
                    }
                    Strategy::BestScore | Strategy::SumScores => {
                        if pos.is_empty() && neg.is_empty() {
                            return Err(Error::bad(
                                "At least one positive or negative vector ID required with this strategy",
                            ));
                        }
                        self.sparse_rescore(&index, &points, &pos, &neg, *strategy, k, s, &exclude, deadline)?
                    }
                };
                (hits, exclude)
            }
            Query::Mmr(_) | Query::Discover(_) | Query::Profile(_) => {
                return Err(Error::bad(format!(
                    "sparse vector {:?} answers nearest and recommend queries only",
                    s.using
                )))
            }
            Query::IdOrder | Query::OrderBy(_) | Query::Popular | Query::Fusion(_) | Query::Formula(_) => {
                (Vec::new(), HashSet::new())
            }
        };
        // Strictly better than the threshold, as for dense vectors.
        let page: Vec<ScoredPoint> = scored
            .into_iter()
            .filter(|p| !exclude.contains(&p.id) && s.score_threshold.is_none_or(|t| p.score > t))
            .skip(s.offset)
            .take(s.limit)
            .collect();
        Ok(self.hits_of(&points, page, s))
    }

    /// The index's top `k` for `query` among the points the search's filter admits.
    #[allow(clippy::too_many_arguments)]
    fn sparse_top(
        &self,
        index: &SparseIndex,
        points: &Points,
        query: &SparseVector,
        k: usize,
        s: &Search,
        exclude: &HashSet<u64>,
        deadline: Deadline,
    ) -> Vec<ScoredPoint> {
        let admit = |id: u64| self.admits(points, s, exclude, deadline, id);
        match s.filter.as_ref().and_then(|f| points.candidates(f)) {
            Some(c) => {
                let allowed: HashSet<u64> = c.into_iter().filter(|id| admit(*id)).collect();
                index.search(query, k, Some(&vicinity_index::Filter::Ids(&allowed)))
            }
            None if s.filter.is_none() && exclude.is_empty() => index.search(query, k, None),
            None => index.search(query, k, Some(&vicinity_index::Filter::predicate(&admit))),
        }
    }

    /// best_score / sum_scores over sparse examples, exactly: every allowed point holding the
    /// vector is a candidate (a point sharing no dimension with an example scores 0 against it,
    /// as in Qdrant), scored against all examples in chunks between deadline checks.
    #[allow(clippy::too_many_arguments)]
    fn sparse_rescore(
        &self,
        index: &SparseIndex,
        points: &Points,
        pos: &[SparseVector],
        neg: &[SparseVector],
        strategy: Strategy,
        k: usize,
        s: &Search,
        exclude: &HashSet<u64>,
        deadline: Deadline,
    ) -> Result<Vec<ScoredPoint>> {
        let admit = |id: &u64| self.admits(points, s, exclude, deadline, *id);
        let candidates: Vec<u64> = match s.filter.as_ref().and_then(|f| points.candidates(f)) {
            Some(c) => c.into_iter().filter(admit).collect(),
            None => points.meta.keys().copied().filter(admit).collect(),
        };
        deadline.check()?;
        let examples: Vec<SparseVector> = pos.iter().chain(neg).cloned().collect();
        let mut top = Vec::new();
        for chunk in candidates.chunks(SCORE_CHUNK) {
            deadline.check()?;
            for (id, sims) in chunk.iter().zip(index.example_scores(&examples, chunk)) {
                let Some(sims) = sims else { continue };
                let (p, n) = sims.split_at(pos.len());
                let score = match strategy {
                    Strategy::SumScores => p.iter().sum::<f32>() - n.iter().sum::<f32>(),
                    Strategy::BestScore | Strategy::AverageVector => {
                        let best_pos = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let best_neg = n.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        if best_pos > best_neg {
                            super::read::scaled_sigmoid(best_pos)
                        } else {
                            -super::read::scaled_sigmoid(best_neg)
                        }
                    }
                };
                top.push(ScoredPoint { id: *id, score });
            }
        }
        top.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        top.truncate(k);
        Ok(top)
    }
}

/// Candidates scored between two deadline checks in a recommend query on a sparse vector.
const SCORE_CHUNK: usize = 64;

/// average_vector over sparse examples: `avg(pos) + (avg(pos) - avg(neg))` per dimension, or
/// `avg(pos)` without negatives.
fn sparse_average_query(pos: &[SparseVector], neg: &[SparseVector]) -> Result<SparseVector> {
    let avg = |vs: &[SparseVector]| {
        let mut sum: BTreeMap<u32, f32> = BTreeMap::new();
        for v in vs {
            for (i, x) in v.iter() {
                *sum.entry(i).or_default() += x;
            }
        }
        sum.values_mut().for_each(|x| *x /= vs.len() as f32);
        sum
    };
    let mut q = avg(pos);
    if !neg.is_empty() {
        let n = avg(neg);
        q.values_mut().for_each(|x| *x *= 2.0);
        for (i, x) in n {
            *q.entry(i).or_default() -= x;
        }
    }
    SparseVector::new(q.keys().copied().collect(), q.values().copied().collect())
        .map_err(|e| Error::bad(format!("recommend query vector: {e}")))
}

impl Collection {
    /// Changes sparse vectors' settings (Qdrant's PATCH `sparse_vectors`): each given field
    /// replaces the old one. A new modifier applies to the searches that start after it.
    pub fn update_sparse(&self, changes: BTreeMap<String, SparseVectorConfig>, sync: bool) -> Result<()> {
        let _writer = self.writer.lock();
        self.check_live()?;
        let mut config = self.config.read().clone();
        for (name, change) in &changes {
            let v = config.sparse_vectors.get_mut(name).ok_or_else(|| super::config::no_such_vector(name))?;
            if change.modifier.is_some() {
                v.modifier = change.modifier;
            }
            if change.index.is_some() {
                v.index = change.index.clone();
            }
        }
        config.validate()?;
        self.store_config(&config, sync)?;
        let indexes = self.sparse.load();
        for (name, v) in &config.sparse_vectors {
            if let Some(index) = indexes.get(name) {
                index.set_with_idf(v.with_idf());
            }
        }
        *self.config.write() = config;
        // Cached answers scored with the old weights go, and the next save writes the flag.
        self.schema_changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.saved_seq.store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// Vectors read from RocksDB per insert while an index is rebuilt.
const CHUNK: usize = 10_000;

/// Qdrant's answer to a dense vector given for a sparse one, or the other way round.
pub(crate) fn wrong_kind(name: &str) -> Error {
    Error::bad(format!(
        "Wrong input: Conversion between sparse and regular vectors failed for vector '{name}'"
    ))
}
