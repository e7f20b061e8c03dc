//! The batching queue every model caller shares. Calls queue their tokenized texts; one
//! worker thread takes the oldest waiting texts, whole calls or parts of them, up to a
//! token budget, runs them as one ragged forward pass, and hands each call its results
//! when all of its texts are done. Under load, concurrent calls share forward passes;
//! a long call is split over several.
//!
//! Past a cap on waiting work, new calls are refused ([`QueueError::Full`], which the
//! server answers with RESOURCE_EXHAUSTED). A call whose caller went away (its
//! [`Pending`] dropped) is removed before its next batch forms, so it costs nothing more.
//! Every call learns where its time went: tokenizing, waiting, inference.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::analyzer::{DEFAULT_BATCH_TEXTS, DEFAULT_BATCH_TOKENS, pass_is_full};
use crate::tokenize::Encoded;
use crate::{Analysis, Analyzer, ModelError};

/// Batch formation and the queue's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherConfig {
    /// Tokens per forward pass (a longer text runs alone).
    pub max_batch_tokens: usize,
    /// Texts per forward pass.
    pub max_batch_texts: usize,
    /// Tokens waiting or running past which new calls are refused.
    pub max_queued_tokens: usize,
    /// Calls waiting or running past which new calls are refused.
    pub max_queued_calls: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_batch_tokens: DEFAULT_BATCH_TOKENS,
            max_batch_texts: DEFAULT_BATCH_TEXTS,
            max_queued_tokens: 65_536,
            max_queued_calls: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the model queue is full ({calls} calls and {tokens} tokens waiting); retry later")]
    Full { calls: usize, tokens: usize },
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A forward pass failed; every call in that batch gets this.
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("the model worker has stopped")]
    Stopped,
}

/// Where the time of one call went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    pub tokenize: Duration,
    /// From queueing to the start of the call's first forward pass.
    pub queue: Duration,
    /// From the start of its first forward pass to the end of its last.
    pub inference: Duration,
}

/// Counters since start, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatcherStats {
    pub batches: u64,
    pub texts: u64,
    pub tokens: u64,
    /// Calls refused because the queue was full.
    pub refused: u64,
    /// Calls dropped because their caller went away.
    pub abandoned: u64,
    /// Calls and tokens waiting or running now.
    pub queued_calls: u64,
    pub queued_tokens: u64,
}

type Reply = Result<(Vec<Analysis>, Timing), QueueError>;

/// One queued call.
struct Job {
    id: u64,
    texts: Vec<Encoded>,
    /// Texts handed to forward passes so far (results arrive in the same order).
    taken: usize,
    results: Vec<Analysis>,
    tokens_left: usize,
    reply: oneshot::Sender<Reply>,
    tokenize: Duration,
    queued_at: Instant,
    first_pass: Option<Instant>,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    queued_tokens: usize,
    next_id: u64,
    shutdown: bool,
}

/// Texts of one forward pass, and whose they are.
struct Batch {
    texts: Vec<Encoded>,
    /// (job id, texts of that job in this batch), in batch order.
    parts: Vec<(u64, usize)>,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    texts: AtomicU64,
    tokens: AtomicU64,
    refused: AtomicU64,
    abandoned: AtomicU64,
}

struct Shared {
    config: BatcherConfig,
    state: Mutex<State>,
    work: Condvar,
    counters: Counters,
}

pub struct Batcher {
    shared: Arc<Shared>,
    analyzer: Arc<Analyzer>,
    worker: Option<JoinHandle<()>>,
}

impl Batcher {
    /// Starts the worker thread.
    pub fn start(analyzer: Arc<Analyzer>, config: BatcherConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            config,
            state: Mutex::default(),
            work: Condvar::new(),
            counters: Counters::default(),
        });
        let worker = std::thread::Builder::new().name("undertone-model".into()).spawn({
            let (shared, analyzer) = (shared.clone(), analyzer.clone());
            move || shared.work_loop(&analyzer)
        })?;
        Ok(Self { shared, analyzer, worker: Some(worker) })
    }

    pub fn config(&self) -> &BatcherConfig {
        &self.shared.config
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Tokenizes `texts` on the calling thread (a blocking thread for large inputs) and
    /// queues them; the returned [`Pending`] resolves to the analyses in input order.
    pub fn submit(&self, texts: &[&str]) -> Result<Pending, QueueError> {
        let started = Instant::now();
        let encoded =
            texts.iter().map(|t| self.analyzer.tokenizer().encode(t)).collect::<Result<Vec<_>, _>>()?;
        self.submit_encoded(encoded, started.elapsed())
    }

    /// Queues already tokenized texts.
    pub fn submit_encoded(&self, texts: Vec<Encoded>, tokenize: Duration) -> Result<Pending, QueueError> {
        let (reply, receiver) = oneshot::channel();
        if texts.is_empty() {
            let _ = reply.send(Ok((Vec::new(), Timing { tokenize, ..Timing::default() })));
            return Ok(Pending { receiver });
        }
        let tokens: usize = texts.iter().map(|t| t.ids.len()).sum();
        let mut state = self.shared.lock();
        let config = &self.shared.config;
        let over_tokens = state.queued_tokens > 0 && state.queued_tokens + tokens > config.max_queued_tokens;
        if state.shutdown || state.jobs.len() >= config.max_queued_calls || over_tokens {
            self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            if state.shutdown {
                return Err(QueueError::Stopped);
            }
            return Err(QueueError::Full { calls: state.jobs.len(), tokens: state.queued_tokens });
        }
        let id = state.next_id;
        state.next_id += 1;
        state.queued_tokens += tokens;
        let results = Vec::with_capacity(texts.len());
        let queued_at = Instant::now();
        let job = Job {
            id,
            texts,
            taken: 0,
            results,
            tokens_left: tokens,
            reply,
            tokenize,
            queued_at,
            first_pass: None,
        };
        state.jobs.push_back(job);
        drop(state);
        self.shared.work.notify_one();
        Ok(Pending { receiver })
    }

    pub fn stats(&self) -> BatcherStats {
        let c = &self.shared.counters;
        let state = self.shared.lock();
        BatcherStats {
            batches: c.batches.load(Ordering::Relaxed),
            texts: c.texts.load(Ordering::Relaxed),
            tokens: c.tokens.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
            queued_calls: state.jobs.len() as u64,
            queued_tokens: state.queued_tokens as u64,
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update below leaves the state consistent before it can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn work_loop(&self, analyzer: &Analyzer) {
        while let Some(batch) = self.next_batch() {
            let members: Vec<&Encoded> = batch.texts.iter().collect();
            // A panic in a pass fails that batch's calls, not the worker and every later call.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| analyzer.run_batch(&members)))
                    .unwrap_or_else(|_| Err(ModelError::Input("the forward pass panicked".into())));
            let tokens: usize = batch.texts.iter().map(|t| t.ids.len()).sum();
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
            self.counters.texts.fetch_add(batch.texts.len() as u64, Ordering::Relaxed);
            self.counters.tokens.fetch_add(tokens as u64, Ordering::Relaxed);
            self.deliver(batch, outcome);
        }
    }

    /// Waits for work and forms the next batch; `None` once shut down.
    fn next_batch(&self) -> Option<Batch> {
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return None;
            }
            self.drop_abandoned(&mut state);
            if !state.jobs.is_empty() {
                return Some(self.take_batch(&mut state));
            }
            state = self.work.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn drop_abandoned(&self, state: &mut State) {
        let before = state.jobs.len();
        let mut freed = 0;
        state.jobs.retain(|job| {
            let keep = !job.reply.is_closed();
            if !keep {
                freed += job.tokens_left;
            }
            keep
        });
        state.queued_tokens -= freed;
        let dropped = (before - state.jobs.len()) as u64;
        self.counters.abandoned.fetch_add(dropped, Ordering::Relaxed);
    }

    /// The oldest waiting texts within the budget (at least one text).
    fn take_batch(&self, state: &mut State) -> Batch {
        let config = &self.config;
        let now = Instant::now();
        let mut batch = Batch { texts: Vec::new(), parts: Vec::new() };
        let mut tokens = 0;
        'jobs: for job in state.jobs.iter_mut() {
            let mut taken = 0;
            while job.taken < job.texts.len() {
                let len = job.texts[job.taken].ids.len();
                if pass_is_full(
                    batch.texts.len(),
                    tokens,
                    len,
                    config.max_batch_tokens,
                    config.max_batch_texts,
                ) {
                    if taken > 0 {
                        batch.parts.push((job.id, taken));
                    }
                    break 'jobs;
                }
                job.first_pass.get_or_insert(now);
                batch.texts.push(std::mem::take(&mut job.texts[job.taken]));
                job.taken += 1;
                taken += 1;
                tokens += len;
            }
            if taken > 0 {
                batch.parts.push((job.id, taken));
            }
        }
        batch
    }

    /// Hands a forward pass's results to their calls; answers the calls now complete (or
    /// every call of the batch, when the pass failed).
    fn deliver(&self, batch: Batch, outcome: Result<Vec<Analysis>, ModelError>) {
        let mut state = self.lock();
        let failure = outcome.as_ref().err().map(ToString::to_string);
        let mut results = outcome.unwrap_or_default().into_iter();
        let mut tokens = batch.texts.iter().map(|t| t.ids.len());
        for (id, count) in batch.parts {
            let freed: usize = tokens.by_ref().take(count).sum();
            // Only this worker removes jobs, so every job of the batch is still queued.
            let Some(position) = state.jobs.iter().position(|job| job.id == id) else { continue };
            state.queued_tokens -= freed;
            let job = &mut state.jobs[position];
            job.tokens_left -= freed;
            match &failure {
                Some(reason) => state.finish(position, Err(QueueError::Inference(reason.clone()))),
                None => {
                    job.results.extend(results.by_ref().take(count));
                    if job.taken == job.texts.len() {
                        state.finish(position, Ok(()));
                    }
                }
            }
        }
    }
}

impl State {
    /// Removes the job at `position` and answers it.
    fn finish(&mut self, position: usize, outcome: Result<(), QueueError>) {
        let Some(job) = self.jobs.remove(position) else { return };
        self.queued_tokens -= job.tokens_left;
        let now = Instant::now();
        let first = job.first_pass.unwrap_or(now);
        let timing = Timing {
            tokenize: job.tokenize,
            queue: first.duration_since(job.queued_at),
            inference: now.duration_since(first),
        };
        // The caller may have gone away meanwhile; nothing to do then.
        let _ = job.reply.send(outcome.map(|()| (job.results, timing)));
    }
}

/// A queued call's result, as a future (or with [`Pending::wait`] from blocking code).
/// Dropping it withdraws the call.
pub struct Pending {
    receiver: oneshot::Receiver<Reply>,
}

impl Pending {
    /// Blocks the calling thread until the call is done (not from an async task).
    pub fn wait(self) -> Reply {
        self.receiver.blocking_recv().unwrap_or(Err(QueueError::Stopped))
    }
}

impl Future for Pending {
    type Output = Reply;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver).poll(cx).map(|reply| reply.unwrap_or(Err(QueueError::Stopped)))
    }
}
