//! Risk alerts while a WatchRisk stream is open: the state of each watched account between
//! polls, and when an alert fires.
//!
//! - CROSSED_THRESHOLD: the risk score is at or above the threshold and was not at the
//!   previous poll (on the stream's first poll, an account already above it alerts, with
//!   previous score 0). It re-arms once the score falls below `threshold - hysteresis`,
//!   so a score hovering at the threshold does not alert on every poll.
//! - BELOW_BASELINE: customer sentiment is at least `falling` below the account's own
//!   baseline (the window before) and was not at the previous poll. It re-arms once the
//!   drop is less than half of `falling`.

use std::collections::BTreeMap;

use undertone_core::AccountId;

use crate::RiskReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    CrossedThreshold,
    BelowBaseline,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alert {
    pub kind: AlertKind,
    pub score: f64,
    /// The score at the previous poll; 0 on the first.
    pub previous_score: f64,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    score: f64,
    above: bool,
    below_baseline: bool,
}

#[derive(Debug, Clone)]
pub struct Watcher {
    threshold: f64,
    hysteresis: f64,
    falling: f64,
    seen: BTreeMap<AccountId, Seen>,
}

impl Watcher {
    pub fn new(threshold: f64, hysteresis: f64, falling: f64) -> Self {
        Self {
            threshold,
            hysteresis: hysteresis.max(0.0),
            falling: falling.max(f64::MIN_POSITIVE),
            seen: BTreeMap::new(),
        }
    }

    /// Records one poll of an account; returns the alerts it fires.
    pub fn observe(&mut self, account: &AccountId, report: &RiskReport) -> Vec<Alert> {
        let previous = self.seen.get(account).copied();
        let was_above = previous.is_some_and(|p| p.above);
        let was_below = previous.is_some_and(|p| p.below_baseline);
        let above = if was_above {
            report.score >= self.threshold - self.hysteresis
        } else {
            report.score >= self.threshold
        };
        let drop = report.sentiment.baseline.map_or(0.0, |_| -report.sentiment.delta());
        let below_baseline = if was_below { drop > self.falling / 2.0 } else { drop >= self.falling };
        let previous_score = previous.map_or(0.0, |p| p.score);
        let mut alerts = Vec::new();
        if above && !was_above {
            alerts.push(Alert { kind: AlertKind::CrossedThreshold, score: report.score, previous_score });
        }
        if below_baseline && !was_below {
            alerts.push(Alert { kind: AlertKind::BelowBaseline, score: report.score, previous_score });
        }
        self.seen.insert(account.clone(), Seen { score: report.score, above, below_baseline });
        alerts
    }

    /// Forgets accounts no longer present (deleted), so they alert afresh if they return.
    pub fn retain(&mut self, present: &[AccountId]) {
        self.seen.retain(|a, _| present.contains(a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RiskLevel, Trend};

    fn report(score: f64, sentiment: f64, baseline: Option<f64>) -> RiskReport {
        RiskReport {
            score,
            level: RiskLevel::from_score(score),
            sentiment: Trend { current: sentiment, baseline },
            reasons: Vec::new(),
            segments_considered: 1,
            days_to_renewal: None,
            renewal_escalated: false,
            explanation: String::new(),
        }
    }

    #[test]
    fn alerts_on_crossing_once_with_hysteresis() {
        let acme = AccountId::new("acme").unwrap();
        let mut w = Watcher::new(50.0, 5.0, 0.2);
        assert!(w.observe(&acme, &report(30.0, 0.0, None)).is_empty());
        let alerts = w.observe(&acme, &report(55.0, 0.0, None));
        assert_eq!(
            alerts,
            vec![Alert { kind: AlertKind::CrossedThreshold, score: 55.0, previous_score: 30.0 }]
        );
        assert!(w.observe(&acme, &report(48.0, 0.0, None)).is_empty(), "within the hysteresis band");
        assert!(w.observe(&acme, &report(51.0, 0.0, None)).is_empty(), "still armed off");
        assert!(w.observe(&acme, &report(40.0, 0.0, None)).is_empty());
        assert_eq!(w.observe(&acme, &report(60.0, 0.0, None)).len(), 1, "re-armed below 45");
        // First poll above the threshold alerts with previous score 0.
        let beta = AccountId::new("beta").unwrap();
        assert_eq!(w.observe(&beta, &report(70.0, 0.0, None))[0].previous_score, 0.0);
    }

    #[test]
    fn alerts_when_sentiment_falls_below_the_baseline() {
        let acme = AccountId::new("acme").unwrap();
        let mut w = Watcher::new(90.0, 5.0, 0.2);
        assert!(w.observe(&acme, &report(10.0, 0.3, Some(0.4))).is_empty());
        let alerts = w.observe(&acme, &report(12.0, 0.1, Some(0.4)));
        assert_eq!(alerts[0].kind, AlertKind::BelowBaseline);
        assert!(w.observe(&acme, &report(12.0, 0.05, Some(0.4))).is_empty());
        assert!(w.observe(&acme, &report(12.0, 0.35, Some(0.4))).is_empty(), "recovered: re-armed");
        assert_eq!(w.observe(&acme, &report(12.0, 0.0, Some(0.4))).len(), 1);
        // No baseline: nothing to fall below.
        let beta = AccountId::new("beta").unwrap();
        assert!(w.observe(&beta, &report(10.0, -0.9, None)).is_empty());
    }
}
