//! Training and evaluation support: labelled corpora with fixed splits, metrics, and the
//! trainer of the sentiment model (a fine-tuned branch of the encoder's top layers).

pub mod corpus;
pub mod evaluate;
pub mod finetune;
pub mod metrics;
pub mod rng;
pub mod signal_metrics;
pub mod signals;
pub mod topic_metrics;
pub mod topic_thresholds;
pub mod train;
