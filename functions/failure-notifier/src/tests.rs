use etl_core::ports::local::RecordingNotifier;

use super::*;

const CATCH: &str = include_str!("../../../events/failure-catch.json");
const EVENTBRIDGE: &str = include_str!("../../../events/failure-eventbridge.json");

#[tokio::test]
async fn a_caught_error_names_object_stage_error_and_what_to_do() {
    let sns = RecordingNotifier::default();
    let event: FailureEvent = serde_json::from_str(CATCH).unwrap();
    assert!(matches!(event, FailureEvent::Report(_)));
    let n = handle(&sns, event).await.unwrap();
    assert_eq!(n.message_id.as_deref(), Some("local-message-1"));
    assert_eq!(n.subject, "ETL failed: iot_sensors: Transform (BadInput)");
    let (_, body) = sns.messages.lock().unwrap()[0].clone();
    assert!(body.starts_with("The ETL pipeline failed for s3://etl-raw-123456789012/iot/2020/06/24/sensor readings été batch#1.ndjson (dataset iot_sensors)."), "{body}");
    assert!(body.contains("Error:      BadInput\n"), "{body}");
    assert!(body.contains("Message:    s3://etl-raw-123456789012/iot/2020/06/24/sensor readings été batch#1.ndjson: the JSON array is broken at line 5001"), "{body}");
    assert!(body.contains("Console:    https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:etl-pipeline:"), "{body}");
    assert!(body.contains("What to do: fix the object"), "{body}");
    assert!(
        body.contains("Cleaned up: 0 files the failed attempts had left\n"),
        "{body}"
    );
}

/// Lambda stopping the transform at its timeout: the message says what the clean-up deleted and
/// what to change.
#[tokio::test]
async fn a_transform_lambda_stopped_says_what_was_cleaned_up_and_what_to_change() {
    let sns = RecordingNotifier::default();
    let mut event: serde_json::Value = serde_json::from_str(CATCH).unwrap();
    event["error"] = serde_json::json!({
        "Error": "Sandbox.Timedout",
        "Cause": "{\"errorType\":\"Sandbox.Timedout\",\"errorMessage\":\"Task timed out after 900.00 seconds\"}"
    });
    event["clean_up"]["deleted"] = serde_json::json!([
        "tables/iot/sensor_readings/year=2020/month=06/device_id=A/part-x-0.snappy.parquet"
    ]);
    let n = handle(&sns, serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    assert_eq!(
        n.subject,
        "ETL failed: iot_sensors: Transform (Sandbox.Timedout)"
    );
    let (_, body) = sns.messages.lock().unwrap()[0].clone();
    assert!(
        body.contains("Message:    Task timed out after 900.00 seconds\n"),
        "{body}"
    );
    assert!(
        body.contains("Cleaned up: 1 files the failed attempts had left\n"),
        "{body}"
    );
    assert!(
        body.contains("What to do: Lambda stopped the function before it finished"),
        "{body}"
    );
}

/// The clean-up after a failed transform failed too: the message says so, and what happens to
/// the files it could not delete.
#[tokio::test]
async fn a_failed_clean_up_is_reported_with_the_failure() {
    let sns = RecordingNotifier::default();
    let mut event: serde_json::Value = serde_json::from_str(CATCH).unwrap();
    event.as_object_mut().unwrap().remove("clean_up");
    event["clean_up_error"] = serde_json::json!({
        "Error": "Retryable",
        "Cause": "{\"errorType\":\"Retryable\",\"errorMessage\":\"ListObjectsV2 s3://curated/tables/: SlowDown\"}"
    });
    handle(&sns, serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    let (_, body) = sns.messages.lock().unwrap()[0].clone();
    assert!(!body.contains("Cleaned up:"), "{body}");
    assert!(body.contains("Clean-up:   FAILED (Retryable: ListObjectsV2 s3://curated/tables/: SlowDown). Files of the failed attempt may be left"), "{body}");
}

#[tokio::test]
async fn a_timed_out_execution_from_eventbridge_is_reported() {
    let sns = RecordingNotifier::default();
    let event: FailureEvent = serde_json::from_str(EVENTBRIDGE).unwrap();
    let n = handle(&sns, event).await.unwrap();
    assert_eq!(
        n.subject,
        "ETL failed: iot_sensors: Execution TIMED_OUT (States.TIMED_OUT)"
    );
    let (_, body) = sns.messages.lock().unwrap()[0].clone();
    assert!(
        body.contains("s3://etl-raw-123456789012/iot/2020/06/24/batch 1.ndjson"),
        "{body}"
    );
    assert!(
        body.contains("start a new execution with this execution's input"),
        "{body}"
    );
}

#[tokio::test]
async fn failures_the_state_machine_reported_are_not_reported_twice() {
    let sns = RecordingNotifier::default();
    let text = EVENTBRIDGE.replace("\"TIMED_OUT\"", "\"FAILED\"").replace(
        "\"error\": null",
        &format!("\"error\": \"{PIPELINE_FAILED}\""),
    );
    let n = handle(&sns, serde_json::from_str(&text).unwrap())
        .await
        .unwrap();
    assert_eq!(n.message_id, None);
    assert!(n.skipped.is_some());
    assert!(sns.messages.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_data_quality_failure_gives_counts_and_the_rejected_file() {
    let sns = RecordingNotifier::default();
    let mut report: FailureReport = serde_json::from_str(CATCH).unwrap();
    report.stage = etl_core::contract::Stage::DataQuality;
    report.error = None;
    let mut transform: etl_core::contract::TransformResult = serde_json::from_value(
        serde_json::from_str::<serde_json::Value>(include_str!(
            "../../../events/catalog-update.json"
        ))
        .unwrap()["transform"]
            .clone(),
    )
    .unwrap();
    transform.threshold_crossed = true;
    transform.records_written = 0;
    transform.values_nulled = 3;
    transform.nulled_by_field = [("humidity".to_string(), 1), ("pressure".to_string(), 2)].into();
    report.transform = Some(transform);
    let n = handle(&sns, FailureEvent::Report(Box::new(report)))
        .await
        .unwrap();
    assert_eq!(
        n.subject,
        "ETL failed: iot_sensors: DataQuality (DataQualityThresholdExceeded)"
    );
    let (_, body) = sns.messages.lock().unwrap()[0].clone();
    assert!(body.contains("Records:    10 in, 0 written, 4 rejected (invalid_json: 1, missing_required_field: 1, out_of_range: 1, type_mismatch: 1)"), "{body}");
    assert!(
        body.contains("Nulled:     3 values that could not be cast (humidity: 1, pressure: 2)"),
        "{body}"
    );
    assert!(
        body.contains("Rejected:   s3://etl-curated-123456789012/rejected/iot_sensors/rejected-"),
        "{body}"
    );
}

#[test]
fn subjects_fit_sns() {
    let long = subject(&format!("ETL failed: {}", "é".repeat(300)));
    assert!(long.len() < 100 && long.is_ascii(), "{long}");
    assert!(long.ends_with("..."));
    assert_eq!(subject("a\nb"), "a?b");
    assert_eq!(console_link("nonsense"), None);
}

#[tokio::test]
async fn sns_errors_are_classified() {
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    let rule = mock!(aws_sdk_sns::Client::publish).then_http_response(|| etl_aws::testing::http_response(400, "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"));
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule], |c| c
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));
    let sns = etl_aws::sns::SnsNotifier::new(client, "arn:topic");
    let err = handle(&sns, serde_json::from_str(CATCH).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.name, "Retryable");
}
