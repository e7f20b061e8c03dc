//! What CSMs did with suggestions: accepted or dismissed, stored and learnt from.
//!
//! Storage: one JSON object per line in `data_dir/insights/feedback.jsonl` (append-only,
//! flushed and synced before RecordActionFeedback answers; read back at startup). A line
//! that cannot be read is skipped with a warning count, never fatal.
//!
//! How feedback changes rankings (each event's weight halves every `half_life_days`):
//!
//! ```text
//! account factor = accepted_boost ^ (accepted weight) x dismissed_penalty ^ (dismissed weight)
//!                  over this account's events for the action
//! tenant factor  = 0.5 + (1 + accepted weight) / (2 + accepted + dismissed weight)
//!                  over the tenant's events for the action on every account (a smoothed
//!                  acceptance rate: 1.0 without feedback, towards 1.5 or 0.5 with it)
//! score         x= account factor x tenant factor
//! ```
//!
//! With the defaults one fresh dismissal halves the action's score for that account (and
//! lowers it a little for every account of the tenant); one acceptance raises it by 20%.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use undertone_core::{AccountId, TenantId};

const DAY_MS: f64 = 86_400_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Dismissed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackEvent {
    pub tenant: TenantId,
    pub account: AccountId,
    pub action: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub at_ms: i64,
}

/// How feedback weighs; documented defaults, configurable (`[insights.feedback]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedbackConfig {
    /// Score multiplier per (fresh) acceptance of the action for the account.
    pub accepted_boost: f64,
    /// Score multiplier per (fresh) dismissal of the action for the account.
    pub dismissed_penalty: f64,
    /// Half-life of an event's weight, in days.
    pub half_life_days: f64,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        Self { accepted_boost: 1.2, dismissed_penalty: 0.5, half_life_days: 90.0 }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("feedback log {path}: {source}")]
pub struct FeedbackError {
    pub path: String,
    pub source: std::io::Error,
}

/// The feedback events, in memory and (unless in-memory) in a JSONL file.
#[derive(Debug)]
pub struct FeedbackLog {
    path: Option<PathBuf>,
    events: Mutex<Vec<FeedbackEvent>>,
}

impl FeedbackLog {
    /// A log that keeps nothing on disk (tests, tools).
    pub fn in_memory() -> Self {
        Self { path: None, events: Mutex::default() }
    }

    /// Opens (or creates on first write) the log at `path`. Returns the log and how many
    /// unreadable lines were skipped.
    pub fn open(path: &Path) -> Result<(Self, usize), FeedbackError> {
        let err = |source| FeedbackError { path: path.display().to_string(), source };
        let mut events = Vec::new();
        let mut skipped = 0;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    match serde_json::from_str::<FeedbackEvent>(line) {
                        Ok(event) => events.push(event),
                        Err(_) => skipped += 1,
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        Ok((Self { path: Some(path.to_owned()), events: Mutex::new(events) }, skipped))
    }

    /// Stores one event durably (appended and synced), then keeps it in memory.
    pub fn record(&self, event: FeedbackEvent) -> Result<(), FeedbackError> {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = &self.path {
            let err = |source| FeedbackError { path: path.display().to_string(), source };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let mut line = serde_json::to_string(&event).map_err(|e| err(std::io::Error::other(e)))?;
            line.push('\n');
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(err)?;
            file.write_all(line.as_bytes()).map_err(err)?;
            file.sync_data().map_err(err)?;
        }
        events.push(event);
        Ok(())
    }

    /// The tenant's events (all accounts), oldest first.
    pub fn events_of(&self, tenant: &TenantId) -> Vec<FeedbackEvent> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.iter().filter(|e| &e.tenant == tenant).cloned().collect()
    }
}

/// Decayed accepted / dismissed weights of one action.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    accepted: f64,
    dismissed: f64,
}

/// The ranking multipliers feedback gives one account's actions, as of a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedbackFactors {
    account: BTreeMap<String, Tally>,
    tenant: BTreeMap<String, Tally>,
    config: FeedbackConfig,
}

impl FeedbackFactors {
    /// From the tenant's events, for `account`, as of `now_ms`.
    pub fn new(events: &[FeedbackEvent], account: &AccountId, now_ms: i64, config: &FeedbackConfig) -> Self {
        let mut factors = Self { config: config.clone(), ..Self::default() };
        for e in events {
            let age = ((now_ms - e.at_ms) as f64 / DAY_MS).max(0.0);
            let w = 0.5f64.powf(age / config.half_life_days);
            let add = |tally: &mut Tally| match e.outcome {
                Outcome::Accepted => tally.accepted += w,
                Outcome::Dismissed => tally.dismissed += w,
            };
            add(factors.tenant.entry(e.action.clone()).or_default());
            if &e.account == account {
                add(factors.account.entry(e.action.clone()).or_default());
            }
        }
        factors
    }

    /// The multiplier of an action's score (1.0 without feedback).
    pub fn factor(&self, action: &str) -> f64 {
        let account = self.account.get(action).copied().unwrap_or_default();
        let tenant = self.tenant.get(action).copied().unwrap_or_default();
        let account_factor = self.config.accepted_boost.powf(account.accepted)
            * self.config.dismissed_penalty.powf(account.dismissed);
        let tenant_factor = 0.5 + (1.0 + tenant.accepted) / (2.0 + tenant.accepted + tenant.dismissed);
        account_factor * tenant_factor
    }

    /// Plain-language note on the feedback behind an action's factor, if any.
    pub fn note(&self, action: &str) -> Option<String> {
        let account = self.account.get(action).copied().unwrap_or_default();
        match (account.accepted > 0.0, account.dismissed > 0.0) {
            (false, false) => None,
            (true, false) => Some("Accepted for this account before.".into()),
            (false, true) => Some("Dismissed for this account before, so ranked lower.".into()),
            (true, true) => Some("Both accepted and dismissed for this account before.".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(account: &str, action: &str, outcome: Outcome, at_ms: i64) -> FeedbackEvent {
        FeedbackEvent {
            tenant: TenantId::new("t").unwrap(),
            account: AccountId::new(account).unwrap(),
            action: action.into(),
            outcome,
            note: String::new(),
            at_ms,
        }
    }

    #[test]
    fn dismissal_halves_and_acceptance_raises_decaying_over_time() {
        let config = FeedbackConfig::default();
        let acme = AccountId::new("acme").unwrap();
        let none = FeedbackFactors::new(&[], &acme, 0, &config);
        assert_eq!(none.factor("check_in"), 1.0);
        let dismissed =
            FeedbackFactors::new(&[event("acme", "check_in", Outcome::Dismissed, 0)], &acme, 0, &config);
        // account 0.5, tenant 0.5 + 1/3
        assert!((dismissed.factor("check_in") - 0.5 * (0.5 + 1.0 / 3.0)).abs() < 1e-9);
        assert_eq!(dismissed.factor("other"), 1.0);
        let accepted =
            FeedbackFactors::new(&[event("acme", "check_in", Outcome::Accepted, 0)], &acme, 0, &config);
        assert!(accepted.factor("check_in") > 1.2);
        // Another account's dismissal only moves the tenant factor.
        let elsewhere =
            FeedbackFactors::new(&[event("beta", "check_in", Outcome::Dismissed, 0)], &acme, 0, &config);
        assert!((elsewhere.factor("check_in") - (0.5 + 1.0 / 3.0)).abs() < 1e-9);
        // A year later, a dismissal hardly counts.
        let year = 365 * 86_400_000;
        let old =
            FeedbackFactors::new(&[event("acme", "check_in", Outcome::Dismissed, 0)], &acme, year, &config);
        assert!(old.factor("check_in") > 0.9);
    }

    #[test]
    fn the_log_persists_and_skips_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("insights").join("feedback.jsonl");
        let (log, skipped) = FeedbackLog::open(&path).unwrap();
        assert_eq!(skipped, 0);
        log.record(event("acme", "check_in", Outcome::Dismissed, 5)).unwrap();
        log.record(event("acme", "billing_correction", Outcome::Accepted, 6)).unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{not json\n").unwrap();
        let (reopened, skipped) = FeedbackLog::open(&path).unwrap();
        assert_eq!(skipped, 1);
        let events = reopened.events_of(&TenantId::new("t").unwrap());
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].outcome, Outcome::Dismissed);
        assert!(reopened.events_of(&TenantId::new("other").unwrap()).is_empty());
    }
}
