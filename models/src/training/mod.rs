//! Training and evaluation support: labelled corpora with fixed splits, metrics, and the
//! trainer of the sentiment head.

pub mod corpus;
pub mod evaluate;
pub mod metrics;
pub mod topic_metrics;
pub mod topic_thresholds;
pub mod train;
