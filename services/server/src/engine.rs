//! The transport-free core of the server: documents in (segments, analyzed once each,
//! stored), evidence and insights out. The gRPC services only translate and delegate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use undertone_core::{AccountId, DocumentKey, Segment, SegmentRecord, SpeakerRole, StoredSegment, TenantId};
use undertone_ingest::{Redactor, RoleDirectory, TextOptions};
use undertone_insights::{AccountContext, RiskConfig, RiskReport, assess_risk};
use undertone_models::{Analysis, Analyzer, Batcher};
use undertone_store::{EvidenceStore, SearchQuery, SegmentFilter};

use crate::accounts::{AccountRecord, AccountRegistry};
use crate::config::{Config, Limits};
use crate::error::ServiceError;

mod durability;
mod insights;
use durability::GroupCommit;
pub use insights::{AccountProfile, InsightsState};

/// Where the time of one model call went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub tokenize: Duration,
    pub queue: Duration,
    pub inference: Duration,
    pub total: Duration,
}

/// A parsed document, ready to analyze and store.
#[derive(Debug, Clone)]
pub struct ParsedDocument {
    pub key: DocumentKey,
    pub account: AccountId,
    /// Fingerprint of the source content, to tell an unchanged re-send.
    pub content_hash: String,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestStatus {
    Created,
    Replaced,
    Unchanged,
}

#[derive(Debug, Clone, Copy)]
pub struct IngestOutcome {
    pub status: IngestStatus,
    pub stored: u64,
    pub removed: u64,
    pub timing: Timing,
}

/// How documents are parsed and cleaned: who the tenant's team is, PII redaction, and
/// the size limits of raw documents.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub roles: RoleDirectory,
    /// Per-part text limit and redaction, shared by every format.
    pub text: TextOptions,
    pub max_email_bytes: usize,
    pub max_transcript_bytes: usize,
    pub reject_unmapped_speakers: bool,
}

impl IngestSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            roles: RoleDirectory::new(&config.ingest.internal_domains, &config.ingest.internal_people),
            text: TextOptions {
                max_text_bytes: config.limits.max_text_bytes,
                redactor: Redactor::new(config.redaction.clone()),
            },
            max_email_bytes: config.limits.max_email_bytes,
            max_transcript_bytes: config.limits.max_transcript_bytes,
            reject_unmapped_speakers: config.ingest.reject_unmapped_speakers,
        }
    }

    fn defaults(limits: &Limits) -> Self {
        Self {
            roles: RoleDirectory::default(),
            text: TextOptions::with_max_text_bytes(limits.max_text_bytes),
            max_email_bytes: limits.max_email_bytes,
            max_transcript_bytes: limits.max_transcript_bytes,
            reject_unmapped_speakers: false,
        }
    }
}

pub struct Engine {
    /// The shared batching queue in front of the models: every model call goes through
    /// it; past its caps callers get RESOURCE_EXHAUSTED.
    batcher: Arc<Batcher>,
    store: Arc<dyn EvidenceStore>,
    limits: Limits,
    risk: RiskConfig,
    /// Document writes are serialized so two versions of one document never interleave.
    writes: tokio::sync::Mutex<()>,
    /// Acknowledged writes are durable; concurrent writers share flushes.
    commits: GroupCommit,
    /// Themes, actions, feedback and account profiles (`engine/insights.rs`).
    insights: Arc<InsightsState>,
    ingest: IngestSettings,
    /// Account metadata (UpsertAccount), persistent.
    accounts: Arc<AccountRegistry>,
}

/// sha256 over length-prefixed fields.
pub fn fingerprint(fields: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field);
    }
    format!("{:x}", hasher.finalize())
}

impl Engine {
    pub fn new(
        batcher: Arc<Batcher>,
        store: Arc<dyn EvidenceStore>,
        limits: Limits,
        risk: RiskConfig,
    ) -> Self {
        let ingest = IngestSettings::defaults(&limits);
        Self {
            batcher,
            store,
            limits,
            risk,
            writes: Default::default(),
            commits: GroupCommit::default(),
            insights: Arc::default(),
            ingest,
            accounts: Arc::new(AccountRegistry::in_memory()),
        }
    }

    /// The configured ingest settings and the (persistent) account registry.
    pub fn with_ingest(mut self, ingest: IngestSettings, accounts: AccountRegistry) -> Self {
        self.ingest = ingest;
        self.accounts = Arc::new(accounts);
        self
    }

    pub fn ingest_settings(&self) -> &IngestSettings {
        &self.ingest
    }

    pub fn account_registry(&self) -> &AccountRegistry {
        &self.accounts
    }

    /// Stores an account's metadata and hands its name and ARR to the insights.
    pub fn upsert_account(
        &self,
        tenant: &TenantId,
        record: AccountRecord,
    ) -> Result<AccountRecord, ServiceError> {
        let record = self.accounts.upsert(tenant, record)?;
        if let Ok(account) = AccountId::new(&record.account_id) {
            let profile = AccountProfile { name: record.name.clone(), arr_usd: record.arr_usd };
            self.put_account_profile(tenant, &account, profile);
        }
        Ok(record)
    }

    /// Hands every registered account to the insights (at startup).
    pub fn restore_account_profiles(&self) {
        for (tenant, record) in self.accounts.all() {
            if let Ok(account) = AccountId::new(&record.account_id) {
                let profile = AccountProfile { name: record.name.clone(), arr_usd: record.arr_usd };
                self.put_account_profile(&tenant, &account, profile);
            }
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn analyzer(&self) -> &Analyzer {
        self.batcher.analyzer()
    }

    /// The readable label of a topic id (the id itself when unknown).
    pub fn topic_label(&self, id: &str) -> String {
        self.analyzer().taxonomy().label_of(id).unwrap_or(id).to_owned()
    }

    /// Runs the models over `texts` (results in input order) through the shared queue.
    /// Dropping the returned future (a client that went away) withdraws the call.
    pub async fn analyze(&self, texts: Vec<String>) -> Result<(Vec<Analysis>, Timing), ServiceError> {
        /// Up to this much text is tokenized on the async thread; more goes to a blocking one.
        const INLINE_TOKENIZE_BYTES: usize = 8 * 1024;
        let started = Instant::now();
        let submit = |batcher: &Batcher, texts: &[String]| {
            batcher.submit(&texts.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let pending = if texts.iter().map(String::len).sum::<usize>() <= INLINE_TOKENIZE_BYTES {
            submit(&self.batcher, &texts)?
        } else {
            let batcher = self.batcher.clone();
            tokio::task::spawn_blocking(move || submit(&batcher, &texts)).await??
        };
        let (analyses, timing) = pending.await?;
        let timing = Timing {
            tokenize: timing.tokenize,
            queue: timing.queue,
            inference: timing.inference,
            total: started.elapsed(),
        };
        Ok((analyses, timing))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn EvidenceStore) -> undertone_store::Result<T> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || op(store.as_ref())).await??)
    }

    /// Analyzes and stores a document; an identical re-send changes nothing.
    pub async fn ingest(&self, doc: ParsedDocument) -> Result<IngestOutcome, ServiceError> {
        let key = doc.key.clone();
        let previous = self.blocking(move |s| s.document_hash(&key)).await?;
        if previous.as_deref() == Some(doc.content_hash.as_str()) {
            return self.unchanged(&doc.key, Timing::default()).await;
        }
        let texts = doc.segments.iter().map(|s| s.text.clone()).collect();
        let (analyses, timing) = self.analyze(texts).await?;
        let records: Vec<SegmentRecord> = doc
            .segments
            .into_iter()
            .zip(analyses)
            .map(|(segment, analysis)| SegmentRecord {
                account: doc.account.clone(),
                document: doc.key.clone(),
                document_hash: doc.content_hash.clone(),
                segment,
                sentiment: analysis.sentiment,
                topics: analysis.topics,
                signals: analysis.signals,
                embedding: analysis.embedding,
            })
            .collect();
        let (key, account, hash) = (doc.key, doc.account, doc.content_hash);
        let (status, outcome) = {
            let _write = self.writes.lock().await;
            // Read again under the lock: a concurrent send of the same document may have
            // stored it while this one was analyzed, and then this one changes nothing.
            let read_key = key.clone();
            let current = self.blocking(move |s| s.document_hash(&read_key)).await?;
            if current.as_deref() == Some(hash.as_str()) {
                return self.unchanged(&key, timing).await;
            }
            let status = if current.is_some() { IngestStatus::Replaced } else { IngestStatus::Created };
            (status, self.blocking(move |s| s.upsert_document(&key, &account, &records)).await?)
        };
        self.durable().await?;
        Ok(IngestOutcome { status, stored: outcome.written, removed: outcome.removed, timing })
    }

    /// The outcome of a send whose content is already stored: nothing written.
    async fn unchanged(&self, key: &DocumentKey, timing: Timing) -> Result<IngestOutcome, ServiceError> {
        let filter = document_filter(key);
        let stored = self.blocking(move |s| s.count(&filter)).await?;
        Ok(IngestOutcome { status: IngestStatus::Unchanged, stored, removed: 0, timing })
    }

    pub async fn delete_document(&self, key: DocumentKey) -> Result<u64, ServiceError> {
        let removed = {
            let _write = self.writes.lock().await;
            self.blocking(move |s| s.delete_document(&key)).await?
        };
        self.durable().await?;
        Ok(removed)
    }

    /// Erases an account: its segments, its metadata (registry) and what the insights
    /// remember of it (name, ARR), so nothing of it is served again before a restart.
    pub async fn delete_account(&self, tenant: TenantId, account: AccountId) -> Result<u64, ServiceError> {
        let removed = {
            let _write = self.writes.lock().await;
            let (t, a) = (tenant.clone(), account.clone());
            self.blocking(move |s| s.delete_account(&t, &a)).await?
        };
        self.durable().await?;
        self.accounts.remove(&tenant, &account)?;
        self.forget_account_profile(&tenant, &account);
        Ok(removed)
    }

    /// Waits until every write this caller has made is durable (shared flushes).
    async fn durable(&self) -> Result<(), ServiceError> {
        self.commits.durable(|| self.blocking(|s| s.flush())).await
    }

    /// Stored segments nearest to `query` that match `filter`.
    pub async fn search(
        &self,
        query: &str,
        filter: SegmentFilter,
        limit: usize,
        min_score: Option<f32>,
    ) -> Result<Vec<StoredSegment>, ServiceError> {
        let (mut analyses, _) = self.analyze(vec![query.to_owned()]).await?;
        let vector = analyses.pop().map(|a| a.embedding).unwrap_or_default();
        let query = SearchQuery { vector, filter, limit, min_score };
        self.blocking(move |s| s.search(&query)).await
    }

    pub async fn scroll(&self, filter: SegmentFilter) -> Result<Vec<StoredSegment>, ServiceError> {
        self.blocking(move |s| s.scroll(&filter)).await
    }

    /// Like [`Self::scroll`], with each segment's stored embedding.
    pub async fn scroll_records(&self, filter: SegmentFilter) -> Result<Vec<SegmentRecord>, ServiceError> {
        self.blocking(move |s| s.scroll_records(&filter)).await
    }

    /// The risk of one account over `[from_ms, to_ms)`, against the window of the same
    /// length before it.
    pub async fn account_risk(
        &self,
        tenant: TenantId,
        account: AccountId,
        from_ms: i64,
        to_ms: i64,
        max_evidence: usize,
    ) -> Result<RiskReport, ServiceError> {
        let window = |from, to| SegmentFilter {
            roles: vec![SpeakerRole::Customer, SpeakerRole::Unknown],
            from_ms: Some(from),
            to_ms: Some(to),
            ..SegmentFilter::account(tenant.clone(), account.clone())
        };
        let current = self.scroll(window(from_ms, to_ms)).await?;
        let baseline = self.scroll(window(from_ms - (to_ms - from_ms), from_ms)).await?;
        let config = RiskConfig { max_evidence, ..self.risk.clone() };
        Ok(assess_risk(&current, &baseline, to_ms, &self.risk_context(&tenant, &account), &config))
    }

    /// What the registry knows of the account for its risk (renewal date, people).
    pub fn risk_context(&self, tenant: &TenantId, account: &AccountId) -> AccountContext {
        self.accounts.get(tenant, account).map(|r| r.risk_context()).unwrap_or_default()
    }

    /// Every account of a tenant that has stored segments.
    pub async fn accounts(&self, tenant: TenantId) -> Result<Vec<AccountId>, ServiceError> {
        self.blocking(move |s| s.accounts(&tenant)).await
    }
}

fn document_filter(key: &DocumentKey) -> SegmentFilter {
    SegmentFilter {
        source_kinds: vec![key.source_kind],
        document_external_id: Some(key.external_id.clone()),
        ..SegmentFilter::tenant(key.tenant.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_separate_fields() {
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
        assert_eq!(fingerprint(&[b"x"]), fingerprint(&[b"x"]));
    }
}
