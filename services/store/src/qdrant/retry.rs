//! Retrying what may succeed later (server down, restarting, overloaded or slow) with
//! exponential backoff, and turning the client's errors into `StoreError`s that say what to
//! do about them.

use std::future::Future;
use std::time::Duration;

use qdrant_client::QdrantError;
use tonic::Code;

use super::QdrantConfig;
use crate::{Result, StoreError};

/// How often and how patiently one request is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    attempts: u32,
    first: Duration,
    max: Duration,
}

impl Retry {
    pub(crate) fn new(config: &QdrantConfig) -> Self {
        Self {
            attempts: config.retry_attempts.max(1),
            first: Duration::from_millis(config.retry_backoff_ms),
            max: Duration::from_millis(config.retry_max_backoff_ms),
        }
    }

    /// The wait before retry number `retry` (1 for the first): doubling, capped.
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }

    /// Runs `op` until it succeeds, fails for good, or has been tried `attempts` times;
    /// `what` says in errors and logs which call it was. Every call the store retries is
    /// idempotent (upserts by deterministic id, deletes, reads), so a try that timed out
    /// after the server applied it does no harm when repeated.
    pub(crate) async fn run<T, Fut>(&self, what: &str, op: impl Fn() -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T, QdrantError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let err = match op().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if !is_transient(&err) {
                return Err(permanent(what, &err));
            }
            if tries >= self.attempts {
                let tried = if tries == 1 { "1 try".to_owned() } else { format!("{tries} tries") };
                return Err(StoreError::Unavailable(format!("{what}: {} ({tried})", describe(&err))));
            }
            let wait = self.backoff(tries);
            tracing::warn!(what, error = %describe(&err), tries, ?wait, "Qdrant request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Failures that may pass: the server unreachable, restarting, overloaded or too slow.
/// The client reports a refused connection as INTERNAL "Failed to connect to ...".
fn is_transient(err: &QdrantError) -> bool {
    match err {
        QdrantError::ResponseError { status } => match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Unknown => true,
            Code::Internal => {
                let message = status.message();
                message.contains("Failed to connect") || message.contains("transport error")
            }
            _ => false,
        },
        QdrantError::ResourceExhaustedError { .. } | QdrantError::Io(_) => true,
        _ => false,
    }
}

/// A failure retrying cannot fix.
fn permanent(what: &str, err: &QdrantError) -> StoreError {
    let detail = format!("{what}: {}", describe(err));
    match err {
        QdrantError::ResponseError { status }
            if matches!(status.code(), Code::Unauthenticated | Code::PermissionDenied) =>
        {
            StoreError::Config(format!("{detail} (check qdrant.api_key)"))
        }
        QdrantError::InvalidUri(_) => StoreError::Config(format!("{detail} (check qdrant.url)")),
        _ => StoreError::Engine(detail),
    }
}

/// The status code and message, without the client's metadata dump.
fn describe(err: &QdrantError) -> String {
    match err {
        QdrantError::ResponseError { status } | QdrantError::ResourceExhaustedError { status, .. } => {
            format!("{:?}: {}", status.code(), status.message())
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use tonic::Status;

    use super::*;

    fn retry(attempts: u32) -> Retry {
        Retry { attempts, first: Duration::from_millis(1), max: Duration::from_millis(3) }
    }

    fn status(code: Code, message: &str) -> QdrantError {
        QdrantError::ResponseError { status: Status::new(code, message) }
    }

    /// Runs `op(try number)` under `retry`: its result, and how many tries it took.
    fn run<T>(retry: Retry, op: impl Fn(u32) -> Result<T, QdrantError>) -> (Result<T>, u32) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let tries = Cell::new(0);
        let result = runtime.block_on(retry.run("test call", || {
            tries.set(tries.get() + 1);
            std::future::ready(op(tries.get()))
        }));
        (result, tries.get())
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = QdrantConfig { retry_backoff_ms: 100, retry_max_backoff_ms: 350, ..Default::default() };
        let retry = Retry::new(&config);
        let waits: Vec<u128> = (1..=4).map(|n| retry.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350]);
        assert_eq!(retry.backoff(200).as_millis(), 350, "no overflow");
    }

    #[test]
    fn transient_failures_are_retried_then_reported_unavailable() {
        let refused = || Err::<(), _>(status(Code::Internal, "Failed to connect to http://127.0.0.1:1/"));
        let (result, tries) = run(retry(3), |_| refused());
        let err = result.unwrap_err();
        assert_eq!(tries, 3);
        assert!(
            matches!(&err, StoreError::Unavailable(m) if m.contains("test call") && m.contains("3 tries")),
            "{err}"
        );
        let recovers = |n| if n < 3 { Err(status(Code::Unavailable, "restarting")) } else { Ok(7) };
        let (result, tries) = run(retry(3), recovers);
        assert_eq!((result.ok(), tries), (Some(7), 3));
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let (result, tries) = run(retry(5), |_| Err::<(), _>(status(Code::PermissionDenied, "bad key")));
        assert_eq!(tries, 1);
        assert!(matches!(&result, Err(StoreError::Config(m)) if m.contains("api_key")), "{result:?}");
        let (result, _) = run(retry(5), |_| Err::<(), _>(status(Code::InvalidArgument, "wrong")));
        assert!(matches!(result, Err(StoreError::Engine(_))), "{result:?}");
    }
}
