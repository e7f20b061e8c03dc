//! `undertone eval ...`: measures the shipped models on the held-apart splits and prints
//! a table, or one JSON object with `--json`. The evaluation itself lives in
//! `undertone_models::training::evaluate`; this only loads, dispatches and prints.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use undertone_models::baseline::Vader;
use undertone_models::training::corpus::Split;
use undertone_models::training::evaluate::{SentimentSplitReport, evaluate_sentiment, evaluate_topics};
use undertone_models::training::metrics::Report;
use undertone_models::training::signal_metrics::SignalReport;
use undertone_models::training::signals::evaluate_signals;
use undertone_models::training::topic_metrics::TopicReport;
use undertone_models::{Analyzer, AnalyzerOptions};

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Sentiment: our model and the VADER lexicon baseline on the VADER-corpus and
    /// customer-success splits.
    Sentiment(EvalArgs),
    /// Topics: the shipped taxonomy and thresholds on the customer-success topic set.
    Topics(EvalArgs),
    /// Risk signals: the signal model against the topic-similarity baseline on the
    /// customer-success signal set (per-category precision, recall, F1, calibration).
    Signals(EvalArgs),
    /// Insights on the sample corpus: risk ranking AUC, evidence precision, theme recall.
    Insights(crate::eval_insights::InsightsArgs),
}

#[derive(Args)]
pub struct EvalArgs {
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Which split to evaluate; dev is for making choices, test only for reporting.
    #[arg(long, value_enum, default_value_t = EvalSplit::Test)]
    split: EvalSplit,
    /// The model cache (weights, VADER corpus and lexicon).
    #[arg(long, default_value_os_t = undertone_models::default_model_dir())]
    model_dir: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum EvalSplit {
    Dev,
    Test,
}

impl From<EvalSplit> for Split {
    fn from(split: EvalSplit) -> Self {
        match split {
            EvalSplit::Dev => Split::Dev,
            EvalSplit::Test => Split::Test,
        }
    }
}

/// The shipped analyzer: the fetched encoder, the committed sentiment weights and taxonomy,
/// in the arithmetic the server would use (`UNDERTONE_PRECISION`, default auto).
pub fn load_analyzer(
    model_dir: &std::path::Path,
    signals_dir: Option<&std::path::Path>,
) -> anyhow::Result<Analyzer> {
    let precision = crate::config::Config::load(None)?.models.precision;
    let analyzer = Analyzer::load(&AnalyzerOptions {
        model_dir,
        sentiment_dir: &undertone_models::default_sentiment_dir(),
        taxonomy: &undertone_models::default_taxonomy(),
        signals_dir,
        precision,
    })?;
    eprintln!("encoder arithmetic: {}", analyzer.encoder().precision().as_str());
    Ok(analyzer)
}

pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Insights(args) => crate::eval_insights::run(args)?,
        EvalCommand::Sentiment(args) => {
            let analyzer = load_analyzer(&args.model_dir, None)?;
            let vader = Vader::load(&args.model_dir)?;
            let reports = evaluate_sentiment(&analyzer, &vader, &args.model_dir, args.split.into())?;
            if args.json {
                println!("{}", serde_json::to_string(&reports)?);
            } else {
                reports.iter().for_each(|(name, r)| print_sentiment(name, r));
            }
        }
        EvalCommand::Signals(args) => {
            let analyzer = load_analyzer(&args.model_dir, Some(&undertone_models::default_signals_dir()))?;
            let (model, baseline) = evaluate_signals(&analyzer, args.split.into(), |analysis| {
                undertone_insights::topic_similarity_categories(&analysis.sentiment, &analysis.topics)
                    .into_iter()
                    .map(|c| c.as_str().to_owned())
                    .collect()
            })?;
            if args.json {
                println!("{}", serde_json::json!({ "model": model, "baseline_topic_similarity": baseline }));
            } else {
                print_signals("signal model", &model);
                print_signals("baseline: topic similarity (the previous risk rules)", &baseline);
            }
        }
        EvalCommand::Topics(args) => {
            let analyzer = load_analyzer(&args.model_dir, None)?;
            let reports = evaluate_topics(&analyzer, args.split.into())?;
            if args.json {
                println!("{}", serde_json::to_string(&reports)?);
            } else {
                reports.iter().for_each(|(name, r)| print_topics(name, r));
            }
        }
    }
    Ok(())
}

fn print_sentiment(split: &str, report: &SentimentSplitReport) {
    println!("{split} (n={})", report.n);
    println!("  {:<22} {:>8} {:>8} {:>8}", "", "accuracy", "macro-F1", "ECE");
    for (who, r) in [("model", &report.model), ("VADER baseline", &report.vader)] {
        let ece = r.ece.map_or("-".to_owned(), |e| format!("{e:.3}"));
        println!("  {who:<22} {:>8.3} {:>8.3} {ece:>8}", r.accuracy, r.macro_f1);
    }
    for (who, r) in [("model", &report.model), ("VADER baseline", &report.vader)] {
        print_classes(who, r);
    }
    println!();
}

fn print_classes(who: &str, r: &Report) {
    println!("  {who}: per class, and the confusion matrix (rows gold, columns predicted)");
    println!(
        "    {:<10} {:>9} {:>7} {:>7} {:>8} | {:>5} {:>5} {:>5}",
        "", "precision", "recall", "F1", "support", "neg", "neu", "pos"
    );
    for (class, row) in r.per_class.iter().zip(&r.confusion) {
        println!(
            "    {:<10} {:>9.3} {:>7.3} {:>7.3} {:>8} | {:>5} {:>5} {:>5}",
            class.label, class.precision, class.recall, class.f1, class.support, row[0], row[1], row[2]
        );
    }
}

fn print_signals(who: &str, r: &SignalReport) {
    println!("{who} (n={})", r.n);
    println!(
        "  micro precision {:.3}  recall {:.3}  F1 {:.3}   macro-F1 {:.3}   quiet on no-risk sentences {:.3}   exact set {:.3}",
        r.micro_precision, r.micro_recall, r.micro_f1, r.macro_f1, r.quiet_rate, r.exact_match
    );
    if let Some(c) = &r.calibration {
        println!("  calibration: ECE {:.3}  Brier {:.4}", c.ece, c.brier);
        for bin in c.bins.iter().filter(|b| b.count > 0) {
            println!(
                "    p in [{:.1}, {:.1}): n={:>5}  mean p {:.3}  observed {:.3}",
                bin.from, bin.to, bin.count, bin.mean_probability, bin.observed_rate
            );
        }
    }
    println!(
        "  {:<24} {:>9} {:>7} {:>7} {:>8} {:>9}",
        "category", "precision", "recall", "F1", "support", "predicted"
    );
    for (category, m) in &r.per_category {
        println!(
            "  {category:<24} {:>9.3} {:>7.3} {:>7.3} {:>8} {:>9}",
            m.precision, m.recall, m.f1, m.support, m.predicted
        );
    }
    println!("  {:<24} {:>5} {:>11}", "hard case", "n", "exact set");
    for (hard, m) in &r.by_hard_case {
        println!("  {hard:<24} {:>5} {:>11.3}", m.n, m.exact_match);
    }
    println!();
}

fn print_topics(split: &str, r: &TopicReport) {
    println!("{split} (n={})", r.n);
    println!(
        "  micro precision {:.3}  recall {:.3}  F1 {:.3}   macro-F1 {:.3}",
        r.micro_precision, r.micro_recall, r.micro_f1, r.macro_f1
    );
    println!("  {:<24} {:>9} {:>7} {:>7} {:>8}", "topic", "precision", "recall", "F1", "support");
    for (topic, m) in &r.per_topic {
        println!("  {topic:<24} {:>9.3} {:>7.3} {:>7.3} {:>8}", m.precision, m.recall, m.f1, m.support);
    }
    println!();
}
