//! Sentence segmentation with character offsets.
//!
//! Sentences end at `.`, `!`, `?` (and runs of them) followed by whitespace, except after
//! common abbreviations and single initials; a blank line or a line break always ends a
//! sentence (emails and tickets rarely wrap mid-sentence after cleaning). Sentences longer
//! than [`MAX_SEGMENT_CHARS`] are cut at a word boundary so every segment fits the encoder.

/// Longest segment in characters (about 256 word pieces of English).
pub const MAX_SEGMENT_CHARS: usize = 900;

const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd", "co", "corp",
    "approx", "no", "exp", "ext", "tel", "ref", "dept", "est", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec",
];

/// A sentence as character offsets `[start, end)` into the text it came from (Unicode
/// scalar values, not bytes), with surrounding whitespace excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentenceSpan {
    pub start: usize,
    pub end: usize,
}

/// Splits `text` into sentences.
pub fn split_sentences(text: &str) -> Vec<SentenceSpan> {
    let chars: Vec<char> = text.chars().collect();
    let mut spans = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let boundary = if chars[i] == '\n' { Some(i + 1) } else { sentence_end(&chars, i) };
        match boundary {
            Some(end) => {
                push_trimmed(&chars, start, end, &mut spans);
                start = end;
                i = end;
            }
            None => i += 1,
        }
    }
    push_trimmed(&chars, start, chars.len(), &mut spans);
    spans
}

fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | '”' | '’')
}

/// If a sentence ends with the terminal at `i`, where it ends: after the run of terminals
/// and closing quotes, when whitespace or the end of the text follows, and the terminal is
/// not the dot of an abbreviation or an initial.
fn sentence_end(chars: &[char], i: usize) -> Option<usize> {
    if !is_terminal(chars[i]) {
        return None;
    }
    let mut end = i + 1;
    while end < chars.len() && (is_terminal(chars[end]) || is_closer(chars[end])) {
        end += 1;
    }
    let followed_by_space = chars.get(end).is_none_or(|c| c.is_whitespace());
    let lone_dot = chars[i] == '.' && end == i + 1;
    (followed_by_space && !(lone_dot && is_abbreviation(chars, i))).then_some(end)
}

fn is_abbreviation(chars: &[char], dot: usize) -> bool {
    let mut start = dot;
    while start > 0 && (chars[start - 1].is_alphanumeric() || chars[start - 1] == '.') {
        start -= 1;
    }
    let word: String = chars[start..dot].iter().collect::<String>().to_lowercase();
    let single_initial = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
    single_initial || ABBREVIATIONS.contains(&word.as_str())
}

fn push_trimmed(chars: &[char], mut start: usize, mut end: usize, spans: &mut Vec<SentenceSpan>) {
    while start < end && chars[start].is_whitespace() {
        start += 1;
    }
    while end > start && chars[end - 1].is_whitespace() {
        end -= 1;
    }
    while end - start > MAX_SEGMENT_CHARS {
        let cut = cut_point(chars, start, start + MAX_SEGMENT_CHARS);
        push_trimmed(chars, start, cut, spans);
        start = cut;
        while start < end && chars[start].is_whitespace() {
            start += 1;
        }
    }
    if end > start && chars[start..end].iter().any(|c| c.is_alphanumeric()) {
        spans.push(SentenceSpan { start, end });
    }
}

/// The last whitespace before `limit`, or `limit` itself in a very long word.
fn cut_point(chars: &[char], start: usize, limit: usize) -> usize {
    (start + 1..limit).rev().find(|&i| chars[i].is_whitespace()).unwrap_or(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        split_sentences(text).iter().map(|s| chars[s.start..s.end].iter().collect()).collect()
    }

    #[test]
    fn splits_on_terminals_and_lines() {
        assert_eq!(
            sentences("The sync failed again! Why? Fix it.\nThanks,\nDana"),
            ["The sync failed again!", "Why?", "Fix it.", "Thanks,", "Dana"]
        );
    }

    #[test]
    fn keeps_abbreviations_decimals_and_urls_together() {
        assert_eq!(
            sentences("Dr. Lee met Mr. Ortiz, e.g. about v2.5 at app.example.com. Then we left."),
            ["Dr. Lee met Mr. Ortiz, e.g. about v2.5 at app.example.com.", "Then we left."]
        );
    }

    #[test]
    fn quotes_after_a_terminal_stay_with_the_sentence() {
        assert_eq!(sentences("She said \"no.\" We agreed."), ["She said \"no.\"", "We agreed."]);
    }

    #[test]
    fn offsets_are_in_characters() {
        let text = "Café déjà vu. Ça va?";
        let spans = split_sentences(text);
        assert_eq!(spans[1], SentenceSpan { start: 14, end: 20 });
    }

    #[test]
    fn long_sentences_are_cut_at_words() {
        let text = "word ".repeat(500);
        let spans = split_sentences(&text);
        assert!(spans.len() >= 3);
        assert!(spans.iter().all(|s| s.end - s.start <= MAX_SEGMENT_CHARS));
    }

    #[test]
    fn punctuation_only_lines_are_dropped() {
        assert_eq!(sentences("--\n...\nok"), ["ok"]);
    }
}
