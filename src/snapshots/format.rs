//! The snapshot file: one collection at one point in time, self-checking.
//!
//! ```text
//! "VICSNAP1"
//! u32 manifest length, manifest JSON            (see `Manifest`)
//! u64 index length, the persisted index file    (0: none; the recovered collection rebuilds it)
//! records: u8 family, u32 key length, key, u32 value length, value   (keys without the
//!          collection-id prefix; families: ids, points, vectors, changes,
//!          interactions)
//! u8 END
//! 32 bytes: SHA-256 of everything above
//! ```
//! All integers little-endian. The checksum reported to clients is the SHA-256 of the whole
//! file (what `sha256sum` prints), as Qdrant reports it.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::collection::CollectionConfig;
use crate::error::{Error, Result};
use crate::storage::Family;

const MAGIC: &[u8; 8] = b"VICSNAP1";
const END: u8 = 0xFF;
/// Families in a snapshot, by their tag (the position here).
/// (Interactions came later: an older snapshot has none.)
pub const FAMILIES: [Family; 5] =
    [Family::Ids, Family::Points, Family::Vectors, Family::Changes, Family::Interactions];
/// Largest manifest or record accepted when reading (a corrupt length fails, not allocates).
const MAX_RECORD: usize = 1 << 30;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub collection: String,
    /// Unix seconds.
    pub created_at: f64,
    pub config: CollectionConfig,
    /// The last write in the snapshot.
    pub seq: u64,
    /// The next internal point id.
    pub next: u64,
    /// The write the included index covers (`None`: no index included).
    pub saved: Option<u64>,
    pub points: u64,
}

/// Writes through, hashing every byte.
pub struct Writer<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn io(e: io::Error) -> Error {
    Error::Storage(format!("snapshot file: {e}"))
}

impl<W: Write> Writer<W> {
    pub fn start(inner: W, manifest: &Manifest) -> Result<Self> {
        let mut w = Writer { inner, hash: Sha256::new() };
        let json = serde_json::to_vec(manifest).map_err(|e| Error::Internal(e.to_string()))?;
        w.write_all(MAGIC).map_err(io)?;
        w.write_all(&(json.len() as u32).to_le_bytes()).map_err(io)?;
        w.write_all(&json).map_err(io)?;
        Ok(w)
    }

    /// The index section: `len` bytes from `from`.
    pub fn index(&mut self, len: u64, from: &mut impl Read) -> Result<()> {
        self.write_all(&len.to_le_bytes()).map_err(io)?;
        let copied = io::copy(&mut from.take(len), self).map_err(io)?;
        if copied != len {
            return Err(Error::Storage(format!("index file shrank while copied ({copied} of {len} bytes)")));
        }
        Ok(())
    }

    pub fn record(&mut self, family: u8, key: &[u8], value: &[u8]) -> Result<()> {
        self.write_all(&[family]).map_err(io)?;
        self.write_all(&(key.len() as u32).to_le_bytes()).map_err(io)?;
        self.write_all(key).map_err(io)?;
        self.write_all(&(value.len() as u32).to_le_bytes()).map_err(io)?;
        self.write_all(value).map_err(io)
    }

    /// Ends the records and appends the checksum; returns the whole file's SHA-256 (hex).
    pub fn finish(mut self) -> Result<(W, String)> {
        self.write_all(&[END]).map_err(io)?;
        let body = self.hash.clone().finalize();
        self.write_all(&body).map_err(io)?;
        self.flush().map_err(io)?;
        Ok((self.inner, hex(&self.hash.finalize())))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a snapshot file's embedded checksum and returns the whole file's SHA-256 (hex).
pub fn verify(path: &std::path::Path) -> Result<String> {
    let bad = |what: String| Error::bad(format!("snapshot {}: {what}", path.display()));
    let mut f = crate::files::open_regular(path).map_err(|e| bad(e.to_string()))?;
    let len = f.metadata().map_err(|e| bad(e.to_string()))?.len();
    if len < (MAGIC.len() + 32) as u64 {
        return Err(bad("too short to be a snapshot".into()));
    }
    let (mut body, mut whole) = (Sha256::new(), Sha256::new());
    let mut left = len - 32;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = f.read(&mut buf[..left.min(1 << 20) as usize]).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            return Err(bad("file shrank while read".into()));
        }
        body.update(&buf[..n]);
        whole.update(&buf[..n]);
        left -= n as u64;
    }
    let mut stored = [0u8; 32];
    f.read_exact(&mut stored).map_err(|e| bad(e.to_string()))?;
    if body.finalize().as_slice() != stored {
        return Err(bad("checksum mismatch: the file is corrupt or truncated".into()));
    }
    whole.update(stored);
    Ok(hex(&whole.finalize()))
}

/// A stored entry: its column family, key (without the collection prefix) and value.
pub type Record = (Family, Vec<u8>, Vec<u8>);

/// Reads a verified snapshot front to back.
pub struct Reader<R: Read> {
    inner: R,
}

fn read_u32(r: &mut impl Read) -> Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(io)?;
    Ok(u32::from_le_bytes(b))
}

fn read_bytes(r: &mut impl Read) -> Result<Vec<u8>> {
    let len = read_u32(r)? as usize;
    if len > MAX_RECORD {
        return Err(Error::bad(format!("snapshot: record of {len} bytes is too large")));
    }
    let mut v = vec![0u8; len];
    r.read_exact(&mut v).map_err(io)?;
    Ok(v)
}

impl<R: Read> Reader<R> {
    pub fn open(mut inner: R) -> Result<(Self, Manifest)> {
        let mut magic = [0u8; 8];
        inner.read_exact(&mut magic).map_err(io)?;
        if &magic != MAGIC {
            return Err(Error::bad("not a vicinity snapshot (bad magic)"));
        }
        let manifest = serde_json::from_slice(&read_bytes(&mut inner)?)
            .map_err(|e| Error::bad(format!("snapshot manifest: {e}")))?;
        Ok((Reader { inner }, manifest))
    }

    /// Copies the index section to `to`; returns its length (0: none).
    pub fn index(&mut self, to: &mut impl Write) -> Result<u64> {
        let mut b = [0u8; 8];
        self.inner.read_exact(&mut b).map_err(io)?;
        let len = u64::from_le_bytes(b);
        let copied = io::copy(&mut (&mut self.inner).take(len), to).map_err(io)?;
        if copied != len {
            return Err(Error::bad("snapshot: index section is truncated"));
        }
        Ok(len)
    }

    /// The next record (family, key, value), or `None` at the end.
    pub fn record(&mut self) -> Result<Option<Record>> {
        let mut tag = [0u8; 1];
        self.inner.read_exact(&mut tag).map_err(io)?;
        if tag[0] == END {
            return Ok(None);
        }
        let family = FAMILIES
            .get(tag[0] as usize)
            .ok_or_else(|| Error::bad(format!("snapshot: unknown record family {}", tag[0])))?;
        let key = read_bytes(&mut self.inner)?;
        let value = read_bytes(&mut self.inner)?;
        Ok(Some((*family, key, value)))
    }
}
