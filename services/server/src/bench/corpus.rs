//! The benchmark's fixed corpus: customer-success sentences generated from templates by a
//! seeded generator, so every run (and the Python baseline) reads the same texts.

use undertone_core::SpeakerRole;
use undertone_ingest::{PlainMessage, TextOptions, segment_message};
use undertone_models::training::rng::SplitMix64;

const OPENERS: &[&str] = &[
    "Hi team,",
    "Quick update from our side:",
    "Honestly,",
    "As I mentioned on the call last week,",
    "Following up on ticket 4821,",
    "Thanks for the fast reply, but",
    "",
    "",
];
const SUBJECTS: &[&str] = &[
    "the nightly export to our data warehouse",
    "the new reporting dashboard",
    "single sign-on through Okta",
    "the Salesforce sync",
    "our invoice for October",
    "the onboarding plan for the EMEA team",
    "the mobile app",
    "the API rate limits",
    "your support team",
    "the renewal quote",
];
const VERDICTS: &[&str] = &[
    "failed again overnight and nobody on our side noticed until the morning stand-up",
    "has been working really well and the analysts love the new filters",
    "keeps timing out for about half of our users in the Frankfurt office",
    "shows 120 seats while we only have 85 active users",
    "was resolved quickly, so thank you for that",
    "takes more than forty seconds to load whenever we pick a custom date range",
    "is still missing the audit log we were promised in the last quarterly review",
    "made our quarter-end close much easier than last year",
    "is exactly what we needed for the board presentation",
    "broke after the last release and we had to roll back our own integration",
];
const FOLLOW_UPS: &[&str] = &[
    "Can you tell us when a fix will be available?",
    "We are evaluating other vendors before our renewal in January.",
    "Please send the corrected invoice to our finance team.",
    "Our VP asked me for a clear plan before the renewal conversation next month.",
    "Great job, the whole team noticed the difference.",
    "Could we schedule a call on Thursday to walk through the roadmap?",
    "If this happens again we will have to escalate it internally.",
    "",
    "",
];

/// `count` sentences (seeded, so always the same ones).
pub fn sentences(count: usize) -> Vec<String> {
    let mut rng = SplitMix64::new(0x5eed_c0de);
    let mut pick = |items: &[&'static str]| items[(rng.next_u64() % items.len() as u64) as usize];
    (0..count)
        .map(|_| {
            let parts = [pick(OPENERS), pick(SUBJECTS), pick(VERDICTS)];
            let mut text = parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
            text.push('.');
            let follow_up = pick(FOLLOW_UPS);
            if !follow_up.is_empty() {
                text.push(' ');
                text.push_str(follow_up);
            }
            capitalize(&text)
        })
        .collect()
}

/// Short texts for the latency test (a chat line, a survey comment).
pub fn short_texts(count: usize) -> Vec<String> {
    let mut rng = SplitMix64::new(0x5407);
    (0..count)
        .map(|_| {
            let subject = SUBJECTS[(rng.next_u64() % SUBJECTS.len() as u64) as usize];
            let verdict = ["is broken again", "works great now", "is too slow", "looks fine"];
            capitalize(&format!("{subject} {}.", verdict[(rng.next_u64() % 4) as usize]))
        })
        .collect()
}

/// The segments the server stores for `texts` sent as customer messages: the unit the
/// ingest figure counts, so the encoder is measured on the same texts for the ratio.
pub fn segments(texts: &[String]) -> anyhow::Result<Vec<String>> {
    let options = TextOptions::with_max_text_bytes(usize::MAX);
    let mut segments = Vec::new();
    for text in texts {
        let message =
            PlainMessage { text: text.clone(), speaker: None, role: SpeakerRole::Customer, sent_at_ms: None };
        segments.extend(segment_message(&message, &options)?.into_iter().map(|s| s.text));
    }
    Ok(segments)
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_fixed() {
        assert_eq!(sentences(50), sentences(50));
        assert_eq!(short_texts(5), short_texts(5));
        assert!(sentences(10).iter().all(|s| s.ends_with('.') || s.ends_with('?')));
    }
}
