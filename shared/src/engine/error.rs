//! How a transform fails as a whole, and whether trying again may help.

use crate::decode::DecodeError;
use crate::output::OutputError;
use crate::parquet_out::WriteError;

/// The transform could not process the object; nothing it wrote is left behind.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The input is unreadable as a whole (broken JSON array, corrupt gzip, read failure).
    #[error("{object}: {source}")]
    Input {
        /// Source URI.
        object: String,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// The object passes one of the dataset's limits.
    #[error("{object}: {message}")]
    Limit {
        /// Source URI.
        object: String,
        /// Which limit, where, and what to do.
        message: String,
    },
    /// Writing output failed.
    #[error("{object}: {source}")]
    Output {
        /// Source URI.
        object: String,
        /// Why.
        #[source]
        source: WriteError,
    },
}

impl TransformError {
    pub(super) fn new(object: String, failure: Failure) -> Self {
        match failure {
            Failure::Decode(source) => TransformError::Input { object, source },
            Failure::Write(source) => TransformError::Output { object, source },
            Failure::Limit(message) => TransformError::Limit { object, message },
        }
    }

    /// Whether trying again may succeed (a storage hiccup, not the data).
    pub fn is_retryable(&self) -> bool {
        match self {
            TransformError::Input {
                source: DecodeError::Io(e),
                ..
            } => {
                // A gzip stream that does not inflate is the data's fault.
                e.kind() != std::io::ErrorKind::InvalidInput
                    && e.kind() != std::io::ErrorKind::InvalidData
            }
            TransformError::Input { .. } | TransformError::Limit { .. } => false,
            TransformError::Output {
                source: WriteError::Output(e),
                ..
            } => e.is_retryable(),
            TransformError::Output { .. } => false,
        }
    }
}

/// What stopped a run, before the source object's URI is attached.
pub(super) enum Failure {
    Decode(DecodeError),
    Write(WriteError),
    /// A dataset limit, with the message.
    Limit(String),
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        Failure::Decode(e)
    }
}

impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Self {
        Failure::Write(e)
    }
}

impl From<OutputError> for Failure {
    fn from(e: OutputError) -> Self {
        Failure::Write(WriteError::Output(e))
    }
}
