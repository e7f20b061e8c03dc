//! Insights: what CSMs and CS Ops read. Pure functions over stored segments, so every
//! number can be traced to the segments it came from.

mod category;
mod risk;

pub use category::RiskCategory;
pub use risk::{Reason, RiskConfig, RiskLevel, RiskReport, Trend, assess_risk};
