//! EvidenceStore: where segments, their embeddings and payloads live.
//!
//! One small trait, two backends: the embedded Qdrant engine (`qdrant-edge`, the default,
//! nothing to start) and a Qdrant server or cluster through `qdrant-client`. Both speak the
//! domain types of `undertone-core`, store the same payload layout under the same point ids
//! (so data migrates 1:1) and pass the same test suite.

mod edge;
mod error;
mod filter;
mod payload;
mod qdrant;

pub use edge::EmbeddedStore;
pub use error::StoreError;
pub use filter::{SearchQuery, SegmentFilter};
pub use qdrant::{QdrantConfig, QdrantStore, Quantization};

use undertone_core::{AccountId, DocumentKey, SegmentRecord, StoredSegment, TenantId};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a document upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpsertOutcome {
    /// Points written.
    pub written: u64,
    /// Stale points of an earlier version of the document that were removed.
    pub removed: u64,
}

/// The store behind every service. Calls are blocking (the embedded engine is in-process);
/// async callers run them on a blocking thread.
pub trait EvidenceStore: Send + Sync + 'static {
    /// Writes every segment of one document, replacing an earlier version of it: points of
    /// the same document key that are not in `records` are removed after the new ones are
    /// written, so a crash in between never loses the document. All records must share
    /// `key` and `account`.
    fn upsert_document(
        &self,
        key: &DocumentKey,
        account: &AccountId,
        records: &[SegmentRecord],
    ) -> Result<UpsertOutcome>;

    /// The stored fingerprint of a document, to skip an unchanged re-send.
    fn document_hash(&self, key: &DocumentKey) -> Result<Option<String>>;

    /// Nearest segments to `query.vector` among those matching `query.filter`, best first.
    fn search(&self, query: &SearchQuery) -> Result<Vec<StoredSegment>>;

    /// Every segment matching `filter`, in a stable order (document, then segment index).
    fn scroll(&self, filter: &SegmentFilter) -> Result<Vec<StoredSegment>>;

    /// Every segment matching `filter` with its stored embedding, in `scroll`'s order: what
    /// a migration copies, and what insights read instead of re-embedding texts.
    fn scroll_records(&self, filter: &SegmentFilter) -> Result<Vec<SegmentRecord>>;

    /// How many segments match `filter`.
    fn count(&self, filter: &SegmentFilter) -> Result<u64>;

    /// Every tenant with stored segments, sorted.
    fn tenants(&self) -> Result<Vec<TenantId>>;

    /// Every account of `tenant` with stored segments, sorted; read from the payload index,
    /// not from every payload.
    fn accounts(&self, tenant: &TenantId) -> Result<Vec<AccountId>>;

    /// Removes every segment of one document; returns how many were removed.
    fn delete_document(&self, key: &DocumentKey) -> Result<u64>;

    /// Removes every segment of one account of a tenant (data-subject erasure).
    fn delete_account(&self, tenant: &TenantId, account: &AccountId) -> Result<u64>;

    /// Makes everything written so far durable.
    fn flush(&self) -> Result<()>;
}
