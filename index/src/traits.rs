//! The one contract every backend implements.

use std::path::Path;

use crate::distance::{Metric, Prepared};
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
    /// [`VectorIndex::vector`] of several points; backends with a lock take it once.
    fn vectors(&self, ids: &[PointId]) -> Vec<Option<Vec<f32>>> {
        ids.iter().map(|id| self.vector(*id)).collect()
    }
    /// Exact internal scores ([`Metric::score`]: higher is closer; L2 is minus the squared
    /// distance) of a prepared query against the stored vectors of `ids`; `None` for a point
    /// the index does not hold. A backend that keeps its vectors in another basis moves the
    /// query there once instead of moving each vector back.
    fn scores(&self, query: &Prepared, ids: &[PointId]) -> Vec<Option<f32>> {
        let metric = self.metric();
        self.vectors(ids).into_iter().map(|v| v.map(|v| metric.score(query.vector(), &v))).collect()
    }

    /// Inserts or replaces points.
    fn upsert(&self, ids: &[PointId], vectors: &[f32]) -> Result<()>;
    /// Deletes points; returns how many of them were present.
    fn delete(&self, ids: &[PointId]) -> usize;

    /// The best `k` allowed points for every query (prepared by [`Metric::query`] for this
    /// index's metric and dimension), best first. Required: callers batch.
    fn search_prepared(
        &self,
        queries: &[Prepared],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<ScoredPoint>>>;

    /// [`VectorIndex::search_prepared`] for queries as they come: each is checked and prepared.
    fn search_batch(
        &self,
        queries: &[&[f32]],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        let (metric, dim) = (self.metric(), self.dim());
        let prepared = queries.iter().map(|q| metric.query(q.to_vec(), dim)).collect::<Result<Vec<_>>>()?;
        self.search_prepared(&prepared, k, params, filter)
    }

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

/// The vectors of a batch of prepared queries, each checked against `metric` / `dim`.
pub(crate) fn query_vectors(metric: Metric, dim: usize, queries: &[Prepared]) -> Result<Vec<&[f32]>> {
    queries.iter().map(|q| q.for_index(metric, dim)).collect()
}

/// Runs `f` over the items (a batch's queries), in parallel on the current rayon pool when
/// there are several.
///
/// **The locking rule.** No engine lock — an index's `RwLock`, read or write — is ever held
/// across work that runs on, or waits for, the shared rayon pool: here, `f` must take the
/// index's read lock itself, per item, and must not be called with a guard held. A worker
/// that holds a read lock while it waits in a rayon join may steal another job (a search
/// from the caller's own `par_iter`, say) that blocks on that lock behind a waiting writer
/// (parking_lot's locks are fair): the writer then waits for the first reader forever. The
/// same holds for a writer that runs pool work while searches on the pool wait for its lock.
/// A writer's own mutex (serialising upserts and deletes) may be held across pool work, as
/// nothing that runs on the pool takes it: `upsert`, `delete` and `save` are not to be called
/// from inside the rayon pool that the index uses.
pub(crate) fn per_query<Q: Sync, T: Send>(items: &[Q], f: impl Fn(&Q) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    if items.len() <= 1 {
        items.iter().map(f).collect()
    } else {
        items.par_iter().map(f).collect()
    }
}
