//! `vicinity import FILE --collection C [--server URL]`: streams a local file to a running
//! server's `POST /collections/{c}/import` as NDJSON (jsonl lines as they are; fvecs / npy rows
//! as `{"id", "vector"}` with ids = row number + `--ids-from`), with a progress bar.
//!
//! The server reads the stream as it writes it, so the bar moves at the server's pace (the
//! bytes in flight are a few MiB). It ends with the job's final record.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

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

/// `host:port` of an `http://` URL.
fn address(server: &str) -> Result<String, String> {
    let rest = server
        .strip_prefix("http://")
        .ok_or_else(|| format!("--server must be an http:// URL, got {server}"))?;
    let host = rest.trim_end_matches('/');
    Ok(if host.contains(':') { host.to_string() } else { format!("{host}:80") })
}

/// Writes HTTP/1.1 chunked-encoding frames.
struct Chunked<W: Write>(W);

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !buf.is_empty() {
            write!(self.0, "{:x}\r\n", buf.len())?;
            self.0.write_all(buf)?;
            self.0.write_all(b"\r\n")?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

pub fn run(args: ImportArgs) -> Result<(), String> {
    let path = std::fs::canonicalize(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let format = match args.format {
        Some(f) => f,
        None => format_of(&path)?,
    };
    let spec = FileImport { path: path.clone(), format, ids_from: args.ids_from, on_error: args.on_error };
    let (total, _) = spec.inspect().map_err(|e| e.to_string())?;
    let addr = address(&args.server)?;
    let stream = TcpStream::connect(&addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let on_error = match args.on_error {
        OnError::Fail => "fail",
        OnError::Skip => "skip",
    };
    let mut head = format!(
        "POST /collections/{}/import?on_error={on_error}&total={total} HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
        args.collection
    );
    if let Some(key) = &args.api_key {
        head.push_str(&format!("api-key: {key}\r\n"));
    }
    head.push_str("\r\n");
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    let mut out = BufWriter::with_capacity(1 << 16, Chunked(stream.try_clone().map_err(|e| e.to_string())?));
    let sent = (|| -> Result<(), String> {
        out.get_mut().0.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        send_rows(&spec, &mut out, &bar)?;
        out.flush().map_err(|e| e.to_string())?;
        out.get_mut().0.write_all(b"0\r\n\r\n").map_err(|e| e.to_string())
    })();
    bar.set_message("committing");
    // Even when sending failed the server may have answered why (e.g. no such collection).
    let answer = read_response(stream);
    bar.finish_and_clear();
    let (status, body) = match (answer, sent) {
        (Ok(a), _) => a,
        (Err(e), Ok(())) => return Err(e),
        (Err(_), Err(e)) => return Err(format!("sending to {addr} failed: {e}")),
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

/// Status and JSON body of the answer (the server closes the connection after it).
fn read_response(mut stream: TcpStream) -> Result<(u16, Value), String> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| format!("reading the answer: {e}"))?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the server closed without an answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    let body = &raw[split + 4..];
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || body.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[(end + 4 + size).min(body.len())..];
    }
    out
}
