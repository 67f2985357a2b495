//! Concurrency: batch searches fanned out on the shared rayon pool — from inside a `par_iter`,
//! as the service runs a batch request — while another thread upserts and deletes. Every
//! backend must keep making progress: no engine lock may be held across work that runs on (or
//! waits for) that pool, or a worker holding a read lock can end up waiting for a job that waits
//! for a writer that waits for that read lock.
//!
//! A watchdog fails the test with a message (and then ends the process, as a deadlocked global
//! pool would hang every later test) when nothing progresses for `VICINITY_WATCHDOG_SECS`
//! (default 60) seconds.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use vicinity_index::{AnyIndex, Backend, HnswParams, Metric, PointId, SearchParams, VectorIndex};

use crate::common::{clustered, configs, new_index, seed};

/// In the range where an f32 HNSW index fits its basis (128–1,024), so the batch that crosses
/// 1,024 points rotates the earlier ones.
const DIM: usize = 128;
/// Upsert batch sizes, in order: one point, just over a parallel rotation chunk (64 rows), a
/// few hundred, then a batch that crosses the 1,024-point basis fit.
const BATCHES: [usize; 4] = [1, 65, 300, 1500];
const SEARCH_THREADS: usize = 4;
/// Searches each searcher runs in one `par_iter`, and queries in each.
const SEARCHES: usize = 8;
const QUERIES: usize = 8;
/// Single-point rewrites after the batches.
const CHURN: usize = 200;

fn watchdog_limit() -> Duration {
    let secs = std::env::var("VICINITY_WATCHDOG_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    Duration::from_secs(secs)
}

/// Reports a stall and fails the test. The stuck threads may hold the global rayon pool, which
/// every other test in this binary needs: after a grace period the process exits instead of
/// hanging.
fn stalled(what: &str) -> ! {
    let message =
        format!("DEADLOCK: {what}: no progress for {:?} (watchdog; seed {})", watchdog_limit(), seed());
    // Straight to the process's stderr: the harness's capture would be lost on exit.
    let _ = writeln!(std::io::stderr(), "{message}");
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(5));
        let _ = writeln!(std::io::stderr(), "deadlocked threads remain: exiting the test process");
        std::process::exit(101);
    });
    panic!("{message}");
}

fn run(name: &str, index: AnyIndex, metric: Metric, round: u64) {
    let total: usize = BATCHES.iter().sum();
    let data = Arc::new(clustered(total + 200, DIM, 20, seed() + round));
    let queries = Arc::new(clustered(64, DIM, 20, seed() + 1000 + round));
    let index = Arc::new(index);
    // Finished searches and finished writes, watched apart: either stalling is a deadlock.
    let progress = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    // Half the searchers use the global pool, as the service does (and as an HNSW upsert's
    // own parallel work does); the others a wider pool, where more workers steal more often.
    let wide = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(6).build().expect("a pool"));
    let mut searchers = Vec::new();
    for t in 0..SEARCH_THREADS {
        let (index, queries, progress, done) =
            (index.clone(), queries.clone(), progress.clone(), done.clone());
        let pool = (t % 2 == 1).then(|| wide.clone());
        searchers.push(std::thread::spawn(move || {
            let run = |f: &(dyn Fn() + Sync)| match &pool {
                Some(pool) => pool.install(f),
                None => f(),
            };
            let params = SearchParams { ef: Some(16), ..Default::default() };
            let mut turn = t;
            while !done.load(Ordering::Relaxed) {
                turn += 1;
                // As the service runs a batch request: searches in a par_iter, each a batch of
                // several queries (which the engine fans out on the same pool).
                run(&|| {
                    (0..SEARCHES).into_par_iter().for_each(|i| {
                        let start = (turn * SEARCHES + i) * 3 % (64 - QUERIES);
                        let batch: Vec<&[f32]> =
                            queries[start * DIM..(start + QUERIES) * DIM].chunks_exact(DIM).collect();
                        let found = index.search_batch(&batch, 5, &params, None).expect("valid search");
                        assert_eq!(found.len(), batch.len());
                        assert!(found.iter().all(|hits| hits.len() <= 5));
                        progress.fetch_add(1, Ordering::Relaxed);
                    })
                });
            }
        }));
    }

    let writer = {
        let (index, data, progress, done) = (index.clone(), data.clone(), writes.clone(), done.clone());
        std::thread::spawn(move || {
            let mut next = 0usize;
            for size in BATCHES {
                let ids: Vec<PointId> = (next as PointId..(next + size) as PointId).collect();
                index.upsert(&ids, &data[next * DIM..(next + size) * DIM]).expect("valid points");
                next += size;
                progress.fetch_add(1, Ordering::Relaxed);
                let gone: Vec<PointId> = (0..next as PointId).filter(|id| id % 7 == 3).collect();
                index.delete(&gone);
                progress.fetch_add(1, Ordering::Relaxed);
            }
            // Replacements: existing ids with new vectors.
            let ids: Vec<PointId> = (0..200).map(|i| i * 5).collect();
            index.upsert(&ids, &data[total * DIM..(total + 200) * DIM]).expect("valid points");
            progress.fetch_add(1, Ordering::Relaxed);
            // Churn: many short writes, so a writer is often queued while searches hold (or
            // wait for) the read lock.
            for i in 0..CHURN {
                let id = (i * 11 % total) as PointId;
                if id.is_multiple_of(5) {
                    continue; // replaced above: keeps the count of live points simple
                }
                let row = id as usize * DIM;
                index.upsert(&[id], &data[row..row + DIM]).expect("valid point");
                index.delete(&[id]);
                index.upsert(&[id], &data[row..row + DIM]).expect("valid point");
                progress.fetch_add(1, Ordering::Relaxed);
            }
            done.store(true, Ordering::Relaxed);
        })
    };

    let limit = watchdog_limit();
    let counts = || (progress.load(Ordering::Relaxed), writes.load(Ordering::Relaxed));
    let (mut seen, mut searched_at, mut wrote_at) = (counts(), Instant::now(), Instant::now());
    while !(writer.is_finished() && searchers.iter().all(|s| s.is_finished())) {
        std::thread::sleep(Duration::from_millis(20));
        let now = counts();
        if now.0 != seen.0 {
            searched_at = Instant::now();
        }
        if now.1 != seen.1 {
            wrote_at = Instant::now();
        }
        seen = now;
        if searched_at.elapsed() > limit && !done.load(Ordering::Relaxed) {
            stalled(&format!("{name} {metric:?} round {round}: searches"));
        }
        if wrote_at.elapsed() > limit && !writer.is_finished() {
            stalled(&format!("{name} {metric:?} round {round}: writes"));
        }
    }
    writer.join().expect("the writer panicked");
    for s in searchers {
        s.join().expect("a searcher panicked");
    }
    let churned: std::collections::HashSet<usize> =
        (0..CHURN).map(|i| i * 11 % total).filter(|id| !id.is_multiple_of(5)).collect();
    let expected = (0..total)
        .filter(|&id| id % 7 != 3 || id.is_multiple_of(5) && id < 1000 || churned.contains(&id))
        .count();
    assert_eq!(index.len(), expected, "{name} {metric:?}: live points after the writes");
    if let AnyIndex::Hnsw(h) = &*index {
        h.check_invariants().unwrap_or_else(|e| panic!("{name} {metric:?}: {e}"));
    }
}

#[test]
fn batch_searches_on_the_pool_never_deadlock_with_writes() {
    let started = Instant::now();
    for (name, backend, params) in configs() {
        let params = HnswParams { m: 8, ef_construction: 32, ..params };
        for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
            if backend == Backend::HnswRs && metric == Metric::Dot {
                continue; // refused by hnsw_rs (it needs distances >= 0)
            }
            for round in 0..2 {
                run(name, new_index(backend, &params, metric, DIM), metric, round);
            }
        }
    }
    println!("concurrency: {:.1}s", started.elapsed().as_secs_f64());
}

/// The parallel build under more threads than cores and other threads competing for them:
/// many small builds, each in several batches (so points link while others do, against points
/// that are themselves still being linked), with deletes between them. Every build must leave
/// every live point reachable from the entry point, every list within its bound.
#[test]
fn oversubscribed_parallel_builds_keep_every_point_reachable() {
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(8).build().expect("a pool");
    let stop = Arc::new(AtomicBool::new(false));
    // Contention: threads that spin and yield, so the build's workers are preempted at
    // arbitrary points.
    let noise: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..2_000u64 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
                    }
                    std::hint::black_box(x);
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    let dim = 16;
    let batches = [1usize, 37, 150, 212];
    let n: usize = batches.iter().sum();
    let mut failures = Vec::new();
    for s in 0..150u64 {
        let metric = [Metric::L2, Metric::Cosine, Metric::Dot][s as usize % 3];
        // m = 4 fills and prunes lists early, which is where a point used to be stranded.
        let m = if s % 2 == 0 { 4 } else { 8 };
        let params = HnswParams { m, ef_construction: 48, seed: s, ..HnswParams::default() };
        let data = clustered(n, dim, 8, seed() + s);
        let index = vicinity_index::Hnsw::new(metric, dim, params).expect("valid config");
        let mut next = 0;
        for (b, &size) in batches.iter().enumerate() {
            let ids: Vec<PointId> = (next as PointId..(next + size) as PointId).collect();
            pool.install(|| index.upsert(&ids, &data[next * dim..(next + size) * dim]))
                .expect("valid points");
            next += size;
            if b == 2 {
                let gone: Vec<PointId> = (0..next as PointId).filter(|id| id % 9 == 4).collect();
                index.delete(&gone);
            }
            if let Err(e) = index.check_invariants() {
                failures.push(format!("build {s} ({metric:?}, m {m}), after batch {b}: {e}"));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    noise.into_iter().for_each(|t| t.join().expect("noise thread"));
    println!("oversubscribed builds: {:.1}s", started.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "seed {}:\n{}", seed(), failures.join("\n"));
}
