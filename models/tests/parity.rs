//! The encoder against reference embeddings computed once by sentence-transformers
//! (scripts/make-parity-fixture.py): cosine >= 0.999 for every sentence, one at a time and
//! in one batch, for the padded f32 reference pass (where a missing attention mask would
//! show) and for the ragged inference pass in each arithmetic this CPU runs.

use serde::Deserialize;
use undertone_models::{
    Encoded, Encoder, EncoderFiles, Precision, RaggedBatch, TextTokenizer, TokenBatch, default_model_dir,
    ragged_sentence_embedding, sentence_embedding,
};

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn fixture() -> Fixture {
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/parity.json")).expect("parity fixture parses");
    assert!(fixture.cases.len() >= 20);
    fixture
}

fn files() -> EncoderFiles {
    EncoderFiles::locate(&default_model_dir()).expect("weights fetched by scripts/fetch-models")
}

fn encode_all(fixture: &Fixture, files: &EncoderFiles) -> Vec<Encoded> {
    let tokenizer = TextTokenizer::load(&files.tokenizer).unwrap();
    let encoded: Vec<_> = fixture.cases.iter().map(|c| tokenizer.encode(&c.text).unwrap()).collect();
    for (case, enc) in fixture.cases.iter().zip(&encoded) {
        assert_eq!(enc.ids.len(), case.tokens, "token count of {:?}", case.text);
    }
    encoded
}

/// Every case embedded alone and all together match the fixture.
fn assert_parity(
    fixture: &Fixture,
    encoded: &[Encoded],
    what: &str,
    embed: impl Fn(&[&Encoded]) -> Vec<Vec<f32>>,
) {
    let batched = embed(&encoded.iter().collect::<Vec<_>>());
    let mut worst = 1.0f32;
    for (i, case) in fixture.cases.iter().enumerate() {
        let single = embed(&[&encoded[i]]);
        for (how, got) in [("alone", &single[0]), ("in a batch", &batched[i])] {
            let cos = cosine(got, &case.embedding);
            worst = worst.min(cos);
            assert!(cos >= 0.999, "{what}: cosine {cos} {how} for {:?}", case.text);
        }
    }
    eprintln!("{what}: lowest cosine to sentence-transformers {worst:.6}");
}

#[test]
fn padded_reference_pass_matches_sentence_transformers() {
    let (fixture, files) = (fixture(), files());
    let encoded = encode_all(&fixture, &files);
    let encoder = Encoder::load(&files, Precision::F32).unwrap();
    assert_parity(&fixture, &encoded, "padded f32", |members| {
        let inputs = encoder.inputs(&TokenBatch::pad(members)).unwrap();
        sentence_embedding(&encoder.forward(&inputs).unwrap(), &inputs.mask).unwrap().to_vec2().unwrap()
    });
}

fn ragged(encoder: &Encoder, members: &[&Encoded]) -> Vec<Vec<f32>> {
    let batch = RaggedBatch::new(members, encoder.device()).unwrap();
    ragged_sentence_embedding(&encoder.forward_ragged(&batch).unwrap(), &batch).unwrap().to_vec2().unwrap()
}

#[test]
fn ragged_pass_matches_sentence_transformers_in_every_precision() {
    let (fixture, files) = (fixture(), files());
    let encoded = encode_all(&fixture, &files);
    for precision in [Precision::F32, Precision::Bf16] {
        let Ok(encoder) = Encoder::load(&files, precision) else {
            eprintln!("skipped {}: this CPU cannot run it", precision.as_str());
            continue;
        };
        assert_parity(&fixture, &encoded, &format!("ragged {}", precision.as_str()), |m| ragged(&encoder, m));
    }
}

/// A text's embedding does not depend on the texts it shares a batch with: every row of
/// the ragged pass is computed on its own.
#[test]
fn ragged_results_do_not_depend_on_the_batch() {
    let (fixture, files) = (fixture(), files());
    let encoded = encode_all(&fixture, &files);
    let encoder = Encoder::load(&files, Precision::Auto).unwrap();
    let all: Vec<&Encoded> = encoded.iter().collect();
    let together = ragged(&encoder, &all);
    let reversed: Vec<&Encoded> = all.iter().rev().copied().collect();
    let backwards = ragged(&encoder, &reversed);
    for (i, member) in all.iter().enumerate() {
        let alone = ragged(&encoder, &[member]);
        let tolerance = if encoder.precision() == Precision::Bf16 { 0.0 } else { 1e-5 };
        for (a, b) in
            alone[0].iter().zip(&together[i]).chain(together[i].iter().zip(&backwards[all.len() - 1 - i]))
        {
            assert!((a - b).abs() <= tolerance, "text {i}: {a} vs {b}");
        }
    }
}
