//! Ids from the message, validated (the tenant comes from the API key: `auth.rs`).

use undertone_core::{AccountId, IdError};

use crate::error::ServiceError;

pub fn account_id(field: &str, raw: &str) -> Result<AccountId, ServiceError> {
    AccountId::new(raw).map_err(|e| id_error(field, e))
}

pub fn id_error(field: &str, err: IdError) -> ServiceError {
    ServiceError::invalid(field, err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_validated() {
        assert!(account_id("account_id", "").unwrap_err().to_string().starts_with("account_id:"));
        assert_eq!(account_id("account_id", "acme").unwrap().as_str(), "acme");
    }
}
