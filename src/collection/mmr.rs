//! Nearest search diversified by maximal marginal relevance (Qdrant's `{"nearest": …, "mmr":
//! {…}}`): the `candidates` nearest points form the pool; the most relevant is picked first,
//! then repeatedly the one maximising `λ·rel(i) − (1−λ)·max over picked s of sim(i, s)`, with
//! `λ = 1 − diversity` and both similarities raw (larger is better; Euclid: −squared
//! distance). Hits come in the order picked, each with its nearest-search score.

use std::collections::HashSet;

use vicinity_index::{ScoredPoint, VectorIndex};

use super::discover::Examples;
use super::read::{reported, Example, Hit, Search, Space};
use super::{Collection, Deadline};
use crate::error::Result;

/// Largest candidate pool a request may ask for (Qdrant's bound).
pub const MAX_CANDIDATES: usize = 16_384;

#[derive(Clone, Debug, PartialEq)]
pub struct Mmr {
    pub example: Example,
    /// In `0..=1`: 0 is plain relevance order, 1 picks the least similar after the first.
    pub diversity: f32,
    /// The pool's size; `limit + offset` by default.
    pub candidates: Option<usize>,
}

/// Picks up to `count` of the candidates (indexes into `rel`, given best first) in MMR order;
/// `sim(i, j)` is the similarity between candidates `i` and `j`. Ties go as in Qdrant: the
/// candidates left are kept in a list the picked one is swap-removed from, and the last of
/// equal values wins.
pub(super) fn select(
    rel: &[f32],
    lambda: f32,
    count: usize,
    sim: impl Fn(usize, usize) -> f32,
    deadline: Deadline,
) -> Result<Vec<usize>> {
    let mut left: Vec<usize> = (0..rel.len()).collect();
    // The highest similarity of each candidate to any picked one.
    let mut closest = vec![f32::NEG_INFINITY; rel.len()];
    let mut picked = Vec::with_capacity(count.min(rel.len()));
    while picked.len() < count && !left.is_empty() {
        deadline.check()?;
        let value = |i: usize| match picked.is_empty() {
            true => rel[i],
            false => lambda * rel[i] - (1.0 - lambda) * closest[i],
        };
        let mut best = 0;
        for (at, &i) in left.iter().enumerate().skip(1) {
            if value(i) >= value(left[best]) {
                best = at;
            }
        }
        let chosen = left.swap_remove(best);
        picked.push(chosen);
        for &i in &left {
            closest[i] = closest[i].max(sim(i, chosen));
        }
    }
    Ok(picked)
}

impl Collection {
    pub(super) fn mmr(&self, s: &Search, m: &Mmr, deadline: Deadline) -> Result<Vec<Hit>> {
        self.check_selector(&s.with_vector)?;
        let (metric, dim, threshold) = {
            let c = self.config.read();
            let v = c.vector(&s.using)?;
            (v.distance.metric(), v.size, v.hnsw_params().full_scan_threshold)
        };
        let index = self.index(&s.using)?;
        let points = self.points.read();
        let ex = Examples { metric, dim, index: &index, points: &points, using: &s.using, legacy: false };
        let (query, id) = ex.resolve(&m.example)?;
        let exclude: HashSet<u64> = id.into_iter().collect();
        let wanted = s.limit.saturating_add(s.offset);
        let pool_size = m.candidates.unwrap_or(wanted);
        let space = Space { index: &index, threshold };
        // A few more than the pool: equal scores at its end are then chosen by the order below.
        let fetch = pool_size.saturating_add(8);
        let mut pool: Vec<ScoredPoint> = self
            .nearest(&space, &points, &query, fetch, s, &exclude, deadline)?
            .into_iter()
            .filter(|p| !exclude.contains(&p.id))
            .map(|p| ScoredPoint { score: reported(metric, p.score), ..p })
            .filter(|p| match (s.score_threshold, metric) {
                (None, _) => true,
                (Some(t), vicinity_index::Metric::L2) => p.score < t,
                (Some(t), vicinity_index::Metric::Cosine | vicinity_index::Metric::Dot) => p.score > t,
            })
            .collect();
        let mut seen = HashSet::new();
        pool.retain(|p| seen.insert(p.id));
        // Best first; equal scores in descending id order (as Qdrant's reference client lists
        // them), which decides MMR's ties.
        let sign = if metric == vicinity_index::Metric::L2 { -1.0 } else { 1.0 };
        pool.sort_by(|a, b| (sign * b.score).total_cmp(&(sign * a.score)).then(b.id.cmp(&a.id)));
        pool.truncate(pool_size);
        let ids: Vec<u64> = pool.iter().map(|p| p.id).collect();
        let vectors = index.vectors(&ids);
        let (pool, vectors): (Vec<ScoredPoint>, Vec<Vec<f32>>) =
            pool.into_iter().zip(vectors).filter_map(|(p, v)| Some((p, v?))).unzip();
        let order: Vec<usize> = if pool.len() < 2 {
            (0..pool.len()).collect()
        } else {
            let rel: Vec<f32> = vectors.iter().map(|v| metric.score(query.vector(), v)).collect();
            let lambda = 1.0 - m.diversity;
            select(&rel, lambda, wanted, |i, j| metric.score(&vectors[i], &vectors[j]), deadline)?
        };
        let page: Vec<ScoredPoint> =
            order.into_iter().skip(s.offset).take(s.limit).map(|i| pool[i]).collect();
        Ok(self.hits_of(&points, page, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neg_l2sq(a: &[f32], b: &[f32]) -> f32 {
        -a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>()
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// The ids MMR picks among `pool` (id, vector), given in nearest order, for `query`.
    fn picks(
        sim: fn(&[f32], &[f32]) -> f32,
        query: &[f32],
        pool: &[(u64, [f32; 2])],
        lambda: f32,
        n: usize,
    ) -> Vec<u64> {
        let rel: Vec<f32> = pool.iter().map(|(_, p)| sim(query, p)).collect();
        select(&rel, lambda, n, |i, j| sim(&pool[i].1, &pool[j].1), Deadline::NONE)
            .unwrap()
            .into_iter()
            .map(|i| pool[i].0)
            .collect()
    }

    #[test]
    fn qdrants_euclid_unit_expectations() {
        let pool = [(1, [1.0, 0.05]), (2, [0.95, 0.15]), (3, [0.8, 0.0]), (4, [0.85, 0.25]), (5, [1.0, 0.5])];
        assert_eq!(picks(neg_l2sq, &[1.0, 0.0], &pool, 1.0, 3), [1, 2, 3]);
        assert_eq!(picks(neg_l2sq, &[1.0, 0.0], &pool, 0.5, 3), [1, 3, 2]);
        assert_eq!(picks(neg_l2sq, &[1.0, 0.0], &pool, 0.01, 3), [1, 5, 4]);
    }

    /// The probe's points 1 [1,0], 2 [0,1], 3 [1,1], 4 [-1,0], 5 [0.5,0.2], 6 [2,2].
    const P: [[f32; 2]; 6] = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.5, 0.2], [2.0, 2.0]];

    fn pool(order: &[u64]) -> Vec<(u64, [f32; 2])> {
        order.iter().map(|id| (*id, P[*id as usize - 1])).collect()
    }

    #[test]
    fn the_dot_probe() {
        // Nearest order for [1,0]; 3 and 1 tie (listed by descending id).
        let all = pool(&[6, 3, 1, 5, 2, 4]);
        assert_eq!(picks(dot, &[1.0, 0.0], &all, 0.5, 3), [6, 4, 5]);
        assert_eq!(picks(dot, &[1.0, 0.0], &all, 0.0, 3), [6, 4, 5]);
        // No diversity: relevance order.
        assert_eq!(picks(dot, &[1.0, 0.0], &all, 1.0, 3), [6, 1, 3]);
        // The pool of the default size (limit 3).
        assert_eq!(picks(dot, &[1.0, 0.0], &pool(&[6, 3, 1]), 0.5, 3), [6, 1, 3]);
        // Fewer candidates than asked for: all of them.
        assert_eq!(picks(dot, &[1.0, 0.0], &pool(&[6, 3]), 0.5, 3), [6, 3]);
    }

    #[test]
    fn the_euclid_probe() {
        // Every MMR value after the first pick is 0 here: the ties go as in Qdrant.
        let all = pool(&[1, 5, 3, 2, 4, 6]);
        assert_eq!(picks(neg_l2sq, &[1.0, 0.0], &all, 0.5, 3), [1, 4, 2]);
    }
}
