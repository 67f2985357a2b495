//! Shared helpers: an in-process server over a temporary data directory, request helpers that
//! check the response envelope, deterministic data and brute-force scoring.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt;
use vicinity::api::{router, AppState};
use vicinity::catalog::Catalog;
use vicinity::config::Config;

/// A file of this repository. The directory comes from the environment `cargo test` runs the
/// binary in, so a test binary built from another checkout sharing the target dir still reads
/// this checkout's files.
pub fn repo_file(rel: &str) -> std::path::PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    Path::new(&dir).join(rel)
}

/// Set (to anything but `0`) by `make test`: a missing model fails the embedding tests
/// instead of skipping them.
const REQUIRE_MODEL: &str = "VICINITY_TEST_REQUIRE_MODEL";

/// Where the embedding tests look for ONNX Runtime and the default model, as the service would
/// be told: `VICINITY__EMBEDDING__MODELS_DIR` / `VICINITY__EMBEDDING__ORT_LIBRARY`, else
/// `$VICINITY_MODELS` (what scripts/setup-embedding.sh installs into), else the compiled-in
/// default (/var/cache/vicinity/models) or, when that is missing, the user's cache
/// (`${XDG_CACHE_HOME:-~/.cache}/vicinity/models`, where `make setup` installs as non-root).
fn embedding_config() -> vicinity::embedding::EmbeddingConfig {
    use std::path::PathBuf;
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut config = vicinity::embedding::EmbeddingConfig::default();
    let models = var("VICINITY_MODELS").or_else(|| {
        let user =
            var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))?.join("vicinity/models");
        (!config.models_dir.exists() && user.exists()).then_some(user)
    });
    if let Some(models) = models {
        config.ort_library = models.join("onnxruntime/libonnxruntime.so");
        config.models_dir = models;
    }
    if let Some(dir) = var("VICINITY__EMBEDDING__MODELS_DIR") {
        config.models_dir = dir;
    }
    if let Some(lib) = var("VICINITY__EMBEDDING__ORT_LIBRARY") {
        config.ort_library = lib;
    }
    config
}

enum Loaded {
    Ready(Arc<vicinity::embedding::Embedder>),
    /// Set-up not done: the files that are missing, and what to run.
    Missing(String),
    /// The files are there but do not load: always a failure.
    Broken(String),
}

/// The default model, loaded once per test binary (ONNX Runtime loads once per process), or
/// `None` when `make setup` has not installed it: then the test says so on stderr (past
/// cargo's output capture) and returns early, unless `VICINITY_TEST_REQUIRE_MODEL` is set
/// (`make test` sets it), which makes the missing files a failure naming them.
pub fn embedder() -> Option<Arc<vicinity::embedding::Embedder>> {
    static EMBEDDER: std::sync::OnceLock<Loaded> = std::sync::OnceLock::new();
    let loaded = EMBEDDER.get_or_init(|| {
        let config = embedding_config();
        let model = config.models_dir.join(&config.default_model);
        let missing: Vec<String> = [
            config.ort_library.clone(),
            model.join("model.toml"),
            model.join("model.onnx"),
            model.join("tokenizer.json"),
        ]
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
        if !missing.is_empty() {
            return Loaded::Missing(format!(
                "the embedding tests need ONNX Runtime and the default model, which `make setup` installs \
                 (scripts/setup-embedding.sh; VICINITY_MODELS or VICINITY__EMBEDDING__MODELS_DIR / \
                 VICINITY__EMBEDDING__ORT_LIBRARY point elsewhere); missing: {}",
                missing.join(", ")
            ));
        }
        match vicinity::embedding::Embedder::load(&config) {
            Ok(e) => Loaded::Ready(Arc::new(e)),
            Err(e) => Loaded::Broken(format!(
                "{e}: the default model in {} does not load; run `make setup` to verify and reinstall it",
                config.models_dir.display()
            )),
        }
    });
    match loaded {
        Loaded::Ready(e) => Some(e.clone()),
        Loaded::Broken(why) => panic!("{why}"),
        Loaded::Missing(why) => {
            if std::env::var(REQUIRE_MODEL).is_ok_and(|v| v != "0") {
                panic!("{why} ({REQUIRE_MODEL} is set, so this is a failure)");
            }
            use std::io::Write;
            let test = std::thread::current().name().unwrap_or("an embedding test").to_string();
            // Straight to stderr: cargo's capture only holds what print! / eprint! write.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {why}. Run `make setup`, or `make test` (which fails instead of skipping)."
            );
            None
        }
    }
}

/// A router over its own catalog. `dir` is kept alive for as long as the server.
pub struct Server {
    pub app: Router,
    pub catalog: Arc<Catalog>,
    pub dir: Option<TempDir>,
}

impl Server {
    pub fn new() -> Server {
        Server::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Server::open_with(dir.path(), config);
        s.dir = Some(dir);
        s
    }

    /// A server over an existing data directory (the caller owns it).
    pub fn open(dir: &Path) -> Server {
        Server::open_with(dir, Config::default())
    }

    pub fn open_with(dir: &Path, mut config: Config) -> Server {
        // The catalog is opened here: the settings derived from the data dir (the default
        // import directory) must say so too.
        config.storage.data_dir = dir.to_path_buf();
        let catalog = Arc::new(Catalog::open(dir).expect("open catalog"));
        let app = router(AppState::new(catalog.clone(), config, None).expect("state"));
        Server { app, catalog, dir: None }
    }

    /// A server with the default embedding model (installed by `make setup`); `None` when the
    /// model is not installed and the test is to be skipped (see [`embedder`]).
    pub fn with_embedder() -> Option<Server> {
        let embedder = embedder()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Arc::new(Catalog::open(dir.path()).expect("open catalog"));
        let state = AppState::new(catalog.clone(), Config::default(), Some(embedder)).expect("state");
        Some(Server { app: router(state), catalog, dir: Some(dir) })
    }

    /// GETs a non-JSON route (`/metrics`): status and body text.
    pub async fn raw_text(&self, uri: &str) -> (StatusCode, String) {
        let req = Request::builder().method(Method::GET).uri(uri).body(Body::empty()).expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Sends raw bytes (see [`Server::send`]).
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        self.send(req.body(Body::from(body)).expect("request")).await
    }

    /// Sends a request; returns the status and the body parsed as JSON (`Value::Null` when the
    /// body is empty; a non-JSON body fails the test: every answer is JSON).
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let resp = tokio::time::timeout(std::time::Duration::from_secs(60), self.app.clone().oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("{method} {uri}: no answer within 60 s"))
            .expect("infallible");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        if bytes.is_empty() {
            return (status, Value::Null);
        }
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("{method} {uri}: answer {status} is not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
        });
        (status, value)
    }

    /// Sends a JSON body (or none).
    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        match body {
            Some(b) => {
                self.raw(method, uri, serde_json::to_vec(&b).expect("json"), Some("application/json")).await
            }
            None => self.raw(method, uri, Vec::new(), None).await,
        }
    }

    /// Expects 200 and the success envelope; returns `result`.
    pub async fn ok(&self, method: Method, uri: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), uri, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}: {v}");
        assert_eq!(v["status"], "ok", "{method} {uri}: {v}");
        assert!(v["time"].is_number(), "{method} {uri}: {v}");
        v["result"].clone()
    }

    pub async fn get(&self, uri: &str) -> Value {
        self.ok(Method::GET, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Value {
        self.ok(Method::POST, uri, Some(body)).await
    }

    pub async fn put(&self, uri: &str, body: Value) -> Value {
        self.ok(Method::PUT, uri, Some(body)).await
    }

    /// Expects `status` and the error envelope with a message containing every needle
    /// (case-insensitive). Returns the message.
    pub async fn err(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
        status: StatusCode,
        needles: &[&str],
    ) -> String {
        let (got, v) = self.call(method.clone(), uri, body.clone()).await;
        let shown = body.map(|b| truncate(&b.to_string())).unwrap_or_default();
        check_error(&format!("{method} {uri} {shown}"), got, &v, status, needles)
    }

    pub async fn create(&self, name: &str, dim: usize, distance: &str) {
        self.create_with(name, json!({"vectors": {"size": dim, "distance": distance}})).await;
    }

    pub async fn create_with(&self, name: &str, body: Value) {
        assert_eq!(self.put(&format!("/collections/{name}"), body).await, json!(true));
    }

    /// Upserts `{"points": points}` and expects success.
    pub async fn upsert(&self, name: &str, points: Value) {
        let r = self.put(&format!("/collections/{name}/points?wait=true"), json!({ "points": points })).await;
        assert_eq!(r["status"], "completed", "{r}");
    }

    pub async fn count(&self, name: &str) -> u64 {
        let r = self.post(&format!("/collections/{name}/points/count"), json!({})).await;
        r["count"].as_u64().expect("count")
    }

    pub async fn count_filtered(&self, name: &str, filter: Value) -> u64 {
        let r = self.post(&format!("/collections/{name}/points/count"), json!({ "filter": filter })).await;
        r["count"].as_u64().expect("count")
    }

    /// The point as `GET /points/{id}` answers it, or `None` on 404.
    pub async fn point(&self, name: &str, id: &str) -> Option<Value> {
        let (status, v) = self.call(Method::GET, &format!("/collections/{name}/points/{id}"), None).await;
        match status {
            StatusCode::OK => Some(v["result"].clone()),
            StatusCode::NOT_FOUND => None,
            other => panic!("GET point {id}: {other} {v}"),
        }
    }

    pub async fn exists(&self, name: &str) -> bool {
        self.get(&format!("/collections/{name}/exists")).await["exists"].as_bool().expect("exists")
    }

    /// Every point in id order, through scroll pages of `page`.
    pub async fn scroll_all(&self, name: &str, page: usize, filter: Option<Value>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut offset = Value::Null;
        loop {
            let mut body = json!({"limit": page, "with_payload": true, "with_vector": false});
            if !offset.is_null() {
                body["offset"] = offset.clone();
            }
            if let Some(f) = &filter {
                body["filter"] = f.clone();
            }
            let r = self.post(&format!("/collections/{name}/points/scroll"), body).await;
            let points = r["points"].as_array().expect("points").clone();
            assert!(points.len() <= page, "page larger than limit: {}", points.len());
            out.extend(points);
            offset = r["next_page_offset"].clone();
            if offset.is_null() {
                return out;
            }
        }
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 200 {
        format!(
            "{}…",
            &s[..s.char_indices().take_while(|(i, _)| *i < 200).last().map_or(0, |(i, c)| i + c.len_utf8())]
        )
    } else {
        s.to_string()
    }
}

/// Checks an error answer: status, Qdrant's error envelope, and a message naming the problem.
pub fn check_error(what: &str, got: StatusCode, v: &Value, status: StatusCode, needles: &[&str]) -> String {
    assert_eq!(got, status, "{what}: expected {status}, got {got}: {v}");
    let msg =
        v["status"]["error"].as_str().unwrap_or_else(|| panic!("{what}: no status.error in {v}")).to_string();
    assert!(v["result"].is_null(), "{what}: error with a result: {v}");
    assert!(v.get("time").is_some(), "{what}: no time: {v}");
    let lower = msg.to_lowercase();
    for n in needles {
        assert!(lower.contains(&n.to_lowercase()), "{what}: error message {msg:?} does not mention {n:?}");
    }
    msg
}

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.unit()).collect()
    }
}

/// A generated point: integer id, vector, and a payload with a 1% field (`rare`), a 10% keyword
/// (`group`), an integer (`n`), a float (`x`) and a bool (`even`).
#[derive(Clone, Debug)]
pub struct Pt {
    pub id: u64,
    pub vector: Vec<f32>,
    pub payload: Value,
}

pub fn dataset(n: usize, dim: usize, seed: u64) -> Vec<Pt> {
    let mut rng = Rng::new(seed);
    (0..n as u64)
        .map(|i| {
            let id = i * 3 + 1;
            Pt {
                id,
                vector: rng.vector(dim),
                payload: json!({
                    "group": format!("g{}", i % 10),
                    "rare": i % 100 == 7,
                    "n": i as i64,
                    "x": i as f64 / 4.0,
                    "even": i % 2 == 0,
                }),
            }
        })
        .collect()
}

pub fn points_json(points: &[Pt]) -> Value {
    Value::Array(
        points.iter().map(|p| json!({"id": p.id, "vector": p.vector, "payload": p.payload})).collect(),
    )
}

/// Upserts a dataset in chunks.
pub async fn load(s: &Server, name: &str, points: &[Pt]) {
    for chunk in points.chunks(100) {
        s.upsert(name, points_json(chunk)).await;
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    Cosine,
    Dot,
    Euclid,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "Cosine",
            Metric::Dot => "Dot",
            Metric::Euclid => "Euclid",
        }
    }

    /// The form the service stores a vector in (normalised for Cosine).
    pub fn prepare(self, v: &[f32]) -> Vec<f32> {
        match self {
            Metric::Cosine => {
                let norm = dot(v, v).sqrt();
                v.iter().map(|x| x / norm).collect()
            }
            Metric::Dot | Metric::Euclid => v.to_vec(),
        }
    }

    /// The score `search` reports (Euclid: the distance).
    pub fn reported(self, query: &[f32], v: &[f32]) -> f32 {
        match self {
            Metric::Cosine => dot(&self.prepare(query), &self.prepare(v)),
            Metric::Dot => dot(query, v),
            Metric::Euclid => l2sq(query, v).sqrt(),
        }
    }

    /// Internal similarity of two prepared vectors (higher is closer; Euclid: `-‖a−b‖²`).
    pub fn similarity(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => dot(a, b),
            Metric::Euclid => -l2sq(a, b),
        }
    }

    /// Whether results are reported smaller-first.
    pub fn ascending(self) -> bool {
        self == Metric::Euclid
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (*x as f64) * (*y as f64)).sum::<f64>() as f32
}

pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| ((*x - *y) as f64).powi(2)).sum::<f64>() as f32
}

/// Brute-force top `k` of (id, score) pairs, best first.
pub fn top_k(mut scored: Vec<(u64, f32)>, k: usize, ascending: bool) -> Vec<(u64, f32)> {
    scored.sort_by(|a, b| {
        let o = if ascending { a.1.total_cmp(&b.1) } else { b.1.total_cmp(&a.1) };
        o.then(a.0.cmp(&b.0))
    });
    scored.truncate(k);
    scored
}

/// Compares returned hits with the brute-force answer: the same scores position by position
/// and every returned id scored as brute force scores it (robust to ties).
pub fn assert_hits(what: &str, hits: &Value, want: &[(u64, f32)], all: &std::collections::HashMap<u64, f32>) {
    let hits = hits.as_array().unwrap_or_else(|| panic!("{what}: hits are not a list: {hits}"));
    assert_eq!(hits.len(), want.len(), "{what}: {} hits, want {}: {hits:?}", hits.len(), want.len());
    let tol = |x: f32| 1e-4 * x.abs().max(1.0);
    let mut seen = std::collections::HashSet::new();
    for (i, (h, (_, want_score))) in hits.iter().zip(want).enumerate() {
        let id = h["id"].as_u64().unwrap_or_else(|| panic!("{what}: hit without integer id: {h}"));
        assert!(seen.insert(id), "{what}: id {id} returned twice");
        let score = h["score"].as_f64().expect("score") as f32;
        assert!(
            (score - want_score).abs() <= tol(*want_score),
            "{what}: hit {i} has score {score}, brute force {want_score}"
        );
        let truth = all.get(&id).unwrap_or_else(|| panic!("{what}: hit {id} is not a candidate"));
        assert!((score - truth).abs() <= tol(*truth), "{what}: id {id} scored {score}, brute force {truth}");
    }
}

/// The ids of a hit or record list, as u64.
pub fn ids(list: &Value) -> Vec<u64> {
    list.as_array().expect("list").iter().map(|p| p["id"].as_u64().expect("integer id")).collect()
}
