use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "model file {path} is missing: run `{script}` to fetch the weights (or set UNDERTONE_MODEL_DIR)",
        script = crate::FETCH_SCRIPT
    )]
    Missing { path: PathBuf },
    #[error("model file {path} does not match its checksum (got {got}); re-run `{script}`", script = crate::FETCH_SCRIPT)]
    Checksum { path: PathBuf, got: String },
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid model file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("inference: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("invalid input: {0}")]
    Input(String),
}
