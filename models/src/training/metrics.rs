//! Classification metrics for the 3 sentiment classes: accuracy, macro-F1, per-class
//! precision and recall, the confusion matrix and the expected calibration error.

use serde::Serialize;
use undertone_core::SentimentLabel;

/// Bins of the expected calibration error.
const ECE_BINS: usize = 10;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassMetrics {
    pub label: &'static str,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[gold][predicted]`, classes in negative, neutral, positive order.
    pub confusion: [[usize; 3]; 3],
    /// Expected calibration error of the predicted label's confidence; `None` when the
    /// predictor gives no probabilities.
    pub ece: Option<f64>,
}

/// One prediction: the label and, when the predictor has one, its confidence.
#[derive(Debug, Clone, Copy)]
pub struct Prediction {
    pub label: SentimentLabel,
    pub confidence: Option<f32>,
}

pub fn report(gold: &[SentimentLabel], predicted: &[Prediction]) -> Report {
    let mut confusion = [[0usize; 3]; 3];
    for (g, p) in gold.iter().zip(predicted) {
        confusion[g.index()][p.label.index()] += 1;
    }
    let n = gold.len().min(predicted.len());
    let correct: usize = (0..3).map(|i| confusion[i][i]).sum();
    let per_class: Vec<ClassMetrics> = SentimentLabel::ALL
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let tp = confusion[i][i] as f64;
            let predicted_i: usize = (0..3).map(|g| confusion[g][i]).sum();
            let support: usize = confusion[i].iter().sum();
            let precision = ratio(tp, predicted_i as f64);
            let recall = ratio(tp, support as f64);
            ClassMetrics { label: label.as_str(), precision, recall, f1: f1(precision, recall), support }
        })
        .collect();
    let macro_f1 = per_class.iter().map(|c| c.f1).sum::<f64>() / 3.0;
    let ece = expected_calibration_error(gold, predicted);
    Report { n, accuracy: ratio(correct as f64, n as f64), macro_f1, per_class, confusion, ece }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

fn f1(precision: f64, recall: f64) -> f64 {
    ratio(2.0 * precision * recall, precision + recall)
}

fn expected_calibration_error(gold: &[SentimentLabel], predicted: &[Prediction]) -> Option<f64> {
    let mut bins = [(0usize, 0.0f64, 0.0f64); ECE_BINS];
    for (g, p) in gold.iter().zip(predicted) {
        let confidence = f64::from(p.confidence?);
        let bin = ((confidence * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += confidence;
        bins[bin].2 += f64::from(u8::from(*g == p.label));
    }
    let n: usize = bins.iter().map(|b| b.0).sum();
    if n == 0 {
        return None;
    }
    // Each bin weighs by its share of predictions: |sum(conf) - sum(correct)| / n.
    Some(bins.iter().map(|&(_, conf, acc)| (conf - acc).abs()).sum::<f64>() / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SentimentLabel::*;

    fn p(label: SentimentLabel, confidence: f32) -> Prediction {
        Prediction { label, confidence: Some(confidence) }
    }

    #[test]
    fn perfect_predictions_score_one() {
        let gold = [Negative, Neutral, Positive];
        let r = report(&gold, &[p(Negative, 1.0), p(Neutral, 1.0), p(Positive, 1.0)]);
        assert_eq!((r.accuracy, r.macro_f1), (1.0, 1.0));
        assert_eq!(r.ece, Some(0.0));
    }

    #[test]
    fn counts_confusions_and_calibration() {
        let gold = [Negative, Negative, Positive, Neutral];
        let preds = [p(Negative, 0.95), p(Positive, 0.85), p(Positive, 0.65), p(Neutral, 0.75)];
        let r = report(&gold, &preds);
        assert_eq!(r.confusion[0], [1, 0, 1]);
        assert!((r.accuracy - 0.75).abs() < 1e-9);
        // negative: P=1 R=0.5; neutral: 1/1; positive: P=0.5 R=1.
        let expected = (2.0 / 3.0 + 1.0 + 2.0 / 3.0) / 3.0;
        assert!((r.macro_f1 - expected).abs() < 1e-9);
        // One per bin: 0.95 right, 0.85 wrong, 0.65 right, 0.75 right.
        assert!((r.ece.unwrap() - (0.05 + 0.85 + 0.35 + 0.25) / 4.0).abs() < 1e-6);
    }
}
