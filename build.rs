//! Records the git commit the service is built from (`GET /` reports it as `commit`); a build
//! outside a git checkout simply has none.

use std::process::Command;

fn main() {
    // The commit changes when HEAD moves or a branch ref is written.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    if let Some(commit) = commit {
        println!("cargo:rustc-env=VICINITY_COMMIT={commit}");
    }
}
