//! End to end: the real server binary, real gRPC over a loopback socket, the real models
//! and the embedded Qdrant engine on a temporary data directory.

mod support;

use support::{ADMIN_KEY, READ_KEY, Server, TENANT, scoped, scoped_as};
use tonic::{Code, Request};
use undertone_api::timestamp_to_ms;
use undertone_api::v1::ingest_service_client::IngestServiceClient;
use undertone_api::v1::insights_service_client::InsightsServiceClient;
use undertone_api::v1::sentiment_service_client::SentimentServiceClient;
use undertone_api::v1::{
    self, AnalyzeRequest, AnalyzeStreamRequest, BulkIngestRequest, DeleteAccountRequest,
    DeleteDocumentRequest, GetAccountRiskRequest, IngestEmailRequest, IngestMessageRequest,
    IngestTicketRequest, IngestTranscriptRequest, SearchEvidenceRequest, UpsertAccountRequest,
    bulk_ingest_request, ingest_ticket_request,
};

const ACCOUNT: &str = "northwind";
const COMPLAINT: &str = "We are evaluating ZenBoard because your dashboards keep timing out. \
    Honestly, we may not renew in January. The October invoice also charged us for 40 seats we never used.";
const ANGRY: &str =
    "This is terrible: the app keeps crashing and we are extremely unhappy with your service.";
const PRAISE: &str = "Thanks so much, the new scheduled reports are fantastic and the team loves them.";

fn message(account: &str, external_id: &str, text: &str, role: v1::SpeakerRole) -> IngestMessageRequest {
    IngestMessageRequest {
        account_id: account.into(),
        external_id: external_id.into(),
        text: text.into(),
        speaker: "Dana Lee <dana@northwind.test>".into(),
        role: role as i32,
        sent_at: Some(prost_types::Timestamp { seconds: three_days_ago(), nanos: 0 }),
    }
}

/// Inside the default 90-day risk window whenever the test runs; fixed for the whole run
/// so that re-sent messages are identical.
fn three_days_ago() -> i64 {
    static SENT_AT: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *SENT_AT.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        now.as_secs() as i64 - 3 * 86_400
    })
}

fn search(query: &str) -> SearchEvidenceRequest {
    SearchEvidenceRequest {
        query: query.into(),
        account_ids: vec![ACCOUNT.into()],
        limit: 20,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_search_explain_restart_delete() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let channel = server.channel().await;
    let mut ingest = IngestServiceClient::new(channel.clone());
    let mut insights = InsightsServiceClient::new(channel.clone());

    // Ingest: a complaint, praise, and a ticket from the sample corpus.
    let created = ingest
        .ingest_message(scoped(message(ACCOUNT, "msg-1", COMPLAINT, v1::SpeakerRole::Customer)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.status, v1::IngestStatus::Created as i32);
    assert_eq!(created.segments_stored, 3);
    let praise = ingest
        .ingest_message(scoped(message(ACCOUNT, "msg-2", PRAISE, v1::SpeakerRole::Customer)))
        .await
        .unwrap()
        .into_inner();
    let ticket = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/corpus/northwind/tickets/BL-4788.json"
    ))
    .unwrap();
    let request = IngestTicketRequest {
        account_id: ACCOUNT.into(),
        ticket_source: Some(ingest_ticket_request::TicketSource::TicketJson(ticket)),
    };
    let ticket = ingest.ingest_ticket(scoped(request)).await.unwrap().into_inner();
    assert!(ticket.segments_stored > 0);
    let total = created.segments_stored + praise.segments_stored + ticket.segments_stored;

    // Re-sending the same document changes nothing and duplicates nothing.
    let again = ingest
        .ingest_message(scoped(message(ACCOUNT, "msg-1", COMPLAINT, v1::SpeakerRole::Customer)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.status, v1::IngestStatus::Unchanged as i32);
    let hits = insights.search_evidence(scoped(search("we may not renew"))).await.unwrap().into_inner().hits;
    assert_eq!(hits.iter().filter(|h| h.quote == "Honestly, we may not renew in January.").count(), 1);
    assert_eq!(hits[0].quote, "Honestly, we may not renew in January.", "nearest hit first: {hits:?}");
    assert_eq!(hits[0].document_id, "msg-1");
    assert_eq!(hits[0].role, v1::SpeakerRole::Customer as i32);
    let before = hits.len();

    // Risk with reasons that quote stored segments verbatim.
    let risk = insights
        .get_account_risk(scoped(GetAccountRiskRequest { account_id: ACCOUNT.into(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert!(risk.score > 0.0 && !risk.reasons.is_empty(), "{risk:?}");
    let evidence: Vec<&v1::Evidence> = risk.reasons.iter().flat_map(|r| &r.evidence).collect();
    assert!(!evidence.is_empty());
    let complaint_quotes = evidence.iter().filter(|e| e.document_id == "msg-1").count();
    assert!(complaint_quotes > 0, "the complaint is cited: {risk:?}");
    for e in evidence.iter().filter(|e| e.document_id == "msg-1") {
        let start = e.char_start as usize;
        let quoted: String = COMPLAINT.chars().skip(start).take(e.char_end as usize - start).collect();
        assert_eq!(quoted, e.quote, "evidence is the stored text at its offsets");
    }

    // Bad input is refused with the field named, and nothing stored changes.
    bad_input_is_refused(&mut ingest, &mut insights).await;
    let hits = insights.search_evidence(scoped(search("we may not renew"))).await.unwrap().into_inner().hits;
    assert_eq!(hits.len(), before);

    // The same new document sent twice at once is stored once: one CREATED, one UNCHANGED.
    let race = || {
        message(
            "race",
            "race-1",
            "The export has been missing columns since Tuesday.",
            v1::SpeakerRole::Customer,
        )
    };
    let (mut a, mut b) = (ingest.clone(), ingest.clone());
    let (first, second) = tokio::join!(a.ingest_message(scoped(race())), b.ingest_message(scoped(race())));
    let mut statuses = [first.unwrap().into_inner().status, second.unwrap().into_inner().status];
    statuses.sort();
    assert_eq!(statuses, [v1::IngestStatus::Created as i32, v1::IngestStatus::Unchanged as i32]);

    // Sentiment over gRPC, unary and streaming.
    sentiment_scores(SentimentServiceClient::new(channel.clone())).await;

    // Stop and restart on the same data: nothing is lost.
    drop((ingest, insights, channel));
    server.stop();
    let server = Server::start(data.path());
    let channel = server.channel().await;
    let mut ingest = IngestServiceClient::new(channel.clone());
    let mut insights = InsightsServiceClient::new(channel);
    let hits = insights.search_evidence(scoped(search("we may not renew"))).await.unwrap().into_inner().hits;
    assert_eq!(hits.len(), before, "same data after a restart");
    assert_eq!(hits[0].quote, "Honestly, we may not renew in January.");

    // Delete one document, then the whole account.
    let delete =
        DeleteDocumentRequest { source_kind: v1::SourceKind::Message as i32, external_id: "msg-1".into() };
    assert_eq!(ingest.delete_document(scoped(delete)).await.unwrap().into_inner().segments_deleted, 3);
    let hits = insights.search_evidence(scoped(search("we may not renew"))).await.unwrap().into_inner().hits;
    assert!(hits.iter().all(|h| h.document_id != "msg-1"));
    let deleted = ingest
        .delete_account(scoped(DeleteAccountRequest { account_id: ACCOUNT.into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.segments_deleted, u64::from(total - 3));
    let hits = insights.search_evidence(scoped(search("invoice"))).await.unwrap().into_inner().hits;
    assert!(hits.is_empty(), "{hits:?}");
    server.stop();
}

async fn expect_invalid<T: std::fmt::Debug>(result: Result<T, tonic::Status>, field: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with(&format!("{field}:")), "{field} named in {:?}", status.message());
}

/// No key, an unknown key, a key for another tenant and a read key that writes are each
/// refused with their own code; a read key reads its one tenant without naming it.
async fn callers_need_a_key_for_their_tenant_and_role(
    ingest: &mut IngestServiceClient<tonic::transport::Channel>,
    insights: &mut InsightsServiceClient<tonic::transport::Channel>,
) {
    let refused = |result: Result<tonic::Response<v1::IngestResponse>, tonic::Status>, code: Code| {
        let status = result.expect_err("refused");
        assert_eq!(status.code(), code, "{status:?}");
    };
    let fine = || message(ACCOUNT, "auth-1", "Fine.", v1::SpeakerRole::Customer);
    refused(ingest.ingest_message(scoped_as(TENANT, None, fine())).await, Code::Unauthenticated);
    refused(
        ingest.ingest_message(scoped_as(TENANT, Some("ut_forged_00"), fine())).await,
        Code::Unauthenticated,
    );
    refused(
        ingest.ingest_message(scoped_as("not-granted", Some(ADMIN_KEY), fine())).await,
        Code::PermissionDenied,
    );
    refused(ingest.ingest_message(scoped_as(TENANT, Some(READ_KEY), fine())).await, Code::PermissionDenied);
    let mut read = Request::new(search("we may not renew"));
    read.metadata_mut().insert("authorization", format!("Bearer {READ_KEY}").parse().unwrap());
    assert!(insights.search_evidence(read).await.is_ok(), "a read key searches its only tenant");
    let erase = scoped_as(TENANT, Some(READ_KEY), DeleteAccountRequest { account_id: ACCOUNT.into() });
    assert_eq!(ingest.delete_account(erase).await.unwrap_err().code(), Code::PermissionDenied);
}

async fn bad_input_is_refused(
    ingest: &mut IngestServiceClient<tonic::transport::Channel>,
    insights: &mut InsightsServiceClient<tonic::transport::Channel>,
) {
    callers_need_a_key_for_their_tenant_and_role(ingest, insights).await;
    // The admin key grants several tenants: the call must choose one.
    let mut no_tenant = scoped(message(ACCOUNT, "bad-1", "Fine.", v1::SpeakerRole::Customer));
    no_tenant.metadata_mut().remove("x-tenant-id");
    expect_invalid(ingest.ingest_message(no_tenant).await, "x-tenant-id").await;
    let empty_account = message("", "bad-2", "Fine.", v1::SpeakerRole::Customer);
    expect_invalid(ingest.ingest_message(scoped(empty_account)).await, "account_id").await;
    let empty_text = message(ACCOUNT, "bad-3", "   ", v1::SpeakerRole::Customer);
    expect_invalid(ingest.ingest_message(scoped(empty_text)).await, "text").await;
    let oversized = message(ACCOUNT, "msg-1", &"word ".repeat(20_000), v1::SpeakerRole::Customer);
    expect_invalid(ingest.ingest_message(scoped(oversized)).await, "text").await;
    let bad_ticket = IngestTicketRequest {
        account_id: ACCOUNT.into(),
        ticket_source: Some(ingest_ticket_request::TicketSource::TicketJson(b"{\"ticket_id\": 7".to_vec())),
    };
    expect_invalid(ingest.ingest_ticket(scoped(bad_ticket)).await, "ticket_json").await;
    let no_query = SearchEvidenceRequest::default();
    expect_invalid(insights.search_evidence(scoped(no_query)).await, "query").await;
    let nan = SearchEvidenceRequest { min_relevance: f32::NAN, ..search("exports") };
    expect_invalid(insights.search_evidence(scoped(nan)).await, "min_relevance").await;
    hostile_windows_and_tickets(ingest, insights).await;
}

/// Windows far in the past or future once overflowed the baseline arithmetic (a panic,
/// CANCELLED); a structured ticket took any time and role that IngestMessage refuses.
async fn hostile_windows_and_tickets(
    ingest: &mut IngestServiceClient<tonic::transport::Channel>,
    insights: &mut InsightsServiceClient<tonic::transport::Channel>,
) {
    let at = |seconds: i64| Some(prost_types::Timestamp { seconds, nanos: 0 });
    for (start, end, field) in [
        (at(i64::MIN / 2), at(0), "window.start"),
        (at(-86_400), at(86_400), "window.start"),
        (None, at(i64::MAX / 4), "window.end"),
        (at(0), at(1 << 40), "window.end"),
    ] {
        let request = GetAccountRiskRequest {
            account_id: ACCOUNT.into(),
            window: Some(v1::TimeWindow { start, end }),
            max_evidence: 0,
        };
        expect_invalid(insights.get_account_risk(scoped(request)).await, field).await;
    }
    let ticket = |comment: v1::TicketComment| IngestTicketRequest {
        account_id: ACCOUNT.into(),
        ticket_source: Some(ingest_ticket_request::TicketSource::Ticket(v1::Ticket {
            ticket_id: "hostile-1".into(),
            subject: "Export broken".into(),
            comments: vec![comment],
            ..Default::default()
        })),
    };
    let comment = || v1::TicketComment {
        id: "c-1".into(),
        author: "Dana Lee".into(),
        author_role: v1::SpeakerRole::Customer as i32,
        public: true,
        body: "The export fails.".into(),
        created_at: at(1_790_000_000),
    };
    let far = v1::TicketComment { created_at: at(1 << 62), ..comment() };
    expect_invalid(ingest.ingest_ticket(scoped(ticket(far))).await, "ticket.comments.created_at").await;
    let role = v1::TicketComment { author_role: 99, ..comment() };
    expect_invalid(ingest.ingest_ticket(scoped(ticket(role))).await, "ticket.comments.author_role").await;
    let mut long = ticket(comment());
    if let Some(ingest_ticket_request::TicketSource::Ticket(t)) = &mut long.ticket_source {
        t.subject = "Export broken. ".repeat(100_000);
    }
    expect_invalid(ingest.ingest_ticket(scoped(long)).await, "subject").await;
}

async fn sentiment_scores(mut client: SentimentServiceClient<tonic::transport::Channel>) {
    let texts = vec![ANGRY.to_owned(), PRAISE.to_owned()];
    let response = client.analyze(scoped(AnalyzeRequest { texts, options: None })).await.unwrap();
    assert!(response.metadata().get("x-inference-us").is_some(), "timing metadata");
    let results = response.into_inner().results;
    let label = |i: usize| results[i].sentiment.as_ref().unwrap().label;
    assert_eq!(label(0), v1::SentimentLabel::Negative as i32);
    assert_eq!(label(1), v1::SentimentLabel::Positive as i32);

    let requests = vec![
        AnalyzeStreamRequest { id: "a".into(), text: PRAISE.into(), options: None },
        AnalyzeStreamRequest { id: "b".into(), text: String::new(), options: None },
    ];
    let mut stream = client.analyze_stream(scoped(tokio_stream::iter(requests))).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.id, "a");
    assert!(first.result.is_some() && first.timing.is_some());
    let second = stream.message().await.unwrap().unwrap();
    assert_eq!((second.id.as_str(), second.error.unwrap().code.as_str()), ("b", "INVALID_ARGUMENT"));
    assert!(stream.message().await.unwrap().is_none());
}

fn corpus_file(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../tests/corpus/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The corpus's autumn, whenever the test runs.
fn corpus_window() -> v1::TimeWindow {
    v1::TimeWindow {
        start: Some(prost_types::Timestamp { seconds: 1_785_542_400, nanos: 0 }), // 2026-08-01
        end: Some(prost_types::Timestamp { seconds: 1_798_761_600, nanos: 0 }),   // 2027-01-01
    }
}

fn search_in(account: &str, query: &str, kinds: &[v1::SourceKind]) -> SearchEvidenceRequest {
    SearchEvidenceRequest {
        query: query.into(),
        account_ids: vec![account.into()],
        source_kinds: kinds.iter().map(|k| *k as i32).collect(),
        window: Some(corpus_window()),
        limit: 50,
        ..Default::default()
    }
}

async fn search_hits(
    insights: &mut InsightsServiceClient<tonic::transport::Channel>,
    request: SearchEvidenceRequest,
) -> Vec<v1::Evidence> {
    insights.search_evidence(scoped(request)).await.unwrap().into_inner().hits
}

const QBR: &str = "northwind/calls/2026-10-14-q4-business-review.vtt";
const QBR_STARTED_MS: i64 = 1_791_993_600_000;

fn qbr() -> IngestTranscriptRequest {
    IngestTranscriptRequest {
        account_id: ACCOUNT.into(),
        external_id: "northwind/q4-business-review".into(),
        format: v1::TranscriptFormat::Webvtt as i32,
        content: corpus_file(QBR),
        started_at: None, // from the file's NOTE block
        speaker_roles: [("Dana Lee".to_owned(), v1::SpeakerRole::Customer as i32)].into(),
        title: String::new(),
    }
}

fn email(path: &str) -> IngestEmailRequest {
    IngestEmailRequest {
        account_id: ACCOUNT.into(),
        external_id: String::new(),
        raw_message: corpus_file(path),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_and_calls_are_cited_by_speaker_and_moment() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let channel = server.channel().await;
    let mut ingest = IngestServiceClient::new(channel.clone());
    let mut insights = InsightsServiceClient::new(channel);

    // The account, with the domain that makes its people the customer.
    let account = v1::Account {
        account_id: ACCOUNT.into(),
        name: "Northwind Logistics".into(),
        arr_usd: 180_000.0,
        renewal_date: Some(prost_types::Timestamp { seconds: 1_801_353_600, nanos: 0 }),
        domains: vec!["Northwind-Logistics.com".into()],
        contacts: vec![v1::Contact {
            name: "Dana Lee".into(),
            email: "Dana.Lee@northwind-logistics.com".into(),
            title: "VP Operations".into(),
        }],
    };
    let stored = ingest
        .upsert_account(scoped(UpsertAccountRequest { account: Some(account) }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.domains, ["northwind-logistics.com"]);
    assert_eq!(
        stored.contacts[0].email, "dana.lee@northwind-logistics.com",
        "contacts are stored normalised"
    );

    // A thread: Dana's complaint, Sam's reply (quoting it), Dana's answer (quoting both).
    let thread = [
        "northwind/emails/2026-10-07-dashboard-performance-and-renewal.eml",
        "northwind/emails/2026-10-07-re-dashboard-performance-and-renewal.eml",
        "northwind/emails/2026-10-09-re-dashboard-performance-and-renewal.eml",
    ];
    for path in thread {
        let response = ingest.ingest_email(scoped(email(path))).await.unwrap().into_inner();
        assert_eq!(response.status, v1::IngestStatus::Created as i32, "{path}");
        assert_eq!(response.source_kind, v1::SourceKind::Email as i32);
    }
    let call = ingest.ingest_transcript(scoped(qbr())).await.unwrap().into_inner();
    assert_eq!(call.status, v1::IngestStatus::Created as i32);
    assert!(call.segments_stored > 40, "{call:?}");

    // Evidence from the call points at the speaker and the moment in the call.
    let hits =
        search_hits(&mut insights, search_in(ACCOUNT, "we may not renew", &[v1::SourceKind::Call])).await;
    let renew = hits.iter().find(|h| h.quote == "We may not renew.").expect("the QBR line is found");
    assert_eq!((renew.speaker.as_str(), renew.role), ("Dana Lee", v1::SpeakerRole::Customer as i32));
    assert_eq!(renew.part, "25", "cue id");
    assert_eq!(renew.media_offset_ms, Some(220_116));
    assert_eq!(renew.timestamp.as_ref().map(timestamp_to_ms), Some(QBR_STARTED_MS + 220_116));
    let sam = hits.iter().find(|h| h.speaker == "Sam Ortiz").expect("Sam speaks in the call");
    assert_eq!(sam.role, v1::SpeakerRole::Internal as i32, "configured internal person");

    // Evidence from mail: the sentence at its first appearance, with its Message-ID, and
    // the quoted complaint only once (in Dana's first message), never in the replies.
    let hits =
        search_hits(&mut insights, search_in(ACCOUNT, "my team is flying blind", &[v1::SourceKind::Email]))
            .await;
    let blind: Vec<_> = hits.iter().filter(|h| h.quote.contains("flying blind")).collect();
    assert_eq!(blind.len(), 1, "{blind:?}");
    assert_eq!(blind[0].part, "CAdQfR5xTssIXzCTX1z0FafZqL87DN5YkW6-kjrO6y9T0G@mail.gmail.com");
    assert_eq!(blind[0].role, v1::SpeakerRole::Customer as i32);
    // The speaker keeps the display name; the address is PII and never stored.
    assert_eq!(blind[0].speaker, "Dana Lee <[EMAIL]>");
    let sorry = hits.iter().find(|h| h.quote.contains("I’m sorry")).expect("Sam's reply");
    assert_eq!(sorry.role, v1::SpeakerRole::Internal as i32, "internal domain");
    let email_hits = hits.len();

    // Re-sending changes nothing and duplicates nothing.
    for path in thread {
        let again = ingest.ingest_email(scoped(email(path))).await.unwrap().into_inner();
        assert_eq!(again.status, v1::IngestStatus::Unchanged as i32, "{path}");
    }
    let again = ingest.ingest_transcript(scoped(qbr())).await.unwrap().into_inner();
    assert_eq!(again.status, v1::IngestStatus::Unchanged as i32);
    assert_eq!(again.segments_stored, call.segments_stored);

    // PII is redacted before it is stored.
    let card = IngestEmailRequest {
        account_id: "copperfield".into(),
        external_id: String::new(),
        raw_message: corpus_file("copperfield/emails/2026-09-29-invoice-seat-count-payment-on-hold.eml"),
    };
    ingest.ingest_email(scoped(card)).await.unwrap();
    let hits =
        search_hits(&mut insights, search_in("copperfield", "do not charge the company card", &[])).await;
    assert!(hits.iter().any(|h| h.quote.contains("([CARD], exp. 09/28)")), "{hits:?}");
    assert!(hits.iter().all(|h| !h.quote.contains("4111")));

    // Bad input: each refused with the field named; the bulk stream goes on past it.
    emails_and_calls_bad_input(&mut ingest).await;
    let bulk = vec![
        BulkIngestRequest {
            document: Some(bulk_ingest_request::Document::Email(email(
                "northwind/emails/2026-11-04-notice-regarding-renewal.eml",
            ))),
        },
        BulkIngestRequest {
            document: Some(bulk_ingest_request::Document::Transcript(IngestTranscriptRequest {
                content: b"WEBVTT\n\n00:00:01.000 --> 00:00:00.500\n<v Dana Lee>Backwards.\n".to_vec(),
                external_id: "bad-call".into(),
                ..qbr()
            })),
        },
        BulkIngestRequest { document: Some(bulk_ingest_request::Document::Transcript(qbr())) },
    ];
    let summary = ingest.bulk_ingest(scoped(tokio_stream::iter(bulk))).await.unwrap().into_inner();
    assert_eq!((summary.created, summary.unchanged, summary.failed), (1, 1, 1), "{summary:?}");
    assert_eq!(summary.failures[0].index, 1);
    assert_eq!(summary.failures[0].code, "INVALID_ARGUMENT");
    assert!(summary.failures[0].reason.starts_with("content: cue 1"), "{:?}", summary.failures[0]);

    // Nothing stored changed; erasure removes the account and everything it said.
    let hits =
        search_hits(&mut insights, search_in(ACCOUNT, "my team is flying blind", &[v1::SourceKind::Email]))
            .await;
    assert_eq!(hits.len(), email_hits + 7, "the renewal notice's 7 segments, nothing else");
    ingest.delete_account(scoped(DeleteAccountRequest { account_id: ACCOUNT.into() })).await.unwrap();
    let hits = search_hits(&mut insights, search_in(ACCOUNT, "renew", &[])).await;
    assert!(hits.is_empty(), "{hits:?}");

    // Erasure covers what the insights remembered of the account (name, ARR): new data
    // under the same id is an unknown account, before any restart.
    for (i, text) in [
        "The corrected invoice still has not arrived and our payment is on hold.",
        "We are still waiting for a corrected invoice before we can release payment.",
        "Accounts payable has put the invoice on hold until it is corrected.",
    ]
    .into_iter()
    .enumerate()
    {
        let mut again = message(ACCOUNT, &format!("after-erasure-{i}"), text, v1::SpeakerRole::Customer);
        again.sent_at = Some(prost_types::Timestamp { seconds: 1_790_703_900, nanos: 0 });
        ingest.ingest_message(scoped(again)).await.unwrap();
    }
    let request = v1::GetThemesRequest { window: Some(corpus_window()), ..Default::default() };
    let themes = insights.get_themes(scoped(request)).await.unwrap().into_inner().themes;
    let affected: Vec<&v1::AffectedAccount> =
        themes.iter().flat_map(|t| &t.accounts).filter(|a| a.account_id == ACCOUNT).collect();
    assert!(!affected.is_empty(), "the invoice complaints form a theme: {themes:?}");
    assert!(affected.iter().all(|a| a.name == ACCOUNT && a.arr_usd == 0.0), "{affected:?}");
    server.stop();
}

async fn emails_and_calls_bad_input(ingest: &mut IngestServiceClient<tonic::transport::Channel>) {
    let raw = |bytes: &[u8]| IngestEmailRequest {
        account_id: ACCOUNT.into(),
        external_id: "bad-mail".into(),
        raw_message: bytes.to_vec(),
    };
    expect_invalid(ingest.ingest_email(scoped(raw(b"\x00\xffnot mail at all"))).await, "raw_message.from")
        .await;
    let attachment_only = b"From: dana.lee@northwind-logistics.com\nContent-Type: multipart/mixed; boundary=b\n\n\
        --b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=q3.pdf\n\nJVBERi0x\n--b--\n";
    expect_invalid(ingest.ingest_email(scoped(raw(attachment_only))).await, "raw_message.body").await;
    let mut huge = b"From: dana.lee@northwind-logistics.com\n\n".to_vec();
    huge.resize(20 * 1024 * 1024, b'a');
    expect_invalid(ingest.ingest_email(scoped(raw(&huge))).await, "raw_message").await;
    let mut long_subject = b"From: dana.lee@northwind-logistics.com\nSubject: ".to_vec();
    long_subject.extend("Exports fail again. ".repeat(50_000).as_bytes());
    long_subject.extend(b"\n\nHello there.\n");
    expect_invalid(ingest.ingest_email(scoped(raw(&long_subject))).await, "raw_message.subject").await;
    let bad_date = b"From: dana.lee@northwind-logistics.com\nDate: the 35th of Octember\n\nHello there.\n";
    expect_invalid(ingest.ingest_email(scoped(raw(bad_date))).await, "raw_message.date").await;

    let call = |content: &[u8], format: v1::TranscriptFormat| IngestTranscriptRequest {
        external_id: "bad-call".into(),
        content: content.to_vec(),
        format: format as i32,
        ..qbr()
    };
    let bad_time = b"WEBVTT\n\n00:00:01.000 --> 00:00:61.000\n<v Dana Lee>Hi.\n";
    expect_invalid(
        ingest.ingest_transcript(scoped(call(bad_time, v1::TranscriptFormat::Webvtt))).await,
        "content",
    )
    .await;
    let nobody = b"1\n00:00:01,000 --> 00:00:02,000\nhello there\n";
    expect_invalid(
        ingest.ingest_transcript(scoped(call(nobody, v1::TranscriptFormat::Srt))).await,
        "content",
    )
    .await;
    expect_invalid(
        ingest.ingest_transcript(scoped(call(b"no idea", v1::TranscriptFormat::Unspecified))).await,
        "format",
    )
    .await;
    let bad_account = UpsertAccountRequest {
        account: Some(v1::Account { account_id: ACCOUNT.into(), arr_usd: -5.0, ..Default::default() }),
    };
    expect_invalid(ingest.upsert_account(scoped(bad_account)).await, "account.arr_usd").await;
}

/// Past the model queue's cap the server answers RESOURCE_EXHAUSTED at once instead of
/// queueing without bound, and serves again once the queue drains; answers carry their
/// timing (tokenize / queue / inference) in the metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_and_the_server_recovers() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("undertone.toml");
    std::fs::write(&config, "[limits]\nmax_pending_analyses = 2\n").unwrap();
    let server = Server::start_with(data.path(), &[("UNDERTONE_CONFIG", config.to_str().unwrap())]);
    let client = SentimentServiceClient::new(server.channel().await);
    let long: Vec<String> = (0..64).map(|i| format!("{i}. {}", COMPLAINT.repeat(4))).collect();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let (mut client, texts) = (client.clone(), long.clone());
            tokio::spawn(async move { client.analyze(scoped(AnalyzeRequest { texts, options: None })).await })
        })
        .collect();
    let (mut served, mut refused) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(response) => {
                assert_eq!(response.into_inner().results.len(), long.len());
                served += 1;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(status.message().contains("queue is full"), "{}", status.message());
                refused += 1;
            }
        }
    }
    assert!(served >= 1 && refused >= 1, "served {served}, refused {refused}");

    let mut client = client;
    let response =
        client.analyze(scoped(AnalyzeRequest { texts: vec![PRAISE.into()], options: None })).await.unwrap();
    for key in ["x-tokenize-us", "x-queue-us", "x-inference-us", "x-total-us"] {
        let value = response.metadata().get(key).unwrap_or_else(|| panic!("{key} in the metadata"));
        value.to_str().unwrap().parse::<u64>().unwrap();
    }
    server.stop();
}
