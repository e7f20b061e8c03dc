//! Ingest: turns raw customer documents into cited segments.
//!
//! One module per idea: sentence segmentation with character offsets (`segment`), plain
//! messages and the options every format shares (`document`), support tickets
//! (`ticket`), raw MIME email (`email`) with its HTML conversion (`html`), reply /
//! signature / disclaimer cleaning (`quoting`) and thread de-duplication (`thread`),
//! `.mbox` files (`mbox`), call transcripts (`transcript`), speaker roles (`roles`) and
//! PII redaction (`redact`), applied to every part's cleaned text before segmentation.

mod document;
mod email;
mod html;
mod mbox;
mod quoting;
mod redact;
mod roles;
mod segment;
mod thread;
mod ticket;
mod transcript;

pub use document::{
    IngestError, MAX_SEGMENTS_PER_DOCUMENT, MAX_TITLE_BYTES, PlainMessage, TextOptions, segment_message,
};
pub use email::{Email, EmailLimits, parse_email, segment_email};
pub use html::{decode_entities, html_to_text};
pub use mbox::{MboxMessage, split_mbox};
pub use quoting::clean_body;
pub use redact::{RedactionConfig, Redactor, iban_valid, luhn_valid};
pub use roles::RoleDirectory;
pub use segment::{MAX_SEGMENT_CHARS, SentenceSpan, split_sentences};
pub use thread::{drop_repeated, normalized, thread_order};
pub use ticket::{
    MAX_TICKET_COMMENTS, Person, Ticket, TicketComment, parse_ticket_json, parse_timestamp, segment_ticket,
};
pub use transcript::{Transcript, TranscriptFormat, Utterance, parse_transcript, segment_transcript};
