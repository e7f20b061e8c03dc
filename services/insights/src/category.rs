//! Risk categories and which topics point at them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskCategory {
    ChurnIntent,
    Competitor,
    FallingSentiment,
    Billing,
    Pricing,
    Reliability,
    Performance,
    Integrations,
    DataExport,
    SupportResponsiveness,
    StakeholderChange,
    Onboarding,
    SecurityCompliance,
    /// Negative customer sentiment on no more specific topic.
    NegativeSentiment,
}

impl RiskCategory {
    pub const ALL: [RiskCategory; 14] = [
        Self::ChurnIntent,
        Self::Competitor,
        Self::FallingSentiment,
        Self::Billing,
        Self::Pricing,
        Self::Reliability,
        Self::Performance,
        Self::Integrations,
        Self::DataExport,
        Self::SupportResponsiveness,
        Self::StakeholderChange,
        Self::Onboarding,
        Self::SecurityCompliance,
        Self::NegativeSentiment,
    ];

    /// The snake_case name used in configuration and playbooks (`churn_intent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChurnIntent => "churn_intent",
            Self::Competitor => "competitor",
            Self::FallingSentiment => "falling_sentiment",
            Self::Billing => "billing",
            Self::Pricing => "pricing",
            Self::Reliability => "reliability",
            Self::Performance => "performance",
            Self::Integrations => "integrations",
            Self::DataExport => "data_export",
            Self::SupportResponsiveness => "support_responsiveness",
            Self::StakeholderChange => "stakeholder_change",
            Self::Onboarding => "onboarding",
            Self::SecurityCompliance => "security_compliance",
            Self::NegativeSentiment => "negative_sentiment",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// The category a taxonomy topic id points at; `None` for topics that are no risk
    /// (praise) — their negative segments count as plain negative sentiment.
    pub fn from_topic(topic: &str) -> Option<Self> {
        Some(match topic {
            "churn_intent" => Self::ChurnIntent,
            "competitor" => Self::Competitor,
            "billing" => Self::Billing,
            "pricing" => Self::Pricing,
            "reliability" | "login_sso" => Self::Reliability,
            "performance" => Self::Performance,
            "integrations" => Self::Integrations,
            "data_export" => Self::DataExport,
            "support_responsiveness" => Self::SupportResponsiveness,
            "stakeholder_change" => Self::StakeholderChange,
            "onboarding" => Self::Onboarding,
            "security_compliance" => Self::SecurityCompliance,
            _ => return None,
        })
    }

    /// Topics that signal risk even when said without negative words ("we will not renew",
    /// "our sponsor is leaving").
    pub fn is_signal(self) -> bool {
        matches!(self, Self::ChurnIntent | Self::Competitor | Self::StakeholderChange)
    }

    /// How much one unit of evidence in this category weighs in the score, by default
    /// (`[risk.severity]` overrides it, see `RiskConfig::severity_of`).
    pub fn severity(self) -> f64 {
        match self {
            Self::ChurnIntent => 2.0,
            Self::Competitor => 1.5,
            Self::StakeholderChange => 1.2,
            Self::Billing | Self::Reliability | Self::SupportResponsiveness => 1.0,
            Self::FallingSentiment
            | Self::Pricing
            | Self::Performance
            | Self::Integrations
            | Self::DataExport => 0.8,
            Self::SecurityCompliance | Self::Onboarding => 0.7,
            Self::NegativeSentiment => 0.6,
        }
    }

    /// Plain-language name used in reason sentences.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ChurnIntent => "cancellation or non-renewal",
            Self::Competitor => "competitors",
            Self::FallingSentiment => "falling sentiment",
            Self::Billing => "billing and invoices",
            Self::Pricing => "pricing",
            Self::Reliability => "reliability and access problems",
            Self::Performance => "performance",
            Self::Integrations => "integrations",
            Self::DataExport => "data export",
            Self::SupportResponsiveness => "support responsiveness",
            Self::StakeholderChange => "a change of stakeholders",
            Self::Onboarding => "onboarding",
            Self::SecurityCompliance => "security and compliance",
            Self::NegativeSentiment => "general dissatisfaction",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for c in RiskCategory::ALL {
            assert_eq!(RiskCategory::parse(c.as_str()), Some(c));
            let json = format!("\"{}\"", c.as_str());
            assert_eq!(serde_json::from_str::<RiskCategory>(&json).unwrap(), c);
        }
        assert_eq!(RiskCategory::parse("nope"), None);
    }
}
