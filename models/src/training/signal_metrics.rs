//! Metrics of a multi-label signal model: per-category precision, recall and F1, how
//! often sentences that carry no risk stay quiet, exact-set accuracy per hard-case type,
//! and calibration (expected calibration error, Brier score) where probabilities exist.

use std::collections::BTreeMap;

use serde::Serialize;

use super::topic_metrics::{Counts, ratio};

/// Bins of the expected calibration error.
const CALIBRATION_BINS: usize = 10;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CategoryMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
    pub predicted: usize,
}

/// One bin of the reliability diagram: predicted probability against observed rate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CalibrationBin {
    pub from: f64,
    pub to: f64,
    pub count: usize,
    pub mean_probability: f64,
    pub observed_rate: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Calibration {
    /// Expected calibration error over every (sentence, category) probability.
    pub ece: f64,
    /// Mean squared error of the probabilities against 0/1 truth.
    pub brier: f64,
    pub bins: Vec<CalibrationBin>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignalReport {
    pub n: usize,
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    /// Mean F1 over the categories.
    pub macro_f1: f64,
    /// Share of sentences with no true category that got none predicted.
    pub quiet_rate: f64,
    /// Share of sentences whose predicted set equals the true set.
    pub exact_match: f64,
    /// Exact-set accuracy per hard-case type (`none` for the ordinary sentences).
    pub by_hard_case: BTreeMap<String, HardCaseMetrics>,
    pub per_category: BTreeMap<String, CategoryMetrics>,
    /// Absent for a baseline without probabilities.
    pub calibration: Option<Calibration>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HardCaseMetrics {
    pub n: usize,
    pub exact_match: f64,
}

/// What one sentence is and what a model said of it (category indices).
pub struct Judged<'a> {
    pub gold: &'a [usize],
    pub predicted: &'a [usize],
    pub hard: Option<&'a str>,
    /// Probabilities per category, when the model has them.
    pub probabilities: Option<&'a [f32]>,
}

fn same_set(a: &[usize], b: &[usize]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    a.dedup();
    b.dedup();
    a == b
}

pub fn signal_report(labels: &[&str], judged: &[Judged<'_>]) -> SignalReport {
    let mut counts = vec![Counts::default(); labels.len()];
    for j in judged {
        for (c, count) in counts.iter_mut().enumerate() {
            count.record(j.gold.contains(&c), j.predicted.contains(&c));
        }
    }
    let mut total = Counts::default();
    counts.iter().for_each(|c| total.add(*c));
    let per_category: BTreeMap<String, CategoryMetrics> = labels
        .iter()
        .zip(&counts)
        .map(|(label, c)| {
            let metrics = CategoryMetrics {
                precision: c.precision(),
                recall: c.recall(),
                f1: c.f1(),
                support: c.tp + c.fn_,
                predicted: c.tp + c.fp,
            };
            ((*label).to_owned(), metrics)
        })
        .collect();
    let quiet: Vec<&Judged<'_>> = judged.iter().filter(|j| j.gold.is_empty()).collect();
    let mut by_hard: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for j in judged {
        let entry = by_hard.entry(j.hard.unwrap_or("none").to_owned()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(same_set(j.gold, j.predicted));
    }
    SignalReport {
        n: judged.len(),
        micro_precision: total.precision(),
        micro_recall: total.recall(),
        micro_f1: total.f1(),
        macro_f1: ratio(counts.iter().map(Counts::f1).sum(), counts.len() as f64),
        quiet_rate: ratio(quiet.iter().filter(|j| j.predicted.is_empty()).count() as f64, quiet.len() as f64),
        exact_match: ratio(
            judged.iter().filter(|j| same_set(j.gold, j.predicted)).count() as f64,
            judged.len() as f64,
        ),
        by_hard_case: by_hard
            .into_iter()
            .map(|(k, (n, ok))| (k, HardCaseMetrics { n, exact_match: ratio(ok as f64, n as f64) }))
            .collect(),
        per_category,
        calibration: calibration(judged),
    }
}

/// Calibration over every (sentence, category) pair; `None` when a sentence has no
/// probabilities.
fn calibration(judged: &[Judged<'_>]) -> Option<Calibration> {
    let mut pairs: Vec<(f64, bool)> = Vec::new();
    for j in judged {
        for (c, &p) in j.probabilities?.iter().enumerate() {
            pairs.push((f64::from(p), j.gold.contains(&c)));
        }
    }
    if pairs.is_empty() {
        return None;
    }
    let width = 1.0 / CALIBRATION_BINS as f64;
    let mut bins: Vec<(usize, f64, usize)> = vec![(0, 0.0, 0); CALIBRATION_BINS];
    for &(p, truth) in &pairs {
        let bin = ((p / width) as usize).min(CALIBRATION_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += p;
        bins[bin].2 += usize::from(truth);
    }
    let n = pairs.len() as f64;
    let ece = bins.iter().map(|&(_, sum, hits)| (sum - hits as f64).abs()).sum::<f64>() / n;
    let brier = pairs.iter().map(|&(p, t)| (p - f64::from(u8::from(t))).powi(2)).sum::<f64>() / n;
    let bins = bins
        .into_iter()
        .enumerate()
        .map(|(i, (count, sum, hits))| CalibrationBin {
            from: i as f64 * width,
            to: (i + 1) as f64 * width,
            count,
            mean_probability: ratio(sum, count as f64),
            observed_rate: ratio(hits as f64, count as f64),
        })
        .collect();
    Some(Calibration { ece, brier, bins })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_precision_recall_quiet_and_calibration() {
        let labels = ["a", "b"];
        let (g0, p0, g1, p1, g2, p2) = (vec![0], vec![0, 1], vec![], vec![], vec![1], vec![]);
        let probs = [[0.9f32, 0.6], [0.1, 0.1], [0.2, 0.4]];
        let judged = vec![
            Judged { gold: &g0, predicted: &p0, hard: None, probabilities: Some(&probs[0]) },
            Judged {
                gold: &g1,
                predicted: &p1,
                hard: Some("negated_intent"),
                probabilities: Some(&probs[1]),
            },
            Judged { gold: &g2, predicted: &p2, hard: None, probabilities: Some(&probs[2]) },
        ];
        let r = signal_report(&labels, &judged);
        assert_eq!(r.per_category["a"].precision, 1.0);
        assert_eq!(r.per_category["b"].precision, 0.0);
        assert_eq!(r.per_category["b"].recall, 0.0);
        assert_eq!(r.quiet_rate, 1.0);
        assert!((r.exact_match - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.by_hard_case["negated_intent"].exact_match, 1.0);
        let cal = r.calibration.unwrap();
        assert!(cal.ece > 0.0 && cal.brier > 0.0);
        assert_eq!(cal.bins.iter().map(|b| b.count).sum::<usize>(), 6);
        let no_probs = [Judged { gold: &g0, predicted: &p0, hard: None, probabilities: None }];
        assert!(signal_report(&labels, &no_probs).calibration.is_none());
    }
}
