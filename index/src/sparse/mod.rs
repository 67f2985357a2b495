//! Sparse vectors and their exact index: an inverted index from each dimension to the points
//! holding it, scored by dot product (Qdrant's sparse vectors), optionally with each query
//! weight multiplied by the dimension's inverse document frequency.
//!
//! Search is exact: the posting lists of the query's dimensions are accumulated into a score per
//! point, and only points sharing at least one dimension with the query are hits. Deleting or
//! replacing a point leaves its old postings in place, skipped by a liveness check, until they
//! outnumber the live points; then the postings are rebuilt (amortised O(1) per write).

mod vector;

use std::collections::HashMap;
use std::path::Path;

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

pub use vector::{SparseVector, MAX_NONZEROS};

use crate::error::Result;
use crate::persist::{Kind, Reader, Writer};
use crate::topk::TopK;
use crate::types::{Filter, PointId, ScoredPoint};

/// Inverse document frequency of a dimension held by `df` of `n` points (BM25's, always > 0):
/// `ln(1 + (n - df + 0.5) / (df + 0.5))`.
pub fn idf(n: usize, df: usize) -> f32 {
    let (n, df) = (n as f64, df as f64);
    ((n - df + 0.5) / (df + 0.5) + 1.0).ln() as f32
}

#[derive(Default)]
struct Posting {
    /// (offset, value), in insertion order; entries of dead offsets are skipped.
    entries: Vec<(u32, f32)>,
    /// Live points holding the dimension (its document frequency).
    live: u32,
}

#[derive(Default)]
struct Inner {
    /// offset → id.
    ids: Vec<PointId>,
    /// offset → vector; `None` once deleted or replaced.
    vectors: Vec<Option<SparseVector>>,
    offsets: HashMap<PointId, u32>,
    postings: HashMap<u32, Posting>,
    dead: usize,
}

impl Inner {
    fn insert(&mut self, id: PointId, v: SparseVector) {
        self.remove(id);
        let offset = self.ids.len() as u32;
        for (i, value) in v.iter() {
            let p = self.postings.entry(i).or_default();
            p.entries.push((offset, value));
            p.live += 1;
        }
        self.ids.push(id);
        self.vectors.push(Some(v));
        self.offsets.insert(id, offset);
    }

    fn remove(&mut self, id: PointId) -> bool {
        let Some(offset) = self.offsets.remove(&id) else { return false };
        if let Some(v) = self.vectors[offset as usize].take() {
            for i in v.indices() {
                if let Some(p) = self.postings.get_mut(i) {
                    p.live -= 1;
                }
            }
        }
        self.dead += 1;
        true
    }

    /// Rebuilds the postings without dead entries once they outnumber the live points.
    fn compact_if_worth_it(&mut self) {
        if self.dead < 1024 || self.dead < self.offsets.len() {
            return;
        }
        let old = std::mem::take(self);
        for (id, v) in old.ids.into_iter().zip(old.vectors) {
            if let Some(v) = v {
                self.insert(id, v);
            }
        }
    }

    fn live(&self) -> usize {
        self.offsets.len()
    }

    fn df(&self, dimension: u32) -> usize {
        self.postings.get(&dimension).map_or(0, |p| p.live as usize)
    }

    /// The query as scored: with IDF weights when asked.
    fn weighted(&self, query: &SparseVector, with_idf: bool) -> SparseVector {
        if with_idf {
            let n = self.live();
            query.weighted(|i| idf(n, self.df(i)))
        } else {
            query.clone()
        }
    }
}

/// An exact inverted index of sparse vectors keyed by [`PointId`]. All methods take `&self`;
/// writers and searchers share one lock, never held across work on a thread pool.
pub struct SparseIndex {
    inner: RwLock<Inner>,
    with_idf: AtomicBool,
}

impl SparseIndex {
    /// An empty index; `with_idf` weights every query dimension by its IDF at search time.
    pub fn new(with_idf: bool) -> Self {
        SparseIndex { inner: RwLock::new(Inner::default()), with_idf: AtomicBool::new(with_idf) }
    }

    pub fn with_idf(&self) -> bool {
        self.with_idf.load(Ordering::Relaxed)
    }

    /// Switches IDF weighting on or off for the searches that start after it.
    pub fn set_with_idf(&self, with_idf: bool) {
        self.with_idf.store(with_idf, Ordering::Relaxed);
    }

    /// Live points.
    pub fn len(&self) -> usize {
        self.inner.read().live()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deleted or replaced points whose postings are still held.
    pub fn deleted_count(&self) -> usize {
        self.inner.read().dead
    }

    pub fn contains(&self, id: PointId) -> bool {
        self.inner.read().offsets.contains_key(&id)
    }

    /// The stored vector of a live point.
    pub fn vector(&self, id: PointId) -> Option<SparseVector> {
        let inner = self.inner.read();
        inner.offsets.get(&id).and_then(|o| inner.vectors[*o as usize].clone())
    }

    /// How many live points hold `dimension`.
    pub fn document_frequency(&self, dimension: u32) -> usize {
        self.inner.read().df(dimension)
    }

    /// Inserts or replaces points.
    pub fn upsert(&self, points: Vec<(PointId, SparseVector)>) {
        let mut inner = self.inner.write();
        for (id, v) in points {
            inner.insert(id, v);
        }
        inner.compact_if_worth_it();
    }

    /// Deletes points; returns how many were present.
    pub fn delete(&self, ids: &[PointId]) -> usize {
        let mut inner = self.inner.write();
        let removed = ids.iter().filter(|id| inner.remove(**id)).count();
        inner.compact_if_worth_it();
        removed
    }

    /// The best `k` allowed points sharing a dimension with `query`, best first (ties by id).
    pub fn search(&self, query: &SparseVector, k: usize, filter: Option<&Filter>) -> Vec<ScoredPoint> {
        let inner = self.inner.read();
        let query = inner.weighted(query, self.with_idf());
        let mut top = TopK::new(k);
        if let Some(Filter::Ids(allowed)) = filter {
            let postings: usize =
                query.indices().iter().filter_map(|i| inner.postings.get(i)).map(|p| p.entries.len()).sum();
            if allowed.len() < postings {
                for id in allowed.iter() {
                    let v = inner.offsets.get(id).and_then(|o| inner.vectors[*o as usize].as_ref());
                    if let Some(score) = v.and_then(|v| query.dot(v)) {
                        top.push(score, *id);
                    }
                }
                return hits(top);
            }
        }
        let mut scores = vec![0f32; inner.ids.len()];
        let mut touched = vec![false; inner.ids.len()];
        let mut order = Vec::new();
        for (i, weight) in query.iter() {
            let Some(p) = inner.postings.get(&i) else { continue };
            for &(offset, value) in &p.entries {
                let o = offset as usize;
                if inner.vectors[o].is_none() {
                    continue;
                }
                scores[o] += weight * value;
                if !touched[o] {
                    touched[o] = true;
                    order.push(offset);
                }
            }
        }
        for offset in order {
            let id = inner.ids[offset as usize];
            if filter.is_none_or(|f| f.allows(id)) {
                top.push(scores[offset as usize], id);
            }
        }
        hits(top)
    }

    /// Exact scores of `query` (IDF-weighted when the index is) against the vectors of `ids`:
    /// `None` for a point the index does not hold, 0 for one sharing no dimension.
    pub fn scores(&self, query: &SparseVector, ids: &[PointId]) -> Vec<Option<f32>> {
        let inner = self.inner.read();
        let query = inner.weighted(query, self.with_idf());
        ids.iter()
            .map(|id| {
                let v = inner.offsets.get(id).and_then(|o| inner.vectors[*o as usize].as_ref())?;
                Some(query.dot(v).unwrap_or(0.0))
            })
            .collect()
    }

    /// Exact scores of every example (IDF-weighted once, when the index is) against each of
    /// `ids`, under one read of the index: `None` for a point the index does not hold, else one
    /// score per example, 0 where they share no dimension.
    pub fn example_scores(&self, examples: &[SparseVector], ids: &[PointId]) -> Vec<Option<Vec<f32>>> {
        let inner = self.inner.read();
        let examples: Vec<SparseVector> =
            examples.iter().map(|e| inner.weighted(e, self.with_idf())).collect();
        ids.iter()
            .map(|id| {
                let v = inner.offsets.get(id).and_then(|o| inner.vectors[*o as usize].as_ref())?;
                Some(examples.iter().map(|e| e.dot(v).unwrap_or(0.0)).collect())
            })
            .collect()
    }

    /// Heap bytes held (vectors, postings, maps).
    pub fn memory_bytes(&self) -> usize {
        let inner = self.inner.read();
        let vectors: usize = inner.vectors.iter().flatten().map(SparseVector::memory_bytes).sum();
        let postings: usize = inner.postings.values().map(|p| p.entries.capacity() * 8 + 32).sum();
        vectors
            + postings
            + inner.ids.capacity() * 8
            + inner.vectors.capacity() * 48
            + inner.offsets.len() * 24
    }

    /// Writes the live points to `path` atomically (see `persist`): the IDF flag, then each
    /// point's id and pairs. Loading rebuilds the postings.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut w = Writer::create(path, Kind::Sparse)?;
        let inner = self.inner.read();
        w.u8(u8::from(self.with_idf()))?;
        w.u64(inner.live() as u64)?;
        for (id, v) in inner.ids.iter().zip(&inner.vectors) {
            let Some(v) = v else { continue };
            w.u64(*id)?;
            w.u64(v.len() as u64)?;
            w.u32s(v.indices())?;
            w.f32s(v.values())?;
        }
        drop(inner);
        w.finish()
    }

    /// Reads a file written by [`SparseIndex::save`], checking everything it holds.
    pub fn load(path: &Path) -> Result<Self> {
        let mut r = Reader::open(path)?;
        if r.kind != Kind::Sparse {
            return Err(r.corrupt(format!("holds a {:?} index, not a sparse one", r.kind)));
        }
        let with_idf = match r.u8()? {
            0 => false,
            1 => true,
            other => return Err(r.corrupt(format!("bad IDF flag {other}"))),
        };
        let count = r.len()?;
        let mut inner = Inner::default();
        for _ in 0..count {
            let id = r.u64()?;
            let n = r.len()?;
            let (indices, values) = (r.u32s(n)?, r.f32s(n)?);
            let v = SparseVector::from_sorted(indices, values)
                .ok_or_else(|| r.corrupt(format!("point {id}: indices out of order or values not finite")))?;
            if inner.offsets.contains_key(&id) {
                return Err(r.corrupt(format!("point {id} appears twice")));
            }
            inner.insert(id, v);
        }
        r.finish()?;
        Ok(SparseIndex { inner: RwLock::new(inner), with_idf: AtomicBool::new(with_idf) })
    }
}

fn hits(top: TopK<PointId>) -> Vec<ScoredPoint> {
    top.into_sorted().into_iter().map(|(score, id)| ScoredPoint { id, score }).collect()
}
