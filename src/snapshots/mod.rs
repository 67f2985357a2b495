//! Collection snapshots (Qdrant's paths): create, list, download, delete, recover.
//!
//! Files live under `{data_dir}/snapshots/{collection dir}/{name}.snapshot` (see
//! [`collection_dir`]), each with a
//! `.checksum` file beside it holding its SHA-256. Names are checked against a plain pattern, so
//! a request can never reach outside that directory.

pub mod format;

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::catalog::Catalog;
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::storage::Family;
use format::Manifest;

/// Qdrant's `SnapshotDescription`.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotInfo {
    pub name: String,
    /// UTC, `YYYY-MM-DDTHH:MM:SS`.
    pub creation_time: Option<String>,
    pub size: u64,
    pub checksum: Option<String>,
}

const SUFFIX: &str = ".snapshot";

/// Snapshot names: `[A-Za-z0-9_.-]`, ending in `.snapshot`, not starting with a dot.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = name.len() <= 255 && name.len() > SUFFIX.len() && name.ends_with(SUFFIX) && plain(name);
    if ok {
        Ok(())
    } else {
        Err(Error::bad(format!(
            "invalid snapshot name {name:?}: use A-Z a-z 0-9 _ - . ending in {SUFFIX}, not starting with a dot"
        )))
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) for Unix seconds.
fn utc(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Whether `name` is safe as a file name as it is: `[A-Za-z0-9_.-]`, not starting with a dot.
fn plain(name: &str) -> bool {
    !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The snapshot directory of `collection`, one level under the snapshots directory: the name
/// itself when it is `[A-Za-z0-9_.-]` (up to 255 of them; never `.` or `..`, which are not
/// collection names), else `~` and the SHA-256 of the name
/// (a name may hold spaces, any Unicode, and be longer than a file name may be).
pub fn collection_dir(catalog: &Catalog, collection: &str) -> Result<PathBuf> {
    crate::catalog::validate_name(collection)?;
    // Names valid before Qdrant's rules ([A-Za-z0-9_.-], a leading dot included) keep their
    // directory.
    let old_style = collection.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let file_name = if old_style {
        collection.to_string()
    } else {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(collection.as_bytes());
        format!("~{}", hash.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    Ok(catalog.snapshots_dir().join(file_name))
}

/// The collection's name as it starts a snapshot's file name: plain characters only, at most
/// 100 of them.
fn file_stem(collection: &str) -> String {
    collection
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') { c } else { '_' })
        .take(100)
        .collect()
}

fn info(path: &Path) -> Result<SnapshotInfo> {
    let meta = std::fs::metadata(path).map_err(Error::file(path))?;
    let created =
        meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| utc(d.as_secs()));
    let checksum =
        std::fs::read_to_string(path.with_extension("checksum")).ok().map(|s| s.trim().to_string());
    Ok(SnapshotInfo {
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        creation_time: created,
        size: meta.len(),
        checksum,
    })
}

/// Snapshots the collection now (see [`write`]).
pub fn create(catalog: &Catalog, collection: &str) -> Result<SnapshotInfo> {
    let c = catalog.get(collection)?;
    // Through an alias: the collection's own name.
    let collection = c.name.as_str();
    let dir = collection_dir(catalog, collection)?;
    std::fs::create_dir_all(&dir).map_err(Error::file(&dir))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let stamp = utc(now.as_secs()).replace([':', 'T'], "-");
    let stem = file_stem(collection);
    let (name, file) = reserve(&dir, |n| match n {
        0 => format!("{stem}-{}-{stamp}{SUFFIX}", c.id()),
        n => format!("{stem}-{}-{stamp}-{n}{SUFFIX}", c.id()),
    })?;
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.partial"));
    let checksum_file = path.with_extension("checksum");
    let written = write(&c, BufWriter::new(file), now.as_secs_f64()).and_then(|(w, _, checksum)| {
        let file = w.into_inner().map_err(|e| Error::file(&partial)(e.into_error()))?;
        file.sync_all().map_err(Error::file(&partial))?;
        std::fs::write(&checksum_file, &checksum).map_err(Error::file(&checksum_file))?;
        std::fs::rename(&partial, &path).map_err(Error::file(&path))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    tracing::info!("collection {collection:?}: snapshot {name} written");
    info(&path)
}

/// Writes collection `c` as it is now to `out`; returns `out`, the manifest and the file's
/// SHA-256. The index file and the records come from one consistent view
/// ([`Collection::freeze`]); the records stream from it while writes go on.
pub fn write<W: std::io::Write>(c: &Collection, out: W, created_at: f64) -> Result<(W, Manifest, String)> {
    let frozen = c.freeze()?;
    let cid = frozen.cid;
    let points = frozen.view.records(cid, Family::Ids).count() as u64;
    let manifest = Manifest {
        format: 1,
        collection: frozen.name.clone(),
        created_at,
        config: frozen.config.clone(),
        seq: frozen.counters.seq,
        next: frozen.counters.next,
        saved: frozen.index.as_ref().and(frozen.counters.saved),
        points,
    };
    let mut w = format::Writer::start(out, &manifest)?;
    match frozen.index {
        Some((mut f, path)) => {
            let len = f.metadata().map_err(Error::file(&path))?.len();
            w.index(len, &mut f)?;
        }
        None => w.index(0, &mut std::io::empty())?,
    }
    for (tag, family) in format::FAMILIES.iter().enumerate() {
        for item in frozen.view.records(cid, *family) {
            let (key, value) = item?;
            w.record(tag as u8, &key, &value)?;
        }
    }
    let (out, checksum) = w.finish()?;
    Ok((out, manifest, checksum))
}

/// The first of `candidate(0)`, `candidate(1)`, … that no other create holds and this process
/// never handed out, with its `.partial` file created. Two creates in the same second get
/// different names: a name is held by its `.partial` (created only if absent) until that is
/// renamed to the name itself, which is checked after the `.partial` is made — so one of the two
/// always exists. A deleted snapshot's name is not given to a later one.
fn reserve(dir: &Path, candidate: impl Fn(usize) -> String) -> Result<(String, File)> {
    static ISSUED: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for n in 0..10_000 {
        let name = candidate(n);
        let issued = ISSUED.lock().is_ok_and(|set| set.contains(&dir.join(&name)));
        if issued {
            continue;
        }
        let partial = dir.join(format!("{name}.partial"));
        let file = match File::options().write(true).create_new(true).open(&partial) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::file(&partial)(e)),
        };
        if dir.join(&name).exists() {
            drop(file);
            let _ = std::fs::remove_file(&partial);
            continue;
        }
        if let Ok(mut set) = ISSUED.lock() {
            set.insert(dir.join(&name));
        }
        return Ok((name, file));
    }
    Err(Error::Conflict("too many snapshots are being created at once; retry".into()))
}

pub fn list(catalog: &Catalog, collection: &str) -> Result<Vec<SnapshotInfo>> {
    let c = catalog.get(collection)?;
    let collection = c.name.as_str();
    let Ok(entries) = std::fs::read_dir(collection_dir(catalog, collection)?) else { return Ok(Vec::new()) };
    let mut out: Vec<SnapshotInfo> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(SUFFIX))
        .filter_map(|p| info(&p).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The file of an existing snapshot.
pub fn path(catalog: &Catalog, collection: &str, name: &str) -> Result<PathBuf> {
    crate::catalog::validate_name(collection)?;
    validate_name(name)?;
    let c = catalog.get(collection)?;
    let dir = collection_dir(catalog, &c.name)?;
    let path = dir.join(name);
    if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return Err(Error::not_found(format!("snapshot `{name}` of collection `{collection}`")));
    }
    Ok(path)
}

pub fn delete(catalog: &Catalog, collection: &str, name: &str) -> Result<()> {
    let path = path(catalog, collection, name)?;
    std::fs::remove_file(&path).map_err(Error::file(&path))?;
    let _ = std::fs::remove_file(path.with_extension("checksum"));
    Ok(())
}

/// Where a recover request points: a path or a `file://` URI (no network locations) to a file
/// inside the snapshots directory, as Qdrant requires; anything else is refused without
/// saying whether it exists.
pub fn location(catalog: &Catalog, raw: &str) -> Result<PathBuf> {
    let path = parse_location(raw)?;
    let root = catalog.snapshots_dir();
    std::fs::create_dir_all(root).map_err(Error::file(root))?;
    crate::files::confine(
        root,
        &path,
        "snapshots directory (snapshots are recovered from there, or uploaded)",
    )
}

fn parse_location(raw: &str) -> Result<PathBuf> {
    let path = match raw.split_once("://") {
        Some(("file", rest)) => rest,
        Some((scheme, _)) => {
            return Err(Error::bad(format!(
                "snapshot location scheme `{scheme}` is not supported: give a file path on the server or file:// URI"
            )))
        }
        None => raw,
    };
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(Error::bad(format!("snapshot location must be an absolute path, got {raw:?}")));
    }
    Ok(path)
}

/// Recovers the snapshot at `file` as collection `collection` (replacing it if it exists).
/// The file is verified first; the new data is written under a fresh collection id and made
/// visible in one batch with the old collection's removal, so a crash leaves one or the other.
pub fn recover(catalog: &Catalog, collection: &str, file: &Path, checksum: Option<&str>) -> Result<()> {
    crate::catalog::validate_name(collection)?;
    let actual = format::verify(file)?;
    if let Some(expected) = checksum {
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(Error::bad(format!(
                "snapshot checksum mismatch: expected {expected}, file has {actual}"
            )));
        }
    }
    let reader = BufReader::new(
        crate::files::open_regular(file).map_err(|e| Error::bad(format!("{}: {e}", file.display())))?,
    );
    let (mut reader, manifest) = format::Reader::open(reader)?;
    let mut config = manifest.config.clone();
    config.validate()?;
    config.id = catalog.storage().next_collection_id()?;
    let cid = config.id;
    let index_path = catalog.index_path(cid);
    if let Some(parent) = index_path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::file(parent))?;
    }
    let staged = (|| {
        let partial = index_path.with_extension("partial");
        let mut out = BufWriter::new(File::create(&partial).map_err(Error::file(&partial))?);
        let index_len = reader.index(&mut out)?;
        drop(out);
        if index_len > 0 && manifest.saved.is_some() {
            std::fs::rename(&partial, &index_path).map_err(Error::file(&index_path))?;
        } else {
            let _ = std::fs::remove_file(&partial);
        }
        let storage = catalog.storage();
        let mut batch = storage.batch();
        while let Some((family, key, value)) = reader.record()? {
            // The checksum proves the file is whole, not that its records can be read: a
            // point record the next start could not decode would stop the whole data dir.
            batch
                .restore(cid, family, &key, &value)
                .map_err(|e| Error::bad(format!("snapshot {}: {e}", file.display())))?;
            if batch.len() >= 10_000 {
                storage.commit(std::mem::replace(&mut batch, storage.batch()), false)?;
            }
        }
        storage.commit(batch, true)
    })();
    if let Err(e) = staged {
        let mut undo = catalog.storage().batch();
        undo.drop_collection(cid, "");
        catalog.storage().commit(undo, true)?;
        let _ = std::fs::remove_file(&index_path);
        return Err(e);
    }
    let mut counters = catalog.storage().batch();
    counters.set_seq(cid, manifest.seq);
    counters.set_next_id(cid, manifest.next);
    if let (Some(saved), true) = (manifest.saved, index_path.exists()) {
        counters.set_saved(cid, saved);
    }
    catalog.adopt(collection, config, counters)?;
    tracing::info!(
        "collection {collection:?}: recovered from snapshot {} ({} points at write {})",
        file.display(),
        manifest.points,
        manifest.seq
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(utc(1_796_000_000), "2026-11-30T00:53:20");
    }

    #[test]
    fn names_cannot_leave_the_directory() {
        for bad in
            ["../x.snapshot", "a/b.snapshot", ".hidden.snapshot", "x.tar", "", ".snapshot", "a\\b.snapshot"]
        {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        validate_name("c-1-2026-11-29-12-00-00.snapshot").unwrap();
    }

    #[test]
    fn locations_are_local_absolute_paths() {
        assert_eq!(parse_location("file:///tmp/x.snapshot").unwrap(), PathBuf::from("/tmp/x.snapshot"));
        assert_eq!(parse_location("/tmp/x.snapshot").unwrap(), PathBuf::from("/tmp/x.snapshot"));
        assert!(parse_location("http://host/x.snapshot").is_err());
        assert!(parse_location("relative.snapshot").is_err());
    }
}
