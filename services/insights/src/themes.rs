//! Themes for CS Ops: what customers complain about across accounts, and how it changes.
//!
//! 1. Candidates: customer segments (and, by default, segments of unknown role; internal
//!    speech never) that are negative: labelled negative, or with a sentiment score at or
//!    below `negative_score`. A sentence said again in the same account (a quoted reply)
//!    counts once, where it was first said ([`crate::repeats`]).
//! 2. Canonical order: candidates are sorted by point id, so the input order never matters.
//! 3. Clustering: average linkage on the embeddings' cosine similarity, merged while the
//!    average similarity is at least `similarity` ([`crate::cluster`]). Groups of fewer
//!    than `min_size` segments are left unassigned (outliers).
//! 4. Each theme: its topic is the taxonomy topic with the largest summed score over its
//!    segments; its keyphrases come from c-TF-IDF over all groups' texts, favouring
//!    words several accounts share ([`crate::keyphrases`]); its label is "topic label: top keyphrase"; its
//!    representative quotes are the segments nearest its centroid, one per account first.
//! 5. Trend: candidates of the previous window of the same length join the theme they are
//!    on average most similar to, when that average reaches `similarity` (the same rule
//!    that would have merged them); their count is the theme's previous count. A change
//!    of at least a quarter of the previous count (and at least one) is worsening (more
//!    complaints) or improving (fewer); less is stable.
//!
//! Themes are ordered by size, then accounts affected, then label, then their first point
//! id; ids are the slugs of topic and top keyphrase (`performance-slow-dashboard`),
//! suffixed `-2`, `-3` in that order when two themes would share one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use undertone_core::{AccountId, SentimentLabel, SpeakerRole, StoredSegment};

use crate::Direction;
use crate::cluster::{average_linkage, dot};
use crate::keyphrases::keyphrases_grouped;
use crate::repeats::{first_utterances, point_order};

/// How themes are found; documented defaults, configurable (`[insights.themes]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThemeConfig {
    /// Average cosine similarity at which two groups of segments merge.
    pub similarity: f32,
    /// Smallest group that is a theme; smaller groups are unassigned.
    pub min_size: usize,
    /// Neutral-labelled segments at or below this sentiment score count as negative too
    /// (complaints stated in flat words).
    pub negative_score: f32,
    /// Whether speech of unknown role counts (it is usually the customer's).
    pub include_unknown_role: bool,
    /// Keyphrases per theme.
    pub keywords: usize,
    /// Representative quotes per theme.
    pub quotes: usize,
    /// Most candidate segments clustered in one call (the most negative are kept).
    pub max_segments: usize,
}

impl Default for ThemeConfig {
    fn default() -> Self {
        Self {
            similarity: 0.45,
            min_size: 3,
            negative_score: -0.25,
            include_unknown_role: true,
            keywords: 5,
            quotes: 3,
            max_segments: 3000,
        }
    }
}

/// A stored segment with its embedding (L2-normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub segment: StoredSegment,
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub id: String,
    /// The dominant taxonomy topic id, if its segments have any topic.
    pub topic: Option<String>,
    pub label: String,
    pub keywords: Vec<String>,
    pub segment_count: usize,
    /// Accounts with their segment counts, most segments first (then account id).
    pub accounts: Vec<(AccountId, usize)>,
    pub previous_count: usize,
    /// Nearest the centroid first, with their cosine similarity to it.
    pub quotes: Vec<(StoredSegment, f32)>,
}

impl Theme {
    /// Segments more (positive) or fewer (negative) than in the previous window.
    pub fn delta(&self) -> f64 {
        self.segment_count as f64 - self.previous_count as f64
    }

    /// More complaints is worsening: a change of at least a quarter of the previous count
    /// (and at least one segment) either way; anything smaller is stable.
    pub fn direction(&self) -> Direction {
        let band = (self.previous_count as f64 * 0.25).max(1.0);
        match self.delta() {
            d if d >= band => Direction::Worsening,
            d if d <= -band => Direction::Improving,
            _ => Direction::Stable,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThemeReport {
    pub themes: Vec<Theme>,
    /// Candidate segments of the window (after removing repeats).
    pub segments_considered: usize,
    /// Candidates in no theme.
    pub unassigned: usize,
}

impl ThemeReport {
    pub fn unassigned_share(&self) -> f64 {
        if self.segments_considered == 0 {
            0.0
        } else {
            self.unassigned as f64 / self.segments_considered as f64
        }
    }
}

/// Whether a segment is a theme candidate: negative customer (or unknown-role) speech.
pub fn is_candidate(segment: &StoredSegment, config: &ThemeConfig) -> bool {
    let role = match segment.segment.role {
        SpeakerRole::Customer => true,
        SpeakerRole::Unknown => config.include_unknown_role,
        SpeakerRole::Internal => false,
    };
    role && (segment.sentiment.label == SentimentLabel::Negative
        || (segment.sentiment.label == SentimentLabel::Neutral
            && segment.sentiment.score <= config.negative_score))
}

/// The candidates of the previous and current windows, first utterances only, each in
/// canonical (point id) order and capped at `max_segments` (the most negative kept).
/// Callers embed exactly these.
pub fn candidates<'a>(
    previous: &'a [StoredSegment],
    current: &'a [StoredSegment],
    config: &ThemeConfig,
) -> (Vec<&'a StoredSegment>, Vec<&'a StoredSegment>) {
    let (keep_previous, keep_current) = first_utterances(previous, current);
    let pick = |all: &'a [StoredSegment], keep: Vec<usize>| {
        let mut picked: Vec<&'a StoredSegment> =
            keep.into_iter().map(|i| &all[i]).filter(|s| is_candidate(s, config)).collect();
        if picked.len() > config.max_segments {
            picked.sort_by(|a, b| {
                a.sentiment.score.total_cmp(&b.sentiment.score).then(point_order(a).cmp(&point_order(b)))
            });
            picked.truncate(config.max_segments);
        }
        picked.sort_by_key(|s| point_order(s));
        picked
    };
    (pick(previous, keep_previous), pick(current, keep_current))
}

/// Themes of the `current` window's candidates, with the trend against `previous`.
/// `label_of` gives a topic id's readable label. Inputs may hold any segments in any
/// order; non-candidates and repeats are dropped here.
pub fn find_themes(
    current: &[Embedded],
    previous: &[Embedded],
    label_of: &dyn Fn(&str) -> String,
    config: &ThemeConfig,
) -> ThemeReport {
    let cur_segments: Vec<StoredSegment> = current.iter().map(|e| e.segment.clone()).collect();
    let prev_segments: Vec<StoredSegment> = previous.iter().map(|e| e.segment.clone()).collect();
    let (prev_kept, cur_kept) = candidates(&prev_segments, &cur_segments, config);
    let items = lookup(current, cur_kept);
    let previous = lookup(previous, prev_kept);

    let vectors: Vec<&[f32]> = items.iter().map(|e| e.embedding.as_slice()).collect();
    let groups = average_linkage(&vectors, config.similarity);
    let (themed, outliers): (Vec<Vec<usize>>, Vec<Vec<usize>>) =
        groups.into_iter().partition(|g| g.len() >= config.min_size.max(1));
    let unassigned: usize = outliers.iter().map(Vec::len).sum();

    // c-TF-IDF classes: every theme, then all unassigned segments as one background class.
    let text_of = |i: usize| (items[i].segment.segment.text.as_str(), items[i].segment.account.as_str());
    let mut classes: Vec<Vec<(&str, &str)>> =
        themed.iter().map(|g| g.iter().map(|&i| text_of(i)).collect()).collect();
    classes.push(outliers.iter().flatten().map(|&i| text_of(i)).collect());
    let phrases = keyphrases_grouped(&classes, config.keywords);

    let sums: Vec<Vec<f32>> =
        themed.iter().map(|g| sum_vectors(g.iter().map(|&i| items[i].embedding.as_slice()))).collect();
    let mut previous_counts = vec![0usize; themed.len()];
    for e in &previous {
        let best = sums
            .iter()
            .zip(&themed)
            .map(|(sum, g)| dot(&e.embedding, sum) / g.len() as f32)
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        if let Some((t, avg)) = best
            && avg >= config.similarity
        {
            previous_counts[t] += 1;
        }
    }

    let mut themes: Vec<(u128, Theme)> = themed
        .iter()
        .zip(phrases)
        .zip(&sums)
        .zip(previous_counts)
        .map(|(((group, keywords), sum), previous_count)| {
            let members: Vec<&Embedded> = group.iter().map(|&i| &items[i]).collect();
            let first_point = members.iter().map(|e| point_order(&e.segment)).min().unwrap_or_default();
            (first_point, build_theme(&members, keywords, sum, previous_count, label_of, config))
        })
        .collect();
    themes.sort_by(|(pa, a), (pb, b)| {
        b.segment_count
            .cmp(&a.segment_count)
            .then(b.accounts.len().cmp(&a.accounts.len()))
            .then_with(|| a.label.cmp(&b.label))
            .then(pa.cmp(pb))
    });
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let themes = themes
        .into_iter()
        .map(|(_, mut theme)| {
            let n = used.entry(theme.id.clone()).or_default();
            *n += 1;
            if *n > 1 {
                theme.id = format!("{}-{n}", theme.id);
            }
            theme
        })
        .collect();
    ThemeReport { themes, segments_considered: items.len(), unassigned }
}

/// The embedded inputs of `kept`, in `kept`'s order (matched by point id, unique per point).
fn lookup(all: &[Embedded], kept: Vec<&StoredSegment>) -> Vec<Embedded> {
    let by_point: BTreeMap<u128, &Embedded> = all.iter().map(|e| (point_order(&e.segment), e)).collect();
    kept.into_iter().filter_map(|s| by_point.get(&point_order(s)).map(|e| (*e).clone())).collect()
}

fn sum_vectors<'a>(vectors: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    for v in vectors {
        if sum.is_empty() {
            sum = vec![0.0; v.len()];
        }
        sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
    }
    sum
}

fn build_theme(
    members: &[&Embedded],
    keywords: Vec<String>,
    sum: &[f32],
    previous_count: usize,
    label_of: &dyn Fn(&str) -> String,
    config: &ThemeConfig,
) -> Theme {
    let mut topic_mass: BTreeMap<&str, f32> = BTreeMap::new();
    for e in members {
        for t in &e.segment.topics {
            *topic_mass.entry(t.topic.as_str()).or_default() += t.score;
        }
    }
    // Largest mass; ties go to the alphabetically first id (BTreeMap order + strict >).
    let topic = topic_mass
        .iter()
        .fold(None::<(&str, f32)>, |best, (&t, &m)| match best {
            Some((_, bm)) if bm >= m => best,
            _ => Some((t, m)),
        })
        .map(|(t, _)| t.to_owned());

    let mut accounts: BTreeMap<&AccountId, usize> = BTreeMap::new();
    for e in members {
        *accounts.entry(&e.segment.account).or_default() += 1;
    }
    let mut accounts: Vec<(AccountId, usize)> = accounts.into_iter().map(|(a, n)| (a.clone(), n)).collect();
    accounts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    let mut nearest: Vec<(f32, &Embedded)> =
        members.iter().map(|e| (dot(&e.embedding, sum) / norm, *e)).collect();
    nearest
        .sort_by(|a, b| b.0.total_cmp(&a.0).then(point_order(&a.1.segment).cmp(&point_order(&b.1.segment))));
    // One quote per account first, then the nearest of the rest.
    let mut quotes: Vec<(f32, &Embedded)> = Vec::new();
    for (s, e) in &nearest {
        if quotes.len() < config.quotes && !quotes.iter().any(|(_, q)| q.segment.account == e.segment.account)
        {
            quotes.push((*s, e));
        }
    }
    for (s, e) in &nearest {
        if quotes.len() < config.quotes && !quotes.iter().any(|(_, q)| std::ptr::eq(*q, *e)) {
            quotes.push((*s, e));
        }
    }
    quotes
        .sort_by(|a, b| b.0.total_cmp(&a.0).then(point_order(&a.1.segment).cmp(&point_order(&b.1.segment))));

    let topic_label = topic.as_deref().map(label_of);
    let label = match (&topic_label, keywords.first()) {
        (Some(l), Some(k)) => format!("{l}: {k}"),
        (Some(l), None) => l.clone(),
        (None, Some(k)) => format!("Other: {k}"),
        (None, None) => "Other".to_owned(),
    };
    let id = slug(&format!(
        "{} {}",
        topic.as_deref().unwrap_or("other"),
        keywords.first().map_or("", String::as_str)
    ));
    Theme {
        id,
        topic,
        label,
        keywords,
        segment_count: members.len(),
        accounts,
        previous_count,
        quotes: quotes.into_iter().map(|(s, e)| (e.segment.clone(), s)).collect(),
    }
}

/// Lowercase ASCII letters and digits, runs of anything else as one `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{DAY, NOW, SegExt, complaint, seg_at, unit};

    fn embedded(segment: StoredSegment, axis: usize, jitter: f32) -> Embedded {
        Embedded { segment, embedding: unit(axis, jitter, 16) }
    }

    /// Three planted themes across accounts, a repeat, noise, praise and internal speech.
    fn corpus() -> (Vec<Embedded>, Vec<Embedded>) {
        let at = NOW - 5 * DAY;
        let mut current = Vec::new();
        let slow = [
            ("northwind", "The dashboard is slow every morning."),
            ("kestrel", "Reports on the slow dashboard time out."),
            ("tallgrass", "Our slow dashboard took two minutes to load."),
            ("pinecrest", "The enrollment dashboard is slow again."),
        ];
        for (i, (account, text)) in slow.iter().enumerate() {
            current.push(embedded(
                complaint(account, &format!("slow-{i}"), text, "performance", at),
                0,
                0.05 + i as f32 * 0.01,
            ));
        }
        let seats = [
            ("copperfield", "The invoice has the wrong seat count."),
            ("bramble", "The invoice lists the wrong seat count."),
            ("lumen", "Our invoice seat count is wrong again."),
        ];
        for (i, (account, text)) in seats.iter().enumerate() {
            current.push(embedded(
                complaint(account, &format!("seat-{i}"), text, "billing", at + i as i64),
                4,
                0.05 + i as f32 * 0.01,
            ));
        }
        // A quoted repeat of the first slow complaint: counts once.
        current.push(embedded(
            complaint(
                "northwind",
                "slow-reply",
                "> The dashboard is slow every morning.",
                "performance",
                at + DAY,
            ),
            0,
            0.051,
        ));
        // Noise and non-candidates.
        current.push(embedded(
            complaint("meridian", "noise", "I am not happy with the colours.", "feature_request", at),
            9,
            0.0,
        ));
        current.push(embedded(
            seg_at("lumen", "praise", 0, "Love the slow-cooker dashboard!", at)
                .sentiment(SentimentLabel::Positive, 0.9),
            0,
            0.06,
        ));
        current.push(embedded(
            complaint("tallgrass", "agent", "Sorry the dashboard is slow.", "performance", at)
                .role(SpeakerRole::Internal),
            0,
            0.07,
        ));
        let previous = vec![embedded(
            complaint("northwind", "old", "Dashboards were slow in August.", "performance", NOW - 40 * DAY),
            0,
            0.08,
        )];
        (current, previous)
    }

    fn label_of(id: &str) -> String {
        match id {
            "performance" => "Performance and speed".into(),
            "billing" => "Billing and invoices".into(),
            other => other.into(),
        }
    }

    #[test]
    fn finds_planted_themes_with_labels_accounts_quotes_and_trend() {
        let (current, previous) = corpus();
        let report = find_themes(&current, &previous, &label_of, &ThemeConfig::default());
        assert_eq!(report.segments_considered, 8, "repeat, praise and internal speech dropped");
        assert_eq!(report.unassigned, 1);
        assert!((report.unassigned_share() - 0.125).abs() < 1e-9);
        let slow = &report.themes[0];
        assert_eq!(slow.topic.as_deref(), Some("performance"));
        assert_eq!(slow.label, "Performance and speed: slow dashboard", "{slow:?}");
        assert_eq!(slow.id, "performance-slow-dashboard");
        assert_eq!(slow.segment_count, 4);
        assert_eq!(slow.accounts.len(), 4);
        assert_eq!(slow.previous_count, 1);
        assert_eq!(slow.direction(), Direction::Worsening, "1 -> 4 is growing");
        assert_eq!(slow.quotes.len(), 3);
        let quote_accounts: std::collections::BTreeSet<&str> =
            slow.quotes.iter().map(|(s, _)| s.account.as_str()).collect();
        assert_eq!(quote_accounts.len(), 3, "one quote per account first");
        let seats = &report.themes[1];
        assert_eq!(seats.topic.as_deref(), Some("billing"));
        assert!(seats.keywords.contains(&"seat count".to_owned()), "{seats:?}");
        assert_eq!(seats.previous_count, 0);
        let steady = Theme { segment_count: 9, previous_count: 8, ..seats.clone() };
        assert_eq!(steady.direction(), Direction::Stable);
    }

    #[test]
    fn shuffled_input_gives_the_same_themes() {
        let (current, previous) = corpus();
        let expected = find_themes(&current, &previous, &label_of, &ThemeConfig::default());
        let mut shuffled = current.clone();
        // A fixed permutation per round (no RNG dependency): rotate and reverse.
        for round in 1..current.len() {
            let len = shuffled.len();
            shuffled.rotate_left(round % len);
            if round % 2 == 0 {
                shuffled.reverse();
            }
            let got = find_themes(&shuffled, &previous, &label_of, &ThemeConfig::default());
            assert_eq!(got, expected, "round {round}");
        }
    }
}
