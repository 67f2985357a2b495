//! Background jobs: bulk imports, index rebuilds and vacuums, with progress, persisted in the
//! `jobs` column family so that they survive a restart.
//!
//! - `import.rs`: the import sources (NDJSON stream, `jsonl` / `fvecs` / `npy` files) and the
//!   loop that writes them in large batches.
//!
//! Each job runs on its own thread. Its record is written at every state change, and an import
//! writes it in the same RocksDB batch as the points of each chunk, so the stored `done` is
//! exactly what was committed. At start-up a job found running is resumed (file imports carry
//! on from `done`, rebuilds start again) or, for a stream whose sender is gone, failed with
//! the count of what was committed.

pub mod import;
mod import_events;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::collection::{Collection, RebuildOptions};
use crate::embedding::Embedder;
use crate::error::{Error, Result};
use crate::storage::Batch;
pub use import::{FileImport, Format, OnError, StreamFeed, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Import,
    Rebuild,
    Vacuum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }
}

/// What a job does, kept so that it can be resumed after a restart.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum JobSpec {
    /// A file on the server.
    File(FileImport),
    /// NDJSON streamed in the request body (cannot be resumed).
    Stream {
        on_error: OnError,
        #[serde(default)]
        target: Target,
    },
    /// Rebuild or vacuum.
    Index(RebuildOptions),
}

/// A line an import could not use.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BadLine {
    pub line: u64,
    pub error: String,
}

/// Finished jobs kept in the registry; older ones are forgotten.
const KEPT_JOBS: usize = 1000;

/// Bad lines kept in a job's record (all of them are counted in `skipped`).
const KEPT_BAD_LINES: usize = 100;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: u64,
    pub kind: JobKind,
    pub collection: String,
    /// The collection's numeric id when the job was created: a job never touches a later
    /// collection of the same name (records from before this field have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_id: Option<u32>,
    pub state: JobState,
    /// Items (lines, rows, points) processed and committed.
    pub done: u64,
    /// Items in all, when known.
    pub total: Option<u64>,
    /// Items skipped as bad (`on_error: skip`).
    pub skipped: u64,
    pub bad_lines: Vec<BadLine>,
    pub error: Option<String>,
    /// Unix seconds.
    pub created_at: f64,
    pub finished_at: Option<f64>,
    pub spec: JobSpec,
    /// A finished job's summary (a rebuild's report).
    pub result: Option<serde_json::Value>,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

pub struct Job {
    record: Mutex<JobRecord>,
    cancel: AtomicBool,
    /// Set when the service stops: the job stops between batches and stays resumable.
    halt: AtomicBool,
    /// When this process started running the job, and `done` at that moment (for the rate).
    clock: Mutex<Option<(Instant, u64)>>,
    /// Seconds it ran in this process, once finished.
    ran_for: Mutex<Option<f64>>,
}

/// A job as `GET /jobs/{id}` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    pub record: JobRecord,
    pub rate_per_s: Option<f64>,
    pub eta_s: Option<f64>,
}

impl Job {
    fn new(record: JobRecord) -> Job {
        Job {
            record: Mutex::new(record),
            cancel: AtomicBool::new(false),
            halt: AtomicBool::new(false),
            clock: Mutex::new(None),
            ran_for: Mutex::new(None),
        }
    }

    pub fn id(&self) -> u64 {
        self.record.lock().id
    }

    pub fn record(&self) -> JobRecord {
        self.record.lock().clone()
    }

    /// True once the job is cancelled or the service is stopping: it stops at the next batch.
    pub fn should_stop(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) || self.halt.load(Ordering::SeqCst)
    }

    pub fn view(&self) -> JobView {
        let record = self.record();
        let rate = self.clock.lock().map(|(started, done0)| {
            let secs = self.ran_for.lock().unwrap_or_else(|| started.elapsed().as_secs_f64());
            record.done.saturating_sub(done0) as f64 / secs.max(1e-3)
        });
        let eta = match (record.state, rate, record.total) {
            (JobState::Running, Some(r), Some(total)) if r > 0.0 => {
                Some(total.saturating_sub(record.done) as f64 / r)
            }
            (state, _, _) if state.is_finished() => Some(0.0),
            _ => None,
        };
        JobView { record, rate_per_s: rate, eta_s: eta }
    }

    /// Puts a copy of the record with `f` applied into `batch` and returns it; the caller
    /// [`Job::set`]s it once the batch is written (so `done` never runs ahead of storage).
    pub fn stage(&self, batch: &mut Batch<'_>, f: impl FnOnce(&mut JobRecord)) -> Result<JobRecord> {
        let mut r = self.record();
        f(&mut r);
        batch.put_job(r.id, &r)?;
        Ok(r)
    }

    /// Publishes a record written by [`Job::stage`] (keeping bad lines met since).
    pub fn set(&self, written: JobRecord) {
        let mut r = self.record.lock();
        r.done = written.done;
        r.state = written.state;
        r.error = written.error;
        r.result = written.result;
        r.finished_at = written.finished_at;
    }

    fn started(&self) {
        let done = self.record.lock().done;
        *self.clock.lock() = Some((Instant::now(), done));
    }

    fn finished(&self) {
        if let Some((started, _)) = *self.clock.lock() {
            *self.ran_for.lock() = Some(started.elapsed().as_secs_f64());
        }
    }

    /// Records a bad item; returns the message when the job must fail on it.
    pub fn bad_line(&self, line: u64, error: String, on_error: OnError) -> Option<String> {
        let mut r = self.record.lock();
        match on_error {
            OnError::Fail => Some(format!("line {line}: {error}")),
            OnError::Skip => {
                r.skipped += 1;
                if r.bad_lines.len() < KEPT_BAD_LINES {
                    r.bad_lines.push(BadLine { line, error });
                }
                None
            }
        }
    }
}

/// The registry: every job this data dir has run, and the threads running them.
pub struct Jobs {
    catalog: Arc<Catalog>,
    embedder: Option<Arc<Embedder>>,
    runtime: tokio::runtime::Handle,
    jobs: RwLock<BTreeMap<u64, Arc<Job>>>,
    /// The threads running jobs, joined by [`Jobs::stop`].
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Set by [`Jobs::stop`]: no new job starts.
    stopping: AtomicBool,
    next_id: AtomicU64,
    /// Vacuum a collection when this fraction of its index is deleted points (0: never).
    vacuum_fraction: f64,
    /// Held while a job is created, so two rebuilds of one collection cannot both start.
    creating: Mutex<()>,
    /// File imports read only from here.
    import_root: std::path::PathBuf,
    /// Longest line of a streamed import.
    max_line: usize,
}

/// What the registry needs from the configuration.
pub struct JobSettings {
    pub vacuum_fraction: f64,
    pub import_root: std::path::PathBuf,
    pub max_line: usize,
}

impl Jobs {
    /// Loads the stored jobs and resumes the ones a stop interrupted.
    pub fn open(
        catalog: Arc<Catalog>,
        embedder: Option<Arc<Embedder>>,
        runtime: tokio::runtime::Handle,
        settings: JobSettings,
    ) -> Result<Arc<Jobs>> {
        let mut jobs = BTreeMap::new();
        let storage = catalog.storage().clone();
        for record in storage.jobs::<JobRecord>()? {
            jobs.insert(record.id, Arc::new(Job::new(record)));
        }
        let next = jobs.keys().next_back().map_or(1, |id| id + 1);
        let registry = Arc::new(Jobs {
            catalog,
            embedder,
            runtime,
            jobs: RwLock::new(jobs),
            threads: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            next_id: AtomicU64::new(next),
            creating: Mutex::new(()),
            vacuum_fraction: settings.vacuum_fraction,
            import_root: settings.import_root,
            max_line: settings.max_line,
        });
        let interrupted: Vec<Arc<Job>> =
            registry.jobs.read().values().filter(|j| !j.record().state.is_finished()).cloned().collect();
        for job in interrupted {
            let r = job.record();
            match &r.spec {
                JobSpec::Stream { .. } => registry.fail_cut_stream(&job, "restart")?,
                JobSpec::File(_) | JobSpec::Index(_) => {
                    tracing::info!(
                        "job {}: resuming {:?} of collection {:?} after a restart",
                        r.id,
                        r.kind,
                        r.collection
                    );
                    registry.spawn(job);
                }
            }
        }
        Ok(registry)
    }

    pub fn get(&self, id: u64) -> Result<Arc<Job>> {
        self.jobs.read().get(&id).cloned().ok_or_else(|| Error::not_found(format!("job {id}")))
    }

    pub fn list(&self) -> Vec<JobView> {
        self.jobs.read().values().map(|j| j.view()).collect()
    }

    /// Asks a queued or running job to stop; it stops between batches.
    pub fn cancel(&self, id: u64) -> Result<JobView> {
        let job = self.get(id)?;
        let state = job.record().state;
        if state.is_finished() {
            return Err(Error::Conflict(format!("job {id} has already finished ({})", state.name())));
        }
        job.cancel.store(true, Ordering::SeqCst);
        Ok(job.view())
    }

    fn persist(&self, job: &Job, f: impl FnOnce(&mut JobRecord)) -> Result<()> {
        let storage = self.catalog.storage();
        let mut batch = storage.batch();
        let written = job.stage(&mut batch, f)?;
        storage.commit(batch, true)?;
        job.set(written);
        Ok(())
    }

    fn finish(
        &self,
        job: &Job,
        state: JobState,
        error: Option<String>,
        result: Option<serde_json::Value>,
    ) -> Result<()> {
        job.finished();
        self.persist(job, |r| {
            r.state = state;
            r.error = error;
            r.result = result;
            r.finished_at = Some(now());
        })
    }

    /// Fails a stream import whose sender is gone (its stream cannot be resumed), with the
    /// count of the lines it committed.
    fn fail_cut_stream(&self, job: &Job, by: &str) -> Result<()> {
        let msg = format!(
            "interrupted by a {by}: the first {} lines of the stream were committed, the rest was never received",
            job.record().done
        );
        self.finish(job, JobState::Failed, Some(msg), None)
    }

    /// Records a new job (queued) for `collection`.
    fn create(&self, kind: JobKind, collection: &str, spec: JobSpec, total: Option<u64>) -> Result<Arc<Job>> {
        // The check for a running rebuild and the new job's record are one step.
        let _creating = self.creating.lock();
        // Through an alias: the job is the collection's, under its own name.
        let c = self.catalog.get(collection)?;
        let (collection, collection_id) = (c.name.as_str(), Some(c.id()));
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Error::Conflict("the service is stopping; no new job starts".into()));
        }
        if matches!(kind, JobKind::Rebuild | JobKind::Vacuum) {
            if let Some(busy) = self.active_index_job(collection) {
                return Err(Error::Conflict(format!(
                    "collection `{collection}` is already being rebuilt (job {busy})"
                )));
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let job = Arc::new(Job::new(JobRecord {
            id,
            kind,
            collection: collection.to_string(),
            collection_id,
            state: JobState::Queued,
            done: 0,
            total,
            skipped: 0,
            bad_lines: Vec::new(),
            error: None,
            created_at: now(),
            finished_at: None,
            spec,
            result: None,
        }));
        self.persist(&job, |_| {})?;
        self.jobs.write().insert(id, job.clone());
        self.forget_old()?;
        Ok(job)
    }

    /// Keeps the newest `KEPT_JOBS` finished jobs (running ones are always kept).
    fn forget_old(&self) -> Result<()> {
        let mut jobs = self.jobs.write();
        let finished: Vec<u64> =
            jobs.iter().filter(|(_, j)| j.record.lock().state.is_finished()).map(|(id, _)| *id).collect();
        let Some(excess) = finished.len().checked_sub(KEPT_JOBS).filter(|n| *n > 0) else { return Ok(()) };
        let storage = self.catalog.storage();
        let mut batch = storage.batch();
        for id in &finished[..excess] {
            jobs.remove(id);
            batch.delete_job(*id);
        }
        storage.commit(batch, false)
    }

    fn active_index_job(&self, collection: &str) -> Option<u64> {
        self.jobs.read().values().map(|j| j.record()).find_map(|r| {
            (matches!(r.kind, JobKind::Rebuild | JobKind::Vacuum)
                && r.collection == collection
                && !r.state.is_finished())
            .then_some(r.id)
        })
    }

    /// True while an import or rebuild of `collection` runs (the saver leaves it alone).
    pub fn busy(&self, collection: &str) -> bool {
        self.jobs.read().values().any(|j| {
            let r = j.record.lock();
            r.collection == collection && r.state == JobState::Running
        })
    }

    /// Starts importing a file on the server.
    pub fn import_file(self: &Arc<Self>, collection: &str, mut spec: FileImport) -> Result<Arc<Job>> {
        let c = self.catalog.get(collection)?;
        if spec.target == Target::Interactions && !matches!(spec.format, Format::Jsonl | Format::Csv) {
            return Err(Error::bad("format: interactions are imported from jsonl or csv files"));
        }
        if spec.target == Target::Points && spec.format == Format::Csv {
            return Err(Error::bad("format: points are imported from jsonl, fvecs or npy files, not csv"));
        }
        spec.confine(&self.import_root)?;
        let (total, dim) = spec.inspect()?;
        let size = match spec.target {
            Target::Points => Some(c.config().vector("")?.size),
            Target::Interactions => None,
        };
        if let Some((dim, size)) = dim.zip(size).filter(|(d, s)| d != s) {
            return Err(Error::bad(format!(
                "{} holds {dim}-d vectors; collection `{collection}` has {size}-d vectors",
                spec.path.display()
            )));
        }
        let job = self.create(JobKind::Import, collection, JobSpec::File(spec), Some(total))?;
        self.spawn(job.clone());
        Ok(job)
    }

    /// Starts importing an NDJSON stream; the caller feeds it through the returned channel.
    pub fn import_stream(
        self: &Arc<Self>,
        collection: &str,
        on_error: OnError,
        total: Option<u64>,
        target: Target,
    ) -> Result<(Arc<Job>, StreamFeed, tokio::sync::oneshot::Receiver<()>)> {
        let job = self.create(JobKind::Import, collection, JobSpec::Stream { on_error, target }, total)?;
        let (feed, lines) = import::stream_channel(self.max_line);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (jobs, j) = (self.clone(), job.clone());
        self.start_thread(&job, move || {
            jobs.run(&j, |c| match target {
                Target::Points => import::run_stream(&jobs, &j, c, lines, on_error),
                Target::Interactions => import_events::run_stream(&jobs, &j, c, lines, on_error),
            });
            let _ = done_tx.send(());
        })?;
        Ok((job, feed, done_rx))
    }

    /// Starts a rebuild (or a vacuum: the same with the current settings).
    pub fn rebuild(
        self: &Arc<Self>,
        collection: &str,
        kind: JobKind,
        options: RebuildOptions,
    ) -> Result<Arc<Job>> {
        let total = self.catalog.get(collection)?.stats().0 as u64;
        let job = self.create(kind, collection, JobSpec::Index(options), Some(total))?;
        self.spawn(job.clone());
        Ok(job)
    }

    /// Starts a vacuum of every collection whose deleted points passed the threshold.
    pub fn vacuum_if_needed(self: &Arc<Self>) {
        if self.vacuum_fraction <= 0.0 || self.stopping.load(Ordering::SeqCst) {
            return;
        }
        for c in self.catalog.all() {
            let (live, per_vector) = c.stats();
            // The vector whose index holds the most tombstones decides.
            let deleted = per_vector.values().map(|(d, _)| *d).max().unwrap_or(0);
            let over = deleted > 0 && deleted as f64 > self.vacuum_fraction * (live + deleted) as f64;
            if !over || self.active_index_job(&c.name).is_some() || self.busy(&c.name) {
                continue;
            }
            tracing::info!(
                "collection {:?}: {deleted} of {} points deleted; vacuuming",
                c.name,
                live + deleted
            );
            match self.rebuild(&c.name, JobKind::Vacuum, RebuildOptions::default()) {
                Ok(_) => {}
                // A rebuild started meanwhile, or the collection went: the next tick looks again.
                Err(e @ (Error::Conflict(_) | Error::NotFound { .. })) => {
                    tracing::debug!("collection {:?}: no vacuum now: {e}", c.name)
                }
                Err(e) => tracing::error!("collection {:?}: cannot start a vacuum: {e}", c.name),
            }
        }
    }

    /// Runs a stored job (new or resumed) on its own thread.
    fn spawn(self: &Arc<Self>, job: Arc<Job>) {
        let jobs = self.clone();
        let j = job.clone();
        let started = self.start_thread(&job, move || {
            let spec = j.record().spec;
            match spec {
                JobSpec::File(spec) => jobs.run(&j, |c| match spec.target {
                    Target::Points => import::run_file(&jobs, &j, c, &spec),
                    Target::Interactions => import_events::run_file(&jobs, &j, c, &spec),
                }),
                JobSpec::Index(options) => jobs.run(&j, |c| rebuild(&j, c, &options)),
                JobSpec::Stream { .. } => {}
            }
        });
        if let Err(e) = started {
            tracing::error!("job {}: cannot start: {e}", job.id());
        }
    }

    fn start_thread(&self, job: &Arc<Job>, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let id = job.id();
        // Checked under the lock `stop` takes: a job either starts before `stop` collects the
        // threads (and is halted and joined) or not at all (it stays queued and runs at the next
        // start).
        let mut threads = self.threads.lock();
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Error::Conflict("the service is stopping; the job runs at the next start".into()));
        }
        match std::thread::Builder::new().name(format!("job-{id}")).spawn(f) {
            Ok(t) => {
                threads.retain(|t| !t.is_finished());
                threads.push(t);
                Ok(())
            }
            Err(e) => {
                let msg = format!("cannot start a thread: {e}");
                self.finish(job, JobState::Failed, Some(msg.clone()), None)?;
                Err(Error::Internal(msg))
            }
        }
    }

    /// Stops every running job at its next batch and waits for its thread, for a clean
    /// shutdown: what was committed stays, file imports and rebuilds resume at the next start
    /// (as after a kill), and a stream import is failed with the count of its committed lines.
    pub fn stop(&self) {
        let threads = {
            let mut threads = self.threads.lock();
            self.stopping.store(true, Ordering::SeqCst);
            std::mem::take(&mut *threads)
        };
        for job in self.jobs.read().values() {
            job.halt.store(true, Ordering::SeqCst);
        }
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me && t.join().is_err() {
                tracing::error!("a job thread panicked");
            }
        }
    }

    /// Marks the job running, runs `work` against its collection and records how it ended.
    fn run(&self, job: &Job, work: impl FnOnce(&Arc<Collection>) -> Result<Outcome>) {
        let record = job.record();
        let gone = || {
            Error::not_found(format!(
                "collection `{}` of the job (it was deleted or replaced since)",
                record.collection
            ))
        };
        // A job made for a collection that is gone, whether or not one of the same name has
        // been created since, says so the same way.
        let live = match self.catalog.get(&record.collection) {
            Ok(c) if record.collection_id.is_some_and(|id| id != c.id()) => Err(gone()),
            Err(_) if record.collection_id.is_some() => Err(gone()),
            other => other,
        };
        let outcome = live.and_then(|c| {
            self.persist(job, |r| r.state = JobState::Running)?;
            job.started();
            work(&c)
        });
        let ended = match outcome {
            Ok(Outcome::Done(result)) => self.finish(job, JobState::Succeeded, None, result),
            Ok(Outcome::Cancelled) if job.cancel.load(Ordering::SeqCst) => {
                self.finish(job, JobState::Cancelled, None, None)
            }
            // Halted by a shutdown: left running, to resume at the next start.
            Ok(Outcome::Cancelled) => match job.record().spec {
                JobSpec::Stream { .. } => self.fail_cut_stream(job, "shutdown"),
                JobSpec::File(_) | JobSpec::Index(_) => Ok(()),
            },
            Ok(Outcome::Failed(msg)) => self.finish(job, JobState::Failed, Some(msg), None),
            Err(e) => {
                let done = job.record().done;
                self.finish(job, JobState::Failed, Some(format!("{e} (after {done} items)")), None)
            }
        };
        if let Err(e) = ended {
            tracing::error!("job {}: cannot record its end: {e}", job.id());
        }
        let r = job.record();
        tracing::info!(
            "job {} ({:?} of {}): {}, {} done",
            r.id,
            r.kind,
            r.collection,
            r.state.name(),
            r.done
        );
    }

    pub(crate) fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub(crate) fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }

    pub(crate) fn import_root(&self) -> &std::path::Path {
        &self.import_root
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }
}

/// How a job's work ended (errors are a failure too).
pub enum Outcome {
    Done(Option<serde_json::Value>),
    Cancelled,
    Failed(String),
}

fn rebuild(job: &Job, c: &Collection, options: &RebuildOptions) -> Result<Outcome> {
    let report = c.rebuild_index(
        options,
        &|done, total| {
            let mut r = job.record.lock();
            r.done = done as u64;
            r.total = Some(total as u64);
        },
        &|| job.should_stop(),
    )?;
    Ok(match report {
        Some(report) => Outcome::Done(serde_json::to_value(report).ok()),
        None => Outcome::Cancelled,
    })
}
