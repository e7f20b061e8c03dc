//! `undertone train ...`: reproducible training commands.

use std::path::PathBuf;

use clap::Subcommand;
use undertone_models::training::train::{HeadParams, train_sentiment_head};

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
    },
}

pub fn run(command: TrainCommand) -> anyhow::Result<()> {
    match command {
        TrainCommand::Sentiment { out, model_dir } => {
            let outcome = train_sentiment_head(&model_dir, &out, HeadParams::default())?;
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
    }
}
