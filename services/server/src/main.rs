//! The `undertone` binary: the server, and the commands around it.

mod accounts;
mod auth;
mod bench;
mod call_hook;
mod client;
mod config;
mod demo;
mod engine;
mod error;
mod eval;
mod eval_insights;
mod eval_reasons;
mod grpc;
mod ingest_cli;
mod keys_cli;
mod metrics;
mod migrate;
mod server;
mod store;
mod tenant;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "undertone",
    version,
    about = "Conversation and sentiment intelligence for customer-success teams"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gRPC API (ingest, sentiment, insights, health, reflection) and metrics.
    Serve {
        /// TOML configuration file (default: UNDERTONE_CONFIG, else built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Ingest the sample corpus into a running server and print an explained risk report.
    Demo {
        /// The server's gRPC address.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// The corpus folder (one sub-folder per account).
        #[arg(long, default_value = "tests/corpus")]
        corpus: PathBuf,
        /// Tenant id to ingest under.
        #[arg(long, default_value = "demo")]
        tenant: String,
    },
    /// Ingest files into a running server: folders of .eml / .mbox / ticket .json /
    /// .vtt / .srt (and JSON transcripts), with progress and a summary; exits 1 when a
    /// document failed.
    Ingest {
        /// Files or folders (walked recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The server's gRPC address.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// Tenant id to ingest under.
        #[arg(long, env = "UNDERTONE_TENANT", default_value = "default")]
        tenant: String,
        /// Every document's account (default: the folder each file is in).
        #[arg(long)]
        account: Option<String>,
        /// accounts.toml to upsert and take internal people from (default: PATH/accounts.toml).
        #[arg(long)]
        accounts: Option<PathBuf>,
    },
    /// Train a model from the fetched corpora (`scripts/fetch-models --with-training-data`).
    Train {
        #[command(subcommand)]
        model: train::TrainCommand,
    },
    /// Measure throughput, latency and memory against a Python baseline (`scripts/bench`);
    /// results in docs/PERFORMANCE.md.
    Bench(bench::BenchArgs),
    /// Measure the shipped models on held-apart splits (`scripts/eval`).
    Eval {
        #[command(subcommand)]
        what: eval::EvalCommand,
    },
    /// Manage API keys: create (printed once), list, revoke.
    Keys {
        #[command(subcommand)]
        action: keys_cli::KeysCommand,
        /// TOML configuration naming the keys file (`[auth] keys_file`, default
        /// `data_dir/api-keys.toml`); default: UNDERTONE_CONFIG, else built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Copy every stored segment between the embedded store and a Qdrant server (either
    /// way), then verify the counts per tenant and account; safe to re-run. Stop the
    /// server first when either side is its embedded store.
    Migrate {
        /// The store to copy from: embedded or qdrant.
        #[arg(long)]
        from: config::StoreKind,
        /// The store to copy into: qdrant or embedded.
        #[arg(long)]
        to: config::StoreKind,
        /// TOML configuration naming both stores (`data_dir`, `[qdrant]`); default:
        /// UNDERTONE_CONFIG, else built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("UNDERTONE_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Serve { config } = &cli.command {
        // Before any thread exists: the compute pool reads its size once, at first use.
        let config = config::Config::load(config.as_deref())?;
        set_compute_threads(config.models.threads);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve { config } => {
            let config = config::Config::load(config.as_deref())?;
            runtime.block_on(server::run(config))
        }
        Command::Demo { server, corpus, tenant } => runtime.block_on(demo::run(&server, &corpus, &tenant)),
        Command::Ingest { paths, server, tenant, account, accounts } => {
            let options = ingest_cli::Options { account, accounts_file: accounts };
            let summary = runtime.block_on(ingest_cli::run(&server, &tenant, &paths, &options))?;
            if !summary.failed.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Bench(args) => runtime.block_on(bench::run(args)),
        Command::Train { model } => train::run(model),
        Command::Eval { what } => eval::run(what),
        Command::Keys { action, config } => {
            keys_cli::run(action, &config::Config::load(config.as_deref())?.keys_file())
        }
        Command::Migrate { from, to, config } => {
            migrate::run(from, to, &config::Config::load(config.as_deref())?)
        }
    }
}

/// Sizes the models' compute pool (rayon's global pool, which candle's matrix multiply
/// and our kernels share) to `threads`; 0 keeps rayon's default of one per core (or an
/// explicit `RAYON_NUM_THREADS`).
fn set_compute_threads(threads: usize) {
    if threads > 0 {
        // SAFETY: called from `main` before the runtime or any other thread is started.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
}
