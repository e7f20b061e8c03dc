//! The encoder's inference pass over ragged batches: the tokens of several texts laid end
//! to end as one `[tokens, hidden]` matrix, with no padding. Linear layers see every
//! token of the batch as one matrix (no work on padding, whatever the length mix);
//! attention runs per text. The fused kernels of `crate::kernels` run as candle custom
//! ops, so the pass is a sequence of candle tensor operations.
//!
//! The padded path in `bert.rs` stays the reference (and the training pass); the parity
//! tests compare the two.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Device, Layout, Module, Shape, Tensor};
use candle_nn::{LayerNorm, Linear};
use rayon::prelude::*;

use crate::bert::Layer;
use crate::kernels::Precision;
use crate::kernels::attention::{Heads, ragged_attention};
use crate::kernels::gemm::PackedBf16;
use crate::kernels::math::{add_layer_norm, gelu_in_place};
use crate::tokenize::Encoded;
use crate::{ModelError, Result};

/// Texts as one ragged batch: token ids and in-text positions, both `[tokens]`, and where
/// each text starts.
pub struct RaggedBatch {
    pub(crate) ids: Tensor,
    pub(crate) positions: Tensor,
    /// `texts + 1` boundaries: text `i` owns rows `offsets[i]..offsets[i + 1]`.
    pub(crate) offsets: Vec<usize>,
}

impl RaggedBatch {
    pub fn new(texts: &[&Encoded], device: &Device) -> Result<Self> {
        let mut offsets = Vec::with_capacity(texts.len() + 1);
        offsets.push(0);
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for text in texts {
            if text.ids.is_empty() {
                return Err(ModelError::Input("a text has no tokens".into()));
            }
            ids.extend_from_slice(&text.ids);
            positions.extend(0..text.ids.len() as u32);
            offsets.push(ids.len());
        }
        let tokens = ids.len();
        Ok(Self {
            ids: Tensor::from_vec(ids, tokens, device)?,
            positions: Tensor::from_vec(positions, tokens, device)?,
            offsets,
        })
    }
}

/// A linear layer prepared for inference in the chosen arithmetic.
enum Dense {
    /// candle's own linear layer (f32 matrix multiply on the shared weights, no copy).
    F32(Linear),
    /// The weights packed as bfloat16 for [`PackedBf16::matmul`].
    Bf16(PackedBf16),
}

impl Dense {
    fn new(linear: &Linear, precision: Precision) -> Result<Self> {
        Ok(match precision {
            Precision::Bf16 => {
                let weight = linear.weight();
                let (n, k) = weight.dims2()?;
                let bias = match linear.bias() {
                    Some(bias) => bias.to_vec1()?,
                    None => vec![0.0; n],
                };
                Self::Bf16(PackedBf16::pack(&weight.flatten_all()?.to_vec1()?, &bias, n, k))
            }
            // `Auto` is resolved by the encoder before any layer is prepared.
            Precision::F32 | Precision::Auto => Self::F32(linear.clone()),
        })
    }

    /// `x · Wᵀ + b` for `x` of `[tokens, in]`, GELU after when `gelu`.
    fn forward(&self, x: &Tensor, gelu: bool) -> Result<Tensor> {
        Ok(match self {
            Self::F32(linear) => {
                let out = linear.forward(x)?;
                if gelu { out.apply_op1_no_bwd(&Gelu)? } else { out }
            }
            Self::Bf16(packed) => x.apply_op1_no_bwd(&Bf16Linear { packed, gelu })?,
        })
    }
}

/// Layer norm of a residual sum, with its parameters as plain vectors.
struct AddNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl AddNorm {
    fn new(norm: &LayerNorm) -> Result<Self> {
        let gamma: Vec<f32> = norm.weight().to_vec1()?;
        let beta = match norm.bias() {
            Some(bias) => bias.to_vec1()?,
            None => vec![0.0; gamma.len()],
        };
        Ok(Self { gamma, beta, eps: norm.eps() as f32 })
    }

    /// `layer_norm(x + residual)`.
    fn forward(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        Ok(x.apply_op2_no_bwd(residual, self)?)
    }
}

/// One transformer layer prepared for ragged inference.
pub(crate) struct RaggedLayer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: AddNorm,
    intermediate: Dense,
    output: Dense,
    output_norm: AddNorm,
    heads: Heads,
}

impl RaggedLayer {
    /// The same weights as `layer`, prepared in `precision` (`F32` or `Bf16`).
    pub(crate) fn new(layer: &Layer, precision: Precision) -> Result<Self> {
        let hidden = layer.attention_out.weight().dim(0)?;
        Ok(Self {
            qkv: Dense::new(&layer.qkv, precision)?,
            attention_out: Dense::new(&layer.attention_out, precision)?,
            attention_norm: AddNorm::new(&layer.attention_norm)?,
            intermediate: Dense::new(&layer.intermediate, precision)?,
            output: Dense::new(&layer.output, precision)?,
            output_norm: AddNorm::new(&layer.output_norm)?,
            heads: Heads { heads: layer.heads, head_dim: hidden / layer.heads },
        })
    }

    /// `x`: `[tokens, hidden]` of `batch`.
    fn forward(&self, x: &Tensor, batch: &RaggedBatch) -> Result<Tensor> {
        let qkv = self.qkv.forward(x, false)?;
        let attention = RaggedAttention { offsets: &batch.offsets, heads: self.heads };
        let context = qkv.apply_op1_no_bwd(&attention)?;
        let attended = self.attention_norm.forward(&self.attention_out.forward(&context, false)?, x)?;
        let inner = self.intermediate.forward(&attended, true)?;
        self.output_norm.forward(&self.output.forward(&inner, false)?, &attended)
    }
}

/// Runs `layers` in order over the ragged hidden state `x`.
pub(crate) fn run(layers: &[RaggedLayer], x: &Tensor, batch: &RaggedBatch) -> Result<Tensor> {
    let mut hidden = x.clone();
    for layer in layers {
        hidden = layer.forward(&hidden, batch)?;
    }
    Ok(hidden)
}

/// Mean over each text's rows: `[tokens, hidden]` -> `[texts, hidden]`.
pub(crate) fn mean_pool(hidden: &Tensor, batch: &RaggedBatch) -> Result<Tensor> {
    Ok(hidden.apply_op1_no_bwd(&MeanPool { offsets: &batch.offsets })?)
}

// ---- candle custom ops ----

/// The contiguous f32 data of a CPU tensor, or an error naming the op.
fn f32_data<'a>(op: &str, storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: expects f32 storage");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: expects a contiguous tensor"),
    }
}

fn rows_cols(op: &str, layout: &Layout) -> candle_core::Result<(usize, usize)> {
    match layout.shape().dims() {
        &[rows, cols] => Ok((rows, cols)),
        dims => candle_core::bail!("{op}: expects a matrix, got shape {dims:?}"),
    }
}

struct Bf16Linear<'a> {
    packed: &'a PackedBf16,
    gelu: bool,
}

impl CustomOp1 for Bf16Linear<'_> {
    fn name(&self) -> &'static str {
        "bf16-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_data(self.name(), storage, layout)?;
        let (rows, cols) = rows_cols(self.name(), layout)?;
        if cols != self.packed.in_features() {
            candle_core::bail!("bf16-linear: {cols} inputs, the layer takes {}", self.packed.in_features());
        }
        let out = self.packed.matmul(x, rows, self.gelu);
        Ok((CpuStorage::F32(out), Shape::from((rows, self.packed.out_features()))))
    }
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let mut out = f32_data(self.name(), storage, layout)?.to_vec();
        par_rows(&mut out, 4096, gelu_in_place);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

impl CustomOp2 for AddNorm {
    fn name(&self) -> &'static str {
        "add-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_data(self.name(), s1, l1)?;
        let residual = f32_data(self.name(), s2, l2)?;
        let (_, cols) = rows_cols(self.name(), l1)?;
        if l1.shape() != l2.shape() || cols != self.gamma.len() {
            candle_core::bail!("add-layer-norm: shapes {:?} and {:?}", l1.shape(), l2.shape());
        }
        let mut out = x.to_vec();
        let width = self.gamma.len();
        out.par_chunks_mut(width * 16).zip(residual.par_chunks(width * 16)).for_each(|(rows, res)| {
            add_layer_norm(rows, res, &self.gamma, &self.beta, self.eps);
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

struct RaggedAttention<'a> {
    offsets: &'a [usize],
    heads: Heads,
}

impl CustomOp1 for RaggedAttention<'_> {
    fn name(&self) -> &'static str {
        "ragged-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = f32_data(self.name(), storage, layout)?;
        let (rows, cols) = rows_cols(self.name(), layout)?;
        let hidden = self.heads.heads * self.heads.head_dim;
        if cols != 3 * hidden || self.offsets.last() != Some(&rows) {
            candle_core::bail!(
                "ragged-attention: qkv is [{rows}, {cols}], the batch has {:?}",
                self.offsets.last()
            );
        }
        let out = ragged_attention(qkv, self.offsets, self.heads);
        Ok((CpuStorage::F32(out), Shape::from((rows, hidden))))
    }
}

struct MeanPool<'a> {
    offsets: &'a [usize],
}

impl CustomOp1 for MeanPool<'_> {
    fn name(&self) -> &'static str {
        "ragged-mean-pool"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let hidden = f32_data(self.name(), storage, layout)?;
        let (rows, cols) = rows_cols(self.name(), layout)?;
        if self.offsets.last() != Some(&rows) {
            candle_core::bail!("ragged-mean-pool: {rows} rows, the batch has {:?}", self.offsets.last());
        }
        let texts = self.offsets.len() - 1;
        let mut out = vec![0f32; texts * cols];
        for (text, mean) in out.chunks_exact_mut(cols).enumerate() {
            let (start, end) = (self.offsets[text], self.offsets[text + 1]);
            for row in hidden[start * cols..end * cols].chunks_exact(cols) {
                for (m, x) in mean.iter_mut().zip(row) {
                    *m += x;
                }
            }
            let count = (end - start).max(1) as f32;
            mean.iter_mut().for_each(|m| *m /= count);
        }
        Ok((CpuStorage::F32(out), Shape::from((texts, cols))))
    }
}

/// Runs `op` over `data` in parallel chunks of `chunk` elements.
fn par_rows(data: &mut [f32], chunk: usize, op: fn(&mut [f32])) {
    data.par_chunks_mut(chunk).for_each(op);
}
