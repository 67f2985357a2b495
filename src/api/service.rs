//! Service routes: version, health, readiness, the OpenAPI document, and the 404 fallback.

use std::time::Instant;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use utoipa::OpenApi;

use super::{
    collections, embed, jobs, metrics, models, points, query, snapshots, ApiError, ApiResult, AppState,
};

#[utoipa::path(get, path = "/", responses((status = 200, description = "{title, version}")))]
pub async fn root() -> Json<serde_json::Value> {
    Json(json!({"title": "vicinity - vector search engine", "version": env!("CARGO_PKG_VERSION")}))
}

/// Liveness and readiness: the server answers only once every collection is open.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "{collections}")))]
pub async fn healthz(State(st): State<AppState>) -> ApiResult {
    Ok(super::ok(json!({"collections": st.catalog.names().len()}), Instant::now()))
}

#[utoipa::path(get, path = "/livez", responses((status = 200, description = "{collections}")))]
pub async fn livez(st: State<AppState>) -> ApiResult {
    healthz(st).await
}

#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "{collections}")))]
pub async fn readyz(st: State<AppState>) -> ApiResult {
    healthz(st).await
}

pub async fn not_found(uri: Uri) -> impl IntoResponse {
    ApiError { status: StatusCode::NOT_FOUND, message: format!("no route for {}", uri.path()) }
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> impl IntoResponse {
    let message = format!("method {method} is not allowed on {}", uri.path());
    ApiError { status: StatusCode::METHOD_NOT_ALLOWED, message }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vicinity",
        description = "Vector similarity search and recommendations; Qdrant-compatible REST API"
    ),
    paths(
        root,
        healthz,
        livez,
        readyz,
        openapi,
        collections::create,
        collections::info,
        collections::list,
        collections::exists,
        collections::remove,
        collections::create_field_index,
        collections::delete_field_index,
        points::upsert,
        points::retrieve,
        points::get_one,
        points::delete,
        points::set_payload,
        points::overwrite_payload,
        points::delete_payload,
        points::clear_payload,
        points::scroll,
        points::count,
        query::query,
        query::query_batch,
        query::search,
        query::search_batch,
        query::recommend,
        query::recommend_batch,
        embed::embed,
        metrics::render,
        jobs::list,
        jobs::get,
        jobs::cancel,
        jobs::import,
        jobs::rebuild,
        snapshots::create,
        snapshots::list,
        snapshots::download,
        snapshots::delete,
        snapshots::recover,
        snapshots::upload,
    ),
    components(schemas(models::UpdateResult, crate::collection::Record, crate::collection::Hit))
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "this document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
