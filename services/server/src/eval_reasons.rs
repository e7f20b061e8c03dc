//! Whether risk reasons are *right*, against a corpus's ground truth: reason precision and
//! recall, healthy accounts left without reasons, evidence relevance (cited sentences that
//! are the canonical evidence a CSM would cite), tier accuracy, the share of high-tier
//! accounts found, Spearman correlation of the scores with the true rank, and expected
//! actions in the top 3. Used by `undertone eval insights` on every sample set.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use undertone_api::v1;

use crate::eval_insights::{ExpectedAccount, GroundTruth};

/// Canonical evidence and quotes shorter than this never match by containment alone.
const MIN_MATCH_CHARS: usize = 12;

/// Lower case, straight quotes, whitespace runs as one space, no trailing punctuation.
fn normalize(text: &str) -> String {
    let straight: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02bc}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            '\u{2013}' | '\u{2014}' => '-',
            other => other,
        })
        .collect();
    let collapsed = straight.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    collapsed.trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace()).to_owned()
}

/// A cited quote is a canonical sentence when one contains the other (segmentation may
/// cut a sentence differently from the annotator).
pub fn is_canonical(quote: &str, canonical: &[String]) -> bool {
    let quote = normalize(quote);
    canonical.iter().map(|c| normalize(c)).any(|c| {
        let (short, long) = if quote.len() <= c.len() { (&quote, &c) } else { (&c, &quote) };
        short.len() >= MIN_MATCH_CHARS.min(long.len()) && long.contains(short.as_str())
    })
}

/// `RISK_CATEGORY_CHURN_INTENT` -> `churn_intent`.
pub fn category_id(category: i32) -> String {
    v1::RiskCategory::try_from(category)
        .map(|c| c.as_str_name().trim_start_matches("RISK_CATEGORY_").to_lowercase())
        .unwrap_or_default()
}

/// `RISK_LEVEL_HIGH` -> `high`.
pub fn level_id(level: i32) -> String {
    v1::RiskLevel::try_from(level)
        .map(|l| l.as_str_name().trim_start_matches("RISK_LEVEL_").to_lowercase())
        .unwrap_or_default()
}

/// Average ranks (1-based) of `values`, ties sharing their mean rank.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        order[i..=j].iter().for_each(|&k| ranks[k] = mean);
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation (Pearson on average ranks); `None` when either side is
/// constant or there are fewer than 3 pairs.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 3 {
        return None;
    }
    let (ra, rb) = (average_ranks(a), average_ranks(b));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(&ra), mean(&rb));
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    let denominator = (var(&ra, ma) * var(&rb, mb)).sqrt();
    (denominator > 0.0).then(|| cov / denominator)
}

fn share(n: usize, d: usize) -> Value {
    if d == 0 { Value::Null } else { json!(n as f64 / d as f64) }
}

fn is_high(tier: &str) -> bool {
    matches!(tier, "high" | "critical")
}

/// The reason-quality report of one corpus.
pub fn reason_report(
    truth: &GroundTruth,
    ranked: &[v1::AccountRisk],
    actions: &BTreeMap<String, Vec<String>>,
) -> Value {
    let by_id: BTreeMap<&str, &v1::AccountRisk> = ranked.iter().map(|a| (a.account_id.as_str(), a)).collect();
    let (mut emitted, mut correct, mut expected_reasons, mut recalled) = (0, 0, 0, 0);
    let (mut quotes, mut relevant, mut quotes_all, mut relevant_all) = (0, 0, 0, 0);
    let (mut healthy, mut quiet, mut tiers, mut tier_hits, mut high, mut high_found) = (0, 0, 0, 0, 0, 0);
    let (mut with_actions, mut action_hits) = (0, 0);
    let mut wrong = Vec::new();
    let mut missed = Vec::new();
    let (mut scores, mut truth_ranks) = (Vec::new(), Vec::new());
    for account in &truth.accounts {
        let risk = by_id.get(account.id.as_str()).copied();
        let reasons: &[v1::RiskReason] = risk.map_or(&[], |r| &r.reasons);
        let truth_categories: BTreeSet<&str> = account.reasons.iter().map(|r| r.category.as_str()).collect();
        let all_canonical: Vec<String> = account.reasons.iter().flat_map(|r| r.evidence.clone()).collect();
        for reason in reasons {
            let category = category_id(reason.category);
            emitted += 1;
            let is_right = truth_categories.contains(category.as_str());
            correct += usize::from(is_right);
            if !is_right {
                wrong.push(json!({ "account": account.id, "category": category, "summary": reason.summary }));
            }
            let canonical: Vec<String> = account
                .reasons
                .iter()
                .filter(|r| r.category == category)
                .flat_map(|r| r.evidence.clone())
                .collect();
            for evidence in &reason.evidence {
                quotes_all += 1;
                relevant_all += usize::from(is_canonical(&evidence.quote, &all_canonical));
                if is_right && !canonical.is_empty() {
                    quotes += 1;
                    relevant += usize::from(is_canonical(&evidence.quote, &canonical));
                }
            }
        }
        let found: BTreeSet<String> = reasons.iter().map(|r| category_id(r.category)).collect();
        for category in &truth_categories {
            expected_reasons += 1;
            if found.contains(*category) {
                recalled += 1;
            } else {
                missed.push(json!({ "account": account.id, "category": category }));
            }
        }
        let tier = tier_of(account);
        let level = risk.map_or("low".to_owned(), |r| level_id(r.level));
        if tier == "low" {
            healthy += 1;
            quiet += usize::from(reasons.is_empty());
        }
        tiers += 1;
        tier_hits += usize::from(level == tier);
        if is_high(&tier) {
            high += 1;
            high_found += usize::from(is_high(&level));
        }
        if !account.actions.is_empty() {
            with_actions += 1;
            let top = actions.get(&account.id).map_or(&[][..], |a| &a[..a.len().min(3)]);
            action_hits += usize::from(top.iter().any(|a| account.actions.contains(a)));
        }
        if let Some(rank) = account.rank {
            scores.push(risk.map_or(0.0, |r| r.score));
            // A smaller rank is more risk: correlate the score with the negated rank.
            truth_ranks.push(-f64::from(rank));
        }
    }
    json!({
        "reason_precision": share(correct, emitted),
        "reason_recall": share(recalled, expected_reasons),
        "reasons_emitted": emitted,
        "reasons_expected": expected_reasons,
        "healthy_without_reasons": share(quiet, healthy),
        "healthy_accounts": healthy,
        "evidence_relevance": share(relevant, quotes),
        "evidence_relevance_all_quotes": share(relevant_all, quotes_all),
        "tier_accuracy": share(tier_hits, tiers),
        "high_tier_found": share(high_found, high),
        "spearman": spearman(&scores, &truth_ranks),
        "action_in_top3": share(action_hits, with_actions),
        "wrong_reasons": wrong,
        "missed_reasons": missed,
    })
}

/// The account's true tier; older ground truth without tiers maps its label.
fn tier_of(account: &ExpectedAccount) -> String {
    account.tier.clone().unwrap_or_else(|| {
        match account.expected.as_str() {
            "at_risk" => "high",
            "watch" => "medium",
            _ => "low",
        }
        .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_matching_tolerates_quotes_case_and_cut_sentences() {
        let canonical = vec!["We won\u{2019}t renew on the current terms.".to_owned()];
        assert!(is_canonical("we won't renew on the current terms", &canonical));
        assert!(is_canonical("So, honestly: We won't renew on the current terms. Sorry.", &canonical));
        assert!(!is_canonical("The invoice is wrong.", &canonical));
        assert!(!is_canonical("terms", &canonical), "a fragment is not the sentence");
    }

    #[test]
    fn spearman_handles_ties_and_constants() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&[3.0, 2.0, 1.0], &[10.0, 20.0, 30.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(average_ranks(&[5.0, 1.0, 5.0, 0.0]), vec![3.5, 2.0, 3.5, 1.0]);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }

    #[test]
    fn names_from_the_proto_enums() {
        assert_eq!(category_id(v1::RiskCategory::ChurnIntent as i32), "churn_intent");
        assert_eq!(level_id(v1::RiskLevel::Critical as i32), "critical");
    }
}
