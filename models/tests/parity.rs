//! The candle encoder against reference embeddings computed once by sentence-transformers
//! (scripts/make-parity-fixture.py): cosine >= 0.999 for every sentence, both one at a
//! time and in one padded batch (where a missing attention mask would show).

use serde::Deserialize;
use undertone_models::{EncoderFiles, TextTokenizer, TokenBatch, default_model_dir, sentence_embedding};

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

#[test]
fn embeddings_match_sentence_transformers() {
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/parity.json")).expect("parity fixture parses");
    assert!(fixture.cases.len() >= 20);
    let files = EncoderFiles::locate(&default_model_dir()).expect("weights fetched by scripts/fetch-models");
    let tokenizer = TextTokenizer::load(&files.tokenizer).unwrap();
    let encoder = undertone_models::Encoder::load(&files).unwrap();
    let encoded: Vec<_> = fixture.cases.iter().map(|c| tokenizer.encode(&c.text).unwrap()).collect();
    for (case, enc) in fixture.cases.iter().zip(&encoded) {
        assert_eq!(enc.ids.len(), case.tokens, "token count of {:?}", case.text);
    }
    let embed = |members: &[&undertone_models::Encoded]| -> Vec<Vec<f32>> {
        let inputs = encoder.inputs(&TokenBatch::pad(members)).unwrap();
        sentence_embedding(&encoder.forward(&inputs).unwrap(), &inputs.mask).unwrap().to_vec2().unwrap()
    };
    let batched = embed(&encoded.iter().collect::<Vec<_>>());
    for (i, case) in fixture.cases.iter().enumerate() {
        let single = embed(&[&encoded[i]]);
        for (how, got) in [("alone", &single[0]), ("in a padded batch", &batched[i])] {
            let cos = cosine(got, &case.embedding);
            assert!(cos >= 0.999, "cosine {cos} {how} for {:?}", case.text);
        }
    }
}
