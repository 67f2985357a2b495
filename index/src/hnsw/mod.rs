//! vicinity's HNSW (Malkov & Yashunin, 2016): a layered proximity graph searched best-first.
//!
//! - `graph`: the compact layout (flat `u32` neighbour lists, one vector buffer).
//! - `build`: parallel insertion with the neighbour heuristic.
//! - `search`: greedy descent and the filtered beam search.
//! - `persist`: save/load.
//!
//! Invariants: an offset's vector never changes once appended, but for the one change of basis
//! (`crate::rotation`), made under the exclusive lock, that changes no score; a deleted or
//! replaced offset stays in the graph as a waypoint but is never returned; neighbour lists only
//! ever hold offsets below the number of appended points, at most `max_links(level)` of them,
//! never their own; once an upsert returns, every live offset is reachable from the entry
//! point over level 0 (`Hnsw::check_invariants` checks all of these).
//!
//! Locks: the graph's `RwLock` is never held across work on the rayon pool (see
//! `crate::traits::per_query`); queries and linked points take it one at a time.

mod build;
mod graph;
mod persist;
mod search;
mod visited;

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;

use crate::distance::{Metric, Prepared};
use crate::error::{IndexError, Result};
use crate::quant::Int8Quantizer;
use crate::rotation::Rotation;
use crate::store::VectorStore;
use crate::traits::{per_query, query_vectors, VectorIndex};
use crate::types::{check_oversampling, Filter, Offset, PointId, ScoredPoint, SearchParams};
use graph::{Codes, Graph, MAX_M0};
use search::{walk, Beam, F32Scorer, I8Scorer, Scorer};
use visited::VisitedPool;

/// Points an index holds before it fits its basis (`crate::rotation`): enough to estimate the
/// principal axes, few enough that moving the earlier points into the basis is cheap.
const ROTATION_FIT_AT: usize = 1024;

/// Build and search parameters, named as in the paper.
#[derive(Clone, Debug, PartialEq)]
pub struct HnswParams {
    /// Neighbours kept per node on the upper levels; level 0 keeps `2·m`. Larger: higher recall
    /// at the same `ef_search`, but `8·m` more bytes per vector and a slower build and search.
    pub m: usize,
    /// Candidate list size while inserting. Larger: a better-connected graph (higher recall at
    /// the same `ef_search`), at a build time roughly proportional to it.
    pub ef_construction: usize,
    /// Default candidate list size while searching (raised to `k` when smaller). Larger: higher
    /// recall, slower queries (roughly linear).
    pub ef_search: usize,
    /// A filtered search whose allowed set is estimated at or below this many points scans
    /// them exactly instead of walking the graph (as does one allowing ≤ 5% of the points).
    pub full_scan_threshold: usize,
    /// Optional int8 codes for the graph walk, rescored with f32 vectors.
    pub quantization: Option<Quantization>,
    /// Seed of the level assignment: equal seeds and inputs give equal graphs when built on one
    /// thread.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            full_scan_threshold: 10_000,
            quantization: None,
            seed: 0x5eed,
        }
    }
}

/// Vector compression for the graph walk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Quantization {
    /// One byte per component. The walk scores codes; the best `k · oversampling` candidates
    /// are rescored with the f32 vectors. Larger `oversampling`: higher recall, more f32 work.
    Int8 { oversampling: f32 },
}

impl HnswParams {
    fn validate(&self) -> Result<()> {
        if self.m < 2 || 2 * self.m > MAX_M0 {
            return Err(IndexError::invalid("m", format!("must be in 2..={}, got {}", MAX_M0 / 2, self.m)));
        }
        if self.ef_construction == 0 {
            return Err(IndexError::invalid("ef_construction", "must be at least 1"));
        }
        if self.ef_search == 0 {
            return Err(IndexError::invalid("ef_search", "must be at least 1"));
        }
        if let Some(Quantization::Int8 { oversampling }) = self.quantization {
            check_oversampling(oversampling)?;
        }
        Ok(())
    }
}

/// Our HNSW index. See the module docs.
pub struct Hnsw {
    params: HnswParams,
    /// Never held, read or write, across work that runs on (or waits for) the rayon pool — see
    /// `crate::traits::per_query`. A batch's queries each take it for their own walk, each new
    /// point takes it for its own linking, and an upsert fits and rotates before it writes.
    graph: RwLock<Graph>,
    /// Serialises writers (upsert, delete, save), so at most one waits for the exclusive graph
    /// lock, and only one that holds this mutex. Held across an upsert's pool work (fitting,
    /// rotating, linking), which never takes it.
    writer: Mutex<()>,
    /// Held by an insertion that raises the top level.
    entry_lock: Mutex<()>,
    visited: VisitedPool,
}

impl Hnsw {
    pub fn new(metric: Metric, dim: usize, params: HnswParams) -> Result<Self> {
        params.validate()?;
        if dim == 0 {
            return Err(IndexError::invalid("dim", "must be at least 1"));
        }
        let graph = Graph::new(VectorStore::new(metric, dim), params.m);
        Ok(Self::from_graph(graph, params))
    }

    fn from_graph(graph: Graph, params: HnswParams) -> Self {
        Hnsw {
            params,
            graph: RwLock::new(graph),
            writer: Mutex::new(()),
            entry_lock: Mutex::new(()),
            visited: VisitedPool::default(),
        }
    }

    pub fn params(&self) -> &HnswParams {
        &self.params
    }

    /// Checks the graph's invariants (see the module docs): lists within their bounds, holding
    /// valid, distinct offsets that are not their own and are present on that level; the entry
    /// point on the top level; every live point reachable from it over level 0. Waits for a
    /// running upsert to finish. For tests; O(points · m).
    #[doc(hidden)]
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let _writer = self.writer.lock();
        self.graph.read().check()
    }

    /// The level of a new offset: `floor(-ln(u) / ln(m))`, u uniform from a hash of the offset.
    fn level_for(&self, offset: Offset) -> u8 {
        let mut x = self.params.seed ^ (offset as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64; // (0, 1]
        let level = -u.ln() / (self.params.m as f64).ln();
        level.min(15.0) as u8
    }

    /// Keeps the int8 codes in step with the vectors from offset `first` on; refits the
    /// quantizer while the index is still small relative to what it was fitted on.
    fn update_codes(&self, graph: &mut Graph, first: Offset) {
        if self.params.quantization.is_none() {
            return;
        }
        let store = &graph.store;
        let dim = store.dim;
        match &mut graph.codes {
            Some(codes)
                if store.offsets() < 2 * codes.quantizer.fitted_on.max(1)
                    || codes.quantizer.fitted_on >= 100_000 =>
            {
                crate::huge::reserve(&mut codes.data, (store.offsets() - first as usize) * dim);
                for row in store.vectors[first as usize * dim..].chunks_exact(dim) {
                    codes.quantizer.encode_into(row, &mut codes.data);
                }
            }
            _ => {
                let quantizer = Int8Quantizer::fit(store.metric, dim, &store.vectors);
                let data = crate::huge::rehome(quantizer.encode_all(&store.vectors, dim));
                graph.codes = Some(Codes { quantizer, data });
            }
        }
    }

    /// Whether this index keeps its vectors in a fitted basis: f32 walks with an
    /// early-abandoning bound (cosine or L2) and a dimension with checkpoints to bound at.
    fn rotates(&self, metric: Metric, dim: usize) -> bool {
        self.params.quantization.is_none()
            && matches!(metric, Metric::Cosine | Metric::L2)
            && crate::early::checkpoints(dim).is_some()
    }

    /// Whether this batch of `incoming` points fits the basis: the index reaches
    /// `ROTATION_FIT_AT` points with it (an index loaded from a file without a basis keeps the
    /// identity).
    fn fits_rotation(&self, graph: &Graph, incoming: usize) -> bool {
        let store = &graph.store;
        let existing = store.offsets();
        graph.rotation.is_none()
            && self.rotates(store.metric, store.dim)
            && existing < ROTATION_FIT_AT
            && existing + incoming >= ROTATION_FIT_AT
    }

    /// Links offsets `first..end`, already appended with empty lists. Each point takes the
    /// graph's read lock for its own linking, so no guard is held while this waits for the
    /// pool; no writer can want the exclusive lock meanwhile, as the caller holds `writer`.
    fn link_range(&self, first: Offset, end: Offset) {
        let link = |o: Offset| self.link(&self.graph.read(), o, &self.visited);
        let mut next = first;
        if self.graph.read().entry().is_none() {
            link(first);
            next += 1;
        }
        // One task per thread of the current pool, each taking the next offset from one
        // counter, so points are linked in about their insertion order (as hnswlib's
        // ParallelFor does), not in far-apart runs. Unlike a broadcast, this needs no
        // particular worker: busy ones simply take no part.
        let cursor = AtomicU32::new(next);
        let tasks = rayon::current_num_threads().min((end - next) as usize);
        (0..tasks).into_par_iter().with_max_len(1).for_each(|_| loop {
            let o = cursor.fetch_add(1, Ordering::Relaxed);
            if o >= end {
                break;
            }
            link(o);
        });
    }

    /// A prepared query moved into the graph's current basis.
    fn query_in_basis(graph: &Graph, query: &[f32]) -> Vec<f32> {
        let mut q = query.to_vec();
        if let Some(rotation) = &graph.rotation {
            rotation.rotate_each(std::slice::from_mut(&mut q));
        }
        q
    }

    fn search_one(
        &self,
        graph: &Graph,
        query: &[f32],
        k: usize,
        ef: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Vec<ScoredPoint> {
        let store = &graph.store;
        if k == 0 || store.live() == 0 {
            return Vec::new();
        }
        // Nothing beyond the index size can be returned or kept: clamp absurd requests.
        let (k, ef) = (k.min(store.live()), ef.min(store.offsets()));
        let Some((entry, top)) = graph.entry() else { return store.scan(query, k, filter) };
        if params.exact || store.prefers_scan(filter, self.params.full_scan_threshold) {
            return store.scan(query, k, filter);
        }
        let fill = filter.is_some() || store.deleted_count() > 0;
        let admit = fill.then_some(|o: Offset| store.admits(o, filter));
        let mut visited = self.visited.get(store.offsets());
        let f32_scorer = F32Scorer::new(store.metric, query, &store.vectors, store.dim);
        let mut hits: Vec<(f32, PointId)> = match (&graph.codes, self.params.quantization) {
            (Some(codes), Some(Quantization::Int8 { oversampling })) => {
                let mut code = Vec::with_capacity(store.dim);
                codes.quantizer.encode_into(query, &mut code);
                let scorer =
                    I8Scorer { metric: store.metric, query: &code, codes: &codes.data, dim: store.dim };
                let oversampling = params.oversampling.unwrap_or(oversampling);
                // Never more candidates than points: a huge oversampling must not size the beam.
                let rescore = ((k as f32 * oversampling).ceil() as usize).clamp(k, store.offsets().max(k));
                let beam = Beam { ef: ef.max(rescore), level: 0, fill };
                let found = walk(graph, &scorer, (entry, top), beam, &mut visited, admit);
                let mut best = found.into_sorted_vec();
                best.truncate(rescore);
                // Start loading every candidate's f32 vector before scoring any (as the walk
                // does for neighbours), so the cache misses overlap.
                for w in &best {
                    f32_scorer.prefetch(w.key);
                }
                best.iter().map(|w| (f32_scorer.score(w.key), store.ids[w.key as usize])).collect()
            }
            _ => {
                let beam = Beam { ef: ef.max(k), level: 0, fill };
                let found = walk(graph, &f32_scorer, (entry, top), beam, &mut visited, admit);
                found.into_sorted_vec().into_iter().map(|w| (w.score, store.ids[w.key as usize])).collect()
            }
        };
        drop(visited);
        if hits.len() < k.min(store.live()) {
            // The walk ran dry (tombstones or a filter hid too much): the exact answer may hold
            // more points, and a caller asking for k should get k when k exist.
            let exact = store.scan(query, k, filter);
            if exact.len() > hits.len() {
                return exact;
            }
        }
        hits.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.truncate(k);
        hits.into_iter().map(|(score, id)| ScoredPoint { id, score: store.metric.finalize(score) }).collect()
    }
}

/// Whether two bases are the same one (the identity, or one fitted rotation).
fn same_basis(a: &Option<Arc<Rotation>>, b: &Option<Arc<Rotation>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

impl VectorIndex for Hnsw {
    fn backend(&self) -> &'static str {
        "hnsw"
    }
    fn metric(&self) -> Metric {
        self.graph.read().store.metric
    }
    fn dim(&self) -> usize {
        self.graph.read().store.dim
    }
    fn len(&self) -> usize {
        self.graph.read().store.live()
    }
    fn deleted_count(&self) -> usize {
        self.graph.read().store.deleted_count()
    }
    fn contains(&self, id: PointId) -> bool {
        self.graph.read().store.offset_of(id).is_some()
    }
    fn vector(&self, id: PointId) -> Option<Vec<f32>> {
        self.vectors(&[id]).pop().flatten()
    }

    fn vectors(&self, ids: &[PointId]) -> Vec<Option<Vec<f32>>> {
        let graph = self.graph.read();
        let read = |id: &PointId| {
            let stored = graph.store.vector(graph.store.offset_of(*id)?);
            Some(graph.rotation.as_ref().map_or_else(|| stored.to_vec(), |r| r.invert(stored)))
        };
        ids.iter().map(read).collect()
    }

    fn scores(&self, query: &Prepared, ids: &[PointId]) -> Vec<Option<f32>> {
        let graph = self.graph.read();
        let metric = graph.store.metric;
        // One rotation of the query (plain CPU work) instead of one per vector.
        let q = Self::query_in_basis(&graph, query.vector());
        ids.iter().map(|id| Some(metric.score(&q, graph.store.vector(graph.store.offset_of(*id)?)))).collect()
    }

    fn upsert(&self, ids: &[PointId], vectors: &[f32]) -> Result<()> {
        let _writer = self.writer.lock();
        // Nothing below changes the graph until the write lock: writers hold `writer`.
        let (metric, dim, mut prepared, mut basis, mut fit) = {
            let graph = self.graph.read();
            let prepared = graph.store.prepare_batch(ids, vectors)?;
            // The points so far (fewer than ROTATION_FIT_AT), to move into a basis fitted now.
            let fit = self.fits_rotation(&graph, ids.len()).then(|| graph.store.vectors.to_vec());
            (graph.store.metric, graph.store.dim, prepared, graph.rotation.clone(), fit)
        };
        if ids.is_empty() {
            return Ok(());
        }
        // Fitting and rotating run on the rayon pool: under no graph lock.
        if let Some(rows) = &mut fit {
            let rotation = Rotation::fit(metric, dim, &[rows.as_slice(), prepared.as_slice()]);
            rotation.rotate_rows(rows);
            basis = Some(Arc::new(rotation));
        }
        if let Some(rotation) = &basis {
            rotation.rotate_rows(&mut prepared);
        }
        let (first, end) = {
            let mut graph = self.graph.write();
            if let Some(rows) = fit {
                // The graph is unchanged, as rotations change no score.
                graph.store.vectors[..rows.len()].copy_from_slice(&rows);
                graph.rotation = basis;
            }
            let first = graph.store.append(ids, &prepared);
            let end = first + ids.len() as Offset;
            let levels: Vec<u8> = (first..end).map(|o| self.level_for(o)).collect();
            graph.grow(&levels);
            self.update_codes(&mut graph, first);
            (first, end)
        };
        drop(prepared);
        // Searches resume while the new points are linked.
        self.link_range(first, end);
        Ok(())
    }

    fn delete(&self, ids: &[PointId]) -> usize {
        let _writer = self.writer.lock();
        let mut graph = self.graph.write();
        ids.iter().filter(|id| graph.store.delete(**id)).count()
    }

    fn search_prepared(
        &self,
        queries: &[Prepared],
        k: usize,
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        let ef = params.ef.unwrap_or(self.params.ef_search);
        if ef == 0 {
            return Err(IndexError::invalid("ef", "must be at least 1"));
        }
        if let Some(oversampling) = params.oversampling {
            check_oversampling(oversampling)?;
        }
        let (metric, dim, basis) = {
            let graph = self.graph.read();
            (graph.store.metric, graph.store.dim, graph.rotation.clone())
        };
        // Rotated as a batch (the matrix is read once per tile of queries), under no lock; each
        // query then takes the read lock for its own walk.
        let vectors = query_vectors(metric, dim, queries)?;
        let rotated: Option<Vec<Vec<f32>>> = basis.as_ref().map(|rotation| {
            let mut rows: Vec<Vec<f32>> = vectors.iter().map(|q| q.to_vec()).collect();
            rotation.rotate_each(&mut rows);
            rows
        });
        let batch: Vec<(&[f32], &[f32])> = match &rotated {
            Some(rows) => vectors.iter().copied().zip(rows.iter().map(Vec::as_slice)).collect(),
            None => vectors.iter().map(|q| (*q, *q)).collect(),
        };
        Ok(per_query(&batch, |(prepared, q)| {
            let graph = self.graph.read();
            if same_basis(&graph.rotation, &basis) {
                self.search_one(&graph, q, k, ef, params, filter)
            } else {
                // The basis was fitted since the batch was rotated (it changes at most once).
                let q = Self::query_in_basis(&graph, prepared);
                self.search_one(&graph, &q, k, ef, params, filter)
            }
        }))
    }

    fn memory_bytes(&self) -> usize {
        self.graph.read().memory_bytes() + self.visited.memory_bytes()
    }

    fn save(&self, path: &Path) -> Result<()> {
        self.write_file(path)
    }
}
