//! The risk-signal head: its labelled set (`models/data/cs-signals`), its trainer and
//! its evaluation.
//!
//! Training reads the pooled outputs the analyzer already computes for every text (the
//! sentence embedding and the sentiment branch's output), so the encoder stays frozen and
//! a run takes seconds. Candidates (which features; linear or one hidden layer) are each
//! trained with multi-label binary cross-entropy (positives up-weighted), early-stopped
//! and Platt-calibrated on dev, and the one with the best dev macro-F1 is written with a
//! record of every candidate's dev score. Test is never read here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Tensor, Var};
use serde::Deserialize;
use serde_json::json;

use super::corpus::{Example, Split, checksum, read_jsonl};
use super::finetune::{self, Branch, PaddedStates, SharedEncoder, SharedState};
use super::rng::SplitMix64;
use super::signal_metrics::{Judged, SignalReport, signal_report};
use crate::bert::Pass;
use crate::signals::{Platt, SIGNAL_LABELS, SignalCard, SignalFeatures, SignalHead, calibrate, sigmoid};
use crate::{Analysis, Analyzer, ModelError, Result, files};

/// A calibrated probability at or above this is a predicted signal in the reports.
pub const DECISION_THRESHOLD: f32 = 0.5;

/// One labelled sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalExample {
    pub text: String,
    /// Indices into [`SIGNAL_LABELS`].
    pub labels: Vec<usize>,
    pub hard: Option<String>,
}

#[derive(Deserialize)]
struct SignalLine {
    text: String,
    labels: Vec<String>,
    #[serde(default)]
    hard: Option<String>,
}

/// The team's labelled risk-signal set; the files are the splits.
pub fn cs_signals_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cs-signals")
}

fn split_path(split: Split) -> PathBuf {
    cs_signals_dir().join(format!("{}.jsonl", split.as_str()))
}

/// One split of the signal set.
pub fn load_signal_split(split: Split) -> Result<Vec<SignalExample>> {
    read_jsonl(&split_path(split), |line: SignalLine| {
        let labels = line
            .labels
            .iter()
            .map(|l| {
                SIGNAL_LABELS
                    .iter()
                    .position(|known| known == l)
                    .ok_or_else(|| format!("unknown category {l:?}"))
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        Ok(SignalExample { text: line.text, labels, hard: line.hard })
    })
}

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, Copy)]
pub struct SignalTrainParams {
    pub epochs: usize,
    pub batch_size: usize,
    /// Learning rate of the MLP candidates.
    pub lr: f64,
    /// Learning rate of the linear candidates (convex, so a larger step is safe).
    pub linear_lr: f64,
    pub weight_decay: f64,
    /// Units of the hidden layer of the MLP candidates.
    pub hidden: usize,
    /// Cap on the up-weighting of a category's positives (`sqrt(negatives / positives)`).
    pub max_positive_weight: f64,
    /// Dev is scored every this many epochs (early stopping).
    pub eval_every: usize,
    pub seed: u64,
    /// The fine-tuned branch candidate: its first layer (the layers below stay shared).
    pub branch_from: usize,
    pub branch_epochs: usize,
    pub branch_batch_size: usize,
    pub branch_layer_lr: f64,
    pub branch_classifier_lr: f64,
    pub branch_dropout: f32,
}

impl Default for SignalTrainParams {
    fn default() -> Self {
        Self {
            epochs: 160,
            batch_size: 64,
            lr: 2e-3,
            linear_lr: 1e-2,
            weight_decay: 1e-2,
            hidden: 256,
            max_positive_weight: 4.0,
            eval_every: 8,
            seed: 20_261_207,
            branch_from: 4,
            branch_epochs: 12,
            branch_batch_size: 32,
            branch_layer_lr: 2e-4,
            branch_classifier_lr: 1e-2,
            branch_dropout: 0.1,
        }
    }
}

/// The pooled outputs of a split's texts and their labels.
pub struct FeatureSet {
    embedding: Tensor,
    branch: Tensor,
    targets: Tensor,
    labels: Vec<Vec<usize>>,
}

impl FeatureSet {
    pub fn new(analyzer: &Analyzer, examples: &[SignalExample]) -> Result<Self> {
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        let pooled = analyzer.pooled_features(&texts)?;
        let labels: Vec<Vec<usize>> = examples.iter().map(|e| e.labels.clone()).collect();
        let mut targets = vec![0f32; examples.len() * SIGNAL_LABELS.len()];
        for (i, l) in labels.iter().enumerate() {
            l.iter().for_each(|&c| targets[i * SIGNAL_LABELS.len() + c] = 1.0);
        }
        let targets = Tensor::from_vec(targets, (examples.len(), SIGNAL_LABELS.len()), &Device::Cpu)?;
        Ok(Self { embedding: pooled.embedding, branch: pooled.branch, targets, labels })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn rows(&self, features: SignalFeatures, index: &Tensor) -> Result<(Tensor, Tensor)> {
        let x = features.select(&self.embedding, &self.branch)?.index_select(index, 0)?;
        Ok((x, self.targets.index_select(index, 0)?))
    }
}

/// The trainable weights of one candidate.
struct Weights {
    hidden: Option<(Var, Var)>,
    out: (Var, Var),
}

fn uniform(rng: &mut SplitMix64, rows: usize, cols: usize) -> Result<Var> {
    let bound = 1.0 / (cols as f32).sqrt();
    let values: Vec<f32> = (0..rows * cols).map(|_| (rng.next_f32() * 2.0 - 1.0) * bound).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(values, (rows, cols), &Device::Cpu)?)?)
}

impl Weights {
    fn new(width: usize, hidden: usize, rng: &mut SplitMix64) -> Result<Self> {
        let zeros = |n: usize| Var::zeros(n, DType::F32, &Device::Cpu);
        let labels = SIGNAL_LABELS.len();
        Ok(if hidden == 0 {
            Self { hidden: None, out: (uniform(rng, labels, width)?, zeros(labels)?) }
        } else {
            Self {
                hidden: Some((uniform(rng, hidden, width)?, zeros(hidden)?)),
                out: (uniform(rng, labels, hidden)?, zeros(labels)?),
            }
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut vars = vec![self.out.0.clone(), self.out.1.clone()];
        if let Some((w, b)) = &self.hidden {
            vars.extend([w.clone(), b.clone()]);
        }
        vars
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let linear = |x: &Tensor, (w, b): &(Var, Var)| -> Result<Tensor> {
            Ok(x.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?)
        };
        let x = match &self.hidden {
            Some(layer) => linear(x, layer)?.gelu_erf()?,
            None => x.clone(),
        };
        linear(&x, &self.out)
    }

    fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        out.insert("out.weight".to_owned(), self.out.0.as_tensor().copy()?);
        out.insert("out.bias".to_owned(), self.out.1.as_tensor().copy()?);
        if let Some((w, b)) = &self.hidden {
            out.insert("hidden.weight".to_owned(), w.as_tensor().copy()?);
            out.insert("hidden.bias".to_owned(), b.as_tensor().copy()?);
        }
        Ok(out)
    }
}

/// Weighted binary cross-entropy with logits, mean over the batch and categories.
fn loss(logits: &Tensor, targets: &Tensor, positive_weight: &Tensor) -> Result<Tensor> {
    // softplus(z) = max(z, 0) + log(1 + exp(-|z|)), stable for any z.
    let softplus =
        |z: &Tensor| -> Result<Tensor> { Ok((z.relu()? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)?) };
    let positives = targets.broadcast_mul(positive_weight)?.mul(&softplus(&logits.neg()?)?)?;
    let negatives = (targets.neg()? + 1.0)?.mul(&softplus(logits)?)?;
    Ok((positives + negatives)?.mean_all()?)
}

/// `sqrt(negatives / positives)` per category, capped.
fn positive_weights(train: &FeatureSet, cap: f64) -> Result<Tensor> {
    let n = train.len() as f64;
    let weights: Vec<f32> = (0..SIGNAL_LABELS.len())
        .map(|c| {
            let pos = train.labels.iter().filter(|l| l.contains(&c)).count().max(1) as f64;
            ((n - pos) / pos).sqrt().clamp(1.0, cap) as f32
        })
        .collect();
    Ok(Tensor::new(weights, &Device::Cpu)?)
}

/// Platt scaling of one category on (logit, truth) pairs: Newton's method on the log
/// loss, with a light pull towards the identity so a category with few dev examples keeps
/// a sane slope.
pub fn fit_platt(logits: &[f32], truth: &[bool]) -> Platt {
    const PULL: f64 = 1e-2;
    let (mut a, mut b) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (PULL * (a - 1.0), PULL * b, PULL, 0.0, PULL);
        for (&z, &y) in logits.iter().zip(truth) {
            let z = f64::from(z);
            let p = sigmoid(a * z + b);
            let r = p - f64::from(u8::from(y));
            let w = (p * (1.0 - p)).max(1e-9);
            ga += r * z;
            gb += r;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-9 {
            break;
        }
    }
    Platt { a, b }
}

/// Per-category Platt scaling fitted on `logits` against the set's labels.
fn fit_calibration(logits: &[Vec<f32>], labels: &[Vec<usize>]) -> Vec<Platt> {
    (0..SIGNAL_LABELS.len())
        .map(|c| {
            let z: Vec<f32> = logits.iter().map(|row| row[c]).collect();
            let y: Vec<bool> = labels.iter().map(|l| l.contains(&c)).collect();
            fit_platt(&z, &y)
        })
        .collect()
}

/// Indices of the categories predicted from calibrated probabilities.
pub fn predicted(probabilities: &[f32]) -> Vec<usize> {
    (0..probabilities.len()).filter(|&c| probabilities[c] >= DECISION_THRESHOLD).collect()
}

/// A report from calibrated probabilities against labels (hard types from `examples`).
fn report_of(examples: &[SignalExample], probabilities: &[Vec<f32>]) -> SignalReport {
    let predictions: Vec<Vec<usize>> = probabilities.iter().map(|p| predicted(p)).collect();
    let judged: Vec<Judged<'_>> = examples
        .iter()
        .zip(&predictions)
        .zip(probabilities)
        .map(|((e, p), probs)| Judged {
            gold: &e.labels,
            predicted: p,
            hard: e.hard.as_deref(),
            probabilities: Some(probs),
        })
        .collect();
    signal_report(&SIGNAL_LABELS, &judged)
}

/// One trained candidate: its card (calibrated on dev), weights and dev report.
pub struct Candidate {
    pub card: SignalCard,
    pub tensors: HashMap<String, Tensor>,
    pub dev: SignalReport,
    pub best_epoch: usize,
}

/// Trains one candidate head on `train`, early-stopped and calibrated on `dev`.
pub fn train_candidate(
    train: &FeatureSet,
    dev: (&FeatureSet, &[SignalExample]),
    features: SignalFeatures,
    hidden: usize,
    params: &SignalTrainParams,
) -> Result<Candidate> {
    let (dev, dev_examples) = dev;
    let width = features.width(train.embedding.dim(D::Minus1)?);
    let mut rng = SplitMix64::new(params.seed);
    let weights = Weights::new(width, hidden, &mut rng)?;
    let mut opt = candle_nn::AdamW::new(
        weights.vars(),
        candle_nn::ParamsAdamW {
            lr: if hidden == 0 { params.linear_lr } else { params.lr },
            weight_decay: params.weight_decay,
            ..Default::default()
        },
    )?;
    use candle_nn::Optimizer;
    let positive_weight = positive_weights(train, params.max_positive_weight)?;
    let all_dev = Tensor::arange(0u32, dev.len() as u32, &Device::Cpu)?;
    let (dev_x, _) = dev.rows(features, &all_dev)?;
    let mut best: Option<Candidate> = None;
    let mut order: Vec<u32> = (0..train.len() as u32).collect();
    for epoch in 1..=params.epochs {
        rng.shuffle(&mut order);
        for chunk in order.chunks(params.batch_size) {
            let index = Tensor::new(chunk, &Device::Cpu)?;
            let (x, y) = train.rows(features, &index)?;
            opt.backward_step(&loss(&weights.logits(&x)?, &y, &positive_weight)?)?;
        }
        if epoch % params.eval_every != 0 && epoch != params.epochs {
            continue;
        }
        let logits: Vec<Vec<f32>> = weights.logits(&dev_x)?.to_vec2()?;
        let calibration = fit_calibration(&logits, &dev.labels);
        let probabilities: Vec<Vec<f32>> = logits.iter().map(|z| calibrate(z, &calibration)).collect();
        let report = report_of(dev_examples, &probabilities);
        if best.as_ref().is_none_or(|b| report.macro_f1 > b.dev.macro_f1) {
            let card = SignalCard {
                name: format!("signals-{}-{}", features.as_str(), if hidden == 0 { "linear" } else { "mlp" }),
                labels: SIGNAL_LABELS.iter().map(|l| (*l).to_owned()).collect(),
                features,
                hidden,
                branch_from: None,
                calibration,
                training: serde_json::Value::Null,
            };
            best = Some(Candidate { card, tensors: weights.tensors()?, dev: report, best_epoch: epoch });
        }
    }
    best.ok_or_else(|| ModelError::Input("no training epochs".into()))
}

/// Shared states after layer `upto` of `examples` (their labels live beside them).
fn shared_states(
    shared: &SharedEncoder,
    examples: &[SignalExample],
    upto: usize,
) -> Result<Vec<SharedState>> {
    let as_examples: Vec<Example> = examples
        .iter()
        .map(|e| Example { text: e.text.clone(), label: undertone_core::SentimentLabel::Neutral })
        .collect();
    let states = shared.states(&as_examples, upto, 1.0)?;
    if states.len() != examples.len() {
        return Err(ModelError::Input("an example produced no encoder state".into()));
    }
    Ok(states)
}

fn targets_of(labels: &[Vec<usize>], members: &[usize]) -> Result<Tensor> {
    let width = SIGNAL_LABELS.len();
    let mut targets = vec![0f32; members.len() * width];
    for (row, &i) in members.iter().enumerate() {
        labels[i].iter().for_each(|&c| targets[row * width + c] = 1.0);
    }
    Ok(Tensor::from_vec(targets, (members.len(), width), &Device::Cpu)?)
}

/// Trains the own-branch candidate: a fine-tuned copy of layers `branch_from..` with a
/// linear layer, multi-label cross-entropy, best dev epoch kept, Platt-calibrated on dev.
pub fn train_branch_candidate(
    model_dir: &Path,
    train: &FeatureSet,
    train_examples: &[SignalExample],
    dev: (&FeatureSet, &[SignalExample]),
    params: &SignalTrainParams,
) -> Result<Candidate> {
    use candle_nn::Optimizer;
    let (dev, dev_examples) = dev;
    let shared = SharedEncoder::load(model_dir)?;
    let from = params.branch_from.min(shared.encoder.num_layers() - 1);
    let train_states = shared_states(&shared, train_examples, from)?;
    let dev_states = shared_states(&shared, dev_examples, from)?;
    let branch = Branch::with_outputs(&shared.files, shared.encoder.config(), from, SIGNAL_LABELS.len())?;
    let (layer_vars, classifier_vars) = branch.var_groups()?;
    let adamw = |vars, lr| {
        candle_nn::AdamW::new(
            vars,
            candle_nn::ParamsAdamW { lr, weight_decay: params.weight_decay, ..Default::default() },
        )
    };
    let mut layer_opt = adamw(layer_vars, params.branch_layer_lr)?;
    let mut classifier_opt = adamw(classifier_vars, params.branch_classifier_lr)?;
    let positive_weight = positive_weights(train, params.max_positive_weight)?;
    let mut rng = SplitMix64::new(params.seed);
    let total = train_states.len().div_ceil(params.branch_batch_size) * params.branch_epochs;
    let (mut step, mut best) = (0, None::<Candidate>);
    for epoch in 1..=params.branch_epochs {
        let mut batches =
            finetune::shuffled_length_batches(&train_states, params.branch_batch_size, &mut rng);
        rng.shuffle(&mut batches);
        let started = std::time::Instant::now();
        for members in &batches {
            let factor = finetune::schedule(step, total, 0.06);
            layer_opt.set_learning_rate(params.branch_layer_lr * factor);
            classifier_opt.set_learning_rate(params.branch_classifier_lr * factor);
            let mut pass =
                Pass::Training { dropout: params.branch_dropout, rng: SplitMix64::new(rng.next_u64()) };
            let logits = branch.logits(&PaddedStates::new(&train_states, members)?, &mut pass)?;
            let grads = loss(&logits, &targets_of(&train.labels, members)?, &positive_weight)?.backward()?;
            layer_opt.step(&grads)?;
            classifier_opt.step(&grads)?;
            step += 1;
        }
        let logits: Vec<Vec<f32>> = branch.logits_of(&dev_states)?.to_vec2()?;
        let calibration = fit_calibration(&logits, &dev.labels);
        let probabilities: Vec<Vec<f32>> = logits.iter().map(|z| calibrate(z, &calibration)).collect();
        let report = report_of(dev_examples, &probabilities);
        tracing::info!(
            epoch,
            dev_macro_f1 = report.macro_f1,
            secs = started.elapsed().as_secs(),
            "signal branch epoch"
        );
        if best.as_ref().is_none_or(|b| report.macro_f1 > b.dev.macro_f1) {
            let tensors = finetune::tensors_to_save(&branch)?
                .into_iter()
                .map(|(name, t)| (name.replacen("classifier.", "out.", 1), t))
                .collect();
            let card = SignalCard {
                name: format!("signals-own-branch-from-{from}"),
                labels: SIGNAL_LABELS.iter().map(|l| (*l).to_owned()).collect(),
                features: SignalFeatures::OwnBranch,
                hidden: 0,
                branch_from: Some(from),
                calibration,
                training: serde_json::Value::Null,
            };
            best = Some(Candidate { card, tensors, dev: report, best_epoch: epoch });
        }
    }
    best.ok_or_else(|| ModelError::Input("no training epochs".into()))
}

/// What `train_signal_head` chose and measured.
pub struct SignalTrainOutcome {
    /// Each candidate's name, best epoch and dev macro-F1.
    pub candidates: Vec<(String, usize, f64)>,
    pub chosen: String,
    pub dev: SignalReport,
}

/// Trains every candidate (the frozen-feature heads, and the fine-tuned branch unless
/// `with_branch` is false), keeps the best on dev and writes it to `out_dir`.
pub fn train_signal_head(
    analyzer: &Analyzer,
    model_dir: &Path,
    out_dir: &Path,
    params: &SignalTrainParams,
    with_branch: bool,
) -> Result<SignalTrainOutcome> {
    let train_examples = load_signal_split(Split::Train)?;
    let dev_examples = load_signal_split(Split::Dev)?;
    let train = FeatureSet::new(analyzer, &train_examples)?;
    let dev = FeatureSet::new(analyzer, &dev_examples)?;
    let mut candidates = Vec::new();
    let mut best: Option<Candidate> = None;
    let mut consider = |candidate: Candidate| {
        tracing::info!(name = %candidate.card.name, dev_macro_f1 = candidate.dev.macro_f1, "candidate");
        candidates.push((candidate.card.name.clone(), candidate.best_epoch, candidate.dev.macro_f1));
        if best.as_ref().is_none_or(|b: &Candidate| candidate.dev.macro_f1 > b.dev.macro_f1) {
            best = Some(candidate);
        }
    };
    for features in SignalFeatures::FROZEN {
        for hidden in [0, params.hidden] {
            consider(train_candidate(&train, (&dev, &dev_examples), features, hidden, params)?);
        }
    }
    if with_branch {
        consider(train_branch_candidate(model_dir, &train, &train_examples, (&dev, &dev_examples), params)?);
    }
    let Some(mut chosen) = best else { return Err(ModelError::Input("no candidates".into())) };
    chosen.card.training = json!({
        "command": "undertone train signals",
        "data": {
            "train": { "n": train_examples.len(), "sha256": checksum(&split_path(Split::Train))? },
            "dev": { "n": dev_examples.len(), "sha256": checksum(&split_path(Split::Dev))? },
        },
        "params": {
            "epochs": params.epochs, "batch_size": params.batch_size, "lr": params.lr, "linear_lr": params.linear_lr,
            "weight_decay": params.weight_decay, "hidden": params.hidden,
            "max_positive_weight": params.max_positive_weight, "seed": params.seed,
            "branch_from": params.branch_from, "branch_epochs": params.branch_epochs,
            "branch_batch_size": params.branch_batch_size, "branch_layer_lr": params.branch_layer_lr,
            "branch_classifier_lr": params.branch_classifier_lr, "branch_dropout": params.branch_dropout,
        },
        "best_epoch": chosen.best_epoch,
        "candidates_dev_macro_f1": candidates.iter().map(|(n, e, f)| json!({"name": n, "best_epoch": e, "macro_f1": f})).collect::<Vec<_>>(),
        "dev": { "macro_f1": chosen.dev.macro_f1, "micro_f1": chosen.dev.micro_f1, "quiet_rate": chosen.dev.quiet_rate },
    });
    write_head(out_dir, &chosen)?;
    Ok(SignalTrainOutcome { candidates, chosen: chosen.card.name.clone(), dev: chosen.dev })
}

fn write_head(out_dir: &Path, chosen: &Candidate) -> Result<()> {
    std::fs::create_dir_all(out_dir).map_err(|e| files::io_error(out_dir, e))?;
    let weights = out_dir.join("head.safetensors");
    candle_core::safetensors::save(&chosen.tensors, &weights)?;
    let card = serde_json::to_vec_pretty(&chosen.card)
        .map_err(|e| ModelError::Invalid { path: out_dir.join("model.json"), reason: e.to_string() })?;
    std::fs::write(out_dir.join("model.json"), card).map_err(|e| files::io_error(out_dir, e))
}

/// The shipped head's report on `split`, and the baseline's on the same sentences: a
/// function from each sentence's analysis to the category ids it would raise.
pub fn evaluate_signals(
    analyzer: &Analyzer,
    split: Split,
    baseline: impl Fn(&Analysis) -> Vec<String>,
) -> Result<(SignalReport, SignalReport)> {
    let head: &SignalHead =
        analyzer.signal_head().ok_or_else(|| ModelError::Input("the analyzer has no signal head".into()))?;
    let examples = load_signal_split(split)?;
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let pooled = analyzer.pooled_features(&texts)?;
    let probabilities = match pooled.signals {
        Some(p) => p,
        None => head.probabilities(&pooled.embedding, &pooled.branch)?,
    };
    let model = report_of(&examples, &probabilities);
    let (analyses, _) = analyzer.analyze(&texts)?;
    let baseline_sets: Vec<Vec<usize>> = analyses
        .iter()
        .map(|a| {
            baseline(a).iter().filter_map(|c| SIGNAL_LABELS.iter().position(|l| l == c)).collect::<Vec<_>>()
        })
        .collect();
    let judged: Vec<Judged<'_>> = examples
        .iter()
        .zip(&baseline_sets)
        .map(|(e, p)| Judged { gold: &e.labels, predicted: p, hard: e.hard.as_deref(), probabilities: None })
        .collect();
    Ok((model, signal_report(&SIGNAL_LABELS, &judged)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_scaling_recovers_a_known_slope_and_offset() {
        let mut rng = SplitMix64::new(7);
        let (mut z, mut y) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let logit = rng.next_f32() * 8.0 - 4.0;
            let p = sigmoid(0.5 * f64::from(logit) - 1.0);
            z.push(logit);
            y.push(f64::from(rng.next_f32()) < p);
        }
        let fit = fit_platt(&z, &y);
        assert!((fit.a - 0.5).abs() < 0.1 && (fit.b + 1.0).abs() < 0.15, "{fit:?}");
    }

    #[test]
    fn the_shipped_splits_parse_and_carry_hard_cases() {
        for split in [Split::Train, Split::Dev, Split::Test] {
            let examples = load_signal_split(split).unwrap();
            let hard = examples.iter().filter(|e| e.hard.is_some()).count();
            assert!(hard * 4 >= examples.len(), "{split:?}: {hard} hard of {}", examples.len());
            for (c, label) in SIGNAL_LABELS.iter().enumerate() {
                assert!(examples.iter().any(|e| e.labels.contains(&c)), "{split:?}: no {label}");
            }
        }
        assert!(load_signal_split(Split::Train).unwrap().len() >= 1500);
    }
}
