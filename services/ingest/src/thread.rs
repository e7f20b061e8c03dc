//! Email threads: messages ordered so that parents come first, and sentences stored once,
//! at their first appearance in the thread.
//!
//! Quote stripping ([`crate::quoting`]) removes what clients mark as quoted. What they do
//! not mark (a forward pasted inline, a client that repeats old text without markers) is
//! caught here: a segment whose normalized text already appears earlier in the thread (in
//! an ancestor named by In-Reply-To / References, or earlier in the same message) is
//! dropped.

use std::collections::HashSet;

use undertone_core::Segment;

use crate::Email;

/// The text as compared: lower case, words only, single spaces.
pub fn normalized(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Drops segments whose text is in `earlier` (normalized) or repeats one before it, and
/// renumbers the rest from 0. Offsets stay those of the part's cleaned text.
pub fn drop_repeated(segments: Vec<Segment>, earlier: &HashSet<String>) -> Vec<Segment> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut kept = Vec::with_capacity(segments.len());
    for mut segment in segments {
        let key = normalized(&segment.text);
        // Very short segments ("Thanks!", "Hi") repeat by nature, not by quoting.
        let substantial = key.split(' ').count() >= 4;
        if substantial && (earlier.contains(&key) || !seen.insert(key)) {
            continue;
        }
        segment.index = kept.len() as u32;
        kept.push(segment);
    }
    kept
}

/// The order to ingest a batch of emails in: parents before their replies (by date, a
/// message without a date last, then by how deep in its thread it is).
pub fn thread_order(emails: &[&Email]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..emails.len()).collect();
    order.sort_by_key(|&i| (emails[i].sent_at_ms.unwrap_or(i64::MAX), emails[i].ancestors().len()));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use undertone_core::SpeakerRole;

    fn segment(index: u32, text: &str) -> Segment {
        Segment {
            index,
            part: "m".into(),
            text: text.into(),
            speaker: None,
            role: SpeakerRole::Customer,
            timestamp_ms: None,
            media_offset_ms: None,
            char_start: 0,
            char_end: text.chars().count() as u32,
        }
    }

    #[test]
    fn repeats_of_earlier_sentences_are_dropped_and_the_rest_renumbered() {
        let earlier = HashSet::from([normalized("We may not renew in January.")]);
        let segments = vec![
            segment(0, "Thanks!"),
            segment(1, "we may NOT renew in January"),
            segment(2, "The invoice is wrong again."),
            segment(3, "The invoice is wrong again!"),
            segment(4, "Thanks!"),
        ];
        let kept = drop_repeated(segments, &earlier);
        let texts: Vec<&str> = kept.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["Thanks!", "The invoice is wrong again.", "Thanks!"]);
        assert_eq!(kept.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
