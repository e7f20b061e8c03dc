//! Segment builders for the unit tests of this crate.

use undertone_core::{
    AccountId, DocumentKey, Segment, Sentiment, SentimentLabel, SourceKind, SpeakerRole, StoredSegment,
    TenantId, TopicScore,
};

pub const DAY: i64 = 86_400_000;
/// 2026-11-20T00:00:00Z.
pub const NOW: i64 = 1_795_132_800_000;

/// A neutral customer segment of `account`, document `doc`, said at `at_ms`.
pub fn seg_at(account: &str, doc: &str, index: u32, text: &str, at_ms: i64) -> StoredSegment {
    let tenant = TenantId::new("t").unwrap();
    StoredSegment {
        account: AccountId::new(account).unwrap(),
        document: DocumentKey::new(tenant, SourceKind::Message, doc).unwrap(),
        document_hash: String::new(),
        segment: Segment {
            index,
            part: "body".into(),
            text: text.into(),
            speaker: None,
            role: SpeakerRole::Customer,
            timestamp_ms: Some(at_ms),
            media_offset_ms: None,
            char_start: 0,
            char_end: text.chars().count() as u32,
        },
        sentiment: Sentiment { label: SentimentLabel::Neutral, score: 0.0, confidence: 0.9 },
        topics: Vec::new(),
        score: 0.0,
    }
}

/// Builder-style tweaks on a test segment.
pub trait SegExt {
    fn sentiment(self, label: SentimentLabel, score: f32) -> Self;
    fn topic(self, topic: &str, score: f32) -> Self;
    fn role(self, role: SpeakerRole) -> Self;
}

impl SegExt for StoredSegment {
    fn sentiment(mut self, label: SentimentLabel, score: f32) -> Self {
        self.sentiment.label = label;
        self.sentiment.score = score;
        self
    }

    fn topic(mut self, topic: &str, score: f32) -> Self {
        self.topics.push(TopicScore { topic: topic.into(), score });
        self
    }

    fn role(mut self, role: SpeakerRole) -> Self {
        self.segment.role = role;
        self
    }
}

/// A negative customer complaint on `topic`.
pub fn complaint(account: &str, doc: &str, text: &str, topic: &str, at_ms: i64) -> StoredSegment {
    seg_at(account, doc, 0, text, at_ms).sentiment(SentimentLabel::Negative, -0.8).topic(topic, 0.6)
}

/// A deterministic unit vector near `axis` (one of a few orthogonal directions), nudged by `jitter`.
pub fn unit(axis: usize, jitter: f32, dim: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; dim];
    v[axis % dim] = 1.0;
    v[(axis + 1 + (jitter.to_bits() as usize % 3)) % dim] += jitter;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}
