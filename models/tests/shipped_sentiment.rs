//! The shipped sentiment model: it loads, reproduces the dev metrics recorded in its
//! `model.json` within a tolerance, gets clear cases of each class right, and gives the
//! same output for the same input.

use undertone_core::SentimentLabel;
use undertone_models::training::corpus::{Split, load_cs};
use undertone_models::training::metrics::{Prediction, report};
use undertone_models::{
    Analyzer, AnalyzerOptions, Precision, default_model_dir, default_sentiment_dir, default_taxonomy,
};

fn analyzer() -> Analyzer {
    let (model_dir, sentiment_dir, taxonomy) =
        (default_model_dir(), default_sentiment_dir(), default_taxonomy());
    Analyzer::load(&AnalyzerOptions {
        model_dir: &model_dir,
        sentiment_dir: &sentiment_dir,
        taxonomy: &taxonomy,
        signals_dir: None,
        // What the server runs by default: bf16 where the CPU has it.
        precision: Precision::Auto,
    })
    .expect("the shipped models load (run scripts/fetch-models first)")
}

#[test]
fn reproduces_the_recorded_customer_success_dev_metrics() {
    let analyzer = analyzer();
    let dev = load_cs(Split::Dev).unwrap();
    let texts: Vec<&str> = dev.iter().map(|e| e.text.as_str()).collect();
    let (analyses, _) = analyzer.analyze(&texts).unwrap();
    let predicted: Vec<Prediction> = analyses
        .iter()
        .map(|a| Prediction { label: a.sentiment.label, confidence: Some(a.sentiment.confidence) })
        .collect();
    let gold: Vec<SentimentLabel> = dev.iter().map(|e| e.label).collect();
    let measured = report(&gold, &predicted);
    let recorded = &analyzer.sentiment_head().card().training["dev_metrics"]["cs_dev"];
    let recorded_f1 = recorded["macro_f1"].as_f64().expect("model.json records cs_dev macro_f1");
    assert_eq!(measured.n as u64, recorded["n"].as_u64().unwrap());
    assert!(
        (measured.macro_f1 - recorded_f1).abs() < 0.01,
        "macro-F1 {:.4} against the recorded {recorded_f1:.4}",
        measured.macro_f1
    );
}

#[test]
fn clear_cases_of_each_class_and_deterministic_output() {
    let analyzer = analyzer();
    let cases = [
        ("Third outage this week. We are furious and looking at other vendors.", SentimentLabel::Negative),
        (
            "The invoice is wrong again and nobody has answered our ticket in ten days.",
            SentimentLabel::Negative,
        ),
        ("Please send the renewal paperwork to our procurement address.", SentimentLabel::Neutral),
        ("Our kickoff call is moved to Thursday at 10am.", SentimentLabel::Neutral),
        ("The new dashboard is fantastic, the whole team loves it. Thank you!", SentimentLabel::Positive),
        ("Support fixed it within an hour, really impressed with your team.", SentimentLabel::Positive),
    ];
    let texts: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let (first, _) = analyzer.analyze(&texts).unwrap();
    for (analysis, (text, want)) in first.iter().zip(&cases) {
        assert_eq!(analysis.sentiment.label, *want, "{text}");
        assert!((-1.0..=1.0).contains(&analysis.sentiment.score));
    }
    let (second, _) = analyzer.analyze(&texts).unwrap();
    assert_eq!(first, second);
}
