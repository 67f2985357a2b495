//! Service configuration, layered: compiled-in defaults → `config/*.toml` (sorted by name) →
//! the `--config` file → environment `VICINITY__SECTION__KEY` → command-line flags.
//! Every layer is merged as TOML and validated once at start-up; an error names the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub service: ServiceConfig,
    pub storage: StorageConfig,
    pub search: SearchConfig,
    pub embedding: EmbeddingConfig,
    pub cache: CacheConfig,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    pub host: String,
    /// 0 picks a free port (the `listening on` line names it).
    pub port: u16,
    /// Largest accepted request body.
    pub max_request_bytes: usize,
    /// `RUST_LOG`-style filter, e.g. `info,vicinity=debug`.
    pub log: String,
    /// When set, every route but the health probes needs this key (`api-key` header).
    pub api_key: Option<String>,
    /// When set, the admin routes (jobs, import, rebuild, snapshots) need this key.
    pub admin_api_key: Option<String>,
    /// Runtime worker threads for HTTP (0: half the cores, at least one). Searches run on
    /// their own threads (`search.max_concurrent`), so the HTTP side needs only a share of
    /// the cores, and fewer workers hand requests between each other less.
    pub http_workers: usize,
    /// Open client connections at most; beyond it new connections wait in the listen backlog
    /// until one closes.
    pub max_connections: usize,
    /// A request's headers must arrive within this long of the connection opening or of the
    /// previous answer (so an idle kept-alive connection closes after it too).
    pub header_timeout_ms: u64,
    /// A request's body must arrive whole within this long (408 otherwise). The streamed routes
    /// (import, snapshot upload) have `body_idle_timeout_ms` instead.
    pub body_timeout_ms: u64,
    /// The streamed routes fail when no body bytes arrive for this long.
    pub body_idle_timeout_ms: u64,
}

/// Cores this process may use: what the `0 = by core count` thread settings scale with.
fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

impl ServiceConfig {
    /// The runtime's worker count `http_workers` asks for.
    pub fn http_worker_threads(&self) -> usize {
        match self.http_workers {
            0 => (cores() / 2).max(1),
            n => n,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// A collection's index is saved at most this often while writes arrive (and at shutdown);
    /// a restart replays only the writes after the last save.
    pub index_save_interval_secs: u64,
    /// Rebuild a collection's index in the background once this fraction of it is deleted
    /// points (0 turns automatic vacuum off).
    pub vacuum_deleted_fraction: f64,
    /// The only directory file imports read from (paths are relative to it, or absolute inside
    /// it). Unset: `<data_dir>/import`.
    pub import_dir: Option<PathBuf>,
    /// The hosts (`name` or `name:port`) snapshots may be recovered from over `http://`.
    /// Unset: any host whose addresses are public (not loopback, private, link-local or
    /// unspecified); a listed host may be any address; empty: none.
    pub snapshot_hosts: Option<Vec<String>>,
    /// Largest snapshot file an upload or a download may write.
    pub max_snapshot_bytes: u64,
}

impl StorageConfig {
    /// The directory file imports are confined to.
    pub fn import_root(&self) -> PathBuf {
        self.import_dir.clone().unwrap_or_else(|| self.data_dir.join("import"))
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Largest `limit + offset` a query may ask for.
    pub max_limit: usize,
    /// Largest number of queries in one batch request.
    pub max_batch: usize,
    /// Searches running at once (0: two per core).
    pub max_concurrent: usize,
    /// Searches waiting beyond those; more are answered 503 with Retry-After.
    pub max_queued: usize,
    /// A search not answered within this is a 503; the search stops.
    pub timeout_ms: u64,
    /// Largest sum of `limit + offset` over the queries of one batch request: what its answer
    /// and working memory grow with.
    pub max_batch_results: usize,
}

impl SearchConfig {
    /// The search thread count `max_concurrent` asks for. Two per core by default: while one
    /// waits for its next query or is preempted by the HTTP side, the core still has a search
    /// to run.
    pub fn search_threads(&self) -> usize {
        match self.max_concurrent {
            0 => 2 * cores(),
            n => n,
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            host: "127.0.0.1".into(),
            port: 6333,
            max_request_bytes: 32 * 1024 * 1024,
            log: "info".into(),
            api_key: None,
            admin_api_key: None,
            http_workers: 0,
            max_connections: 512,
            header_timeout_ms: 30_000,
            body_timeout_ms: 60_000,
            body_idle_timeout_ms: 60_000,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: "./data".into(),
            index_save_interval_secs: 30,
            vacuum_deleted_fraction: 0.2,
            import_dir: None,
            snapshot_hosts: None,
            max_snapshot_bytes: 64 << 30,
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            max_limit: 10_000,
            max_batch: 1_000,
            max_concurrent: 0,
            max_queued: 1024,
            timeout_ms: 30_000,
            max_batch_results: 100_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("environment variable {name}: {reason}")]
    Env { name: String, reason: String },
    #[error("config key `{key}`: {reason}")]
    Key { key: String, reason: String },
}

/// Values given on the command line; `None` leaves the lower layers alone.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub data_dir: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
}

const ENV_PREFIX: &str = "VICINITY__";

impl Config {
    /// Loads every layer from `config_dir`, the process environment and `flags`.
    pub fn load(config_dir: &Path, flags: &Overrides) -> Result<Config, ConfigError> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(config_dir) {
            Ok(dir) => dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files.extend(flags.config_file.iter().cloned());
        Self::from_layers(&files, std::env::vars(), flags)
    }

    /// The layering itself, with the environment passed in (tests use their own).
    pub fn from_layers(
        files: &[PathBuf],
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut merged = toml::Table::new();
        for path in files {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::File { path: path.clone(), reason: e.to_string() })?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            merge(&mut merged, table);
        }
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            if path.len() != 2 || path.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Env {
                    name,
                    reason: "expected VICINITY__SECTION__KEY, e.g. VICINITY__SERVICE__PORT".into(),
                });
            }
            let mut section = toml::Table::new();
            section.insert(path[1].clone(), env_value(&raw));
            let mut layer = toml::Table::new();
            layer.insert(path[0].clone(), toml::Value::Table(section));
            merge(&mut merged, layer);
        }
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(merged))
            .map_err(|e| ConfigError::Key { key: e.path().to_string(), reason: e.inner().to_string() })?;
        if let Some(host) = &flags.host {
            config.service.host = host.clone();
        }
        if let Some(port) = flags.port {
            config.service.port = port;
        }
        if let Some(dir) = &flags.data_dir {
            config.storage.data_dir = dir.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: &str| Err(ConfigError::Key { key: key.into(), reason: reason.into() });
        if self.service.host.trim().is_empty() {
            return bad("service.host", "must not be empty");
        }
        if self.service.max_request_bytes < 1024 {
            return bad("service.max_request_bytes", "must be at least 1024");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.service.log).is_err() {
            return bad("service.log", "not a valid log filter (e.g. `info` or `info,vicinity=debug`)");
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return bad("storage.data_dir", "must not be empty");
        }
        if self.storage.index_save_interval_secs == 0 {
            return bad("storage.index_save_interval_secs", "must be at least 1");
        }
        if !(0.0..1.0).contains(&self.storage.vacuum_deleted_fraction) {
            return bad("storage.vacuum_deleted_fraction", "must be at least 0 and below 1");
        }
        for (key, value) in [
            ("service.api_key", &self.service.api_key),
            ("service.admin_api_key", &self.service.admin_api_key),
        ] {
            if value.as_deref().is_some_and(|k| k.trim().is_empty()) {
                return bad(key, "must not be empty when set");
            }
        }
        if self.search.max_limit == 0 {
            return bad("search.max_limit", "must be at least 1");
        }
        let e = &self.embedding;
        if e.sessions > 64 || e.bulk_sessions > 64 {
            return bad("embedding.sessions", "must be in 0..=64 (0: one per core), as must bulk_sessions");
        }
        if e.intra_threads == 0 || e.intra_threads > 256 {
            return bad("embedding.intra_threads", "must be in 1..=256");
        }
        if e.max_batch == 0 || e.max_batch > 1024 {
            return bad("embedding.max_batch", "must be in 1..=1024");
        }
        if e.max_texts == 0 {
            return bad("embedding.max_texts", "must be at least 1");
        }
        if e.max_queued < e.max_batch {
            return bad("embedding.max_queued", "must be at least embedding.max_batch");
        }
        if self.search.timeout_ms == 0 {
            return bad("search.timeout_ms", "must be at least 1");
        }
        if self.search.max_batch == 0 {
            return bad("search.max_batch", "must be at least 1");
        }
        if self.search.max_batch_results < self.search.max_limit {
            return bad("search.max_batch_results", "must be at least search.max_limit");
        }
        if e.max_text_bytes == 0 {
            return bad("embedding.max_text_bytes", "must be at least 1");
        }
        let sv = &self.service;
        for (key, value) in [
            ("service.max_connections", sv.max_connections as u64),
            ("service.header_timeout_ms", sv.header_timeout_ms),
            ("service.body_timeout_ms", sv.body_timeout_ms),
            ("service.body_idle_timeout_ms", sv.body_idle_timeout_ms),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        Ok(())
    }
}

/// An environment value as TOML when it parses as a scalar (`6333`, `true`, `1.5`) or a list
/// (`["a", "b"]`), else a string.
fn env_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (toml::Value::Integer(_)
                | toml::Value::Float(_)
                | toml::Value::Boolean(_)
                | toml::Value::Array(_)),
            ) => v,
            _ => toml::Value::String(raw.to_string()),
        },
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_list_comes_from_the_environment() {
        let env = env(&[("VICINITY__STORAGE__SNAPSHOT_HOSTS", r#"["a.internal", "10.0.0.5:8080"]"#)]);
        let c = Config::from_layers(&[], env, &Overrides::default()).unwrap();
        assert_eq!(
            c.storage.snapshot_hosts,
            Some(vec!["a.internal".to_string(), "10.0.0.5:8080".to_string()])
        );
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "[service]\nport = 7000\nhost = \"0.0.0.0\"\n[search]\nmax_limit = 50\n")
            .unwrap();
        let flags = Overrides { port: Some(9000), ..Overrides::default() };
        let env = env(&[("VICINITY__SERVICE__HOST", "10.0.0.1"), ("VICINITY__SEARCH__MAX_LIMIT", "70")]);
        let c = Config::from_layers(&[file], env, &flags).unwrap();
        assert_eq!(c.service.port, 9000);
        assert_eq!(c.service.host, "10.0.0.1");
        assert_eq!(c.search.max_limit, 70);
        assert_eq!(c.storage, StorageConfig::default());
    }

    #[test]
    fn unknown_or_mistyped_keys_are_named() {
        let err = Config::from_layers(&[], env(&[("VICINITY__SERVICE__PROT", "1")]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
        let err =
            Config::from_layers(&[], env(&[("VICINITY__SERVICE__PORT", "many")]), &Overrides::default())
                .unwrap_err()
                .to_string();
        assert!(err.contains("service.port"), "{err}");
        let err =
            Config::from_layers(&[], env(&[("VICINITY__SEARCH__MAX_LIMIT", "0")]), &Overrides::default())
                .unwrap_err()
                .to_string();
        assert!(err.contains("search.max_limit"), "{err}");
    }

    #[test]
    fn shipped_default_file_matches_compiled_defaults() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let c = Config::from_layers(&[file], Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(c, Config::default());
    }
}

/// `[cache]`: the query-result cache (`src/api/result_cache.rs`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    pub enabled: bool,
    /// Capacity in bytes (keys + JSON answers).
    pub capacity_bytes: u64,
    /// Entries older than this are dropped even if the collection did not change.
    pub ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { enabled: true, capacity_bytes: 256 * 1024 * 1024, ttl_secs: 600 }
    }
}

/// `[embedding]`: server-side text embedding (`src/embedding`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Load models at start-up. Without them, text requests answer 400.
    pub enabled: bool,
    pub models_dir: std::path::PathBuf,
    /// ONNX Runtime shared library (loaded once per process).
    pub ort_library: std::path::PathBuf,
    /// The model a request without `model` uses.
    pub default_model: String,
    /// Sessions per model for interactive requests, each with its own worker thread (0: one
    /// per core).
    pub sessions: usize,
    /// ONNX Runtime intra-op threads per session.
    pub intra_threads: usize,
    /// One more session with all `sessions × intra_threads` threads, run alone when the others
    /// are idle and few texts wait.
    pub lone_session: bool,
    /// Sessions for import jobs and large requests, at a lower OS priority (0: as `sessions`).
    pub bulk_sessions: usize,
    /// ONNX Runtime's graph optimisation level for every session.
    pub graph_optimization: GraphOptimization,
    /// Most texts one worker takes into a batch.
    pub max_batch: usize,
    /// Texts waiting or running per lane, a text counting once per 32 tokens; an HTTP request
    /// beyond it is answered 503.
    pub max_queued: usize,
    /// Embedding cache capacity in bytes (0 disables it).
    pub cache_bytes: u64,
    /// Texts longer than this (in bytes) are not cached.
    pub cache_max_text_bytes: usize,
    /// Most texts in one request.
    pub max_texts: usize,
    /// Longest text accepted, in bytes (the model reads only its first `max_tokens` tokens;
    /// the tokenizer still reads all of it).
    pub max_text_bytes: usize,
}

/// ONNX Runtime's graph optimisation levels: `basic` folds constants and drops redundant nodes;
/// `extended` also fuses operators into ONNX Runtime's own (attention, GELU, layer norm); `all`
/// also changes memory layouts.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GraphOptimization {
    None,
    Basic,
    Extended,
    All,
}

impl std::str::FromStr for GraphOptimization {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(GraphOptimization::None),
            "basic" => Ok(GraphOptimization::Basic),
            "extended" => Ok(GraphOptimization::Extended),
            "all" => Ok(GraphOptimization::All),
            _ => Err(format!("`{s}`: expected none, basic, extended or all")),
        }
    }
}

impl EmbeddingConfig {
    /// (interactive, bulk) sessions per model, 0 read as one per core.
    pub fn session_counts(&self) -> (usize, usize) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let or_cores = |n: usize| if n == 0 { cores } else { n };
        (or_cores(self.sessions), or_cores(self.bulk_sessions))
    }
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            enabled: true,
            models_dir: "/var/cache/vicinity/models".into(),
            ort_library: "/var/cache/vicinity/models/onnxruntime/libonnxruntime.so".into(),
            default_model: "all-minilm-l6-v2".into(),
            sessions: 0,
            intra_threads: 1,
            lone_session: true,
            bulk_sessions: 0,
            graph_optimization: GraphOptimization::Basic,
            max_batch: 32,
            max_queued: 1024,
            cache_bytes: 64 * 1024 * 1024,
            cache_max_text_bytes: 2048,
            max_texts: 10_000,
            max_text_bytes: 65_536,
        }
    }
}
