//! Service routes: version, health, readiness, the OpenAPI document, and the 404 fallback.

use axum::http::{header, Method, Uri};
use axum::response::IntoResponse;
use axum::Json;
use utoipa::OpenApi as _;

use super::error::Code;
use super::openapi::ApiDoc;
use super::ApiError;

/// `GET /`: the version, and the commit the binary was built from when the build knew it (as
/// Qdrant: no envelope).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    title: &'static str,
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'static str>,
}

#[utoipa::path(
    get, path = "/",
    responses(
        (status = 200, description = "the version, and the commit when known", body = VersionInfo),
    )
)]
pub async fn root() -> Json<VersionInfo> {
    Json(VersionInfo {
        title: "vicinity - vector search engine",
        version: env!("CARGO_PKG_VERSION"),
        commit: option_env!("VICINITY_COMMIT"),
    })
}

/// What `/healthz` and `/livez` answer, as Qdrant's.
const HEALTHY: &str = "healthz check passed";

/// A probe's plain-text answer, as Qdrant's.
fn probe(text: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
}

/// Liveness: the server answers only once every collection is open.
#[utoipa::path(
    get, path = "/healthz",
    responses(
        (status = 200, description = "`healthz check passed` (text/plain)", content_type = "text/plain", body = String),
    )
)]
pub async fn healthz() -> impl IntoResponse {
    probe(HEALTHY)
}

#[utoipa::path(
    get, path = "/livez",
    responses(
        (status = 200, description = "`healthz check passed` (text/plain)", content_type = "text/plain", body = String),
    )
)]
pub async fn livez() -> impl IntoResponse {
    probe(HEALTHY)
}

/// Readiness: the listener opens only after every collection is loaded, so an answer is ready.
#[utoipa::path(
    get, path = "/readyz",
    responses(
        (status = 200, description = "`all shards are ready` (text/plain)", content_type = "text/plain", body = String),
    )
)]
pub async fn readyz() -> impl IntoResponse {
    probe("all shards are ready")
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
