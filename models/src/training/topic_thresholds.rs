//! Tunes topic scoring on the dev split of the topic set (never on test): the number of
//! prototype matches averaged (`top_k`), a margin below the segment's best topic, a cap
//! on topics per segment, a default threshold and one threshold per topic.
//!
//! Dev has only about ten segments per topic, so per-topic thresholds fitted on all of
//! it would flatter themselves. Each candidate setting (including how far per-topic
//! thresholds may move from the shared one, `shrink`) is therefore scored by 5-fold
//! cross-validation inside dev; the best is then fitted on the whole of dev.

use std::path::Path;

use crate::topics::{DEFAULT_THRESHOLD, Scoring, Tuning, select, topic_scores};
use crate::training::corpus::Split;
use crate::training::topic_metrics::{
    Counts, TopicReport, load_topic_split, micro_f1, topic_counts, topic_report,
};
use crate::{Analyzer, ModelError, Result, files};

const FOLDS: usize = 5;
/// Thresholds tried: 0.20, 0.21, ..., 0.80.
const GRID: std::ops::RangeInclusive<u32> = 20..=80;
const TOP_K: [usize; 4] = [1, 2, 3, 4];
const MARGINS: [Option<f32>; 4] = [None, Some(0.04), Some(0.08), Some(0.12)];
const MAX_TOPICS: [Option<usize>; 3] = [None, Some(3), Some(2)];
/// 0: one shared threshold; 1: per-topic thresholds as fitted.
const SHRINK: [f32; 3] = [0.0, 0.5, 1.0];

/// What tuning found, for the command to print and record.
#[derive(Debug, Clone)]
pub struct TuningOutcome {
    pub tuning: Tuning,
    /// How far per-topic thresholds moved from the shared one (0..1).
    pub shrink: f32,
    /// Dev with the untuned defaults (best 2 matches, one threshold), for comparison.
    pub dev_before: TopicReport,
    /// Cross-validated micro-F1 of the chosen setting (out-of-fold predictions pooled).
    pub cv_micro_f1: f64,
    /// Dev with the tuned scoring (in-sample, so optimistic).
    pub dev_after: TopicReport,
}

/// Per-segment similarities to every prototype, and each prototype's topic.
struct DevSet {
    sims: Vec<Vec<f32>>,
    owner: Vec<usize>,
    gold: Vec<Vec<usize>>,
    topics: usize,
}

impl DevSet {
    fn embed(analyzer: &Analyzer) -> Result<Self> {
        let taxonomy = analyzer.taxonomy();
        let dev = load_topic_split(taxonomy, Split::Dev)?;
        let (owner, prototypes): (Vec<usize>, Vec<String>) = taxonomy.prototypes().into_iter().unzip();
        let prototypes = analyzer.embed(&prototypes.iter().map(String::as_str).collect::<Vec<_>>())?;
        let segments = analyzer.embed(&dev.iter().map(|e| e.text.as_str()).collect::<Vec<_>>())?;
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let sims = segments.iter().map(|s| prototypes.iter().map(|p| dot(s, p)).collect()).collect();
        let gold = dev.into_iter().map(|e| e.topics).collect();
        Ok(Self { sims, owner, gold, topics: taxonomy.topics.len() })
    }

    fn scores(&self, top_k: usize) -> Vec<Vec<f32>> {
        self.sims.iter().map(|s| topic_scores(s, &self.owner, self.topics, top_k)).collect()
    }
}

/// Topic scores of the dev segments under one `top_k`, with which topics pass the
/// margin and cap (those do not depend on thresholds).
struct Scored<'a> {
    scores: Vec<Vec<f32>>,
    eligible: Vec<Vec<bool>>,
    gold: &'a [Vec<usize>],
}

impl<'a> Scored<'a> {
    fn new(scores: Vec<Vec<f32>>, scoring: &Scoring, gold: &'a [Vec<usize>]) -> Self {
        let eligible = scores
            .iter()
            .map(|s| {
                let open = vec![0.0; s.len()];
                let picked = select(s, &open, scoring);
                (0..s.len()).map(|t| picked.contains(&t)).collect()
            })
            .collect();
        Self { scores, eligible, gold }
    }

    fn predicted(&self, i: usize, thresholds: &[f32]) -> Vec<usize> {
        (0..thresholds.len()).filter(|&t| self.eligible[i][t] && self.scores[i][t] >= thresholds[t]).collect()
    }

    /// Counts of topic `t` over `rows` at threshold `at`.
    fn topic_counts(&self, rows: &[usize], t: usize, at: f32) -> Counts {
        let mut c = Counts::default();
        for &i in rows {
            c.record(self.gold[i].contains(&t), self.eligible[i][t] && self.scores[i][t] >= at);
        }
        c
    }

    /// A shared threshold and per-topic ones, fitted on `rows`, the latter moved only
    /// `shrink` of the way from the shared one.
    fn fit(&self, rows: &[usize], topics: usize, shrink: f32) -> (f32, Vec<f32>) {
        let table: Vec<Vec<Counts>> =
            (0..topics).map(|t| grid().map(|at| self.topic_counts(rows, t, at)).collect()).collect();
        let shared_f1: Vec<f64> = (0..GRID.count())
            .map(|g| micro_f1(&table.iter().map(|row| row[g]).collect::<Vec<_>>()))
            .collect();
        let shared = best_on_plateau(&shared_f1);
        let mut chosen = vec![shared; topics];
        // Coordinate ascent on micro-F1, one topic at a time; two rounds settle it.
        for _ in 0..2 {
            for t in 0..topics {
                let f1: Vec<f64> = (0..GRID.count())
                    .map(|g| {
                        let counts: Vec<Counts> = (0..topics)
                            .map(|u| if u == t { table[u][g] } else { table[u][chosen[u]] })
                            .collect();
                        micro_f1(&counts)
                    })
                    .collect();
                chosen[t] = best_on_plateau(&f1);
            }
        }
        let shared_at = threshold_at(shared);
        let per_topic =
            chosen.iter().map(|&g| round2(shared_at + shrink * (threshold_at(g) - shared_at))).collect();
        (shared_at, per_topic)
    }
}

fn grid() -> impl Iterator<Item = f32> {
    GRID.map(|c| c as f32 / 100.0)
}

fn threshold_at(index: usize) -> f32 {
    (*GRID.start() + index as u32) as f32 / 100.0
}

fn round2(x: f32) -> f32 {
    (x * 100.0).round() / 100.0
}

/// The middle of the widest run of best scores, so a threshold sits away from the
/// edge of where it stops working.
fn best_on_plateau(values: &[f64]) -> usize {
    let best = values.iter().copied().fold(f64::MIN, f64::max);
    let on = |i: usize| values[i] >= best - 1e-12;
    let (mut run, mut widest) = ((0, 0), (0, 0));
    for i in 0..values.len() {
        if on(i) {
            run = if i > 0 && on(i - 1) { (run.0, i) } else { (i, i) };
            if run.1 - run.0 > widest.1 - widest.0 || !on(widest.0) {
                widest = run;
            }
        }
    }
    (widest.0 + widest.1) / 2
}

/// Every candidate scoring, simplest first (ties keep the earlier one).
fn candidates() -> Vec<(Scoring, f32)> {
    let mut all = Vec::new();
    for shrink in SHRINK {
        for max_topics in MAX_TOPICS {
            for margin in MARGINS {
                for top_k in TOP_K {
                    all.push((Scoring { top_k, margin, max_topics, default_threshold: 0.0 }, shrink));
                }
            }
        }
    }
    all
}

/// Micro-F1 of out-of-fold predictions, pooled over the folds.
fn cross_validated(scored: &Scored<'_>, topics: usize, shrink: f32) -> f64 {
    let n = scored.gold.len();
    let mut predicted = vec![Vec::new(); n];
    for fold in 0..FOLDS {
        let train: Vec<usize> = (0..n).filter(|i| i % FOLDS != fold).collect();
        let (_, thresholds) = scored.fit(&train, topics, shrink);
        for i in (0..n).filter(|i| i % FOLDS == fold) {
            predicted[i] = scored.predicted(i, &thresholds);
        }
    }
    micro_f1(&topic_counts(topics, scored.gold, &predicted))
}

/// Tunes topic scoring for the analyzer's taxonomy on the dev split.
pub fn tune_topics(analyzer: &Analyzer) -> Result<TuningOutcome> {
    let taxonomy = analyzer.taxonomy();
    let dev = DevSet::embed(analyzer)?;
    let report = |scoring: &Scoring, thresholds: &[f32]| -> TopicReport {
        let scored = Scored::new(dev.scores(scoring.top_k), scoring, &dev.gold);
        let predicted: Vec<Vec<usize>> =
            (0..dev.gold.len()).map(|i| scored.predicted(i, thresholds)).collect();
        topic_report(taxonomy, &dev.gold, &predicted)
    };
    let untuned: Vec<f32> =
        taxonomy.topics.iter().map(|t| t.threshold.unwrap_or(DEFAULT_THRESHOLD)).collect();
    let dev_before = report(&Scoring::default(), &untuned);

    let mut best: Option<(f64, Scoring, f32)> = None;
    for (scoring, shrink) in candidates() {
        let scored = Scored::new(dev.scores(scoring.top_k), &scoring, &dev.gold);
        let f1 = cross_validated(&scored, dev.topics, shrink);
        if best.as_ref().is_none_or(|(b, _, _)| f1 > *b + 1e-12) {
            best = Some((f1, scoring, shrink));
        }
    }
    let (cv_micro_f1, mut scoring, shrink) = best.expect("candidates are not empty");

    let scored = Scored::new(dev.scores(scoring.top_k), &scoring, &dev.gold);
    let all: Vec<usize> = (0..dev.gold.len()).collect();
    let (shared, thresholds) = scored.fit(&all, dev.topics, shrink);
    scoring.default_threshold = shared;
    let dev_after = report(&scoring, &thresholds);
    let thresholds = taxonomy.topics.iter().map(|t| t.id.clone()).zip(thresholds).collect();
    Ok(TuningOutcome { tuning: Tuning { scoring, thresholds }, shrink, dev_before, cv_micro_f1, dev_after })
}

/// Writes the tuned scoring as TOML, with a header that says where it came from.
pub fn write_tuning(path: &Path, outcome: &TuningOutcome) -> Result<()> {
    let header = format!(
        "# Topic scoring tuned on models/data/cs-topics/dev.jsonl (never on test) by\n\
         # `undertone train topics`; read by models/src/topics.rs beside topics.toml.\n\
         # A `threshold` set on a topic in topics.toml overrides the one here.\n\
         # Per-topic thresholds moved {shrink:.1} of the way from the shared one.\n\
         # Dev micro-F1: {before:.3} before tuning, {cv:.3} cross-validated (5 folds), {after:.3} fitted.\n\
         # Dev macro-F1: {before_macro:.3} before tuning, {after_macro:.3} fitted.\n\n",
        shrink = outcome.shrink,
        before = outcome.dev_before.micro_f1,
        cv = outcome.cv_micro_f1,
        after = outcome.dev_after.micro_f1,
        before_macro = outcome.dev_before.macro_f1,
        after_macro = outcome.dev_after.macro_f1,
    );
    let text = format!("{header}{}", outcome.tuning.to_toml());
    // Check the file reads back before replacing the old one.
    Tuning::parse(&text).map_err(|reason| ModelError::Invalid { path: path.to_owned(), reason })?;
    std::fs::write(path, text).map_err(|source| files::io_error(path, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateau_picks_the_middle_of_the_widest_best_run() {
        assert_eq!(best_on_plateau(&[0.1, 0.5, 0.5, 0.5, 0.2, 0.5]), 2);
        assert_eq!(best_on_plateau(&[0.9, 0.1]), 0);
    }

    #[test]
    fn fitting_separates_a_topic_at_its_own_level() {
        // Topic 0 is right above 0.5, topic 1 above 0.3.
        let scores = vec![vec![0.6, 0.1], vec![0.45, 0.35], vec![0.2, 0.25], vec![0.55, 0.4]];
        let gold = vec![vec![0], vec![1], vec![], vec![0, 1]];
        let scoring = Scoring { top_k: 1, margin: None, max_topics: None, default_threshold: 0.0 };
        let scored = Scored::new(scores, &scoring, &gold);
        let (_, thresholds) = scored.fit(&[0, 1, 2, 3], 2, 1.0);
        let predicted: Vec<_> = (0..4).map(|i| scored.predicted(i, &thresholds)).collect();
        assert_eq!(predicted, gold);
        assert!(thresholds[0] > 0.45 && thresholds[0] <= 0.55, "{thresholds:?}");
        assert!(thresholds[1] > 0.25 && thresholds[1] <= 0.35, "{thresholds:?}");
    }
}
