//! What the models say about a segment.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
}

impl SentimentLabel {
    pub const ALL: [SentimentLabel; 3] = [Self::Negative, Self::Neutral, Self::Positive];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Negative => "negative",
            Self::Neutral => "neutral",
            Self::Positive => "positive",
        }
    }

    /// Position in [`Self::ALL`]: the class index of the model's outputs.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|label| label.as_str() == raw)
    }
}

/// Sentiment of one segment: a label, a score in [-1, 1] (P(positive) - P(negative)) and
/// the model's confidence in its label (the label's probability).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    pub score: f32,
    pub confidence: f32,
}

impl Sentiment {
    /// From class probabilities ordered as [`SentimentLabel::ALL`].
    pub fn from_probabilities(probs: [f32; 3]) -> Self {
        let (best, confidence) = probs
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::MIN), |acc, (i, p)| if p > acc.1 { (i, p) } else { acc });
        Self { label: SentimentLabel::ALL[best], score: (probs[2] - probs[0]).clamp(-1.0, 1.0), confidence }
    }
}

/// One topic's score for a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicScore {
    pub topic: String,
    pub score: f32,
}

/// One risk category a segment is evidence of, with the signal model's calibrated
/// probability (ids as the insights' risk categories: `churn_intent`, `billing`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalScore {
    pub category: String,
    pub probability: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentiment_from_probabilities() {
        let s = Sentiment::from_probabilities([0.7, 0.2, 0.1]);
        assert_eq!(s.label, SentimentLabel::Negative);
        assert!((s.score + 0.6).abs() < 1e-6);
        assert!((s.confidence - 0.7).abs() < 1e-6);
    }

    #[test]
    fn index_is_the_position_in_all() {
        for (i, label) in SentimentLabel::ALL.into_iter().enumerate() {
            assert_eq!(label.index(), i);
        }
    }
}
