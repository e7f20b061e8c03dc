//! Training and evaluation support: labelled corpora with fixed splits, metrics, and the
//! trainer of the sentiment head.

pub mod corpus;
pub mod metrics;
pub mod train;
