//! End to end: the real server binary, real gRPC over a loopback socket, the real models
//! and the embedded Qdrant engine on a temporary data directory.

mod support;

use support::{Server, scoped};
use tonic::{Code, Request};
use undertone_api::v1::ingest_service_client::IngestServiceClient;
use undertone_api::v1::insights_service_client::InsightsServiceClient;
use undertone_api::v1::sentiment_service_client::SentimentServiceClient;
use undertone_api::v1::{
    self, AnalyzeRequest, AnalyzeStreamRequest, DeleteAccountRequest, DeleteDocumentRequest,
    GetAccountRiskRequest, IngestMessageRequest, IngestTicketRequest, SearchEvidenceRequest,
    ingest_ticket_request,
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

async fn bad_input_is_refused(
    ingest: &mut IngestServiceClient<tonic::transport::Channel>,
    insights: &mut InsightsServiceClient<tonic::transport::Channel>,
) {
    let no_tenant = Request::new(message(ACCOUNT, "bad-1", "Fine.", v1::SpeakerRole::Customer));
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
