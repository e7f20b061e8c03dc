//! The behaviour every `EvidenceStore` backend must show, as functions over `&dyn EvidenceStore`
//! so each backend's test file runs the same suite.
//!
//! Stores hold `DIM`-dimensional vectors. Each check uses its own tenants, and every store
//! operation is tenant-scoped, so the checks can share one store (`run_conformance`) or each
//! get a fresh one.

use std::collections::BTreeSet;

use undertone_core::{
    AccountId, DocumentKey, Segment, SegmentRecord, Sentiment, SentimentLabel, SourceKind, SpeakerRole,
    StoredSegment, TenantId, TopicScore,
};
use undertone_store::{EvidenceStore, SearchQuery, SegmentFilter, StoreError, UpsertOutcome};

/// Dimension of every vector in the suite.
pub const DIM: usize = 4;

/// 2024-01-01T00:00:00Z; segment timestamps count seconds from here.
const BASE_MS: i64 = 1_704_067_200_000;

/// Runs every store-level check on one store.
pub fn run_conformance(store: &dyn EvidenceStore) {
    search_returns_nearest_with_full_payload(store);
    filters_narrow_results(store);
    tenants_are_isolated(store);
    reupsert_replaces_document(store);
    deletes_remove_exactly_their_scope(store);
    document_hash_round_trips(store);
    rejects_invalid_records(store);
    concurrent_writers(store);
    scroll_records_carry_embeddings(store);
    lists_tenants_and_accounts(store);
}

/// One `#[test]` per check, each on the store `fresh(test_name)` returns (something that
/// derefs to a store, or `None` to skip). Every backend's test file invokes it once, so a
/// new check runs on every backend.
macro_rules! test_each_check {
    () => {
        conformance::test_each_check!(
            search_returns_nearest_with_full_payload,
            filters_narrow_results,
            tenants_are_isolated,
            reupsert_replaces_document,
            deletes_remove_exactly_their_scope,
            document_hash_round_trips,
            rejects_invalid_records,
            concurrent_writers,
            scroll_records_carry_embeddings,
            lists_tenants_and_accounts,
        );
    };
    ($($check:ident),* $(,)?) => {$(
        #[test]
        fn $check() {
            let Some(store) = fresh(stringify!($check)) else { return };
            conformance::$check(&*store);
        }
    )*};
}
pub(crate) use test_each_check;

// ---- fixtures ----

pub fn tenant(id: &str) -> TenantId {
    TenantId::new(id).expect("valid tenant id")
}

pub fn account(id: &str) -> AccountId {
    AccountId::new(id).expect("valid account id")
}

pub fn key(tenant_id: &str, kind: SourceKind, external_id: &str) -> DocumentKey {
    DocumentKey::new(tenant(tenant_id), kind, external_id).expect("valid document key")
}

/// Basis vector `i`, so distinct segments are orthogonal and searches are unambiguous.
pub fn unit(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i % DIM] = 1.0;
    v
}

/// A plain customer segment; checks override the fields they test.
pub fn record(key: &DocumentKey, account: &AccountId, index: u32, embedding: Vec<f32>) -> SegmentRecord {
    SegmentRecord {
        account: account.clone(),
        document: key.clone(),
        document_hash: format!("hash-{}", key.external_id),
        segment: Segment {
            index,
            part: format!("part-{index}"),
            text: format!("segment {index} of {}", key.external_id),
            speaker: Some("Dana <dana@acme.test>".into()),
            role: SpeakerRole::Customer,
            timestamp_ms: Some(BASE_MS + i64::from(index) * 1000),
            media_offset_ms: None,
            char_start: index * 10,
            char_end: index * 10 + 9,
        },
        sentiment: Sentiment { label: SentimentLabel::Neutral, score: 0.0, confidence: 0.5 },
        topics: Vec::new(),
        signals: Vec::new(),
        embedding,
    }
}

/// `count` segments of one document, segment `i` along `unit(i)`.
pub fn document(key: &DocumentKey, account: &AccountId, count: u32) -> Vec<SegmentRecord> {
    (0..count).map(|i| record(key, account, i, unit(i as usize))).collect()
}

/// Upserts records that all belong to one document.
pub fn upsert(store: &dyn EvidenceStore, records: &[SegmentRecord]) -> UpsertOutcome {
    let first = records.first().expect("at least one record");
    store.upsert_document(&first.document, &first.account, records).expect("upsert")
}

fn search(
    store: &dyn EvidenceStore,
    filter: SegmentFilter,
    vector: Vec<f32>,
    limit: usize,
) -> Vec<StoredSegment> {
    store.search(&SearchQuery { vector, filter, limit, min_score: None }).expect("search")
}

/// Every field read back equals the one written (the embedding is not read back).
pub fn assert_same(stored: &StoredSegment, record: &SegmentRecord) {
    assert_eq!(stored.account, record.account);
    assert_eq!(stored.document, record.document);
    assert_eq!(stored.document_hash, record.document_hash);
    assert_eq!(stored.segment, record.segment);
    assert_eq!(stored.sentiment, record.sentiment);
    assert_eq!(stored.topics, record.topics);
}

/// (external id, index) of each segment, as a set.
fn ids(segments: &[StoredSegment]) -> BTreeSet<(String, u32)> {
    segments.iter().map(|s| (s.document.external_id.clone(), s.segment.index)).collect()
}

fn expected(pairs: &[(&str, u32)]) -> BTreeSet<(String, u32)> {
    pairs.iter().map(|(id, index)| ((*id).to_owned(), *index)).collect()
}

fn assert_sorted_for_scroll(segments: &[StoredSegment]) {
    let order: Vec<_> = segments.iter().map(|s| (s.document.storage_key(), s.segment.index)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "scroll order is (document, index): {order:?}");
}

// ---- checks ----

/// Search finds the nearest segment first, honours limit and min_score, and reads back
/// every field; scroll reads back every segment in order.
pub fn search_returns_nearest_with_full_payload(store: &dyn EvidenceStore) {
    let t = "conf-search";
    let key = key(t, SourceKind::Call, "call-1");
    let acme = account("acme");
    let mut records = document(&key, &acme, 3);
    records[1].segment.speaker = Some("Sam (CSM)".into());
    records[1].segment.role = SpeakerRole::Internal;
    records[1].segment.media_offset_ms = Some(12_345);
    records[1].sentiment = Sentiment { label: SentimentLabel::Negative, score: -0.75, confidence: 0.875 };
    records[1].topics = vec![
        TopicScore { topic: "pricing".into(), score: 0.5 },
        TopicScore { topic: "churn".into(), score: 0.1 },
    ];
    records[2].segment.speaker = None;
    records[2].segment.role = SpeakerRole::Unknown;
    records[2].segment.timestamp_ms = None;
    assert_eq!(upsert(store, &records), UpsertOutcome { written: 3, removed: 0 });

    let hits = search(store, SegmentFilter::tenant(tenant(t)), vec![0.1, 1.0, 0.0, 0.0], 10);
    assert_eq!(hits.len(), 3);
    assert_same(&hits[0], &records[1]);
    assert!(hits[0].score > 0.99, "cosine of nearly parallel vectors, got {}", hits[0].score);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    assert_eq!(search(store, SegmentFilter::tenant(tenant(t)), unit(2), 1).len(), 1);

    let query = SearchQuery {
        vector: unit(2),
        filter: SegmentFilter::tenant(tenant(t)),
        limit: 10,
        min_score: Some(0.5),
    };
    let close = store.search(&query).expect("search");
    assert_eq!(close.len(), 1, "orthogonal segments score 0, below min_score");
    assert_same(&close[0], &records[2]);

    let all = store.scroll(&SegmentFilter::tenant(tenant(t))).expect("scroll");
    assert_eq!(all.len(), 3);
    for (stored, record) in all.iter().zip(&records) {
        assert_same(stored, record);
        assert_eq!(stored.score, 0.0);
    }
}

/// Each filter field narrows scroll, count and search alike.
pub fn filters_narrow_results(store: &dyn EvidenceStore) {
    let t = "conf-filter";
    let (acme, globex) = (account("acme"), account("globex"));
    let email = key(t, SourceKind::Email, "e-1");
    let ticket = key(t, SourceKind::Ticket, "k-1");
    let call = key(t, SourceKind::Call, "c-1");
    let at = |seconds: i64| Some(BASE_MS + seconds * 1000);
    let seg = |key: &DocumentKey, account: &AccountId, index: u32, role, label, timestamp_ms| {
        let mut r = record(key, account, index, unit(index as usize + 1));
        r.segment.role = role;
        r.sentiment.label = label;
        r.segment.timestamp_ms = timestamp_ms;
        r
    };
    use SentimentLabel::{Negative, Neutral, Positive};
    use SpeakerRole::{Customer, Internal, Unknown};
    upsert(
        store,
        &[seg(&email, &acme, 0, Customer, Negative, at(0)), seg(&email, &acme, 1, Internal, Positive, at(1))],
    );
    upsert(
        store,
        &[
            seg(&ticket, &globex, 0, Customer, Neutral, at(2)),
            seg(&ticket, &globex, 1, Unknown, Negative, None),
        ],
    );
    upsert(store, &[seg(&call, &acme, 0, Customer, Positive, at(3))]);

    let base = || SegmentFilter::tenant(tenant(t));
    let check = |filter: SegmentFilter, want: &[(&str, u32)]| {
        let scrolled = store.scroll(&filter).expect("scroll");
        assert_eq!(ids(&scrolled), expected(want), "scroll with {filter:?}");
        assert_sorted_for_scroll(&scrolled);
        assert_eq!(store.count(&filter).expect("count"), want.len() as u64, "count with {filter:?}");
        let found = search(store, filter.clone(), vec![0.5; DIM], 100);
        assert_eq!(ids(&found), expected(want), "search with {filter:?}");
    };

    check(base(), &[("e-1", 0), ("e-1", 1), ("k-1", 0), ("k-1", 1), ("c-1", 0)]);
    check(SegmentFilter::account(tenant(t), acme.clone()), &[("e-1", 0), ("e-1", 1), ("c-1", 0)]);
    check(
        SegmentFilter { accounts: vec![acme.clone(), globex], ..base() },
        &[("e-1", 0), ("e-1", 1), ("k-1", 0), ("k-1", 1), ("c-1", 0)],
    );
    check(SegmentFilter { source_kinds: vec![SourceKind::Ticket], ..base() }, &[("k-1", 0), ("k-1", 1)]);
    check(
        SegmentFilter { source_kinds: vec![SourceKind::Email, SourceKind::Call], ..base() },
        &[("e-1", 0), ("e-1", 1), ("c-1", 0)],
    );
    check(SegmentFilter { roles: vec![Customer], ..base() }, &[("e-1", 0), ("k-1", 0), ("c-1", 0)]);
    check(SegmentFilter { roles: vec![Internal, Unknown], ..base() }, &[("e-1", 1), ("k-1", 1)]);
    check(SegmentFilter { sentiments: vec![Negative], ..base() }, &[("e-1", 0), ("k-1", 1)]);
    check(SegmentFilter { document_external_id: Some("k-1".into()), ..base() }, &[("k-1", 0), ("k-1", 1)]);
    // Time range: from inclusive, to exclusive, segments without a timestamp never match.
    check(SegmentFilter { from_ms: at(1), ..base() }, &[("e-1", 1), ("k-1", 0), ("c-1", 0)]);
    check(SegmentFilter { to_ms: at(2), ..base() }, &[("e-1", 0), ("e-1", 1)]);
    check(SegmentFilter { from_ms: at(1), to_ms: at(3), ..base() }, &[("e-1", 1), ("k-1", 0)]);
    check(
        SegmentFilter {
            roles: vec![Customer],
            sentiments: vec![Negative],
            ..SegmentFilter::account(tenant(t), acme)
        },
        &[("e-1", 0)],
    );
    check(
        SegmentFilter { sentiments: vec![Positive], source_kinds: vec![SourceKind::Ticket], ..base() },
        &[],
    );
}

/// A tenant never sees, counts or deletes another tenant's segments, even with the same
/// account and document ids.
pub fn tenants_are_isolated(store: &dyn EvidenceStore) {
    let (a, b) = ("conf-iso-a", "conf-iso-b");
    let acme = account("acme");
    let (key_a, key_b) = (key(a, SourceKind::Email, "m-1"), key(b, SourceKind::Email, "m-1"));
    let mut docs_a = document(&key_a, &acme, 3);
    docs_a.iter_mut().for_each(|r| r.document_hash = "hash-a".into());
    let mut docs_b = document(&key_b, &acme, 2);
    docs_b.iter_mut().for_each(|r| r.document_hash = "hash-b".into());
    upsert(store, &docs_a);
    assert_eq!(upsert(store, &docs_b), UpsertOutcome { written: 2, removed: 0 }, "A's points are not B's");

    let only_b = |segments: &[StoredSegment]| segments.iter().all(|s| s.document.tenant == tenant(b));
    assert_eq!(store.count(&SegmentFilter::tenant(tenant(b))).expect("count"), 2);
    assert!(only_b(&store.scroll(&SegmentFilter::account(tenant(b), acme.clone())).expect("scroll")));
    let hits = search(store, SegmentFilter::tenant(tenant(b)), unit(2), 10);
    assert_eq!(hits.len(), 2);
    assert!(only_b(&hits), "the nearest segment (A's index 2) is not B's to see");
    assert_eq!(store.document_hash(&key_a).expect("hash").as_deref(), Some("hash-a"));
    assert_eq!(store.document_hash(&key_b).expect("hash").as_deref(), Some("hash-b"));

    assert_eq!(store.delete_account(&tenant(b), &acme).expect("delete"), 2);
    assert_eq!(store.count(&SegmentFilter::tenant(tenant(b))).expect("count"), 0);
    assert_eq!(store.count(&SegmentFilter::account(tenant(a), acme)).expect("count"), 3, "A untouched");
    assert_eq!(store.delete_document(&key_b).expect("delete"), 0);
    assert_eq!(store.count(&SegmentFilter::tenant(tenant(a))).expect("count"), 3);
}

/// Re-sending a document with fewer segments leaves exactly the new ones.
pub fn reupsert_replaces_document(store: &dyn EvidenceStore) {
    let t = "conf-reupsert";
    let acme = account("acme");
    let doc = key(t, SourceKind::Ticket, "T-100");
    let other = key(t, SourceKind::Ticket, "T-200");
    assert_eq!(upsert(store, &document(&doc, &acme, 5)), UpsertOutcome { written: 5, removed: 0 });
    upsert(store, &document(&other, &acme, 2));

    let mut shorter = document(&doc, &acme, 3);
    for r in &mut shorter {
        r.document_hash = "hash-v2".into();
        r.segment.text = format!("edited {}", r.segment.index);
    }
    assert_eq!(upsert(store, &shorter), UpsertOutcome { written: 3, removed: 2 });

    let only_doc =
        SegmentFilter { document_external_id: Some("T-100".into()), ..SegmentFilter::tenant(tenant(t)) };
    let stored = store.scroll(&only_doc).expect("scroll");
    assert_eq!(stored.len(), 3, "no duplicates, no leftovers");
    for (stored, record) in stored.iter().zip(&shorter) {
        assert_same(stored, record);
    }
    let near_removed = search(store, only_doc.clone(), unit(4), 10);
    assert!(near_removed.iter().all(|s| s.segment.index < 3), "segments 3 and 4 are gone");
    assert_eq!(store.count(&SegmentFilter::tenant(tenant(t))).expect("count"), 5, "the other document stays");

    // The same records again: overwritten in place, nothing removed.
    assert_eq!(upsert(store, &shorter), UpsertOutcome { written: 3, removed: 0 });
    // No records at all: the document is emptied.
    let outcome = store.upsert_document(&doc, &acme, &[]).expect("upsert");
    assert_eq!(outcome, UpsertOutcome { written: 0, removed: 3 });
    assert_eq!(store.count(&only_doc).expect("count"), 0);
    assert_eq!(store.count(&SegmentFilter::tenant(tenant(t))).expect("count"), 2);
}

/// delete_document and delete_account remove all of their scope and nothing else.
pub fn deletes_remove_exactly_their_scope(store: &dyn EvidenceStore) {
    let t = "conf-delete";
    let (acme, globex) = (account("acme"), account("globex"));
    let d1 = key(t, SourceKind::Email, "d1");
    let d2 = key(t, SourceKind::Call, "d2");
    let d3 = key(t, SourceKind::Email, "d3");
    upsert(store, &document(&d1, &acme, 3));
    upsert(store, &document(&d2, &acme, 2));
    upsert(store, &document(&d3, &globex, 2));

    assert_eq!(store.delete_document(&d1).expect("delete"), 3);
    assert_eq!(store.delete_document(&d1).expect("delete"), 0, "already gone");
    assert_eq!(store.document_hash(&d1).expect("hash"), None);
    assert_eq!(store.count(&SegmentFilter::account(tenant(t), acme.clone())).expect("count"), 2);
    let hits = search(store, SegmentFilter::tenant(tenant(t)), unit(2), 10);
    assert_eq!(ids(&hits), expected(&[("d2", 0), ("d2", 1), ("d3", 0), ("d3", 1)]));

    assert_eq!(store.delete_account(&tenant(t), &acme).expect("delete"), 2);
    assert_eq!(store.count(&SegmentFilter::account(tenant(t), acme.clone())).expect("count"), 0);
    assert_eq!(store.document_hash(&d2).expect("hash"), None);
    let left = store.scroll(&SegmentFilter::tenant(tenant(t))).expect("scroll");
    assert_eq!(ids(&left), expected(&[("d3", 0), ("d3", 1)]));
    assert!(search(store, SegmentFilter::tenant(tenant(t)), unit(0), 10).iter().all(|s| s.account == globex));
    assert_eq!(store.delete_account(&tenant(t), &acme).expect("delete"), 0);
}

/// The stored fingerprint follows the latest upsert and disappears with the document.
pub fn document_hash_round_trips(store: &dyn EvidenceStore) {
    let t = "conf-hash";
    let acme = account("acme");
    let doc = key(t, SourceKind::Message, "msg-1");
    assert_eq!(store.document_hash(&doc).expect("hash"), None);
    let mut records = document(&doc, &acme, 2);
    records.iter_mut().for_each(|r| r.document_hash = "sha256:abc".into());
    upsert(store, &records);
    assert_eq!(store.document_hash(&doc).expect("hash").as_deref(), Some("sha256:abc"));
    records.iter_mut().for_each(|r| r.document_hash = "sha256:def".into());
    upsert(store, &records);
    assert_eq!(store.document_hash(&doc).expect("hash").as_deref(), Some("sha256:def"));
    assert_eq!(store.document_hash(&key(t, SourceKind::Email, "msg-1")).expect("hash"), None, "other kind");
    store.delete_document(&doc).expect("delete");
    assert_eq!(store.document_hash(&doc).expect("hash"), None);
}

/// Records of another document or account, and vectors of the wrong size, are refused and
/// nothing of the call is stored.
pub fn rejects_invalid_records(store: &dyn EvidenceStore) {
    let t = "conf-invalid";
    let acme = account("acme");
    let doc = key(t, SourceKind::Email, "bad-1");
    let mut records = document(&doc, &acme, 2);

    records[1].account = account("globex");
    let err = store.upsert_document(&doc, &acme, &records).expect_err("mixed accounts");
    assert!(matches!(err, StoreError::InvalidRecord(_)), "{err}");

    records[1].account = acme.clone();
    records[1].document = key(t, SourceKind::Email, "bad-2");
    let err = store.upsert_document(&doc, &acme, &records).expect_err("mixed documents");
    assert!(matches!(err, StoreError::InvalidRecord(_)), "{err}");

    records[1].document = doc.clone();
    records[1].embedding = vec![1.0; DIM - 1];
    let err = store.upsert_document(&doc, &acme, &records).expect_err("short vector");
    assert!(matches!(err, StoreError::DimensionMismatch { expected: DIM, got } if got == DIM - 1), "{err}");

    let query = SearchQuery {
        vector: vec![1.0; DIM + 1],
        filter: SegmentFilter::tenant(tenant(t)),
        limit: 5,
        min_score: None,
    };
    let err = store.search(&query).expect_err("long query");
    assert!(matches!(err, StoreError::DimensionMismatch { .. }), "{err}");
    assert_eq!(store.count(&SegmentFilter::tenant(tenant(t))).expect("count"), 0);
}

/// Writers on several threads at once all land.
pub fn concurrent_writers(store: &dyn EvidenceStore) {
    let t = "conf-concurrent";
    let acme = account("acme");
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let acme = &acme;
            scope.spawn(move || {
                for n in 0..5 {
                    let doc = key(t, SourceKind::Message, &format!("w{thread}-{n}"));
                    upsert(store, &document(&doc, acme, 2));
                }
            });
        }
    });
    assert_eq!(store.count(&SegmentFilter::tenant(tenant(t))).expect("count"), 40);
}

/// `scroll_records` reads every field back with its embedding, in `scroll`'s order and
/// under the same filter.
pub fn scroll_records_carry_embeddings(store: &dyn EvidenceStore) {
    let t = "conf-records";
    let (acme, globex) = (account("acme"), account("globex"));
    let call = key(t, SourceKind::Call, "c-2");
    let mail = key(t, SourceKind::Email, "m-1");
    let mut calls = document(&call, &acme, 3);
    // Unit length: cosine stores may normalise what they keep.
    calls[1].embedding = vec![0.6, 0.0, 0.8, 0.0];
    calls[2].topics = vec![TopicScore { topic: "pricing".into(), score: 0.25 }];
    let mails = document(&mail, &globex, 2);
    upsert(store, &calls);
    upsert(store, &mails);

    let all = store.scroll_records(&SegmentFilter::tenant(tenant(t))).expect("scroll_records");
    let segments = store.scroll(&SegmentFilter::tenant(tenant(t))).expect("scroll");
    assert_eq!(all.len(), 5);
    let order = |doc: &DocumentKey, index: u32| (doc.storage_key(), index);
    let record_order: Vec<_> = all.iter().map(|r| order(&r.document, r.segment.index)).collect();
    let scroll_order: Vec<_> = segments.iter().map(|s| order(&s.document, s.segment.index)).collect();
    assert_eq!(record_order, scroll_order, "same order as scroll");
    for (read, written) in all.iter().zip(calls.iter().chain(&mails)) {
        assert_eq!(read.embedding.len(), DIM);
        let close = read.embedding.iter().zip(&written.embedding).all(|(a, b)| (a - b).abs() < 1e-6);
        assert!(close, "embedding {:?} read back as {:?}", written.embedding, read.embedding);
        let fields = SegmentRecord { embedding: written.embedding.clone(), ..read.clone() };
        assert_eq!(&fields, written, "every other field exactly");
    }
    let only_globex =
        store.scroll_records(&SegmentFilter::account(tenant(t), globex)).expect("scroll_records");
    assert_eq!(only_globex, mails, "basis vectors read back exactly");
}

/// `tenants` and `accounts` list what is stored, sorted, and forget what is deleted.
pub fn lists_tenants_and_accounts(store: &dyn EvidenceStore) {
    let (a, b) = ("conf-list-a", "conf-list-b");
    let names = |accounts: Vec<AccountId>| -> Vec<String> {
        accounts.iter().map(|a| a.as_str().to_owned()).collect()
    };
    upsert(store, &document(&key(a, SourceKind::Email, "e-1"), &account("zeta"), 2));
    upsert(store, &document(&key(a, SourceKind::Call, "c-1"), &account("alpha"), 1));
    upsert(store, &document(&key(a, SourceKind::Ticket, "k-1"), &account("alpha"), 1));
    upsert(store, &document(&key(b, SourceKind::Email, "e-1"), &account("mid"), 1));

    let tenants = store.tenants().expect("tenants");
    assert!(tenants.windows(2).all(|w| w[0] < w[1]), "sorted, once each: {tenants:?}");
    assert!(tenants.contains(&tenant(a)) && tenants.contains(&tenant(b)), "{tenants:?}");
    assert_eq!(names(store.accounts(&tenant(a)).expect("accounts")), ["alpha", "zeta"]);
    assert_eq!(names(store.accounts(&tenant(b)).expect("accounts")), ["mid"]);
    assert!(store.accounts(&tenant("conf-list-none")).expect("accounts").is_empty());

    store.delete_account(&tenant(a), &account("zeta")).expect("delete");
    assert_eq!(names(store.accounts(&tenant(a)).expect("accounts")), ["alpha"]);
    store.delete_account(&tenant(b), &account("mid")).expect("delete");
    assert!(!store.tenants().expect("tenants").contains(&tenant(b)), "a tenant without points is not listed");
}

/// What one store wrote, a store opened again on the same data reads: `open` opens the
/// backend on the same location each call. The first handle is dropped before the second
/// opens; the last write is not flushed explicitly.
pub fn survives_reopen(open: &dyn Fn() -> Box<dyn EvidenceStore>) {
    let t = "conf-reopen";
    let acme = account("acme");
    let flushed = key(t, SourceKind::Call, "call-9");
    let unflushed = key(t, SourceKind::Email, "mail-9");
    let records = document(&flushed, &acme, 3);
    let later = document(&unflushed, &acme, 1);
    {
        let store = open();
        upsert(store.as_ref(), &records);
        store.flush().expect("flush");
        upsert(store.as_ref(), &later);
    }
    let store = open();
    let filter = SegmentFilter::tenant(tenant(t));
    let stored = store.scroll(&filter).expect("scroll");
    assert_eq!(stored.len(), 4);
    for (stored, record) in stored.iter().zip(records.iter().chain(&later)) {
        assert_same(stored, record);
    }
    let hits = search(store.as_ref(), filter, unit(2), 1);
    assert_same(&hits[0], &records[2]);
    assert_eq!(store.document_hash(&flushed).expect("hash"), Some(records[0].document_hash.clone()));
    assert_eq!(store.document_hash(&unflushed).expect("hash"), Some(later[0].document_hash.clone()));
}
