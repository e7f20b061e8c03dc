//! `undertone serve`: loads the models and the store, then serves gRPC (the three v1
//! services, health and reflection) and Prometheus metrics until SIGINT / SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use undertone_api::v1::ingest_service_server::IngestServiceServer;
use undertone_api::v1::insights_service_server::InsightsServiceServer;
use undertone_api::v1::sentiment_service_server::SentimentServiceServer;
use undertone_models::{Analyzer, AnalyzerOptions, Batcher};

use crate::accounts::AccountRegistry;
use crate::auth::{Authenticate, KeyRing};
use crate::config::{AuthMode, Config};
use crate::engine::{Engine, IngestSettings, InsightsState};
use crate::grpc::{IngestApi, InsightsApi, SentimentApi, decode_errors_layer};
use crate::metrics::{Metrics, metrics_layer};

/// The API keys every call is checked against, or none when `[auth] mode = "none"`.
fn authentication(config: &Config) -> anyhow::Result<Authenticate> {
    match config.auth.mode {
        AuthMode::None => {
            tracing::warn!(
                "AUTHENTICATION IS OFF ([auth] mode = \"none\"): any caller can read and erase any tenant"
            );
            Ok(Authenticate::new(None))
        }
        AuthMode::Keys => {
            let path = config.keys_file();
            let ring = KeyRing::open(path.clone())?;
            anyhow::ensure!(
                ring.active_keys() > 0,
                "no API keys in {}: create one with `undertone keys create --tenant <id> --role write` \
                 (or set [auth] mode = \"none\" to run without authentication)",
                path.display()
            );
            tracing::info!(keys = ring.active_keys(), file = %path.display(), "API keys loaded");
            Ok(Authenticate::new(Some(Arc::new(ring))))
        }
    }
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let auth = authentication(&config)?;
    let started = std::time::Instant::now();
    let analyzer = tokio::task::spawn_blocking({
        let models = config.models.clone();
        move || {
            Analyzer::load(&AnalyzerOptions {
                model_dir: &models.dir,
                sentiment_dir: &models.sentiment_dir,
                taxonomy: &models.taxonomy,
                signals_dir: Some(&models.signals_dir),
                precision: models.precision,
            })
        }
    })
    .await?
    .context("loading models")?;
    tracing::info!(
        secs = started.elapsed().as_secs_f64(),
        head = %analyzer.sentiment_head().card().name,
        precision = analyzer.encoder().precision().as_str(),
        threads = rayon_threads(),
        "models loaded"
    );
    let batcher =
        Arc::new(Batcher::start(Arc::new(analyzer), config.batcher()).context("starting the model queue")?);

    // Opening a server store connects and checks the collection: a blocking call.
    let store = tokio::task::spawn_blocking({
        let config = config.clone();
        move || crate::store::open_store(&config)
    })
    .await??;
    let accounts = AccountRegistry::open(&config.data_dir).context("opening the account registry")?;
    let insights = InsightsState::load(config.insights.clone(), &config.risk, &config.data_dir)
        .context("loading the insights configuration and playbook")?;
    let engine = Arc::new(
        Engine::new(batcher.clone(), store.clone(), config.limits.clone(), config.risk.clone())
            .with_insights(insights)
            .with_ingest(IngestSettings::from_config(&config), accounts),
    );
    engine.restore_account_profiles();

    let metrics = Arc::new(Metrics::new().context("creating metrics")?);
    metrics.watch_queue(batcher.clone());
    if let Some(addr) = config.metrics_listen {
        let metrics = metrics.clone();
        let listener = tokio::spawn(crate::metrics::serve(metrics, addr));
        tokio::spawn(async move {
            if let Ok(Err(err)) = listener.await {
                tracing::error!(%err, "metrics endpoint stopped");
            }
        });
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IngestServiceServer<IngestApi>>().await;
    health.set_serving::<SentimentServiceServer<SentimentApi>>().await;
    health.set_serving::<InsightsServiceServer<InsightsApi>>().await;
    // Both reflection versions: grpcurl speaks v1, many language clients still v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(undertone_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().context("building reflection")?;
    let reflection_v1alpha = reflection().build_v1alpha().context("building reflection")?;

    let max = config.limits.max_message_bytes;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local = listener.local_addr()?;
    // Tests and scripts wait for this line.
    tracing::info!(addr = %local, "undertone listening");
    println!("undertone listening on {local}");
    Server::builder()
        .layer(metrics_layer(metrics))
        .layer(decode_errors_layer())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(
            IngestServiceServer::new(IngestApi::new(engine.clone())).max_decoding_message_size(max),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            SentimentServiceServer::new(SentimentApi::new(engine.clone())).max_decoding_message_size(max),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            InsightsServiceServer::new(InsightsApi::new(engine)).max_decoding_message_size(max),
            auth,
        ))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown_signal(),
        )
        .await
        .context("serving gRPC")?;
    store.flush().context("flushing the store on shutdown")?;
    tracing::info!("undertone stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// The compute threads the models run on (rayon's global pool, sized by
/// `RAYON_NUM_THREADS`, which `models.threads` sets at start-up).
pub fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
