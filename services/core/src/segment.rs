//! Segments: the unit of evidence.

use serde::{Deserialize, Serialize};

use crate::{AccountId, DocumentKey, Sentiment, SignalScore, TopicScore};

/// Which kind of source a document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A plain message sent through the API without a richer format.
    Message,
    Email,
    Ticket,
    Call,
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [Self::Message, Self::Email, Self::Ticket, Self::Call];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Email => "email",
            Self::Ticket => "ticket",
            Self::Call => "call",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// Who was speaking: the customer, or someone of the tenant's own team (CSM, agent).
/// Only customer speech counts as customer sentiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeakerRole {
    Unknown,
    Customer,
    Internal,
}

impl SpeakerRole {
    pub const ALL: [SpeakerRole; 3] = [Self::Unknown, Self::Customer, Self::Internal];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Customer => "customer",
            Self::Internal => "internal",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == raw)
    }
}

/// One sentence or utterance chunk of a parsed document, with its source reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Position of the segment in its document, from 0.
    pub index: u32,
    /// The part of the document it belongs to (an email of a thread, a ticket comment,
    /// a call utterance), as the source names it.
    pub part: String,
    /// The text exactly as stored and quoted as evidence.
    pub text: String,
    /// Who said it (a name or address as the source gives it), if known.
    pub speaker: Option<String>,
    pub role: SpeakerRole,
    /// When it was said, in milliseconds since the Unix epoch, if known.
    pub timestamp_ms: Option<i64>,
    /// Offset into a call recording, in milliseconds, for call utterances.
    pub media_offset_ms: Option<u64>,
    /// Character offsets of `text` in the cleaned text of its part.
    pub char_start: u32,
    pub char_end: u32,
}

/// A segment ready to store: the models' outputs and the embedding they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRecord {
    pub account: AccountId,
    pub document: DocumentKey,
    /// A fingerprint of the whole source document, to tell an unchanged re-send.
    pub document_hash: String,
    pub segment: Segment,
    pub sentiment: Sentiment,
    pub topics: Vec<TopicScore>,
    /// Risk categories the signal model found, most probable first.
    pub signals: Vec<SignalScore>,
    pub embedding: Vec<f32>,
}

impl SegmentRecord {
    /// The stored segment (score 0) and its embedding.
    pub fn into_stored(self) -> (StoredSegment, Vec<f32>) {
        let stored = StoredSegment {
            account: self.account,
            document: self.document,
            document_hash: self.document_hash,
            segment: self.segment,
            sentiment: self.sentiment,
            topics: self.topics,
            signals: self.signals,
            score: 0.0,
        };
        (stored, self.embedding)
    }
}

/// A segment read back from the store, with its similarity score when found by search.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSegment {
    pub account: AccountId,
    pub document: DocumentKey,
    pub document_hash: String,
    pub segment: Segment,
    pub sentiment: Sentiment,
    pub topics: Vec<TopicScore>,
    /// Risk categories the signal model found, most probable first.
    pub signals: Vec<SignalScore>,
    /// Cosine similarity to the query, for search results; 0 otherwise.
    pub score: f32,
}
