//! Mean pooling over real tokens, then L2 normalisation (as sentence-transformers does
//! for all-MiniLM-L6-v2). Padding never reaches the mean.

use candle_core::Tensor;

use crate::Result;
use crate::ragged::{self, RaggedBatch};

/// `hidden`: `[batch, len, dim]`, `mask`: `[batch, len]` of 1.0 / 0.0 -> `[batch, dim]`.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask3 = mask.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask3)?.sum(1)?;
    let counts = mask.sum_keepdim(1)?.clamp(1e-9, f64::MAX)?;
    Ok(summed.broadcast_div(&counts)?)
}

/// Mean pooling followed by L2 normalisation: the sentence embedding.
pub fn sentence_embedding(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    Ok(crate::bert::l2_normalize(&mean_pool(hidden, mask)?)?)
}

/// The sentence embeddings of a ragged batch: `[tokens, dim]` -> `[texts, dim]`.
pub fn ragged_sentence_embedding(hidden: &Tensor, batch: &RaggedBatch) -> Result<Tensor> {
    Ok(crate::bert::l2_normalize(&ragged::mean_pool(hidden, batch)?)?)
}
