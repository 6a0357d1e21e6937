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
use etl_core::ports::{ExecutionStarter, StartOutcome};
use etl_core::Dataset;
use serde::Serialize;
use tracing::{info, warn};

pub use config::Config;

/// What the handler needs.
pub struct Deps<E> {
    /// Starts executions.
    pub starter: E,
    /// The deployment's datasets.
    pub datasets: Vec<Dataset>,
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
pub async fn handle<E: ExecutionStarter>(
    deps: &Deps<E>,
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
