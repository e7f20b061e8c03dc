//! The analyzer: one encoder pass per text feeds the embedding, the sentiment head and
//! the topic scores. Texts run as ragged batches (no padding), split by a token budget.
//! A text's results do not depend on which other texts share its batch: every row of
//! the pass is computed on its own, in the same order.

use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::Tensor;
use undertone_core::{Sentiment, SignalScore, TopicScore};

use crate::kernels::Precision;
use crate::pooling::ragged_sentence_embedding;
use crate::ragged::RaggedBatch;
use crate::signals::{SIGNAL_FLOOR, SignalHead};
use crate::tokenize::Encoded;
use crate::{Encoder, ModelError};
use crate::{EncoderFiles, Result, SentimentHead, Taxonomy, TextTokenizer, TopicScorer};

/// Tokens per forward pass when a caller hands over many texts at once.
pub(crate) const DEFAULT_BATCH_TOKENS: usize = 4096;
/// Texts per forward pass, likewise.
pub(crate) const DEFAULT_BATCH_TEXTS: usize = 64;

/// Where the analyzer's parts are, and how it computes.
#[derive(Debug, Clone)]
pub struct AnalyzerOptions<'a> {
    /// The cache folder that `scripts/fetch-models` fills.
    pub model_dir: &'a Path,
    /// The sentiment head's folder (`head.safetensors` + `model.json`).
    pub sentiment_dir: &'a Path,
    /// The topic taxonomy TOML.
    pub taxonomy: &'a Path,
    /// The risk-signal head's folder; `None` analyzes without signals (as training does).
    pub signals_dir: Option<&'a Path>,
    /// Arithmetic of the inference pass.
    pub precision: Precision,
}

/// Everything the models say about one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// L2-normalised sentence embedding.
    pub embedding: Vec<f32>,
    pub sentiment: Sentiment,
    /// Topics at or above their threshold, best first.
    pub topics: Vec<TopicScore>,
    /// Risk categories at or above [`SIGNAL_FLOOR`], most probable first.
    pub signals: Vec<SignalScore>,
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
    signals: Option<SignalHead>,
}

/// The pooled outputs of one pass that the heads read, one row per text.
pub struct PooledFeatures {
    /// The L2-normalised sentence embedding.
    pub embedding: Tensor,
    /// The sentiment branch's pooled output (the embedding when it has no branch).
    pub branch: Tensor,
    /// Signal probabilities of a head with its own branch (it reads a hidden state).
    pub signals: Option<Vec<Vec<f32>>>,
}

impl Analyzer {
    pub fn load(options: &AnalyzerOptions<'_>) -> Result<Self> {
        let files = EncoderFiles::locate(options.model_dir)?;
        let tokenizer = TextTokenizer::load(&files.tokenizer)?;
        let encoder = Encoder::load(&files, options.precision)?;
        let sentiment = SentimentHead::load(options.sentiment_dir, encoder.config(), encoder.precision())?;
        let taxonomy = Taxonomy::load(options.taxonomy)?;
        let (owner, texts): (Vec<usize>, Vec<String>) = taxonomy.prototypes().into_iter().unzip();
        let prototypes = embed_texts(&tokenizer, &encoder, &texts)?;
        let topics = TopicScorer::new(taxonomy, owner, prototypes);
        let signals = options
            .signals_dir
            .map(|dir| SignalHead::load(dir, encoder.config(), encoder.precision()))
            .transpose()?;
        if let Some(from) = signals.as_ref().and_then(SignalHead::branch_from)
            && from < sentiment.branch_from()
        {
            return Err(ModelError::Input(format!(
                "the signal branch starts at layer {from}, below the shared layers' end ({})",
                sentiment.branch_from()
            )));
        }
        Ok(Self { tokenizer, encoder, sentiment, topics, signals })
    }

    pub fn sentiment_head(&self) -> &SentimentHead {
        &self.sentiment
    }

    pub fn signal_head(&self) -> Option<&SignalHead> {
        self.signals.as_ref()
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        self.topics.taxonomy()
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
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

    /// Analyzes already tokenized texts, results in input order, in batches of at most
    /// [`DEFAULT_BATCH_TOKENS`] tokens.
    pub fn analyze_encoded(&self, encoded: &[Encoded]) -> Result<Vec<Analysis>> {
        let mut results = Vec::with_capacity(encoded.len());
        for batch in token_budget_batches(encoded, DEFAULT_BATCH_TOKENS, DEFAULT_BATCH_TEXTS) {
            let members: Vec<&Encoded> = encoded[batch].iter().collect();
            results.extend(self.run_batch(&members)?);
        }
        Ok(results)
    }

    /// Sentence embeddings only (for search queries), in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.analyze(texts)?.0.into_iter().map(|a| a.embedding).collect())
    }

    /// The pooled outputs the heads read, for `texts` (training and evaluation of heads).
    pub fn pooled_features(&self, texts: &[&str]) -> Result<PooledFeatures> {
        let encoded = texts.iter().map(|t| self.tokenizer.encode(t)).collect::<Result<Vec<_>>>()?;
        let (mut embeddings, mut branches, mut signals) = (Vec::new(), Vec::new(), Vec::new());
        for batch in token_budget_batches(&encoded, DEFAULT_BATCH_TOKENS, DEFAULT_BATCH_TEXTS) {
            let members: Vec<&Encoded> = encoded[batch].iter().collect();
            let (pooled, _) = self.pool(&members)?;
            embeddings.push(pooled.embedding);
            branches.push(pooled.branch);
            signals.extend(pooled.signals.into_iter().flatten());
        }
        if embeddings.is_empty() {
            return Err(ModelError::Input("no texts to analyze".into()));
        }
        Ok(PooledFeatures {
            embedding: Tensor::cat(&embeddings, 0)?,
            branch: Tensor::cat(&branches, 0)?,
            signals: (signals.len() == texts.len()).then_some(signals),
        })
    }

    /// The shared layers once, then the embedding's top layers and the sentiment branch
    /// from the shared state: the pooled outputs of `members` and the ragged batch.
    fn pool(&self, members: &[&Encoded]) -> Result<(PooledFeatures, RaggedBatch)> {
        let batch = RaggedBatch::new(members, self.encoder.device())?;
        let split = self.sentiment.branch_from();
        let layers = self.encoder.num_layers();
        let shared = self.encoder.run_ragged(&self.encoder.embed_ragged(&batch)?, &batch, 0..split)?;
        // A signal head with its own branch forks off the embedding's path at its layer.
        let fork =
            self.signals.as_ref().and_then(SignalHead::branch_from).filter(|&f| f >= split && f < layers);
        let (last, signals) = match fork {
            Some(from) => {
                let mid = self.encoder.run_ragged(&shared, &batch, split..from)?;
                let signals =
                    self.signals.as_ref().map(|h| h.probabilities_from_hidden(&mid, &batch)).transpose()?;
                (self.encoder.run_ragged(&mid, &batch, from..layers)?, signals)
            }
            None => (self.encoder.run_ragged(&shared, &batch, split..layers)?, None),
        };
        let embedding = ragged_sentence_embedding(&last, &batch)?;
        let branch = self.sentiment.features(&shared, &embedding, &batch)?;
        Ok((PooledFeatures { embedding, branch, signals }, batch))
    }

    /// One forward pass over `members` as a ragged batch; every head reads its pooled
    /// outputs.
    pub fn run_batch(&self, members: &[&Encoded]) -> Result<Vec<Analysis>> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let (pooled, _) = self.pool(members)?;
        let probabilities: Vec<Vec<f32>> =
            self.sentiment.probabilities_from_features(&pooled.branch)?.to_vec2()?;
        let topic_scores = self.topics.all_scores(&pooled.embedding)?;
        let signals = match (&self.signals, pooled.signals) {
            (_, Some(probabilities)) => probabilities,
            (Some(head), None) => head.probabilities(&pooled.embedding, &pooled.branch)?,
            (None, None) => vec![Vec::new(); members.len()],
        };
        let embeddings: Vec<Vec<f32>> = pooled.embedding.to_vec2()?;
        Ok(members
            .iter()
            .zip(embeddings)
            .zip(probabilities)
            .zip(topic_scores)
            .zip(signals)
            .map(|((((encoded, embedding), probs), scores), signals)| Analysis {
                embedding,
                sentiment: Sentiment::from_probabilities([probs[0], probs[1], probs[2]]),
                topics: self.topics.assign(&scores),
                signals: self.signal_scores(&signals),
                token_count: encoded.ids.len() as u32,
                truncated: encoded.truncated,
            })
            .collect())
    }

    /// A text's signals at or above the floor, most probable first.
    fn signal_scores(&self, probabilities: &[f32]) -> Vec<SignalScore> {
        let Some(head) = &self.signals else { return Vec::new() };
        let mut scores: Vec<SignalScore> = head
            .labels()
            .iter()
            .zip(probabilities)
            .filter(|(_, p)| **p >= SIGNAL_FLOOR)
            .map(|(category, &probability)| SignalScore { category: category.clone(), probability })
            .collect();
        scores.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        scores
    }
}

/// Whether a forward pass of `texts` texts and `tokens` tokens must close before a text
/// of `next` tokens: past either budget, but never empty (a longer text runs alone). The
/// one rule for every way passes are formed (here and in the batching queue).
pub(crate) fn pass_is_full(
    texts: usize,
    tokens: usize,
    next: usize,
    max_tokens: usize,
    max_texts: usize,
) -> bool {
    texts > 0 && (tokens + next > max_tokens || texts == max_texts)
}

/// Consecutive ranges of `encoded` of at most `max_tokens` tokens and `max_texts` texts
/// (a longer text alone forms its own batch).
pub(crate) fn token_budget_batches(
    encoded: &[Encoded],
    max_tokens: usize,
    max_texts: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let (mut start, mut tokens) = (0, 0);
    for (i, text) in encoded.iter().enumerate() {
        if pass_is_full(i - start, tokens, text.ids.len(), max_tokens, max_texts) {
            batches.push(start..i);
            (start, tokens) = (i, 0);
        }
        tokens += text.ids.len();
    }
    if start < encoded.len() {
        batches.push(start..encoded.len());
    }
    batches
}

/// Indices of `encoded` grouped into padded batches of similar length within a padded
/// token budget (batch size x longest text): the padded training pass's batching.
pub(crate) fn length_sorted_batches(encoded: &[Encoded]) -> Vec<Vec<usize>> {
    const PADDED_BUDGET: usize = 4096;
    const MAX_BATCH: usize = 32;
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| (encoded[i].ids.len(), i));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted ascending, so this text is the longest of the batch so far.
        let padded = (current.len() + 1) * encoded[i].ids.len();
        if !current.is_empty() && (current.len() == MAX_BATCH || padded > PADDED_BUDGET) {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Sentence embeddings `[texts, dim]` straight from the encoder (no heads), by the same
/// ragged pass as [`Analyzer`].
pub fn embed_texts(tokenizer: &TextTokenizer, encoder: &Encoder, texts: &[String]) -> Result<Tensor> {
    let encoded = texts.iter().map(|t| tokenizer.encode(t)).collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(texts.len());
    for batch in token_budget_batches(&encoded, DEFAULT_BATCH_TOKENS, DEFAULT_BATCH_TEXTS) {
        let members: Vec<&Encoded> = encoded[batch].iter().collect();
        let ragged = RaggedBatch::new(&members, encoder.device())?;
        rows.push(ragged_sentence_embedding(&encoder.forward_ragged(&ragged)?, &ragged)?);
    }
    if rows.is_empty() {
        return Err(ModelError::Input("no texts to embed".into()));
    }
    Ok(Tensor::cat(&rows, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(len: usize) -> Encoded {
        Encoded { ids: vec![1; len], truncated: false }
    }

    #[test]
    fn padded_batches_group_similar_lengths_within_the_budget() {
        let lengths = [10, 200, 12, 11, 250, 9].into_iter().chain(std::iter::repeat_n(256, 20));
        let texts: Vec<Encoded> = lengths.map(encoded).collect();
        let batches = length_sorted_batches(&texts);
        assert_eq!(batches.concat().len(), texts.len());
        for batch in &batches {
            let longest = batch.iter().map(|&i| texts[i].ids.len()).max().unwrap();
            assert!(batch.len() * longest <= 4096 || batch.len() == 1);
        }
        assert_eq!(batches[0][..4], [5, 0, 3, 2]);
        assert!(batches.len() >= 2);
    }

    #[test]
    fn token_budget_batches_cover_every_text_in_order() {
        let texts: Vec<Encoded> = [100, 100, 300, 50, 500, 10, 10, 10].into_iter().map(encoded).collect();
        let batches = token_budget_batches(&texts, 400, 3);
        assert_eq!(batches, vec![0..2, 2..4, 4..5, 5..8]);
        assert!(token_budget_batches(&[], 400, 3).is_empty());
    }
}
