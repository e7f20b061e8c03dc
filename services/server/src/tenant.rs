//! Request scoping: the tenant comes from metadata, ids from the message, both validated.

use tonic::Request;
use undertone_api::TENANT_HEADER;
use undertone_core::{AccountId, IdError, TenantId};

use crate::error::ServiceError;

/// The tenant of a request, from the `x-tenant-id` metadata key.
pub fn tenant_of<T>(request: &Request<T>) -> Result<TenantId, ServiceError> {
    let raw = request
        .metadata()
        .get(TENANT_HEADER)
        .ok_or_else(|| ServiceError::invalid(TENANT_HEADER, "metadata is required"))?
        .to_str()
        .map_err(|_| ServiceError::invalid(TENANT_HEADER, "must be printable ASCII"))?;
    TenantId::new(raw).map_err(|e| id_error(TENANT_HEADER, e))
}

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
    fn tenant_is_required_and_validated() {
        let err = tenant_of(&Request::new(())).unwrap_err();
        assert_eq!(err.to_string(), "x-tenant-id: metadata is required");
        let mut request = Request::new(());
        request.metadata_mut().insert(TENANT_HEADER, " acme-cs ".parse().unwrap());
        assert_eq!(tenant_of(&request).unwrap().as_str(), "acme-cs");
        assert!(account_id("account_id", "").unwrap_err().to_string().starts_with("account_id:"));
    }
}
