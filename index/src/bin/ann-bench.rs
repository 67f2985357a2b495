//! `ann-bench`: build an index over an `.fvecs` base set, then sweep `ef` over the queries and
//! print one JSON object per line — a build line, then `{"backend","ef","recall","qps"}` per ef.
//! Recall@k is against the `.ivecs` ground truth, or, with `--filter-selectivity`, against an
//! exact filtered search of the same allowed set.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use serde_json::json;
use vicinity_index::io::{read_fvecs, read_ivecs};
use vicinity_index::{
    AnyIndex, Backend, Filter, Flat, HnswParams, Metric, PointId, Quantization, SearchParams, VectorIndex,
};

#[derive(Parser, Debug)]
#[command(about = "Benchmark a vicinity index on ann-benchmarks files")]
struct Args {
    #[arg(long)]
    base: PathBuf,
    #[arg(long)]
    query: PathBuf,
    /// Exact neighbours of every query (ids = base row numbers), best first.
    #[arg(long)]
    gt: PathBuf,
    #[arg(long, default_value = "cosine")]
    metric: String,
    #[arg(long, default_value_t = 10)]
    k: usize,
    #[arg(long, default_value_t = 16)]
    m: usize,
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Comma-separated ef_search values to sweep.
    #[arg(long, default_value = "10,16,24,32,48,64,96,128,256", value_delimiter = ',')]
    ef: Vec<usize>,
    /// Query threads (1 = single-threaded queries).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Build threads (default: all cores).
    #[arg(long)]
    build_threads: Option<usize>,
    #[arg(long, default_value = "hnsw")]
    backend: String,
    /// `int8` to walk the graph on int8 codes and rescore with f32.
    #[arg(long)]
    quantization: Option<String>,
    /// int8: rescore the best `k · oversampling` walk results with f32 vectors. A comma list
    /// sweeps every value with every ef (a second query-time parameter).
    #[arg(long, default_value = "2,4,6", value_delimiter = ',')]
    oversampling: Vec<f32>,
    /// Restrict every query to a pseudo-random subset of this fraction of the points.
    #[arg(long)]
    filter_selectivity: Option<f64>,
    /// Only index the first N base vectors (ground truth is then recomputed exactly).
    #[arg(long)]
    limit: Option<usize>,
    /// Save the built index here, load it back and query the loaded copy.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Query an index saved earlier with `--save` instead of building one (build flags are
    /// then ignored; the base set still gives the ids and the ground truth).
    #[arg(long, conflicts_with = "save")]
    load: Option<PathBuf>,
    /// Seed of the HNSW level assignment.
    #[arg(long, default_value_t = HnswParams::default().seed)]
    seed: u64,
    /// `--backend faiss`: the Faiss index factory string (e.g. `IVF1024,PQ32x8`).
    #[arg(long, default_value = "IVF1024,PQ32x8")]
    faiss_factory: String,
    /// `--backend faiss`: comma-separated nprobe values to sweep (in place of `--ef`).
    #[arg(long, default_value = "1,2,4,8,16,32,64", value_delimiter = ',')]
    nprobe: Vec<usize>,
    /// `--backend faiss`: points to train on (0: the backend's default).
    #[arg(long, default_value_t = 0)]
    train_size: usize,
    /// `--backend faiss`: rescore the best `k · oversampling` candidates with the f32 base
    /// vectors (held outside the index, as the service reads them from storage).
    #[arg(long)]
    rescore: bool,
    /// Timed passes over the queries per ef; the fastest counts.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// Whether a point is in the filtered subset: a fixed hash of its id, so every run and every
/// backend sees the same subset.
fn in_subset(id: PointId, selectivity: f64) -> bool {
    let h = id.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    ((h >> 11) as f64 / (1u64 << 53) as f64) < selectivity
}

/// Whether `oversampling` means something for this index (sweep it only then).
#[cfg_attr(not(feature = "faiss"), allow(unused_variables))]
fn oversampling_used(index: &AnyIndex, rescore: bool) -> bool {
    match index {
        AnyIndex::Hnsw(h) => h.params().quantization.is_some(),
        #[cfg(feature = "faiss")]
        AnyIndex::Faiss(_) => rescore,
        AnyIndex::Flat(_) => false,
        #[cfg(feature = "hnsw-rs")]
        AnyIndex::HnswRs(_) => false,
    }
}

/// A new index of the chosen backend.
fn new_index(
    args: &Args,
    backend: Backend,
    metric: Metric,
    dim: usize,
    params: HnswParams,
) -> Result<AnyIndex, Box<dyn std::error::Error>> {
    if backend != Backend::Faiss {
        return Ok(AnyIndex::new(backend, metric, dim, params)?);
    }
    #[cfg(feature = "faiss")]
    {
        let mut p = vicinity_index::FaissParams::new(args.faiss_factory.clone());
        p.train_size = args.train_size;
        p.rescore = args.rescore;
        Ok(AnyIndex::faiss(metric, dim, p)?)
    }
    #[cfg(not(feature = "faiss"))]
    {
        let _ = args;
        Err("this ann-bench was built without the `faiss` feature (cargo run --features faiss)".into())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let metric = Metric::parse(&args.metric)?;
    let backend = Backend::parse(&args.backend)?;
    let (dim, mut base) = read_fvecs(&args.base)?;
    let (qdim, queries) = read_fvecs(&args.query)?;
    if qdim != dim {
        return Err(format!("queries have dim {qdim}, base has dim {dim}").into());
    }
    if let Some(limit) = args.limit {
        base.truncate(limit * dim);
    }
    let n = base.len() / dim;
    let queries: Vec<&[f32]> = queries.chunks_exact(dim).collect();
    let k = args.k;

    let quantization = match args.quantization.as_deref() {
        None | Some("none") => None,
        Some("int8") => {
            Some(Quantization::Int8 { oversampling: args.oversampling.first().copied().unwrap_or(2.0) })
        }
        Some(other) => return Err(format!("unknown quantization {other:?}; expected int8").into()),
    };
    let params = HnswParams {
        m: args.m,
        ef_construction: args.ef_construction,
        quantization,
        seed: args.seed,
        ..HnswParams::default()
    };
    let ids: Vec<PointId> = (0..n as PointId).collect();

    let subset: Option<HashSet<PointId>> =
        args.filter_selectivity.map(|s| ids.iter().copied().filter(|&id| in_subset(id, s)).collect());
    // The allowed set as a payload index would hand it over: explicit ids.
    let filter = subset.as_ref().map(Filter::Ids);

    // Ground truth: the file's, unless the set was cut or filtered, then an exact search.
    let truth: Vec<Vec<PointId>> = if filter.is_some() || args.limit.is_some() {
        let flat = Flat::new(metric, dim)?;
        flat.upsert(&ids, &base)?;
        flat.search_batch(&queries, k, &SearchParams::default(), filter.as_ref())?
            .into_iter()
            .map(|hits| hits.into_iter().map(|h| h.id).collect())
            .collect()
    } else {
        let (gdim, gt) = read_ivecs(&args.gt)?;
        if gdim < k {
            return Err(format!("ground truth holds {gdim} neighbours per query, k is {k}").into());
        }
        gt.chunks_exact(gdim).map(|row| row[..k].iter().map(|&i| i as PointId).collect()).collect()
    };

    let build_threads = args.build_threads.unwrap_or_else(rayon::current_num_threads);
    let rss_before = resident_bytes();
    let started = Instant::now();
    let mut index = match &args.load {
        Some(path) => AnyIndex::load(path)?,
        None => {
            let index = new_index(&args, backend, metric, dim, params)?;
            #[cfg(feature = "faiss")]
            vicinity_index::faiss::set_threads(build_threads);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(build_threads).build()?;
            pool.install(|| index.upsert(&ids, &base))?;
            index
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let rss_after = resident_bytes();

    let mut build_line = json!({
        "backend": index.backend(),
        "build_threads": build_threads,
        "bytes_per_vector": rss_after.saturating_sub(rss_before) as f64 / n as f64,
        "index_bytes_per_vector": index.memory_bytes() as f64 / n as f64,
        "n": n,
        "dim": dim,
        "m": args.m,
        "ef_construction": args.ef_construction,
        "quantization": args.quantization,
        "factory": (backend == Backend::Faiss).then_some(&args.faiss_factory),
        "filter_selectivity": args.filter_selectivity,
    });
    build_line[if args.load.is_some() { "load_s" } else { "build_s" }] = json!(elapsed);
    if let Some(path) = &args.save {
        let t = Instant::now();
        index.save(path)?;
        build_line["save_s"] = json!(t.elapsed().as_secs_f64());
        build_line["file_bytes"] = json!(std::fs::metadata(path)?.len());
        drop(index);
        let t = Instant::now();
        index = AnyIndex::load(path)?;
        build_line["load_s"] = json!(t.elapsed().as_secs_f64());
    }
    println!("{build_line}");

    let query_pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads).build()?;
    let faiss = backend == Backend::Faiss;
    if faiss {
        // The stored vectors rescoring reads (outside the index, as the service's storage is).
        index.set_source(std::sync::Arc::new(vicinity_index::RowSource::new(metric, dim, 0, &base)?));
        #[cfg(feature = "faiss")]
        vicinity_index::faiss::set_threads(args.threads);
    }
    let oversamplings: Vec<Option<f32>> = if oversampling_used(&index, args.rescore) {
        args.oversampling.iter().map(|&o| Some(o)).collect()
    } else {
        vec![None]
    };
    // Faiss sweeps nprobe where HNSW sweeps ef.
    let sweep = if faiss { &args.nprobe } else { &args.ef };
    for &oversampling in &oversamplings {
        for &knob in sweep {
            let params = if faiss {
                SearchParams { nprobe: Some(knob), oversampling, ..SearchParams::default() }
            } else {
                SearchParams { ef: Some(knob), oversampling, ..SearchParams::default() }
            };
            let mut best = f64::INFINITY;
            let mut results = Vec::new();
            for _ in 0..args.repeat.max(1) {
                let t = Instant::now();
                results = query_pool.install(|| index.search_batch(&queries, k, &params, filter.as_ref()))?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            let hits: usize = results
                .iter()
                .zip(&truth)
                .map(|(got, want)| got.iter().filter(|h| want.contains(&h.id)).count())
                .sum();
            let expected: usize = truth.iter().map(|t| t.len().min(k)).sum();
            let mut line = json!({
                "backend": index.backend(),
                "recall": hits as f64 / expected.max(1) as f64,
                "qps": queries.len() as f64 / best,
                "threads": args.threads,
            });
            line[if faiss { "nprobe" } else { "ef" }] = json!(knob);
            if let Some(o) = oversampling {
                line["oversampling"] = json!(o);
            }
            println!("{line}");
        }
    }
    Ok(())
}
