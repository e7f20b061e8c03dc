//! IngestService: documents in. Plain messages, raw emails, tickets and call transcripts
//! (alone or on the bulk stream), deletes, and account metadata.
//!
//! Every format ends in the same step: parse and clean (undertone-ingest), redact and
//! segment, fingerprint the segments (so an identical result is UNCHANGED whatever
//! changed around it), then analyze and store through the engine.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use undertone_api::v1::ingest_service_server::IngestService;
use undertone_api::v1::{
    self, Account, BulkIngestFailure, BulkIngestRequest, BulkIngestSummary, DeleteAccountRequest,
    DeleteDocumentRequest, DeleteResponse, IngestEmailRequest, IngestMessageRequest, IngestResponse,
    IngestTicketRequest, IngestTranscriptRequest, UpsertAccountRequest, bulk_ingest_request,
};
use undertone_api::{
    role_from_proto, source_kind_from_proto, source_kind_to_proto, timestamp_from_ms, timestamp_to_ms,
};
use undertone_core::{AccountId, DocumentKey, Segment, SourceKind, SpeakerRole, TenantId};
use undertone_ingest::{
    EmailLimits, Person, PlainMessage, Ticket, TicketComment, TranscriptFormat, drop_repeated, normalized,
    parse_email, parse_ticket_json, parse_transcript, segment_email, segment_message, segment_ticket,
    segment_transcript,
};
use undertone_store::SegmentFilter;

use super::{insert_timing, timing_to_proto};
use crate::accounts::{AccountRecord, normalize_domain};
use crate::auth::{Role, authorize};
use crate::engine::{Engine, IngestOutcome, IngestStatus, ParsedDocument, fingerprint};
use crate::error::ServiceError;
use crate::tenant::{account_id, id_error};

/// Latest instant a caller's timestamp may name (9999-12-31T23:59:59Z).
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

pub struct IngestApi {
    engine: Arc<Engine>,
}

/// The fingerprint of what would be stored: identical segments for the same account
/// are UNCHANGED, whatever the raw bytes or the configuration looked like.
fn content_hash(account: &AccountId, kind: SourceKind, segments: &[Segment]) -> Result<String, ServiceError> {
    let canonical = serde_json::to_vec(segments).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(fingerprint(&[account.as_str().as_bytes(), kind.as_str().as_bytes(), &canonical]))
}

/// A caller's timestamp in milliseconds, refused when out of range.
fn checked_ms(field: &str, ts: &prost_types::Timestamp) -> Result<i64, ServiceError> {
    if !(0..=MAX_TIMESTAMP_SECONDS).contains(&ts.seconds) || !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(ServiceError::invalid(field, "is out of range (1970 to 9999, nanos below 1e9)"));
    }
    Ok(timestamp_to_ms(ts))
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
        let sent_at_ms = request.sent_at.as_ref().map(|t| checked_ms("sent_at", t)).transpose()?;
        let message = PlainMessage {
            text: request.text,
            speaker: Some(request.speaker).filter(|s| !s.trim().is_empty()),
            role,
            sent_at_ms,
        };
        let segments = segment_message(&message, &self.engine.ingest_settings().text)?;
        self.store(key, account, segments).await
    }

    async fn ingest_email(
        &self,
        tenant: TenantId,
        request: IngestEmailRequest,
    ) -> Result<IngestResponse, ServiceError> {
        let account = account_id("account_id", &request.account_id)?;
        let settings = self.engine.ingest_settings();
        let limits = EmailLimits {
            max_email_bytes: settings.max_email_bytes,
            max_text_bytes: settings.text.max_text_bytes,
        };
        let email = parse_email(&request.raw_message, &limits)?;
        let external_id = match (request.external_id.trim(), email.message_id.as_deref()) {
            ("", Some(message_id)) => message_id.to_owned(),
            ("", None) => {
                return Err(ServiceError::invalid(
                    "external_id",
                    "must be set when the message has no Message-ID",
                ));
            }
            (given, _) => given.to_owned(),
        };
        let key = DocumentKey::new(tenant.clone(), SourceKind::Email, &external_id)
            .map_err(|e| id_error("external_id", e))?;
        let domains = self.account_domains(&tenant, &account);
        let role =
            settings.roles.sender_role(email.from_address.as_deref(), email.from_name.as_deref(), &domains);
        let segments = segment_email(&email, role, &external_id, &settings.text)?;
        // A sentence is stored once, at its first appearance in the thread.
        let earlier = self.thread_sentences(&tenant, &account, &key, &email.ancestors()).await?;
        let segments = drop_repeated(segments, &earlier);
        if segments.is_empty() {
            return Err(ServiceError::invalid(
                "raw_message.body",
                "has nothing new: every sentence already appears earlier in its thread",
            ));
        }
        self.store(key, account, segments).await
    }

    /// The account's registered email domains (none when it is not registered).
    fn account_domains(&self, tenant: &TenantId, account: &AccountId) -> Vec<String> {
        self.engine.account_registry().get(tenant, account).map(|a| a.domains).unwrap_or_default()
    }

    /// Normalized texts already stored for the account's messages named in `ancestors`.
    async fn thread_sentences(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        key: &DocumentKey,
        ancestors: &[&str],
    ) -> Result<HashSet<String>, ServiceError> {
        if ancestors.is_empty() {
            return Ok(HashSet::new());
        }
        let filter = SegmentFilter {
            source_kinds: vec![SourceKind::Email],
            ..SegmentFilter::account(tenant.clone(), account.clone())
        };
        let stored = self.engine.scroll(filter).await?;
        Ok(stored
            .iter()
            .filter(|s| {
                s.document.external_id != key.external_id && ancestors.contains(&s.segment.part.as_str())
            })
            .map(|s| normalized(&s.segment.text))
            .collect())
    }

    async fn ingest_ticket(
        &self,
        tenant: TenantId,
        request: IngestTicketRequest,
    ) -> Result<IngestResponse, ServiceError> {
        let account = account_id("account_id", &request.account_id)?;
        let ticket = match request.ticket_source {
            Some(v1::ingest_ticket_request::TicketSource::Ticket(ticket)) => ticket_from_proto(ticket)?,
            Some(v1::ingest_ticket_request::TicketSource::TicketJson(bytes)) => parse_ticket_json(&bytes)?,
            None => return Err(ServiceError::invalid("ticket_source", "set ticket or ticket_json")),
        };
        let key = DocumentKey::new(tenant, SourceKind::Ticket, &ticket.ticket_id)
            .map_err(|e| id_error("ticket_id", e))?;
        let segments = segment_ticket(&ticket, &self.engine.ingest_settings().text)?;
        self.store(key, account, segments).await
    }

    async fn ingest_transcript(
        &self,
        tenant: TenantId,
        request: IngestTranscriptRequest,
    ) -> Result<IngestResponse, ServiceError> {
        let account = account_id("account_id", &request.account_id)?;
        let key = DocumentKey::new(tenant.clone(), SourceKind::Call, &request.external_id)
            .map_err(|e| id_error("external_id", e))?;
        let settings = self.engine.ingest_settings();
        let format = match v1::TranscriptFormat::try_from(request.format) {
            Ok(v1::TranscriptFormat::Webvtt) => TranscriptFormat::WebVtt,
            Ok(v1::TranscriptFormat::Srt) => TranscriptFormat::Srt,
            Ok(v1::TranscriptFormat::Json) => TranscriptFormat::Json,
            Ok(v1::TranscriptFormat::Unspecified) => {
                TranscriptFormat::detect(&request.content).ok_or_else(|| {
                    ServiceError::invalid(
                        "format",
                        "must be set (WEBVTT, SRT or JSON): the content does not tell",
                    )
                })?
            }
            Err(_) => return Err(ServiceError::invalid("format", "unknown value")),
        };
        let started_at_ms = request.started_at.as_ref().map(|t| checked_ms("started_at", t)).transpose()?;
        let transcript = parse_transcript(&request.content, format, settings.max_transcript_bytes)?;

        let mut map = HashMap::new();
        for (name, raw) in &request.speaker_roles {
            let role = role_from_proto(*raw).ok_or_else(|| {
                ServiceError::invalid("speaker_roles", format!("unknown role {raw} for {name:?}"))
            })?;
            map.insert(name.clone(), role);
        }
        let domains = self.account_domains(&tenant, &account);
        let mut roles = HashMap::new();
        for speaker in transcript.speakers() {
            let role = match settings.roles.speaker_role(&speaker, &map, &domains) {
                Some(role) => role,
                None if settings.reject_unmapped_speakers => {
                    return Err(ServiceError::invalid(
                        "speaker_roles",
                        format!("no role for speaker {speaker:?} (ingest.reject_unmapped_speakers is on)"),
                    ));
                }
                None => SpeakerRole::Unknown,
            };
            roles.insert(speaker, role);
        }
        let started_at_ms = started_at_ms.or(transcript.started_at_ms);
        let segments = segment_transcript(&transcript, started_at_ms, &roles, &settings.text)?;
        self.store(key, account, segments).await
    }

    /// Analyzes and stores a parsed document of any format, and says what happened.
    async fn store(
        &self,
        key: DocumentKey,
        account: AccountId,
        segments: Vec<Segment>,
    ) -> Result<IngestResponse, ServiceError> {
        let content_hash = content_hash(&account, key.source_kind, &segments)?;
        let doc = ParsedDocument { key: key.clone(), account: account.clone(), content_hash, segments };
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
            Some(bulk_ingest_request::Document::Email(email)) => self.ingest_email(tenant, email).await,
            Some(bulk_ingest_request::Document::Ticket(ticket)) => self.ingest_ticket(tenant, ticket).await,
            Some(bulk_ingest_request::Document::Transcript(call)) => {
                self.ingest_transcript(tenant, call).await
            }
            None => Err(ServiceError::invalid("document", "must be set")),
        }
    }

    fn upsert_account(
        &self,
        tenant: TenantId,
        request: UpsertAccountRequest,
    ) -> Result<Account, ServiceError> {
        let account = request.account.ok_or_else(|| ServiceError::invalid("account", "must be set"))?;
        let id = account_id("account.account_id", &account.account_id)?;
        if !account.arr_usd.is_finite() || account.arr_usd < 0.0 {
            return Err(ServiceError::invalid("account.arr_usd", "must be a finite amount, 0 or more"));
        }
        if account.name.len() > 512 {
            return Err(ServiceError::invalid("account.name", "must be at most 512 bytes"));
        }
        let mut domains = Vec::new();
        for raw in &account.domains {
            let domain =
                normalize_domain(raw).map_err(|reason| ServiceError::invalid("account.domains", reason))?;
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        let renewal_date_ms =
            account.renewal_date.as_ref().map(|t| checked_ms("account.renewal_date", t)).transpose()?;
        let record = AccountRecord {
            account_id: id.to_string(),
            name: account.name.trim().to_owned(),
            arr_usd: account.arr_usd,
            renewal_date_ms,
            domains,
            contacts: contacts_from_proto(&account.contacts)?,
        };
        let stored = self.engine.upsert_account(&tenant, record)?;
        Ok(account_to_proto(&stored))
    }
}

/// The account's people: a name is required, each field at most 256 characters.
fn contacts_from_proto(contacts: &[v1::Contact]) -> Result<Vec<undertone_insights::Contact>, ServiceError> {
    const MAX_FIELD: usize = 256;
    const MAX_CONTACTS: usize = 500;
    if contacts.len() > MAX_CONTACTS {
        return Err(ServiceError::invalid("account.contacts", format!("at most {MAX_CONTACTS} contacts")));
    }
    contacts
        .iter()
        .map(|c| {
            let fields = [("name", &c.name), ("email", &c.email), ("title", &c.title)];
            for (field, value) in fields {
                if value.chars().count() > MAX_FIELD {
                    return Err(ServiceError::invalid(
                        format!("account.contacts.{field}"),
                        format!("longer than {MAX_FIELD} characters"),
                    ));
                }
            }
            if c.name.trim().is_empty() {
                return Err(ServiceError::invalid("account.contacts.name", "must not be empty"));
            }
            Ok(undertone_insights::Contact {
                name: c.name.trim().to_owned(),
                email: c.email.trim().to_ascii_lowercase(),
                title: c.title.trim().to_owned(),
            })
        })
        .collect()
}

fn account_to_proto(record: &AccountRecord) -> Account {
    Account {
        account_id: record.account_id.clone(),
        name: record.name.clone(),
        arr_usd: record.arr_usd,
        renewal_date: record.renewal_date_ms.map(timestamp_from_ms),
        domains: record.domains.clone(),
        contacts: record
            .contacts
            .iter()
            .map(|c| v1::Contact { name: c.name.clone(), email: c.email.clone(), title: c.title.clone() })
            .collect(),
    }
}

fn ingest_response(key: &DocumentKey, account: &AccountId, outcome: &IngestOutcome) -> IngestResponse {
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
        let tenant = authorize(&request, Role::Write, "IngestMessage")?;
        Ok(with_timing(IngestApi::ingest_message(self, tenant, request.into_inner()).await?))
    }

    async fn ingest_email(
        &self,
        request: Request<IngestEmailRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let tenant = authorize(&request, Role::Write, "IngestEmail")?;
        Ok(with_timing(IngestApi::ingest_email(self, tenant, request.into_inner()).await?))
    }

    async fn ingest_ticket(
        &self,
        request: Request<IngestTicketRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let tenant = authorize(&request, Role::Write, "IngestTicket")?;
        Ok(with_timing(IngestApi::ingest_ticket(self, tenant, request.into_inner()).await?))
    }

    async fn ingest_transcript(
        &self,
        request: Request<IngestTranscriptRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let tenant = authorize(&request, Role::Write, "IngestTranscript")?;
        Ok(with_timing(IngestApi::ingest_transcript(self, tenant, request.into_inner()).await?))
    }

    async fn bulk_ingest(
        &self,
        request: Request<Streaming<BulkIngestRequest>>,
    ) -> Result<Response<BulkIngestSummary>, Status> {
        let tenant = authorize(&request, Role::Write, "BulkIngest")?;
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
        let tenant = authorize(&request, Role::Write, "DeleteDocument")?;
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
        let tenant = authorize(&request, Role::Admin, "DeleteAccount")?;
        let account = account_id("account_id", &request.get_ref().account_id)?;
        let segments_deleted = self.engine.delete_account(tenant, account).await?;
        Ok(Response::new(DeleteResponse { segments_deleted }))
    }

    async fn upsert_account(
        &self,
        request: Request<UpsertAccountRequest>,
    ) -> Result<Response<Account>, Status> {
        let tenant = authorize(&request, Role::Write, "UpsertAccount")?;
        Ok(Response::new(IngestApi::upsert_account(self, tenant, request.into_inner())?))
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

/// A structured ticket from the API, in the shape the export parser produces; times and
/// roles are checked as IngestMessage checks them.
fn ticket_from_proto(ticket: v1::Ticket) -> Result<Ticket, ServiceError> {
    let rfc3339 = |field: &str, t: Option<prost_types::Timestamp>| -> Result<Option<String>, ServiceError> {
        let Some(t) = t else { return Ok(None) };
        let ms = checked_ms(field, &t)?;
        let time = chrono::DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| ServiceError::invalid(field, "is out of range"))?;
        Ok(Some(time.to_rfc3339()))
    };
    let person = |name: String| Person { name, email: String::new() };
    let comments = ticket
        .comments
        .into_iter()
        .map(|c| {
            let author_role = match role_from_proto(c.author_role) {
                Some(SpeakerRole::Customer) => "customer",
                Some(SpeakerRole::Internal) => "agent",
                Some(SpeakerRole::Unknown) => "",
                None => {
                    return Err(ServiceError::invalid(
                        "ticket.comments.author_role",
                        format!("unknown role {}", c.author_role),
                    ));
                }
            };
            Ok(TicketComment {
                id: c.id,
                author: person(c.author),
                author_role: author_role.into(),
                public: c.public,
                created_at: rfc3339("ticket.comments.created_at", c.created_at)?,
                body: c.body,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(Ticket {
        ticket_id: ticket.ticket_id,
        subject: ticket.subject,
        status: ticket.status,
        priority: ticket.priority,
        created_at: rfc3339("ticket.created_at", ticket.created_at)?,
        requester: person(String::new()),
        tags: ticket.tags,
        comments,
    })
}
