//! The server backend: a Qdrant server or cluster through `qdrant-client` (gRPC).
//!
//! It stores exactly the embedded store's layout (payload from [`crate::payload`], point
//! ids from `undertone_core::point_id`), so data migrates 1:1 in either direction. The trait
//! is blocking while the client is async: the client runs on a small runtime this store
//! owns, so callers (the engine's blocking threads, the migrate command) never block the
//! server's own runtime. Writes wait for the server (`wait = true`): an `Ok` means the
//! points are applied. Transient failures are retried with exponential backoff, then
//! reported as [`StoreError::Unavailable`].

mod config;
mod convert;
mod retry;

use std::collections::HashSet;
use std::future::Future;

use qdrant_client::qdrant::facet_value::Variant;
use qdrant_client::qdrant::{
    CountPointsBuilder, CreateCollectionBuilder, DeletePointsBuilder, Distance, FacetCountsBuilder, Filter,
    PayloadIncludeSelector, PointId, PointStruct, QuantizationSearchParamsBuilder, Query, QueryPointsBuilder,
    RetrievedPoint, ScalarQuantizationBuilder, ScrollPointsBuilder, SearchParams, SearchParamsBuilder,
    UpsertPointsBuilder, VectorParamsBuilder,
};
use qdrant_client::{Qdrant, QdrantError};
use tokio::runtime::Runtime;
use undertone_core::{AccountId, DocumentKey, SegmentRecord, StoredSegment, TenantId};
use uuid::Uuid;

pub use self::config::{QdrantConfig, Quantization};
use self::retry::Retry;
use crate::payload::{self, field};
use crate::{EvidenceStore, Result, SearchQuery, SegmentFilter, StoreError, UpsertOutcome};

/// Points per upsert request: large documents go in several confirmed batches.
const UPSERT_BATCH: usize = 256;
/// Points read per scroll request.
const SCROLL_PAGE: u32 = 1024;
/// Candidates searched on the int8 copy per result wanted, before rescoring.
const OVERSAMPLING: f64 = 2.0;

/// The store on one collection of a Qdrant server or cluster.
pub struct QdrantStore {
    client: Qdrant,
    /// `None` only while dropping: the runtime is shut down without blocking, so the store
    /// may be dropped anywhere, even inside another runtime.
    runtime: Option<Runtime>,
    collection: String,
    dim: usize,
    retry: Retry,
    /// Search parameters of an int8-quantized collection (rescore with the originals).
    search_params: Option<SearchParams>,
    /// The server's version, from the health check.
    version: String,
}

impl std::fmt::Debug for QdrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantStore")
            .field("url", &self.client.config.uri)
            .field("collection", &self.collection)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl Drop for QdrantStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl QdrantStore {
    /// Connects to the server, checks it answers, then creates the collection for
    /// `dim`-dimensional cosine vectors with every payload index (before any data, as
    /// Qdrant advises), or checks the existing one and adds the indexes it lacks. Errors say
    /// what is wrong: server unreachable (`Unavailable`), refused key, or a collection of
    /// another vector size or distance (`Config`). Call it, like every method, from a plain
    /// or blocking thread, not from async code.
    pub fn open(config: &QdrantConfig, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(StoreError::Config("vector dimension must be positive".into()));
        }
        config.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("qdrant-client")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Engine(format!("starting the Qdrant client runtime: {e}")))?;
        let client = Qdrant::from_url(&config.url)
            .api_key(config.api_key.clone())
            .timeout(config.timeout())
            .connect_timeout(config.connect_timeout())
            .skip_compatibility_check()
            .build()
            .map_err(|e| StoreError::Config(format!("qdrant.url {:?}: {e}", config.url)))?;
        let search_params = (config.quantization == Quantization::Int8).then(|| {
            let rescore = QuantizationSearchParamsBuilder::default().rescore(true).oversampling(OVERSAMPLING);
            SearchParamsBuilder::default().quantization(rescore).build()
        });
        let mut store = Self {
            client,
            runtime: Some(runtime),
            collection: config.collection.clone(),
            dim,
            retry: Retry::new(config),
            search_params,
            version: String::new(),
        };
        store.version = store.health_check()?;
        store.ensure_collection(config)?;
        tracing::info!(url = %config.url, collection = %config.collection, version = %store.version, "opened Qdrant store");
        Ok(store)
    }

    /// The server's version, as its health check reported it.
    pub fn server_version(&self) -> &str {
        &self.version
    }

    /// The collection this store reads and writes.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Deletes the whole collection and every point in it (tests and tooling).
    pub fn drop_collection(self) -> Result<()> {
        let name = self.collection.clone();
        self.call("deleting the collection", || self.client.delete_collection(name.clone())).map(drop)
    }

    /// Runs one client call to completion on the store's runtime, with retries.
    fn call<T, Fut>(&self, what: &str, op: impl Fn() -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T, QdrantError>>,
    {
        let runtime =
            self.runtime.as_ref().ok_or_else(|| StoreError::Unavailable("the store is closing".into()))?;
        let what = format!("{what} ({} at {})", self.collection, self.client.config.uri);
        runtime.block_on(self.retry.run(&what, op))
    }

    fn health_check(&self) -> Result<String> {
        let reply = self.call("reaching the Qdrant server (its gRPC port, usually 6334)", || {
            self.client.health_check()
        })?;
        Ok(reply.version)
    }

    fn ensure_collection(&self, config: &QdrantConfig) -> Result<()> {
        let name = &self.collection;
        let exists = self.call("looking up the collection", || self.client.collection_exists(name))?;
        if !exists
            && let Err(err) = self.create_collection(config)
            // Another instance may have created it meanwhile: then check that one instead.
            && !self.call("looking up the collection", || self.client.collection_exists(name))?
        {
            return Err(err);
        }
        let info = self
            .call("reading the collection's schema", || self.client.collection_info(name))?
            .result
            .ok_or_else(|| {
                StoreError::Engine(format!("collection {name}: the server returned no information"))
            })?;
        convert::check_vectors(name, &info, self.dim)?;
        for (key, kind) in convert::missing_indexes(name, &info.payload_schema)? {
            let request = convert::create_index(name, key, kind);
            self.call("creating a payload index", || self.client.create_field_index(request.clone()))?;
        }
        Ok(())
    }

    fn create_collection(&self, config: &QdrantConfig) -> Result<()> {
        let vectors =
            VectorParamsBuilder::new(self.dim as u64, Distance::Cosine).on_disk(config.on_disk_vectors);
        let mut request = CreateCollectionBuilder::new(&self.collection)
            .vectors_config(vectors)
            .shard_number(config.shards)
            .replication_factor(config.replication_factor)
            .write_consistency_factor(config.write_consistency_factor);
        if config.quantization == Quantization::Int8 {
            request = request.quantization_config(ScalarQuantizationBuilder::default().always_ram(true));
        }
        let request = request.build();
        self.call("creating the collection", || self.client.create_collection(request.clone()))?;
        tracing::info!(collection = %self.collection, dim = self.dim, shards = config.shards, "created Qdrant collection");
        Ok(())
    }

    /// Every point matching `filter`, page by page; payload and vector as asked.
    fn scroll_points(
        &self,
        filter: &Filter,
        with_payload: bool,
        with_vectors: bool,
    ) -> Result<Vec<RetrievedPoint>> {
        let mut points = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .filter(filter.clone())
                .limit(SCROLL_PAGE)
                .with_payload(with_payload)
                .with_vectors(with_vectors);
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let request = request.build();
            let page = self.call("scrolling points", || self.client.scroll(request.clone()))?;
            points.extend(page.result);
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(points),
            }
        }
    }

    fn count_filter(&self, filter: Filter) -> Result<u64> {
        let request = CountPointsBuilder::new(&self.collection).filter(filter).exact(true).build();
        let response = self.call("counting points", || self.client.count(request.clone()))?;
        Ok(response.result.map_or(0, |result| result.count))
    }

    /// Writes points in confirmed batches.
    fn upsert_points(&self, points: Vec<PointStruct>) -> Result<()> {
        for batch in points.chunks(UPSERT_BATCH) {
            let request = UpsertPointsBuilder::new(&self.collection, batch.to_vec()).wait(true).build();
            self.call("writing points", || self.client.upsert_points(request.clone()))?;
        }
        Ok(())
    }

    fn delete_ids(&self, ids: Vec<Uuid>) -> Result<()> {
        let ids: Vec<PointId> = ids.into_iter().map(|id| PointId::from(id.to_string())).collect();
        let request = DeletePointsBuilder::new(&self.collection).points(ids).wait(true).build();
        self.call("deleting points", || self.client.delete_points(request.clone())).map(drop)
    }

    /// Counts then deletes every point matching `filter`; returns the count.
    fn delete_matching(&self, filter: Filter) -> Result<u64> {
        let removed = self.count_filter(filter.clone())?;
        if removed > 0 {
            let request = DeletePointsBuilder::new(&self.collection).points(filter).wait(true).build();
            self.call("deleting points", || self.client.delete_points(request.clone()))?;
        }
        Ok(removed)
    }

    /// The distinct values of a keyword field among the points matching `filter`, from the
    /// server's facet counts on the payload index (no payload is read). The limit is the
    /// number of matching points, which no count of distinct values can exceed.
    fn distinct(&self, key: &str, filter: Option<Filter>) -> Result<Vec<String>> {
        let points = self.count_filter(filter.clone().unwrap_or_default())?;
        if points == 0 {
            return Ok(Vec::new());
        }
        let mut request = FacetCountsBuilder::new(&self.collection, key).limit(points).exact(true);
        if let Some(filter) = filter {
            request = request.filter(filter);
        }
        let request = request.build();
        let response = self.call("listing distinct values", || self.client.facet(request.clone()))?;
        Ok(response
            .hits
            .into_iter()
            // Exact counts list every value the index has seen, deleted points' too, at 0.
            .filter(|hit| hit.count > 0)
            .filter_map(|hit| match hit.value?.variant? {
                Variant::StringValue(value) => Some(value),
                _ => None,
            })
            .collect())
    }
}

impl EvidenceStore for QdrantStore {
    fn upsert_document(
        &self,
        key: &DocumentKey,
        account: &AccountId,
        records: &[SegmentRecord],
    ) -> Result<UpsertOutcome> {
        payload::validate_document(key, account, records, self.dim)?;
        let points: Vec<PointStruct> = records.iter().map(convert::point).collect();
        let fresh: HashSet<Uuid> =
            points.iter().filter_map(|point| convert::uuid(point.id.as_ref())).collect();
        // New points first, stale ones after: a failure in between leaves extra points of
        // the document, never a missing document.
        self.upsert_points(points)?;
        let stale: Vec<Uuid> = self
            .scroll_points(&convert::document_filter(key), false, false)?
            .iter()
            .filter_map(|point| convert::uuid(point.id.as_ref()))
            .filter(|id| !fresh.contains(id))
            .collect();
        let removed = stale.len() as u64;
        if !stale.is_empty() {
            self.delete_ids(stale)?;
        }
        Ok(UpsertOutcome { written: fresh.len() as u64, removed })
    }

    fn document_hash(&self, key: &DocumentKey) -> Result<Option<String>> {
        let only_hash = PayloadIncludeSelector { fields: vec![field::DOCUMENT_HASH.to_owned()] };
        let request = ScrollPointsBuilder::new(&self.collection)
            .filter(convert::document_filter(key))
            .limit(1)
            .with_payload(only_hash)
            .build();
        let page = self.call("reading a document hash", || self.client.scroll(request.clone()))?;
        page.result
            .into_iter()
            .next()
            .map(|point| payload::document_hash(&convert::json(point.payload)))
            .transpose()
    }

    fn search(&self, query: &SearchQuery) -> Result<Vec<StoredSegment>> {
        payload::check_dim(self.dim, query.vector.len())?;
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut request = QueryPointsBuilder::new(&self.collection)
            .query(Query::new_nearest(query.vector.clone()))
            .filter(convert::segment_filter(&query.filter))
            .limit(query.limit as u64)
            .with_payload(true);
        if let Some(params) = &self.search_params {
            request = request.params(params.clone());
        }
        let request = request.build();
        let points = self.call("searching", || self.client.query(request.clone()))?.result;
        // `min_score` is applied here, as in the embedded store: the engine's threshold drops
        // scores equal to it, the contract keeps them.
        points
            .into_iter()
            .filter(|point| query.min_score.is_none_or(|min| point.score >= min))
            .map(|point| payload::from_payload(&convert::json(point.payload), point.score))
            .collect()
    }

    fn scroll(&self, filter: &SegmentFilter) -> Result<Vec<StoredSegment>> {
        let filter = convert::segment_filter(filter);
        let mut segments = self
            .scroll_points(&filter, true, false)?
            .into_iter()
            .map(|point| payload::from_payload(&convert::json(point.payload), 0.0))
            .collect::<Result<Vec<_>>>()?;
        payload::sort_for_scroll(&mut segments, |s| (&s.document, s.segment.index));
        Ok(segments)
    }

    fn scroll_records(&self, filter: &SegmentFilter) -> Result<Vec<SegmentRecord>> {
        let filter = convert::segment_filter(filter);
        let mut records = self
            .scroll_points(&filter, true, true)?
            .into_iter()
            .map(|point| {
                payload::record_from_payload(&convert::json(point.payload), convert::dense(point.vectors)?)
            })
            .collect::<Result<Vec<_>>>()?;
        payload::sort_for_scroll(&mut records, |r| (&r.document, r.segment.index));
        Ok(records)
    }

    fn count(&self, filter: &SegmentFilter) -> Result<u64> {
        self.count_filter(convert::segment_filter(filter))
    }

    fn tenants(&self) -> Result<Vec<TenantId>> {
        payload::sorted_ids(field::TENANT, self.distinct(field::TENANT, None)?, TenantId::new)
    }

    fn accounts(&self, tenant: &TenantId) -> Result<Vec<AccountId>> {
        let of_tenant = convert::segment_filter(&SegmentFilter::tenant(tenant.clone()));
        payload::sorted_ids(field::ACCOUNT, self.distinct(field::ACCOUNT, Some(of_tenant))?, AccountId::new)
    }

    fn delete_document(&self, key: &DocumentKey) -> Result<u64> {
        self.delete_matching(convert::document_filter(key))
    }

    fn delete_account(&self, tenant: &TenantId, account: &AccountId) -> Result<u64> {
        self.delete_matching(convert::segment_filter(&SegmentFilter::account(
            tenant.clone(),
            account.clone(),
        )))
    }

    /// Nothing to do: every write was confirmed by the server before it returned.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
