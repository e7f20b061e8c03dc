//! Who is speaking: the customer or the tenant's own team.
//!
//! Mail senders are judged by their address: a configured internal domain (or a
//! sub-domain of one) or a configured internal person is the team's; an address on one
//! of the account's domains is the customer's; when the account's domains are not known
//! every other sender counts as the customer, and when they are known, a sender on
//! neither side is unknown. Call speakers are judged by name: the caller's map first,
//! then the configured internal people; an address as the name is judged as for mail.

use std::collections::HashMap;

use undertone_core::SpeakerRole;

/// The tenant's own team, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleDirectory {
    internal_domains: Vec<String>,
    /// Lower-cased names and addresses of internal people.
    internal_people: Vec<String>,
}

fn normalize(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

fn on_domain(domain: &str, listed: &str) -> bool {
    let listed = listed.trim().trim_start_matches('@').trim_end_matches('.').to_ascii_lowercase();
    !listed.is_empty() && (domain == listed || domain.ends_with(&format!(".{listed}")))
}

impl RoleDirectory {
    /// `internal_people` holds names ("Sam Ortiz") and / or addresses.
    pub fn new(internal_domains: &[String], internal_people: &[String]) -> Self {
        Self {
            internal_domains: internal_domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
            internal_people: internal_people.iter().map(|p| normalize(p)).filter(|p| !p.is_empty()).collect(),
        }
    }

    pub fn is_internal_address(&self, address: &str) -> bool {
        if self.internal_people.contains(&normalize(address)) {
            return true;
        }
        domain_of(address).is_some_and(|d| self.internal_domains.iter().any(|l| on_domain(&d, l)))
    }

    pub fn is_internal_name(&self, name: &str) -> bool {
        self.internal_people.contains(&normalize(name))
    }

    /// The role of a mail sender, given the account's own domains (possibly none known).
    pub fn sender_role(
        &self,
        address: Option<&str>,
        name: Option<&str>,
        account_domains: &[String],
    ) -> SpeakerRole {
        if address.is_some_and(|a| self.is_internal_address(a))
            || name.is_some_and(|n| self.is_internal_name(n))
        {
            return SpeakerRole::Internal;
        }
        let Some(domain) = address.and_then(domain_of) else { return SpeakerRole::Unknown };
        if account_domains.is_empty() || account_domains.iter().any(|l| on_domain(&domain, l)) {
            SpeakerRole::Customer
        } else {
            SpeakerRole::Unknown
        }
    }

    /// The role of a call speaker: the caller's map (names compared without case), then
    /// the internal people, then an address judged as a sender. `None` when nothing says.
    pub fn speaker_role(
        &self,
        speaker: &str,
        map: &HashMap<String, SpeakerRole>,
        account_domains: &[String],
    ) -> Option<SpeakerRole> {
        let wanted = normalize(speaker);
        if let Some((_, role)) = map.iter().find(|(name, _)| normalize(name) == wanted) {
            return Some(*role);
        }
        if self.is_internal_name(speaker) {
            return Some(SpeakerRole::Internal);
        }
        if speaker.contains('@') {
            return match self.sender_role(Some(speaker), None, account_domains) {
                SpeakerRole::Unknown => None,
                role => Some(role),
            };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> RoleDirectory {
        RoleDirectory::new(
            &["brightloop.io".into()],
            &["Sam Ortiz".into(), "contractor@gmail.example".into()],
        )
    }

    #[test]
    fn senders_by_domain() {
        let d = directory();
        let domains = vec!["northwind-logistics.com".to_owned()];
        assert_eq!(d.sender_role(Some("sam.ortiz@brightloop.io"), None, &domains), SpeakerRole::Internal);
        assert_eq!(d.sender_role(Some("ops@eu.brightloop.io"), None, &domains), SpeakerRole::Internal);
        assert_eq!(d.sender_role(Some("x@notbrightloop.io"), None, &[]), SpeakerRole::Customer);
        assert_eq!(d.sender_role(Some("Contractor@Gmail.example"), None, &domains), SpeakerRole::Internal);
        assert_eq!(
            d.sender_role(Some("dana@northwind-logistics.com"), None, &domains),
            SpeakerRole::Customer
        );
        assert_eq!(d.sender_role(Some("dana@elsewhere.example"), None, &domains), SpeakerRole::Unknown);
        assert_eq!(d.sender_role(Some("dana@elsewhere.example"), None, &[]), SpeakerRole::Customer);
        assert_eq!(d.sender_role(None, None, &[]), SpeakerRole::Unknown);
    }

    #[test]
    fn speakers_by_map_then_people() {
        let d = directory();
        let map = HashMap::from([("dana lee".to_owned(), SpeakerRole::Customer)]);
        assert_eq!(d.speaker_role("Dana  Lee", &map, &[]), Some(SpeakerRole::Customer));
        assert_eq!(d.speaker_role("sam ortiz", &map, &[]), Some(SpeakerRole::Internal));
        assert_eq!(d.speaker_role("Raj Patel", &map, &[]), None);
        assert_eq!(d.speaker_role("raj@northwind.example", &map, &[]), Some(SpeakerRole::Customer));
    }
}
