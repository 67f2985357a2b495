//! Prometheus metrics: `GET /metrics` in the text format, and the middleware that counts every
//! request by route template (never the raw URI) and status.
//!
//! Series: `vicinity_http_requests_total{method, route, status}`,
//! `vicinity_http_request_duration_seconds{method, route}` (histogram), `vicinity_search_duration_seconds`
//! (histogram), `vicinity_result_cache_{hits,misses,evictions}_total`, per collection
//! `vicinity_collection_points` / `_deleted_points` / `_index_bytes`, and the embedding counters
//! and batch-size histogram.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;

const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// The process-wide recorder (installed once; later routers share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("batch_size".into()), BATCH_BUCKETS));
        let recorder = match builder {
            Ok(b) => b.build_recorder(),
            Err(e) => {
                tracing::warn!("metrics buckets: {e}");
                PrometheusBuilder::new().build_recorder()
            }
        };
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        handle
    })
}

/// Every 5 s, folds the histogram samples recorded since into their buckets. The recorder
/// keeps every sample until then (or until a scrape), so without this a server nobody scrapes
/// would grow by two samples per request for ever.
pub async fn upkeep_loop() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle().run_upkeep();
    }
}

/// Counts and times every request under its route template.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let secs = started.elapsed().as_secs_f64();
    metrics::counter!("vicinity_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("vicinity_http_request_duration_seconds", "method" => method, "route" => route)
        .record(secs);
    response
}

/// The per-collection gauges, written at scrape time for the collections that exist now (the
/// recorder would keep a dropped collection's series for ever).
fn collection_gauges(catalog: &crate::catalog::Catalog) -> String {
    use std::fmt::Write;
    let stats: Vec<(String, [usize; 3])> = catalog
        .all()
        .into_iter()
        .map(|c| {
            let (points, per_vector) = c.stats();
            let (deleted, bytes) = per_vector.values().fold((0, 0), |(d, b), (vd, vb)| (d + vd, b + vb));
            (c.name.clone(), [points, deleted, bytes])
        })
        .collect();
    let mut out = String::new();
    let series = [
        ("vicinity_collection_points", "live points"),
        ("vicinity_collection_deleted_points", "deleted points not yet vacuumed"),
        ("vicinity_collection_index_bytes", "index memory in bytes"),
    ];
    for (i, (metric, help)) in series.into_iter().enumerate() {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
        for (name, values) in &stats {
            let _ = writeln!(out, "{metric}{{collection=\"{}\"}} {}", label_value(name), values[i]);
        }
    }
    out
}

/// A Prometheus label value: backslash, double quote and line feed escaped (collection names
/// may hold any of them).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[utoipa::path(
    get, path = "/metrics",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
    )
)]
pub async fn render(State(st): State<AppState>) -> Result<String, super::ApiError> {
    // Index stats take the indexes' locks: never on a runtime worker.
    let catalog = st.catalog.clone();
    let gauges = super::blocking(move || Ok(collection_gauges(&catalog))).await?;
    if let Some(e) = st.embedder.as_deref() {
        metrics::counter!("vicinity_embedding_cache_hits_total")
            .absolute(e.stats.cache_hits.load(Ordering::Relaxed));
        metrics::counter!("vicinity_embedding_cache_misses_total")
            .absolute(e.stats.cache_misses.load(Ordering::Relaxed));
        for (model, lane, batches, texts) in e.batch_stats() {
            metrics::counter!("vicinity_embedding_batches_total", "model" => model.clone(), "lane" => lane)
                .absolute(batches);
            metrics::counter!("vicinity_embedding_batched_texts_total", "model" => model, "lane" => lane)
                .absolute(texts);
        }
    }
    if let Some(cache) = st.results.as_deref() {
        cache.publish();
    }
    Ok(handle().render() + &gauges)
}
