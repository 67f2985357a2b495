//! The HTTP API: Qdrant-compatible routes (same paths, JSON shapes and envelope) over the
//! catalog. The only module that knows HTTP exists.
//!
//! - `collections.rs`: create / get / list / delete collections, payload indexes;
//!   `aliases.rs`: aliases.
//! - `points.rs`: upsert, retrieve, delete, payload updates, scroll, count.
//! - `query.rs`: `points/query` (+ batch) and the legacy `search` / `recommend` adapters;
//!   `order_by.rs`: `order_by` (scroll and query); `facet.rs`: `/facet`.
//!   `discover.rs`: the MMR, discover and context query kinds and the legacy `points/discover`;
//!   `groups.rs`: `points/{query,search,recommend}/groups` and `with_lookup`.
//! - `embed.rs`: `/embed`, text in upserts and queries (embedded with the collection's model), `/metrics`.
//! - `jobs.rs` / `snapshots.rs`: the admin routes — jobs, import, rebuild, snapshots.
//! - `auth.rs`: API keys (all routes / admin routes).
//! - `service.rs`: `/`, `/healthz`, `/livez`, `/readyz`, `/openapi.json`; `openapi/`: the
//!   document and what the handlers' derives cannot say.
//! - `error.rs`: every non-2xx answer (a stable code, its status, the envelope).
//!
//! Handlers run storage work on the blocking pool and searches on the search threads
//! (`admission.rs`), never on the tokio workers.

mod admission;
mod aliases;
mod auth;
mod batch;
mod collections;
mod discover;
mod download;
mod embed;
mod error;
mod extract;
mod facet;
mod filter;
mod formula;
mod groups;
mod jobs;
pub(crate) mod metrics;
pub mod models;
mod openapi;
mod order_by;
mod points;
mod prefetch;
mod query;
mod result_cache;
pub mod server;
mod service;
mod snapshots;
mod users;
mod vectors;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::embedding::Embedder;
use crate::error::Error;
use crate::jobs::Jobs;
use admission::Admission;
pub use error::{ApiError, Code};
pub use result_cache::ResultCache;

#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub config: Arc<Config>,
    /// `None` when embedding is disabled or no model could be loaded: text requests are 400.
    pub embedder: Option<Arc<Embedder>>,
    /// `None` when the result cache is off.
    pub results: Option<Arc<ResultCache>>,
    pub admission: Arc<Admission>,
    pub jobs: Arc<Jobs>,
    _stop_jobs: Arc<StopJobs>,
}

/// Stops the running jobs when the last copy of the state goes (the service is stopping):
/// a job thread holds the database open, which must not outlive the service.
struct StopJobs(Arc<Jobs>);

impl Drop for StopJobs {
    fn drop(&mut self) {
        self.0.stop();
    }
}

impl AppState {
    /// Builds the state, opening the job registry (which resumes interrupted jobs). Must be
    /// called inside the tokio runtime: jobs use its handle to embed texts.
    pub fn new(
        catalog: Arc<Catalog>,
        config: Config,
        embedder: Option<Arc<Embedder>>,
    ) -> crate::error::Result<AppState> {
        let s = &config.search;
        let admission =
            Admission::new(s.search_threads(), s.max_queued, std::time::Duration::from_millis(s.timeout_ms));
        let jobs = Jobs::open(
            catalog.clone(),
            embedder.clone(),
            tokio::runtime::Handle::current(),
            crate::jobs::JobSettings {
                vacuum_fraction: config.storage.vacuum_deleted_fraction,
                import_root: config.storage.import_root(),
                max_line: config.service.max_request_bytes,
            },
        )?;
        Ok(AppState {
            catalog,
            results: ResultCache::new(&config.cache).map(Arc::new),
            config: Arc::new(config),
            embedder,
            admission: Arc::new(admission),
            _stop_jobs: Arc::new(StopJobs(jobs.clone())),
            jobs,
        })
    }
}

/// All routes with their state.
pub fn router(state: AppState) -> Router {
    let limit = state.config.service.max_request_bytes;
    metrics::handle();
    Router::new()
        .route("/", get(service::root))
        .route("/healthz", get(service::healthz))
        .route("/livez", get(service::livez))
        .route("/readyz", get(service::readyz))
        .route("/openapi.json", get(service::openapi))
        .route("/metrics", get(metrics::render))
        .route("/embed", post(embed::embed))
        .route("/collections", get(collections::list))
        .route("/collections/aliases", post(aliases::change))
        .route("/aliases", get(aliases::list))
        .route("/collections/{name}/aliases", get(aliases::of_collection))
        .route(
            "/collections/{name}",
            put(collections::create)
                .get(collections::info)
                .delete(collections::remove)
                .patch(jobs::update_collection),
        )
        .route("/collections/{name}/exists", get(collections::exists))
        .route("/collections/{name}/index", put(collections::create_field_index))
        .route("/collections/{name}/index/{field}", delete(collections::delete_field_index))
        .route("/collections/{name}/points", put(points::upsert).post(points::retrieve))
        .route("/collections/{name}/points/{id}", get(points::get_one))
        .route("/collections/{name}/points/delete", post(points::delete))
        .route("/collections/{name}/points/batch", post(batch::batch))
        .route("/collections/{name}/points/payload", post(points::set_payload).put(points::overwrite_payload))
        .route("/collections/{name}/points/payload/delete", post(points::delete_payload))
        .route("/collections/{name}/points/payload/clear", post(points::clear_payload))
        .route("/collections/{name}/points/vectors", put(vectors::update))
        .route("/collections/{name}/points/vectors/delete", post(vectors::delete))
        .route("/collections/{name}/points/scroll", post(points::scroll))
        .route("/collections/{name}/points/count", post(points::count))
        .route("/collections/{name}/facet", post(facet::facet))
        .route("/collections/{name}/points/query", post(query::query))
        .route("/collections/{name}/points/query/batch", post(query::query_batch))
        .route("/collections/{name}/points/search", post(query::search))
        .route("/collections/{name}/points/search/batch", post(query::search_batch))
        .route("/collections/{name}/points/recommend", post(query::recommend))
        .route("/collections/{name}/points/recommend/batch", post(query::recommend_batch))
        .route("/collections/{name}/points/query/groups", post(groups::query_groups))
        .route("/collections/{name}/points/search/groups", post(groups::search_groups))
        .route("/collections/{name}/points/recommend/groups", post(groups::recommend_groups))
        .route("/collections/{name}/points/discover", post(discover::discover_points))
        .route("/collections/{name}/points/discover/batch", post(discover::discover_batch))
        .route("/collections/{name}/interactions", post(users::interactions))
        .route("/collections/{name}/users/{user}", get(users::get_user).delete(users::delete_user))
        .route("/collections/{name}/users/{user}/recommend", post(users::recommend))
        .route("/collections/{name}/users/recommend/batch", post(users::recommend_batch))
        .merge(admin_routes(state.clone()))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), server::read_body))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::any))
        .route_layer(axum::middleware::from_fn(metrics::track))
        .fallback(service::not_found)
        .method_not_allowed_fallback(service::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Jobs, imports (points and events), rebuild and snapshots: behind the admin key when one is configured. Import
/// and snapshot upload stream their bodies, so no body limit applies to them.
fn admin_routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::get).delete(jobs::cancel))
        .route("/collections/{name}/import", post(jobs::import))
        .route("/collections/{name}/interactions/import", post(jobs::import_interactions))
        .route("/collections/{name}/index/rebuild", post(jobs::rebuild))
        .route("/collections/{name}/snapshots", post(snapshots::create).get(snapshots::list))
        .route("/collections/{name}/snapshots/recover", put(snapshots::recover))
        .route("/collections/{name}/snapshots/upload", post(snapshots::upload))
        .route("/collections/{name}/snapshots/{snapshot}", get(snapshots::download).delete(snapshots::delete))
        .route_layer(axum::middleware::from_fn_with_state(state, auth::admin))
}

/// Qdrant's success envelope.
#[derive(Serialize)]
struct Envelope<T> {
    result: T,
    status: &'static str,
    time: f64,
}

/// The success envelope around `result`, serialised straight to text (no JSON tree).
pub(crate) fn ok<T: Serialize>(result: T, started: Instant) -> Response {
    let envelope = Envelope { result, status: "ok", time: started.elapsed().as_secs_f64() };
    match serde_json::to_vec(&envelope) {
        Ok(body) => json_response(body),
        Err(e) => ApiError::from(Error::Internal(format!("encoding the answer: {e}"))).into_response(),
    }
}

/// The success envelope around a result already serialised (a cached answer).
pub(crate) fn ok_encoded(result: &str, started: Instant) -> Response {
    let time = started.elapsed().as_secs_f64();
    json_response(format!(r#"{{"result":{result},"status":"ok","time":{time}}}"#).into_bytes())
}

fn json_response(body: Vec<u8>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Runs blocking work (RocksDB, index search) off the tokio workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::from(Error::Internal(format!("worker failed: {e}"))))?
        .map_err(ApiError::from)
}

pub(crate) type ApiResult = Result<Response, ApiError>;
