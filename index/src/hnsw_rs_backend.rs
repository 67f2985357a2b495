//! The `hnsw_rs` crate behind our [`VectorIndex`] contract, as an alternative backend.
//!
//! What it lacks is supplied here: deletes and replacements are tombstones in our own
//! [`VectorStore`] (hnsw_rs never forgets a point), filters go through its `FilterT` hook (inside
//! its search), and persistence stores the points in our checksummed format and rebuilds the
//! graph on load (hnsw_rs's own reloader returns an index that borrows from the loader).
//! hnsw_rs requires distances ≥ 0, so the unbounded `Dot` metric is refused.

use std::path::Path;

use hnsw_rs::prelude::{Distance, FilterT, Hnsw as RsHnsw};
use parking_lot::{Mutex, RwLock};

use crate::distance::{Metric, Prepared};
use crate::error::{IndexError, Result};
use crate::hnsw::HnswParams;
use crate::persist::{Kind, Reader, Writer};
use crate::store::VectorStore;
use crate::traits::{per_query, query_vectors, VectorIndex};
use crate::types::{Filter, Offset, PointId, ScoredPoint, SearchParams};

/// Our kernels as an hnsw_rs distance (≥ 0, lower is closer).
#[derive(Clone, Copy)]
struct Kernel(Metric);

impl Distance<f32> for Kernel {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.0 {
            // Prepared cosine vectors are unit length: 1 - dot is in [0, 2].
            Metric::Cosine | Metric::Dot => (1.0 - self.0.score(a, b)).max(0.0),
            Metric::L2 => -self.0.score(a, b),
        }
    }
}

struct Admit<'a> {
    store: &'a VectorStore,
    filter: Option<&'a Filter<'a>>,
}

impl FilterT for Admit<'_> {
    fn hnsw_filter(&self, id: &usize) -> bool {
        self.store.admits(*id as Offset, self.filter)
    }
}

pub struct HnswRs {
    params: HnswParams,
    graph: RsHnsw<'static, f32, Kernel>,
    /// Never held across work on the rayon pool (see `crate::traits::per_query`): each query
    /// of a batch takes it for itself, and an upsert appends under it, then inserts into
    /// hnsw_rs (in parallel) without it.
    store: RwLock<VectorStore>,
    /// Serialises writers; held across the parallel insert, which never takes it.
    writer: Mutex<()>,
}

impl HnswRs {
    pub fn new(metric: Metric, dim: usize, params: HnswParams) -> Result<Self> {
        if metric == Metric::Dot {
            return Err(IndexError::Unsupported {
                backend: "hnsw_rs",
                what: "the dot metric (it needs distances >= 0)".into(),
            });
        }
        if params.quantization.is_some() {
            return Err(IndexError::Unsupported { backend: "hnsw_rs", what: "quantization".into() });
        }
        if dim == 0 {
            return Err(IndexError::invalid("dim", "must be at least 1"));
        }
        let graph = RsHnsw::new(params.m, 100_000, 16, params.ef_construction, Kernel(metric));
        Ok(HnswRs {
            params,
            graph,
            store: RwLock::new(VectorStore::new(metric, dim)),
            writer: Mutex::new(()),
        })
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Self> {
        let params = HnswParams {
            m: r.usize()?,
            ef_construction: r.usize()?,
            ef_search: r.usize()?,
            full_scan_threshold: r.usize()?,
            ..HnswParams::default()
        };
        let stored = VectorStore::read(r)?;
        let index = HnswRs::new(stored.metric, stored.dim, params).map_err(|e| r.corrupt(e.to_string()))?;
        let live: Vec<Offset> = (0..stored.offsets() as Offset).filter(|&o| !stored.is_deleted(o)).collect();
        let ids: Vec<PointId> = live.iter().map(|&o| stored.ids[o as usize]).collect();
        let vectors: Vec<f32> = live.iter().flat_map(|&o| stored.vector(o).iter().copied()).collect();
        index.upsert(&ids, &vectors).map_err(|e| r.corrupt(e.to_string()))?;
        Ok(index)
    }
}

impl VectorIndex for HnswRs {
    fn backend(&self) -> &'static str {
        "hnsw_rs"
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
        let store = self.store.read();
        store.offset_of(id).map(|o| store.vector(o).to_vec())
    }

    fn upsert(&self, ids: &[PointId], vectors: &[f32]) -> Result<()> {
        let _writer = self.writer.lock();
        let prepared = self.store.read().prepare_batch(ids, vectors)?;
        let (first, dim) = {
            let mut store = self.store.write();
            (store.append(ids, &prepared) as usize, store.dim)
        };
        let rows: Vec<(&[f32], usize)> =
            prepared.chunks_exact(dim).enumerate().map(|(i, row)| (row, first + i)).collect();
        self.graph.parallel_insert_slice(&rows);
        Ok(())
    }

    fn delete(&self, ids: &[PointId]) -> usize {
        let _writer = self.writer.lock();
        let mut store = self.store.write();
        ids.iter().filter(|id| store.delete(**id)).count()
    }

    fn search_prepared(
        &self,
        queries: &[Prepared],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        let (metric, dim) = (self.metric(), self.dim());
        let queries = query_vectors(metric, dim, queries)?;
        let ef_wanted = params.ef.unwrap_or(self.params.ef_search);
        // Each query takes the read lock for itself (never across the pool's work). The store
        // stays in step with hnsw_rs under it: an upsert appends to the store before it
        // inserts into hnsw_rs, and cannot append while the lock is held.
        Ok(per_query(&queries, |q| {
            let store = self.store.read();
            // Nothing beyond the index size can be returned or kept: clamp absurd requests.
            let k = k.min(store.live());
            if k == 0 {
                return Vec::new();
            }
            if params.exact || store.prefers_scan(filter, self.params.full_scan_threshold) {
                return store.scan(q, k, filter);
            }
            let ef = ef_wanted.min(store.offsets()).max(k);
            let admit = Admit { store: &store, filter };
            let filtered = filter.is_some() || store.deleted_count() > 0;
            let found = self.graph.search_filter(q, k, ef, filtered.then_some(&admit as &dyn FilterT));
            let mut hits: Vec<ScoredPoint> = found
                .iter()
                .map(|n| n.d_id as Offset)
                .filter(|&o| (o as usize) < store.offsets() && store.admits(o, filter))
                .map(|o| ScoredPoint {
                    id: store.ids[o as usize],
                    score: store.metric.finalize(store.metric.score(q, store.vector(o))),
                })
                .collect();
            if hits.len() < k {
                return store.scan(q, k, filter);
            }
            hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
            hits.truncate(k);
            hits
        }))
    }

    fn memory_bytes(&self) -> usize {
        // hnsw_rs does not report its size; count the points it copies and its neighbour lists.
        let store = self.store.read();
        let per_point = store.dim * 4 + 2 * self.params.m * 16 + 64;
        store.memory_bytes() + store.offsets() * per_point
    }

    fn save(&self, path: &Path) -> Result<()> {
        let _writer = self.writer.lock();
        let mut w = Writer::create(path, Kind::HnswRs)?;
        let p = &self.params;
        w.u64(p.m as u64)?;
        w.u64(p.ef_construction as u64)?;
        w.u64(p.ef_search as u64)?;
        w.u64(p.full_scan_threshold as u64)?;
        self.store.read().write(&mut w)?;
        w.finish()
    }
}
