//! The BERT encoder, written out so that its layers can be run in ranges: the lower
//! layers are shared, and a head may carry its own fine-tuned copy of the top layers
//! (a "branch") that reads the shared hidden state. Query, key and value projections
//! are fused into one matrix multiply.

use std::ops::Range;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use crate::kernels::Precision;
use crate::ragged::{self, RaggedBatch, RaggedLayer};
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
    pub(crate) qkv: Linear,
    pub(crate) attention_out: Linear,
    pub(crate) attention_norm: LayerNorm,
    pub(crate) intermediate: Linear,
    pub(crate) output: Linear,
    pub(crate) output_norm: LayerNorm,
    pub(crate) heads: usize,
}

impl Layer {
    /// Loads a layer named like the Hugging Face checkpoint (separate query, key and value,
    /// fused here) or with the projections already fused under `attention.self.qkv` (how
    /// our trainer saves a fine-tuned branch).
    pub(crate) fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let attn = vb.pp("attention");
        let fused = attn.pp("self").pp("qkv");
        let qkv = if fused.contains_tensor("weight") {
            candle_nn::linear(h, 3 * h, fused)?
        } else {
            let project = |name: &str| -> candle_core::Result<(Tensor, Tensor)> {
                let p = attn.pp("self").pp(name);
                Ok((p.get((h, h), "weight")?, p.get(h, "bias")?))
            };
            let (qw, qb) = project("query")?;
            let (kw, kb) = project("key")?;
            let (vw, vb_) = project("value")?;
            Linear::new(Tensor::cat(&[qw, kw, vw], 0)?, Some(Tensor::cat(&[qb, kb, vb_], 0)?))
        };
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
    /// large negative number for padding. Inference uses candle's fused kernels, training
    /// their differentiable equivalents (and dropout).
    pub(crate) fn forward_with(
        &self,
        x: &Tensor,
        mask_bias: &Tensor,
        pass: &mut Pass,
    ) -> candle_core::Result<Tensor> {
        let (b, len, hidden) = x.dims3()?;
        let head_dim = hidden / self.heads;
        let qkv =
            self.qkv.forward(x)?.reshape((b, len, 3, self.heads, head_dim))?.permute((2, 0, 3, 1, 4))?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let q = (qkv.get(0)? * scale)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask_bias)?;
        let probs = pass.softmax(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, len, hidden))?;
        let attention = pass.dropout(&self.attention_out.forward(&context)?)?;
        let attended = pass.norm(&self.attention_norm, &(attention + x)?)?;
        let inner = self.intermediate.forward(&attended)?.gelu_erf()?;
        let output = pass.dropout(&self.output.forward(&inner)?)?;
        pass.norm(&self.output_norm, &(output + attended)?)
    }
}

/// How a layer runs. candle's fused layer-norm and softmax kernels have no backward pass,
/// so training spells both out in differentiable tensor operations.
pub(crate) enum Pass {
    Inference,
    Training { dropout: f32, rng: crate::training::rng::SplitMix64 },
}

impl Pass {
    fn softmax(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Inference => candle_nn::ops::softmax_last_dim(x),
            Self::Training { .. } => candle_nn::ops::softmax(x, D::Minus1),
        }
    }

    fn norm(&self, norm: &LayerNorm, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Inference => norm.forward(x),
            Self::Training { .. } => differentiable_layer_norm(norm, x),
        }
    }

    /// Inverted dropout with a mask drawn from the pass's own seeded generator, so a
    /// training run is reproducible.
    fn dropout(&mut self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Inference => Ok(x.clone()),
            Self::Training { dropout, rng } if *dropout > 0.0 => {
                let keep = 1.0 - *dropout;
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| if rng.next_f32() < keep { 1.0 / keep } else { 0.0 })
                    .collect();
                x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
            }
            Self::Training { .. } => Ok(x.clone()),
        }
    }
}

fn differentiable_layer_norm(norm: &LayerNorm, x: &Tensor) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centered = x.broadcast_sub(&mean)?;
    let variance = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centered.broadcast_div(&(variance + norm.eps())?.sqrt()?)?;
    let scaled = normed.broadcast_mul(norm.weight())?;
    match norm.bias() {
        Some(bias) => scaled.broadcast_add(bias),
        None => Ok(scaled),
    }
}

/// The all-MiniLM-L6-v2 encoder: embeddings and transformer layers, on the CPU.
///
/// Two passes over the same weights: the padded pass (`inputs` / `run_layers` /
/// `forward`), the f32 reference that training builds on, and the ragged inference pass
/// (`embed_ragged` / `run_ragged`) in the encoder's [`Precision`].
pub struct Encoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    ragged: Vec<RaggedLayer>,
    precision: Precision,
    config: BertConfig,
    device: Device,
}

/// Added to attention scores at padding positions.
const MASKED: f32 = -1.0e9;

impl Encoder {
    /// Loads the encoder, checking the weights' checksum, with the ragged pass in
    /// `precision` (`Auto` picks bf16 where the CPU has AVX-512 BF16).
    pub fn load(files: &EncoderFiles, precision: Precision) -> Result<Self> {
        let precision = precision
            .resolve()
            .map_err(|reason| ModelError::Invalid { path: files.weights.clone(), reason })?;
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
        Self::from_var_builder(vb, config, device, precision)
    }

    fn from_var_builder(
        vb: VarBuilder,
        config: BertConfig,
        device: Device,
        precision: Precision,
    ) -> Result<Self> {
        let embeddings = Embeddings::load(vb.pp("embeddings"), &config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), &config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let ragged = layers.iter().map(|layer| RaggedLayer::new(layer, precision)).collect::<Result<_>>()?;
        Ok(Self { embeddings, layers, ragged, precision, config, device })
    }

    /// The arithmetic of the ragged inference pass.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Hidden state after the embedding layer for a ragged batch, `[tokens, hidden]`.
    pub fn embed_ragged(&self, batch: &RaggedBatch) -> Result<Tensor> {
        let words = self.embeddings.words.forward(&batch.ids)?;
        let positions = self.embeddings.positions.index_select(&batch.positions, 0)?;
        let summed = (words + positions)?.broadcast_add(&self.embeddings.token_type_zero)?;
        Ok(self.embeddings.norm.forward(&summed)?)
    }

    /// Runs transformer layers `range` over a ragged hidden state.
    pub fn run_ragged(&self, hidden: &Tensor, batch: &RaggedBatch, range: Range<usize>) -> Result<Tensor> {
        ragged::run(&self.ragged[range], hidden, batch)
    }

    /// The last hidden state of a ragged batch, `[tokens, hidden]`.
    pub fn forward_ragged(&self, batch: &RaggedBatch) -> Result<Tensor> {
        self.run_ragged(&self.embed_ragged(batch)?, batch, 0..self.ragged.len())
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
        let bias = attention_bias(&mask)?;
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
    run_layers_with(layers, hidden, bias, &mut Pass::Inference)
}

pub(crate) fn run_layers_with(
    layers: &[Layer],
    hidden: &Tensor,
    bias: &Tensor,
    pass: &mut Pass,
) -> Result<Tensor> {
    let mut hidden = hidden.clone();
    for layer in layers {
        hidden = layer.forward_with(&hidden, bias, pass)?;
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

/// The additive attention bias `[batch, 1, 1, len]` of a `[batch, len]` token mask.
pub(crate) fn attention_bias(mask: &Tensor) -> candle_core::Result<Tensor> {
    ((1.0 - mask)? * f64::from(MASKED))?.unsqueeze(1)?.unsqueeze(1)
}

/// Row-wise L2 norm, kept for the last dimension.
pub(crate) fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use candle_nn::VarMap;

    use super::*;
    use crate::training::rng::SplitMix64;

    /// A layer with random weights (a `VarMap` starts its variables at zero, which would
    /// make attention degenerate).
    fn tiny_layer(varmap: &VarMap) -> Layer {
        let _ = zero_layer(varmap);
        for var in varmap.all_vars() {
            var.set(&Tensor::randn(0f32, 0.5, var.shape(), &Device::Cpu).unwrap()).unwrap();
        }
        zero_layer(varmap)
    }

    fn zero_layer(varmap: &VarMap) -> Layer {
        let cfg = BertConfig {
            vocab_size: 10,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: 16,
            type_vocab_size: 1,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
        };
        Layer::load(VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu), &cfg).unwrap()
    }

    fn inputs() -> (Tensor, Tensor) {
        let x = Tensor::randn(0f32, 1.0, (2, 5, 8), &Device::Cpu).unwrap();
        let mask =
            Tensor::new(&[[0f32, 0., 0., 0., 0.], [0., 0., 0., MASKED, MASKED]], &Device::Cpu).unwrap();
        (x, mask.unsqueeze(1).unwrap().unsqueeze(1).unwrap())
    }

    #[test]
    fn training_pass_matches_the_fused_inference_kernels() {
        let varmap = VarMap::new();
        let layer = tiny_layer(&varmap);
        let (x, bias) = inputs();
        let fused = layer.forward_with(&x, &bias, &mut Pass::Inference).unwrap();
        let mut pass = Pass::Training { dropout: 0.0, rng: SplitMix64::new(1) };
        let spelled_out = layer.forward_with(&x, &bias, &mut pass).unwrap();
        let diff =
            (fused - spelled_out).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "max difference {diff}");
    }

    #[test]
    fn training_pass_reaches_every_weight_with_a_gradient() {
        let varmap = VarMap::new();
        let layer = tiny_layer(&varmap);
        let (x, bias) = inputs();
        let mut pass = Pass::Training { dropout: 0.1, rng: SplitMix64::new(2) };
        let out = layer.forward_with(&x, &bias, &mut pass).unwrap();
        // A projection on fixed random directions: the sum of squares of a layer-norm output
        // is constant, and would give everything below the last norm a zero gradient.
        let direction = Tensor::randn(0f32, 1.0, out.shape(), &Device::Cpu).unwrap();
        let grads = (out * direction).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, var) in varmap.data().lock().unwrap().iter() {
            let grad = grads.get(var.as_tensor()).expect("every weight has a gradient");
            let norm = grad.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            // Softmax ignores a constant added to a row of scores, so the key bias has no
            // effect and rightly gets a zero gradient.
            if name != "attention.self.key.bias" {
                assert!(norm > 0.0, "{name} has a zero gradient");
            }
        }
    }
}
