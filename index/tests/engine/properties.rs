//! Invariants checked on random small inputs.

use std::collections::HashSet;

use proptest::prelude::*;
use vicinity_index::{AnyIndex, Backend, Filter, HnswParams, Metric, PointId, SearchParams, VectorIndex};

use crate::common::assert_well_formed;

const DIM: usize = 4;

fn points() -> impl Strategy<Value = Vec<f32>> {
    (1usize..60).prop_flat_map(|n| proptest::collection::vec(-10.0f32..10.0, n * DIM))
}

fn backends() -> Vec<(Backend, HnswParams)> {
    let small = HnswParams { m: 4, ef_construction: 32, ef_search: 32, ..HnswParams::default() };
    let mut out = vec![(Backend::Flat, small.clone()), (Backend::Hnsw, small.clone())];
    if cfg!(feature = "faiss") {
        out.push((Backend::Faiss, small));
    }
    out
}

fn build(backend: Backend, params: &HnswParams, data: &[f32]) -> AnyIndex {
    let index = crate::common::new_index(backend, params, Metric::L2, DIM);
    let ids: Vec<PointId> = (0..(data.len() / DIM) as PointId).collect();
    index.upsert(&ids, data).unwrap();
    index
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn results_are_sorted_unique_and_min_k_n(data in points(), k in 0usize..20, q in proptest::collection::vec(-10.0f32..10.0, DIM)) {
        for (backend, params) in backends() {
            let index = build(backend, &params, &data);
            let hits = index.search(&q, k, &SearchParams::default(), None).unwrap();
            prop_assert_eq!(hits.len(), k.min(data.len() / DIM));
            assert_well_formed(&hits);
        }
    }

    #[test]
    fn flat_top_k_is_sort_then_truncate(data in points(), k in 1usize..20, q in proptest::collection::vec(-10.0f32..10.0, DIM)) {
        let index = build(Backend::Flat, &HnswParams::default(), &data);
        let hits = index.search(&q, k, &SearchParams::default(), None).unwrap();
        let mut all: Vec<(f32, PointId)> = data
            .chunks_exact(DIM)
            .enumerate()
            .map(|(i, v)| (Metric::L2.checked_score(&q, v).unwrap(), i as PointId))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        let got: Vec<(f32, PointId)> = hits.iter().map(|h| (h.score, h.id)).collect();
        prop_assert_eq!(got, all);
    }

    #[test]
    fn deleted_ids_never_come_back(data in points(), mask in proptest::collection::vec(any::<bool>(), 60), k in 1usize..20) {
        for (backend, params) in backends() {
            let index = build(backend, &params, &data);
            let n = data.len() / DIM;
            let gone: Vec<PointId> = (0..n as PointId).filter(|&i| mask[i as usize]).collect();
            index.delete(&gone);
            for q in data.chunks_exact(DIM) {
                let hits = index.search(q, k, &SearchParams::default(), None).unwrap();
                prop_assert!(hits.iter().all(|h| !gone.contains(&h.id)));
                prop_assert_eq!(hits.len(), k.min(n - gone.len()));
            }
        }
    }

    #[test]
    fn filtered_results_all_pass(data in points(), allowed in proptest::collection::hash_set(0u64..60, 0..30), k in 1usize..20) {
        for (backend, params) in backends() {
            let index = build(backend, &params, &data);
            let n = (data.len() / DIM) as u64;
            let filter = Filter::Ids(&allowed);
            let hits = index.search(&data[..DIM], k, &SearchParams::default(), Some(&filter)).unwrap();
            prop_assert!(hits.iter().all(|h| allowed.contains(&h.id)));
            let present = allowed.iter().filter(|&&id| id < n).count();
            prop_assert_eq!(hits.len(), k.min(present));
        }
    }

    #[test]
    fn save_then_load_is_identical(data in points(), k in 1usize..10) {
        let dir = tempfile::tempdir().unwrap();
        for (backend, params) in backends() {
            let index = build(backend, &params, &data);
            let path = dir.path().join("p.idx");
            index.save(&path).unwrap();
            let loaded = AnyIndex::load(&path).unwrap();
            let queries: Vec<&[f32]> = data.chunks_exact(DIM).collect();
            let a = index.search_batch(&queries, k, &SearchParams::default(), None).unwrap();
            let b = loaded.search_batch(&queries, k, &SearchParams::default(), None).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}

#[test]
fn regression_unique_ids_after_replacing_everything() {
    let index = AnyIndex::new(Backend::Hnsw, Metric::L2, DIM, HnswParams::default()).unwrap();
    for round in 0..3 {
        let data: Vec<f32> = (0..40 * DIM).map(|i| (i * (round + 1)) as f32 * 0.01).collect();
        index.upsert(&(0..40).collect::<Vec<_>>(), &data).unwrap();
    }
    assert_eq!(index.len(), 40);
    let hits = index.search(&[0.0; DIM], 40, &SearchParams::default(), None).unwrap();
    let unique: HashSet<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(unique.len(), 40);
}
