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

use std::collections::{HashMap, HashSet};

use vicinity_index::{Metric, ScoredPoint, VectorIndex};

use super::super::mmr;
use super::super::read::{Query, Search, Space};
use super::super::{Collection, Deadline, Hit, Points};
use crate::error::{Error, Result};
use crate::id::ExtId;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

/// A profile as a query: for the centroid strategy its one query vector; for multi-interest
/// the heaviest items' vectors (as stored) with their weights.
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

/// Items with their profile weights.
type Weighted = Vec<(ExtId, f64)>;

/// A profile resolved into vectors, kept per user until the profile or any point changes.
#[derive(Debug)]
pub struct Resolved {
    positive: Vec<(Vec<f32>, f32)>,
    negative: Vec<(Vec<f32>, f32)>,
}

/// The key of a [`Resolved`] profile: user, vector, strategy, the profile's revision and the
/// collection's write sequence.
pub type ResolvedKey = (String, String, ProfileStrategy, u64, u64);

/// Bytes of resolved profiles a collection keeps.
const RESOLVED_BYTES: u64 = 64 << 20;

pub fn resolved_cache() -> moka::sync::Cache<ResolvedKey, std::sync::Arc<Resolved>> {
    moka::sync::Cache::builder()
        .max_capacity(RESOLVED_BYTES)
        .weigher(|k: &ResolvedKey, v: &std::sync::Arc<Resolved>| {
            let floats: usize = v.positive.iter().chain(&v.negative).map(|(x, _)| x.len() + 1).sum();
            u32::try_from(k.0.len() + k.1.len() + 4 * floats + 64).unwrap_or(u32::MAX)
        })
        .time_to_idle(std::time::Duration::from_secs(600))
        .build()
}

impl Collection {
    /// The stored vectors of `ids` in vector `using` (as prepared at upsert; read from
    /// storage rather than the index, whose fitted basis would have to be undone per vector).
    fn stored_vectors(&self, using: &str, ids: &[u64]) -> Result<Vec<Option<Vec<f32>>>> {
        let (cid, slot) = {
            let c = self.config.read();
            (c.id, c.vector(using)?.slot)
        };
        Ok(self.storage.vectors_of(cid, ids, slot))
    }

    /// The query that answers `user` on vector `using`.
    pub fn plan_for_user(&self, user: &str, using: &str, o: &UserOptions) -> Result<UserPlan> {
        let config = self.config.read().recommendation.clone();
        self.index(using)?;
        let popular = |seen| UserPlan { query: Query::Popular, seen, served_by: ServedBy::Popular };
        let seq = self.seq.load(std::sync::atomic::Ordering::SeqCst);
        let (seen, resolved) = {
            let users = self.users.read();
            let Some(p) = users.profile(user) else {
                if o.fallback_popular {
                    return Ok(popular(HashSet::new()));
                }
                return Err(Error::not_found(format!("user `{user}` in collection `{}`", self.name)));
            };
            let seen: HashSet<ExtId> = p.items.keys().copied().collect();
            let key: ResolvedKey = (user.to_string(), using.to_string(), o.strategy, p.rev, seq);
            match self.resolved.get(&key) {
                Some(r) => (seen, Ok(r)),
                None => {
                    let (liked, disliked): (Weighted, Weighted) = p
                        .items
                        .iter()
                        .filter(|(_, w)| w.weight != 0.0)
                        .map(|(id, w)| (*id, w.weight))
                        .partition(|(_, w)| *w > 0.0);
                    (seen, Err((key, liked, disliked)))
                }
            }
        };
        // Resolved without the users' lock held (it reads storage).
        let resolved = match resolved {
            Ok(r) => r,
            Err((key, liked, disliked)) => {
                let r = std::sync::Arc::new(self.resolve(using, o.strategy, &config, liked, disliked)?);
                self.resolved.insert(key, r.clone());
                r
            }
        };
        if resolved.positive.is_empty() {
            return Ok(popular(seen));
        }
        let query = Query::Profile(ProfileQuery {
            positive: resolved.positive.clone(),
            negative: resolved.negative.clone(),
            strategy: o.strategy,
            popularity_weight: config.popularity_weight as f32,
            diversity: o.diversity,
            candidates: o.candidates,
        });
        let served_by = match o.strategy {
            ProfileStrategy::Centroid => ServedBy::Centroid,
            ProfileStrategy::MultiInterest => ServedBy::MultiInterest,
        };
        Ok(UserPlan { query, seen, served_by })
    }

    /// The profile's items as vectors: for the centroid strategy, the one query vector; for
    /// multi-interest, the heaviest liked and disliked items. Items that are no longer points
    /// are left out; no liked item left means no positive vector.
    fn resolve(
        &self,
        using: &str,
        strategy: ProfileStrategy,
        config: &super::RecommendationConfig,
        mut liked: Vec<(ExtId, f64)>,
        mut disliked: Vec<(ExtId, f64)>,
    ) -> Result<Resolved> {
        // Heaviest first (ties by id): multi-interest keeps the first `interests`.
        let heaviest = |v: &mut Vec<(ExtId, f64)>| {
            v.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
        };
        heaviest(&mut liked);
        heaviest(&mut disliked);
        if strategy == ProfileStrategy::MultiInterest {
            liked.truncate(config.interests);
            disliked.truncate(config.interests);
        }
        let read = |items: &[(ExtId, f64)]| -> Result<Vec<(Vec<f32>, f32)>> {
            let ids: Vec<(u64, f64)> = {
                let points = self.points.read();
                items.iter().filter_map(|(ext, w)| Some((*points.by_ext.get(ext)?, *w))).collect()
            };
            let internal: Vec<u64> = ids.iter().map(|(id, _)| *id).collect();
            Ok(self
                .stored_vectors(using, &internal)?
                .into_iter()
                .zip(ids)
                .filter_map(|(v, (_, w))| Some((v?, w.abs() as f32)))
                .filter(|(_, w)| w.is_finite() && *w > 0.0)
                .collect())
        };
        let positive = read(&liked)?;
        let negative = read(&disliked)?;
        if positive.is_empty() || strategy == ProfileStrategy::MultiInterest {
            return Ok(Resolved { positive, negative });
        }
        let (metric, dim) = {
            let c = self.config.read();
            let v = c.vector(using)?;
            (v.distance.metric(), v.size)
        };
        let q = centroid(metric, dim, &positive, &negative);
        Ok(Resolved { positive: vec![(q, 1.0)], negative: Vec::new() })
    }

    /// The allowed points in popularity order (each scored its popularity as of the latest
    /// event), then, when those run out, the other allowed points in id order (scored 0);
    /// `limit` of them, `offset` skipped.
    pub(in crate::collection) fn popular_hits(&self, s: &Search, deadline: Deadline) -> Result<Vec<Hit>> {
        self.check_selector(&s.with_vector)?;
        let wanted = s.offset.saturating_add(s.limit);
        let points = self.points.read();
        let mut page = self.popular(&points, s, wanted, deadline)?;
        if page.len() < wanted {
            let have: HashSet<u64> = page.iter().map(|p| p.id).collect();
            for (i, id) in self.storage.ids_from(self.id(), None).enumerate() {
                if page.len() >= wanted {
                    break;
                }
                if i % 256 == 255 {
                    deadline.check()?;
                }
                let id = id?;
                if have.contains(&id) || !self.allows(&points, s, id) {
                    continue;
                }
                page.push(ScoredPoint { id, score: 0.0 });
            }
        }
        let page: Vec<ScoredPoint> = page
            .into_iter()
            .filter(|p| s.score_threshold.is_none_or(|t| p.score > t))
            .skip(s.offset)
            .collect();
        Ok(self.hits_of(&points, page, s))
    }

    /// Whether point `id` exists and passes the search's filter.
    fn allows(&self, points: &Points, s: &Search, id: u64) -> bool {
        points.meta.get(&id).is_some_and(|m| {
            s.filter.as_ref().is_none_or(|f| f.matches(&m.payload, Some(m.ext), &self.has_vector(id)))
        })
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
            if self.allows(points, s, id) {
                out.push(ScoredPoint { id, score: value as f32 });
            }
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
        let none = HashSet::new();
        let prepared = |ex: &[(Vec<f32>, f32)]| -> Result<Vec<vicinity_index::Prepared>> {
            ex.iter().map(|(v, _)| Ok(metric.query(v.clone(), dim)?)).collect()
        };
        let (positive, negative) = (prepared(&p.positive)?, prepared(&p.negative)?);
        let mut candidates: HashSet<u64> = HashSet::new();
        // With a popularity prior, the nearest and the most popular items both compete.
        let fetch = if beta > 0.0 { pool_size.saturating_mul(3).max(30) } else { pool_size };
        let searched = match p.strategy {
            ProfileStrategy::Centroid => &positive[..positive.len().min(1)],
            ProfileStrategy::MultiInterest => &positive[..],
        };
        for q in searched {
            candidates
                .extend(self.nearest(&space, &points, q, fetch, s, &none, deadline)?.iter().map(|h| h.id));
        }
        let top = if beta > 0.0 {
            let popular = pool_size.saturating_mul(10).max(100);
            candidates.extend(self.popular(&points, s, popular, deadline)?.iter().map(|h| h.id));
            self.users.read().popularity.top(half_life)
        } else {
            0.0
        };
        let mut ids: Vec<u64> = candidates.into_iter().collect();
        ids.sort_unstable();
        // Relevance: the best score against the searched vectors, or minus the best against a
        // disliked item when that is higher (centroid: its one vector). Scored by the index,
        // in its own basis.
        let best = |queries: &[vicinity_index::Prepared]| -> Vec<f32> {
            let mut out = vec![f32::NEG_INFINITY; ids.len()];
            for q in queries {
                for (o, sc) in out.iter_mut().zip(index.scores(q, &ids)) {
                    *o = o.max(sc.unwrap_or(f32::NEG_INFINITY));
                }
            }
            out
        };
        let pos = best(searched);
        let neg = match p.strategy {
            ProfileStrategy::Centroid => vec![f32::NEG_INFINITY; ids.len()],
            ProfileStrategy::MultiInterest => best(&negative),
        };
        let users = self.users.read();
        let prior = |id: u64| -> f32 {
            if top <= 0.0 {
                return 0.0;
            }
            let value = points.meta.get(&id).map_or(0.0, |m| users.popularity.value(half_life, &m.ext));
            (value.ln_1p() / top.ln_1p()) as f32
        };
        let mut scored: Vec<ScoredPoint> = ids
            .iter()
            .zip(pos.iter().zip(&neg))
            .filter(|(_, (p, _))| p.is_finite())
            .map(|(id, (p, n))| {
                // Euclid: minus the distance (higher is closer, in the distance's unit).
                let (p, n) = (metric.finalize(*p), metric.finalize(*n));
                let rel = if n > p { -n } else { p };
                ScoredPoint { id: *id, score: (1.0 - beta) * rel + beta * prior(*id) }
            })
            .collect();
        drop(users);
        deadline.check()?;
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        scored.truncate(pool_size);
        let order: Vec<usize> = match p.diversity {
            Some(diversity) if scored.len() > 1 => {
                let pool: Vec<u64> = scored.iter().map(|h| h.id).collect();
                let vectors: HashMap<u64, Vec<f32>> = pool
                    .iter()
                    .copied()
                    .zip(self.stored_vectors(&s.using, &pool)?)
                    .filter_map(|(id, v)| Some((id, v?)))
                    .collect();
                scored.retain(|h| vectors.contains_key(&h.id));
                let rel: Vec<f32> = scored.iter().map(|h| h.score).collect();
                let sim = |i: usize, j: usize| metric.score(&vectors[&scored[i].id], &vectors[&scored[j].id]);
                mmr::select(&rel, 1.0 - diversity, wanted, sim, deadline)?
            }
            _ => (0..scored.len()).collect(),
        };
        let page: Vec<ScoredPoint> = order
            .into_iter()
            .map(|i| scored[i])
            .filter(|h| s.score_threshold.is_none_or(|t| h.score > t))
            .skip(s.offset)
            .take(s.limit)
            .collect();
        Ok(self.hits_of(&points, page, s))
    }
}

/// The centroid strategy's query: the weighted mean of the liked items, pushed away from the
/// weighted mean of the disliked ones.
fn centroid(
    metric: Metric,
    dim: usize,
    positive: &[(Vec<f32>, f32)],
    negative: &[(Vec<f32>, f32)],
) -> Vec<f32> {
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
    let Some(pos) = mean(positive) else { return vec![0.0; dim] };
    let q = match mean(negative) {
        Some(neg) => pos.iter().zip(&neg).map(|(p, n)| p + (p - n)).collect(),
        None => pos.clone(),
    };
    // A dislike that cancels the likes exactly leaves no direction: the likes alone then.
    match metric.query(q.clone(), dim) {
        Ok(_) => q,
        Err(_) => pos,
    }
}
