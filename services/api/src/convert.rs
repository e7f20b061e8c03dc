//! Conversions between proto types and domain types. Protocol types stop here.

use prost_types::Timestamp;
use undertone_core::{
    Sentiment, SentimentLabel, SignalScore, SourceKind, SpeakerRole, StoredSegment, TopicScore,
};

use crate::v1;

pub fn source_kind_to_proto(kind: SourceKind) -> v1::SourceKind {
    match kind {
        SourceKind::Message => v1::SourceKind::Message,
        SourceKind::Email => v1::SourceKind::Email,
        SourceKind::Ticket => v1::SourceKind::Ticket,
        SourceKind::Call => v1::SourceKind::Call,
    }
}

/// `None` for UNSPECIFIED or an unknown number.
pub fn source_kind_from_proto(raw: i32) -> Option<SourceKind> {
    match v1::SourceKind::try_from(raw).ok()? {
        v1::SourceKind::Unspecified => None,
        v1::SourceKind::Message => Some(SourceKind::Message),
        v1::SourceKind::Email => Some(SourceKind::Email),
        v1::SourceKind::Ticket => Some(SourceKind::Ticket),
        v1::SourceKind::Call => Some(SourceKind::Call),
    }
}

pub fn role_to_proto(role: SpeakerRole) -> v1::SpeakerRole {
    match role {
        SpeakerRole::Unknown => v1::SpeakerRole::Unspecified,
        SpeakerRole::Customer => v1::SpeakerRole::Customer,
        SpeakerRole::Internal => v1::SpeakerRole::Internal,
    }
}

/// `None` for a number outside the enum; UNSPECIFIED is the unknown role.
pub fn role_from_proto(raw: i32) -> Option<SpeakerRole> {
    Some(match v1::SpeakerRole::try_from(raw).ok()? {
        v1::SpeakerRole::Unspecified => SpeakerRole::Unknown,
        v1::SpeakerRole::Customer => SpeakerRole::Customer,
        v1::SpeakerRole::Internal => SpeakerRole::Internal,
    })
}

pub fn sentiment_label_to_proto(label: SentimentLabel) -> v1::SentimentLabel {
    match label {
        SentimentLabel::Negative => v1::SentimentLabel::Negative,
        SentimentLabel::Neutral => v1::SentimentLabel::Neutral,
        SentimentLabel::Positive => v1::SentimentLabel::Positive,
    }
}

/// `None` for UNSPECIFIED or an unknown number.
pub fn sentiment_label_from_proto(raw: i32) -> Option<SentimentLabel> {
    match v1::SentimentLabel::try_from(raw).ok()? {
        v1::SentimentLabel::Unspecified => None,
        v1::SentimentLabel::Negative => Some(SentimentLabel::Negative),
        v1::SentimentLabel::Neutral => Some(SentimentLabel::Neutral),
        v1::SentimentLabel::Positive => Some(SentimentLabel::Positive),
    }
}

pub fn sentiment_to_proto(sentiment: &Sentiment) -> v1::Sentiment {
    v1::Sentiment {
        label: sentiment_label_to_proto(sentiment.label) as i32,
        score: sentiment.score,
        confidence: sentiment.confidence,
    }
}

/// Topic scores with their readable labels looked up by `label_of`.
pub fn topics_to_proto(topics: &[TopicScore], label_of: impl Fn(&str) -> String) -> Vec<v1::TopicScore> {
    topics
        .iter()
        .map(|t| v1::TopicScore { topic: t.topic.clone(), label: label_of(&t.topic), score: t.score })
        .collect()
}

pub fn timestamp_from_ms(ms: i64) -> Timestamp {
    Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

pub fn timestamp_to_ms(ts: &Timestamp) -> i64 {
    ts.seconds.saturating_mul(1000).saturating_add(i64::from(ts.nanos) / 1_000_000)
}

/// A stored segment cited as evidence.
pub fn evidence_from_segment(stored: &StoredSegment, label_of: impl Fn(&str) -> String) -> v1::Evidence {
    let seg = &stored.segment;
    v1::Evidence {
        account_id: stored.account.to_string(),
        document_id: stored.document.external_id.clone(),
        source_kind: source_kind_to_proto(stored.document.source_kind) as i32,
        part: seg.part.clone(),
        segment_index: seg.index,
        quote: seg.text.clone(),
        speaker: seg.speaker.clone().unwrap_or_default(),
        role: role_to_proto(seg.role) as i32,
        timestamp: seg.timestamp_ms.map(timestamp_from_ms),
        media_offset_ms: seg.media_offset_ms,
        char_start: seg.char_start,
        char_end: seg.char_end,
        sentiment: Some(sentiment_to_proto(&stored.sentiment)),
        topics: topics_to_proto(&stored.topics, label_of),
        relevance: stored.score,
        signals: signals_to_proto(&stored.signals),
    }
}

pub fn signals_to_proto(signals: &[SignalScore]) -> Vec<v1::SignalScore> {
    signals
        .iter()
        .map(|s| v1::SignalScore { category: s.category.clone(), probability: s.probability })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_before_the_epoch() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1, -1_500] {
            assert_eq!(timestamp_to_ms(&timestamp_from_ms(ms)), ms);
        }
    }

    #[test]
    fn enums_round_trip() {
        for kind in SourceKind::ALL {
            assert_eq!(source_kind_from_proto(source_kind_to_proto(kind) as i32), Some(kind));
        }
        for role in SpeakerRole::ALL {
            assert_eq!(role_from_proto(role_to_proto(role) as i32), Some(role));
        }
        for label in SentimentLabel::ALL {
            assert_eq!(sentiment_label_from_proto(sentiment_label_to_proto(label) as i32), Some(label));
        }
        assert_eq!(source_kind_from_proto(0), None);
        assert_eq!(role_from_proto(99), None);
    }
}
