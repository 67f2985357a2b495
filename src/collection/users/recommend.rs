//! Recommendations for a user: the profile becomes a query ([`Collection::plan_for_user`]),
//! which the collection runs like any other ([`Query::Profile`], [`Query::Popular`]), so
//! filters, `exclude_seen` (a `must_not has_id` the walk evaluates), MMR, groups and the result
//! cache apply as they do to every search.
//!
//! - **centroid**: the weighted mean of the user's liked items' vectors; with dislikes,
//!   `p + (p − n)` (Qdrant's average_vector, with weights).
//! - **multi_interest**: the user's `interests` heaviest liked items each find their neighbours;
//!   a candidate scores its best similarity to them, or minus its best similarity to the
//!   heaviest disliked items when that is higher (Qdrant's best_score, unscaled).
//!
//! With `popularity_weight` β > 0 the most popular allowed items join the candidates and each
//! scores `(1 − β)·relevance + β·ln(1 + popularity) / ln(1 + top popularity)`. A user with no
//! liked item that still exists is answered from the popular list.

use std::collections::HashSet;

use vicinity_index::{Metric, ScoredPoint, VectorIndex};

use super::super::mmr;
use super::super::read::{Query, Search, Space};
use super::super::{Collection, Deadline, Hit, Points};
use crate::error::{Error, Result};
use crate::id::ExtId;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProfileStrategy {
    #[default]
    Centroid,
    MultiInterest,
}

/// Which path answered a user's recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServedBy {
    Centroid,
    MultiInterest,
    Popular,
}

impl ServedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ServedBy::Centroid => "centroid",
            ServedBy::MultiInterest => "multi_interest",
            ServedBy::Popular => "popular",
        }
    }
}

/// A profile as a query: the items' vectors (as stored) with their weights.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileQuery {
    pub positive: Vec<(Vec<f32>, f32)>,
    pub negative: Vec<(Vec<f32>, f32)>,
    pub strategy: ProfileStrategy,
    pub popularity_weight: f32,
    /// MMR's diversity in `0..=1`, and its pool size.
    pub diversity: Option<f32>,
    pub candidates: Option<usize>,
}

/// What to run for a user.
#[derive(Clone, Debug)]
pub struct UserPlan {
    pub query: Query,
    /// The user's items, for `exclude_seen` (empty for an unknown user).
    pub seen: HashSet<ExtId>,
    pub served_by: ServedBy,
}

/// What a user's recommendation asks for beyond the search.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserOptions {
    pub strategy: ProfileStrategy,
    /// Answer an unknown user from the popular list instead of a 404.
    pub fallback_popular: bool,
    pub diversity: Option<f32>,
    pub candidates: Option<usize>,
}

impl Collection {
    /// The query that answers `user` on vector `using`.
    pub fn plan_for_user(&self, user: &str, using: &str, o: &UserOptions) -> Result<UserPlan> {
        let config = self.config.read().recommendation.clone();
        let popular = |seen| UserPlan { query: Query::Popular, seen, served_by: ServedBy::Popular };
        let (mut liked, mut disliked, seen) = {
            let users = self.users.read();
            let Some(p) = users.profile(user) else {
                if o.fallback_popular {
                    return Ok(popular(HashSet::new()));
                }
                return Err(Error::not_found(format!("user `{user}` in collection `{}`", self.name)));
            };
            let seen: HashSet<ExtId> = p.items.keys().copied().collect();
            let (liked, disliked): (Vec<(ExtId, f64)>, Vec<(ExtId, f64)>) = p
                .items
                .iter()
                .filter(|(_, w)| w.weight != 0.0)
                .map(|(id, w)| (*id, w.weight))
                .partition(|(_, w)| *w > 0.0);
            (liked, disliked, seen)
        };
        // Heaviest first (ties by id): multi-interest keeps the first `interests`.
        let heaviest = |v: &mut Vec<(ExtId, f64)>| {
            v.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
        };
        heaviest(&mut liked);
        heaviest(&mut disliked);
        if o.strategy == ProfileStrategy::MultiInterest {
            liked.truncate(config.interests);
            disliked.truncate(config.interests);
        }
        let index = self.index(using)?;
        let resolve = |items: &[(ExtId, f64)]| -> Vec<(Vec<f32>, f32)> {
            let points = self.points.read();
            let ids: Vec<(u64, f64)> =
                items.iter().filter_map(|(ext, w)| Some((*points.by_ext.get(ext)?, *w))).collect();
            drop(points);
            let internal: Vec<u64> = ids.iter().map(|(id, _)| *id).collect();
            index
                .vectors(&internal)
                .into_iter()
                .zip(ids)
                .filter_map(|(v, (_, w))| Some((v?, w.abs() as f32)))
                .filter(|(_, w)| w.is_finite() && *w > 0.0)
                .collect()
        };
        let positive = resolve(&liked);
        if positive.is_empty() {
            return Ok(popular(seen));
        }
        let negative = resolve(&disliked);
        let query = Query::Profile(ProfileQuery {
            positive,
            negative,
            strategy: o.strategy,
            popularity_weight: config.popularity_weight,
            diversity: o.diversity,
            candidates: o.candidates,
        });
        let served_by = match o.strategy {
            ProfileStrategy::Centroid => ServedBy::Centroid,
            ProfileStrategy::MultiInterest => ServedBy::MultiInterest,
        };
        Ok(UserPlan { query, seen, served_by })
    }

    /// The allowed points in popularity order (each scored its popularity as of the latest
    /// event); `limit` of them, `offset` skipped.
    pub(in crate::collection) fn popular_hits(&self, s: &Search, deadline: Deadline) -> Result<Vec<Hit>> {
        self.check_selector(&s.with_vector)?;
        let points = self.points.read();
        let page = self.popular(&points, s, s.offset.saturating_add(s.limit), deadline)?;
        let page: Vec<ScoredPoint> = page
            .into_iter()
            .filter(|p| s.score_threshold.is_none_or(|t| p.score > t))
            .skip(s.offset)
            .collect();
        Ok(self.hits_of(&points, page, s))
    }

    /// The `n` most popular points the search's filter allows, with their popularity.
    fn popular(&self, points: &Points, s: &Search, n: usize, deadline: Deadline) -> Result<Vec<ScoredPoint>> {
        let half_life = self.config.read().recommendation.half_life_micros();
        let users = self.users.read();
        let mut out = Vec::with_capacity(n.min(1024));
        for (i, (ext, value)) in users.popularity.ranked(half_life).enumerate() {
            if out.len() >= n {
                break;
            }
            if i % 256 == 255 {
                deadline.check()?;
            }
            let Some(&id) = points.by_ext.get(&ext) else { continue };
            let Some(m) = points.meta.get(&id) else { continue };
            if s.filter.as_ref().is_some_and(|f| !f.matches(&m.payload, Some(m.ext), &self.has_vector(id))) {
                continue;
            }
            out.push(ScoredPoint { id, score: value as f32 });
        }
        Ok(out)
    }

    /// [`Query::Profile`]: candidates from the profile (and the popular list), scored exactly.
    pub(in crate::collection) fn profile_hits(
        &self,
        s: &Search,
        p: &ProfileQuery,
        deadline: Deadline,
    ) -> Result<Vec<Hit>> {
        self.check_selector(&s.with_vector)?;
        let (metric, dim, threshold) = {
            let c = self.config.read();
            let v = c.vector(&s.using)?;
            (v.distance.metric(), v.size, v.hnsw_params().full_scan_threshold)
        };
        let half_life = self.config.read().recommendation.half_life_micros();
        let index = self.index(&s.using)?;
        let points = self.points.read();
        let space = Space { index: &index, threshold };
        let wanted = s.offset.saturating_add(s.limit);
        let pool_size = match p.diversity {
            Some(_) => p.candidates.unwrap_or(wanted.saturating_mul(4).max(64)).max(wanted),
            None => wanted,
        };
        let beta = p.popularity_weight;
        let fetch = if beta > 0.0 { pool_size.saturating_mul(2).max(100) } else { pool_size };
        let none = HashSet::new();
        let centroid = match p.strategy {
            ProfileStrategy::Centroid => Some(centroid(metric, dim, p)?),
            ProfileStrategy::MultiInterest => None,
        };
        let mut candidates: HashSet<u64> = HashSet::new();
        match &centroid {
            Some(q) => {
                let q = metric.query(q.clone(), dim)?;
                candidates.extend(
                    self.nearest(&space, &points, &q, fetch, s, &none, deadline)?.iter().map(|h| h.id),
                );
            }
            None => {
                for (v, _) in &p.positive {
                    let q = metric.query(v.clone(), dim)?;
                    candidates.extend(
                        self.nearest(&space, &points, &q, fetch, s, &none, deadline)?.iter().map(|h| h.id),
                    );
                }
            }
        }
        let (top, ranked_popular) = if beta > 0.0 {
            let popular = self.popular(&points, s, fetch, deadline)?;
            candidates.extend(popular.iter().map(|h| h.id));
            let users = self.users.read();
            (users.popularity.top(half_life), true)
        } else {
            (0.0, false)
        };
        let mut ids: Vec<u64> = candidates.into_iter().collect();
        ids.sort_unstable();
        let vectors = index.vectors(&ids);
        let (ids, vectors): (Vec<u64>, Vec<Vec<f32>>) =
            ids.into_iter().zip(vectors).filter_map(|(id, v)| Some((id, v?))).unzip();
        let relevance = |v: &[f32]| -> f32 {
            match &centroid {
                Some(q) => metric.score(q, v),
                None => {
                    let best = |ex: &[(Vec<f32>, f32)]| {
                        ex.iter().map(|(e, _)| metric.score(e, v)).fold(f32::NEG_INFINITY, f32::max)
                    };
                    let (pos, neg) = (best(&p.positive), best(&p.negative));
                    if neg > pos {
                        -neg
                    } else {
                        pos
                    }
                }
            }
        };
        let priors: Vec<f32> = if ranked_popular && top > 0.0 {
            let users = self.users.read();
            ids.iter()
                .map(|id| {
                    let value =
                        points.meta.get(id).map_or(0.0, |m| users.popularity.value(half_life, &m.ext));
                    (value.ln_1p() / top.ln_1p()) as f32
                })
                .collect()
        } else {
            vec![0.0; ids.len()]
        };
        let mut scored: Vec<(ScoredPoint, usize)> = ids
            .iter()
            .zip(&vectors)
            .enumerate()
            .map(|(i, (id, v))| {
                let score = (1.0 - beta) * relevance(v) + beta * priors[i];
                (ScoredPoint { id: *id, score }, i)
            })
            .collect();
        deadline.check()?;
        scored.sort_by(|a, b| b.0.score.total_cmp(&a.0.score).then(a.0.id.cmp(&b.0.id)));
        scored.truncate(pool_size);
        let order: Vec<usize> = match p.diversity {
            Some(diversity) if scored.len() > 1 => {
                let rel: Vec<f32> = scored.iter().map(|(h, _)| h.score).collect();
                let sim = |i: usize, j: usize| metric.score(&vectors[scored[i].1], &vectors[scored[j].1]);
                mmr::select(&rel, 1.0 - diversity, wanted, sim, deadline)?
            }
            _ => (0..scored.len()).collect(),
        };
        let page: Vec<ScoredPoint> = order
            .into_iter()
            .map(|i| scored[i].0)
            .filter(|h| s.score_threshold.is_none_or(|t| h.score > t))
            .skip(s.offset)
            .take(s.limit)
            .collect();
        Ok(self.hits_of(&points, page, s))
    }
}

/// The centroid strategy's query: the weighted mean of the liked items, pushed away from the
/// weighted mean of the disliked ones.
fn centroid(metric: Metric, dim: usize, p: &ProfileQuery) -> Result<Vec<f32>> {
    let mean = |items: &[(Vec<f32>, f32)]| -> Option<Vec<f32>> {
        let total: f32 = items.iter().map(|(_, w)| w).sum();
        if items.is_empty() || total <= 0.0 {
            return None;
        }
        let mut out = vec![0.0f32; dim];
        for (v, w) in items {
            out.iter_mut().zip(v).for_each(|(o, x)| *o += x * w / total);
        }
        Some(out)
    };
    let pos =
        mean(&p.positive).ok_or_else(|| Error::Internal("a profile query without liked items".into()))?;
    let q = match mean(&p.negative) {
        Some(neg) => pos.iter().zip(&neg).map(|(p, n)| p + (p - n)).collect(),
        None => pos.clone(),
    };
    // A dislike that cancels the likes exactly leaves no direction: the likes alone then.
    Ok(match metric.query(q.clone(), dim) {
        Ok(_) => q,
        Err(_) => pos,
    })
}
