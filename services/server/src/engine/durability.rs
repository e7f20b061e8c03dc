//! Group commit. A write is acknowledged only after the store has made it durable, but
//! writers that finish while a flush is running share the next flush instead of each
//! paying for their own: under concurrent ingest the embedded store flushes once per
//! group of documents, not once per document.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ServiceError;

#[derive(Default)]
pub struct GroupCommit {
    /// Writes that have returned from the store, numbered from 1.
    completed: AtomicU64,
    /// The highest write number covered by a finished flush; held while a flush runs.
    flushed: tokio::sync::Mutex<u64>,
}

impl GroupCommit {
    /// Call after a write has returned from the store: resolves once a flush that started
    /// after that write has finished (`flush` runs only when no finished flush covers it).
    pub async fn durable<F, Fut>(&self, flush: F) -> Result<(), ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), ServiceError>>,
    {
        let ticket = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        let mut flushed = self.flushed.lock().await;
        if *flushed >= ticket {
            return Ok(());
        }
        // Every write numbered up to here has returned, so this flush covers it.
        let covers = self.completed.load(Ordering::SeqCst);
        flush().await?;
        *flushed = covers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_flushes_and_each_waits_for_one() {
        let commits = Arc::new(GroupCommit::default());
        let flushes = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let (commits, flushes) = (commits.clone(), flushes.clone());
                tokio::spawn(async move {
                    commits
                        .durable(|| async {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            flushes.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let flushes = flushes.load(Ordering::SeqCst);
        assert!((1..8).contains(&flushes), "8 writers, {flushes} flushes");
    }

    #[tokio::test]
    async fn a_failed_flush_fails_its_writer_and_the_next_one_flushes_again() {
        let commits = GroupCommit::default();
        let failed = commits.durable(|| async { Err(ServiceError::Internal("disk full".into())) }).await;
        assert!(failed.is_err());
        let ran = AtomicUsize::new(0);
        commits
            .durable(|| async {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
