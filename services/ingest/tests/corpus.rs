//! The sample corpus (tests/corpus) through the parsers: every email and call parses,
//! quoted text is gone from replies, PII is redacted, every cue has its speaker.

use std::path::{Path, PathBuf};

use undertone_core::SpeakerRole;
use undertone_ingest::{
    EmailLimits, TextOptions, TranscriptFormat, normalized, parse_email, parse_transcript, segment_email,
};

fn corpus() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/corpus"))
}

fn files(kind: &str, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for account in std::fs::read_dir(corpus()).unwrap() {
        let Ok(entries) = std::fs::read_dir(account.unwrap().path().join(kind)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| exts.iter().any(|x| e == *x)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

const LIMITS: EmailLimits = EmailLimits { max_email_bytes: 1 << 24, max_text_bytes: 1 << 16 };

fn body(path: &Path) -> String {
    parse_email(&std::fs::read(path).unwrap(), &LIMITS)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .body
}

#[test]
fn every_email_parses_without_quotes_or_signatures() {
    let emails = files("emails", &["eml"]);
    assert_eq!(emails.len(), 31);
    for path in &emails {
        let body = body(path);
        for marker in ["wrote:", "\n>", "From:", "Sent:", "-- ", "confidential", "+1 ("] {
            assert!(!body.contains(marker), "{}: {marker:?} left in\n{body}", path.display());
        }
    }
}

#[test]
fn a_reply_does_not_repeat_the_complaint_it_quotes() {
    let dir = corpus().join("northwind/emails");
    let first = body(&dir.join("2026-10-07-dashboard-performance-and-renewal.eml"));
    let reply = body(&dir.join("2026-10-09-re-dashboard-performance-and-renewal.eml"));
    assert!(first.contains("When they don’t load, my team is flying blind."));
    assert!(!normalized(&reply).contains(&normalized("my team is flying blind")), "{reply}");
    assert!(reply.contains("we may not renew in January"));
}

#[test]
fn the_card_number_split_by_a_soft_line_break_is_redacted() {
    let path = corpus().join("copperfield/emails/2026-09-29-invoice-seat-count-payment-on-hold.eml");
    let email = parse_email(&std::fs::read(path).unwrap(), &LIMITS).unwrap();
    assert!(email.body.contains("4111 1111 1111 1111"), "decoded before redaction");
    let stored = segment_email(&email, SpeakerRole::Customer, "x", &TextOptions::default()).unwrap();
    let text: String = stored.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
    assert!(text.contains("([CARD], exp. 09/28)") && text.contains("[EMAIL]"), "{text}");
    assert!(!text.contains("4111"));
}

#[test]
fn every_call_parses_with_named_speakers_and_times() {
    let calls = files("calls", &["vtt", "srt"]);
    assert_eq!(calls.len(), 14);
    for path in &calls {
        let ext = path.extension().unwrap().to_string_lossy();
        let format = TranscriptFormat::from_extension(&ext).unwrap();
        let t = parse_transcript(&std::fs::read(path).unwrap(), format, 1 << 20)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(t.utterances.len() >= 15, "{}", path.display());
        assert!(t.utterances.iter().all(|u| u.speaker.is_some()), "{}", path.display());
        assert!(t.utterances.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
        if format == TranscriptFormat::WebVtt {
            assert!(t.started_at_ms.is_some() && t.title.is_some(), "{}: NOTE metadata", path.display());
        }
    }
}
