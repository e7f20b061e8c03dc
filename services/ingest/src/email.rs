//! Raw RFC 5322 / MIME email: headers, the body as text, cleaned.
//!
//! MIME is parsed by `mail-parser` (multipart, quoted-printable, base64, RFC 2047 encoded
//! words, the common charsets). The body is the `text/plain` alternative when there is
//! one, else the HTML converted to text ([`crate::html`]); then quoted replies, the
//! signature and disclaimers are removed ([`crate::quoting`]).
//!
//! Parts of the stored document: `subject` (only for a thread's first message; replies
//! repeat it) and the body, named by the Message-ID. Refusals name the field:
//! `raw_message` (size, not a message), `raw_message.from`, `raw_message.date`,
//! `raw_message.charset`, `raw_message.body` (empty, attachments only, nothing of its
//! own, too long).

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType};
use undertone_core::{Segment, SpeakerRole};

use crate::document::{Part, check_segment_count, check_speaker, check_title, push_sentences};
use crate::{IngestError, TextOptions, html, quoting};

/// One email, parsed and cleaned.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// The Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    /// The References header, oldest first.
    pub references: Vec<String>,
    pub subject: String,
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub sent_at_ms: Option<i64>,
    /// What the sender wrote in this message: decoded, converted from HTML if needed,
    /// quotes, signature and disclaimer removed. Not yet redacted.
    pub body: String,
    /// Names of attached files (not analyzed).
    pub attachments: Vec<String>,
}

impl Email {
    /// "Name <address>", or whichever is known.
    pub fn speaker(&self) -> Option<String> {
        match (self.from_name.as_deref(), self.from_address.as_deref()) {
            (Some(name), Some(addr)) => Some(format!("{name} <{addr}>")),
            (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
            (None, None) => None,
        }
    }

    /// Whether it answers an earlier message.
    pub fn is_reply(&self) -> bool {
        !self.in_reply_to.is_empty() || !self.references.is_empty()
    }

    /// Message-IDs of the earlier messages of its thread (References, then In-Reply-To).
    pub fn ancestors(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.references.iter().map(String::as_str).collect();
        for id in &self.in_reply_to {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        ids
    }

    /// The thread it belongs to: its first reference, else its parent, else itself.
    pub fn thread_id(&self) -> Option<&str> {
        self.references
            .first()
            .or(self.in_reply_to.first())
            .map(String::as_str)
            .or(self.message_id.as_deref())
    }
}

/// Size limits for raw mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailLimits {
    /// Largest raw message, attachments included.
    pub max_email_bytes: usize,
    /// Largest cleaned body text.
    pub max_text_bytes: usize,
}

fn ids(value: Option<&HeaderValue<'_>>) -> Vec<String> {
    let mut out: Vec<String> = match value {
        Some(HeaderValue::Text(t)) => vec![t.to_string()],
        Some(HeaderValue::TextList(list)) => list.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    out.retain(|id| !id.trim().is_empty());
    out.dedup();
    out
}

fn known_charset(label: &str) -> bool {
    let l = label.trim().to_ascii_lowercase().replace('_', "-");
    matches!(l.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii" | "unicode-1-1-utf-8")
        || charset_decoder(label.trim().as_bytes()).is_some()
}

/// Parses and cleans one raw message.
pub fn parse_email(raw: &[u8], limits: &EmailLimits) -> Result<Email, IngestError> {
    if raw.len() > limits.max_email_bytes {
        return Err(IngestError::invalid(
            "raw_message",
            format!(
                "is {} bytes, the limit is {} (limits.max_email_bytes)",
                raw.len(),
                limits.max_email_bytes
            ),
        ));
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::invalid("raw_message", "is empty"));
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| IngestError::invalid("raw_message", "is not an RFC 5322 message"))?;
    if message.root_part().headers().is_empty() {
        return Err(IngestError::invalid("raw_message", "has no header fields: not an RFC 5322 message"));
    }

    let from = message.from().and_then(|a| a.first());
    let from_address = from.and_then(|a| a.address.as_deref()).map(str::trim).filter(|a| a.contains('@'));
    if from_address.is_none() {
        let reason = match message.header_raw(HeaderName::From) {
            Some(raw) => format!("{:?} has no valid address", raw.trim()),
            None => "header is missing".to_owned(),
        };
        return Err(IngestError::invalid("raw_message.from", reason));
    }
    let from_name = from.and_then(|a| a.name.as_deref()).map(str::trim).filter(|n| !n.is_empty());

    let sent_at_ms = match message.header_raw(HeaderName::Date) {
        None => None,
        Some(raw_date) => match message.date().filter(|d| d.is_valid()) {
            Some(date) => Some(date.to_timestamp().saturating_mul(1000)),
            None => {
                return Err(IngestError::invalid(
                    "raw_message.date",
                    format!("{:?} is not an RFC 5322 date", raw_date.trim()),
                ));
            }
        },
    };

    let attachments: Vec<String> = message
        .attachments()
        .filter(|p| !matches!(p.body, PartType::Text(_) | PartType::Html(_)) || p.attachment_name().is_some())
        .map(|p| p.attachment_name().unwrap_or("unnamed").to_owned())
        .collect();

    let mut texts = Vec::new();
    for part in message.text_bodies() {
        if let Some(charset) = part.content_type().and_then(|ct| ct.attribute("charset"))
            && !known_charset(charset)
        {
            let garbled = match &part.body {
                PartType::Text(t) | PartType::Html(t) => t.contains('\u{fffd}'),
                _ => false,
            };
            if garbled {
                return Err(IngestError::invalid(
                    "raw_message.charset",
                    format!("the body is in an unknown charset {charset:?}"),
                ));
            }
        }
        match &part.body {
            PartType::Text(text) => texts.push(text.to_string()),
            PartType::Html(markup) => texts.push(html::html_to_text(markup)),
            _ => {}
        }
    }
    if texts.iter().all(|t| t.trim().is_empty()) {
        let reason = if attachments.is_empty() {
            "is empty: the message has no text".to_owned()
        } else {
            format!(
                "the message has only attachments ({}), no text to analyze",
                attachments.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            )
        };
        return Err(IngestError::invalid("raw_message.body", reason));
    }
    let body = texts
        .iter()
        .map(|t| quoting::clean_body(t))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if !body.chars().any(char::is_alphanumeric) {
        return Err(IngestError::invalid(
            "raw_message.body",
            "has no text of its own once quoted replies, the signature and disclaimers are removed",
        ));
    }
    if body.len() > limits.max_text_bytes {
        return Err(IngestError::invalid(
            "raw_message.body",
            format!(
                "is {} bytes of text, the limit is {} (limits.max_text_bytes)",
                body.len(),
                limits.max_text_bytes
            ),
        ));
    }

    Ok(Email {
        message_id: message
            .message_id()
            .map(|id| id.trim().trim_matches(['<', '>']).to_owned())
            .filter(|id| !id.is_empty()),
        in_reply_to: ids(message.header(HeaderName::InReplyTo)),
        references: ids(message.header(HeaderName::References)),
        subject: message.subject().unwrap_or_default().trim().to_owned(),
        from_name: from_name.map(str::to_owned),
        from_address: from_address.map(str::to_owned),
        sent_at_ms,
        body,
        attachments,
    })
}

/// The email's segments: the subject of a thread's first message, then the body, as
/// `role` said them. The body's part is the Message-ID (or `fallback_part`).
pub fn segment_email(
    email: &Email,
    role: SpeakerRole,
    fallback_part: &str,
    options: &TextOptions,
) -> Result<Vec<Segment>, IngestError> {
    check_title("raw_message.subject", &email.subject)?;
    let speaker = email.speaker();
    check_speaker("raw_message.from", speaker.as_deref())?;
    let mut segments = Vec::new();
    if !email.is_reply() && !email.subject.is_empty() {
        let subject =
            Part { id: "subject", speaker: speaker.clone(), role, at: email.sent_at_ms, offset_ms: None };
        push_sentences(&mut segments, &subject, &email.subject, &options.redactor);
    }
    let id = email.message_id.as_deref().unwrap_or(fallback_part);
    let body = Part { id, speaker, role, at: email.sent_at_ms, offset_ms: None };
    push_sentences(&mut segments, &body, &email.body, &options.redactor);
    if segments.is_empty() {
        return Err(IngestError::invalid("raw_message.body", "has no words to analyze"));
    }
    check_segment_count("raw_message.body", &segments)?;
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: EmailLimits = EmailLimits { max_email_bytes: 1 << 20, max_text_bytes: 1 << 16 };

    fn parse(raw: &str) -> Result<Email, IngestError> {
        parse_email(raw.as_bytes(), &LIMITS)
    }

    fn field(raw: &str) -> String {
        match parse(raw).unwrap_err() {
            IngestError::InvalidField { field, .. } => field.to_owned(),
        }
    }

    #[test]
    fn headers_and_threading() {
        let email = parse(
            "From: =?utf-8?Q?Ren=C3=A9e?= <renee@copperfield.example>\nTo: ben@brightloop.io\n\
             Date: Tue, 29 Sep 2026 11:45:00 -0600\nSubject: Re: Invoice\nMessage-ID: <b@x>\n\
             In-Reply-To: <a@x>\nReferences: <root@x> <a@x>\n\nIt is still wrong.\n",
        )
        .unwrap();
        assert_eq!(email.from_name.as_deref(), Some("Renée"));
        assert_eq!(email.speaker().as_deref(), Some("Renée <renee@copperfield.example>"));
        assert_eq!(email.message_id.as_deref(), Some("b@x"));
        assert_eq!(email.references, ["root@x", "a@x"]);
        assert_eq!(email.thread_id(), Some("root@x"));
        assert_eq!(email.sent_at_ms, Some(1_790_703_900_000));
        let segments = segment_email(&email, SpeakerRole::Customer, "x", &TextOptions::default()).unwrap();
        assert_eq!(segments.len(), 1, "replies do not repeat the subject");
        assert_eq!(segments[0].part, "b@x");
    }

    #[test]
    fn bad_messages_name_the_field() {
        assert_eq!(field(""), "raw_message");
        assert_eq!(field("Subject: hi\n\nbody"), "raw_message.from");
        assert_eq!(field("From: a@b.example\nDate: yesterday-ish\n\nbody"), "raw_message.date");
        assert_eq!(field("From: a@b.example\n\n   \n"), "raw_message.body");
        let attachment_only = "From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
            Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"inv.pdf\"\n\
            Content-Transfer-Encoding: base64\n\nJVBERi0x\n--b--\n";
        let err = parse(attachment_only).unwrap_err().to_string();
        assert!(err.starts_with("raw_message.body: the message has only attachments (inv.pdf)"), "{err}");
        let unknown = b"From: a@b.example\nContent-Type: text/plain; charset=x-klingon\n\
            Content-Transfer-Encoding: 8bit\n\n\xff\xfe\xfa q\n";
        let err = parse_email(unknown, &LIMITS).unwrap_err().to_string();
        assert!(err.starts_with("raw_message.charset:"), "{err}");
        let big = format!("From: a@b.example\n\n{}", "word ".repeat(300_000));
        assert!(parse(&big).unwrap_err().to_string().contains("limits.max_email_bytes"));
    }
}
