//! `bench-http`: a load generator for a running vicinity.
//!
//! bench-http --url http://127.0.0.1:6333 --collection C --queries Q.fvecs [--gt G.ivecs]
//!            [--texts texts.jsonl [--model all-minilm-l6-v2]]  (send the query texts instead)
//!            [--base B.fvecs --distance Cosine]  (create C and load B first; ids = row numbers)
//!            [--concurrency 32] [--seconds 20] [--ef 64] [--limit 10]
//!            [--repeat-fraction 0.5 [--unique-rest]] [--no-cache]
//!
//! Each of `concurrency` clients keeps one connection and sends `points/query` requests back to
//! back for `seconds`. With `--repeat-fraction f`, a fraction f of requests repeat a query from a
//! small hot set (the cache's case); the others cycle over the query file, or with
//! `--unique-rest` are each made unique (see `unique`), so that only the hot set can be answered
//! from the cache. Prints one JSON line: QPS, p50 / p95 / p99 latency, errors
//! and recall@limit against the ground truth.
//!
//! With `--texts`, the requests carry the text of each query (`{"query": {"text": …}}`, the
//! `"split": "query"` lines of a text dataset's `texts.jsonl`, row = id) and the server embeds
//! them; a collection created by `--base` then names `--model`. With `--texts` and `--embed`,
//! each request is `POST /embed {"texts": [text]}` instead (no collection, no `--queries`).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

#[derive(Parser, Clone)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:6333")]
    url: String,
    #[arg(long, default_value = "")]
    collection: String,
    #[arg(long, required_unless_present = "texts")]
    queries: Option<PathBuf>,
    #[arg(long)]
    gt: Option<PathBuf>,
    #[arg(long)]
    base: Option<PathBuf>,
    #[arg(long, default_value = "Cosine")]
    distance: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    #[arg(long)]
    ef: Option<usize>,
    #[arg(long, default_value_t = 10)]
    limit: usize,
    #[arg(long, default_value_t = 0.0)]
    repeat_fraction: f64,
    #[arg(long)]
    no_cache: bool,
    /// Make every request outside the hot set unique (otherwise they cycle over the query file,
    /// so they repeat too once the file has been sent once).
    #[arg(long)]
    unique_rest: bool,
    /// Replay query texts (a text dataset's `texts.jsonl`) instead of query vectors.
    #[arg(long)]
    texts: Option<PathBuf>,
    /// The embedding model a collection created with `--base --texts` names.
    #[arg(long, default_value = "all-minilm-l6-v2")]
    model: String,
    /// Send each text to `/embed` (needs `--texts`).
    #[arg(long, requires = "texts")]
    embed: bool,
}

/// `body` made unique to request `n` without changing its answer: a score threshold far below
/// any score. In a repeating mix only the repeats can then be answered from the cache.
fn unique(body: &Bytes, n: usize) -> Bytes {
    let mut out = format!("{{\"score_threshold\":-{},", 1e9 as usize + n).into_bytes();
    out.extend_from_slice(&body[1..]);
    Bytes::from(out)
}

type Conn = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Result<Conn, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends a JSON value (set-up requests); the replay loop sends pre-encoded bodies.
async fn send(
    conn: &mut Conn,
    host: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), String> {
    let bytes = Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
    let (status, answer) = send_bytes(conn, host, method, path, bytes).await?;
    Ok((status, serde_json::from_slice(&answer).unwrap_or(Value::Null)))
}

async fn send_bytes(
    conn: &mut Conn,
    host: &str,
    method: &str,
    path: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    conn.ready().await.map_err(|e| e.to_string())?;
    let resp = conn.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, bytes))
}

/// The ids of a `points/query` answer, read without building a JSON tree (the client shares
/// the server's two cores, so it keeps its own work small).
#[derive(serde::Deserialize)]
struct Answer {
    result: AnswerResult,
}
#[derive(serde::Deserialize)]
struct AnswerResult {
    points: Vec<Hit>,
}
#[derive(serde::Deserialize)]
struct Hit {
    id: serde_json::Number,
}

fn hit_ids(answer: &[u8]) -> Vec<i64> {
    serde_json::from_slice::<Answer>(answer)
        .map(|a| a.result.points.iter().filter_map(|h| h.id.as_i64()).collect())
        .unwrap_or_default()
}

/// The query texts of a text dataset, by row: its `"split": "query"` lines, placed at their `id`.
fn query_texts(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows: Vec<(usize, String)> = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        if v["split"] == "query" {
            let id = v["id"].as_u64().ok_or_else(|| format!("{}:{}: no id", path.display(), n + 1))?;
            let t = v["text"].as_str().ok_or_else(|| format!("{}:{}: no text", path.display(), n + 1))?;
            rows.push((id as usize, t.to_string()));
        }
    }
    rows.sort_unstable_by_key(|(id, _)| *id);
    if rows.is_empty() {
        return Err(format!("{}: no line has \"split\": \"query\"", path.display()));
    }
    if rows.iter().enumerate().any(|(i, (id, _))| *id != i) {
        return Err(format!("{}: query ids are not the rows 0..{}", path.display(), rows.len()));
    }
    Ok(rows.into_iter().map(|(_, t)| t).collect())
}

fn read(path: &std::path::Path) -> Result<(usize, Vec<f32>), String> {
    vicinity::index::io::read_fvecs(path).map_err(|e| e.to_string())
}

async fn load_base(a: &Args, addr: &str, path: &std::path::Path) -> Result<(), String> {
    let (dim, values) = read(path)?;
    let mut c = connect(addr).await?;
    let coll = format!("/collections/{}", a.collection);
    let _ = send(&mut c, addr, "DELETE", &coll, &json!({})).await;
    let mut create = json!({"vectors": {"size": dim, "distance": a.distance}});
    if a.texts.is_some() {
        create["embedding"] = json!({"model": a.model});
    }
    let (status, v) = send(&mut c, addr, "PUT", &coll, &create).await?;
    if status != 200 {
        return Err(format!("create: {status} {v}"));
    }
    let started = Instant::now();
    let n = values.len() / dim;
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        let points: Vec<Value> =
            (start..end).map(|i| json!({"id": i, "vector": &values[i * dim..(i + 1) * dim]})).collect();
        let (status, v) =
            send(&mut c, addr, "PUT", &format!("{coll}/points?wait=true"), &json!({"points": points}))
                .await?;
        if status != 200 {
            return Err(format!("upsert: {status} {v}"));
        }
    }
    eprintln!("loaded {n} points in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The default runtime, a worker per core: a single-threaded client cannot keep a multi-core
/// server busy and would measure itself.
#[tokio::main]
async fn main() -> Result<(), String> {
    let a = Args::parse();
    let addr = a.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    if let Some(base) = &a.base {
        load_base(&a, &addr, base).await?;
    }
    let queries: Vec<Value> = match (&a.texts, &a.queries) {
        (Some(path), _) => query_texts(path)?.into_iter().map(|t| json!({"text": t})).collect(),
        (None, Some(path)) => {
            let (dim, queries) = read(path)?;
            queries.chunks_exact(dim).map(|v| json!(v)).collect()
        }
        (None, None) => return Err("--queries or --texts is needed".into()),
    };
    let gt: Option<Arc<(usize, Vec<i32>)>> = match &a.gt {
        Some(p) => Some(Arc::new(vicinity::index::io::read_ivecs(p).map_err(|e| e.to_string())?)),
        None => None,
    };
    // Request bodies are encoded once, so the client spends its CPU on sending, not on JSON.
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        queries
            .iter()
            .map(|q| {
                if a.embed {
                    return Bytes::from(json!({"texts": [q["text"]]}).to_string());
                }
                let mut body = json!({"query": q, "limit": a.limit});
                if let Some(ef) = a.ef {
                    body["params"] = json!({"hnsw_ef": ef});
                }
                if a.no_cache {
                    body["cache"] = json!(false);
                }
                Bytes::from(body.to_string())
            })
            .collect(),
    );
    if bodies.is_empty() {
        return Err("no queries to send".into());
    }
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds);
    let path = match a.embed {
        true => "/embed".to_string(),
        false => format!("/collections/{}/points/query", a.collection),
    };
    let mut tasks = Vec::new();
    for worker in 0..a.concurrency {
        let (a, addr, path, gt, bodies) = (a.clone(), addr.clone(), path.clone(), gt.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(&addr).await?;
            let (mut lat, mut errors, mut found, mut wanted) = (Vec::new(), 0usize, 0usize, 0usize);
            let mut i = worker;
            let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ worker as u64;
            while Instant::now() < deadline {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let repeat = (rng % 1000) as f64 / 1000.0 < a.repeat_fraction;
                let q = if repeat { (rng >> 20) as usize % 16 } else { i % bodies.len() };
                i += a.concurrency;
                let t = Instant::now();
                let body = if a.unique_rest && !repeat { unique(&bodies[q], i) } else { bodies[q].clone() };
                match send_bytes(&mut conn, &addr, "POST", &path, body).await {
                    Ok((200, answer)) => {
                        lat.push(t.elapsed().as_secs_f64());
                        if let Some(gt) = &gt {
                            let k = gt.0;
                            let truth: Vec<i64> =
                                gt.1[q * k..q * k + a.limit.min(k)].iter().map(|&x| x as i64).collect();
                            let got = hit_ids(&answer);
                            found += truth.iter().filter(|t| got.contains(t)).count();
                            wanted += truth.len();
                        }
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = connect(&addr).await?;
                    }
                }
            }
            Ok::<_, String>((lat, errors, found, wanted))
        }));
    }
    let started = Instant::now();
    let (mut lat, mut errors, mut found, mut wanted) = (Vec::new(), 0, 0, 0);
    for t in tasks {
        let (l, e, f, w) = t.await.map_err(|e| e.to_string())??;
        lat.extend(l);
        errors += e;
        found += f;
        wanted += w;
    }
    let wall = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
            * 1000.0
    };
    println!(
        "{}",
        json!({
            "concurrency": a.concurrency, "seconds": wall, "requests": lat.len(), "errors": errors,
            "qps": lat.len() as f64 / wall, "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "recall": if wanted > 0 { Some(found as f64 / wanted as f64) } else { None },
            "ef": a.ef, "repeat_fraction": a.repeat_fraction, "unique_rest": a.unique_rest, "cache": !a.no_cache,
            "texts": a.texts.is_some(), "embed": a.embed,
        })
    );
    Ok(())
}
