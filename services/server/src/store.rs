//! Opens the configured store: the embedded engine in `data_dir/store`, or a collection on a
//! Qdrant server or cluster. Opening the server store connects, checks the server and the
//! collection's schema, and blocks: call it from a blocking thread.

use std::sync::Arc;

use anyhow::Context;
use undertone_models::EMBEDDING_DIM;
use undertone_store::{EmbeddedStore, EvidenceStore, QdrantStore};

use crate::config::{Config, StoreKind};

/// The store `config.store` names.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn EvidenceStore>> {
    open(config.store, config)
}

/// The `kind` store with `config`'s settings (a migration opens both kinds).
pub fn open(kind: StoreKind, config: &Config) -> anyhow::Result<Arc<dyn EvidenceStore>> {
    match kind {
        StoreKind::Embedded => {
            let dir = config.data_dir.join("store");
            let store = EmbeddedStore::open(&dir, EMBEDDING_DIM)
                .with_context(|| format!("opening the embedded store in {}", dir.display()))?;
            Ok(Arc::new(store))
        }
        StoreKind::Qdrant => {
            let qdrant = &config.qdrant;
            let store = QdrantStore::open(qdrant, EMBEDDING_DIM).with_context(|| {
                format!(
                    "opening Qdrant collection {} at {} ([qdrant] in the config)",
                    qdrant.collection, qdrant.url
                )
            })?;
            tracing::info!(url = %qdrant.url, collection = store.collection(), version = store.server_version(), "using the Qdrant server store");
            Ok(Arc::new(store))
        }
    }
}
