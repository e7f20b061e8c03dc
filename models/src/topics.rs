//! Topics: a configurable taxonomy (TOML) of customer-success topics, each with a
//! description and example phrases. A segment's score for a topic is the cosine
//! similarity of its embedding to the topic's prototypes (the description and examples,
//! embedded by the same encoder): the mean of the best `top_k` matches, so one lucky
//! example does not decide alone. A topic is assigned when its score reaches the topic's
//! threshold, lies within `margin` of the segment's best topic score and ranks among the
//! segment's best `max_topics`.
//!
//! The scoring parameters and the per-topic thresholds are tuned on the dev set by
//! `undertone train topics`, which writes `thresholds.toml` beside the taxonomy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use undertone_core::TopicScore;

use crate::{ModelError, Result, files};

/// Threshold for topics that neither the taxonomy nor the tuned file sets.
pub const DEFAULT_THRESHOLD: f32 = 0.45;
/// The tuned scoring file, read from the taxonomy's folder.
pub const TUNING_FILE: &str = "thresholds.toml";

#[derive(Debug, Clone, Deserialize)]
pub struct Topic {
    pub id: String,
    pub label: String,
    pub description: String,
    #[serde(default)]
    pub examples: Vec<String>,
    /// Minimum score to assign the topic; overrides the tuned threshold when set.
    pub threshold: Option<f32>,
}

/// How prototype similarities become assigned topics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// Best prototype matches averaged into a topic's score.
    pub top_k: usize,
    /// A topic is assigned only within this much of the segment's best topic score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f32>,
    /// Most topics one segment gets (ranked by score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_topics: Option<usize>,
    /// Threshold for topics without one of their own.
    pub default_threshold: f32,
}

impl Default for Scoring {
    fn default() -> Self {
        Self { top_k: 2, margin: None, max_topics: None, default_threshold: DEFAULT_THRESHOLD }
    }
}

/// The tuned part of the taxonomy: scoring parameters and a threshold per topic id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    pub scoring: Scoring,
    #[serde(default)]
    pub thresholds: BTreeMap<String, f32>,
}

impl Tuning {
    pub fn parse(text: &str) -> Result<Self, String> {
        let tuning: Tuning = toml::from_str(text).map_err(|e| e.to_string())?;
        if tuning.scoring.top_k == 0 || tuning.scoring.max_topics == Some(0) {
            return Err("top_k and max_topics must be at least 1".into());
        }
        Ok(tuning)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("tuning serialises")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Taxonomy {
    #[serde(rename = "topic")]
    pub topics: Vec<Topic>,
    /// From [`TUNING_FILE`] beside the taxonomy; defaults when there is none.
    #[serde(skip)]
    pub tuning: Tuning,
}

/// The tuned scoring file that belongs to the taxonomy at `taxonomy`.
pub fn tuning_path(taxonomy: &Path) -> PathBuf {
    taxonomy.with_file_name(TUNING_FILE)
}

/// The tuned scoring of the shipped taxonomy.
pub fn default_tuning_path() -> PathBuf {
    tuning_path(&files::default_taxonomy())
}

fn invalid(path: &Path) -> impl Fn(String) -> ModelError + '_ {
    move |reason| ModelError::Invalid { path: path.to_owned(), reason }
}

fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(files::read(path)?).map_err(|e| invalid(path)(e.to_string()))
}

impl Taxonomy {
    /// Loads the taxonomy and, when present, the tuned [`TUNING_FILE`] beside it.
    pub fn load(path: &Path) -> Result<Self> {
        let mut taxonomy = Self::parse(&read_text(path)?).map_err(invalid(path))?;
        let tuned = tuning_path(path);
        if tuned.is_file() {
            let tuning = Tuning::parse(&read_text(&tuned)?).map_err(invalid(&tuned))?;
            taxonomy.set_tuning(tuning).map_err(invalid(&tuned))?;
        }
        Ok(taxonomy)
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

    /// Applies tuned scoring; every tuned threshold must name a topic of the taxonomy.
    pub fn set_tuning(&mut self, tuning: Tuning) -> Result<(), String> {
        if let Some(unknown) = tuning.thresholds.keys().find(|id| self.index_of(id).is_none()) {
            return Err(format!("threshold for unknown topic {unknown:?}"));
        }
        self.tuning = tuning;
        Ok(())
    }

    pub fn label_of(&self, id: &str) -> Option<&str> {
        self.topics.iter().find(|t| t.id == id).map(|t| t.label.as_str())
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.topics.iter().position(|t| t.id == id)
    }

    /// Each topic's threshold, in taxonomy order: its own, else the tuned one, else the
    /// tuned default.
    pub fn thresholds(&self) -> Vec<f32> {
        self.topics
            .iter()
            .map(|t| {
                t.threshold
                    .or_else(|| self.tuning.thresholds.get(&t.id).copied())
                    .unwrap_or(self.tuning.scoring.default_threshold)
            })
            .collect()
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

/// Each topic's score from one segment's prototype similarities: the mean of its best
/// `top_k`, clamped to [0, 1]. `owner[p]` is the topic of prototype `p`.
pub fn topic_scores(sims: &[f32], owner: &[usize], topics: usize, top_k: usize) -> Vec<f32> {
    let mut per_topic: Vec<Vec<f32>> = vec![Vec::new(); topics];
    for (sim, &topic) in sims.iter().zip(owner) {
        per_topic[topic].push(*sim);
    }
    per_topic
        .into_iter()
        .map(|mut s| {
            s.sort_by(|a, b| b.total_cmp(a));
            let k = s.len().clamp(1, top_k.max(1));
            (s.iter().take(k).sum::<f32>() / k as f32).clamp(0.0, 1.0)
        })
        .collect()
}

/// Indices of the topics assigned for one segment's `scores`, best first. Each topic's
/// decision depends only on its own threshold, so thresholds can be tuned one at a time.
pub fn select(scores: &[f32], thresholds: &[f32], scoring: &Scoring) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let floor = order.first().map_or(0.0, |&i| scores[i]) - scoring.margin.unwrap_or(f32::INFINITY);
    order
        .into_iter()
        .take(scoring.max_topics.unwrap_or(usize::MAX))
        .filter(|&i| scores[i] >= thresholds[i] && scores[i] >= floor)
        .collect()
}

/// Scores embeddings against the taxonomy's embedded prototypes.
pub struct TopicScorer {
    taxonomy: Taxonomy,
    /// `[prototypes, dim]`, L2-normalised.
    prototypes: Tensor,
    owner: Vec<usize>,
    thresholds: Vec<f32>,
}

impl TopicScorer {
    /// `prototype_embeddings` are the embeddings of [`Taxonomy::prototypes`], in order.
    pub(crate) fn new(taxonomy: Taxonomy, owner: Vec<usize>, prototype_embeddings: Tensor) -> Self {
        let thresholds = taxonomy.thresholds();
        Self { taxonomy, prototypes: prototype_embeddings, owner, thresholds }
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// Every topic's score for each row of `embeddings` (`[batch, dim]`, normalised), in
    /// taxonomy order.
    pub fn all_scores(&self, embeddings: &Tensor) -> Result<Vec<Vec<f32>>> {
        let sims: Vec<Vec<f32>> = embeddings.matmul(&self.prototypes.t()?)?.to_vec2()?;
        let (topics, top_k) = (self.taxonomy.topics.len(), self.taxonomy.tuning.scoring.top_k);
        Ok(sims.iter().map(|row| topic_scores(row, &self.owner, topics, top_k)).collect())
    }

    /// Topics assigned for one segment's scores, best first.
    pub fn assign(&self, scores: &[f32]) -> Vec<TopicScore> {
        select(scores, &self.thresholds, &self.taxonomy.tuning.scoring)
            .into_iter()
            .map(|i| TopicScore { topic: self.taxonomy.topics[i].id.clone(), score: scores[i] })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoder, EncoderFiles, TextTokenizer, default_model_dir, default_taxonomy, embed_texts};

    const ONE: &str = "[[topic]]\nid='a'\nlabel='A'\ndescription='d'\nexamples=['x']\n";
    const TWO: &str = "[[topic]]\nid='b'\nlabel='B'\ndescription='e'\nthreshold=0.7\n";

    #[test]
    fn parses_and_rejects_repeated_ids() {
        assert_eq!(Taxonomy::parse(ONE).unwrap().topics.len(), 1);
        let twice = format!("{ONE}{ONE}");
        assert!(Taxonomy::parse(&twice).unwrap_err().contains("repeated"));
    }

    #[test]
    fn thresholds_come_from_the_topic_then_the_tuned_file_then_the_default() {
        let mut taxonomy = Taxonomy::parse(&format!("{ONE}{TWO}")).unwrap();
        assert_eq!(taxonomy.thresholds(), [DEFAULT_THRESHOLD, 0.7]);
        let tuned =
            "[scoring]\ntop_k = 3\nmargin = 0.1\ndefault_threshold = 0.5\n\n[thresholds]\na = 0.4\nb = 0.3\n";
        let tuning = Tuning::parse(tuned).unwrap();
        assert_eq!(tuning.scoring.top_k, 3);
        assert_eq!(tuning.scoring.max_topics, None);
        assert_eq!(Tuning::parse(&tuning.to_toml()).unwrap(), tuning);
        taxonomy.set_tuning(tuning).unwrap();
        assert_eq!(taxonomy.thresholds(), [0.4, 0.7]);
        let unknown =
            Tuning::parse("[scoring]\ntop_k = 1\ndefault_threshold = 0.5\n[thresholds]\nzz = 0.4\n");
        assert!(taxonomy.set_tuning(unknown.unwrap()).unwrap_err().contains("zz"));
        assert!(Tuning::parse("[scoring]\ntop_k = 0\ndefault_threshold = 0.5\n").is_err());
    }

    #[test]
    fn the_shipped_tuning_loads_with_the_shipped_taxonomy() {
        let taxonomy = Taxonomy::load(&default_taxonomy()).unwrap();
        if tuning_path(&default_taxonomy()).is_file() {
            assert_eq!(taxonomy.tuning.thresholds.len(), taxonomy.topics.len());
        }
        assert!(taxonomy.thresholds().iter().all(|t| (0.0..=1.0).contains(t)));
    }

    #[test]
    fn the_shipped_taxonomy_has_the_required_topics() {
        let taxonomy = Taxonomy::load(&default_taxonomy()).unwrap();
        let required = [
            "billing",
            "pricing",
            "reliability",
            "performance",
            "login_sso",
            "integrations",
            "data_export",
            "onboarding",
            "support_responsiveness",
            "feature_request",
            "churn_intent",
            "competitor",
            "security_compliance",
            "stakeholder_change",
            "praise",
        ];
        for id in required {
            let topic = &taxonomy.topics[taxonomy.index_of(id).unwrap_or_else(|| panic!("{id} missing"))];
            assert!(topic.examples.len() >= 10, "{id} has {} examples", topic.examples.len());
        }
    }

    #[test]
    fn selection_applies_threshold_margin_and_cap() {
        let scores = [0.6, 0.55, 0.3, 0.58];
        let thresholds = [0.5, 0.5, 0.2, 0.5];
        let open = Scoring { top_k: 1, margin: None, max_topics: None, default_threshold: 0.5 };
        assert_eq!(select(&scores, &thresholds, &open), [0, 3, 1, 2]);
        let narrow = Scoring { margin: Some(0.04), ..open };
        assert_eq!(select(&scores, &thresholds, &narrow), [0, 3]);
        let capped = Scoring { max_topics: Some(2), ..open };
        assert_eq!(select(&scores, &thresholds, &capped), [0, 3]);
        assert_eq!(topic_scores(&[0.75, 0.25, 0.5, -0.2], &[0, 0, 0, 1], 2, 2), [0.625, 0.0]);
    }

    #[test]
    fn topic_scores_are_deterministic_for_the_same_input() {
        let files =
            EncoderFiles::locate(&default_model_dir()).expect("weights fetched by scripts/fetch-models");
        let tokenizer = TextTokenizer::load(&files.tokenizer).unwrap();
        let encoder = Encoder::load(&files, crate::Precision::Auto).unwrap();
        let taxonomy = Taxonomy::load(&default_taxonomy()).unwrap();
        let (owner, texts): (Vec<usize>, Vec<String>) = taxonomy.prototypes().into_iter().unzip();
        let scorer = TopicScorer::new(taxonomy, owner, embed_texts(&tokenizer, &encoder, &texts).unwrap());
        let segments = [
            "We were billed twice for March, please refund one of the charges.".to_owned(),
            "Okta sign-in has been failing for the whole sales team since Monday.".to_owned(),
        ];
        let once = scorer.all_scores(&embed_texts(&tokenizer, &encoder, &segments).unwrap()).unwrap();
        let again = scorer.all_scores(&embed_texts(&tokenizer, &encoder, &segments).unwrap()).unwrap();
        assert_eq!(once, again);
        let assigned: Vec<_> = once.iter().map(|s| scorer.assign(s)).collect();
        assert_eq!(assigned[0].first().map(|t| t.topic.as_str()), Some("billing"));
        assert_eq!(assigned[1].first().map(|t| t.topic.as_str()), Some("login_sso"));
    }
}
