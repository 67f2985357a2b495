//! The `vicinity` command:
//! - `vicinity serve [--host H] [--port P] [--data-dir D] [--config F]`
//! - `vicinity import FILE --collection C [--server URL]` (a running server's bulk import)

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vicinity::config::{Config, Overrides};

#[derive(Parser)]
#[command(name = "vicinity", version, about = "Vector similarity search and recommendations over HTTP")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (Qdrant-compatible REST API).
    Serve {
        /// Address to bind (default 127.0.0.1).
        #[arg(long)]
        host: Option<String>,
        /// Port (default 6333; 0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
        /// Where RocksDB and the indexes live (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML file layered over config/*.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Stream a file (jsonl, fvecs or npy) into a collection of a running server, with progress.
    Import {
        file: PathBuf,
        #[arg(long)]
        collection: String,
        #[arg(long, default_value = "http://127.0.0.1:6333")]
        server: String,
        /// jsonl, fvecs or npy (default: from the file's extension).
        #[arg(long)]
        format: Option<String>,
        /// fvecs / npy: the id of row 0 (ids are row numbers plus this).
        #[arg(long, default_value_t = 0)]
        ids_from: u64,
        /// fail (stop at the first bad row) or skip (report it and go on).
        #[arg(long, default_value = "fail")]
        on_error: String,
        /// The admin API key, when the server has one.
        #[arg(long, env = "VICINITY_API_KEY")]
        api_key: Option<String>,
    },
}

fn parse<T: serde::de::DeserializeOwned>(flag: &str, value: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| format!("--{flag}: unexpected value {value:?}"))
}

fn import(cli: Command) -> Result<(), String> {
    let Command::Import { file, collection, server, format, ids_from, on_error, api_key } = cli else {
        return Ok(());
    };
    let format = format.map(|f| parse("format", &f)).transpose()?;
    let on_error = parse("on-error", &on_error)?;
    vicinity::import_cli::run(vicinity::import_cli::ImportArgs {
        file,
        collection,
        server,
        format,
        ids_from,
        on_error,
        api_key,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        command @ Command::Import { .. } => match import(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vicinity import: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { host, port, data_dir, config } => {
            let flags = Overrides { host, port, data_dir, config_file: config };
            let config = match Config::load(std::path::Path::new("config"), &flags) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("vicinity: {e}");
                    return ExitCode::from(2);
                }
            };
            let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.service.log.clone());
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_default())
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .init();
            // The shared pool (batch searches) is made here so its threads carry its name, not
            // that of whichever thread first used it.
            if let Err(e) =
                rayon::ThreadPoolBuilder::new().thread_name(|i| format!("search-pool-{i}")).build_global()
            {
                tracing::warn!("search pool: {e}");
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(config.service.http_worker_threads())
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("vicinity: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(vicinity::serve::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
