//! The OpenAPI document (`GET /openapi.json`) against the router it describes: every route in
//! `src/api/mod.rs` is in it; every operation lists the statuses its extractors and middleware
//! answer, each with the one shared error schema; every status the server actually answers to
//! a round of bad requests is documented; import and snapshot upload declare their media types.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use vicinity::api::Code;
use vicinity::config::Config;

use crate::common::{repo_file, Server};

const ERROR_SCHEMA: &str = "#/components/schemas/ErrorResponse";

/// Routes that stream their bodies: no whole-body read (so no 408 / 413 from it).
const STREAMED: [&str; 2] = ["/collections/{name}/import", "/collections/{name}/snapshots/upload"];
/// Routes without an API key check.
const PUBLIC: [&str; 4] = ["/", "/healthz", "/livez", "/readyz"];
/// Routes with a `{name}` that do not look the collection up: create, the existence check, the
/// (idempotent) delete, and the two that recover a snapshot into it (creating it if need be).
const NO_COLLECTION_LOOKUP: [(&str, &str); 6] = [
    ("put", "/collections/{name}"),
    ("get", "/collections/{name}/aliases"),
    ("delete", "/collections/{name}"),
    ("get", "/collections/{name}/exists"),
    ("put", "/collections/{name}/snapshots/recover"),
    ("post", "/collections/{name}/snapshots/upload"),
];
/// Reads that run under the search deadline / admission control: 503 with `Retry-After`.
const SEARCHES: [&str; 14] = [
    "/collections/{name}/points/query",
    "/collections/{name}/points/query/batch",
    "/collections/{name}/points/query/groups",
    "/collections/{name}/points/search/groups",
    "/collections/{name}/points/recommend/groups",
    "/collections/{name}/points/discover",
    "/collections/{name}/points/discover/batch",
    "/collections/{name}/points/search",
    "/collections/{name}/points/search/batch",
    "/collections/{name}/points/recommend",
    "/collections/{name}/points/recommend/batch",
    "/collections/{name}/points/scroll",
    "/collections/{name}/points/count",
    "/collections/{name}/facet",
];
/// Conflicts the handlers report (`Error::AlreadyExists` / `Error::Conflict`).
const CONFLICTS: [(&str, &str); 7] = [
    ("put", "/collections/{name}"),
    ("patch", "/collections/{name}"),
    ("post", "/collections/aliases"),
    ("delete", "/jobs/{id}"),
    ("post", "/collections/{name}/import"),
    ("post", "/collections/{name}/index/rebuild"),
    ("post", "/collections/{name}/snapshots"),
];

async fn document(s: &Server) -> Value {
    let (status, text) = s.raw_text("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_str(&text).expect("the document is JSON")
}

/// `(method, path template)` of every operation in the document.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.insert((method.clone(), path.clone()), op.clone());
        }
    }
    out
}

/// `(method, path)` of every `.route(...)` call in `src/api/mod.rs`: the path literal and the
/// HTTP verbs of its method router (`get(h)`, `put(h).post(h)`, …).
fn registered_routes() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(repo_file("src/api/mod.rs")).expect("src/api/mod.rs");
    let mut out = BTreeSet::new();
    for chunk in src.split(".route(").skip(1) {
        let chunk = chunk.split(".fallback(").next().unwrap();
        let path = chunk.split('"').nth(1).expect("a path literal").to_string();
        for method in ["get", "put", "post", "delete", "patch", "head"] {
            let call = format!("{method}(");
            let found = chunk.match_indices(&call).any(|(i, _)| {
                i == 0 || !chunk[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if found {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

fn documented(op: &Value) -> BTreeSet<u16> {
    op["responses"].as_object().expect("responses").keys().map(|k| k.parse().expect("a status")).collect()
}

/// The 4xx / 5xx statuses an operation must list, from how the router handles it.
fn required_statuses(method: &str, path: &str, op: &Value) -> BTreeSet<u16> {
    let mut want = BTreeSet::new();
    if !PUBLIC.contains(&path) {
        want.insert(401); // auth::any / auth::admin when keys are configured
    }
    if !STREAMED.contains(&path) {
        want.extend([400, 408, 413]); // server::read_body: unreadable, too slow, too large
    }
    if path.contains('{') {
        want.insert(400); // extract::Path
    }
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    if params.iter().any(|p| p["in"] == "query") {
        want.insert(400); // extract::Params
    }
    let content = op["requestBody"]["content"].as_object().cloned().unwrap_or_default();
    if content.contains_key("application/json") {
        want.extend([400, 413]); // extract::Body / JsonBytes / body_bytes
                                 // Rebuild reads any body as JSON (an empty one is allowed), so it has no 415.
        if path != "/collections/{name}/index/rebuild" {
            want.insert(415);
        }
    }
    if path.contains("{name}") {
        want.insert(422); // extract::Path: a collection name over 255 characters
    }
    if path.contains("{name}") && !NO_COLLECTION_LOOKUP.contains(&(method, path)) {
        want.insert(404); // no such collection
    }
    if ["{id}", "{field}", "{snapshot}"].iter().any(|p| path.contains(p)) {
        want.insert(404); // no such point / job / payload index / snapshot
    }
    if SEARCHES.contains(&path) {
        want.insert(503);
    }
    if CONFLICTS.contains(&(method, path)) {
        want.insert(409);
    }
    want
}

#[tokio::test]
async fn every_registered_route_is_documented_and_nothing_else() {
    let s = Server::new();
    let doc = document(&s).await;
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let registered = registered_routes();
    assert!(registered.len() >= 41, "parsed only {} routes from src/api/mod.rs", registered.len());
    let missing: Vec<_> = registered.difference(&documented).collect();
    assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
    let phantom: Vec<_> = documented.difference(&registered).collect();
    assert!(phantom.is_empty(), "documented operations with no route: {phantom:?}");

    // The parse is of real routes: each answers through its handler, not the router's fallbacks.
    for (method, path) in &registered {
        let uri = path.replace("{name}", "c").replace("{id}", "1").replace("{field}", "f");
        let uri = uri.replace("{snapshot}", "x.snapshot");
        let (status, text) = send(&s, method, &uri, None, false).await;
        assert!(
            !text.contains("no route for") && !text.contains("is not allowed on"),
            "{method} {uri}: {status} {text}"
        );
    }
}

#[tokio::test]
async fn every_operation_declares_its_error_statuses_with_the_shared_schema() {
    let s = Server::new();
    let doc = document(&s).await;
    let schema = &doc["components"]["schemas"]["ErrorResponse"];
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .expect("ErrorResponse.required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["status", "result", "time"]), "{schema}");

    let mut problems = Vec::new();
    let mut ids = BTreeMap::new();
    for ((method, path), op) in operations(&doc) {
        if let Some(other) = ids.insert(op["operationId"].to_string(), format!("{method} {path}")) {
            problems.push(format!("{method} {path}: operationId {} is also {other}'s", op["operationId"]));
        }
        let listed = documented(&op);
        let missing: Vec<_> = required_statuses(&method, &path, &op).difference(&listed).copied().collect();
        if !missing.is_empty() {
            problems.push(format!("{method} {path}: missing {missing:?} (lists {listed:?})"));
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            let description = response["description"].as_str().unwrap_or_default();
            if description.trim().is_empty() {
                problems.push(format!("{method} {path} {status}: no description"));
            }
            if status.as_str() >= "400" {
                let body = &response["content"]["application/json"]["schema"]["$ref"];
                if body != ERROR_SCHEMA {
                    problems.push(format!("{method} {path} {status}: body {body} is not {ERROR_SCHEMA}"));
                }
            }
            if status == "503" && response["headers"]["Retry-After"].is_null() {
                problems.push(format!("{method} {path} 503: no Retry-After header"));
            }
        }
        // Path parameters are exactly the template's; the rest are query parameters.
        let placeholders: BTreeSet<String> =
            path.split('{').skip(1).filter_map(|p| p.split('}').next()).map(str::to_string).collect();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let in_path: BTreeSet<String> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        if in_path != placeholders {
            problems
                .push(format!("{method} {path}: path parameters {in_path:?}, template has {placeholders:?}"));
        }
        for p in params.iter().filter(|p| p["in"] == "query") {
            if p["required"] == true {
                problems.push(format!("{method} {path}: query parameter {} is marked required", p["name"]));
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test]
async fn import_and_upload_declare_their_media_types() {
    let s = Server::new();
    let doc = document(&s).await;
    let ops = operations(&doc);
    let content = |method: &str, path: &str| {
        ops[&(method.to_string(), path.to_string())]["requestBody"]["content"].clone()
    };

    let import = content("post", "/collections/{name}/import");
    assert_eq!(
        import["application/json"]["schema"]["$ref"], "#/components/schemas/FileImportRequest",
        "{import}"
    );
    assert_eq!(
        import["application/x-ndjson"]["schema"]["$ref"], "#/components/schemas/ImportLine",
        "{import}"
    );
    let file = &doc["components"]["schemas"]["FileImportRequest"];
    assert_eq!(file["required"], json!(["path", "format"]), "{file}");
    let line = &doc["components"]["schemas"]["ImportLine"];
    assert!(line.to_string().contains(r##""id":{"$ref":"#/components/schemas/ExtId"}"##), "{line}");

    let upload = content("post", "/collections/{name}/snapshots/upload");
    let keys: BTreeSet<&str> =
        upload.as_object().expect("upload content").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["application/octet-stream", "multipart/form-data"]), "{upload}");
    assert_eq!(upload["application/octet-stream"]["schema"]["$ref"], "#/components/schemas/SnapshotFile");
    assert_eq!(doc["components"]["schemas"]["SnapshotFile"]["format"], "binary");

    // No body is declared with an empty media type.
    for ((method, path), op) in &ops {
        if let Some(content) = op["requestBody"]["content"].as_object() {
            assert!(
                content.keys().all(|k| k.contains('/')),
                "{method} {path}: media types {:?}",
                content.keys()
            );
        }
    }
}

/// What a probe is, its body (media type and bytes), and whether it carries the API key.
type Probe<'a> = (&'static str, Option<(&'a str, Vec<u8>)>, bool);

/// Sends a request and returns the status and body (JSON or not).
async fn send(
    s: &Server,
    method: &str,
    uri: &str,
    body: Option<(&str, Vec<u8>)>,
    key: bool,
) -> (u16, String) {
    let mut req =
        Request::builder().method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap()).uri(uri);
    if key {
        req = req.header("api-key", "key");
    }
    let body = match body {
        Some((content_type, bytes)) => {
            req = req.header(header::CONTENT_TYPE, content_type);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    let resp = s.app.clone().oneshot(req.body(body).unwrap()).await.expect("infallible");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Bad requests of every kind the extractors and middleware refuse, on every operation: each
/// answer's status is documented for that operation, and each error body has the shared
/// schema's fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_the_server_answers_is_documented() {
    let mut config = Config::default();
    config.service.max_request_bytes = 4096;
    config.service.api_key = Some("key".into());
    let s = Server::with_config(config);
    let (status, text) = send(&s, "get", "/openapi.json", None, true).await;
    assert_eq!(status, 200, "{text}");
    let doc: Value = serde_json::from_str(&text).expect("the document is JSON");
    let ops = operations(&doc);
    let create = br#"{"vectors": {"size": 2, "distance": "Dot"}}"#.to_vec();
    let too_large = format!(r#"{{"x": "{}"}}"#, "a".repeat(8192)).into_bytes();

    let mut undocumented = Vec::new();
    let mut answered = BTreeSet::new();
    for ((method, path), op) in &ops {
        let has_body = !op["requestBody"].is_null();
        for name in ["c", "nosuch", "%FF"] {
            // Every probe on a collection that exists finds it (earlier probes may drop it).
            if name == "c" && send(&s, "get", "/collections/c/exists", None, true).await.1.contains("false") {
                let (status, v) =
                    send(&s, "put", "/collections/c", Some(("application/json", create.clone())), true).await;
                assert_eq!(status, 200, "{v}");
            }
            let uri = path.replace("{name}", name).replace("{id}", "1").replace("{field}", "f");
            let uri = uri.replace("{snapshot}", "x.snapshot");
            let json = |b: &[u8]| Some(("application/json", b.to_vec()));
            let mut probes: Vec<Probe> =
                vec![("no key", None, false), ("no body", None, true), ("too large", json(&too_large), true)];
            if has_body {
                probes.extend([
                    ("empty object", json(b"{}"), true),
                    ("malformed JSON", json(b"{"), true),
                    ("wrong media type", Some(("text/plain", b"{}".to_vec())), true),
                ]);
            }
            for (what, body, key) in probes {
                let (status, text) = send(&s, method, &uri, body, key).await;
                answered.insert(status);
                if !documented(op).contains(&status) {
                    undocumented.push(format!("{method} {uri} ({what}): {status} {text}"));
                }
                if status >= 400 {
                    let v: Value =
                        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {uri}: {e}: {text}"));
                    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
                    assert_eq!(keys, BTreeSet::from(["status", "result", "time"]), "{method} {uri}: {v}");
                    assert!(
                        v["status"]["error"].is_string() && v["result"].is_null() && v["time"].is_number(),
                        "{v}"
                    );
                    // The code names the status it came with.
                    let code = Code::ALL.iter().find(|c| v["status"]["code"] == c.name());
                    let code = code.unwrap_or_else(|| panic!("{method} {uri}: no known code: {v}"));
                    assert_eq!(code.status().as_u16(), status, "{method} {uri}: {v}");
                }
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented answers:\n{}", undocumented.join("\n"));
    // The probes reached the statuses they are for.
    for status in [400, 401, 404, 413, 415] {
        assert!(answered.contains(&status), "no probe was answered {status}: {answered:?}");
    }
}

/// The document offers only what this build accepts: the Faiss index kinds only with the Faiss
/// backend, a checksum only as 64 hex digits.
#[tokio::test]
async fn the_document_offers_what_this_build_accepts() {
    let s = Server::new();
    let doc = document(&s).await;
    let kinds =
        doc["components"]["schemas"]["IndexConfig"]["oneOf"].as_array().expect("IndexConfig.oneOf").len();
    assert_eq!(kinds, if cfg!(feature = "faiss") { 4 } else { 1 });
    let recover = &doc["components"]["schemas"]["RecoverRequest"]["properties"]["checksum"];
    assert_eq!(recover["pattern"], "^[0-9a-fA-F]{64}$", "{recover}");
    let (status, v) = s.call(Method::POST, "/collections/c/points", Some(json!({"ids": [1.0]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["status"]["error"].as_str().unwrap().contains("point id 1.0 is not an integer"), "{v}");
}

/// Every error code is in the README's table, with its status, and in the document's schema.
#[tokio::test]
async fn every_error_code_is_documented() {
    let readme = std::fs::read_to_string(repo_file("README.md")).expect("README.md");
    let doc = document(&Server::new()).await;
    let listed = &doc["components"]["schemas"]["ErrorStatus"]["properties"]["code"]["enum"];
    for code in Code::ALL {
        let row = format!("| `{}` | {} |", code.name(), code.status().as_u16());
        assert!(readme.contains(&row), "README's error table has no row {row}");
        assert!(listed.as_array().unwrap().contains(&json!(code.name())), "{listed}");
    }
}
