//! Labelled sentiment corpora and their fixed splits.
//!
//! - The VADER human-rated corpus (Hutto & Gilbert 2014; 23,703 sentences rated -4..+4 by
//!   humans; MIT): label negative below -0.5, positive above +0.5, neutral between. Split
//!   by a hash of the text, so the split never depends on file order: 8% test, 8% dev, the
//!   rest train.
//! - The customer-success set written by the team (`models/data/cs-sentiment/*.jsonl`),
//!   whose files are the splits.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use undertone_core::SentimentLabel;

use crate::{ModelError, Result, files};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Dev => "dev",
            Self::Test => "test",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub label: SentimentLabel,
}

/// The VADER corpus files inside the fetched sdist.
pub(crate) const VADER_FILES: [&str; 4] = [
    "tweets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "movieReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
];

/// Ratings beyond these bounds are negative / positive.
const VADER_NEUTRAL_BAND: f64 = 0.5;

/// The VADER corpus folder under the model cache (`scripts/fetch-models --with-training-data`).
pub fn vader_dir(model_dir: &Path) -> PathBuf {
    model_dir.join("vader/hutto_ICWSM_2014")
}

/// The team's customer-success sentiment set.
pub fn cs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cs-sentiment")
}

pub fn vader_split_of(text: &str) -> Split {
    let bucket = Sha256::digest(text.as_bytes())[0] as u32 * 100 / 256;
    match bucket {
        0..8 => Split::Test,
        8..16 => Split::Dev,
        _ => Split::Train,
    }
}

pub fn vader_label(rating: f64) -> SentimentLabel {
    if rating < -VADER_NEUTRAL_BAND {
        SentimentLabel::Negative
    } else if rating > VADER_NEUTRAL_BAND {
        SentimentLabel::Positive
    } else {
        SentimentLabel::Neutral
    }
}

/// One split of the VADER corpus, in file order.
pub fn load_vader(model_dir: &Path, split: Split) -> Result<Vec<Example>> {
    let dir = vader_dir(model_dir);
    let mut examples = Vec::new();
    for name in VADER_FILES {
        let path = dir.join(name);
        let text = String::from_utf8_lossy(&files::read(&path)?).into_owned();
        for line in text.lines() {
            let mut fields = line.splitn(3, '\t');
            let (Some(_id), Some(rating), Some(sentence)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let rating: f64 = rating.trim().parse().map_err(|_| ModelError::Invalid {
                path: path.clone(),
                reason: format!("rating {rating:?}"),
            })?;
            let sentence = sentence.trim();
            if !sentence.is_empty() && vader_split_of(sentence) == split {
                examples.push(Example { text: sentence.to_owned(), label: vader_label(rating) });
            }
        }
    }
    Ok(examples)
}

#[derive(Deserialize)]
struct CsLine {
    text: String,
    label: String,
}

/// One split of the customer-success set.
pub fn load_cs(split: Split) -> Result<Vec<Example>> {
    let path = cs_dir().join(format!("{}.jsonl", split.as_str()));
    read_jsonl(&path, |line: CsLine| {
        let label = SentimentLabel::parse(&line.label).ok_or_else(|| format!("label {:?}", line.label))?;
        Ok(Example { text: line.text, label })
    })
}

/// The non-empty lines of a JSON Lines file, each parsed as `L` and turned into `T` by
/// `convert` (whose error names what is wrong; the line number is added here).
pub(crate) fn read_jsonl<L: serde::de::DeserializeOwned, T>(
    path: &Path,
    convert: impl Fn(L) -> std::result::Result<T, String>,
) -> Result<Vec<T>> {
    let text = String::from_utf8_lossy(&files::read(path)?).into_owned();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let invalid = |reason: String| ModelError::Invalid {
                path: path.to_owned(),
                reason: format!("line {}: {reason}", n + 1),
            };
            let parsed: L = serde_json::from_str(line).map_err(|e| invalid(e.to_string()))?;
            convert(parsed).map_err(invalid)
        })
        .collect()
}

/// sha256 of a data file, recorded with the trained weights.
pub fn checksum(path: &Path) -> Result<String> {
    files::sha256_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vader_labels_use_the_half_point_band() {
        assert_eq!(vader_label(-0.6), SentimentLabel::Negative);
        assert_eq!(vader_label(0.5), SentimentLabel::Neutral);
        assert_eq!(vader_label(0.51), SentimentLabel::Positive);
    }

    #[test]
    fn vader_split_is_stable_and_roughly_sized() {
        let texts: Vec<String> = (0..10_000).map(|i| format!("sentence number {i}")).collect();
        let test = texts.iter().filter(|t| vader_split_of(t) == Split::Test).count();
        assert!((600..1000).contains(&test), "{test}");
        assert_eq!(vader_split_of("same"), vader_split_of("same"));
    }
}
