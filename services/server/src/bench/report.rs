//! The benchmark's results: one JSON object (`--json`) or a table.

use serde::{Deserialize, Serialize};

/// Sentences per second at one batch size.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Throughput {
    pub batch: usize,
    pub sentences_per_s: f64,
    pub seconds: f64,
}

/// Our encoder against the baseline at one batch size.
#[derive(Debug, Clone, Serialize)]
pub struct EncoderRow {
    pub batch: usize,
    pub ours_sentences_per_s: f64,
    pub ours_tokens_per_s: f64,
    pub baseline_sentences_per_s: Option<f64>,
    pub baseline_tokens_per_s: Option<f64>,
    /// Ours / baseline.
    pub ratio: Option<f64>,
    /// The whole analyzer (encoder + sentiment branch + topics), sentences/s.
    pub analyzer_sentences_per_s: f64,
}

/// Sentiment RPC latency at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub threads: usize,
    pub precision: String,
    pub cpu: String,
    pub corpus_sentences: usize,
    pub corpus_mean_tokens: f64,
    /// Runs per encoder figure, both sides; the median is reported.
    pub repeats: usize,
    pub baseline: String,
    pub encoder: Vec<EncoderRow>,
    /// Our encoder / the baseline at batch 32.
    pub encoder_ratio_b32: Option<f64>,
    /// End-to-end ingest over gRPC into the store, segments/s.
    pub ingest_sps: f64,
    /// Tokens of the segments ingest stores (they are single sentences, shorter than the
    /// corpus texts), on average.
    pub ingest_segment_mean_tokens: f64,
    /// Our encoder alone and the whole analyzer, at batch 32, on those same segments.
    pub encoder_b32_on_segments_sps: f64,
    pub analyzer_b32_on_segments_sps: f64,
    /// Ingest / the raw encoder on the same segments.
    pub ingest_ratio_encoder_b32: f64,
    /// Ingest / the whole analyzer on the same segments (the model work ingest runs).
    pub ingest_ratio_analyzer_b32: f64,
    pub sentiment: Vec<LatencyRow>,
    pub sentiment_p99_ms_c8: Option<f64>,
    /// The server's resident memory with models loaded and an empty store, MiB.
    pub server_rss_mib_empty: f64,
    pub segments_stored: u64,
    /// The server's peak resident memory (VmHWM) after storing `segments_stored`, MiB.
    pub server_peak_rss_mib: f64,
}

impl Report {
    pub fn print_table(&self) {
        println!("undertone bench: {} thread(s), {} arithmetic, {}", self.threads, self.precision, self.cpu);
        println!(
            "corpus: {} generated customer-success sentences, {:.1} tokens on average",
            self.corpus_sentences, self.corpus_mean_tokens
        );
        println!("baseline: {}", self.baseline);
        println!("encoder figures: median of {} runs each, both sides", self.repeats);
        println!();
        println!("encoder throughput (sentences/s, tokens/s)");
        println!("  batch   ours s/s   ours tok/s   base s/s   base tok/s   ratio   analyzer s/s");
        for row in &self.encoder {
            println!(
                "  {:>5}   {:>8.1}   {:>10.0}   {:>8}   {:>10}   {:>5}   {:>12.1}",
                row.batch,
                row.ours_sentences_per_s,
                row.ours_tokens_per_s,
                opt(row.baseline_sentences_per_s, 1),
                opt(row.baseline_tokens_per_s, 0),
                opt(row.ratio, 2),
                row.analyzer_sentences_per_s,
            );
        }
        println!();
        println!(
            "ingest over gRPC into the store: {:.1} segments/s of {:.1} tokens on average",
            self.ingest_sps, self.ingest_segment_mean_tokens
        );
        println!(
            "  on those segments at batch 32: encoder {:.1}/s (ingest {:.2}x), whole analyzer {:.1}/s (ingest {:.2}x)",
            self.encoder_b32_on_segments_sps,
            self.ingest_ratio_encoder_b32,
            self.analyzer_b32_on_segments_sps,
            self.ingest_ratio_analyzer_b32
        );
        println!();
        println!("sentiment RPC latency, one short text per call");
        println!("  conc   requests   errors   req/s      p50 ms   p95 ms   p99 ms");
        for row in &self.sentiment {
            println!(
                "  {:>4}   {:>8}   {:>6}   {:>7.1}   {:>7.1}   {:>6.1}   {:>6.1}",
                row.concurrency,
                row.requests,
                row.errors,
                row.requests_per_s,
                row.p50_ms,
                row.p95_ms,
                row.p99_ms
            );
        }
        println!();
        println!(
            "server memory: {:.0} MiB with models loaded; peak {:.0} MiB with {} segments stored",
            self.server_rss_mib_empty, self.server_peak_rss_mib, self.segments_stored
        );
    }
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// The `q` quantile (0..1) of sorted `values`, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&values, 1.0), 100.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
