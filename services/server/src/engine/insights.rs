//! The engine's insights beyond risk: account sentiment, themes, next-best-actions and
//! their feedback, and account metadata (names, ARR) for themes. A child module of
//! `engine` so it reads the same store and models; ingest is untouched.
//!
//! Embeddings: themes and actions read the embeddings stored with the segments (computed
//! once, at ingest); only the playbook's action descriptions are embedded here, once.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use undertone_core::{AccountId, SourceKind, SpeakerRole, StoredSegment, TenantId};
use undertone_insights::{
    Embedded, FeedbackEvent, FeedbackFactors, FeedbackLog, InsightsConfig, Outcome, Playbook, RiskConfig,
    RiskReport, SentimentReport, Suggestion, ThemeReport, account_sentiment, assess_risk, candidates,
    find_themes, point_order, rank_actions,
};
use undertone_store::SegmentFilter;

use super::Engine;
use crate::error::ServiceError;

/// The feedback log's place under the data directory.
pub const FEEDBACK_FILE: &str = "insights/feedback.jsonl";

/// What themes show about an account (from UpsertAccount); unknown accounts show their
/// id and an ARR of 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountProfile {
    pub name: String,
    pub arr_usd: f64,
}

/// Insights configuration and state held by the engine.
pub struct InsightsState {
    config: InsightsConfig,
    playbook: Playbook,
    feedback: Arc<FeedbackLog>,
    action_embeddings: tokio::sync::OnceCell<Vec<Vec<f32>>>,
    accounts: RwLock<HashMap<TenantId, BTreeMap<AccountId, AccountProfile>>>,
}

impl Default for InsightsState {
    /// Default configuration, the shipped playbook, feedback kept in memory only.
    fn default() -> Self {
        Self::new(InsightsConfig::default(), Playbook::shipped(), FeedbackLog::in_memory())
    }
}

impl InsightsState {
    fn new(config: InsightsConfig, playbook: Playbook, feedback: FeedbackLog) -> Self {
        Self {
            config,
            playbook,
            feedback: Arc::new(feedback),
            action_embeddings: tokio::sync::OnceCell::new(),
            accounts: RwLock::default(),
        }
    }

    /// Validates the configuration, loads the playbook (the configured file, else the
    /// shipped one) and opens the feedback log under `data_dir`.
    pub fn load(config: InsightsConfig, risk: &RiskConfig, data_dir: &Path) -> anyhow::Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        risk.validate().map_err(anyhow::Error::msg)?;
        let playbook = match &config.playbook {
            Some(path) => Playbook::load(path)?,
            None => Playbook::shipped(),
        };
        let (feedback, skipped) = FeedbackLog::open(&data_dir.join(FEEDBACK_FILE))?;
        if skipped > 0 {
            tracing::warn!(skipped, "unreadable lines in the feedback log were skipped");
        }
        Ok(Self::new(config, playbook, feedback))
    }
}

impl Engine {
    /// Replaces the insights configuration and state (the defaults keep feedback in
    /// memory); account profiles recorded so far are kept.
    pub fn with_insights(mut self, state: InsightsState) -> Self {
        let known =
            std::mem::take(&mut *self.insights.accounts.write().unwrap_or_else(PoisonError::into_inner));
        state.accounts.write().unwrap_or_else(PoisonError::into_inner).extend(known);
        self.insights = Arc::new(state);
        self
    }

    pub fn insights_config(&self) -> &InsightsConfig {
        &self.insights.config
    }

    pub fn risk_config(&self) -> &RiskConfig {
        &self.risk
    }

    /// Records an account's name and ARR for themes (UpsertAccount calls this).
    pub fn put_account_profile(&self, tenant: &TenantId, account: &AccountId, profile: AccountProfile) {
        let mut accounts = self.insights.accounts.write().unwrap_or_else(PoisonError::into_inner);
        accounts.entry(tenant.clone()).or_default().insert(account.clone(), profile);
    }

    /// Forgets an erased account's name and ARR.
    pub(super) fn forget_account_profile(&self, tenant: &TenantId, account: &AccountId) {
        let mut accounts = self.insights.accounts.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = accounts.get_mut(tenant) {
            known.remove(account);
        }
    }

    /// The tenant's known account profiles.
    pub fn account_profiles(&self, tenant: &TenantId) -> BTreeMap<AccountId, AccountProfile> {
        let accounts = self.insights.accounts.read().unwrap_or_else(PoisonError::into_inner);
        accounts.get(tenant).cloned().unwrap_or_default()
    }

    /// Segments matching `filter` and their stored embeddings by [`point_order`].
    async fn scroll_embedded(
        &self,
        filter: SegmentFilter,
    ) -> Result<(Vec<StoredSegment>, HashMap<u128, Vec<f32>>), ServiceError> {
        let records = self.scroll_records(filter).await?;
        let mut segments = Vec::with_capacity(records.len());
        let mut embeddings = HashMap::with_capacity(records.len());
        for record in records {
            let (segment, embedding) = record.into_stored();
            embeddings.insert(point_order(&segment), embedding);
            segments.push(segment);
        }
        Ok((segments, embeddings))
    }

    /// Customer segments (and unknown-role ones) of a window; internal speech is filtered
    /// out by the store.
    fn customer_window(
        tenant: &TenantId,
        accounts: &[AccountId],
        source_kinds: &[SourceKind],
        from_ms: i64,
        to_ms: i64,
    ) -> SegmentFilter {
        SegmentFilter {
            accounts: accounts.to_vec(),
            source_kinds: source_kinds.to_vec(),
            roles: vec![SpeakerRole::Customer, SpeakerRole::Unknown],
            from_ms: Some(from_ms),
            to_ms: Some(to_ms),
            ..SegmentFilter::tenant(tenant.clone())
        }
    }

    /// Customer sentiment of one account over `[from_ms, to_ms)` against the window of the
    /// same length before it, with history buckets of `bucket_ms`.
    pub async fn account_sentiment(
        &self,
        tenant: TenantId,
        account: AccountId,
        from_ms: i64,
        to_ms: i64,
        bucket_ms: i64,
    ) -> Result<SentimentReport, ServiceError> {
        let accounts = [account];
        let current = self.scroll(Self::customer_window(&tenant, &accounts, &[], from_ms, to_ms)).await?;
        let before = from_ms - (to_ms - from_ms);
        let baseline = self.scroll(Self::customer_window(&tenant, &accounts, &[], before, from_ms)).await?;
        Ok(account_sentiment(
            &current,
            &baseline,
            (from_ms, to_ms),
            bucket_ms,
            &self.insights.config.sentiment,
        ))
    }

    /// Themes over the negative customer segments of `[from_ms, to_ms)` (all accounts, or
    /// `accounts`), against the window of the same length before it.
    pub async fn themes(
        &self,
        tenant: TenantId,
        accounts: Vec<AccountId>,
        source_kinds: Vec<SourceKind>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<ThemeReport, ServiceError> {
        let config = &self.insights.config.themes;
        let window = |from, to| Self::customer_window(&tenant, &accounts, &source_kinds, from, to);
        let (current, mut vectors) = self.scroll_embedded(window(from_ms, to_ms)).await?;
        let before = from_ms - (to_ms - from_ms);
        let (previous, earlier) = self.scroll_embedded(window(before, from_ms)).await?;
        vectors.extend(earlier);
        let (prev, cur) = candidates(&previous, &current, config);
        let embedded = |segments: Vec<&StoredSegment>| -> Vec<Embedded> {
            segments
                .into_iter()
                .map(|s| Embedded {
                    segment: s.clone(),
                    embedding: vectors.get(&point_order(s)).cloned().unwrap_or_default(),
                })
                .collect()
        };
        let current = embedded(cur);
        let previous = embedded(prev);
        let label_of = |id: &str| self.topic_label(id);
        Ok(find_themes(&current, &previous, &label_of, config))
    }

    /// The account's risk with `evidence` items per reason (the ranking of actions looks at
    /// more evidence than a risk report shows), and the window's stored embeddings.
    async fn risk_with_evidence(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        from_ms: i64,
        to_ms: i64,
        evidence: usize,
    ) -> Result<(RiskReport, HashMap<u128, Vec<f32>>), ServiceError> {
        let accounts = [account.clone()];
        let (current, embeddings) =
            self.scroll_embedded(Self::customer_window(tenant, &accounts, &[], from_ms, to_ms)).await?;
        let before = from_ms - (to_ms - from_ms);
        let baseline = self.scroll(Self::customer_window(tenant, &accounts, &[], before, from_ms)).await?;
        let config = RiskConfig { max_evidence: evidence, ..self.risk.clone() };
        let context = self.risk_context(tenant, account);
        Ok((assess_risk(&current, &baseline, to_ms, &context, &config), embeddings))
    }

    async fn action_embeddings(&self) -> Result<&Vec<Vec<f32>>, ServiceError> {
        self.insights
            .action_embeddings
            .get_or_try_init(|| async {
                let texts: Vec<String> =
                    self.insights.playbook.actions.iter().map(|a| a.description.clone()).collect();
                let (analyses, _) = self.analyze(texts).await?;
                Ok::<_, ServiceError>(analyses.into_iter().map(|a| a.embedding).collect())
            })
            .await
    }

    /// Ranked next-best-actions for one account over `[from_ms, to_ms)`, as of `now_ms`
    /// for feedback ages, with up to `max_evidence` evidence items each.
    pub async fn next_best_actions(
        &self,
        tenant: TenantId,
        account: AccountId,
        window: (i64, i64),
        now_ms: i64,
        max_evidence: usize,
    ) -> Result<(RiskReport, Vec<Suggestion>), ServiceError> {
        let config = &self.insights.config.actions;
        let per_reason = config.evidence_per_reason.max(self.risk.max_evidence);
        let (report, mut window_embeddings) =
            self.risk_with_evidence(&tenant, &account, window.0, window.1, per_reason).await?;
        let actions = self.action_embeddings().await?;
        let embeddings: BTreeMap<u128, Vec<f32>> = report
            .reasons
            .iter()
            .flat_map(|r| &r.evidence)
            .filter_map(|s| {
                let key = point_order(s);
                window_embeddings.remove(&key).map(|embedding| (key, embedding))
            })
            .collect();
        let events = self.insights.feedback.events_of(&tenant);
        let factors = FeedbackFactors::new(&events, &account, now_ms, &config.feedback);
        let ranked = rank_actions(
            &self.insights.playbook,
            actions,
            &report,
            &embeddings,
            &factors,
            config,
            max_evidence,
        );
        Ok((report, ranked))
    }

    /// Stores a CSM's verdict on a suggestion; later rankings of the action change.
    pub async fn record_action_feedback(
        &self,
        tenant: TenantId,
        account: AccountId,
        action: &str,
        outcome: Outcome,
        note: String,
        at_ms: i64,
    ) -> Result<(), ServiceError> {
        if self.insights.playbook.get(action).is_none() {
            return Err(ServiceError::invalid(
                "action_id",
                format!("{action:?} is not an action of the playbook"),
            ));
        }
        let event = FeedbackEvent { tenant, account, action: action.to_owned(), outcome, note, at_ms };
        let log = self.insights.feedback.clone();
        tokio::task::spawn_blocking(move || log.record(event))
            .await?
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }
}
