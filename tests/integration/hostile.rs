//! The service under hostile input and faults: each test pins a bug found by attacking the
//! service (named after it), asserting the status, that the message reveals nothing beyond the
//! request, and that nothing was written.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{check_error, dataset, load, points_json, Rng, Server};
use crate::jobs::wait_job;
use vicinity::config::Config;

const BAD: StatusCode = StatusCode::BAD_REQUEST;

/// `{"n": {"n": … 1}}`, `depth` objects deep.
fn nested(depth: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = json!({ "n": v });
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_deep_payloads_are_refused_and_the_data_dir_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::open(dir.path());
    s.create("c", 4, "Cosine").await;
    s.upsert("c", json!([{"id": 1, "vector": [1, 0, 0, 0], "payload": {"a": 1}}])).await;
    let key = vec!["k"; 200].join(".");
    let uri = "/collections/c/points/payload?wait=true";
    s.err(
        Method::POST,
        uri,
        Some(json!({"payload": {"x": 1}, "points": [1], "key": key})),
        BAD,
        &["key", "64"],
    )
    .await;
    let key = vec!["k"; 40].join(".");
    let body = json!({"payload": {"x": nested(30)}, "points": [1], "key": key});
    s.err(Method::POST, uri, Some(body), BAD, &["nested", "limit is 64"]).await;
    s.err(Method::PUT, uri, Some(json!({"payload": nested(100), "points": [1]})), BAD, &["nested"]).await;
    let upsert = json!({"points": [{"id": 2, "vector": [0, 1, 0, 0], "payload": nested(100)}]});
    s.err(Method::PUT, "/collections/c/points?wait=true", Some(upsert), BAD, &["point 2", "nested"]).await;
    // A streamed import skips such a line and keeps the others.
    let lines = format!(
        "{}\n{}\n",
        json!({"id": 3, "vector": [0, 0, 1, 0], "payload": nested(100)}),
        json!({"id": 4, "vector": [0, 0, 0, 1]})
    );
    let (status, v) = s
        .raw(
            Method::POST,
            "/collections/c/import?on_error=skip",
            lines.into_bytes(),
            Some("application/x-ndjson"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let job = wait_job(&s, &v["result"]["job_id"]).await;
    assert_eq!(job["skipped"], 1, "{job}");
    assert!(job["bad_lines"][0]["error"].as_str().unwrap().contains("nested"), "{job}");
    drop(s);

    let s = Server::open(dir.path());
    assert_eq!(s.point("c", "1").await.unwrap()["payload"], json!({"a": 1}));
    assert!(s.point("c", "2").await.is_none());
    assert!(s.point("c", "3").await.is_none());
    assert!(s.point("c", "4").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_rebuild_outliving_its_collection_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::open(dir.path());
    s.create("c", 32, "Cosine").await;
    load(&s, "c", &dataset(20_000, 32, 7)).await;
    let old = s.catalog.get("c").unwrap().id();
    let (status, v) =
        s.call(Method::POST, "/collections/c/index/rebuild", Some(json!({"hnsw_config": {"m": 24}}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(s.ok(Method::DELETE, "/collections/c", None).await, json!(true));
    s.create("c", 4, "Euclid").await;
    s.upsert("c", json!([{"id": 7, "vector": [1, 2, 3, 4]}])).await;
    let job = wait_job(&s, &v["result"]["job_id"]).await;
    assert_eq!(job["state"], "failed", "the rebuild of 20,000 points ended before the delete? {job}");
    assert!(job["error"].as_str().unwrap().contains("deleted"), "{job}");
    drop(s);

    let s = Server::open(dir.path());
    let info = s.get("/collections/c").await;
    assert_eq!(info["config"]["hnsw_config"]["m"], 16, "{info}");
    assert_eq!(info["config"]["params"]["vectors"]["size"], 4, "{info}");
    assert_eq!(s.count("c").await, 1);
    assert!(s.point("c", "7").await.is_some());
    let left: Vec<String> = std::fs::read_dir(dir.path().join("indexes"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(
        !left.iter().any(|f| f.starts_with(&format!("{old}."))),
        "the dropped collection's index is left: {left:?}"
    );
    assert!(!left.iter().any(|f| f.ends_with(".tmp") || f.ends_with(".partial")), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_snapshot_routes_stay_in_the_snapshots_directory() {
    let s = Server::new();
    s.create("c", 4, "Dot").await;
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.snapshot");
    std::fs::write(&secret, "top secret").unwrap();
    std::fs::write(secret.with_extension("checksum"), "0".repeat(64)).unwrap();
    let encoded = outside.path().display().to_string().replace('/', "%2F");
    for method in [Method::GET, Method::DELETE] {
        let uri = format!("/collections/{encoded}/snapshots/secret.snapshot");
        let msg = s.err(method.clone(), &uri, None, BAD, &["invalid collection name"]).await;
        assert!(!msg.contains("top secret"), "{msg}");
    }
    assert!(secret.exists() && secret.with_extension("checksum").exists(), "a file outside was deleted");
    s.err(Method::GET, "/collections/nope/snapshots/x.snapshot", None, StatusCode::NOT_FOUND, &["nope"])
        .await;

    let data = s.dir.as_ref().unwrap().path();
    let dirs = [
        secret.display().to_string(),
        format!("file://{}", secret.display()),
        "/etc/shadow".into(),
        "/etc/passwd".into(),
        "/dev/zero".into(),
        "/etc".into(),
        outside.path().join("missing.snapshot").display().to_string(),
        format!("{}/snapshots/../db/CURRENT", data.display()),
    ];
    for location in dirs {
        let body = json!({"location": location});
        let msg = s
            .err(
                Method::PUT,
                "/collections/r/snapshots/recover",
                Some(body),
                BAD,
                &["not a file in the snapshots directory"],
            )
            .await;
        for leak in ["No such file", "denied", "directory:", "bytes", "too short", "top secret"] {
            assert!(!msg.contains(leak), "{location}: {msg}");
        }
    }
    assert!(!s.exists("r").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_imports_read_only_regular_files_in_the_import_directory() {
    let files = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.storage.import_dir = Some(files.path().to_path_buf());
    let s = Server::with_config(config);
    s.create("c", 4, "Euclid").await;
    // A float file that would import "verbatim" as vectors, outside the directory.
    let floats: Vec<u8> =
        [4i32.to_le_bytes(), 1f32.to_le_bytes(), 2f32.to_le_bytes(), 3f32.to_le_bytes(), 4f32.to_le_bytes()]
            .concat();
    std::fs::write(outside.path().join("x.fvecs"), &floats).unwrap();
    std::os::unix::fs::symlink(outside.path().join("x.fvecs"), files.path().join("link.fvecs")).unwrap();
    let fifo = files.path().join("pipe.jsonl");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::create_dir(files.path().join("sub")).unwrap();
    let refused = [
        "/etc/shadow".to_string(),
        "/etc/passwd".into(),
        "/dev/zero".into(),
        "/etc".into(),
        "/nonexistent/x.fvecs".into(),
        outside.path().join("x.fvecs").display().to_string(),
        "link.fvecs".into(),
        "pipe.jsonl".into(),
        "sub".into(),
        "../x.fvecs".into(),
        format!("{}/../x.fvecs", files.path().display()),
    ];
    for format in ["fvecs", "jsonl", "npy"] {
        for path in &refused {
            let body = json!({"path": path, "format": format});
            let (status, v) = s.call(Method::POST, "/collections/c/import", Some(body)).await;
            let msg = check_error(path, status, &v, BAD, &[]);
            assert_eq!(msg, format!("{path}: not a file in the import directory (storage.import_dir)"));
        }
    }
    // An unknown collection is refused before any file is looked at.
    let body = json!({"path": "/etc/shadow", "format": "fvecs"});
    let msg =
        s.err(Method::POST, "/collections/nope/import", Some(body), StatusCode::NOT_FOUND, &["nope"]).await;
    assert!(!msg.contains("shadow"), "{msg}");
    assert_eq!(s.get("/jobs").await, json!([]), "a refused import created a job");
    assert_eq!(s.count("c").await, 0);
    // The same bytes inside the directory import.
    std::fs::write(files.path().join("x.fvecs"), &floats).unwrap();
    let (status, v) = s
        .call(Method::POST, "/collections/c/import", Some(json!({"path": "x.fvecs", "format": "fvecs"})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(wait_job(&s, &v["result"]["job_id"]).await["state"], "succeeded");
    assert_eq!(s.count("c").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_streamed_line_is_capped_and_lines_are_scanned_once() {
    let mut config = Config::default();
    config.service.max_request_bytes = 64 * 1024;
    let s = Server::with_config(config);
    s.create("c", 2, "Euclid").await;
    let mut body = format!("{}\n", json!({"id": 1, "vector": [1, 2]})).into_bytes();
    body.extend(std::iter::repeat_n(b' ', 200 * 1024));
    let (status, v) = s.raw(Method::POST, "/collections/c/import", body, Some("application/x-ndjson")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let job = wait_job(&s, &v["result"]["job_id"]).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("line 2 is longer than 65536 bytes"), "{job}");
    assert_eq!(s.count("c").await, 1);
    // Many short lines in one body: each is taken in turn (no quadratic rescans or copies).
    let many: String = (0..50_000).map(|i| format!("{}\n", json!({"id": i, "vector": [i, 1]}))).collect();
    let (status, v) =
        s.raw(Method::POST, "/collections/c/import", many.into_bytes(), Some("application/x-ndjson")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(wait_job(&s, &v["result"]["job_id"]).await["state"], "succeeded");
    assert_eq!(s.count("c").await, 50_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_filters_are_bounded_in_size_and_time() {
    let mut config = Config::default();
    config.search.timeout_ms = 1;
    let s = Server::with_config(config);
    s.create("c", 4, "Cosine").await;
    let mut rng = Rng::new(1);
    let points: Vec<Value> = (0..20_000)
        .map(|i| json!({"id": i, "vector": rng.vector(4), "payload": {"t": format!("word{} other{}", i % 97, i % 13)}}))
        .collect();
    for chunk in points.chunks(5_000) {
        s.upsert("c", json!(chunk)).await;
    }
    let text = |n: usize| -> Value {
        json!({"must": (0..n).map(|i| json!({"key": "t", "match": {"text": format!("word{i}")}})).collect::<Vec<_>>()})
    };
    let uri = "/collections/c/points/count";
    s.err(Method::POST, uri, Some(json!({"filter": text(20_000)})), BAD, &["20000 conditions", "1024"]).await;
    // 1,000 conditions over 20,000 points take far longer than search.timeout_ms (1 ms): the
    // scan stops and the answer is 503.
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    s.err(Method::POST, uri, Some(json!({"filter": text(1_000)})), unavailable, &["time"]).await;
    let scroll = json!({"filter": text(1_000), "limit": 10});
    s.err(Method::POST, "/collections/c/points/scroll", Some(scroll), unavailable, &["time"]).await;
    let query = json!({"query": [1, 0, 0, 0], "filter": text(1_000), "limit": 10});
    s.err(Method::POST, "/collections/c/points/query", Some(query), unavailable, &["within 1 ms"]).await;
}

#[tokio::test]
async fn regression_a_batch_cannot_ask_for_unbounded_results() {
    let s = Server::new();
    s.create("c", 4, "Dot").await;
    let searches: Vec<Value> = (0..1000).map(|_| json!({"query": [1, 0, 0, 0], "limit": 2000})).collect();
    let body = json!({"searches": searches});
    let uri = "/collections/c/points/query/batch";
    s.err(Method::POST, uri, Some(body), BAD, &["2000000", "search.max_batch_results"]).await;
    let searches: Vec<Value> = (0..10).map(|_| json!({"vector": [1, 0, 0, 0], "limit": 20_000})).collect();
    s.err(
        Method::POST,
        "/collections/c/points/search/batch",
        Some(json!({"searches": searches})),
        BAD,
        &["limit"],
    )
    .await;
}

#[tokio::test]
async fn regression_an_oversized_rebuild_body_is_413() {
    let mut config = Config::default();
    config.service.max_request_bytes = 4096;
    let s = Server::with_config(config);
    s.create("c", 4, "Dot").await;
    let body = json!({"hnsw_config": {"m": 16}, "pad": "x".repeat(10_000)});
    s.err(Method::POST, "/collections/c/index/rebuild", Some(body), StatusCode::PAYLOAD_TOO_LARGE, &["4096"])
        .await;
    assert_eq!(s.get("/jobs").await, json!([]));
}

#[tokio::test]
async fn regression_metrics_forget_dropped_collections() {
    let s = Server::new();
    s.create("gone", 4, "Dot").await;
    s.create("kept", 4, "Dot").await;
    s.upsert("kept", points_json(&dataset(3, 4, 1))).await;
    let (_, text) = s.raw_text("/metrics").await;
    assert!(text.contains("vicinity_collection_points{collection=\"gone\"} 0"), "{text}");
    assert_eq!(s.ok(Method::DELETE, "/collections/gone", None).await, json!(true));
    let (status, text) = s.raw_text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text.contains("collection=\"gone\""), "{text}");
    assert!(text.contains("vicinity_collection_points{collection=\"kept\"} 3"), "{text}");
}

/// Batch searches run on the shared thread pool while upserts of more than 64 points (the
/// engine's parallel threshold) go into Cosine and Euclid collections: this deadlocked within
/// seconds. Every request must answer (the helpers fail a request unanswered after 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_upserts_during_batch_searches_do_not_deadlock() {
    let s = std::sync::Arc::new(Server::new());
    for (name, distance) in [("cos", "Cosine"), ("l2", "Euclid")] {
        s.create(name, 32, distance).await;
        load(&s, name, &dataset(500, 32, 3)).await;
    }
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(100 + t);
            for round in 0..40 {
                let name = if round % 2 == 0 { "cos" } else { "l2" };
                let searches: Vec<Value> =
                    (0..8).map(|_| json!({"query": rng.vector(32), "limit": 10})).collect();
                let hits = s
                    .post(&format!("/collections/{name}/points/query/batch"), json!({"searches": searches}))
                    .await;
                assert_eq!(hits.as_array().unwrap().len(), 8);
            }
        }));
    }
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut id = 10_000u64;
            for (round, size) in [65usize, 300, 1_100, 65, 700, 2_000].into_iter().enumerate() {
                let name = if round % 2 == 0 { "cos" } else { "l2" };
                let mut points = dataset(size, 32, round as u64);
                for p in &mut points {
                    p.id = id;
                    id += 1;
                }
                s.upsert(name, points_json(&points)).await;
                let info = s.get(&format!("/collections/{name}")).await;
                assert!(info["points_count"].as_u64().unwrap() >= 500);
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    writer.await.unwrap();
    let total = s.count("cos").await + s.count("l2").await;
    assert_eq!(total, 1000 + 65 + 300 + 1_100 + 65 + 700 + 2_000);
}

/// Runs the real HTTP server on a free port with `config`; returns its address and a stop
/// switch.
async fn real_server(
    config: Config,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = std::sync::Arc::new(vicinity::catalog::Catalog::open(dir.path()).unwrap());
    let service = config.service.clone();
    let app = vicinity::api::router(vicinity::api::AppState::new(catalog, config, None).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        vicinity::api::server::serve(listener, app, &service, async {
            let _ = stopped.await;
        })
        .await;
    });
    (addr, stop, dir)
}

/// Reads until the server closes the connection (or 20 s pass: a failure); returns the text.
async fn read_to_close(conn: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    match tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut out)).await {
        Ok(_) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => panic!("the server kept the connection open: {:?}", String::from_utf8_lossy(&out)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_slow_and_idle_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let mut config = Config::default();
    config.service.header_timeout_ms = 300;
    config.service.body_timeout_ms = 300;
    let (addr, _stop, _dir) = real_server(config).await;
    // Half-sent headers: closed.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    read_to_close(&mut conn).await;
    // Connected and silent: closed.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut conn).await, "");
    // Half-sent body: 408.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"POST /collections/c/points/count HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"fil")
        .await
        .unwrap();
    let answer = read_to_close(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("service.body_timeout_ms"), "{answer}");
    // A kept-alive connection answers, then closes once idle.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = read_to_close(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_connections_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = Config::default();
    config.service.max_connections = 2;
    let (addr, _stop, _dir) = real_server(config).await;
    let first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The third waits in the backlog: its request is not read while both others stay open.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(early.is_err(), "a connection beyond service.max_connections was served");
    drop(first);
    let answer = read_to_close(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
