//! Classifying SDK errors without relying on how `SdkError` prints.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ErrorMetadata;
use etl_core::ports::{FailureKind, PortError};

/// Codes of server-side failures (sent with a 5xx status, which alone makes them retryable; kept
/// for the code when the status is not at hand).
const SERVER_ERROR_CODES: &[&str] = &[
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
];

/// Whether a service error code means "slow down" or "try later": the codes the SDK's own retry
/// classifier treats as throttling or transient, and server-side failures.
pub fn is_retryable_code(code: &str) -> bool {
    THROTTLING_ERRORS.contains(&code)
        || TRANSIENT_ERRORS.contains(&code)
        || SERVER_ERROR_CODES.contains(&code)
}

/// Codes that mean the thing does not exist.
const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchKey",
    "NoSuchVersion",
    "NoSuchBucket",
    "NotFound",
    "ResourceNotFoundException",
    "EntityNotFoundException",
    "StateMachineDoesNotExist",
    "ExecutionDoesNotExist",
];

/// Turns any SDK error into a [`PortError`] for `operation`.
///
/// `SdkError` is the same type for every AWS SDK crate, so one function serves S3, Step Functions,
/// Athena and SNS.
pub fn port_error<E>(operation: impl Into<String>, err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let operation = operation.into();
    match &err {
        SdkError::TimeoutError(_) => PortError::new(
            FailureKind::Retryable,
            operation,
            "Timeout",
            "the request timed out",
        ),
        SdkError::DispatchFailure(e) => PortError::new(
            FailureKind::Retryable,
            operation,
            "DispatchFailure",
            format!("{e:?}"),
        ),
        SdkError::ResponseError(e) => PortError::new(
            FailureKind::Retryable,
            operation,
            "ResponseError",
            format!("unreadable response (HTTP {})", e.raw().status().as_u16()),
        ),
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            classify(operation, e.err().meta(), Some(status))
        }
        _ => {
            let meta = err.meta();
            classify(operation, meta, None)
        }
    }
}

fn classify(operation: String, meta: &ErrorMetadata, status: Option<u16>) -> PortError {
    let code = meta.code().unwrap_or("Unknown").to_string();
    let message = meta.message().unwrap_or("").to_string();
    let kind = if is_retryable_code(&code) || status.is_some_and(|s| s == 429 || s >= 500) {
        FailureKind::Retryable
    } else if NOT_FOUND_CODES.contains(&code.as_str()) || status == Some(404) {
        FailureKind::NotFound
    } else {
        FailureKind::Permanent
    };
    PortError::new(kind, operation, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdks_throttling_codes_are_retryable() {
        for code in [
            "RequestThrottledException",
            "BandwidthLimitExceeded",
            "PriorRequestNotComplete",
            "SlowDown",
            "ThrottlingException",
            "TooManyRequestsException",
            "RequestTimeout",
            "InternalError",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in ["AccessDenied", "NoSuchKey", "InvalidRequestException", ""] {
            assert!(!is_retryable_code(code), "{code}");
        }
    }
}
