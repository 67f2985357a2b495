//! Distance kernels: f32 (dot, L2) and i8, at the dimensions vicinity serves.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use vicinity_index::Metric;

#[allow(dead_code)] // each bench binary uses part of the shared fixture
mod fixture;

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("distance");
    for dim in [128usize, 384, 768] {
        let data = fixture::clustered(2, dim, 1);
        let (a, b) = data.split_at(dim);
        let (qa, qb): (Vec<i8>, Vec<i8>) =
            a.iter().zip(b).map(|(x, y)| ((x * 127.0) as i8, (y * 127.0) as i8)).unzip();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("f32_dot/{dim}"), |bench| {
            bench.iter(|| Metric::Dot.score(black_box(a), black_box(b)))
        });
        group.bench_function(format!("f32_l2/{dim}"), |bench| {
            bench.iter(|| Metric::L2.score(black_box(a), black_box(b)))
        });
        group.bench_function(format!("i8_dot/{dim}"), |bench| {
            bench.iter(|| Metric::Dot.score_i8(black_box(&qa), black_box(&qb)))
        });
    }
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
