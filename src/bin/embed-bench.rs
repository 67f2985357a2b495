//! `embed-bench`: bulk embedding throughput of one model, for `benches/compare_embed.py`.
//!
//! embed-bench --model-dir DIR --ort-lib PATH --texts FILE [--batch 32] [--threads 1] [--repeat 1]
//!             [--unsorted] [--optimization basic]
//!
//! Texts (one per line) are tokenized, sorted by length and embedded in batches on one session
//! with `--threads` intra-op threads, as the Python reference does. Prints one JSON line.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use vicinity::embedding::{self, OnnxModel};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    model_dir: PathBuf,
    #[arg(long)]
    ort_lib: PathBuf,
    #[arg(long)]
    texts: PathBuf,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Batches in file order instead of sorted by length: what batches of concurrent requests
    /// look like (the model still groups each batch's texts by length).
    #[arg(long)]
    unsorted: bool,
    /// ONNX Runtime's graph optimisation: none, basic (the server's default), extended or all.
    #[arg(long, default_value = "basic")]
    optimization: embedding::GraphOptimization,
    /// Timed passes (the best counts); 1 like the Python reference's default.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

fn main() -> Result<(), String> {
    let a = Args::parse();
    let text = std::fs::read_to_string(&a.texts).map_err(|e| format!("{}: {e}", a.texts.display()))?;
    let texts: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let env = embedding::environment(&a.ort_lib).map_err(|e| e.to_string())?;
    let model = OnnxModel::load(env, &a.model_dir, a.optimization).map_err(|e| e.to_string())?;
    let mut session = model.session(a.threads).map_err(|e| e.to_string())?;
    let mut run = |texts: &[&str]| -> Result<usize, String> {
        let order = match a.unsorted {
            true => (0..texts.len()).collect(),
            false => model.length_order(texts).map_err(|e| e.to_string())?,
        };
        let mut done = 0;
        for chunk in order.chunks(a.batch.max(1)) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            done += model.embed(&mut session, &batch).map_err(|e| e.to_string())?.len();
        }
        Ok(done)
    };
    run(&texts[..texts.len().min(64)])?;
    let mut best = f64::INFINITY;
    for _ in 0..a.repeat.max(1) {
        let started = Instant::now();
        let n = run(&texts)?;
        assert_eq!(n, texts.len());
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "{{\"sentences_per_s\": {:.2}, \"batch\": {}, \"threads\": {}, \"n\": {}, \"seconds\": {:.3}}}",
        texts.len() as f64 / best,
        a.batch,
        a.threads,
        texts.len(),
        best
    );
    Ok(())
}
