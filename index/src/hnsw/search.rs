//! Graph walks: greedy descent through the upper levels, then the best-first beam search of
//! one level with `ef` candidates. The filter and the tombstones act *inside* the walk: every
//! reached node may be expanded, but only admitted nodes enter the results, and the walk keeps
//! going until it holds `ef` admitted results or runs out of candidates (hnswlib's rule).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::graph::{Graph, MAX_M0};
use super::visited::Visited;
use crate::distance::{prefetch, Metric};
use crate::early::{checkpoints, dot_above, neg_l2_above, Checks, QueryTails};
use crate::topk::Worst;
use crate::types::Offset;

/// Cache lines of a vector (f32, or int8 codes) prefetched ahead of scoring: 768 bytes, the
/// whole of a 128-d f32 vector and what an early-abandoned 384-d score reads on average. Measured on an Intel Xeon
/// with AVX-512: 768 bytes instead of 256 gave +15-25% QPS on gmm-1m-128 and +10-15% on
/// gcide-minilm, where the whole 384-d vector (24 lines) was slower than 256 bytes; the
/// hardware's own prefetcher does not bring the rest in time there.
const PREFETCH_LINES: usize = 12;

/// Scores stored points against one query.
pub(super) trait Scorer {
    fn score(&self, offset: Offset) -> f32;
    /// The score when it may exceed `threshold`; otherwise any value not above it (a scorer
    /// may stop reading the vector once the score provably cannot beat the threshold).
    #[inline(always)]
    fn score_above(&self, offset: Offset, threshold: f32) -> f32 {
        let _ = threshold;
        self.score(offset)
    }
    fn prefetch(&self, offset: Offset);
}

/// How an f32 scorer may abandon a score early (see `crate::early`).
#[derive(Clone, Copy)]
pub(super) enum Bound {
    None,
    /// Unit vectors: the query's tail norms.
    Unit(QueryTails),
    /// Squared distances, checked at these checkpoints.
    L2(Checks),
}

impl Bound {
    pub fn for_query(metric: Metric, query: &[f32]) -> Self {
        let bound = match metric {
            Metric::Cosine => QueryTails::new(query).map(Bound::Unit),
            Metric::L2 => checkpoints(query.len()).map(Bound::L2),
            Metric::Dot => None,
        };
        bound.unwrap_or(Bound::None)
    }
}

pub(super) struct F32Scorer<'a> {
    pub metric: Metric,
    pub query: &'a [f32],
    pub vectors: &'a [f32],
    pub dim: usize,
    pub bound: Bound,
}

impl<'a> F32Scorer<'a> {
    pub fn new(metric: Metric, query: &'a [f32], vectors: &'a [f32], dim: usize) -> Self {
        F32Scorer { metric, query, vectors, dim, bound: Bound::for_query(metric, query) }
    }
}

impl Scorer for F32Scorer<'_> {
    #[inline(always)]
    fn score(&self, offset: Offset) -> f32 {
        let start = offset as usize * self.dim;
        self.metric.score(self.query, &self.vectors[start..start + self.dim])
    }
    #[inline(always)]
    fn score_above(&self, offset: Offset, threshold: f32) -> f32 {
        let start = offset as usize * self.dim;
        let x = &self.vectors[start..start + self.dim];
        let abandoned = f32::NEG_INFINITY;
        match &self.bound {
            Bound::None => self.metric.score(self.query, x),
            Bound::Unit(tails) => dot_above(self.query, x, tails, threshold).unwrap_or(abandoned),
            Bound::L2(checks) => neg_l2_above(self.query, x, *checks, threshold).unwrap_or(abandoned),
        }
    }
    #[inline(always)]
    fn prefetch(&self, offset: Offset) {
        let start = offset as usize * self.dim;
        prefetch(&self.vectors[start..start + self.dim], PREFETCH_LINES);
    }
}

pub(super) struct I8Scorer<'a> {
    pub metric: Metric,
    pub query: &'a [i8],
    pub codes: &'a [i8],
    pub dim: usize,
}

impl Scorer for I8Scorer<'_> {
    #[inline(always)]
    fn score(&self, offset: Offset) -> f32 {
        let start = offset as usize * self.dim;
        self.metric.score_i8(self.query, &self.codes[start..start + self.dim])
    }
    #[inline(always)]
    fn prefetch(&self, offset: Offset) {
        let start = offset as usize * self.dim;
        prefetch(&self.codes[start..start + self.dim], PREFETCH_LINES);
    }
}

/// Results of a walk: worst on top.
pub(super) type Results = BinaryHeap<Worst<Offset>>;

/// Greedy descent from `(entry, score)` through levels `top..=bottom+1`, each step moving to the
/// best neighbour while it improves; returns the closest node found and its score.
pub(super) fn descend(
    graph: &Graph,
    scorer: &impl Scorer,
    mut best: (Offset, f32),
    top: usize,
    bottom: usize,
) -> (Offset, f32) {
    let mut buf = [0u32; MAX_M0];
    for level in (bottom + 1..=top).rev() {
        loop {
            let mut moved = false;
            let count = graph.neighbours(best.0, level, &mut buf);
            for &nb in &buf[..count] {
                let s = scorer.score_above(nb, best.1);
                if s > best.1 {
                    best = (nb, s);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
    best
}

/// How a beam search of one level runs.
pub(super) struct Beam {
    /// Candidate list size.
    pub ef: usize,
    pub level: usize,
    /// Stop only once the results hold `ef` nodes, even when the best open candidate is worse
    /// than all of them. Set while building (hnswlib's construction rule) and whenever some
    /// nodes may not be results (filters, tombstones), so a walk does not stop short.
    pub fill: bool,
}

/// Beam search of one level from `entry`. With `admit`, only admitted nodes may be results;
/// without it every node is one.
pub(super) fn search_level(
    graph: &Graph,
    scorer: &impl Scorer,
    entry: (Offset, f32),
    beam: Beam,
    visited: &mut Visited,
    admit: Option<impl Fn(Offset) -> bool>,
) -> Results {
    let Beam { ef, level, fill } = beam;
    let admit = |o: Offset| admit.as_ref().is_none_or(|f| f(o));
    let mut candidates: BinaryHeap<Reverse<Worst<Offset>>> = BinaryHeap::with_capacity(ef * 2);
    let mut results: Results = BinaryHeap::with_capacity(ef + 1);
    let mut buf = [0u32; MAX_M0];

    visited.insert(entry.0);
    let mut lower_bound = f32::NEG_INFINITY;
    if admit(entry.0) {
        results.push(Worst { score: entry.1, key: entry.0 });
        lower_bound = entry.1;
    }
    candidates.push(Reverse(Worst { score: entry.1, key: entry.0 }));

    while let Some(Reverse(current)) = candidates.pop() {
        if current.score < lower_bound && (results.len() == ef || !fill) {
            break;
        }
        // The next candidate's list is needed after this one's: start loading it now.
        if let Some(Reverse(next)) = candidates.peek() {
            graph.prefetch_neighbours(next.key, level);
        }
        // Mark the unvisited neighbours and start loading all their vectors before scoring
        // any: the cache misses overlap instead of queueing one after another.
        let count = graph.neighbours(current.key, level, &mut buf);
        let mut fresh = 0;
        for i in 0..count {
            let nb = buf[i];
            if visited.insert(nb) {
                scorer.prefetch(nb);
                buf[fresh] = nb;
                fresh += 1;
            }
        }
        for &nb in &buf[..fresh] {
            // Once the results are full only a score above their worst matters.
            let s = if results.len() < ef { scorer.score(nb) } else { scorer.score_above(nb, lower_bound) };
            if results.len() < ef || s > lower_bound {
                candidates.push(Reverse(Worst { score: s, key: nb }));
                if admit(nb) {
                    results.push(Worst { score: s, key: nb });
                    if results.len() > ef {
                        results.pop();
                    }
                }
                if let Some(worst) = results.peek() {
                    lower_bound = worst.score;
                }
            }
        }
    }
    results
}

/// A query's whole walk: greedy descent from the entry point `(offset, top level)` to level 1,
/// then the beam search of level 0.
pub(super) fn walk(
    graph: &Graph,
    scorer: &impl Scorer,
    (entry, top): (Offset, usize),
    beam: Beam,
    visited: &mut Visited,
    admit: Option<impl Fn(Offset) -> bool>,
) -> Results {
    let start = descend(graph, scorer, (entry, scorer.score(entry)), top, 0);
    search_level(graph, scorer, start, beam, visited, admit)
}
