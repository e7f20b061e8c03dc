//! Ingest: turns raw customer documents into cited segments.
//!
//! Today: plain-text messages and support tickets, split into sentences with their
//! character offsets. The email and transcript parsers, cleaning and PII redaction grow here.

mod document;
mod segment;
mod ticket;

pub use document::{IngestError, PlainMessage, segment_message};
pub use segment::{SentenceSpan, split_sentences};
pub use ticket::{Person, Ticket, TicketComment, parse_ticket_json, parse_timestamp, segment_ticket};
