//! Files named by requests (import sources, snapshot locations): confined to the directory the
//! configuration gives for them, and opened only when they are regular files.
//!
//! A path outside its directory gets the same answer whether it exists or not, is a directory,
//! a device or unreadable: a request learns nothing about the rest of the server's files.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The canonical form of `requested` (absolute, or relative to `root`) when it names a regular
/// file inside `root`; otherwise a 400 that says only that — `role` names the directory
/// ("import directory (storage.import_dir)").
pub fn confine(root: &Path, requested: &Path, role: &str) -> Result<PathBuf> {
    let refuse = || Error::bad(format!("{}: not a file in the {role}", requested.display()));
    if requested.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(refuse());
    }
    let root = root.canonicalize().map_err(|_| refuse())?;
    let joined = if requested.is_absolute() { requested.to_path_buf() } else { root.join(requested) };
    let path = joined.canonicalize().map_err(|_| refuse())?;
    if !path.starts_with(&root) || path == root {
        return Err(refuse());
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        _ => Err(refuse()),
    }
}

/// Opens `path` for reading only if it is a regular file: a FIFO or device swapped in after
/// [`confine`] checked it is refused, never read (the open does not block on a FIFO).
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_root_pass() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("in.jsonl"), "{}").unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link")).unwrap();
        let ok = confine(root.path(), Path::new("in.jsonl"), "import directory").unwrap();
        assert_eq!(ok, root.path().canonicalize().unwrap().join("in.jsonl"));
        assert!(confine(root.path(), &root.path().join("in.jsonl"), "d").is_ok());
        let refused = [
            outside.path().join("secret"),
            outside.path().join("missing"),
            PathBuf::from("/dev/zero"),
            PathBuf::from("/etc"),
            root.path().join("sub"),
            root.path().join("link"),
            root.path().join("../x"),
            PathBuf::from("sub/../in.jsonl"),
            root.path().to_path_buf(),
        ];
        let messages: Vec<String> = refused
            .iter()
            .map(|p| confine(root.path(), p, "import directory").unwrap_err().to_string())
            .collect();
        for (p, m) in refused.iter().zip(&messages) {
            assert_eq!(*m, format!("{}: not a file in the import directory", p.display()));
        }
    }

    #[test]
    fn fifos_and_devices_are_not_opened() {
        assert!(open_regular(Path::new("/dev/zero")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(open_regular(&fifo).is_err(), "a FIFO was opened");
    }
}
