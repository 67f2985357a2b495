//! Bulk import: rows from an NDJSON stream or a file on the server (`jsonl`, `fvecs`, `npy`),
//! checked one by one (a bad row is skipped or fails the job, named by its line / row number),
//! written in large batches — one RocksDB batch per chunk, with the job's progress in it —
//! and inserted into the index in parallel. Texts are embedded with the collection's model in
//! length-sorted batches.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Job, Jobs, Outcome};
use crate::collection::{prepare_vector, Collection, ExtId, NewPoint, Payload};
use crate::error::{Error, Result};
use crate::files::open_regular;

/// Rows per RocksDB batch / index insert.
const BATCH_ROWS: usize = 10_000;
/// Texts per batch (embedding is the slow part: keep progress moving).
const BATCH_TEXTS: usize = 512;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop at the first bad row (the rows before it stay imported).
    #[default]
    Fail,
    /// Record the bad row in the job and go on.
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line: `{"id", "vector" | "text", "payload"}`.
    Jsonl,
    /// ann-benchmarks vectors; ids are row numbers plus `ids_from`.
    Fvecs,
    /// A 2-D little-endian float32 NumPy array; ids as for fvecs.
    Npy,
    /// Comma-separated values with a header line (interactions only).
    Csv,
}

/// What an import writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Points (`POST /collections/{c}/import`).
    #[default]
    Points,
    /// Users' events (`POST /collections/{c}/interactions/import`).
    Interactions,
}

/// `POST /collections/{c}/import` with a JSON body: a file on the server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileImport {
    pub path: PathBuf,
    pub format: Format,
    #[serde(default)]
    pub ids_from: u64,
    #[serde(default)]
    pub on_error: OnError,
    #[serde(default, skip_serializing_if = "is_points")]
    pub target: Target,
}

fn is_points(t: &Target) -> bool {
    *t == Target::Points
}

pub enum Input {
    Vector(Vec<f32>),
    Text(String),
}

pub struct Item {
    pub id: ExtId,
    pub input: Input,
    pub payload: Option<Payload>,
}

/// A row with its 1-based line (jsonl) or row (fvecs, npy) number; a bad row carries why.
pub struct Row {
    pub number: u64,
    pub item: std::result::Result<Item, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: ExtId,
    #[serde(default)]
    vector: Option<Vec<f32>>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    payload: Option<Payload>,
}

/// One NDJSON line; `None` for a blank line.
fn parse_line(number: u64, bytes: &[u8]) -> Option<Row> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return None;
    }
    let item = match serde_json::from_slice::<Line>(trimmed) {
        // serde's "at line 1 column N" would read as the file's line 1: keep only the column.
        Err(e) => {
            let msg = e.to_string();
            Err(match msg.rfind(" at line ") {
                Some(at) => format!("{} at column {}", &msg[..at], e.column()),
                None => msg,
            })
        }
        Ok(Line { id, vector: Some(v), text: None, payload }) => {
            Ok(Item { id, input: Input::Vector(v), payload })
        }
        Ok(Line { id, vector: None, text: Some(t), payload }) => {
            Ok(Item { id, input: Input::Text(t), payload })
        }
        Ok(Line { vector: Some(_), text: Some(_), .. }) => {
            Err("give either `vector` or `text`, not both".into())
        }
        Ok(Line { vector: None, text: None, .. }) => Err("missing `vector` (or `text`)".into()),
    };
    Some(Row { number, item })
}

fn io_error(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::bad(format!("{}: {e}", path.display()))
}

/// Shape of a dense-vector file: rows, dimension, bytes before the first row, bytes per row.
struct Dense {
    rows: u64,
    dim: usize,
    header: u64,
    row_bytes: u64,
}

fn fvecs_shape(path: &std::path::Path) -> Result<Dense> {
    let mut f = open_regular(path).map_err(|e| io_error(path, e))?;
    let len = f.metadata().map_err(|e| io_error(path, e))?.len();
    if len == 0 {
        return Ok(Dense { rows: 0, dim: 0, header: 0, row_bytes: 4 });
    }
    let mut word = [0u8; 4];
    f.read_exact(&mut word).map_err(|e| io_error(path, e))?;
    let dim = i32::from_le_bytes(word);
    if dim <= 0 || dim > crate::collection::config::MAX_DIM as i32 {
        return Err(io_error(path, format!("not an fvecs file: first row has dimension {dim}")));
    }
    let row_bytes = 4 + 4 * dim as u64;
    if len % row_bytes != 0 {
        return Err(io_error(path, format!("{len} bytes is not a whole number of {dim}-d rows")));
    }
    Ok(Dense { rows: len / row_bytes, dim: dim as usize, header: 0, row_bytes })
}

/// Reads a `.npy` header: only 2-D, C-order, little-endian float32 arrays.
fn npy_shape(path: &std::path::Path) -> Result<Dense> {
    let mut f = open_regular(path).map_err(|e| io_error(path, e))?;
    let mut magic = [0u8; 8];
    f.read_exact(&mut magic).map_err(|e| io_error(path, e))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(io_error(path, "not a .npy file"));
    }
    let (len_bytes, prefix) = if magic[6] == 1 { (2, 10) } else { (4, 12) };
    let mut raw = [0u8; 4];
    f.read_exact(&mut raw[..len_bytes]).map_err(|e| io_error(path, e))?;
    let header_len = u32::from_le_bytes(raw) as usize;
    let mut header = vec![0u8; header_len];
    f.read_exact(&mut header).map_err(|e| io_error(path, e))?;
    let header = String::from_utf8_lossy(&header).replace(' ', "");
    if !header.contains("'descr':'<f4'") {
        return Err(io_error(
            path,
            format!("only little-endian float32 arrays ('<f4') are supported: {header}"),
        ));
    }
    if !header.contains("'fortran_order':False") {
        return Err(io_error(path, "Fortran-order arrays are not supported"));
    }
    let shape = header
        .split("'shape':(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| io_error(path, format!("no shape in header {header}")))?;
    let dims: Vec<u64> = shape.split(',').filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect();
    let [rows, dim] = dims[..] else {
        return Err(io_error(path, format!("expected a 2-D array, shape is ({shape})")));
    };
    let header = (prefix + header_len) as u64;
    let len = f.metadata().map_err(|e| io_error(path, e))?.len();
    if len < header + rows * dim * 4 {
        return Err(io_error(path, format!("truncated: {len} bytes for shape ({rows}, {dim})")));
    }
    Ok(Dense { rows, dim: dim as usize, header, row_bytes: dim * 4 })
}

impl FileImport {
    fn shape(&self) -> Result<Dense> {
        match self.format {
            Format::Fvecs => fvecs_shape(&self.path),
            Format::Npy => npy_shape(&self.path),
            Format::Jsonl | Format::Csv => Err(Error::Internal("text files have no fixed shape".into())),
        }
    }

    /// Resolves `path` inside `root` (see [`crate::files::confine`]): the only files an import
    /// reads.
    pub fn confine(&mut self, root: &std::path::Path) -> Result<()> {
        if let Err(e) = std::fs::create_dir_all(root) {
            tracing::warn!("import directory {}: {e}", root.display());
        }
        self.path = crate::files::confine(root, &self.path, "import directory (storage.import_dir)")?;
        Ok(())
    }

    /// Checks the file: its rows (lines for jsonl) and, for fvecs / npy, their dimension.
    pub fn inspect(&self) -> Result<(u64, Option<usize>)> {
        match self.format {
            Format::Jsonl | Format::Csv => {
                let f = open_regular(&self.path).map_err(|e| io_error(&self.path, e))?;
                let mut reader = BufReader::with_capacity(1 << 20, f);
                let (mut lines, mut last) = (0u64, b'\n');
                loop {
                    let buf = reader.fill_buf().map_err(|e| io_error(&self.path, e))?;
                    let Some(&end) = buf.last() else { break };
                    lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
                    last = end;
                    let n = buf.len();
                    reader.consume(n);
                }
                Ok((lines + u64::from(last != b'\n'), None))
            }
            Format::Fvecs | Format::Npy => {
                let shape = self.shape()?;
                Ok((shape.rows, Some(shape.dim).filter(|d| *d > 0)))
            }
        }
    }

    /// The rows after the first `skip` (a resumed job skips what it committed).
    pub(crate) fn rows(&self, skip: u64) -> Result<Box<dyn Iterator<Item = Result<Row>> + Send>> {
        let mut f = open_regular(&self.path).map_err(|e| io_error(&self.path, e))?;
        match self.format {
            Format::Jsonl => {
                let lines = BufReader::with_capacity(1 << 20, f).split(b'\n');
                let path = self.path.clone();
                Ok(Box::new(lines.enumerate().skip(skip as usize).filter_map(move |(i, line)| match line {
                    Ok(bytes) => parse_line(i as u64 + 1, &bytes).map(Ok),
                    Err(e) => Some(Err(io_error(&path, e))),
                })))
            }
            Format::Csv => Err(Error::bad("points are imported from jsonl, fvecs or npy files, not csv")),
            Format::Fvecs | Format::Npy => {
                let shape = self.shape()?;
                f.seek(SeekFrom::Start(shape.header + skip * shape.row_bytes))
                    .map_err(|e| io_error(&self.path, e))?;
                let mut reader = BufReader::with_capacity(1 << 20, f);
                let (path, ids_from, fvecs) =
                    (self.path.clone(), self.ids_from, self.format == Format::Fvecs);
                let mut buf = vec![0u8; shape.row_bytes as usize];
                Ok(Box::new((skip..shape.rows).map(move |row| {
                    reader.read_exact(&mut buf).map_err(|e| io_error(&path, e))?;
                    let values = if fvecs { &buf[4..] } else { &buf[..] };
                    if fvecs && buf[..4] != (shape.dim as i32).to_le_bytes() {
                        let d = i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                        return Err(io_error(
                            &path,
                            format!("row {} has dimension {d}, not {}", row + 1, shape.dim),
                        ));
                    }
                    let v = f32s(values);
                    let id = ExtId::Num(ids_from + row);
                    Ok(Row { number: row + 1, item: Ok(Item { id, input: Input::Vector(v), payload: None }) })
                })))
            }
        }
    }
}

enum Chunk {
    Data(Bytes),
    End,
}

/// The request handler's end of a streamed import: body chunks go in as they arrive.
pub struct StreamFeed {
    tx: tokio::sync::mpsc::Sender<Chunk>,
}

impl StreamFeed {
    /// Passes a chunk on; false when the job has stopped reading (it failed or was cancelled).
    pub async fn send(&self, bytes: Bytes) -> bool {
        self.tx.send(Chunk::Data(bytes)).await.is_ok()
    }

    /// The body ended normally (without this, the job reports the stream as cut off).
    pub async fn end(self) {
        let _ = self.tx.send(Chunk::End).await;
    }
}

/// A stream whose lines may be up to `max_line` bytes long.
pub(super) fn stream_channel(max_line: usize) -> (StreamFeed, StreamLines) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let lines =
        StreamLines { rx, buf: Vec::new(), start: 0, scanned: 0, max_line, number: 0, finished: false };
    (StreamFeed { tx }, lines)
}

/// Lines of the streamed body, split across chunk boundaries. Each byte is scanned for a
/// newline once, and a line longer than `max_line` fails the stream instead of growing the
/// buffer without end.
pub struct StreamLines {
    rx: tokio::sync::mpsc::Receiver<Chunk>,
    buf: Vec<u8>,
    /// Where the next line starts in `buf`.
    start: usize,
    /// `buf[start..scanned]` holds no newline.
    scanned: usize,
    max_line: usize,
    number: u64,
    finished: bool,
}

impl StreamLines {
    fn take(&mut self, end: usize) -> Vec<u8> {
        let line = self.buf[self.start..end].to_vec();
        self.start = end;
        self.scanned = end;
        // Drop the consumed prefix once it is most of the buffer: amortised O(1) per byte.
        if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        line
    }
}

impl Iterator for StreamLines {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let line = self.take(self.scanned + at + 1);
                self.number += 1;
                return Some(Ok((self.number, line)));
            }
            self.scanned = self.buf.len();
            if self.scanned - self.start > self.max_line {
                self.finished = true;
                self.buf = Vec::new();
                (self.start, self.scanned) = (0, 0);
                return Some(Err(Error::bad(format!(
                    "line {} is longer than {} bytes (service.max_request_bytes)",
                    self.number + 1,
                    self.max_line
                ))));
            }
            if self.finished {
                if self.start == self.buf.len() {
                    return None;
                }
                self.number += 1;
                let end = self.buf.len();
                return Some(Ok((self.number, self.take(end))));
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Chunk::End) => self.finished = true,
                None => {
                    self.finished = true;
                    return Some(Err(Error::bad(format!(
                        "the stream was cut off after line {} (client gone?)",
                        self.number
                    ))));
                }
            }
        }
    }
}

pub(super) fn run_file(jobs: &Jobs, job: &Job, c: &Arc<Collection>, spec: &FileImport) -> Result<Outcome> {
    // Checked again on resume: the file or the configured directory may have changed.
    let mut spec = spec.clone();
    spec.confine(jobs.import_root())?;
    let rows = spec.rows(job.record().done)?;
    import_rows(jobs, job, c, rows, spec.on_error)
}

pub(super) fn run_stream(
    jobs: &Jobs,
    job: &Job,
    c: &Arc<Collection>,
    lines: StreamLines,
    on_error: OnError,
) -> Result<Outcome> {
    let rows = lines.filter_map(|line| match line {
        Ok((number, bytes)) => parse_line(number, &bytes).map(Ok),
        Err(e) => Some(Err(e)),
    });
    import_rows(jobs, job, c, rows, on_error)
}

/// A batch being collected: checked points and the texts still to embed.
#[derive(Default)]
struct Pending {
    points: Vec<NewPoint>,
    /// (index into `points`, text) of the points whose vector is still to be embedded.
    texts: Vec<(usize, String)>,
    /// Number of the last row taken (committed as the job's `done`).
    last: u64,
}

/// The import loop shared by every source.
fn import_rows(
    jobs: &Jobs,
    job: &Job,
    c: &Arc<Collection>,
    rows: impl Iterator<Item = Result<Row>>,
    on_error: OnError,
) -> Result<Outcome> {
    let config = c.config();
    // Imported rows carry the unnamed vector (or a text embedded into it).
    let unnamed = config.vector("").map_err(|e| e.to_string());
    let mut pending = Pending { last: job.record().done, ..Pending::default() };
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                commit(jobs, job, c, &mut pending)?;
                return Ok(Outcome::Failed(format!("{e}; the rows before it were imported")));
            }
        };
        let checked = row.item.and_then(|item| {
            let (vector, text) = match item.input {
                Input::Vector(v) => {
                    let u = unnamed.as_ref().map_err(Clone::clone)?;
                    (
                        prepare_vector(u.distance.metric(), v, u.size)
                            .map_err(|e| e.to_string())?
                            .into_vector(),
                        None,
                    )
                }
                Input::Text(t) => {
                    if config.embedding.is_none() {
                        return Err(format!("collection `{}` has no embedding model for `text`", c.name));
                    }
                    if crate::embedding::normalise(&t).is_empty() {
                        return Err("text is empty".into());
                    }
                    if let Some(limit) = jobs.embedder().map(|e| e.max_text_bytes).filter(|l| t.len() > *l) {
                        return Err(format!(
                            "text is {} bytes; the limit is {limit} (embedding.max_text_bytes)",
                            t.len()
                        ));
                    }
                    (Vec::new(), Some(t))
                }
            };
            if let Some(p) = &item.payload {
                crate::collection::check_payload(p).map_err(|e| e.to_string())?;
            }
            Ok((NewPoint::unnamed(item.id, vector, item.payload), text))
        });
        match checked {
            Ok((point, text)) => {
                if let Some(t) = text {
                    pending.texts.push((pending.points.len(), t));
                }
                pending.points.push(point);
            }
            Err(error) => {
                if let Some(msg) = job.bad_line(row.number, error, on_error) {
                    commit(jobs, job, c, &mut pending)?;
                    return Ok(Outcome::Failed(format!("{msg}; the rows before it were imported")));
                }
            }
        }
        pending.last = row.number;
        if pending.points.len() >= BATCH_ROWS || pending.texts.len() >= BATCH_TEXTS {
            if job.should_stop() {
                return Ok(Outcome::Cancelled);
            }
            commit(jobs, job, c, &mut pending)?;
        }
    }
    commit(jobs, job, c, &mut pending)?;
    // Saved now, so a restart loads the imported index instead of replaying the import.
    c.save_index()?;
    Ok(Outcome::Done(None))
}

/// Embeds the pending texts and writes the batch with the job's progress.
fn commit(jobs: &Jobs, job: &Job, c: &Arc<Collection>, pending: &mut Pending) -> Result<()> {
    let current = jobs.catalog().get(&c.name)?;
    if !Arc::ptr_eq(&current, c) {
        return Err(Error::Conflict(format!(
            "collection `{}` was deleted or replaced during the import",
            c.name
        )));
    }
    if !pending.texts.is_empty() {
        let config = c.config();
        let model = config.embedding.as_ref().map(|e| e.model.as_str());
        let embedder =
            jobs.embedder().ok_or_else(|| Error::bad("text embedding is not available on this server"))?;
        let texts: Vec<String> = pending.texts.iter().map(|(_, t)| t.clone()).collect();
        let (_, vectors) =
            jobs.runtime().block_on(embedder.embed(model, &texts, crate::embedding::Priority::Job))?;
        let store_text = config.embedding.as_ref().and_then(|e| e.store_text.clone());
        let bm25 = config
            .embedding
            .as_ref()
            .and_then(|e| e.bm25.as_ref())
            .map(|t| Ok::<_, Error>((t.vector.clone(), t.bm25()?)))
            .transpose()?;
        for ((i, text), e) in std::mem::take(&mut pending.texts).into_iter().zip(vectors) {
            let point = &mut pending.points[i];
            point.vectors.insert(String::new(), crate::collection::Vector::Dense(e.vector));
            if let Some((name, bm25)) = &bm25 {
                point.vectors.insert(name.clone(), crate::collection::Vector::Sparse(bm25.document(&text)?));
            }
            if let Some(key) = &store_text {
                point
                    .payload
                    .get_or_insert_with(Payload::new)
                    .insert(key.clone(), serde_json::Value::String(text));
            }
        }
    }
    let points = std::mem::take(&mut pending.points);
    let last = pending.last;
    let mut batch = jobs.catalog().storage().batch();
    let written = job.stage(&mut batch, |r| r.done = last)?;
    crate::collection::as_bulk(|| c.upsert_with(points, true, batch))?;
    job.set(written);
    Ok(())
}

/// A row of little-endian f32s (fvecs and npy rows).
fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}
