//! The Faiss backend beyond the shared conformance suite (which runs it as IVF-Flat): IVF-PQ
//! with f32 rescoring from a vector source, filters on both paths, compression, persistence.

use std::collections::HashSet;
use std::sync::Arc;

use vicinity_index::{
    AnyIndex, FaissParams, Filter, IndexError, Metric, PointId, RowSource, SearchParams, VectorIndex,
};

use crate::common::{assert_well_formed, ids};
use crate::recall::{assert_floor, fixture, measure, DIM, K, N};

fn pq(rescore: bool) -> FaissParams {
    FaissParams { nprobe: 16, rescore, ..FaissParams::new("IVF64,PQ8x8") }
}

fn build(params: FaissParams, data: &[f32], with_source: bool) -> AnyIndex {
    let index = AnyIndex::faiss(Metric::L2, DIM, params).unwrap();
    index.upsert(&ids(data.len() / DIM), data).unwrap();
    if with_source {
        index.set_source(Arc::new(RowSource::new(Metric::L2, DIM, 0, data).unwrap()));
    }
    index
}

#[test]
fn ivf_pq_with_rescoring_reaches_high_recall() {
    let fx = fixture(Metric::L2);
    let codes_only = build(pq(false), &fx.data, false);
    let rescored = build(pq(true), &fx.data, true);
    let plain = measure(&codes_only, &fx, &SearchParams::default(), None);
    let better = measure(&rescored, &fx, &SearchParams::default(), None);
    println!("IVF64,PQ8x8 nprobe 16: codes only {plain:.4}, rescored {better:.4}");
    assert_floor("faiss IVF-PQ rescored", better, 0.95);
    assert!(better > plain, "rescoring must lift recall ({plain:.4} -> {better:.4})");
    // Codes: 8 bytes + an 8-byte id per vector, far below f32 (128 bytes at 32-d).
    let per_vector = rescored.memory_bytes() as f64 / N as f64;
    assert!(per_vector < 0.4 * (DIM * 4) as f64, "{per_vector} bytes per vector");
    // A wider probe is a per-request knob.
    let wide = SearchParams { nprobe: Some(64), ..Default::default() };
    assert!(measure(&rescored, &fx, &wide, None) >= better - 0.01);
}

#[test]
fn filters_fill_k_with_and_without_a_source() {
    let fx = fixture(Metric::L2);
    for with_source in [false, true] {
        let index = build(pq(with_source), &fx.data, with_source);
        let queries: Vec<&[f32]> = fx.queries.chunks_exact(DIM).take(20).collect();
        // 1%: the exact path with a source, the ID selector (then every list) without.
        let rare = |id: PointId| id % 100 == 3;
        for hits in index
            .search_batch(&queries, K, &SearchParams::default(), Some(&Filter::predicate(&rare)))
            .unwrap()
        {
            assert_eq!(hits.len(), K, "source {with_source}");
            assert!(hits.iter().all(|h| rare(h.id)), "source {with_source}: {hits:?}");
            assert_well_formed(&hits);
        }
        // A broad filter goes through Faiss's selector inside the IVF scan.
        let half: HashSet<PointId> = (0..N as PointId).filter(|id| id % 2 == 1).collect();
        let filter = Filter::Ids(&half);
        let recall = measure(&index, &fx, &SearchParams::default(), Some(&filter));
        assert!(recall > if with_source { 0.95 } else { 0.6 }, "source {with_source}: {recall}");
    }
}

#[test]
fn deletes_replacements_and_reload() {
    let fx = fixture(Metric::L2);
    let index = build(pq(true), &fx.data, true);
    let gone: Vec<PointId> = (0..N as PointId).step_by(4).collect();
    assert_eq!(index.delete(&gone), gone.len());
    assert_eq!(index.len(), N - gone.len());
    assert_eq!(index.deleted_count(), 0, "Faiss removes for real");
    let queries: Vec<&[f32]> = fx.queries.chunks_exact(DIM).collect();
    for hits in index.search_batch(&queries, K, &SearchParams::default(), None).unwrap() {
        assert_eq!(hits.len(), K);
        assert!(hits.iter().all(|h| h.id % 4 != 0), "deleted id returned: {hits:?}");
    }
    // Replacing a point moves it (its old code is removed).
    index.upsert(&[1], &fx.data[500 * DIM..501 * DIM]).unwrap();
    assert_eq!(index.len(), N - gone.len());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pq.idx");
    index.save(&path).unwrap();
    let loaded = AnyIndex::load(&path).unwrap();
    assert_eq!((loaded.backend(), loaded.len()), ("faiss", index.len()));
    // The source is the caller's: attached again after a load.
    loaded.set_source(Arc::new(RowSource::new(Metric::L2, DIM, 0, &fx.data).unwrap()));
    let a = index.search_batch(&queries, K, &SearchParams::default(), None).unwrap();
    let b = loaded.search_batch(&queries, K, &SearchParams::default(), None).unwrap();
    assert_eq!(a, b);

    // A damaged file is refused.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(AnyIndex::load(&path), Err(IndexError::Corrupt { .. })));
}

#[test]
fn bad_settings_and_ids_are_errors() {
    let bad = AnyIndex::faiss(Metric::L2, 8, FaissParams::new("IVF-nonsense"));
    assert!(matches!(bad, Err(IndexError::InvalidParameter { name: "factory", .. })), "{:?}", bad.err());
    let zero = AnyIndex::faiss(Metric::L2, 8, FaissParams { nprobe: 0, ..FaissParams::new("IVF4,Flat") });
    assert!(matches!(zero, Err(IndexError::InvalidParameter { name: "nprobe", .. })));
    assert_eq!(FaissParams::preset("ivf_pq", 1024, 32, 8).unwrap(), "IVF1024,PQ32x8");
    assert_eq!(FaissParams::preset("ivf_sq8", 256, 0, 0).unwrap(), "IVF256,SQ8");
    assert!(FaissParams::preset("hnsw", 1, 1, 8).is_err());
    // Kinds Faiss cannot remove points from are refused up front (deletes would be lost).
    let hnsw = AnyIndex::faiss(Metric::L2, 8, FaissParams::new("HNSW32"));
    assert!(matches!(hnsw, Err(IndexError::InvalidParameter { name: "factory", .. })));
    assert_eq!(FaissParams::new("IVF64k,Flat").nlist(), Some(65_536));
    assert_eq!(FaissParams::new("OPQ16,IVF4096,PQ16").nlist(), Some(4096));
    let over = SearchParams { oversampling: Some(f32::NAN), ..Default::default() };
    let trained = build(pq(true), &fixture(Metric::L2).data, true);
    assert!(matches!(
        trained.search(&[0.0; DIM], 5, &over, None),
        Err(IndexError::InvalidParameter { name: "oversampling", .. })
    ));
    let index = AnyIndex::faiss(Metric::Cosine, 4, FaissParams::new("IVF4,Flat")).unwrap();
    assert!(index.upsert(&[u64::MAX], &[1.0, 0.0, 0.0, 0.0]).is_err());
    assert!(index.upsert(&[7], &[0.0; 4]).is_err(), "zero vector under cosine");
    assert_eq!(index.len(), 0);
}

/// A training size below what Faiss needs is raised to it (one point per list, 256 per
/// codebook): with `train_size: 10` an IVF16,PQ4x8 index waits for 256 points, answering
/// exactly from its buffer meanwhile, then trains and keeps every point.
#[test]
fn training_waits_for_enough_points() {
    let data = crate::common::clustered(600, DIM, 8, crate::common::seed());
    let params = FaissParams { train_size: 10, nprobe: 16, ..FaissParams::new("IVF16,PQ4x8") };
    let index = AnyIndex::faiss(Metric::L2, DIM, params).unwrap();
    let AnyIndex::Faiss(faiss) = &index else { unreachable!() };
    index.upsert(&ids(200), &data[..200 * DIM]).unwrap();
    assert!(!faiss.is_trained());
    let hits = index.search(&data[7 * DIM..8 * DIM], 1, &SearchParams::default(), None).unwrap();
    assert_eq!((hits[0].id, hits[0].score), (7, 0.0), "exact while buffered");
    let rest: Vec<PointId> = (200..600).collect();
    index.upsert(&rest, &data[200 * DIM..]).unwrap();
    assert!(faiss.is_trained());
    assert_eq!(index.len(), 600);
    index.delete(&[7]);
    let hits = index.search(&data[7 * DIM..8 * DIM], 10, &SearchParams::default(), None).unwrap();
    assert!(hits.iter().all(|h| h.id != 7) && hits.len() == 10);
}
