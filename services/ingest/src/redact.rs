//! PII redaction, applied to the cleaned text of every part before it is segmented, so
//! stored text, evidence quotes and their character offsets all agree.
//!
//! | kind          | placeholder | detected as |
//! |---------------|-------------|-------------|
//! | email address | `[EMAIL]`   | `local@domain.tld` |
//! | phone number  | `[PHONE]`   | a run of 7-15 digits (spaces, dots, dashes, parentheses, a leading `+` or `00`) that the `phonenumber` library (Google's libphonenumber metadata) parses as a valid number: international with its country code, national in one of `phone_regions` |
//! | payment card  | `[CARD]`    | 13-19 digits, spaces or dashes allowed, passing the Luhn check |
//! | IBAN          | `[IBAN]`    | country code, check digits, BBAN, in any case, passing the ISO 13616 mod-97 check |
//! | bank account  | `[BANK]`    | digits right after "account number", "routing number", "sort code", "acct" ... |
//! | US SSN        | `[SSN]`     | `123-45-6789` with a valid area, group and serial |
//! | IP address    | `[IP]`      | IPv4 dotted quads and IPv6 addresses that the standard library parses |
//!
//! Speaker fields ("Dana Lee <dana@x.example> +1 415 555 0199") keep the display name;
//! the addresses and numbers in them are redacted the same way ([`Redactor::redact_speaker`]).
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
    pub ssns: bool,
    pub ip_addresses: bool,
    /// Regions (ISO 3166 codes) whose national phone formats are recognised; numbers
    /// with a `+` or `00` country prefix are recognised for every region.
    pub phone_regions: Vec<String>,
}

/// The regions whose national formats are recognised by default.
pub const DEFAULT_PHONE_REGIONS: [&str; 14] =
    ["US", "CA", "GB", "IE", "DE", "FR", "NL", "BE", "ES", "IT", "CH", "AU", "IN", "JP"];

impl Default for RedactionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            emails: true,
            phones: true,
            cards: true,
            ibans: true,
            bank_accounts: true,
            ssns: true,
            ip_addresses: true,
            phone_regions: DEFAULT_PHONE_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

impl RedactionConfig {
    /// Nothing redacted.
    pub fn off() -> Self {
        Self { enabled: false, ..Self::default() }
    }

    /// Names the first unknown phone region.
    pub fn validate(&self) -> Result<(), String> {
        match self.phone_regions.iter().find(|r| r.parse::<phonenumber::country::Id>().is_err()) {
            Some(bad) => Err(format!("redaction.phone_regions: {bad:?} is not an ISO 3166 region code")),
            None => Ok(()),
        }
    }
}

/// Replaces PII in text by placeholders, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redactor {
    config: RedactionConfig,
    regions: Vec<phonenumber::country::Id>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(RedactionConfig::default())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Iban,
    Card,
    Bank,
    Phone,
    Ssn,
    Ip,
}

impl Kind {
    fn placeholder(self) -> &'static str {
        match self {
            Self::Email => "[EMAIL]",
            Self::Iban => "[IBAN]",
            Self::Card => "[CARD]",
            Self::Bank => "[BANK]",
            Self::Phone => "[PHONE]",
            Self::Ssn => "[SSN]",
            Self::Ip => "[IP]",
        }
    }
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}").expect("email regex")
});
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b").expect("iban regex")
});
static SSN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b([0-9]{3})-([0-9]{2})-([0-9]{4})\b").expect("ssn regex"));
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9]{1,3}(?:\.[0-9]{1,3}){3}\b").expect("ipv4 regex"));
static IPV6: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}").expect("ipv6 regex"));
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9](?:[ \-]?[0-9]){12,18}\b").expect("card regex"));
static BANK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:bank account|account|acct|a/c|routing|aba|sort code|bsb)(?:\s+(?:number|no\.?|num|#))?\s*(?:is\s+)?[:#]?\s*([0-9][0-9 \-]{3,22}[0-9])",
    )
    .expect("bank regex")
});
/// Runs of digits and the separators phone numbers are written with; the library decides.
static PHONE_CANDIDATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+|\b00)?\(?[0-9][0-9 ().\-]{5,22}[0-9]").expect("phone regex"));

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
    let compact: String =
        raw.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
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

/// A US social security number: area not 000, 666 or 9xx, group not 00, serial not 0000.
fn ssn_valid(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// Like [`isolated`], but a URL's slashes or a port's colon may touch the match.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_');
    let glued_after = glued(after) && after != Some('.');
    !glued(before) && !glued_after
}

impl Redactor {
    /// Unknown phone regions are skipped (`RedactionConfig::validate` names them).
    pub fn new(config: RedactionConfig) -> Self {
        let regions = config.phone_regions.iter().filter_map(|r| r.parse().ok()).collect();
        Self { config, regions }
    }

    /// Whether `candidate` is a phone number: international when it starts with `+` or
    /// `00`, else national in one of the configured regions.
    fn is_phone(&self, candidate: &str) -> bool {
        let n = digits(candidate).len();
        if !(7..=15).contains(&n) || looks_like_date(candidate) {
            return false;
        }
        let valid =
            |region, text: &str| phonenumber::parse(region, text).is_ok_and(|p| phonenumber::is_valid(&p));
        if let Some(rest) = candidate.strip_prefix("00") {
            return valid(None, &format!("+{rest}"));
        }
        if candidate.starts_with('+') {
            return valid(None, candidate);
        }
        // Nationally written numbers carry their region's trunk prefix (0 in most of the
        // world), or are NANP's ten digits: a bare 8-digit id is valid somewhere, so the
        // written form must look like that region's own.
        let written: String = candidate.chars().filter(char::is_ascii_digit).collect();
        self.regions.iter().any(|&region| {
            let trunk =
                phonenumber::metadata::DATABASE.by_id(region.as_ref()).and_then(|m| m.national_prefix());
            let nanp = matches!(region, phonenumber::country::Id::US | phonenumber::country::Id::CA);
            let looks_national = match trunk {
                _ if nanp => written.len() == 10 || (written.len() == 11 && written.starts_with('1')),
                Some(prefix) => written.starts_with(prefix),
                None => true,
            };
            looks_national && valid(Some(region), candidate)
        })
    }

    /// A speaker field with its display name kept and any address or number in it
    /// redacted: `Dana Lee <dana@x.example>` becomes `Dana Lee <[EMAIL]>`.
    pub fn redact_speaker(&self, speaker: &str) -> String {
        self.redact(speaker)
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
        if c.ssns {
            for caps in SSN.captures_iter(text) {
                let (m, part) = (caps.get(0).expect("match"), |i| caps.get(i).map_or("", |g| g.as_str()));
                if ssn_valid(part(1), part(2), part(3)) && isolated(text, m.start(), m.end()) {
                    add(m.start(), m.end(), Kind::Ssn, &mut found);
                }
            }
        }
        if c.ip_addresses {
            for m in IPV4.find_iter(text).chain(IPV6.find_iter(text)) {
                let ip = m.as_str().parse::<std::net::IpAddr>();
                let hex = m.as_str().chars().filter(char::is_ascii_hexdigit).count();
                if ip.is_ok() && hex >= 4 && stands_alone(text, m.start(), m.end()) {
                    add(m.start(), m.end(), Kind::Ip, &mut found);
                }
            }
        }
        if c.phones {
            for m in PHONE_CANDIDATE.find_iter(text) {
                let candidate = m.as_str().trim_end_matches([')', '.', '-', ' ']);
                let end = m.start() + candidate.len();
                if isolated(text, m.start(), end) && self.is_phone(candidate) {
                    add(m.start(), end, Kind::Phone, &mut found);
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
    fn national_phone_formats_of_many_regions() {
        for text in [
            "call 4155550132 today",
            "mobile 07700 900123 today",
            "Berlin 030 12345678 today",
            "Paris 01 23 45 67 89 today",
            "Sydney (02) 9876 5432 today",
            "dial 0044 20 7946 0958 today",
            "US +1 415 555 0199 today",
        ] {
            let out = redact(text);
            assert!(out.contains("[PHONE]") && !out.chars().any(|c| c.is_ascii_digit()), "{text} -> {out}");
        }
    }

    #[test]
    fn ssns_ips_and_lowercase_ibans() {
        assert_eq!(redact("SSN 123-45-6789 on file"), "SSN [SSN] on file");
        assert_eq!(redact("not an SSN: 000-12-3456"), "not an SSN: 000-12-3456");
        assert_eq!(redact("from 203.0.113.42 and 2001:db8::8a2e:370:7334."), "from [IP] and [IP].");
        assert_eq!(redact("see http://198.51.100.7/status"), "see http://[IP]/status");
        assert_eq!(redact("pay de89 3704 0044 0532 0130 00 now"), "pay [IBAN] now");
        assert_eq!(redact("at 10:00:00 and 999.1.1.1"), "at 10:00:00 and 999.1.1.1");
    }

    #[test]
    fn speakers_keep_their_display_name() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_speaker("Dana Lee <dana.lee@customer.example> +1 415 555 0199"),
            "Dana Lee <[EMAIL]> [PHONE]"
        );
        assert_eq!(r.redact_speaker("Dana Lee"), "Dana Lee");
    }

    #[test]
    fn unknown_regions_are_named() {
        let config =
            RedactionConfig { phone_regions: vec!["GB".into(), "XX".into()], ..RedactionConfig::default() };
        assert!(config.validate().unwrap_err().contains("\"XX\""));
        assert!(RedactionConfig::default().validate().is_ok());
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
