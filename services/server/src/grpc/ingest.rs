//! IngestService: documents in. Plain messages, tickets, deletes and bulk ingest of both
//! work today; the email and transcript parsers land with the ingest issue.

use std::sync::Arc;

use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use undertone_api::v1::ingest_service_server::IngestService;
use undertone_api::v1::{
    self, Account, BulkIngestFailure, BulkIngestRequest, BulkIngestSummary, DeleteAccountRequest,
    DeleteDocumentRequest, DeleteResponse, IngestEmailRequest, IngestMessageRequest, IngestResponse,
    IngestTicketRequest, IngestTranscriptRequest, UpsertAccountRequest, bulk_ingest_request,
};
use undertone_api::{role_from_proto, source_kind_from_proto, source_kind_to_proto, timestamp_to_ms};
use undertone_core::{DocumentKey, SourceKind, TenantId};
use undertone_ingest::{
    Person, PlainMessage, Ticket, TicketComment, parse_ticket_json, segment_message, segment_ticket,
};

use super::{insert_timing, timing_to_proto};
use crate::engine::{Engine, IngestOutcome, IngestStatus, ParsedDocument, fingerprint};
use crate::error::ServiceError;
use crate::tenant::{account_id, id_error, tenant_of};

pub struct IngestApi {
    engine: Arc<Engine>,
}

impl IngestApi {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    async fn ingest_message(
        &self,
        tenant: TenantId,
        request: IngestMessageRequest,
    ) -> Result<IngestResponse, ServiceError> {
        let account = account_id("account_id", &request.account_id)?;
        let key = DocumentKey::new(tenant, SourceKind::Message, &request.external_id)
            .map_err(|e| id_error("external_id", e))?;
        if request.text.trim().is_empty() {
            return Err(ServiceError::invalid("text", "must not be empty"));
        }
        let role =
            role_from_proto(request.role).ok_or_else(|| ServiceError::invalid("role", "unknown value"))?;
        let message = PlainMessage {
            text: request.text,
            speaker: Some(request.speaker).filter(|s| !s.trim().is_empty()),
            role,
            sent_at_ms: request.sent_at.as_ref().map(timestamp_to_ms),
        };
        let segments = segment_message(&message, self.engine.limits().max_text_bytes)?;
        let sent_at = message.sent_at_ms.unwrap_or(i64::MIN).to_le_bytes();
        let content_hash = fingerprint(&[
            account.as_str().as_bytes(),
            message.text.as_bytes(),
            message.speaker.as_deref().unwrap_or("").as_bytes(),
            role.as_str().as_bytes(),
            &sent_at,
        ]);
        self.store(ParsedDocument { key, account, content_hash, segments }).await
    }

    async fn ingest_ticket(
        &self,
        tenant: TenantId,
        request: IngestTicketRequest,
    ) -> Result<IngestResponse, ServiceError> {
        let account = account_id("account_id", &request.account_id)?;
        let ticket = match request.ticket_source {
            Some(v1::ingest_ticket_request::TicketSource::Ticket(ticket)) => ticket_from_proto(ticket),
            Some(v1::ingest_ticket_request::TicketSource::TicketJson(bytes)) => parse_ticket_json(&bytes)?,
            None => return Err(ServiceError::invalid("ticket_source", "set ticket or ticket_json")),
        };
        let key = DocumentKey::new(tenant, SourceKind::Ticket, &ticket.ticket_id)
            .map_err(|e| id_error("ticket_id", e))?;
        let segments = segment_ticket(&ticket, self.engine.limits().max_text_bytes)?;
        let canonical = serde_json::to_vec(&ticket).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let content_hash = fingerprint(&[account.as_str().as_bytes(), &canonical]);
        self.store(ParsedDocument { key, account, content_hash, segments }).await
    }

    /// Analyzes and stores a parsed document of any format, and says what happened.
    async fn store(&self, doc: ParsedDocument) -> Result<IngestResponse, ServiceError> {
        let (key, account) = (doc.key.clone(), doc.account.clone());
        let outcome = self.engine.ingest(doc).await?;
        Ok(ingest_response(&key, &account, &outcome))
    }

    async fn bulk_one(
        &self,
        tenant: TenantId,
        request: BulkIngestRequest,
    ) -> Result<IngestResponse, ServiceError> {
        match request.document {
            Some(bulk_ingest_request::Document::Message(message)) => {
                self.ingest_message(tenant, message).await
            }
            Some(bulk_ingest_request::Document::Ticket(ticket)) => self.ingest_ticket(tenant, ticket).await,
            Some(_) => Err(ServiceError::Unimplemented("bulk ingest of emails and transcripts")),
            None => Err(ServiceError::invalid("document", "must be set")),
        }
    }
}

fn ingest_response(
    key: &DocumentKey,
    account: &undertone_core::AccountId,
    outcome: &IngestOutcome,
) -> IngestResponse {
    let status = match outcome.status {
        IngestStatus::Created => v1::IngestStatus::Created,
        IngestStatus::Replaced => v1::IngestStatus::Replaced,
        IngestStatus::Unchanged => v1::IngestStatus::Unchanged,
    };
    IngestResponse {
        account_id: account.to_string(),
        external_id: key.external_id.clone(),
        source_kind: source_kind_to_proto(key.source_kind) as i32,
        status: status as i32,
        segments_stored: outcome.stored as u32,
        segments_removed: outcome.removed as u32,
        timing: Some(timing_to_proto(&outcome.timing)),
    }
}

fn with_timing(response: IngestResponse) -> Response<IngestResponse> {
    let timing = response.timing.unwrap_or_default();
    let mut response = Response::new(response);
    insert_timing(response.metadata_mut(), &timing);
    response
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn ingest_message(
        &self,
        request: Request<IngestMessageRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let tenant = tenant_of(&request)?;
        Ok(with_timing(IngestApi::ingest_message(self, tenant, request.into_inner()).await?))
    }

    async fn ingest_email(
        &self,
        request: Request<IngestEmailRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        tenant_of(&request)?;
        Err(ServiceError::Unimplemented("IngestEmail").into())
    }

    async fn ingest_ticket(
        &self,
        request: Request<IngestTicketRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let tenant = tenant_of(&request)?;
        Ok(with_timing(IngestApi::ingest_ticket(self, tenant, request.into_inner()).await?))
    }

    async fn ingest_transcript(
        &self,
        request: Request<IngestTranscriptRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        tenant_of(&request)?;
        Err(ServiceError::Unimplemented("IngestTranscript").into())
    }

    async fn bulk_ingest(
        &self,
        request: Request<Streaming<BulkIngestRequest>>,
    ) -> Result<Response<BulkIngestSummary>, Status> {
        let tenant = tenant_of(&request)?;
        let mut inbound = request.into_inner();
        let mut summary = BulkIngestSummary::default();
        let mut index = 0u32;
        while let Some(message) = inbound.next().await {
            let message = message?;
            let external_id = bulk_external_id(&message);
            match self.bulk_one(tenant.clone(), message).await {
                Ok(response) => {
                    summary.segments_stored += response.segments_stored;
                    match v1::IngestStatus::try_from(response.status) {
                        Ok(v1::IngestStatus::Replaced) => summary.replaced += 1,
                        Ok(v1::IngestStatus::Unchanged) => summary.unchanged += 1,
                        _ => summary.created += 1,
                    }
                }
                Err(err) => {
                    summary.failed += 1;
                    let code = err.code_name().to_owned();
                    summary.failures.push(BulkIngestFailure {
                        index,
                        external_id,
                        code,
                        reason: err.to_string(),
                    });
                }
            }
            index += 1;
        }
        Ok(Response::new(summary))
    }

    async fn delete_document(
        &self,
        request: Request<DeleteDocumentRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let request = request.into_inner();
        let kind = source_kind_from_proto(request.source_kind)
            .ok_or_else(|| ServiceError::invalid("source_kind", "must be set"))?;
        let key =
            DocumentKey::new(tenant, kind, &request.external_id).map_err(|e| id_error("external_id", e))?;
        let segments_deleted = self.engine.delete_document(key).await?;
        Ok(Response::new(DeleteResponse { segments_deleted }))
    }

    async fn delete_account(
        &self,
        request: Request<DeleteAccountRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let account = account_id("account_id", &request.get_ref().account_id)?;
        let segments_deleted = self.engine.delete_account(tenant, account).await?;
        Ok(Response::new(DeleteResponse { segments_deleted }))
    }

    async fn upsert_account(
        &self,
        request: Request<UpsertAccountRequest>,
    ) -> Result<Response<Account>, Status> {
        tenant_of(&request)?;
        Err(ServiceError::Unimplemented("UpsertAccount").into())
    }
}

fn bulk_external_id(request: &BulkIngestRequest) -> String {
    match &request.document {
        Some(bulk_ingest_request::Document::Message(m)) => m.external_id.clone(),
        Some(bulk_ingest_request::Document::Email(e)) => e.external_id.clone(),
        Some(bulk_ingest_request::Document::Transcript(t)) => t.external_id.clone(),
        Some(bulk_ingest_request::Document::Ticket(t)) => match &t.ticket_source {
            Some(v1::ingest_ticket_request::TicketSource::Ticket(ticket)) => ticket.ticket_id.clone(),
            _ => String::new(),
        },
        None => String::new(),
    }
}

/// A structured ticket from the API, in the shape the export parser produces.
fn ticket_from_proto(ticket: v1::Ticket) -> Ticket {
    let rfc3339 = |t: Option<prost_types::Timestamp>| {
        t.and_then(|t| chrono::DateTime::from_timestamp_millis(timestamp_to_ms(&t))).map(|t| t.to_rfc3339())
    };
    let person = |name: String| Person { name, email: String::new() };
    Ticket {
        ticket_id: ticket.ticket_id,
        subject: ticket.subject,
        status: ticket.status,
        priority: ticket.priority,
        created_at: rfc3339(ticket.created_at),
        requester: person(String::new()),
        tags: ticket.tags,
        comments: ticket
            .comments
            .into_iter()
            .map(|c| TicketComment {
                id: c.id,
                author: person(c.author),
                author_role: match role_from_proto(c.author_role) {
                    Some(undertone_core::SpeakerRole::Customer) => "customer".into(),
                    Some(undertone_core::SpeakerRole::Internal) => "agent".into(),
                    _ => String::new(),
                },
                public: c.public,
                created_at: rfc3339(c.created_at),
                body: c.body,
            })
            .collect(),
    }
}
