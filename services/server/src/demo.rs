//! `undertone demo`: a gRPC client that ingests the sample corpus into a running server
//! and prints the accounts most at risk, each reason with its quoted evidence.

use std::path::Path;

use crate::client::scoped;
use anyhow::Context;
use undertone_api::v1::ingest_service_client::IngestServiceClient;
use undertone_api::v1::insights_service_client::InsightsServiceClient;
use undertone_api::v1::{self, ListAccountsByRiskRequest, SearchEvidenceRequest};
use undertone_api::{timestamp_from_ms, timestamp_to_ms};

const DAY_MS: i64 = 86_400_000;
const ACCOUNTS_SHOWN: usize = 3;

/// The corpus's reference time (`as_of` in ground_truth.toml), else now.
fn as_of(corpus: &Path) -> i64 {
    let parsed = std::fs::read_to_string(corpus.join("ground_truth.toml")).ok().and_then(|text| {
        let table: toml::Table = toml::from_str(&text).ok()?;
        let raw = table.get("as_of")?.as_str()?.to_owned();
        chrono::DateTime::parse_from_rfc3339(&raw).ok().map(|t| t.timestamp_millis())
    });
    parsed.unwrap_or_else(crate::grpc::now_ms)
}

pub async fn run(server: &str, corpus: &Path, tenant: &str) -> anyhow::Result<()> {
    let mut ingest =
        IngestServiceClient::connect(server.to_owned()).await.context("connecting to the server")?;
    let mut insights = InsightsServiceClient::connect(server.to_owned()).await?;

    // Every format of the corpus: emails (threads oldest first), tickets and calls, with
    // the accounts and the vendor's people from accounts.toml.
    println!("Ingesting the corpus in {} ...", corpus.display());
    let summary =
        crate::ingest_cli::ingest_paths(&mut ingest, tenant, &[corpus.to_owned()], &Default::default())
            .await?;
    crate::ingest_cli::print_summary(&summary);
    println!();

    let end = as_of(corpus);
    let window = v1::TimeWindow {
        start: Some(timestamp_from_ms(end - 90 * DAY_MS)),
        end: Some(timestamp_from_ms(end)),
    };
    let request = ListAccountsByRiskRequest { window: Some(window), limit: 50, min_level: 0 };
    let ranked = insights.list_accounts_by_risk(scoped(tenant, request)?).await?.into_inner().accounts;
    println!("Accounts by risk (90 days to {}):", day(end));
    for account in &ranked {
        println!("  {:<14} {:>5.1}  {:?}", account.account_id, account.score, level(account.level));
    }
    for account in ranked.iter().take(ACCOUNTS_SHOWN) {
        print_risk(account);
    }
    print_themes_and_actions(&mut insights, tenant, &ranked, window).await?;

    let query = "the dashboard is too slow and reports time out";
    let request =
        SearchEvidenceRequest { query: query.into(), limit: 3, window: Some(window), ..Default::default() };
    let hits = insights.search_evidence(scoped(tenant, request)?).await?.into_inner().hits;
    println!("\nEvidence search: \"{query}\"");
    for hit in hits {
        println!("  [{:.2}] {}: \"{}\"", hit.relevance, hit.account_id, hit.quote);
    }
    Ok(())
}

fn level(raw: i32) -> v1::RiskLevel {
    v1::RiskLevel::try_from(raw).unwrap_or(v1::RiskLevel::Unspecified)
}

fn print_risk(account: &v1::AccountRisk) {
    println!(
        "\n{}: risk {:.0}/100 ({:?}), customer sentiment {:+.2}, {} customer segments",
        account.account_id,
        account.score,
        level(account.level),
        account.sentiment,
        account.segments_considered
    );
    for reason in &account.reasons {
        let category = v1::RiskCategory::try_from(reason.category).unwrap_or(v1::RiskCategory::Unspecified);
        println!("  - {:?} (+{:.0}): {}", category, reason.contribution, reason.summary);
        for evidence in &reason.evidence {
            let when = evidence.timestamp.as_ref().map(|t| day(timestamp_to_ms(t))).unwrap_or_default();
            println!("      \"{}\"", evidence.quote);
            println!(
                "        {} {}, {} {}",
                evidence.speaker,
                when,
                source(evidence.source_kind),
                evidence.document_id
            );
        }
    }
}

fn source(raw: i32) -> &'static str {
    match v1::SourceKind::try_from(raw) {
        Ok(v1::SourceKind::Email) => "email",
        Ok(v1::SourceKind::Ticket) => "ticket",
        Ok(v1::SourceKind::Call) => "call",
        _ => "message",
    }
}

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// Themes shown, and the accounts (at high risk or above) that get suggested actions.
const THEMES_SHOWN: usize = 5;

/// The top themes across accounts, then the suggested actions of every account at high
/// risk or above, each with its rationale and the evidence that triggered it.
async fn print_themes_and_actions(
    insights: &mut InsightsServiceClient<tonic::transport::Channel>,
    tenant: &str,
    ranked: &[v1::AccountRisk],
    window: v1::TimeWindow,
) -> anyhow::Result<()> {
    let request =
        v1::GetThemesRequest { window: Some(window), limit: THEMES_SHOWN as u32, ..Default::default() };
    let themes = insights.get_themes(scoped(tenant, request)?).await?.into_inner();
    println!(
        "\nTop themes (negative customer segments across accounts: {} considered, {:.0}% in no theme):",
        themes.segments_considered,
        100.0 * themes.unassigned_share
    );
    for theme in &themes.themes {
        let trend = v1::TrendDirection::try_from(theme.trend.map_or(0, |t| t.direction))
            .unwrap_or(v1::TrendDirection::Unspecified);
        let accounts: Vec<&str> = theme.accounts.iter().map(|a| a.name.as_str()).collect();
        println!(
            "\n  {} ({} segments, {} before, {}; ARR ${:.0}k)",
            theme.label,
            theme.segment_count,
            theme.previous_segment_count,
            match trend {
                v1::TrendDirection::Worsening => "growing",
                v1::TrendDirection::Improving => "shrinking",
                _ => "steady",
            },
            theme.total_arr_usd / 1000.0
        );
        println!("    accounts: {}", accounts.join(", "));
        println!("    keywords: {}", theme.keywords.join(", "));
        for quote in &theme.representative_quotes {
            println!(
                "      \"{}\" ({}, {} {})",
                quote.quote,
                quote.account_id,
                source(quote.source_kind),
                quote.document_id
            );
        }
    }

    for account in ranked.iter().filter(|a| a.level >= v1::RiskLevel::High as i32) {
        let request = v1::GetNextBestActionsRequest {
            account_id: account.account_id.clone(),
            window: Some(window),
            limit: 3,
        };
        let actions = insights.get_next_best_actions(scoped(tenant, request)?).await?.into_inner().actions;
        println!("\nSuggested actions for {} (risk {:.0}):", account.account_id, account.score);
        for (i, action) in actions.iter().enumerate() {
            println!("  {}. {} [{:.2}]", i + 1, action.title, action.score);
            println!("     {}", action.rationale);
            if let Some(evidence) = action.evidence.first() {
                let when = evidence.timestamp.as_ref().map(|t| day(timestamp_to_ms(t))).unwrap_or_default();
                println!(
                    "     evidence: \"{}\" ({} {}, {})",
                    evidence.quote,
                    source(evidence.source_kind),
                    evidence.document_id,
                    when
                );
            }
        }
    }
    Ok(())
}
