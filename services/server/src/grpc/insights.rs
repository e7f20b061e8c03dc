//! InsightsService: explained account risk, portfolio ranking, account sentiment with its
//! history, themes across accounts, next-best-actions and their feedback, evidence search
//! and risk alerts. Handlers validate and translate; the engine and `undertone-insights`
//! do the work.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tonic::{Request, Response, Status};
use undertone_api::timestamp_from_ms;
use undertone_api::v1::insights_service_server::InsightsService;
use undertone_api::v1::{
    self, AccountRisk, AccountSentiment, GetAccountRiskRequest, GetAccountSentimentRequest,
    GetNextBestActionsRequest, GetNextBestActionsResponse, GetThemesRequest, GetThemesResponse,
    ListAccountsByRiskRequest, ListAccountsByRiskResponse, RecordActionFeedbackRequest,
    RecordActionFeedbackResponse, RiskAlert, SearchEvidenceRequest, SearchEvidenceResponse, WatchRiskRequest,
};
use undertone_api::{
    evidence_from_segment, role_from_proto, sentiment_label_from_proto, source_kind_from_proto,
    timestamp_to_ms,
};
use undertone_core::{AccountId, StoredSegment, TenantId};
use undertone_insights::{
    Alert, AlertKind, Direction, Outcome, Reason, RiskCategory, RiskLevel, RiskReport, SentimentReport,
    Suggestion, ThemeReport, Watcher,
};
use undertone_store::SegmentFilter;

use super::{DAY_MS, check_text, now_ms, window_ms, window_to_proto};
use crate::auth::{Role, authorize};
use crate::engine::Engine;
use crate::error::ServiceError;
use crate::tenant::account_id;

/// Default risk window (also of account sentiment, next-best-actions and WatchRisk).
const RISK_WINDOW_DAYS: i64 = 90;
/// Default themes window.
const THEMES_WINDOW_DAYS: i64 = 30;
const MAX_SEARCH_RESULTS: u32 = 100;
const MAX_THEMES: u32 = 100;
const MAX_ACTIONS: u32 = 20;
const MAX_BUCKET_DAYS: u32 = 366;
const MAX_NOTE_BYTES: usize = 4096;

pub struct InsightsApi {
    engine: Arc<Engine>,
}

impl InsightsApi {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    fn risk_to_proto(
        &self,
        account: &AccountId,
        report: RiskReport,
        window: (i64, i64),
        max_evidence: usize,
    ) -> AccountRisk {
        let reasons = reasons_to_proto(&self.engine, report.reasons, max_evidence);
        let delta = report.sentiment.delta();
        // Risk trends the opposite way to sentiment.
        let direction = match delta {
            d if d <= -0.1 => v1::TrendDirection::Worsening,
            d if d >= 0.1 => v1::TrendDirection::Improving,
            _ => v1::TrendDirection::Stable,
        };
        AccountRisk {
            account_id: account.to_string(),
            score: report.score,
            level: level_to_proto(report.level) as i32,
            trend: Some(v1::Trend { direction: direction as i32, delta }),
            reasons,
            window: Some(window_to_proto(window.0, window.1)),
            segments_considered: report.segments_considered as u32,
            sentiment: report.sentiment.current,
            explanation: report.explanation,
            days_to_renewal: report.days_to_renewal,
        }
    }

    async fn risk(
        &self,
        tenant: TenantId,
        account: AccountId,
        window: (i64, i64),
        max_evidence: usize,
    ) -> Result<AccountRisk, ServiceError> {
        let report =
            self.engine.account_risk(tenant, account.clone(), window.0, window.1, max_evidence).await?;
        Ok(self.risk_to_proto(&account, report, window, max_evidence))
    }
}

fn reasons_to_proto(engine: &Engine, reasons: Vec<Reason>, max_evidence: usize) -> Vec<v1::RiskReason> {
    reasons
        .into_iter()
        .map(|r| v1::RiskReason {
            category: category_to_proto(r.category) as i32,
            summary: r.summary,
            contribution: r.contribution,
            strength: r.strength,
            evidence: r.evidence.iter().take(max_evidence).map(|s| evidence(engine, s, None)).collect(),
        })
        .collect()
}

/// A stored segment as evidence, with `relevance` when it was found for something.
fn evidence(engine: &Engine, segment: &StoredSegment, relevance: Option<f32>) -> v1::Evidence {
    let mut evidence = evidence_from_segment(segment, |id| engine.topic_label(id));
    if let Some(relevance) = relevance {
        evidence.relevance = relevance;
    }
    evidence
}

fn direction_to_proto(direction: Direction) -> v1::TrendDirection {
    match direction {
        Direction::Improving => v1::TrendDirection::Improving,
        Direction::Stable => v1::TrendDirection::Stable,
        Direction::Worsening => v1::TrendDirection::Worsening,
    }
}

fn sentiment_to_proto(
    account: &AccountId,
    report: &SentimentReport,
    config: &undertone_insights::SentimentConfig,
) -> AccountSentiment {
    AccountSentiment {
        account_id: account.to_string(),
        current: report.current,
        baseline: report.baseline.unwrap_or(0.0),
        trend: Some(v1::Trend {
            direction: direction_to_proto(report.direction(config)) as i32,
            delta: report.delta(),
        }),
        history: report
            .history
            .iter()
            .map(|p| v1::SentimentPoint {
                bucket_start: Some(timestamp_from_ms(p.bucket_start_ms)),
                sentiment: p.sentiment,
                segments: p.segments as u32,
            })
            .collect(),
    }
}

fn themes_to_proto(
    engine: &Engine,
    tenant: &TenantId,
    report: ThemeReport,
    window: (i64, i64),
    limit: usize,
) -> GetThemesResponse {
    let profiles = engine.account_profiles(tenant);
    let themes = report
        .themes
        .iter()
        .take(limit)
        .map(|theme| {
            let accounts: Vec<v1::AffectedAccount> = theme
                .accounts
                .iter()
                .map(|(account, segments)| {
                    let profile = profiles.get(account).cloned().unwrap_or_default();
                    v1::AffectedAccount {
                        account_id: account.to_string(),
                        name: if profile.name.is_empty() { account.to_string() } else { profile.name },
                        arr_usd: profile.arr_usd,
                        segments: *segments as u32,
                    }
                })
                .collect();
            v1::Theme {
                id: theme.id.clone(),
                label: theme.label.clone(),
                topic: theme.topic.clone().unwrap_or_default(),
                keywords: theme.keywords.clone(),
                segment_count: theme.segment_count as u32,
                total_arr_usd: accounts.iter().map(|a| a.arr_usd).sum(),
                accounts,
                previous_segment_count: theme.previous_count as u32,
                trend: Some(v1::Trend {
                    direction: direction_to_proto(theme.direction()) as i32,
                    delta: theme.delta(),
                }),
                representative_quotes: theme
                    .quotes
                    .iter()
                    .map(|(s, r)| evidence(engine, s, Some(*r)))
                    .collect(),
            }
        })
        .collect();
    GetThemesResponse {
        themes,
        segments_considered: report.segments_considered as u32,
        unassigned_share: report.unassigned_share(),
        window: Some(window_to_proto(window.0, window.1)),
    }
}

fn action_to_proto(engine: &Engine, suggestion: Suggestion) -> v1::NextBestAction {
    v1::NextBestAction {
        action_id: suggestion.action_id,
        title: suggestion.title,
        rationale: suggestion.rationale,
        score: suggestion.score,
        triggered_by: suggestion.triggered_by.into_iter().map(|c| category_to_proto(c) as i32).collect(),
        evidence: suggestion.evidence.iter().map(|(s, r)| evidence(engine, s, Some(*r))).collect(),
    }
}

fn outcome_from_proto(raw: i32) -> Option<Outcome> {
    match v1::ActionOutcome::try_from(raw).ok()? {
        v1::ActionOutcome::Accepted => Some(Outcome::Accepted),
        v1::ActionOutcome::Dismissed => Some(Outcome::Dismissed),
        v1::ActionOutcome::Unspecified => None,
    }
}

fn account_ids(raw: &[String]) -> Result<Vec<AccountId>, ServiceError> {
    raw.iter().enumerate().map(|(i, raw)| account_id(&format!("account_ids[{i}]"), raw)).collect()
}

fn alert_to_proto(
    engine: &Engine,
    account: &AccountId,
    alert: Alert,
    report: RiskReport,
    at_ms: i64,
) -> RiskAlert {
    let kind = match alert.kind {
        AlertKind::CrossedThreshold => v1::AlertKind::CrossedThreshold,
        AlertKind::BelowBaseline => v1::AlertKind::BelowBaseline,
    };
    RiskAlert {
        account_id: account.to_string(),
        kind: kind as i32,
        score: alert.score,
        previous_score: alert.previous_score,
        level: level_to_proto(report.level) as i32,
        reasons: reasons_to_proto(engine, report.reasons, engine.risk_config().max_evidence),
        at: Some(timestamp_from_ms(at_ms)),
    }
}

/// Polls the watched accounts until the client goes away (the receiver is dropped).
async fn watch_loop(
    engine: Arc<Engine>,
    tenant: TenantId,
    accounts: Vec<AccountId>,
    mut watcher: Watcher,
    interval: Duration,
    tx: tokio::sync::mpsc::Sender<Result<RiskAlert, Status>>,
) {
    loop {
        let now = now_ms();
        let watched = if accounts.is_empty() {
            match engine.accounts(tenant.clone()).await {
                Ok(all) => {
                    watcher.retain(&all);
                    all
                }
                Err(err) => {
                    let _ = tx.send(Err(err.into())).await;
                    return;
                }
            }
        } else {
            accounts.clone()
        };
        for account in &watched {
            if tx.is_closed() {
                return;
            }
            let report = match engine
                .account_risk(
                    tenant.clone(),
                    account.clone(),
                    now - RISK_WINDOW_DAYS * DAY_MS,
                    now,
                    engine.risk_config().max_evidence,
                )
                .await
            {
                Ok(report) => report,
                Err(err) => {
                    let _ = tx.send(Err(err.into())).await;
                    return;
                }
            };
            for alert in watcher.observe(account, &report) {
                let message = alert_to_proto(&engine, account, alert, report.clone(), now);
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

pub fn category_to_proto(category: RiskCategory) -> v1::RiskCategory {
    use v1::RiskCategory as P;
    match category {
        RiskCategory::ChurnIntent => P::ChurnIntent,
        RiskCategory::Competitor => P::Competitor,
        RiskCategory::FallingSentiment => P::FallingSentiment,
        RiskCategory::Billing => P::Billing,
        RiskCategory::Pricing => P::Pricing,
        RiskCategory::Reliability => P::Reliability,
        RiskCategory::Performance => P::Performance,
        RiskCategory::Integrations => P::Integrations,
        RiskCategory::DataExport => P::DataExport,
        RiskCategory::SupportResponsiveness => P::SupportResponsiveness,
        RiskCategory::StakeholderChange => P::StakeholderChange,
        RiskCategory::Onboarding => P::Onboarding,
        RiskCategory::SecurityCompliance => P::SecurityCompliance,
        RiskCategory::NegativeSentiment => P::NegativeSentiment,
    }
}

fn level_to_proto(level: RiskLevel) -> v1::RiskLevel {
    match level {
        RiskLevel::Low => v1::RiskLevel::Low,
        RiskLevel::Medium => v1::RiskLevel::Medium,
        RiskLevel::High => v1::RiskLevel::High,
        RiskLevel::Critical => v1::RiskLevel::Critical,
    }
}

/// Maps a list of proto enum numbers, naming the field of the first bad one.
fn enum_list<T>(field: &str, raw: &[i32], parse: impl Fn(i32) -> Option<T>) -> Result<Vec<T>, ServiceError> {
    raw.iter()
        .enumerate()
        .map(|(i, &v)| {
            parse(v)
                .ok_or_else(|| ServiceError::invalid(format!("{field}[{i}]"), "unknown or unspecified value"))
        })
        .collect()
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<RiskAlert, Status>> + Send>>;

#[tonic::async_trait]
impl InsightsService for InsightsApi {
    async fn get_account_risk(
        &self,
        request: Request<GetAccountRiskRequest>,
    ) -> Result<Response<AccountRisk>, Status> {
        let tenant = authorize(&request, Role::Read, "GetAccountRisk")?;
        let request = request.into_inner();
        let account = account_id("account_id", &request.account_id)?;
        let window = window_ms(request.window.as_ref(), RISK_WINDOW_DAYS)?;
        let max_evidence = match request.max_evidence {
            0 => self.engine.risk_config().max_evidence,
            n @ 1..=10 => n as usize,
            _ => return Err(ServiceError::invalid("max_evidence", "must be 1 to 10").into()),
        };
        Ok(Response::new(self.risk(tenant, account, window, max_evidence).await?))
    }

    async fn list_accounts_by_risk(
        &self,
        request: Request<ListAccountsByRiskRequest>,
    ) -> Result<Response<ListAccountsByRiskResponse>, Status> {
        let tenant = authorize(&request, Role::Read, "ListAccountsByRisk")?;
        let request = request.into_inner();
        let window = window_ms(request.window.as_ref(), RISK_WINDOW_DAYS)?;
        let limit = if request.limit == 0 { 50 } else { request.limit as usize };
        let mut accounts = Vec::new();
        for account in self.engine.accounts(tenant.clone()).await? {
            let risk =
                self.risk(tenant.clone(), account, window, self.engine.risk_config().max_evidence).await?;
            if risk.level >= request.min_level {
                accounts.push(risk);
            }
        }
        accounts.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.account_id.cmp(&b.account_id)));
        accounts.truncate(limit);
        Ok(Response::new(ListAccountsByRiskResponse { accounts }))
    }

    async fn get_account_sentiment(
        &self,
        request: Request<GetAccountSentimentRequest>,
    ) -> Result<Response<AccountSentiment>, Status> {
        let tenant = authorize(&request, Role::Read, "GetAccountSentiment")?;
        let request = request.into_inner();
        let account = account_id("account_id", &request.account_id)?;
        let window = window_ms(request.window.as_ref(), RISK_WINDOW_DAYS)?;
        let config = &self.engine.insights_config().sentiment;
        let bucket_days = match request.bucket_days {
            0 => config.bucket_days,
            n @ 1..=MAX_BUCKET_DAYS => n,
            _ => {
                return Err(
                    ServiceError::invalid("bucket_days", format!("must be 1 to {MAX_BUCKET_DAYS}")).into()
                );
            }
        };
        let report = self
            .engine
            .account_sentiment(tenant, account.clone(), window.0, window.1, i64::from(bucket_days) * DAY_MS)
            .await?;
        Ok(Response::new(sentiment_to_proto(&account, &report, config)))
    }

    async fn get_themes(
        &self,
        request: Request<GetThemesRequest>,
    ) -> Result<Response<GetThemesResponse>, Status> {
        let tenant = authorize(&request, Role::Read, "GetThemes")?;
        let request = request.into_inner();
        let window = window_ms(request.window.as_ref(), THEMES_WINDOW_DAYS)?;
        let limit = match request.limit {
            0 => 10,
            n @ 1..=MAX_THEMES => n as usize,
            _ => return Err(ServiceError::invalid("limit", format!("must be at most {MAX_THEMES}")).into()),
        };
        let accounts = account_ids(&request.account_ids)?;
        let kinds = enum_list("source_kinds", &request.source_kinds, source_kind_from_proto)?;
        let report = self.engine.themes(tenant.clone(), accounts, kinds, window.0, window.1).await?;
        Ok(Response::new(themes_to_proto(&self.engine, &tenant, report, window, limit)))
    }

    async fn get_next_best_actions(
        &self,
        request: Request<GetNextBestActionsRequest>,
    ) -> Result<Response<GetNextBestActionsResponse>, Status> {
        let tenant = authorize(&request, Role::Read, "GetNextBestActions")?;
        let request = request.into_inner();
        let account = account_id("account_id", &request.account_id)?;
        let window = window_ms(request.window.as_ref(), RISK_WINDOW_DAYS)?;
        let limit = match request.limit {
            0 => 3,
            n @ 1..=MAX_ACTIONS => n as usize,
            _ => return Err(ServiceError::invalid("limit", format!("must be 1 to {MAX_ACTIONS}")).into()),
        };
        let max_evidence = self.engine.risk_config().max_evidence;
        let (_, ranked) =
            self.engine.next_best_actions(tenant, account.clone(), window, now_ms(), max_evidence).await?;
        let actions = ranked.into_iter().take(limit).map(|s| action_to_proto(&self.engine, s)).collect();
        Ok(Response::new(GetNextBestActionsResponse { account_id: account.to_string(), actions }))
    }

    async fn record_action_feedback(
        &self,
        request: Request<RecordActionFeedbackRequest>,
    ) -> Result<Response<RecordActionFeedbackResponse>, Status> {
        let tenant = authorize(&request, Role::Write, "RecordActionFeedback")?;
        let request = request.into_inner();
        let account = account_id("account_id", &request.account_id)?;
        let action = request.action_id.trim();
        if action.is_empty() {
            return Err(ServiceError::invalid("action_id", "must not be empty").into());
        }
        let outcome = outcome_from_proto(request.outcome)
            .ok_or_else(|| ServiceError::invalid("outcome", "must be ACCEPTED or DISMISSED"))?;
        if request.note.len() > MAX_NOTE_BYTES {
            return Err(
                ServiceError::invalid("note", format!("must be at most {MAX_NOTE_BYTES} bytes")).into()
            );
        }
        self.engine.record_action_feedback(tenant, account, action, outcome, request.note, now_ms()).await?;
        Ok(Response::new(RecordActionFeedbackResponse {}))
    }

    async fn search_evidence(
        &self,
        request: Request<SearchEvidenceRequest>,
    ) -> Result<Response<SearchEvidenceResponse>, Status> {
        let tenant = authorize(&request, Role::Read, "SearchEvidence")?;
        let request = request.into_inner();
        check_text("query", &request.query, self.engine.limits().max_text_bytes)?;
        let limit = match request.limit {
            0 => 10,
            n if n <= MAX_SEARCH_RESULTS => n as usize,
            _ => {
                return Err(
                    ServiceError::invalid("limit", format!("must be at most {MAX_SEARCH_RESULTS}")).into()
                );
            }
        };
        let accounts = account_ids(&request.account_ids)?;
        // Search has no default window: an unset bound is open.
        let window = request.window.as_ref();
        let from_ms = window.and_then(|w| w.start.as_ref()).map(timestamp_to_ms);
        let to_ms = window.and_then(|w| w.end.as_ref()).map(timestamp_to_ms);
        if let (Some(from), Some(to)) = (from_ms, to_ms)
            && from >= to
        {
            return Err(ServiceError::invalid("window", "start must be before end").into());
        }
        let filter = SegmentFilter {
            accounts,
            source_kinds: enum_list("source_kinds", &request.source_kinds, source_kind_from_proto)?,
            roles: enum_list("roles", &request.roles, role_from_proto)?,
            sentiments: enum_list("sentiments", &request.sentiments, sentiment_label_from_proto)?,
            from_ms,
            to_ms,
            ..SegmentFilter::tenant(tenant)
        };
        if !(-1.0..=1.0).contains(&request.min_relevance) {
            return Err(ServiceError::invalid("min_relevance", "must be a number from -1 to 1").into());
        }
        let min_score = (request.min_relevance != 0.0).then_some(request.min_relevance);
        let found = self.engine.search(&request.query, filter, limit, min_score).await?;
        let hits = found.iter().map(|s| evidence_from_segment(s, |id| self.engine.topic_label(id))).collect();
        Ok(Response::new(SearchEvidenceResponse { hits }))
    }

    type WatchRiskStream = AlertStream;

    async fn watch_risk(
        &self,
        request: Request<WatchRiskRequest>,
    ) -> Result<Response<Self::WatchRiskStream>, Status> {
        let tenant = authorize(&request, Role::Read, "WatchRisk")?;
        let request = request.into_inner();
        let accounts = account_ids(&request.account_ids)?;
        let config = self.engine.insights_config();
        let threshold = match request.threshold {
            0.0 => config.watch_threshold,
            t if t > 0.0 && t <= 100.0 => t,
            _ => return Err(ServiceError::invalid("threshold", "must be in (0, 100]").into()),
        };
        let watcher =
            Watcher::new(threshold, config.watch_hysteresis, self.engine.risk_config().falling_threshold);
        let interval = Duration::from_secs(config.watch_interval_secs);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(watch_loop(self.engine.clone(), tenant, accounts, watcher, interval, tx));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}
