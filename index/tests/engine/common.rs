//! Seeded test data and the backends every suite runs over.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vicinity_index::{
    AnyIndex, Backend, HnswParams, Metric, PointId, Quantization, ScoredPoint, VectorIndex,
};

/// Every backend configuration the conformance suite covers.
pub fn configs() -> Vec<(&'static str, Backend, HnswParams)> {
    let hnsw = HnswParams { m: 16, ef_construction: 100, ef_search: 64, ..HnswParams::default() };
    let mut out = vec![
        ("flat", Backend::Flat, hnsw.clone()),
        ("hnsw", Backend::Hnsw, hnsw.clone()),
        (
            "hnsw-int8",
            Backend::Hnsw,
            HnswParams { quantization: Some(Quantization::Int8 { oversampling: 3.0 }), ..hnsw.clone() },
        ),
    ];
    if cfg!(feature = "hnsw-rs") {
        out.push(("hnsw_rs", Backend::HnswRs, hnsw.clone()));
    }
    if cfg!(feature = "faiss") {
        out.push(("faiss-ivf-flat", Backend::Faiss, hnsw));
    }
    out
}

/// An empty index of `backend`. Faiss: IVF-Flat over 8 lists, all probed (exact codes, so it
/// answers like `Flat`), trained once 256 points have arrived (smaller sets stay in its
/// training buffer, searched exactly).
pub fn new_index(backend: Backend, params: &HnswParams, metric: Metric, dim: usize) -> AnyIndex {
    #[cfg(feature = "faiss")]
    if backend == Backend::Faiss {
        let p = vicinity_index::FaissParams {
            nprobe: 8,
            train_size: 256,
            rescore: false,
            ..vicinity_index::FaissParams::new("IVF8,Flat")
        };
        return AnyIndex::faiss(metric, dim, p).expect("valid config");
    }
    AnyIndex::new(backend, metric, dim, params.clone()).expect("valid config")
}

pub fn seed() -> u64 {
    std::env::var("VICINITY_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(42)
}

/// `n` points of `dim` dims around `clusters` random centres, row-major.
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..clusters * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.gen_range(0..clusters);
        out.extend((0..dim).map(|d| centres[c * dim + d] + rng.gen_range(-0.35..0.35)));
    }
    out
}

pub fn ids(n: usize) -> Vec<PointId> {
    (0..n as PointId).collect()
}

pub fn build(backend: Backend, params: &HnswParams, metric: Metric, dim: usize, data: &[f32]) -> AnyIndex {
    let index = new_index(backend, params, metric, dim);
    index.upsert(&ids(data.len() / dim), data).expect("valid points");
    check_invariants(&index);
    index
}

/// Fails on a broken HNSW graph (see `Hnsw::check_invariants`); other backends pass.
pub fn check_invariants(index: &AnyIndex) {
    if let AnyIndex::Hnsw(h) = index {
        h.check_invariants().unwrap_or_else(|e| panic!("HNSW invariants: {e}"));
    }
}

/// Mean overlap of `got` with `want`, over queries, relative to `want`'s sizes.
pub fn recall(got: &[Vec<ScoredPoint>], want: &[Vec<ScoredPoint>]) -> f64 {
    let hits: usize =
        got.iter().zip(want).map(|(g, w)| g.iter().filter(|h| w.iter().any(|x| x.id == h.id)).count()).sum();
    let total: usize = want.iter().map(Vec::len).sum();
    hits as f64 / total.max(1) as f64
}

/// Best first, ties by id, no duplicates.
pub fn assert_well_formed(hits: &[ScoredPoint]) {
    for pair in hits.windows(2) {
        assert!(
            pair[0].score > pair[1].score || (pair[0].score == pair[1].score && pair[0].id < pair[1].id),
            "not sorted: {pair:?}"
        );
    }
    let mut seen: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), hits.len(), "duplicate ids in {hits:?}");
}
