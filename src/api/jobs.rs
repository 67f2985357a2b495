//! Jobs (`/jobs…`) and the routes that start them: bulk import and index rebuild.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::collections::{apply_hnsw_diff, quantization};
use super::error::Code;
use super::extract::{body_bytes, media_type, typed, Body, JsonBytes, MetaParams, Params, Path, Rules};
use super::models::{HnswConfigDiff, QuantizationConfig};
use super::openapi::{CollectionName, ErrorResponse, FileImportRequest, ImportLine, JobId};
use super::{blocking, ok, ApiError, ApiResult, AppState};
use crate::collection::{RebuildOptions, SparseVectorConfig};
use crate::jobs::{FileImport, JobKind, OnError, Target};

#[utoipa::path(
    get, path = "/jobs", operation_id = "list_jobs", tag = "admin",
    responses(
        (status = 200, description = "every job, oldest first"),
    )
)]
pub async fn list(State(st): State<AppState>) -> ApiResult {
    let started = Instant::now();
    Ok(ok(st.jobs.list(), started))
}

#[utoipa::path(
    get, path = "/jobs/{id}", tag = "admin",
    params(JobId),
    responses(
        (status = 200, description = "the job: state, done / total, rate_per_s, eta_s, error"),
        (status = 400, description = "bad path: the id is not an unsigned integer; or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such job", body = ErrorResponse),
    )
)]
pub async fn get(State(st): State<AppState>, Path(id): Path<u64>) -> ApiResult {
    let started = Instant::now();
    Ok(ok(st.jobs.get(id)?.view(), started))
}

#[utoipa::path(
    delete, path = "/jobs/{id}", tag = "admin",
    params(JobId),
    responses(
        (status = 200, description = "cancellation requested; the job stops between batches"),
        (status = 400, description = "bad path: the id is not an unsigned integer; or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such job", body = ErrorResponse),
        (status = 409, description = "the job has already finished", body = ErrorResponse),
    )
)]
pub async fn cancel(State(st): State<AppState>, Path(id): Path<u64>) -> ApiResult {
    let started = Instant::now();
    Ok(ok(st.jobs.cancel(id)?, started))
}

/// Query parameters of a streamed import.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// NDJSON imports: `fail` (default: stop at the first bad line) or `skip` (record it and go
    /// on). A JSON import takes `on_error` in its body.
    #[param(value_type = Option<String>, pattern = "^(fail|skip)$")]
    pub on_error: Option<OnError>,
    /// Lines the stream will send, for the progress and ETA.
    pub total: Option<u64>,
}

type Accepted = Result<(StatusCode, Response), ApiError>;

#[utoipa::path(
    post, path = "/collections/{name}/import", tag = "admin",
    params(CollectionName, StreamParams),
    request_body(
        description = "NDJSON (`application/x-ndjson`, also `application/ndjson` and `application/jsonl`): a stream of points, one JSON object per line, imported as they arrive (no size limit; cut off when nothing arrives for service.body_idle_timeout_ms). JSON (`application/json`): a file on the server to import, in storage.import_dir.",
        content(
            (FileImportRequest = "application/json"),
            (ImportLine = "application/x-ndjson"),
        ),
    ),
    responses(
        (status = 202, description = "{\"job_id\": …} (NDJSON: with the finished `job`)"),
        (status = 400, description = "bad path or query parameters, a bad JSON body (path, format, ids_from, on_error), a file outside storage.import_dir, unreadable or of the wrong size", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 408, description = "JSON: the request body did not arrive whole within service.body_timeout_ms", body = ErrorResponse),
        (status = 409, description = "the service is stopping", body = ErrorResponse),
        (status = 413, description = "JSON: the request body is larger than service.max_request_bytes", body = ErrorResponse),
        (status = 415, description = "the Content-Type is neither JSON nor NDJSON", body = ErrorResponse),
    )
)]
pub async fn import(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(params): Params<StreamParams>,
    req: Request,
) -> Accepted {
    start_import(st, name, params, req, Target::Points).await
}

#[utoipa::path(
    post, path = "/collections/{name}/interactions/import", tag = "users",
    params(CollectionName, StreamParams),
    request_body(
        description = "NDJSON (`application/x-ndjson`, also `application/ndjson` and `application/jsonl`): a stream of events, one `{user, item, type, weight?, timestamp?}` per line, recorded as they arrive. JSON (`application/json`): a file on the server, in storage.import_dir: `{\"path\", \"format\": \"jsonl\" | \"csv\", \"on_error\"}`; a csv file starts with a header naming `user`, `item`, `type` and optionally `weight`, `timestamp`.",
        content(
            (FileImportRequest = "application/json"),
            (super::users::EventSchema = "application/x-ndjson"),
        ),
    ),
    responses(
        (status = 202, description = "{\"job_id\": …} (NDJSON: with the finished `job`); GET /jobs/{id} shows the progress and the bad lines (an event naming an item that is not a point, an unknown type, a bad weight, timestamp or user)"),
        (status = 400, description = "bad path or query parameters, a bad JSON body (path, format, on_error), a file outside storage.import_dir or unreadable, a format other than jsonl or csv", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 408, description = "JSON: the request body did not arrive whole within service.body_timeout_ms", body = ErrorResponse),
        (status = 409, description = "the service is stopping", body = ErrorResponse),
        (status = 413, description = "JSON: the request body is larger than service.max_request_bytes", body = ErrorResponse),
        (status = 415, description = "the Content-Type is neither JSON nor NDJSON", body = ErrorResponse),
    )
)]
pub async fn import_interactions(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(params): Params<StreamParams>,
    req: Request,
) -> Accepted {
    start_import(st, name, params, req, Target::Interactions).await
}

/// Starts an import of points or events: a file on the server (a JSON body) or a stream.
async fn start_import(
    st: AppState,
    name: String,
    params: StreamParams,
    req: Request,
    target: Target,
) -> Accepted {
    let started = Instant::now();
    match media_type(req.headers()).as_str() {
        "application/json" => {
            let timeout = std::time::Duration::from_millis(st.config.service.body_timeout_ms);
            let JsonBytes(bytes) = tokio::time::timeout(timeout, JsonBytes::from_request(req, &st))
                .await
                .map_err(|_| ApiError {
                    code: Code::RequestTimeout,
                    message: format!(
                        "the request body did not arrive within {} ms (service.body_timeout_ms)",
                        st.config.service.body_timeout_ms
                    ),
                })??;
            let spec = FileImport { target, ..typed(&bytes, "")? };
            let jobs = st.jobs.clone();
            let job = blocking(move || jobs.import_file(&name, spec)).await?;
            Ok((StatusCode::ACCEPTED, ok(json!({"job_id": job.id()}), started)))
        }
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            let (jobs, on_error) = (st.jobs.clone(), params.on_error.unwrap_or_default());
            let (job, feed, finished) =
                blocking(move || jobs.import_stream(&name, on_error, params.total, target)).await?;
            let mut body = req.into_body();
            let idle = std::time::Duration::from_millis(st.config.service.body_idle_timeout_ms);
            let ended = loop {
                // A client that stops sending (without closing) is cut off, as one that left.
                let Ok(frame) = tokio::time::timeout(idle, body.frame()).await else { break false };
                match frame {
                    Some(Ok(frame)) => {
                        let Ok(data) = frame.into_data() else { continue };
                        if !feed.send(data).await {
                            break false;
                        }
                    }
                    Some(Err(_)) => break false,
                    None => break true,
                }
            };
            // The job reads until the feed ends or is dropped; without `end` it reports the
            // stream cut off. Either must happen before waiting for the job.
            match ended {
                true => feed.end().await,
                false => drop(feed),
            }
            let _ = finished.await;
            Ok((StatusCode::ACCEPTED, ok(json!({"job_id": job.id(), "job": job.view()}), started)))
        }
        other => Err(ApiError {
            code: Code::UnsupportedMediaType,
            message: format!(
                "import takes `Content-Type: application/x-ndjson` (a stream of points) or `application/json` (a file on the server), got {other:?}"
            ),
        }),
    }
}

/// `POST /collections/{c}/index/rebuild`: settings to change, all optional.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebuildRequest {
    pub hnsw_config: Option<HnswConfigDiff>,
    /// `{"scalar": {"type": "int8"}}`, or `"Disabled"` to switch quantization off.
    #[schema(schema_with = super::openapi::rebuild_quantization)]
    pub quantization_config: Option<Value>,
    /// Switch the index kind: `{"type": "hnsw"}` or `{"type": "faiss", "factory": …}`.
    pub index: Option<crate::collection::IndexConfig>,
    /// The vector to rebuild (by name; `""`: the unnamed one). Every vector when absent, and
    /// the settings become the collection-level ones too.
    pub vector: Option<String>,
}

/// The settings a rebuild request changes, checked against the collection's current config.
fn rebuild_options(st: &AppState, name: &str, body: RebuildRequest) -> Result<RebuildOptions, ApiError> {
    let current = st.catalog.get(name)?.config();
    let base = match &body.vector {
        Some(v) => current.vector(v)?.hnsw.clone(),
        None => current.hnsw.clone(),
    };
    let quantization = match body.quantization_config {
        None => None,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("disabled") => Some(None),
        Some(v) => {
            let q: QuantizationConfig =
                serde_json::from_value(v).map_err(|e| ApiError::bad(format!("quantization_config: {e}")))?;
            Some(quantization(Some(&q))?)
        }
    };
    let options = RebuildOptions {
        hnsw: body.hnsw_config.as_ref().map(|d| apply_hnsw_diff(base, d)),
        quantization,
        index: body.index,
        vector: body.vector,
    };
    options.applied_to(current)?;
    Ok(options)
}

#[utoipa::path(
    post, path = "/collections/{name}/index/rebuild", tag = "admin",
    request_body(content = Option<RebuildRequest>, description = "settings to change; an empty body rebuilds with the current ones"),
    params(CollectionName),
    responses(
        (status = 202, description = "{\"job_id\": …}"),
        (status = 400, description = "bad JSON body or path, or settings the collection cannot take", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 409, description = "a rebuild of this collection is already running, or the service is stopping", body = ErrorResponse),
    )
)]
pub async fn rebuild(State(st): State<AppState>, Path(name): Path<String>, req: Request) -> Accepted {
    let started = Instant::now();
    let bytes = body_bytes(req, &st).await?;
    let body: RebuildRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        RebuildRequest::default()
    } else {
        typed(&bytes, "")?
    };
    let options = rebuild_options(&st, &name, body)?;
    let jobs = st.jobs.clone();
    let job = blocking(move || jobs.rebuild(&name, JobKind::Rebuild, options)).await?;
    Ok((StatusCode::ACCEPTED, ok(json!({"job_id": job.id()}), started)))
}

/// `PATCH /collections/{c}`: Qdrant's collection update. Index settings (`hnsw_config`,
/// `quantization_config`, also under `vectors.""`) that differ from the current ones start the
/// rebuild job (the collection serves throughout); sharding, replication and optimizer
/// settings have no effect on a single node and are accepted.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateCollection {
    /// Per-vector changes, by vector name (`""`: the unnamed vector). With several vectors,
    /// one vector per request, and no collection-level settings beside it.
    #[schema(value_type = Option<Object>)]
    pub vectors: Option<std::collections::BTreeMap<String, VectorParamsDiff>>,
    pub hnsw_config: Option<HnswConfigDiff>,
    /// `{"scalar": {"type": "int8"}}`, or `"Disabled"`.
    #[schema(schema_with = super::openapi::rebuild_quantization)]
    pub quantization_config: Option<Value>,
    /// Accepted: no effect on a single node (each must be at least 1).
    #[schema(value_type = Option<Object>)]
    #[allow(dead_code)]
    pub params: Option<CollectionParamsDiff>,
    /// Accepted: no effect (vicinity has no segment optimizer).
    #[schema(value_type = Option<Object>)]
    #[allow(dead_code)]
    pub optimizers_config: Option<Value>,
    /// Sparse vectors' settings to change, by name: `modifier` and / or `index`.
    pub sparse_vectors: Option<BTreeMap<String, super::models::SparseVectorParams>>,
    #[schema(schema_with = super::openapi::unsupported, required = false)]
    pub strict_mode_config: Option<Value>,
    #[schema(schema_with = super::openapi::unsupported, required = false)]
    pub metadata: Option<Value>,
    /// vicinity: the recommendation settings to change (those given replace the stored ones).
    pub recommendation: Option<super::users::RecommendationDiff>,
}

#[derive(Deserialize)]
pub struct VectorParamsDiff {
    pub hnsw_config: Option<HnswConfigDiff>,
    pub quantization_config: Option<Value>,
    #[allow(dead_code)]
    pub on_disk: Option<bool>,
}

/// Qdrant's `CollectionParamsDiff`: the counts are non-zero (a 400 otherwise, as in Qdrant).
#[derive(Deserialize)]
#[allow(dead_code)]
pub struct CollectionParamsDiff {
    pub replication_factor: Option<std::num::NonZeroU32>,
    pub write_consistency_factor: Option<std::num::NonZeroU32>,
    pub read_fan_out_factor: Option<u32>,
    pub on_disk_payload: Option<bool>,
}

#[utoipa::path(
    patch, path = "/collections/{name}", operation_id = "update_collection",
    request_body = UpdateCollection,
    params(CollectionName, MetaParams),
    responses(
        (status = 200, description = "true; a change of index settings rebuilds the index in the background (GET /jobs)"),
        (status = 400, description = "bad JSON body or path; settings the collection cannot take; a vector name other than \"\"; a sparse vector it does not have; strict_mode_config or metadata", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 409, description = "a rebuild of this collection is already running, or the service is stopping", body = ErrorResponse),
    )
)]
pub async fn update_collection(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(meta): Params<MetaParams>,
    Body(body): Body<UpdateCollection>,
) -> ApiResult {
    let started = Instant::now();
    meta.check()?;
    for (field, value) in [("strict_mode_config", &body.strict_mode_config), ("metadata", &body.metadata)] {
        if value.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(ApiError::bad(format!("{field} is not supported")));
        }
    }
    let c = st.catalog.get(&name)?;
    let current = c.config();
    let sparse: BTreeMap<String, SparseVectorConfig> = body
        .sparse_vectors
        .unwrap_or_default()
        .into_iter()
        .map(|(name, p)| {
            let slot = current.sparse_vector(&name)?.slot;
            Ok((name, SparseVectorConfig { slot, index: p.index, modifier: p.modifier }))
        })
        .collect::<Result<_, ApiError>>()?;
    // Checked now, applied once every other setting of the request is checked too.
    let recommendation = match body.recommendation {
        Some(diff) => Some(super::users::changed_recommendation(current.recommendation.clone(), diff)?),
        None => None,
    };
    let entries: Vec<(String, VectorParamsDiff)> = body.vectors.into_iter().flatten().collect();
    for (vector, _) in &entries {
        current.vector(vector)?;
    }
    let mut hnsw_config = body.hnsw_config;
    let mut quantization_config = body.quantization_config;
    // One vector: its settings are the collection's (one index). Several: a vector's own
    // settings are rebuilt one vector at a time.
    let target = match (current.vectors.len(), entries.as_slice()) {
        (1, _) | (_, []) => None,
        (_, [(vector, _)]) if hnsw_config.is_none() && quantization_config.is_none() => Some(vector.clone()),
        _ => {
            return Err(ApiError::bad(
                "vectors: change one vector's settings per request, with no collection-level hnsw_config or quantization_config beside it",
            ))
        }
    };
    let mut rules = Rules::default();
    for (_, diff) in entries {
        // The vector's own settings apply over the collection's.
        hnsw_config = match (hnsw_config, diff.hnsw_config) {
            (Some(top), Some(own)) => Some(HnswConfigDiff {
                m: own.m.or(top.m),
                ef_construct: own.ef_construct.or(top.ef_construct),
                full_scan_threshold: own.full_scan_threshold.or(top.full_scan_threshold),
                ..own
            }),
            (top, own) => own.or(top),
        };
        quantization_config = diff.quantization_config.or(quantization_config);
    }
    if let Some(h) = &hnsw_config {
        super::collections::hnsw_rules(&mut rules, "hnsw_config", h);
    }
    rules.check()?;
    let request = RebuildRequest { hnsw_config, quantization_config, index: None, vector: target };
    let options = rebuild_options(&st, &c.name, request)?;
    if let Some(config) = recommendation {
        let c = c.clone();
        blocking(move || c.set_recommendation(config, true)).await?;
    }
    if !sparse.is_empty() {
        let c = c.clone();
        blocking(move || c.update_sparse(sparse, true)).await?;
    }
    if options.applied_to(current.clone())? != current {
        let jobs = st.jobs.clone();
        let collection = c.name.clone();
        blocking(move || jobs.rebuild(&collection, JobKind::Rebuild, options)).await?;
    }
    Ok(ok(true, started))
}
