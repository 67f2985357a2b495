//! Jobs and admin routes in-process: streamed and file imports (bad rows named by line),
//! a rebuild racing with writes, snapshot round trips, the admin key.

use std::io::Write;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::common::{check_error, Rng, Server};

/// Polls `GET /jobs/{id}` until the job has finished; returns its record.
pub async fn wait_job(s: &Server, id: &Value) -> Value {
    for _ in 0..600 {
        let job = s.get(&format!("/jobs/{id}")).await;
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not finish within 60 s");
}

/// A streamed import whose body stops with an error after `lines` points (the client went
/// away) or, with `hang`, just stops (the client went silent).
fn cut_stream(lines: usize, hang: bool) -> Request<Body> {
    use futures_util::StreamExt;
    let text: String =
        (0..lines).map(|i| format!("{}\n", json!({"id": i, "vector": [1.0, 2.0, 3.0, i as f32]}))).collect();
    let first = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(text))]);
    let body = match hang {
        true => Body::from_stream(first.chain(futures_util::stream::pending())),
        false => Body::from_stream(first.chain(futures_util::stream::iter([Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client gone",
        ))]))),
    };
    Request::builder()
        .method(Method::POST)
        .uri("/collections/c/import")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .expect("request")
}

/// A client that goes away, or goes silent, in the middle of a streamed import: the request
/// answers and the job ends `failed`, saying the stream was cut off (it used to wait for the
/// job, and the job for the rest of the stream, for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_off_mid_body_ends_its_job() {
    let mut config = vicinity::config::Config::default();
    config.service.body_idle_timeout_ms = 300;
    let s = Server::with_config(config);
    s.create("c", 4, "Cosine").await;
    for hang in [false, true] {
        let (status, v) = s.send(cut_stream(100, hang)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        let job = &v["result"]["job"];
        assert_eq!(job["state"], "failed", "hang {hang}: {job}");
        assert!(job["error"].as_str().unwrap_or("").contains("cut off"), "hang {hang}: {job}");
    }
}

fn vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.unit()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_import_names_bad_lines_and_skips_or_fails() {
    let s = Server::new();
    s.create("c", 4, "Euclid").await;
    let body = [
        r#"{"id": 1, "vector": [1, 0, 0, 0]}"#,
        r#"{"id": 2, "vector": [1, 0]}"#,
        "",
        r#"{"id": 3, "vector": [1, 0, 0, "x"]}"#,
        r#"{"id": 4, "vector": [0, 1, 0, 0], "payload": {"tag": "b"}}"#,
        r#"{"id": 5, "text": "no model here"}"#,
        r#"{"id": 6, "vector": [0, 0, 1, 0]}"#,
    ]
    .join("\n");
    let (status, v) = s
        .raw(
            Method::POST,
            "/collections/c/import?on_error=skip",
            body.clone().into_bytes(),
            Some("application/x-ndjson"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let job = wait_job(&s, &v["result"]["job_id"]).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["done"], 7, "{job}");
    assert_eq!(job["skipped"], 3, "{job}");
    let lines: Vec<u64> =
        job["bad_lines"].as_array().unwrap().iter().map(|b| b["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![2, 4, 6], "{job}");
    assert!(job["bad_lines"][0]["error"].as_str().unwrap().contains("dimension"), "{job}");
    assert!(job["bad_lines"][2]["error"].as_str().unwrap().contains("embedding model"), "{job}");
    assert_eq!(s.count("c").await, 3);
    assert_eq!(s.point("c", "4").await.unwrap()["payload"], json!({"tag": "b"}));

    s.create("f", 4, "Euclid").await;
    let (status, v) =
        s.raw(Method::POST, "/collections/f/import", body.into_bytes(), Some("application/x-ndjson")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let job = wait_job(&s, &v["result"]["job_id"]).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("line 2") && error.contains("dimension"), "{job}");
    assert_eq!(job["done"], 1, "{job}");
    assert_eq!(s.count("f").await, 1, "the rows before the bad one stay imported");
}

fn write_fvecs(path: &std::path::Path, rows: &[Vec<f32>]) {
    let mut f = std::fs::File::create(path).unwrap();
    for r in rows {
        f.write_all(&(r.len() as i32).to_le_bytes()).unwrap();
        for x in r {
            f.write_all(&x.to_le_bytes()).unwrap();
        }
    }
}

fn write_npy(path: &std::path::Path, rows: &[Vec<f32>]) {
    let dim = rows[0].len();
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}", rows.len());
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    for r in rows {
        for x in r {
            f.write_all(&x.to_le_bytes()).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_imports_fvecs_npy_and_jsonl() {
    let files = tempfile::tempdir().unwrap();
    let mut config = vicinity::config::Config::default();
    config.storage.import_dir = Some(files.path().to_path_buf());
    let s = Server::with_config(config);
    let mut rng = Rng::new(11);
    let rows: Vec<Vec<f32>> = (0..250).map(|_| vector(&mut rng, 6)).collect();
    write_fvecs(&files.path().join("a.fvecs"), &rows[..150]);
    write_npy(&files.path().join("b.npy"), &rows[150..]);
    let jsonl: String = (0..20)
        .map(|i| {
            format!("{{\"id\": {}, \"vector\": {:?}, \"payload\": {{\"i\": {i}}}}}\n", 1000 + i, rows[i])
        })
        .collect();
    std::fs::write(files.path().join("c.jsonl"), jsonl).unwrap();
    s.create("c", 6, "Euclid").await;
    // Absolute inside the import directory, or relative to it.
    for (path, format, ids_from) in [
        (files.path().join("a.fvecs"), "fvecs", 0),
        ("b.npy".into(), "npy", 150),
        (files.path().join("c.jsonl"), "jsonl", 0),
    ] {
        let file = path.display();
        let (status, v) = s
            .call(
                Method::POST,
                "/collections/c/import",
                Some(json!({"path": path, "format": format, "ids_from": ids_from})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{file}: {v}");
        let job = wait_job(&s, &v["result"]["job_id"]).await;
        assert_eq!(job["state"], "succeeded", "{file}: {job}");
        assert_eq!(job["done"], job["total"], "{file}: {job}");
    }
    assert_eq!(s.count("c").await, 270);
    for (id, row) in
        [(0usize, &rows[0]), (149, &rows[149]), (150, &rows[150]), (249, &rows[249]), (1007, &rows[7])]
    {
        let p = s.point("c", &id.to_string()).await.unwrap_or_else(|| panic!("point {id} missing"));
        let got: Vec<f32> = serde_json::from_value(p["vector"].clone()).unwrap();
        assert_eq!(&got, row, "point {id}");
    }
    assert_eq!(s.point("c", "1007").await.unwrap()["payload"], json!({"i": 7}));

    let bad = |body: Value| s.call(Method::POST, "/collections/c/import", Some(body));
    let (status, v) = bad(json!({"path": "../a.fvecs", "format": "fvecs"})).await;
    check_error("parent path", status, &v, StatusCode::BAD_REQUEST, &["not a file in the import directory"]);
    let (status, v) = bad(json!({"path": files.path().join("none.fvecs"), "format": "fvecs"})).await;
    check_error(
        "missing file",
        status,
        &v,
        StatusCode::BAD_REQUEST,
        &["none.fvecs", "not a file in the import"],
    );
    let (status, v) = bad(json!({"path": files.path().join("a.fvecs"), "format": "parquet"})).await;
    check_error("unknown format", status, &v, StatusCode::BAD_REQUEST, &["parquet"]);
    s.create("wide", 8, "Euclid").await;
    let (status, v) = s
        .call(
            Method::POST,
            "/collections/wide/import",
            Some(json!({"path": files.path().join("a.fvecs"), "format": "fvecs"})),
        )
        .await;
    check_error("wrong dimension", status, &v, StatusCode::BAD_REQUEST, &["6-d", "8-d"]);
    let (status, v) = s.raw(Method::POST, "/collections/c/import", b"x".to_vec(), Some("text/plain")).await;
    check_error("content type", status, &v, StatusCode::UNSUPPORTED_MEDIA_TYPE, &["x-ndjson"]);
    let (status, v) = s
        .call(
            Method::POST,
            "/collections/nope/import",
            Some(json!({"path": files.path().join("a.fvecs"), "format": "fvecs"})),
        )
        .await;
    check_error("missing collection", status, &v, StatusCode::NOT_FOUND, &["nope"]);
}

/// Stopping the service halts a running file import at a batch boundary (the drop waits for
/// its thread, so nothing holds the database afterwards); the next start resumes it from what
/// was committed and it ends with every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_halted_by_a_stop_resumes_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(5);
    let n = 100_000u64;
    let rows: Vec<Vec<f32>> = (0..n).map(|_| vector(&mut rng, 4)).collect();
    // The default import directory: `<data_dir>/import`.
    std::fs::create_dir(dir.path().join("import")).unwrap();
    let path = dir.path().join("import/big.fvecs");
    write_fvecs(&path, &rows);
    let s = Server::open(dir.path());
    s.create("c", 4, "Euclid").await;
    let (status, v) =
        s.call(Method::POST, "/collections/c/import", Some(json!({"path": path, "format": "fvecs"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let id = v["result"]["job_id"].clone();
    let mut seen = 0;
    for _ in 0..6000 {
        seen = s.get(&format!("/jobs/{id}")).await["done"].as_u64().unwrap();
        if seen > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(seen > 0 && seen < n, "the import should be part-way when stopped, done = {seen}");
    drop(s);

    let s = Server::open(dir.path());
    let job = wait_job(&s, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["done"], n, "{job}");
    assert_eq!(s.count("c").await, n);
    let last = s.point("c", &(n - 1).to_string()).await.expect("last row imported");
    assert_eq!(serde_json::from_value::<Vec<f32>>(last["vector"].clone()).unwrap(), rows[n as usize - 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_keeps_every_write_made_while_it_runs() {
    let s = Server::new();
    s.create_with(
        "c",
        json!({"vectors": {"size": 8, "distance": "Euclid"}, "hnsw_config": {"m": 16, "ef_construct": 64}}),
    )
    .await;
    let mut rng = Rng::new(5);
    let base: Vec<Value> = (0..20_000).map(|i| json!({"id": i, "vector": vector(&mut rng, 8)})).collect();
    for chunk in base.chunks(5_000) {
        s.upsert("c", json!(chunk)).await;
    }
    s.post("/collections/c/points/delete?wait=true", json!({"points": (0..100).collect::<Vec<_>>()})).await;
    let (status, v) =
        s.call(Method::POST, "/collections/c/index/rebuild", Some(json!({"hnsw_config": {"m": 12}}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let id = v["result"]["job_id"].clone();
    let mut written = Vec::new();
    let mut next = 100_000u64;
    loop {
        let v = vector(&mut rng, 8);
        s.upsert("c", json!([{"id": next, "vector": v}])).await;
        written.push((next, v));
        next += 1;
        let job = s.get(&format!("/jobs/{id}")).await;
        if job["state"] != "running" && job["state"] != "queued" {
            assert_eq!(job["state"], "succeeded", "{job}");
            assert_eq!(job["result"]["removed_tombstones"], 100, "{job}");
            break;
        }
    }
    assert!(written.len() > 1, "the rebuild finished before any write raced with it");
    let info = s.get("/collections/c").await;
    assert_eq!(info["config"]["hnsw_config"]["m"], 12, "{info}");
    assert_eq!(info["vicinity"]["deleted_points"], 0, "{info}");
    assert_eq!(s.count("c").await, 19_900 + written.len() as u64);
    for (id, v) in &written {
        let r = s
            .post("/collections/c/points/query", json!({"query": v, "limit": 1, "params": {"hnsw_ef": 128}}))
            .await;
        assert_eq!(
            r["points"][0]["id"], *id,
            "point {id} written during the rebuild is not found by its vector"
        );
    }
    let (status, v) =
        s.call(Method::POST, "/collections/c/index/rebuild", Some(json!({"hnsw_config": {"m": 1}}))).await;
    check_error("bad m", status, &v, StatusCode::BAD_REQUEST, &["hnsw_config.m"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_recovers_the_same_points_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::open(dir.path());
    s.create("c", 4, "Cosine").await;
    let mut rng = Rng::new(3);
    let points: Vec<Value> = (0..500)
        .map(|i| json!({"id": i, "vector": vector(&mut rng, 4), "payload": {"i": i, "even": i % 2 == 0}}))
        .collect();
    s.upsert("c", json!(points)).await;
    s.post(
        "/collections/c/points/delete?wait=true",
        json!({"filter": {"must": [{"key": "i", "range": {"lt": 50}}]}}),
    )
    .await;
    let snap = s.post("/collections/c/snapshots", json!({})).await;
    let name = snap["name"].as_str().unwrap().to_string();
    let file = dir.path().join("snapshots/c").join(&name);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), snap["size"].as_u64().unwrap());
    let listed = s.get("/collections/c/snapshots").await;
    assert_eq!(listed[0]["name"], name.as_str(), "{listed}");
    s.upsert("c", json!([{"id": 9999, "vector": [1, 0, 0, 0]}])).await;

    let recover = json!({"location": format!("file://{}", file.display()), "checksum": snap["checksum"]});
    assert_eq!(s.put("/collections/r/snapshots/recover", recover).await, json!(true));
    let original: Vec<Value> =
        s.scroll_all("c", 100, None).await.into_iter().filter(|p| p["id"] != 9999).collect();
    assert_eq!(s.scroll_all("r", 100, None).await, original);
    let q = json!({"query": [0.3, -0.2, 0.9, 0.1], "limit": 10, "with_payload": true});
    let a = s.post("/collections/c/points/query", q.clone()).await;
    let b = s.post("/collections/r/points/query", q).await;
    assert_eq!(a["points"], b["points"]);

    let wrong = json!({"location": file, "checksum": "00"});
    let (status, v) = s.call(Method::PUT, "/collections/x/snapshots/recover", Some(wrong)).await;
    check_error("wrong checksum", status, &v, StatusCode::BAD_REQUEST, &["checksum"]);
    let cut = dir.path().join("snapshots/cut.snapshot");
    std::fs::write(&cut, &std::fs::read(&file).unwrap()[..200]).unwrap();
    let (status, v) =
        s.call(Method::PUT, "/collections/x/snapshots/recover", Some(json!({"location": cut}))).await;
    check_error("truncated", status, &v, StatusCode::BAD_REQUEST, &["corrupt or truncated"]);
    assert!(!s.exists("x").await);
    let (status, v) = s.call(Method::GET, "/collections/c/snapshots/..%2Fsecret.snapshot", None).await;
    check_error("traversal", status, &v, StatusCode::BAD_REQUEST, &["invalid snapshot name"]);

    drop(s);
    let s = Server::open(dir.path());
    assert_eq!(s.scroll_all("r", 100, None).await, original);
    let (status, _) = s.call(Method::DELETE, &format!("/collections/c/snapshots/{name}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.get("/collections/c/snapshots").await, json!([]));
}

#[tokio::test]
async fn admin_routes_need_the_admin_key() {
    let mut config = vicinity::config::Config::default();
    config.service.admin_api_key = Some("secret".into());
    let s = Server::with_config(config);
    s.create("c", 4, "Dot").await;
    let send = |key: Option<&str>| {
        let mut req = Request::builder().method(Method::GET).uri("/jobs");
        if let Some(k) = key {
            req = req.header("api-key", k);
        }
        s.app.clone().oneshot(req.body(Body::empty()).unwrap())
    };
    assert_eq!(send(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(send(Some("wrong")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(send(Some("secret")).await.unwrap().status(), StatusCode::OK);
    let (status, v) = s.call(Method::POST, "/collections/c/snapshots", None).await;
    check_error("no key", status, &v, StatusCode::UNAUTHORIZED, &["admin"]);
}
