//! Service routes: version, health, readiness, the OpenAPI document, and the 404 fallback.

use std::time::Instant;

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use utoipa::OpenApi as _;

use super::error::Code;
use super::openapi::ApiDoc;
use super::{ApiError, ApiResult, AppState};

#[utoipa::path(
    get, path = "/",
    responses(
        (status = 200, description = "{title, version}"),
    )
)]
pub async fn root() -> Json<serde_json::Value> {
    Json(json!({"title": "vicinity - vector search engine", "version": env!("CARGO_PKG_VERSION")}))
}

/// Liveness and readiness: the server answers only once every collection is open.
#[utoipa::path(
    get, path = "/healthz",
    responses(
        (status = 200, description = "{collections}: the number of collections"),
    )
)]
pub async fn healthz(State(st): State<AppState>) -> ApiResult {
    Ok(super::ok(json!({"collections": st.catalog.names().len()}), Instant::now()))
}

#[utoipa::path(
    get, path = "/livez",
    responses(
        (status = 200, description = "{collections}: the number of collections"),
    )
)]
pub async fn livez(st: State<AppState>) -> ApiResult {
    healthz(st).await
}

#[utoipa::path(
    get, path = "/readyz",
    responses(
        (status = 200, description = "{collections}: the number of collections"),
    )
)]
pub async fn readyz(st: State<AppState>) -> ApiResult {
    healthz(st).await
}

pub async fn not_found(uri: Uri) -> impl IntoResponse {
    ApiError::new(Code::NoRoute, format!("no route for {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> impl IntoResponse {
    let message = format!("method {method} is not allowed on {}", uri.path());
    ApiError::new(Code::MethodNotAllowed, message)
}

#[utoipa::path(
    get, path = "/openapi.json",
    responses(
        (status = 200, description = "this document"),
    )
)]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
