//! The payload stored beside each point, and its conversion to and from domain types.
//!
//! Plain `serde_json`, no engine types, so a Qdrant-server backend stores the very same
//! layout and filters on the same field names. Fields are flat (no nesting) so every filter
//! is a single-key condition and every index a top-level field.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use undertone_core::{
    AccountId, DocumentKey, Segment, SegmentRecord, Sentiment, SentimentLabel, SignalScore, SourceKind,
    SpeakerRole, StoredSegment, TenantId, TopicScore,
};

use crate::{Result, StoreError};

/// Payload field names.
pub(crate) mod field {
    pub const TENANT: &str = "tenant";
    pub const ACCOUNT: &str = "account";
    /// `DocumentKey::storage_key()`: one condition finds every point of a document.
    pub const DOC_KEY: &str = "doc_key";
    pub const SOURCE_KIND: &str = "source_kind";
    pub const EXTERNAL_ID: &str = "external_id";
    pub const DOCUMENT_HASH: &str = "document_hash";
    pub const PART: &str = "part";
    pub const INDEX: &str = "index";
    pub const TEXT: &str = "text";
    pub const SPEAKER: &str = "speaker";
    pub const ROLE: &str = "role";
    pub const TIMESTAMP_MS: &str = "timestamp_ms";
    pub const MEDIA_OFFSET_MS: &str = "media_offset_ms";
    pub const CHAR_START: &str = "char_start";
    pub const CHAR_END: &str = "char_end";
    pub const SENTIMENT_LABEL: &str = "sentiment_label";
    pub const SENTIMENT_SCORE: &str = "sentiment_score";
    pub const SENTIMENT_CONFIDENCE: &str = "sentiment_confidence";
    /// A list of `{topic, score}` objects.
    pub const TOPICS: &str = "topics";
    pub const TOPIC: &str = "topic";
    pub const TOPIC_SCORE: &str = "score";
    /// A list of `{category, probability}` objects (absent in points stored before the
    /// signal model: read as none).
    pub const SIGNALS: &str = "signals";
    pub const CATEGORY: &str = "category";
    pub const PROBABILITY: &str = "probability";
}

/// How a payload field is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexKind {
    /// A keyword index that is also the engine's tenant key (data grouped per tenant).
    Tenant,
    Keyword,
    Integer,
}

/// The payload indexes every filter relies on, created before any data arrives.
pub(crate) const INDEXED_FIELDS: [(&str, IndexKind); 8] = [
    (field::TENANT, IndexKind::Tenant),
    (field::ACCOUNT, IndexKind::Keyword),
    (field::DOC_KEY, IndexKind::Keyword),
    (field::SOURCE_KIND, IndexKind::Keyword),
    (field::EXTERNAL_ID, IndexKind::Keyword),
    (field::ROLE, IndexKind::Keyword),
    (field::SENTIMENT_LABEL, IndexKind::Keyword),
    (field::TIMESTAMP_MS, IndexKind::Integer),
];

/// Checks the records of one document upsert: all of `key` and `account`, one record per
/// segment index, finite scores (JSON has no NaN: it would come back as null), embeddings
/// of the store's dimension `dim`.
pub(crate) fn validate_document(
    key: &DocumentKey,
    account: &AccountId,
    records: &[SegmentRecord],
    dim: usize,
) -> Result<()> {
    let mut indexes = HashSet::with_capacity(records.len());
    for record in records {
        let index = record.segment.index;
        if record.document != *key {
            return Err(invalid(index, "belongs to another document"));
        }
        if record.account != *account {
            return Err(invalid(index, "belongs to another account"));
        }
        if !indexes.insert(index) {
            return Err(invalid(index, "appears twice"));
        }
        if !scores_are_finite(record) {
            return Err(invalid(index, "has a non-finite sentiment or topic score"));
        }
        // Qdrant's wire format holds integers as i64.
        if record.segment.media_offset_ms.is_some_and(|ms| i64::try_from(ms).is_err()) {
            return Err(invalid(index, "has a media offset beyond i64::MAX ms"));
        }
    }
    records.iter().try_for_each(|record| check_dim(dim, record.embedding.len()))
}

/// A vector of `got` dimensions in a store of `expected`-dimensional ones is refused.
pub(crate) fn check_dim(expected: usize, got: usize) -> Result<()> {
    if got == expected { Ok(()) } else { Err(StoreError::DimensionMismatch { expected, got }) }
}

fn invalid(index: u32, what: &str) -> StoreError {
    StoreError::InvalidRecord(format!("segment {index} {what}"))
}

fn scores_are_finite(record: &SegmentRecord) -> bool {
    let sentiment = &record.sentiment;
    sentiment.score.is_finite()
        && sentiment.confidence.is_finite()
        && record.topics.iter().all(|topic| topic.score.is_finite())
        && record.signals.iter().all(|signal| signal.probability.is_finite())
}

/// Every field of a record except its embedding.
pub(crate) fn to_payload(record: &SegmentRecord) -> Map<String, Value> {
    let segment = &record.segment;
    let document = &record.document;
    let topics: Vec<Value> =
        record.topics.iter().map(|t| json!({ field::TOPIC: t.topic, field::TOPIC_SCORE: t.score })).collect();
    let signals: Vec<Value> = record
        .signals
        .iter()
        .map(|s| json!({ field::CATEGORY: s.category, field::PROBABILITY: s.probability }))
        .collect();
    let payload = json!({
        field::TENANT: document.tenant.as_str(),
        field::ACCOUNT: record.account.as_str(),
        field::DOC_KEY: document.storage_key(),
        field::SOURCE_KIND: document.source_kind.as_str(),
        field::EXTERNAL_ID: document.external_id,
        field::DOCUMENT_HASH: record.document_hash,
        field::PART: segment.part,
        field::INDEX: segment.index,
        field::TEXT: segment.text,
        field::SPEAKER: segment.speaker,
        field::ROLE: segment.role.as_str(),
        field::TIMESTAMP_MS: segment.timestamp_ms,
        field::MEDIA_OFFSET_MS: segment.media_offset_ms,
        field::CHAR_START: segment.char_start,
        field::CHAR_END: segment.char_end,
        field::SENTIMENT_LABEL: record.sentiment.label.as_str(),
        field::SENTIMENT_SCORE: record.sentiment.score,
        field::SENTIMENT_CONFIDENCE: record.sentiment.confidence,
        field::TOPICS: topics,
        field::SIGNALS: signals,
    });
    match payload {
        Value::Object(map) => map,
        // `json!({...})` always builds an object.
        _ => Map::new(),
    }
}

/// A stored segment from its payload; `score` is the search similarity (0 for reads).
pub(crate) fn from_payload(payload: &Map<String, Value>, score: f32) -> Result<StoredSegment> {
    let p = Fields(payload);
    let tenant = TenantId::new(p.str(field::TENANT)?).map_err(|e| corrupt(field::TENANT, e))?;
    let account = AccountId::new(p.str(field::ACCOUNT)?).map_err(|e| corrupt(field::ACCOUNT, e))?;
    let source_kind = p.parsed(field::SOURCE_KIND, SourceKind::parse)?;
    let document = DocumentKey { tenant, source_kind, external_id: p.str(field::EXTERNAL_ID)?.to_owned() };
    Ok(StoredSegment {
        account,
        document,
        document_hash: p.str(field::DOCUMENT_HASH)?.to_owned(),
        segment: segment(&p)?,
        sentiment: sentiment(&p)?,
        topics: topics(&p)?,
        signals: signals(&p)?,
        score,
    })
}

/// A record from its payload and its stored embedding (what a migration copies).
pub(crate) fn record_from_payload(
    payload: &Map<String, Value>,
    embedding: Vec<f32>,
) -> Result<SegmentRecord> {
    let StoredSegment { account, document, document_hash, segment, sentiment, topics, signals, score: _ } =
        from_payload(payload, 0.0)?;
    Ok(SegmentRecord { account, document, document_hash, segment, sentiment, topics, signals, embedding })
}

/// Sorts read results in scroll order: document, then segment index.
pub(crate) fn sort_for_scroll<T>(items: &mut [T], key: impl Fn(&T) -> (&DocumentKey, u32)) {
    items.sort_by_cached_key(|item| {
        let (document, index) = key(item);
        (document.storage_key(), index)
    });
}

/// Ids from the distinct stored values of one id field, sorted (what `tenants` and
/// `accounts` return).
pub(crate) fn sorted_ids<T, E: std::fmt::Display>(
    key: &str,
    mut values: Vec<String>,
    parse: impl Fn(&str) -> std::result::Result<T, E>,
) -> Result<Vec<T>> {
    values.sort();
    values.dedup();
    values.iter().map(|raw| parse(raw).map_err(|e| corrupt(key, e))).collect()
}

/// The document hash alone, for `document_hash` reads that fetch only that field.
pub(crate) fn document_hash(payload: &Map<String, Value>) -> Result<String> {
    Fields(payload).str(field::DOCUMENT_HASH).map(str::to_owned)
}

fn segment(p: &Fields<'_>) -> Result<Segment> {
    Ok(Segment {
        index: p.u32(field::INDEX)?,
        part: p.str(field::PART)?.to_owned(),
        text: p.str(field::TEXT)?.to_owned(),
        speaker: p.opt_str(field::SPEAKER)?.map(str::to_owned),
        role: p.parsed(field::ROLE, SpeakerRole::parse)?,
        timestamp_ms: p.opt(field::TIMESTAMP_MS, Value::as_i64)?,
        media_offset_ms: p.opt(field::MEDIA_OFFSET_MS, Value::as_u64)?,
        char_start: p.u32(field::CHAR_START)?,
        char_end: p.u32(field::CHAR_END)?,
    })
}

fn sentiment(p: &Fields<'_>) -> Result<Sentiment> {
    Ok(Sentiment {
        label: p.parsed(field::SENTIMENT_LABEL, SentimentLabel::parse)?,
        score: p.f32(field::SENTIMENT_SCORE)?,
        confidence: p.f32(field::SENTIMENT_CONFIDENCE)?,
    })
}

fn topics(p: &Fields<'_>) -> Result<Vec<TopicScore>> {
    let Some(list) = p.0.get(field::TOPICS) else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| corrupt(field::TOPICS, "not a list"))?;
    list.iter()
        .map(|item| {
            let item = item.as_object().ok_or_else(|| corrupt(field::TOPICS, "not an object"))?;
            let t = Fields(item);
            Ok(TopicScore { topic: t.str(field::TOPIC)?.to_owned(), score: t.f32(field::TOPIC_SCORE)? })
        })
        .collect()
}

fn signals(p: &Fields<'_>) -> Result<Vec<SignalScore>> {
    let Some(list) = p.0.get(field::SIGNALS) else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| corrupt(field::SIGNALS, "not a list"))?;
    list.iter()
        .map(|item| {
            let item = item.as_object().ok_or_else(|| corrupt(field::SIGNALS, "not an object"))?;
            let s = Fields(item);
            Ok(SignalScore {
                category: s.str(field::CATEGORY)?.to_owned(),
                probability: s.f32(field::PROBABILITY)?,
            })
        })
        .collect()
}

fn corrupt(key: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("payload field `{key}`: {what}"))
}

/// Typed access to a payload object; a missing or mistyped field is `Corrupt`.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    /// A required field converted by `get`.
    fn req<T>(&self, key: &str, get: impl Fn(&Value) -> Option<T>) -> Result<T> {
        let value = self.0.get(key).ok_or_else(|| corrupt(key, "missing"))?;
        get(value).ok_or_else(|| corrupt(key, format!("unexpected value {value}")))
    }

    /// An optional field: absent or null is `None`.
    fn opt<T>(&self, key: &str, get: impl Fn(&Value) -> Option<T>) -> Result<Option<T>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.req(key, get).map(Some),
        }
    }

    fn str(&self, key: &str) -> Result<&str> {
        let value = self.0.get(key).ok_or_else(|| corrupt(key, "missing"))?;
        value.as_str().ok_or_else(|| corrupt(key, format!("not a string: {value}")))
    }

    fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.str(key).map(Some),
        }
    }

    fn u32(&self, key: &str) -> Result<u32> {
        self.req(key, |v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
    }

    /// f32 values are stored widened to f64, so narrowing back is exact.
    fn f32(&self, key: &str) -> Result<f32> {
        self.req(key, |v| v.as_f64().map(|n| n as f32))
    }

    /// A string field holding one of an enum's names.
    fn parsed<T>(&self, key: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
        let raw = self.str(key)?;
        parse(raw).ok_or_else(|| corrupt(key, format!("unknown value `{raw}`")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with every optional field set (other modules' tests use it too).
    pub(crate) fn record() -> SegmentRecord {
        let tenant = TenantId::new("t").unwrap();
        SegmentRecord {
            account: AccountId::new("acme").unwrap(),
            document: DocumentKey::new(tenant, SourceKind::Call, "c-1").unwrap(),
            document_hash: "h1".into(),
            segment: Segment {
                index: 3,
                part: "utt-3".into(),
                text: "It keeps crashing.".into(),
                speaker: Some("Dana".into()),
                role: SpeakerRole::Customer,
                timestamp_ms: Some(-5),
                media_offset_ms: Some(i64::MAX as u64),
                char_start: 1,
                char_end: 19,
            },
            sentiment: Sentiment { label: SentimentLabel::Negative, score: -0.8125, confidence: 0.1 },
            topics: vec![TopicScore { topic: "stability".into(), score: 0.3 }],
            signals: vec![SignalScore { category: "reliability".into(), probability: 0.875 }],
            embedding: vec![1.0],
        }
    }

    #[test]
    fn round_trips_every_field() {
        let record = record();
        let stored = from_payload(&to_payload(&record), 0.5).unwrap();
        assert_eq!(stored.account, record.account);
        assert_eq!(stored.document, record.document);
        assert_eq!(stored.document_hash, record.document_hash);
        assert_eq!(stored.segment, record.segment);
        assert_eq!(stored.sentiment, record.sentiment);
        assert_eq!(stored.topics, record.topics);
        assert_eq!(stored.signals, record.signals);
        assert_eq!(stored.score, 0.5);
    }

    #[test]
    fn missing_optionals_read_as_none() {
        let mut record = record();
        record.segment.speaker = None;
        record.segment.timestamp_ms = None;
        record.segment.media_offset_ms = None;
        record.topics.clear();
        let stored = from_payload(&to_payload(&record), 0.0).unwrap();
        assert_eq!(stored.segment, record.segment);
        assert!(stored.topics.is_empty());
    }

    #[test]
    fn bad_payload_is_corrupt_not_a_panic() {
        let mut payload = to_payload(&record());
        payload.insert(field::ROLE.into(), json!("boss"));
        assert!(matches!(from_payload(&payload, 0.0), Err(StoreError::Corrupt(_))));
        payload.remove(field::TEXT);
        assert!(matches!(from_payload(&payload, 0.0), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn validation_rejects_foreign_and_duplicate_records() {
        let record = record();
        let (key, account) = (record.document.clone(), record.account.clone());
        let other = AccountId::new("other").unwrap();
        let twice = [record.clone(), record.clone()];
        assert!(validate_document(&key, &account, std::slice::from_ref(&record), 1).is_ok());
        assert!(matches!(
            validate_document(&key, &other, std::slice::from_ref(&record), 1),
            Err(StoreError::InvalidRecord(_))
        ));
        assert!(matches!(validate_document(&key, &account, &twice, 1), Err(StoreError::InvalidRecord(_))));
        let mut nan = record.clone();
        nan.sentiment.score = f32::NAN;
        assert!(matches!(validate_document(&key, &account, &[nan], 1), Err(StoreError::InvalidRecord(_))));
        let mut far = record.clone();
        far.segment.media_offset_ms = Some(u64::MAX);
        assert!(matches!(validate_document(&key, &account, &[far], 1), Err(StoreError::InvalidRecord(_))));
        assert!(matches!(
            validate_document(&key, &account, &[record], 2),
            Err(StoreError::DimensionMismatch { .. })
        ));
    }
}
