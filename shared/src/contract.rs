//! The stage-to-stage contract: the JSON each state of the pipeline's state machine passes to the
//! next. Every Lambda, the state machine tests and the local runner use these types, so a field
//! renamed here is renamed everywhere (and `statemachine/pipeline.asl.json` is checked against
//! them by the tests).
//!
//! The state carried through an execution looks like this (JSONPath in the state machine):
//!
//! ```text
//! $            PipelineInput           from s3-trigger (StartExecution input)
//! $.transform  TransformResult         from transform
//! $.catalog    CatalogStep             from catalog-update (absent until the first call)
//! $.query      QueryStatus             from athena-poller
//! $.error      StepError               from a Catch
//! $.clean_up   CleanUpReport           from transform's clean-up, on the failure path
//! $.clean_up_error  StepError          from the clean-up's Catch, when it failed too
//! ```

use crate::layout::S3Uri;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A raw object, as S3 reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Raw bucket.
    pub bucket: String,
    /// Key, URL-decoded.
    pub key: String,
    /// Version id when the bucket is versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// ETag without quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// The S3 event's `sequencer`: orders the events of one key (see
    /// [`crate::manifest::sequencer_order`]). `None` for an execution started by hand, which is
    /// ordered by when it commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    /// When the object was created (RFC 3339): the S3 event's `eventTime`, or for a backfill the
    /// listing's last-modified time. Fields `from = "object"` read it as `created`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

impl ObjectRef {
    /// `s3://bucket/key`
    pub fn uri(&self) -> String {
        S3Uri::new(&self.bucket, &self.key).to_string()
    }

    /// The identity output names are derived from: the version id, else the ETag.
    pub fn identity_version(&self) -> Option<&str> {
        self.version_id.as_deref().or(self.etag.as_deref())
    }

    /// What identifies one event of this object: its version (or ETag) and sequencer, so a
    /// duplicate delivery of an event is the same event, and a new upload (even of the same
    /// bytes) is a new one.
    pub fn event_identity(&self) -> String {
        format!(
            "{}\u{0}{}",
            self.identity_version().unwrap_or_default(),
            self.sequencer.as_deref().unwrap_or_default()
        )
    }
}

/// The input of one execution: one object of one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineInput {
    /// Dataset name.
    pub dataset: String,
    /// The raw object.
    pub object: ObjectRef,
    /// The object was deleted (`ObjectRemoved:*`) and its dataset removes the rows of deleted
    /// objects (`on_delete = "remove"`). `object.version_id` is then the version deleted, or
    /// `None` for a delete marker or an unversioned bucket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// What transform reports. The partition list lives in the summary object (`summary_uri`), not
/// here, so that a transform writing thousands of partitions stays under Step Functions' 256 KB
/// payload limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformResult {
    /// Dataset name.
    pub dataset: String,
    /// The raw object.
    pub object: ObjectRef,
    /// Where the table's files are, `s3://curated/prefix/`.
    pub table_location: String,
    /// The full JSON summary (with every partition and file).
    pub summary_uri: String,
    /// Records found.
    pub records_in: u64,
    /// Records written to Parquet.
    pub records_written: u64,
    /// Records rejected.
    pub records_rejected: u64,
    /// Rows written: one per record written, or with `[rows]` one per element.
    #[serde(default)]
    pub rows_written: u64,
    /// Rejected records per reason.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Where the rejected records are (`null` when none were rejected; always present so the
    /// state machine can pass it on).
    #[serde(default)]
    pub rejected_uri: Option<String>,
    /// Values written as null because they could not be cast (`on_type_mismatch = "null"`):
    /// a column silently lost shows here, as rejections do.
    #[serde(default)]
    pub values_nulled: u64,
    /// [`TransformResult::values_nulled`] per column.
    #[serde(default)]
    pub nulled_by_field: BTreeMap<String, u64>,
    /// Source keys no field maps (schema drift), with counts: the
    /// [`UNKNOWN_FIELDS_IN_RESULT`] most frequent (the summary has them all), so no object can
    /// push the execution's state past Step Functions' 256 KB.
    #[serde(default)]
    pub unknown_fields: BTreeMap<String, u64>,
    /// Partitions written.
    pub partitions: u64,
    /// Parquet files written.
    pub files: u64,
    /// Parquet bytes written.
    pub bytes_written: u64,
    /// The error threshold was crossed: the state machine ends in a data-quality failure.
    pub threshold_crossed: bool,
    /// A later upload of the same key is (or became) what the table holds: this event changed
    /// nothing and wrote nothing (its counts are zero, `summary_uri` empty).
    #[serde(default)]
    pub superseded: bool,
    /// The object was deleted and its rows (and rejected records and summary) removed: counts
    /// zero, `summary_uri` empty.
    #[serde(default)]
    pub removed: bool,
}

/// What the transform function is asked: transform an object, or, after its transform failed,
/// clean up the attempts it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TransformRequest {
    /// `{"clean_up": <PipelineInput>}`, from the state machine's failure path.
    CleanUp {
        /// The object whose transform failed.
        clean_up: PipelineInput,
    },
    /// An execution's input.
    Transform(PipelineInput),
}

/// What cleaning up after a failed transform did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanUpReport {
    /// Keys deleted in the curated bucket (files of attempts killed before they finished).
    pub deleted: Vec<String>,
    /// Attempts of the same event still recorded as running: wait this many seconds (until
    /// Lambda has certainly stopped them) and clean up again; 0 when none are left.
    pub wait_seconds: u64,
}

/// How many unknown-field names a [`TransformResult`] carries.
pub const UNKNOWN_FIELDS_IN_RESULT: usize = 50;

/// The `n` largest counts (ties by name), for a state that must stay small.
pub fn most_frequent(counts: &BTreeMap<String, u64>, n: usize) -> BTreeMap<String, u64> {
    let mut by_count: Vec<(&String, &u64)> = counts.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    by_count
        .into_iter()
        .take(n)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// One step of catalog-update: a DDL query it started, and whether more remain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogStep {
    /// The Athena query execution started; `None` when nothing was left to do.
    pub query_execution_id: Option<String>,
    /// What the query does.
    pub statement: Option<DdlStatement>,
    /// Index of the next `ADD PARTITION` statement to run.
    pub next: u32,
    /// `ADD PARTITION` statements in all.
    pub total: u32,
    /// More DDL remains after this query.
    pub more: bool,
}

/// The kinds of DDL catalog-update runs, in the order it runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DdlStatement {
    /// `CREATE DATABASE IF NOT EXISTS`.
    CreateDatabase,
    /// `CREATE EXTERNAL TABLE IF NOT EXISTS`.
    CreateTable,
    /// `ALTER TABLE … ADD IF NOT EXISTS PARTITION …`.
    AddPartitions,
}

/// The input of catalog-update: the transform's result and, after the first call, its last step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogRequest {
    /// The transform's result.
    pub transform: TransformResult,
    /// The previous step, when catalog-update already ran in this execution.
    #[serde(default)]
    pub catalog: Option<CatalogStep>,
}

/// The input of athena-poller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollRequest {
    /// The query to look at.
    pub query_execution_id: String,
    /// Polls made so far for this query (from the previous status; absent on the first poll).
    #[serde(default)]
    pub polls: u32,
}

/// Athena query states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueryState {
    /// Waiting to run.
    Queued,
    /// Running.
    Running,
    /// Done.
    Succeeded,
    /// Failed; see the reason.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// What athena-poller reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStatus {
    /// The query.
    pub query_execution_id: String,
    /// Its state.
    pub state: QueryState,
    /// Athena's reason, for FAILED and CANCELLED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Polls made so far, including this one.
    pub polls: u32,
    /// Engine time, when Athena reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_execution_ms: Option<i64>,
    /// Bytes scanned, when Athena reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_scanned_bytes: Option<i64>,
}

/// The error a `Catch` puts at `$.error` (`Error` and `Cause` as Step Functions names them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    /// Error name, e.g. `BadInput`, `States.Timeout`.
    #[serde(rename = "Error")]
    pub error: String,
    /// Details: for a Lambda error, a JSON string with `errorType` and `errorMessage`.
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

/// Where an execution failed: a state of the state machine, or the execution as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// The transform task.
    Transform,
    /// The object crossed its data-quality threshold.
    DataQuality,
    /// The catalog-update task.
    UpdateCatalog,
    /// The athena-poller task.
    PollQuery,
    /// A DDL query that failed or was cancelled, or polling that gave up.
    CatalogQuery,
    /// The execution ended with this status (`FAILED`, `TIMED_OUT`, `ABORTED`) outside the
    /// state machine's own failure path; reported from the EventBridge status change.
    #[serde(untagged)]
    Execution(String),
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Execution(status) => write!(f, "Execution {status}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The input the state machine gives failure-notifier (the EventBridge path has its own shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureReport {
    /// The stage that failed.
    pub stage: Stage,
    /// The execution (`$$.Execution.Id`).
    pub execution_arn: String,
    /// The execution's input (`$$.Execution.Input`).
    pub input: Option<PipelineInput>,
    /// The error from the Catch, when there was one.
    #[serde(default)]
    pub error: Option<StepError>,
    /// The transform's result, when it ran.
    #[serde(default)]
    pub transform: Option<TransformResult>,
    /// The last Athena status, for a failed query.
    #[serde(default)]
    pub query: Option<QueryStatus>,
    /// What was cleaned up after a failed transform.
    #[serde(default)]
    pub clean_up: Option<CleanUpReport>,
    /// Why the clean-up after a failed transform failed as well, when it did.
    #[serde(default)]
    pub clean_up_error: Option<StepError>,
}

/// What failure-notifier returns: the message it published, or why it published none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// SNS message id; `None` when nothing was published.
    pub message_id: Option<String>,
    /// Subject (fewer than 100 ASCII characters).
    pub subject: String,
    /// Why nothing was published (e.g. the state machine already reported this failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The `Error` name of the state machine's final `Fail` state. An execution that failed with it
/// was already reported by failure-notifier, so the EventBridge path does not report it again.
pub const PIPELINE_FAILED: &str = "PipelineFailed";

/// Stable error names: what the state machine's `Retry` and `Catch` match on (a Lambda error's
/// `errorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorName {
    /// Worth retrying: throttling, timeouts, 5xx, a storage hiccup.
    Retryable,
    /// The input cannot be processed as it is (broken JSON array, corrupt gzip, undecodable key).
    BadInput,
    /// The raw object is gone (deleted, or a version that no longer exists).
    NotFound,
    /// The deployment is wrong: unknown dataset, missing environment variable, bad definition.
    BadConfig,
    /// Access denied or another permanent service error.
    Permanent,
}

impl ErrorName {
    /// Every name, for tests that check the state machine handles each.
    pub const ALL: [ErrorName; 5] = [
        ErrorName::Retryable,
        ErrorName::BadInput,
        ErrorName::NotFound,
        ErrorName::BadConfig,
        ErrorName::Permanent,
    ];

    /// The name spelled `name`, if it is one of ours (not, say, `States.Timeout`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == name)
    }

    /// The name as the state machine spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::Retryable => "Retryable",
            ErrorName::BadInput => "BadInput",
            ErrorName::NotFound => "NotFound",
            ErrorName::BadConfig => "BadConfig",
            ErrorName::Permanent => "Permanent",
        }
    }

    /// Whether the state machine retries a task that failed with it.
    pub fn is_retried(self) -> bool {
        self == ErrorName::Retryable
    }
}

impl std::fmt::Display for ErrorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_spelled_as_the_state_machine_matches_them() {
        for name in ErrorName::ALL {
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("\"{}\"", name.as_str()));
            assert_eq!(ErrorName::parse(name.as_str()), Some(name));
            assert_eq!(name, name.as_str());
        }
        assert_eq!(ErrorName::parse("States.Timeout"), None);
    }

    #[test]
    fn a_result_carries_the_most_frequent_unknown_fields_only() {
        let counts: BTreeMap<String, u64> = (0..1_000u64)
            .map(|i| (format!("field_{i:04}_{}", "x".repeat(200)), i % 97))
            .collect();
        let top = most_frequent(&counts, UNKNOWN_FIELDS_IN_RESULT);
        assert_eq!(top.len(), UNKNOWN_FIELDS_IN_RESULT);
        let least_kept = top.values().min().unwrap();
        let dropped_max = counts
            .iter()
            .filter(|(k, _)| !top.contains_key(*k))
            .map(|(_, v)| v)
            .max()
            .unwrap();
        assert!(least_kept >= dropped_max);
        // Whatever the object, the names carried stay far below the 256 KB of a state.
        assert!(serde_json::to_vec(&top).unwrap().len() < 20_000);
        assert_eq!(most_frequent(&BTreeMap::new(), 5), BTreeMap::new());
    }

    #[test]
    fn stages_are_the_states_names_or_an_execution_status() {
        let transform: Stage = serde_json::from_str("\"Transform\"").unwrap();
        assert_eq!(transform, Stage::Transform);
        let timed_out: Stage = serde_json::from_str("\"TIMED_OUT\"").unwrap();
        assert_eq!(timed_out, Stage::Execution("TIMED_OUT".into()));
        assert_eq!(timed_out.to_string(), "Execution TIMED_OUT");
        assert_eq!(Stage::CatalogQuery.to_string(), "CatalogQuery");
        assert_eq!(serde_json::to_string(&timed_out).unwrap(), "\"TIMED_OUT\"");
        let step = DdlStatement::AddPartitions;
        assert_eq!(serde_json::to_string(&step).unwrap(), "\"add_partitions\"");
    }
}
