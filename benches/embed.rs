//! Embedding throughput of the default model (installed by `make setup`): 32 sentences as one
//! batch vs one at a time, on one session with one intra-op thread. Reports time per batch;
//! sentences/s = 32 / time. `benches/compare_embed.py` runs the side-by-side with Python.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vicinity::embedding::{environment, EmbeddingConfig, OnnxModel};

fn sentences() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/embedding/reference.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    v["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .filter(|s| s["tokens"].as_u64().unwrap_or(0) < 64)
        .map(|s| s["text"].as_str().unwrap_or_default().to_string())
        .cycle()
        .take(32)
        .collect()
}

fn bench(c: &mut Criterion) {
    // Where `make setup` installed them when not at the compiled-in default (the Makefile
    // passes the service's variables).
    let mut config = EmbeddingConfig::default();
    if let Some(dir) = std::env::var_os("VICINITY__EMBEDDING__MODELS_DIR") {
        config.models_dir = dir.into();
    }
    if let Some(lib) = std::env::var_os("VICINITY__EMBEDDING__ORT_LIBRARY") {
        config.ort_library = lib.into();
    }
    let env = environment(&config.ort_library).expect("ONNX Runtime (run `make setup`)");
    let dir: PathBuf = config.models_dir.join(&config.default_model);
    let model = OnnxModel::load(env, &dir, config.graph_optimization).expect("model");
    let mut session = model.session(1).expect("session");
    let texts = sentences();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut g = c.benchmark_group("embed_32_sentences");
    g.throughput(Throughput::Elements(refs.len() as u64));
    g.sample_size(10);
    g.bench_function("batch_32", |b| b.iter(|| model.embed(&mut session, &refs).expect("embed")));
    g.bench_function("batch_1", |b| {
        b.iter(|| {
            for t in &refs {
                std::hint::black_box(model.embed(&mut session, &[t]).expect("embed"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
