//! The one contract every backend implements.

use std::path::Path;

use crate::distance::Metric;
use crate::error::Result;
use crate::types::{Filter, PointId, ScoredPoint, SearchParams};

/// A searchable set of vectors keyed by [`PointId`].
///
/// All methods take `&self`: inserts and deletes may run while other threads search. Vectors go
/// in row-major (`ids.len() * dim` values) and are validated; an id inserted again replaces its
/// old vector. Deleted and replaced points are never returned.
pub trait VectorIndex: Send + Sync {
    /// Short backend name (`flat`, `hnsw`, `hnsw_rs`).
    fn backend(&self) -> &'static str;
    fn metric(&self) -> Metric;
    fn dim(&self) -> usize;
    /// Live points.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Tombstoned points still occupying space (the service vacuums when this grows).
    fn deleted_count(&self) -> usize;
    /// Whether replacing or deleting a point leaves a tombstone behind (Faiss removes at once).
    fn leaves_tombstones(&self) -> bool {
        true
    }
    fn contains(&self, id: PointId) -> bool;
    /// The stored (prepared: normalised under cosine) vector of a live point.
    fn vector(&self, id: PointId) -> Option<Vec<f32>>;

    /// Inserts or replaces points.
    fn upsert(&self, ids: &[PointId], vectors: &[f32]) -> Result<()>;
    /// Deletes points; returns how many of them were present.
    fn delete(&self, ids: &[PointId]) -> usize;

    /// The best `k` allowed points for every query, best first. Required: callers batch.
    fn search_batch(
        &self,
        queries: &[&[f32]],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<ScoredPoint>>>;

    /// One query; a batch of one.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<ScoredPoint>> {
        Ok(self.search_batch(&[query], k, params, filter)?.pop().unwrap_or_default())
    }

    /// Heap bytes held by the index (vectors, graph, maps).
    fn memory_bytes(&self) -> usize;
    /// Writes the index to `path` atomically (see `persist`).
    fn save(&self, path: &Path) -> Result<()>;
}

/// Checks and prepares a batch of queries for `metric` / `dim`.
pub(crate) fn prepare_queries(metric: Metric, dim: usize, queries: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
    queries.iter().map(|q| metric.prepare(q, dim)).collect()
}

/// Runs `f` over the queries, in parallel on the current rayon pool when there are several.
pub(crate) fn per_query<T: Send>(queries: &[Vec<f32>], f: impl Fn(&[f32]) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    if queries.len() <= 1 {
        queries.iter().map(|q| f(q)).collect()
    } else {
        queries.par_iter().map(|q| f(q)).collect()
    }
}
