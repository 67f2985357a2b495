//! `vicinity import FILE --collection C [--server URL]`: streams a local file to a running
//! server's `POST /collections/{c}/import` as NDJSON (jsonl lines as they are; fvecs / npy rows
//! as `{"id", "vector"}` with ids = row number + `--ids-from`), with a progress bar.
//!
//! The request goes through hyper's HTTP/1.1 client (chunked body). A reader thread turns the
//! file into 64 KiB chunks handed to the connection through a small bounded channel, so the whole
//! file is never in memory and the bar moves at the server's pace (the bytes in flight are the
//! channel's few chunks and the socket buffers). It ends with the job's final record.
//!
//! The server may answer before the body is whole (no such collection, a wrong key, the first bad
//! line with `on_error=fail`) and close the connection: the next write then fails, and a client
//! that gives up on that error never reads the answer sitting in its socket. So the connection is
//! hyper's connection-level client over [`Socket`], which keeps the first write error aside and
//! lets hyper go on to read the answer; the error is shown only when no answer comes.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::jobs::import::{FileImport, Format, Input, OnError};

pub struct ImportArgs {
    pub file: PathBuf,
    pub collection: String,
    /// `http://host:port`.
    pub server: String,
    pub format: Option<Format>,
    pub ids_from: u64,
    pub on_error: OnError,
    pub api_key: Option<String>,
}

fn format_of(path: &std::path::Path) -> Result<Format, String> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
        Some("fvecs") => Ok(Format::Fvecs),
        Some("npy") => Ok(Format::Npy),
        _ => Err(format!("cannot tell the format of {}: give --format jsonl|fvecs|npy", path.display())),
    }
}

/// A path segment with every byte outside the unreserved set percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The import route of `server` (an `http://host[:port]` URL).
fn import_uri(server: &str, collection: &str, on_error: OnError, total: u64) -> Result<Uri, String> {
    if !server.starts_with("http://") {
        return Err(format!("--server must be an http:// URL, got {server}"));
    }
    let on_error = match on_error {
        OnError::Fail => "fail",
        OnError::Skip => "skip",
    };
    let uri = format!(
        "{}/collections/{}/import?on_error={on_error}&total={total}",
        server.trim_end_matches('/'),
        segment(collection)
    );
    uri.parse().map_err(|e| format!("--server {server}: not a usable URL ({e})"))
}

/// An error and its causes, outermost first (hyper's own message alone is often just
/// "client error (Connect)").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// The chunks of the request body, as the reader thread hands them over.
type Chunk = Result<Bytes, std::io::Error>;

/// The first failed write to the server, once there is one (the reader thread then stops).
type WriteError = Arc<OnceLock<String>>;

/// The connection's socket, whose writes never fail: the first error is kept in `failed` and
/// every write after it is dropped, so that hyper still reads an answer the server sent before
/// it closed.
struct Socket {
    stream: TcpStream,
    failed: WriteError,
}

impl Socket {
    /// `Ok(n)` for a failed write (the error kept), or the write's own result.
    fn absorb<T>(&self, done: Poll<std::io::Result<T>>, n: T) -> Poll<std::io::Result<T>> {
        match done {
            Poll::Ready(Err(e)) => {
                let _ = self.failed.set(e.to_string());
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Ok(v)) => Poll::Ready(Ok(v)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.failed.get().is_some() {
            return Poll::Ready(Ok(buf.len()));
        }
        let done = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.absorb(done, buf.len())
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let n = bufs.iter().map(|b| b.len()).sum();
        if self.failed.get().is_some() {
            return Poll::Ready(Ok(n));
        }
        let done = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.absorb(done, n)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.failed.get().is_some() {
            return Poll::Ready(Ok(()));
        }
        let done = Pin::new(&mut self.stream).poll_flush(cx);
        self.absorb(done, ())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.failed.get().is_some() {
            return Poll::Ready(Ok(()));
        }
        let done = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.absorb(done, ())
    }
}

/// `Write` into the body channel, in chunks of [`ChannelWriter::CHUNK`] bytes. Blocks while the
/// channel is full, that is while the connection has not sent the earlier chunks.
struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
    buf: BytesMut,
    failed: WriteError,
    /// The connection is gone (the server answered or hung up): nothing more can be sent.
    closed: bool,
}

impl ChannelWriter {
    const CHUNK: usize = 1 << 16;

    fn new(tx: mpsc::Sender<Chunk>, failed: WriteError) -> ChannelWriter {
        ChannelWriter { tx, buf: BytesMut::with_capacity(Self::CHUNK), failed, closed: false }
    }

    fn send(&mut self, chunk: Chunk) -> std::io::Result<()> {
        if self.failed.get().is_some() || self.tx.blocking_send(chunk).is_err() {
            self.closed = true;
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the connection closed"));
        }
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::CHUNK {
            let chunk = self.buf.split().freeze();
            self.send(Ok(chunk))?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = self.buf.split().freeze();
            self.send(Ok(chunk))?;
        }
        Ok(())
    }
}

/// How the reader thread ended.
enum Sent {
    All,
    /// The connection went away first (the server may have answered why).
    Closed,
    /// Reading the file failed; the request was aborted.
    Failed(String),
}

/// Reads the file into the body channel (on its own thread: the reads and the row encoding
/// block).
fn produce(spec: &FileImport, tx: mpsc::Sender<Chunk>, failed: WriteError, bar: &ProgressBar) -> Sent {
    let mut out = ChannelWriter::new(tx, failed);
    match send_rows(spec, &mut out, bar).and_then(|()| out.flush().map_err(|e| e.to_string())) {
        Ok(()) => {
            bar.set_message("committing");
            Sent::All
        }
        Err(_) if out.closed => Sent::Closed,
        Err(e) => {
            // An error chunk makes hyper abort the request rather than end the body cleanly:
            // the server must not take a cut file for a whole one.
            let _ = out.tx.blocking_send(Err(std::io::Error::other(e.clone())));
            Sent::Failed(e)
        }
    }
}

/// Sends the request and reads the whole answer: its status and JSON body.
async fn post(
    uri: Uri,
    api_key: Option<HeaderValue>,
    rx: mpsc::Receiver<Chunk>,
    failed: WriteError,
) -> Result<(u16, Value), String> {
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let addr = if uri.port().is_some() { authority.clone() } else { format!("{authority}:80") };
    let stream = TcpStream::connect(&addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(Socket { stream, failed }))
        .await
        .map_err(|e| format!("cannot connect to {addr}: {}", chain(&e)))?;
    tokio::spawn(conn);
    let mut rx = rx;
    let body = StreamBody::new(futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|chunk| chunk.map(|c| c.map(Frame::data)))
    }));
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = Request::post(path).header(HOST, &authority).header(CONTENT_TYPE, "application/x-ndjson");
    if let Some(key) = api_key {
        req = req.header("api-key", key);
    }
    let req = req.body(body).map_err(|e| e.to_string())?;
    let resp =
        sender.send_request(req).await.map_err(|e| format!("the request to {addr} failed: {}", chain(&e)))?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map_err(|e| format!("reading the answer: {}", chain(&e)))?;
    Ok((status, serde_json::from_slice(&body.to_bytes()).unwrap_or(Value::Null)))
}

pub fn run(args: ImportArgs) -> Result<(), String> {
    let path = std::fs::canonicalize(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let format = match args.format {
        Some(f) => f,
        None => format_of(&path)?,
    };
    let spec = FileImport {
        path: path.clone(),
        format,
        ids_from: args.ids_from,
        on_error: args.on_error,
        target: crate::jobs::Target::Points,
    };
    let (total, _) = spec.inspect().map_err(|e| e.to_string())?;
    let uri = import_uri(&args.server, &args.collection, args.on_error, total)?;
    let api_key = args
        .api_key
        .as_deref()
        .map(HeaderValue::from_str)
        .transpose()
        .map_err(|_| "--api-key: not a valid header value".to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    // A few chunks in flight: the reader keeps ahead of the socket, not of the server.
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    let failed = WriteError::default();
    let reader = {
        let (bar, failed) = (bar.clone(), failed.clone());
        std::thread::Builder::new()
            .name("import-reader".into())
            .spawn(move || produce(&spec, tx, failed, &bar))
            .map_err(|e| format!("cannot start the reader thread: {e}"))?
    };
    // Even when sending failed the server may have answered why (e.g. no such collection).
    let answer = runtime.block_on(post(uri, api_key, rx, failed.clone()));
    // Dropping the runtime drops the connection and with it the channel's receiver, so a
    // reader still blocked on a full channel (the server answered early) returns.
    drop(runtime);
    let sent = reader.join().unwrap_or_else(|_| Sent::Failed("the reader thread panicked".into()));
    bar.finish_and_clear();
    let server = &args.server;
    let (status, body) = match (answer, sent) {
        (Ok(a), _) if !(200..300).contains(&a.0) => a,
        (_, Sent::Failed(e)) => return Err(format!("{}: {e}", path.display())),
        (Ok(a), _) => a,
        // No answer: the failed write, if any, says more than hyper's "connection closed".
        (Err(e), _) => {
            return Err(match failed.get() {
                Some(cause) => format!("sending to {server} failed: {cause}"),
                None => e,
            })
        }
    };
    if !(200..300).contains(&status) {
        return Err(format!(
            "the server answered {status}: {}",
            body["status"]["error"].as_str().unwrap_or("")
        ));
    }
    let job = &body["result"]["job"];
    println!(
        "job {}: {} — {} of {} rows, {} skipped{}",
        body["result"]["job_id"],
        job["state"].as_str().unwrap_or("?"),
        job["done"],
        job["total"],
        job["skipped"],
        job["error"].as_str().map(|e| format!("; error: {e}")).unwrap_or_default()
    );
    for bad in job["bad_lines"].as_array().into_iter().flatten().take(10) {
        println!("  line {}: {}", bad["line"], bad["error"].as_str().unwrap_or(""));
    }
    match job["state"].as_str() {
        Some("succeeded") => Ok(()),
        other => Err(format!("the import ended {}", other.unwrap_or("in an unknown state"))),
    }
}

fn send_rows(spec: &FileImport, out: &mut impl Write, bar: &ProgressBar) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    if spec.format == Format::Jsonl {
        let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&spec.path).map_err(io)?);
        for line in reader.split(b'\n') {
            out.write_all(&line.map_err(io)?).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            bar.inc(1);
        }
        return Ok(());
    }
    for row in spec.rows(0).map_err(|e| e.to_string())? {
        let row = row.map_err(|e| e.to_string())?;
        let line = match row.item {
            Ok(item) => match item.input {
                Input::Vector(v) => json!({"id": item.id, "vector": v}),
                Input::Text(t) => json!({"id": item.id, "text": t}),
            },
            Err(e) => return Err(format!("row {}: {e}", row.number)),
        };
        serde_json::to_writer(&mut *out, &line).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(io)?;
        bar.inc(1);
    }
    Ok(())
}
