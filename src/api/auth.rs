//! API keys, as Qdrant takes them: the `api-key` header or `Authorization: Bearer …`.
//!
//! - `service.api_key`: when set, every route but the health probes needs it (or the admin key).
//! - `service.admin_api_key`: when set, the admin routes (jobs, import, rebuild, snapshots)
//!   need it; when only `api_key` is set, they need that.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::Code;
use super::{ApiError, AppState};

fn presented(req: &Request) -> Option<&str> {
    let headers = req.headers();
    if let Some(key) = headers.get("api-key").and_then(|v| v.to_str().ok()) {
        return Some(key);
    }
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

/// Compares in time independent of where, and whether, the keys differ — even in length: the
/// SHA-256 digests of both (always 32 bytes) are compared without an early exit.
fn same(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

fn refuse(message: &str) -> Response {
    ApiError::new(Code::Unauthorized, message).into_response()
}

/// The routes that need no key: the version and the health probes.
pub const PUBLIC: [&str; 4] = ["/", "/healthz", "/livez", "/readyz"];

/// Every route but the [`PUBLIC`] ones.
pub async fn any(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let s = &st.config.service;
    let Some(key) = &s.api_key else { return next.run(req).await };
    if PUBLIC.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match presented(&req) {
        Some(k) if same(k, key) || s.admin_api_key.as_deref().is_some_and(|a| same(k, a)) => {
            next.run(req).await
        }
        Some(_) => refuse("wrong API key"),
        None => refuse("this server needs an API key: send it in the `api-key` header"),
    }
}

/// The admin routes.
pub async fn admin(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let s = &st.config.service;
    let Some(key) = s.admin_api_key.as_ref().or(s.api_key.as_ref()) else { return next.run(req).await };
    match presented(&req) {
        Some(k) if same(k, key) => next.run(req).await,
        Some(_) => refuse("this is an admin route: it needs the admin API key"),
        None => refuse("this is an admin route: send the admin API key in the `api-key` header"),
    }
}
