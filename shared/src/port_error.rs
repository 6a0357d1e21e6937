//! How a call through a port (S3, Step Functions, Athena, SNS, or a local stand-in) failed: its
//! own module because both the ports and the engine's output port ([`crate::output`]) use it.

/// How a port call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling, timeouts, 5xx: trying again later may work.
    Retryable,
    /// The thing asked for does not exist.
    NotFound,
    /// Access denied, validation errors and the like: trying again will not help.
    Permanent,
}

/// A failed port call, with the service's error code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {code}: {message}")]
pub struct PortError {
    /// Retryable, not found or permanent.
    pub kind: FailureKind,
    /// What was being done, e.g. `GetObject s3://raw/iot/a.json`.
    pub operation: String,
    /// The service's error code, e.g. `SlowDown`, `NoSuchKey`.
    pub code: String,
    /// The service's message.
    pub message: String,
}

impl PortError {
    /// A new error.
    pub fn new(
        kind: FailureKind,
        operation: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation: operation.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}
