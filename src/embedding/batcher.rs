//! Continuous batching on a lane of worker threads, each owning one model session.
//!
//! A free worker takes what is queued at once, so a lone text runs as soon as it comes; no timer
//! ever waits for batch-mates. While workers run, texts queue, and batches form from them: a
//! worker takes the texts that run best with the oldest one — the queue's first texts ordered by
//! length and split into runs by padded cost (see `runs.rs`), and the run that holds
//! the oldest text. So texts of similar length run together, however they arrived, and every
//! take serves the text that has waited longest. A run holds at most `max_batch` texts.
//!
//! A lane may also have a *lone* worker whose session has every thread of the lane: it takes the
//! queue only when every other worker is idle and at most one text per worker waits, and the
//! others wait while it runs. So a lone request gets every core (latency at low load) and a
//! stream of requests gets one session per core (throughput at high load), with never more
//! threads computing than the lane has.
//!
//! Texts waiting or running are bounded per lane ([`Lane::admit`]); workers are plain threads,
//! never tokio workers, and a worker skips texts whose requester has gone.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::model::Embedding;
use super::runs::padding_groups;
use crate::error::{Error, Result};

/// Runs the model on a batch of texts: an ONNX Runtime session, or a stand-in in tests.
pub trait Runner: Send {
    fn run(&mut self, texts: &[&str]) -> Result<Vec<Embedding>>;
}

/// Makes a worker's runner with the given intra-op threads (called on the worker's thread).
pub type MakeRunner = Arc<dyn Fn(usize) -> Result<Box<dyn Runner>> + Send + Sync>;

/// A text's length in the model's tokens, to group texts of similar length (called on the
/// requester's thread as texts are queued, so it must be cheap).
pub type CountTokens = Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// How a lane runs.
#[derive(Clone, Debug)]
pub struct LaneConfig {
    /// `interactive` or `bulk`: the metrics label and thread names.
    pub name: &'static str,
    /// Workers (sessions), each with `threads` intra-op threads.
    pub workers: usize,
    pub threads: usize,
    /// Add a lone worker of `workers × threads` threads (only when `workers > 1`).
    pub lone: bool,
    pub max_batch: usize,
    /// Texts waiting or running at most, in the units [`Lane::admit`] is given.
    pub capacity: usize,
    /// The workers' OS nice value (0 = as the process; higher runs only when the cores are free).
    pub nice: i32,
    /// Make the sessions at start (else at the first text).
    pub eager: bool,
}

struct Job {
    text: String,
    /// Its length in tokens, to group texts of similar length.
    tokens: usize,
    reply: oneshot::Sender<Result<Embedding>>,
}

/// How many of the oldest queued texts a worker chooses its run from (times `max_batch`).
const CHOOSE_FROM_BATCHES: usize = 4;

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Workers running a batch, not counting the lone one.
    busy: usize,
    lone_busy: bool,
    closed: bool,
}

/// Batches run and texts embedded, for `/metrics`.
#[derive(Default)]
pub struct LaneStats {
    pub batches: AtomicU64,
    pub texts: AtomicU64,
}

struct Shared {
    config: LaneConfig,
    state: Mutex<State>,
    ready: Condvar,
    stats: LaneStats,
    model: String,
    count_tokens: CountTokens,
}

pub struct Lane {
    shared: Arc<Shared>,
    room: Arc<Semaphore>,
}

/// Whether a request that finds the lane full waits for room or is refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Admission {
    Wait,
    Refuse,
}

impl Lane {
    /// Starts the lane's worker threads for `model` (the metrics label).
    pub fn start(model: &str, config: LaneConfig, make: MakeRunner, count_tokens: CountTokens) -> Lane {
        let config = LaneConfig {
            workers: config.workers.max(1),
            threads: config.threads.max(1),
            lone: config.lone && config.workers > 1,
            max_batch: config.max_batch.max(1),
            capacity: config.capacity.max(1),
            ..config
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            stats: LaneStats::default(),
            model: model.to_string(),
            count_tokens,
            config: config.clone(),
        });
        let workers = (0..config.workers)
            .map(|slot| (format!("embed-{}-{slot}", config.name), false, config.threads))
            .chain(
                config
                    .lone
                    .then(|| (format!("embed-{}-lone", config.name), true, config.workers * config.threads)),
            );
        for (name, lone, threads) in workers {
            let (shared, make) = (shared.clone(), make.clone());
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                crate::priority::set_thread_nice(shared.config.nice, "embedding worker");
                worker(&shared, lone, || make(threads));
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start an embedding worker: {e}");
            }
        }
        Lane { room: Arc::new(Semaphore::new(config.capacity)), shared }
    }

    pub fn stats(&self) -> &LaneStats {
        &self.shared.stats
    }

    /// Room for texts that count as `n` (see `runs::queue_units`): waits for it, or refuses
    /// when the lane is full. A request larger than the whole lane waits for the lane to be
    /// empty.
    pub async fn admit(&self, n: usize, admission: Admission) -> Result<OwnedSemaphorePermit> {
        let config = &self.shared.config;
        let n = u32::try_from(n.clamp(1, config.capacity)).unwrap_or(u32::MAX);
        let closed = |_| Error::Internal("embedding workers stopped".into());
        match admission {
            Admission::Wait => self.room.clone().acquire_many_owned(n).await.map_err(closed),
            Admission::Refuse => self.room.clone().try_acquire_many_owned(n).map_err(|e| match e {
                TryAcquireError::NoPermits => Error::Overloaded(format!(
                    "the embedding queue is full ({} texts waiting or running in the {} lane, a text counting once per {} tokens; embedding.max_queued); retry after Retry-After",
                    config.capacity, config.name, super::runs::QUEUE_UNIT_TOKENS
                )),
                TryAcquireError::Closed => Error::Internal("embedding workers stopped".into()),
            }),
        }
    }

    /// Queues texts (call [`Lane::admit`] first and hold its permit until they are answered)
    /// and waits for their embeddings, in the given order.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>> {
        let mut waiting = Vec::with_capacity(texts.len());
        {
            let jobs: Vec<(String, usize)> = texts
                .into_iter()
                .map(|text| {
                    let tokens = (self.shared.count_tokens)(&text);
                    (text, tokens)
                })
                .collect();
            let mut state = self.shared.state.lock();
            for (text, tokens) in jobs {
                let (reply, rx) = oneshot::channel();
                state.jobs.push_back(Job { text, tokens, reply });
                waiting.push(rx);
            }
        }
        self.shared.ready.notify_all();
        let mut out = Vec::with_capacity(waiting.len());
        for rx in waiting {
            out.push(rx.await.map_err(|_| Error::Internal("an embedding worker dropped a request".into()))??);
        }
        Ok(out)
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.shared.state.lock().closed = true;
        self.shared.ready.notify_all();
        self.room.close();
    }
}

impl Shared {
    /// Blocks until this worker may take texts, and takes them; `None` once the lane closed.
    /// `ran`: the worker has just answered the texts it took before.
    fn take(&self, lone: bool, ran: bool) -> Option<Vec<Job>> {
        let c = &self.config;
        let mut state = self.state.lock();
        if ran {
            match lone {
                true => state.lone_busy = false,
                false => state.busy -= 1,
            }
            self.ready.notify_all();
        }
        // A worker that has just answered texts counts the lane as loaded at its first look:
        // their requesters are likely to come back.
        let mut loaded = ran && !lone;
        loop {
            if state.closed {
                return None;
            }
            let queued = state.jobs.len();
            // The narrow workers take everything a loaded lane has; the lone worker takes only a
            // quiet lane's few texts.
            let may = queued > 0
                && !state.lone_busy
                && match lone {
                    true => state.busy == 0 && queued <= c.workers,
                    false => loaded || state.busy > 0 || !c.lone || queued > c.workers,
                };
            if may {
                let jobs = match lone {
                    true => state.jobs.drain(..).collect(),
                    false => self.oldest_run(&mut state.jobs),
                };
                let jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
                if jobs.is_empty() {
                    // The queue changed: another worker may take what is left.
                    self.ready.notify_all();
                    continue;
                }
                match lone {
                    true => state.lone_busy = true,
                    false => state.busy += 1,
                }
                return Some(jobs);
            }
            loaded = false;
            self.ready.wait(&mut state);
        }
    }

    /// Takes from the queue the run that holds the oldest text: the first texts (at most
    /// `CHOOSE_FROM_BATCHES × max_batch`) ordered by tokens and split into runs of at
    /// most `max_batch` texts by padded cost.
    fn oldest_run(&self, jobs: &mut VecDeque<Job>) -> Vec<Job> {
        let window = jobs.len().min(CHOOSE_FROM_BATCHES * self.config.max_batch);
        let mut order: Vec<usize> = (0..window).collect();
        order.sort_by_key(|&i| (jobs[i].tokens, i));
        let mut run = padding_groups(&order, |i| jobs[i].tokens, self.config.max_batch)
            .into_iter()
            .find(|g| g.contains(&0))
            .unwrap_or_default();
        run.sort_unstable_by(|a, b| b.cmp(a));
        let mut taken: Vec<Job> = run.into_iter().filter_map(|i| jobs.remove(i)).collect();
        taken.reverse();
        taken
    }
}

fn worker(shared: &Shared, lone: bool, make: impl Fn() -> Result<Box<dyn Runner>>) {
    let mut runner: Option<Box<dyn Runner>> = None;
    if shared.config.eager {
        runner = make().map_err(|e| tracing::error!("embedding session: {e}")).ok();
    }
    let mut ran = false;
    while let Some(jobs) = shared.take(lone, ran) {
        ran = true;
        if runner.is_none() {
            runner = make().map_err(|e| tracing::error!("embedding session: {e}")).ok();
        }
        let texts: Vec<&str> = jobs.iter().map(|j| j.text.as_str()).collect();
        let result = match runner.as_mut() {
            Some(r) => r.run(&texts),
            None => {
                Err(Error::Internal("the embedding session could not be made; see the server log".into()))
            }
        };
        let stats = &shared.stats;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.texts.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        metrics::histogram!("vicinity_embedding_batch_size", "model" => shared.model.clone(), "lane" => shared.config.name)
            .record(jobs.len() as f64);
        match result {
            Ok(embeddings) => {
                for (job, e) in jobs.into_iter().zip(embeddings) {
                    let _ = job.reply.send(Ok(e));
                }
            }
            Err(e) => {
                tracing::error!("embedding a batch of {} failed: {e}", jobs.len());
                for job in jobs {
                    let _ = job.reply.send(Err(Error::Internal(e.to_string())));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "batcher_tests.rs"]
mod tests;
