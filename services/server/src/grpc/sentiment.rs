//! SentimentService: scores for texts, unary batch and bidirectional stream.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use undertone_api::v1::sentiment_service_server::SentimentService;
use undertone_api::v1::{
    AnalyzeOptions, AnalyzeRequest, AnalyzeResponse, AnalyzeStreamRequest, AnalyzeStreamResponse,
    StreamError, TextAnalysis,
};
use undertone_api::{sentiment_to_proto, signals_to_proto, topics_to_proto};
use undertone_models::Analysis;

use super::{check_text, insert_timing, timing_to_proto};
use crate::auth::{Role, authorize};
use crate::engine::Engine;
use crate::error::ServiceError;

pub struct SentimentApi {
    engine: Arc<Engine>,
}

impl SentimentApi {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    fn to_proto(&self, analysis: Analysis, options: &AnalyzeOptions) -> TextAnalysis {
        TextAnalysis {
            sentiment: Some(sentiment_to_proto(&analysis.sentiment)),
            topics: if options.include_topics {
                topics_to_proto(&analysis.topics, |id| self.engine.topic_label(id))
            } else {
                Vec::new()
            },
            embedding: if options.include_embedding { analysis.embedding } else { Vec::new() },
            signals: signals_to_proto(&analysis.signals),
            token_count: analysis.token_count,
            truncated: analysis.truncated,
        }
    }

    fn model_name(&self) -> String {
        self.engine.analyzer().sentiment_head().card().name.clone()
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<AnalyzeStreamResponse, Status>> + Send>>;

/// Messages of one AnalyzeStream in flight at once.
const STREAM_WINDOW: usize = 32;

#[tonic::async_trait]
impl SentimentService for SentimentApi {
    async fn analyze(&self, request: Request<AnalyzeRequest>) -> Result<Response<AnalyzeResponse>, Status> {
        authorize(&request, Role::Read, "Analyze")?;
        let request = request.into_inner();
        let limits = self.engine.limits();
        if request.texts.is_empty() || request.texts.len() > limits.max_batch_texts {
            let reason =
                format!("must hold 1 to {} texts, got {}", limits.max_batch_texts, request.texts.len());
            return Err(ServiceError::invalid("texts", reason).into());
        }
        for (i, text) in request.texts.iter().enumerate() {
            check_text(&format!("texts[{i}]"), text, limits.max_text_bytes)?;
        }
        let options = request.options.unwrap_or_default();
        let (analyses, timing) = self.engine.analyze(request.texts).await?;
        let timing = timing_to_proto(&timing);
        let results = analyses.into_iter().map(|a| self.to_proto(a, &options)).collect();
        let mut response =
            Response::new(AnalyzeResponse { results, timing: Some(timing), model: self.model_name() });
        insert_timing(response.metadata_mut(), &timing);
        Ok(response)
    }

    type AnalyzeStreamStream = ResponseStream;

    /// Each message is analyzed on its own, up to [`STREAM_WINDOW`] at a time so that a
    /// single stream fills forward passes; replies keep the order of the requests.
    async fn analyze_stream(
        &self,
        request: Request<Streaming<AnalyzeStreamRequest>>,
    ) -> Result<Response<Self::AnalyzeStreamStream>, Status> {
        authorize(&request, Role::Read, "AnalyzeStream")?;
        let inbound = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_WINDOW);
        let engine = self.engine.clone();
        tokio::spawn(async move {
            let mut replies = inbound
                .map(move |message| {
                    let api = SentimentApi { engine: engine.clone() };
                    async move {
                        match message {
                            Ok(message) => Ok(api.analyze_one(message).await),
                            Err(status) => Err(status),
                        }
                    }
                })
                .buffered(STREAM_WINDOW);
            while let Some(reply) = replies.next().await {
                let stop = reply.is_err();
                // A closed channel means the client went away: dropping `replies` withdraws
                // its queued texts.
                if tx.send(reply).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

impl SentimentApi {
    /// One stream message: a result, or an error for this text alone.
    async fn analyze_one(&self, message: AnalyzeStreamRequest) -> AnalyzeStreamResponse {
        let options = message.options.unwrap_or_default();
        let outcome = match check_text("text", &message.text, self.engine.limits().max_text_bytes) {
            Ok(()) => self.engine.analyze(vec![message.text]).await,
            Err(err) => Err(err),
        };
        match outcome {
            Ok((mut analyses, timing)) => AnalyzeStreamResponse {
                id: message.id,
                result: analyses.pop().map(|a| self.to_proto(a, &options)),
                timing: Some(timing_to_proto(&timing)),
                error: None,
            },
            Err(err) => AnalyzeStreamResponse {
                id: message.id,
                result: None,
                timing: None,
                error: Some(StreamError { code: err.code_name().to_owned(), message: err.to_string() }),
            },
        }
    }
}
