//! Trains the sentiment head's classifier on encoder embeddings and fits its temperature.
//!
//! This version trains a linear classifier over the frozen sentence embedding (the
//! provisional head). It records the command, the data checksums, the hyper-parameters and
//! the dev metrics in `model.json` next to the weights.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{Module, Optimizer, VarBuilder, VarMap};
use serde_json::json;
use undertone_core::{Sentiment, SentimentLabel};

use super::corpus::{self, Example, Split};
use super::metrics::{self, Prediction, Report};
use crate::analyzer::embed_texts;
use crate::{EMBEDDING_DIM, Encoder, EncoderFiles, LABELS, Result, TextTokenizer};

/// Hyper-parameters of the classifier.
#[derive(Debug, Clone, Copy)]
pub struct HeadParams {
    pub steps: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Weight of each customer-success example relative to a VADER one.
    pub cs_weight: f64,
}

impl Default for HeadParams {
    fn default() -> Self {
        Self { steps: 600, learning_rate: 0.02, weight_decay: 1e-4, cs_weight: 3.0 }
    }
}

/// What training produced, for the caller to print.
pub struct TrainOutcome {
    pub dev: Vec<(String, Report)>,
    pub temperature: f64,
}

struct Labelled {
    features: Tensor,
    labels: Vec<SentimentLabel>,
}

fn class_index(label: SentimentLabel) -> u32 {
    SentimentLabel::ALL.iter().position(|l| *l == label).unwrap_or(0) as u32
}

fn embed(tokenizer: &TextTokenizer, encoder: &Encoder, examples: &[Example], what: &str) -> Result<Labelled> {
    let started = std::time::Instant::now();
    let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    let features = embed_texts(tokenizer, encoder, &texts)?;
    tracing::info!(what, n = texts.len(), secs = started.elapsed().as_secs_f64(), "embedded");
    Ok(Labelled { features, labels: examples.iter().map(|e| e.label).collect() })
}

/// Trains the head from the corpora and writes it to `out_dir`.
pub fn train_sentiment_head(model_dir: &Path, out_dir: &Path, params: HeadParams) -> Result<TrainOutcome> {
    let files = EncoderFiles::locate(model_dir)?;
    let tokenizer = TextTokenizer::load(&files.tokenizer)?;
    let encoder = Encoder::load(&files)?;
    let vader_train =
        embed(&tokenizer, &encoder, &corpus::load_vader(model_dir, Split::Train)?, "vader train")?;
    let cs_train = embed(&tokenizer, &encoder, &corpus::load_cs(Split::Train)?, "cs train")?;
    let dev = [
        (
            "vader_dev".to_owned(),
            embed(&tokenizer, &encoder, &corpus::load_vader(model_dir, Split::Dev)?, "vader dev")?,
        ),
        ("cs_dev".to_owned(), embed(&tokenizer, &encoder, &corpus::load_cs(Split::Dev)?, "cs dev")?),
    ];

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let classifier = candle_nn::linear(EMBEDDING_DIM, LABELS.len(), vb.pp("classifier"))?;
    fit(&classifier, &varmap, &[(&vader_train, 1.0), (&cs_train, params.cs_weight)], params)?;

    let dev_logits: Vec<Tensor> =
        dev.iter().map(|(_, d)| classifier.forward(&d.features)).collect::<candle_core::Result<_>>()?;
    let all_logits = Tensor::cat(&dev_logits, 0)?;
    let all_labels: Vec<SentimentLabel> = dev.iter().flat_map(|(_, d)| d.labels.clone()).collect();
    let temperature = fit_temperature(&all_logits, &all_labels)?;
    let reports = dev
        .iter()
        .zip(&dev_logits)
        .map(|((name, d), logits)| Ok((name.clone(), evaluate(logits, temperature, &d.labels)?)))
        .collect::<Result<Vec<_>>>()?;

    save(out_dir, &varmap, model_dir, params, temperature, &reports)?;
    Ok(TrainOutcome { dev: reports, temperature })
}

/// Full-batch AdamW on class- and source-weighted cross-entropy.
fn fit(
    classifier: &candle_nn::Linear,
    varmap: &VarMap,
    sets: &[(&Labelled, f64)],
    params: HeadParams,
) -> Result<()> {
    let features = Tensor::cat(&sets.iter().map(|(s, _)| s.features.clone()).collect::<Vec<_>>(), 0)?;
    let labels: Vec<SentimentLabel> = sets.iter().flat_map(|(s, _)| s.labels.clone()).collect();
    let mut counts = [0f64; 3];
    labels.iter().for_each(|l| counts[class_index(*l) as usize] += 1.0);
    let weights: Vec<f32> = sets
        .iter()
        .flat_map(|(s, w)| s.labels.iter().map(move |l| (*w, *l)))
        .map(|(w, l)| (w * labels.len() as f64 / (3.0 * counts[class_index(l) as usize])) as f32)
        .collect();
    let n = labels.len();
    let targets =
        Tensor::from_vec(labels.iter().map(|l| class_index(*l)).collect::<Vec<_>>(), (n, 1), &Device::Cpu)?;
    let weights = Tensor::from_vec(weights, n, &Device::Cpu)?;
    let weight_sum = weights.sum_all()?;
    let mut optimizer = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: params.weight_decay,
            ..Default::default()
        },
    )?;
    for step in 0..params.steps {
        let log_probs = candle_nn::ops::log_softmax(&classifier.forward(&features)?, D::Minus1)?;
        let picked = log_probs.gather(&targets, 1)?.squeeze(1)?;
        let loss = (picked.mul(&weights)?.sum_all()?.neg()? / &weight_sum)?;
        optimizer.backward_step(&loss)?;
        if step % 100 == 0 {
            tracing::info!(step, loss = loss.to_scalar::<f32>()?, "training sentiment head");
        }
    }
    Ok(())
}

fn predictions(logits: &Tensor, temperature: f64) -> Result<Vec<Sentiment>> {
    let probs: Vec<Vec<f32>> = candle_nn::ops::softmax_last_dim(&(logits / temperature)?)?.to_vec2()?;
    Ok(probs.into_iter().map(|p| Sentiment::from_probabilities([p[0], p[1], p[2]])).collect())
}

fn nll(logits: &Tensor, temperature: f64, labels: &[SentimentLabel]) -> Result<f64> {
    let log_probs: Vec<Vec<f32>> =
        candle_nn::ops::log_softmax(&(logits / temperature)?, D::Minus1)?.to_vec2()?;
    let total: f64 =
        log_probs.iter().zip(labels).map(|(row, l)| -f64::from(row[class_index(*l) as usize])).sum();
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

fn save(
    out_dir: &Path,
    varmap: &VarMap,
    model_dir: &Path,
    params: HeadParams,
    temperature: f64,
    reports: &[(String, Report)],
) -> Result<()> {
    std::fs::create_dir_all(out_dir).map_err(|e| crate::files::io_error(out_dir, e))?;
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .map_err(|_| crate::ModelError::Input("poisoned var map".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, out_dir.join("head.safetensors"))?;
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
    let dev: serde_json::Map<String, serde_json::Value> = reports
        .iter()
        .map(|(name, r)| {
            (name.clone(), json!({"n": r.n, "accuracy": r.accuracy, "macro_f1": r.macro_f1, "ece": r.ece}))
        })
        .collect();
    let card = crate::HeadCard {
        name: "undertone-sentiment-frozen-linear-v0".into(),
        branch_from: 6,
        temperature,
        labels: LABELS.iter().map(|s| s.to_string()).collect(),
        training: json!({
            "command": "scripts/train-sentiment",
            "method": "linear classifier on the frozen mean-pooled all-MiniLM-L6-v2 embedding; full-batch AdamW, class-weighted cross-entropy; temperature fitted on dev",
            "params": {"steps": params.steps, "learning_rate": params.learning_rate, "weight_decay": params.weight_decay, "cs_weight": params.cs_weight},
            "data_sha256": data,
            "dev_metrics": dev,
        }),
    };
    let text = serde_json::to_string_pretty(&card).map_err(|e| crate::ModelError::Input(e.to_string()))?;
    std::fs::write(out_dir.join("model.json"), text + "\n")
        .map_err(|e| crate::files::io_error(out_dir, e))?;
    Ok(())
}
