//! Caller-supplied identifiers. Every id is the caller's own (an external id), so sending
//! the same document twice addresses the same stored points.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::SourceKind;

/// Longest id we accept, in bytes; ids are payload keys, not documents.
pub const MAX_ID_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_ID_LEN} bytes, got {0}")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacter,
}

fn validate(raw: &str) -> Result<String, IdError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdError::Empty);
    }
    if trimmed.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(trimmed.len()));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and trims a caller-supplied id.
            pub fn new(raw: &str) -> Result<Self, IdError> {
                validate(raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// The tenant (a customer of Undertone); every call is scoped to one.
    TenantId
);
string_id!(
    /// A customer account of the tenant (the company whose health we track).
    AccountId
);

/// The idempotency key of a document: re-ingesting the same key replaces, never duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocumentKey {
    pub tenant: TenantId,
    pub source_kind: SourceKind,
    pub external_id: String,
}

impl DocumentKey {
    pub fn new(tenant: TenantId, source_kind: SourceKind, external_id: &str) -> Result<Self, IdError> {
        Ok(Self { tenant, source_kind, external_id: validate(external_id)? })
    }

    /// A stable string form, used as a payload field so one filter finds every point of
    /// the document.
    pub fn storage_key(&self) -> String {
        format!("{}\u{1f}{}\u{1f}{}", self.tenant, self.source_kind.as_str(), self.external_id)
    }
}

/// Namespace for point ids, so ids never collide with another product's UUIDv5s.
const POINT_NAMESPACE: Uuid = Uuid::from_u128(0x7d1c_5a8e_3b9f_4e21_9c40_8a6b_2f1d_e093);

/// The stored point id of segment `index` of a document: deterministic, so an upsert of the
/// same document overwrites its own points.
pub fn point_id(key: &DocumentKey, index: u32) -> Uuid {
    let name = format!("{}\u{1f}{index}", key.storage_key());
    Uuid::new_v5(&POINT_NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_trimmed_and_validated() {
        assert_eq!(AccountId::new("  acme ").unwrap().as_str(), "acme");
        assert_eq!(AccountId::new("   "), Err(IdError::Empty));
        assert_eq!(TenantId::new(&"x".repeat(300)), Err(IdError::TooLong(300)));
        assert_eq!(TenantId::new("a\nb"), Err(IdError::ControlCharacter));
    }

    #[test]
    fn point_ids_are_stable_and_distinct() {
        let tenant = TenantId::new("t1").unwrap();
        let key = DocumentKey::new(tenant.clone(), SourceKind::Email, "m-1").unwrap();
        assert_eq!(point_id(&key, 0), point_id(&key, 0));
        assert_ne!(point_id(&key, 0), point_id(&key, 1));
        let other = DocumentKey::new(tenant, SourceKind::Ticket, "m-1").unwrap();
        assert_ne!(point_id(&key, 0), point_id(&other, 0));
    }
}
