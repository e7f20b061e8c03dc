//! The service measured from outside, as callers see it: a real `undertone serve` child
//! process on a loopback port with a fresh data folder; ingest over gRPC, sentiment RPC
//! latency under concurrent load, and the process's resident memory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tonic::transport::Channel;
use undertone_api::v1::ingest_service_client::IngestServiceClient;
use undertone_api::v1::sentiment_service_client::SentimentServiceClient;
use undertone_api::v1::{AnalyzeRequest, IngestMessageRequest, SpeakerRole};

use super::report::{LatencyRow, quantile};

const TENANT: &str = "bench";

/// `undertone serve`, stopped when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: String,
}

impl ServerProcess {
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        crate::client::provision_key(data_dir, TENANT)?;
        let mut child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("UNDERTONE_LISTEN", "127.0.0.1:0")
            .env("UNDERTONE_METRICS_LISTEN", "off")
            .env("UNDERTONE_DATA_DIR", data_dir)
            .env("UNDERTONE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting undertone serve")?;
        let mut lines = BufReader::new(child.stdout.take().context("server stdout")?).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("undertone listening on ") {
                        break format!("http://{}", addr.trim());
                    }
                }
                _ => anyhow::bail!("the server exited before listening"),
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self { child, addr })
    }

    /// Resident and peak resident memory in MiB, from /proc.
    pub fn memory_mib(&self) -> anyhow::Result<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the server's /proc status (Linux only)")?;
        let field = |name: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        };
        Ok((field("VmRSS:").unwrap_or(0.0), field("VmHWM:").unwrap_or(0.0)))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scoped<T>(message: T) -> anyhow::Result<tonic::Request<T>> {
    crate::client::scoped(TENANT, message)
}

/// Ingests documents of `per_document` sentences (cycling through `sentences`) with
/// `concurrency` callers until `target` segments are stored, starting at document
/// `first`; returns (segments stored, seconds, documents sent).
pub async fn ingest(
    channel: Channel,
    sentences: &[String],
    per_document: usize,
    first: u64,
    target: u64,
    concurrency: usize,
) -> anyhow::Result<(u64, f64, u64)> {
    let sentences = Arc::new(sentences.to_vec());
    let next = Arc::new(AtomicU64::new(first));
    let stored = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (sentences, next, stored) = (sentences.clone(), next.clone(), stored.clone());
        let mut client = IngestServiceClient::new(channel.clone());
        workers.push(tokio::spawn(async move {
            while stored.load(Ordering::Relaxed) < target {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let text = (0..per_document)
                    .map(|i| sentences[(n as usize * per_document + i) % sentences.len()].as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let request = IngestMessageRequest {
                    account_id: format!("account-{}", n % 50),
                    external_id: format!("bench-{n}"),
                    text,
                    speaker: "customer@example.com".into(),
                    role: SpeakerRole::Customer as i32,
                    sent_at: Some(undertone_api::timestamp_from_ms(crate::grpc::now_ms())),
                };
                let response = client.ingest_message(scoped(request)?).await?.into_inner();
                stored.fetch_add(u64::from(response.segments_stored), Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let documents = next.load(Ordering::Relaxed) - first;
    Ok((stored.load(Ordering::Relaxed), started.elapsed().as_secs_f64(), documents))
}

/// `concurrency` callers each sending one short text per Analyze call, back to back, for
/// `duration` (after a one-second warm-up that is not counted).
pub async fn sentiment_latency(
    channel: Channel,
    texts: &[String],
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<LatencyRow> {
    let texts = Arc::new(texts.to_vec());
    let errors = Arc::new(AtomicUsize::new(0));
    let warm_until = Instant::now() + Duration::from_secs(1);
    let deadline = warm_until + duration;
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (texts, errors) = (texts.clone(), errors.clone());
        let mut client = SentimentServiceClient::new(channel.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while Instant::now() < deadline {
                let request = AnalyzeRequest { texts: vec![texts[i % texts.len()].clone()], options: None };
                i += concurrency;
                let sent = Instant::now();
                let outcome = match scoped(request) {
                    Ok(request) => client.analyze(request).await.map_err(drop),
                    Err(_) => Err(()),
                };
                if sent < warm_until {
                    continue;
                }
                match outcome {
                    Ok(_) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await?);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(LatencyRow {
        concurrency,
        requests: latencies.len(),
        errors: errors.load(Ordering::Relaxed),
        requests_per_s: latencies.len() as f64 / duration.as_secs_f64(),
        p50_ms: quantile(&latencies, 0.50),
        p95_ms: quantile(&latencies, 0.95),
        p99_ms: quantile(&latencies, 0.99),
    })
}
