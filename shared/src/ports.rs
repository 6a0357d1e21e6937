//! The ports through which pipeline stages reach the outside world: object storage, starting
//! executions, running queries, notifying people. The Lambdas use the AWS adapters (`etl-aws`);
//! [`local`] has adapters over the local file system and memory, for tools and tests.
//!
//! Every port error says whether it is worth retrying and keeps the service's own error code, so
//! the Lambdas can map it to the stable names of [`crate::contract::ErrorName`]. It is also the
//! storage error inside [`crate::output::OutputError::Service`]: one type for one failure.

use std::future::Future;
use std::io::Read;

use crate::contract::QueryState;
use crate::output::OutputStore;

pub mod local;

pub use crate::port_error::{FailureKind, PortError};

/// Object storage (S3).
pub trait ObjectStore: Send + Sync {
    /// Opens an object for streaming reads (pinned to `version` when given). The reader is
    /// blocking: use it off the async runtime (`spawn_blocking`).
    fn open(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Box<dyn Read + Send>, PortError>> + Send;

    /// Reads a small object whole.
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, PortError>> + Send;

    /// A store that writes files below `s3://bucket/prefix`, for the engine. Its files are written
    /// from a blocking thread (the engine is synchronous).
    fn output_store(&self, bucket: &str, prefix: &str) -> Box<dyn OutputStore>;

    /// Writes a small object whole.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Reads a small object whole with its ETag; `None` when there is none.
    fn get_tagged(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Tagged>, PortError>> + Send;

    /// Writes a small JSON object only if `precondition` holds when the write happens (S3's
    /// `If-None-Match: *` / `If-Match: <etag>`); `Ok(false)` when it did not hold (someone else
    /// wrote first), so the caller reads again and decides again.
    fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        precondition: &Precondition,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// The objects below `prefix` (their latest versions), in no particular order.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Listed>, PortError>> + Send;

    /// Deletes an object (no error when it is already gone).
    fn delete(&self, bucket: &str, key: &str)
        -> impl Future<Output = Result<(), PortError>> + Send;
}

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, without quotes.
    pub etag: String,
    /// When it was created (RFC 3339, UTC), when the store says.
    pub last_modified: Option<String>,
}

/// An object's bytes and the ETag a conditional write compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The bytes.
    pub body: Vec<u8>,
    /// Its ETag, as the store gives it (quotes and all).
    pub etag: String,
}

/// When a conditional write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Only if no object exists at the key (`If-None-Match: *`).
    Absent,
    /// Only if the object still has this ETag (`If-Match`).
    Unchanged(String),
}

/// What starting an execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// A new execution, with its ARN.
    Started(String),
    /// An execution of that name already exists (a duplicate delivery): nothing new started.
    AlreadyExists,
}

/// Starts state machine executions (Step Functions).
pub trait ExecutionStarter: Send + Sync {
    /// Starts an execution named `name` with `input` (JSON).
    fn start(
        &self,
        name: &str,
        input: &str,
    ) -> impl Future<Output = Result<StartOutcome, PortError>> + Send;
}

/// An Athena query's state and statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryInfo {
    /// State.
    pub state: QueryState,
    /// Reason for FAILED / CANCELLED.
    pub reason: Option<String>,
    /// Engine time in milliseconds.
    pub engine_execution_ms: Option<i64>,
    /// Bytes scanned.
    pub data_scanned_bytes: Option<i64>,
}

/// Runs DDL (Athena, which writes the Glue Data Catalog).
pub trait QueryEngine: Send + Sync {
    /// Whether the table exists in the catalog.
    fn table_exists(
        &self,
        database: &str,
        table: &str,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// Starts a query (in `database`, when given); returns its execution id.
    fn start(
        &self,
        sql: &str,
        database: Option<&str>,
    ) -> impl Future<Output = Result<String, PortError>> + Send;

    /// A query's state.
    fn status(
        &self,
        query_execution_id: &str,
    ) -> impl Future<Output = Result<QueryInfo, PortError>> + Send;
}

/// Tells a person (SNS).
pub trait Notifier: Send + Sync {
    /// Publishes a message; returns its id.
    fn publish(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<String, PortError>> + Send;
}
