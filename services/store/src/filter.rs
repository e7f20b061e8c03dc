//! Which segments a read is about. Every read is scoped to one tenant.

use undertone_core::{AccountId, SentimentLabel, SourceKind, SpeakerRole, TenantId};

/// Conditions a segment must all meet. Empty lists and `None` mean "any".
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentFilter {
    pub tenant: TenantId,
    pub accounts: Vec<AccountId>,
    pub source_kinds: Vec<SourceKind>,
    pub roles: Vec<SpeakerRole>,
    pub sentiments: Vec<SentimentLabel>,
    /// Only this document (its external id; pair with `source_kinds` to be exact).
    pub document_external_id: Option<String>,
    /// Inclusive lower bound on the segment timestamp, ms since the epoch.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound on the segment timestamp, ms since the epoch.
    pub to_ms: Option<i64>,
}

impl SegmentFilter {
    pub fn tenant(tenant: TenantId) -> Self {
        Self {
            tenant,
            accounts: Vec::new(),
            source_kinds: Vec::new(),
            roles: Vec::new(),
            sentiments: Vec::new(),
            document_external_id: None,
            from_ms: None,
            to_ms: None,
        }
    }

    pub fn account(tenant: TenantId, account: AccountId) -> Self {
        Self { accounts: vec![account], ..Self::tenant(tenant) }
    }
}

/// A vector search: the query embedding, the filter, and how many results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub vector: Vec<f32>,
    pub filter: SegmentFilter,
    pub limit: usize,
    /// Results scoring below this cosine similarity are dropped.
    pub min_score: Option<f32>,
}
