//! Configuration: built-in defaults, then a TOML file, then environment variables.
//!
//! The file is `--config PATH` or `UNDERTONE_CONFIG`; every key is optional (see
//! `undertone.example.toml` at the repository root for all of them with their defaults).
//! Environment variables override the file:
//!
//! | variable                   | key                  |
//! |----------------------------|----------------------|
//! | `UNDERTONE_LISTEN`         | `listen`             |
//! | `UNDERTONE_METRICS_LISTEN` | `metrics_listen` (`off` disables) |
//! | `UNDERTONE_DATA_DIR`       | `data_dir`           |
//! | `UNDERTONE_MODEL_DIR`      | `models.dir`         |
//! | `UNDERTONE_SENTIMENT_DIR`  | `models.sentiment_dir` |
//! | `UNDERTONE_TAXONOMY`       | `models.taxonomy`    |
//! | `UNDERTONE_SIGNALS_DIR`    | `models.signals_dir` |
//! | `UNDERTONE_PRECISION`      | `models.precision` (`auto` / `bf16` / `f32`) |
//! | `UNDERTONE_THREADS`        | `models.threads` (0 = one per core) |
//! | `UNDERTONE_INTERNAL_DOMAINS` | `ingest.internal_domains` (comma-separated) |
//! | `UNDERTONE_INTERNAL_PEOPLE`  | `ingest.internal_people` (comma-separated) |
//! | `UNDERTONE_REDACTION`        | `redaction.enabled` (`off` / `on`) |
//! | `UNDERTONE_STORE`            | `store` (`embedded` / `qdrant`) |
//! | `UNDERTONE_QDRANT_URL`       | `qdrant.url`         |
//! | `UNDERTONE_QDRANT_API_KEY`   | `qdrant.api_key`     |
//! | `UNDERTONE_QDRANT_COLLECTION` | `qdrant.collection` |
//! | `UNDERTONE_AUTH`             | `auth.mode` (`keys` / `none`) |
//! | `UNDERTONE_API_KEYS_FILE`    | `auth.keys_file`     |
//!
//! Ingest keys: `ingest.internal_domains` (mail senders on these domains, or their
//! sub-domains, are the tenant's own team), `ingest.internal_people` (names or addresses
//! of the team, for call speakers), `ingest.reject_unmapped_speakers` (refuse a transcript
//! with a speaker that has no role instead of storing it as unknown), `[redaction]`
//! (which PII kinds become placeholders), `limits.max_email_bytes` and
//! `limits.max_transcript_bytes` (largest raw email / transcript accepted).
//!
//! Store keys: `store` picks the backend (the embedded engine in `data_dir/store`, or a
//! Qdrant server or cluster); `[qdrant]` says where that server is and how its collection is
//! created (see `undertone_store::QdrantConfig` and `docs/SCALING.md`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use undertone_ingest::RedactionConfig;
use undertone_insights::{InsightsConfig, RiskConfig};
use undertone_models::{BatcherConfig, Precision};
use undertone_store::QdrantConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Prometheus metrics listen address (`GET /metrics`); `None` disables it.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the embedded store keeps its data, and the account registry and feedback log
    /// with either store.
    pub data_dir: PathBuf,
    /// Which store holds the segments.
    pub store: StoreKind,
    /// The Qdrant server backend (`store = "qdrant"`).
    pub qdrant: QdrantConfig,
    pub models: ModelsConfig,
    /// How the model queue forms batches (`[batching]`).
    pub batching: BatchingConfig,
    pub limits: Limits,
    pub risk: RiskConfig,
    /// Themes, account sentiment, next-best-actions and WatchRisk (`[insights]`).
    pub insights: InsightsConfig,
    pub ingest: IngestConfig,
    /// PII replaced by placeholders before anything is stored.
    pub redaction: RedactionConfig,
    /// Who may call (`[auth]`).
    pub auth: AuthConfig,
}

/// API keys: every call needs one unless `mode = "none"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// The keys file (hashes only; `undertone keys` writes it); default
    /// `data_dir/api-keys.toml`.
    pub keys_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Keys,
    None,
}

impl Config {
    /// Where the API keys are kept.
    pub fn keys_file(&self) -> PathBuf {
        self.auth.keys_file.clone().unwrap_or_else(|| self.data_dir.join(crate::auth::DEFAULT_KEYS_FILE))
    }
}

/// Where segments are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Qdrant's engine in-process, in `data_dir/store`: nothing to run beside the service.
    #[default]
    Embedded,
    /// A Qdrant server or cluster (`[qdrant]`).
    Qdrant,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Qdrant => "qdrant",
        }
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "embedded" => Ok(Self::Embedded),
            "qdrant" => Ok(Self::Qdrant),
            other => Err(format!("{other:?} is not a store: embedded or qdrant")),
        }
    }
}

/// Who the tenant's own team is, for speaker roles.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Email domains of the tenant's team (e.g. `["brightloop.io"]`); sub-domains count.
    pub internal_domains: Vec<String>,
    /// Names or addresses of the team's people, for call speakers missing from a
    /// transcript's role map.
    pub internal_people: Vec<String>,
    /// Refuse a transcript with a speaker that neither the request's map nor the
    /// internal people give a role, instead of storing that speech as unknown.
    pub reject_unmapped_speakers: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// The weights cache filled by `scripts/fetch-models`.
    pub dir: PathBuf,
    /// The sentiment head (committed in the repository).
    pub sentiment_dir: PathBuf,
    /// The topic taxonomy.
    pub taxonomy: PathBuf,
    /// The risk-signal head (committed).
    pub signals_dir: PathBuf,
    /// Arithmetic of the encoder's matrix multiplies: `auto` (bf16 where the CPU has
    /// AVX-512 BF16, else f32), `bf16` or `f32`.
    pub precision: Precision,
    /// Threads of the model's compute pool; 0 means one per CPU core. Sets
    /// `RAYON_NUM_THREADS` (candle's own matrix multiply reads it too).
    pub threads: usize,
}

/// How the shared model queue forms forward passes (`[batching]`); its caps on waiting
/// work are `limits.max_pending_analyses` (calls) and `limits.max_queued_tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchingConfig {
    /// Tokens per forward pass; a longer text runs alone.
    pub max_batch_tokens: usize,
    /// Texts per forward pass.
    pub max_batch_texts: usize,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        let defaults = BatcherConfig::default();
        Self { max_batch_tokens: defaults.max_batch_tokens, max_batch_texts: defaults.max_batch_texts }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest text of one message or one analyzed text, in bytes.
    pub max_text_bytes: usize,
    /// Most texts in one Analyze call.
    pub max_batch_texts: usize,
    /// Largest gRPC message, in bytes (raw emails and transcripts included).
    pub max_message_bytes: usize,
    /// Model calls in flight or queued before RESOURCE_EXHAUSTED.
    pub max_pending_analyses: usize,
    /// Tokens in flight or queued before RESOURCE_EXHAUSTED (a call is always admitted
    /// into an empty queue).
    pub max_queued_tokens: usize,
    /// Largest raw email (attachments included) IngestEmail accepts, in bytes.
    pub max_email_bytes: usize,
    /// Largest transcript file IngestTranscript accepts, in bytes.
    pub max_transcript_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".parse().expect("literal address"),
            metrics_listen: Some("127.0.0.1:9464".parse().expect("literal address")),
            data_dir: PathBuf::from("data"),
            store: StoreKind::default(),
            qdrant: QdrantConfig::default(),
            models: ModelsConfig::default(),
            batching: BatchingConfig::default(),
            limits: Limits::default(),
            risk: RiskConfig::default(),
            insights: InsightsConfig::default(),
            ingest: IngestConfig::default(),
            redaction: RedactionConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            dir: undertone_models::default_model_dir(),
            sentiment_dir: undertone_models::default_sentiment_dir(),
            taxonomy: undertone_models::default_taxonomy(),
            signals_dir: undertone_models::default_signals_dir(),
            precision: Precision::Auto,
            threads: 0,
        }
    }
}

impl Config {
    /// The model queue's settings: batch formation from `[batching]`, caps from `[limits]`.
    pub fn batcher(&self) -> BatcherConfig {
        BatcherConfig {
            max_batch_tokens: self.batching.max_batch_tokens,
            max_batch_texts: self.batching.max_batch_texts,
            max_queued_tokens: self.limits.max_queued_tokens,
            max_queued_calls: self.limits.max_pending_analyses,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_text_bytes: 64 * 1024,
            max_batch_texts: 256,
            max_message_bytes: 32 * 1024 * 1024,
            max_pending_analyses: 256,
            max_queued_tokens: BatcherConfig::default().max_queued_tokens,
            max_email_bytes: 16 * 1024 * 1024,
            max_transcript_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("environment variable {name}: {reason}")]
    Env { name: &'static str, reason: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, overridden by the file (if any), overridden by the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let from_env = std::env::var_os("UNDERTONE_CONFIG").map(PathBuf::from);
        let mut config = match file.map(Path::to_path_buf).or(from_env) {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.redaction.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: path.into(), source: Box::new(source) })
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let addr = |name: &'static str, raw: String| {
            raw.parse::<SocketAddr>().map_err(|e| ConfigError::Env { name, reason: e.to_string() })
        };
        if let Some(raw) = var("UNDERTONE_LISTEN") {
            self.listen = addr("UNDERTONE_LISTEN", raw)?;
        }
        if let Some(raw) = var("UNDERTONE_METRICS_LISTEN") {
            self.metrics_listen = match raw.as_str() {
                "off" | "" => None,
                _ => Some(addr("UNDERTONE_METRICS_LISTEN", raw)?),
            };
        }
        let paths: [(&str, &mut PathBuf); 5] = [
            ("UNDERTONE_DATA_DIR", &mut self.data_dir),
            ("UNDERTONE_MODEL_DIR", &mut self.models.dir),
            ("UNDERTONE_SENTIMENT_DIR", &mut self.models.sentiment_dir),
            ("UNDERTONE_TAXONOMY", &mut self.models.taxonomy),
            ("UNDERTONE_SIGNALS_DIR", &mut self.models.signals_dir),
        ];
        for (name, slot) in paths {
            if let Some(raw) = var(name) {
                *slot = PathBuf::from(raw);
            }
        }
        let list = |raw: String| -> Vec<String> {
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        };
        if let Some(raw) = var("UNDERTONE_AUTH") {
            self.auth.mode = match raw.as_str() {
                "keys" => AuthMode::Keys,
                "none" => AuthMode::None,
                _ => {
                    return Err(ConfigError::Env {
                        name: "UNDERTONE_AUTH",
                        reason: format!("{raw:?} is not keys / none"),
                    });
                }
            };
        }
        if let Some(raw) = var("UNDERTONE_API_KEYS_FILE") {
            self.auth.keys_file = Some(PathBuf::from(raw));
        }
        if let Some(raw) = var("UNDERTONE_PRECISION") {
            self.models.precision = Precision::parse(&raw).ok_or_else(|| ConfigError::Env {
                name: "UNDERTONE_PRECISION",
                reason: format!("{raw:?} is not auto / bf16 / f32"),
            })?;
        }
        if let Some(raw) = var("UNDERTONE_THREADS") {
            self.models.threads = raw.trim().parse().map_err(|_| ConfigError::Env {
                name: "UNDERTONE_THREADS",
                reason: format!("{raw:?} is not a thread count"),
            })?;
        }
        if let Some(raw) = var("UNDERTONE_INTERNAL_DOMAINS") {
            self.ingest.internal_domains = list(raw);
        }
        if let Some(raw) = var("UNDERTONE_INTERNAL_PEOPLE") {
            self.ingest.internal_people = list(raw);
        }
        self.apply_store_env(&var)?;
        if let Some(raw) = var("UNDERTONE_REDACTION") {
            self.redaction.enabled = match raw.trim() {
                "off" | "false" | "0" => false,
                "on" | "true" | "1" => true,
                other => {
                    return Err(ConfigError::Env {
                        name: "UNDERTONE_REDACTION",
                        reason: format!("{other:?} is not on / off"),
                    });
                }
            };
        }
        Ok(())
    }

    fn apply_store_env(&mut self, var: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(raw) = var("UNDERTONE_STORE") {
            self.store =
                raw.parse().map_err(|reason| ConfigError::Env { name: "UNDERTONE_STORE", reason })?;
        }
        if let Some(raw) = var("UNDERTONE_QDRANT_URL") {
            self.qdrant.url = raw;
        }
        if let Some(raw) = var("UNDERTONE_QDRANT_API_KEY") {
            self.qdrant.api_key = Some(raw).filter(|key| !key.is_empty());
        }
        if let Some(raw) = var("UNDERTONE_QDRANT_COLLECTION") {
            self.qdrant.collection = raw;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        let mut config: Config =
            toml::from_str("data_dir = \"/srv/undertone\"\n[limits]\nmax_text_bytes = 10\n").unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/undertone"));
        assert_eq!(config.limits.max_text_bytes, 10);
        assert_eq!(config.limits.max_batch_texts, Limits::default().max_batch_texts);
        let env = |name: &str| match name {
            "UNDERTONE_LISTEN" => Some("127.0.0.1:7000".to_owned()),
            "UNDERTONE_METRICS_LISTEN" => Some("off".to_owned()),
            "UNDERTONE_DATA_DIR" => Some("/tmp/x".to_owned()),
            "UNDERTONE_INTERNAL_DOMAINS" => Some("brightloop.io, eu.brightloop.io".to_owned()),
            "UNDERTONE_REDACTION" => Some("off".to_owned()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.ingest.internal_domains, ["brightloop.io", "eu.brightloop.io"]);
        assert!(!config.redaction.enabled);
    }

    /// The documented example configuration at the repository root.
    fn example_config() -> Config {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../undertone.example.toml"))
                .unwrap();
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn ingest_keys_of_the_example_file_parse() {
        let config = example_config();
        assert!(config.redaction.enabled && config.redaction.cards);
        assert_eq!(config.limits.max_email_bytes, Limits::default().max_email_bytes);
        assert!(!config.ingest.reject_unmapped_speakers);
    }

    #[test]
    fn model_and_batching_keys_of_the_example_file_are_the_defaults() {
        let config = example_config();
        assert_eq!(config.batching, BatchingConfig::default());
        assert_eq!(config.batcher(), Config::default().batcher());
        assert_eq!((config.models.precision, config.models.threads), (Precision::Auto, 0));
        let mut config = Config::default();
        let env = |name: &str| match name {
            "UNDERTONE_PRECISION" => Some("f32".to_owned()),
            "UNDERTONE_THREADS" => Some("3".to_owned()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!((config.models.precision, config.models.threads), (Precision::F32, 3));
        let err = config.apply_env(|n| (n == "UNDERTONE_PRECISION").then(|| "fp8".to_owned())).unwrap_err();
        assert!(err.to_string().contains("UNDERTONE_PRECISION"));
    }

    #[test]
    fn risk_and_insights_keys_of_the_example_file_are_the_defaults() {
        let config = example_config();
        assert_eq!(config.insights, InsightsConfig::default());
        let (file, defaults) = (
            serde_json::to_value(&config.risk).unwrap(),
            serde_json::to_value(RiskConfig::default()).unwrap(),
        );
        assert_eq!(file, defaults);
    }

    #[test]
    fn store_keys_come_from_the_file_then_the_environment() {
        let example = example_config();
        assert_eq!(example.store, StoreKind::Embedded);
        assert_eq!(example.qdrant, QdrantConfig::default());
        assert_eq!(example.qdrant.collection, "undertone_minilm_l6_v2");

        let text = "store = \"qdrant\"\n[qdrant]\nurl = \"https://q.example:6334\"\nquantization = \"int8\"\nshards = 4\n";
        let mut config: Config = toml::from_str(text).unwrap();
        assert_eq!(config.store, StoreKind::Qdrant);
        assert_eq!(config.qdrant.quantization, undertone_store::Quantization::Int8);
        assert_eq!(
            (config.qdrant.shards, config.qdrant.timeout_secs),
            (4, QdrantConfig::default().timeout_secs)
        );
        let env = [
            ("UNDERTONE_STORE", "embedded"),
            ("UNDERTONE_QDRANT_URL", "http://10.0.0.5:6334"),
            ("UNDERTONE_QDRANT_API_KEY", "k"),
            ("UNDERTONE_QDRANT_COLLECTION", "other"),
        ];
        config
            .apply_env(|name| env.iter().find(|(key, _)| *key == name).map(|(_, v)| (*v).to_owned()))
            .unwrap();
        assert_eq!(config.store, StoreKind::Embedded);
        assert_eq!(config.qdrant.url, "http://10.0.0.5:6334");
        assert_eq!(config.qdrant.api_key.as_deref(), Some("k"));
        assert_eq!(config.qdrant.collection, "other");

        let err = config.apply_env(|n| (n == "UNDERTONE_STORE").then(|| "s3".to_owned())).unwrap_err();
        assert!(
            err.to_string().contains("UNDERTONE_STORE") && err.to_string().contains("embedded or qdrant")
        );
        assert!(toml::from_str::<Config>("[qdrant]\nurll = \"x\"").is_err(), "unknown qdrant keys");
    }

    #[test]
    fn unknown_keys_and_bad_addresses_are_errors() {
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
        let mut config = Config::default();
        let err = config.apply_env(|n| (n == "UNDERTONE_LISTEN").then(|| "nope".to_owned())).unwrap_err();
        assert!(err.to_string().contains("UNDERTONE_LISTEN"));
    }
}
