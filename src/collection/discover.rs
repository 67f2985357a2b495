//! Discovery and context search (Qdrant's `discover` / `context` queries and the legacy
//! `points/discover`): every candidate is scored exactly against the examples with Qdrant's
//! formulas, on the raw similarity (larger is better for every metric: Euclid is the negative
//! squared distance), and the answer is ordered by that score, descending.
//!
//! Also the helpers the exact re-scoring queries share (`mmr.rs` too): resolving examples,
//! the allowed points of a search, and turning a page of scored points into hits.

use std::collections::HashSet;

use vicinity_index::{AnyIndex, Metric, Prepared, ScoredPoint, VectorIndex};

use super::read::{Example, Hit, Search, Space};
use super::{Collection, Deadline, Points};
use crate::error::{Error, Result};

/// A discovery (with `target`) or context (without) search.
#[derive(Clone, Debug, PartialEq)]
pub struct Discover {
    pub target: Option<Example>,
    /// `(positive, negative)` pairs.
    pub pairs: Vec<(Example, Example)>,
    /// The legacy `points/discover`: a missing example point is `No point with id {id} found`
    /// (the query API says `Vector with name "{using}" for point not found`).
    pub legacy: bool,
}

/// `x / (1 + |x|)`, in (−1, 1).
pub(super) fn fast_sigmoid(x: f32) -> f32 {
    x / (1.0 + x.abs())
}

/// Context score from each pair's `(sim(positive), sim(negative))`: 0 when the point is closer
/// to the positive of every pair, else the sum of the (negative) losses.
pub(super) fn context_score(pairs: &[(f32, f32)]) -> f32 {
    pairs.iter().map(|(p, n)| fast_sigmoid((p - n - f32::EPSILON).min(0.0))).fold(0.0, |a, b| a + b)
}

/// Discovery score: the context rank (+1 / −1 / 0 per pair) plus the target similarity scaled
/// into (0, 1).
pub(super) fn discover_score(target: f32, pairs: &[(f32, f32)]) -> f32 {
    let rank: i32 = pairs
        .iter()
        .map(|(p, n)| match p.total_cmp(n) {
            std::cmp::Ordering::Greater => 1,
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
        })
        .sum();
    rank as f32 + 0.5 * (fast_sigmoid(target) + 1.0)
}

/// The vector a re-scoring query runs on, with the points read lock held.
pub(super) struct Examples<'a> {
    pub metric: Metric,
    pub dim: usize,
    pub index: &'a AnyIndex,
    pub points: &'a Points,
    pub using: &'a str,
    pub legacy: bool,
}

impl Examples<'_> {
    /// An example prepared for scoring, and its point when it is one.
    pub fn resolve(&self, e: &Example) -> Result<(Prepared, Option<u64>)> {
        match e {
            Example::Vector(v) => Ok((super::prepare_vector(self.metric, v.clone(), self.dim)?, None)),
            Example::Sparse(_) => Err(super::sparse::wrong_kind(self.using)),
            Example::Id(ext) => {
                let missing = || match self.legacy {
                    true => Error::NoPoint(ext.to_string()),
                    false => Error::not_found(format!("Vector with name {:?} for point", self.using)),
                };
                let id = *self.points.by_ext.get(ext).ok_or_else(missing)?;
                let v = self.index.vector(id).ok_or_else(missing)?;
                Ok((self.metric.query(v, self.dim)?, Some(id)))
            }
        }
    }
}

impl Collection {
    /// The points `s` allows (its filter, `exclude` left out), deadline-checked.
    pub(super) fn allowed(
        &self,
        points: &Points,
        s: &Search,
        exclude: &HashSet<u64>,
        deadline: Deadline,
    ) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        let mut keep = |i: usize, id: u64| -> Result<()> {
            if i % 256 == 255 {
                deadline.check()?;
            }
            let Some(m) = points.meta.get(&id) else { return Ok(()) };
            if !exclude.contains(&id)
                && s.filter.as_ref().is_none_or(|f| f.matches(&m.payload, Some(m.ext), &self.has_vector(id)))
            {
                out.push(id);
            }
            Ok(())
        };
        match s.filter.as_ref().and_then(|f| points.candidates(f)) {
            Some(c) => c.into_iter().enumerate().try_for_each(|(i, id)| keep(i, id))?,
            None => points.meta.keys().enumerate().try_for_each(|(i, id)| keep(i, *id))?,
        }
        Ok(out)
    }

    /// Scores `ids` with `score` on their vectors (read a chunk at a time, deadline-checked);
    /// points without the vector are left out.
    pub(super) fn score_all(
        index: &AnyIndex,
        ids: &[u64],
        score: impl Fn(&[f32]) -> f32,
        deadline: Deadline,
    ) -> Result<Vec<ScoredPoint>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(256) {
            deadline.check()?;
            let vectors = index.vectors(chunk);
            out.extend(
                chunk
                    .iter()
                    .zip(vectors)
                    .filter_map(|(id, v)| Some(ScoredPoint { id: *id, score: score(&v?) })),
            );
        }
        Ok(out)
    }

    /// A page of scored points as hits, with the payload and vectors `s` asks for.
    pub(super) fn hits_of(&self, points: &Points, page: Vec<ScoredPoint>, s: &Search) -> Vec<Hit> {
        page.into_iter()
            .filter_map(|p| {
                let m = points.meta.get(&p.id)?;
                Some(Hit {
                    id: m.ext,
                    version: m.version,
                    score: p.score,
                    payload: s.with_payload.pick(&m.payload),
                    vector: self.vectors_of(p.id, &s.with_vector),
                    order_value: None,
                })
            })
            .collect()
    }

    /// [`Discover`]: candidates are every allowed point for small collections or `exact`,
    /// otherwise the engine's neighbours of the target and of each positive example; each is
    /// scored exactly.
    pub(super) fn discover(&self, s: &Search, d: &Discover, deadline: Deadline) -> Result<Vec<Hit>> {
        self.check_selector(&s.with_vector)?;
        let (metric, dim, threshold) = {
            let c = self.config.read();
            let v = c.vector(&s.using)?;
            (v.distance.metric(), v.size, v.hnsw_params().full_scan_threshold)
        };
        let index = self.index(&s.using)?;
        let points = self.points.read();
        let ex = Examples { metric, dim, index: &index, points: &points, using: &s.using, legacy: d.legacy };
        let target = d.target.as_ref().map(|t| ex.resolve(t)).transpose()?;
        let pairs =
            d.pairs.iter().map(|(p, n)| Ok((ex.resolve(p)?, ex.resolve(n)?))).collect::<Result<Vec<_>>>()?;
        let exclude: HashSet<u64> =
            target.iter().chain(pairs.iter().flat_map(|(p, n)| [p, n])).filter_map(|(_, id)| *id).collect();
        let k = s.limit.saturating_add(s.offset);
        let seeds: Vec<&Prepared> =
            target.iter().chain(pairs.iter().map(|(p, _)| p)).map(|(v, _)| v).collect();
        let small = points.meta.len() <= threshold;
        let candidates = if s.params.exact || small || seeds.is_empty() {
            self.allowed(&points, s, &exclude, deadline)?
        } else {
            let space = Space { index: &index, threshold };
            let wide = k.saturating_mul(4).max(s.params.ef.unwrap_or(0)).max(64);
            let mut set = HashSet::new();
            for seed in seeds {
                deadline.check()?;
                let near = self.nearest(&space, &points, seed, wide, s, &exclude, deadline)?;
                set.extend(near.into_iter().map(|h| h.id).filter(|id| !exclude.contains(id)));
            }
            set.into_iter().collect()
        };
        let score = |v: &[f32]| -> f32 {
            let sims: Vec<(f32, f32)> = pairs
                .iter()
                .map(|((p, _), (n, _))| (metric.score(p.vector(), v), metric.score(n.vector(), v)))
                .collect();
            match &target {
                Some((t, _)) => discover_score(metric.score(t.vector(), v), &sims),
                None => context_score(&sims),
            }
        };
        let mut scored = Self::score_all(&index, &candidates, score, deadline)?;
        // Larger is better for every metric; the threshold is passed strictly, as in Qdrant.
        if let Some(t) = s.score_threshold {
            scored.retain(|p| p.score > t);
        }
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        let page: Vec<ScoredPoint> = scored.into_iter().skip(s.offset).take(s.limit).collect();
        Ok(self.hits_of(&points, page, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn neg_l2sq(a: &[f32], b: &[f32]) -> f32 {
        -a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>()
    }

    #[test]
    fn discovery_scores_follow_qdrants_worked_examples() {
        let (target, pos, neg) = ([1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]);
        let disc = |sim: fn(&[f32], &[f32]) -> f32, p: [f32; 2]| {
            discover_score(sim(&target, &p), &[(sim(&pos, &p), sim(&neg, &p))])
        };
        // Dot: [2,2] → rank 1 + 0.5·(2/3 + 1); [-1,0] → rank −1 + 0.25.
        assert!((disc(dot, [2.0, 2.0]) - 1.833_333_3).abs() < 1e-6);
        assert!((disc(dot, [-1.0, 0.0]) + 0.75).abs() < 1e-6);
        assert!((disc(dot, [1.0, 1.0]) - 1.75).abs() < 1e-6);
        // Euclid (−squared distance): [0.5,0.2] → 1 + 0.5·(−0.29/1.29 + 1).
        assert!((disc(neg_l2sq, [0.5, 0.2]) - 1.387_597).abs() < 1e-5);
        // Equal similarity to both examples ranks 0.
        assert_eq!(discover_score(0.0, &[(1.0, 1.0)]), 0.5);
        // No pairs: the target similarity alone.
        assert_eq!(discover_score(1.0, &[]), 0.75);
    }

    #[test]
    fn context_scores_follow_qdrants_worked_examples() {
        let (pos, neg) = ([1.0, 1.0], [-1.0, 0.0]);
        let ctx = |p: [f32; 2]| context_score(&[(dot(&pos, &p), dot(&neg, &p))]);
        assert!((ctx([-1.0, 0.0]) + 0.666_666_7).abs() < 1e-6);
        assert_eq!(ctx([2.0, 2.0]), 0.0);
        assert_eq!(ctx([0.5, 0.2]), 0.0);
        // Each pair adds its loss; no pairs scores 0.
        assert!((context_score(&[(-1.0, 1.0), (0.0, 1.0)]) - (-2.0 / 3.0 - 0.5)).abs() < 1e-6);
        assert_eq!(context_score(&[]), 0.0);
    }
}
