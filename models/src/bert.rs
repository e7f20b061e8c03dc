//! The BERT encoder, written out so that its layers can be run in ranges: the lower
//! layers are shared, and a head may carry its own fine-tuned copy of the top layers
//! (a "branch") that reads the shared hidden state. Query, key and value projections
//! are fused into one matrix multiply.

use std::ops::Range;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use crate::{EncoderFiles, ModelError, Result, TokenBatch, files};

/// The fields of a BERT config.json that the encoder reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
}

struct Embeddings {
    words: Embedding,
    positions: Tensor,
    token_type_zero: Tensor,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        let words = candle_nn::embedding(cfg.vocab_size, cfg.hidden_size, vb.pp("word_embeddings"))?;
        let positions =
            vb.get((cfg.max_position_embeddings, cfg.hidden_size), "position_embeddings.weight")?;
        // Single-sentence inputs only: every token type id is 0, so keep that row alone.
        let token_types = vb.get((cfg.type_vocab_size, cfg.hidden_size), "token_type_embeddings.weight")?;
        let token_type_zero = token_types.get(0)?;
        let norm = candle_nn::layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("LayerNorm"))?;
        Ok(Self { words, positions, token_type_zero, norm })
    }

    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let len = ids.dim(1)?;
        let words = self.words.forward(ids)?;
        let extra = self.positions.narrow(0, 0, len)?.broadcast_add(&self.token_type_zero)?;
        self.norm.forward(&words.broadcast_add(&extra)?)
    }
}

/// One transformer layer.
pub(crate) struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
}

impl Layer {
    pub(crate) fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let attn = vb.pp("attention");
        let project = |name: &str| -> candle_core::Result<(Tensor, Tensor)> {
            let p = attn.pp("self").pp(name);
            Ok((p.get((h, h), "weight")?, p.get(h, "bias")?))
        };
        let (qw, qb) = project("query")?;
        let (kw, kb) = project("key")?;
        let (vw, vb_) = project("value")?;
        let qkv = Linear::new(Tensor::cat(&[qw, kw, vw], 0)?, Some(Tensor::cat(&[qb, kb, vb_], 0)?));
        Ok(Self {
            qkv,
            attention_out: candle_nn::linear(h, h, attn.pp("output").pp("dense"))?,
            attention_norm: candle_nn::layer_norm(h, cfg.layer_norm_eps, attn.pp("output").pp("LayerNorm"))?,
            intermediate: candle_nn::linear(h, cfg.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            output: candle_nn::linear(cfg.intermediate_size, h, vb.pp("output").pp("dense"))?,
            output_norm: candle_nn::layer_norm(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: cfg.num_attention_heads,
        })
    }

    /// `x`: `[batch, len, hidden]`; `mask_bias`: `[batch, 1, 1, len]`, 0 for tokens and a
    /// large negative number for padding.
    pub(crate) fn forward(&self, x: &Tensor, mask_bias: &Tensor) -> candle_core::Result<Tensor> {
        let (b, len, hidden) = x.dims3()?;
        let head_dim = hidden / self.heads;
        let qkv =
            self.qkv.forward(x)?.reshape((b, len, 3, self.heads, head_dim))?.permute((2, 0, 3, 1, 4))?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let q = (qkv.get(0)? * scale)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask_bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, len, hidden))?;
        let attended = self.attention_norm.forward(&(self.attention_out.forward(&context)? + x)?)?;
        let inner = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.output_norm.forward(&(self.output.forward(&inner)? + attended)?)
    }
}

/// The all-MiniLM-L6-v2 encoder: embeddings and transformer layers, on the CPU.
pub struct Encoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    config: BertConfig,
    device: Device,
}

/// Added to attention scores at padding positions.
const MASKED: f32 = -1.0e9;

impl Encoder {
    /// Loads the encoder, checking the weights' checksum.
    pub fn load(files: &EncoderFiles) -> Result<Self> {
        files.verify()?;
        let config: BertConfig = serde_json::from_slice(&files::read(&files.config)?)
            .map_err(|e| ModelError::Invalid { path: files.config.clone(), reason: e.to_string() })?;
        if config.hidden_act != "gelu" {
            return Err(ModelError::Invalid {
                path: files.config.clone(),
                reason: format!("unsupported activation {}", config.hidden_act),
            });
        }
        let device = Device::Cpu;
        let weights = files::read(&files.weights)?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        Self::from_var_builder(vb, config, device)
    }

    fn from_var_builder(vb: VarBuilder, config: BertConfig, device: Device) -> Result<Self> {
        let embeddings = Embeddings::load(vb.pp("embeddings"), &config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), &config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { embeddings, layers, config, device })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The batch's ids and attention mask as tensors: ids `[batch, len]`, mask `[batch, len]`
    /// (f32, 1 for tokens) and the additive attention bias `[batch, 1, 1, len]`.
    pub fn inputs(&self, batch: &TokenBatch) -> Result<EncoderInputs> {
        let shape = (batch.batch, batch.len);
        let ids = Tensor::from_slice(&batch.ids, shape, &self.device)?;
        let mask = Tensor::from_slice(&batch.mask, shape, &self.device)?.to_dtype(DType::F32)?;
        let bias = ((1.0 - &mask)? * f64::from(MASKED))?.unsqueeze(1)?.unsqueeze(1)?;
        Ok(EncoderInputs { ids, mask, bias })
    }

    /// Hidden state after the embedding layer.
    pub fn embed(&self, inputs: &EncoderInputs) -> Result<Tensor> {
        Ok(self.embeddings.forward(&inputs.ids)?)
    }

    /// Runs transformer layers `range` over `hidden`.
    pub fn run_layers(&self, hidden: &Tensor, inputs: &EncoderInputs, range: Range<usize>) -> Result<Tensor> {
        run_layers(&self.layers[range], hidden, &inputs.bias)
    }

    /// The last hidden state, `[batch, len, hidden]`.
    pub fn forward(&self, inputs: &EncoderInputs) -> Result<Tensor> {
        let hidden = self.embed(inputs)?;
        self.run_layers(&hidden, inputs, 0..self.layers.len())
    }
}

pub(crate) fn run_layers(layers: &[Layer], hidden: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let mut hidden = hidden.clone();
    for layer in layers {
        hidden = layer.forward(&hidden, bias)?;
    }
    Ok(hidden)
}

/// A batch as the encoder reads it.
pub struct EncoderInputs {
    pub ids: Tensor,
    /// `[batch, len]`, 1.0 for tokens, 0.0 for padding.
    pub mask: Tensor,
    bias: Tensor,
}

impl EncoderInputs {
    /// The additive attention bias, `[batch, 1, 1, len]`.
    pub(crate) fn bias(&self) -> &Tensor {
        &self.bias
    }
}

/// Row-wise L2 norm, kept for the last dimension.
pub(crate) fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}
