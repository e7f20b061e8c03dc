//! No input makes a parser panic: random bytes, and real fixtures and corpus files cut,
//! spliced and bit-flipped, through every parser (a deterministic generator, so a failure
//! reproduces; no fuzzing dependency).

use undertone_core::SpeakerRole;
use undertone_ingest::{
    EmailLimits, Redactor, TextOptions, TranscriptFormat, clean_body, html_to_text, parse_email,
    parse_ticket_json, parse_transcript, segment_email, segment_ticket, segment_transcript, split_mbox,
    split_sentences,
};

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/corpus/copperfield");
    for dir in [
        fixtures.to_owned(),
        format!("{corpus}/emails"),
        format!("{corpus}/calls"),
        format!("{corpus}/tickets"),
    ] {
        for entry in std::fs::read_dir(dir).unwrap() {
            seeds.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
    seeds.push(b"<v A>".to_vec());
    seeds.push(b"WEBVTT\n\n00:00.000 --> 00:01.000\n<v".to_vec());
    seeds
}

/// A mutation of a seed: truncation, a splice of another seed, flipped bytes, inserted
/// markup and separators, or pure noise.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    const TOKENS: &[&[u8]] = &[
        b"\n",
        b"\r\n",
        b"-->",
        b"<v ",
        b"</v>",
        b"<",
        b">",
        b"=\n",
        b"=E2=80",
        b"--",
        b"boundary=",
        b"\nFrom ",
        b"&#x",
        b";",
        b":",
        b"\xff",
        b"\xc3",
        b"[",
        b"{",
        b"\"",
        b"0",
        b"99:99:99,999",
        b"> ",
        b"On x wrote:",
    ];
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(8) {
        match rng.below(6) {
            0 => data.truncate(rng.below(data.len() + 1)),
            1 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let at = rng.below(data.len() + 1);
                let piece: Vec<u8> = other[from..(from + rng.below(200)).min(other.len())].to_vec();
                data.splice(at..at, piece);
            }
            2 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            3 => {
                let at = rng.below(data.len() + 1);
                data.splice(at..at, TOKENS[rng.below(TOKENS.len())].iter().copied());
            }
            4 => data = (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
            _ => {
                let cut = rng.below(data.len() + 1);
                data.drain(..cut.min(data.len() / 2));
            }
        }
    }
    data
}

#[test]
fn no_input_makes_a_parser_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let limits = EmailLimits { max_email_bytes: 1 << 20, max_text_bytes: 1 << 16 };
    let options = TextOptions::default();
    let roles = std::collections::HashMap::new();
    let redactor = Redactor::default();
    for _ in 0..5000 {
        let input = mutate(&mut rng, &seeds);
        if let Ok(email) = parse_email(&input, &limits) {
            let _ = segment_email(&email, SpeakerRole::Customer, "x", &options);
        }
        let _ = split_mbox(&input);
        for format in [TranscriptFormat::WebVtt, TranscriptFormat::Srt, TranscriptFormat::Json] {
            if let Ok(t) = parse_transcript(&input, format, 1 << 20) {
                let _ = segment_transcript(&t, Some(0), &roles, &options);
            }
        }
        let _ = TranscriptFormat::detect(&input);
        if let Ok(ticket) = parse_ticket_json(&input) {
            let _ = segment_ticket(&ticket, &options);
        }
        let text = String::from_utf8_lossy(&input);
        let _ = html_to_text(&text);
        let _ = clean_body(&text);
        let _ = split_sentences(&redactor.redact(&text));
    }
}
