//! Points as the indexes hold them: prepared vectors in one contiguous buffer, the external id of
//! every offset, the id → offset map and the tombstones. Flat search is a scan of this store,
//! and HNSW falls back to the same scan when a filter leaves few points.

use std::collections::HashMap;

use crate::distance::Metric;
use crate::error::{IndexError, Result};
use crate::persist::{Reader, Writer};
use crate::topk::TopK;
use crate::types::{Filter, Offset, PointId, ScoredPoint};

#[derive(Debug)]
pub(crate) struct VectorStore {
    pub metric: Metric,
    pub dim: usize,
    /// `len() * dim` prepared values, offset-major.
    pub vectors: Vec<f32>,
    pub ids: Vec<PointId>,
    /// One bit per offset: set = deleted (tombstone), or replaced by a later upsert.
    deleted: Vec<u64>,
    deleted_count: usize,
    id_map: HashMap<PointId, Offset>,
}

impl VectorStore {
    pub fn new(metric: Metric, dim: usize) -> Self {
        VectorStore {
            metric,
            dim,
            vectors: Vec::new(),
            ids: Vec::new(),
            deleted: Vec::new(),
            deleted_count: 0,
            id_map: HashMap::new(),
        }
    }

    /// Offsets in use, deleted ones included.
    #[inline]
    pub fn offsets(&self) -> usize {
        self.ids.len()
    }

    pub fn live(&self) -> usize {
        self.ids.len() - self.deleted_count
    }

    pub fn deleted_count(&self) -> usize {
        self.deleted_count
    }

    #[inline]
    pub fn vector(&self, offset: Offset) -> &[f32] {
        let start = offset as usize * self.dim;
        &self.vectors[start..start + self.dim]
    }

    #[inline]
    pub fn is_deleted(&self, offset: Offset) -> bool {
        self.deleted[offset as usize / 64] >> (offset % 64) & 1 == 1
    }

    pub fn offset_of(&self, id: PointId) -> Option<Offset> {
        self.id_map.get(&id).copied()
    }

    /// Checks a batch and returns its vectors prepared for this metric, row-major.
    pub fn prepare_batch(&self, ids: &[PointId], vectors: &[f32]) -> Result<Vec<f32>> {
        if u32::try_from(self.offsets() + ids.len()).is_err() {
            return Err(IndexError::invalid("ids", "an index holds at most 2^32 - 1 offsets"));
        }
        prepare_rows(self.metric, self.dim, ids, vectors)
    }

    /// Appends a prepared batch; an id already present is tombstoned at its old offset first.
    /// Returns the first new offset.
    pub fn append(&mut self, ids: &[PointId], prepared: &[f32]) -> Offset {
        let first = self.offsets() as Offset;
        crate::huge::reserve(&mut self.vectors, prepared.len());
        self.vectors.extend_from_slice(prepared);
        self.ids.reserve(ids.len());
        self.id_map.reserve(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            let offset = first + i as Offset;
            if let Some(old) = self.id_map.insert(id, offset) {
                self.tombstone(old);
            }
            self.ids.push(id);
        }
        self.deleted.resize(self.offsets().div_ceil(64), 0);
        first
    }

    /// Tombstones `id`; false when it is not present.
    pub fn delete(&mut self, id: PointId) -> bool {
        match self.id_map.remove(&id) {
            Some(offset) => {
                self.tombstone(offset);
                true
            }
            None => false,
        }
    }

    fn tombstone(&mut self, offset: Offset) {
        if !self.is_deleted(offset) {
            self.deleted[offset as usize / 64] |= 1 << (offset % 64);
            self.deleted_count += 1;
        }
    }

    /// Whether a live offset passes the filter.
    #[inline]
    pub fn admits(&self, offset: Offset, filter: Option<&Filter>) -> bool {
        !self.is_deleted(offset) && filter.is_none_or(|f| f.allows(self.ids[offset as usize]))
    }

    /// Estimated number of live points the filter admits.
    pub fn estimate_matches(&self, filter: &Filter) -> usize {
        match filter {
            Filter::Ids(set) => set.len(),
            Filter::Predicate { estimated_matches: Some(n), .. } => *n,
            Filter::Predicate { test, estimated_matches: None } => {
                let n = self.offsets();
                if n == 0 {
                    return 0;
                }
                // A fixed stride sample: deterministic, and spread over insertion order.
                const SAMPLES: usize = 1000;
                let step = (n / SAMPLES).max(1);
                let (mut seen, mut hits) = (0usize, 0usize);
                for offset in (0..n).step_by(step) {
                    seen += 1;
                    hits += test(self.ids[offset]) as usize;
                }
                (hits * self.live()).div_ceil(seen)
            }
        }
    }

    /// Whether a filtered search should scan the allowed points exactly rather than walk a
    /// graph ([`crate::plan::prefers_scan`] on the estimated matches).
    pub fn prefers_scan(&self, filter: Option<&Filter>, threshold: usize) -> bool {
        filter.is_some_and(|f| crate::plan::prefers_scan(self.estimate_matches(f), self.live(), threshold))
    }

    /// Exact top-k of the admitted points.
    pub fn scan(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Vec<ScoredPoint> {
        let mut top = TopK::new(k.min(self.live()));
        let mut consider = |offset: Offset| {
            if self.admits(offset, filter) {
                top.push(self.metric.score(query, self.vector(offset)), self.ids[offset as usize]);
            }
        };
        match filter {
            // A small explicit id set: visit just those points, in memory order (the id map
            // only holds live offsets, and every id in the set passes by definition).
            Some(Filter::Ids(set)) if set.len() < self.offsets() / 4 => {
                let mut offsets: Vec<Offset> = set.iter().filter_map(|id| self.offset_of(*id)).collect();
                offsets.sort_unstable();
                for offset in offsets {
                    top.push(self.metric.score(query, self.vector(offset)), self.ids[offset as usize]);
                }
            }
            _ => (0..self.offsets() as Offset).for_each(&mut consider),
        }
        self.finish(top)
    }

    pub fn finish(&self, top: TopK<PointId>) -> Vec<ScoredPoint> {
        top.into_sorted()
            .into_iter()
            .map(|(score, id)| ScoredPoint { id, score: self.metric.finalize(score) })
            .collect()
    }

    pub fn memory_bytes(&self) -> usize {
        // The vectors grow into fresh allocations (`huge::reserve`) whose spare capacity is
        // never touched, so it is not resident: count what is in use.
        self.vectors.len() * 4
            + self.ids.capacity() * 8
            + self.deleted.capacity() * 8
            // hashbrown: key + value + one control byte per bucket
            + self.id_map.capacity() * (8 + 4 + 1)
    }

    pub fn write(&self, w: &mut Writer) -> Result<()> {
        w.u8(self.metric.code())?;
        w.u64(self.dim as u64)?;
        w.u64(self.offsets() as u64)?;
        w.f32s(&self.vectors)?;
        w.u64s(&self.ids)?;
        w.u64s(&self.deleted)
    }

    pub fn read(r: &mut Reader) -> Result<Self> {
        let metric = Metric::from_code(r.u8()?).ok_or_else(|| r.corrupt("unknown metric code"))?;
        let dim = r.len()?;
        let n = r.len()?;
        let vectors = r.f32s(n.checked_mul(dim).ok_or_else(|| r.corrupt("size overflow"))?)?;
        let ids = r.u64s(n)?;
        let deleted = r.u64s(n.div_ceil(64))?;
        let mut store = VectorStore::new(metric, dim);
        store.id_map.reserve(n);
        for (offset, &id) in ids.iter().enumerate() {
            if deleted[offset / 64] >> (offset % 64) & 1 == 1 {
                store.deleted_count += 1;
            } else if store.id_map.insert(id, offset as Offset).is_some() {
                return Err(r.corrupt(format!("id {id} is live at two offsets")));
            }
        }
        store.vectors = crate::huge::rehome(vectors);
        store.ids = ids;
        store.deleted = deleted;
        Ok(store)
    }
}

/// Checks a batch (shape, unique ids, every row) and returns its rows prepared for `metric`.
pub(crate) fn prepare_rows(metric: Metric, dim: usize, ids: &[PointId], vectors: &[f32]) -> Result<Vec<f32>> {
    if vectors.len() != ids.len() * dim {
        return Err(IndexError::BatchShape { ids: ids.len(), values: vectors.len(), dim });
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    if let Some(&id) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(IndexError::DuplicateId { id });
    }
    let mut out = Vec::with_capacity(vectors.len());
    for row in vectors.chunks_exact(dim.max(1)) {
        out.extend(metric.prepare(row, dim)?);
    }
    Ok(out)
}
