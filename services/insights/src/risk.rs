//! Account risk, explained, from the signal model's evidence.
//!
//! Inputs: the account's stored segments in the window and in the window before it (the
//! baseline), and what is known of the account ([`AccountContext`]: renewal date, people).
//! Only customer speech counts (internal CSM / agent speech never does; speech of unknown
//! role at `unknown_role_weight`). A sentence said again in the same account (a quoted
//! reply, a forwarded thread) counts once, where it was first said ([`crate::repeats`]).
//!
//! - Evidence: a segment is evidence of a category when the signal model gives it at
//!   least `evidence_floor` for that category. It weighs
//!   `probability x recency x role x seniority x tone`: recency halves every
//!   `half_life_days`; the customer's decision-makers (titles such as VP, CFO, director,
//!   owner, procurement) weigh 1, other known contacts `contributor_weight`, unknown
//!   speakers `unknown_speaker_weight`; tone is 1 for intent categories (churn,
//!   competitor, stakeholder change: "we will not renew" is said calmly) and
//!   `0.4 + 0.6 x negativity` for problems (an angry report weighs more than a mild one).
//! - Resolution: a complaint followed later in the window by the customer's positive
//!   words on the same subject (a positive segment of the same document, or one whose
//!   topic is that category: "exports have been flawless since the fix") keeps
//!   `resolved_weight x 0.5^(days since the follow-up / resolution_half_life_days)` of
//!   its weight.
//! - Reasons: a category with evidence mass of at least `min_mass` (problems: about two
//!   clear, recent reports) or `intent_min_mass` (intent: one clear statement) is a
//!   reason; its strength is `1 - exp(-mass / saturation)` (per category, so a single
//!   "we will not renew" is strong while a problem must repeat).
//!   Less evidence says nothing: healthy accounts get no reasons.
//! - Score: 0 without reasons; else `25 + 75 x (1 - prod(1 - severity x strength))`, so
//!   LOW (< 25) means no reason, MEDIUM (25-50) one or two specific open problems, HIGH
//!   (50-75) serious or several problems or a real risk signal, CRITICAL (>= 75) stated
//!   intent to leave, or HIGH with the renewal within `renewal_window_days` (the score is
//!   then lifted into CRITICAL: `75 + (score - 50) / 2`). Reasons' contributions add up
//!   to the score.
//! - Falling sentiment: customer sentiment net negative and at least `falling_threshold`
//!   below the previous window is a reason too.

use std::collections::{BTreeMap, BTreeSet};

use undertone_core::{SentimentLabel, SpeakerRole, StoredSegment};

use crate::RiskCategory;
use crate::context::{AccountContext, Seniority};
use crate::repeats::first_utterances;

const DAY_MS: f64 = 86_400_000.0;

/// Scoring weights; documented defaults, configurable (`[risk]`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RiskConfig {
    /// Recency half-life of a segment's weight, in days.
    pub half_life_days: f64,
    /// Weight of speech whose speaker role is unknown.
    pub unknown_role_weight: f64,
    /// Weight of a known contact who is not a decision-maker.
    pub contributor_weight: f64,
    /// Weight of a speaker who is not among the account's contacts.
    pub unknown_speaker_weight: f64,
    /// Signal probability from which a segment is evidence of a category.
    pub evidence_floor: f64,
    /// Evidence mass a problem category needs to be a reason.
    pub min_mass: f64,
    /// Evidence mass an intent category (churn, competitor, stakeholder change) needs: one
    /// clear statement is enough.
    pub intent_min_mass: f64,
    /// Sentiment drop against the baseline that counts as falling sentiment.
    pub falling_threshold: f64,
    /// Evidence items per reason.
    pub max_evidence: usize,
    /// Share of a complaint's weight left right after a positive follow-up on it.
    pub resolved_weight: f64,
    /// Half-life of a resolved complaint's remaining weight, in days since the follow-up.
    pub resolution_half_life_days: f64,
    /// A HIGH account whose renewal is at most this many days away is CRITICAL.
    pub renewal_window_days: f64,
    /// Severity per category (0 to 1; snake_case names, e.g. `churn_intent = 0.9`);
    /// categories not listed keep their default ([`RiskCategory::severity`]).
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
            ("resolution_half_life_days", self.resolution_half_life_days),
            ("min_mass", self.min_mass),
            ("intent_min_mass", self.intent_min_mass),
        ];
        for (key, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("risk.{key} must be a positive number, got {value}"));
            }
        }
        let unit = [
            ("unknown_role_weight", self.unknown_role_weight),
            ("contributor_weight", self.contributor_weight),
            ("unknown_speaker_weight", self.unknown_speaker_weight),
            ("evidence_floor", self.evidence_floor),
            ("resolved_weight", self.resolved_weight),
        ];
        for (key, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("risk.{key} must be within 0 and 1, got {value}"));
            }
        }
        if !(self.renewal_window_days.is_finite() && self.renewal_window_days >= 0.0) {
            return Err(format!("risk.renewal_window_days must be >= 0, got {}", self.renewal_window_days));
        }
        for (name, value) in &self.severity {
            if RiskCategory::parse(name).is_none() {
                return Err(format!("risk.severity.{name}: unknown risk category"));
            }
            if !(value.is_finite() && (0.0..=1.0).contains(value)) {
                return Err(format!("risk.severity.{name} must be within 0 and 1, got {value}"));
            }
        }
        Ok(())
    }
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            half_life_days: 45.0,
            unknown_role_weight: 0.5,
            contributor_weight: 0.75,
            unknown_speaker_weight: 0.85,
            evidence_floor: 0.8,
            min_mass: 1.0,
            intent_min_mass: 0.7,
            falling_threshold: 0.4,
            max_evidence: 3,
            resolved_weight: 0.3,
            resolution_half_life_days: 14.0,
            renewal_window_days: 60.0,
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
    /// How sure the evidence makes the reason, 0 to 1.
    pub strength: f64,
    /// Most specific first (highest signal probability, then most recent); verbatim
    /// stored segments of the account.
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
    /// Days from the assessment to the renewal, when the renewal date is known.
    pub days_to_renewal: Option<f64>,
    /// Whether the renewal's nearness lifted the level (HIGH to CRITICAL).
    pub renewal_escalated: bool,
    /// One plain-language paragraph: the level, why, and the renewal.
    pub explanation: String,
}

/// One customer segment as evidence.
struct Weighed<'a> {
    segment: &'a StoredSegment,
    /// `recency x role x seniority`.
    weight: f64,
    /// The categories the signal model found at or above the evidence floor.
    signals: Vec<(RiskCategory, f64)>,
    /// Weight left per category after a later resolution (absent: unresolved).
    resolved: BTreeMap<RiskCategory, f64>,
}

impl Weighed<'_> {
    fn at(&self) -> Option<i64> {
        self.segment.segment.timestamp_ms
    }

    fn probability(&self, category: RiskCategory) -> f64 {
        self.signals.iter().find(|(c, _)| *c == category).map_or(0.0, |(_, p)| *p)
    }

    /// This segment's evidence mass for `category`.
    fn mass(&self, category: RiskCategory) -> f64 {
        let left = self.resolved.get(&category).copied().unwrap_or(1.0);
        self.probability(category) * self.weight * self.tone(category) * left
    }

    /// How much the tone supports the category: 1 for intent, which needs no complaint;
    /// for a problem, from 0.4 (said neutrally) to 1 (said with strong negative tone).
    fn tone(&self, category: RiskCategory) -> f64 {
        if category.is_signal() {
            1.0
        } else {
            0.4 + 0.6 * f64::from((-self.segment.sentiment.score).max(0.0))
        }
    }
}

fn weigh<'a>(
    segment: &'a StoredSegment,
    now_ms: i64,
    context: &AccountContext,
    config: &RiskConfig,
) -> Option<Weighed<'a>> {
    let role = match segment.segment.role {
        SpeakerRole::Customer => 1.0,
        SpeakerRole::Unknown => config.unknown_role_weight,
        SpeakerRole::Internal => return None,
    };
    let seniority = match context.seniority(segment.segment.speaker.as_deref()) {
        Seniority::DecisionMaker => 1.0,
        Seniority::Contributor => config.contributor_weight,
        Seniority::Unknown => config.unknown_speaker_weight,
    };
    let age_days =
        segment.segment.timestamp_ms.map_or(0.0, |t| (now_ms.saturating_sub(t) as f64 / DAY_MS).max(0.0));
    let recency = 0.5f64.powf(age_days / config.half_life_days);
    let signals = segment
        .signals
        .iter()
        .filter(|s| f64::from(s.probability) >= config.evidence_floor)
        .filter_map(|s| Some((RiskCategory::parse(&s.category)?, f64::from(s.probability))))
        .collect();
    Some(Weighed { segment, weight: role * recency * seniority, signals, resolved: BTreeMap::new() })
}

/// Discounts complaints that the customer's later positive words on the same subject
/// resolved: a positive segment later in the same ticket, or one on the category's topic.
fn discount_resolved(weighed: &mut [Weighed<'_>], now_ms: i64, config: &RiskConfig) {
    let follow_ups: Vec<(i64, String, BTreeSet<RiskCategory>, bool)> = weighed
        .iter()
        .filter(|w| w.segment.sentiment.label == SentimentLabel::Positive)
        .filter_map(|w| {
            let topics = w.segment.topics.iter().filter_map(|t| RiskCategory::from_topic(&t.topic)).collect();
            let ticket = w.segment.document.source_kind == undertone_core::SourceKind::Ticket;
            Some((w.at()?, w.segment.document.storage_key(), topics, ticket))
        })
        .collect();
    for w in weighed.iter_mut() {
        let Some(at) = w.at() else { continue };
        let key = w.segment.document.storage_key();
        for &(category, _) in &w.signals {
            let resolved_at = follow_ups
                .iter()
                .filter(|(t, doc, topics, ticket)| {
                    *t > at && (topics.contains(&category) || (*ticket && *doc == key))
                })
                .map(|(t, ..)| *t)
                .min();
            if let Some(resolved_at) = resolved_at {
                let days = (now_ms.saturating_sub(resolved_at) as f64 / DAY_MS).max(0.0);
                let left = config.resolved_weight * 0.5f64.powf(days / config.resolution_half_life_days);
                w.resolved.insert(category, left);
            }
        }
    }
}

fn weighted_sentiment(weighed: &[Weighed<'_>]) -> Option<f64> {
    let total: f64 = weighed.iter().map(|w| w.weight).sum();
    (total > 0.0)
        .then(|| weighed.iter().map(|w| w.weight * f64::from(w.segment.sentiment.score)).sum::<f64>() / total)
}

/// A reason before the score is split: its category, strength and evidence.
struct Draft<'a> {
    category: RiskCategory,
    strength: f64,
    items: Vec<&'a Weighed<'a>>,
}

fn category_drafts<'a>(weighed: &'a [Weighed<'a>], config: &RiskConfig) -> Vec<Draft<'a>> {
    let categories: BTreeSet<RiskCategory> =
        weighed.iter().flat_map(|w| w.signals.iter().map(|s| s.0)).collect();
    categories
        .into_iter()
        .filter_map(|category| {
            let mut items: Vec<&Weighed<'_>> =
                weighed.iter().filter(|w| w.probability(category) > 0.0).collect();
            let mass: f64 = items.iter().map(|w| w.mass(category)).sum();
            let needed = if category.is_signal() { config.intent_min_mass } else { config.min_mass };
            if mass < needed {
                return None;
            }
            items.sort_by_cached_key(|w| citation_order(w, category));
            let items = spread_over_documents(items);
            Some(Draft { category, strength: 1.0 - (-mass / category.saturation()).exp(), items })
        })
        .collect()
}

/// The order reasons cite their evidence in: the most specific first (probability, and
/// for a problem the negative tone it is stated in, in steps of 0.1 so near-equal ones
/// tie), body text before titles and subject lines, the more specific (longer, up to 30
/// words) sentence first, then the most recent.
fn citation_order(
    w: &Weighed<'_>,
    category: RiskCategory,
) -> (std::cmp::Reverse<u32>, bool, std::cmp::Reverse<usize>, std::cmp::Reverse<i64>) {
    use std::cmp::Reverse;
    let certainty = (w.probability(category) * w.tone(category) * 10.0).floor() as u32;
    let title = w.segment.segment.part == "subject";
    let words = w.segment.segment.text.split_whitespace().count().min(30);
    (Reverse(certainty), title, Reverse(words), Reverse(w.at().unwrap_or(i64::MIN)))
}

/// `items` in citation order, one per document first: three sentences from three
/// messages show a pattern that three from one message do not.
fn spread_over_documents<'a>(items: Vec<&'a Weighed<'a>>) -> Vec<&'a Weighed<'a>> {
    let mut seen = BTreeSet::new();
    let (first, rest): (Vec<_>, Vec<_>) =
        items.into_iter().partition(|w| seen.insert(w.segment.document.storage_key()));
    first.into_iter().chain(rest).collect()
}

fn falling_draft<'a>(
    weighed: &'a [Weighed<'a>],
    sentiment: &Trend,
    config: &RiskConfig,
) -> Option<Draft<'a>> {
    const MIN_SEGMENTS: usize = 4;
    let falling = sentiment.baseline.is_some()
        && sentiment.delta() <= -config.falling_threshold
        && sentiment.current < -0.1
        && weighed.len() >= MIN_SEGMENTS;
    if !falling {
        return None;
    }
    let mut items: Vec<&Weighed<'_>> = weighed.iter().filter(|w| w.segment.sentiment.score <= -0.5).collect();
    items.sort_by(|a, b| {
        a.segment.sentiment.score.total_cmp(&b.segment.sentiment.score).then(b.at().cmp(&a.at()))
    });
    let strength = (-sentiment.delta() / (2.0 * config.falling_threshold)).min(1.0);
    Some(Draft { category: RiskCategory::FallingSentiment, strength, items })
}

/// Assesses an account from its segments in the window (`current`) and the window before
/// it (`baseline`), as of `now_ms`.
pub fn assess_risk(
    current: &[StoredSegment],
    baseline: &[StoredSegment],
    now_ms: i64,
    context: &AccountContext,
    config: &RiskConfig,
) -> RiskReport {
    let (keep_baseline, keep_current) = first_utterances(baseline, current);
    let mut weighed: Vec<Weighed<'_>> =
        keep_current.into_iter().filter_map(|i| weigh(&current[i], now_ms, context, config)).collect();
    let base: Vec<Weighed<'_>> =
        keep_baseline.into_iter().filter_map(|i| weigh(&baseline[i], now_ms, context, config)).collect();
    discount_resolved(&mut weighed, now_ms, config);
    let sentiment =
        Trend { current: weighted_sentiment(&weighed).unwrap_or(0.0), baseline: weighted_sentiment(&base) };

    let mut drafts = category_drafts(&weighed, config);
    drafts.extend(falling_draft(&weighed, &sentiment, config));
    // Each reason's share of the score: its -ln(1 - severity x strength), so shares of the
    // combined probability add up.
    let shares: Vec<f64> = drafts
        .iter()
        .map(|d| -(1.0 - (config.severity_of(d.category) * d.strength).min(0.999)).ln())
        .collect();
    let total: f64 = shares.iter().sum();
    let mut score = if drafts.is_empty() { 0.0 } else { 25.0 + 75.0 * (1.0 - (-total).exp()) };
    let days_to_renewal = context.renewal_date_ms.map(|r| r.saturating_sub(now_ms) as f64 / DAY_MS);
    let renewal_escalated = RiskLevel::from_score(score) == RiskLevel::High
        && days_to_renewal.is_some_and(|d| (0.0..=config.renewal_window_days).contains(&d));
    if renewal_escalated {
        score = 75.0 + (score - 50.0) / 2.0;
    }
    let mut reasons: Vec<Reason> = drafts
        .into_iter()
        .zip(shares)
        .map(|(draft, share)| {
            reason(draft, score * share / total.max(f64::MIN_POSITIVE), &sentiment, context, config)
        })
        .collect();
    reasons.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.category.cmp(&b.category)));
    let level = RiskLevel::from_score(score);
    let explanation = explain(score, level, &reasons, days_to_renewal, renewal_escalated, context);
    RiskReport {
        score,
        level,
        sentiment,
        reasons,
        segments_considered: weighed.len(),
        days_to_renewal,
        renewal_escalated,
        explanation,
    }
}

fn level_name(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "Low",
        RiskLevel::Medium => "Medium",
        RiskLevel::High => "High",
        RiskLevel::Critical => "Critical",
    }
}

fn explain(
    score: f64,
    level: RiskLevel,
    reasons: &[Reason],
    days_to_renewal: Option<f64>,
    escalated: bool,
    context: &AccountContext,
) -> String {
    let mut text = if reasons.is_empty() {
        "Low risk: nothing the customer said in this window points to a risk.".to_owned()
    } else {
        let names: Vec<&str> = reasons.iter().map(|r| r.category.describe()).collect();
        format!("{} risk ({score:.0}/100) because of {}.", level_name(level), names.join(", "))
    };
    if let (Some(days), Some(at)) = (days_to_renewal, context.renewal_date_ms)
        && days >= 0.0
    {
        text.push_str(&format!(" Renewal on {}, in {:.0} days", day(at), days.floor()));
        text.push_str(if escalated { ", which makes it critical." } else { "." });
    }
    text
}

fn reason(
    draft: Draft<'_>,
    contribution: f64,
    sentiment: &Trend,
    context: &AccountContext,
    config: &RiskConfig,
) -> Reason {
    let Draft { category, strength, items } = draft;
    let summary = match category {
        RiskCategory::FallingSentiment => format!(
            "Customer sentiment fell from {:+.2} to {:+.2} against the previous period.",
            sentiment.baseline.unwrap_or(0.0),
            sentiment.current
        ),
        _ => statement_summary(category, strength, &items, context),
    };
    let evidence = items.into_iter().take(config.max_evidence).map(|w| w.segment.clone()).collect();
    Reason { category, summary, contribution, strength, evidence }
}

/// "The customer said they may cancel or not renew: twice in November 2026, by Maria Chen
/// (COO); strength 0.93."
fn statement_summary(
    category: RiskCategory,
    strength: f64,
    items: &[&Weighed<'_>],
    context: &AccountContext,
) -> String {
    let count = match items.len() {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    };
    let times: Vec<i64> = items.iter().filter_map(|w| w.at()).collect();
    let when = match (times.iter().min(), times.iter().max()) {
        (Some(&first), Some(&last)) if month(first) == month(last) => format!(" in {}", month(first)),
        (Some(&first), Some(&last)) => format!(" between {} and {}", day(first), day(last)),
        _ => String::new(),
    };
    let mut speakers: Vec<String> = Vec::new();
    for w in items {
        if let Some(speaker) = &w.segment.segment.speaker {
            let named = context.describe_speaker(speaker);
            if !speakers.contains(&named) {
                speakers.push(named);
            }
        }
    }
    let who = match speakers.len() {
        0 => String::new(),
        1..=3 => format!(", by {}", and_list(&speakers)),
        n => format!(", by {} and {} others", speakers[..2].join(", "), n - 2),
    };
    let resolved = items.iter().filter(|w| w.resolved.contains_key(&category)).count();
    let resolved_note = match resolved {
        0 => String::new(),
        n if n == items.len() => {
            "; the customer's later positive follow-up suggests it was resolved".to_owned()
        }
        n => format!("; a later positive follow-up suggests {n} of them were resolved"),
    };
    format!("{}: {count}{when}{who}; strength {strength:.2}{resolved_note}.", category.statement())
}

fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "November 2026" of a timestamp in ms (UTC).
fn month(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let date = day(ms);
    let m: usize = date[5..7].parse().unwrap_or(1);
    format!("{} {}", MONTHS[m.clamp(1, 12) - 1], &date[..4])
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
    use crate::testing::{DAY, NOW, SegExt, harbor_contacts, seg_at};
    use SentimentLabel::*;

    fn context() -> AccountContext {
        AccountContext { renewal_date_ms: Some(NOW + 200 * DAY), contacts: harbor_contacts() }
    }

    fn said(doc: &str, text: &str, days_ago: i64) -> StoredSegment {
        seg_at("harbor", doc, 0, text, NOW - days_ago * DAY).speaker("Maria Chen <maria@harbor.example>")
    }

    fn assess(segments: &[StoredSegment]) -> RiskReport {
        assess_risk(segments, &[], NOW, &context(), &RiskConfig::default())
    }

    #[test]
    fn stated_intent_by_a_decision_maker_is_critical_with_cited_reasons() {
        let segments = vec![
            said("a", "We will not renew on the current terms.", 3).signal("churn_intent", 0.95),
            said("b", "The app crashed again and we lost three work orders.", 10)
                .sentiment(Negative, -0.8)
                .signal("reliability", 0.9),
            said("b", "So sorry about that!", 10).role(SpeakerRole::Internal).signal("reliability", 0.9),
        ];
        let report = assess(&segments);
        assert_eq!(report.level, RiskLevel::Critical, "{report:?}");
        assert_eq!(report.reasons[0].category, RiskCategory::ChurnIntent);
        assert_eq!(report.reasons[0].evidence[0].segment.text, "We will not renew on the current terms.");
        assert!(report.reasons[0].summary.contains("by Maria Chen (COO)"), "{}", report.reasons[0].summary);
        assert!(report.reasons[0].strength > 0.8, "{}", report.reasons[0].strength);
        let sum: f64 = report.reasons.iter().map(|r| r.contribution).sum();
        assert!((sum - report.score).abs() < 1e-6);
        assert_eq!(report.segments_considered, 2, "internal speech is never evidence");
        assert!(report.explanation.starts_with("Critical risk"), "{}", report.explanation);
    }

    #[test]
    fn healthy_accounts_and_weak_or_old_signals_get_no_reason() {
        let happy = vec![
            said("a", "Love the new dispatch board.", 3).sentiment(Positive, 0.9),
            // A cancelled check-in: the model gives it a low churn probability.
            said("b", "I need to cancel our Thursday check-in.", 2).signal("churn_intent", 0.3),
        ];
        let report = assess(&happy);
        assert_eq!((report.score, report.level), (0.0, RiskLevel::Low));
        assert!(report.reasons.is_empty());
        assert!(report.explanation.starts_with("Low risk"));
        // One lukewarm signal from someone without buying power, long ago, says nothing.
        let weak = vec![
            seg_at("harbor", "c", 0, "The route screen was a bit slow.", NOW - 80 * DAY)
                .speaker("Tim Ruiz")
                .sentiment(Neutral, -0.1)
                .signal("performance", 0.6),
        ];
        assert!(assess(&weak).reasons.is_empty(), "{:?}", assess(&weak));
    }

    #[test]
    fn a_decision_maker_weighs_more_than_anyone_else() {
        let by = |speaker: &str| {
            vec![
                seg_at("harbor", "a", 0, "We are piloting FieldForge.", NOW - 5 * DAY)
                    .speaker(speaker)
                    .signal("competitor", 0.8),
            ]
        };
        // The COO's one statement is a reason; the same words from a dispatcher are not.
        let coo = assess(&by("Maria Chen"));
        let dispatcher = assess(&by("Tim Ruiz"));
        assert_eq!(coo.reasons[0].category, RiskCategory::Competitor, "{coo:?}");
        assert!(coo.score > dispatcher.score, "{dispatcher:?}");
    }

    #[test]
    fn a_complaint_resolved_later_in_its_ticket_stops_being_a_reason() {
        let mut complaint =
            said("t-1", "Exports fail every night.", 12).sentiment(Negative, -0.9).signal("data_export", 0.9);
        complaint.document.source_kind = undertone_core::SourceKind::Ticket;
        let mut again = said("t-1", "Still failing, the file is empty.", 11)
            .sentiment(Negative, -0.9)
            .signal("data_export", 0.9);
        again.document = complaint.document.clone();
        again.segment.index = 1;
        let open = assess(&[complaint.clone(), again.clone()]);
        assert_eq!(open.reasons[0].category, RiskCategory::DataExport, "{open:?}");
        let mut thanks = said("t-1", "That fixed it, thank you!", 8).sentiment(Positive, 0.9);
        thanks.document = complaint.document.clone();
        thanks.segment.index = 2;
        let resolved = assess(&[complaint, again, thanks]);
        assert!(resolved.reasons.is_empty(), "{resolved:?}");
    }

    #[test]
    fn a_quoted_sentence_counts_once() {
        let original = said("a", "We will not renew.", 10).signal("churn_intent", 0.9);
        let mut quoted = original.clone();
        quoted.document = undertone_core::DocumentKey::new(
            undertone_core::TenantId::new("t").unwrap(),
            undertone_core::SourceKind::Email,
            "reply",
        )
        .unwrap();
        quoted.segment.text = "> We will not renew.".into();
        quoted.segment.timestamp_ms = original.segment.timestamp_ms.map(|t| t + 1);
        let once = assess(std::slice::from_ref(&original));
        let twice = assess(&[quoted, original]);
        assert_eq!(once.score, twice.score);
        assert_eq!(twice.segments_considered, 1);
    }

    #[test]
    fn renewal_nearness_lifts_high_to_critical() {
        let segments = vec![
            said("a", "We have started a pilot with FieldForge.", 5).signal("competitor", 0.9),
            said("b", "Routing takes minutes every morning.", 4)
                .sentiment(Negative, -0.6)
                .signal("performance", 0.9),
        ];
        let far = assess(&segments);
        assert_eq!(far.level, RiskLevel::High, "{far:?}");
        let near = AccountContext { renewal_date_ms: Some(NOW + 30 * DAY), ..context() };
        let report = assess_risk(&segments, &[], NOW, &near, &RiskConfig::default());
        assert_eq!(report.level, RiskLevel::Critical);
        assert!(
            report.renewal_escalated && report.explanation.contains("in 30 days"),
            "{}",
            report.explanation
        );
        let sum: f64 = report.reasons.iter().map(|r| r.contribution).sum();
        assert!((sum - report.score).abs() < 1e-6);
    }

    #[test]
    fn falling_sentiment_needs_a_net_negative_tone() {
        let tone = |score: f32, days_ago: i64| {
            said("x", &format!("How things are on day {days_ago}."), days_ago).sentiment(Neutral, score)
        };
        let baseline: Vec<StoredSegment> = (0..5).map(|i| tone(0.8, 100 + i)).collect();
        let still_positive: Vec<StoredSegment> = (0..5).map(|i| tone(0.3, 10 + i)).collect();
        let report = assess_risk(&still_positive, &baseline, NOW, &context(), &RiskConfig::default());
        assert!(report.reasons.is_empty(), "{report:?}");
        let negative: Vec<StoredSegment> = (0..5).map(|i| tone(-0.6, 10 + i)).collect();
        let report = assess_risk(&negative, &baseline, NOW, &context(), &RiskConfig::default());
        assert_eq!(report.reasons[0].category, RiskCategory::FallingSentiment);
    }

    #[test]
    fn severities_are_configurable_and_validated() {
        let segments = vec![
            said("a", "The invoice is wrong again.", 2).sentiment(Negative, -0.8).signal("billing", 0.9),
            said("b", "We were charged twice this month.", 1)
                .sentiment(Negative, -0.8)
                .signal("billing", 0.9),
        ];
        let mut config = RiskConfig::default();
        let base = assess_risk(&segments, &[], NOW, &context(), &config).score;
        config.severity.insert("billing".into(), 0.9);
        assert!(assess_risk(&segments, &[], NOW, &context(), &config).score > base);
        assert!(config.validate().is_ok());
        config.severity.insert("biling".into(), 0.5);
        assert!(config.validate().unwrap_err().contains("risk.severity.biling"));
        let config = RiskConfig { min_mass: 0.0, ..RiskConfig::default() };
        assert!(config.validate().unwrap_err().contains("risk.min_mass"));
    }

    #[test]
    fn formats_days_and_months() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(1_763_600_000_000), "2025-11-20");
        assert_eq!(month(NOW), "November 2026");
    }
}
