//! s3-trigger: for each new raw object, find its dataset and start one execution of the pipeline;
//! for each deleted one, when its dataset removes the rows of deleted objects
//! (`on_delete = "remove"`), one execution that removes them.
//!
//! The execution name is derived from the event's identity (bucket, key, version or ETag, the
//! event's sequencer, created or removed), so a duplicate delivery of the same event starts
//! nothing new; Step Functions answers
//! `ExecutionAlreadyExists`, which counts as success. Any other failure fails the invocation
//! after every record was tried, so Lambda's retries and the on-failure destination keep the
//! event: nothing is lost.

pub mod config;

use aws_lambda_events::event::s3::S3Event;
use etl_aws::lambda::StageError;
use etl_core::contract::{ObjectRef, PipelineInput};
use etl_core::dataset::{dataset_for_key, OnDelete};
use etl_core::layout::{percent_decode, source_id};
use etl_core::ports::{ExecutionStarter, ObjectStore, StartOutcome};
use etl_core::Dataset;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use config::Config;

/// What the handler needs.
pub struct Deps<E, O> {
    /// Starts executions.
    pub starter: E,
    /// Lists the raw bucket, for a backfill.
    pub objects: O,
    /// The deployment's datasets.
    pub datasets: Vec<Dataset>,
}

/// What s3-trigger is invoked with: S3's notifications, or a backfill.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TriggerEvent {
    /// `{"backfill": {"bucket": …, "prefix": …}}`: start executions for the objects already
    /// in the bucket (uploaded before the stack existed, or before a dataset was added).
    Backfill {
        /// What to backfill.
        backfill: Backfill,
    },
    /// An S3 event notification.
    S3(S3Event),
}

/// Objects to start executions for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backfill {
    /// The raw bucket.
    pub bucket: String,
    /// Only keys below this prefix.
    #[serde(default)]
    pub prefix: String,
}

/// The sequencer a backfilled object's execution carries: lower than any S3 gives, so a real
/// event of the key, before or after, always wins over the backfill. Running a backfill twice
/// starts nothing new (the executions are named by the object and this sequencer).
pub const BACKFILL_SEQUENCER: &str = "0";

/// The event time of a backfilled object whose store gave no time: not passed on as its time.
const UNKNOWN_TIME: &str = "1970-01-01T00:00:00Z";

/// Handles an invocation: an S3 notification, or a backfill.
pub async fn handle_event<E: ExecutionStarter, O: ObjectStore>(
    deps: &Deps<E, O>,
    event: TriggerEvent,
) -> Result<TriggerReport, StageError> {
    match event {
        TriggerEvent::S3(event) => handle(deps, event).await,
        TriggerEvent::Backfill { backfill } => {
            let listed = deps
                .objects
                .list(&backfill.bucket, &backfill.prefix)
                .await?;
            info!(bucket = %backfill.bucket, prefix = %backfill.prefix, objects = listed.len(), "backfill");
            let records: Vec<serde_json::Value> = listed
                .into_iter()
                .map(|o| {
                    serde_json::json!({
                        "eventName": "ObjectCreated:Put",
                        "eventTime": o.last_modified.as_deref().unwrap_or(UNKNOWN_TIME),
                        "userIdentity": {},
                        "requestParameters": {},
                        "responseElements": {},
                        "s3": {
                            "bucket": { "name": backfill.bucket },
                            "object": {
                                "key": encode_key(&o.key),
                                "size": o.size,
                                "eTag": o.etag,
                                "sequencer": BACKFILL_SEQUENCER,
                            }
                        }
                    })
                })
                .collect();
            let event: S3Event = serde_json::from_value(serde_json::json!({ "Records": records }))
                .expect("the records are S3 event records");
            handle(deps, event).await
        }
    }
}

/// Percent-encodes every byte of a key but the unreserved ones, as [`decode_key`] reads it.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// What one invocation did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct TriggerReport {
    /// Executions started.
    pub started: Vec<String>,
    /// Objects whose execution already existed (duplicate deliveries).
    pub duplicates: u32,
    /// Records skipped, with why.
    pub skipped: Vec<Skipped>,
}

/// A record that started nothing, on purpose.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Skipped {
    /// The object key (decoded).
    pub key: String,
    /// Why.
    pub reason: String,
}

/// Handles one S3 event notification.
pub async fn handle<E: ExecutionStarter, O>(
    deps: &Deps<E, O>,
    event: S3Event,
) -> Result<TriggerReport, StageError> {
    let mut report = TriggerReport::default();
    let mut failures = Vec::new();
    for record in event.records {
        let event_name = record.event_name.unwrap_or_default();
        let bucket = record.s3.bucket.name.unwrap_or_default();
        let object = record.s3.object;
        let key = match object.key.as_deref().map(decode_key) {
            Some(Ok(k)) => k,
            Some(Err(e)) => {
                failures.push(e.message);
                continue;
            }
            None => {
                failures.push(format!("a record of s3://{bucket} has no object key"));
                continue;
            }
        };
        let size = object.size.unwrap_or(0).max(0) as u64;
        let skip = |reason: String| Skipped {
            key: key.clone(),
            reason,
        };
        let removed = event_name.starts_with("ObjectRemoved");
        if !removed && !event_name.starts_with("ObjectCreated") {
            report.skipped.push(skip(format!(
                "event {event_name} is neither ObjectCreated nor ObjectRemoved"
            )));
            continue;
        }
        if (size == 0 || removed) && key.ends_with('/') {
            report
                .skipped
                .push(skip("a zero-byte folder marker".into()));
            continue;
        }
        let Some(dataset) = dataset_for_key(&deps.datasets, &key) else {
            info!(bucket, key, "no dataset matches the key; skipped");
            report.skipped.push(skip(
                "no dataset's prefix and suffixes match the key".into(),
            ));
            continue;
        };
        if removed && dataset.on_delete == OnDelete::Keep {
            report.skipped.push(skip(
                "the dataset keeps the rows of deleted objects (on_delete = \"keep\")".into(),
            ));
            continue;
        }
        // A delete marker deletes no version: the object as a whole is gone.
        let version_id = object
            .version_id
            .filter(|v| !v.is_empty() && v != "null")
            .filter(|_| event_name != "ObjectRemoved:DeleteMarkerCreated");
        let input = PipelineInput {
            dataset: dataset.name.clone(),
            object: ObjectRef {
                bucket: bucket.clone(),
                key: key.clone(),
                version_id,
                etag: object
                    .e_tag
                    .map(|e| e.trim_matches('"').to_string())
                    .filter(|e| !e.is_empty()),
                size,
                sequencer: object.sequencer.filter(|s| !s.is_empty()),
                created: Some(record.event_time)
                    .filter(|t| t.timestamp() != 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            },
            removed,
        };
        let name = execution_name(&input);
        let json = serde_json::to_string(&input).expect("plain struct serialises");
        match deps.starter.start(&name, &json).await {
            Ok(StartOutcome::Started(arn)) => {
                info!(dataset = %dataset.name, bucket, key, execution = %arn, "started");
                report.started.push(arn);
            }
            Ok(StartOutcome::AlreadyExists) => {
                info!(dataset = %dataset.name, bucket, key, execution = %name, "already started; duplicate delivery");
                report.duplicates += 1;
            }
            Err(e) => {
                warn!(bucket, key, error = %e, "could not start the execution");
                failures.push(e.to_string());
            }
        }
    }
    info!(
        started = report.started.len(),
        duplicates = report.duplicates,
        skipped = report.skipped.len(),
        failed = failures.len(),
        "event handled"
    );
    if !failures.is_empty() {
        // Retryable: the executions already started are skipped as duplicates next time.
        return Err(StageError::retryable(format!(
            "{} of the event's objects could not be started: {}",
            failures.len(),
            failures.join("; ")
        )));
    }
    Ok(report)
}

/// S3 event keys are URL-encoded with `+` for spaces (`Happy+Face%21.jpg`).
pub fn decode_key(raw: &str) -> Result<String, StageError> {
    percent_decode(raw, true).map_err(|e| StageError::bad_input(format!("object key {e}")))
}

/// A Step Functions execution name (≤ 80 of `[0-9A-Za-z_-]`) from the event's identity: the
/// dataset, a readable tail of the key, and a hash of bucket, key, version (or ETag) and the
/// event's sequencer. A duplicate delivery starts nothing; a new upload of the same bytes does.
pub fn execution_name(input: &PipelineInput) -> String {
    let o = &input.object;
    let kind = if input.removed { "removed" } else { "created" };
    let id = source_id(&o.bucket, &o.key, Some(&(o.event_identity() + kind)));
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let dataset: String = clean(&input.dataset).chars().take(24).collect();
    let file = o.key.rsplit('/').next().unwrap_or_default();
    let room = 80 - dataset.len() - id.len() - 2;
    let tail: String = clean(file)
        .chars()
        .rev()
        .take(room)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{dataset}-{tail}-{id}")
}

#[cfg(test)]
mod tests;
