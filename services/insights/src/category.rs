//! Risk categories and which topics point at them.

use serde::{Deserialize, Serialize};
use undertone_core::{Sentiment, SentimentLabel, TopicScore};

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

    /// How far a certain reason in this category moves the account towards churn, 0 to 1
    /// (`[risk.severity]` overrides it, see `RiskConfig::severity_of`).
    pub fn severity(self) -> f64 {
        match self {
            Self::ChurnIntent => 0.9,
            Self::Competitor => 0.6,
            Self::StakeholderChange => 0.45,
            Self::SecurityCompliance => 0.3,
            Self::Reliability | Self::SupportResponsiveness => 0.25,
            Self::Performance
            | Self::DataExport
            | Self::Integrations
            | Self::Billing
            | Self::Pricing
            | Self::Onboarding
            | Self::FallingSentiment => 0.2,
            Self::NegativeSentiment => 0.15,
        }
    }

    /// Evidence mass at which a reason of this category is 63% sure (1 - 1/e): intent is
    /// clear from one statement, a problem must be reported more than once.
    pub fn saturation(self) -> f64 {
        match self {
            Self::ChurnIntent => 0.35,
            Self::Competitor => 0.45,
            Self::StakeholderChange => 0.5,
            Self::SecurityCompliance | Self::Pricing => 0.8,
            Self::SupportResponsiveness | Self::Onboarding => 1.0,
            _ => 1.2,
        }
    }

    /// The plain-language statement a reason of this category opens with.
    pub fn statement(self) -> &'static str {
        match self {
            Self::ChurnIntent => "The customer said they may cancel, downgrade or not renew",
            Self::Competitor => "The customer is evaluating or talking to a competitor",
            Self::FallingSentiment => "The customer's tone has turned negative",
            Self::Billing => "The customer reported billing or invoice problems",
            Self::Pricing => "The customer objected to price or cost",
            Self::Reliability => "The customer reported outages, errors or access failures",
            Self::Performance => "The customer reported slowness or timeouts",
            Self::Integrations => "The customer reported failing integrations or syncs",
            Self::DataExport => "The customer reported failing data exports",
            Self::SupportResponsiveness => "The customer complained about slow or unhelpful support",
            Self::StakeholderChange => "The customer's sponsor or decision-makers are changing",
            Self::Onboarding => "The customer's onboarding or adoption is stalled",
            Self::SecurityCompliance => "A security or compliance concern stands in the customer's way",
            Self::NegativeSentiment => "The customer is dissatisfied",
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

/// The categories the previous, topic-similarity rules read into one segment: its first
/// risk topic when said in negative words, or a signal topic (churn, competitors,
/// stakeholders) in any words but positive ones. Kept as the baseline the signal model is
/// measured against (`undertone eval signals`).
pub fn topic_similarity_categories(sentiment: &Sentiment, topics: &[TopicScore]) -> Vec<RiskCategory> {
    let topic = topics.iter().find_map(|t| RiskCategory::from_topic(&t.topic));
    match topic {
        Some(c) if c.is_signal() && sentiment.label != SentimentLabel::Positive => vec![c],
        Some(c) if sentiment.label == SentimentLabel::Negative => vec![c],
        _ => Vec::new(),
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
