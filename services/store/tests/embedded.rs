//! The conformance suite on the embedded (`qdrant-edge`) backend, plus what only it has:
//! a directory to reopen.

mod conformance;

use conformance::DIM;
use tempfile::TempDir;
use undertone_store::{EmbeddedStore, EvidenceStore, StoreError};

/// A fresh store in a temporary directory (kept alive by the returned guard).
fn fresh() -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path(), DIM).expect("open store");
    (dir, store)
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {$(
        #[test]
        fn $check() {
            let (_dir, store) = fresh();
            conformance::$check(&store);
        }
    )*};
}

conformance_tests!(
    search_returns_nearest_with_full_payload,
    filters_narrow_results,
    tenants_are_isolated,
    reupsert_replaces_document,
    deletes_remove_exactly_their_scope,
    document_hash_round_trips,
    rejects_invalid_records,
    concurrent_writers,
);

#[test]
fn whole_suite_on_one_store() {
    let (_dir, store) = fresh();
    conformance::run_conformance(&store);
}

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested").join("store");
    conformance::survives_reopen(&|| -> Box<dyn EvidenceStore> {
        Box::new(EmbeddedStore::open(&path, DIM).expect("open store"))
    });
}

#[test]
fn reopening_with_another_dimension_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(EmbeddedStore::open(dir.path(), DIM).expect("create"));
    let err = EmbeddedStore::open(dir.path(), DIM * 2).expect_err("other dimension");
    assert!(matches!(err, StoreError::DimensionMismatch { expected: DIM, got } if got == DIM * 2), "{err}");
    assert!(EmbeddedStore::open(dir.path(), DIM).is_ok(), "the store itself is intact");
}

#[test]
fn zero_dimension_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(matches!(EmbeddedStore::open(dir.path(), 0), Err(StoreError::Config(_))));
}
