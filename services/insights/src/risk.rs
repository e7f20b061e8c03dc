//! Account risk, explained.
//!
//! Inputs: the account's stored segments in the window and in the window before it (the
//! baseline). Only customer speech counts (internal CSM / agent speech never does;
//! speech of unknown role counts at half weight). Each segment weighs
//! `confidence x recency x role`, recency halving every `half_life_days`.
//!
//! - Sentiment: the weighted mean of segment scores (an EWMA over time).
//! - Evidence mass per category: negative segments count `weight x negativity` towards
//!   their strongest topic's category (or plain negative sentiment); for signal topics
//!   (churn intent, competitors, stakeholder change) a segment counts even when its words
//!   are neutral, unless it is positive.
//! - Score: `100 x (1 - exp(-sum(severity x mass) / saturation))`, split between reasons by
//!   their share. A sentiment drop against the baseline adds a falling-sentiment reason.

use std::collections::BTreeMap;

use undertone_core::{SentimentLabel, SpeakerRole, StoredSegment};

use crate::RiskCategory;

const DAY_MS: f64 = 86_400_000.0;

/// Scoring weights; documented defaults, configurable.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RiskConfig {
    /// Recency half-life of a segment's weight, in days.
    pub half_life_days: f64,
    /// Evidence mass at which the score reaches 63 (1 - 1/e).
    pub saturation: f64,
    /// Weight of speech whose speaker role is unknown.
    pub unknown_role_weight: f64,
    /// Floor of negativity for signal-topic segments said in neutral words.
    pub signal_floor: f64,
    /// Sentiment drop against the baseline that counts as falling sentiment.
    pub falling_threshold: f64,
    /// Evidence items per reason.
    pub max_evidence: usize,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            half_life_days: 30.0,
            saturation: 2.5,
            unknown_role_weight: 0.5,
            signal_floor: 0.5,
            falling_threshold: 0.2,
            max_evidence: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    Critical,
}

impl RiskLevel {
    pub fn from_score(score: f64) -> Self {
        match score {
            s if s >= 75.0 => Self::Critical,
            s if s >= 50.0 => Self::High,
            s if s >= 25.0 => Self::Medium,
            _ => Self::Low,
        }
    }
}

/// Current value against the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    pub current: f64,
    pub baseline: Option<f64>,
}

impl Trend {
    pub fn delta(&self) -> f64 {
        self.baseline.map_or(0.0, |b| self.current - b)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub category: RiskCategory,
    pub summary: String,
    /// Points of the score this reason accounts for.
    pub contribution: f64,
    /// Strongest first; verbatim stored segments of the account.
    pub evidence: Vec<StoredSegment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RiskReport {
    pub score: f64,
    pub level: RiskLevel,
    /// Weighted customer sentiment, against the previous window.
    pub sentiment: Trend,
    pub reasons: Vec<Reason>,
    pub segments_considered: usize,
}

/// How much one customer segment weighs, and towards which category.
struct Weighed<'a> {
    segment: &'a StoredSegment,
    weight: f64,
    mass: f64,
    category: Option<RiskCategory>,
}

fn weigh<'a>(segment: &'a StoredSegment, now_ms: i64, config: &RiskConfig) -> Option<Weighed<'a>> {
    let role = match segment.segment.role {
        SpeakerRole::Customer => 1.0,
        SpeakerRole::Unknown => config.unknown_role_weight,
        SpeakerRole::Internal => return None,
    };
    let age_days = segment.segment.timestamp_ms.map_or(0.0, |t| ((now_ms - t) as f64 / DAY_MS).max(0.0));
    let recency = 0.5f64.powf(age_days / config.half_life_days);
    let weight = role * recency * f64::from(segment.sentiment.confidence);
    let negativity = f64::from((-segment.sentiment.score).max(0.0));
    let topic = segment.topics.iter().filter_map(|t| RiskCategory::from_topic(&t.topic)).next();
    let (mass, category) = match topic {
        Some(c) if c.is_signal() && segment.sentiment.label != SentimentLabel::Positive => {
            (weight * negativity.max(config.signal_floor), Some(c))
        }
        _ if segment.sentiment.label == SentimentLabel::Negative => {
            (weight * negativity, Some(topic.unwrap_or(RiskCategory::NegativeSentiment)))
        }
        _ => (0.0, None),
    };
    Some(Weighed { segment, weight, mass, category })
}

fn weighted_sentiment(weighed: &[Weighed<'_>]) -> Option<f64> {
    let total: f64 = weighed.iter().map(|w| w.weight).sum();
    (total > 0.0)
        .then(|| weighed.iter().map(|w| w.weight * f64::from(w.segment.sentiment.score)).sum::<f64>() / total)
}

/// Assesses an account from its segments in the window (`current`) and the window before
/// it (`baseline`), as of `now_ms`.
pub fn assess_risk(
    current: &[StoredSegment],
    baseline: &[StoredSegment],
    now_ms: i64,
    config: &RiskConfig,
) -> RiskReport {
    let weighed: Vec<Weighed<'_>> = current.iter().filter_map(|s| weigh(s, now_ms, config)).collect();
    let base: Vec<Weighed<'_>> = baseline.iter().filter_map(|s| weigh(s, now_ms, config)).collect();
    let sentiment =
        Trend { current: weighted_sentiment(&weighed).unwrap_or(0.0), baseline: weighted_sentiment(&base) };

    let mut by_category: BTreeMap<RiskCategory, Vec<&Weighed<'_>>> = BTreeMap::new();
    for w in weighed.iter().filter(|w| w.mass > 0.0) {
        if let Some(category) = w.category {
            by_category.entry(category).or_default().push(w);
        }
    }
    let mut raw: Vec<(RiskCategory, f64, Vec<&Weighed<'_>>)> = by_category
        .into_iter()
        .map(|(c, items)| (c, c.severity() * items.iter().map(|w| w.mass).sum::<f64>(), items))
        .collect();
    if sentiment.delta() <= -config.falling_threshold {
        let mut falling: Vec<&Weighed<'_>> =
            weighed.iter().filter(|w| w.segment.sentiment.score < 0.0).collect();
        falling.sort_by(|a, b| a.segment.sentiment.score.total_cmp(&b.segment.sentiment.score));
        let category = RiskCategory::FallingSentiment;
        raw.push((category, category.severity() * -sentiment.delta(), falling));
    }
    let total: f64 = raw.iter().map(|(_, r, _)| r).sum();
    let score = 100.0 * (1.0 - (-total / config.saturation).exp());
    let mut reasons: Vec<Reason> = raw
        .into_iter()
        .filter(|(_, _, items)| !items.is_empty())
        .map(|(category, r, items)| reason(category, score * r / total, items, &sentiment, config))
        .collect();
    reasons.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.category.cmp(&b.category)));
    RiskReport {
        score,
        level: RiskLevel::from_score(score),
        sentiment,
        reasons,
        segments_considered: weighed.len(),
    }
}

fn reason(
    category: RiskCategory,
    contribution: f64,
    mut items: Vec<&Weighed<'_>>,
    sentiment: &Trend,
    config: &RiskConfig,
) -> Reason {
    let count = items.len();
    if category != RiskCategory::FallingSentiment {
        items.sort_by(|a, b| {
            b.mass.total_cmp(&a.mass).then(a.segment.segment.index.cmp(&b.segment.segment.index))
        });
    }
    let latest = items.iter().filter_map(|w| w.segment.segment.timestamp_ms).max();
    let summary = match category {
        RiskCategory::FallingSentiment => format!(
            "Customer sentiment fell from {:+.2} to {:+.2} against the previous period.",
            sentiment.baseline.unwrap_or(0.0),
            sentiment.current
        ),
        _ => format!(
            "The customer raised {} {} time{}{}.",
            category.describe(),
            count,
            if count == 1 { "" } else { "s" },
            latest.map(|t| format!(", most recently on {}", day(t))).unwrap_or_default()
        ),
    };
    let evidence = items.into_iter().take(config.max_evidence).map(|w| w.segment.clone()).collect();
    Reason { category, summary, contribution, evidence }
}

/// `YYYY-MM-DD` of a timestamp in ms (UTC), without a calendar dependency.
fn day(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use undertone_core::{AccountId, DocumentKey, Segment, Sentiment, SourceKind, TenantId, TopicScore};

    const NOW: i64 = 1_763_600_000_000;

    fn seg(
        text: &str,
        label: SentimentLabel,
        score: f32,
        role: SpeakerRole,
        topic: Option<&str>,
    ) -> StoredSegment {
        let tenant = TenantId::new("t").unwrap();
        StoredSegment {
            account: AccountId::new("acme").unwrap(),
            document: DocumentKey::new(tenant, SourceKind::Message, text).unwrap(),
            document_hash: String::new(),
            segment: Segment {
                index: 0,
                part: "body".into(),
                text: text.into(),
                speaker: None,
                role,
                timestamp_ms: Some(NOW - 86_400_000),
                media_offset_ms: None,
                char_start: 0,
                char_end: text.chars().count() as u32,
            },
            sentiment: Sentiment { label, score, confidence: 0.9 },
            topics: topic.map(|t| vec![TopicScore { topic: t.into(), score: 0.6 }]).unwrap_or_default(),
            score: 0.0,
        }
    }

    #[test]
    fn negative_customer_speech_raises_risk_with_cited_reasons() {
        use SentimentLabel::*;
        let segments = vec![
            seg("We will not renew.", Neutral, -0.1, SpeakerRole::Customer, Some("churn_intent")),
            seg("The invoice is wrong again.", Negative, -0.8, SpeakerRole::Customer, Some("billing")),
            seg("So sorry about that!", Negative, -0.7, SpeakerRole::Internal, Some("billing")),
        ];
        let report = assess_risk(&segments, &[], NOW, &RiskConfig::default());
        assert!(report.score > 40.0, "{}", report.score);
        assert_eq!(report.reasons[0].category, RiskCategory::ChurnIntent);
        assert_eq!(report.reasons[0].evidence[0].segment.text, "We will not renew.");
        let billing = report.reasons.iter().find(|r| r.category == RiskCategory::Billing).unwrap();
        assert_eq!(billing.evidence.len(), 1, "internal speech is never evidence");
        let sum: f64 = report.reasons.iter().map(|r| r.contribution).sum();
        assert!((sum - report.score).abs() < 1e-6);
        assert_eq!(report.segments_considered, 2);
    }

    #[test]
    fn happy_accounts_score_low_and_falling_sentiment_is_a_reason() {
        use SentimentLabel::*;
        let happy = vec![seg("Love the new reports.", Positive, 0.9, SpeakerRole::Customer, Some("praise"))];
        let report = assess_risk(&happy, &[], NOW, &RiskConfig::default());
        assert_eq!((report.score, report.level), (0.0, RiskLevel::Low));
        let worse = vec![seg("This is a mess.", Negative, -0.6, SpeakerRole::Customer, None)];
        let report = assess_risk(&worse, &happy, NOW, &RiskConfig::default());
        assert!(report.reasons.iter().any(|r| r.category == RiskCategory::FallingSentiment));
        assert!(report.sentiment.delta() < -1.0);
    }

    #[test]
    fn formats_days() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(1_763_600_000_000), "2025-11-20");
    }
}
