//! Admission control for searches: at most `search.max_concurrent` run at once on the blocking
//! pool (never on tokio workers); up to `search.max_queued` more wait; beyond that a request is
//! answered 503 with `Retry-After` at once instead of queueing without bound. A search that has
//! not finished within `search.timeout_ms` is answered 503 as well.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::error::Error;

pub struct Admission {
    permits: Arc<Semaphore>,
    /// Requests admitted and not yet answered (running or waiting).
    admitted: AtomicUsize,
    limit: usize,
    timeout: Duration,
}

/// Gives the admission slot back however the request ends.
struct Slot<'a>(&'a AtomicUsize);
impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message }
}

impl Admission {
    pub fn new(max_concurrent: usize, max_queued: usize, timeout: Duration) -> Admission {
        Admission {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            admitted: AtomicUsize::new(0),
            limit: max_concurrent.max(1) + max_queued,
            timeout,
        }
    }

    /// Runs `f` on the blocking pool once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("vicinity_search_rejected_total", "reason" => "overloaded").increment(1);
            return Err(unavailable(format!(
                "overloaded: {} searches running or queued; retry shortly",
                self.limit
            )));
        }
        let _slot = Slot(&self.admitted);
        let timed_out = || {
            metrics::counter!("vicinity_search_rejected_total", "reason" => "timeout").increment(1);
            unavailable(format!("search did not finish within {} ms", self.timeout.as_millis()))
        };
        let permit = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| timed_out())?
            .map_err(|_| ApiError::from(Error::Internal("search pool closed".into())))?;
        let left = self.timeout.saturating_sub(started.elapsed());
        let task = tokio::task::spawn_blocking(move || {
            // The permit is held until the work ends, even if the caller gave up waiting.
            let _permit = permit;
            let t = Instant::now();
            let out = f();
            metrics::histogram!("vicinity_search_duration_seconds").record(t.elapsed().as_secs_f64());
            out
        });
        match tokio::time::timeout(left, task).await {
            Err(_) => Err(timed_out()),
            Ok(joined) => joined
                .map_err(|e| ApiError::from(Error::Internal(format!("search failed: {e}"))))?
                .map_err(ApiError::from),
        }
    }
}
