//! Evaluation of the shipped models on the held-apart splits: sentiment (our model and
//! the VADER baseline, computed in the same run, on the VADER-corpus and the
//! customer-success splits) and topics (the customer-success topic set).
//!
//! Reports are keyed by split name (`vader_test`, `cs_test`, `cs_topics_test`; `_dev`
//! for the dev splits) and serialise to the JSON that `undertone eval --json` prints.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use undertone_core::SentimentLabel;

use crate::baseline::Vader;
use crate::training::corpus::{Example, Split, load_cs, load_vader};
use crate::training::metrics::{Prediction, Report, report};
use crate::training::topic_metrics::{TopicReport, load_topic_split, topic_report};
use crate::{Analysis, Analyzer, Result};

/// Texts analysed per call, so memory stays flat on the larger splits.
const CHUNK: usize = 512;

/// One sentiment split: our model and the VADER baseline on the same examples.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SentimentSplitReport {
    pub n: usize,
    pub model: Report,
    /// The VADER lexicon baseline (no confidence, so no calibration error).
    pub vader: Report,
}

impl SentimentSplitReport {
    pub fn new(gold: &[SentimentLabel], model: &[Prediction], vader: &[Prediction]) -> Self {
        Self { n: gold.len(), model: report(gold, model), vader: report(gold, vader) }
    }
}

/// The analyses of `texts`, in order, a chunk at a time.
fn analyze_all(analyzer: &Analyzer, texts: &[&str]) -> Result<Vec<Analysis>> {
    let mut analyses = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(CHUNK) {
        analyses.extend(analyzer.analyze(chunk)?.0);
    }
    Ok(analyses)
}

/// The model's predictions for `texts`, in order.
pub fn model_predictions(analyzer: &Analyzer, texts: &[&str]) -> Result<Vec<Prediction>> {
    let analyses = analyze_all(analyzer, texts)?;
    Ok(analyses
        .iter()
        .map(|a| Prediction { label: a.sentiment.label, confidence: Some(a.sentiment.confidence) })
        .collect())
}

/// The VADER baseline's predictions (label by compound score) for `texts`.
pub fn vader_predictions(vader: &Vader, texts: &[&str]) -> Vec<Prediction> {
    texts.iter().map(|t| Prediction { label: vader.polarity_scores(t).label(), confidence: None }).collect()
}

pub fn evaluate_sentiment_split(
    analyzer: &Analyzer,
    vader: &Vader,
    examples: &[Example],
) -> Result<SentimentSplitReport> {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let gold: Vec<SentimentLabel> = examples.iter().map(|e| e.label).collect();
    let model = model_predictions(analyzer, &texts)?;
    Ok(SentimentSplitReport::new(&gold, &model, &vader_predictions(vader, &texts)))
}

/// Our model and VADER on the VADER-corpus and customer-success splits.
pub fn evaluate_sentiment(
    analyzer: &Analyzer,
    vader: &Vader,
    model_dir: &Path,
    split: Split,
) -> Result<BTreeMap<String, SentimentSplitReport>> {
    let sets = [("vader", load_vader(model_dir, split)?), ("cs", load_cs(split)?)];
    let mut reports = BTreeMap::new();
    for (name, examples) in sets {
        let report = evaluate_sentiment_split(analyzer, vader, &examples)?;
        reports.insert(format!("{name}_{}", split.as_str()), report);
    }
    Ok(reports)
}

/// The shipped topic scoring on the customer-success topic set.
pub fn evaluate_topics(analyzer: &Analyzer, split: Split) -> Result<BTreeMap<String, TopicReport>> {
    let taxonomy = analyzer.taxonomy();
    let examples = load_topic_split(taxonomy, split)?;
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let predicted: Vec<Vec<usize>> = analyze_all(analyzer, &texts)?
        .iter()
        .map(|a| a.topics.iter().filter_map(|t| taxonomy.index_of(&t.topic)).collect())
        .collect();
    let gold: Vec<Vec<usize>> = examples.into_iter().map(|e| e.topics).collect();
    let report = topic_report(taxonomy, &gold, &predicted);
    Ok(BTreeMap::from([(format!("cs_topics_{}", split.as_str()), report)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use SentimentLabel::*;

    #[test]
    fn sentiment_report_serialises_to_the_documented_shape() {
        let gold = [Negative, Neutral, Positive, Positive];
        let model: Vec<Prediction> = [Negative, Neutral, Positive, Neutral]
            .into_iter()
            .map(|label| Prediction { label, confidence: Some(0.8) })
            .collect();
        let vader = vader_predictions(
            &Vader::from_entries([("great", 3.1), ("awful", -2.0)]),
            &["This is awful.", "We meet on Tuesday.", "Great work!", "Fine."],
        );
        let reports =
            BTreeMap::from([("cs_test".to_owned(), SentimentSplitReport::new(&gold, &model, &vader))]);
        let json = serde_json::to_value(&reports).unwrap();
        let split = &json["cs_test"];
        assert_eq!(split["n"], 4);
        assert_eq!(split["model"]["accuracy"], 0.75);
        assert_eq!(split["vader"]["accuracy"], 0.75);
        for who in ["model", "vader"] {
            assert!(split[who]["macro_f1"].as_f64().unwrap() > 0.5);
            assert_eq!(split[who]["per_class"].as_array().unwrap().len(), 3);
            assert_eq!(split[who]["confusion"][2].as_array().unwrap().len(), 3);
        }
        assert!(split["model"]["ece"].is_number());
        assert!(split["vader"]["ece"].is_null());
    }
}
