//! The next-best-action playbook: a TOML library of actions with trigger conditions on risk
//! reasons. The shipped defaults are `playbooks/default.toml` (compiled in); the file's
//! header documents every field.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Reason, RiskCategory, RiskReport};

/// The shipped playbook, `services/insights/playbooks/default.toml`.
pub const DEFAULT_PLAYBOOK: &str = include_str!("../playbooks/default.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    #[serde(rename = "action")]
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub id: String,
    pub title: String,
    /// Embedded and compared with the account's evidence.
    pub description: String,
    /// Opens the rationale.
    pub why: String,
    #[serde(default = "one")]
    pub priority: f64,
    #[serde(default)]
    pub when: Trigger,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trigger {
    /// Any of these reasons triggers; empty means any reason.
    pub categories: Vec<RiskCategory>,
    /// Points of the risk score a triggering reason must carry.
    pub min_contribution: f64,
    pub min_risk: Option<f64>,
    pub max_risk: Option<f64>,
    /// Suggested (without a reason) when no other action triggers.
    pub fallback: bool,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("reading playbook {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("playbook{where_}: {reason}")]
    Invalid { where_: String, reason: String },
}

impl Playbook {
    /// The shipped defaults.
    pub fn shipped() -> Self {
        Self::parse(DEFAULT_PLAYBOOK).expect("the shipped playbook is valid (tested)")
    }

    /// Reads and validates a playbook file.
    pub fn load(path: &Path) -> Result<Self, PlaybookError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PlaybookError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text).map_err(|e| match e {
            PlaybookError::Invalid { where_, reason } => {
                PlaybookError::Invalid { where_: format!(" {}{where_}", path.display()), reason }
            }
            other => other,
        })
    }

    /// Parses and validates playbook TOML; errors name the action and field.
    pub fn parse(text: &str) -> Result<Self, PlaybookError> {
        let playbook: Playbook = toml::from_str(text)
            .map_err(|e| PlaybookError::Invalid { where_: String::new(), reason: e.to_string() })?;
        playbook.validate()?;
        Ok(playbook)
    }

    fn validate(&self) -> Result<(), PlaybookError> {
        if self.actions.is_empty() {
            return Err(invalid("", "has no [[action]]"));
        }
        let mut seen = HashSet::new();
        for action in &self.actions {
            let at = format!(" action {:?}", action.id);
            let valid_id = !action.id.is_empty()
                && action.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid_id {
                return Err(invalid(&at, "id must be non-empty snake_case"));
            }
            if !seen.insert(action.id.as_str()) {
                return Err(invalid(&at, "id appears twice"));
            }
            for (field, value) in
                [("title", &action.title), ("description", &action.description), ("why", &action.why)]
            {
                if value.trim().is_empty() {
                    return Err(invalid(&at, &format!("{field} must not be empty")));
                }
            }
            if !(action.priority.is_finite() && action.priority > 0.0) {
                return Err(invalid(&at, "priority must be a positive number"));
            }
            let when = &action.when;
            let (min, max) = (when.min_risk.unwrap_or(0.0), when.max_risk.unwrap_or(100.0));
            if !(0.0..=100.0).contains(&min) || !(0.0..=100.0).contains(&max) || min > max {
                return Err(invalid(&at, "when.min_risk / when.max_risk must be within 0..=100, min <= max"));
            }
            if !(when.min_contribution.is_finite() && when.min_contribution >= 0.0) {
                return Err(invalid(&at, "when.min_contribution must be a non-negative number"));
            }
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }
}

fn invalid(where_: &str, reason: &str) -> PlaybookError {
    PlaybookError::Invalid { where_: where_.to_owned(), reason: reason.to_owned() }
}

impl Action {
    /// The account's reasons that trigger this action (largest contribution first), or
    /// `None` when the action does not apply. A fallback action applies only through
    /// [`Trigger::fallback`]; see [`triggered`].
    pub fn triggering<'a>(&self, report: &'a RiskReport) -> Option<Vec<&'a Reason>> {
        let when = &self.when;
        let in_range =
            report.score >= when.min_risk.unwrap_or(0.0) && report.score <= when.max_risk.unwrap_or(100.0);
        if !in_range {
            return None;
        }
        let reasons: Vec<&Reason> = report
            .reasons
            .iter()
            .filter(|r| when.categories.is_empty() || when.categories.contains(&r.category))
            .filter(|r| r.contribution >= when.min_contribution && r.contribution > 0.0)
            .collect();
        (!reasons.is_empty()).then_some(reasons)
    }
}

/// Every action that applies to the account with its triggering reasons: those whose
/// trigger holds, or, when none does, the fallback actions (with no reasons).
pub fn triggered<'a>(playbook: &'a Playbook, report: &'a RiskReport) -> Vec<(&'a Action, Vec<&'a Reason>)> {
    let fired: Vec<(&Action, Vec<&Reason>)> =
        playbook.actions.iter().filter_map(|a| a.triggering(report).map(|r| (a, r))).collect();
    if !fired.is_empty() {
        return fired;
    }
    playbook.actions.iter().filter(|a| a.when.fallback).map(|a| (a, Vec::new())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RiskLevel, Trend};

    fn report(reasons: &[(RiskCategory, f64)]) -> RiskReport {
        let score = reasons.iter().map(|(_, c)| c).sum();
        RiskReport {
            score,
            level: RiskLevel::from_score(score),
            sentiment: Trend { current: 0.0, baseline: None },
            reasons: reasons
                .iter()
                .map(|&(category, contribution)| Reason {
                    category,
                    summary: String::new(),
                    contribution,
                    strength: 0.9,
                    evidence: vec![],
                })
                .collect(),
            segments_considered: 1,
            days_to_renewal: None,
            renewal_escalated: false,
            explanation: String::new(),
        }
    }

    #[test]
    fn the_shipped_playbook_loads_with_the_required_actions() {
        let playbook = Playbook::shipped();
        assert!(playbook.actions.len() >= 10);
        for id in [
            "executive_sponsor_outreach",
            "engineering_escalation",
            "billing_correction",
            "training_session",
            "competitive_save",
            "renewal_negotiation",
            "support_escalation_review",
            "security_review_call",
            "roadmap_briefing",
            "check_in",
        ] {
            assert!(playbook.get(id).is_some(), "{id} missing");
        }
        assert_eq!(playbook.get("roadmap_briefing").unwrap().priority, 0.8);
    }

    #[test]
    fn triggers_on_reasons_contribution_and_risk_range() {
        let playbook = Playbook::shipped();
        let ids = |r: &RiskReport| -> Vec<String> {
            triggered(&playbook, r).into_iter().map(|(a, _)| a.id.clone()).collect()
        };
        let churn = report(&[(RiskCategory::ChurnIntent, 40.0), (RiskCategory::Competitor, 20.0)]);
        let fired = ids(&churn);
        for id in
            ["executive_sponsor_outreach", "competitive_save", "renewal_negotiation", "roadmap_briefing"]
        {
            assert!(fired.iter().any(|f| f == id), "{id} in {fired:?}");
        }
        assert!(!fired.iter().any(|f| f == "billing_correction"));
        // Executive outreach needs a risk of 40 or more.
        let mild = report(&[(RiskCategory::ChurnIntent, 20.0)]);
        assert!(!ids(&mild).iter().any(|f| f == "executive_sponsor_outreach"));
        // Too small a contribution does not trigger; nothing triggers: the fallback.
        let tiny = report(&[(RiskCategory::Billing, 1.0)]);
        assert_eq!(ids(&tiny), vec!["check_in"]);
        assert_eq!(ids(&report(&[])), vec!["check_in"]);
    }

    #[test]
    fn bad_playbooks_name_the_action_and_field() {
        let err = Playbook::parse("[[action]]\nid = \"x\"\ntitle = \"X\"\ndescription = \"d\"\nwhy = \"\"\n")
            .unwrap_err();
        assert_eq!(err.to_string(), "playbook action \"x\": why must not be empty");
        let twice = "[[action]]\nid = \"x\"\ntitle = \"X\"\ndescription = \"d\"\nwhy = \"w\"\n".repeat(2);
        assert!(Playbook::parse(&twice).unwrap_err().to_string().contains("appears twice"));
        let unknown = "[[action]]\nid = \"x\"\ntitle = \"X\"\ndescription = \"d\"\nwhy = \"w\"\n[action.when]\ncategories = [\"bogus\"]\n";
        assert!(Playbook::parse(unknown).is_err());
        assert!(Playbook::parse("").unwrap_err().to_string().contains("action"));
    }
}
