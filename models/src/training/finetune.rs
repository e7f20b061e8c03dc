//! Fine-tunes the sentiment branch: a trainable copy of the encoder's top layers plus a
//! linear classifier, reading the frozen hidden state of the shared lower layers.
//!
//! The shared layers never change, so their output is computed once per example and kept
//! (`SharedStates`); each epoch then runs only the branch forward and backward. This is
//! what makes fine-tuning affordable on a CPU, and it is also the shape inference takes:
//! one pass through the shared layers serves the embedding, the topics and the sentiment.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{Linear, Module, Optimizer, VarBuilder, VarMap};
use undertone_core::SentimentLabel;

use super::corpus::Example;
use super::rng::SplitMix64;
use crate::analyzer::length_sorted_batches;
use crate::bert::{Layer, Pass, attention_bias, run_layers_with};
use crate::tokenize::Encoded;
use crate::{BertConfig, Encoder, EncoderFiles, LABELS, Result, TextTokenizer, TokenBatch, files, pooling};

/// Hyper-parameters of the fine-tuning.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct FinetuneParams {
    /// The first encoder layer the branch owns (layers below it stay shared and frozen).
    pub branch_from: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of the branch layers (AdamW, linear warm-up then decay).
    pub layer_lr: f64,
    /// Peak learning rate of the freshly initialised classifier.
    pub classifier_lr: f64,
    pub weight_decay: f64,
    /// Share of the steps spent warming the learning rate up.
    pub warmup: f64,
    pub dropout: f32,
    /// Loss weight of a customer-success example relative to a VADER one.
    pub cs_weight: f64,
    pub seed: u64,
}

impl Default for FinetuneParams {
    fn default() -> Self {
        Self {
            branch_from: 2,
            epochs: 2,
            batch_size: 32,
            layer_lr: 8e-5,
            classifier_lr: 2e-3,
            weight_decay: 0.01,
            warmup: 0.06,
            dropout: 0.1,
            cs_weight: 3.0,
            seed: 20261202,
        }
    }
}

/// One labelled example with the shared layers' output for it, `[len, hidden]`.
pub struct SharedState {
    pub hidden: Tensor,
    pub label: SentimentLabel,
    /// Source weight (VADER 1, customer-success `cs_weight`).
    pub weight: f64,
}

/// The frozen part of the encoder and the tokenizer, used to compute shared states.
pub struct SharedEncoder {
    pub tokenizer: TextTokenizer,
    pub encoder: Encoder,
    pub files: EncoderFiles,
}

impl SharedEncoder {
    pub fn load(model_dir: &std::path::Path) -> Result<Self> {
        let files = EncoderFiles::locate(model_dir)?;
        Ok(Self {
            tokenizer: TextTokenizer::load(&files.tokenizer)?,
            encoder: Encoder::load(&files, crate::Precision::F32)?,
            files,
        })
    }

    /// The hidden state after layer `upto` for every example, batched by length.
    pub fn states(&self, examples: &[Example], upto: usize, weight: f64) -> Result<Vec<SharedState>> {
        let encoded: Vec<Encoded> =
            examples.iter().map(|e| self.tokenizer.encode(&e.text)).collect::<Result<_>>()?;
        let mut states: Vec<Option<Tensor>> = vec![None; encoded.len()];
        for chunk in length_sorted_batches(&encoded) {
            let members: Vec<&Encoded> = chunk.iter().map(|&i| &encoded[i]).collect();
            let inputs = self.encoder.inputs(&TokenBatch::pad(&members))?;
            let hidden = self.encoder.run_layers(&self.encoder.embed(&inputs)?, &inputs, 0..upto)?;
            for (row, &i) in chunk.iter().enumerate() {
                // Its own storage (a view, or `copy`, would keep the whole padded batch).
                let state = hidden.get(row)?.narrow(0, 0, encoded[i].ids.len())?;
                let shape = state.shape().clone();
                states[i] =
                    Some(Tensor::from_vec(state.flatten_all()?.to_vec1::<f32>()?, shape, &Device::Cpu)?);
            }
        }
        Ok(states
            .into_iter()
            .zip(examples)
            .filter_map(|(hidden, e)| hidden.map(|hidden| SharedState { hidden, label: e.label, weight }))
            .collect())
    }
}

/// The trainable branch: its variables, layers and classifier.
pub struct Branch {
    pub varmap: VarMap,
    layers: Vec<Layer>,
    classifier: Linear,
    config: BertConfig,
}

impl Branch {
    /// A branch initialised from the pretrained layers `from..` and a zero classifier.
    pub fn from_pretrained(files: &EncoderFiles, config: &BertConfig, from: usize) -> Result<Self> {
        Self::with_outputs(files, config, from, LABELS.len())
    }

    /// Like [`Self::from_pretrained`], with a classifier of `outputs` logits.
    pub fn with_outputs(
        files: &EncoderFiles,
        config: &BertConfig,
        from: usize,
        outputs: usize,
    ) -> Result<Self> {
        let pretrained = candle_core::safetensors::load_buffer(&files::read(&files.weights)?, &Device::Cpu)?;
        let varmap = VarMap::new();
        let expected = {
            let mut data = varmap.data().lock().map_err(|_| poisoned())?;
            for (name, tensor) in branch_tensors(&pretrained, from, config.num_hidden_layers)? {
                data.insert(name, Var::from_tensor(&tensor.to_dtype(DType::F32)?)?);
            }
            let zeros = |shape: (usize, usize)| Tensor::zeros(shape, DType::F32, &Device::Cpu);
            data.insert(
                "classifier.weight".into(),
                Var::from_tensor(&zeros((outputs, config.hidden_size))?)?,
            );
            data.insert(
                "classifier.bias".into(),
                Var::from_tensor(&Tensor::zeros(outputs, DType::F32, &Device::Cpu)?)?,
            );
            data.len()
        };
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let layers = (from..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("branch.layer.{i}")), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let classifier = candle_nn::linear(config.hidden_size, outputs, vb.pp("classifier"))?;
        // A name the loader asked for but we did not provide would be a fresh zero variable.
        if varmap.all_vars().len() != expected {
            return Err(crate::ModelError::Input("branch weights do not match the layer layout".into()));
        }
        Ok(Self { varmap, layers, classifier, config: config.clone() })
    }

    /// Logits `[batch, 3]` for a padded batch of shared states.
    pub(crate) fn logits(&self, batch: &PaddedStates, pass: &mut Pass) -> Result<Tensor> {
        let hidden = run_layers_with(&self.layers, &batch.hidden, &batch.bias, pass)?;
        let features = pooling::sentence_embedding(&hidden, &batch.mask)?;
        Ok(self.classifier.forward(&features)?)
    }

    /// Logits of many states, in input order (inference pass).
    pub fn logits_of(&self, states: &[SharedState]) -> Result<Tensor> {
        let mut rows: Vec<(usize, Tensor)> = Vec::with_capacity(states.len());
        for batch in length_batches(states, 64) {
            let logits = self.logits(&PaddedStates::new(states, &batch)?, &mut Pass::Inference)?;
            for (row, i) in batch.into_iter().enumerate() {
                rows.push((i, logits.get(row)?));
            }
        }
        rows.sort_by_key(|(i, _)| *i);
        Ok(Tensor::stack(&rows.into_iter().map(|(_, t)| t).collect::<Vec<_>>(), 0)?)
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The variables split into (branch layers, classifier), for their two learning rates.
    pub(crate) fn var_groups(&self) -> Result<(Vec<Var>, Vec<Var>)> {
        let data = self.varmap.data().lock().map_err(|_| poisoned())?;
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        let (classifier, layers): (Vec<&String>, Vec<&String>) =
            names.into_iter().partition(|n| n.starts_with("classifier."));
        let vars = |names: Vec<&String>| names.into_iter().map(|n| data[n].clone()).collect();
        Ok((vars(layers), vars(classifier)))
    }

    /// The current values of every variable (a snapshot of the best epoch).
    pub fn snapshot(&self) -> Result<HashMap<String, Tensor>> {
        let data = self.varmap.data().lock().map_err(|_| poisoned())?;
        data.iter().map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?))).collect()
    }

    pub fn restore(&self, snapshot: &HashMap<String, Tensor>) -> Result<()> {
        let data = self.varmap.data().lock().map_err(|_| poisoned())?;
        for (name, value) in snapshot {
            if let Some(var) = data.get(name) {
                var.set(value)?;
            }
        }
        Ok(())
    }
}

fn poisoned() -> crate::ModelError {
    crate::ModelError::Input("poisoned variable map".into())
}

/// The pretrained tensors of layers `from..layers`, renamed into the branch with the query,
/// key and value projections fused (as [`Layer::load`] reads them).
fn branch_tensors(
    pretrained: &HashMap<String, Tensor>,
    from: usize,
    layers: usize,
) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    for i in from..layers {
        let prefix = format!("encoder.layer.{i}.");
        let get = |name: &str| {
            pretrained
                .get(&format!("{prefix}{name}"))
                .cloned()
                .ok_or_else(|| crate::ModelError::Input(format!("pretrained weights lack {prefix}{name}")))
        };
        for part in ["weight", "bias"] {
            let qkv = ["query", "key", "value"]
                .map(|p| get(&format!("attention.self.{p}.{part}")))
                .into_iter()
                .collect::<Result<Vec<_>>>()?;
            out.push((format!("branch.layer.{i}.attention.self.qkv.{part}"), Tensor::cat(&qkv, 0)?));
        }
        for (name, tensor) in pretrained {
            if let Some(rest) = name.strip_prefix(&prefix)
                && !rest.starts_with("attention.self.")
            {
                out.push((format!("branch.layer.{i}.{rest}"), tensor.clone()));
            }
        }
    }
    Ok(out)
}

/// A batch of shared states padded to its longest member.
pub struct PaddedStates {
    hidden: Tensor,
    mask: Tensor,
    bias: Tensor,
}

impl PaddedStates {
    pub fn new(states: &[SharedState], members: &[usize]) -> Result<Self> {
        let len =
            members.iter().map(|&i| states[i].hidden.dim(0)).collect::<candle_core::Result<Vec<_>>>()?;
        let longest = len.iter().copied().max().unwrap_or(0);
        let padded = members
            .iter()
            .zip(&len)
            .map(|(&i, &l)| states[i].hidden.pad_with_zeros(0, 0, longest - l))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mask: Vec<f32> =
            len.iter().flat_map(|&l| (0..longest).map(move |p| if p < l { 1.0 } else { 0.0 })).collect();
        let mask = Tensor::from_vec(mask, (members.len(), longest), &Device::Cpu)?;
        let bias = attention_bias(&mask)?;
        Ok(Self { hidden: Tensor::stack(&padded, 0)?, mask, bias })
    }
}

/// Indices grouped into batches of similar length (sorted by length, then index).
fn length_batches(states: &[SharedState], size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..states.len()).collect();
    order.sort_by_key(|&i| (states[i].hidden.dims()[0], i));
    order.chunks(size).map(<[usize]>::to_vec).collect()
}

/// Per-example loss weights: source weight times inverse class frequency (so each class
/// weighs the same in total), normalised to mean 1.
fn loss_weights(states: &[SharedState]) -> Vec<f32> {
    let mut mass = [0f64; 3];
    for s in states {
        mass[s.label.index()] += s.weight;
    }
    let total: f64 = mass.iter().sum();
    let raw: Vec<f64> =
        states.iter().map(|s| s.weight * total / (3.0 * mass[s.label.index()].max(1e-9))).collect();
    let mean = raw.iter().sum::<f64>() / raw.len().max(1) as f64;
    raw.into_iter().map(|w| (w / mean) as f32).collect()
}

/// Linear warm-up to the peak, then linear decay to zero.
pub(crate) fn schedule(step: usize, total: usize, warmup: f64) -> f64 {
    let warm = ((total as f64 * warmup) as usize).max(1);
    if step < warm {
        (step + 1) as f64 / warm as f64
    } else {
        (total - step) as f64 / (total - warm).max(1) as f64
    }
}

/// Trains `branch` on `train`; after each epoch `on_epoch` scores it (higher is better) and
/// the best epoch's weights are kept.
pub fn train(
    branch: &Branch,
    train: &[SharedState],
    params: &FinetuneParams,
    mut on_epoch: impl FnMut(usize, &Branch) -> Result<f64>,
) -> Result<Vec<f64>> {
    let (layer_vars, classifier_vars) = branch.var_groups()?;
    let adamw = |vars, lr| {
        candle_nn::AdamW::new(
            vars,
            candle_nn::ParamsAdamW { lr, weight_decay: params.weight_decay, ..Default::default() },
        )
    };
    let mut layer_opt = adamw(layer_vars, params.layer_lr)?;
    let mut classifier_opt = adamw(classifier_vars, params.classifier_lr)?;
    let weights = loss_weights(train);
    let mut rng = SplitMix64::new(params.seed);
    let steps_per_epoch = train.len().div_ceil(params.batch_size);
    let total = steps_per_epoch * params.epochs;
    let (mut best, mut scores) = (None::<(f64, HashMap<String, Tensor>)>, Vec::new());
    let mut step = 0;
    for epoch in 0..params.epochs {
        let mut batches = shuffled_length_batches(train, params.batch_size, &mut rng);
        rng.shuffle(&mut batches);
        let started = std::time::Instant::now();
        for (n, members) in batches.iter().enumerate() {
            let factor = schedule(step, total, params.warmup);
            layer_opt.set_learning_rate(params.layer_lr * factor);
            classifier_opt.set_learning_rate(params.classifier_lr * factor);
            let mut pass = Pass::Training { dropout: params.dropout, rng: SplitMix64::new(rng.next_u64()) };
            let loss = batch_loss(branch, train, members, &weights, &mut pass)?;
            let grads = loss.backward()?;
            layer_opt.step(&grads)?;
            classifier_opt.step(&grads)?;
            step += 1;
            if n % 50 == 0 {
                tracing::info!(
                    epoch,
                    batch = n,
                    of = batches.len(),
                    loss = loss.to_scalar::<f32>()?,
                    secs = started.elapsed().as_secs(),
                    "fine-tuning the sentiment branch"
                );
            }
        }
        let score = on_epoch(epoch, branch)?;
        scores.push(score);
        if best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, branch.snapshot()?));
        }
    }
    if let Some((_, snapshot)) = best {
        branch.restore(&snapshot)?;
    }
    Ok(scores)
}

/// Batches of similar length: examples sorted by length with a random tie-break, cut
/// into batches (whose order the caller shuffles), so padding stays small.
pub(crate) fn shuffled_length_batches(
    states: &[SharedState],
    size: usize,
    rng: &mut SplitMix64,
) -> Vec<Vec<usize>> {
    let mut keyed: Vec<(usize, u64, usize)> =
        (0..states.len()).map(|i| (states[i].hidden.dims()[0], rng.next_u64(), i)).collect();
    keyed.sort_unstable();
    keyed.chunks(size).map(|c| c.iter().map(|k| k.2).collect()).collect()
}

/// Weighted cross-entropy of one batch.
fn batch_loss(
    branch: &Branch,
    states: &[SharedState],
    members: &[usize],
    weights: &[f32],
    pass: &mut Pass,
) -> Result<Tensor> {
    let logits = branch.logits(&PaddedStates::new(states, members)?, pass)?;
    let targets: Vec<u32> = members.iter().map(|&i| states[i].label.index() as u32).collect();
    let targets = Tensor::from_vec(targets, (members.len(), 1), &Device::Cpu)?;
    let w: Vec<f32> = members.iter().map(|&i| weights[i]).collect();
    let w = Tensor::from_vec(w, members.len(), &Device::Cpu)?;
    let picked = candle_nn::ops::log_softmax(&logits, D::Minus1)?.gather(&targets, 1)?.squeeze(1)?;
    Ok((picked.mul(&w)?.sum_all()?.neg()? / f64::from(w.sum_all()?.to_scalar::<f32>()?))?)
}

/// The branch's tensors as they are saved: F16 to keep the repository light.
pub fn tensors_to_save(branch: &Branch) -> Result<HashMap<String, Tensor>> {
    branch.snapshot()?.into_iter().map(|(k, v)| Ok((k, v.to_dtype(DType::F16)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        assert!(schedule(0, 100, 0.1) < schedule(5, 100, 0.1));
        assert!((schedule(9, 100, 0.1) - 1.0).abs() < 1e-9);
        assert!(schedule(99, 100, 0.1) < 0.02);
    }

    #[test]
    fn loss_weights_balance_classes_and_sources() {
        let state = |label, weight| SharedState {
            hidden: Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap(),
            label,
            weight,
        };
        let states = vec![
            state(SentimentLabel::Negative, 1.0),
            state(SentimentLabel::Negative, 1.0),
            state(SentimentLabel::Neutral, 1.0),
            state(SentimentLabel::Positive, 2.0),
        ];
        let w = loss_weights(&states);
        // Each class carries the same total weight.
        assert!(((w[0] + w[1]) - w[2]).abs() < 1e-5);
        assert!((w[2] - w[3]).abs() < 1e-5);
        assert!((w.iter().sum::<f32>() - 4.0).abs() < 1e-4);
    }
}
