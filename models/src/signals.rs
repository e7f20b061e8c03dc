//! The risk-signal head: per sentence, which account risk categories it is evidence of
//! (multi-label), each with a calibrated probability.
//!
//! Two shapes, `model.json` says which ([`SignalFeatures`]): a head on features the
//! analyzer already has for every text (the sentence embedding, the sentiment branch's
//! pooled output, or both; no encoder layer of its own), or a fine-tuned copy of the
//! encoder's top layers from `branch_from` (its own branch, like the sentiment model's)
//! whose mean-pooled output a linear layer reads. Either gives one logit per category;
//! Platt scaling fitted on the dev split (`a x logit + b`, per category) turns it into a
//! probability.
//!
//! Shipped as `head.safetensors` (`hidden.*` when there is a hidden layer, `out.*`, and
//! `branch.layer.{i}.*` for a fine-tuned branch) and `model.json` ([`SignalCard`]).

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::bert::Layer;
use crate::kernels::Precision;
use crate::ragged::{self, RaggedBatch, RaggedLayer};
use crate::{BertConfig, ModelError, Result, files, pooling};

/// The categories the shipped head is trained on, in output order. Their ids are the
/// account risk categories of the insights (`RiskCategory`).
pub const SIGNAL_LABELS: [&str; 12] = [
    "churn_intent",
    "competitor",
    "billing",
    "pricing",
    "reliability",
    "performance",
    "integrations",
    "data_export",
    "support_responsiveness",
    "stakeholder_change",
    "onboarding",
    "security_compliance",
];

/// Signals below this probability are not reported with an analysis (nor stored).
pub const SIGNAL_FLOOR: f32 = 0.05;

/// Which of the analyzer's per-text features the head reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalFeatures {
    /// The L2-normalised sentence embedding.
    Embedding,
    /// The sentiment branch's mean-pooled, L2-normalised output.
    Branch,
    /// Both, concatenated (embedding first).
    Both,
    /// Its own fine-tuned copy of the encoder's layers from `branch_from`, mean-pooled.
    OwnBranch,
}

impl SignalFeatures {
    /// The shapes that read the analyzer's existing features.
    pub const FROZEN: [SignalFeatures; 3] = [Self::Embedding, Self::Branch, Self::Both];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedding => "embedding",
            Self::Branch => "branch",
            Self::Both => "both",
            Self::OwnBranch => "own_branch",
        }
    }

    /// Width of the feature vector for an encoder of `hidden` units.
    pub fn width(self, hidden: usize) -> usize {
        if self == Self::Both { 2 * hidden } else { hidden }
    }

    /// The feature rows `[texts, width]` from the two pooled outputs.
    pub fn select(self, embedding: &Tensor, branch: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Self::Embedding => embedding.clone(),
            Self::Branch => branch.clone(),
            Self::Both => Tensor::cat(&[embedding, branch], 1)?,
            Self::OwnBranch => return Err(ModelError::Input("an own branch reads hidden states".into())),
        })
    }
}

/// Platt scaling of one category: `p = sigmoid(a x logit + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Default for Platt {
    fn default() -> Self {
        Self { a: 1.0, b: 0.0 }
    }
}

/// `model.json`: what the head reads, its calibration, and how it was trained.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalCard {
    pub name: String,
    pub labels: Vec<String>,
    pub features: SignalFeatures,
    /// Units of the hidden layer; 0 for a linear head.
    pub hidden: usize,
    /// With [`SignalFeatures::OwnBranch`]: the first encoder layer the branch owns.
    #[serde(default)]
    pub branch_from: Option<usize>,
    /// One per label, fitted on dev.
    pub calibration: Vec<Platt>,
    /// Free-form training record: command, data checksums, hyper-parameters, metrics.
    #[serde(default)]
    pub training: serde_json::Value,
}

/// The loaded head: an optional hidden layer and one output per label.
pub struct SignalHead {
    card: SignalCard,
    /// The fine-tuned layers of an own branch, prepared for the ragged pass.
    branch: Vec<RaggedLayer>,
    hidden: Option<Linear>,
    out: Linear,
}

impl SignalHead {
    /// Loads the head from `dir` for `encoder`; a branch runs in `precision` (already
    /// resolved, as the encoder's).
    pub fn load(dir: &Path, encoder: &BertConfig, precision: Precision) -> Result<Self> {
        let card_path = dir.join("model.json");
        let card: SignalCard = serde_json::from_slice(&files::read(&card_path)?)
            .map_err(|e| ModelError::Invalid { path: card_path.clone(), reason: e.to_string() })?;
        if card.labels.is_empty() || card.calibration.len() != card.labels.len() {
            return Err(ModelError::Invalid {
                path: card_path,
                reason: "labels and calibration must be non-empty and of equal length".into(),
            });
        }
        let weights = files::read(&dir.join("head.safetensors"))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)?;
        let branch = match (card.features, card.branch_from) {
            (SignalFeatures::OwnBranch, Some(from)) if from < encoder.num_hidden_layers => (from..encoder
                .num_hidden_layers)
                .map(|i| {
                    RaggedLayer::new(&Layer::load(vb.pp(format!("branch.layer.{i}")), encoder)?, precision)
                })
                .collect::<Result<Vec<_>>>()?,
            (SignalFeatures::OwnBranch, _) => {
                return Err(ModelError::Invalid {
                    path: card_path,
                    reason: "own_branch needs a valid branch_from".into(),
                });
            }
            _ => Vec::new(),
        };
        let mut head = Self::from_parts(card, vb, encoder.hidden_size)?;
        head.branch = branch;
        Ok(head)
    }

    /// The encoder layer whose output [`Self::probabilities_from_hidden`] reads, for a
    /// head with its own branch.
    pub fn branch_from(&self) -> Option<usize> {
        (self.card.features == SignalFeatures::OwnBranch).then_some(self.card.branch_from).flatten()
    }

    /// Calibrated probabilities of a ragged batch from the encoder's hidden state after
    /// layer [`Self::branch_from`] (own-branch heads).
    pub fn probabilities_from_hidden(&self, hidden: &Tensor, batch: &RaggedBatch) -> Result<Vec<Vec<f32>>> {
        let pooled = pooling::ragged_sentence_embedding(&ragged::run(&self.branch, hidden, batch)?, batch)?;
        let logits: Vec<Vec<f32>> = self.out.forward(&pooled)?.to_vec2()?;
        Ok(logits.into_iter().map(|row| calibrate(&row, &self.card.calibration)).collect())
    }

    /// Builds the head from a card and its weights (also how training scores a candidate).
    pub fn from_parts(card: SignalCard, vb: VarBuilder<'_>, hidden_size: usize) -> Result<Self> {
        let width = if card.features == SignalFeatures::OwnBranch {
            hidden_size
        } else {
            card.features.width(hidden_size)
        };
        let (hidden, out_in) = match card.hidden {
            0 => (None, width),
            units => (Some(candle_nn::linear(width, units, vb.pp("hidden"))?), units),
        };
        let out = candle_nn::linear(out_in, card.labels.len(), vb.pp("out"))?;
        Ok(Self { card, branch: Vec::new(), hidden, out })
    }

    pub fn card(&self) -> &SignalCard {
        &self.card
    }

    pub fn labels(&self) -> &[String] {
        &self.card.labels
    }

    /// Uncalibrated logits `[texts, labels]` from the two pooled outputs.
    pub fn logits(&self, embedding: &Tensor, branch: &Tensor) -> Result<Tensor> {
        let features = self.card.features.select(embedding, branch)?;
        let features = match &self.hidden {
            Some(hidden) => hidden.forward(&features)?.gelu_erf()?,
            None => features,
        };
        Ok(self.out.forward(&features)?)
    }

    /// Calibrated probabilities, one row per text, one column per label.
    pub fn probabilities(&self, embedding: &Tensor, branch: &Tensor) -> Result<Vec<Vec<f32>>> {
        let logits: Vec<Vec<f32>> = self.logits(embedding, branch)?.to_vec2()?;
        Ok(logits.into_iter().map(|row| calibrate(&row, &self.card.calibration)).collect())
    }
}

/// Applies each label's Platt scaling to a row of logits.
pub fn calibrate(logits: &[f32], calibration: &[Platt]) -> Vec<f32> {
    logits.iter().zip(calibration).map(|(&z, p)| sigmoid(p.a * f64::from(z) + p.b) as f32).collect()
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn head(hidden: usize, features: SignalFeatures) -> SignalHead {
        let width = features.width(4);
        let mut tensors = HashMap::new();
        let out_in = if hidden == 0 { width } else { hidden };
        if hidden > 0 {
            tensors.insert(
                "hidden.weight".to_owned(),
                Tensor::ones((hidden, width), DType::F32, &Device::Cpu).unwrap(),
            );
            tensors
                .insert("hidden.bias".to_owned(), Tensor::zeros(hidden, DType::F32, &Device::Cpu).unwrap());
        }
        tensors.insert("out.weight".to_owned(), Tensor::ones((2, out_in), DType::F32, &Device::Cpu).unwrap());
        tensors.insert("out.bias".to_owned(), Tensor::new(&[0f32, -100.0], &Device::Cpu).unwrap());
        let card = SignalCard {
            name: "t".into(),
            labels: vec!["a".into(), "b".into()],
            features,
            hidden,
            branch_from: None,
            calibration: vec![Platt::default(), Platt { a: 0.0, b: 0.0 }],
            training: serde_json::Value::Null,
        };
        SignalHead::from_parts(card, VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu), 4).unwrap()
    }

    #[test]
    fn calibrated_probabilities_follow_the_card() {
        let embedding = Tensor::new(&[[1f32, 0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let branch = Tensor::new(&[[0f32, 0.0, 0.0, -1.0]], &Device::Cpu).unwrap();
        let linear = head(0, SignalFeatures::Both).probabilities(&embedding, &branch).unwrap();
        // Label a: logit 1 + (-1) = 0 -> 0.5; label b: a = 0 flattens it to 0.5 whatever the logit.
        assert!((linear[0][0] - 0.5).abs() < 1e-6 && (linear[0][1] - 0.5).abs() < 1e-6, "{linear:?}");
        let mlp = head(3, SignalFeatures::Embedding).probabilities(&embedding, &branch).unwrap();
        assert!(mlp[0][0] > 0.9, "{mlp:?}");
    }
}
