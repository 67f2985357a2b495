//! The HTTP/1.1 server loop: accepts connections up to `service.max_connections` (more wait in
//! the listen backlog), closes a connection whose next request's headers do not arrive within
//! `service.header_timeout_ms` (slow or idle clients), and on shutdown stops accepting, lets
//! requests in flight finish for at most [`SHUTDOWN_GRACE`], then returns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::error::Code;
use super::{ApiError, AppState};
use crate::config::ServiceConfig;

/// How long requests in flight may run on after a shutdown signal before the server stops
/// waiting for them (jobs halt at their next batch, indexes are saved after).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ServiceConfig,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_millis(limits.header_timeout_ms));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait for connections to close.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still running {} s after the shutdown signal; stopping anyway", SHUTDOWN_GRACE.as_secs());
        }
    }
}

/// Routes that stream their bodies (with an idle timeout of their own).
pub(super) const STREAMED: [&str; 2] = ["/collections/{name}/import", "/collections/{name}/snapshots/upload"];

/// Reads a request's whole body before the handler runs, within `service.body_timeout_ms`
/// (408) and `service.max_request_bytes` (413): a client that sends half a body and stops
/// holds nothing but its own connection, and only for that long.
pub async fn read_body(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.extensions().get::<MatchedPath>().is_some_and(|p| STREAMED.contains(&p.as_str())) {
        return next.run(req).await;
    }
    let s = &st.config.service;
    let (parts, body) = req.into_parts();
    let timeout = Duration::from_millis(s.body_timeout_ms);
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, s.max_request_bytes)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Ok(Err(e)) => {
            let inner = e.into_inner();
            let too_large =
                std::iter::successors(Some(&*inner as &(dyn std::error::Error + 'static)), |e| e.source())
                    .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::too_large(s.max_request_bytes).into_response()
            } else {
                ApiError::bad(format!("cannot read the request body: {inner}")).into_response()
            }
        }
        Err(_) => ApiError {
            code: Code::RequestTimeout,
            message: format!(
                "the request body did not arrive within {} ms (service.body_timeout_ms)",
                s.body_timeout_ms
            ),
        }
        .into_response(),
    }
}
