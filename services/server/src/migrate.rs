//! `undertone migrate --from embedded|qdrant --to qdrant|embedded`: copies every stored
//! segment (payload and vector, under the same point id) from one store to the other,
//! tenant by tenant and account by account, then checks the counts per tenant and account.
//!
//! Re-running is safe: a document upsert overwrites its own points, so a second run copies
//! the same points again and ends in the same state. Points only the target holds (a
//! document deleted from the source after an earlier run) are reported as differences, not
//! removed. Stop the server on the embedded store first: only one process may open it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use undertone_core::{AccountId, TenantId};
use undertone_store::{EvidenceStore, SegmentFilter, StoreError};

use crate::config::{Config, StoreKind};

/// Segments of one tenant's account in each store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCount {
    pub tenant: TenantId,
    pub account: AccountId,
    pub source: u64,
    pub target: u64,
}

/// What a migration copied, and the counts it checked afterwards.
#[derive(Debug, Default)]
pub struct Report {
    pub documents: u64,
    pub segments: u64,
    /// Every (tenant, account) either store holds, in order.
    pub counts: Vec<AccountCount>,
}

impl Report {
    /// The accounts whose counts differ between the stores.
    pub fn mismatches(&self) -> impl Iterator<Item = &AccountCount> {
        self.counts.iter().filter(|count| count.source != count.target)
    }

    /// The per-tenant, per-account count table.
    pub fn table(&self) -> String {
        let width = |f: fn(&AccountCount) -> usize, title: &str| {
            self.counts.iter().map(f).chain([title.len()]).max().unwrap_or(0)
        };
        let tw = width(|c| c.tenant.as_str().len(), "tenant");
        let aw = width(|c| c.account.as_str().len(), "account");
        let mut table = format!("{:tw$}  {:aw$}  {:>9}  {:>9}\n", "tenant", "account", "source", "target");
        for c in &self.counts {
            let verdict = if c.source == c.target { "ok" } else { "DIFFERENT" };
            let (tenant, account) = (c.tenant.as_str(), c.account.as_str());
            let _ =
                writeln!(table, "{tenant:tw$}  {account:aw$}  {:>9}  {:>9}  {verdict}", c.source, c.target);
        }
        table
    }
}

/// Copies every segment of `from` into `to`, then counts both. `progress` hears about each
/// account once it is copied: (tenant, account, documents, segments).
pub fn copy_all(
    from: &dyn EvidenceStore,
    to: &dyn EvidenceStore,
    progress: &mut dyn FnMut(&TenantId, &AccountId, u64, u64),
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for tenant in from.tenants()? {
        for account in from.accounts(&tenant)? {
            // One account at a time bounds memory; its records come grouped by document.
            let records = from.scroll_records(&SegmentFilter::account(tenant.clone(), account.clone()))?;
            let mut documents = 0;
            for document in records.chunk_by(|a, b| a.document == b.document) {
                to.upsert_document(&document[0].document, &account, document)?;
                documents += 1;
            }
            progress(&tenant, &account, documents, records.len() as u64);
            report.documents += documents;
            report.segments += records.len() as u64;
        }
    }
    to.flush()?;
    report.counts = compare_counts(from, to)?;
    Ok(report)
}

/// Counts per (tenant, account) in both stores, over every pair either one holds.
pub fn compare_counts(
    from: &dyn EvidenceStore,
    to: &dyn EvidenceStore,
) -> Result<Vec<AccountCount>, StoreError> {
    let mut pairs: BTreeMap<TenantId, BTreeSet<AccountId>> = BTreeMap::new();
    for store in [from, to] {
        for tenant in store.tenants()? {
            let accounts = store.accounts(&tenant)?;
            pairs.entry(tenant).or_default().extend(accounts);
        }
    }
    let mut counts = Vec::new();
    for (tenant, accounts) in pairs {
        for account in accounts {
            let filter = SegmentFilter::account(tenant.clone(), account.clone());
            let (source, target) = (from.count(&filter)?, to.count(&filter)?);
            counts.push(AccountCount { tenant: tenant.clone(), account, source, target });
        }
    }
    Ok(counts)
}

/// The command: opens both stores from `config`, copies, prints progress and the table,
/// and fails when any count differs.
pub fn run(from: StoreKind, to: StoreKind, config: &Config) -> anyhow::Result<()> {
    if from == to {
        anyhow::bail!(
            "--from and --to are both {from}: a migration copies between the embedded store and Qdrant"
        );
    }
    let source = crate::store::open(from, config)?;
    let target = crate::store::open(to, config)?;
    println!("migrating {} -> {}", describe(from, config), describe(to, config));
    let report = copy_all(source.as_ref(), target.as_ref(), &mut |tenant, account, documents, segments| {
        println!("  {tenant}/{account}: {documents} documents, {segments} segments");
    })?;
    println!("copied {} documents, {} segments\n", report.documents, report.segments);
    print!("{}", report.table());
    let differing = report.mismatches().count();
    if differing > 0 {
        anyhow::bail!("{differing} tenant/account counts differ between the stores (table above)");
    }
    println!("verified: every tenant and account holds the same number of segments in both stores");
    Ok(())
}

fn describe(kind: StoreKind, config: &Config) -> String {
    match kind {
        StoreKind::Embedded => format!("embedded ({})", config.data_dir.join("store").display()),
        StoreKind::Qdrant => {
            format!("qdrant ({}, collection {})", config.qdrant.url, config.qdrant.collection)
        }
    }
}

#[cfg(test)]
mod tests {
    use undertone_core::{
        DocumentKey, Segment, SegmentRecord, Sentiment, SentimentLabel, SourceKind, SpeakerRole,
    };
    use undertone_store::{EmbeddedStore, QdrantConfig, QdrantStore};

    use super::*;

    const DIM: usize = 4;

    fn records(tenant: &str, account: &str, external_id: &str, count: u32) -> Vec<SegmentRecord> {
        let key = DocumentKey::new(TenantId::new(tenant).unwrap(), SourceKind::Email, external_id).unwrap();
        (0..count)
            .map(|index| {
                let mut embedding = vec![0.0; DIM];
                embedding[index as usize % DIM] = 1.0;
                SegmentRecord {
                    account: AccountId::new(account).unwrap(),
                    document: key.clone(),
                    document_hash: format!("hash-{external_id}"),
                    segment: Segment {
                        index,
                        part: "body".into(),
                        text: format!("sentence {index} of {external_id}"),
                        speaker: Some("dana@acme.test".into()),
                        role: SpeakerRole::Customer,
                        timestamp_ms: Some(1_704_067_200_000 + i64::from(index)),
                        media_offset_ms: None,
                        char_start: index * 20,
                        char_end: index * 20 + 19,
                    },
                    sentiment: Sentiment { label: SentimentLabel::Negative, score: -0.5, confidence: 0.75 },
                    topics: Vec::new(),
                    signals: Vec::new(),
                    embedding,
                }
            })
            .collect()
    }

    fn fill(store: &dyn EvidenceStore) {
        for (tenant, account, doc, n) in [
            ("acme", "globex", "m-1", 3),
            ("acme", "globex", "m-2", 1),
            ("acme", "initech", "m-3", 2),
            ("beta", "umbrella", "m-1", 4),
        ] {
            let records = records(tenant, account, doc, n);
            store.upsert_document(&records[0].document, &records[0].account, &records).unwrap();
        }
    }

    fn embedded() -> (tempfile::TempDir, EmbeddedStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), DIM).unwrap();
        (dir, store)
    }

    /// Every record of every tenant, with its embedding.
    fn everything(store: &dyn EvidenceStore) -> Vec<SegmentRecord> {
        let tenants = store.tenants().unwrap();
        tenants.into_iter().flat_map(|t| store.scroll_records(&SegmentFilter::tenant(t)).unwrap()).collect()
    }

    fn copy(from: &dyn EvidenceStore, to: &dyn EvidenceStore) -> Report {
        let mut seen = Vec::new();
        let report = copy_all(from, to, &mut |t, a, _, n| seen.push(format!("{t}/{a}:{n}"))).unwrap();
        assert_eq!(seen, ["acme/globex:4", "acme/initech:2", "beta/umbrella:4"]);
        report
    }

    #[test]
    fn copies_every_point_and_verifies_the_counts_and_is_safe_to_rerun() {
        let ((_a, source), (_b, target)) = (embedded(), embedded());
        fill(&source);
        let report = copy(&source, &target);
        assert_eq!((report.documents, report.segments), (4, 10));
        assert_eq!(report.counts.len(), 3);
        assert_eq!(report.mismatches().count(), 0, "{}", report.table());
        assert_eq!(everything(&target), everything(&source), "payloads and vectors, 1:1");
        assert_eq!(
            target.document_hash(&records("acme", "globex", "m-1", 1)[0].document).unwrap().as_deref(),
            Some("hash-m-1")
        );

        let again = copy(&source, &target);
        assert_eq!(again.mismatches().count(), 0);
        assert_eq!(everything(&target), everything(&source), "a second run changes nothing");
    }

    #[test]
    fn points_only_the_target_holds_are_reported() {
        let ((_a, source), (_b, target)) = (embedded(), embedded());
        fill(&source);
        let extra = records("acme", "hooli", "x-1", 2);
        target.upsert_document(&extra[0].document, &extra[0].account, &extra).unwrap();
        let report = copy(&source, &target);
        let differing: Vec<_> =
            report.mismatches().map(|c| (c.account.as_str(), c.source, c.target)).collect();
        assert_eq!(differing, [("hooli", 0, 2)]);
        assert!(report.table().contains("DIFFERENT"), "{}", report.table());
    }

    #[test]
    fn the_same_store_on_both_sides_is_refused() {
        let err = run(StoreKind::Embedded, StoreKind::Embedded, &Config::default()).unwrap_err();
        assert!(err.to_string().contains("both embedded"), "{err}");
    }

    /// embedded -> Qdrant -> embedded, when `QDRANT_URL` names a server.
    #[test]
    fn round_trips_through_a_qdrant_server() {
        let Some(url) = std::env::var("QDRANT_URL").ok().filter(|u| !u.is_empty()) else {
            eprintln!("skipped: QDRANT_URL is not set (a Qdrant server's gRPC URL)");
            return;
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let config = QdrantConfig {
            url,
            api_key: std::env::var("QDRANT_API_KEY").ok().filter(|k| !k.is_empty()),
            collection: format!("undertone_test_migrate_{}_{nanos}", std::process::id()),
            ..QdrantConfig::default()
        };
        let ((_a, source), (_b, back)) = (embedded(), embedded());
        fill(&source);
        let server = QdrantStore::open(&config, DIM).unwrap();
        let there = copy(&source, &server);
        let home = copy(&server, &back);
        let result =
            (there.mismatches().count(), home.mismatches().count(), everything(&back) == everything(&source));
        server.drop_collection().unwrap();
        assert_eq!(result, (0, 0, true), "{}{}", there.table(), home.table());
    }
}
