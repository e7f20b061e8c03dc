//! Errors of every store backend.

/// What can go wrong storing or reading segments. Engine errors are kept as text so the
/// public API does not depend on the engine crate (the server backend maps its own).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed (I/O, WAL, segment, or a request it rejected).
    #[error("storage engine: {0}")]
    Engine(String),
    /// The store could not be reached, or did not answer in time, even after retries; the
    /// call may succeed later. Nothing the call wrote can be assumed stored.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record handed to the store breaks the contract (wrong document, duplicate segment...).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A vector's length differs from the store's dimension.
    #[error("vector dimension mismatch: the store holds {expected}-dimensional vectors, got {got}")]
    DimensionMismatch { expected: usize, got: usize },
    /// The store on disk was created with a layout this build cannot use.
    #[error("store configuration: {0}")]
    Config(String),
    /// A stored payload cannot be read back into a segment.
    #[error("corrupt stored segment: {0}")]
    Corrupt(String),
}
