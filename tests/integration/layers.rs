//! The service's layering, checked on its source: RocksDB only in `storage/`, HTTP and the
//! OpenAPI derive only in `api/`, and every `crate::` import runs to a module in a lower layer
//! (or within the module itself), so the import graph has no circle.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::repo_file;

/// The modules of `src/` by layer, lowest first; a module may import only from lower layers.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["id", "files", "config", "priority"],
    &["storage", "embedding"],
    &["collection"],
    &["catalog"],
    &["jobs", "snapshots"],
    &["api"],
    &["serve", "import_cli"],
];

/// Crates only the given top-level modules may name: RocksDB is storage's; HTTP is the API's
/// (and the import command's, an HTTP client).
const CONFINED: &[(&str, &[&str])] = &[
    ("rocksdb", &["storage"]),
    ("axum", &["api"]),
    ("utoipa", &["api"]),
    ("tower", &["api"]),
    ("hyper", &["api", "import_cli"]),
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` has no layer in tests/integration/layers.rs"))
}

/// Every `.rs` file under `dir`, with its top-level module (`src/a/b.rs` → `a`).
fn sources(dir: &Path, out: &mut Vec<(String, String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(repo_file("src")).unwrap().to_string_lossy().into_owned();
            let module = rel.split(['/', '.']).next().unwrap().to_string();
            out.push((rel, module, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The code of a file without its comments (a doc comment may name anything).
fn code(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

/// The top-level modules a file imports through `crate::…`, including `use crate::{a, b::c}`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let name: String =
                    item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            out.insert(name);
        }
    }
    out
}

#[test]
fn crates_stay_in_their_module_and_imports_run_downward() {
    let mut files = Vec::new();
    sources(&repo_file("src"), &mut files);
    let mut problems = Vec::new();
    for (rel, module, text) in &files {
        // The binaries sit above the library; they may use anything.
        if rel.starts_with("bin/") || rel == "main.rs" || rel == "lib.rs" {
            continue;
        }
        let code = code(text);
        for (name, homes) in CONFINED {
            let named = code.match_indices(name).any(|(i, _)| {
                let before = code[..i].chars().next_back();
                let after = code[i + name.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && (after == Some(':') || after == Some(';'))
            });
            if named && !homes.contains(&module.as_str()) {
                problems.push(format!("src/{rel} names `{name}`, which belongs in {homes:?}"));
            }
        }
        for imported in imports(&code) {
            if imported != *module && layer(&imported) >= layer(module) {
                problems
                    .push(format!("src/{rel} ({module}) imports crate::{imported}, which is not below it"));
            }
        }
    }
    assert!(files.len() > 40, "read only {} files", files.len());
    assert!(problems.is_empty(), "{} layering problems:\n{}", problems.len(), problems.join("\n"));
}
