//! PII redaction, applied to the cleaned text of every part before it is segmented, so
//! stored text, evidence quotes and their character offsets all agree.
//!
//! | kind          | placeholder | detected as |
//! |---------------|-------------|-------------|
//! | email address | `[EMAIL]`   | `local@domain.tld` |
//! | phone number  | `[PHONE]`   | `+CC ...` (8-15 digits), `(312) 555-0147`, `312-555-0147`, `020 7946 0958` |
//! | payment card  | `[CARD]`    | 13-19 digits, spaces or dashes allowed, passing the Luhn check |
//! | IBAN          | `[IBAN]`    | country code, check digits, BBAN, passing the ISO 13616 mod-97 check |
//! | bank account  | `[BANK]`    | digits right after "account number", "routing number", "sort code", "acct" ... |
//!
//! Each kind can be switched off in `[redaction]` of the server configuration.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Which kinds of PII are replaced by placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Master switch; `false` stores text as received.
    pub enabled: bool,
    pub emails: bool,
    pub phones: bool,
    pub cards: bool,
    pub ibans: bool,
    pub bank_accounts: bool,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        Self { enabled: true, emails: true, phones: true, cards: true, ibans: true, bank_accounts: true }
    }
}

impl RedactionConfig {
    /// Nothing redacted.
    pub fn off() -> Self {
        Self { enabled: false, ..Self::default() }
    }
}

/// Replaces PII in text by placeholders, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    config: RedactionConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Iban,
    Card,
    Bank,
    Phone,
}

impl Kind {
    fn placeholder(self) -> &'static str {
        match self {
            Self::Email => "[EMAIL]",
            Self::Iban => "[IBAN]",
            Self::Card => "[CARD]",
            Self::Bank => "[BANK]",
            Self::Phone => "[PHONE]",
        }
    }
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}").expect("email regex")
});
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b").expect("iban regex")
});
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9](?:[ \-]?[0-9]){12,18}\b").expect("card regex"));
static BANK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:bank account|account|acct|a/c|routing|aba|sort code|bsb)(?:\s+(?:number|no\.?|num|#))?\s*(?:is\s+)?[:#]?\s*([0-9][0-9 \-]{3,22}[0-9])",
    )
    .expect("bank regex")
});
static PHONES: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    [
        // International: +CC then groups.
        r"\+[0-9]{1,3}(?:[ .\-]?\([0-9]{1,4}\))?(?:[ .\-]?[0-9]{1,5}){1,5}",
        // North American with the area code in parentheses.
        r"\([0-9]{3}\)[ .\-]?[0-9]{3}[ .\-][0-9]{4}",
        // North American, dashed or dotted.
        r"\b[0-9]{3}[.\-][0-9]{3}[.\-][0-9]{4}\b",
        // National numbers with a trunk 0, in spaced groups (UK, much of Europe).
        r"\b0[0-9]{2,4}[ \-][0-9]{3,4}[ \-][0-9]{3,4}\b",
    ]
    .map(|p| Regex::new(p).expect("phone regex"))
});

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// The Luhn checksum of payment card numbers.
pub fn luhn_valid(number: &str) -> bool {
    let digits = digits(number);
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The ISO 13616 check of an IBAN (spaces allowed).
pub fn iban_valid(raw: &str) -> bool {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u64 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c.to_digit(36) {
            Some(v) => v as u64,
            None => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

/// Whether the match `[start, end)` stands alone (no letters or digits glued to it).
fn isolated(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '/');
    !glued(before) && !glued(after)
}

impl Redactor {
    pub fn new(config: RedactionConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &RedactionConfig {
        &self.config
    }

    /// `text` with every configured kind of PII replaced by its placeholder.
    pub fn redact(&self, text: &str) -> String {
        let c = &self.config;
        if !c.enabled {
            return text.to_owned();
        }
        // (start, end, kind); earlier detectors win where matches overlap.
        let mut found: Vec<(usize, usize, Kind)> = Vec::new();
        let add = |start: usize, end: usize, kind: Kind, found: &mut Vec<(usize, usize, Kind)>| {
            if !found.iter().any(|&(s, e, _)| start < e && s < end) {
                found.push((start, end, kind));
            }
        };
        if c.emails {
            for m in EMAIL.find_iter(text) {
                add(m.start(), m.end(), Kind::Email, &mut found);
            }
        }
        if c.ibans {
            for m in IBAN.find_iter(text) {
                if iban_valid(m.as_str()) {
                    add(m.start(), m.end(), Kind::Iban, &mut found);
                }
            }
        }
        if c.cards {
            for m in CARD.find_iter(text) {
                let n = digits(m.as_str()).len();
                if (13..=19).contains(&n) && luhn_valid(m.as_str()) && isolated(text, m.start(), m.end()) {
                    add(m.start(), m.end(), Kind::Card, &mut found);
                }
            }
        }
        if c.bank_accounts {
            for caps in BANK.captures_iter(text) {
                if let Some(m) = caps.get(1)
                    && digits(m.as_str()).len() >= 4
                {
                    add(m.start(), m.end(), Kind::Bank, &mut found);
                }
            }
        }
        if c.phones {
            for re in PHONES.iter() {
                for m in re.find_iter(text) {
                    let n = digits(m.as_str()).len();
                    if (7..=15).contains(&n)
                        && isolated(text, m.start(), m.end())
                        && !looks_like_date(m.as_str())
                    {
                        add(m.start(), m.end(), Kind::Phone, &mut found);
                    }
                }
            }
        }
        if found.is_empty() {
            return text.to_owned();
        }
        found.sort_by_key(|&(start, _, _)| start);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end, kind) in found {
            out.push_str(&text[at..start]);
            out.push_str(kind.placeholder());
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// `2026-10-07`, `2026.10.07` and the like are dates, not phone numbers.
fn looks_like_date(s: &str) -> bool {
    let groups: Vec<&str> = s.split(['-', '.', ' ', '/']).filter(|g| !g.is_empty()).collect();
    groups.len() == 3 && groups[0].len() == 4 && groups[1].len() <= 2 && groups[2].len() <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        Redactor::default().redact(text)
    }

    #[test]
    fn emails_and_phones_get_placeholders() {
        assert_eq!(
            redact("Send it to ap@copperfield-dental.example or call +1 (312) 555-0147."),
            "Send it to [EMAIL] or call [PHONE]."
        );
        assert_eq!(redact("Tél. (303) 555-0172"), "Tél. [PHONE]");
        assert_eq!(redact("Fernhill, 503-555-0124"), "Fernhill, [PHONE]");
        assert_eq!(redact("Bristol office +44 117 496 0321 today"), "Bristol office [PHONE] today");
        assert_eq!(redact("London 020 7946 0958"), "London [PHONE]");
    }

    #[test]
    fn cards_need_a_valid_luhn_checksum() {
        assert_eq!(
            redact("do not charge the card (4111 1111 1111 1111, exp. 09/28)"),
            "do not charge the card ([CARD], exp. 09/28)"
        );
        assert_eq!(redact("card 5555-5555-5555-4444 please"), "card [CARD] please");
        // Same length, fails Luhn: an order number, left alone.
        assert_eq!(redact("order 4111 1111 1111 1112"), "order 4111 1111 1111 1112");
    }

    #[test]
    fn ibans_and_bank_accounts() {
        assert_eq!(redact("IBAN: GB82 WEST 1234 5698 7654 32 thanks"), "IBAN: [IBAN] thanks");
        assert_eq!(redact("pay DE89370400440532013000."), "pay [IBAN].");
        assert_eq!(redact("GB82 WEST 1234 5698 7654 33"), "GB82 WEST 1234 5698 7654 33", "bad check digits");
        assert_eq!(
            redact("Our account number is 12345678, sort code 20-00-00."),
            "Our account number is [BANK], sort code [BANK]."
        );
        assert_eq!(redact("routing number: 021000021"), "routing number: [BANK]");
    }

    #[test]
    fn dates_amounts_and_ids_are_not_pii() {
        for text in [
            "On 2026-10-07 we paid $39,600 for 85 seats.",
            "Ticket BL-4788 and PO 2025-0117 are open.",
            "Release 2026.40 shipped at 10:00 on 30 Sep 2026.",
            "Between 6:30 and 7:30 Central, 12 of 80 users.",
            "Invoice INV-20931 for 160 seats, credit 7,128 dollars.",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn kinds_can_be_switched_off() {
        let only_cards =
            Redactor::new(RedactionConfig { emails: false, phones: false, ..RedactionConfig::default() });
        assert_eq!(
            only_cards.redact("a@b.example 4111111111111111 +1 (312) 555-0147"),
            "a@b.example [CARD] +1 (312) 555-0147"
        );
        let off = Redactor::new(RedactionConfig::off());
        assert_eq!(off.redact("a@b.example"), "a@b.example");
    }
}
