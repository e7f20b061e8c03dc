//! The tonic services: they validate and translate requests, call the engine, and
//! translate back. No business logic lives here.

mod decode_errors;
mod ingest;
mod insights;
mod sentiment;

pub use decode_errors::decode_errors_layer;
pub use ingest::IngestApi;
pub use insights::InsightsApi;
pub use sentiment::SentimentApi;

use std::time::{SystemTime, UNIX_EPOCH};

use tonic::metadata::MetadataMap;
use undertone_api::{timestamp_to_ms, v1};

use crate::engine::Timing;
use crate::error::ServiceError;

const DAY_MS: i64 = 86_400_000;

pub fn timing_to_proto(timing: &Timing) -> v1::Timing {
    v1::Timing {
        tokenize_us: timing.tokenize.as_micros() as u64,
        queue_us: timing.queue.as_micros() as u64,
        inference_us: timing.inference.as_micros() as u64,
        total_us: timing.total.as_micros() as u64,
    }
}

/// Adds the timing as response metadata (`x-tokenize-us`, ...), as TEI does.
pub fn insert_timing(metadata: &mut MetadataMap, timing: &v1::Timing) {
    let pairs = [
        ("x-tokenize-us", timing.tokenize_us),
        ("x-queue-us", timing.queue_us),
        ("x-inference-us", timing.inference_us),
        ("x-total-us", timing.total_us),
    ];
    for (key, value) in pairs {
        if let Ok(value) = value.to_string().parse() {
            metadata.insert(key, value);
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The latest instant a window may reach: 2200-01-01T00:00:00Z.
const LATEST_MS: i64 = 7_258_118_400_000;

/// A request window as `[from_ms, to_ms)`: the end defaults to now, the start to
/// `default_days` before the end. Both must lie in 1970..2200, so the arithmetic on
/// windows (the baseline before it, buckets) cannot overflow.
pub fn window_ms(window: Option<&v1::TimeWindow>, default_days: i64) -> Result<(i64, i64), ServiceError> {
    let in_range = |field: &str, ms: i64| {
        if (0..=LATEST_MS).contains(&ms) {
            Ok(ms)
        } else {
            Err(ServiceError::invalid(field, "must lie between 1970-01-01 and 2200-01-01"))
        }
    };
    let end =
        in_range("window.end", window.and_then(|w| w.end.as_ref()).map_or_else(now_ms, timestamp_to_ms))?;
    let start = match window.and_then(|w| w.start.as_ref()) {
        Some(start) => in_range("window.start", timestamp_to_ms(start))?,
        None => end.saturating_sub(default_days.saturating_mul(DAY_MS)).max(0),
    };
    if start >= end {
        return Err(ServiceError::invalid("window", "start must be before end"));
    }
    Ok((start, end))
}

pub fn window_to_proto(from_ms: i64, to_ms: i64) -> v1::TimeWindow {
    v1::TimeWindow {
        start: Some(undertone_api::timestamp_from_ms(from_ms)),
        end: Some(undertone_api::timestamp_from_ms(to_ms)),
    }
}

/// Checks one text: non-empty and within the size limit.
pub fn check_text(field: &str, text: &str, max_bytes: usize) -> Result<(), ServiceError> {
    if text.trim().is_empty() {
        return Err(ServiceError::invalid(field, "must not be empty"));
    }
    if text.len() > max_bytes {
        return Err(ServiceError::invalid(
            field,
            format!("is {} bytes, the limit is {max_bytes}", text.len()),
        ));
    }
    Ok(())
}
