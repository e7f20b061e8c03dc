//! The analyzer: one encoder pass per text feeds the embedding, the sentiment head and
//! the topic scores. Texts of a call are sorted by length and split into batches by a
//! token budget, so padding stays small.

use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::Tensor;
use undertone_core::{Sentiment, TopicScore};

use crate::tokenize::Encoded;
use crate::{Encoder, ModelError};
use crate::{EncoderFiles, Result, SentimentHead, Taxonomy, TextTokenizer, TokenBatch, TopicScorer, pooling};

/// Padded tokens per batch (batch size x longest text).
const TOKEN_BUDGET: usize = 4096;
/// Texts per batch.
const MAX_BATCH: usize = 32;

/// Where the analyzer's parts are.
#[derive(Debug, Clone)]
pub struct AnalyzerOptions<'a> {
    /// The cache folder that `scripts/fetch-models` fills.
    pub model_dir: &'a Path,
    /// The sentiment head's folder (`head.safetensors` + `model.json`).
    pub sentiment_dir: &'a Path,
    /// The topic taxonomy TOML.
    pub taxonomy: &'a Path,
}

/// Everything the models say about one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// L2-normalised sentence embedding.
    pub embedding: Vec<f32>,
    pub sentiment: Sentiment,
    /// Topics at or above their threshold, best first.
    pub topics: Vec<TopicScore>,
    /// Tokens read, including [CLS] and [SEP].
    pub token_count: u32,
    pub truncated: bool,
}

/// Where the time of one analyze call went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchTiming {
    pub tokenize: Duration,
    pub inference: Duration,
}

pub struct Analyzer {
    tokenizer: TextTokenizer,
    encoder: Encoder,
    sentiment: SentimentHead,
    topics: TopicScorer,
}

impl Analyzer {
    pub fn load(options: &AnalyzerOptions<'_>) -> Result<Self> {
        let files = EncoderFiles::locate(options.model_dir)?;
        let tokenizer = TextTokenizer::load(&files.tokenizer)?;
        let encoder = Encoder::load(&files)?;
        let sentiment = SentimentHead::load(options.sentiment_dir, encoder.config())?;
        let taxonomy = Taxonomy::load(options.taxonomy)?;
        let (owner, texts): (Vec<usize>, Vec<String>) = taxonomy.prototypes().into_iter().unzip();
        let prototypes = embed_texts(&tokenizer, &encoder, &texts)?;
        let topics = TopicScorer::new(taxonomy, owner, prototypes);
        Ok(Self { tokenizer, encoder, sentiment, topics })
    }

    pub fn sentiment_head(&self) -> &SentimentHead {
        &self.sentiment
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        self.topics.taxonomy()
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Analyzes `texts`, results in input order.
    pub fn analyze(&self, texts: &[&str]) -> Result<(Vec<Analysis>, BatchTiming)> {
        let started = Instant::now();
        let encoded = texts.iter().map(|t| self.tokenizer.encode(t)).collect::<Result<Vec<_>>>()?;
        let tokenize = started.elapsed();
        let started = Instant::now();
        let analyses = self.analyze_encoded(&encoded)?;
        Ok((analyses, BatchTiming { tokenize, inference: started.elapsed() }))
    }

    /// Analyzes already tokenized texts, results in input order.
    pub fn analyze_encoded(&self, encoded: &[Encoded]) -> Result<Vec<Analysis>> {
        let mut results: Vec<Option<Analysis>> = vec![None; encoded.len()];
        for batch in length_sorted_batches(encoded) {
            let members: Vec<&Encoded> = batch.iter().map(|&i| &encoded[i]).collect();
            for (i, analysis) in batch.into_iter().zip(self.run_batch(&members)?) {
                results[i] = Some(analysis);
            }
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| ModelError::Input("lost a batch result".into())))
            .collect()
    }

    /// Sentence embeddings only (for search queries), in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.analyze(texts)?.0.into_iter().map(|a| a.embedding).collect())
    }

    fn run_batch(&self, members: &[&Encoded]) -> Result<Vec<Analysis>> {
        let batch = TokenBatch::pad(members);
        let inputs = self.encoder.inputs(&batch)?;
        let split = self.sentiment.branch_from();
        let embedded = self.encoder.embed(&inputs)?;
        let shared = self.encoder.run_layers(&embedded, &inputs, 0..split)?;
        let last = self.encoder.run_layers(&shared, &inputs, split..self.encoder.num_layers())?;
        let embedding = pooling::sentence_embedding(&last, &inputs.mask)?;
        let probabilities: Vec<Vec<f32>> =
            self.sentiment.probabilities(&shared, &embedding, &inputs)?.to_vec2()?;
        let topic_scores = self.topics.all_scores(&embedding)?;
        let embeddings: Vec<Vec<f32>> = embedding.to_vec2()?;
        Ok(members
            .iter()
            .zip(embeddings)
            .zip(probabilities)
            .zip(topic_scores)
            .map(|(((encoded, embedding), probs), scores)| Analysis {
                embedding,
                sentiment: Sentiment::from_probabilities([probs[0], probs[1], probs[2]]),
                topics: self.topics.assign(&scores),
                token_count: encoded.ids.len() as u32,
                truncated: encoded.truncated,
            })
            .collect())
    }
}

/// Indices of `encoded` grouped into batches of similar length within the token budget.
pub(crate) fn length_sorted_batches(encoded: &[Encoded]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| (encoded[i].ids.len(), i));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted ascending, so this text is the longest of the batch so far.
        let padded = (current.len() + 1) * encoded[i].ids.len();
        if !current.is_empty() && (current.len() == MAX_BATCH || padded > TOKEN_BUDGET) {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Sentence embeddings `[texts, dim]` straight from the encoder (no heads), batched by length.
pub fn embed_texts(tokenizer: &TextTokenizer, encoder: &Encoder, texts: &[String]) -> Result<Tensor> {
    let encoded = texts.iter().map(|t| tokenizer.encode(t)).collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(texts.len());
    for batch in length_sorted_batches(&encoded) {
        let members: Vec<&Encoded> = batch.iter().map(|&i| &encoded[i]).collect();
        let inputs = encoder.inputs(&TokenBatch::pad(&members))?;
        let embedding = pooling::sentence_embedding(&encoder.forward(&inputs)?, &inputs.mask)?;
        for (row, i) in batch.into_iter().enumerate() {
            rows.push((i, embedding.get(row)?));
        }
    }
    rows.sort_by_key(|(i, _)| *i);
    let rows: Vec<Tensor> = rows.into_iter().map(|(_, t)| t).collect();
    Ok(Tensor::stack(&rows, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(len: usize) -> Encoded {
        Encoded { ids: vec![1; len], truncated: false }
    }

    #[test]
    fn batches_group_similar_lengths_within_the_budget() {
        let lengths = [10, 200, 12, 11, 250, 9].into_iter().chain(std::iter::repeat_n(256, 20));
        let texts: Vec<Encoded> = lengths.map(encoded).collect();
        let batches = length_sorted_batches(&texts);
        assert_eq!(batches.concat().len(), texts.len());
        for batch in &batches {
            let longest = batch.iter().map(|&i| texts[i].ids.len()).max().unwrap();
            assert!(batch.len() * longest <= TOKEN_BUDGET || batch.len() == 1);
        }
        assert_eq!(batches[0][..4], [5, 0, 3, 2]);
        assert!(batches.len() >= 2);
    }
}
