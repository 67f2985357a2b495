//! The lane's scheduling with a stand-in model: a run answers each text with its length, and
//! tells the test what it ran, on how many threads, at which nice value; a gate holds runs
//! until the test lets them finish.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use parking_lot::{Condvar, Mutex};
use tokio::sync::mpsc;

use super::{Admission, CountTokens, Lane, LaneConfig, MakeRunner, Runner};
use crate::embedding::Embedding;
use crate::error::{Error, Result};

#[derive(Debug)]
struct Run {
    threads: usize,
    texts: Vec<String>,
    nice: i32,
}

/// Runs that may finish (`usize::MAX`: all).
#[derive(Default)]
struct Gate {
    tickets: Mutex<usize>,
    changed: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.tickets.lock() = usize::MAX;
        self.changed.notify_all();
    }

    fn allow(&self, runs: usize) {
        *self.tickets.lock() += runs;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let mut tickets = self.tickets.lock();
        while *tickets == 0 {
            self.changed.wait(&mut tickets);
        }
        if *tickets != usize::MAX {
            *tickets -= 1;
        }
    }
}

struct Probe {
    gate: Arc<Gate>,
    runs: mpsc::UnboundedSender<Run>,
    active: Arc<AtomicUsize>,
    most_active: Arc<AtomicUsize>,
}

struct FakeRunner {
    threads: usize,
    probe: Arc<Probe>,
}

impl Runner for FakeRunner {
    fn run(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        let p = &self.probe;
        let now = p.active.fetch_add(self.threads, Ordering::SeqCst) + self.threads;
        p.most_active.fetch_max(now, Ordering::SeqCst);
        let nice = rustix::process::getpriority_process(None).unwrap_or(i32::MIN);
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        let _ = p.runs.send(Run { threads: self.threads, texts: texts.clone(), nice });
        p.gate.pass();
        p.active.fetch_sub(self.threads, Ordering::SeqCst);
        Ok(texts.iter().map(|t| Embedding { vector: vec![t.len() as f32], truncated: false }).collect())
    }
}

struct Setup {
    lane: Arc<Lane>,
    gate: Arc<Gate>,
    runs: mpsc::UnboundedReceiver<Run>,
    most_active: Arc<AtomicUsize>,
}

fn lane(workers: usize, lone: bool, capacity: usize, nice: i32, gate_open: bool) -> Setup {
    let gate = Arc::new(Gate::default());
    if gate_open {
        gate.open();
    }
    let (tx, runs) = mpsc::unbounded_channel();
    let most_active = Arc::new(AtomicUsize::new(0));
    let probe = Arc::new(Probe {
        gate: gate.clone(),
        runs: tx,
        active: Arc::new(AtomicUsize::new(0)),
        most_active: most_active.clone(),
    });
    let make: MakeRunner =
        Arc::new(
            move |threads| Ok(Box::new(FakeRunner { threads, probe: probe.clone() }) as Box<dyn Runner>),
        );
    let config = LaneConfig {
        name: "interactive",
        workers,
        threads: 1,
        lone,
        max_batch: 32,
        capacity,
        nice,
        eager: true,
    };
    let count_tokens: CountTokens = Arc::new(|t: &str| t.len());
    Setup { lane: Arc::new(Lane::start("test", config, make, count_tokens)), gate, runs, most_active }
}

async fn next_run(runs: &mut mpsc::UnboundedReceiver<Run>) -> Run {
    tokio::time::timeout(Duration::from_secs(30), runs.recv())
        .await
        .expect("a run within 30 s")
        .expect("the lane is running")
}

fn lengths(e: &[Embedding]) -> Vec<f32> {
    e.iter().map(|e| e.vector[0]).collect()
}

fn texts(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_text_runs_at_once_alone_on_every_thread() {
    let mut s = lane(2, true, 64, 0, false);
    let l = s.lane.clone();
    let one = tokio::spawn(async move { l.embed(texts(&["hello"])).await });
    // Nothing else is ever sent: the run starts without waiting for batch-mates.
    let run = next_run(&mut s.runs).await;
    assert_eq!(run.texts, ["hello"]);
    assert_eq!(run.threads, 2, "the lone worker has both workers' threads");
    s.gate.open();
    assert_eq!(lengths(&one.await.unwrap().unwrap()), [5.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_form_from_what_queues_while_a_run_holds_the_cores_by_length_oldest_first() {
    let mut s = lane(2, true, 64, 0, false);
    let l = s.lane.clone();
    let first = tokio::spawn(async move { l.embed(texts(&["a"])).await });
    assert_eq!(next_run(&mut s.runs).await.texts, ["a"]);
    // Eight single-text requests arrive while the lone run holds both threads: long and short
    // ones in turn, a long one first.
    let sent: Vec<String> =
        (0..8).map(|i| if i % 2 == 0 { "L".repeat(400 + i) } else { "s".repeat(i) }).collect();
    let mut waiting = Vec::new();
    for text in &sent {
        let l = s.lane.clone();
        let text = text.clone();
        waiting.push(tokio::spawn(async move { l.embed(vec![text]).await }));
        while s.lane.shared.state.lock().jobs.len() < waiting.len() {
            tokio::task::yield_now().await;
        }
    }
    s.gate.allow(1);
    first.await.unwrap().unwrap();
    // Both workers take a run before either finishes: the long texts with the oldest, then the
    // short ones, whatever order they came in.
    let (a, b) = (next_run(&mut s.runs).await, next_run(&mut s.runs).await);
    assert_eq!((a.threads, b.threads), (1, 1), "under load the single-thread workers run");
    let longs: Vec<String> = sent.iter().step_by(2).cloned().collect();
    let shorts: Vec<String> = sent.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(a.texts, longs, "the first run holds the oldest text and those of its length");
    assert_eq!(b.texts, shorts);
    s.gate.open();
    for (w, text) in waiting.into_iter().zip(&sent) {
        assert_eq!(lengths(&w.await.unwrap().unwrap()), [text.len() as f32]);
    }
    assert!(s.most_active.load(Ordering::SeqCst) <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_threads_than_the_lane_has_and_every_answer_in_order() {
    let s = lane(2, true, 4096, 0, true);
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let l = s.lane.clone();
        tasks.push(tokio::spawn(async move {
            if i % 7 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let batch: Vec<String> = (0..1 + i % 3).map(|j| "y".repeat(1 + (i + j) % 11)).collect();
            let want: Vec<f32> = batch.iter().map(|t| t.len() as f32).collect();
            let _room = l.admit(batch.len(), Admission::Wait).await.unwrap();
            assert_eq!(lengths(&l.embed(batch).await.unwrap()), want);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let most = s.most_active.load(Ordering::SeqCst);
    assert!((1..=2).contains(&most), "threads running at once: {most}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_lane_refuses_http_requests_and_makes_jobs_wait() {
    let s = lane(1, false, 4, 0, true);
    let held = s.lane.admit(3, Admission::Refuse).await.unwrap();
    match s.lane.admit(2, Admission::Refuse).await {
        Err(Error::Overloaded(m)) => assert!(m.contains("embedding.max_queued"), "{m}"),
        other => panic!("expected Overloaded, got {:?}", other.map(|_| ())),
    }
    let l = s.lane.clone();
    let job = tokio::spawn(async move { l.admit(2, Admission::Wait).await.map(|_| ()) });
    tokio::task::yield_now().await;
    assert!(!job.is_finished(), "a job waits for room");
    drop(held);
    job.await.unwrap().unwrap();
    // A request larger than the lane waits for all of it.
    let all = s.lane.admit(100, Admission::Wait).await.unwrap();
    assert_eq!(all.num_permits(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_whose_requester_went_away_are_not_run() {
    let mut s = lane(2, true, 64, 0, false);
    let l = s.lane.clone();
    let first = tokio::spawn(async move { l.embed(texts(&["busy"])).await });
    assert_eq!(next_run(&mut s.runs).await.texts, ["busy"]);
    // Queued, then dropped: the requester went away.
    assert!(s.lane.embed(texts(&["gone", "gone too"])).now_or_never().is_none());
    let l = s.lane.clone();
    let kept = tokio::spawn(async move { l.embed(texts(&["kept"])).await });
    while s.lane.shared.state.lock().jobs.len() < 3 {
        tokio::task::yield_now().await;
    }
    s.gate.open();
    first.await.unwrap().unwrap();
    assert_eq!(lengths(&kept.await.unwrap().unwrap()), [4.0]);
    assert_eq!(next_run(&mut s.runs).await.texts, ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_workers_run_at_their_nice_value() {
    let mut s = lane(2, false, 64, 10, true);
    let answered = s.lane.embed(texts(&["bulk", "work"])).await.unwrap();
    assert_eq!(lengths(&answered), [4.0, 4.0]);
    let run = next_run(&mut s.runs).await;
    assert_eq!(run.nice, 10, "{run:?}");
}
