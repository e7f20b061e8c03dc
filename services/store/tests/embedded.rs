//! The conformance suite on the embedded (`qdrant-edge`) backend, plus what only it has:
//! a directory to reopen.

mod conformance;

use conformance::DIM;
use tempfile::TempDir;
use undertone_store::{EmbeddedStore, EvidenceStore, StoreError};

/// A fresh store in a temporary directory, removed with it.
struct Fresh {
    store: EmbeddedStore,
    _dir: TempDir,
}

impl std::ops::Deref for Fresh {
    type Target = EmbeddedStore;

    fn deref(&self) -> &EmbeddedStore {
        &self.store
    }
}

fn fresh(_test: &str) -> Option<Fresh> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path(), DIM).expect("open store");
    Some(Fresh { store, _dir: dir })
}

conformance::test_each_check!();

#[test]
fn whole_suite_on_one_store() {
    let store = fresh("whole").expect("a store");
    conformance::run_conformance(&*store);
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
