//! Encoder throughput in-process: our encoder alone (tokenize, embedding layer, the six
//! transformer layers, mean pooling; what sentence-transformers' `encode` does), and the
//! whole analyzer (plus the sentiment branch and topic scoring), at fixed batch sizes over
//! the corpus in its order.

use std::time::Instant;

use undertone_models::{Analyzer, RaggedBatch, ragged_sentence_embedding};

use super::report::Throughput;

/// What runs per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Sentence embeddings only: the comparison with sentence-transformers.
    Encoder,
    /// Embedding, sentiment and topics: what ingest and Analyze run.
    Analyzer,
}

/// Runs `sentences` through `stage` in batches of `batch` (after one warm-up batch),
/// `repeats` times; the median run counts.
pub fn throughput(
    analyzer: &Analyzer,
    sentences: &[String],
    batch: usize,
    stage: Stage,
    repeats: usize,
) -> anyhow::Result<Throughput> {
    let run = |chunk: &[String]| -> anyhow::Result<usize> {
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        match stage {
            Stage::Encoder => {
                let encoded =
                    texts.iter().map(|t| analyzer.tokenizer().encode(t)).collect::<Result<Vec<_>, _>>()?;
                let members: Vec<_> = encoded.iter().collect();
                let batch = RaggedBatch::new(&members, analyzer.encoder().device())?;
                let hidden = analyzer.encoder().forward_ragged(&batch)?;
                let embeddings: Vec<Vec<f32>> = ragged_sentence_embedding(&hidden, &batch)?.to_vec2()?;
                Ok(embeddings.len())
            }
            Stage::Analyzer => Ok(analyzer.analyze(&texts)?.0.len()),
        }
    };
    run(&sentences[..batch.min(sentences.len())])?;
    let mut runs = Vec::new();
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        for chunk in sentences.chunks(batch) {
            run(chunk)?;
        }
        runs.push(started.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    let seconds = runs[runs.len() / 2];
    Ok(Throughput { batch, sentences_per_s: sentences.len() as f64 / seconds, seconds })
}
