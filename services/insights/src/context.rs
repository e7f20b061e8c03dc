//! What the risk reasoning knows about an account besides its conversations: the renewal
//! date and the customer's people (who is a decision-maker weighs in the evidence).

use serde::{Deserialize, Serialize};

/// One of the customer's people, as the CRM or UpsertAccount knows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub title: String,
}

/// Seniority of a speaker, from their title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seniority {
    /// Signs or vetoes the renewal: executives, VPs, directors, heads, owners, procurement.
    DecisionMaker,
    /// A known contact without buying power.
    Contributor,
    /// Not among the account's contacts.
    Unknown,
}

/// Words of a title that mark a decision-maker (a labelled rule: titles are short and
/// conventional, and a wrong guess only moves a weight between 0.75 and 1).
const DECISION_MAKER_WORDS: [&str; 24] = [
    "chief",
    "ceo",
    "cfo",
    "coo",
    "cto",
    "cio",
    "ciso",
    "cmo",
    "cro",
    "cpo",
    "vp",
    "svp",
    "evp",
    "vice",
    "president",
    "director",
    "head",
    "owner",
    "founder",
    "partner",
    "principal",
    "procurement",
    "purchasing",
    "controller",
];

pub fn seniority_of_title(title: &str) -> Seniority {
    let lower = title.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let senior = words.iter().any(|w| DECISION_MAKER_WORDS.contains(w))
        || lower.contains("general manager")
        || lower.contains("managing director");
    if senior { Seniority::DecisionMaker } else { Seniority::Contributor }
}

/// The account's renewal date and people.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountContext {
    pub renewal_date_ms: Option<i64>,
    pub contacts: Vec<Contact>,
}

impl AccountContext {
    /// The contact a stored speaker field names: by email address when it has one
    /// (`Dana Lee <dana@x.example>`), else by display name, case-insensitively.
    pub fn contact(&self, speaker: &str) -> Option<&Contact> {
        let (name, email) = split_speaker(speaker);
        let same = |a: &str, b: &str| !a.is_empty() && a.eq_ignore_ascii_case(b);
        email
            .and_then(|e| self.contacts.iter().find(|c| same(&c.email, e)))
            .or_else(|| self.contacts.iter().find(|c| same(c.name.trim(), name)))
    }

    pub fn seniority(&self, speaker: Option<&str>) -> Seniority {
        match speaker.and_then(|s| self.contact(s)) {
            Some(contact) => seniority_of_title(&contact.title),
            None => Seniority::Unknown,
        }
    }

    /// How a reason names a speaker: the display name, with the title when known.
    pub fn describe_speaker(&self, speaker: &str) -> String {
        let (name, email) = split_speaker(speaker);
        let name = if name.is_empty() { email.unwrap_or(speaker) } else { name };
        match self.contact(speaker).filter(|c| !c.title.is_empty()) {
            Some(contact) => format!("{name} ({})", contact.title),
            None => name.to_owned(),
        }
    }
}

/// `Display Name <address>` into the name and the address; a bare address is both.
fn split_speaker(speaker: &str) -> (&str, Option<&str>) {
    let speaker = speaker.trim();
    match (speaker.find('<'), speaker.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            (speaker[..open].trim().trim_matches('"'), Some(speaker[open + 1..close].trim()))
        }
        _ if speaker.contains('@') && !speaker.contains(' ') => ("", Some(speaker)),
        _ => (speaker, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::harbor_contacts;

    fn context() -> AccountContext {
        AccountContext { renewal_date_ms: None, contacts: harbor_contacts() }
    }

    #[test]
    fn speakers_are_matched_by_address_then_name() {
        let c = context();
        assert_eq!(c.seniority(Some("Maria Chen <MARIA@harbor.example>")), Seniority::DecisionMaker);
        assert_eq!(c.seniority(Some("maria chen")), Seniority::DecisionMaker);
        assert_eq!(c.seniority(Some("Tim Ruiz")), Seniority::Contributor);
        assert_eq!(c.seniority(Some("Someone Else")), Seniority::Unknown);
        assert_eq!(c.seniority(None), Seniority::Unknown);
        assert_eq!(c.describe_speaker("\"Maria Chen\" <maria@harbor.example>"), "Maria Chen (COO)");
        assert_eq!(c.describe_speaker("Ann <ann@x.example>"), "Ann");
    }

    #[test]
    fn titles_that_decide() {
        for title in
            ["VP Finance", "Chief Financial Officer", "Director of Operations", "Head of IT", "Owner"]
        {
            assert_eq!(seniority_of_title(title), Seniority::DecisionMaker, "{title}");
        }
        for title in ["Dispatcher", "IT Administrator", "Office Manager", "Analyst"] {
            assert_eq!(seniority_of_title(title), Seniority::Contributor, "{title}");
        }
    }
}
