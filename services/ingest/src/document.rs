//! Documents in, segments out.

use undertone_core::{Segment, SpeakerRole};

use crate::split_sentences;

/// Why a document was refused; `field` names the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl IngestError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField { field, reason: reason.into() }
    }
}

/// A plain-text message: one part, one speaker.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainMessage {
    pub text: String,
    pub speaker: Option<String>,
    pub role: SpeakerRole,
    pub sent_at_ms: Option<i64>,
}

/// Splits a plain message into sentence segments. `max_bytes` bounds the text.
pub fn segment_message(message: &PlainMessage, max_bytes: usize) -> Result<Vec<Segment>, IngestError> {
    let text = message.text.as_str();
    if text.len() > max_bytes {
        return Err(IngestError::invalid(
            "text",
            format!("is {} bytes, the limit is {max_bytes}", text.len()),
        ));
    }
    let part =
        Part { id: "body", speaker: message.speaker.clone(), role: message.role, at: message.sent_at_ms };
    let mut segments = Vec::new();
    push_sentences(&mut segments, &part, text);
    if segments.is_empty() {
        return Err(IngestError::invalid("text", "has no words to analyze"));
    }
    Ok(segments)
}

/// One part of a document and who said it, when.
pub(crate) struct Part<'a> {
    pub id: &'a str,
    pub speaker: Option<String>,
    pub role: SpeakerRole,
    pub at: Option<i64>,
}

/// Appends the sentences of `text` as segments of `part`, numbered after those already there.
pub(crate) fn push_sentences(segments: &mut Vec<Segment>, part: &Part<'_>, text: &str) {
    let chars: Vec<char> = text.chars().collect();
    for span in split_sentences(text) {
        segments.push(Segment {
            index: segments.len() as u32,
            part: part.id.to_owned(),
            text: chars[span.start..span.end].iter().collect(),
            speaker: part.speaker.clone(),
            role: part.role,
            timestamp_ms: part.at,
            media_offset_ms: None,
            char_start: span.start as u32,
            char_end: span.end as u32,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> PlainMessage {
        PlainMessage {
            text: text.into(),
            speaker: Some("dana@acme.test".into()),
            role: SpeakerRole::Customer,
            sent_at_ms: Some(5),
        }
    }

    #[test]
    fn segments_quote_the_text_at_their_offsets() {
        let msg = message("The export broke again. We need a fix before Friday!");
        let segments = segment_message(&msg, 1000).unwrap();
        assert_eq!(segments.len(), 2);
        for s in &segments {
            let quoted: String = msg
                .text
                .chars()
                .skip(s.char_start as usize)
                .take((s.char_end - s.char_start) as usize)
                .collect();
            assert_eq!(quoted, s.text);
            assert_eq!(s.role, SpeakerRole::Customer);
        }
        assert_eq!(segments[1].index, 1);
    }

    #[test]
    fn refuses_empty_and_oversized_text() {
        assert_eq!(
            segment_message(&message("  \n "), 100).unwrap_err().to_string(),
            "text: has no words to analyze"
        );
        let err = segment_message(&message(&"a".repeat(101)), 100).unwrap_err().to_string();
        assert!(err.starts_with("text: is 101 bytes"), "{err}");
    }
}
