//! Bulk import of users' events: a `jsonl` file (one event object per line), a `csv` file (a
//! header naming `user`, `item`, `type` and optionally `weight`, `timestamp`) or an NDJSON
//! stream. Each line is checked on its own (a bad one is skipped or fails the job, named by its
//! line number); the good ones are recorded in chunks, each in one RocksDB batch with the job's
//! progress, so a resumed job carries on exactly where the last chunk ended.

use std::io::{BufRead, BufReader};
use std::sync::Arc;

use serde_json::Value;

use super::import::{FileImport, Format, OnError, StreamLines};
use super::{Job, Jobs, Outcome};
use crate::collection::{Collection, Event, EventInput};
use crate::error::{Error, Result};
use crate::files::open_regular;

/// Events per RocksDB batch.
const BATCH_EVENTS: usize = 10_000;

/// An event with its 1-based line number; a bad one carries why.
pub struct EventRow {
    pub number: u64,
    pub event: std::result::Result<Event, String>,
}

fn from_input(input: std::result::Result<EventInput, String>) -> std::result::Result<Event, String> {
    input?.event().map_err(|e| e.to_string())
}

/// One JSON line; `None` for a blank line.
pub fn json_row(number: u64, bytes: &[u8]) -> Option<EventRow> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return None;
    }
    let input = serde_json::from_slice::<EventInput>(trimmed).map_err(|e| {
        let msg = e.to_string();
        match msg.rfind(" at line ") {
            Some(at) => format!("{} at column {}", &msg[..at], e.column()),
            None => msg,
        }
    });
    Some(EventRow { number, event: from_input(input) })
}

/// The fields of one CSV line (RFC 4180 quoting: `"a, b"`, `"say ""hi"""`; no line breaks
/// inside a field).
fn csv_fields(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".into()),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("text after a quoted field".into());
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

/// Where each column is, from the header line.
struct Columns {
    user: usize,
    item: usize,
    kind: usize,
    weight: Option<usize>,
    timestamp: Option<usize>,
    count: usize,
}

impl Columns {
    fn of(header: &str) -> Result<Columns> {
        let names = csv_fields(header).map_err(|e| Error::bad(format!("csv header: {e}")))?;
        let names: Vec<String> = names.iter().map(|n| n.trim().to_ascii_lowercase()).collect();
        if let Some(other) =
            names.iter().find(|n| !matches!(n.as_str(), "user" | "item" | "type" | "weight" | "timestamp"))
        {
            return Err(Error::bad(format!(
                "csv header: unknown column {other:?} (columns: user, item, type, weight, timestamp)"
            )));
        }
        let at = |name: &str| names.iter().position(|n| n == name);
        let need = |name: &str| at(name).ok_or_else(|| Error::bad(format!("csv header: no `{name}` column")));
        Ok(Columns {
            user: need("user")?,
            item: need("item")?,
            kind: need("type")?,
            weight: at("weight"),
            timestamp: at("timestamp"),
            count: names.len(),
        })
    }

    fn row(&self, number: u64, line: &str) -> Option<EventRow> {
        if line.trim().is_empty() {
            return None;
        }
        let event = csv_fields(line).and_then(|f| {
            if f.len() != self.count {
                return Err(format!("{} fields, the header has {}", f.len(), self.count));
            }
            let text = |i: Option<usize>| i.map(|i| f[i].trim()).filter(|v| !v.is_empty());
            let item = match f[self.item].trim() {
                digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    serde_json::from_str::<Value>(digits).map_err(|e| format!("item: {e}"))?
                }
                other => Value::String(other.to_string()),
            };
            let weight = match text(self.weight) {
                Some(w) => Some(w.parse::<f64>().map_err(|_| format!("weight: {w:?} is not a number"))?),
                None => None,
            };
            let timestamp = match text(self.timestamp).map(|t| (t, t.parse::<f64>())) {
                None => None,
                Some((_, Ok(secs))) if secs.is_finite() => Some(serde_json::json!(secs)),
                Some((t, Ok(_))) => return Err(format!("timestamp: {t:?} is not a time")),
                Some((t, Err(_))) => Some(Value::String(t.to_string())),
            };
            let input = EventInput {
                user: Value::String(f[self.user].trim().to_string()),
                item: serde_json::from_value(item).map_err(|e| format!("item: {e}"))?,
                kind: f[self.kind].trim().to_string(),
                weight,
                timestamp,
            };
            from_input(Ok(input))
        });
        Some(EventRow { number, event })
    }
}

/// A file's events after its first `skip` lines (a resumed job skips what it committed).
fn file_rows(spec: &FileImport, skip: u64) -> Result<Box<dyn Iterator<Item = Result<EventRow>> + Send>> {
    let f = open_regular(&spec.path).map_err(|e| Error::bad(format!("{}: {e}", spec.path.display())))?;
    let path = spec.path.clone();
    let io = move |e: std::io::Error| Error::bad(format!("{}: {e}", path.display()));
    let mut lines = BufReader::with_capacity(1 << 20, f).split(b'\n');
    match spec.format {
        Format::Jsonl => {
            Ok(Box::new(lines.enumerate().skip(skip as usize).filter_map(move |(i, line)| match line {
                Ok(bytes) => json_row(i as u64 + 1, &bytes).map(Ok),
                Err(e) => Some(Err(io(e))),
            })))
        }
        Format::Csv => {
            let header = match lines.next() {
                Some(line) => line.map_err(&io)?,
                None => return Ok(Box::new(std::iter::empty())),
            };
            let header = String::from_utf8_lossy(&header);
            let columns = Columns::of(header.trim_start_matches('\u{feff}'))?;
            // Line 1 is the header.
            let skip = skip.saturating_sub(1) as usize;
            Ok(Box::new(lines.enumerate().skip(skip).filter_map(move |(i, line)| {
                let number = i as u64 + 2;
                match line.map(String::from_utf8) {
                    Ok(Ok(text)) => columns.row(number, &text).map(Ok),
                    Ok(Err(_)) => Some(Ok(EventRow { number, event: Err("the line is not UTF-8".into()) })),
                    Err(e) => Some(Err(io(e))),
                }
            })))
        }
        Format::Fvecs | Format::Npy => {
            Err(Error::bad("interactions are imported from jsonl or csv files, not fvecs or npy"))
        }
    }
}

pub(super) fn run_file(jobs: &Jobs, job: &Job, c: &Arc<Collection>, spec: &FileImport) -> Result<Outcome> {
    let mut spec = spec.clone();
    spec.confine(jobs.import_root())?;
    let rows = file_rows(&spec, job.record().done)?;
    import(jobs, job, c, rows, spec.on_error)
}

pub(super) fn run_stream(
    jobs: &Jobs,
    job: &Job,
    c: &Arc<Collection>,
    lines: StreamLines,
    on_error: OnError,
) -> Result<Outcome> {
    let rows = lines.filter_map(|line| match line {
        Ok((number, bytes)) => json_row(number, &bytes).map(Ok),
        Err(e) => Some(Err(e)),
    });
    import(jobs, job, c, rows, on_error)
}

fn import(
    jobs: &Jobs,
    job: &Job,
    c: &Arc<Collection>,
    rows: impl Iterator<Item = Result<EventRow>>,
    on_error: OnError,
) -> Result<Outcome> {
    let mut pending: Vec<Event> = Vec::new();
    let mut last = job.record().done;
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                commit(jobs, job, c, &mut pending, last)?;
                return Ok(Outcome::Failed(format!("{e}; the lines before it were imported")));
            }
        };
        match row.event.and_then(|e| c.check_event(&e).map(|()| e).map_err(|err| err.to_string())) {
            Ok(event) => pending.push(event),
            Err(error) => {
                if let Some(msg) = job.bad_line(row.number, error, on_error) {
                    commit(jobs, job, c, &mut pending, last)?;
                    return Ok(Outcome::Failed(format!("{msg}; the lines before it were imported")));
                }
            }
        }
        last = row.number;
        if pending.len() >= BATCH_EVENTS {
            if job.should_stop() {
                return Ok(Outcome::Cancelled);
            }
            commit(jobs, job, c, &mut pending, last)?;
        }
    }
    commit(jobs, job, c, &mut pending, last)?;
    Ok(Outcome::Done(None))
}

/// Records the pending events with the job's progress, in one batch.
fn commit(jobs: &Jobs, job: &Job, c: &Arc<Collection>, pending: &mut Vec<Event>, last: u64) -> Result<()> {
    let current = jobs.catalog().get(&c.name)?;
    if !Arc::ptr_eq(&current, c) {
        return Err(Error::Conflict(format!(
            "collection `{}` was deleted or replaced during the import",
            c.name
        )));
    }
    let mut batch = jobs.catalog().storage().batch();
    let written = job.stage(&mut batch, |r| r.done = last)?;
    c.record_events_with(std::mem::take(pending), true, batch, true)?;
    job.set(written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc_4180_quoting() {
        assert_eq!(csv_fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(csv_fields("\"x, y\",\"say \"\"hi\"\"\"\r").unwrap(), ["x, y", "say \"hi\""]);
        assert!(csv_fields("\"open").is_err());
        assert!(csv_fields("\"a\"b").is_err());
    }

    #[test]
    fn csv_rows_become_events_and_bad_rows_say_why() {
        let cols = Columns::of("user,item,type,weight,timestamp").unwrap();
        let e = cols.row(2, "u1,7,like,2.5,1000").unwrap().event.unwrap();
        assert_eq!(
            (e.user.as_str(), e.item, e.kind.as_str(), e.weight, e.time),
            ("u1", crate::id::ExtId::Num(7), "like", 2.5, Some(1_000_000_000))
        );
        let e = cols.row(3, "u1,550e8400-e29b-41d4-a716-446655440000,view,,").unwrap().event.unwrap();
        assert_eq!((e.weight, e.time), (1.0, None));
        assert!(cols.row(4, "u1,7,view,heavy,").unwrap().event.unwrap_err().contains("weight"));
        assert!(cols.row(5, "u1,7").unwrap().event.unwrap_err().contains("fields"));
        assert!(cols.row(6, "  ").is_none());
        assert!(Columns::of("user,item").is_err() && Columns::of("user,item,type,rating").is_err());
    }
}
