//! Domain types shared by every Undertone crate.
//!
//! Protocol types stop at the service edge (`undertone-api`); everything behind it speaks
//! these types. A segment is the unit of evidence: one sentence or utterance chunk, with
//! enough of its source kept to cite it (document, part, offsets, speaker, time).

mod ids;
mod segment;
mod sentiment;

pub use ids::{AccountId, DocumentKey, IdError, TenantId, point_id};
pub use segment::{Segment, SegmentRecord, SourceKind, SpeakerRole, StoredSegment};
pub use sentiment::{Sentiment, SentimentLabel, SignalScore, TopicScore};
