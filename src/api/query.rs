//! `points/query` (+ batch) and the legacy `points/search` / `points/recommend` adapters, which
//! all become one [`Parsed`] search: what it asks for, with its texts still to embed, and the
//! rest of the request, checked. Once the texts are embedded it is the collection's [`Search`].

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use vicinity_index::SearchParams;

use super::embed::TextInput;
use super::extract::{typed, Body, JsonBytes, Params, Path, ReadParams};
use super::models::{
    Hits, QueryBatch, QueryRequest, QueryValue, RecommendBatch, RecommendRequest, SearchBatch,
    SearchParamsBody, SearchRequest, WithVector,
};
use super::openapi::{Busy, CollectionName, ErrorResponse};
use super::points::check_limit;
use super::prefetch::{check_stage, prefetches, ParsedPrefetch, MAX_PREFETCHES};
use super::ResultCache;
use super::{ok, ok_encoded, ApiError, ApiResult, AppState};
use crate::collection::{Discover, Example, ExtId, Fusion, Mmr, Query, Search, Strategy, VectorSelector};
use crate::config::Config;
use crate::error::Error;
use axum::response::Response;
use std::sync::Arc;

pub(super) fn params(p: Option<SearchParamsBody>, prefix: &str) -> Result<SearchParams, ApiError> {
    let p = p.unwrap_or_default();
    let mut rules = super::extract::Rules::default();
    if let Some(nprobe) = p.nprobe {
        rules.min(format!("{prefix}params.nprobe"), nprobe, 1);
    }
    rules.check()?;
    let q = p.quantization.unwrap_or_default();
    let oversampling = match (q.ignore, q.rescore) {
        // Skipping rescoring is not offered: int8 results are always rescored with f32.
        (Some(true), _) | (_, Some(false)) => None,
        _ => q.oversampling,
    };
    // As in Qdrant, `hnsw_ef` has no lower bound: the beam is never narrower than the limit.
    Ok(SearchParams {
        ef: p.hnsw_ef.map(|ef| ef.max(1)),
        exact: p.exact.unwrap_or(false),
        oversampling,
        nprobe: p.nprobe,
    })
}

/// An example as a request gives it: a text is embedded before the search runs.
pub(super) enum Input {
    Example(Example),
    Text(TextInput),
}

/// What a search asks for, as the request gives it.
pub(super) enum Wanted {
    /// No query: the matching points in id order.
    IdOrder,
    Nearest(Input),
    Recommend {
        positive: Vec<Input>,
        negative: Vec<Input>,
        strategy: Strategy,
    },
    OrderBy(crate::collection::OrderBy),
    Mmr {
        input: Input,
        diversity: f32,
        candidates: Option<usize>,
    },
    /// Discovery with a target, context search without.
    Discover {
        target: Option<Input>,
        pairs: Vec<(Input, Input)>,
        legacy: bool,
    },
    /// The most popular points (users' interactions).
    Popular,
    /// The prefetches' lists fused.
    Fusion(Fusion),
    /// The prefetches' points scored by a formula.
    Formula(crate::collection::formula::Formula),
}

impl Wanted {
    pub(super) fn inputs(&self) -> Vec<&Input> {
        match self {
            Wanted::IdOrder
            | Wanted::OrderBy(_)
            | Wanted::Popular
            | Wanted::Fusion(_)
            | Wanted::Formula(_) => Vec::new(),
            Wanted::Nearest(e) => vec![e],
            Wanted::Recommend { positive, negative, .. } => positive.iter().chain(negative).collect(),
            Wanted::Mmr { input, .. } => vec![input],
            Wanted::Discover { target, pairs, .. } => {
                target.iter().chain(pairs.iter().flat_map(|(p, n)| [p, n])).collect()
            }
        }
    }

    /// The collection's query, each text example replaced by the next of `embedded`.
    pub(super) fn resolve(self, embedded: &mut impl Iterator<Item = Example>) -> Result<Query, ApiError> {
        let mut example = |input: Input| match input {
            Input::Example(e) => Ok(e),
            Input::Text(_) => embedded
                .next()
                .ok_or_else(|| ApiError::from(Error::Internal("embedding count mismatch".into()))),
        };
        Ok(match self {
            Wanted::IdOrder => Query::IdOrder,
            Wanted::Popular => Query::Popular,
            Wanted::Fusion(f) => Query::Fusion(f),
            Wanted::Formula(f) => Query::Formula(f),
            Wanted::OrderBy(order) => Query::OrderBy(order),
            Wanted::Nearest(e) => Query::Nearest(example(e)?),
            Wanted::Recommend { positive, negative, strategy } => Query::Recommend {
                positive: positive.into_iter().map(&mut example).collect::<Result<_, _>>()?,
                negative: negative.into_iter().map(&mut example).collect::<Result<_, _>>()?,
                strategy,
            },
            Wanted::Mmr { input, diversity, candidates } => {
                Query::Mmr(Mmr { example: example(input)?, diversity, candidates })
            }
            Wanted::Discover { target, pairs, legacy } => {
                let target = target.map(&mut example).transpose()?;
                let mut both = |(p, n): (Input, Input)| -> Result<(Example, Example), ApiError> {
                    Ok((example(p)?, example(n)?))
                };
                let pairs = pairs.into_iter().map(&mut both).collect::<Result<_, _>>()?;
                Query::Discover(Discover { target, pairs, legacy })
            }
        })
    }
}

pub(super) fn example(v: &Value, at: &str) -> Result<Input, ApiError> {
    if let Some(doc) = super::embed::document(v, at)? {
        return text_input(doc);
    }
    match v {
        // Deserialised from the borrowed value: a 384-d vector is not copied as JSON first.
        Value::Array(_) => Vec::<f32>::deserialize(v)
            .map(|v| Input::Example(Example::Vector(v)))
            .map_err(|_| ApiError::bad(format!("{at}: a vector must be a list of numbers"))),
        Value::Number(_) | Value::String(_) => ExtId::deserialize(v)
            .map(|id| Input::Example(Example::Id(id)))
            .map_err(|e| ApiError::bad(format!("{at}: {e}"))),
        Value::Object(o) if o.contains_key("indices") || o.contains_key("values") => {
            super::points::sparse(v, at, at).map(|v| Input::Example(Example::Sparse(v)))
        }
        Value::Null | Value::Bool(_) | Value::Object(_) => Err(ApiError::bad(format!(
            "{at}: expected a vector (list of numbers), a sparse vector ({{\"indices\", \"values\"}}), a point id or {{\"text\": …}}"
        ))),
    }
}

/// A text example: a BM25 document becomes its sparse query at once; others are embedded
/// once the collection is known.
fn text_input(doc: TextInput) -> Result<Input, ApiError> {
    match doc.is_bm25() {
        true => Ok(Input::Example(Example::Sparse(super::embed::bm25_query(&doc)?))),
        false => Ok(Input::Text(doc)),
    }
}

fn examples(v: Option<&Value>, at: &str) -> Result<Vec<Input>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            items.iter().enumerate().map(|(i, e)| example(e, &format!("{at}[{i}]"))).collect()
        }
        Some(_) => Err(ApiError::bad(format!("{at}: expected a list of vectors or point ids"))),
    }
}

fn strategy(v: Option<&Value>) -> Result<Strategy, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Strategy::default()),
        Some(v) => Strategy::deserialize(v).map_err(|_| {
            ApiError::bad(format!(
                "recommend.strategy: expected average_vector, best_score or sum_scores, got {v}"
            ))
        }),
    }
}

pub(super) fn parse_query(v: &Value, prefix: &str) -> Result<Wanted, ApiError> {
    if let Some(doc) = super::embed::document(v, "query")? {
        return Ok(Wanted::Nearest(text_input(doc)?));
    }
    match v {
        Value::Object(o) if o.contains_key("indices") || o.contains_key("values") => {
            Ok(Wanted::Nearest(example(v, "query")?))
        }
        Value::Object(o) if o.contains_key("formula") => {
            Ok(Wanted::Formula(super::formula::parse(o, &format!("{prefix}query"))?))
        }
        Value::Object(o) => {
            if let (2, Some(nearest), Some(mmr)) = (o.len(), o.get("nearest"), o.get("mmr")) {
                return super::discover::mmr(nearest, mmr, prefix);
            }
            let (kind, inner) = match (o.len(), o.iter().next()) {
                (1, Some(entry)) => entry,
                _ => {
                    return Err(ApiError::bad(
                        "query: expected one of nearest, recommend, discover, context, order_by, fusion, rrf, formula, popular",
                    ))
                }
            };
            match kind.as_str() {
                "nearest" => Ok(Wanted::Nearest(example(inner, "query.nearest")?)),
                "order_by" => Ok(Wanted::OrderBy(super::order_by::parse(inner, "query.order_by")?)),
                "discover" => super::discover::discover(inner),
                "popular" => match inner.as_object() {
                    Some(o) if o.is_empty() => Ok(Wanted::Popular),
                    Some(_) | None => Err(ApiError::bad(format!("query.popular: expected {{}}, got {inner}"))),
                },
                "context" => super::discover::context(inner),
                "fusion" | "rrf" => super::prefetch::fusion(kind, inner, prefix),
                "recommend" => {
                    let Value::Object(r) = inner else {
                        return Err(ApiError::bad(
                            "query.recommend: expected {positive, negative, strategy}",
                        ));
                    };
                    if let Some(unknown) =
                        r.keys().find(|k| !matches!(k.as_str(), "positive" | "negative" | "strategy"))
                    {
                        return Err(ApiError::bad(format!("query.recommend: unknown field `{unknown}`")));
                    }
                    let positive = examples(r.get("positive"), "query.recommend.positive")?;
                    let negative = examples(r.get("negative"), "query.recommend.negative")?;
                    if positive.is_empty() && negative.is_empty() {
                        let mut rules = super::extract::Rules::default();
                        rules.broken(
                            format!("{prefix}query.recommend.positives, negatives"),
                            "Validation error: At least one positive or negative vector/id must be provided [{}]",
                        );
                        rules.check()?;
                    }
                    Ok(Wanted::Recommend { positive, negative, strategy: strategy(r.get("strategy"))? })
                }
                other => Err(ApiError::bad(format!(
                    "query: `{other}` queries are not supported (use nearest, recommend, discover, context, order_by, fusion, rrf, formula or popular)"
                ))),
            }
        }
        Value::Array(items) if items.first().is_some_and(Value::is_array) => {
            Err(ApiError::bad("query: multi-vectors are not supported"))
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            Ok(Wanted::Nearest(example(v, "query")?))
        }
    }
}

/// The fields every query form shares.
pub(super) struct Shared {
    pub using: String,
    pub filter: Option<crate::collection::Filter>,
    pub limit: usize,
    pub offset: Option<usize>,
    pub score_threshold: Option<f32>,
    pub params: Option<SearchParamsBody>,
    pub with_payload: Option<super::models::WithPayload>,
    pub with_vector: Option<WithVector>,
}

impl Shared {
    /// Checks the request's limits and parameters; Qdrant names its fields from `prefix`.
    pub(super) fn parsed(self, wanted: Wanted, config: &Config, prefix: &str) -> Result<Parsed, ApiError> {
        let offset = self.offset.unwrap_or(0);
        check_limit(self.limit, offset, config.search.max_limit, prefix)?;
        Ok(Parsed {
            using: self.using,
            wanted,
            filter: self.filter,
            limit: self.limit,
            offset,
            score_threshold: self.score_threshold,
            params: params(self.params, prefix)?,
            with_payload: super::models::WithPayload::or(self.with_payload, false),
            with_vector: WithVector::selector(&self.with_vector),
            prefetch: Vec::new(),
        })
    }
}

/// A search as parsed and checked, its texts not yet embedded.
pub(super) struct Parsed {
    using: String,
    pub wanted: Wanted,
    filter: Option<crate::collection::Filter>,
    limit: usize,
    offset: usize,
    score_threshold: Option<f32>,
    params: SearchParams,
    with_payload: crate::collection::PayloadSelector,
    with_vector: VectorSelector,
    prefetch: Vec<ParsedPrefetch>,
}

impl Parsed {
    /// Every example of the search and its prefetches with the vector it queries, in the order
    /// [`Parsed::search`] takes their embeddings.
    pub(super) fn inputs(&self) -> Vec<(&str, &Input)> {
        let mut out: Vec<(&str, &Input)> =
            self.wanted.inputs().into_iter().map(|i| (self.using.as_str(), i)).collect();
        self.prefetch.iter().for_each(|p| p.inputs(&mut out));
        out
    }

    /// The collection's search, each text example replaced by the next of `embedded`.
    pub(super) fn search(self, embedded: &mut impl Iterator<Item = Example>) -> Result<Search, ApiError> {
        let query = self.wanted.resolve(embedded)?;
        Ok(Search {
            prefetch: self.prefetch.into_iter().map(|p| p.resolve(embedded)).collect::<Result<_, _>>()?,
            using: self.using,
            query,
            filter: self.filter,
            limit: self.limit,
            offset: self.offset,
            score_threshold: self.score_threshold,
            params: self.params,
            with_payload: self.with_payload,
            with_vector: self.with_vector,
        })
    }
}

pub(super) fn from_query_request(r: QueryRequest, config: &Config, prefix: &str) -> Result<Parsed, ApiError> {
    if r.lookup_from.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(ApiError::bad("lookup_from is not supported"));
    }
    let prefetch = prefetches(r.prefetch, "prefetch", config, 1, prefix)?;
    if prefetch.iter().map(ParsedPrefetch::count).sum::<usize>() > MAX_PREFETCHES {
        return Err(ApiError::bad(format!(
            "prefetch: a query may hold at most {MAX_PREFETCHES} prefetches in all"
        )));
    }
    let query = match r.query {
        Some(QueryValue::Vector(v)) => Some(Wanted::Nearest(Input::Example(Example::Vector(v)))),
        Some(QueryValue::Other(v)) => Some(parse_query(&v, prefix)?),
        None => None,
    };
    let using = r.using.clone().unwrap_or_default();
    check_stage(query.as_ref(), prefetch.len(), r.score_threshold.is_some(), &using)?;
    let query = query.unwrap_or(Wanted::IdOrder);
    if matches!(query, Wanted::OrderBy(_)) && r.score_threshold.is_some() {
        return Err(ApiError::bad("Bad request: Can't use score_threshold with an order_by query."));
    }
    let shared = Shared {
        using: r.using.unwrap_or_default(),
        filter: r.filter,
        limit: r.limit.unwrap_or(10),
        offset: r.offset,
        score_threshold: r.score_threshold,
        params: r.params,
        with_payload: r.with_payload,
        with_vector: r.with_vector,
    };
    let mut parsed = shared.parsed(query, config, prefix)?;
    parsed.prefetch = prefetch;
    Ok(parsed)
}

pub(super) fn from_search_request(
    r: SearchRequest,
    config: &Config,
    prefix: &str,
) -> Result<Parsed, ApiError> {
    // A plain list (the unnamed vector), or Qdrant's named form `{"name": …, "vector": [...]}`.
    let (using, example) = match r.vector {
        QueryValue::Vector(v) => (String::new(), Example::Vector(v)),
        QueryValue::Other(Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "name" | "vector")) {
                return Err(ApiError::bad(format!("vector: unknown field `{k}` (expected name, vector)")));
            }
            let name = match o.get("name") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(n)) => n.clone(),
                Some(other) => {
                    return Err(ApiError::bad(format!("vector.name: expected a string, got {other}")))
                }
            };
            let example = match o.get("vector") {
                Some(v @ Value::Object(_)) => Example::Sparse(super::points::sparse(
                    v,
                    "vector.vector",
                    "search_request.vector.vector",
                )?),
                v => Example::Vector(
                    Vec::<f32>::deserialize(v.unwrap_or(&Value::Null))
                        .map_err(|_| ApiError::bad("vector.vector: expected a list of numbers"))?,
                ),
            };
            (name, example)
        }
        QueryValue::Other(_) => return Err(ApiError::bad("vector: expected a list of numbers")),
    };
    let shared = Shared {
        using,
        filter: r.filter,
        limit: r.limit,
        offset: r.offset,
        score_threshold: r.score_threshold,
        params: r.params,
        with_payload: r.with_payload,
        with_vector: r.with_vector,
    };
    shared.parsed(Wanted::Nearest(Input::Example(example)), config, prefix)
}

pub(super) fn from_recommend_request(
    r: RecommendRequest,
    config: &Config,
    prefix: &str,
) -> Result<Parsed, ApiError> {
    let positive = examples(Some(&Value::Array(r.positive)), "positive")?;
    let negative = examples(Some(&Value::Array(r.negative)), "negative")?;
    let query = Wanted::Recommend { positive, negative, strategy: r.strategy.unwrap_or_default() };
    let shared = Shared {
        using: r.using.unwrap_or_default(),
        filter: r.filter,
        limit: r.limit,
        offset: r.offset,
        score_threshold: r.score_threshold,
        params: r.params,
        with_payload: r.with_payload,
        with_vector: r.with_vector,
    };
    shared.parsed(query, config, prefix)
}

/// Runs searches on the blocking pool (spread over rayon when there are several).
async fn run(
    st: &AppState,
    name: &str,
    searches: Vec<Parsed>,
    read: &ReadParams,
) -> Result<Vec<Vec<crate::collection::Hit>>, ApiError> {
    if searches.len() > st.config.search.max_batch {
        return Err(ApiError::bad(format!(
            "a batch may hold at most {} searches, got {}",
            st.config.search.max_batch,
            searches.len()
        )));
    }
    let results: usize =
        searches.iter().map(|s| s.limit.saturating_add(s.offset)).fold(0, usize::saturating_add);
    if results > st.config.search.max_batch_results {
        return Err(ApiError::bad(format!(
            "a batch may ask for at most {} results in all (the sum of limit + offset), got {results} (search.max_batch_results)",
            st.config.search.max_batch_results
        )));
    }
    let searches = super::embed::resolve_search_texts(st, name, searches).await?;
    let c = st.catalog.get(name)?;
    st.admission
        .run(read.within(st.admission.timeout()), move |deadline| {
            if searches.len() == 1 {
                return Ok(vec![c.search(&searches[0], deadline)?]);
            }
            searches.par_iter().map(|s| c.search(s, deadline)).collect()
        })
        .await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/query",
    request_body = QueryRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "{points: [ScoredPoint]}"),
        (status = 400, description = "bad JSON body or path; a vector of the wrong size; limit 0, or limit + offset over search.max_limit; bad params; text without an embedding model; an unsupported query (prefetch, lookup_from, named vectors)", body = ErrorResponse),
        (status = 404, description = "no such collection, or an example point does not exist", body = ErrorResponse),
        Busy,
    )
)]
pub async fn query(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    cached(&st, &name, body, |st, name, req: QueryRequest| async move {
        let search = from_query_request(req, &st.config, QueryRequest::PREFIX)?;
        let mut hits = run(&st, &name, vec![search], &read).await?;
        encode(&Points { points: Hits(&hits.pop().unwrap_or_default()) })
    })
    .await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/query/batch",
    request_body = QueryBatch,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "[{points: [ScoredPoint]}]"),
        (status = 400, description = "bad JSON body or path; a vector of the wrong size; limit 0, or limit + offset over search.max_limit; bad params; text without an embedding model; more than search.max_batch searches or search.max_batch_results results in all", body = ErrorResponse),
        (status = 404, description = "no such collection, or an example point does not exist", body = ErrorResponse),
        Busy,
    )
)]
pub async fn query_batch(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    cached(&st, &name, body, |st, name, req: QueryBatch| async move {
        let searches = req
            .searches
            .into_iter()
            .enumerate()
            .map(|(i, r)| from_query_request(r, &st.config, &format!("searches[{i}].internal.")))
            .collect::<Result<_, _>>()?;
        let hits = run(&st, &name, searches, &read).await?;
        encode(&hits.iter().map(|h| Points { points: Hits(h) }).collect::<Vec<_>>())
    })
    .await
}

/// One query's answer, `{"points": [hit]}`, serialised straight to text (no JSON tree).
#[derive(serde::Serialize)]
struct Points<'a> {
    points: Hits<'a>,
}

pub(super) fn encode(answer: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(answer).map_err(|e| Error::Internal(format!("encoding the answer: {e}")).into())
}

/// A request that can switch the result cache off (`"cache": false`).
pub(super) trait CacheSwitch {
    /// Where Qdrant's validation errors name this request's fields from (`internal.limit`).
    const PREFIX: &'static str;
    /// The route's name in the cache key: the same body sent to two routes is two answers.
    const ROUTE: &'static str;
    /// A field in the body that may make [`CacheSwitch::bypass`] true.
    const BYPASS_FIELD: &'static str = "\"cache\"";
    /// Whether answers read users' state (profiles, popularity): the key then follows its
    /// version too. A body that mentions `popular` does as well.
    const USERS: bool = false;
    fn cache(&self) -> Option<bool>;
    /// Whether the answer depends on more than the collection (it is then not cached).
    fn bypass(&self) -> bool {
        false
    }
}

impl CacheSwitch for QueryRequest {
    const PREFIX: &'static str = "internal.";
    const ROUTE: &'static str = "query";
    fn cache(&self) -> Option<bool> {
        self.cache
    }
}

impl CacheSwitch for QueryBatch {
    const PREFIX: &'static str = "";
    const ROUTE: &'static str = "query/batch";
    fn cache(&self) -> Option<bool> {
        self.cache
    }
}

/// Answers from the result cache when the collection has not changed since the same request
/// was answered; otherwise runs `answer` on the request and keeps its result, serialised.
/// `"cache": false` in the body bypasses the cache both ways. Only successful answers are kept,
/// so a hit is always for a request that parsed.
///
/// The body is parsed at most once, into `R`. A repeated body (the same bytes: the common case)
/// is answered before it is parsed at all; any other is looked up by the canonical text of the
/// parsed request, so field order, number spelling and whitespace do not matter.
pub(super) async fn cached<R, F, Fut>(
    st: &AppState,
    name: &str,
    body: Bytes,
    answer: F,
) -> Result<Response, ApiError>
where
    R: serde::de::DeserializeOwned + serde::Serialize + CacheSwitch,
    F: FnOnce(AppState, String, R) -> Fut,
    Fut: std::future::Future<Output = Result<String, ApiError>>,
{
    cached_in(st, name, "", body, answer).await
}

/// [`cached`] for a request whose path names more than the collection (`scope`: a user).
pub(super) async fn cached_in<R, F, Fut>(
    st: &AppState,
    name: &str,
    scope: &str,
    body: Bytes,
    answer: F,
) -> Result<Response, ApiError>
where
    R: serde::de::DeserializeOwned + serde::Serialize + CacheSwitch,
    F: FnOnce(AppState, String, R) -> Fut,
    Fut: std::future::Future<Output = Result<String, ApiError>>,
{
    let started = Instant::now();
    let Some(cache) = st.results.as_deref() else {
        let result = answer(st.clone(), name.to_string(), typed(&body, R::PREFIX)?).await?;
        return Ok(ok_encoded(&result, started));
    };
    // A body that may switch the cache off is parsed first: one that does is answered without
    // any of the cache's work.
    let mut parsed: Option<R> = None;
    let mentions = |field: &str| body.windows(field.len()).any(|w| w == field.as_bytes());
    if mentions("\"cache\"") || mentions(R::BYPASS_FIELD) {
        let req: R = typed(&body, R::PREFIX)?;
        if req.cache() == Some(false) || req.bypass() {
            let result = answer(st.clone(), name.to_string(), req).await?;
            return Ok(ok_encoded(&result, started));
        }
        parsed = Some(req);
    }
    let c = match st.catalog.get(name) {
        Ok(c) => c,
        // A bad body is named first, as without the cache.
        Err(e) => {
            if parsed.is_none() {
                typed::<R>(&body, R::PREFIX)?;
            }
            return Err(e.into());
        }
    };
    // The version is read before the search: a write racing with it makes this entry
    // unreachable rather than stale. The collection id too: a dropped and re-created name
    // starts again at version 0.
    // An escaped key (`"p\u006fpular"`) is not seen by the byte search: any escape counts.
    let users = if R::USERS || mentions("\"popular\"") || mentions("\\u") { c.users_version() } else { 0 };
    // Both counts only grow, so their sum never repeats.
    let version = c.version() + users;
    let collection = format!("{name}#{}/{}/{scope}", c.id(), R::ROUTE);
    let exact =
        std::str::from_utf8(&body).ok().map(|text| ResultCache::exact_key(&collection, version, text));
    if let Some(hit) = exact.as_ref().and_then(|k| cache.get_exact(k)) {
        return Ok(ok_encoded(&hit, started));
    }
    let req: R = match parsed {
        Some(req) => req,
        None => typed(&body, R::PREFIX)?,
    };
    let canonical = serde_json::to_string(&req)
        .map_err(|e| ApiError::from(Error::Internal(format!("writing the cache key: {e}"))))?;
    let key = ResultCache::key(&collection, version, canonical);
    if let Some(hit) = cache.get(&key) {
        if let Some(exact) = exact {
            cache.insert(exact, hit.clone());
        }
        return Ok(ok_encoded(&hit, started));
    }
    // Answered by the collection the key was made for, even if an alias moved meanwhile.
    let result: Arc<str> = answer(st.clone(), c.name.clone(), req).await?.into();
    cache.insert(key, result.clone());
    if let Some(exact) = exact {
        cache.insert(exact, result.clone());
    }
    Ok(ok_encoded(&result, started))
}

/// The legacy routes answer bare lists: `[hit]` for one search, `[[hit]]` for a batch.
pub(super) async fn legacy(
    st: &AppState,
    name: &str,
    searches: Vec<Parsed>,
    read: &ReadParams,
    single: bool,
) -> ApiResult {
    let started = Instant::now();
    let mut hits = run(st, name, searches, read).await?;
    if single {
        return Ok(ok(Hits(&hits.pop().unwrap_or_default()), started));
    }
    Ok(ok(hits.iter().map(|h| Hits(h)).collect::<Vec<_>>(), started))
}

#[utoipa::path(
    post, path = "/collections/{name}/points/search",
    request_body = SearchRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "[ScoredPoint]"),
        (status = 400, description = "bad JSON body or path; a vector of the wrong size; limit 0, or limit + offset over search.max_limit; bad params; text without an embedding model", body = ErrorResponse),
        (status = 404, description = "no such collection, or an example point does not exist", body = ErrorResponse),
        Busy,
    )
)]
pub async fn search(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> ApiResult {
    const PREFIX: &str = "search_request.";
    let search = from_search_request(typed(&body, PREFIX)?, &st.config, PREFIX)?;
    legacy(&st, &name, vec![search], &read, true).await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/search/batch",
    request_body = SearchBatch,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "[[ScoredPoint]]"),
        (status = 400, description = "bad JSON body or path; a vector of the wrong size; limit 0, or limit + offset over search.max_limit; bad params; text without an embedding model; more than search.max_batch searches or search.max_batch_results results in all", body = ErrorResponse),
        (status = 404, description = "no such collection, or an example point does not exist", body = ErrorResponse),
        Busy,
    )
)]
pub async fn search_batch(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    Body(body): Body<SearchBatch>,
) -> ApiResult {
    let searches = body
        .searches
        .into_iter()
        .enumerate()
        .map(|(i, r)| from_search_request(r, &st.config, &format!("searches[{i}].search_request.")))
        .collect::<Result<_, _>>()?;
    legacy(&st, &name, searches, &read, false).await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/recommend",
    request_body = RecommendRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "[ScoredPoint]"),
        (status = 400, description = "bad JSON body or path; a vector of the wrong size; limit 0, or limit + offset over search.max_limit; bad params; text without an embedding model; no examples", body = ErrorResponse),
        (status = 404, description = "no such collection, or an example point does not exist", body = ErrorResponse),
        Busy,
    )
)]
pub async fn recommend(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> ApiResult {
    const PREFIX: &str = "recommend_request.";
    let search = from_recommend_request(typed(&body, PREFIX)?, &st.config, PREFIX)?;
    legacy(&st, &name, vec![search], &read, true).await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/recommend/batch",
    request_body = RecommendBatch,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "[[ScoredPoint]]"),
        (status = 400, description = "bad JSON body or path; a vector of the wrong size; limit 0, or limit + offset over search.max_limit; bad params; text without an embedding model; more than search.max_batch searches or search.max_batch_results results in all; no examples", body = ErrorResponse),
        (status = 404, description = "no such collection, or an example point does not exist", body = ErrorResponse),
        Busy,
    )
)]
pub async fn recommend_batch(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    Body(body): Body<RecommendBatch>,
) -> ApiResult {
    let searches = body
        .searches
        .into_iter()
        .enumerate()
        .map(|(i, r)| from_recommend_request(r, &st.config, &format!("searches[{i}].recommend_request.")))
        .collect::<Result<_, _>>()?;
    legacy(&st, &name, searches, &read, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The result cache's canonical text of a body.
    fn key(body: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<QueryRequest>(body).unwrap()).unwrap()
    }

    #[test]
    fn the_cache_key_ignores_spelling_but_not_meaning() {
        let a = key(r#"{"query": [1, 0.5], "limit": 3, "cache": true, "with_payload": {"include": ["a"]},
                "filter": {"must": [{"key": "n", "range": {"gte": 1}}, {"has_id": [2, 1]}]}}"#);
        let b = key(r#"{"with_payload": {"include": ["a"]}, "limit": 3, "query": [1.0, 5e-1],
                "filter": {"must": [{"range": {"gte": 1.0}, "key": "n"}, {"has_id": [1, 2]}]}}"#);
        assert_eq!(a, b);
        for other in [
            r#"{"query": [1, 0.5], "limit": 4, "with_payload": {"include": ["a"]}, "filter": {"must": [{"key": "n", "range": {"gte": 1}}, {"has_id": [2, 1]}]}}"#,
            r#"{"query": [1, 0.6], "limit": 3, "with_payload": {"include": ["a"]}, "filter": {"must": [{"key": "n", "range": {"gte": 1}}, {"has_id": [2, 1]}]}}"#,
            r#"{"query": [1, 0.5], "limit": 3, "with_payload": ["a"], "filter": {"must": [{"key": "n", "range": {"gte": 1}}, {"has_id": [2, 1]}]}}"#,
            r#"{"query": [1, 0.5], "limit": 3, "with_payload": {"include": ["a"]}, "filter": {"must": [{"key": "n", "range": {"gt": 1}}, {"has_id": [2, 1]}]}}"#,
            r#"{"query": [1, 0.5], "limit": 3, "with_payload": {"include": ["a"]}, "filter": {"should": [{"key": "n", "range": {"gte": 1}}, {"has_id": [2, 1]}]}}"#,
        ] {
            assert_ne!(a, key(other), "{other}");
        }
    }
}
