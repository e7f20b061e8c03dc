//! The embedded backend: Qdrant's own engine in-process (`qdrant-edge`), one shard on disk.
//! Nothing to start, nothing to connect to. Writes are durable once flushed (`flush`, or
//! dropping the store).

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, DEFAULT_VECTOR_NAME, Distance, EdgeConfig, EdgeShard,
    EdgeVectorParams, FacetRequest, FacetValue, FieldCondition, FieldIndexOperations, Filter, JsonPath,
    KeywordIndexParams, Match, NamedQuery, OperationError, Payload, PayloadFieldSchema, PayloadSchemaParams,
    PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStructPersisted, QueryEnum,
    QueryRequest, Range, Record, ScoringQuery, ScrollRequest, UpdateOperation, VectorInternal,
    VectorStructInternal, VectorStructPersisted, WithPayloadInterface, WithVector,
};
use undertone_core::{AccountId, DocumentKey, SegmentRecord, StoredSegment, TenantId, point_id};

use crate::payload::{self, IndexKind, field};
use crate::{EvidenceStore, Result, SearchQuery, SegmentFilter, StoreError, UpsertOutcome, filter};

/// Points read per scroll request; `scroll` pages until the engine says there is no more.
const SCROLL_PAGE: usize = 1024;

/// The store on a local `qdrant-edge` shard: one unnamed cosine vector per point, the
/// segment fields as payload (see [`crate::payload`]).
pub struct EmbeddedStore {
    /// The engine locks internally, so reads go straight to it.
    shard: EdgeShard,
    dim: usize,
    /// Serializes writers: an upsert lists the document's old points after writing the new
    /// ones, and deletes count before deleting; a concurrent writer in between would make the
    /// stale set or the returned counts wrong.
    writes: Mutex<()>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").field("path", &self.shard.path()).field("dim", &self.dim).finish()
    }
}

impl EmbeddedStore {
    /// Creates a store of `dim`-dimensional cosine vectors in `dir`, or reopens the one there.
    /// Reopening with another `dim` is `DimensionMismatch`. qdrant-edge 0.7 does not replay
    /// its WAL on load: what was written since the last `flush` (or drop) is lost on a crash.
    pub fn open(dir: &Path, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(StoreError::Config("vector dimension must be positive".into()));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Engine(format!("creating store directory {}: {e}", dir.display())))?;
        let (shard, created) = match EdgeConfig::load(dir) {
            Some(config) => {
                // Check the persisted config before loading segments, for a clear error.
                check_vector(&config.map_err(engine)?, dim)?;
                (EdgeShard::load(dir, None).map_err(engine)?, false)
            }
            None => (EdgeShard::new(dir, new_config(dim)).map_err(engine)?, true),
        };
        let store = Self { shard, dim, writes: Mutex::new(()) };
        // Also on reopen: a store whose creation stopped halfway, or one older than an index,
        // gets the missing ones.
        store.ensure_indexes()?;
        if created {
            store.flush()?;
        }
        tracing::debug!(dir = %dir.display(), dim, created, "opened embedded store");
        Ok(store)
    }

    fn ensure_indexes(&self) -> Result<()> {
        let existing = self.shard.info().payload_schema;
        for (key, kind) in payload::INDEXED_FIELDS {
            let field_name = path(key);
            if !existing.contains_key(&field_name) {
                let index = CreateIndex { field_name, field_schema: Some(index_schema(kind)) };
                let op = UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(index));
                self.shard.update(op).map_err(engine)?;
            }
        }
        Ok(())
    }

    fn lock_writes(&self) -> MutexGuard<'_, ()> {
        // The guarded value is `()`: a writer that panicked leaves nothing half-updated here.
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update_points(&self, operation: PointOperations) -> Result<()> {
        self.shard.update(UpdateOperation::PointOperation(operation)).map_err(engine)
    }

    /// Every point matching `filter`, paging through the engine's scroll.
    fn scroll_all(&self, filter: Filter, with_payload: bool) -> Result<Vec<Record>> {
        self.scroll_pages(filter, with_payload, false)
    }

    fn scroll_pages(&self, filter: Filter, with_payload: bool, with_vector: bool) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        let mut offset = None;
        loop {
            let request = ScrollRequest {
                offset,
                limit: Some(SCROLL_PAGE),
                filter: Some(filter.clone()),
                with_payload: Some(WithPayloadInterface::Bool(with_payload)),
                with_vector: WithVector::Bool(with_vector),
                order_by: None,
            };
            let (page, next) = self.shard.scroll(request).map_err(engine)?;
            records.extend(page);
            match next {
                Some(next) => offset = Some(next),
                None => return Ok(records),
            }
        }
    }

    /// The distinct values of a keyword field among the points matching `filter`.
    /// The engine's facet counts from the payload index, without reading payloads; its limit
    /// is the number of matching points, which no count of distinct values can exceed.
    fn distinct(&self, key: &str, filter: Option<Filter>) -> Result<Vec<String>> {
        let points =
            self.shard.count(CountRequest { filter: filter.clone(), exact: true }).map_err(engine)?;
        if points == 0 {
            return Ok(Vec::new());
        }
        let request = FacetRequest { key: path(key), limit: points, filter, exact: true };
        let hits = self.shard.facet(request).map_err(engine)?.hits;
        Ok(hits
            .into_iter()
            // Values only deleted points had may be listed at 0.
            .filter(|hit| hit.count > 0)
            .filter_map(|hit| match hit.value {
                FacetValue::Keyword(value) => Some(value),
                _ => None,
            })
            .collect())
    }

    fn count_filter(&self, filter: Filter) -> Result<u64> {
        let count = self.shard.count(CountRequest { filter: Some(filter), exact: true }).map_err(engine)?;
        Ok(count as u64)
    }

    /// Counts then deletes every point matching `filter`; returns the count.
    fn delete_matching(&self, filter: Filter) -> Result<u64> {
        let _writes = self.lock_writes();
        let removed = self.count_filter(filter.clone())?;
        if removed > 0 {
            self.update_points(PointOperations::DeletePointsByFilter(filter))?;
        }
        Ok(removed)
    }
}

impl EvidenceStore for EmbeddedStore {
    fn upsert_document(
        &self,
        key: &DocumentKey,
        account: &AccountId,
        records: &[SegmentRecord],
    ) -> Result<UpsertOutcome> {
        payload::validate_document(key, account, records, self.dim)?;
        let points: Vec<PointStructPersisted> = records.iter().map(to_point).collect();
        let fresh: HashSet<PointId> = points.iter().map(|point| point.id).collect();

        let _writes = self.lock_writes();
        // New points first, stale ones after: a crash in between leaves extra points of the
        // document, never a missing document.
        if !points.is_empty() {
            self.update_points(PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)))?;
        }
        let stale: Vec<PointId> = self
            .scroll_all(document_filter(key), false)?
            .into_iter()
            .map(|record| record.id)
            .filter(|id| !fresh.contains(id))
            .collect();
        let removed = stale.len() as u64;
        if !stale.is_empty() {
            self.update_points(PointOperations::DeletePoints { ids: stale })?;
        }
        Ok(UpsertOutcome { written: fresh.len() as u64, removed })
    }

    fn document_hash(&self, key: &DocumentKey) -> Result<Option<String>> {
        let request = ScrollRequest {
            offset: None,
            limit: Some(1),
            filter: Some(document_filter(key)),
            with_payload: Some(WithPayloadInterface::Fields(vec![path(field::DOCUMENT_HASH)])),
            with_vector: WithVector::Bool(false),
            order_by: None,
        };
        let (records, _) = self.shard.scroll(request).map_err(engine)?;
        records.first().map(|record| payload::document_hash(payload_of(record.payload.as_ref())?)).transpose()
    }

    fn search(&self, query: &SearchQuery) -> Result<Vec<StoredSegment>> {
        payload::check_dim(self.dim, query.vector.len())?;
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let nearest = QueryEnum::Nearest(NamedQuery::default_dense(query.vector.clone()));
        let request = QueryRequest {
            prefetches: Vec::new(),
            query: Some(ScoringQuery::Vector(nearest)),
            filter: Some(to_filter(&query.filter)),
            score_threshold: None,
            limit: query.limit,
            offset: 0,
            params: None,
            with_vector: WithVector::Bool(false),
            with_payload: WithPayloadInterface::Bool(true),
        };
        // `min_score` is applied here, not as the engine's `score_threshold`: the engine drops
        // scores equal to the threshold, the contract keeps them.
        let points = self.shard.query(request).map_err(engine)?;
        points
            .into_iter()
            .filter(|point| query.min_score.is_none_or(|min| point.score >= min))
            .map(|point| payload::from_payload(payload_of(point.payload.as_ref())?, point.score))
            .collect()
    }

    fn scroll(&self, filter: &SegmentFilter) -> Result<Vec<StoredSegment>> {
        let mut segments = self
            .scroll_all(to_filter(filter), true)?
            .into_iter()
            .map(|record| payload::from_payload(payload_of(record.payload.as_ref())?, 0.0))
            .collect::<Result<Vec<_>>>()?;
        payload::sort_for_scroll(&mut segments, |s| (&s.document, s.segment.index));
        Ok(segments)
    }

    fn scroll_records(&self, filter: &SegmentFilter) -> Result<Vec<SegmentRecord>> {
        let mut records = self
            .scroll_pages(to_filter(filter), true, true)?
            .into_iter()
            .map(|mut record| {
                let embedding = match VectorStructInternal::take_opt(&mut record.vector, DEFAULT_VECTOR_NAME)
                {
                    Some(VectorInternal::Dense(vector)) => vector,
                    _ => return Err(StoreError::Corrupt("point without its dense vector".into())),
                };
                payload::record_from_payload(payload_of(record.payload.as_ref())?, embedding)
            })
            .collect::<Result<Vec<_>>>()?;
        payload::sort_for_scroll(&mut records, |r| (&r.document, r.segment.index));
        Ok(records)
    }

    fn count(&self, filter: &SegmentFilter) -> Result<u64> {
        self.count_filter(to_filter(filter))
    }

    fn tenants(&self) -> Result<Vec<TenantId>> {
        payload::sorted_ids(field::TENANT, self.distinct(field::TENANT, None)?, TenantId::new)
    }

    fn accounts(&self, tenant: &TenantId) -> Result<Vec<AccountId>> {
        let of_tenant = to_filter(&SegmentFilter::tenant(tenant.clone()));
        payload::sorted_ids(field::ACCOUNT, self.distinct(field::ACCOUNT, Some(of_tenant))?, AccountId::new)
    }

    fn delete_document(&self, key: &DocumentKey) -> Result<u64> {
        self.delete_matching(document_filter(key))
    }

    fn delete_account(&self, tenant: &TenantId, account: &AccountId) -> Result<u64> {
        self.delete_matching(to_filter(&SegmentFilter::account(tenant.clone(), account.clone())))
    }

    fn flush(&self) -> Result<()> {
        // The engine's flush panics on an I/O failure or a contended WAL lock; writers are
        // serialized here so the lock is free, and an I/O panic becomes an error.
        let _writes = self.lock_writes();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.shard.flush()))
            .map_err(|_| StoreError::Engine("flushing the store to disk failed".into()))
    }
}

fn engine(err: OperationError) -> StoreError {
    StoreError::Engine(err.to_string())
}

fn new_config(dim: usize) -> EdgeConfig {
    let vector = EdgeVectorParams::builder(dim, Distance::Cosine).build();
    EdgeConfig::builder().vector(DEFAULT_VECTOR_NAME, vector).build()
}

/// The persisted shard must hold one cosine vector of `dim` under the default name.
fn check_vector(config: &EdgeConfig, dim: usize) -> Result<()> {
    let Some(params) = config.vectors.get(DEFAULT_VECTOR_NAME) else {
        return Err(StoreError::Config("the store on disk has no unnamed dense vector".into()));
    };
    if params.distance != Distance::Cosine {
        let distance = params.distance;
        return Err(StoreError::Config(format!("the store on disk uses {distance:?} distance, not cosine")));
    }
    if params.size != dim {
        return Err(StoreError::DimensionMismatch { expected: params.size, got: dim });
    }
    Ok(())
}

/// The engine's schema of one indexed field (see [`payload::INDEXED_FIELDS`]).
fn index_schema(kind: IndexKind) -> PayloadFieldSchema {
    match kind {
        IndexKind::Tenant => {
            let tenant = KeywordIndexParams { is_tenant: Some(true), ..Default::default() };
            PayloadFieldSchema::FieldParams(PayloadSchemaParams::Keyword(tenant))
        }
        IndexKind::Keyword => PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword),
        IndexKind::Integer => PayloadFieldSchema::FieldType(PayloadSchemaType::Integer),
    }
}

fn to_point(record: &SegmentRecord) -> PointStructPersisted {
    PointStructPersisted {
        id: PointId::Uuid(point_id(&record.document, record.segment.index)),
        vector: VectorStructPersisted::from(record.embedding.clone()),
        payload: Some(Payload(payload::to_payload(record))),
    }
}

fn payload_of(payload: Option<&Payload>) -> Result<&serde_json::Map<String, serde_json::Value>> {
    payload.map(|payload| &payload.0).ok_or_else(|| StoreError::Corrupt("point without payload".into()))
}

/// A top-level payload key (ours never need quoting or nesting).
fn path(key: &str) -> JsonPath {
    JsonPath { first_key: key.to_owned(), rest: Vec::new() }
}

/// Every point of one document, within its tenant.
fn document_filter(key: &DocumentKey) -> Filter {
    engine_filter(filter::document_conditions(key))
}

/// The engine filter of a `SegmentFilter`.
fn to_filter(filter: &SegmentFilter) -> Filter {
    engine_filter(filter::conditions(filter))
}

fn engine_filter(conditions: Vec<filter::Condition>) -> Filter {
    Filter {
        should: None,
        min_should: None,
        must: Some(conditions.into_iter().map(condition).collect()),
        must_not: None,
    }
}

fn condition(condition: filter::Condition) -> Condition {
    let field = match condition {
        filter::Condition::Keyword(key, value) => FieldCondition::new_match(path(key), Match::from(value)),
        filter::Condition::AnyOf(key, values) => FieldCondition::new_match(path(key), Match::from(values)),
        filter::Condition::Range(key, from_ms, to_ms) => {
            FieldCondition::new_range(path(key), time_range(from_ms, to_ms))
        }
    };
    Condition::Field(field)
}

/// `from <= timestamp_ms < to`. Ranges are f64 in the engine: exact for any ms timestamp
/// within ±2^53 (far beyond any real date).
fn time_range(from_ms: Option<i64>, to_ms: Option<i64>) -> Range<OrderedFloat<f64>> {
    let bound = |ms: i64| OrderedFloat(ms as f64);
    Range { gte: from_ms.map(bound), lt: to_ms.map(bound), gt: None, lte: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_every_payload_index_and_keeps_them_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            let store = EmbeddedStore::open(dir.path(), 3).unwrap();
            let schema = store.shard.info().payload_schema;
            assert_eq!(schema.len(), payload::INDEXED_FIELDS.len());
            for (key, kind) in payload::INDEXED_FIELDS {
                let expected = if kind == IndexKind::Integer {
                    PayloadSchemaType::Integer
                } else {
                    PayloadSchemaType::Keyword
                };
                assert_eq!(schema.get(&path(key)).map(|info| info.data_type), Some(expected), "{key}");
            }
        }
    }
}
