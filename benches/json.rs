//! Is JSON the bottleneck of a query? The per-request JSON work of `points/query` next to the
//! search it wraps, in one run: parsing a 384-d query body (typed straight from the bytes, as the
//! route does), writing the parsed request's canonical text (the result cache's key), encoding a
//! 10-hit answer with small payloads (straight to text, as the route does), and one HNSW search
//! (ef=64) over 20k × 384 clustered vectors.

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use vicinity::api::models::{Hits, QueryRequest, QueryValue};
use vicinity::collection::{ExtId, Hit};
use vicinity::index::{Backend, HnswParams, SearchParams, VectorIndex};

// The engine's bench fixture (the same vectors and cached indexes as its `hnsw_search` bench).
#[path = "../index/benches/fixture/mod.rs"]
mod fixture;

const DIM: usize = 384;

fn query_body(v: &[f32]) -> Vec<u8> {
    serde_json::to_vec(&json!({"query": v, "limit": 10, "params": {"hnsw_ef": 64}, "with_payload": true}))
        .expect("json")
}

fn parse(body: &[u8]) -> Vec<f32> {
    match serde_json::from_slice::<QueryRequest>(body).expect("json").query {
        Some(QueryValue::Vector(v)) => v,
        _ => panic!("the body holds a vector"),
    }
}

#[derive(serde::Serialize)]
struct Points<'a> {
    points: Hits<'a>,
}

fn json_vs_search(c: &mut Criterion) {
    let data = fixture::clustered(20_000, DIM, 7);
    let queries = fixture::clustered(100, DIM, 8);
    let index = fixture::cached_index(Backend::Hnsw, &HnswParams::default(), DIM, &data);
    let bodies: Vec<Vec<u8>> = queries.chunks_exact(DIM).map(query_body).collect();
    let params = SearchParams { ef: Some(64), ..Default::default() };
    let found = index.search(&queries[..DIM], 10, &params, None).expect("search");
    let hits: Vec<Hit> = found
        .iter()
        .map(|p| Hit {
            id: ExtId::Num(p.id),
            version: 7,
            score: p.score,
            payload: json!({"title": "a definition of some length", "group": 17}).as_object().cloned(),
            vector: None,
            order_value: None,
        })
        .collect();

    let mut group = c.benchmark_group("query_json");
    group.bench_function("parse_384d_body", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % bodies.len();
            parse(&bodies[i]).len()
        })
    });
    group.bench_function("cache_key_384d_body", |b| {
        let requests: Vec<QueryRequest> =
            bodies.iter().map(|body| serde_json::from_slice(body).expect("json")).collect();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % requests.len();
            serde_json::to_string(&requests[i]).expect("json").len()
        })
    });
    group.bench_function("encode_10_hits", |b| {
        b.iter(|| {
            let result = serde_json::to_string(&Points { points: Hits(&hits) }).expect("json");
            format!(r#"{{"result":{result},"status":"ok","time":{}}}"#, 0.001).len()
        })
    });
    group.bench_function("hnsw_search_384d_ef64", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % 100;
            index.search(&queries[i * DIM..(i + 1) * DIM], 10, &params, None).map(|r| r.len())
        })
    });
    group.finish();
}

criterion_group!(benches, json_vs_search);
criterion_main!(benches);
