//! Reads: retrieve, scroll, count, and search — nearest neighbours of a vector or of a point,
//! and recommendations from positive / negative examples.
//!
//! Filters run inside the engine's search as a predicate over payloads. When an indexed `must`
//! condition narrows the candidates to few points, the exact allowed set is handed to the
//! engine instead, which scans it exactly (so a selective filter still returns `limit` hits).

use std::collections::{BTreeMap, HashSet};

use vicinity_index::{AnyIndex, Metric, Prepared, ScoredPoint, SearchParams, VectorIndex};

use super::filter::{Filter, Payload};
use super::json_path::{self, Step};
use super::order::{OrderBy, OrderValue};
use super::write::Vector;
use super::{Collection, Deadline, PointMeta, Points};
use crate::error::{Error, Result};
use crate::id::ExtId;

/// Which payload keys an answer carries.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PayloadSelector {
    /// None (the default).
    #[default]
    None,
    /// All (`true`) or none (`false`).
    Bool(bool),
    /// These keys.
    Include(Vec<String>),
    /// These keys (all if `None`) but those in `exclude`.
    Fields { include: Option<Vec<String>>, exclude: Option<Vec<String>> },
}

impl PayloadSelector {
    pub(super) fn pick(&self, payload: &Payload) -> Option<Payload> {
        let paths = |keys: &[String]| -> Vec<Vec<Step>> {
            keys.iter().filter_map(|k| json_path::parse(k).ok()).collect()
        };
        match self {
            PayloadSelector::None | PayloadSelector::Bool(false) => None,
            PayloadSelector::Bool(true) => Some(payload.clone()),
            PayloadSelector::Include(keys) => Some(json_path::filter(payload, Some(&paths(keys)), &[])),
            PayloadSelector::Fields { include, exclude } => {
                let include = include.as_deref().map(paths);
                let exclude = exclude.as_deref().map(paths).unwrap_or_default();
                Some(json_path::filter(payload, include.as_deref(), &exclude))
            }
        }
    }
}

/// Which vectors an answer carries (Qdrant's `with_vector`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum VectorSelector {
    #[default]
    None,
    All,
    /// These names (each one the collection has).
    Names(Vec<String>),
}

/// A point's vectors as an answer shows them: a plain list when the point has exactly the
/// unnamed vector, else a map by name (Qdrant's rule).
#[derive(Clone, Debug, PartialEq)]
pub enum PointVectors {
    Plain(Vec<f32>),
    Named(BTreeMap<String, Vector>),
}

impl PointVectors {
    fn of(mut named: BTreeMap<String, Vector>) -> Self {
        if named.len() == 1 {
            if let Some(Vector::Dense(v)) = named.remove("") {
                return PointVectors::Plain(v);
            }
        }
        PointVectors::Named(named)
    }
}

/// A stored point as `retrieve` and `scroll` find it.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: ExtId,
    pub payload: Option<Payload>,
    pub vector: Option<PointVectors>,
    /// The value an `order_by` scroll ordered this record by.
    pub order_value: Option<OrderValue>,
}

/// A search result.
#[derive(Clone, Debug)]
pub struct Hit {
    pub id: ExtId,
    pub version: u64,
    pub score: f32,
    pub payload: Option<Payload>,
    pub vector: Option<PointVectors>,
    /// The value an `order_by` query ordered this hit by.
    pub order_value: Option<OrderValue>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Example {
    Id(ExtId),
    Vector(Vec<f32>),
    /// For a sparse vector (`using` names one).
    Sparse(vicinity_index::SparseVector),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    #[default]
    AverageVector,
    BestScore,
    SumScores,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// No query (Qdrant's `points/query` without one): the allowed points in id order, each
    /// scored 1.0 with version 0, as Qdrant answers it.
    IdOrder,
    /// Nearest to an example (a point id: the point itself is not returned).
    Nearest(Example),
    Recommend {
        positive: Vec<Example>,
        negative: Vec<Example>,
        strategy: Strategy,
    },
    /// The points of a range-capable payload index in value order (`order_by`).
    OrderBy(OrderBy),
    /// Nearest, diversified by maximal marginal relevance (see `mmr.rs`).
    Mmr(super::mmr::Mmr),
    /// Discovery (with a target) or context search (see `discover.rs`).
    Discover(super::discover::Discover),
    /// A user's profile (see `users/recommend.rs`).
    Profile(super::users::ProfileQuery),
    /// The most popular points (time-decayed interaction counts), most popular first.
    Popular,
    /// The prefetches' lists fused (see `prefetch.rs`); needs prefetches.
    Fusion(super::prefetch::Fusion),
    /// The prefetches' points scored by a formula (see `formula.rs`); needs prefetches.
    Formula(super::formula::Formula),
}

#[derive(Clone, Debug)]
pub struct Search {
    /// The vector searched (`""`: the unnamed one).
    pub using: String,
    pub query: Query,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub offset: usize,
    pub score_threshold: Option<f32>,
    pub params: SearchParams,
    pub with_payload: PayloadSelector,
    pub with_vector: VectorSelector,
    /// Searches whose hits this one fuses or rescores (see `prefetch.rs`).
    pub prefetch: Vec<super::prefetch::Prefetch>,
}

/// Qdrant reports Euclid as a distance (smaller is closer); the engine's scores are
/// higher-is-closer everywhere.
pub(super) fn reported(metric: Metric, score: f32) -> f32 {
    match metric {
        Metric::L2 => -score,
        Metric::Cosine | Metric::Dot => score,
    }
}

pub(super) fn scaled_sigmoid(x: f32) -> f32 {
    0.5 * (x / (1.0 + x.abs()) + 1.0)
}

impl Collection {
    /// Refuses a selector naming a vector the collection does not have (Qdrant's 400).
    pub(super) fn check_selector(&self, with_vector: &VectorSelector) -> Result<()> {
        if let VectorSelector::Names(names) = with_vector {
            let config = self.config.read();
            if let Some(n) = names.iter().find(|n| !config.has_vector_named(n)) {
                return Err(super::config::no_such_vector(n));
            }
        }
        Ok(())
    }

    /// Which vectors point `id` has (for `has_vector` in filters).
    pub(super) fn has_vector(&self, id: u64) -> impl Fn(&str) -> bool + '_ {
        move |name| match self.indexes.load().get(name) {
            Some(i) => i.contains(id),
            None => self.sparse.load().get(name).is_some_and(|i| i.contains(id)),
        }
    }

    /// The selected vectors of point `id`, as an answer shows them.
    pub(super) fn vectors_of(&self, id: u64, with_vector: &VectorSelector) -> Option<PointVectors> {
        // Most answers carry no vectors: no index map is loaded for them.
        let (indexes, sparse) = match with_vector {
            VectorSelector::None => return None,
            VectorSelector::All | VectorSelector::Names(_) => (self.indexes.load(), self.sparse.load()),
        };
        let one = |n: &String| match indexes.get(n) {
            Some(i) => Some((n.clone(), Vector::Dense(i.vector(id)?))),
            None => Some((n.clone(), Vector::Sparse(sparse.get(n)?.vector(id)?))),
        };
        let named = match with_vector {
            VectorSelector::None => BTreeMap::new(),
            VectorSelector::All => indexes.keys().chain(sparse.keys()).filter_map(one).collect(),
            VectorSelector::Names(names) => names.iter().filter_map(one).collect(),
        };
        Some(PointVectors::of(named))
    }

    pub(super) fn record(
        &self,
        points: &Points,
        id: u64,
        with_payload: &PayloadSelector,
        with_vector: &VectorSelector,
    ) -> Option<Record> {
        let m = points.meta.get(&id)?;
        Some(Record {
            id: m.ext,
            payload: with_payload.pick(&m.payload),
            vector: self.vectors_of(id, with_vector),
            order_value: None,
        })
    }

    /// The points among `ids` that exist, in the order asked.
    pub fn retrieve(
        &self,
        ids: &[ExtId],
        with_payload: &PayloadSelector,
        with_vector: &VectorSelector,
    ) -> Result<Vec<Record>> {
        self.check_selector(with_vector)?;
        let points = self.points.read();
        let mut seen = HashSet::new();
        Ok(ids
            .iter()
            .filter(|e| seen.insert(**e))
            .filter_map(|e| points.by_ext.get(e))
            .filter_map(|id| self.record(&points, *id, with_payload, with_vector))
            .collect())
    }

    /// Up to `limit` points in id order from `offset` (inclusive), and the id to continue from.
    pub fn scroll(
        &self,
        offset: Option<ExtId>,
        limit: usize,
        filter: Option<&Filter>,
        with_payload: &PayloadSelector,
        with_vector: &VectorSelector,
        deadline: Deadline,
    ) -> Result<(Vec<Record>, Option<ExtId>)> {
        self.check_selector(with_vector)?;
        let bound = filter.map(|f| self.bind(f));
        let filter = bound.as_ref();
        let cid = self.config.read().id;
        let points = self.points.read();
        let mut records = Vec::with_capacity(limit.min(1024));
        for (i, item) in self.storage.ids_from(cid, offset).enumerate() {
            if i % 256 == 255 {
                deadline.check()?;
            }
            let id = item?;
            let Some(m) = points.meta.get(&id) else { continue };
            if filter.is_some_and(|f| !f.matches(&m.payload, Some(m.ext), &self.has_vector(id))) {
                continue;
            }
            if records.len() == limit {
                return Ok((records, Some(m.ext)));
            }
            records.extend(self.record(&points, id, with_payload, with_vector));
        }
        Ok((records, None))
    }

    pub fn count(&self, filter: Option<&Filter>, deadline: Deadline) -> Result<usize> {
        let bound = filter.map(|f| self.bind(f));
        let filter = bound.as_ref();
        let points = self.points.read();
        let Some(f) = filter else { return Ok(points.meta.len()) };
        let matching = |id: u64, m: &PointMeta| f.matches(&m.payload, Some(m.ext), &self.has_vector(id));
        let mut n = 0;
        let mut count = |metas: &mut dyn Iterator<Item = (u64, &PointMeta)>| -> Result<()> {
            for (i, (id, m)) in metas.enumerate() {
                if i % 256 == 255 {
                    deadline.check()?;
                }
                n += usize::from(matching(id, m));
            }
            Ok(())
        };
        match points.candidates(f) {
            Some(cands) => count(&mut cands.iter().filter_map(|id| Some((*id, points.meta.get(id)?))))?,
            None => count(&mut points.meta.iter().map(|(id, m)| (*id, m)))?,
        }
        Ok(n)
    }

    /// Runs a search or recommendation.
    pub fn search(&self, s: &Search, deadline: Deadline) -> Result<Vec<Hit>> {
        deadline.check()?;
        let bound;
        let s = match &s.filter {
            Some(f) => {
                bound = Search { filter: Some(self.bind(f)), ..s.clone() };
                &bound
            }
            None => s,
        };
        let sparse = self.config.read().sparse_vectors.contains_key(&s.using);
        let hits = match &s.query {
            _ if !s.prefetch.is_empty() => self.prefetched(s, deadline)?,
            Query::Fusion(_) => {
                return Err(Error::bad(
                    "Wrong input: Validation failed: cannot apply Fusion without prefetches",
                ))
            }
            Query::Formula(_) => {
                return Err(Error::bad(
                    "Wrong input: Validation failed: cannot apply Formula without prefetches",
                ))
            }
            Query::IdOrder => self.in_id_order(s, deadline)?,
            Query::OrderBy(order) => self.order_hits(order, s, deadline)?,
            Query::Popular => self.popular_hits(s, deadline)?,
            _ if sparse => self.sparse_search(s, deadline)?,
            Query::Nearest(_) | Query::Recommend { .. } => self.search_within(s, deadline)?,
            Query::Mmr(m) => self.mmr(s, m, deadline)?,
            Query::Discover(d) => self.discover(s, d, deadline)?,
            Query::Profile(p) => self.profile_hits(s, p, deadline)?,
        };
        // A filtered walk that ran past the deadline admitted nothing after it: not an answer.
        deadline.check()?;
        Ok(hits)
    }

    fn search_within(&self, s: &Search, deadline: Deadline) -> Result<Vec<Hit>> {
        self.check_selector(&s.with_vector)?;
        let (metric, dim, threshold) = {
            let c = self.config.read();
            let v = c.vector(&s.using)?;
            (v.distance.metric(), v.size, v.hnsw_params().full_scan_threshold)
        };
        let index = self.index(&s.using)?;
        let space = Space { index: &index, threshold };
        let points = self.points.read();
        // Every example is checked and prepared here, once; the engine searches with it as is.
        let resolve = |e: &Example| -> Result<(Prepared, Option<u64>)> {
            match e {
                Example::Vector(v) => Ok((super::prepare_vector(metric, v.clone(), dim)?, None)),
                Example::Sparse(_) => Err(super::sparse::wrong_kind(&s.using)),
                Example::Id(ext) => {
                    let id = *points.by_ext.get(ext).ok_or_else(|| Error::NoPoint(ext.to_string()))?;
                    let v = index.vector(id).ok_or_else(|| match s.using.as_str() {
                        "" => Error::NoPoint(ext.to_string()),
                        name => Error::not_found(format!("vector {name:?} of point {ext}")),
                    })?;
                    Ok((metric.query(v, dim)?, Some(id)))
                }
            }
        };
        let k = s.limit + s.offset;
        let (scored, exclude): (Vec<ScoredPoint>, HashSet<u64>) = match &s.query {
            // Answered by `in_id_order` / `order_hits` (which read points without this lock held),
            // `mmr` and `discover`.
            Query::IdOrder
            | Query::OrderBy(_)
            | Query::Mmr(_)
            | Query::Discover(_)
            | Query::Profile(_)
            | Query::Popular
            | Query::Fusion(_)
            | Query::Formula(_) => (Vec::new(), HashSet::new()),
            Query::Nearest(e) => {
                let (v, id) = resolve(e)?;
                let exclude: HashSet<u64> = id.into_iter().collect();
                let hits = self.nearest(&space, &points, &v, k, s, &exclude, deadline)?;
                (
                    hits.into_iter().map(|p| ScoredPoint { score: reported(metric, p.score), ..p }).collect(),
                    exclude,
                )
            }
            Query::Recommend { positive, negative, strategy } => {
                let pos = positive.iter().map(resolve).collect::<Result<Vec<_>>>()?;
                let neg = negative.iter().map(resolve).collect::<Result<Vec<_>>>()?;
                let exclude: HashSet<u64> = pos.iter().chain(&neg).filter_map(|(_, id)| *id).collect();
                // average_vector averages the examples as given (a point's as stored), as Qdrant
                // does; the other strategies score with the prepared ones.
                let as_given =
                    |examples: &[Example], prepared: &[(Prepared, Option<u64>)]| -> Vec<Vec<f32>> {
                        examples
                            .iter()
                            .zip(prepared)
                            .map(|(e, (p, _))| match e {
                                Example::Vector(v) => v.clone(),
                                Example::Id(_) | Example::Sparse(_) => p.vector().to_vec(),
                            })
                            .collect()
                    };
                let (pos_given, neg_given) = (as_given(positive, &pos), as_given(negative, &neg));
                let pos: Vec<Prepared> = pos.into_iter().map(|(v, _)| v).collect();
                let neg: Vec<Prepared> = neg.into_iter().map(|(v, _)| v).collect();
                let hits = match strategy {
                    Strategy::AverageVector => {
                        if pos.is_empty() {
                            return Err(Error::bad(
                                "At least one positive vector ID required with this strategy (average_vector)",
                            ));
                        }
                        let q = average_query(&pos_given, &neg_given);
                        let q = super::prepare_vector(metric, q, dim)
                            .map_err(|e| Error::bad(format!("recommend query vector: {e}")))?;
                        self.nearest(&space, &points, &q, k, s, &exclude, deadline)?
                            .into_iter()
                            .map(|p| ScoredPoint { score: reported(metric, p.score), ..p })
                            .collect()
                    }
                    Strategy::BestScore | Strategy::SumScores => {
                        if pos.is_empty() && neg.is_empty() {
                            return Err(Error::bad(
                                "At least one positive or negative vector ID required with this strategy",
                            ));
                        }
                        self.rescore_examples(
                            &space, &points, metric, &pos, &neg, *strategy, k, s, &exclude, deadline,
                        )?
                    }
                };
                (hits, exclude)
            }
        };
        let threshold_ok = |score: f32| match (s.score_threshold, metric, &s.query) {
            (None, _, _) => true,
            (Some(t), Metric::L2, Query::Nearest(_))
            | (Some(t), Metric::L2, Query::Recommend { strategy: Strategy::AverageVector, .. }) => score < t,
            // Strictly better than the threshold, as in Qdrant.
            (Some(t), _, _) => score > t,
        };
        let page: Vec<ScoredPoint> = scored
            .into_iter()
            .filter(|p| !exclude.contains(&p.id) && threshold_ok(p.score))
            .skip(s.offset)
            .take(s.limit)
            .collect();
        Ok(self.hits_of(&points, page, s))
    }

    /// [`Query::IdOrder`]: the allowed points from the first id on, `offset` of them skipped.
    fn in_id_order(&self, s: &Search, deadline: Deadline) -> Result<Vec<Hit>> {
        if s.score_threshold.is_some_and(|t| t > 1.0) {
            return Ok(Vec::new());
        }
        let wanted = s.offset.saturating_add(s.limit);
        let (records, _) =
            self.scroll(None, wanted, s.filter.as_ref(), &s.with_payload, &s.with_vector, deadline)?;
        let hit = |r: Record| Hit {
            id: r.id,
            version: 0,
            score: 1.0,
            payload: r.payload,
            vector: r.vector,
            order_value: None,
        };
        Ok(records.into_iter().skip(s.offset).map(hit).collect())
    }

    /// Whether a search admits point `id` as a hit: not excluded, before the deadline, and
    /// matching the search's filter.
    pub(super) fn admits(
        &self,
        points: &Points,
        s: &Search,
        exclude: &HashSet<u64>,
        deadline: Deadline,
        id: u64,
    ) -> bool {
        !exclude.contains(&id)
            && !deadline.expired()
            && points.meta.get(&id).is_some_and(|m| {
                s.filter.as_ref().is_none_or(|f| f.matches(&m.payload, Some(m.ext), &self.has_vector(id)))
            })
    }

    /// The engine's top `k` for a prepared query, with the filter and exclusions applied inside.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn nearest(
        &self,
        space: &Space<'_>,
        points: &Points,
        query: &Prepared,
        k: usize,
        s: &Search,
        exclude: &HashSet<u64>,
        deadline: Deadline,
    ) -> Result<Vec<ScoredPoint>> {
        let index = space.index;
        let admit = |id: u64| self.admits(points, s, exclude, deadline, id);
        let Some(filter) = &s.filter else {
            if exclude.is_empty() {
                return search_one(index, query, k, &s.params, None);
            }
            let test = |id: u64| !exclude.contains(&id);
            return search_one(index, query, k, &s.params, Some(&vicinity_index::Filter::predicate(&test)));
        };
        let candidates = points.candidates(filter);
        match candidates {
            Some(c) if vicinity_index::plan::prefers_scan(c.len(), points.meta.len(), space.threshold) => {
                let allowed: HashSet<u64> = c.into_iter().filter(|id| admit(*id)).collect();
                search_one(index, query, k, &s.params, Some(&vicinity_index::Filter::Ids(&allowed)))
            }
            other => {
                let estimate = other
                    .map(|c| c.len())
                    .or_else(|| filter.excluded_ids_only().map(|n| points.meta.len().saturating_sub(n)));
                let f = vicinity_index::Filter::Predicate { test: &admit, estimated_matches: estimate };
                search_one(index, query, k, &s.params, Some(&f))
            }
        }
    }

    /// best_score / sum_scores: candidates are every allowed point for small collections or
    /// `exact`, otherwise the neighbours of each positive example; each is scored exactly
    /// against all examples (Qdrant's formulas).
    #[allow(clippy::too_many_arguments)]
    fn rescore_examples(
        &self,
        space: &Space<'_>,
        points: &Points,
        metric: Metric,
        pos: &[Prepared],
        neg: &[Prepared],
        strategy: Strategy,
        k: usize,
        s: &Search,
        exclude: &HashSet<u64>,
        deadline: Deadline,
    ) -> Result<Vec<ScoredPoint>> {
        let index = space.index;
        let small = points.meta.len() <= space.threshold;
        let candidates: Vec<u64> = if s.params.exact || small || pos.is_empty() {
            points.meta.keys().copied().filter(|id| self.admits(points, s, exclude, deadline, *id)).collect()
        } else {
            let wide = (k * 4).max(s.params.ef.unwrap_or(0)).max(64);
            let mut set = HashSet::new();
            for p in pos {
                set.extend(
                    self.nearest(space, points, p, wide, s, exclude, deadline)?.into_iter().map(|h| h.id),
                );
            }
            set.into_iter().collect()
        };
        let score = |v: &[f32]| -> f32 {
            let sims = |ex: &[Prepared]| ex.iter().map(|e| metric.score(e.vector(), v)).collect::<Vec<f32>>();
            match strategy {
                Strategy::SumScores => sims(pos).iter().sum::<f32>() - sims(neg).iter().sum::<f32>(),
                Strategy::BestScore | Strategy::AverageVector => {
                    let best_pos = sims(pos).into_iter().fold(f32::NEG_INFINITY, f32::max);
                    let best_neg = sims(neg).into_iter().fold(f32::NEG_INFINITY, f32::max);
                    if best_pos > best_neg {
                        scaled_sigmoid(best_pos)
                    } else {
                        -scaled_sigmoid(best_neg)
                    }
                }
            }
        };
        // The candidates' vectors in one read of the index.
        let vectors = index.vectors(&candidates);
        let mut scored: Vec<ScoredPoint> = candidates
            .into_iter()
            .zip(vectors)
            .filter_map(|(id, v)| v.map(|v| ScoredPoint { id, score: score(&v) }))
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        scored.truncate(k);
        Ok(scored)
    }
}

/// The vector a search runs on: its index, and the engine's full-scan threshold in points.
pub(super) struct Space<'a> {
    pub(super) index: &'a AnyIndex,
    pub(super) threshold: usize,
}

/// The engine's answer to one prepared query.
fn search_one(
    index: &dyn VectorIndex,
    query: &Prepared,
    k: usize,
    params: &SearchParams,
    filter: Option<&vicinity_index::Filter>,
) -> Result<Vec<ScoredPoint>> {
    Ok(index.search_prepared(std::slice::from_ref(query), k, params, filter)?.pop().unwrap_or_default())
}

/// Qdrant's average_vector: `avg(pos) + (avg(pos) - avg(neg))`, or `avg(pos)` without negatives.
fn average_query(pos: &[Vec<f32>], neg: &[Vec<f32>]) -> Vec<f32> {
    let avg = |vs: &[Vec<f32>]| {
        let mut out = vec![0.0f32; vs[0].len()];
        for v in vs {
            out.iter_mut().zip(v).for_each(|(o, x)| *o += x);
        }
        out.iter_mut().for_each(|o| *o /= vs.len() as f32);
        out
    };
    let p = avg(pos);
    if neg.is_empty() {
        return p;
    }
    let n = avg(neg);
    p.iter().zip(&n).map(|(p, n)| p + (p - n)).collect()
}
