//! A sentence said once counts once.
//!
//! Replies quote earlier messages, forwarded threads repeat them, and a customer pastes the
//! same complaint into a ticket and an email. Every insight counts one sentence of one
//! account once: the first time it was said (earliest timestamp, then point id). Two
//! segments are the same sentence when their words are equal, ignoring case, punctuation,
//! quote markers (`>`) and line wrapping.

use std::collections::HashSet;

use undertone_core::{AccountId, StoredSegment, point_id};

/// The words of a text, lowercased, joined by single spaces; `None` when it has none.
pub fn normalized_words(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    (!out.is_empty()).then_some(out)
}

/// Sort key that puts the first utterance of a sentence first: time (unknown last), then
/// point id, so the choice never depends on input order.
pub fn said_order(segment: &StoredSegment) -> (i64, u128) {
    (segment.segment.timestamp_ms.unwrap_or(i64::MAX), point_order(segment))
}

/// The stored point id as a number: a total, input-independent order of segments.
pub fn point_order(segment: &StoredSegment) -> u128 {
    point_id(&segment.document, segment.segment.index).as_u128()
}

/// Indices of the segments of `earlier` and `current` that are the first utterance of
/// their sentence within their account. `earlier` (a previous window) is considered
/// together with `current`, so a sentence first said before the window and quoted again
/// inside it counts in the earlier window only. Returned indices are ascending.
pub fn first_utterances(earlier: &[StoredSegment], current: &[StoredSegment]) -> (Vec<usize>, Vec<usize>) {
    let mut all: Vec<(bool, usize, &StoredSegment)> = earlier
        .iter()
        .enumerate()
        .map(|(i, s)| (false, i, s))
        .chain(current.iter().enumerate().map(|(i, s)| (true, i, s)))
        .collect();
    all.sort_by_key(|(_, _, s)| said_order(s));
    let mut seen: HashSet<(&AccountId, String)> = HashSet::new();
    let (mut keep_earlier, mut keep_current) = (Vec::new(), Vec::new());
    for (is_current, i, segment) in all {
        let first = match normalized_words(&segment.segment.text) {
            Some(words) => seen.insert((&segment.account, words)),
            None => true,
        };
        if first {
            if is_current { keep_current.push(i) } else { keep_earlier.push(i) }
        }
    }
    keep_earlier.sort_unstable();
    keep_current.sort_unstable();
    (keep_earlier, keep_current)
}

/// `segments` without repeats of a sentence already said in the same account.
pub fn without_repeats(segments: &[StoredSegment]) -> Vec<&StoredSegment> {
    first_utterances(&[], segments).1.into_iter().map(|i| &segments[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::seg_at;

    #[test]
    fn words_ignore_case_punctuation_and_quote_markers() {
        assert_eq!(
            normalized_words("> We may NOT renew,\n  honestly."),
            Some("we may not renew honestly".into())
        );
        assert_eq!(normalized_words(" -- "), None);
    }

    #[test]
    fn a_quoted_sentence_counts_once_in_its_account() {
        let first = seg_at("acme", "m1", 0, "The export is broken again.", 10);
        let quoted = seg_at("acme", "m2", 3, "> The export is broken again.", 20);
        let other_account = seg_at("beta", "m3", 0, "The export is broken again.", 30);
        let all = [quoted.clone(), other_account.clone(), first.clone()];
        let kept = without_repeats(&all);
        let texts: Vec<(&str, &str)> =
            kept.iter().map(|s| (s.account.as_str(), s.document.external_id.as_str())).collect();
        assert_eq!(texts, vec![("beta", "m3"), ("acme", "m1")]);
        // Said before the window, quoted inside it: it counts in the earlier window only.
        let (earlier, current) = first_utterances(&[first], &[quoted]);
        assert_eq!((earlier, current), (vec![0], vec![]));
    }
}
