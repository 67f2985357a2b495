//! The closed set of backends. Adding one means deciding every `match` here.

use std::path::Path;
use std::sync::Arc;

use crate::distance::{Metric, Prepared};
use crate::error::{IndexError, Result};
#[cfg(feature = "faiss")]
use crate::faiss::{Faiss, FaissParams};
use crate::flat::Flat;
use crate::hnsw::{Hnsw, HnswParams};
#[cfg(feature = "hnsw-rs")]
use crate::hnsw_rs_backend::HnswRs;
use crate::persist::{Kind, Reader};
use crate::source::VectorSource;
use crate::traits::VectorIndex;
use crate::types::{Filter, PointId, ScoredPoint, SearchParams};

/// Which implementation to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Exact scan.
    Flat,
    /// vicinity's HNSW.
    Hnsw,
    /// The `hnsw_rs` crate (cargo feature `hnsw-rs`).
    HnswRs,
    /// Faiss (cargo feature `faiss`); built with [`AnyIndex::faiss`].
    Faiss,
}

impl Backend {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "flat" => Ok(Backend::Flat),
            "hnsw" => Ok(Backend::Hnsw),
            "hnsw_rs" | "hnsw-rs" => Ok(Backend::HnswRs),
            "faiss" => Ok(Backend::Faiss),
            other => Err(IndexError::invalid(
                "backend",
                format!("unknown backend {other:?}; expected flat, hnsw, hnsw_rs or faiss"),
            )),
        }
    }
}

/// Any backend, behind the [`VectorIndex`] contract.
pub enum AnyIndex {
    Flat(Flat),
    Hnsw(Hnsw),
    #[cfg(feature = "hnsw-rs")]
    HnswRs(HnswRs),
    #[cfg(feature = "faiss")]
    Faiss(Faiss),
}

impl AnyIndex {
    /// An empty index. `params` are ignored by `Flat`.
    pub fn new(backend: Backend, metric: Metric, dim: usize, params: HnswParams) -> Result<Self> {
        match backend {
            Backend::Flat => Ok(AnyIndex::Flat(Flat::new(metric, dim)?)),
            Backend::Hnsw => Ok(AnyIndex::Hnsw(Hnsw::new(metric, dim, params)?)),
            #[cfg(feature = "hnsw-rs")]
            Backend::HnswRs => Ok(AnyIndex::HnswRs(HnswRs::new(metric, dim, params)?)),
            #[cfg(not(feature = "hnsw-rs"))]
            Backend::HnswRs => Err(IndexError::Unsupported {
                backend: "this build",
                what: "the hnsw_rs backend (cargo feature `hnsw-rs`)".into(),
            }),
            Backend::Faiss => Err(IndexError::invalid(
                "backend",
                "a Faiss index is built from its factory string (AnyIndex::faiss)",
            )),
        }
    }

    /// An empty Faiss index.
    #[cfg(feature = "faiss")]
    pub fn faiss(metric: Metric, dim: usize, params: FaissParams) -> Result<Self> {
        Ok(AnyIndex::Faiss(Faiss::new(metric, dim, params)?))
    }

    /// Attaches the caller's stored vectors (used by backends that keep only codes).
    #[cfg_attr(not(feature = "faiss"), allow(unused_variables, clippy::needless_pass_by_value))]
    pub fn set_source(&self, source: Arc<dyn VectorSource>) {
        match self {
            #[cfg(feature = "faiss")]
            AnyIndex::Faiss(i) => i.set_source(source),
            AnyIndex::Flat(_) | AnyIndex::Hnsw(_) => {}
            #[cfg(feature = "hnsw-rs")]
            AnyIndex::HnswRs(_) => {}
        }
    }

    /// Loads a file written by [`VectorIndex::save`], whatever its backend.
    pub fn load(path: &Path) -> Result<Self> {
        let mut r = Reader::open(path)?;
        let index = match r.kind {
            Kind::Flat => AnyIndex::Flat(Flat::read(&mut r)?),
            Kind::Hnsw => AnyIndex::Hnsw(Hnsw::read(&mut r)?),
            #[cfg(feature = "hnsw-rs")]
            Kind::HnswRs => AnyIndex::HnswRs(HnswRs::read(&mut r)?),
            #[cfg(not(feature = "hnsw-rs"))]
            Kind::HnswRs => return Err(r.corrupt("written by the hnsw_rs backend, not in this build")),
            #[cfg(feature = "faiss")]
            Kind::Faiss => AnyIndex::Faiss(Faiss::read(&mut r, &crate::faiss::scratch_path(path))?),
            #[cfg(not(feature = "faiss"))]
            Kind::Faiss => return Err(r.corrupt("written by the faiss backend, not in this build")),
            Kind::Sparse => return Err(r.corrupt("holds a sparse index (SparseIndex::load reads it)")),
        };
        r.finish()?;
        Ok(index)
    }

    fn inner(&self) -> &dyn VectorIndex {
        match self {
            AnyIndex::Flat(i) => i,
            AnyIndex::Hnsw(i) => i,
            #[cfg(feature = "hnsw-rs")]
            AnyIndex::HnswRs(i) => i,
            #[cfg(feature = "faiss")]
            AnyIndex::Faiss(i) => i,
        }
    }
}

impl VectorIndex for AnyIndex {
    fn backend(&self) -> &'static str {
        self.inner().backend()
    }
    fn metric(&self) -> Metric {
        self.inner().metric()
    }
    fn dim(&self) -> usize {
        self.inner().dim()
    }
    fn len(&self) -> usize {
        self.inner().len()
    }
    fn deleted_count(&self) -> usize {
        self.inner().deleted_count()
    }
    fn leaves_tombstones(&self) -> bool {
        self.inner().leaves_tombstones()
    }
    fn contains(&self, id: PointId) -> bool {
        self.inner().contains(id)
    }
    fn vector(&self, id: PointId) -> Option<Vec<f32>> {
        self.inner().vector(id)
    }
    fn vectors(&self, ids: &[PointId]) -> Vec<Option<Vec<f32>>> {
        self.inner().vectors(ids)
    }
    fn scores(&self, query: &Prepared, ids: &[PointId]) -> Vec<Option<f32>> {
        self.inner().scores(query, ids)
    }
    fn upsert(&self, ids: &[PointId], vectors: &[f32]) -> Result<()> {
        self.inner().upsert(ids, vectors)
    }
    fn delete(&self, ids: &[PointId]) -> usize {
        self.inner().delete(ids)
    }
    fn search_prepared(
        &self,
        queries: &[Prepared],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        self.inner().search_prepared(queries, k, params, filter)
    }
    fn memory_bytes(&self) -> usize {
        self.inner().memory_bytes()
    }
    fn save(&self, path: &Path) -> Result<()> {
        self.inner().save(path)
    }
}
