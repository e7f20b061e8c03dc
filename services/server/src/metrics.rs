//! Prometheus metrics: a tower layer that counts and times every gRPC call by method and
//! status code, served as text on `GET /metrics`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use undertone_models::Batcher;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// The model queue's counters (by `what`) and current load, read at each scrape.
    queue_totals: IntCounterVec,
    queue_load: IntGaugeVec,
    queue: OnceLock<Arc<Batcher>>,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("undertone".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("grpc_requests_total", "gRPC calls by method and status code"),
            &["method", "code"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("grpc_request_duration_seconds", "gRPC call latency until the response head")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method"],
        )?;
        let queue_totals = IntCounterVec::new(
            Opts::new(
                "model_queue_total",
                "Model queue since start: batches, texts, tokens run; calls refused (full) and abandoned",
            ),
            &["what"],
        )?;
        let queue_load = IntGaugeVec::new(
            Opts::new("model_queue_waiting", "Calls and tokens in the model queue now"),
            &["what"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(queue_totals.clone()))?;
        registry.register(Box::new(queue_load.clone()))?;
        Ok(Self { registry, requests, latency, queue_totals, queue_load, queue: OnceLock::new() })
    }

    /// Reports the model queue's numbers from now on.
    pub fn watch_queue(&self, batcher: Arc<Batcher>) {
        let _ = self.queue.set(batcher);
    }

    fn update_queue(&self) {
        let Some(batcher) = self.queue.get() else { return };
        let now = batcher.stats();
        let totals = [
            ("batches", now.batches),
            ("texts", now.texts),
            ("tokens", now.tokens),
            ("refused", now.refused),
            ("abandoned", now.abandoned),
        ];
        // Each counter catches up with the queue's own running total.
        for (what, value) in totals {
            let counter = self.queue_totals.with_label_values(&[what]);
            counter.inc_by(value.saturating_sub(counter.get()));
        }
        self.queue_load.with_label_values(&["calls"]).set(now.queued_calls as i64);
        self.queue_load.with_label_values(&["tokens"]).set(now.queued_tokens as i64);
    }

    fn record(&self, method: &str, code: &str, seconds: f64) {
        self.requests.with_label_values(&[method, code]).inc();
        self.latency.with_label_values(&[method]).observe(seconds);
    }

    pub fn render(&self) -> String {
        self.update_queue();
        let mut out = Vec::new();
        // Encoding our own registry into a Vec cannot fail in practice; report if it does.
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(%err, "encoding metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Serves `GET /metrics` until the process ends.
pub async fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics listening");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { metrics.render() }
        }),
    );
    axum::serve(listener, app).await
}

#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService { inner, metrics: self.metrics.clone() }
    }
}

#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for MetricsService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        // The ready service handles this call; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        let started = Instant::now();
        Box::pin(async move {
            let response = inner.call(request).await;
            let code = match &response {
                // Errors come back "trailers-only", with the status in the headers.
                Ok(r) => {
                    r.headers().get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or("0").to_owned()
                }
                Err(_) => "transport".to_owned(),
            };
            metrics.record(&method, &code, started.elapsed().as_secs_f64());
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_recorded_calls() {
        let metrics = Metrics::new().unwrap();
        metrics.record("/undertone.v1.SentimentService/Analyze", "0", 0.004);
        let text = metrics.render();
        assert!(text.contains("undertone_grpc_requests_total{code=\"0\",method=\"/undertone.v1.SentimentService/Analyze\"} 1"), "{text}");
        assert!(text.contains("undertone_grpc_request_duration_seconds_bucket"));
    }
}
