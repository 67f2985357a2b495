//! The sparse index against a brute-force oracle: random writes, filters, IDF, persistence,
//! compaction and concurrent readers.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use vicinity_index::sparse::idf;
use vicinity_index::{Filter, IndexError, PointId, ScoredPoint, SparseIndex, SparseVector};

fn sv(pairs: &[(u32, f32)]) -> SparseVector {
    SparseVector::new(pairs.iter().map(|p| p.0).collect(), pairs.iter().map(|p| p.1).collect()).unwrap()
}

/// Every live point sharing a dimension with the query, scored by (IDF-weighted) dot product,
/// best first, ties by id.
fn oracle(
    points: &BTreeMap<PointId, SparseVector>,
    query: &SparseVector,
    k: usize,
    with_idf: bool,
    allowed: &dyn Fn(PointId) -> bool,
) -> Vec<ScoredPoint> {
    let n = points.len();
    let df = |i: u32| points.values().filter(|v| v.indices().contains(&i)).count();
    let q = if with_idf { query.weighted(|i| idf(n, df(i))) } else { query.clone() };
    let mut all: Vec<ScoredPoint> = points
        .iter()
        .filter(|(id, _)| allowed(**id))
        .filter_map(|(id, v)| Some(ScoredPoint { id: *id, score: q.dot(v)? }))
        .collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    all.truncate(k);
    all
}

fn vector() -> impl Strategy<Value = SparseVector> {
    proptest::collection::btree_map(0u32..24, -4.0f32..4.0, 0..6)
        .prop_map(|m| SparseVector::new(m.keys().copied().collect(), m.values().copied().collect()).unwrap())
}

#[derive(Clone, Debug)]
enum Op {
    Upsert(PointId, SparseVector),
    Delete(PointId),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (0u64..40, vector()).prop_map(|(id, v)| Op::Upsert(id, v)),
        1 => (0u64..40).prop_map(Op::Delete),
    ];
    proptest::collection::vec(op, 0..80)
}

fn apply(index: &SparseIndex, model: &mut BTreeMap<PointId, SparseVector>, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Upsert(id, v) => {
                index.upsert(vec![(*id, v.clone())]);
                model.insert(*id, v.clone());
            }
            Op::Delete(id) => {
                let present = model.remove(id).is_some();
                assert_eq!(index.delete(&[*id]), usize::from(present));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn search_equals_the_oracle_after_any_writes(ops in ops(), query in vector(), k in 0usize..12, with_idf: bool) {
        let index = SparseIndex::new(with_idf);
        let mut model = BTreeMap::new();
        apply(&index, &mut model, &ops);
        prop_assert_eq!(index.len(), model.len());
        prop_assert_eq!(index.search(&query, k, None), oracle(&model, &query, k, with_idf, &|_| true));
        for (id, v) in &model {
            prop_assert_eq!(index.vector(*id), Some(v.clone()));
        }
    }

    #[test]
    fn filters_act_inside_the_search(ops in ops(), query in vector(), k in 1usize..12, keep in proptest::collection::hash_set(0u64..40, 0..20)) {
        let index = SparseIndex::new(false);
        let mut model = BTreeMap::new();
        apply(&index, &mut model, &ops);
        let expected = oracle(&model, &query, k, false, &|id| keep.contains(&id));
        prop_assert_eq!(index.search(&query, k, Some(&Filter::Ids(&keep))), expected.clone());
        let test = |id: PointId| keep.contains(&id);
        prop_assert_eq!(index.search(&query, k, Some(&Filter::predicate(&test))), expected);
    }

    #[test]
    fn scores_are_the_searched_scores(ops in ops(), query in vector(), with_idf: bool) {
        let index = SparseIndex::new(with_idf);
        let mut model = BTreeMap::new();
        apply(&index, &mut model, &ops);
        let hits = index.search(&query, 100, None);
        let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
        let scores = index.scores(&query, &ids);
        for (h, s) in hits.iter().zip(scores) {
            prop_assert_eq!(s, Some(h.score));
        }
        prop_assert_eq!(index.scores(&query, &[1000]), vec![None]);
    }

    #[test]
    fn a_saved_index_loads_back_the_same(ops in ops(), query in vector(), with_idf: bool) {
        let index = SparseIndex::new(with_idf);
        let mut model = BTreeMap::new();
        apply(&index, &mut model, &ops);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sparse");
        index.save(&path).unwrap();
        let loaded = SparseIndex::load(&path).unwrap();
        prop_assert_eq!(loaded.with_idf(), with_idf);
        prop_assert_eq!(loaded.len(), model.len());
        prop_assert_eq!(loaded.search(&query, 50, None), index.search(&query, 50, None));
    }
}

#[test]
fn points_sharing_no_dimension_are_not_hits_and_zero_sums_are() {
    let index = SparseIndex::new(false);
    index.upsert(vec![
        (1, sv(&[(1, 1.0)])),
        (2, sv(&[(2, 1.0)])),
        (3, sv(&[(1, 1.0), (2, -1.0)])),
        (4, sv(&[])),
    ]);
    let hits = index.search(&sv(&[(1, 1.0), (2, 1.0)]), 10, None);
    assert_eq!(
        hits,
        vec![
            ScoredPoint { id: 1, score: 1.0 },
            ScoredPoint { id: 2, score: 1.0 },
            ScoredPoint { id: 3, score: 0.0 },
        ]
    );
    assert!(index.search(&sv(&[(9, 1.0)]), 10, None).is_empty());
    assert!(index.search(&sv(&[]), 10, None).is_empty());
    assert_eq!(index.scores(&sv(&[(9, 1.0)]), &[4, 5]), vec![Some(0.0), None]);
}

#[test]
fn idf_favours_rare_dimensions_and_follows_deletes() {
    let index = SparseIndex::new(true);
    // Dimension 1 in every point, dimension 2 in one.
    let mut points: Vec<(PointId, SparseVector)> = (0..10).map(|id| (id, sv(&[(1, 1.0)]))).collect();
    points.push((10, sv(&[(1, 1.0), (2, 1.0)])));
    index.upsert(points);
    assert_eq!(index.document_frequency(1), 11);
    let hits = index.search(&sv(&[(1, 1.0), (2, 1.0)]), 2, None);
    assert_eq!(hits[0].id, 10);
    let expected = idf(11, 11) + idf(11, 1);
    assert!((hits[0].score - expected).abs() < 1e-6, "{} vs {expected}", hits[0].score);
    assert!(idf(11, 1) > 5.0 * idf(11, 11));
    index.delete(&[0, 1, 2]);
    assert_eq!(index.document_frequency(1), 8);
    let score = index.search(&sv(&[(1, 1.0)]), 1, None)[0].score;
    assert!((score - idf(8, 8)).abs() < 1e-6);
}

#[test]
fn many_deletes_compact_and_answers_stay_exact() {
    let index = SparseIndex::new(false);
    let v = |id: u64| sv(&[((id % 7) as u32, 1.0 + id as f32 / 1000.0), (100 + (id % 3) as u32, 0.5)]);
    index.upsert((0..5000).map(|id| (id, v(id))).collect());
    let gone: Vec<PointId> = (0..5000).filter(|id| id % 5 != 0).collect();
    assert_eq!(index.delete(&gone), gone.len());
    // Replacing points churns offsets too.
    index.upsert((0..5000).step_by(10).map(|id| (id, v(id + 1))).collect());
    assert!(index.deleted_count() < 2 * index.len() + 1024, "dead postings were never compacted");
    let model: BTreeMap<PointId, SparseVector> = (0..5000)
        .filter(|id| id % 5 == 0)
        .map(|id| (id, if id % 10 == 0 { v(id + 1) } else { v(id) }))
        .collect();
    let q = sv(&[(1, 1.0), (3, 2.0), (101, 1.0)]);
    assert_eq!(index.search(&q, 25, None), oracle(&model, &q, 25, false, &|_| true));
}

#[test]
fn bad_vectors_are_named() {
    let err = SparseVector::new(vec![1, 2], vec![1.0]).unwrap_err();
    assert!(err.to_string().contains("2 indices but 1 values"), "{err}");
    let err = SparseVector::new(vec![3, 1, 3], vec![1.0, 2.0, 3.0]).unwrap_err();
    assert!(err.to_string().contains("index 3 appears twice"), "{err}");
    assert!(matches!(SparseVector::new(vec![1], vec![f32::NAN]), Err(IndexError::NonFinite { .. })));
    let unsorted = SparseVector::new(vec![5, 1], vec![0.5, 1.0]).unwrap();
    assert_eq!((unsorted.indices(), unsorted.values()), (&[1, 5][..], &[1.0, 0.5][..]));
}

#[test]
fn a_corrupt_or_foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sparse");
    let index = SparseIndex::new(true);
    index.upsert(vec![(1, sv(&[(1, 1.0)]))]);
    index.save(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 6] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(SparseIndex::load(&path), Err(IndexError::Corrupt { .. })));
    let flat = vicinity_index::Flat::new(vicinity_index::Metric::Dot, 2).unwrap();
    vicinity_index::VectorIndex::save(&flat, &path).unwrap();
    assert!(matches!(SparseIndex::load(&path), Err(IndexError::Corrupt { .. })));
}

#[test]
fn readers_see_whole_writes_while_writers_run() {
    let index = Arc::new(SparseIndex::new(true));
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let index = index.clone();
            std::thread::spawn(move || {
                for round in 0..300u64 {
                    let id = t * 1000 + round % 50;
                    index.upsert(vec![(id, sv(&[(1, 1.0), (2 + (round % 5) as u32, 1.0)]))]);
                    if round % 3 == 0 {
                        index.delete(&[id]);
                    }
                }
            })
        })
        .collect();
    let q = sv(&[(1, 1.0)]);
    for _ in 0..300 {
        let hits = index.search(&q, 1000, None);
        let ids: HashSet<PointId> = hits.iter().map(|h| h.id).collect();
        assert_eq!(ids.len(), hits.len(), "a point appeared twice");
        // Every point holds dimension 1 once: all hits score the same IDF.
        assert!(hits.windows(2).all(|w| w[0].score == w[1].score));
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(index.search(&q, 1000, None).len(), index.len());
}
