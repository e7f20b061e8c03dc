//! Between the store's engine-neutral layout (payload fields, conditions, indexes) and the
//! gRPC types of `qdrant-client`, in one place.

use std::collections::HashMap;

use qdrant_client::Payload;
use qdrant_client::qdrant::vector_output::Vector as VectorOutputKind;
use qdrant_client::qdrant::vectors_output::VectorsOptions;
use qdrant_client::qdrant::{
    CollectionInfo, Condition, CreateFieldIndexCollection, CreateFieldIndexCollectionBuilder, Distance,
    FieldType, Filter, KeywordIndexParamsBuilder, PayloadSchemaInfo, PayloadSchemaType, PointId, PointStruct,
    Range, Value, VectorsOutput, payload_index_params, point_id::PointIdOptions, vectors_config,
};
use serde_json::Map;
use undertone_core::{SegmentRecord, point_id};
use uuid::Uuid;

use crate::filter::{self, Condition as FieldCondition};
use crate::payload::{self, IndexKind};
use crate::{Result, SegmentFilter, StoreError};

/// The server filter of a `SegmentFilter`.
pub(super) fn segment_filter(segments: &SegmentFilter) -> Filter {
    filter(filter::conditions(segments))
}

/// All of `conditions`.
fn filter(conditions: Vec<FieldCondition>) -> Filter {
    Filter::must(conditions.into_iter().map(condition))
}

fn condition(condition: FieldCondition) -> Condition {
    match condition {
        FieldCondition::Keyword(key, value) => Condition::matches(key, value),
        FieldCondition::AnyOf(key, values) => Condition::matches(key, values),
        // Ranges are f64 on the wire: exact for any ms timestamp within ±2^53.
        FieldCondition::Range(key, from_ms, to_ms) => {
            let range = Range {
                gte: from_ms.map(|ms| ms as f64),
                lt: to_ms.map(|ms| ms as f64),
                ..Default::default()
            };
            Condition::range(key, range)
        }
    }
}

/// The filter of every point of one document.
pub(super) fn document_filter(key: &undertone_core::DocumentKey) -> Filter {
    filter(filter::document_conditions(key))
}

/// The point of one record: the embedded store's id, vector and payload.
pub(super) fn point(record: &SegmentRecord) -> PointStruct {
    let id = point_id(&record.document, record.segment.index).to_string();
    PointStruct::new(id, record.embedding.clone(), Payload::from(payload::to_payload(record)))
}

/// A UUID point id as the server returns it.
pub(super) fn uuid(id: Option<&PointId>) -> Option<Uuid> {
    match id?.point_id_options.as_ref()? {
        PointIdOptions::Uuid(raw) => raw.parse().ok(),
        PointIdOptions::Num(_) => None,
    }
}

/// A returned payload as the JSON object `payload.rs` reads.
pub(super) fn json(payload: HashMap<String, Value>) -> Map<String, serde_json::Value> {
    Payload::from(payload).into()
}

/// The unnamed dense vector of a returned point.
pub(super) fn dense(vectors: Option<VectorsOutput>) -> Result<Vec<f32>> {
    match vectors.and_then(|v| v.vectors_options) {
        Some(VectorsOptions::Vector(output)) => match output.into_vector() {
            VectorOutputKind::Dense(dense) => Ok(dense.data),
            _ => Err(StoreError::Corrupt("point vector is not dense".into())),
        },
        _ => Err(StoreError::Corrupt("point without its unnamed vector".into())),
    }
}

/// An existing collection must hold one unnamed cosine vector of the model's size.
pub(super) fn check_vectors(name: &str, info: &CollectionInfo, dim: usize) -> Result<()> {
    let config = info.config.as_ref().and_then(|c| c.params.as_ref()).and_then(|p| p.vectors_config.as_ref());
    let choose = "choose another collection (qdrant.collection)";
    match config.and_then(|c| c.config.as_ref()) {
        Some(vectors_config::Config::Params(params)) => {
            if params.size != dim as u64 {
                let size = params.size;
                return Err(StoreError::Config(format!(
                    "collection {name} holds {size}-d vectors, the model makes {dim}-d; {choose}"
                )));
            }
            if params.distance != Distance::Cosine as i32 {
                let distance = Distance::try_from(params.distance).map_or("unknown", |d| d.as_str_name());
                return Err(StoreError::Config(format!(
                    "collection {name} uses {distance} distance, undertone needs Cosine; {choose}"
                )));
            }
            Ok(())
        }
        Some(vectors_config::Config::ParamsMap(map)) => {
            let mut names: Vec<&str> = map.map.keys().map(String::as_str).collect();
            names.sort_unstable();
            Err(StoreError::Config(format!(
                "collection {name} has named vectors ({}), undertone stores one unnamed vector; {choose}",
                names.join(", ")
            )))
        }
        None => Err(StoreError::Config(format!("collection {name} reports no vector configuration"))),
    }
}

/// The indexes of [`payload::INDEXED_FIELDS`] that `schema` lacks. An index of another type
/// on one of our fields is an error: the filters on that field would not use it.
pub(super) fn missing_indexes(
    name: &str,
    schema: &HashMap<String, PayloadSchemaInfo>,
) -> Result<Vec<(&'static str, IndexKind)>> {
    let mut missing = Vec::new();
    for (key, kind) in payload::INDEXED_FIELDS {
        let Some(info) = schema.get(key) else {
            missing.push((key, kind));
            continue;
        };
        let wanted = schema_type(kind);
        if info.data_type != wanted as i32 {
            let found = PayloadSchemaType::try_from(info.data_type).map_or("unknown", |t| t.as_str_name());
            return Err(StoreError::Config(format!(
                "collection {name} indexes payload field `{key}` as {found}, undertone needs {}; \
                 choose another collection (qdrant.collection) or drop that index",
                wanted.as_str_name()
            )));
        }
        if kind == IndexKind::Tenant && !is_tenant(info) {
            tracing::warn!(collection = name, field = key, "tenant field is indexed without is_tenant");
        }
    }
    Ok(missing)
}

fn is_tenant(info: &PayloadSchemaInfo) -> bool {
    match info.params.as_ref().and_then(|p| p.index_params.as_ref()) {
        Some(payload_index_params::IndexParams::KeywordIndexParams(params)) => params.is_tenant == Some(true),
        _ => false,
    }
}

fn schema_type(kind: IndexKind) -> PayloadSchemaType {
    match kind {
        IndexKind::Tenant | IndexKind::Keyword => PayloadSchemaType::Keyword,
        IndexKind::Integer => PayloadSchemaType::Integer,
    }
}

/// The request creating one payload index, confirmed before it returns.
pub(super) fn create_index(collection: &str, key: &str, kind: IndexKind) -> CreateFieldIndexCollection {
    let field_type = match kind {
        IndexKind::Tenant | IndexKind::Keyword => FieldType::Keyword,
        IndexKind::Integer => FieldType::Integer,
    };
    let builder = CreateFieldIndexCollectionBuilder::new(collection, key, field_type).wait(true);
    match kind {
        IndexKind::Tenant => builder.field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true)),
        IndexKind::Keyword | IndexKind::Integer => builder,
    }
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::tests::record;

    #[test]
    fn a_point_carries_the_shared_id_and_payload_and_reads_back() {
        let record = record();
        let point = point(&record);
        let id = uuid(point.id.as_ref()).unwrap();
        assert_eq!(id, point_id(&record.document, record.segment.index));
        let stored = payload::from_payload(&json(point.payload), 0.0).unwrap();
        assert_eq!(stored.segment, record.segment);
        assert_eq!(stored.sentiment, record.sentiment);
        assert_eq!(stored.document, record.document);
    }

    #[test]
    fn every_index_is_missing_from_an_empty_schema() {
        let missing = missing_indexes("c", &HashMap::new()).unwrap();
        assert_eq!(missing.len(), payload::INDEXED_FIELDS.len());
        let wrong =
            PayloadSchemaInfo { data_type: PayloadSchemaType::Integer as i32, params: None, points: None };
        let err = missing_indexes("c", &HashMap::from([("tenant".to_owned(), wrong)])).unwrap_err();
        assert!(err.to_string().contains("`tenant` as Integer"), "{err}");
    }
}
