//! Admission control for searches: they run on `search.max_concurrent` dedicated search
//! threads (never on tokio workers), fed by one queue; up to `search.max_queued` more wait;
//! beyond that a request is answered 503 with `Retry-After` at once instead of queueing without
//! bound. A search that has not finished within `search.timeout_ms` is answered 503 as well,
//! and stops: skipped if it had not started, or stopped at its next check of the deadline.
//!
//! Dedicated threads rather than `spawn_blocking` behind a semaphore: under load a search
//! thread takes the next query without sleeping, so a query costs one cross-thread wake-up
//! (the answer) instead of three (permit, hand-off, answer).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::error::{ApiError, Code};
use crate::collection::Deadline;
use crate::error::Error;

type Task = Box<dyn FnOnce() + Send>;

pub struct Admission {
    queue: Sender<Task>,
    /// Joined when the service stops, so no search outlives it.
    threads: Vec<JoinHandle<()>>,
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

fn worker(queue: &Mutex<Receiver<Task>>) {
    loop {
        let task = queue.lock().recv();
        match task {
            // A panicking search drops its answer (the request fails); the thread carries on.
            Ok(task) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
            }
            Err(_) => return,
        }
    }
}

/// Closes the queue and waits for the searches still running: a search holds its collection
/// (and so the database) open, which must not outlive the service.
impl Drop for Admission {
    fn drop(&mut self) {
        drop(std::mem::replace(&mut self.queue, mpsc::channel().0));
        let me = std::thread::current().id();
        for t in self.threads.drain(..) {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

impl Admission {
    pub fn new(max_concurrent: usize, max_queued: usize, timeout: Duration) -> Admission {
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for i in 0..max_concurrent.max(1) {
            let rx = rx.clone();
            match std::thread::Builder::new().name(format!("search-{i}")).spawn(move || worker(&rx)) {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!("cannot start search thread {i}: {e}"),
            }
        }
        Admission {
            queue: tx,
            threads,
            admitted: AtomicUsize::new(0),
            limit: max_concurrent.max(1) + max_queued,
            timeout,
        }
    }

    /// The longest a search may take (`search.timeout_ms`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `f` on a search thread once one is free; `f` gets the request's deadline, `within`
    /// from now (at most `search.timeout_ms`), and stops its work when it passes.
    pub async fn run<T: Send + 'static>(
        &self,
        within: Duration,
        f: impl FnOnce(Deadline) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        let timeout = within.min(self.timeout);
        let started = Instant::now();
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("vicinity_search_rejected_total", "reason" => "overloaded").increment(1);
            return Err(ApiError::new(
                Code::Overloaded,
                format!("overloaded: {} searches running or queued; retry shortly", self.limit),
            ));
        }
        let _slot = Slot(&self.admitted);
        let timed_out = || {
            metrics::counter!("vicinity_search_rejected_total", "reason" => "timeout").increment(1);
            ApiError::new(Code::Timeout, format!("search did not finish within {} ms", timeout.as_millis()))
        };
        let deadline = started + timeout;
        let (tx, rx) = oneshot::channel();
        let task: Task = Box::new(move || {
            // Nobody waits for a search whose deadline passed before it started.
            if Instant::now() >= deadline {
                return;
            }
            let t = Instant::now();
            let out = f(Deadline::at(deadline));
            metrics::histogram!("vicinity_search_duration_seconds").record(t.elapsed().as_secs_f64());
            let _ = tx.send(out);
        });
        if self.queue.send(task).is_err() {
            return Err(ApiError::from(Error::Internal("search threads are gone".into())));
        }
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(timed_out()),
            // Dropped unanswered: skipped past its deadline, or the search panicked.
            Ok(Err(_)) if Instant::now() >= deadline => Err(timed_out()),
            Ok(Err(_)) => Err(ApiError::from(Error::Internal("a search failed".into()))),
            Ok(Ok(Err(Error::Timeout(_)))) => Err(timed_out()),
            Ok(Ok(out)) => out.map_err(ApiError::from),
        }
    }
}
