//! The on-disk format shared by every backend: a versioned header, a body of little-endian
//! sections, and a CRC-32 of everything before it as the last four bytes.
//!
//! ```text
//! "VICINITY"  u32 format version  u8 kind  body…  u32 crc32(all previous bytes)
//! ```
//! Files are written to `<path>.tmp`, fsynced and renamed, so a crash leaves either the old
//! file or the new one. On load the whole file is checked (length, magic, version, checksum,
//! exact body length) before anything is used: a truncated or corrupt file is an error.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{IndexError, Result};

const MAGIC: &[u8; 8] = b"VICINITY";
/// Bump on any change to what a backend writes; add a reader for the old version when bumping.
/// 2: HNSW files end with the fitted rotation (absent from version 1 files).
pub const FORMAT_VERSION: u32 = 2;

#[cfg(not(target_endian = "little"))]
compile_error!("the index file format is little-endian and read by casting; big-endian is unsupported");

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Flat = 0,
    Hnsw = 1,
    HnswRs = 2,
    Faiss = 3,
    Sparse = 4,
}

pub(crate) struct Writer {
    out: BufWriter<File>,
    crc: crc32fast::Hasher,
    tmp: PathBuf,
    path: PathBuf,
}

impl Writer {
    pub fn create(path: &Path, kind: Kind) -> Result<Self> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
        let mut w = Writer {
            out: BufWriter::with_capacity(1 << 20, file),
            crc: crc32fast::Hasher::new(),
            tmp,
            path: path.to_path_buf(),
        };
        w.bytes(MAGIC)?;
        w.u32(FORMAT_VERSION)?;
        w.u8(kind as u8)?;
        Ok(w)
    }

    pub fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.crc.update(b);
        self.out.write_all(b).map_err(|e| IndexError::io(&self.tmp, e))
    }
    pub fn u8(&mut self, v: u8) -> Result<()> {
        self.bytes(&[v])
    }
    pub fn u32(&mut self, v: u32) -> Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    pub fn u64(&mut self, v: u64) -> Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    pub fn f32(&mut self, v: f32) -> Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    pub fn f32s(&mut self, v: &[f32]) -> Result<()> {
        self.bytes(bytemuck::cast_slice(v))
    }
    pub fn u32s(&mut self, v: &[u32]) -> Result<()> {
        self.bytes(bytemuck::cast_slice(v))
    }
    pub fn u64s(&mut self, v: &[u64]) -> Result<()> {
        self.bytes(bytemuck::cast_slice(v))
    }
    pub fn i8s(&mut self, v: &[i8]) -> Result<()> {
        self.bytes(bytemuck::cast_slice(v))
    }

    /// Writes the checksum, fsyncs and atomically replaces the target file.
    pub fn finish(mut self) -> Result<()> {
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes()).map_err(|e| IndexError::io(&self.tmp, e))?;
        let file = self.out.into_inner().map_err(|e| IndexError::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| IndexError::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| IndexError::io(&self.path, e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| IndexError::io(dir, e))?;
        }
        Ok(())
    }
}

/// A verified file's body.
pub(crate) struct Reader {
    data: Vec<u8>,
    pos: usize,
    end: usize,
    path: PathBuf,
    pub kind: Kind,
    /// The format version the file was written in.
    pub version: u32,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| IndexError::io(path, e))?;
        let header = MAGIC.len() + 4 + 1;
        if data.len() < header + 4 {
            return Err(IndexError::corrupt(path, format!("truncated: only {} bytes", data.len())));
        }
        if &data[..MAGIC.len()] != MAGIC {
            return Err(IndexError::corrupt(path, "not a vicinity index file (bad magic)"));
        }
        let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
        if version > FORMAT_VERSION {
            return Err(IndexError::UnknownVersion {
                path: path.display().to_string(),
                found: version,
                known: FORMAT_VERSION,
            });
        }
        let end = data.len() - 4;
        let stored = u32::from_le_bytes(data[end..].try_into().expect("4 bytes"));
        let actual = crc32fast::hash(&data[..end]);
        if stored != actual {
            return Err(IndexError::corrupt(
                path,
                format!(
                    "checksum mismatch (stored {stored:08x}, computed {actual:08x}): truncated or corrupt"
                ),
            ));
        }
        let kind = match data[12] {
            0 => Kind::Flat,
            1 => Kind::Hnsw,
            2 => Kind::HnswRs,
            3 => Kind::Faiss,
            4 => Kind::Sparse,
            other => return Err(IndexError::corrupt(path, format!("unknown index kind {other}"))),
        };
        Ok(Reader { data, pos: header, end, path: path.to_path_buf(), kind, version })
    }

    pub fn corrupt(&self, reason: impl Into<String>) -> IndexError {
        IndexError::corrupt(&self.path, reason)
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.end - self.pos < n {
            return Err(self.corrupt(format!("body ends early: wanted {n} bytes at {}", self.pos)));
        }
        self.pos += n;
        Ok(&self.data[self.pos - n..self.pos])
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    pub fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    /// A parameter stored as u64.
    pub fn usize(&mut self) -> Result<usize> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| self.corrupt(format!("value {v} does not fit this machine")))
    }
    /// A length or count, checked against what the file can still hold.
    pub fn len(&mut self) -> Result<usize> {
        let v = self.u64()?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= self.end)
            .ok_or_else(|| self.corrupt(format!("implausible length {v}")))
    }
    fn pods<T: bytemuck::Pod>(&mut self, count: usize) -> Result<Vec<T>> {
        let bytes =
            count.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| self.corrupt("size overflow"))?;
        Ok(bytemuck::pod_collect_to_vec(self.take(bytes)?))
    }
    pub fn f32s(&mut self, count: usize) -> Result<Vec<f32>> {
        self.pods(count)
    }
    pub fn u32s(&mut self, count: usize) -> Result<Vec<u32>> {
        self.pods(count)
    }
    pub fn u64s(&mut self, count: usize) -> Result<Vec<u64>> {
        self.pods(count)
    }
    pub fn i8s(&mut self, count: usize) -> Result<Vec<i8>> {
        self.pods(count)
    }
    pub fn u8s(&mut self, count: usize) -> Result<Vec<u8>> {
        Ok(self.take(count)?.to_vec())
    }

    /// Every body byte must have been read.
    pub fn finish(self) -> Result<()> {
        if self.pos != self.end {
            return Err(self.corrupt(format!("{} unread bytes after the body", self.end - self.pos)));
        }
        Ok(())
    }
}
