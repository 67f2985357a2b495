//! Save → load gives the same answers; damaged files are refused.

use vicinity_index::{AnyIndex, IndexError, Metric, SearchParams, VectorIndex};

use crate::common::{build, check_invariants, clustered, configs, seed};

const DIM: usize = 12;

#[test]
fn save_then_load_answers_identically() {
    let data = clustered(1500, DIM, 6, seed());
    let dir = tempfile::tempdir().unwrap();
    for (name, backend, params) in configs() {
        let index = build(backend, &params, Metric::L2, DIM, &data);
        index.delete(&[1, 2, 3, 500]);
        let path = dir.path().join(format!("{name}.idx"));
        index.save(&path).unwrap();
        let loaded = AnyIndex::load(&path).unwrap();
        assert_eq!(loaded.backend(), index.backend(), "{name}");
        assert_eq!((loaded.len(), loaded.dim(), loaded.metric()), (index.len(), DIM, Metric::L2), "{name}");
        let queries: Vec<&[f32]> = data.chunks_exact(DIM).step_by(50).collect();
        let a = index.search_batch(&queries, 10, &SearchParams::default(), None).unwrap();
        let b = loaded.search_batch(&queries, 10, &SearchParams::default(), None).unwrap();
        if name == "hnsw_rs" {
            // Its graph is rebuilt on load (see hnsw_rs_backend): same points, near-same answers.
            assert!(crate::common::recall(&b, &a) > 0.9, "{name}");
        } else {
            assert_eq!(a, b, "{name}");
        }
        assert!(!loaded.contains(500) && loaded.contains(501), "{name}");
        // The loaded index keeps working.
        check_invariants(&loaded); // keepers are found again on load
        let fresh: Vec<u64> = (100_000..100_300).collect();
        loaded.upsert(&fresh, &data[..300 * DIM]).unwrap();
        assert!(loaded.contains(100_000));
        check_invariants(&loaded);
    }
}

#[test]
fn a_corrupt_or_truncated_file_is_refused() {
    let data = clustered(300, DIM, 3, seed());
    let dir = tempfile::tempdir().unwrap();
    for (name, backend, params) in configs() {
        let path = dir.path().join(format!("{name}.idx"));
        build(backend, &params, Metric::Cosine, DIM, &data).save(&path).unwrap();
        let good = std::fs::read(&path).unwrap();

        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let err = AnyIndex::load(&path).err().expect("a flipped bit must be detected");
        assert!(matches!(err, IndexError::Corrupt { .. }), "{name}: {err}");

        for cut in [0, 5, 20, good.len() / 3, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            let err = AnyIndex::load(&path).err().expect("a truncated file must be detected");
            assert!(matches!(err, IndexError::Corrupt { .. }), "{name} cut at {cut}: {err}");
        }

        let mut newer = good.clone();
        newer[8] = 99; // format version
        std::fs::write(&path, &newer).unwrap();
        let err = AnyIndex::load(&path).err().expect("a newer version must be refused");
        assert!(matches!(err, IndexError::UnknownVersion { found: 99, .. }), "{name}: {err}");
    }
}

#[test]
fn a_missing_file_is_an_io_error() {
    let err = AnyIndex::load(std::path::Path::new("/nonexistent/vicinity.idx")).err().unwrap();
    assert!(matches!(err, IndexError::Io { .. }), "{err}");
}
