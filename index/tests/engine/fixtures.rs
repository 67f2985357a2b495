//! Frozen index files of every format version the engine reads (`tests/fixtures/index/v*/`;
//! how each was written is in `tests/fixtures/README.md`). Each must load and answer as it did
//! when it was written: the numbers below were printed once by the program that wrote the file
//! and are facts of that file, not recomputed here. A fixture is never regenerated; a format
//! change adds a directory of new ones.

use std::collections::HashSet;
use std::path::PathBuf;

use vicinity_index::persist::FORMAT_VERSION;
use vicinity_index::{AnyIndex, Filter, Metric, PointId, ScoredPoint, SearchParams, VectorIndex};

/// What a fixture file holds and answers. Every file holds ids `1000 + 7·i` for `i < n`, minus
/// `deleted`; point 1077 (`i = 11`) is the probe.
struct Known {
    file: &'static str,
    bytes: u64,
    /// The header: format version and kind (0 flat, 1 hnsw, 2 hnsw_rs).
    version: u32,
    kind: u8,
    backend: &'static str,
    metric: Metric,
    dim: usize,
    len: usize,
    deleted_count: usize,
    deleted: &'static [PointId],
    /// The probe's vector as it was given, and as the file holds it (normalised under cosine).
    input: &'static [f32],
    stored: &'static [f32],
    /// Top 5 by the probe's own vector: default search, then exact.
    own: (&'static [PointId], &'static [f32]),
    own_exact: (&'static [PointId], &'static [f32]),
    /// Top 5 by [`formula_query`]: default search, then exact.
    formula: (&'static [PointId], &'static [f32]),
    formula_exact: (&'static [PointId], &'static [f32]),
    /// Top 5 by [`formula_query`] among ids `1000 + 21·j` (a `Filter::Ids`).
    filtered: (&'static [PointId], &'static [f32]),
}

const PROBE: PointId = 1077;

/// The query the known answers were computed for: `((i·7 mod 13) − 6) / 8`.
fn formula_query(dim: usize) -> Vec<f32> {
    (0..dim).map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0).collect()
}

fn fixture(rel: &str) -> PathBuf {
    // From the environment `cargo test` runs the binary in: a binary built from another checkout
    // sharing the target dir still reads this checkout's files.
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    PathBuf::from(dir).join("../tests/fixtures/index").join(rel)
}

fn assert_hits(what: &str, got: &[ScoredPoint], want: (&[PointId], &[f32])) {
    let ids: Vec<PointId> = got.iter().map(|h| h.id).collect();
    assert_eq!(ids, want.0, "{what}: ids");
    for (h, s) in got.iter().zip(want.1) {
        assert!(
            (h.score - s).abs() <= 1e-5,
            "{what}: id {} scored {}, the fixture's answer {s}",
            h.id,
            h.score
        );
    }
}

fn search(
    index: &AnyIndex,
    query: &[f32],
    params: &SearchParams,
    filter: Option<&Filter>,
) -> Vec<ScoredPoint> {
    index.search_batch(&[query], 5, params, filter).expect("search").remove(0)
}

/// Loads the file and checks every known answer.
fn check(k: &Known) -> AnyIndex {
    let path = fixture(k.file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len() as u64, k.bytes, "{}: size", k.file);
    assert_eq!(&bytes[..8], b"VICINITY", "{}", k.file);
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), k.version, "{}: version", k.file);
    assert_eq!(bytes[12], k.kind, "{}: kind", k.file);

    let index = AnyIndex::load(&path).unwrap_or_else(|e| panic!("{}: {e}", k.file));
    assert_eq!(index.backend(), k.backend, "{}", k.file);
    assert_eq!((index.metric(), index.dim()), (k.metric, k.dim), "{}", k.file);
    assert_eq!((index.len(), index.deleted_count()), (k.len, k.deleted_count), "{}", k.file);
    for id in k.deleted {
        assert!(!index.contains(*id), "{}: deleted {id} is back", k.file);
    }
    assert!(index.contains(PROBE) && index.contains(1000), "{}", k.file);
    let stored = index.vector(PROBE).expect("the probe");
    assert_eq!(stored.len(), k.dim, "{}", k.file);
    for (i, (a, b)) in stored.iter().zip(k.stored).enumerate() {
        assert!((a - b).abs() <= 1e-5, "{}: component {i} of the probe is {a}, the file held {b}", k.file);
    }
    let exact = SearchParams { exact: true, ..SearchParams::default() };
    let default = SearchParams::default();
    let what = |q: &str| format!("{} {q}", k.file);
    assert_hits(&what("own vector"), &search(&index, k.input, &default, None), k.own);
    assert_hits(&what("own vector, exact"), &search(&index, k.input, &exact, None), k.own_exact);
    let q = formula_query(k.dim);
    assert_hits(&what("formula"), &search(&index, &q, &default, None), k.formula);
    assert_hits(&what("formula, exact"), &search(&index, &q, &exact, None), k.formula_exact);
    let written = (k.len + k.deleted.len()).div_ceil(3) as u64;
    let allowed: HashSet<PointId> = (0..written).map(|j| 1000 + 21 * j).collect();
    assert_hits(&what("filtered"), &search(&index, &q, &default, Some(&Filter::Ids(&allowed))), k.filtered);
    index
}

/// A loaded fixture keeps working: it takes a write, and saves in today's format, which loads
/// with the same answers.
fn keeps_working(k: &Known, index: &AnyIndex) {
    let q = formula_query(k.dim);
    index.upsert(&[5_000_000], &q).unwrap_or_else(|e| panic!("{}: {e}", k.file));
    let top = search(index, &q, &SearchParams::default(), None);
    assert_eq!(top[0].id, 5_000_000, "{}: the new point does not find itself", k.file);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resaved.idx");
    index.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), FORMAT_VERSION, "{}", k.file);
    let again = AnyIndex::load(&path).unwrap();
    assert_eq!(again.len(), k.len + 1, "{}", k.file);
    assert!(again.contains(5_000_000), "{}", k.file);
    again.delete(&[5_000_000]);
    let exact = SearchParams { exact: true, ..SearchParams::default() };
    assert_hits(
        &format!("{} resaved, own vector", k.file),
        &search(&again, k.input, &exact, None),
        k.own_exact,
    );
}

#[test]
fn every_format_version_has_fixtures() {
    let versions: HashSet<u32> = V1.iter().chain(V2).map(|k| k.version).collect();
    assert_eq!(versions, (1..=FORMAT_VERSION).collect(), "a format version without frozen fixtures");
}

#[test]
fn version_1_files_load_and_answer_as_written() {
    for k in V1 {
        let index = check(k);
        keeps_working(k, &index);
    }
}

#[test]
fn version_2_files_load_and_answer_as_written() {
    for k in V2 {
        let index = check(k);
        keeps_working(k, &index);
    }
}

/// Written by the engine at f40c0e5 (the last commit writing format 1).
const V1: &[Known] = &[
    Known {
        file: "v1/flat.idx",
        bytes: 1642,
        version: 1,
        kind: 0,
        backend: "flat",
        metric: Metric::Cosine,
        dim: 8,
        len: 39,
        deleted_count: 1,
        deleted: &[1021],
        input: &[-0.65625, 0.46875, 0.546875, -0.234375, -0.8125, 0.890625, 0.1875, -0.8125],
        stored: &[
            -0.36957458,
            0.26398185,
            0.3079788,
            -0.13199092,
            -0.45756853,
            0.5015655,
            0.105592735,
            -0.45756853,
        ],
        own: (&[1077, 1175, 1147, 1007, 1000], &[1.0, 0.5673496, 0.5636791, 0.55921096, 0.54417884]),
        own_exact: (&[1077, 1175, 1147, 1007, 1000], &[1.0, 0.5673496, 0.5636791, 0.55921096, 0.54417884]),
        formula: (
            &[1252, 1189, 1028, 1133, 1182],
            &[0.53484964, 0.50092554, 0.3941244, 0.3706618, 0.33494908],
        ),
        formula_exact: (
            &[1252, 1189, 1028, 1133, 1182],
            &[0.53484964, 0.50092554, 0.3941244, 0.3706618, 0.33494908],
        ),
        filtered: (
            &[1252, 1189, 1231, 1147, 1168],
            &[0.53484964, 0.50092554, 0.27423662, 0.22278167, 0.16431704],
        ),
    },
    Known {
        file: "v1/hnsw.idx",
        bytes: 23648,
        version: 1,
        kind: 1,
        backend: "hnsw",
        metric: Metric::L2,
        dim: 12,
        len: 198,
        deleted_count: 2,
        deleted: &[1035, 2050],
        input: &[
            0.84375, 0.296875, -0.3125, -0.5625, -0.828125, 0.046875, 0.078125, 0.640625, -0.421875, 0.53125,
            0.90625, 0.28125,
        ],
        stored: &[
            0.84375, 0.296875, -0.3125, -0.5625, -0.828125, 0.046875, 0.078125, 0.640625, -0.421875, 0.53125,
            0.90625, 0.28125,
        ],
        own: (&[1077, 2365, 1651, 1014, 1826], &[-0.0, -1.576345, -1.6094508, -1.654849, -1.6992502]),
        own_exact: (&[1077, 2365, 1651, 1014, 1826], &[-0.0, -1.576345, -1.6094508, -1.654849, -1.6992502]),
        formula: (
            &[1434, 1693, 1833, 1805, 2106],
            &[-1.1940608, -1.4920034, -1.648493, -1.6502693, -1.7457398],
        ),
        formula_exact: (
            &[1434, 1693, 1833, 1805, 2106],
            &[-1.1940608, -1.4920034, -1.648493, -1.6502693, -1.7457398],
        ),
        filtered: (
            &[1693, 1231, 1000, 1735, 1189],
            &[-1.4920034, -1.8790971, -1.937626, -2.019316, -2.0248096],
        ),
    },
    Known {
        file: "v1/hnsw-int8.idx",
        bytes: 22758,
        version: 1,
        kind: 1,
        backend: "hnsw",
        metric: Metric::Cosine,
        dim: 16,
        len: 149,
        deleted_count: 1,
        deleted: &[1063],
        input: &[
            -0.109375, 0.8125, -0.234375, -0.21875, -0.828125, 0.109375, -0.765625, 0.1875, 0.3125, -0.625,
            0.6875, -0.03125, -0.140625, 0.5, -0.859375, 0.5625,
        ],
        stored: &[
            -0.052257728,
            0.38820028,
            -0.11198085,
            -0.104515456,
            -0.39566568,
            0.052257728,
            -0.3658041,
            0.08958468,
            0.1493078,
            -0.2986156,
            0.32847714,
            -0.01493078,
            -0.06718851,
            0.23889248,
            -0.41059643,
            0.26875404,
        ],
        own: (&[1077, 1777, 1609, 1035, 1840], &[1.0000001, 0.5733042, 0.5603238, 0.5261853, 0.4771238]),
        own_exact: (
            &[1077, 1777, 1609, 1035, 1840],
            &[1.0000001, 0.5733042, 0.5603238, 0.5261853, 0.4771238],
        ),
        formula: (
            &[2043, 1273, 1931, 1000, 1126],
            &[0.5353707, 0.51105666, 0.49618685, 0.47842208, 0.46032855],
        ),
        formula_exact: (
            &[2043, 1273, 1931, 1000, 1126],
            &[0.5353707, 0.51105666, 0.49618685, 0.47842208, 0.46032855],
        ),
        filtered: (
            &[1273, 1000, 1126, 1546, 1147],
            &[0.51105666, 0.47842208, 0.46032855, 0.408913, 0.2979671],
        ),
    },
    Known {
        file: "v1/hnsw_rs.idx",
        bytes: 4082,
        version: 1,
        kind: 2,
        backend: "hnsw_rs",
        metric: Metric::L2,
        dim: 8,
        len: 99,
        deleted_count: 0,
        deleted: &[1028],
        input: &[-0.953125, 0.09375, -0.390625, -0.0625, -0.8125, 0.90625, -0.078125, 0.21875],
        stored: &[-0.953125, 0.09375, -0.390625, -0.0625, -0.8125, 0.90625, -0.078125, 0.21875],
        own: (&[1077, 1112, 1672, 1560, 1175], &[-0.0, -1.1991615, -1.2681302, -1.3763311, -1.5118349]),
        own_exact: (&[1077, 1112, 1672, 1560, 1175], &[-0.0, -1.1991615, -1.2681302, -1.3763311, -1.5118349]),
        formula: (
            &[1077, 1560, 1301, 1672, 1273],
            &[-0.8613613, -1.1304123, -1.2055576, -1.2235483, -1.3329874],
        ),
        formula_exact: (
            &[1077, 1560, 1301, 1672, 1273],
            &[-0.8613613, -1.1304123, -1.2055576, -1.2235483, -1.3329874],
        ),
        filtered: (
            &[1672, 1273, 1651, 1147, 1063],
            &[-1.2235483, -1.3329874, -1.4670036, -1.5805211, -1.5990262],
        ),
    },
];

/// Written by the engine at 38ed796, format 2. `hnsw-rotated` is the one
/// format-2 feature: 1,024 points of 65 dims, enough to fit a basis, stored after the graph.
const V2: &[Known] = &[
    Known {
        file: "v2/flat.idx",
        bytes: 1642,
        version: 2,
        kind: 0,
        backend: "flat",
        metric: Metric::Cosine,
        dim: 8,
        len: 39,
        deleted_count: 1,
        deleted: &[1021],
        input: &[-0.65625, 0.46875, 0.546875, -0.234375, -0.8125, 0.890625, 0.1875, -0.8125],
        stored: &[
            -0.36957458,
            0.26398185,
            0.3079788,
            -0.13199092,
            -0.45756853,
            0.5015655,
            0.105592735,
            -0.45756853,
        ],
        own: (&[1077, 1175, 1147, 1007, 1000], &[1.0, 0.5673496, 0.5636791, 0.55921096, 0.54417884]),
        own_exact: (&[1077, 1175, 1147, 1007, 1000], &[1.0, 0.5673496, 0.5636791, 0.55921096, 0.54417884]),
        formula: (
            &[1252, 1189, 1028, 1133, 1182],
            &[0.53484964, 0.50092554, 0.3941244, 0.3706618, 0.33494908],
        ),
        formula_exact: (
            &[1252, 1189, 1028, 1133, 1182],
            &[0.53484964, 0.50092554, 0.3941244, 0.3706618, 0.33494908],
        ),
        filtered: (
            &[1252, 1189, 1231, 1147, 1168],
            &[0.53484964, 0.50092554, 0.27423662, 0.22278167, 0.16431704],
        ),
    },
    Known {
        file: "v2/hnsw.idx",
        bytes: 23649,
        version: 2,
        kind: 1,
        backend: "hnsw",
        metric: Metric::L2,
        dim: 12,
        len: 198,
        deleted_count: 2,
        deleted: &[1035, 2050],
        input: &[
            0.84375, 0.296875, -0.3125, -0.5625, -0.828125, 0.046875, 0.078125, 0.640625, -0.421875, 0.53125,
            0.90625, 0.28125,
        ],
        stored: &[
            0.84375, 0.296875, -0.3125, -0.5625, -0.828125, 0.046875, 0.078125, 0.640625, -0.421875, 0.53125,
            0.90625, 0.28125,
        ],
        own: (&[1077, 2365, 1651, 1014, 1826], &[-0.0, -1.576345, -1.6094508, -1.654849, -1.6992502]),
        own_exact: (&[1077, 2365, 1651, 1014, 1826], &[-0.0, -1.576345, -1.6094508, -1.654849, -1.6992502]),
        formula: (
            &[1434, 1693, 1833, 1805, 2106],
            &[-1.1940608, -1.4920034, -1.648493, -1.6502693, -1.7457398],
        ),
        formula_exact: (
            &[1434, 1693, 1833, 1805, 2106],
            &[-1.1940608, -1.4920034, -1.648493, -1.6502693, -1.7457398],
        ),
        filtered: (
            &[1693, 1231, 1000, 1735, 1189],
            &[-1.4920034, -1.8790971, -1.937626, -2.019316, -2.0248096],
        ),
    },
    Known {
        file: "v2/hnsw-int8.idx",
        bytes: 22759,
        version: 2,
        kind: 1,
        backend: "hnsw",
        metric: Metric::Cosine,
        dim: 16,
        len: 149,
        deleted_count: 1,
        deleted: &[1063],
        input: &[
            -0.109375, 0.8125, -0.234375, -0.21875, -0.828125, 0.109375, -0.765625, 0.1875, 0.3125, -0.625,
            0.6875, -0.03125, -0.140625, 0.5, -0.859375, 0.5625,
        ],
        stored: &[
            -0.052257728,
            0.38820028,
            -0.11198085,
            -0.104515456,
            -0.39566568,
            0.052257728,
            -0.3658041,
            0.08958468,
            0.1493078,
            -0.2986156,
            0.32847714,
            -0.01493078,
            -0.06718851,
            0.23889248,
            -0.41059643,
            0.26875404,
        ],
        own: (&[1077, 1777, 1609, 1035, 1840], &[1.0000001, 0.5733042, 0.5603238, 0.5261853, 0.4771238]),
        own_exact: (
            &[1077, 1777, 1609, 1035, 1840],
            &[1.0000001, 0.5733042, 0.5603238, 0.5261853, 0.4771238],
        ),
        formula: (
            &[2043, 1273, 1931, 1000, 1126],
            &[0.5353707, 0.51105666, 0.49618685, 0.47842208, 0.46032855],
        ),
        formula_exact: (
            &[2043, 1273, 1931, 1000, 1126],
            &[0.5353707, 0.51105666, 0.49618685, 0.47842208, 0.46032855],
        ),
        filtered: (
            &[1273, 1000, 1126, 1546, 1147],
            &[0.51105666, 0.47842208, 0.46032855, 0.408913, 0.2979671],
        ),
    },
    Known {
        file: "v2/hnsw_rs.idx",
        bytes: 4082,
        version: 2,
        kind: 2,
        backend: "hnsw_rs",
        metric: Metric::L2,
        dim: 8,
        len: 99,
        deleted_count: 0,
        deleted: &[1028],
        input: &[-0.953125, 0.09375, -0.390625, -0.0625, -0.8125, 0.90625, -0.078125, 0.21875],
        stored: &[-0.953125, 0.09375, -0.390625, -0.0625, -0.8125, 0.90625, -0.078125, 0.21875],
        own: (&[1077, 1112, 1672, 1560, 1175], &[-0.0, -1.1991615, -1.2681302, -1.3763311, -1.5118349]),
        own_exact: (&[1077, 1112, 1672, 1560, 1175], &[-0.0, -1.1991615, -1.2681302, -1.3763311, -1.5118349]),
        formula: (
            &[1077, 1560, 1301, 1672, 1273],
            &[-0.8613613, -1.1304123, -1.2055576, -1.2235483, -1.3329874],
        ),
        formula_exact: (
            &[1077, 1560, 1301, 1672, 1273],
            &[-0.8613613, -1.1304123, -1.2055576, -1.2235483, -1.3329874],
        ),
        filtered: (
            &[1672, 1273, 1651, 1147, 1063],
            &[-1.2235483, -1.3329874, -1.4670036, -1.5805211, -1.5990262],
        ),
    },
    Known {
        file: "v2/hnsw-rotated.idx",
        bytes: 340657,
        version: 2,
        kind: 1,
        backend: "hnsw",
        metric: Metric::Cosine,
        dim: 65,
        len: 1023,
        deleted_count: 1,
        deleted: &[1119],
        input: &[
            0.453125, 0.140625, -0.4375, 0.921875, -0.625, -0.140625, 0.25, 0.25, 0.5625, 0.234375, 0.171875,
            -0.953125, -0.5, -0.953125, -0.96875, 0.46875, -0.703125, -0.9375, 0.953125, -0.53125, -0.40625,
            -0.390625, 0.296875, -1.0, 0.921875, -0.046875, 0.921875, 0.28125, 0.703125, -0.5625, -0.734375,
            -0.75, -0.4375, 0.171875, -0.953125, 0.171875, -0.78125, 0.78125, 0.734375, 0.296875, -0.671875,
            0.140625, 0.484375, 0.8125, -0.875, 0.71875, -0.3125, 0.75, -0.140625, -0.59375, -0.09375,
            -0.0625, -0.890625, 0.515625, 0.515625, -0.921875, 0.53125, 0.03125, -0.1875, 0.671875, 0.578125,
            0.375, 0.21875, -0.890625, -0.140625,
        ],
        stored: &[
            0.09235576,
            0.028662162,
            -0.08917108,
            0.18789619,
            -0.1273873,
            -0.028662127,
            0.050954916,
            0.050954886,
            0.11464851,
            0.04777016,
            0.03503148,
            -0.19426559,
            -0.10190983,
            -0.19426557,
            -0.19745024,
            0.09554041,
            -0.14331065,
            -0.19108091,
            0.19426553,
            -0.10827915,
            -0.08280171,
            -0.07961705,
            0.06050893,
            -0.20381957,
            0.18789628,
            -0.009554029,
            0.1878962,
            0.057324257,
            0.14331064,
            -0.11464853,
            -0.14968005,
            -0.15286471,
            -0.089171074,
            0.0350315,
            -0.19426551,
            0.035031483,
            -0.15923408,
            0.15923405,
            0.14968,
            0.060508944,
            -0.13694125,
            0.02866213,
            0.098725125,
            0.16560343,
            -0.17834218,
            0.14649533,
            -0.063693605,
            0.15286465,
            -0.028662136,
            -0.1210179,
            -0.019108096,
            -0.012738741,
            -0.18152682,
            0.10509453,
            0.10509449,
            -0.18789622,
            0.10827922,
            0.0063693393,
            -0.038216196,
            0.13694128,
            0.117833234,
            0.07643239,
            0.04458553,
            -0.18152682,
            -0.028662127,
        ],
        own: (&[1077, 2981, 4535, 3870, 1924], &[1.0000001, 0.38450545, 0.37478483, 0.35617432, 0.35209855]),
        own_exact: (
            &[1077, 2981, 4535, 3870, 1924],
            &[1.0000001, 0.38450545, 0.37478483, 0.35617435, 0.35209855],
        ),
        formula: (
            &[6572, 5879, 1616, 2484, 5305],
            &[0.3819685, 0.30749333, 0.3063134, 0.29287928, 0.27813047],
        ),
        formula_exact: (
            &[6572, 3156, 6446, 6243, 7503],
            &[0.3819685, 0.37156087, 0.34923953, 0.31765407, 0.30815625],
        ),
        filtered: (
            &[4465, 5977, 5305, 6082, 5053],
            &[0.3048355, 0.29292333, 0.27813047, 0.26920187, 0.2683527],
        ),
    },
];
