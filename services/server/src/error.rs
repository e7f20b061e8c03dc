//! Every error a service can answer with, mapped to a gRPC status in one place.

use tonic::{Code, Status};
use undertone_ingest::IngestError;
use undertone_models::{ModelError, QueueError};
use undertone_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is wrong; `field` names the field (or metadata key) at fault.
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// No valid API key.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid key that may not do this (tenant or role).
    #[error("{0}")]
    PermissionDenied(String),
    /// Too much work queued; the caller should retry later.
    #[error("server overloaded: {0}")]
    Overloaded(String),
    #[error("{0} is not implemented yet")]
    Unimplemented(&'static str),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("model: {0}")]
    Model(#[from] ModelError),
    #[error("internal: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), reason: reason.into() }
    }
}

impl From<IngestError> for ServiceError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::InvalidField { field, reason } => Self::invalid(field, reason),
        }
    }
}

impl From<QueueError> for ServiceError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::Full { .. } => Self::Overloaded(err.to_string()),
            QueueError::Model(err) => Self::Model(err),
            QueueError::Inference(_) | QueueError::Stopped => Self::Internal(err.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::Internal(format!("worker task failed: {err}"))
    }
}

impl ServiceError {
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument { .. } => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::Overloaded(_) => Code::ResourceExhausted,
            Self::Unimplemented(_) => Code::Unimplemented,
            // Worth retrying: the store is away or slow, or its I/O failed.
            Self::Store(StoreError::Unavailable(_) | StoreError::Engine(_)) => Code::Unavailable,
            // The service's own records or the store's set-up are wrong: not the caller's
            // to fix by retrying.
            Self::Store(
                StoreError::InvalidRecord(_)
                | StoreError::DimensionMismatch { .. }
                | StoreError::Config(_)
                | StoreError::Corrupt(_),
            ) => Code::Internal,
            Self::Model(ModelError::Input(_)) => Code::InvalidArgument,
            Self::Model(_) | Self::Internal(_) => Code::Internal,
        }
    }

    /// The status code's canonical name, for example `INVALID_ARGUMENT`.
    pub fn code_name(&self) -> &'static str {
        match self.code() {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::NotFound => "NOT_FOUND",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Unavailable => "UNAVAILABLE",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::PermissionDenied => "PERMISSION_DENIED",
            _ => "INTERNAL",
        }
    }
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        let code = err.code();
        if matches!(code, Code::Internal | Code::Unavailable) {
            tracing::error!(error = %err, "request failed");
        }
        Status::new(code, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_arguments_name_the_field() {
        let status = Status::from(ServiceError::invalid("account_id", "must not be empty"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "account_id: must not be empty");
        assert_eq!(
            Status::from(ServiceError::Overloaded("queue full".into())).code(),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn an_unreachable_store_is_unavailable_a_broken_record_internal() {
        let unavailable =
            ServiceError::from(StoreError::Unavailable("writing points: connection refused".into()));
        assert_eq!(Status::from(unavailable).code(), Code::Unavailable);
        let mismatch = ServiceError::from(StoreError::DimensionMismatch { expected: 384, got: 768 });
        assert_eq!(Status::from(mismatch).code(), Code::Internal);
        assert_eq!(
            Status::from(ServiceError::from(StoreError::InvalidRecord("x".into()))).code(),
            Code::Internal
        );
    }
}
