//! The shared batching queue over the real models: results equal a direct call, calls
//! from many threads share forward passes, a full queue refuses, and a withdrawn call is
//! dropped without disturbing the others.

use std::sync::Arc;

use undertone_models::{
    Analyzer, AnalyzerOptions, Batcher, BatcherConfig, Precision, QueueError, default_model_dir,
    default_sentiment_dir, default_taxonomy,
};

fn analyzer() -> Arc<Analyzer> {
    let (model_dir, sentiment_dir, taxonomy) =
        (default_model_dir(), default_sentiment_dir(), default_taxonomy());
    let options = AnalyzerOptions {
        model_dir: &model_dir,
        sentiment_dir: &sentiment_dir,
        taxonomy: &taxonomy,
        signals_dir: None,
        precision: Precision::Auto,
    };
    Arc::new(Analyzer::load(&options).expect("the shipped models load (run scripts/fetch-models first)"))
}

fn texts(call: usize, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("Call {call}, text {i}: the export failed again and support has not answered."))
        .collect()
}

/// A call long enough to keep the worker busy for several forward passes.
fn long_call() -> Vec<String> {
    let sentence = "We have been customers for four years but the nightly exports keep failing. ";
    (0..48).map(|i| format!("{i}. {}", sentence.repeat(12))).collect()
}

fn refs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

#[test]
fn concurrent_calls_share_passes_and_match_direct_results() {
    let analyzer = analyzer();
    let batcher = Arc::new(Batcher::start(analyzer.clone(), BatcherConfig::default()).unwrap());
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|call| {
                let batcher = batcher.clone();
                scope.spawn(move || {
                    let texts = texts(call, 1 + call % 3);
                    (texts.clone(), batcher.submit(&refs(&texts)).unwrap().wait().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (texts, (analyses, timing)) in results {
        let (direct, _) = analyzer.analyze(&refs(&texts)).unwrap();
        assert_eq!(analyses.len(), texts.len());
        for (queued, direct) in analyses.iter().zip(&direct) {
            assert_eq!(queued.sentiment.label, direct.sentiment.label);
            let diff = queued
                .embedding
                .iter()
                .zip(&direct.embedding)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "embedding differs by {diff}");
        }
        assert!(timing.inference > std::time::Duration::ZERO);
    }
    let stats = batcher.stats();
    let sent: u64 = (0..8u64).map(|call| 1 + call % 3).sum();
    assert_eq!(stats.texts, sent, "every text ran once");
    assert_eq!((stats.queued_calls, stats.queued_tokens), (0, 0));
}

#[test]
fn a_full_queue_refuses_and_recovers() {
    let config = BatcherConfig { max_queued_calls: 1, ..BatcherConfig::default() };
    let batcher = Batcher::start(analyzer(), config).unwrap();
    let long = long_call();
    let running = batcher.submit(&refs(&long)).unwrap();
    let refused = batcher.submit(&["one more"]);
    assert!(matches!(refused, Err(QueueError::Full { calls: 1, .. })), "{:?}", refused.err());
    assert_eq!(running.wait().unwrap().0.len(), long.len());
    assert_eq!(batcher.submit(&["now there is room"]).unwrap().wait().unwrap().0.len(), 1);
    assert_eq!(batcher.stats().refused, 1);
}

#[test]
fn a_withdrawn_call_is_dropped_and_the_others_complete() {
    let batcher = Batcher::start(analyzer(), BatcherConfig::default()).unwrap();
    let long = long_call();
    let first = batcher.submit(&refs(&long)).unwrap();
    let withdrawn = batcher.submit(&refs(&texts(1, 40))).unwrap();
    drop(withdrawn);
    let last = batcher.submit(&refs(&texts(2, 3))).unwrap();
    assert_eq!(last.wait().unwrap().0.len(), 3);
    assert_eq!(first.wait().unwrap().0.len(), long.len());
    let stats = batcher.stats();
    assert_eq!(stats.abandoned, 1);
    assert_eq!(stats.texts as usize, long.len() + 3, "the withdrawn texts never ran");
    assert_eq!(stats.queued_tokens, 0);
}
