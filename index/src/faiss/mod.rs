//! Faiss behind our [`VectorIndex`] contract (cargo feature `faiss`): IVF-Flat, IVF-SQ8, IVF-PQ
//! or any Faiss factory string, for collections whose vectors should not all sit in RAM as f32.
//!
//! - Labels are our point ids, bit-cast to Faiss's i64 (`u64::MAX` is refused: it is Faiss's
//!   "no result"). Non-IVF factories are wrapped in `IDMap` so that ids can be given.
//! - An IVF index must be trained before it takes points: points wait in an f32 buffer (searched
//!   exactly) until `train_size` have arrived, then the index is trained on them and they go in.
//! - Deletes and replacements remove the point from Faiss at once (no tombstones).
//! - Filters become a Faiss ID selector evaluated inside the search; a filtered IVF search that
//!   finds fewer than `k` probes every list. With a [`VectorSource`] attached, a small allowed
//!   set is scored exactly instead, and the best `k · oversampling` candidates are rescored
//!   with the stored f32 vectors (`rescore`).
//! - Persistence: the engine's checksummed file, with Faiss's own serialisation inside.

mod ffi;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use faiss::index::IndexImpl;
use faiss::selector::IdSelector;
use faiss::{Idx, Index, MetricType};
use parking_lot::RwLock;

use crate::distance::{Metric, Prepared};
use crate::error::{IndexError, Result};
use crate::persist::{Kind, Reader, Writer};
use crate::source::VectorSource;
use crate::store::prepare_rows;
use crate::topk::TopK;
use crate::traits::{per_query, query_vectors, VectorIndex};
use crate::types::{check_oversampling, Filter, PointId, ScoredPoint, SearchParams};

pub use ffi::set_threads;

/// A filtered search scores the allowed points exactly (from the source) when
/// [`crate::plan::prefers_scan`] says so, with this threshold.
const EXACT_FILTER_MAX: usize = 2_000;

/// What to build and how to search it.
#[derive(Clone, Debug, PartialEq)]
pub struct FaissParams {
    /// A Faiss index factory string, e.g. `IVF1024,PQ32x8`, `IVF4096,SQ8`, `IVF256,Flat`.
    pub factory: String,
    /// Inverted lists probed per query (IVF). Larger: higher recall, proportionally slower.
    pub nprobe: usize,
    /// Points buffered before an IVF index is trained on them (0: `max(64 · nlist, 10,000)`).
    /// Larger: better centroids and codebooks, a longer pause when training runs.
    pub train_size: usize,
    /// Rescore the best `k · oversampling` candidates with the stored f32 vectors (needs a
    /// [`VectorSource`]). Costs one vector read per candidate; lifts recall above what the
    /// compressed codes reach.
    pub rescore: bool,
    pub oversampling: f32,
}

impl FaissParams {
    pub fn new(factory: impl Into<String>) -> Self {
        FaissParams { factory: factory.into(), nprobe: 16, train_size: 0, rescore: true, oversampling: 16.0 }
    }

    /// The factory string of a named preset: `ivf_flat`, `ivf_sq8` or `ivf_pq` (PQ with `m`
    /// sub-quantizers of `nbits` bits).
    pub fn preset(name: &str, nlist: usize, m: usize, nbits: usize) -> Result<String> {
        if nlist == 0 {
            return Err(IndexError::invalid("nlist", "must be at least 1"));
        }
        match name {
            "ivf_flat" => Ok(format!("IVF{nlist},Flat")),
            "ivf_sq8" => Ok(format!("IVF{nlist},SQ8")),
            "ivf_pq" if m == 0 || !(1..=16).contains(&nbits) => {
                Err(IndexError::invalid("pq", "m must be at least 1 and nbits between 1 and 16"))
            }
            "ivf_pq" => Ok(format!("IVF{nlist},PQ{m}x{nbits}")),
            other => Err(IndexError::invalid(
                "preset",
                format!("unknown Faiss preset {other:?}; expected ivf_flat, ivf_sq8 or ivf_pq"),
            )),
        }
    }

    /// The `nlist` of an IVF factory string: `IVF<n>`, with Faiss's `k` (×1024) and `M`
    /// (×1024²) suffixes.
    pub fn nlist(&self) -> Option<usize> {
        let at = self.factory.find("IVF")? + 3;
        let rest = &self.factory[at..];
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: usize = rest[..end].parse().ok()?;
        match rest[end..].chars().next() {
            Some('k') => n.checked_mul(1 << 10),
            Some('M') => n.checked_mul(1 << 20),
            _ => Some(n),
        }
    }

    /// Points collected before training: the setting (or `max(64 · nlist, 10,000)`), and never
    /// fewer than Faiss needs — one per list, and 256 per PQ / SQ codebook.
    fn train_size(&self) -> usize {
        let floor = self.nlist().unwrap_or(1).max(256);
        let wanted = match (self.train_size, self.nlist()) {
            (0, Some(nlist)) => nlist.saturating_mul(64).max(10_000),
            (0, None) => 10_000,
            (n, _) => n,
        };
        wanted.max(floor)
    }

    pub fn validate(&self) -> Result<()> {
        if self.factory.is_empty() || !self.factory.is_ascii() || self.factory.contains('\0') {
            return Err(IndexError::invalid("factory", "must be a non-empty ASCII Faiss factory string"));
        }
        if self.nprobe == 0 {
            return Err(IndexError::invalid("nprobe", "must be at least 1"));
        }
        check_oversampling(self.oversampling)
    }
}

/// Rescoring never reads more than `k` times this many candidates.
const MAX_OVERSAMPLING: f32 = 100.0;

/// Faiss's metric for ours: cosine is inner product on the normalised vectors.
fn faiss_metric(metric: Metric) -> MetricType {
    match metric {
        Metric::L2 => MetricType::L2,
        Metric::Cosine | Metric::Dot => MetricType::InnerProduct,
    }
}

/// A Faiss ID selector of `ids`.
fn selector(ids: &[PointId]) -> Result<IdSelector> {
    let labels: Vec<Idx> = ids.iter().map(|id| label(*id)).collect();
    IdSelector::batch(&labels).map_err(faiss_err)
}

fn faiss_err(e: impl std::fmt::Display) -> IndexError {
    IndexError::Backend { backend: "faiss", reason: e.to_string() }
}

fn label(id: PointId) -> Idx {
    Idx::from(id as i64)
}

struct State {
    index: IndexImpl,
    /// Points waiting for an IVF index to be trained (ids and prepared rows).
    pending_ids: Vec<PointId>,
    pending: Vec<f32>,
    /// Every live point, in `index` or in `pending`.
    live: HashSet<PointId>,
}

pub struct Faiss {
    metric: Metric,
    dim: usize,
    params: FaissParams,
    /// Never held across work on the rayon pool (see `crate::traits::per_query`): exact scans
    /// of a batch take it query by query. (Faiss's own OpenMP threads run under it.)
    state: RwLock<State>,
    source: RwLock<Option<Arc<dyn VectorSource>>>,
}

impl Faiss {
    pub fn new(metric: Metric, dim: usize, params: FaissParams) -> Result<Self> {
        params.validate()?;
        ffi::single_threaded_blas();
        if dim == 0 {
            return Err(IndexError::invalid("dim", "must be at least 1"));
        }
        let index = Self::create(metric, dim, &params)?;
        Ok(Faiss {
            metric,
            dim,
            params,
            state: RwLock::new(State {
                index,
                pending_ids: Vec::new(),
                pending: Vec::new(),
                live: HashSet::new(),
            }),
            source: RwLock::new(None),
        })
    }

    fn create(metric: Metric, dim: usize, params: &FaissParams) -> Result<IndexImpl> {
        let d = u32::try_from(dim).map_err(|_| IndexError::invalid("dim", "too large"))?;
        let kind = faiss_metric(metric);
        let factory = if params.factory.contains("IVF") || params.factory.starts_with("IDMap") {
            params.factory.clone()
        } else {
            format!("IDMap,{}", params.factory)
        };
        let mut index = faiss::index_factory(d, &factory, kind).map_err(|e| {
            IndexError::invalid("factory", format!("Faiss refused {:?}: {e}", params.factory))
        })?;
        // Deletes and replacements need remove_ids, which some kinds (HNSW, NSG, refine) lack.
        let nothing = selector(&[])?;
        if index.remove_ids(&nothing).is_err() {
            return Err(IndexError::invalid(
                "factory",
                format!(
                    "Faiss cannot remove points from {:?}; use an IVF index (IVF…,Flat / SQ8 / PQ…) or Flat",
                    params.factory
                ),
            ));
        }
        Ok(index)
    }

    pub fn params(&self) -> &FaissParams {
        &self.params
    }

    /// Where full-precision vectors come from for rescoring, small filtered sets and
    /// [`VectorIndex::vector`].
    pub fn set_source(&self, source: Arc<dyn VectorSource>) {
        *self.source.write() = Some(source);
    }

    /// Whether the index has been trained (points then go straight into Faiss).
    pub fn is_trained(&self) -> bool {
        self.state.read().index.is_trained()
    }

    /// Trains on a strided sample of `train_size` rows of the buffered points followed by
    /// `new` (row-major). Nothing else changes, so a failure leaves the index as it was.
    fn train(&self, s: &mut State, new: &[f32]) -> Result<()> {
        let dim = self.dim;
        let buffered = s.pending.len() / dim;
        let n = buffered + new.len() / dim;
        let want = self.params.train_size().min(n).max(1);
        let mut sample = Vec::with_capacity(want * dim);
        for r in (0..n).step_by((n / want).max(1)).take(want) {
            let row = if r < buffered {
                &s.pending[r * dim..(r + 1) * dim]
            } else {
                &new[(r - buffered) * dim..(r - buffered + 1) * dim]
            };
            sample.extend_from_slice(row);
        }
        s.index.train(&sample).map_err(faiss_err)
    }

    /// Moves the buffered points into a trained index.
    fn flush_pending(s: &mut State) -> Result<()> {
        if s.pending_ids.is_empty() {
            return Ok(());
        }
        let labels: Vec<Idx> = s.pending_ids.iter().map(|id| label(*id)).collect();
        s.index.add_with_ids(&s.pending, &labels).map_err(faiss_err)?;
        s.pending_ids = Vec::new();
        s.pending = Vec::new();
        Ok(())
    }

    /// Removes `ids` (all live) from Faiss or from the training buffer.
    fn remove(&self, s: &mut State, ids: &[PointId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        if s.index.is_trained() && s.index.ntotal() > 0 {
            s.index.remove_ids(&selector(ids)?).map_err(faiss_err)?;
        }
        if !s.pending_ids.is_empty() {
            let gone: HashSet<PointId> = ids.iter().copied().collect();
            let dim = self.dim;
            let (mut ids_kept, mut rows_kept) = (Vec::new(), Vec::new());
            for (i, id) in s.pending_ids.iter().enumerate() {
                if !gone.contains(id) {
                    ids_kept.push(*id);
                    rows_kept.extend_from_slice(&s.pending[i * dim..(i + 1) * dim]);
                }
            }
            s.pending_ids = ids_kept;
            s.pending = rows_kept;
        }
        for id in ids {
            s.live.remove(id);
        }
        Ok(())
    }

    /// The allowed live ids of a filter.
    fn allowed(s: &State, filter: &Filter) -> Vec<PointId> {
        match filter {
            Filter::Ids(set) => set.iter().copied().filter(|id| s.live.contains(id)).collect(),
            Filter::Predicate { test, .. } => s.live.iter().copied().filter(|id| test(*id)).collect(),
        }
    }

    /// Scores `ids` against `query` with their stored vectors into `top` (ids the source does
    /// not know are skipped).
    fn push_stored(
        &self,
        top: &mut TopK<PointId>,
        query: &[f32],
        source: &dyn VectorSource,
        ids: &[PointId],
    ) {
        for (id, v) in ids.iter().zip(source.vectors(ids)) {
            if let Some(v) = v.filter(|v| v.len() == self.dim) {
                top.push(self.metric.score(query, &v), *id);
            }
        }
    }

    /// Exact top-k of `ids` with vectors from the training buffer or the source.
    fn score_exact(
        &self,
        s: &State,
        source: Option<&Arc<dyn VectorSource>>,
        query: &[f32],
        ids: &[PointId],
        k: usize,
    ) -> Vec<(f32, PointId)> {
        let mut top = TopK::new(k);
        if !s.pending_ids.is_empty() {
            let wanted: Option<HashSet<PointId>> =
                (ids.len() != s.live.len()).then(|| ids.iter().copied().collect());
            for (i, id) in s.pending_ids.iter().enumerate() {
                if wanted.as_ref().is_none_or(|w| w.contains(id)) {
                    top.push(self.metric.score(query, &s.pending[i * self.dim..(i + 1) * self.dim]), *id);
                }
            }
        }
        if let Some(source) = source.filter(|_| s.index.ntotal() > 0) {
            if s.pending_ids.is_empty() {
                self.push_stored(&mut top, query, source.as_ref(), ids);
            } else {
                let pending: HashSet<PointId> = s.pending_ids.iter().copied().collect();
                let rest: Vec<PointId> = ids.iter().copied().filter(|id| !pending.contains(id)).collect();
                self.push_stored(&mut top, query, source.as_ref(), &rest);
            }
        }
        top.into_sorted()
    }

    /// The best `want` candidates of every query by their Faiss codes (score, id), one Faiss
    /// call for the whole batch.
    fn candidates(
        &self,
        s: &State,
        queries: &[&[f32]],
        want: usize,
        nprobe: usize,
        allowed: Option<&[PointId]>,
    ) -> Result<Vec<Vec<(f32, PointId)>>> {
        let selector = allowed.map(selector).transpose()?;
        let ivf_nprobe = self.params.nlist().map(|_| nprobe);
        let params = ffi::Params::new(ivf_nprobe, selector.as_ref()).map_err(faiss_err)?;
        let flat: Vec<f32> = queries.concat();
        let (distances, labels) =
            ffi::search(&s.index, &flat, queries.len(), want, params.as_ref()).map_err(faiss_err)?;
        Ok(distances
            .chunks(want)
            .zip(labels.chunks(want))
            .map(|(d, l)| {
                d.iter()
                    .zip(l)
                    .filter(|(_, l)| **l != -1)
                    .map(|(d, l)| {
                        let score = match self.metric {
                            Metric::L2 => -d,
                            Metric::Cosine | Metric::Dot => *d,
                        };
                        (score, *l as PointId)
                    })
                    .collect()
            })
            .collect())
    }

    /// Trained searches: Faiss candidates (restricted to `allowed`), then rescored.
    #[allow(clippy::too_many_arguments)]
    fn search_trained(
        &self,
        s: &State,
        queries: &[&[f32]],
        k: usize,
        nprobe: usize,
        allowed: Option<&[PointId]>,
        rescore: Option<(&Arc<dyn VectorSource>, f32)>,
    ) -> Result<Vec<Vec<(f32, PointId)>>> {
        let reachable = allowed.map_or(s.live.len(), <[PointId]>::len);
        let want = match rescore {
            Some((_, over)) => ((k as f32 * over).ceil() as usize).max(k),
            None => k,
        }
        .min(reachable);
        if want == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let mut found = self.candidates(s, queries, want, nprobe, allowed)?;
        // A selective filter can leave the probed lists short of allowed points: probe them all.
        if let (Some(nlist), Some(_)) = (self.params.nlist(), allowed) {
            for (q, f) in queries.iter().zip(found.iter_mut()) {
                if f.len() < want && nprobe < nlist {
                    *f = self
                        .candidates(s, std::slice::from_ref(q), want, nlist, allowed)?
                        .pop()
                        .unwrap_or_default();
                }
            }
        }
        let Some((source, _)) = rescore else {
            found.iter_mut().for_each(|f| f.truncate(k));
            return Ok(found);
        };
        Ok(queries
            .iter()
            .zip(found)
            .map(|(q, f)| {
                let ids: Vec<PointId> = f.iter().map(|(_, id)| *id).collect();
                let mut top = TopK::new(k);
                self.push_stored(&mut top, q, source.as_ref(), &ids);
                top.into_sorted()
            })
            .collect())
    }

    /// The batch's answers, or `None` for an exact scan of several queries, which the caller
    /// runs query by query in parallel (each under its own read lock: none is held across the
    /// rayon pool's work).
    fn search_all(
        &self,
        s: &State,
        queries: &[&[f32]],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Option<Vec<Vec<ScoredPoint>>>> {
        let k = k.min(s.live.len());
        if k == 0 {
            return Ok(Some(vec![Vec::new(); queries.len()]));
        }
        let source = self.source.read().clone();
        let allowed = filter.map(|f| Self::allowed(s, f));
        let small = allowed
            .as_ref()
            .is_some_and(|a| crate::plan::prefers_scan(a.len(), s.live.len(), EXACT_FILTER_MAX));
        let exact = !s.index.is_trained() || (params.exact || small) && source.is_some();
        let found = if exact {
            if queries.len() > 1 {
                // The caller runs them one by one, without holding the lock across the pool.
                return Ok(None);
            }
            let all: Vec<PointId>;
            let ids = match &allowed {
                Some(a) => a.as_slice(),
                None => {
                    all = s.live.iter().copied().collect();
                    &all
                }
            };
            queries.iter().map(|q| self.score_exact(s, source.as_ref(), q, ids, k)).collect::<Vec<_>>()
        } else {
            let over = params.oversampling.unwrap_or(self.params.oversampling);
            check_oversampling(over)?;
            let over = over.min(MAX_OVERSAMPLING);
            let rescore = source.as_ref().filter(|_| self.params.rescore).map(|src| (src, over));
            // `exact` without a source: every list, scored by the codes.
            let nprobe = match (params.exact, self.params.nlist()) {
                (true, Some(nlist)) => nlist,
                _ => params.nprobe.unwrap_or(self.params.nprobe).max(1),
            };
            self.search_trained(s, queries, k, nprobe, allowed.as_deref(), rescore)?
        };
        let finalize = |hits: Vec<(f32, PointId)>| {
            hits.into_iter()
                .map(|(score, id)| ScoredPoint { id, score: self.metric.finalize(score) })
                .collect()
        };
        Ok(Some(found.into_iter().map(finalize).collect()))
    }

    pub(crate) fn read(r: &mut Reader, scratch: &Path) -> Result<Self> {
        ffi::single_threaded_blas();
        let metric = Metric::from_code(r.u8()?).ok_or_else(|| r.corrupt("unknown metric code"))?;
        let dim = r.len()?;
        let factory_len = r.len()?;
        let factory =
            String::from_utf8(r.u8s(factory_len)?).map_err(|_| r.corrupt("factory is not UTF-8"))?;
        let params = FaissParams {
            factory,
            nprobe: r.usize()?,
            train_size: r.usize()?,
            rescore: r.u8()? == 1,
            oversampling: r.f32()?,
        };
        params.validate().map_err(|e| r.corrupt(e.to_string()))?;
        let n_pending = r.len()?;
        let pending_ids = r.u64s(n_pending)?;
        let pending = r.f32s(n_pending.checked_mul(dim).ok_or_else(|| r.corrupt("size overflow"))?)?;
        let n_live = r.len()?;
        let live: HashSet<PointId> = r.u64s(n_live)?.into_iter().collect();
        let blob_len = r.len()?;
        let blob = r.u8s(blob_len)?;
        std::fs::write(scratch, &blob).map_err(|e| IndexError::io(scratch, e))?;
        let loaded = scratch.to_str().ok_or_else(|| r.corrupt("scratch path is not UTF-8")).and_then(|p| {
            faiss::read_index(p).map_err(|e| r.corrupt(format!("faiss could not read its index: {e}")))
        });
        let _ = std::fs::remove_file(scratch);
        let index = loaded?;
        let pending_unique: HashSet<PointId> = pending_ids.iter().copied().collect();
        if index.d() as usize != dim
            || index.metric_type() != faiss_metric(metric)
            || index.ntotal() as usize + pending_ids.len() != live.len()
            || (index.is_trained() && !pending_ids.is_empty())
            || pending_unique.len() != pending_ids.len()
            || !pending_unique.is_subset(&live)
        {
            return Err(r.corrupt("the Faiss index disagrees with the stored ids and settings"));
        }
        Ok(Faiss {
            metric,
            dim,
            params,
            state: RwLock::new(State { index, pending_ids, pending, live }),
            source: RwLock::new(None),
        })
    }
}

impl VectorIndex for Faiss {
    fn backend(&self) -> &'static str {
        "faiss"
    }
    fn metric(&self) -> Metric {
        self.metric
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        self.state.read().live.len()
    }
    fn deleted_count(&self) -> usize {
        0
    }
    fn leaves_tombstones(&self) -> bool {
        false
    }
    fn contains(&self, id: PointId) -> bool {
        self.state.read().live.contains(&id)
    }
    fn vector(&self, id: PointId) -> Option<Vec<f32>> {
        let s = self.state.read();
        if !s.live.contains(&id) {
            return None;
        }
        if let Some(i) = s.pending_ids.iter().position(|p| *p == id) {
            return Some(s.pending[i * self.dim..(i + 1) * self.dim].to_vec());
        }
        self.source.read().as_ref()?.vectors(&[id]).pop().flatten()
    }

    fn upsert(&self, ids: &[PointId], vectors: &[f32]) -> Result<()> {
        if ids.contains(&u64::MAX) {
            return Err(IndexError::invalid("ids", "the Faiss backend cannot hold id 2^64 - 1"));
        }
        let prepared = prepare_rows(self.metric, self.dim, ids, vectors)?;
        let mut s = self.state.write();
        // Train first, when this batch brings enough points: if Faiss refuses, nothing changed.
        if !s.index.is_trained() && s.pending_ids.len() + ids.len() >= self.params.train_size() {
            self.train(&mut s, &prepared)?;
        }
        let replaced: Vec<PointId> = ids.iter().copied().filter(|id| s.live.contains(id)).collect();
        self.remove(&mut s, &replaced)?;
        if s.index.is_trained() {
            Self::flush_pending(&mut s)?;
            let labels: Vec<Idx> = ids.iter().map(|id| label(*id)).collect();
            s.index.add_with_ids(&prepared, &labels).map_err(faiss_err)?;
        } else {
            s.pending_ids.extend_from_slice(ids);
            s.pending.extend_from_slice(&prepared);
        }
        s.live.extend(ids.iter().copied());
        Ok(())
    }

    fn delete(&self, ids: &[PointId]) -> usize {
        let mut s = self.state.write();
        let present: Vec<PointId> = ids.iter().copied().filter(|id| s.live.contains(id)).collect();
        // Should Faiss refuse the removal, `live` is left as it was: consistent with what
        // Faiss still returns.
        self.remove(&mut s, &present).map_or(0, |()| present.len())
    }

    fn search_prepared(
        &self,
        queries: &[Prepared],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        let queries = query_vectors(self.metric, self.dim, queries)?;
        if let Some(found) = self.search_all(&self.state.read(), &queries, k, params, filter)? {
            return Ok(found);
        }
        // Exact scans, query by query on the rayon pool: each takes the read lock for itself,
        // never across the pool's work (see `crate::traits::per_query`).
        per_query(&queries, |q| {
            let found = self.search_all(&self.state.read(), std::slice::from_ref(q), k, params, filter)?;
            Ok(found.and_then(|mut f| f.pop()).unwrap_or_default())
        })
        .into_iter()
        .collect()
    }

    fn memory_bytes(&self) -> usize {
        let s = self.state.read();
        let codes = s.index.ntotal() as usize * (ffi::code_size(&s.index) + 8);
        let centroids = self.params.nlist().unwrap_or(0) * self.dim * 4;
        codes + centroids + s.pending.capacity() * 4 + s.pending_ids.capacity() * 8 + s.live.capacity() * 9
    }

    fn save(&self, path: &Path) -> Result<()> {
        let scratch = scratch_path(path);
        let s = self.state.read();
        let scratch_str = scratch.to_str().ok_or_else(|| IndexError::invalid("path", "must be UTF-8"))?;
        faiss::write_index(&s.index, scratch_str).map_err(faiss_err)?;
        let blob = std::fs::read(&scratch).map_err(|e| IndexError::io(&scratch, e));
        let _ = std::fs::remove_file(&scratch);
        let blob = blob?;
        let mut w = Writer::create(path, Kind::Faiss)?;
        w.u8(self.metric.code())?;
        w.u64(self.dim as u64)?;
        w.u64(self.params.factory.len() as u64)?;
        w.bytes(self.params.factory.as_bytes())?;
        w.u64(self.params.nprobe as u64)?;
        w.u64(self.params.train_size as u64)?;
        w.u8(u8::from(self.params.rescore))?;
        w.f32(self.params.oversampling)?;
        w.u64(s.pending_ids.len() as u64)?;
        w.u64s(&s.pending_ids)?;
        w.f32s(&s.pending)?;
        let live: Vec<u64> = s.live.iter().copied().collect();
        w.u64(live.len() as u64)?;
        w.u64s(&live)?;
        w.u64(blob.len() as u64)?;
        w.bytes(&blob)?;
        w.finish()
    }
}

/// A file beside `path` for Faiss's own (file-based) serialisation.
pub(crate) fn scratch_path(path: &Path) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".faiss-scratch");
    p.into()
}
