//! HNSW in a fitted basis (`rotation` + `early` in the crate): an index of at least 128
//! dimensions moves its vectors into their principal axes once it holds 1,024 points, and its
//! walks abandon scores that cannot beat their bound. Answers must stay those of exact search,
//! stored vectors must come back in the caller's basis, and files must keep the basis.

use std::collections::HashSet;

use vicinity_index::{AnyIndex, Backend, Filter, HnswParams, Metric, PointId, SearchParams, VectorIndex};

use crate::common::{build, clustered, recall, seed};

const DIM: usize = 192;
const N: usize = 4000;

fn params() -> HnswParams {
    HnswParams { m: 16, ef_construction: 100, ef_search: 64, ..HnswParams::default() }
}

/// An HNSW index filled in batches of 500, so the basis is fitted part-way through.
fn batched(metric: Metric, data: &[f32]) -> AnyIndex {
    let index = AnyIndex::new(Backend::Hnsw, metric, DIM, params()).unwrap();
    for (b, chunk) in data.chunks(500 * DIM).enumerate() {
        let ids: Vec<PointId> = (0..chunk.len() / DIM).map(|i| (b * 500 + i) as PointId).collect();
        index.upsert(&ids, chunk).unwrap();
    }
    index
}

fn normalized(metric: Metric, v: &[f32]) -> Vec<f32> {
    metric.prepare(v, v.len()).unwrap()
}

#[test]
fn a_fitted_basis_keeps_answers_exact_and_vectors_in_the_callers_basis() {
    let data = clustered(N, DIM, 30, seed());
    let queries: Vec<f32> = clustered(100, DIM, 30, seed()).iter().map(|x| x + 0.01).collect();
    let queries: Vec<&[f32]> = queries.chunks_exact(DIM).collect();
    for metric in [Metric::Cosine, Metric::L2] {
        let index = batched(metric, &data);
        let flat = build(Backend::Flat, &params(), metric, DIM, &data);
        let got = index.search_batch(&queries, 10, &SearchParams::default(), None).unwrap();
        let want = flat.search_batch(&queries, 10, &SearchParams::default(), None).unwrap();
        let r = recall(&got, &want);
        assert!(r >= 0.95, "{metric:?}: recall {r:.4} (seed {})", seed());
        // Scores are the caller's, not the basis's.
        for (g, w) in got.iter().zip(&want) {
            if let (Some(a), Some(b)) = (g.first(), w.first()) {
                if a.id == b.id {
                    assert!((a.score - b.score).abs() < 1e-4, "{metric:?}: {} vs {}", a.score, b.score);
                }
            }
        }
        // Points stored before the fit (id 3) and after it (id 3500) come back as given, and
        // each is its own nearest neighbour.
        for id in [3u64, 3500] {
            let given = &data[id as usize * DIM..(id as usize + 1) * DIM];
            let stored = index.vector(id).unwrap();
            let want = normalized(metric, given);
            assert!(stored.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-4), "{metric:?} id {id}");
            let hit = index.search_batch(&[given], 1, &SearchParams::default(), None).unwrap();
            assert_eq!(hit[0][0].id, id, "{metric:?}");
        }
        // The exact scan of a small allowed set runs in the basis too.
        let allowed: HashSet<PointId> = (0..N as PointId).step_by(97).collect();
        let filter = Filter::Ids(&allowed);
        let got = index.search_batch(&queries[..20], 5, &SearchParams::default(), Some(&filter)).unwrap();
        let want = flat.search_batch(&queries[..20], 5, &SearchParams::default(), Some(&filter)).unwrap();
        for (g, w) in got.iter().zip(&want) {
            let ids = |v: &Vec<vicinity_index::ScoredPoint>| v.iter().map(|p| p.id).collect::<Vec<_>>();
            assert_eq!(ids(g), ids(w), "{metric:?}");
        }
    }
}

#[test]
fn scores_in_a_fitted_basis_are_those_of_the_callers_vectors() {
    let data = clustered(2000, DIM, 20, seed());
    for metric in [Metric::Cosine, Metric::L2] {
        let index = batched(metric, &data);
        let query = metric.query(data[DIM..2 * DIM].iter().map(|x| x + 0.02).collect(), DIM).unwrap();
        let ids: Vec<PointId> = (0..2000).step_by(97).collect();
        for (id, got) in ids.iter().zip(index.scores(&query, &ids)) {
            let v = normalized(metric, &data[*id as usize * DIM..(*id as usize + 1) * DIM]);
            let want = metric.score(query.vector(), &v);
            let got = got.expect("a stored point");
            assert!((got - want).abs() <= 1e-3 * want.abs().max(1.0), "{metric:?} {id}: {got} vs {want}");
        }
    }
}

#[test]
fn the_basis_survives_save_and_load() {
    let data = clustered(2500, DIM, 20, seed());
    let index = batched(Metric::Cosine, &data);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("basis.idx");
    index.save(&path).unwrap();
    let loaded = AnyIndex::load(&path).unwrap();
    let queries: Vec<&[f32]> = data.chunks_exact(DIM).step_by(40).collect();
    let a = index.search_batch(&queries, 10, &SearchParams::default(), None).unwrap();
    let b = loaded.search_batch(&queries, 10, &SearchParams::default(), None).unwrap();
    assert_eq!(a, b);
    assert_eq!(index.vector(7), loaded.vector(7));
    // New points go into the same basis.
    loaded.upsert(&[9_999], &data[..DIM]).unwrap();
    let hit = loaded.search_batch(&[&data[..DIM]], 2, &SearchParams::default(), None).unwrap();
    let top: HashSet<PointId> = hit[0].iter().map(|p| p.id).collect();
    assert_eq!(top, HashSet::from([0, 9_999]));
}

/// A version 1 file (written before the basis existed) loads, and answers as before.
#[test]
fn a_version_1_hnsw_file_still_loads() {
    let dim = 32; // below 128 dimensions no basis is fitted, so the body differs only by the flag
    let data = clustered(1500, dim, 6, seed());
    let index = build(Backend::Hnsw, &params(), Metric::Cosine, dim, &data);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.idx");
    index.save(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // Version 2 = version 1 + a trailing "no rotation" byte before the checksum.
    let body_end = bytes.len() - 4;
    assert_eq!(bytes[body_end - 1], 0, "no rotation below 128 dimensions");
    bytes.truncate(body_end - 1);
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let v1 = dir.path().join("v1.idx");
    std::fs::write(&v1, &bytes).unwrap();
    let loaded = AnyIndex::load(&v1).unwrap();
    let queries: Vec<&[f32]> = data.chunks_exact(dim).step_by(50).collect();
    let a = index.search_batch(&queries, 10, &SearchParams::default(), None).unwrap();
    let b = loaded.search_batch(&queries, 10, &SearchParams::default(), None).unwrap();
    assert_eq!(a, b);
}
