//! Exact search: a scan of every point. The oracle the other backends are tested against, and
//! the right choice for small collections.

use std::path::Path;

use parking_lot::RwLock;

use crate::distance::{Metric, Prepared};
use crate::error::{IndexError, Result};
use crate::persist::{Kind, Reader, Writer};
use crate::store::VectorStore;
use crate::traits::{per_query, query_vectors, VectorIndex};
use crate::types::{Filter, PointId, ScoredPoint, SearchParams};

#[derive(Debug)]
pub struct Flat {
    /// Never held across work on the rayon pool (see `crate::traits::per_query`): a batch's
    /// queries each take it for their own scan.
    store: RwLock<VectorStore>,
}

impl Flat {
    pub fn new(metric: Metric, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(IndexError::invalid("dim", "must be at least 1"));
        }
        Ok(Flat { store: RwLock::new(VectorStore::new(metric, dim)) })
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Self> {
        Ok(Flat { store: RwLock::new(VectorStore::read(r)?) })
    }
}

impl VectorIndex for Flat {
    fn backend(&self) -> &'static str {
        "flat"
    }
    fn metric(&self) -> Metric {
        self.store.read().metric
    }
    fn dim(&self) -> usize {
        self.store.read().dim
    }
    fn len(&self) -> usize {
        self.store.read().live()
    }
    fn deleted_count(&self) -> usize {
        self.store.read().deleted_count()
    }
    fn contains(&self, id: PointId) -> bool {
        self.store.read().offset_of(id).is_some()
    }
    fn vector(&self, id: PointId) -> Option<Vec<f32>> {
        self.vectors(&[id]).pop().flatten()
    }
    fn vectors(&self, ids: &[PointId]) -> Vec<Option<Vec<f32>>> {
        let store = self.store.read();
        ids.iter().map(|id| store.offset_of(*id).map(|o| store.vector(o).to_vec())).collect()
    }

    fn upsert(&self, ids: &[PointId], vectors: &[f32]) -> Result<()> {
        let prepared = self.store.read().prepare_batch(ids, vectors)?;
        self.store.write().append(ids, &prepared);
        Ok(())
    }

    fn delete(&self, ids: &[PointId]) -> usize {
        let mut store = self.store.write();
        ids.iter().filter(|id| store.delete(**id)).count()
    }

    fn search_prepared(
        &self,
        queries: &[Prepared],
        k: usize,
        _params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        let (metric, dim) = {
            let store = self.store.read();
            (store.metric, store.dim)
        };
        let queries = query_vectors(metric, dim, queries)?;
        Ok(per_query(&queries, |q| self.store.read().scan(q, k, filter)))
    }

    fn memory_bytes(&self) -> usize {
        self.store.read().memory_bytes()
    }

    fn save(&self, path: &Path) -> Result<()> {
        let mut w = Writer::create(path, Kind::Flat)?;
        self.store.read().write(&mut w)?;
        w.finish()
    }
}
