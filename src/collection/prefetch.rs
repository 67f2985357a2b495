//! `prefetch`: searches whose hits feed the query above them (Qdrant's universal query). The
//! query above either fuses the prefetches' lists (`rrf`, `dbsf`) or rescores the points they
//! found with its own query, which then runs on those points only. Prefetches nest; the
//! search's filter applies at every level (as Qdrant propagates it).

use std::collections::{HashMap, HashSet};

use vicinity_index::{ScoredPoint, SearchParams};

use super::filter::{Condition, Filter};
use super::read::{Hit, PayloadSelector, Query, Search, VectorSelector};
use super::{Collection, Deadline};
use crate::error::Result;
use crate::id::ExtId;

/// How the lists of several prefetches become one.
#[derive(Clone, Debug, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion (Qdrant's): the point at position `p` (from 0) of list `j` scores
    /// `1 / ((p + 1) / w_j + k - 1)` — `1 / (k + p)` with the default weight 1 — and a point's
    /// score is the sum over the lists holding it. A weight of 0 or less adds nothing.
    Rrf { k: usize, weights: Option<Vec<f32>> },
    /// Distribution-based score fusion: each list's scores normalised by its mean ± 3 sample
    /// standard deviations (not clipped), then summed.
    Dbsf,
}

/// Qdrant's default `k` of reciprocal rank fusion.
pub const DEFAULT_RRF_K: usize = 2;

/// One prefetch: a search of its own (with its own prefetches), whose hits go up.
#[derive(Clone, Debug)]
pub struct Prefetch {
    pub using: String,
    /// `None`: the hits of its own prefetches as they are (or, without any, every allowed
    /// point in id order).
    pub query: Option<Query>,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub score_threshold: Option<f32>,
    pub params: SearchParams,
    pub prefetch: Vec<Prefetch>,
}

impl Prefetch {
    /// Levels of prefetches below and including this one.
    pub fn depth(&self) -> usize {
        1 + self.prefetch.iter().map(Prefetch::depth).max().unwrap_or(0)
    }

    /// Prefetches in this tree, this one included.
    pub fn count(&self) -> usize {
        1 + self.prefetch.iter().map(Prefetch::count).sum::<usize>()
    }
}

/// Both filters (either may be absent).
fn both(a: Option<&Filter>, b: Option<&Filter>) -> Option<Filter> {
    match (a, b) {
        (None, None) => None,
        (Some(f), None) | (None, Some(f)) => Some(f.clone()),
        (Some(a), Some(b)) => Some(Filter {
            must: vec![Condition::Filter(a.clone()), Condition::Filter(b.clone())],
            ..Filter::default()
        }),
    }
}

impl Collection {
    /// A search with prefetches (`s.prefetch` is not empty).
    pub(super) fn prefetched(&self, s: &Search, deadline: Deadline) -> Result<Vec<Hit>> {
        let lists = s
            .prefetch
            .iter()
            .map(|p| self.prefetch_hits(p, s.filter.as_ref(), deadline))
            .collect::<Result<Vec<_>>>()?;
        match &s.query {
            Query::Fusion(fusion) => {
                let fused = fuse(&lists, fusion);
                // Inclusive, as Qdrant applies a threshold to fused and formula scores.
                let kept =
                    fused.into_iter().filter(|(_, score)| s.score_threshold.is_none_or(|t| *score >= t));
                Ok(self.hits_by_ext(kept.skip(s.offset).take(s.limit).collect(), s))
            }
            Query::Formula(formula) => {
                let scored = self.formula_scores(formula, &lists, deadline)?;
                let kept =
                    scored.into_iter().filter(|(_, score)| s.score_threshold.is_none_or(|t| *score >= t));
                Ok(self.hits_by_ext(kept.skip(s.offset).take(s.limit).collect(), s))
            }
            Query::IdOrder
            | Query::Nearest(_)
            | Query::Recommend { .. }
            | Query::OrderBy(_)
            | Query::Mmr(_)
            | Query::Discover(_)
            | Query::Profile(_)
            | Query::Popular => {
                let found: HashSet<ExtId> = lists.iter().flatten().map(|(id, _)| *id).collect();
                let only = Filter { must: vec![Condition::HasId(found)], ..Filter::default() };
                let rescoring = Search {
                    filter: both(s.filter.as_ref(), Some(&only)),
                    params: SearchParams { exact: true, ..s.params },
                    prefetch: Vec::new(),
                    limit: s.limit,
                    offset: s.offset,
                    ..s.clone()
                };
                self.search(&rescoring, deadline)
            }
        }
    }

    /// A prefetch's hits, best first, as (point, score); `outer` is the filter of the levels
    /// above.
    fn prefetch_hits(
        &self,
        p: &Prefetch,
        outer: Option<&Filter>,
        deadline: Deadline,
    ) -> Result<Vec<(ExtId, f32)>> {
        let search = Search {
            using: p.using.clone(),
            query: p.query.clone().unwrap_or(Query::IdOrder),
            filter: both(outer, p.filter.as_ref()),
            limit: p.limit,
            offset: 0,
            score_threshold: p.score_threshold,
            params: p.params,
            with_payload: PayloadSelector::None,
            with_vector: VectorSelector::None,
            prefetch: p.prefetch.clone(),
        };
        Ok(self.search(&search, deadline)?.into_iter().map(|h| (h.id, h.score)).collect())
    }

    /// Every point of the lists scored by `formula`, best first; ties in the order the points
    /// first appear. The first point the formula fails on fails the request.
    fn formula_scores(
        &self,
        formula: &super::formula::Formula,
        lists: &[Vec<(ExtId, f32)>],
        deadline: Deadline,
    ) -> Result<Vec<(ExtId, f32)>> {
        let mut order: Vec<ExtId> = Vec::new();
        let mut scores: HashMap<ExtId, Vec<Option<f32>>> = HashMap::new();
        for (j, list) in lists.iter().enumerate() {
            for (id, score) in list {
                let entry = scores.entry(*id).or_insert_with(|| {
                    order.push(*id);
                    vec![None; lists.len()]
                });
                entry[j] = Some(*score);
            }
        }
        let points = self.points.read();
        let mut out: Vec<(usize, ExtId, f32)> = Vec::with_capacity(order.len());
        for (i, ext) in order.into_iter().enumerate() {
            // A formula may cost much per point: checked before each.
            deadline.check()?;
            let Some((id, meta)) = points.by_ext.get(&ext).and_then(|id| Some((*id, points.meta.get(id)?)))
            else {
                continue;
            };
            let has_vector = self.has_vector(id);
            let point = super::formula::Point {
                id: ext,
                payload: &meta.payload,
                scores: &scores[&ext],
                has_vector: &has_vector,
            };
            out.push((i, ext, formula.score(&point)?));
        }
        out.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        Ok(out.into_iter().map(|(_, id, score)| (id, score)).collect())
    }

    /// Hits for points named by external id, in the order given, with the search's payload
    /// and vector selection (points deleted meanwhile are left out).
    fn hits_by_ext(&self, page: Vec<(ExtId, f32)>, s: &Search) -> Vec<Hit> {
        let points = self.points.read();
        let scored = page
            .into_iter()
            .filter_map(|(ext, score)| Some(ScoredPoint { id: *points.by_ext.get(&ext)?, score }))
            .collect();
        self.hits_of(&points, scored, s)
    }
}

/// The lists fused into one, best first; ties in the order the points first appear.
pub fn fuse(lists: &[Vec<(ExtId, f32)>], fusion: &Fusion) -> Vec<(ExtId, f32)> {
    let mut order: Vec<ExtId> = Vec::new();
    let mut total: HashMap<ExtId, f32> = HashMap::new();
    let mut add = |id: ExtId, score: f32| {
        let entry = total.entry(id).or_insert_with(|| {
            order.push(id);
            0.0
        });
        *entry += score;
    };
    for (j, list) in lists.iter().enumerate() {
        match fusion {
            Fusion::Rrf { k, weights } => {
                let w = weights.as_ref().and_then(|w| w.get(j)).copied().unwrap_or(1.0);
                for (p, (id, _)) in list.iter().enumerate() {
                    let score = if w > 0.0 { 1.0 / ((p as f32 + 1.0) / w + *k as f32 - 1.0) } else { 0.0 };
                    add(*id, score);
                }
            }
            Fusion::Dbsf => {
                for (id, score) in normalised(list) {
                    add(id, score);
                }
            }
        }
    }
    let mut fused: Vec<(usize, ExtId, f32)> =
        order.iter().enumerate().map(|(i, id)| (i, *id, total[id])).collect();
    fused.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    fused.into_iter().map(|(_, id, score)| (id, score)).collect()
}

/// DBSF's normalisation of one list: `(score - (μ - 3σ)) / 6σ` with the sample standard
/// deviation, not clipped; a list of one point, or of equal scores, scores 0.5 each. Raw scores
/// as reported (Euclid distances too, as in Qdrant).
fn normalised(list: &[(ExtId, f32)]) -> Vec<(ExtId, f32)> {
    if list.len() < 2 {
        return list.iter().map(|(id, _)| (*id, 0.5)).collect();
    }
    // Welford's running mean and variance, in f32 as Qdrant computes them.
    let (mut mean, mut m2) = (0.0f32, 0.0f32);
    for (i, (_, s)) in list.iter().enumerate() {
        let delta = s - mean;
        mean += delta / (i as f32 + 1.0);
        m2 += delta * (s - mean);
    }
    let sd = (m2 / (list.len() as f32 - 1.0)).sqrt();
    let (lo, hi) = (mean - 3.0 * sd, mean + 3.0 * sd);
    list.iter().map(|(id, s)| (*id, if hi > lo { (s - lo) / (hi - lo) } else { 0.5 })).collect()
}
