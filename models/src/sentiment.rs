//! The sentiment head: optionally its own fine-tuned copy of the encoder's top layers (a
//! branch off the shared hidden state), then a linear classifier over the mean-pooled,
//! L2-normalised output, with temperature scaling for calibrated probabilities.
//!
//! Shipped as two files in one folder: `head.safetensors` (tensors `classifier.weight`,
//! `classifier.bias`, and `branch.layer.{i}.*` named like the encoder's layers) and
//! `model.json` (how it was built and measured; see [`HeadCard`]).

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::bert::Layer;
use crate::kernels::Precision;
use crate::ragged::{self, RaggedBatch, RaggedLayer};
use crate::{BertConfig, ModelError, Result, files, pooling};

/// Class order of the classifier's outputs.
pub const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

/// `model.json`: what the head is and how it was trained and measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadCard {
    pub name: String,
    /// Index of the shared encoder layer whose output the branch reads; equal to the
    /// encoder's layer count when the head reads the final sentence embedding.
    pub branch_from: usize,
    /// Softmax temperature fitted on the dev split (calibration).
    pub temperature: f64,
    pub labels: Vec<String>,
    /// Free-form training record: command, data checksums, hyper-parameters, metrics.
    #[serde(default)]
    pub training: serde_json::Value,
}

pub struct SentimentHead {
    card: HeadCard,
    /// The fine-tuned top layers, prepared for the ragged inference pass.
    branch: Vec<RaggedLayer>,
    classifier: Linear,
}

impl SentimentHead {
    /// Loads the head; its branch runs in `precision` (already resolved, as the encoder's).
    pub fn load(dir: &Path, encoder: &BertConfig, precision: Precision) -> Result<Self> {
        let card_path = dir.join("model.json");
        let card: HeadCard = serde_json::from_slice(&files::read(&card_path)?)
            .map_err(|e| ModelError::Invalid { path: card_path.clone(), reason: e.to_string() })?;
        let invalid = |reason: String| ModelError::Invalid { path: card_path.clone(), reason };
        if card.labels != LABELS {
            return Err(invalid(format!("labels must be {LABELS:?}")));
        }
        if card.branch_from > encoder.num_hidden_layers || card.temperature <= 0.0 {
            return Err(invalid("branch_from or temperature out of range".into()));
        }
        let weights = files::read(&dir.join("head.safetensors"))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)?;
        let branch = (card.branch_from..encoder.num_hidden_layers)
            .map(|i| {
                let layer = Layer::load(vb.pp(format!("branch.layer.{i}")), encoder)?;
                RaggedLayer::new(&layer, precision)
            })
            .collect::<Result<Vec<_>>>()?;
        let classifier = candle_nn::linear(encoder.hidden_size, LABELS.len(), vb.pp("classifier"))?;
        Ok(Self { card, branch, classifier })
    }

    pub fn card(&self) -> &HeadCard {
        &self.card
    }

    /// The shared layer whose output [`Self::probabilities`] needs as `shared_hidden`.
    pub fn branch_from(&self) -> usize {
        self.card.branch_from
    }

    /// The pooled features `[texts, hidden]` the classifier reads: the branch's mean-pooled,
    /// L2-normalised output over `shared_hidden` (the encoder's hidden state after layer
    /// `branch_from`), or the final sentence `embedding` when there is no branch.
    pub fn features(
        &self,
        shared_hidden: &Tensor,
        embedding: &Tensor,
        batch: &RaggedBatch,
    ) -> Result<Tensor> {
        if self.branch.is_empty() {
            return Ok(embedding.clone());
        }
        let hidden = ragged::run(&self.branch, shared_hidden, batch)?;
        pooling::ragged_sentence_embedding(&hidden, batch)
    }

    /// Class probabilities from pooled features `[batch, hidden]`.
    pub fn probabilities_from_features(&self, features: &Tensor) -> Result<Tensor> {
        let logits = (self.classifier.forward(features)? / self.card.temperature)?;
        Ok(candle_nn::ops::softmax_last_dim(&logits)?)
    }
}
