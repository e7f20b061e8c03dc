//! Insights: what CSMs and CS Ops read. Pure functions over stored segments, so every
//! number can be traced to the segments it came from.
//!
//! - [`assess_risk`] (`risk.rs`, `category.rs`): explained account risk.
//! - [`account_sentiment`] (`account_sentiment.rs`): EWMA customer sentiment, baseline,
//!   history.
//! - [`find_themes`] (`themes.rs`, `cluster.rs`, `keyphrases.rs`): deterministic themes
//!   over negative customer segments across accounts.
//! - [`rank_actions`] (`actions.rs`, `playbook.rs`, `feedback.rs`): next-best-actions from
//!   the playbook (`playbooks/default.toml`), ranked by the encoder and by feedback.
//! - [`Watcher`] (`watch.rs`): when a WatchRisk stream alerts.
//! - `repeats.rs`: a sentence said again in the same account counts once, everywhere.

mod account_sentiment;
mod actions;
mod category;
mod cluster;
mod context;
mod feedback;
mod keyphrases;
mod playbook;
mod repeats;
mod risk;
#[cfg(test)]
mod testing;
mod themes;
mod watch;

use std::path::PathBuf;

pub use account_sentiment::{
    Direction, SentimentConfig, SentimentPoint, SentimentReport, account_sentiment, ewma,
};
pub use actions::{ActionConfig, Suggestion, rank_actions};
pub use category::{RiskCategory, topic_similarity_categories};
pub use cluster::average_linkage;
pub use context::{AccountContext, Contact, Seniority, seniority_of_title};
pub use feedback::{FeedbackConfig, FeedbackError, FeedbackEvent, FeedbackFactors, FeedbackLog, Outcome};
pub use keyphrases::{keyphrases, keyphrases_grouped};
pub use playbook::{Action, DEFAULT_PLAYBOOK, Playbook, PlaybookError, Trigger, triggered};
pub use repeats::{normalized_words, point_order, without_repeats};
pub use risk::{Reason, RiskConfig, RiskLevel, RiskReport, Trend, assess_risk};
pub use themes::{Embedded, Theme, ThemeConfig, ThemeReport, candidates, find_themes, is_candidate};
pub use watch::{Alert, AlertKind, Watcher};

/// The `[insights]` configuration section: documented defaults, every key optional.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InsightsConfig {
    /// A playbook TOML replacing the shipped one (`services/insights/playbooks/default.toml`).
    pub playbook: Option<PathBuf>,
    /// How often an open WatchRisk stream re-scores its accounts, in seconds (1 to 3600).
    pub watch_interval_secs: u64,
    /// WatchRisk's alert threshold when the request gives none (risk score, 0-100).
    pub watch_threshold: f64,
    /// Points below the threshold a score must fall before it can alert again.
    pub watch_hysteresis: f64,
    pub themes: ThemeConfig,
    pub sentiment: SentimentConfig,
    pub actions: ActionConfig,
}

impl Default for InsightsConfig {
    fn default() -> Self {
        Self {
            playbook: None,
            watch_interval_secs: 60,
            watch_threshold: 50.0,
            watch_hysteresis: 5.0,
            themes: ThemeConfig::default(),
            sentiment: SentimentConfig::default(),
            actions: ActionConfig::default(),
        }
    }
}

impl InsightsConfig {
    /// Checks the values; the message names the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=3600).contains(&self.watch_interval_secs) {
            return Err(format!(
                "insights.watch_interval_secs must be 1 to 3600, got {}",
                self.watch_interval_secs
            ));
        }
        if !(self.watch_threshold > 0.0 && self.watch_threshold <= 100.0) {
            return Err(format!(
                "insights.watch_threshold must be in (0, 100], got {}",
                self.watch_threshold
            ));
        }
        if !(0.0..=100.0).contains(&self.watch_hysteresis) {
            return Err(format!("insights.watch_hysteresis must be 0 to 100, got {}", self.watch_hysteresis));
        }
        let t = &self.themes;
        if !(-1.0..=1.0).contains(&t.similarity) || !(-1.0..=1.0).contains(&t.negative_score) {
            return Err("insights.themes.similarity and negative_score must be within -1 and 1".into());
        }
        if t.min_size == 0 || t.max_segments == 0 {
            return Err("insights.themes.min_size and max_segments must be at least 1".into());
        }
        let s = &self.sentiment;
        if s.half_life_days.is_nan()
            || s.half_life_days <= 0.0
            || !(0.0..=1.0).contains(&s.unknown_role_weight)
            || s.bucket_days == 0
        {
            return Err(
                "insights.sentiment: half_life_days > 0, unknown_role_weight in [0, 1], bucket_days >= 1"
                    .into(),
            );
        }
        let a = &self.actions;
        let f = &a.feedback;
        let weights_ok = [a.relevance_weight, a.contribution_weight, a.fallback_score]
            .iter()
            .all(|w| w.is_finite() && *w >= 0.0);
        if !weights_ok || a.top_matches == 0 {
            return Err("insights.actions: weights must be non-negative, top_matches at least 1".into());
        }
        if !(f.accepted_boost >= 1.0
            && f.dismissed_penalty > 0.0
            && f.dismissed_penalty <= 1.0
            && f.half_life_days > 0.0)
        {
            return Err(
                "insights.actions.feedback: accepted_boost >= 1, dismissed_penalty in (0, 1], half_life_days > 0".into()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_validate_and_bad_values_are_named() {
        assert!(InsightsConfig::default().validate().is_ok());
        let config: InsightsConfig = toml::from_str("watch_interval_secs = 0\n").unwrap();
        assert!(config.validate().unwrap_err().contains("watch_interval_secs"));
        let config: InsightsConfig =
            toml::from_str("[themes]\nsimilarity = 0.6\n[actions.feedback]\ndismissed_penalty = 0.25\n")
                .unwrap();
        assert_eq!(config.themes.similarity, 0.6);
        assert_eq!(config.actions.feedback.dismissed_penalty, 0.25);
        assert!(toml::from_str::<InsightsConfig>("[themes]\nsimilarty = 0.6\n").is_err());
    }
}
