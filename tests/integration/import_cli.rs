//! `vicinity import` (the binary) against the real HTTP server on a port: jsonl and fvecs files
//! of a few thousand rows, bad lines named (skipped or failing the import, also when the server
//! answers while the file is still being sent), and a clear message and a non-zero exit for a
//! wrong or missing key, a missing collection, a server that is down and a missing file.

use std::io::Write;
use std::path::Path;
use std::process::Output;

use serde_json::json;
use vicinity::config::Config;

use crate::common::{Rng, Server};

const KEY: &str = "import-secret";

/// The router of `s` served on a free port of 127.0.0.1 (the in-process helpers of `s` see the
/// same catalog and jobs); returns the server's URL and a stop switch.
async fn listen(s: &Server, config: &Config) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (app, limits) = (s.app.clone(), config.service.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        vicinity::api::server::serve(listener, app, &limits, async {
            let _ = stopped.await;
        })
        .await;
    });
    (url, stop)
}

/// Runs `vicinity import ARGS…` (without a key from the environment).
async fn import(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vicinity"))
            .arg("import")
            .args(&args)
            .env_remove("VICINITY_API_KEY")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run vicinity import")
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A success: exit 0 and the job's record, `… of {total} rows, {skipped} skipped`.
#[track_caller]
fn succeeded(o: &Output, total: u64, skipped: u64) -> String {
    let (out, err) = text(o);
    assert!(o.status.success(), "exit {:?}\nstdout: {out}\nstderr: {err}", o.status);
    assert!(out.contains(": succeeded"), "{out}");
    assert!(out.contains(&format!(" of {total} rows, {skipped} skipped")), "{out}");
    out
}

/// A failure: a non-zero exit, stdout + stderr containing every needle.
#[track_caller]
fn failed(o: &Output, needles: &[&str]) -> String {
    let (out, err) = text(o);
    assert!(!o.status.success(), "expected a failure\nstdout: {out}\nstderr: {err}");
    let all = format!("{out}{err}");
    for n in needles {
        assert!(all.contains(n), "{n:?} missing\nstdout: {out}\nstderr: {err}");
    }
    all
}

/// `n` jsonl points with ids from `first`, a payload each, and `bad` (1-based line numbers)
/// replaced by a vector of the wrong size.
fn write_jsonl(path: &Path, first: u64, n: usize, dim: usize, bad: &[usize]) {
    let mut rng = Rng::new(first);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        let line = if bad.contains(&(i + 1)) {
            json!({"id": first + i as u64, "vector": [1.0]})
        } else {
            json!({"id": first + i as u64, "vector": rng.vector(dim), "payload": {"i": i}})
        };
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
}

fn write_fvecs(path: &Path, n: usize, dim: usize) {
    let mut rng = Rng::new(9);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..n {
        f.write_all(&(dim as i32).to_le_bytes()).unwrap();
        for x in rng.vector(dim) {
            f.write_all(&x.to_le_bytes()).unwrap();
        }
    }
    f.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_command_streams_files_and_reports_errors_clearly() {
    let mut config = Config::default();
    config.service.admin_api_key = Some(KEY.into());
    let s = Server::with_config(config.clone());
    let (url, _stop) = listen(&s, &config).await;
    s.create("c", 12, "Euclid").await;
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str| files.path().join(name).to_str().unwrap().to_string();
    let key = ["--api-key", KEY];

    // jsonl: every line, payloads included.
    let good = file("good.jsonl");
    write_jsonl(Path::new(&good), 1_000, 3_000, 12, &[]);
    let o = import(&[&good, "--collection", "c", "--server", &url, key[0], key[1]]).await;
    succeeded(&o, 3_000, 0);
    assert_eq!(s.count("c").await, 3_000);
    let p = s.point("c", "3999").await.expect("the last line imported");
    assert_eq!(p["payload"], json!({"i": 2_999}));

    // fvecs, ids from --ids-from, the server URL with a trailing slash.
    let rows = file("rows.fvecs");
    write_fvecs(Path::new(&rows), 2_000, 12);
    let slash = format!("{url}/");
    let o = import(&[&rows, "--collection", "c", "--server", &slash, "--ids-from", "50000", key[0], key[1]])
        .await;
    succeeded(&o, 2_000, 0);
    assert_eq!(s.count("c").await, 5_000);
    assert!(s.point("c", "51999").await.is_some());

    // Bad lines: skipped and each named, or (the default) the import fails at the first.
    let bad = file("bad.jsonl");
    write_jsonl(Path::new(&bad), 10_000, 3_000, 12, &[7, 2_500]);
    let o =
        import(&[&bad, "--collection", "c", "--server", &url, "--on-error", "skip", key[0], key[1]]).await;
    let out = succeeded(&o, 3_000, 2);
    assert!(out.contains("line 7:") && out.contains("line 2500:"), "{out}");
    assert_eq!(s.count("c").await, 7_998);
    let o = import(&[&bad, "--collection", "c", "--server", &url, key[0], key[1]]).await;
    failed(&o, &["failed", "line 7:"]);

    // A bad second line of a file far larger than the socket buffers: the server answers while
    // the command is still sending, and the command shows that answer.
    let big = file("big.jsonl");
    write_jsonl(Path::new(&big), 100_000, 120_000, 12, &[2]);
    let o = import(&[&big, "--collection", "big", "--server", &url, key[0], key[1]]).await;
    failed(&o, &["404", "big", "not found"]);
    s.create("big", 12, "Euclid").await;
    let o = import(&[&big, "--collection", "big", "--server", &url, key[0], key[1]]).await;
    failed(&o, &["failed", "line 2:"]);
    assert!(s.count("big").await < 120_000);

    // The key: missing, wrong.
    let o = import(&[&good, "--collection", "c", "--server", &url]).await;
    failed(&o, &["401", "send the admin API key"]);
    let o = import(&[&good, "--collection", "c", "--server", &url, "--api-key", "nope"]).await;
    failed(&o, &["401", "needs the admin API key"]);

    // Nothing listening; not an http:// URL; a missing file.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let o = import(&[&good, "--collection", "c", "--server", &down, key[0], key[1]]).await;
    failed(&o, &["cannot connect", "refused"]);
    let o = import(&[&good, "--collection", "c", "--server", "https://127.0.0.1:1", key[0], key[1]]).await;
    failed(&o, &["http://"]);
    let o = import(&[&file("nope.jsonl"), "--collection", "c", "--server", &url, key[0], key[1]]).await;
    failed(&o, &["nope.jsonl"]);
    assert_eq!(s.count("c").await, 7_998, "no failed run imported anything into c");
}
