//! One suite, run over every backend: the behaviour the `VectorIndex` contract promises.

use std::collections::HashSet;

use vicinity_index::{Backend, Filter, IndexError, Metric, PointId, SearchParams, VectorIndex};

use crate::common::{assert_well_formed, build, clustered, configs, seed};

const DIM: usize = 16;

fn each(test: impl Fn(&str, Backend, &vicinity_index::HnswParams)) {
    for (name, backend, params) in configs() {
        test(name, backend, &params);
    }
}

#[test]
fn empty_index_finds_nothing() {
    each(|name, backend, params| {
        let index = build(backend, params, Metric::Cosine, DIM, &[]);
        let hits = index.search(&[1.0; DIM], 5, &SearchParams::default(), None).unwrap();
        assert!(hits.is_empty(), "{name}");
        assert_eq!(index.len(), 0, "{name}");
    });
}

#[test]
fn a_stored_point_is_its_own_nearest_neighbour() {
    let data = clustered(500, DIM, 5, seed());
    each(|name, backend, params| {
        for metric in [Metric::Cosine, Metric::L2] {
            let index = build(backend, params, metric, DIM, &data);
            assert_eq!(index.len(), 500);
            for i in [0usize, 17, 499] {
                let hits =
                    index.search(&data[i * DIM..(i + 1) * DIM], 3, &SearchParams::default(), None).unwrap();
                assert_eq!(hits[0].id, i as PointId, "{name} {metric:?}");
                assert_well_formed(&hits);
            }
        }
    });
}

#[test]
fn k_larger_than_the_index_returns_every_point() {
    let data = clustered(7, DIM, 2, seed());
    each(|name, backend, params| {
        let index = build(backend, params, Metric::L2, DIM, &data);
        let hits = index.search(&data[..DIM], 50, &SearchParams::default(), None).unwrap();
        assert_eq!(hits.len(), 7, "{name}");
        assert_well_formed(&hits);
        // Absurd sizes are clamped, not allocated.
        let huge = SearchParams { ef: Some(usize::MAX), ..Default::default() };
        let hits = index.search(&data[..DIM], usize::MAX, &huge, None).unwrap();
        assert_eq!(hits.len(), 7, "{name}");
    });
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let data = clustered(20, DIM, 2, seed());
    each(|name, backend, params| {
        let index = build(backend, params, Metric::Cosine, DIM, &data);
        let err = index.search(&[1.0; 3], 5, &SearchParams::default(), None).unwrap_err();
        assert!(matches!(err, IndexError::DimensionMismatch { expected: DIM, got: 3 }), "{name}: {err}");
        let mut nan = vec![0.5; DIM];
        nan[4] = f32::NAN;
        assert!(
            matches!(index.upsert(&[99], &nan), Err(IndexError::NonFinite { position: 4, .. })),
            "{name}"
        );
        assert!(matches!(index.upsert(&[1, 2], &[0.5; DIM]), Err(IndexError::BatchShape { .. })), "{name}");
        assert!(
            matches!(index.upsert(&[5, 5], &[0.5; 2 * DIM]), Err(IndexError::DuplicateId { id: 5 })),
            "{name}"
        );
        assert!(matches!(index.upsert(&[6], &[0.0; DIM]), Err(IndexError::ZeroVector)), "{name}");
        assert_eq!(index.len(), 20, "{name}: a rejected batch must not change the index");
    });
}

#[test]
fn a_prepared_query_searches_as_the_raw_one_and_only_its_own_index() {
    let data = clustered(300, DIM, 4, seed());
    each(|name, backend, params| {
        for metric in [Metric::Cosine, Metric::L2] {
            let index = build(backend, params, metric, DIM, &data);
            let raw: Vec<&[f32]> = data.chunks_exact(DIM).take(5).collect();
            let prepared: Vec<_> = raw.iter().map(|q| metric.query(q.to_vec(), DIM).unwrap()).collect();
            let p = SearchParams::default();
            assert_eq!(
                index.search_prepared(&prepared, 7, &p, None).unwrap(),
                index.search_batch(&raw, 7, &p, None).unwrap(),
                "{name} {metric:?}"
            );
            // A query prepared for another metric or size is refused, not searched with.
            let other = if metric == Metric::L2 { Metric::Cosine } else { Metric::L2 };
            let wrong_metric = other.query(raw[0].to_vec(), DIM).unwrap();
            assert!(index.search_prepared(&[wrong_metric], 3, &p, None).is_err(), "{name} {metric:?}");
            let wrong_dim = metric.query(raw[0][..DIM - 1].to_vec(), DIM - 1).unwrap();
            assert!(
                matches!(
                    index.search_prepared(&[wrong_dim], 3, &p, None),
                    Err(IndexError::DimensionMismatch { .. })
                ),
                "{name} {metric:?}"
            );
        }
    });
}

#[test]
fn vectors_of_several_points_are_each_points_vector() {
    let data = clustered(300, DIM, 4, seed());
    each(|name, backend, params| {
        let index = build(backend, params, Metric::Cosine, DIM, &data);
        index.delete(&[5]);
        let ids: Vec<PointId> = vec![7, 5, 299, 1_000_000, 0, 7];
        let one_by_one: Vec<Option<Vec<f32>>> = ids.iter().map(|id| index.vector(*id)).collect();
        assert_eq!(index.vectors(&ids), one_by_one, "{name}");
        assert!(one_by_one[1].is_none() && one_by_one[3].is_none(), "{name}: deleted / never there");
        // (A Faiss index without a vector source keeps only codes: its vectors may be unknown.)
        assert_eq!(one_by_one[0], one_by_one[5], "{name}");
    });
}

#[test]
fn upsert_replaces_and_delete_hides() {
    let data = clustered(300, DIM, 4, seed());
    each(|name, backend, params| {
        let index = build(backend, params, Metric::L2, DIM, &data);
        // Move point 3 onto point 200's position.
        index.upsert(&[3], &data[200 * DIM..201 * DIM]).unwrap();
        assert_eq!(index.len(), 300, "{name}");
        let hits = index.search(&data[3 * DIM..4 * DIM], 1, &SearchParams::default(), None).unwrap();
        assert_ne!(hits[0].id, 3, "{name}: the old vector of 3 must be gone");
        let hits = index.search(&data[200 * DIM..201 * DIM], 1, &SearchParams::default(), None).unwrap();
        assert_eq!(hits[0].score, 0.0, "{name}: 3's new vector (or 200's) is found at distance 0");
        let exact = SearchParams { exact: true, ..Default::default() };
        let hits = index.search(&data[200 * DIM..201 * DIM], 2, &exact, None).unwrap();
        let found: HashSet<PointId> = hits.iter().map(|h| h.id).collect();
        assert_eq!(found, HashSet::from([3, 200]), "{name}");

        let gone: Vec<PointId> = (0..300).step_by(3).collect();
        assert_eq!(index.delete(&gone), 100, "{name}");
        assert_eq!(index.delete(&[0, 1_000_000]), 0, "{name}: already gone / never there");
        assert_eq!(index.len(), 200, "{name}");
        assert!(!index.contains(0) && index.contains(1), "{name}");
        let queries: Vec<&[f32]> = data.chunks_exact(DIM).take(50).collect();
        for hits in index.search_batch(&queries, 10, &SearchParams::default(), None).unwrap() {
            assert_eq!(hits.len(), 10, "{name}");
            assert!(hits.iter().all(|h| h.id % 3 != 0), "{name}: deleted id returned: {hits:?}");
        }
    });
}

#[test]
fn filters_are_respected_and_small_filters_still_fill_k() {
    let n = 3000;
    let data = clustered(n, DIM, 10, seed());
    each(|name, backend, params| {
        let index = build(backend, params, Metric::Cosine, DIM, &data);
        let queries: Vec<&[f32]> = data.chunks_exact(DIM).take(20).collect();
        // 1% of the points, by predicate without an estimate (the index samples).
        let test = |id: PointId| id % 100 == 7;
        let filter = Filter::predicate(&test);
        for hits in index.search_batch(&queries, 10, &SearchParams::default(), Some(&filter)).unwrap() {
            assert_eq!(hits.len(), 10, "{name}: 30 points pass, 10 were asked for");
            assert!(hits.iter().all(|h| test(h.id)), "{name}: {hits:?}");
            assert_well_formed(&hits);
        }
        // An explicit id set smaller than k: exactly those come back.
        let allowed: HashSet<PointId> = [5, 900, 2999].into();
        let hits =
            index.search(queries[0], 10, &SearchParams::default(), Some(&Filter::Ids(&allowed))).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<HashSet<_>>(), allowed, "{name}");
        // A broad filter goes through the graph and still only returns allowed points.
        let half = |id: PointId| id.is_multiple_of(2);
        let filter = Filter::Predicate { test: &half, estimated_matches: Some(n / 2) };
        for hits in index.search_batch(&queries, 10, &SearchParams::default(), Some(&filter)).unwrap() {
            assert_eq!(hits.len(), 10, "{name}");
            assert!(hits.iter().all(|h| half(h.id)), "{name}");
        }
    });
}

#[test]
fn exact_flag_matches_flat() {
    let data = clustered(800, DIM, 6, seed());
    let flat = build(Backend::Flat, &Default::default(), Metric::Dot, DIM, &data);
    each(|name, backend, params| {
        if backend == Backend::HnswRs {
            return; // hnsw_rs refuses the dot metric (see the next test)
        }
        let index = build(backend, params, Metric::Dot, DIM, &data);
        let exact = SearchParams { exact: true, ..Default::default() };
        for q in data.chunks_exact(DIM).take(10) {
            let a = index.search(q, 10, &exact, None).unwrap();
            let b = flat.search(q, 10, &exact, None).unwrap();
            // Same points; scores equal up to the rounding of another library's kernels (Faiss).
            assert_eq!(
                a.iter().map(|h| h.id).collect::<Vec<_>>(),
                b.iter().map(|h| h.id).collect::<Vec<_>>(),
                "{name}"
            );
            for (x, y) in a.iter().zip(&b) {
                assert!((x.score - y.score).abs() <= 1e-4 * y.score.abs().max(1.0), "{name}: {x:?} vs {y:?}");
            }
        }
    });
}

#[test]
fn hnsw_rs_refuses_dot() {
    if cfg!(feature = "hnsw-rs") {
        let r = vicinity_index::AnyIndex::new(Backend::HnswRs, Metric::Dot, 4, Default::default());
        assert!(matches!(r, Err(IndexError::Unsupported { .. })));
    }
}

#[test]
fn inserts_run_concurrently_with_searches() {
    let n = 4000;
    let data = clustered(n, DIM, 8, seed());
    each(|name, backend, params| {
        let index = build(backend, params, Metric::Cosine, DIM, &data[..1000 * DIM]);
        std::thread::scope(|s| {
            s.spawn(|| {
                for chunk in (1000..n).collect::<Vec<_>>().chunks(500) {
                    let ids: Vec<PointId> = chunk.iter().map(|&i| i as PointId).collect();
                    index.upsert(&ids, &data[chunk[0] * DIM..(chunk[0] + chunk.len()) * DIM]).unwrap();
                }
            });
            for round in 0..40 {
                let q = &data[(round * 37 % 1000) * DIM..][..DIM];
                let hits = index.search(q, 10, &SearchParams::default(), None).unwrap();
                assert_eq!(hits.len(), 10, "{name}");
                assert_well_formed(&hits);
            }
        });
        assert_eq!(index.len(), n, "{name}");
        for i in [1500usize, 2500, 3999] {
            let hits =
                index.search(&data[i * DIM..(i + 1) * DIM], 1, &SearchParams::default(), None).unwrap();
            assert_eq!(hits[0].id, i as PointId, "{name}: a point inserted concurrently must be found");
        }
    });
}

#[test]
fn scores_of_points_are_the_metrics_scores_of_their_vectors() {
    let data = clustered(300, DIM, 4, seed());
    each(|name, backend, params| {
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            if backend == Backend::HnswRs && metric == Metric::Dot {
                continue; // hnsw_rs refuses dot (see above)
            }
            let index = build(backend, params, metric, DIM, &data);
            index.delete(&[5]);
            let query = metric.query(data[..DIM].iter().map(|x| x + 0.05).collect(), DIM).unwrap();
            let ids: Vec<PointId> = vec![7, 5, 299, 1_000_000, 0];
            let got = index.scores(&query, &ids);
            let want: Vec<Option<f32>> = index
                .vectors(&ids)
                .into_iter()
                .map(|v| v.map(|v| metric.score(query.vector(), &v)))
                .collect();
            assert_eq!(got.len(), want.len(), "{name} {metric:?}");
            for (g, w) in got.iter().zip(&want) {
                match (g, w) {
                    (Some(g), Some(w)) => {
                        assert!((g - w).abs() <= 1e-3 * w.abs().max(1.0), "{name} {metric:?}: {g} vs {w}")
                    }
                    (None, None) => {}
                    (g, w) => panic!("{name} {metric:?}: {g:?} vs {w:?}"),
                }
            }
            assert!(got[1].is_none() && got[3].is_none(), "{name} {metric:?}: deleted / never there");
        }
    });
}
