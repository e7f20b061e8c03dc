//! How to reach a Qdrant server or cluster, and how to create the collection there.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Result, StoreError};

/// Settings of the server backend (the `[qdrant]` section of the service's configuration).
/// Every field has a default, so a file names only what it changes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QdrantConfig {
    /// The server's gRPC endpoint (port 6334, not the REST port 6333); `https://` for TLS.
    pub url: String,
    /// Sent as the `api-key` header; `None` for a server without authentication.
    pub api_key: Option<String>,
    /// The collection: one per embedding model, as Qdrant advises (vectors of another model
    /// are not comparable), so the default names the shipped encoder.
    pub collection: String,
    /// Longest wait for one request, in seconds, before it counts as failed (and is retried;
    /// the client itself reconnects and tries once more first, so a silent server costs
    /// about twice this per try).
    pub timeout_secs: u64,
    /// Longest wait to open a connection, in seconds.
    pub connect_timeout_secs: u64,
    /// Vector quantization of a collection this store creates.
    pub quantization: Quantization,
    /// Original vectors on disk (memory-mapped) in a collection this store creates: with
    /// int8 quantization, searches run on the in-memory int8 copy and read only the
    /// candidates' originals to rescore.
    pub on_disk_vectors: bool,
    /// Shards of a collection this store creates (spread over a cluster's nodes).
    pub shards: u32,
    /// Copies of each shard in a collection this store creates.
    pub replication_factor: u32,
    /// Replicas that must confirm a write before it is acknowledged, in a collection this
    /// store creates; equal to `replication_factor` for reads that always see the last write.
    pub write_consistency_factor: u32,
    /// Tries of one request when the server is unreachable, overloaded or too slow (1 = no
    /// retry).
    pub retry_attempts: u32,
    /// Wait before the first retry, in milliseconds; doubled after each one.
    pub retry_backoff_ms: u64,
    /// Longest wait between two tries, in milliseconds.
    pub retry_max_backoff_ms: u64,
}

/// How vectors are compressed in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// Full f32 vectors only.
    #[default]
    None,
    /// An int8 scalar-quantized copy kept in memory (4x smaller); searches oversample on it
    /// and rescore the candidates with the original vectors.
    Int8,
}

impl Default for QdrantConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:6334".into(),
            api_key: None,
            collection: "undertone_minilm_l6_v2".into(),
            timeout_secs: 5,
            connect_timeout_secs: 3,
            quantization: Quantization::None,
            on_disk_vectors: false,
            shards: 1,
            replication_factor: 1,
            write_consistency_factor: 1,
            retry_attempts: 3,
            retry_backoff_ms: 200,
            retry_max_backoff_ms: 2000,
        }
    }
}

/// The API key never appears in logs or error messages.
impl std::fmt::Debug for QdrantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { url, api_key, collection, timeout_secs, connect_timeout_secs, quantization, .. } = self;
        f.debug_struct("QdrantConfig")
            .field("url", url)
            .field("api_key", &api_key.as_ref().map(|_| "<set>"))
            .field("collection", collection)
            .field("timeout_secs", timeout_secs)
            .field("connect_timeout_secs", connect_timeout_secs)
            .field("quantization", quantization)
            .field("shards", &self.shards)
            .field("replication_factor", &self.replication_factor)
            .field("retry_attempts", &self.retry_attempts)
            .finish_non_exhaustive()
    }
}

impl QdrantConfig {
    /// Refuses settings that could only fail later, naming the key at fault.
    pub(crate) fn validate(&self) -> Result<()> {
        let scheme_ok = self.url.starts_with("http://") || self.url.starts_with("https://");
        if !scheme_ok {
            return Err(invalid("url", format!("{:?} must start with http:// or https://", self.url)));
        }
        if self.collection.trim().is_empty() {
            return Err(invalid("collection", "must not be empty".into()));
        }
        let positive = [
            ("timeout_secs", self.timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("shards", self.shards.into()),
            ("replication_factor", self.replication_factor.into()),
            ("write_consistency_factor", self.write_consistency_factor.into()),
            ("retry_attempts", self.retry_attempts.into()),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(invalid(key, "must be at least 1".into()));
        }
        if self.write_consistency_factor > self.replication_factor {
            return Err(invalid("write_consistency_factor", "cannot exceed replication_factor".into()));
        }
        Ok(())
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

fn invalid(key: &str, reason: String) -> StoreError {
    StoreError::Config(format!("qdrant.{key}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        assert!(QdrantConfig::default().validate().is_ok());
        let cases = [
            (QdrantConfig { url: "localhost:6334".into(), ..Default::default() }, "qdrant.url"),
            (QdrantConfig { collection: " ".into(), ..Default::default() }, "qdrant.collection"),
            (QdrantConfig { retry_attempts: 0, ..Default::default() }, "qdrant.retry_attempts"),
            (QdrantConfig { write_consistency_factor: 2, ..Default::default() }, "write_consistency_factor"),
        ];
        for (config, key) in cases {
            let err = config.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn debug_hides_the_api_key() {
        let config = QdrantConfig { api_key: Some("s3cret".into()), ..Default::default() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret") && shown.contains("<set>"), "{shown}");
    }
}
