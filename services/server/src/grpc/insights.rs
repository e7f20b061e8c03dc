//! InsightsService: explained account risk and evidence search work today; themes,
//! next-best-actions, sentiment history and alerts land with the insights issue.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tonic::{Request, Response, Status};
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
use undertone_core::{AccountId, TenantId};
use undertone_insights::{RiskCategory, RiskLevel, RiskReport};
use undertone_store::SegmentFilter;

use super::{check_text, window_ms, window_to_proto};
use crate::engine::Engine;
use crate::error::ServiceError;
use crate::tenant::{account_id, tenant_of};

/// Default risk window.
const RISK_WINDOW_DAYS: i64 = 90;
const MAX_SEARCH_RESULTS: u32 = 100;

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
        let label_of = |id: &str| self.engine.topic_label(id);
        let reasons = report
            .reasons
            .into_iter()
            .map(|r| v1::RiskReason {
                category: category_to_proto(r.category) as i32,
                summary: r.summary,
                contribution: r.contribution,
                evidence: r
                    .evidence
                    .iter()
                    .take(max_evidence)
                    .map(|s| evidence_from_segment(s, label_of))
                    .collect(),
            })
            .collect();
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
        }
    }

    async fn risk(
        &self,
        tenant: TenantId,
        account: AccountId,
        window: (i64, i64),
        max_evidence: usize,
    ) -> Result<AccountRisk, ServiceError> {
        let report = self.engine.account_risk(tenant, account.clone(), window.0, window.1).await?;
        Ok(self.risk_to_proto(&account, report, window, max_evidence))
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
        let tenant = tenant_of(&request)?;
        let request = request.into_inner();
        let account = account_id("account_id", &request.account_id)?;
        let window = window_ms(request.window.as_ref(), RISK_WINDOW_DAYS)?;
        let max_evidence = match request.max_evidence {
            0 => 3,
            n @ 1..=10 => n as usize,
            _ => return Err(ServiceError::invalid("max_evidence", "must be 1 to 10").into()),
        };
        Ok(Response::new(self.risk(tenant, account, window, max_evidence).await?))
    }

    async fn list_accounts_by_risk(
        &self,
        request: Request<ListAccountsByRiskRequest>,
    ) -> Result<Response<ListAccountsByRiskResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let request = request.into_inner();
        let window = window_ms(request.window.as_ref(), RISK_WINDOW_DAYS)?;
        let limit = if request.limit == 0 { 50 } else { request.limit as usize };
        let mut accounts = Vec::new();
        for account in self.engine.accounts(tenant.clone()).await? {
            let risk = self.risk(tenant.clone(), account, window, 3).await?;
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
        tenant_of(&request)?;
        Err(ServiceError::Unimplemented("GetAccountSentiment").into())
    }

    async fn get_themes(
        &self,
        request: Request<GetThemesRequest>,
    ) -> Result<Response<GetThemesResponse>, Status> {
        tenant_of(&request)?;
        Err(ServiceError::Unimplemented("GetThemes").into())
    }

    async fn get_next_best_actions(
        &self,
        request: Request<GetNextBestActionsRequest>,
    ) -> Result<Response<GetNextBestActionsResponse>, Status> {
        tenant_of(&request)?;
        Err(ServiceError::Unimplemented("GetNextBestActions").into())
    }

    async fn record_action_feedback(
        &self,
        request: Request<RecordActionFeedbackRequest>,
    ) -> Result<Response<RecordActionFeedbackResponse>, Status> {
        tenant_of(&request)?;
        Err(ServiceError::Unimplemented("RecordActionFeedback").into())
    }

    async fn search_evidence(
        &self,
        request: Request<SearchEvidenceRequest>,
    ) -> Result<Response<SearchEvidenceResponse>, Status> {
        let tenant = tenant_of(&request)?;
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
        let accounts = request
            .account_ids
            .iter()
            .enumerate()
            .map(|(i, raw)| account_id(&format!("account_ids[{i}]"), raw))
            .collect::<Result<Vec<_>, _>>()?;
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
        tenant_of(&request)?;
        Err(ServiceError::Unimplemented("WatchRisk").into())
    }
}
