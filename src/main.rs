//! The `vicinity` command: `vicinity serve [--host H] [--port P] [--data-dir D] [--config F]`.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
