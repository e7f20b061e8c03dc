//! Account risk, explained.
//!
//! Inputs: the account's stored segments in the window and in the window before it (the
//! baseline). Only customer speech counts (internal CSM / agent speech never does;
//! speech of unknown role counts at `unknown_role_weight`). A sentence said again in the
//! same account (a quoted reply, a forwarded thread) counts once, where it was first said
//! (see [`crate::repeats`]). Each segment weighs `confidence x recency x role`, recency
//! halving every `half_life_days`.
//!
//! - Sentiment: the weighted mean of segment scores (an EWMA over time).
//! - Evidence mass per category: negative segments count `weight x negativity` towards
//!   their strongest topic's category (or plain negative sentiment); for signal topics
//!   (churn intent, competitors, stakeholder change) a segment counts even when its words
//!   are neutral, unless it is positive.
//! - Resolved complaints: when the customer later says something positive on a topic of
//!   the same category (a positive follow-up: "exports have been flawless since the fix"),
//!   each earlier complaint on that issue weighs
//!   `resolved_weight x 0.5^(days since the follow-up / resolution_half_life_days)` of its
//!   mass: less at once, and less and less over time. A complaint is on the issues of its
//!   topics and, when said in negative words, on the main complaint of its document (the
//!   category with most negative mass there: a ticket, an email or a call is usually about
//!   one problem, and "this is blocking our month-end close" in the export-escalation call
//!   is about the export). Signal topics said in neutral words stay on their own topic.
//! - Score: `100 x (1 - exp(-sum(severity x mass) / saturation))`, split between reasons by
//!   their share. A sentiment drop against the baseline adds a falling-sentiment reason.
//!   Severities per category have defaults ([`RiskCategory::severity`]) that
//!   `[risk.severity]` overrides.

use std::collections::BTreeMap;

use undertone_core::{SentimentLabel, SpeakerRole, StoredSegment};

use crate::RiskCategory;
use crate::repeats::first_utterances;

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
    /// Share of a complaint's mass left right after a positive follow-up on its category.
    pub resolved_weight: f64,
    /// Half-life of a resolved complaint's remaining mass, in days since the follow-up.
    pub resolution_half_life_days: f64,
    /// Severity per category (snake_case names, for example `churn_intent = 2.5`);
    /// categories not listed keep their default.
    pub severity: BTreeMap<String, f64>,
}

impl RiskConfig {
    /// The severity of a category: the configured override, else the default.
    pub fn severity_of(&self, category: RiskCategory) -> f64 {
        self.severity.get(category.as_str()).copied().unwrap_or_else(|| category.severity())
    }

    /// Checks every weight; the message names the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("half_life_days", self.half_life_days),
            ("saturation", self.saturation),
            ("resolution_half_life_days", self.resolution_half_life_days),
        ];
        for (key, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("risk.{key} must be a positive number, got {value}"));
            }
        }
        let unit = [
            ("unknown_role_weight", self.unknown_role_weight),
            ("signal_floor", self.signal_floor),
            ("resolved_weight", self.resolved_weight),
        ];
        for (key, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("risk.{key} must be within 0 and 1, got {value}"));
            }
        }
        for (name, value) in &self.severity {
            if RiskCategory::parse(name).is_none() {
                return Err(format!("risk.severity.{name}: unknown risk category"));
            }
            if !(value.is_finite() && *value >= 0.0) {
                return Err(format!("risk.severity.{name} must be a non-negative number, got {value}"));
            }
        }
        Ok(())
    }
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            half_life_days: 30.0,
            saturation: 2.5,
            unknown_role_weight: 0.5,
            signal_floor: 0.3,
            falling_threshold: 0.2,
            max_evidence: 3,
            resolved_weight: 0.5,
            resolution_half_life_days: 14.0,
            severity: BTreeMap::new(),
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
    /// A later positive follow-up on the same category discounted this complaint.
    resolved: bool,
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
    Some(Weighed { segment, weight, mass, category, resolved: false })
}

/// Discounts complaints that a later positive customer follow-up on the same issue
/// resolved (see the module documentation).
fn discount_resolved(weighed: &mut [Weighed<'_>], now_ms: i64, config: &RiskConfig) {
    // Per category, the times of positive follow-ups on it.
    let mut follow_ups: BTreeMap<RiskCategory, Vec<i64>> = BTreeMap::new();
    for w in weighed.iter().filter(|w| w.segment.sentiment.label == SentimentLabel::Positive) {
        let Some(at) = w.segment.segment.timestamp_ms else { continue };
        for category in w.segment.topics.iter().filter_map(|t| RiskCategory::from_topic(&t.topic)) {
            follow_ups.entry(category).or_default().push(at);
        }
    }
    // The main complaint of each document: the specific category with the most mass of
    // its negative segments (ties: the first category in enum order).
    let mut by_document: BTreeMap<String, BTreeMap<RiskCategory, f64>> = BTreeMap::new();
    for w in weighed.iter().filter(|w| w.mass > 0.0 && w.segment.sentiment.label == SentimentLabel::Negative)
    {
        if let Some(c) = w.category.filter(|c| *c != RiskCategory::NegativeSentiment) {
            *by_document.entry(w.segment.document.storage_key()).or_default().entry(c).or_default() += w.mass;
        }
    }
    let main_of = |key: &str| -> Option<RiskCategory> {
        by_document
            .get(key)?
            .iter()
            .fold(None, |best: Option<(RiskCategory, f64)>, (&c, &m)| match best {
                Some((_, bm)) if bm >= m => best,
                _ => Some((c, m)),
            })
            .map(|(c, _)| c)
    };
    for w in weighed.iter_mut().filter(|w| w.mass > 0.0) {
        let Some(at) = w.segment.segment.timestamp_ms else { continue };
        // The issues a complaint is about: its topics' categories, and (for negative
        // words) its document's main complaint.
        let mut issues: Vec<RiskCategory> =
            w.segment.topics.iter().filter_map(|t| RiskCategory::from_topic(&t.topic)).collect();
        issues.extend(w.category);
        if w.segment.sentiment.label == SentimentLabel::Negative {
            issues.extend(main_of(&w.segment.document.storage_key()));
        }
        let resolved_at = issues
            .iter()
            .filter_map(|c| follow_ups.get(c))
            .flat_map(|times| times.iter().copied().filter(|&t| t > at))
            .min();
        if let Some(resolved_at) = resolved_at {
            let days = ((now_ms - resolved_at) as f64 / DAY_MS).max(0.0);
            w.mass *= config.resolved_weight * 0.5f64.powf(days / config.resolution_half_life_days);
            w.resolved = true;
        }
    }
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
    let (keep_baseline, keep_current) = first_utterances(baseline, current);
    let mut weighed: Vec<Weighed<'_>> =
        keep_current.into_iter().filter_map(|i| weigh(&current[i], now_ms, config)).collect();
    let base: Vec<Weighed<'_>> =
        keep_baseline.into_iter().filter_map(|i| weigh(&baseline[i], now_ms, config)).collect();
    discount_resolved(&mut weighed, now_ms, config);
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
        .map(|(c, items)| (c, config.severity_of(c) * items.iter().map(|w| w.mass).sum::<f64>(), items))
        .collect();
    if sentiment.delta() <= -config.falling_threshold {
        let mut falling: Vec<&Weighed<'_>> =
            weighed.iter().filter(|w| w.segment.sentiment.score < 0.0).collect();
        falling.sort_by(|a, b| a.segment.sentiment.score.total_cmp(&b.segment.sentiment.score));
        let category = RiskCategory::FallingSentiment;
        raw.push((category, config.severity_of(category) * -sentiment.delta(), falling));
    }
    let total: f64 = raw.iter().map(|(_, r, _)| r).sum();
    let score = 100.0 * (1.0 - (-total / config.saturation).exp());
    let total = total.max(f64::MIN_POSITIVE);
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
    let resolved = items.iter().filter(|w| w.resolved).count();
    let resolved_note = match resolved {
        0 => String::new(),
        n if n == count => "; the customer's later positive follow-up suggests it was resolved".to_owned(),
        n => format!("; a later positive follow-up suggests {n} of them were resolved"),
    };
    let summary = match category {
        RiskCategory::FallingSentiment => format!(
            "Customer sentiment fell from {:+.2} to {:+.2} against the previous period.",
            sentiment.baseline.unwrap_or(0.0),
            sentiment.current
        ),
        _ => format!(
            "The customer raised {} {} time{}{}{resolved_note}.",
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
        let config = RiskConfig { signal_floor: 0.5, ..RiskConfig::default() };
        let report = assess_risk(&segments, &[], NOW, &config);
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
    fn a_resolved_complaint_weighs_less_and_less() {
        use SentimentLabel::*;
        let at = |mut s: StoredSegment, days_ago: i64, doc: &str| {
            s.segment.timestamp_ms = Some(NOW - days_ago * 86_400_000);
            s.document = DocumentKey::new(TenantId::new("t").unwrap(), SourceKind::Message, doc).unwrap();
            s
        };
        let complaints = vec![
            at(
                seg(
                    "The export is broken and blocks our close.",
                    Negative,
                    -0.9,
                    SpeakerRole::Customer,
                    Some("data_export"),
                ),
                60,
                "a",
            ),
            at(
                seg(
                    "Exports failed again last night.",
                    Negative,
                    -0.8,
                    SpeakerRole::Customer,
                    Some("data_export"),
                ),
                55,
                "b",
            ),
        ];
        let config = RiskConfig::default();
        let open = assess_risk(&complaints, &[], NOW, &config);
        let fix = |days_ago| {
            at(
                seg(
                    "Exports have been flawless since the fix.",
                    Positive,
                    0.9,
                    SpeakerRole::Customer,
                    Some("data_export"),
                ),
                days_ago,
                "c",
            )
        };
        let mut just_fixed = complaints.clone();
        just_fixed.push(fix(1));
        let mut fixed_long_ago = complaints.clone();
        fixed_long_ago.push(fix(50));
        let recent = assess_risk(&just_fixed, &[], NOW, &config);
        let old = assess_risk(&fixed_long_ago, &[], NOW, &config);
        assert!(
            open.score > recent.score && recent.score > old.score,
            "{} {} {}",
            open.score,
            recent.score,
            old.score
        );
        assert!(old.level == RiskLevel::Low, "{old:?}");
        let reason = recent.reasons.iter().find(|r| r.category == RiskCategory::DataExport).unwrap();
        assert!(reason.summary.contains("resolved"), "{}", reason.summary);
        // A complaint after the follow-up is not resolved by it.
        let mut reopened = fixed_long_ago.clone();
        reopened.push(at(
            seg("The export broke again today.", Negative, -0.9, SpeakerRole::Customer, Some("data_export")),
            0,
            "d",
        ));
        assert!(assess_risk(&reopened, &[], NOW, &config).score > old.score + 10.0);
    }

    #[test]
    fn a_resolved_issue_covers_the_other_complaints_of_its_document() {
        use SentimentLabel::*;
        let in_call = |text: &str, label, score, topic, days_ago: i64, index| {
            let mut s = seg(text, label, score, SpeakerRole::Customer, topic);
            s.document =
                DocumentKey::new(TenantId::new("t").unwrap(), SourceKind::Call, "escalation").unwrap();
            s.segment.index = index;
            s.segment.timestamp_ms = Some(NOW - days_ago * 86_400_000);
            s
        };
        let call = vec![
            in_call("The export is broken again.", Negative, -0.9, Some("data_export"), 60, 0),
            in_call("Exports fail every night.", Negative, -0.8, Some("data_export"), 60, 1),
            in_call("This is blocking our month-end close.", Negative, -0.6, Some("churn_intent"), 60, 2),
            in_call("Worst month we have had.", Negative, -0.9, None, 60, 3),
        ];
        let config = RiskConfig::default();
        let open = assess_risk(&call, &[], NOW, &config);
        let mut fixed = call.clone();
        let mut thanks = seg(
            "Exports have been flawless since the fix.",
            Positive,
            0.9,
            SpeakerRole::Customer,
            Some("data_export"),
        );
        thanks.segment.timestamp_ms = Some(NOW - 40 * 86_400_000);
        fixed.push(thanks);
        let report = assess_risk(&fixed, &[], NOW, &config);
        assert!(report.reasons.iter().all(|r| r.summary.contains("resolved")), "{report:?}");
        assert!(report.score < open.score / 5.0, "{} vs {}", report.score, open.score);
    }

    #[test]
    fn a_quoted_sentence_counts_once() {
        use SentimentLabel::*;
        let original = seg("We will not renew.", Neutral, -0.1, SpeakerRole::Customer, Some("churn_intent"));
        let mut quoted = original.clone();
        quoted.document = DocumentKey::new(TenantId::new("t").unwrap(), SourceKind::Email, "reply").unwrap();
        quoted.segment.text = "> We will not renew.".into();
        quoted.segment.timestamp_ms = original.segment.timestamp_ms.map(|t| t + 1);
        let once = assess_risk(std::slice::from_ref(&original), &[], NOW, &RiskConfig::default());
        let twice = assess_risk(&[quoted, original], &[], NOW, &RiskConfig::default());
        assert_eq!(once.score, twice.score);
        assert_eq!(twice.segments_considered, 1);
    }

    #[test]
    fn severities_are_configurable_and_validated() {
        use SentimentLabel::*;
        let segments =
            vec![seg("The invoice is wrong again.", Negative, -0.8, SpeakerRole::Customer, Some("billing"))];
        let mut config = RiskConfig::default();
        let base = assess_risk(&segments, &[], NOW, &config).score;
        config.severity.insert("billing".into(), 3.0);
        assert!(assess_risk(&segments, &[], NOW, &config).score > base);
        assert!(config.validate().is_ok());
        config.severity.insert("biling".into(), 1.0);
        assert!(config.validate().unwrap_err().contains("risk.severity.biling"));
        let config = RiskConfig { saturation: 0.0, ..RiskConfig::default() };
        assert!(config.validate().unwrap_err().contains("risk.saturation"));
    }

    #[test]
    fn formats_days() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(1_763_600_000_000), "2025-11-20");
    }
}
