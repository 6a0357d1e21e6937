//! failure-notifier: one SNS message a person can act on, for every failure.
//!
//! Two ways in: the state machine's `Catch` (and its data-quality and failed-query branches)
//! sends a [`FailureReport`]; an EventBridge rule on "Step Functions Execution Status Change"
//! sends failed, timed-out and aborted executions, which covers failures that bypass `Catch`.
//! Executions that ended in the state machine's own `Fail` state ([`PIPELINE_FAILED`]) were
//! already reported and are not reported twice.

use std::fmt::Write as _;

pub mod config;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use etl_aws::lambda::StageError;
use etl_core::contract::{
    ErrorName, FailureReport, Notification, PipelineInput, Stage, PIPELINE_FAILED,
};
use etl_core::ports::Notifier;
use serde::{Deserialize, Serialize};
use tracing::info;

pub use config::Config;

/// SNS rejects subjects of 100 characters or more.
pub const MAX_SUBJECT: usize = 99;

/// The two shapes of input.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FailureEvent {
    /// EventBridge "Step Functions Execution Status Change".
    StatusChange(Box<EventBridgeEvent<ExecutionStatus>>),
    /// From the state machine.
    Report(Box<FailureReport>),
}

/// The `detail` of a Step Functions execution status change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatus {
    /// Execution ARN.
    pub execution_arn: String,
    /// FAILED, TIMED_OUT, ABORTED, …
    pub status: String,
    /// The execution input (a JSON string).
    #[serde(default)]
    pub input: Option<String>,
    /// Error name, for FAILED.
    #[serde(default)]
    pub error: Option<String>,
    /// Cause, for FAILED.
    #[serde(default)]
    pub cause: Option<String>,
}

/// Publishes the message for one failure.
pub async fn handle<N: Notifier>(
    notifier: &N,
    event: FailureEvent,
) -> Result<Notification, StageError> {
    let report = match event {
        FailureEvent::Report(r) => *r,
        FailureEvent::StatusChange(e) => {
            let d = e.detail;
            if d.status == "FAILED" && d.error.as_deref() == Some(PIPELINE_FAILED) {
                info!(execution = %d.execution_arn, "already reported by the state machine");
                return Ok(Notification {
                    message_id: None,
                    subject: String::new(),
                    skipped: Some("the state machine already reported this failure".into()),
                });
            }
            FailureReport {
                stage: Stage::Execution(d.status.clone()),
                execution_arn: d.execution_arn,
                input: d
                    .input
                    .as_deref()
                    .and_then(|i| serde_json::from_str::<PipelineInput>(i).ok()),
                error: Some(etl_core::contract::StepError {
                    error: d.error.unwrap_or_else(|| format!("States.{}", d.status)),
                    cause: d.cause,
                }),
                transform: None,
                query: None,
                clean_up: None,
                clean_up_error: None,
            }
        }
    };
    let (subject, message) = compose(&report);
    let id = notifier.publish(&subject, &message).await?;
    info!(execution = %report.execution_arn, stage = %report.stage, message_id = %id, "failure reported");
    Ok(Notification {
        message_id: Some(id),
        subject,
        skipped: None,
    })
}

/// The subject and body of the message.
pub fn compose(r: &FailureReport) -> (String, String) {
    let (error_name, error_message) = error_of(r);
    let dataset = r
        .input
        .as_ref()
        .map_or("unknown dataset", |i| i.dataset.as_str());
    let object = r
        .input
        .as_ref()
        .map_or_else(|| "(unknown object)".to_string(), |i| i.object.uri());
    let subject = subject(&format!(
        "ETL failed: {dataset}: {} ({error_name})",
        r.stage
    ));

    let mut m = String::new();
    let _ = writeln!(
        m,
        "The ETL pipeline failed for {object} (dataset {dataset}).\n"
    );
    let _ = writeln!(m, "Stage:      {}", r.stage);
    let _ = writeln!(m, "Error:      {error_name}");
    let _ = writeln!(m, "Message:    {error_message}");
    if let Some(t) = &r.transform {
        let _ = writeln!(
            m,
            "Records:    {} in, {} written, {} rejected{}",
            t.records_in,
            t.records_written,
            t.records_rejected,
            if t.rejected_by_reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts(&t.rejected_by_reason))
            }
        );
        if t.values_nulled > 0 {
            let _ = writeln!(
                m,
                "Nulled:     {} values that could not be cast ({})",
                t.values_nulled,
                counts(&t.nulled_by_field)
            );
        }
        if let Some(uri) = &t.rejected_uri {
            let _ = writeln!(m, "Rejected:   {uri}");
        }
    }
    if let Some(q) = &r.query {
        let _ = writeln!(m, "Query:      {} ({:?})", q.query_execution_id, q.state);
    }
    if let Some(c) = &r.clean_up {
        let _ = writeln!(
            m,
            "Cleaned up: {} files the failed attempts had left",
            c.deleted.len()
        );
    }
    if let Some(e) = &r.clean_up_error {
        let _ = writeln!(
            m,
            "Clean-up:   FAILED ({}: {}). Files of the failed attempt may be left in the table location; the object's next attempt deletes them (upload it again or start a new execution with this execution's input).",
            e.error,
            cause_message(&e.cause)
        );
    }
    let _ = writeln!(m, "Execution:  {}", r.execution_arn);
    if let Some(link) = console_link(&r.execution_arn) {
        let _ = writeln!(m, "Console:    {link}");
    }
    let _ = writeln!(m, "\nWhat to do: {}", advice(&error_name, &r.stage));
    (subject, m)
}

/// The error's name and message; a Lambda error's `Cause` is JSON with `errorMessage`.
/// The readable part of a `Catch`'s cause: a Lambda error's `errorMessage`, else the cause.
fn cause_message(cause: &Option<String>) -> String {
    cause
        .as_deref()
        .map(|c| {
            serde_json::from_str::<serde_json::Value>(c)
                .ok()
                .and_then(|v| v.get("errorMessage")?.as_str().map(String::from))
                .unwrap_or_else(|| c.to_string())
        })
        .unwrap_or_default()
}

fn error_of(r: &FailureReport) -> (String, String) {
    if let Some(e) = &r.error {
        return (e.error.clone(), cause_message(&e.cause));
    }
    if let Some(t) = r.transform.as_ref().filter(|t| t.threshold_crossed) {
        return (
            "DataQualityThresholdExceeded".into(),
            format!(
                "{} of {} records were rejected, more than the dataset allows; no Parquet was kept",
                t.records_rejected, t.records_in
            ),
        );
    }
    if let Some(q) = &r.query {
        return (
            "AthenaQueryFailed".into(),
            q.reason
                .clone()
                .unwrap_or_else(|| format!("the query ended {:?}", q.state)),
        );
    }
    ("Unknown".into(), "no error details were passed".into())
}

fn advice(error_name: &str, stage: &Stage) -> &'static str {
    const RETRIES_EXHAUSTED: &str = "a service kept failing or timing out after the retries; once it is healthy, start a new execution with this execution's input (console: New execution, or aws stepfunctions start-execution --input …): the object's rows are replaced, not duplicated.";
    match ErrorName::parse(error_name) {
        Some(ErrorName::BadInput) => return "fix the object (or the dataset definition and redeploy), then upload the object again to reprocess it; its earlier output is replaced, not duplicated.",
        Some(ErrorName::NotFound) => return "the raw object (or version) no longer exists; there is nothing to reprocess unless it is uploaded again.",
        Some(ErrorName::BadConfig) => return "the deployment is misconfigured (see the message); fix it, redeploy, then start a new execution with this execution's input.",
        Some(ErrorName::Retryable) => return RETRIES_EXHAUSTED,
        Some(ErrorName::Permanent) | None => {}
    }
    match error_name {
        "DataQualityThresholdExceeded" => "read the rejected records file for the reasons. If the feed's format changed, update the dataset definition and redeploy; then upload the object again.",
        "States.Timeout" | "States.TIMED_OUT" => RETRIES_EXHAUSTED,
        // Lambda stopped the function: at its timeout, out of memory, or the process died.
        "Sandbox.Timedout" | "Runtime.OutOfMemory" | "Runtime.ExitError" | "Lambda.Unknown" => "Lambda stopped the function before it finished (its timeout or memory ran out; the message says which) and what that attempt had written was cleaned up (above). For the transform, split the object into smaller ones or raise the function's MemorySize (more CPU too) or Timeout and redeploy; then upload the object again or start a new execution with this execution's input.",
        "AthenaQueryFailed" => "the catalog DDL failed (see the message); fix the cause, then start a new execution with this execution's input (its rows replace themselves and the DDL runs again).",
        _ if matches!(stage, Stage::Execution(_)) => "open the execution in the console to see which state failed, fix the cause, then start a new execution with its input.",
        _ => "open the execution in the console, fix the cause, then start a new execution with its input or upload the object again.",
    }
}

/// A subject SNS accepts: printable ASCII, one line, fewer than 100 characters.
pub fn subject(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= MAX_SUBJECT {
        ascii
    } else {
        format!("{}...", &ascii[..MAX_SUBJECT - 3])
    }
}

/// The Step Functions console page of an execution.
pub fn console_link(execution_arn: &str) -> Option<String> {
    let region = execution_arn.split(':').nth(3).filter(|r| !r.is_empty())?;
    Some(format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
    ))
}

/// `name: count` pairs, in key order, for a message.
fn counts(by_name: &std::collections::BTreeMap<String, u64>) -> String {
    by_name
        .iter()
        .map(|(name, n)| format!("{name}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
