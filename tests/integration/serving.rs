//! Serving: the result cache is never stale after a write, `/metrics` exposes the series the
//! operators need, and overload or slow searches answer 503 with `Retry-After`.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::common::{dataset, load, Server};

async fn metric(s: &Server, name: &str) -> f64 {
    let (status, text) = s.raw_text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn ids(v: &Value) -> Vec<u64> {
    v["points"].as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_result_after_a_write() {
    let s = Server::new();
    s.create("c", 8, "Euclid").await;
    load(&s, "c", &dataset(300, 8, 5)).await;
    let q = vec![0.5f32; 8];
    let first = s.post("/collections/c/points/query", json!({"query": q, "limit": 3})).await;
    // The same request with its fields in another order is answered from the cache.
    let hits = metric(&s, "vicinity_result_cache_hits_total").await;
    let again: Value = serde_json::from_str(&format!(r#"{{"limit": 3, "query": {}}}"#, json!(q))).unwrap();
    assert_eq!(s.post("/collections/c/points/query", again.clone()).await, first);
    assert!(metric(&s, "vicinity_result_cache_hits_total").await >= hits + 1.0);

    // An acknowledged write that changes the answer is seen by the very next query.
    s.upsert("c", json!([{"id": 99_999, "vector": q}])).await;
    let after = s.post("/collections/c/points/query", again.clone()).await;
    assert_eq!(ids(&after)[0], 99_999, "{after}");
    // So is a delete, and a payload change.
    s.post("/collections/c/points/delete?wait=true", json!({"points": [99_999]})).await;
    assert_eq!(s.post("/collections/c/points/query", again.clone()).await, first);
    let with_payload = json!({"query": q, "limit": 1, "with_payload": true});
    let before = s.post("/collections/c/points/query", with_payload.clone()).await;
    let top = ids(&before)[0];
    s.post("/collections/c/points/payload?wait=true", json!({"payload": {"fresh": 1}, "points": [top]}))
        .await;
    let changed = s.post("/collections/c/points/query", with_payload).await;
    assert_eq!(changed["points"][0]["payload"]["fresh"], 1, "{changed}");

    // A dropped and re-created collection of the same name does not inherit answers.
    s.ok(Method::DELETE, "/collections/c", None).await;
    s.create("c", 8, "Euclid").await;
    assert_eq!(s.post("/collections/c/points/query", again.clone()).await["points"], json!([]));

    // `"cache": false` is accepted (and is not part of the key); batch queries are cached whole.
    // (The hit / miss counters are process-wide, so other tests running at the same time move
    // them: only increases are asserted above.)
    let plain = s.post("/collections/c/points/query", json!({"query": q, "limit": 3})).await;
    assert_eq!(
        s.post("/collections/c/points/query", json!({"query": q, "limit": 3, "cache": false})).await,
        plain
    );
    let batch = json!({"searches": [{"query": q, "limit": 2}, {"query": q, "limit": 1}]});
    let b1 = s.post("/collections/c/points/query/batch", batch.clone()).await;
    assert_eq!(s.post("/collections/c/points/query/batch", batch).await, b1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_requests_searches_cache_and_collections() {
    let s = Server::new();
    s.create("m", 4, "Cosine").await;
    load(&s, "m", &dataset(50, 4, 1)).await;
    s.post("/collections/m/points/delete?wait=true", json!({"points": [1]})).await;
    s.post("/collections/m/points/query", json!({"query": [1.0, 0.0, 0.0, 0.0], "limit": 2})).await;
    s.post("/collections/m/points/query", json!({"query": [1.0, 0.0, 0.0, 0.0], "limit": 2})).await;
    s.err(
        Method::POST,
        "/collections/m/points/query",
        Some(json!({"query": [1.0]})),
        StatusCode::BAD_REQUEST,
        &["dim"],
    )
    .await;
    let (_, text) = s.raw_text("/metrics").await;
    for series in [
        r#"vicinity_http_requests_total{method="POST",route="/collections/{name}/points/query",status="200"}"#,
        r#"vicinity_http_requests_total{method="POST",route="/collections/{name}/points/query",status="400"}"#,
        r#"vicinity_http_request_duration_seconds_bucket{method="POST",route="/collections/{name}/points/query",le="0.001"}"#,
        "vicinity_search_duration_seconds_count",
        "vicinity_result_cache_hits_total",
        "vicinity_result_cache_misses_total",
        "vicinity_result_cache_bytes",
        r#"vicinity_collection_points{collection="m"} 49"#,
        r#"vicinity_collection_deleted_points{collection="m"} 1"#,
        r#"vicinity_collection_index_bytes{collection="m"}"#,
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
    assert!(!text.contains("route=\"/collections/m/"), "raw URIs must not become labels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_and_slow_searches_answer_503_with_retry_after() {
    let mut config = vicinity::config::Config::default();
    config.search.max_concurrent = 1;
    config.search.max_queued = 0;
    config.search.timeout_ms = 60_000;
    let s = Server::with_config(config);
    s.create("big", 128, "Dot").await;
    load(&s, "big", &dataset(20_000, 128, 3)).await;
    // A heavy request: many exact searches, uncached.
    let heavy = json!({"cache": false, "searches": (0..1000).map(|i| json!({"query": vec![i as f32 * 0.001 + 0.1; 128], "limit": 100, "params": {"exact": true}})).collect::<Vec<_>>()});
    let body = serde_json::to_vec(&heavy).unwrap();
    let post = |uri: &str, body: Vec<u8>| {
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let probe = serde_json::to_vec(&json!({"query": vec![0.1f32; 128], "limit": 1, "cache": false})).unwrap();
    // The heavy request takes the only slot once it is parsed, which takes a while on a busy
    // machine: probe until one is turned away. A probe admitted first can turn the heavy request
    // away in turn; then it is sent again.
    let mut refused = None;
    'attempts: for _ in 0..20 {
        let first =
            tokio::spawn(s.app.clone().oneshot(post("/collections/big/points/query/batch", body.clone())));
        while !first.is_finished() {
            let resp =
                s.app.clone().oneshot(post("/collections/big/points/query", probe.clone())).await.unwrap();
            if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
                refused = Some(resp);
                assert_eq!(
                    first.await.unwrap().unwrap().status(),
                    StatusCode::OK,
                    "the admitted request completes"
                );
                break 'attempts;
            }
            assert_eq!(resp.status(), StatusCode::OK);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let status = first.await.unwrap().unwrap().status();
        assert!(matches!(status, StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE), "{status}");
    }
    let resp = refused.expect("no probe was turned away while the heavy request ran");
    assert_eq!(resp.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap()), Some("1"));

    // A search slower than the timeout is a 503 too, naming the limit.
    let mut config = vicinity::config::Config::default();
    config.search.timeout_ms = 1;
    let slow = Server::open_with(s.dir.as_ref().unwrap().path().join("slow").as_path(), config);
    slow.create("big", 128, "Dot").await;
    load(&slow, "big", &dataset(2_000, 128, 3)).await;
    slow.err(
        Method::POST,
        "/collections/big/points/query/batch",
        Some(heavy),
        StatusCode::SERVICE_UNAVAILABLE,
        &["did not finish within 1 ms"],
    )
    .await;
}
