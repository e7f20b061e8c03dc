//! The team's labelled topic set (`models/data/cs-topics/{dev,test}.jsonl`) and the
//! multi-label metrics it is scored with: micro- and macro-F1 and per-topic precision
//! and recall.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::training::corpus::Split;
use crate::{ModelError, Result, Taxonomy, files};

/// One labelled segment: its text and the indices (in taxonomy order) of its topics.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicExample {
    pub text: String,
    pub topics: Vec<usize>,
}

#[derive(Deserialize)]
struct TopicLine {
    text: String,
    topics: Vec<String>,
}

/// The team's customer-success topic set.
pub fn cs_topics_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cs-topics")
}

/// One split of the topic set; every topic id must be in `taxonomy`.
pub fn load_topic_split(taxonomy: &Taxonomy, split: Split) -> Result<Vec<TopicExample>> {
    let path = cs_topics_dir().join(format!("{}.jsonl", split.as_str()));
    let text = String::from_utf8_lossy(&files::read(&path)?).into_owned();
    let invalid = |n: usize, reason: String| ModelError::Invalid {
        path: path.clone(),
        reason: format!("line {}: {reason}", n + 1),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let parsed: TopicLine = serde_json::from_str(line).map_err(|e| invalid(n, e.to_string()))?;
            let topics = parsed
                .topics
                .iter()
                .map(|id| taxonomy.index_of(id).ok_or_else(|| invalid(n, format!("unknown topic {id:?}"))))
                .collect::<Result<Vec<_>>>()?;
            Ok(TopicExample { text: parsed.text, topics })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopicClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Segments labelled with the topic.
    pub support: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopicReport {
    pub n: usize,
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    /// Mean F1 over the taxonomy's topics.
    pub macro_f1: f64,
    /// By topic id.
    pub per_topic: BTreeMap<String, TopicClassMetrics>,
}

/// True positives, false positives and false negatives.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl Counts {
    /// Counts one segment's decision for one topic.
    pub fn record(&mut self, gold: bool, predicted: bool) {
        match (gold, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => {}
        }
    }

    pub fn f1(&self) -> f64 {
        ratio(2.0 * self.tp as f64, (2 * self.tp + self.fp + self.fn_) as f64)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp as f64, (self.tp + self.fp) as f64)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp as f64, (self.tp + self.fn_) as f64)
    }

    pub fn add(&mut self, other: Counts) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }
}

/// `a / b`, and 0 for an empty denominator.
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

/// Counts per topic of predicted against gold topic indices.
pub fn topic_counts(topics: usize, gold: &[Vec<usize>], predicted: &[Vec<usize>]) -> Vec<Counts> {
    let mut counts = vec![Counts::default(); topics];
    for (g, p) in gold.iter().zip(predicted) {
        for (t, c) in counts.iter_mut().enumerate() {
            c.record(g.contains(&t), p.contains(&t));
        }
    }
    counts
}

/// Micro-F1 over all topics' counts.
pub fn micro_f1(counts: &[Counts]) -> f64 {
    let mut total = Counts::default();
    counts.iter().for_each(|c| total.add(*c));
    total.f1()
}

pub fn topic_report(taxonomy: &Taxonomy, gold: &[Vec<usize>], predicted: &[Vec<usize>]) -> TopicReport {
    let counts = topic_counts(taxonomy.topics.len(), gold, predicted);
    let mut total = Counts::default();
    counts.iter().for_each(|c| total.add(*c));
    let per_topic: BTreeMap<String, TopicClassMetrics> = taxonomy
        .topics
        .iter()
        .zip(&counts)
        .map(|(topic, c)| {
            let metrics = TopicClassMetrics {
                precision: c.precision(),
                recall: c.recall(),
                f1: c.f1(),
                support: c.tp + c.fn_,
            };
            (topic.id.clone(), metrics)
        })
        .collect();
    let macro_f1 = counts.iter().map(Counts::f1).sum::<f64>() / counts.len().max(1) as f64;
    TopicReport {
        n: gold.len().min(predicted.len()),
        micro_precision: total.precision(),
        micro_recall: total.recall(),
        micro_f1: total.f1(),
        macro_f1,
        per_topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_taxonomy;

    #[test]
    fn micro_and_macro_f1_count_every_label() {
        let taxonomy = Taxonomy::parse(
            "[[topic]]\nid='a'\nlabel='A'\ndescription='d'\n[[topic]]\nid='b'\nlabel='B'\ndescription='e'\n",
        )
        .unwrap();
        let gold = [vec![0], vec![0, 1], vec![]];
        let predicted = [vec![0], vec![0], vec![1]];
        let r = topic_report(&taxonomy, &gold, &predicted);
        // a: tp 2; b: fp 1, fn 1.
        assert!((r.micro_f1 - 4.0 / 6.0).abs() < 1e-9);
        assert!((r.macro_f1 - 0.5).abs() < 1e-9);
        assert_eq!(r.per_topic["b"].support, 1);
        assert_eq!(r.per_topic["a"].precision, 1.0);
    }

    /// Lower-cased words of a text, for comparing texts regardless of case and punctuation.
    fn words(text: &str) -> std::collections::BTreeSet<String> {
        text.split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    #[test]
    fn evaluation_segments_are_held_apart_from_the_prototypes() {
        let taxonomy = Taxonomy::load(&default_taxonomy()).unwrap();
        let prototypes: Vec<_> = taxonomy.prototypes().into_iter().map(|(_, text)| words(&text)).collect();
        for split in [Split::Dev, Split::Test] {
            let examples = load_topic_split(&taxonomy, split).unwrap();
            assert!(!examples.is_empty());
            for example in &examples {
                let segment = words(&example.text);
                for prototype in &prototypes {
                    // Same words, or nearly: a copy or a light rewording of a prototype.
                    let shared = segment.intersection(prototype).count() as f64;
                    let jaccard = shared / segment.union(prototype).count() as f64;
                    assert!(
                        jaccard < 0.6,
                        "{:?} ({}) is too close to a prototype",
                        example.text,
                        split.as_str()
                    );
                }
            }
        }
    }

    #[test]
    fn topic_splits_do_not_overlap() {
        let taxonomy = Taxonomy::load(&default_taxonomy()).unwrap();
        let dev = load_topic_split(&taxonomy, Split::Dev).unwrap();
        let test = load_topic_split(&taxonomy, Split::Test).unwrap();
        assert!(test.len() >= 200, "{}", test.len());
        let dev_words: Vec<_> = dev.iter().map(|e| words(&e.text)).collect();
        assert!(test.iter().all(|e| !dev_words.contains(&words(&e.text))));
    }
}
