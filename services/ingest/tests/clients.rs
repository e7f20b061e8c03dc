//! Fixtures in the quoting styles of the common mail clients, an mbox thread and a JSON
//! call: what is stored is what the sender wrote, once, redacted, with its source.

use std::collections::{HashMap, HashSet};

use undertone_core::SpeakerRole;
use undertone_ingest::{
    Email, EmailLimits, RoleDirectory, TextOptions, TranscriptFormat, drop_repeated, normalized, parse_email,
    parse_transcript, segment_email, segment_transcript, split_mbox, thread_order,
};

const LIMITS: EmailLimits = EmailLimits { max_email_bytes: 1 << 24, max_text_bytes: 1 << 16 };

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn email(name: &str) -> Email {
    parse_email(&fixture(name), &LIMITS).unwrap()
}

fn texts(email: &Email) -> Vec<String> {
    segment_email(email, SpeakerRole::Customer, "fallback", &TextOptions::default())
        .unwrap()
        .into_iter()
        .map(|s| s.text)
        .collect()
}

#[test]
fn gmail_prefers_the_plain_part_and_drops_nested_quotes() {
    let email = email("gmail.eml");
    assert_eq!(email.body, "We have started evaluating ZenBoard. As of today we may not renew in January.");
    assert_eq!(email.in_reply_to, ["gmail-1@mail.gmail.com"]);
    assert_eq!(
        texts(&email),
        ["We have started evaluating ZenBoard.", "As of today we may not renew in January."]
    );
}

#[test]
fn outlook_html_only_windows_1252_with_disclaimer_and_reply_block() {
    let email = email("outlook.eml");
    assert_eq!(
        email.body,
        "Thank you for yesterday’s session! The team found it really useful.\n\nCan we get a copy of the recording?"
    );
    assert!(!email.is_reply() || email.references == ["training-1@mail.gmail.com"]);
}

#[test]
fn apple_mail_base64_with_mobile_footer() {
    let email = email("apple_mail.eml");
    assert_eq!(email.body, "Thank you for telling me yourself, Hannah. We will miss working with you.");
    assert_eq!(email.message_id.as_deref(), Some("A1B2C3D4-APPLE@brightloop.io"));
    let roles = RoleDirectory::new(&["brightloop.io".to_owned()], &[]);
    assert_eq!(
        roles.sender_role(email.from_address.as_deref(), None, &["copperfield.example".to_owned()]),
        SpeakerRole::Internal
    );
}

#[test]
fn thunderbird_latin1_quoted_printable_is_decoded_then_redacted() {
    let email = email("thunderbird.eml");
    assert_eq!(email.from_name.as_deref(), Some("Renée Lefèvre"));
    assert!(email.body.ends_with("Merci d'avance, c'est très urgent."), "{}", email.body);
    assert!(!email.body.contains("looking into"), "quote removed");
    let stored = texts(&email).join(" ");
    assert!(stored.contains("do not charge the card ([CARD])"), "{stored}");
    assert!(stored.contains("invoice to [EMAIL]."), "{stored}");
    assert!(stored.contains("Call me on [PHONE] if needed."), "{stored}");
    assert!(!stored.contains("4111") && !stored.contains("555-0172"));
}

#[test]
fn mbox_thread_stores_each_sentence_once() {
    let messages = split_mbox(&fixture("thread.mbox")).unwrap();
    assert_eq!(messages.len(), 2);
    let emails: Vec<Email> = messages.iter().map(|m| parse_email(&m.raw, &LIMITS).unwrap()).collect();
    assert_eq!(
        emails[0].body,
        "The dashboard takes over a minute to load every morning. From now on we track it daily."
    );
    let refs: Vec<&Email> = emails.iter().collect();
    assert_eq!(thread_order(&refs), [0, 1]);
    assert_eq!(emails[1].thread_id(), Some("root@northwind.example"));

    let options = TextOptions::default();
    let root = segment_email(&emails[0], SpeakerRole::Customer, "x", &options).unwrap();
    let earlier: HashSet<String> = root.iter().map(|s| normalized(&s.text)).collect();
    let reply = segment_email(&emails[1], SpeakerRole::Internal, "x", &options).unwrap();
    let kept = drop_repeated(reply, &earlier);
    let kept: Vec<&str> = kept.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(kept, ["I am sorry, we are on it."]);
}

#[test]
fn json_call_keeps_times_and_redacts() {
    let transcript = parse_transcript(&fixture("call.json"), TranscriptFormat::Json, 1 << 20).unwrap();
    let roles = HashMap::from([
        ("Sam Ortiz".to_owned(), SpeakerRole::Internal),
        ("Dana Lee".to_owned(), SpeakerRole::Customer),
    ]);
    let started = Some(1_791_993_600_000);
    let segments = segment_transcript(&transcript, started, &roles, &TextOptions::default()).unwrap();
    let renew = segments.iter().find(|s| s.text.contains("may not renew")).unwrap();
    assert_eq!(
        (renew.part.as_str(), renew.media_offset_ms, renew.timestamp_ms),
        ("u2", Some(4300), Some(1_791_993_604_300))
    );
    let raj = segments
        .iter()
        .find(|s| s.speaker.as_deref() == Some("Raj Patel") && s.text.contains("number"))
        .unwrap();
    assert_eq!(raj.text, "My number is [PHONE] if you need me.");
    assert_eq!(raj.role, SpeakerRole::Unknown, "not in the map");
}
