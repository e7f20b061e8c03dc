//! Next-best-actions: which playbook actions fit an account, ranked.
//!
//! 1. Trigger: an action applies when its `when` conditions hold for the account's risk
//!    reasons (see [`crate::playbook`]); when none does, the fallback actions apply.
//! 2. Relevance: the cosine similarity of the action's description embedding to the
//!    embeddings of the triggering reasons' evidence sentences; the mean of the best
//!    `top_matches` (negative similarities count as 0).
//! 3. Contribution share: the triggering reasons' points of the risk score, / 100.
//! 4. Score: `priority x (relevance_weight x relevance + contribution_weight x share) x
//!    feedback factor` ([`crate::feedback`]); a fallback action without evidence scores
//!    `priority x fallback_score x feedback factor`. Highest first, ties in playbook order.
//!
//! Each suggestion carries its rationale (the action's `why`, the triggering reasons with
//! their points, the closest evidence sentence, and any feedback that moved it) and the
//! triggering evidence most similar to the action.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use undertone_core::StoredSegment;

use crate::cluster::dot;
use crate::feedback::{FeedbackConfig, FeedbackFactors};
use crate::playbook::{Playbook, triggered};
use crate::repeats::point_order;
use crate::{RiskCategory, RiskReport};

/// Ranking weights; documented defaults, configurable (`[insights.actions]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionConfig {
    pub relevance_weight: f64,
    pub contribution_weight: f64,
    /// Best-matching evidence sentences averaged into the relevance.
    pub top_matches: usize,
    /// Evidence sentences per risk reason compared with the actions.
    pub evidence_per_reason: usize,
    /// Base score of a fallback action suggested without any triggering reason.
    pub fallback_score: f64,
    pub feedback: FeedbackConfig,
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            relevance_weight: 0.6,
            contribution_weight: 0.4,
            top_matches: 3,
            evidence_per_reason: 10,
            fallback_score: 0.1,
            feedback: FeedbackConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub action_id: String,
    pub title: String,
    pub rationale: String,
    pub score: f64,
    /// Mean similarity of the best-matching evidence to the action's description.
    pub relevance: f64,
    pub triggered_by: Vec<RiskCategory>,
    /// Triggering evidence most similar to the action first, with that similarity.
    pub evidence: Vec<(StoredSegment, f32)>,
}

/// Ranks the playbook's actions for one account. `action_embeddings` are parallel to
/// `playbook.actions`; `embeddings` holds the evidence segments' embeddings by
/// [`point_order`]. Evidence without an embedding counts as unrelated.
pub fn rank_actions(
    playbook: &Playbook,
    action_embeddings: &[Vec<f32>],
    report: &RiskReport,
    embeddings: &BTreeMap<u128, Vec<f32>>,
    feedback: &FeedbackFactors,
    config: &ActionConfig,
    max_evidence: usize,
) -> Vec<Suggestion> {
    let index_of = |id: &str| playbook.actions.iter().position(|a| a.id == id).unwrap_or(usize::MAX);
    let mut ranked: Vec<(usize, Suggestion)> = triggered(playbook, report)
        .into_iter()
        .map(|(action, reasons)| {
            let at = index_of(&action.id);
            let description = action_embeddings.get(at).map(Vec::as_slice).unwrap_or(&[]);
            let mut evidence: Vec<(StoredSegment, f32)> = Vec::new();
            for reason in &reasons {
                for segment in reason.evidence.iter().take(config.evidence_per_reason) {
                    let key = point_order(segment);
                    if evidence.iter().any(|(s, _)| point_order(s) == key) {
                        continue;
                    }
                    let similarity = embeddings.get(&key).map_or(0.0, |e| dot(e, description));
                    evidence.push((segment.clone(), similarity));
                }
            }
            evidence.sort_by(|a, b| b.1.total_cmp(&a.1).then(point_order(&a.0).cmp(&point_order(&b.0))));
            let top = config.top_matches.max(1).min(evidence.len());
            let relevance = if top == 0 {
                0.0
            } else {
                evidence[..top].iter().map(|(_, s)| f64::from(s.max(0.0))).sum::<f64>() / top as f64
            };
            let share = reasons.iter().map(|r| r.contribution).sum::<f64>() / 100.0;
            let factor = feedback.factor(&action.id);
            let base = if reasons.is_empty() {
                config.fallback_score
            } else {
                config.relevance_weight * relevance + config.contribution_weight * share
            };
            let score = action.priority * base * factor;
            let rationale = rationale(&action.why, &reasons, evidence.first(), feedback.note(&action.id));
            evidence.truncate(max_evidence);
            let suggestion = Suggestion {
                action_id: action.id.clone(),
                title: action.title.clone(),
                rationale,
                score,
                relevance,
                triggered_by: reasons.iter().map(|r| r.category).collect(),
                evidence,
            };
            (at, suggestion)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    ranked.into_iter().map(|(_, s)| s).collect()
}

fn rationale(
    why: &str,
    reasons: &[&crate::Reason],
    closest: Option<&(StoredSegment, f32)>,
    feedback: Option<String>,
) -> String {
    let mut out = why.trim().to_owned();
    if reasons.is_empty() {
        out.push_str(" No specific risk reason stands out for this account right now.");
    } else {
        let listed: Vec<String> = reasons
            .iter()
            .map(|r| format!("{} (+{:.0} points)", r.category.describe(), r.contribution))
            .collect();
        out.push_str(&format!(" Triggered by {}", listed.join(", ")));
        if let Some((segment, _)) = closest {
            out.push_str(&format!("; closest evidence: \"{}\"", segment.segment.text));
        }
        out.push('.');
    }
    if let Some(note) = feedback {
        out.push(' ');
        out.push_str(&note);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::{FeedbackEvent, Outcome};
    use crate::testing::{NOW, complaint, unit};
    use crate::{Reason, RiskLevel, Trend};
    use undertone_core::{AccountId, TenantId};

    const DIM: usize = 16;

    /// An account with a churn reason (evidence on axis 0) and a billing reason (axis 4).
    /// The playbook, its action embeddings, the report and the evidence embeddings.
    type Fixture = (Playbook, Vec<Vec<f32>>, RiskReport, BTreeMap<u128, Vec<f32>>);

    fn fixture() -> Fixture {
        let playbook = Playbook::shipped();
        // Executive outreach matches churn evidence; billing correction matches billing.
        let action_embeddings: Vec<Vec<f32>> = playbook
            .actions
            .iter()
            .map(|a| match a.id.as_str() {
                "executive_sponsor_outreach" | "renewal_negotiation" => unit(0, 0.2, DIM),
                "billing_correction" => unit(4, 0.2, DIM),
                _ => unit(9, 0.0, DIM),
            })
            .collect();
        let churn = complaint("acme", "c", "We will not renew in January.", "churn_intent", NOW);
        let bill = complaint("acme", "b", "The invoice charged 40 seats we never used.", "billing", NOW);
        let mut embeddings = BTreeMap::new();
        embeddings.insert(point_order(&churn), unit(0, 0.1, DIM));
        embeddings.insert(point_order(&bill), unit(4, 0.1, DIM));
        let report = RiskReport {
            score: 60.0,
            level: RiskLevel::High,
            sentiment: Trend { current: -0.5, baseline: None },
            reasons: vec![
                Reason {
                    category: RiskCategory::ChurnIntent,
                    summary: String::new(),
                    contribution: 35.0,
                    strength: 0.9,
                    evidence: vec![churn],
                },
                Reason {
                    category: RiskCategory::Billing,
                    summary: String::new(),
                    contribution: 25.0,
                    strength: 0.9,
                    evidence: vec![bill],
                },
            ],
            segments_considered: 2,
            days_to_renewal: None,
            renewal_escalated: false,
            explanation: String::new(),
        };
        (playbook, action_embeddings, report, embeddings)
    }

    #[test]
    fn ranks_by_evidence_match_and_contribution_with_rationale() {
        let (playbook, actions, report, embeddings) = fixture();
        let none = FeedbackFactors::default();
        let ranked =
            rank_actions(&playbook, &actions, &report, &embeddings, &none, &ActionConfig::default(), 3);
        let ids: Vec<&str> = ranked.iter().map(|s| s.action_id.as_str()).collect();
        assert_eq!(ids[0], "executive_sponsor_outreach", "{ids:?}");
        assert!(ids.contains(&"billing_correction"));
        let billing = ranked.iter().find(|s| s.action_id == "billing_correction").unwrap();
        assert_eq!(billing.triggered_by, vec![RiskCategory::Billing]);
        assert_eq!(billing.evidence[0].0.segment.text, "The invoice charged 40 seats we never used.");
        assert!(billing.rationale.contains("billing and invoices (+25 points)"), "{}", billing.rationale);
        assert!(
            billing.rationale.contains("closest evidence: \"The invoice charged 40 seats"),
            "{}",
            billing.rationale
        );
        assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn dismissing_an_action_ranks_it_lower_and_accepting_higher() {
        let (playbook, actions, report, embeddings) = fixture();
        let config = ActionConfig::default();
        let acme = AccountId::new("acme").unwrap();
        let event = |action: &str, outcome| FeedbackEvent {
            tenant: TenantId::new("t").unwrap(),
            account: acme.clone(),
            action: action.into(),
            outcome,
            note: String::new(),
            at_ms: NOW,
        };
        let order = |events: &[FeedbackEvent]| -> Vec<String> {
            let factors = FeedbackFactors::new(events, &acme, NOW, &config.feedback);
            rank_actions(&playbook, &actions, &report, &embeddings, &factors, &config, 3)
                .into_iter()
                .map(|s| s.action_id)
                .collect()
        };
        let before = order(&[]);
        assert_eq!(before[0], "executive_sponsor_outreach");
        let after = order(&[event("executive_sponsor_outreach", Outcome::Dismissed)]);
        let position = |list: &[String], id: &str| list.iter().position(|a| a == id).unwrap();
        assert!(position(&after, "executive_sponsor_outreach") > 0, "{after:?}");
        let billing_before = position(&before, "billing_correction");
        let boosted = order(&[event("billing_correction", Outcome::Accepted)]);
        assert!(position(&boosted, "billing_correction") <= billing_before);
        let with_note = {
            let factors = FeedbackFactors::new(
                &[event("executive_sponsor_outreach", Outcome::Dismissed)],
                &acme,
                NOW,
                &config.feedback,
            );
            rank_actions(&playbook, &actions, &report, &embeddings, &factors, &config, 3)
        };
        let dismissed = with_note.iter().find(|s| s.action_id == "executive_sponsor_outreach").unwrap();
        assert!(dismissed.rationale.contains("Dismissed for this account before"));
    }

    #[test]
    fn without_reasons_the_fallback_is_suggested() {
        let (playbook, actions, mut report, embeddings) = fixture();
        report.reasons.clear();
        report.score = 0.0;
        let ranked = rank_actions(
            &playbook,
            &actions,
            &report,
            &embeddings,
            &FeedbackFactors::default(),
            &ActionConfig::default(),
            3,
        );
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].action_id, "check_in");
        assert!(ranked[0].evidence.is_empty() && ranked[0].score > 0.0);
    }
}
