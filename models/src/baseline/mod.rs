//! Baselines our models are measured against. Nothing here serves predictions.

pub mod vader;

pub use vader::{Vader, VaderScores};
