//! Tokenization: one text at a time (so a batching queue can group texts of similar
//! length), then padding to the longest text of the batch.
//!
//! The shipped tokenizer.json pads every input to 128 and truncates at 128; we override
//! both: no padding at encode time, and truncation at the encoder's 256-token limit (the
//! limit sentence-transformers uses for this model).

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::{ModelError, Result, files};

/// Longest input the encoder reads, in tokens including [CLS] and [SEP].
pub const MAX_TOKENS: usize = 256;

pub struct TextTokenizer {
    inner: Tokenizer,
}

/// One text's token ids (with [CLS] and [SEP]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// The text was longer than [`MAX_TOKENS`] and its end was not read.
    pub truncated: bool,
}

/// A padded batch, row-major `[batch, len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    pub ids: Vec<u32>,
    pub mask: Vec<u32>,
    pub batch: usize,
    pub len: usize,
}

impl TextTokenizer {
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = files::read(path)?;
        let mut inner = Tokenizer::from_bytes(&bytes)
            .map_err(|e| ModelError::Invalid { path: path.to_owned(), reason: e.to_string() })?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(Self { inner })
    }

    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let encoding = self.inner.encode(text, true).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(Encoded { ids: encoding.get_ids().to_vec(), truncated: !encoding.get_overflowing().is_empty() })
    }
}

impl TokenBatch {
    /// Pads `texts` to the longest of them with the [PAD] id 0.
    pub fn pad(texts: &[&Encoded]) -> Self {
        let len = texts.iter().map(|t| t.ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(texts.len() * len);
        let mut mask = Vec::with_capacity(texts.len() * len);
        for text in texts {
            let pad = len - text.ids.len();
            ids.extend_from_slice(&text.ids);
            ids.extend(std::iter::repeat_n(0, pad));
            mask.extend(std::iter::repeat_n(1, text.ids.len()));
            mask.extend(std::iter::repeat_n(0, pad));
        }
        Self { ids, mask, batch: texts.len(), len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_the_longest_with_a_mask() {
        let a = Encoded { ids: vec![101, 7, 102], truncated: false };
        let b = Encoded { ids: vec![101, 102], truncated: false };
        let batch = TokenBatch::pad(&[&a, &b]);
        assert_eq!((batch.batch, batch.len), (2, 3));
        assert_eq!(batch.ids, vec![101, 7, 102, 101, 102, 0]);
        assert_eq!(batch.mask, vec![1, 1, 1, 1, 1, 0]);
    }
}
