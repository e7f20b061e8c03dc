//! Prometheus metrics: a tower layer that counts and times every gRPC call by method and
//! status code, served as text on `GET /metrics`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use undertone_models::Batcher;

use crate::call_hook::{CallHook, HookLayer};

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

/// Records every call's method, status and duration.
#[derive(Clone)]
pub struct MetricsHook {
    metrics: Arc<Metrics>,
}

/// The layer that feeds [`Metrics`].
pub type MetricsLayer = HookLayer<MetricsHook>;

pub fn metrics_layer(metrics: Arc<Metrics>) -> MetricsLayer {
    HookLayer(MetricsHook { metrics })
}

impl CallHook for MetricsHook {
    type Seen = (String, Instant);

    fn before<B>(&self, request: &http::Request<B>) -> Self::Seen {
        (request.uri().path().to_owned(), Instant::now())
    }

    fn after<R>(&self, (method, started): Self::Seen, response: Option<&mut http::Response<R>>) {
        let code = match response {
            // Errors come back "trailers-only", with the status in the headers.
            Some(r) => r.headers().get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or("0").to_owned(),
            None => "transport".to_owned(),
        };
        self.metrics.record(&method, &code, started.elapsed().as_secs_f64());
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
