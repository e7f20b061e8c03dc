//! Customer sentiment of one account over time, against its own baseline.
//!
//! Only customer speech counts: internal (CSM, agent) speech never does, speech of unknown
//! role counts at `unknown_role_weight`. A sentence said again (a quoted reply) counts
//! once, where it was first said. Each segment weighs `role x confidence x recency`, where
//! recency halves every `half_life_days` of age (measured from the end of the window):
//!
//! ```text
//! current  = sum(w_i * score_i) / sum(w_i)     over the window        (an EWMA over time)
//! baseline = the same over the window of the same length before it
//! trend    = current - baseline; IMPROVING / WORSENING beyond +/- stable_band
//! ```
//!
//! History: the window cut into buckets of `bucket_ms` from its start; each bucket with
//! segments gets the `role x confidence` weighted mean of its segments (no recency: each
//! point describes its own bucket). Empty buckets are omitted.

use serde::{Deserialize, Serialize};
use undertone_core::{SpeakerRole, StoredSegment};

use crate::repeats::first_utterances;

const DAY_MS: f64 = 86_400_000.0;

/// Sentiment scoring; documented defaults, configurable (`[insights.sentiment]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentimentConfig {
    /// Recency half-life of a segment's weight, in days.
    pub half_life_days: f64,
    /// Weight of speech whose speaker role is unknown.
    pub unknown_role_weight: f64,
    /// A change smaller than this against the baseline is STABLE.
    pub stable_band: f64,
    /// History bucket width when the request gives none, in days.
    pub bucket_days: u32,
}

impl Default for SentimentConfig {
    fn default() -> Self {
        Self { half_life_days: 30.0, unknown_role_weight: 0.5, stable_band: 0.1, bucket_days: 7 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Improving,
    Stable,
    Worsening,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentimentPoint {
    pub bucket_start_ms: i64,
    pub sentiment: f64,
    pub segments: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SentimentReport {
    /// Recency-weighted sentiment over the window in [-1, 1]; 0 without segments.
    pub current: f64,
    /// The same over the window before; `None` without segments there.
    pub baseline: Option<f64>,
    pub segments: usize,
    pub history: Vec<SentimentPoint>,
}

impl SentimentReport {
    pub fn delta(&self) -> f64 {
        self.baseline.map_or(0.0, |b| self.current - b)
    }

    pub fn direction(&self, config: &SentimentConfig) -> Direction {
        match self.delta() {
            d if d >= config.stable_band => Direction::Improving,
            d if d <= -config.stable_band => Direction::Worsening,
            _ => Direction::Stable,
        }
    }
}

/// `role x confidence`, or `None` for speech that never counts.
fn base_weight(segment: &StoredSegment, config: &SentimentConfig) -> Option<f64> {
    let role = match segment.segment.role {
        SpeakerRole::Customer => 1.0,
        SpeakerRole::Unknown => config.unknown_role_weight,
        SpeakerRole::Internal => return None,
    };
    Some(role * f64::from(segment.sentiment.confidence.clamp(0.0, 1.0)))
}

/// Exponentially weighted mean of segment scores as of `as_of_ms`.
pub fn ewma<'a>(
    segments: impl IntoIterator<Item = &'a StoredSegment>,
    as_of_ms: i64,
    config: &SentimentConfig,
) -> Option<f64> {
    let (mut total, mut weighted) = (0.0, 0.0);
    for s in segments {
        let Some(base) = base_weight(s, config) else { continue };
        let age_days = s.segment.timestamp_ms.map_or(0.0, |t| ((as_of_ms - t) as f64 / DAY_MS).max(0.0));
        let w = base * 0.5f64.powf(age_days / config.half_life_days);
        total += w;
        weighted += w * f64::from(s.sentiment.score);
    }
    (total > 0.0).then(|| weighted / total)
}

/// The account's sentiment over `[from_ms, to_ms)` (`current`) against the window before
/// it (`baseline`), with history buckets of `bucket_ms`.
pub fn account_sentiment(
    current: &[StoredSegment],
    baseline: &[StoredSegment],
    window: (i64, i64),
    bucket_ms: i64,
    config: &SentimentConfig,
) -> SentimentReport {
    let (from_ms, to_ms) = window;
    let (keep_base, keep_cur) = first_utterances(baseline, current);
    let cur: Vec<&StoredSegment> = keep_cur.into_iter().map(|i| &current[i]).collect();
    let base: Vec<&StoredSegment> = keep_base.into_iter().map(|i| &baseline[i]).collect();
    let counted: Vec<&StoredSegment> =
        cur.iter().copied().filter(|s| base_weight(s, config).is_some()).collect();

    let bucket_ms = bucket_ms.max(1);
    let mut buckets: std::collections::BTreeMap<i64, (f64, f64, usize)> = Default::default();
    for s in &counted {
        let Some(t) = s.segment.timestamp_ms.filter(|t| (from_ms..to_ms).contains(t)) else { continue };
        let start = from_ms + (t - from_ms) / bucket_ms * bucket_ms;
        let w = base_weight(s, config).unwrap_or(0.0);
        let entry = buckets.entry(start).or_default();
        entry.0 += w;
        entry.1 += w * f64::from(s.sentiment.score);
        entry.2 += 1;
    }
    let history = buckets
        .into_iter()
        .map(|(bucket_start_ms, (w, ws, n))| SentimentPoint {
            bucket_start_ms,
            sentiment: if w > 0.0 { ws / w } else { 0.0 },
            segments: n,
        })
        .collect();
    SentimentReport {
        current: ewma(counted.iter().copied(), to_ms, config).unwrap_or(0.0),
        baseline: ewma(base, from_ms, config),
        segments: counted.len(),
        history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{DAY, NOW, SegExt, seg_at};
    use undertone_core::SentimentLabel::*;

    #[test]
    fn ewma_weighs_recent_confident_customer_speech() {
        let config = SentimentConfig::default();
        let old_bad = seg_at("a", "1", 0, "Awful.", NOW - 60 * DAY).sentiment(Negative, -1.0);
        let new_good = seg_at("a", "2", 0, "Great.", NOW).sentiment(Positive, 1.0);
        // Two half-lives: weights 1/4 and 1, so (−0.25 + 1) / 1.25 = 0.6.
        let value = ewma([&old_bad, &new_good], NOW, &config).unwrap();
        assert!((value - 0.6).abs() < 1e-9, "{value}");
        // Internal speech never counts; unknown role at half weight; confidence scales.
        let agent = seg_at("a", "3", 0, "Sorry!", NOW).sentiment(Negative, -1.0).role(SpeakerRole::Internal);
        assert_eq!(ewma([&agent], NOW, &config), None);
        let mut unsure =
            seg_at("a", "4", 0, "Hmm.", NOW).sentiment(Negative, -1.0).role(SpeakerRole::Unknown);
        unsure.sentiment.confidence = 0.9;
        let value = ewma([&new_good, &unsure], NOW, &config).unwrap();
        // weights 0.9 and 0.45: (0.9 - 0.45) / 1.35
        assert!((value - 1.0 / 3.0).abs() < 1e-6, "{value}");
    }

    #[test]
    fn trend_against_the_baseline_and_weekly_history() {
        let config = SentimentConfig::default();
        let window = (NOW - 28 * DAY, NOW);
        let baseline = vec![seg_at("a", "b", 0, "Love it.", NOW - 40 * DAY).sentiment(Positive, 0.8)];
        let current = vec![
            seg_at("a", "c1", 0, "Exports broke.", NOW - 27 * DAY).sentiment(Negative, -0.6),
            seg_at("a", "c2", 0, "Still broken.", NOW - 26 * DAY).sentiment(Negative, -0.8),
            seg_at("a", "c3", 0, "Nobody answers.", NOW - 2 * DAY).sentiment(Negative, -0.9),
            // A quoted repeat of the baseline's praise counts in the baseline only.
            seg_at("a", "c4", 1, "> Love it.", NOW - DAY).sentiment(Positive, 0.8),
        ];
        let report = account_sentiment(&current, &baseline, window, 7 * DAY, &config);
        assert_eq!(report.segments, 3);
        assert!(report.current < -0.7, "{report:?}");
        assert_eq!(report.baseline, Some(0.8_f32 as f64));
        assert_eq!(report.direction(&config), Direction::Worsening);
        let starts: Vec<i64> = report.history.iter().map(|p| (p.bucket_start_ms - window.0) / DAY).collect();
        assert_eq!(starts, vec![0, 21], "empty weeks are omitted");
        assert_eq!(report.history[0].segments, 2);
        assert!((report.history[0].sentiment + 0.7).abs() < 1e-6);
    }
}
