//! VADER, the lexicon-and-rules sentiment scorer, as a BASELINE to measure our model
//! against. It is never the product's sentiment model.
//!
//! A port of `vaderSentiment/vaderSentiment.py` from vaderSentiment 3.3.2 (MIT licence;
//! C.J. Hutto and E.E. Gilbert, "VADER: A Parsimonious Rule-based Model for Sentiment
//! Analysis of Social Media Text", ICWSM 2014). The rules follow the Python code line by
//! line, quirks included (the order-dependent `but` re-weighting, the precedence of the
//! three-words-back `never so` check), so that scores agree with the package: booster and
//! dampener words, negation (with `n't`, `never so`/`never this`, `without doubt`), `no`,
//! `least`, `kind of`, the special-case idioms, ALL-CAPS emphasis when the text mixes
//! case, `!` and `?` amplification and normalisation with alpha = 15.
//!
//! Not ported: the package first replaces emoji with their text descriptions from
//! `emoji_utf8_lexicon.txt`, which the fetch script does not keep; emoji here count as
//! neutral words. None of our evaluation sets contains emoji.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use undertone_core::SentimentLabel;

use crate::{ModelError, Result, files};

/// Rating increase of a booster word (and decrease of a dampener), from the paper.
const B_INCR: f64 = 0.293;
const B_DECR: f64 = -0.293;
/// Rating increase of an ALL-CAPS word among mixed-case words.
const C_INCR: f64 = 0.733;
/// Scale applied to a negated word.
const N_SCALAR: f64 = -0.74;
/// Normalisation constant of the compound score: `s / sqrt(s^2 + alpha)`.
const ALPHA: f64 = 15.0;
/// VADER's own labelling convention on the compound score.
pub const COMPOUND_THRESHOLD: f64 = 0.05;

const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

/// `BOOSTER_DICT` words that raise a rating by [`B_INCR`].
const BOOSTERS: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

/// `BOOSTER_DICT` words and phrases that lower a rating by [`B_DECR`].
const DAMPENERS: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "just enough",
    "kind of",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sort of",
    "sorta",
    "sortof",
    "sort-of",
];

/// Idioms and phrases whose valence replaces the word's.
const SPECIAL_CASES: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("badass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

/// A booster's (positive) or dampener's (negative) rating change, as in `BOOSTER_DICT`.
fn booster(word: &str) -> Option<f64> {
    if DAMPENERS.contains(&word) {
        Some(B_DECR)
    } else if BOOSTERS.contains(&word) {
        Some(B_INCR)
    } else {
        None
    }
}

fn special_case(phrase: &str) -> Option<f64> {
    SPECIAL_CASES.iter().find(|(p, _)| *p == phrase).map(|(_, v)| *v)
}

/// Python's `negated([word])`: a negation word, or any word containing "n't".
fn is_negation(word: &str) -> bool {
    NEGATE.contains(&word) || word.contains("n't")
}

/// Python's `str.isupper()`: some cased character and no lower-case one.
fn is_upper(word: &str) -> bool {
    word.chars().any(char::is_uppercase) && !word.chars().any(char::is_lowercase)
}

/// The package's scores for one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaderScores {
    pub neg: f64,
    pub neu: f64,
    pub pos: f64,
    /// Normalised sum of valences in [-1, 1].
    pub compound: f64,
}

impl VaderScores {
    /// VADER's convention: compound >= 0.05 positive, <= -0.05 negative, else neutral.
    pub fn label(&self) -> SentimentLabel {
        if self.compound >= COMPOUND_THRESHOLD {
            SentimentLabel::Positive
        } else if self.compound <= -COMPOUND_THRESHOLD {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Neutral
        }
    }
}

/// The lexicon file `scripts/fetch-models --with-training-data` puts in the model cache.
pub fn vader_lexicon_path(model_dir: &Path) -> PathBuf {
    model_dir.join("vader/vader_lexicon.txt")
}

/// The VADER scorer over its word lexicon.
#[derive(Debug, Clone)]
pub struct Vader {
    lexicon: HashMap<String, f64>,
}

/// One text split the way `SentiText` does, with its lower-cased twin.
struct Words {
    original: Vec<String>,
    lower: Vec<String>,
    cap_differential: bool,
}

impl Words {
    fn new(text: &str) -> Self {
        let original: Vec<String> = text.split_whitespace().map(strip_punctuation_if_word).collect();
        let lower = original.iter().map(|w| w.to_lowercase()).collect();
        let caps = original.iter().filter(|w| is_upper(w)).count();
        // ALL-CAPS counts as emphasis only when some words are not in capitals.
        let cap_differential = caps > 0 && caps < original.len();
        Self { original, lower, cap_differential }
    }

    fn len(&self) -> usize {
        self.lower.len()
    }

    fn phrase(&self, range: std::ops::RangeInclusive<usize>) -> String {
        self.lower[range].join(" ")
    }
}

/// Strips leading and trailing ASCII punctuation unless that leaves two characters or
/// fewer (then the token was likely an emoticon such as ":)" and stays as it is).
fn strip_punctuation_if_word(token: &str) -> String {
    let stripped = token.trim_matches(|c: char| c.is_ascii_punctuation());
    if stripped.chars().count() <= 2 { token.to_owned() } else { stripped.to_owned() }
}

impl Vader {
    /// Loads `vader_lexicon.txt` from the model cache.
    pub fn load(model_dir: &Path) -> Result<Self> {
        let path = vader_lexicon_path(model_dir);
        let text = String::from_utf8(files::read(&path)?)
            .map_err(|e| ModelError::Invalid { path: path.clone(), reason: e.to_string() })?;
        Self::parse(&text).map_err(|reason| ModelError::Invalid { path, reason })
    }

    /// Parses the lexicon: one `word<TAB>mean<TAB>...` line per entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lexicon = HashMap::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let mut fields = line.trim().split('\t');
            let (Some(word), Some(measure)) = (fields.next(), fields.next()) else {
                return Err(format!("line {}: expected word and rating", n + 1));
            };
            let measure: f64 = measure.parse().map_err(|_| format!("line {}: rating {measure:?}", n + 1))?;
            lexicon.insert(word.to_owned(), measure);
        }
        Ok(Self { lexicon })
    }

    /// A lexicon from `(word, rating)` pairs.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a str, f64)>) -> Self {
        Self { lexicon: entries.into_iter().map(|(w, v)| (w.to_owned(), v)).collect() }
    }

    fn known(&self, word: &str) -> bool {
        self.lexicon.contains_key(word)
    }

    /// `SentimentIntensityAnalyzer.polarity_scores`, without rounding.
    pub fn polarity_scores(&self, text: &str) -> VaderScores {
        let text = text.trim();
        let words = Words::new(text);
        let mut sentiments = Vec::with_capacity(words.len());
        for i in 0..words.len() {
            let item = words.lower[i].as_str();
            let kind_of = i + 1 < words.len() && item == "kind" && words.lower[i + 1] == "of";
            // Modifiers carry no valence of their own.
            let valence = if booster(item).is_some() || kind_of { 0.0 } else { self.valence(&words, i) };
            sentiments.push(valence);
        }
        but_check(&words.lower, &mut sentiments);
        score_valence(&sentiments, text)
    }

    /// `sentiment_valence`: the word's lexicon valence adjusted by its neighbours.
    fn valence(&self, words: &Words, i: usize) -> f64 {
        let lower = &words.lower;
        let Some(&base) = self.lexicon.get(&lower[i]) else {
            return 0.0;
        };
        let mut valence = base;
        // "no" before a lexicon word negates that word rather than counting itself.
        if lower[i] == "no" && i + 1 != words.len() && self.known(&lower[i + 1]) {
            valence = 0.0;
        }
        if (i > 0 && lower[i - 1] == "no")
            || (i > 1 && lower[i - 2] == "no")
            || (i > 2 && lower[i - 3] == "no" && (lower[i - 1] == "or" || lower[i - 1] == "nor"))
        {
            valence = base * N_SCALAR;
        }
        if is_upper(&words.original[i]) && words.cap_differential {
            valence += if valence > 0.0 { C_INCR } else { -C_INCR };
        }
        for start in 0..3 {
            if i > start && !self.known(&lower[i - (start + 1)]) {
                let mut scalar =
                    scalar_inc_dec(&words.original[i - (start + 1)], valence, words.cap_differential);
                // Modifiers further away count less.
                if start == 1 {
                    scalar *= 0.95;
                } else if start == 2 {
                    scalar *= 0.9;
                }
                valence = negation_check(valence + scalar, lower, start, i);
                if start == 2 {
                    valence = special_idioms_check(valence, words, i);
                }
            }
        }
        self.least_check(valence, lower, i)
    }

    /// "least" before a word negates it, except in "at least" and "very least".
    fn least_check(&self, valence: f64, lower: &[String], i: usize) -> f64 {
        let after_least = i > 0 && !self.known(&lower[i - 1]) && lower[i - 1] == "least";
        if !after_least || (i > 1 && (lower[i - 2] == "at" || lower[i - 2] == "very")) {
            valence
        } else {
            valence * N_SCALAR
        }
    }
}

/// `scalar_inc_dec`: a preceding booster's effect, signed like the valence, plus ALL-CAPS
/// emphasis of the booster itself.
fn scalar_inc_dec(word: &str, valence: f64, cap_differential: bool) -> f64 {
    let Some(mut scalar) = booster(&word.to_lowercase()) else {
        return 0.0;
    };
    if valence < 0.0 {
        scalar = -scalar;
    }
    if is_upper(word) && cap_differential {
        scalar += if valence > 0.0 { C_INCR } else { -C_INCR };
    }
    scalar
}

/// `_negation_check` for the word `start + 1` places before word `i`.
fn negation_check(valence: f64, lower: &[String], start: usize, i: usize) -> f64 {
    let w = |back: usize| lower[i - back].as_str();
    match start {
        0 if is_negation(w(1)) => valence * N_SCALAR,
        1 if w(2) == "never" && (w(1) == "so" || w(1) == "this") => valence * 1.25,
        1 if w(2) == "without" && w(1) == "doubt" => valence,
        1 if is_negation(w(2)) => valence * N_SCALAR,
        // As in the Python: `never so|this` two back, or `so|this` just before, amplifies.
        2 if (w(3) == "never" && (w(2) == "so" || w(2) == "this")) || (w(1) == "so" || w(1) == "this") => {
            valence * 1.25
        }
        2 if w(3) == "without" && (w(2) == "doubt" || w(1) == "doubt") => valence,
        2 if is_negation(w(3)) => valence * N_SCALAR,
        _ => valence,
    }
}

/// `_special_idioms_check` (called for words with three words before them).
fn special_idioms_check(mut valence: f64, words: &Words, i: usize) -> f64 {
    let one_zero = words.phrase(i - 1..=i);
    let two_one_zero = words.phrase(i - 2..=i);
    let two_one = words.phrase(i - 2..=i - 1);
    let three_two_one = words.phrase(i - 3..=i - 1);
    let three_two = words.phrase(i - 3..=i - 2);
    let before = [&one_zero, &two_one_zero, &two_one, &three_two_one, &three_two];
    if let Some(v) = before.iter().find_map(|seq| special_case(seq)) {
        valence = v;
    }
    if words.len() - 1 > i
        && let Some(v) = special_case(&words.phrase(i..=i + 1))
    {
        valence = v;
    }
    if words.len() - 1 > i + 1
        && let Some(v) = special_case(&words.phrase(i..=i + 2))
    {
        valence = v;
    }
    // Multi-word dampeners such as "kind of" and "sort of".
    for n_gram in [&three_two_one, &three_two, &two_one] {
        if let Some(v) = booster(n_gram) {
            valence += v;
        }
    }
    valence
}

/// `_but_check`: halves the words before the first "but" and adds half to those after.
/// The Python finds each value's index with `list.index` (the first equal value), so a
/// repeated valence can be re-weighted at an earlier position; kept for parity.
fn but_check(lower: &[String], sentiments: &mut [f64]) {
    let Some(bi) = lower.iter().position(|w| w == "but") else {
        return;
    };
    for k in 0..sentiments.len() {
        let value = sentiments[k];
        let si = sentiments.iter().position(|s| *s == value).unwrap_or(k);
        if si < bi {
            sentiments[si] = value * 0.5;
        } else if si > bi {
            sentiments[si] = value * 1.5;
        }
    }
}

/// Emphasis from up to four `!` and from two or more `?`.
fn punctuation_emphasis(text: &str) -> f64 {
    let exclamations = text.matches('!').count().min(4) as f64 * 0.292;
    let questions = match text.matches('?').count() {
        0 | 1 => 0.0,
        n @ 2..=3 => n as f64 * 0.18,
        _ => 0.96,
    };
    exclamations + questions
}

fn normalize(score: f64) -> f64 {
    (score / (score * score + ALPHA).sqrt()).clamp(-1.0, 1.0)
}

/// `score_valence`: the compound score and the positive / negative / neutral shares.
fn score_valence(sentiments: &[f64], text: &str) -> VaderScores {
    if sentiments.is_empty() {
        return VaderScores { neg: 0.0, neu: 0.0, pos: 0.0, compound: 0.0 };
    }
    let emphasis = punctuation_emphasis(text);
    let mut sum: f64 = sentiments.iter().sum();
    if sum > 0.0 {
        sum += emphasis;
    } else if sum < 0.0 {
        sum -= emphasis;
    }
    // Each word counts one more than its valence, so neutral words (counted 1) compare.
    let mut pos_sum: f64 = sentiments.iter().filter(|s| **s > 0.0).map(|s| s + 1.0).sum();
    let mut neg_sum: f64 = sentiments.iter().filter(|s| **s < 0.0).map(|s| s - 1.0).sum();
    let neu_count = sentiments.iter().filter(|s| **s == 0.0).count() as f64;
    if pos_sum > neg_sum.abs() {
        pos_sum += emphasis;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= emphasis;
    }
    let total = pos_sum + neg_sum.abs() + neu_count;
    VaderScores {
        neg: (neg_sum / total).abs(),
        neu: (neu_count / total).abs(),
        pos: (pos_sum / total).abs(),
        compound: normalize(sum),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Scores from the Python package, and the lexicon entries the texts use, so the test
    /// runs without the fetched lexicon.
    #[derive(Deserialize)]
    struct Reference {
        lexicon: HashMap<String, f64>,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        text: String,
        neg: f64,
        neu: f64,
        pos: f64,
        compound: f64,
    }

    fn reference() -> Reference {
        serde_json::from_str(include_str!("vader_reference.json")).expect("reference parses")
    }

    fn assert_matches(vader: &Vader, cases: &[Case]) {
        for case in cases {
            let got = vader.polarity_scores(&case.text);
            // The package rounds compound to 4 places and the shares to 3.
            assert!((got.compound - case.compound).abs() < 1e-3, "compound {got:?} for {:?}", case.text);
            for (g, want) in [(got.neg, case.neg), (got.neu, case.neu), (got.pos, case.pos)] {
                assert!((g - want).abs() < 1e-3, "shares {got:?} for {:?}", case.text);
            }
        }
    }

    #[test]
    fn agrees_with_the_python_package() {
        let reference = reference();
        assert!(reference.cases.len() >= 30);
        let vader = Vader::from_entries(reference.lexicon.iter().map(|(w, v)| (w.as_str(), *v)));
        assert_matches(&vader, &reference.cases);
    }

    #[test]
    fn agrees_with_the_python_package_on_the_full_lexicon() {
        let dir = crate::default_model_dir();
        if !vader_lexicon_path(&dir).is_file() {
            eprintln!("skipped: no VADER lexicon (run scripts/fetch-models --with-training-data)");
            return;
        }
        let vader = Vader::load(&dir).unwrap();
        assert!(vader.lexicon.len() > 7000, "{}", vader.lexicon.len());
        assert_matches(&vader, &reference().cases);
    }

    #[test]
    fn labels_follow_the_compound_convention() {
        let vader = Vader::from_entries([("good", 1.9), ("bad", -2.5)]);
        assert_eq!(vader.polarity_scores("The book was good.").label(), SentimentLabel::Positive);
        assert_eq!(vader.polarity_scores("The book was not good.").label(), SentimentLabel::Negative);
        assert_eq!(vader.polarity_scores("The book was blue.").label(), SentimentLabel::Neutral);
        assert_eq!(vader.polarity_scores("").compound, 0.0);
    }

    #[test]
    fn tokens_keep_emoticons_and_lose_word_punctuation() {
        assert_eq!(strip_punctuation_if_word("funny!"), "funny");
        assert_eq!(strip_punctuation_if_word(":)"), ":)");
        assert_eq!(strip_punctuation_if_word("ok,"), "ok,");
    }

    #[test]
    fn lexicon_lines_parse() {
        let vader = Vader::parse("good\t1.9\t0.9\t[2, 2]\n\n:)\t2.0\t1.1\t[1]\n").unwrap();
        assert_eq!(vader.lexicon.get(":)"), Some(&2.0));
        assert!(Vader::parse("good\tplenty\n").is_err());
    }
}
