//! Micro-batching: requests queue texts; one worker thread per session takes the first waiting
//! text, then keeps collecting until it has `max_batch` texts or `max_wait` has passed, and
//! embeds them in one run. Under load batches fill at once; alone, a text waits at most
//! `max_wait`. Workers are plain threads, never tokio workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::model::{Embedding, OnnxModel};
use crate::error::{Error, Result};

struct Job {
    text: String,
    reply: oneshot::Sender<Result<Embedding>>,
}

/// Counters the metrics endpoint reports.
#[derive(Default)]
pub struct BatchStats {
    pub batches: AtomicU64,
    pub texts: AtomicU64,
}

pub struct Batcher {
    queue: Sender<Job>,
    pub stats: Arc<BatchStats>,
}

impl Batcher {
    pub fn start(model: Arc<OnnxModel>, max_batch: usize, max_wait: Duration) -> Batcher {
        let (queue, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let stats = Arc::new(BatchStats::default());
        for slot in 0..model.session_count() {
            let (model, rx, stats) = (model.clone(), rx.clone(), stats.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("embed-{}-{slot}", model.spec.name))
                .spawn(move || worker(&model, slot, &rx, max_batch.max(1), max_wait, &stats));
            if let Err(e) = spawned {
                tracing::error!("cannot start embedding worker: {e}");
            }
        }
        Batcher { queue, stats }
    }

    /// Embeds texts through the queue; sorted by length so that neighbours in a batch pad
    /// little (bulk jobs), answered in the caller's order.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut waiting = Vec::with_capacity(texts.len());
        for &i in &order {
            let (reply, rx) = oneshot::channel();
            self.queue
                .send(Job { text: texts[i].clone(), reply })
                .map_err(|_| Error::Internal("embedding workers stopped".into()))?;
            waiting.push((i, rx));
        }
        let mut out: Vec<Option<Embedding>> = vec![None; texts.len()];
        for (i, rx) in waiting {
            let e = rx.await.map_err(|_| Error::Internal("embedding worker dropped a request".into()))??;
            out[i] = Some(e);
        }
        Ok(out.into_iter().flatten().collect())
    }
}

fn worker(
    model: &OnnxModel,
    slot: usize,
    rx: &Mutex<Receiver<Job>>,
    max_batch: usize,
    max_wait: Duration,
    stats: &BatchStats,
) {
    loop {
        let jobs = {
            let rx = rx.lock();
            let Ok(first) = rx.recv() else { return };
            let mut jobs = vec![first];
            let deadline = Instant::now() + max_wait;
            while jobs.len() < max_batch {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(job) => jobs.push(job),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            jobs
        };
        let texts: Vec<&str> = jobs.iter().map(|j| j.text.as_str()).collect();
        let result = model.embed(slot, &texts);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        metrics::histogram!("vicinity_embedding_batch_size").record(jobs.len() as f64);
        stats.texts.fetch_add(jobs.len() as u64, Ordering::Relaxed);
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
