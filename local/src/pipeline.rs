//! Driving the pipeline on the local stack the way AWS would: put an object in the raw bucket,
//! deliver its S3 event to s3-trigger, follow the execution it starts, and collect what came out
//! (curated objects, DDL that Athena ran, failure messages).

use etl_core::layout::S3Uri;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_sfn::types::ExecutionStatus;
use etl_core::contract::TransformResult;
use serde::Deserialize;
use serde_json::Value;

use crate::stack::Stack;

/// The sample S3 notification; its first record is the template for the events we deliver.
const S3_EVENT: &str = include_str!("../../events/s3-put.json");

/// An object in the raw bucket, as its S3 event describes it.
#[derive(Debug, Clone)]
pub struct RawObject {
    /// Bucket.
    pub bucket: String,
    /// Key (not encoded).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Version (the raw bucket is versioned).
    pub version_id: Option<String>,
    /// The sequencer its event carries: greater for every later upload, as S3's are per key.
    pub sequencer: String,
}

/// A sequencer greater than every one handed out before (S3's grow with each PUT or DELETE of a
/// key; moto's PutObject answer has none, so the stack makes them).
pub fn next_sequencer() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return format!("{next:018X}"),
            Err(seen) => last = seen,
        }
    }
}

/// What s3-trigger reported for one event.
#[derive(Debug, Clone, Deserialize)]
pub struct TriggerOutcome {
    /// Executions started.
    pub started: Vec<String>,
    /// Objects whose execution already existed.
    pub duplicates: u32,
    /// Records that started nothing, with why.
    pub skipped: Vec<Value>,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Execution {
    /// Its ARN.
    pub arn: String,
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// The states it entered, in order.
    pub states: Vec<String>,
    /// What the Transform state returned, when it succeeded.
    pub transform: Option<TransformResult>,
    /// Final output (on success).
    pub output: Option<Value>,
    /// Error name and cause (on failure).
    pub error: Option<(String, String)>,
}

/// A message published to the failure topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Subject line.
    pub subject: String,
    /// Body.
    pub message: String,
}

impl Stack {
    /// Puts `body` under `key` in the raw bucket.
    pub async fn upload(&self, key: &str, body: Vec<u8>) -> Result<RawObject> {
        let size = body.len() as u64;
        let bucket = &self.names.raw_bucket;
        let put = self
            .clients
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .with_context(|| format!("PutObject {}", S3Uri::new(bucket, key)))?;
        Ok(RawObject {
            bucket: bucket.clone(),
            key: key.to_string(),
            size,
            etag: put.e_tag.unwrap_or_default().trim_matches('"').to_string(),
            version_id: put.version_id,
            sequencer: next_sequencer(),
        })
    }

    /// Delivers the `ObjectCreated` notification for `objects` to s3-trigger.
    pub async fn deliver(&self, objects: &[&RawObject]) -> Result<TriggerOutcome> {
        let body = self.invoke("s3-trigger", &s3_event(objects)?).await?;
        serde_json::from_slice(&body).context("s3-trigger's answer is not a trigger report")
    }

    /// Deletes `key` from the raw bucket (a delete marker: the bucket is versioned) and delivers
    /// its `ObjectRemoved:DeleteMarkerCreated` notification to s3-trigger.
    pub async fn delete_raw(&self, key: &str) -> Result<TriggerOutcome> {
        let bucket = &self.names.raw_bucket;
        let deleted = self
            .clients
            .s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("DeleteObject {}", S3Uri::new(bucket, key)))?;
        let marker = RawObject {
            bucket: bucket.clone(),
            key: key.to_string(),
            size: 0,
            etag: String::new(),
            version_id: deleted.version_id,
            sequencer: next_sequencer(),
        };
        let mut event = s3_event(&[&marker])?;
        let record = &mut event["Records"][0];
        record["eventName"] = "ObjectRemoved:DeleteMarkerCreated".into();
        if let Some(o) = record["s3"]["object"].as_object_mut() {
            o.remove("size");
            o.remove("eTag");
        }
        let body = self.invoke("s3-trigger", &event).await?;
        serde_json::from_slice(&body).context("s3-trigger's answer is not a trigger report")
    }

    /// Waits for an execution to end (at most `timeout`) and reads its history.
    pub async fn follow(&self, arn: &str, timeout: Duration) -> Result<Execution> {
        let deadline = Instant::now() + timeout;
        let described = loop {
            let described = self
                .clients
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .with_context(|| format!("DescribeExecution {arn}"))?;
            if described.status != ExecutionStatus::Running {
                break described;
            }
            self.check_running()?;
            if Instant::now() > deadline {
                bail!(
                    "execution {arn} still running after {timeout:?}; logs: {}",
                    self.log_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };

        let mut states = Vec::new();
        let mut transform = None;
        let mut pages = self
            .clients
            .sfn
            .get_execution_history()
            .execution_arn(arn)
            .into_paginator()
            .items()
            .send();
        while let Some(event) = pages.next().await {
            let event = event.with_context(|| format!("GetExecutionHistory {arn}"))?;
            if let Some(d) = &event.state_entered_event_details {
                states.push(d.name.clone());
            }
            if let Some(d) = &event.state_exited_event_details {
                if d.name == "Transform" {
                    transform = d
                        .output
                        .as_deref()
                        .and_then(|o| serde_json::from_str::<Value>(o).ok())
                        .and_then(|o| serde_json::from_value(o["transform"].clone()).ok());
                }
            }
        }
        Ok(Execution {
            arn: arn.to_string(),
            status: described.status.as_str().to_string(),
            states,
            transform,
            output: described
                .output
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok()),
            error: described
                .error
                .map(|e| (e, described.cause.unwrap_or_default())),
        })
    }

    /// Every key in a bucket under `prefix`, sorted.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.with_context(|| format!("ListObjectsV2 {}", S3Uri::new(bucket, prefix)))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key.clone()));
        }
        keys.sort();
        Ok(keys)
    }

    /// An object's bytes.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let object = self
            .clients
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("GetObject {}", S3Uri::new(bucket, key)))?;
        Ok(object.body.collect().await?.into_bytes().to_vec())
    }

    /// Copies every object of a bucket into `dir` (replacing what was there), keys as paths.
    /// Returns how many files were written.
    pub async fn download(&self, bucket: &str, dir: &Path) -> Result<usize> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot replace {}", dir.display()))?;
        }
        let keys = self.list(bucket, "").await?;
        for key in &keys {
            let path = dir.join(key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, self.get(bucket, key).await?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(keys.len())
    }

    /// The SQL of every query Athena was asked to run, oldest first.
    pub async fn athena_queries(&self) -> Result<Vec<String>> {
        let athena = &self.clients.athena;
        let ids = athena
            .list_query_executions()
            .work_group(&self.names.workgroup)
            .send()
            .await
            .context("ListQueryExecutions")?
            .query_execution_ids
            .unwrap_or_default();
        let mut queries = Vec::new();
        for id in ids {
            let execution = athena
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .with_context(|| format!("GetQueryExecution {id}"))?
                .query_execution
                .context("GetQueryExecution returned nothing")?;
            let submitted = execution
                .status
                .and_then(|s| s.submission_date_time)
                .map_or(0.0, |t| t.as_secs_f64());
            queries.push((submitted, execution.query.unwrap_or_default()));
        }
        queries.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(queries.into_iter().map(|(_, q)| q).collect())
    }

    /// Takes the messages published to the failure topic so far off the subscribed queue.
    pub async fn published(&self) -> Result<Vec<Published>> {
        let sqs = &self.clients.sqs;
        let mut all = Vec::new();
        loop {
            let received = sqs
                .receive_message()
                .queue_url(&self.failure_queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .context("ReceiveMessage")?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(all);
            }
            for message in messages {
                // SNS → SQS wraps the notification in a JSON envelope.
                let envelope: Value =
                    serde_json::from_str(message.body().unwrap_or_default()).unwrap_or_default();
                all.push(Published {
                    subject: envelope["Subject"].as_str().unwrap_or_default().to_string(),
                    message: envelope["Message"].as_str().unwrap_or_default().to_string(),
                });
                if let Some(handle) = message.receipt_handle {
                    sqs.delete_message()
                        .queue_url(&self.failure_queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .context("DeleteMessage")?;
                }
            }
        }
    }
}

/// An `ObjectCreated:Put` notification for `objects`, shaped like `events/s3-put.json`.
pub fn s3_event(objects: &[&RawObject]) -> Result<Value> {
    let sample: Value = serde_json::from_str(S3_EVENT).context("events/s3-put.json")?;
    let template = &sample["Records"][0];
    let records = objects
        .iter()
        .map(|object| {
            let mut record = template.clone();
            // S3 stamps the notification with the object's creation: now, here.
            record["eventTime"] =
                etl_core::timefmt::rfc3339_of(std::time::SystemTime::now()).into();
            let s3 = &mut record["s3"];
            s3["bucket"]["name"] = object.bucket.clone().into();
            s3["bucket"]["arn"] = format!("arn:aws:s3:::{}", object.bucket).into();
            let o = &mut s3["object"];
            o["key"] = encode_key(&object.key).into();
            o["size"] = object.size.into();
            o["eTag"] = object.etag.clone().into();
            o["sequencer"] = object.sequencer.clone().into();
            match &object.version_id {
                Some(v) => o["versionId"] = v.clone().into(),
                None => {
                    if let Some(o) = o.as_object_mut() {
                        o.remove("versionId");
                    }
                }
            }
            record
        })
        .collect::<Vec<_>>();
    Ok(serde_json::json!({ "Records": records }))
}

/// Encodes a key the way S3 event notifications do (form encoding: space → `+`, `/` kept).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_like_s3_notifications() {
        // The sample event's key, decoded: iot/2020/06/24/sensor readings été batch#1.ndjson
        let sample: Value = serde_json::from_str(S3_EVENT).unwrap();
        assert_eq!(
            encode_key("iot/2020/06/24/sensor readings été batch#1.ndjson"),
            sample["Records"][0]["s3"]["object"]["key"]
        );
        assert_eq!(encode_key("a+b"), "a%2Bb");
    }

    #[test]
    fn events_describe_each_object() {
        let object = RawObject {
            bucket: "raw".into(),
            key: "iot/a b.json".into(),
            size: 7,
            etag: "abc".into(),
            version_id: None,
            sequencer: next_sequencer(),
        };
        assert!(
            next_sequencer() > object.sequencer,
            "each upload's is greater"
        );
        let event = s3_event(&[&object, &object]).unwrap();
        let records = event["Records"].as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["s3"]["object"]["key"], "iot/a+b.json");
        assert_eq!(records[0]["s3"]["bucket"]["name"], "raw");
        assert_eq!(records[0]["s3"]["object"]["size"], 7);
        assert!(records[0]["s3"]["object"].get("versionId").is_none());
        assert_eq!(records[0]["eventName"], "ObjectCreated:Put");
    }
}
