//! The engine's insights beyond risk: account sentiment, themes, next-best-actions and
//! their feedback, and account metadata (names, ARR) for themes. A child module of
//! `engine` so it reads the same store and models; ingest is untouched.
//!
//! Embeddings: the store keeps every segment's embedding, but its read API returns
//! payloads only; themes and actions re-embed the segment texts they need with the same
//! encoder (same text, same vector) and keep them in a bounded in-memory cache keyed by
//! text. Texts go to the encoder in canonical (point id) order, so batches, and with them
//! the vectors, are the same for the same input.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use undertone_core::{AccountId, SourceKind, SpeakerRole, StoredSegment, TenantId};
use undertone_insights::{
    Embedded, FeedbackEvent, FeedbackFactors, FeedbackLog, InsightsConfig, Outcome, Playbook, RiskConfig,
    RiskReport, SentimentReport, Suggestion, ThemeReport, account_sentiment, assess_risk, candidates,
    find_themes, point_order, rank_actions,
};
use undertone_store::SegmentFilter;

use super::Engine;
use crate::error::ServiceError;

/// Texts embedded per model call, so ingest and other requests interleave.
const EMBED_CHUNK: usize = 128;
/// Cached embeddings before the cache starts afresh (384 floats each: about 30 MB).
const EMBED_CACHE_MAX: usize = 20_000;
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
    embeddings: Mutex<HashMap<String, Arc<Vec<f32>>>>,
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
            embeddings: Mutex::default(),
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

    /// The tenant's known account profiles.
    pub fn account_profiles(&self, tenant: &TenantId) -> BTreeMap<AccountId, AccountProfile> {
        let accounts = self.insights.accounts.read().unwrap_or_else(PoisonError::into_inner);
        accounts.get(tenant).cloned().unwrap_or_default()
    }

    /// Embeddings of `texts` (in order), from the cache or the encoder.
    pub async fn embed_cached(&self, texts: &[&str]) -> Result<Vec<Arc<Vec<f32>>>, ServiceError> {
        let missing: Vec<String> = {
            let cache = self.insights.embeddings.lock().unwrap_or_else(PoisonError::into_inner);
            let mut seen = std::collections::HashSet::new();
            texts
                .iter()
                .filter(|t| !cache.contains_key(**t) && seen.insert(**t))
                .map(|t| (*t).to_owned())
                .collect()
        };
        let mut fresh: HashMap<String, Arc<Vec<f32>>> = HashMap::new();
        for chunk in missing.chunks(EMBED_CHUNK) {
            let (analyses, _) = self.analyze(chunk.to_vec()).await?;
            for (text, analysis) in chunk.iter().zip(analyses) {
                fresh.insert(text.clone(), Arc::new(analysis.embedding));
            }
        }
        let mut cache = self.insights.embeddings.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() + fresh.len() > EMBED_CACHE_MAX {
            cache.clear();
        }
        let out = texts
            .iter()
            .map(|t| fresh.get(*t).or_else(|| cache.get(*t)).cloned().unwrap_or_default())
            .collect();
        cache.extend(fresh);
        Ok(out)
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
        let current =
            self.scroll(Self::customer_window(&tenant, &accounts, &source_kinds, from_ms, to_ms)).await?;
        let before = from_ms - (to_ms - from_ms);
        let previous =
            self.scroll(Self::customer_window(&tenant, &accounts, &source_kinds, before, from_ms)).await?;
        let (prev, cur) = candidates(&previous, &current, config);
        let texts: Vec<&str> = cur.iter().chain(&prev).map(|s| s.segment.text.as_str()).collect();
        let vectors = self.embed_cached(&texts).await?;
        let embedded = |segments: Vec<&StoredSegment>, vectors: &[Arc<Vec<f32>>]| -> Vec<Embedded> {
            segments
                .into_iter()
                .zip(vectors)
                .map(|(s, v)| Embedded { segment: s.clone(), embedding: v.as_ref().clone() })
                .collect()
        };
        let (cur_vectors, prev_vectors) = vectors.split_at(cur.len());
        let current = embedded(cur, cur_vectors);
        let previous = embedded(prev, prev_vectors);
        let label_of = |id: &str| self.topic_label(id);
        Ok(find_themes(&current, &previous, &label_of, config))
    }

    /// The account's risk with `evidence` items per reason (the ranking of actions looks at
    /// more evidence than a risk report shows).
    async fn risk_with_evidence(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        from_ms: i64,
        to_ms: i64,
        evidence: usize,
    ) -> Result<RiskReport, ServiceError> {
        let accounts = [account.clone()];
        let current = self.scroll(Self::customer_window(tenant, &accounts, &[], from_ms, to_ms)).await?;
        let before = from_ms - (to_ms - from_ms);
        let baseline = self.scroll(Self::customer_window(tenant, &accounts, &[], before, from_ms)).await?;
        let config = RiskConfig { max_evidence: evidence, ..self.risk.clone() };
        Ok(assess_risk(&current, &baseline, to_ms, &config))
    }

    async fn action_embeddings(&self) -> Result<&Vec<Vec<f32>>, ServiceError> {
        self.insights
            .action_embeddings
            .get_or_try_init(|| async {
                let texts: Vec<&str> =
                    self.insights.playbook.actions.iter().map(|a| a.description.as_str()).collect();
                let vectors = self.embed_cached(&texts).await?;
                Ok::<_, ServiceError>(vectors.into_iter().map(|v| v.as_ref().clone()).collect())
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
        let report = self.risk_with_evidence(&tenant, &account, window.0, window.1, per_reason).await?;
        let actions = self.action_embeddings().await?;
        let mut evidence: Vec<&StoredSegment> = report.reasons.iter().flat_map(|r| &r.evidence).collect();
        evidence.sort_by_key(|s| point_order(s));
        evidence.dedup_by_key(|s| point_order(s));
        let texts: Vec<&str> = evidence.iter().map(|s| s.segment.text.as_str()).collect();
        let vectors = self.embed_cached(&texts).await?;
        let embeddings: BTreeMap<u128, Vec<f32>> =
            evidence.iter().zip(vectors).map(|(s, v)| (point_order(s), v.as_ref().clone())).collect();
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
