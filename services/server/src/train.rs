//! `undertone train ...`: reproducible training commands.

use std::path::PathBuf;

use clap::Subcommand;
use undertone_models::training::finetune::FinetuneParams;
use undertone_models::training::train::{TrainOptions, train_sentiment_head};

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Train the sentiment head on the VADER corpus and the customer-success set.
    Sentiment {
        /// Where to write head.safetensors and model.json.
        #[arg(long, default_value_os_t = undertone_models::default_sentiment_dir())]
        out: PathBuf,
        /// The model cache (weights and the VADER corpus).
        #[arg(long, default_value_os_t = undertone_models::default_model_dir())]
        model_dir: PathBuf,
        /// Epochs over the training sets.
        #[arg(long, default_value_t = FinetuneParams::default().epochs)]
        epochs: usize,
        /// First encoder layer of the fine-tuned branch (lower layers stay shared).
        #[arg(long, default_value_t = FinetuneParams::default().branch_from)]
        branch_from: usize,
        /// Use at most this many examples of each training set (a quick smoke run).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Train the risk-signal head on the customer-success signal set (dev for choices
    /// and calibration, never test); writes models/weights/signals.
    Signals {
        /// Where to write head.safetensors and model.json.
        #[arg(long, default_value_os_t = undertone_models::default_signals_dir())]
        out: PathBuf,
        /// The model cache (the encoder's weights).
        #[arg(long, default_value_os_t = undertone_models::default_model_dir())]
        model_dir: PathBuf,
        /// Only the heads on existing features (seconds), not the fine-tuned branch.
        #[arg(long)]
        no_branch: bool,
    },
    /// Tune topic scoring and per-topic thresholds on the topic dev set (never test);
    /// writes models/taxonomy/thresholds.toml.
    Topics {
        /// Where to write the tuned scoring.
        #[arg(long, default_value_os_t = undertone_models::default_tuning_path())]
        out: PathBuf,
        /// The model cache (the encoder's weights).
        #[arg(long, default_value_os_t = undertone_models::default_model_dir())]
        model_dir: PathBuf,
    },
}

pub fn run(command: TrainCommand) -> anyhow::Result<()> {
    match command {
        TrainCommand::Sentiment { out, model_dir, epochs, branch_from, limit } => {
            let params = FinetuneParams { epochs, branch_from, ..FinetuneParams::default() };
            let outcome = train_sentiment_head(&model_dir, &out, TrainOptions { params, limit })?;
            println!("dev score per epoch {:?}", outcome.epoch_scores);
            println!("temperature {:.2}", outcome.temperature);
            for (split, report) in &outcome.dev {
                println!(
                    "{split:>10}: n={} accuracy={:.3} macro-F1={:.3}",
                    report.n, report.accuracy, report.macro_f1
                );
            }
            println!("wrote {}", out.display());
            Ok(())
        }
        TrainCommand::Topics { out, model_dir } => train_topics(&model_dir, &out),
        TrainCommand::Signals { out, model_dir, no_branch } => train_signals(&model_dir, &out, !no_branch),
    }
}

fn train_signals(
    model_dir: &std::path::Path,
    out: &std::path::Path,
    with_branch: bool,
) -> anyhow::Result<()> {
    use undertone_models::training::signals::{SignalTrainParams, train_signal_head};
    let analyzer = crate::eval::load_analyzer(model_dir, None)?;
    let outcome = train_signal_head(&analyzer, model_dir, out, &SignalTrainParams::default(), with_branch)?;
    for (name, epoch, f1) in &outcome.candidates {
        println!("{name:<28} best epoch {epoch:>4}  dev macro-F1 {f1:.3}");
    }
    let dev = &outcome.dev;
    println!(
        "chose {}: dev macro-F1 {:.3}, micro-F1 {:.3}, quiet on no-risk sentences {:.3}",
        outcome.chosen, dev.macro_f1, dev.micro_f1, dev.quiet_rate
    );
    println!("wrote {}", out.display());
    Ok(())
}

fn train_topics(model_dir: &std::path::Path, out: &std::path::Path) -> anyhow::Result<()> {
    use undertone_models::training::topic_thresholds::{tune_topics, write_tuning};
    let outcome = tune_topics(&crate::eval::load_analyzer(model_dir, None)?)?;
    let (before, after) = (&outcome.dev_before, &outcome.dev_after);
    println!("dev before: micro-F1={:.3} macro-F1={:.3}", before.micro_f1, before.macro_f1);
    println!("dev cross-validated micro-F1={:.3}", outcome.cv_micro_f1);
    println!("dev after (fitted): micro-F1={:.3} macro-F1={:.3}", after.micro_f1, after.macro_f1);
    println!("{}", outcome.tuning.to_toml());
    write_tuning(out, &outcome)?;
    println!("wrote {}", out.display());
    Ok(())
}
