//! Documents in, segments out.

use undertone_core::{Segment, SpeakerRole};

use crate::{Redactor, split_sentences};

/// How every format turns cleaned text into stored segments: the size limit of one
/// part's text and the PII redaction applied before segmentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextOptions {
    /// Largest cleaned text of one part (a message, a comment, an email body, an
    /// utterance), in bytes.
    pub max_text_bytes: usize,
    pub redactor: Redactor,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self { max_text_bytes: 64 * 1024, redactor: Redactor::default() }
    }
}

impl TextOptions {
    pub fn with_max_text_bytes(max_text_bytes: usize) -> Self {
        Self { max_text_bytes, ..Self::default() }
    }
}

/// Largest title (an email subject, a ticket subject), in bytes: a title is a line, and a
/// megabyte "subject" would otherwise become a thousand segments.
pub const MAX_TITLE_BYTES: usize = 4 * 1024;

/// Most segments one document may become (a 64 KB body is about 1,000 sentences).
pub const MAX_SEGMENTS_PER_DOCUMENT: usize = 10_000;

/// Largest speaker field (a name with an address), in bytes.
pub const MAX_SPEAKER_BYTES: usize = 512;

/// Refuses a speaker field over [`MAX_SPEAKER_BYTES`].
pub(crate) fn check_speaker(field: &'static str, speaker: Option<&str>) -> Result<(), IngestError> {
    match speaker {
        Some(s) if s.len() > MAX_SPEAKER_BYTES => Err(IngestError::invalid(
            field,
            format!("is {} bytes, the limit is {MAX_SPEAKER_BYTES}", s.len()),
        )),
        _ => Ok(()),
    }
}

/// Refuses a title over [`MAX_TITLE_BYTES`].
pub(crate) fn check_title(field: &'static str, title: &str) -> Result<(), IngestError> {
    if title.len() > MAX_TITLE_BYTES {
        return Err(IngestError::invalid(
            field,
            format!("is {} bytes, the limit is {MAX_TITLE_BYTES}", title.len()),
        ));
    }
    Ok(())
}

/// Refuses a document that became more than [`MAX_SEGMENTS_PER_DOCUMENT`] segments.
pub(crate) fn check_segment_count(field: &'static str, segments: &[Segment]) -> Result<(), IngestError> {
    if segments.len() > MAX_SEGMENTS_PER_DOCUMENT {
        let reason = format!("makes {} segments, the limit is {MAX_SEGMENTS_PER_DOCUMENT}", segments.len());
        return Err(IngestError::invalid(field, reason));
    }
    Ok(())
}

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

/// Splits a plain message into sentence segments, redacted; `max_text_bytes` bounds the text.
pub fn segment_message(message: &PlainMessage, options: &TextOptions) -> Result<Vec<Segment>, IngestError> {
    let text = message.text.as_str();
    check_speaker("speaker", message.speaker.as_deref())?;
    let max_bytes = options.max_text_bytes;
    if text.len() > max_bytes {
        return Err(IngestError::invalid(
            "text",
            format!("is {} bytes, the limit is {max_bytes}", text.len()),
        ));
    }
    let part = Part {
        id: "body",
        speaker: message.speaker.clone(),
        role: message.role,
        at: message.sent_at_ms,
        offset_ms: None,
    };
    let mut segments = Vec::new();
    push_sentences(&mut segments, &part, text, &options.redactor);
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
    /// Offset into a call recording.
    pub offset_ms: Option<u64>,
}

/// Appends the sentences of `text`, redacted, as segments of `part`, numbered after
/// those already there. Offsets are into the redacted text: the part's cleaned text.
pub(crate) fn push_sentences(segments: &mut Vec<Segment>, part: &Part<'_>, text: &str, redactor: &Redactor) {
    let text = redactor.redact(text);
    let speaker = part.speaker.as_deref().map(|s| redactor.redact_speaker(s));
    let chars: Vec<char> = text.chars().collect();
    for span in split_sentences(&text) {
        segments.push(Segment {
            index: segments.len() as u32,
            part: part.id.to_owned(),
            text: chars[span.start..span.end].iter().collect(),
            speaker: speaker.clone(),
            role: part.role,
            timestamp_ms: part.at,
            media_offset_ms: part.offset_ms,
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
        let segments = segment_message(&msg, &TextOptions::with_max_text_bytes(1000)).unwrap();
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
    fn refuses_an_oversized_speaker() {
        let msg = PlainMessage { speaker: Some("D".repeat(MAX_SPEAKER_BYTES + 1)), ..message("Fine.") };
        let err = segment_message(&msg, &TextOptions::default()).unwrap_err().to_string();
        assert!(err.starts_with("speaker:"), "{err}");
    }

    #[test]
    fn refuses_empty_and_oversized_text() {
        assert_eq!(
            segment_message(&message("  \n "), &TextOptions::with_max_text_bytes(100))
                .unwrap_err()
                .to_string(),
            "text: has no words to analyze"
        );
        let err = segment_message(&message(&"a".repeat(101)), &TextOptions::with_max_text_bytes(100))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("text: is 101 bytes"), "{err}");
    }

    #[test]
    fn stored_text_is_redacted_and_offsets_follow_it() {
        let msg = message("Call me on +1 (312) 555-0147 today. Or mail dana@acme.test.");
        let segments = segment_message(&msg, &TextOptions::default()).unwrap();
        assert_eq!(segments[0].text, "Call me on [PHONE] today.");
        assert_eq!(segments[1].text, "Or mail [EMAIL].");
        assert_eq!((segments[1].char_start, segments[1].char_end), (26, 42));
    }
}
