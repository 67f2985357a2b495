//! Qdrant's REST conventions, each as Qdrant answers it (docs/qdrant-conventions.md): 422
//! validation errors in its words, collection-name rules, `?timeout=`, unknown fields.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::Server;

/// Expects a 422 whose message is exactly `message`, with the `invalid` code.
async fn invalid(s: &Server, method: Method, uri: &str, body: Option<Value>, message: &str) {
    let (status, v) = s.call(method.clone(), uri, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {uri}: {v}");
    assert_eq!(v["status"]["error"], message, "{method} {uri}: {v}");
    assert_eq!(v["status"]["code"], "invalid", "{v}");
    assert_eq!(v["time"], json!(0.0), "{v}");
}

#[tokio::test]
async fn validation_errors_are_422_in_qdrants_words() {
    let s = Server::new();
    let create = |body: Value| (Method::PUT, "/collections/v", Some(body));
    for (body, message) in [
        (
            json!({"vectors": {"size": 65537, "distance": "Dot"}}),
            "Validation error in JSON body: [vectors.size: value 65537 invalid, must be from 1 to 65536]",
        ),
        (
            json!({"vectors": {"size": 4, "distance": "Dot"}, "hnsw_config": {"ef_construct": 0}}),
            "Validation error in JSON body: [hnsw_config.ef_construct: value 0 invalid, must be 4 or larger]",
        ),
        (
            json!({"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 0}),
            "Validation error in JSON body: [shard_number: value 0 invalid, must be 1 or larger]",
        ),
        (
            json!({"vectors": {"size": 4, "distance": "Dot"}, "replication_factor": 0, "write_consistency_factor": 0}),
            "Validation error in JSON body: [replication_factor: value 0 invalid, must be 1 or larger; write_consistency_factor: value 0 invalid, must be 1 or larger]",
        ),
    ] {
        let (method, uri, body) = create(body);
        invalid(&s, method, uri, body, message).await;
    }
    // 65536 is the largest size, as in Qdrant; a size of 0 or a negative count is a format error.
    s.create("big", 65536, "Dot").await;
    s.err(
        Method::PUT,
        "/collections/v",
        Some(json!({"vectors": {"size": 0, "distance": "Dot"}})),
        StatusCode::BAD_REQUEST,
        &["Format error in JSON body", "vectors.size"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/v",
        Some(json!({"vectors": {"size": 4, "distance": "Dot"}, "shard_number": -1})),
        StatusCode::BAD_REQUEST,
        &["Format error in JSON body", "shard_number"],
    )
    .await;
    assert!(!s.exists("v").await, "nothing was created");

    s.create("c", 2, "Dot").await;
    s.upsert("c", json!([{"id": 1, "vector": [1, 0], "payload": {"city": "Oslo"}}])).await;
    let q = "/collections/c/points/query";
    invalid(
        &s,
        Method::POST,
        q,
        Some(json!({"query": [1, 0], "limit": 0})),
        "Validation error in JSON body: [internal.limit: value 0 invalid, must be 1 or larger]",
    )
    .await;
    invalid(
        &s,
        Method::POST,
        "/collections/c/points/search",
        Some(json!({"vector": [1, 0], "limit": 0})),
        "Validation error in JSON body: [search_request.limit: value 0 invalid, must be 1 or larger]",
    )
    .await;
    invalid(
        &s,
        Method::POST,
        "/collections/c/points/scroll",
        Some(json!({"limit": 0})),
        "Validation error in JSON body: [scroll_request.limit: value 0 invalid, must be 1 or larger]",
    )
    .await;
    invalid(
        &s,
        Method::POST,
        "/collections/c/points/query/batch",
        Some(json!({"searches": [{"query": [1, 0]}, {"query": [1, 0], "limit": 0}]})),
        "Validation error in JSON body: [searches[1].internal.limit: value 0 invalid, must be 1 or larger]",
    )
    .await;
    // A field condition with only a key, wherever the filter is.
    invalid(&s, Method::POST, q, Some(json!({"query": [1, 0], "filter": {"must": [{"key": "city"}]}})),
        "Validation error in JSON body: [internal.filter.must[0].__all__: Validation error: At least one field condition must be specified [{}]]").await;
    invalid(&s, Method::POST, "/collections/c/points/count", Some(json!({"filter": {"should": {"key": "city"}}})),
        "Validation error in JSON body: [filter.should.__all__: Validation error: At least one field condition must be specified [{}]]").await;
    invalid(&s, Method::POST, q, Some(json!({"query": {"recommend": {"positive": [], "negative": []}}})),
        "Validation error in JSON body: [internal.query.recommend.positives, negatives: Validation error: At least one positive or negative vector/id must be provided [{}]]").await;
    // The legacy recommend route checks examples after validation, as Qdrant does: a 400.
    s.err(
        Method::POST,
        "/collections/c/points/recommend",
        Some(json!({"positive": [], "limit": 3})),
        StatusCode::BAD_REQUEST,
        &["At least one positive vector ID required with this strategy"],
    )
    .await;
    // An integer index needs lookup or range.
    invalid(&s, Method::PUT, "/collections/c/index",
        Some(json!({"field_name": "n", "field_schema": {"type": "integer", "lookup": false, "range": false}})),
        "Validation error in JSON body: [field_schema.lookup: Validation error: the 'lookup' and 'range' capabilities can't be both disabled [{}]]").await;
    s.put(
        "/collections/c/index",
        json!({"field_name": "n", "field_schema": {"type": "integer", "lookup": false, "range": true}}),
    )
    .await;
    // hnsw_ef has no lower bound in Qdrant: 0 searches like the limit.
    let hits = s.post(q, json!({"query": [1, 0], "params": {"hnsw_ef": 0}})).await;
    assert_eq!(hits["points"][0]["id"], 1, "{hits}");
}

#[tokio::test]
async fn collection_names_follow_qdrants_rules() {
    let s = Server::new();
    // Spaces, dots, Unicode: all allowed, and usable on every route.
    for name in ["my collection", "v1.2", "коллекция", "a-b_c"] {
        let uri = format!("/collections/{}", urlencode(name));
        assert_eq!(s.put(&uri, json!({"vectors": {"size": 2, "distance": "Dot"}})).await, json!(true));
        s.put(&format!("{uri}/points?wait=true"), json!({"points": [{"id": 1, "vector": [1, 0]}]})).await;
        let hits = s.post(&format!("{uri}/points/query"), json!({"query": [1, 0]})).await;
        assert_eq!(hits["points"][0]["id"], 1, "{name}: {hits}");
        let listed = s.get("/collections").await;
        assert!(listed["collections"].as_array().unwrap().contains(&json!({"name": name})), "{listed}");
        // A snapshot of it is written, listed and recovered.
        let snap = s.post(&format!("{uri}/snapshots"), json!({})).await;
        let file = snap["name"].as_str().unwrap().to_string();
        let listed = s.get(&format!("{uri}/snapshots")).await;
        assert_eq!(listed[0]["name"], file.as_str(), "{listed}");
    }
    // Any name is safe in /metrics: the label value is escaped.
    let odd = "line\nbreak";
    assert_eq!(
        s.put(
            &format!("/collections/{}", urlencode(odd)),
            json!({"vectors": {"size": 2, "distance": "Dot"}})
        )
        .await,
        json!(true)
    );
    let (_, metrics) = s.raw_text("/metrics").await;
    assert!(metrics.contains(r#"vicinity_collection_points{collection="line\nbreak"} 0"#), "{metrics}");
    let long = "a b".repeat(100); // 300 characters with spaces
    let quoted = serde_json::to_string(&long).unwrap();
    let message = format!("Validation error in path parameters: [name: value {quoted} invalid, must be from 1 to 255 characters]");
    invalid(
        &s,
        Method::PUT,
        &format!("/collections/{}", urlencode(&long)),
        Some(json!({"vectors": {"size": 2, "distance": "Dot"}})),
        &message,
    )
    .await;
    invalid(&s, Method::GET, &format!("/collections/{}", urlencode(&long)), None, &message).await;
    // 255 characters (not bytes) is the longest.
    let longest = "ж".repeat(255);
    assert_eq!(
        s.put(
            &format!("/collections/{}", urlencode(&longest)),
            json!({"vectors": {"size": 2, "distance": "Dot"}})
        )
        .await,
        json!(true)
    );
    for (name, c) in [
        ("a*b", "*"),
        ("a:b", ":"),
        ("a<b", "<"),
        ("a/b", "/"),
        ("a\\b", "\\"),
        ("a|b", "|"),
        ("a?b", "?"),
        ("a\"b", "\""),
    ] {
        let message = format!(
            "Validation error in path parameters: [name: collection name cannot contain \"{c}\" char]"
        );
        invalid(
            &s,
            Method::PUT,
            &format!("/collections/{}", urlencode(name)),
            Some(json!({"vectors": {"size": 2, "distance": "Dot"}})),
            &message,
        )
        .await;
    }
    for name in [".", ".."] {
        let (status, v) = s
            .call(
                Method::PUT,
                &format!("/collections/{}", urlencode(name)),
                Some(json!({"vectors": {"size": 2, "distance": "Dot"}})),
            )
            .await;
        assert!(status.is_client_error(), "{name}: {status} {v}");
    }
}

/// Percent-encodes everything but unreserved characters.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn timeout_parameters_are_checked_and_honoured() {
    let s = Server::new();
    s.create("c", 2, "Dot").await;
    s.upsert("c", json!([{"id": 1, "vector": [1, 0]}])).await;
    // Reads take seconds, at least 1.
    for uri in [
        "/collections/c/points/query?timeout=5",
        "/collections/c/points/scroll?timeout=1",
        "/collections/c/points/count?timeout=30",
    ] {
        s.post(uri, json!({})).await;
    }
    s.err(
        Method::POST,
        "/collections/c/points/query?timeout=0",
        Some(json!({})),
        StatusCode::BAD_REQUEST,
        &["Deserialize error in query parameters", "nonzero"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/c/points/query?timeout=-5",
        Some(json!({})),
        StatusCode::BAD_REQUEST,
        &["Deserialize error in query parameters"],
    )
    .await;
    // Collection operations: at least 1, a 422 in the query parameters.
    invalid(
        &s,
        Method::DELETE,
        "/collections/c?timeout=0",
        None,
        "Validation error in query parameters: [timeout: value 0 invalid, must be 1 or larger]",
    )
    .await;
    assert_eq!(s.ok(Method::DELETE, "/collections/c?timeout=10", None).await, json!(true));
    // Writes take it too (they are applied before the answer).
    s.create("d", 2, "Dot").await;
    let r = s
        .put(
            "/collections/d/points?wait=true&timeout=3&ordering=strong",
            json!({"points": [{"id": 1, "vector": [1, 0]}]}),
        )
        .await;
    assert_eq!(r["status"], "completed", "{r}");
}

#[tokio::test]
async fn unknown_fields_are_ignored_as_qdrant_ignores_them() {
    let s = Server::new();
    s.create_with(
        "c",
        json!({"vectors": {"size": 2, "distance": "Dot", "future_option": 1}, "some_new_field": true}),
    )
    .await;
    s.put(
        "/collections/c/points?wait=true",
        json!({"points": [{"id": 1, "vector": [1, 0], "new": 1}], "extra": "x"}),
    )
    .await;
    let hits = s.post("/collections/c/points/query", json!({"query": [1, 0], "new_knob": 3})).await;
    assert_eq!(hits["points"][0]["id"], 1, "{hits}");
    // Except inside a filter and a payload selector, where Qdrant refuses them.
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"query": [1, 0], "filter": {"muts": []}})),
        StatusCode::BAD_REQUEST,
        &["muts"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"query": [1, 0], "with_payload": {"inclde": ["a"]}})),
        StatusCode::BAD_REQUEST,
        &["inclde"],
    )
    .await;
    // A Qdrant option vicinity does not implement is refused, never ignored.
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"query": [1, 0], "prefetch": [{"query": [1, 0], "lookup_from": {"collection": "c"}}]})),
        StatusCode::BAD_REQUEST,
        &["prefetch[0].lookup_from is not supported"],
    )
    .await;
}

/// Serves `routes` (path → status, headers, body) over HTTP/1.1 on loopback, one answer per
/// connection; returns the port.
async fn serve_files(routes: Vec<(&'static str, u16, String, Vec<u8>)>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, headers, body) = routes
                    .iter()
                    .find(|(p, ..)| *p == path)
                    .map(|(_, s, h, b)| (*s, h.clone(), b.clone()))
                    .unwrap_or((404, String::new(), b"missing".to_vec()));
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{headers}connection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.write_all(&body).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_recovered_from_http_locations() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = vicinity::config::Config::default();
    config.storage.snapshot_hosts = Some(vec!["127.0.0.1".into()]);
    let s = Server::open_with(dir.path(), config);
    s.create("c", 2, "Dot").await;
    s.upsert("c", json!([{"id": 1, "vector": [1, 0], "payload": {"a": 1}}, {"id": 2, "vector": [0, 1]}]))
        .await;
    let snap = s.post("/collections/c/snapshots", json!({})).await;
    let file = dir.path().join("snapshots/c").join(snap["name"].as_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    let port = serve_files(vec![
        ("/s.snapshot", 200, String::new(), bytes.clone()),
        ("/moved", 302, "location: /s.snapshot\r\n".into(), Vec::new()),
        ("/bad.snapshot", 200, String::new(), bytes[..100].to_vec()),
    ])
    .await;
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    // `wait` in the body is ignored, as in Qdrant.
    let body = json!({"location": url("/s.snapshot"), "checksum": snap["checksum"], "wait": true});
    assert_eq!(s.put("/collections/r/snapshots/recover", body).await, json!(true));
    assert_eq!(s.scroll_all("r", 10, None).await, s.scroll_all("c", 10, None).await);
    assert_eq!(
        s.put("/collections/m/snapshots/recover", json!({"location": url("/moved")})).await,
        json!(true)
    );
    assert_eq!(s.count("m").await, 2);
    s.err(
        Method::PUT,
        "/collections/x/snapshots/recover",
        Some(json!({"location": url("/nope")})),
        StatusCode::BAD_REQUEST,
        &["Failed to download snapshot from", "status - 404"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/x/snapshots/recover",
        Some(json!({"location": url("/bad.snapshot")})),
        StatusCode::BAD_REQUEST,
        &["corrupt or truncated"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/x/snapshots/recover",
        Some(json!({"location": url("/s.snapshot"), "checksum": "0".repeat(64)})),
        StatusCode::BAD_REQUEST,
        &["checksum"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/x/snapshots/recover",
        Some(json!({"location": "ftp://127.0.0.1/s.snapshot"})),
        StatusCode::BAD_REQUEST,
        &["scheme"],
    )
    .await;
    assert!(!s.exists("x").await);
    // Nothing fetched is left behind.
    let left: Vec<_> =
        walk(&dir.path().join("snapshots")).into_iter().filter(|p| p.ends_with(".partial")).collect();
    assert!(left.is_empty(), "{left:?}");
    drop(s);

    // storage.snapshot_hosts restricts where from.
    let mut config = vicinity::config::Config::default();
    config.storage.snapshot_hosts = Some(vec!["snapshots.internal".into()]);
    let s = Server::open_with(dir.path(), config);
    s.err(
        Method::PUT,
        "/collections/y/snapshots/recover",
        Some(json!({"location": url("/s.snapshot")})),
        StatusCode::BAD_REQUEST,
        &["not in storage.snapshot_hosts"],
    )
    .await;
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// Payload paths as Qdrant defines them (docs/qdrant-conventions.md): a key never descends into
/// an array on its own, `[]` and `[N]` do; values_count counts each selected value.
#[tokio::test]
async fn payload_paths_as_qdrant_defines_them() {
    let s = Server::new();
    s.create("c", 2, "Dot").await;
    let germany = json!({"country": {"name": "Germany", "cities": [
        {"name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate", "Reichstag"]},
        {"name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz", "Olympiapark"]}]}});
    let japan = json!({"country": {"name": "Japan", "cities": [
        {"name": "Tokyo", "population": 9.3, "sightseeing": ["Tokyo Tower", "Tokyo Skytree"]},
        {"name": "Osaka", "population": 2.7, "sightseeing": ["Osaka Castle", "Universal Studios Japan"]}]}});
    let other = json!({"a": {"b.c": 5, "b": {"c": 6}}, "tags": ["x", "y"], "n": null, "e": [], "nn": [null],
        "arr": [{"a": [1, 2, 3]}, {"a": 4}, {"b": 5}]});
    s.upsert(
        "c",
        json!([
            {"id": 1, "vector": [1, 0], "payload": germany},
            {"id": 2, "vector": [1, 0], "payload": japan},
            {"id": 3, "vector": [1, 0], "payload": other},
            {"id": 4, "vector": [1, 0], "payload": {"a": 5}},
        ]),
    )
    .await;
    let ids = |filter: Value| {
        let s = &s;
        async move {
            let page = s
                .post(
                    "/collections/c/points/scroll",
                    json!({"filter": filter, "limit": 10, "with_payload": false}),
                )
                .await;
            page["points"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect::<Vec<_>>()
        }
    };
    let field = |key: &str, cond: Value| {
        let mut c = cond.as_object().unwrap().clone();
        c.insert("key".into(), json!(key));
        json!({"must": [c]})
    };
    for (key, cond, want) in [
        ("country.cities.population", json!({"range": {"gte": 9}}), vec![]),
        ("country.cities[].population", json!({"range": {"gte": 9}}), vec![2]),
        ("country.cities[0].population", json!({"range": {"gte": 9}}), vec![2]),
        ("country.cities[1].population", json!({"range": {"gte": 2}}), vec![2]),
        ("country.cities[].sightseeing", json!({"match": {"value": "Osaka Castle"}}), vec![2]),
        ("country.cities.sightseeing", json!({"match": {"value": "Osaka Castle"}}), vec![]),
        ("a.\"b.c\"", json!({"match": {"value": 5}}), vec![3]),
        ("a.b.c", json!({"match": {"value": 6}}), vec![3]),
        ("a.b.c", json!({"match": {"value": 5}}), vec![]),
        ("tags", json!({"match": {"value": "y"}}), vec![3]),
        ("tags[]", json!({"match": {"value": "y"}}), vec![3]),
        ("tags[1]", json!({"match": {"value": "y"}}), vec![3]),
        ("tags[0]", json!({"match": {"value": "y"}}), vec![]),
        ("country.cities", json!({"values_count": {"gte": 2}}), vec![1, 2]),
        ("country.cities[].name", json!({"values_count": {"gte": 2}}), vec![]),
        ("country.cities[].sightseeing", json!({"values_count": {"gte": 2}}), vec![1, 2]),
        ("missing", json!({"values_count": {"lt": 1}}), vec![1, 2, 3, 4]),
        ("arr[].a", json!({"match": {"value": 2}}), vec![3]),
        ("arr[].a[]", json!({"match": {"value": 2}}), vec![3]),
        ("arr[].a", json!({"match": {"value": 4}}), vec![3]),
    ] {
        assert_eq!(ids(field(key, cond.clone())).await, want, "{key} {cond}");
    }
    assert_eq!(
        ids(json!({"must": [{"is_empty": {"key": "country.cities[].population"}}]})).await,
        vec![3, 4]
    );
    assert_eq!(
        ids(json!({"must": [{"is_empty": {"key": "country.cities.population"}}]})).await,
        vec![1, 2, 3, 4]
    );
    assert_eq!(ids(json!({"must": [{"is_null": {"key": "nn"}}]})).await, vec![3]);
    assert_eq!(ids(json!({"must": [{"nested": {"key": "country.cities", "filter": {"must": [{"key": "population", "range": {"gte": 9}}]}}}]})).await, vec![2]);
    // A payload index on a path indexes what the path selects: the same answers.
    s.put(
        "/collections/c/index?wait=true",
        json!({"field_name": "country.cities[].population", "field_schema": "float"}),
    )
    .await;
    assert_eq!(ids(field("country.cities[].population", json!({"range": {"gte": 9}}))).await, vec![2]);
    // Bad paths are named.
    s.err(
        Method::POST,
        "/collections/c/points/scroll",
        Some(json!({"filter": field("a b", json!({"match": {"value": 1}}))})),
        StatusCode::BAD_REQUEST,
        &["Invalid json path: 'a b'"],
    )
    .await;

    // Selectors keep the nesting.
    let payload = |sel: Value| {
        let s = &s;
        async move {
            s.post("/collections/c/points", json!({"ids": [1], "with_payload": sel})).await[0]["payload"]
                .clone()
        }
    };
    assert_eq!(payload(json!({"include": ["country.name"]})).await, json!({"country": {"name": "Germany"}}));
    assert_eq!(
        payload(json!(["country.cities[].name"])).await,
        json!({"country": {"cities": [{"name": "Berlin"}, {"name": "Munich"}]}})
    );
    assert_eq!(
        payload(json!({"exclude": ["country.cities[].sightseeing", "country.name"]})).await,
        json!({"country": {"cities": [{"name": "Berlin", "population": 3.7}, {"name": "Munich", "population": 1.5}]}})
    );

    // Set-payload under a path.
    let set = |key: &str, payload: Value| {
        let s = &s;
        let body = json!({"points": [1], "key": key, "payload": payload});
        async move { s.post("/collections/c/points/payload?wait=true", body).await }
    };
    set("country.cities[0]", json!({"population": 3.8})).await;
    set("country.cities[].rank", json!({"top": true})).await;
    set("country.capital", json!({"name": "Berlin"})).await;
    let got = s.point("c", "1").await.unwrap()["payload"].clone();
    assert_eq!(got["country"]["cities"][0]["population"], 3.8, "{got}");
    assert_eq!(got["country"]["cities"][1]["rank"], json!({"top": true}), "{got}");
    assert_eq!(got["country"]["capital"], json!({"name": "Berlin"}), "{got}");
    assert!(got.get("country.capital").is_none() && got["country"].get("cities[0]").is_none(), "{got}");
    // A null removes its key; delete-payload takes paths.
    set("country", json!({"capital": null})).await;
    s.post(
        "/collections/c/points/payload/delete?wait=true",
        json!({"points": [1], "keys": ["country.cities[].sightseeing"]}),
    )
    .await;
    let got = s.point("c", "1").await.unwrap()["payload"].clone();
    assert!(got["country"].get("capital").is_none(), "{got}");
    assert!(
        got["country"]["cities"].as_array().unwrap().iter().all(|c| c.get("sightseeing").is_none()),
        "{got}"
    );
    s.err(
        Method::POST,
        "/collections/c/points/payload?wait=true",
        Some(json!({"points": [1], "key": "a..b", "payload": {}})),
        StatusCode::BAD_REQUEST,
        &["Invalid json path: 'a..b'"],
    )
    .await;
}

/// Aliases as in Qdrant: applied all at once, usable wherever a collection name is, gone with
/// their collection, kept across a restart.
#[tokio::test]
async fn aliases_swap_collections_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::open(dir.path());
    s.create("v1", 2, "Dot").await;
    s.create("v2", 2, "Dot").await;
    s.upsert("v1", json!([{"id": 1, "vector": [1, 0]}])).await;
    s.upsert("v2", json!([{"id": 2, "vector": [1, 0]}])).await;
    let change = |actions: Value| json!({"actions": actions});
    s.post(
        "/collections/aliases",
        change(json!([{"create_alias": {"collection_name": "v1", "alias_name": "prod"}}])),
    )
    .await;
    assert_eq!(first_hit(&s, "prod").await, 1);
    // Swap in one request: delete + create.
    s.post(
        "/collections/aliases",
        change(json!([
            {"delete_alias": {"alias_name": "prod"}},
            {"create_alias": {"collection_name": "v2", "alias_name": "prod"}},
        ])),
    )
    .await;
    assert_eq!(first_hit(&s, "prod").await, 2);
    // Writes, info and counts through the alias reach the collection.
    s.upsert("prod", json!([{"id": 3, "vector": [0, 1]}])).await;
    assert_eq!(s.count("v2").await, 2);
    assert_eq!(s.get("/collections/prod").await["points_count"], 2);
    // A snapshot through the alias is the collection's.
    let snap = s.post("/collections/prod/snapshots", json!({})).await;
    assert_eq!(s.get("/collections/v2/snapshots").await[0]["name"], snap["name"]);
    assert_eq!(s.get("/collections/prod/snapshots").await[0]["name"], snap["name"]);
    assert_eq!(
        s.get("/aliases").await,
        json!({"aliases": [{"alias_name": "prod", "collection_name": "v2"}]})
    );
    assert_eq!(s.get("/collections/v2/aliases").await["aliases"][0]["alias_name"], "prod");
    assert_eq!(s.get("/collections/v1/aliases").await, json!({"aliases": []}));
    assert_eq!(s.get("/collections/nope/aliases").await, json!({"aliases": []}));
    // All or nothing: a failing action leaves the earlier ones unapplied.
    s.err(
        Method::POST,
        "/collections/aliases",
        Some(change(json!([
            {"rename_alias": {"old_alias_name": "prod", "new_alias_name": "live"}},
            {"create_alias": {"collection_name": "missing", "alias_name": "x"}},
        ]))),
        StatusCode::NOT_FOUND,
        &["missing"],
    )
    .await;
    assert_eq!(s.get("/aliases").await["aliases"][0]["alias_name"], "prod");
    s.err(
        Method::POST,
        "/collections/aliases",
        Some(change(json!([{"create_alias": {"collection_name": "v2", "alias_name": "v1"}}]))),
        StatusCode::CONFLICT,
        &["v1"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/aliases",
        Some(change(json!([{"rename_alias": {"old_alias_name": "nope", "new_alias_name": "x"}}]))),
        StatusCode::NOT_FOUND,
        &["nope"],
    )
    .await;
    // Deleting a missing alias does nothing; a collection cannot take an alias's name.
    s.post("/collections/aliases", change(json!([{"delete_alias": {"alias_name": "nope"}}]))).await;
    s.err(
        Method::PUT,
        "/collections/prod",
        Some(json!({"vectors": {"size": 2, "distance": "Dot"}})),
        StatusCode::BAD_REQUEST,
        &["alias"],
    )
    .await;
    // DELETE through an alias deletes nothing, as in Qdrant.
    assert_eq!(s.ok(Method::DELETE, "/collections/prod", None).await, json!(false));
    assert!(s.exists("v2").await);
    s.post(
        "/collections/aliases",
        change(json!([{"rename_alias": {"old_alias_name": "prod", "new_alias_name": "live"}}])),
    )
    .await;
    drop(s);
    let s = Server::open(dir.path());
    assert_eq!(
        s.get("/aliases").await,
        json!({"aliases": [{"alias_name": "live", "collection_name": "v2"}]})
    );
    // Deleting the collection drops its aliases.
    assert_eq!(s.ok(Method::DELETE, "/collections/v2", None).await, json!(true));
    assert_eq!(s.get("/aliases").await, json!({"aliases": []}));
    s.err(
        Method::POST,
        "/collections/live/points/query",
        Some(json!({"query": [1, 0]})),
        StatusCode::NOT_FOUND,
        &["live"],
    )
    .await;
}

async fn first_hit(s: &Server, collection: &str) -> Value {
    s.post(&format!("/collections/{collection}/points/query"), json!({"query": [1, 0]})).await["points"][0]
        ["id"]
        .clone()
}

/// `points/batch`: operations in order, one answer each; the first failure stops the batch
/// with its error (the earlier operations stay applied, as in Qdrant); a bad operation found
/// while checking applies nothing.
#[tokio::test]
async fn points_batch_applies_operations_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::open(dir.path());
    s.create("c", 2, "Dot").await;
    let ops = json!({"operations": [
        {"upsert": {"points": [{"id": 1, "vector": [1, 0], "payload": {"a": 1}}, {"id": 2, "vector": [0, 1]}]}},
        {"set_payload": {"points": [2], "payload": {"b": {"c": 1}}}},
        {"set_payload": {"points": [2], "key": "b", "payload": {"d": 2}}},
        {"delete_payload": {"points": [1], "keys": ["a"]}},
        {"upsert": {"batch": {"ids": [3], "vectors": [[1, 1]]}}},
        {"delete": {"points": [3]}},
        {"overwrite_payload": {"filter": {"must": [{"has_id": [1]}]}, "payload": {"z": 0}}},
        {"clear_payload": {"points": [2]}},
        {"set_payload": {"points": [2], "payload": {"e": 5}}},
    ]});
    let results = s.post("/collections/c/points/batch?wait=true", ops).await;
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 9);
    assert!(results.iter().all(|r| r["status"] == "completed"), "{results:?}");
    let seqs: Vec<u64> = results.iter().map(|r| r["operation_id"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    assert_eq!(s.point("c", "1").await.unwrap()["payload"], json!({"z": 0}));
    assert_eq!(s.point("c", "2").await.unwrap()["payload"], json!({"e": 5}));
    assert!(s.point("c", "3").await.is_none());
    // A bad operation found while checking: nothing is applied.
    s.err(
        Method::POST,
        "/collections/c/points/batch",
        Some(json!({"operations": [
            {"delete": {"points": [1]}},
            {"upsert": {"points": [{"id": 9, "vector": [1, 2, 3]}]}},
        ]})),
        StatusCode::BAD_REQUEST,
        &["operations[1]"],
    )
    .await;
    assert!(s.point("c", "1").await.is_some());
    s.err(
        Method::POST,
        "/collections/c/points/batch",
        Some(json!({"operations": [{"update_vectors": {"points": []}}]})),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["operations[0]", "points: must specify points to update"],
    )
    .await;
    // A failure while applying: the earlier operations stay, the later ones do not run.
    s.err(
        Method::POST,
        "/collections/c/points/batch?wait=true",
        Some(json!({"operations": [
            {"set_payload": {"points": [1], "payload": {"first": true}}},
            {"set_payload": {"points": [404], "payload": {"x": 1}}},
            {"set_payload": {"points": [1], "payload": {"third": true}}},
        ]})),
        StatusCode::NOT_FOUND,
        &["404"],
    )
    .await;
    assert_eq!(s.point("c", "1").await.unwrap()["payload"], json!({"z": 0, "first": true}));
    drop(s);
    let s = Server::open(dir.path());
    assert_eq!(s.point("c", "1").await.unwrap()["payload"], json!({"z": 0, "first": true}));
    assert_eq!(s.count("c").await, 2);
}

/// `PATCH /collections/{c}`: index settings that change rebuild the index in the background;
/// settings without effect on one node are accepted; unknown vector names are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_update_rebuilds_with_the_new_settings() {
    let s = Server::new();
    s.create("c", 2, "Dot").await;
    s.upsert("c", json!([{"id": 1, "vector": [1, 0]}, {"id": 2, "vector": [0, 1]}])).await;
    let patch = |body: Value| s.call(Method::PATCH, "/collections/c", Some(body));
    let (status, v) = patch(
        json!({"hnsw_config": {"m": 8, "ef_construct": 50}, "optimizers_config": {"indexing_threshold": 0},
        "params": {"replication_factor": 2}}),
    )
    .await;
    assert_eq!((status, v["result"].clone()), (StatusCode::OK, json!(true)), "{v}");
    let jobs = s.get("/jobs").await;
    let job =
        jobs.as_array().unwrap().iter().find(|j| j["kind"] == "rebuild").expect("a rebuild job").clone();
    crate::jobs::wait_job(&s, &job["id"]).await;
    let info = s.get("/collections/c").await;
    assert_eq!(
        (info["config"]["hnsw_config"]["m"].clone(), info["config"]["hnsw_config"]["ef_construct"].clone()),
        (json!(8), json!(50)),
        "{info}"
    );
    assert_eq!(first_hit(&s, "c").await, 1);
    // The same settings again: nothing to rebuild.
    let before = s.get("/jobs").await.as_array().unwrap().len();
    let (status, _) = patch(json!({"vectors": {"": {"hnsw_config": {"m": 8}}}})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.get("/jobs").await.as_array().unwrap().len(), before);
    // The vector's settings apply over the collection's, field by field.
    let (status, _) = patch(
        json!({"vectors": {"": {"hnsw_config": {"m": 12}}}, "hnsw_config": {"m": 4, "ef_construct": 60}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let jobs = s.get("/jobs").await;
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "rebuild")
        .max_by_key(|j| j["id"].as_u64())
        .unwrap()
        .clone();
    crate::jobs::wait_job(&s, &job["id"]).await;
    let hnsw = s.get("/collections/c").await["config"]["hnsw_config"].clone();
    assert_eq!((hnsw["m"].clone(), hnsw["ef_construct"].clone()), (json!(12), json!(60)), "{hnsw}");
    s.err(
        Method::PATCH,
        "/collections/c",
        Some(json!({"vectors": {"image": {"on_disk": true}}})),
        StatusCode::BAD_REQUEST,
        &["Not existing vector name error: image"],
    )
    .await;
    s.err(
        Method::PATCH,
        "/collections/c",
        Some(json!({"params": {"replication_factor": 0}})),
        StatusCode::BAD_REQUEST,
        &["Format error in JSON body", "nonzero"],
    )
    .await;
    s.err(
        Method::PATCH,
        "/collections/c",
        Some(json!({"hnsw_config": {"ef_construct": 1}})),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["hnsw_config.ef_construct: value 1 invalid, must be 4 or larger"],
    )
    .await;
    s.err(
        Method::PATCH,
        "/collections/c",
        Some(json!({"strict_mode_config": {"enabled": true}})),
        StatusCode::BAD_REQUEST,
        &["strict_mode_config"],
    )
    .await;
    s.err(Method::PATCH, "/collections/missing", Some(json!({})), StatusCode::NOT_FOUND, &["missing"]).await;
}

/// Found by the congruence suite against Qdrant's definitions: a score equal to the threshold
/// is not kept; a threshold needs a query; a payload update of listed ids writes the points that
/// exist, then reports the first missing one.
#[tokio::test]
async fn thresholds_and_missing_ids_as_in_qdrant() {
    let s = Server::new();
    s.create("c", 2, "Dot").await;
    s.upsert("c", json!([{"id": 1, "vector": [1, 0]}, {"id": 2, "vector": [0.5, 0]}])).await;
    let hits = s
        .post(
            "/collections/c/points/query",
            json!({"query": [1, 0], "score_threshold": 0.5, "params": {"exact": true}}),
        )
        .await;
    assert_eq!(hits["points"].as_array().unwrap().len(), 1, "{hits}");
    s.err(
        Method::POST,
        "/collections/c/points/query",
        Some(json!({"score_threshold": 0.5})),
        StatusCode::BAD_REQUEST,
        &["A query is needed to use the score_threshold"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/c/points/payload?wait=true",
        Some(json!({"points": [1, 77, 2], "payload": {"x": 1}})),
        StatusCode::NOT_FOUND,
        &["77"],
    )
    .await;
    assert_eq!(s.point("c", "1").await.unwrap()["payload"], json!({"x": 1}));
    assert_eq!(s.point("c", "2").await.unwrap()["payload"], json!({"x": 1}));
}
