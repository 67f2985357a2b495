//! Server-side text embedding: sentence-embedding ONNX models run through ONNX Runtime (`ort`,
//! loaded at run time from `embedding.ort_library`), batched continuously on dedicated threads,
//! with a byte-bounded cache of recent texts.
//!
//! - `model.rs`: tokenizer, sessions and pooling (one model).
//! - `batcher.rs`: a lane of worker threads, one session each, batching what is queued.
//! - `runs.rs`: how texts of mixed lengths split into model runs.
//!
//! Each model has two lanes. Requests of at most `max_batch` texts (queries, small upserts,
//! `/embed`) use the interactive lane; import jobs and larger requests use the bulk lane, whose
//! workers run at a lower OS priority, so that bulk work takes the cores only when interactive
//! work leaves them. A full lane refuses HTTP requests with 503; jobs wait for room.
//!
//! Models live in `embedding.models_dir/<name>/{model.toml, model.onnx, tokenizer.json}`;
//! `scripts/setup-embedding.sh` installs the default, all-MiniLM-L6-v2.

mod batcher;
pub mod bm25;
pub mod model;
mod runs;

pub use crate::config::{EmbeddingConfig, GraphOptimization};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use batcher::{Admission, CountTokens, Lane, LaneConfig, Runner};
pub use model::{Embedding, ModelSpec, OnnxModel};

struct Loaded {
    model: Arc<OnnxModel>,
    interactive: Lane,
    bulk: Lane,
}

/// A worker's session of a model.
struct OrtRunner {
    model: Arc<OnnxModel>,
    session: ort::session::Session,
}

impl Runner for OrtRunner {
    fn run(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        self.model.embed(&mut self.session, texts)
    }
}

/// Which lane a request's texts take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Priority {
    /// HTTP requests: the interactive lane when they carry at most `max_batch` texts to embed,
    /// else the bulk lane; refused with 503 when the lane is full.
    Request,
    /// Import jobs: the bulk lane, waiting for room.
    Job,
}

/// Cache and batch counters for `/metrics`.
#[derive(Default)]
pub struct EmbedStats {
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

pub struct Embedder {
    models: BTreeMap<String, Loaded>,
    default_model: String,
    cache: Option<moka::sync::Cache<(String, String), Arc<Embedding>>>,
    cache_max_text_bytes: usize,
    pub max_texts: usize,
    pub max_text_bytes: usize,
    max_batch: usize,
    pub stats: EmbedStats,
}

/// The bulk lane's workers' nice value: the lowest, so that interactive work on the same cores
/// gets ~98% of them; bulk work runs at full speed on cores nobody else wants.
const BULK_NICE: i32 = 19;

/// ONNX Runtime can be loaded once per process.
static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();

pub fn environment(library: &Path) -> Result<&'static ort::environment::Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            let builder = ort::init_from(library)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", library.display()))?;
            builder.with_name("vicinity").build().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Internal(e.clone()))
}

/// Whitespace-normalised text: the cache key, and what is embedded.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Embedder {
    /// Loads every model under `models_dir`.
    pub fn load(config: &EmbeddingConfig) -> Result<Embedder> {
        let env = environment(&config.ort_library)?;
        let mut models = BTreeMap::new();
        let dirs = std::fs::read_dir(&config.models_dir)
            .map_err(|e| Error::Internal(format!("models dir {}: {e}", config.models_dir.display())))?;
        for dir in dirs.filter_map(|d| d.ok().map(|d| d.path())) {
            if !dir.join("model.toml").exists() {
                continue;
            }
            let model = Arc::new(OnnxModel::load(env, &dir, config.graph_optimization)?);
            let make: batcher::MakeRunner = {
                let model = model.clone();
                Arc::new(move |threads| {
                    let session = model.session(threads)?;
                    Ok(Box::new(OrtRunner { model: model.clone(), session }) as Box<dyn Runner>)
                })
            };
            let (sessions, bulk_sessions) = config.session_counts();
            let lane = |name, workers, lone, capacity, nice, eager| LaneConfig {
                name,
                workers,
                threads: config.intra_threads,
                lone,
                max_batch: config.max_batch,
                capacity,
                nice,
                eager,
            };
            let name = &model.spec.name;
            // Interactive requests are few texts each: they are tokenized to be grouped; bulk
            // work (thousands of texts a call) is grouped by an estimate.
            let (exact, estimate): (CountTokens, CountTokens) = {
                let (a, b) = (model.clone(), model.clone());
                (Arc::new(move |t: &str| a.count_tokens(t)), Arc::new(move |t: &str| b.estimate_tokens(t)))
            };
            let interactive = Lane::start(
                name,
                lane("interactive", sessions, config.lone_session, config.max_queued, 0, true),
                make.clone(),
                exact,
            );
            let bulk_capacity = config.max_queued.max(config.max_texts);
            let bulk = Lane::start(
                name,
                lane("bulk", bulk_sessions, false, bulk_capacity, BULK_NICE, false),
                make,
                estimate,
            );
            tracing::info!(
                "embedding model {name} loaded from {} (dim {}; {sessions} session(s) × {} thread(s){})",
                dir.display(),
                model.spec.dim,
                config.intra_threads,
                if config.lone_session && sessions > 1 { " and a lone session of all of them" } else { "" }
            );
            models.insert(model.spec.name.clone(), Loaded { model, interactive, bulk });
        }
        if !models.contains_key(&config.default_model) {
            return Err(Error::Internal(format!(
                "default embedding model `{}` not found under {}",
                config.default_model,
                config.models_dir.display()
            )));
        }
        let cache = (config.cache_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.cache_bytes)
                .weigher(|k: &(String, String), v: &Arc<Embedding>| {
                    (k.0.len() + k.1.len() + v.vector.len() * 4 + 64).try_into().unwrap_or(u32::MAX)
                })
                .build()
        });
        Ok(Embedder {
            models,
            default_model: config.default_model.clone(),
            cache,
            cache_max_text_bytes: config.cache_max_text_bytes,
            max_texts: config.max_texts,
            max_text_bytes: config.max_text_bytes,
            max_batch: config.max_batch,
            stats: EmbedStats::default(),
        })
    }

    pub fn model_names(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }

    /// The spec of `name` (or of the default model).
    pub fn spec(&self, name: Option<&str>) -> Result<&ModelSpec> {
        Ok(&self.resolve(name)?.1.model.spec)
    }

    fn resolve(&self, name: Option<&str>) -> Result<(&str, &Loaded)> {
        let name = name.unwrap_or(&self.default_model);
        self.models.get_key_value(name).map(|(k, v)| (k.as_str(), v)).ok_or_else(|| {
            Error::bad(format!(
                "unknown embedding model `{name}` (available: {})",
                self.model_names().join(", ")
            ))
        })
    }

    /// Embeds texts with `model` (default if `None`) in the lane `priority` picks. Empty texts
    /// are refused.
    pub async fn embed(
        &self,
        model: Option<&str>,
        texts: &[String],
        priority: Priority,
    ) -> Result<(String, Vec<Embedding>)> {
        let (name, loaded) = self.resolve(model)?;
        if texts.len() > self.max_texts {
            return Err(Error::bad(format!(
                "at most {} texts per request, got {}",
                self.max_texts,
                texts.len()
            )));
        }
        if let Some((i, t)) = texts.iter().enumerate().find(|(_, t)| t.len() > self.max_text_bytes) {
            return Err(Error::bad(format!(
                "text {i} is {} bytes; the limit is {} (embedding.max_text_bytes)",
                t.len(),
                self.max_text_bytes
            )));
        }
        let texts: Vec<String> = texts.iter().map(|t| normalise(t)).collect();
        if let Some(i) = texts.iter().position(String::is_empty) {
            return Err(Error::bad(format!("text {i} is empty")));
        }
        let mut out: Vec<Option<Embedding>> = vec![None; texts.len()];
        let mut missing: Vec<usize> = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let cached =
                self.cacheable(t).then(|| self.cache.as_ref()?.get(&(name.to_string(), t.clone()))).flatten();
            match cached {
                Some(e) => {
                    self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                    out[i] = Some((*e).clone());
                }
                None => {
                    self.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
                    missing.push(i);
                }
            }
        }
        if !missing.is_empty() {
            // Neighbours in a batch pad little when a request's texts queue by length.
            missing.sort_by_key(|&i| texts[i].len());
            let (lane, admission) = match priority {
                Priority::Request if missing.len() <= self.max_batch => {
                    (&loaded.interactive, Admission::Refuse)
                }
                Priority::Request => (&loaded.bulk, Admission::Refuse),
                Priority::Job => (&loaded.bulk, Admission::Wait),
            };
            let units =
                missing.iter().map(|&i| runs::queue_units(loaded.model.estimate_tokens(&texts[i]))).sum();
            let _room = lane.admit(units, admission).await?;
            let fresh = lane.embed(missing.iter().map(|&i| texts[i].clone()).collect()).await?;
            for (&i, e) in missing.iter().zip(fresh) {
                if let Some(cache) = self.cache.as_ref().filter(|_| self.cacheable(&texts[i])) {
                    cache.insert((name.to_string(), texts[i].clone()), Arc::new(e.clone()));
                }
                out[i] = Some(e);
            }
        }
        Ok((name.to_string(), out.into_iter().flatten().collect()))
    }

    fn cacheable(&self, text: &str) -> bool {
        text.len() <= self.cache_max_text_bytes
    }

    /// (model, lane, batches run, texts embedded) per model and lane.
    pub fn batch_stats(&self) -> Vec<(String, &'static str, u64, u64)> {
        let mut out = Vec::new();
        for (n, l) in &self.models {
            for (lane, s) in [("interactive", l.interactive.stats()), ("bulk", l.bulk.stats())] {
                out.push((
                    n.clone(),
                    lane,
                    s.batches.load(Ordering::Relaxed),
                    s.texts.load(Ordering::Relaxed),
                ));
            }
        }
        out
    }
}
