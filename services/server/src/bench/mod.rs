//! `undertone bench`: the numbers behind docs/PERFORMANCE.md, measured in one run on a
//! fixed generated corpus. Encoder throughput at batch 1, 8 and 32 for our encoder and for
//! sentence-transformers on PyTorch (same weights, same thread count, same sentences),
//! end-to-end ingest over gRPC into the store, sentiment RPC latency at concurrency 1, 8
//! and 64, and the server's memory with models loaded and many segments stored.

mod baseline;
mod corpus;
mod encoder;
mod report;
mod service;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tonic::transport::Channel;
use undertone_models::{Analyzer, AnalyzerOptions};

use self::encoder::Stage;
use self::report::{EncoderRow, Report};
use crate::config::Config;

const BATCHES: [usize; 3] = [1, 8, 32];
const LOAD_CONCURRENCY: [usize; 3] = [1, 8, 64];
/// Concurrent ingest callers, and sentences per ingested document.
const INGEST_CALLERS: usize = 8;
const INGEST_DOCUMENT_SENTENCES: usize = 8;
/// Segments ingested for the throughput figure.
const INGEST_MEASURED: u64 = 3_000;
/// Larger documents for filling the store before the memory reading.
const FILL_DOCUMENT_SENTENCES: usize = 64;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Sentences of the generated corpus for the encoder figures.
    #[arg(long, default_value_t = 512)]
    sentences: usize,
    /// Segments stored before the server's memory is read.
    #[arg(long, default_value_t = 100_000)]
    segments: u64,
    /// Runs of each encoder measurement (both sides); the median counts.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Seconds of load per concurrency level.
    #[arg(long, default_value_t = 8)]
    latency_secs: u64,
    /// Python with the baseline's packages (`scripts/requirements-bench.txt`).
    #[arg(long, default_value = ".cache/bench-venv/bin/python")]
    python: PathBuf,
    #[arg(long, default_value = "scripts/bench-baseline.py")]
    baseline_script: PathBuf,
    /// Skip the Python baseline (no ratios then).
    #[arg(long)]
    no_baseline: bool,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let config = Config::load(None)?;
    let threads = crate::server::rayon_threads();
    let sentences = corpus::sentences(args.sentences);
    let progress = |what: &str| eprintln!("bench: {what}");

    progress("loading the models");
    let analyzer = Analyzer::load(&AnalyzerOptions {
        model_dir: &config.models.dir,
        sentiment_dir: &config.models.sentiment_dir,
        taxonomy: &config.models.taxonomy,
        signals_dir: Some(&config.models.signals_dir),
        precision: config.models.precision,
    })
    .context("loading models")?;
    let token_counts: Vec<usize> = sentences
        .iter()
        .map(|s| analyzer.tokenizer().encode(s).map(|e| e.ids.len()))
        .collect::<Result<_, _>>()?;
    let mean_tokens = token_counts.iter().sum::<usize>() as f64 / token_counts.len().max(1) as f64;

    let mut ours = Vec::new();
    for batch in BATCHES {
        progress(&format!("our encoder at batch {batch}"));
        let encoder = encoder::throughput(&analyzer, &sentences, batch, Stage::Encoder, args.repeats)?;
        let whole = encoder::throughput(&analyzer, &sentences, batch, Stage::Analyzer, args.repeats)?;
        ours.push((encoder, whole));
    }
    progress("our encoder and analyzer on the segments ingest stores");
    let segments = corpus::segments(&sentences)?;
    let segment_tokens: usize =
        segments.iter().map(|s| analyzer.tokenizer().encode(s).map(|e| e.ids.len())).sum::<Result<_, _>>()?;
    let on_segments = (
        encoder::throughput(&analyzer, &segments, 32, Stage::Encoder, args.repeats)?,
        encoder::throughput(&analyzer, &segments, 32, Stage::Analyzer, args.repeats)?,
    );
    let precision = analyzer.encoder().precision().as_str().to_owned();
    drop(analyzer);

    let baseline = if args.no_baseline {
        None
    } else {
        progress("the Python baseline");
        let request =
            baseline::Request { sentences: &sentences, batches: &BATCHES, threads, repeats: args.repeats };
        match baseline::run(&args.python, &args.baseline_script, &request) {
            Ok(baseline) => Some(baseline),
            Err(err) => {
                eprintln!("bench: the baseline did not run: {err:#}");
                None
            }
        }
    };
    let encoder_rows: Vec<EncoderRow> = ours
        .iter()
        .map(|(encoder, whole)| {
            let base = baseline
                .as_ref()
                .and_then(|b| b.results.iter().find(|r| r.batch == encoder.batch))
                .map(|r| r.sentences_per_s);
            EncoderRow {
                batch: encoder.batch,
                ours_sentences_per_s: encoder.sentences_per_s,
                ours_tokens_per_s: encoder.sentences_per_s * mean_tokens,
                baseline_sentences_per_s: base,
                baseline_tokens_per_s: base.map(|b| b * mean_tokens),
                ratio: base.map(|b| encoder.sentences_per_s / b),
                analyzer_sentences_per_s: whole.sentences_per_s,
            }
        })
        .collect();
    let ratio_b32 = encoder_rows.iter().find(|r| r.batch == 32).context("batch 32 measured")?.ratio;

    let data = tempfile::tempdir()?;
    progress("starting the server");
    let server = service::ServerProcess::start(data.path())?;
    let channel = Channel::from_shared(server.addr.clone())?.connect().await?;
    let (rss_empty, _) = server.memory_mib()?;

    progress("ingest over gRPC");
    let sentences_per_doc = INGEST_DOCUMENT_SENTENCES;
    let (warm_up, _, _) =
        service::ingest(channel.clone(), &sentences, sentences_per_doc, 0, 200, INGEST_CALLERS).await?;
    let (stored, seconds, sent) = service::ingest(
        channel.clone(),
        &sentences,
        sentences_per_doc,
        1_000_000,
        INGEST_MEASURED,
        INGEST_CALLERS,
    )
    .await?;
    let ingest_sps = stored as f64 / seconds;

    let short = corpus::short_texts(256);
    let mut latency = Vec::new();
    for concurrency in LOAD_CONCURRENCY {
        progress(&format!("sentiment latency at concurrency {concurrency}"));
        let duration = Duration::from_secs(args.latency_secs);
        latency.push(service::sentiment_latency(channel.clone(), &short, concurrency, duration).await?);
    }

    progress(&format!("filling the store to {} segments", args.segments));
    let mut total = warm_up + stored;
    if args.segments > total {
        let first = 2_000_000 + sent;
        let fill = args.segments - total;
        total += service::ingest(
            channel.clone(),
            &sentences,
            FILL_DOCUMENT_SENTENCES,
            first,
            fill,
            INGEST_CALLERS,
        )
        .await?
        .0;
    }
    let (_, peak) = server.memory_mib()?;

    let report = Report {
        threads,
        precision,
        cpu: cpu_name(),
        corpus_sentences: sentences.len(),
        corpus_mean_tokens: mean_tokens,
        repeats: args.repeats,
        baseline: baseline.as_ref().map_or_else(|| "not run".to_owned(), |b| b.label.clone()),
        encoder_ratio_b32: ratio_b32,
        ingest_sps,
        ingest_segment_mean_tokens: segment_tokens as f64 / segments.len().max(1) as f64,
        encoder_b32_on_segments_sps: on_segments.0.sentences_per_s,
        analyzer_b32_on_segments_sps: on_segments.1.sentences_per_s,
        ingest_ratio_encoder_b32: ingest_sps / on_segments.0.sentences_per_s,
        ingest_ratio_analyzer_b32: ingest_sps / on_segments.1.sentences_per_s,
        sentiment_p99_ms_c8: latency.iter().find(|r| r.concurrency == 8).map(|r| r.p99_ms),
        encoder: encoder_rows,
        sentiment: latency,
        server_rss_mib_empty: rss_empty,
        segments_stored: total,
        server_peak_rss_mib: peak,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print_table();
    }
    Ok(())
}

/// The CPU's model name, from /proc/cpuinfo.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
