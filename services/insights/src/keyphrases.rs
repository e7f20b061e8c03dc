//! Keyphrases of a group of texts by class-based TF-IDF (c-TF-IDF, as in BERTopic).
//!
//! Every class (a theme's cluster, and the unassigned segments as one more class) is one
//! document: the concatenation of its texts. A term's weight in class `c` is
//!
//! ```text
//! W(t, c) = tf(t, c) / |c| * ln(1 + A / f(t))
//! ```
//!
//! where `tf(t, c)` is how often `t` occurs in `c`, `|c|` the number of terms of `c`,
//! `A` the average number of terms per class and `f(t)` the occurrences of `t` over all
//! classes: frequent in the class and rare elsewhere ranks first. When texts belong to
//! groups (accounts), `W` is also multiplied by the share of the class's groups whose
//! texts use the term ([`keyphrases_grouped`]).
//!
//! Terms are lowercased words (stopwords, fillers and bare numbers dropped, a plural `s`
//! folded so `dashboards` and `dashboard` are one term) and bigrams of adjacent kept words
//! (not across a dropped word). A term must occur in at least two texts of its class
//! (when the class has two or more), so one long sentence cannot own the label. A
//! unigram already covered by a chosen phrase is skipped; a bigram replaces the chosen
//! unigrams it extends unless one of them weighs more than three times as much. A term is
//! shown in its most frequent surface form. Ties break alphabetically: the result never
//! depends on input order.

use std::collections::{BTreeMap, HashMap, HashSet};

/// English stopwords plus the fillers and courtesy words of customer conversations.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "couldn",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "get",
    "gets",
    "getting",
    "going",
    "got",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "hey",
    "hi",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "know",
    "let",
    "like",
    "ll",
    "look",
    "looks",
    "make",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "need",
    "needs",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "ok",
    "okay",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "re",
    "really",
    "right",
    "s",
    "said",
    "same",
    "say",
    "see",
    "she",
    "should",
    "shouldn",
    "since",
    "so",
    "some",
    "still",
    "such",
    "sure",
    "t",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "think",
    "this",
    "those",
    "through",
    "to",
    "too",
    "uh",
    "um",
    "under",
    "until",
    "up",
    "us",
    "ve",
    "very",
    "was",
    "wasn",
    "way",
    "we",
    "well",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "would",
    "wouldn",
    "yeah",
    "yes",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Words whose final `s` is not a plural.
const KEEP_S: &[&str] =
    &["always", "analysis", "series", "news", "status", "sso", "saas", "access", "process"];

fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

/// The term key of a lowercased word: a plural `s` folded.
fn fold(word: &str) -> String {
    let folds = word.len() > 3
        && word.ends_with('s')
        && !word.ends_with("ss")
        && !word.ends_with("us")
        && !word.ends_with("is")
        && !KEEP_S.contains(&word);
    if folds { word[..word.len() - 1].to_owned() } else { word.to_owned() }
}

/// The terms of one text: `(key, surface form)` for every kept unigram and bigram.
fn terms(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut previous: Option<(String, String)> = None;
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let word: String = raw.trim_matches('\'').chars().flat_map(char::to_lowercase).collect();
        let word = word.split('\'').next().unwrap_or_default().to_owned();
        let kept = word.chars().count() >= 2 && !is_stopword(&word) && !word.chars().all(|c| c.is_numeric());
        if !kept {
            previous = None;
            continue;
        }
        let key = fold(&word);
        if let Some((pkey, pword)) = previous.take() {
            out.push((format!("{pkey} {key}"), format!("{pword} {word}")));
        }
        out.push((key.clone(), word.clone()));
        previous = Some((key, word));
    }
    out
}

/// The top `k` keyphrases of every class, by c-TF-IDF over all of `classes` (each a
/// list of texts). A class with no qualifying term gets an empty list.
pub fn keyphrases(classes: &[Vec<&str>], k: usize) -> Vec<Vec<String>> {
    let grouped: Vec<Vec<(&str, &str)>> =
        classes.iter().map(|texts| texts.iter().map(|t| (*t, "")).collect()).collect();
    keyphrases_grouped(&grouped, k)
}

/// As [`keyphrases`], for texts that each belong to a group (an account): a term's weight
/// is also multiplied by the share of the class's groups that use it, so a theme across
/// accounts is named by what the accounts share, not by one account's product names.
pub fn keyphrases_grouped(classes: &[Vec<(&str, &str)>], k: usize) -> Vec<Vec<String>> {
    // Per class: term -> (occurrences, texts containing it); surface forms across classes.
    let mut counts: Vec<BTreeMap<String, (usize, usize)>> = Vec::with_capacity(classes.len());
    let mut groups_using: Vec<BTreeMap<String, HashSet<&str>>> = Vec::with_capacity(classes.len());
    let mut surface: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for texts in classes {
        let mut class: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut groups: BTreeMap<String, HashSet<&str>> = BTreeMap::new();
        for (text, group) in texts {
            let mut in_text = HashSet::new();
            for (key, form) in terms(text) {
                let entry = class.entry(key.clone()).or_default();
                entry.0 += 1;
                if in_text.insert(key.clone()) {
                    entry.1 += 1;
                    groups.entry(key.clone()).or_default().insert(group);
                }
                *surface.entry(key.clone()).or_default().entry(form).or_default() += 1;
                *total.entry(key).or_default() += 1;
            }
        }
        counts.push(class);
        groups_using.push(groups);
    }
    let class_sizes: Vec<usize> = counts.iter().map(|c| c.values().map(|(n, _)| n).sum()).collect();
    let average = class_sizes.iter().sum::<usize>() as f64 / classes.len().max(1) as f64;
    let display = |key: &str| -> String {
        surface
            .get(key)
            .and_then(|forms| forms.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))))
            .map_or_else(|| key.to_owned(), |(form, _)| form.clone())
    };
    counts
        .iter()
        .zip(classes)
        .zip(&class_sizes)
        .zip(&groups_using)
        .map(|(((class, texts), &size), groups)| {
            let min_texts = if texts.len() >= 2 { 2 } else { 1 };
            let group_count = texts.iter().map(|(_, g)| *g).collect::<HashSet<&str>>().len().max(1);
            let mut scored: Vec<(f64, &String)> = class
                .iter()
                .filter(|(_, (_, in_texts))| *in_texts >= min_texts)
                .map(|(key, (n, _))| {
                    let tf = *n as f64 / size.max(1) as f64;
                    let idf = (1.0 + average / total[key] as f64).ln();
                    let coverage = groups.get(key).map_or(0, HashSet::len) as f64 / group_count as f64;
                    (tf * idf * coverage, key)
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
            let score_of: HashMap<&String, f64> = scored.iter().map(|(w, key)| (*key, *w)).collect();
            let mut chosen: Vec<&String> = Vec::new();
            for (_, key) in scored {
                let words: Vec<&str> = key.split(' ').collect();
                let covers = |phrase: &str, word: &str| phrase.split(' ').any(|w| w == word);
                if words.len() == 1 {
                    if chosen.len() < k && !chosen.iter().any(|c| covers(c, words[0])) {
                        chosen.push(key);
                    }
                    continue;
                }
                // A bigram takes the place of the chosen unigrams it extends, unless one of
                // them is much more frequent (then it is the more general phrase).
                if chosen.iter().any(|c| c.contains(' ') && words.iter().all(|w| covers(c, w))) {
                    continue;
                }
                let extended: Vec<usize> = (0..chosen.len())
                    .filter(|&i| !chosen[i].contains(' ') && words.contains(&chosen[i].as_str()))
                    .collect();
                if extended.iter().any(|&i| score_of[chosen[i]] > 3.0 * score_of[key])
                    || (extended.is_empty() && chosen.len() >= k)
                {
                    continue;
                }
                let at = extended.first().copied().unwrap_or(chosen.len());
                for &i in extended.iter().rev() {
                    chosen.remove(i);
                }
                chosen.insert(at.min(chosen.len()), key);
            }
            chosen.into_iter().map(|key| display(key)).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]), "STOPWORDS must stay sorted and unique");
    }

    #[test]
    fn terms_drop_stopwords_numbers_and_fold_plurals() {
        let keys: Vec<String> =
            terms("The dashboards take 90 seconds to load!").into_iter().map(|t| t.0).collect();
        assert_eq!(keys, vec!["dashboard", "dashboard take", "take", "second", "load"]);
    }

    #[test]
    fn class_specific_phrases_rank_first() {
        let slow = vec![
            "The slow dashboard every morning.",
            "Slow dashboards and reports time out.",
            "Slow dashboard again today, the team is waiting.",
        ];
        let billing = vec![
            "The invoice has the wrong seat count.",
            "Another invoice with the wrong seat count.",
            "Please fix the seat count on our invoice.",
        ];
        let other = vec!["The team is frustrated.", "We are waiting on the team."];
        let phrases = keyphrases(&[slow.clone(), billing.clone(), other.clone()], 3);
        assert_eq!(phrases[0][0], "slow dashboard", "{phrases:?}");
        assert!(phrases[1].contains(&"seat count".to_owned()), "{phrases:?}");
        assert!(phrases[1].contains(&"invoice".to_owned()), "{phrases:?}");
        assert!(!phrases[0].iter().any(|p| p == "team"), "shared words rank low: {phrases:?}");
        // Grouped by account: what the accounts share outranks one account's words.
        let grouped = vec![
            vec![
                ("Fleet utilization dashboard is slow.", "a"),
                ("Fleet utilization dashboard is slow today.", "a"),
                ("Our slow dashboard.", "b"),
                ("A slow dashboard again.", "c"),
            ],
            vec![("Nothing here.", "d"), ("Nothing at all.", "e")],
        ];
        let named = keyphrases_grouped(&grouped, 2);
        assert_eq!(named[0][0], "slow dashboard", "{named:?}");
        // Order of classes' texts does not matter.
        let reversed: Vec<&str> = slow.iter().rev().copied().collect();
        assert_eq!(keyphrases(&[reversed, billing, other], 3)[0], phrases[0]);
    }
}
