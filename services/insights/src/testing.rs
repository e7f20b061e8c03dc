//! Segment builders for the unit tests of this crate.

use undertone_core::{
    AccountId, DocumentKey, Segment, Sentiment, SentimentLabel, SignalScore, SourceKind, SpeakerRole,
    StoredSegment, TenantId, TopicScore,
};

use crate::context::Contact;

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
        signals: Vec::new(),
        score: 0.0,
    }
}

/// Builder-style tweaks on a test segment.
pub trait SegExt {
    fn sentiment(self, label: SentimentLabel, score: f32) -> Self;
    fn topic(self, topic: &str, score: f32) -> Self;
    fn role(self, role: SpeakerRole) -> Self;
    fn signal(self, category: &str, probability: f32) -> Self;
    fn speaker(self, speaker: &str) -> Self;
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

    fn signal(mut self, category: &str, probability: f32) -> Self {
        self.signals.push(SignalScore { category: category.into(), probability });
        self
    }

    fn speaker(mut self, speaker: &str) -> Self {
        self.segment.speaker = Some(speaker.into());
        self
    }
}

/// A negative customer complaint on `topic`, which the signal model finds as evidence of
/// the topic's risk category.
pub fn complaint(account: &str, doc: &str, text: &str, topic: &str, at_ms: i64) -> StoredSegment {
    let segment =
        seg_at(account, doc, 0, text, at_ms).sentiment(SentimentLabel::Negative, -0.8).topic(topic, 0.6);
    match crate::RiskCategory::from_topic(topic) {
        Some(category) => segment.signal(category.as_str(), 0.9),
        None => segment,
    }
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

/// Harbor's people: Maria Chen, COO (a decision-maker), and Tim Ruiz, dispatcher.
pub fn harbor_contacts() -> Vec<Contact> {
    vec![
        Contact { name: "Maria Chen".into(), email: "maria@harbor.example".into(), title: "COO".into() },
        Contact { name: "Tim Ruiz".into(), email: "tim@harbor.example".into(), title: "Dispatcher".into() },
    ]
}
