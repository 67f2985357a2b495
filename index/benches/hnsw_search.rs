//! Search hot paths: exact scan, HNSW and HNSW-int8 on 20k × 128 clustered vectors, one query
//! at a time. Each HNSW setting prints its recall@10 against the exact scan first: a speed
//! means nothing without it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vicinity_index::{Backend, HnswParams, Quantization, SearchParams, VectorIndex};

mod fixture;

const N: usize = 20_000;
const DIM: usize = 128;
const K: usize = 10;

fn search(c: &mut Criterion) {
    let data = fixture::clustered(N, DIM, 7);
    let queries = fixture::clustered(200, DIM, 8);
    let queries: Vec<&[f32]> = queries.chunks_exact(DIM).collect();
    let flat = fixture::cached_index(Backend::Flat, &HnswParams::default(), DIM, &data);
    let truth = flat.search_batch(&queries, K, &SearchParams::default(), None).unwrap();

    let mut group = c.benchmark_group("search");
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.sample_size(10);
    group.bench_function("flat", |b| {
        b.iter(|| {
            queries
                .iter()
                .map(|q| flat.search(q, K, &SearchParams::default(), None).unwrap().len())
                .sum::<usize>()
        })
    });
    let int8 =
        HnswParams { quantization: Some(Quantization::Int8 { oversampling: 2.0 }), ..HnswParams::default() };
    for (name, params) in [("hnsw", HnswParams::default()), ("hnsw_int8", int8)] {
        let index = fixture::cached_index(Backend::Hnsw, &params, DIM, &data);
        for ef in [32usize, 64, 128] {
            let p = SearchParams { ef: Some(ef), ..Default::default() };
            let got = index.search_batch(&queries, K, &p, None).unwrap();
            let hits: usize = got
                .iter()
                .zip(&truth)
                .map(|(g, t)| g.iter().filter(|h| t.iter().any(|x| x.id == h.id)).count())
                .sum();
            println!("{name} ef={ef}: recall@{K} = {:.4}", hits as f64 / (K * queries.len()) as f64);
            group.bench_function(format!("{name}/ef{ef}"), |b| {
                b.iter(|| queries.iter().map(|q| index.search(q, K, &p, None).unwrap().len()).sum::<usize>())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
