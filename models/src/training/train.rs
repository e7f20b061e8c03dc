//! Trains the sentiment model: fine-tunes a branch of the encoder's top layers with a
//! classifier ([`super::finetune`]), fits its temperature on dev, and writes the weights
//! with a record of the command, the data checksums, the hyper-parameters and the dev
//! metrics in `model.json`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Tensor};
use serde_json::json;
use undertone_core::{Sentiment, SentimentLabel};

use super::corpus::{self, Example, Split};
use super::finetune::{self, Branch, FinetuneParams, SharedEncoder, SharedState};
use super::metrics::{self, Prediction, Report};
use crate::{LABELS, Result};

/// What training produced, for the caller to print.
pub struct TrainOutcome {
    pub dev: Vec<(String, Report)>,
    pub temperature: f64,
    /// The dev score (mean macro-F1 over the dev splits) after each epoch.
    pub epoch_scores: Vec<f64>,
}

/// Options of one training run.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions {
    pub params: FinetuneParams,
    /// Train on at most this many examples of each training set (a quick smoke run).
    pub limit: Option<usize>,
}

fn take(mut examples: Vec<Example>, limit: Option<usize>) -> Vec<Example> {
    if let Some(n) = limit {
        examples.truncate(n);
    }
    examples
}

fn states(
    shared: &SharedEncoder,
    examples: Vec<Example>,
    upto: usize,
    weight: f64,
    what: &str,
) -> Result<Vec<SharedState>> {
    let started = std::time::Instant::now();
    let states = shared.states(&examples, upto, weight)?;
    tracing::info!(what, n = states.len(), secs = started.elapsed().as_secs_f64(), "shared states computed");
    Ok(states)
}

/// Trains the sentiment model from the corpora and writes it to `out_dir`.
pub fn train_sentiment_head(model_dir: &Path, out_dir: &Path, options: TrainOptions) -> Result<TrainOutcome> {
    let params = options.params;
    let shared = SharedEncoder::load(model_dir)?;
    let from = params.branch_from.min(shared.encoder.num_layers());
    let vader = take(corpus::load_vader(model_dir, Split::Train)?, options.limit);
    let cs = take(corpus::load_cs(Split::Train)?, options.limit);
    let mut train = states(&shared, vader, from, 1.0, "vader train")?;
    train.extend(states(&shared, cs, from, params.cs_weight, "cs train")?);
    let dev = [
        (
            "vader_dev".to_owned(),
            states(&shared, corpus::load_vader(model_dir, Split::Dev)?, from, 1.0, "vader dev")?,
        ),
        ("cs_dev".to_owned(), states(&shared, corpus::load_cs(Split::Dev)?, from, 1.0, "cs dev")?),
    ];

    let branch = Branch::from_pretrained(&shared.files, shared.encoder.config(), from)?;
    let params = FinetuneParams { branch_from: from, ..params };
    let epoch_scores = finetune::train(&branch, &train, &params, |epoch, branch| {
        let score = dev_score(branch, &dev)?;
        tracing::info!(epoch, score, "dev mean macro-F1");
        Ok(score)
    })?;

    // Score what is saved: the weights rounded to F16.
    let saved = finetune::tensors_to_save(&branch)?;
    let rounded: HashMap<String, Tensor> =
        saved.iter().map(|(k, v)| Ok((k.clone(), v.to_dtype(DType::F32)?))).collect::<Result<_>>()?;
    branch.restore(&rounded)?;
    let dev_logits: Vec<Tensor> = dev.iter().map(|(_, d)| branch.logits_of(d)).collect::<Result<_>>()?;
    let all_labels: Vec<SentimentLabel> = dev.iter().flat_map(|(_, d)| labels(d)).collect();
    let temperature = fit_temperature(&Tensor::cat(&dev_logits, 0)?, &all_labels)?;
    let reports = dev
        .iter()
        .zip(&dev_logits)
        .map(|((name, d), logits)| Ok((name.clone(), evaluate(logits, temperature, &labels(d))?)))
        .collect::<Result<Vec<_>>>()?;

    std::fs::create_dir_all(out_dir).map_err(|e| crate::files::io_error(out_dir, e))?;
    candle_core::safetensors::save(&saved, out_dir.join("head.safetensors"))?;
    let record = TrainingRecord {
        params,
        limit: options.limit,
        epoch_scores: &epoch_scores,
        temperature,
        reports: &reports,
    };
    save_card(out_dir, model_dir, &record)?;
    Ok(TrainOutcome { dev: reports, temperature, epoch_scores })
}

fn labels(states: &[SharedState]) -> Vec<SentimentLabel> {
    states.iter().map(|s| s.label).collect()
}

/// Mean macro-F1 over the dev splits at temperature 1: the model-selection score.
fn dev_score(branch: &Branch, dev: &[(String, Vec<SharedState>)]) -> Result<f64> {
    let mut total = 0.0;
    for (_, states) in dev {
        total += evaluate(&branch.logits_of(states)?, 1.0, &labels(states))?.macro_f1;
    }
    Ok(total / dev.len().max(1) as f64)
}

fn predictions(logits: &Tensor, temperature: f64) -> Result<Vec<Sentiment>> {
    let probs: Vec<Vec<f32>> = candle_nn::ops::softmax_last_dim(&(logits / temperature)?)?.to_vec2()?;
    Ok(probs.into_iter().map(|p| Sentiment::from_probabilities([p[0], p[1], p[2]])).collect())
}

fn nll(logits: &Tensor, temperature: f64, labels: &[SentimentLabel]) -> Result<f64> {
    let log_probs: Vec<Vec<f32>> =
        candle_nn::ops::log_softmax(&(logits / temperature)?, D::Minus1)?.to_vec2()?;
    let total: f64 = log_probs.iter().zip(labels).map(|(row, l)| -f64::from(row[l.index()])).sum();
    Ok(total / labels.len().max(1) as f64)
}

/// The temperature in [0.25, 5] that minimises dev negative log-likelihood.
fn fit_temperature(logits: &Tensor, labels: &[SentimentLabel]) -> Result<f64> {
    let mut best = (f64::MAX, 1.0);
    for i in 5..=100 {
        let t = f64::from(i) * 0.05;
        let loss = nll(logits, t, labels)?;
        if loss < best.0 {
            best = (loss, t);
        }
    }
    Ok(best.1)
}

fn evaluate(logits: &Tensor, temperature: f64, labels: &[SentimentLabel]) -> Result<Report> {
    let preds: Vec<Prediction> = predictions(logits, temperature)?
        .into_iter()
        .map(|s| Prediction { label: s.label, confidence: Some(s.confidence) })
        .collect();
    Ok(metrics::report(labels, &preds))
}

struct TrainingRecord<'a> {
    params: FinetuneParams,
    limit: Option<usize>,
    epoch_scores: &'a [f64],
    temperature: f64,
    reports: &'a [(String, Report)],
}

fn save_card(out_dir: &Path, model_dir: &Path, record: &TrainingRecord<'_>) -> Result<()> {
    let mut data = serde_json::Map::new();
    for name in ["train", "dev", "test"] {
        let path = corpus::cs_dir().join(format!("{name}.jsonl"));
        data.insert(format!("cs-sentiment/{name}.jsonl"), json!(corpus::checksum(&path)?));
    }
    for name in super::corpus::VADER_FILES {
        data.insert(
            format!("vader/{name}"),
            json!(corpus::checksum(&corpus::vader_dir(model_dir).join(name))?),
        );
    }
    let dev: serde_json::Map<String, serde_json::Value> = record
        .reports
        .iter()
        .map(|(name, r)| {
            (name.clone(), json!({"n": r.n, "accuracy": r.accuracy, "macro_f1": r.macro_f1, "ece": r.ece}))
        })
        .collect();
    let card = crate::HeadCard {
        name: format!("undertone-sentiment-branch{}-v1", record.params.branch_from),
        branch_from: record.params.branch_from,
        temperature: record.temperature,
        labels: LABELS.iter().map(|s| s.to_string()).collect(),
        training: json!({
            "command": "scripts/train-sentiment",
            "method": "fine-tuned copy of all-MiniLM-L6-v2 layers branch_from.. over the frozen shared lower layers, mean pooling + L2 + linear classifier; AdamW with linear warm-up and decay, class- and source-weighted cross-entropy, dropout; best epoch by dev mean macro-F1; temperature fitted on dev; weights stored as F16",
            "params": record.params,
            "limit": record.limit,
            "epoch_dev_scores": record.epoch_scores,
            "data_sha256": data,
            "dev_metrics": dev,
        }),
    };
    let text = serde_json::to_string_pretty(&card).map_err(|e| crate::ModelError::Input(e.to_string()))?;
    std::fs::write(out_dir.join("model.json"), text + "\n")
        .map_err(|e| crate::files::io_error(out_dir, e))?;
    Ok(())
}
