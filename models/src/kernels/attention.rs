//! Self-attention over ragged batches: texts laid end to end without padding, text `i`
//! owning token rows `offsets[i]..offsets[i + 1]`. No text attends across its boundary
//! and no work is spent on padding. One work item per (text, head), spread over rayon's
//! pool; each writes its own rows and columns of the output.

use rayon::prelude::*;

use super::SharedOut;
use super::math::{exp, lane_max, lane_sum, multiversion};

/// The attention's shape: `heads` heads of `head_dim` each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub heads: usize,
    pub head_dim: usize,
}

impl Heads {
    fn hidden(self) -> usize {
        self.heads * self.head_dim
    }
}

/// `qkv`: `[tokens, 3 * hidden]`, each row the query, key and value projections side by
/// side (head `h` at columns `h * head_dim..`). Returns the context `[tokens, hidden]`.
pub(crate) fn ragged_attention(qkv: &[f32], offsets: &[usize], shape: Heads) -> Vec<f32> {
    let hidden = shape.hidden();
    let tokens = offsets.last().copied().unwrap_or(0);
    assert_eq!(qkv.len(), tokens * 3 * hidden, "qkv must be [tokens, 3 * hidden]");
    let mut out = vec![0f32; tokens * hidden];
    let out_ptr = SharedOut::new(&mut out);
    let texts = offsets.len().saturating_sub(1);
    (0..texts * shape.heads).into_par_iter().for_each(|item| {
        let (text, head) = (item / shape.heads, item % shape.heads);
        let (start, end) = (offsets[text], offsets[text + 1]);
        let context = attend(&qkv[start * 3 * hidden..end * 3 * hidden], end - start, head, shape);
        for (row, values) in context.chunks_exact(shape.head_dim).enumerate() {
            // SAFETY: (text, head) items write disjoint rows x columns of `out`.
            unsafe {
                let dst = out_ptr.get().add((start + row) * hidden + head * shape.head_dim);
                std::ptr::copy_nonoverlapping(values.as_ptr(), dst, shape.head_dim);
            }
        }
    });
    out
}

/// One head of one text: `rows` is the text's `[len, 3 * hidden]` slice of `qkv`.
fn attend(rows: &[f32], len: usize, head: usize, shape: Heads) -> Vec<f32> {
    let mut context = vec![0f32; len * shape.head_dim];
    attend_into(rows, len, head, shape, &mut context);
    context
}

/// Keys per block of scores kept in registers.
const KEY_BLOCK: usize = 16;

multiversion! {
    /// [`attend`]'s work, compiled as one unit so its loops vectorize together: all the
    /// text's scores first, the exponentials in one pass over them, then each row's
    /// weighted sum of the values.
    fn attend_into(rows: &[f32], len: usize, head: usize, shape: Heads, context: &mut [f32]) {
        let (hidden, d) = (shape.hidden(), shape.head_dim);
        let stride = 3 * hidden;
        // Keys transposed (`[d, padded]`, zero past `len`) so that a block of 16 scores
        // sums over the head dimension in one register; values `[len, d]`; scores
        // `[len, padded]`. One scratch buffer for all three.
        let padded = len.next_multiple_of(KEY_BLOCK);
        let mut scratch = vec![0f32; d * padded + len * d + len * padded];
        let (keys_t, rest) = scratch.split_at_mut(d * padded);
        let (values, scores) = rest.split_at_mut(len * d);
        let (query_column, key_column, value_column) = (head * d, hidden + head * d, 2 * hidden + head * d);
        for (e, keys) in keys_t.chunks_exact_mut(padded).enumerate() {
            for (k, row) in keys.iter_mut().zip(rows.chunks_exact(stride)) {
                *k = row[key_column + e];
            }
        }
        for (value, row) in values.chunks_exact_mut(d).zip(rows.chunks_exact(stride)) {
            value.copy_from_slice(&row[value_column..value_column + d]);
        }
        let scale = 1.0 / (d as f32).sqrt();
        for (row, scores) in rows.chunks_exact(stride).zip(scores.chunks_exact_mut(padded)) {
            let query = &row[query_column..query_column + d];
            for (block, out) in scores.chunks_exact_mut(KEY_BLOCK).enumerate() {
                let mut acc = [0f32; KEY_BLOCK];
                for (q, keys) in query.iter().zip(keys_t.chunks_exact(padded)) {
                    let keys = &keys[block * KEY_BLOCK..(block + 1) * KEY_BLOCK];
                    for (a, k) in acc.iter_mut().zip(keys) {
                        *a += q * k;
                    }
                }
                for (o, a) in out.iter_mut().zip(acc) {
                    *o = a * scale;
                }
            }
            let real = &mut scores[..len];
            let max = lane_max(real);
            for s in real.iter_mut() {
                *s = exp(*s - max);
            }
        }
        for (weights, out) in scores.chunks_exact(padded).zip(context.chunks_exact_mut(d)) {
            let weights = &weights[..len];
            match d {
                32 => weighted_sum::<32>(weights, values, out),
                64 => weighted_sum::<64>(weights, values, out),
                _ => weighted_sum_any(weights, values, out),
            }
            let inv = 1.0 / lane_sum(weights);
            for o in out.iter_mut() {
                *o *= inv;
            }
        }
    }
}

/// `out = Σ_j weights[j] * value_j` for values `[len, D]`: a fixed width keeps the sum
/// in registers.
#[inline(always)]
fn weighted_sum<const D: usize>(weights: &[f32], values: &[f32], out: &mut [f32]) {
    let mut acc = [0f32; D];
    for (w, value) in weights.iter().zip(values.chunks_exact(D)) {
        for (a, v) in acc.iter_mut().zip(value) {
            *a += w * v;
        }
    }
    out.copy_from_slice(&acc);
}

#[inline(always)]
fn weighted_sum_any(weights: &[f32], values: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for (w, value) in weights.iter().zip(values.chunks_exact(out.len())) {
        for (o, v) in out.iter_mut().zip(value) {
            *o += w * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook attention of one text in f64.
    fn reference(qkv: &[f32], start: usize, end: usize, shape: Heads) -> Vec<f64> {
        let (hidden, d) = (shape.hidden(), shape.head_dim);
        let at = |t: usize, part: usize, h: usize, e: usize| {
            qkv[t * 3 * hidden + part * hidden + h * d + e] as f64
        };
        let mut out = vec![0f64; (end - start) * hidden];
        for h in 0..shape.heads {
            for i in start..end {
                let scores: Vec<f64> = (start..end)
                    .map(|j| (0..d).map(|e| at(i, 0, h, e) * at(j, 1, h, e)).sum::<f64>() / (d as f64).sqrt())
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for e in 0..d {
                    let v: f64 = (start..end).zip(&weights).map(|(j, w)| w / total * at(j, 2, h, e)).sum();
                    out[(i - start) * hidden + h * d + e] = v;
                }
            }
        }
        out
    }

    #[test]
    fn matches_textbook_attention_per_text() {
        let shape = Heads { heads: 3, head_dim: 8 };
        let offsets = [0, 5, 6, 19];
        let tokens = 19;
        let mut rng = crate::training::rng::SplitMix64::new(7);
        let qkv: Vec<f32> = (0..tokens * 3 * shape.hidden()).map(|_| rng.next_f32() * 4.0 - 2.0).collect();
        let got = ragged_attention(&qkv, &offsets, shape);
        for text in 0..3 {
            let (start, end) = (offsets[text], offsets[text + 1]);
            let want = reference(&qkv, start, end, shape);
            let got = &got[start * shape.hidden()..end * shape.hidden()];
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-5, "text {text}: {g} vs {w}");
            }
        }
    }
}
