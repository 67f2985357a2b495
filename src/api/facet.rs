//! `POST /collections/{c}/facet`: the most frequent values of an indexed payload key.

use std::time::Instant;

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;

use super::extract::{typed, JsonBytes, Params, Path, ReadParams};
use super::openapi::{CollectionName, ErrorResponse};
use super::points::{check_limit, read_deadline};
use super::{blocking, ok, ApiError, ApiResult, AppState};
use crate::collection::{json_path, FacetHit, Filter};

/// Qdrant's `FacetRequest`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct FacetRequest {
    /// The payload key; it needs a keyword, integer or bool index.
    pub key: String,
    /// Default 10; at most `search.max_limit`.
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
    /// Only points matching it are counted.
    pub filter: Option<Filter>,
    /// Accepted; counts are always exact.
    #[allow(dead_code)]
    pub exact: Option<bool>,
    #[schema(value_type = Option<Value>)]
    #[allow(dead_code)]
    pub shard_key: Option<Value>,
}

/// The answer: `{"hits": [{"value", "count"}]}`, the most frequent value first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FacetResponse {
    #[schema(value_type = Vec<FacetValueHit>)]
    pub hits: Vec<FacetHit>,
}

/// One value (a string, integer or bool) and the number of points holding it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FacetValueHit {
    #[schema(value_type = Value)]
    pub value: Value,
    pub count: usize,
}

const PREFIX: &str = "facet_request.";

#[utoipa::path(
    post, path = "/collections/{name}/facet",
    request_body = FacetRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "{hits: [{value, count}]}", body = FacetResponse),
        (status = 400, description = "bad JSON body or path; a key without a keyword, integer or bool index; limit over search.max_limit", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 503, description = "the count did not finish within search.timeout_ms; retry after Retry-After, or narrow it", body = ErrorResponse, headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn facet(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> ApiResult {
    let started = Instant::now();
    let req: FacetRequest = typed(&body, PREFIX)?;
    let limit = req.limit.unwrap_or(10);
    check_limit(limit, 0, st.config.search.max_limit, PREFIX)?;
    json_path::parse(&req.key).map_err(|e| ApiError::bad(format!("Format error in JSON body: key: {e}")))?;
    let c = st.catalog.get(&name)?;
    let deadline = read_deadline(&st, &read);
    let hits = blocking(move || c.facet(&req.key, limit, req.filter.as_ref(), deadline)).await?;
    Ok(ok(FacetResponse { hits }, started))
}
