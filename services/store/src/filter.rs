//! Which segments a read is about. Every read is scoped to one tenant.
//!
//! `conditions` turns a filter into engine-neutral conditions on payload fields, so each
//! backend only maps three kinds of condition to its own types.

use undertone_core::{AccountId, DocumentKey, SentimentLabel, SourceKind, SpeakerRole, TenantId};

use crate::payload::field;

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

/// One condition on a top-level payload field; a filter is all of its conditions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    /// The field equals this keyword.
    Keyword(&'static str, String),
    /// The field is any of these keywords (never empty).
    AnyOf(&'static str, Vec<String>),
    /// `from <= field < to`; either bound may be open, not both.
    Range(&'static str, Option<i64>, Option<i64>),
}

/// The conditions of `filter`, always starting with the tenant.
pub(crate) fn conditions(filter: &SegmentFilter) -> Vec<Condition> {
    let mut all = vec![Condition::Keyword(field::TENANT, filter.tenant.as_str().to_owned())];
    any_of(&mut all, field::ACCOUNT, filter.accounts.iter().map(AccountId::as_str));
    any_of(&mut all, field::SOURCE_KIND, filter.source_kinds.iter().map(|kind| kind.as_str()));
    any_of(&mut all, field::ROLE, filter.roles.iter().map(|role| role.as_str()));
    any_of(&mut all, field::SENTIMENT_LABEL, filter.sentiments.iter().map(|label| label.as_str()));
    if let Some(external_id) = &filter.document_external_id {
        all.push(Condition::Keyword(field::EXTERNAL_ID, external_id.clone()));
    }
    if filter.from_ms.is_some() || filter.to_ms.is_some() {
        all.push(Condition::Range(field::TIMESTAMP_MS, filter.from_ms, filter.to_ms));
    }
    all
}

/// Every point of one document, within its tenant.
pub(crate) fn document_conditions(key: &DocumentKey) -> Vec<Condition> {
    vec![
        Condition::Keyword(field::TENANT, key.tenant.as_str().to_owned()),
        Condition::Keyword(field::DOC_KEY, key.storage_key()),
    ]
}

/// `key` is any of `values`; no condition for an empty list ("any").
fn any_of<'a>(all: &mut Vec<Condition>, key: &'static str, values: impl Iterator<Item = &'a str>) {
    let values: Vec<String> = values.map(str::to_owned).collect();
    if !values.is_empty() {
        all.push(Condition::AnyOf(key, values));
    }
}
