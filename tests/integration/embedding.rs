//! Text embedding: the Rust pipeline against the Python onnxruntime reference (fixture made by
//! `tests/fixtures/embedding/make_reference.py`), and text in / recommendations out over HTTP.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use vicinity::embedding::Priority;

use crate::common::{embedder, repo_file, Server};

fn reference() -> Value {
    let path = repo_file("tests/fixtures/embedding/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference.json")).expect("json")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Every fixture sentence, embedded alone and in one padded batch, matches the Python reference
/// to cosine ≥ 0.9999, with the same truncation flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_embeddings_match_the_python_reference() {
    let r = reference();
    let Some(e) = embedder() else { return };
    let sentences = r["sentences"].as_array().unwrap();
    let texts: Vec<String> = sentences.iter().map(|s| s["text"].as_str().unwrap().to_string()).collect();
    let (model, batched) = e.embed(None, &texts, Priority::Request).await.unwrap();
    assert_eq!(model, r["model"].as_str().unwrap());
    let mut worst = 1.0f32;
    for (i, s) in sentences.iter().enumerate() {
        let want: Vec<f32> = serde_json::from_value(s["vector"].clone()).unwrap();
        let (_, alone) = e.embed(None, std::slice::from_ref(&texts[i]), Priority::Request).await.unwrap();
        for (how, got) in [("alone", &alone[0]), ("batched", &batched[i])] {
            let c = cosine(&got.vector, &want);
            worst = worst.min(c);
            assert!(c >= 0.9999, "sentence {i} ({how}) {:?}: cosine {c}", texts[i]);
            assert_eq!(got.truncated, s["truncated"].as_bool().unwrap(), "sentence {i} truncation");
            let norm: f32 = got.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "sentence {i}: norm {norm}");
        }
    }
    println!("worst cosine vs the Python reference over {} sentences: {worst:.7}", sentences.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_in_recommendations_out_over_http() {
    let Some(s) = Server::with_embedder() else { return };
    let r = reference();
    let texts: Vec<String> =
        r["sentences"].as_array().unwrap().iter().map(|x| x["text"].as_str().unwrap().to_string()).collect();
    s.create_with("docs", json!({"embedding": {"model": "all-minilm-l6-v2", "store_text": "text"}})).await;
    let info = s.get("/collections/docs").await;
    assert_eq!(info["config"]["params"]["vectors"], json!({"size": 384, "distance": "Cosine"}));
    // Texts as vicinity's `text`, as Qdrant documents, and in the batch form.
    let half = texts.len() / 2;
    let points: Vec<Value> =
        texts[..half]
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i % 2 == 0 {
                    json!({"id": i, "text": t})
                } else {
                    json!({"id": i, "vector": {"text": t}})
                }
            })
            .collect();
    s.upsert("docs", json!(points)).await;
    let batch = json!({"batch": {"ids": (half..texts.len()).collect::<Vec<_>>(),
        "vectors": texts[half..].iter().map(|t| json!({"text": t, "model": "all-minilm-l6-v2"})).collect::<Vec<_>>()}});
    s.put("/collections/docs/points?wait=true", batch).await;
    assert_eq!(s.count("docs").await, texts.len() as u64);
    let stored = s.point("docs", "3").await.unwrap();
    assert_eq!(stored["payload"]["text"], json!(texts[3]));

    // Every sentence finds itself first by text, or a sentence the model cannot tell from it
    // (the tokenizer lowercases: "Hello world" and "hello world" embed the same).
    for (i, t) in texts.iter().enumerate() {
        let hits = s.post("/collections/docs/points/query", json!({"query": {"text": t}, "limit": 5})).await;
        let best: Vec<u64> = hits["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["score"].as_f64().unwrap() > 0.9999)
            .map(|h| h["id"].as_u64().unwrap())
            .collect();
        assert!(best.contains(&(i as u64)), "query {i} {t:?}: {hits}");
    }

    // Recommend with text examples and ids together; examples given by id are excluded.
    let hits = s
        .post(
            "/collections/docs/points/query",
            json!({"query": {"recommend": {
            "positive": [{"text": "a cat on a mat"}, 0], "negative": [{"text": "stock market news"}],
            "strategy": "best_score"}}, "limit": 5}),
        )
        .await;
    let ids: Vec<u64> =
        hits["points"].as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    assert!(!ids.contains(&0), "{ids:?}");

    // Repeated texts are answered from the embedding cache, and /metrics says so (the result
    // cache is bypassed here, or it would answer before any embedding).
    let hits_before = cache_hits(&s).await;
    for _ in 0..3 {
        s.post(
            "/collections/docs/points/query",
            json!({"query": {"text": texts[0]}, "limit": 1, "cache": false}),
        )
        .await;
    }
    assert!(cache_hits(&s).await >= hits_before + 3);

    // POST /embed answers the vectors and truncation flags.
    let long = "word ".repeat(400);
    let out = s.post("/embed", json!({"texts": ["hello world", long]})).await;
    assert_eq!(out["model"], "all-minilm-l6-v2");
    assert_eq!(out["vectors"].as_array().unwrap().len(), 2);
    assert_eq!(out["vectors"][0].as_array().unwrap().len(), 384);
    assert_eq!(out["truncated"], json!([false, true]));
}

async fn cache_hits(s: &Server) -> u64 {
    let (status, body) = s.raw_text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    body.lines()
        .find_map(|l| l.strip_prefix("vicinity_embedding_cache_hits_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("cache hit counter in /metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_text_input_is_a_4xx_naming_the_problem() {
    let Some(s) = Server::with_embedder() else { return };
    s.create_with("docs", json!({"embedding": {"model": "all-minilm-l6-v2"}})).await;
    s.create("plain", 384, "Cosine").await;
    let bad = StatusCode::BAD_REQUEST;
    s.err(Method::POST, "/embed", Some(json!({"texts": ["ok", "   "]})), bad, &["text 1 is empty"]).await;
    s.err(Method::POST, "/embed", Some(json!({"texts": []})), bad, &["at least one"]).await;
    s.err(
        Method::POST,
        "/embed",
        Some(json!({"texts": ["x"], "model": "nope"})),
        bad,
        &["unknown embedding model `nope`"],
    )
    .await;
    s.err(Method::POST, "/embed", Some(json!({"texts": [1]})), bad, &["texts"]).await;
    // Bounded work per request: the tokenizer reads all of a text, the model only its start.
    let huge = "word ".repeat(20_000);
    s.err(
        Method::POST,
        "/embed",
        Some(json!({"texts": ["ok", huge]})),
        bad,
        &["text 1", "embedding.max_text_bytes"],
    )
    .await;
    let query = json!({"query": {"text": huge}, "limit": 3});
    s.err(Method::POST, "/collections/docs/points/query", Some(query), bad, &["embedding.max_text_bytes"])
        .await;
    let many: Vec<&str> = vec!["x"; 10_001];
    s.err(Method::POST, "/embed", Some(json!({"texts": many})), bad, &["at most 10000"]).await;
    s.err(
        Method::PUT,
        "/collections/docs/points",
        Some(json!({"points": [{"id": 1, "text": ""}]})),
        bad,
        &["empty"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/docs/points",
        Some(json!({"points": [{"id": 1, "vector": {"text": "x", "model": "other"}}]})),
        bad,
        &["embeds with `all-minilm-l6-v2`, not `other`"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/docs/points",
        Some(json!({"points": [{"id": 1, "text": "x", "vector": [1.0]}]})),
        bad,
        &["either `vector` or `text`"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/plain/points",
        Some(json!({"points": [{"id": 1, "text": "x"}]})),
        bad,
        &["no embedding model"],
    )
    .await;
    s.err(
        Method::POST,
        "/collections/plain/points/query",
        Some(json!({"query": {"text": "x"}})),
        bad,
        &["no embedding model"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/bad",
        Some(json!({"embedding": {"model": "nope"}})),
        bad,
        &["unknown embedding model `nope`"],
    )
    .await;
    s.err(
        Method::PUT,
        "/collections/bad",
        Some(
            json!({"vectors": {"size": 8, "distance": "Cosine"}, "embedding": {"model": "all-minilm-l6-v2"}}),
        ),
        bad,
        &["384"],
    )
    .await;
    // Invalid UTF-8 in a JSON body.
    let (status, v) = s
        .raw(Method::POST, "/embed", b"{\"texts\": [\"\xff\xfe\"]}".to_vec(), Some("application/json"))
        .await;
    assert_eq!(status, bad, "{v}");
    assert_eq!(s.count("docs").await, 0, "a rejected request wrote nothing");
    assert!(!s.exists("bad").await);
}

/// A bulk import of texts (NDJSON) embeds them with the collection's model, stores the text in
/// the payload when asked, and the collection answers text queries with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_texts_are_embedded_and_searchable() {
    let Some(s) = Server::with_embedder() else { return };
    s.create_with("docs", json!({"embedding": {"model": "all-minilm-l6-v2", "store_text": "text"}})).await;
    let texts = [
        "A small cat sleeps on the warm windowsill.",
        "The stock market fell sharply on Monday.",
        "Fresh bread is baked every morning in the village.",
        "The spacecraft entered orbit around Mars.",
        "",
    ];
    let body: String =
        texts.iter().enumerate().map(|(i, t)| format!("{}\n", json!({"id": i, "text": t}))).collect();
    let (status, v) = s
        .raw(
            Method::POST,
            "/collections/docs/import?on_error=skip",
            body.into_bytes(),
            Some("application/x-ndjson"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let job = &v["result"]["job"];
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["skipped"], 1, "the empty text is a bad line: {job}");
    assert_eq!(job["bad_lines"][0]["line"], 5, "{job}");
    assert_eq!(s.count("docs").await, 4);
    assert_eq!(s.point("docs", "3").await.unwrap()["payload"]["text"], texts[3]);
    let r = s
        .post("/collections/docs/points/query", json!({"query": {"text": "a kitten napping"}, "limit": 1}))
        .await;
    assert_eq!(r["points"][0]["id"], 0, "{r}");
    let r = s
        .post(
            "/collections/docs/points/query",
            json!({"query": {"text": "rocket reaches the red planet"}, "limit": 1}),
        )
        .await;
    assert_eq!(r["points"][0]["id"], 3, "{r}");
}
