//! Topics: a configurable taxonomy (TOML) of customer-success topics, each with a
//! description and example phrases. A segment's score for a topic is the cosine
//! similarity of its embedding to the topic's prototypes (the description and examples,
//! embedded by the same encoder): the mean of the best [`TOP_K`] matches, so one lucky
//! example does not decide alone. Topics at or above their threshold are returned.

use std::path::Path;

use candle_core::Tensor;
use serde::Deserialize;
use undertone_core::TopicScore;

use crate::{ModelError, Result, files};

/// Prototype matches averaged into a topic's score.
const TOP_K: usize = 2;
/// Threshold for topics whose taxonomy entry sets none.
pub const DEFAULT_THRESHOLD: f32 = 0.45;

#[derive(Debug, Clone, Deserialize)]
pub struct Topic {
    pub id: String,
    pub label: String,
    pub description: String,
    #[serde(default)]
    pub examples: Vec<String>,
    /// Minimum score to assign the topic; defaults to [`DEFAULT_THRESHOLD`].
    pub threshold: Option<f32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Taxonomy {
    #[serde(rename = "topic")]
    pub topics: Vec<Topic>,
}

impl Taxonomy {
    pub fn load(path: &Path) -> Result<Self> {
        let text = String::from_utf8(files::read(path)?)
            .map_err(|e| ModelError::Invalid { path: path.to_owned(), reason: e.to_string() })?;
        Self::parse(&text).map_err(|reason| ModelError::Invalid { path: path.to_owned(), reason })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let taxonomy: Taxonomy = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashSet::new();
        for topic in &taxonomy.topics {
            if topic.id.trim().is_empty() || !seen.insert(topic.id.as_str()) {
                return Err(format!("topic id {:?} is empty or repeated", topic.id));
            }
        }
        Ok(taxonomy)
    }

    pub fn label_of(&self, id: &str) -> Option<&str> {
        self.topics.iter().find(|t| t.id == id).map(|t| t.label.as_str())
    }

    /// Every prototype text with the index of its topic.
    pub(crate) fn prototypes(&self) -> Vec<(usize, String)> {
        self.topics
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                std::iter::once((i, t.description.clone()))
                    .chain(t.examples.iter().map(move |e| (i, e.clone())))
            })
            .collect()
    }
}

/// Scores embeddings against the taxonomy's embedded prototypes.
pub struct TopicScorer {
    taxonomy: Taxonomy,
    /// `[prototypes, dim]`, L2-normalised.
    prototypes: Tensor,
    owner: Vec<usize>,
}

impl TopicScorer {
    /// `prototype_embeddings` are the embeddings of [`Taxonomy::prototypes`], in order.
    pub(crate) fn new(taxonomy: Taxonomy, owner: Vec<usize>, prototype_embeddings: Tensor) -> Self {
        Self { taxonomy, prototypes: prototype_embeddings, owner }
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// Every topic's score for each row of `embeddings` (`[batch, dim]`, normalised), in
    /// taxonomy order.
    pub fn all_scores(&self, embeddings: &Tensor) -> Result<Vec<Vec<f32>>> {
        let sims: Vec<Vec<f32>> = embeddings.matmul(&self.prototypes.t()?)?.to_vec2()?;
        Ok(sims.iter().map(|row| self.topic_scores(row)).collect())
    }

    fn topic_scores(&self, sims: &[f32]) -> Vec<f32> {
        let mut per_topic: Vec<Vec<f32>> = vec![Vec::new(); self.taxonomy.topics.len()];
        for (sim, &topic) in sims.iter().zip(&self.owner) {
            per_topic[topic].push(*sim);
        }
        per_topic
            .into_iter()
            .map(|mut s| {
                s.sort_by(|a, b| b.total_cmp(a));
                let k = s.len().clamp(1, TOP_K);
                (s.iter().take(k).sum::<f32>() / k as f32).clamp(0.0, 1.0)
            })
            .collect()
    }

    /// Topics at or above their threshold, best first.
    pub fn assign(&self, scores: &[f32]) -> Vec<TopicScore> {
        let mut picked: Vec<_> = self
            .taxonomy
            .topics
            .iter()
            .zip(scores)
            .filter(|(t, s)| **s >= t.threshold.unwrap_or(DEFAULT_THRESHOLD))
            .map(|(t, s)| TopicScore { topic: t.id.clone(), score: *s })
            .collect();
        picked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.topic.cmp(&b.topic)));
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_repeated_ids() {
        let ok = "[[topic]]\nid='a'\nlabel='A'\ndescription='d'\nexamples=['x']\n";
        assert_eq!(Taxonomy::parse(ok).unwrap().topics.len(), 1);
        let twice = format!("{ok}{ok}");
        assert!(Taxonomy::parse(&twice).unwrap_err().contains("repeated"));
    }
}
