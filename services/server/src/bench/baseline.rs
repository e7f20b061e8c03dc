//! The Python baseline: `scripts/bench-baseline.py` (sentence-transformers on PyTorch)
//! run as a child process on the same sentences and thread count.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;
use serde::Deserialize;

use super::report::Throughput;

#[derive(Deserialize)]
struct Output {
    torch: String,
    threads: usize,
    results: Vec<Throughput>,
}

/// What the baseline measured, and how it describes itself.
pub struct Baseline {
    pub label: String,
    pub results: Vec<Throughput>,
}

/// How the baseline is run: the same sentences, batch sizes, threads and repeats as ours.
pub struct Request<'a> {
    pub sentences: &'a [String],
    pub batches: &'a [usize],
    pub threads: usize,
    pub repeats: usize,
}

pub fn run(python: &Path, script: &Path, request: &Request<'_>) -> anyhow::Result<Baseline> {
    let request = serde_json::json!({
        "sentences": request.sentences,
        "batch_sizes": request.batches,
        "threads": request.threads,
        "repeats": request.repeats,
    });
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} {} (run scripts/bench, which installs it)",
                python.display(),
                script.display()
            )
        })?;
    child.stdin.take().context("baseline stdin")?.write_all(request.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    anyhow::ensure!(output.status.success(), "the Python baseline failed ({})", output.status);
    let parsed: Output = serde_json::from_slice(&output.stdout).context("reading the baseline's output")?;
    Ok(Baseline {
        label: format!("sentence-transformers on PyTorch {} (CPU, {} threads)", parsed.torch, parsed.threads),
        results: parsed.results,
    })
}
