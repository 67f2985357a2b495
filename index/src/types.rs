//! Ids, results, search parameters and filters shared by every backend.

use std::collections::HashSet;

/// A point's id as callers know it (the service maps UUIDs onto these).
pub type PointId = u64;

/// A point's dense position inside one index. Never leaves the engine: ids do.
pub type Offset = u32;

/// One search hit. `score` is higher-is-closer for every metric (see `distance`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredPoint {
    pub id: PointId,
    pub score: f32,
}

/// Per-request knobs; `None` means "the index's default".
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchParams {
    /// HNSW `ef_search` for this request (raised to `k` when smaller).
    pub ef: Option<usize>,
    /// Scan every point exactly instead of walking a graph.
    pub exact: bool,
    /// For int8-quantized indexes: rescore the best `k · oversampling` candidates with f32
    /// vectors (overrides the index's setting). Larger: higher recall, more f32 work.
    pub oversampling: Option<f32>,
    /// Faiss IVF: inverted lists probed for this request (overrides the index's `nprobe`).
    pub nprobe: Option<usize>,
}

/// Restricts a search to some points. It is evaluated *inside* the search: graph walks only
/// admit allowed points into their results, and a small allowed set is scanned exactly.
#[derive(Clone, Copy)]
pub enum Filter<'a> {
    /// Only these ids.
    Ids(&'a HashSet<PointId>),
    /// Only ids the predicate accepts. `estimated_matches` (e.g. from a payload index) lets the
    /// planner choose an exact scan without sampling; when `None` the index samples.
    Predicate { test: &'a (dyn Fn(PointId) -> bool + Sync), estimated_matches: Option<usize> },
}

impl<'a> Filter<'a> {
    /// A predicate filter without a cardinality estimate.
    pub fn predicate(test: &'a (dyn Fn(PointId) -> bool + Sync)) -> Self {
        Filter::Predicate { test, estimated_matches: None }
    }

    /// Whether `id` passes the filter.
    #[inline]
    pub fn allows(&self, id: PointId) -> bool {
        match self {
            Filter::Ids(set) => set.contains(&id),
            Filter::Predicate { test, .. } => test(id),
        }
    }
}

impl std::fmt::Debug for Filter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::Ids(set) => write!(f, "Filter::Ids({} ids)", set.len()),
            Filter::Predicate { estimated_matches, .. } => {
                write!(f, "Filter::Predicate(estimated_matches: {estimated_matches:?})")
            }
        }
    }
}

/// The one rule for `oversampling` (int8 HNSW, Faiss rescoring), whether set on the index or
/// per request.
pub(crate) fn check_oversampling(oversampling: f32) -> crate::error::Result<()> {
    if oversampling.is_finite() && oversampling >= 1.0 {
        Ok(())
    } else {
        Err(crate::error::IndexError::invalid("oversampling", format!("must be >= 1, got {oversampling}")))
    }
}
