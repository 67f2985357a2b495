//! The query kinds beyond nearest / recommend — `{"nearest": …, "mmr": {…}}`, `discover` and
//! `context` in `points/query` — and the legacy `points/discover` (+ batch), which answers bare
//! lists like the legacy search.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;

use super::extract::{typed, Body, JsonBytes, Params, Path, ReadParams, Rules};
use super::models::{SearchParamsBody, WithPayload, WithVector};
use super::openapi::{unsupported, Busy, CollectionName, ContextPairInput, ErrorResponse, ExampleInput};
use super::query::{example, legacy, Input, Shared, Wanted};
use super::{ApiError, ApiResult, AppState};
use crate::collection::Filter;
use crate::config::Config;

/// `{"nearest": …, "mmr": {"diversity", "candidates_limit"}}`; broken ranges are Qdrant's 422s.
pub(super) fn mmr(nearest: &Value, mmr: &Value, prefix: &str) -> Result<Wanted, ApiError> {
    #[derive(Deserialize)]
    struct Mmr {
        diversity: Option<f32>,
        candidates_limit: Option<usize>,
    }
    let input = example(nearest, "query.nearest")?;
    if mmr.is_null() {
        return Ok(Wanted::Nearest(input));
    }
    let m = Mmr::deserialize(mmr).map_err(|e| ApiError::bad(format!("query.mmr: {e}")))?;
    let mut rules = Rules::default();
    if let Some(d) = m.diversity.filter(|d| !(0.0..=1.0).contains(d)) {
        rules.broken(
            format!("{prefix}query.mmr.diversity"),
            format!("value {d} invalid, must be from 0.0 to 1.0"),
        );
    }
    if let Some(c) = m.candidates_limit {
        rules.max(format!("{prefix}query.mmr.candidates_limit"), c, crate::collection::MMR_MAX_CANDIDATES);
    }
    rules.check()?;
    Ok(Wanted::Mmr { input, diversity: m.diversity.unwrap_or(0.5), candidates: m.candidates_limit })
}

/// A context pair, `{"positive": …, "negative": …}` (both required).
fn pair(v: &Value, at: &str) -> Result<(Input, Input), ApiError> {
    let Value::Object(o) = v else {
        return Err(ApiError::bad(format!("{at}: expected {{\"positive\": …, \"negative\": …}}")));
    };
    let side = |key: &str| match o.get(key) {
        None => Err(ApiError::bad(format!("{at}: missing field `{key}`"))),
        Some(v) => example(v, &format!("{at}.{key}")),
    };
    Ok((side("positive")?, side("negative")?))
}

/// Most context pairs one query may hold: every candidate is scored against each.
const MAX_PAIRS: usize = 128;

fn check_pairs(n: usize, at: &str) -> Result<(), ApiError> {
    if n > MAX_PAIRS {
        return Err(ApiError::bad(format!("{at}: at most {MAX_PAIRS} context pairs, got {n}")));
    }
    Ok(())
}

/// One pair or a list of them (`null` or absent: none).
fn pairs(v: Option<&Value>, at: &str) -> Result<Vec<(Input, Input)>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            check_pairs(items.len(), at)?;
            items.iter().enumerate().map(|(i, p)| pair(p, &format!("{at}[{i}]"))).collect()
        }
        Some(one) => Ok(vec![pair(one, at)?]),
    }
}

/// `{"discover": {"target": …, "context": pair | [pair]}}`'s inner object.
pub(super) fn discover(v: &Value) -> Result<Wanted, ApiError> {
    let Value::Object(o) = v else {
        return Err(ApiError::bad("query.discover: expected {target, context}"));
    };
    let target = match o.get("target") {
        None | Some(Value::Null) => return Err(ApiError::bad("query.discover: missing field `target`")),
        Some(t) => example(t, "query.discover.target")?,
    };
    Ok(Wanted::Discover {
        target: Some(target),
        pairs: pairs(o.get("context"), "query.discover.context")?,
        legacy: false,
    })
}

/// `{"context": pair | [pair]}`'s value.
pub(super) fn context(v: &Value) -> Result<Wanted, ApiError> {
    Ok(Wanted::Discover { target: None, pairs: pairs(Some(v), "query.context")?, legacy: false })
}

/// Legacy `POST /collections/{c}/points/discover`. There is no `score_threshold`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DiscoverRequest {
    /// With a target: discovery (context rank + target similarity); without: context search.
    #[schema(value_type = Option<ExampleInput>)]
    pub target: Option<Value>,
    #[schema(value_type = Option<Vec<ContextPairInput>>)]
    pub context: Option<Vec<Value>>,
    pub filter: Option<Filter>,
    pub params: Option<SearchParamsBody>,
    /// `limit + offset` is at most `search.max_limit`.
    #[schema(minimum = 1)]
    pub limit: usize,
    pub offset: Option<usize>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    /// The vector searched; the unnamed one (`""`) by default.
    pub using: Option<String>,
    #[schema(schema_with = unsupported, required = false)]
    pub lookup_from: Option<Value>,
    /// Parsed (a wrong type is still an error), never read.
    #[allow(dead_code)]
    #[schema(value_type = Option<Value>)]
    pub shard_key: Option<Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DiscoverBatch {
    pub searches: Vec<DiscoverRequest>,
}

fn from_discover_request(
    r: DiscoverRequest,
    config: &Config,
    prefix: &str,
) -> Result<super::query::Parsed, ApiError> {
    if r.lookup_from.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(ApiError::bad("lookup_from is not supported"));
    }
    let context = r.context.unwrap_or_default();
    check_pairs(context.len(), "context")?;
    let pairs = context
        .iter()
        .enumerate()
        .map(|(i, p)| pair(p, &format!("context[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let target = match r.target {
        None | Some(Value::Null) => None,
        Some(t) => Some(example(&t, "target")?),
    };
    if target.is_none() && pairs.is_empty() {
        return Err(ApiError::bad("Bad request: target and/or context_pairs must be specified"));
    }
    let shared = Shared {
        using: r.using.unwrap_or_default(),
        filter: r.filter,
        limit: r.limit,
        offset: r.offset,
        score_threshold: None,
        params: r.params,
        with_payload: r.with_payload,
        with_vector: r.with_vector,
    };
    shared.parsed(Wanted::Discover { target, pairs, legacy: true }, config, prefix)
}

#[utoipa::path(
    post, path = "/collections/{name}/points/discover",
    request_body = DiscoverRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "[ScoredPoint]"),
        (status = 400, description = "bad JSON body or path; neither a target nor context pairs; a vector of the wrong size; limit 0, or limit + offset over search.max_limit; bad params", body = ErrorResponse),
        (status = 404, description = "no such collection, or an example point does not exist", body = ErrorResponse),
        Busy,
    )
)]
pub async fn discover_points(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> ApiResult {
    const PREFIX: &str = "discover_request.";
    let search = from_discover_request(typed(&body, PREFIX)?, &st.config, PREFIX)?;
    legacy(&st, &name, vec![search], &read, true).await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/discover/batch",
    request_body = DiscoverBatch,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "[[ScoredPoint]]"),
        (status = 400, description = "bad JSON body or path; neither a target nor context pairs; a vector of the wrong size; limit 0, or limit + offset over search.max_limit; bad params; more than search.max_batch searches or search.max_batch_results results in all", body = ErrorResponse),
        (status = 404, description = "no such collection, or an example point does not exist", body = ErrorResponse),
        Busy,
    )
)]
pub async fn discover_batch(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    Body(body): Body<DiscoverBatch>,
) -> ApiResult {
    let searches = body
        .searches
        .into_iter()
        .enumerate()
        .map(|(i, r)| from_discover_request(r, &st.config, &format!("searches[{i}].discover_request.")))
        .collect::<Result<_, _>>()?;
    legacy(&st, &name, searches, &read, false).await
}
