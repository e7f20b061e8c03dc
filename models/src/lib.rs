//! Undertone's models: the tokenizer and candle BERT encoder (all-MiniLM-L6-v2), mean
//! pooling, and the heads that read the encoder's output (sentiment, topics).
//!
//! One encoder pass per text feeds everything: [`Analyzer::analyze`] returns the
//! embedding, the sentiment and the topic scores of a batch together.

mod analyzer;
pub mod baseline;
mod batcher;
mod bert;
mod error;
mod files;
mod kernels;
mod pooling;
mod ragged;
mod sentiment;
mod signals;
mod tokenize;
mod topics;
pub mod training;

pub use analyzer::{Analysis, Analyzer, AnalyzerOptions, BatchTiming, PooledFeatures, embed_texts};
pub use batcher::{Batcher, BatcherConfig, BatcherStats, Pending, QueueError, Timing};
pub use bert::EncoderInputs;
pub use bert::{BertConfig, Encoder};
pub use error::ModelError;
pub use files::{
    EncoderFiles, FETCH_SCRIPT, default_model_dir, default_sentiment_dir, default_signals_dir,
    default_taxonomy,
};
pub use kernels::Precision;
pub use pooling::{ragged_sentence_embedding, sentence_embedding};
pub use ragged::RaggedBatch;
pub use sentiment::SentimentHead;
pub use sentiment::{HeadCard, LABELS};
pub use signals::{
    Platt, SIGNAL_FLOOR, SIGNAL_LABELS, SignalCard, SignalFeatures, SignalHead, calibrate, sigmoid,
};
pub use tokenize::{Encoded, MAX_TOKENS, TextTokenizer, TokenBatch};
pub use topics::{Scoring, Taxonomy, Topic, TopicScorer, Tuning, default_tuning_path, tuning_path};

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Width of the sentence embedding.
pub const EMBEDDING_DIM: usize = 384;
