use aws_lambda_events::event::s3::S3Event;
use etl_core::ports::local::{LocalObjects, RecordingStarter};

use super::*;

const S3_PUT: &str = include_str!("../../../events/s3-put.json");

fn deps() -> Deps<RecordingStarter, LocalObjects> {
    Deps {
        starter: RecordingStarter::default(),
        objects: LocalObjects::new(std::env::temp_dir().join("s3-trigger-tests-nothing-here")),
        datasets: etl_aws::lambda::embedded_datasets().unwrap(),
    }
}

#[tokio::test]
async fn a_backfill_starts_the_objects_already_there_once() {
    let dir = tempfile::tempdir().unwrap();
    let objects = LocalObjects::new(dir.path());
    for key in [
        "iot/old/a b.ndjson",
        "iot/old/ü+1.json",
        "iot/old/notes.txt",
        "other/x.json",
    ] {
        let path = objects.path("raw", key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"{}\n").unwrap();
    }
    let deps = Deps { objects, ..deps() };
    let request: TriggerEvent =
        serde_json::from_str(r#"{"backfill": {"bucket": "raw", "prefix": "iot/"}}"#).unwrap();
    let report = handle_event(&deps, request.clone()).await.unwrap();
    assert_eq!(report.started.len(), 2, "{report:?}");
    assert_eq!(report.skipped.len(), 1, "notes.txt matches no dataset");
    let mut keys: Vec<String> = deps
        .starter
        .started
        .lock()
        .unwrap()
        .iter()
        .map(|(_, input)| {
            let input: PipelineInput = serde_json::from_str(input).unwrap();
            assert_eq!(input.object.sequencer.as_deref(), Some(BACKFILL_SEQUENCER));
            assert!(input.object.etag.is_some() && input.object.size == 3);
            // The listing's time is the object's creation time (a file's modification here).
            let created = input.object.created.as_deref().expect("a creation time");
            let created_at = chrono::DateTime::parse_from_rfc3339(created)
                .unwrap()
                .timestamp();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            assert!((now - created_at).abs() < 600, "{created}");
            input.object.key
        })
        .collect();
    keys.sort();
    assert_eq!(keys, ["iot/old/a b.ndjson", "iot/old/ü+1.json"]);
    // Safe to run twice: nothing new starts.
    let again = handle_event(&deps, request).await.unwrap();
    assert_eq!((again.started.len(), again.duplicates), (0, 2));
    // An S3 notification still goes through the same door.
    let event: TriggerEvent = serde_json::from_str(S3_PUT).unwrap();
    assert_eq!(handle_event(&deps, event).await.unwrap().started.len(), 1);
}

fn event() -> S3Event {
    serde_json::from_str(S3_PUT).unwrap()
}

#[tokio::test]
async fn the_sample_event_starts_one_execution_with_the_decoded_key() {
    let deps = deps();
    let report = handle(&deps, event()).await.unwrap();
    assert_eq!(report.started.len(), 1);
    assert_eq!(
        report.skipped,
        vec![Skipped {
            key: "iot/2020/06/".into(),
            reason: "a zero-byte folder marker".into()
        }]
    );
    let started = deps.starter.started.lock().unwrap();
    let (name, input) = &started[0];
    let input: PipelineInput = serde_json::from_str(input).unwrap();
    assert_eq!(input.dataset, "iot_sensors");
    assert_eq!(input.object.bucket, "etl-raw-123456789012");
    assert_eq!(
        input.object.key,
        "iot/2020/06/24/sensor readings été batch#1.ndjson"
    );
    assert_eq!(
        input.object.version_id.as_deref(),
        Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
    );
    assert_eq!(
        input.object.etag.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(input.object.size, 1445);
    assert_eq!(
        input.object.created.as_deref(),
        Some("2020-06-24T13:57:30.000Z"),
        "the event's time is the object's creation"
    );
    assert!(
        name.len() <= 80
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{name}"
    );
    assert!(name.starts_with("iot_sensors-sensor_readings"), "{name}");
}

const S3_DELETE: &str = include_str!("../../../events/s3-delete.json");

#[tokio::test]
async fn a_delete_removes_rows_only_where_the_dataset_says_so() {
    let delete: S3Event = serde_json::from_str(S3_DELETE).unwrap();
    // The shipped dataset keeps the rows of deleted objects.
    let keep = deps();
    let report = handle(&keep, delete.clone()).await.unwrap();
    assert!(report.started.is_empty());
    assert_eq!(
        report.skipped[0].reason,
        "the dataset keeps the rows of deleted objects (on_delete = \"keep\")"
    );
    let mut remove = deps();
    for d in &mut remove.datasets {
        d.on_delete = OnDelete::Remove;
    }
    let report = handle(&remove, delete).await.unwrap();
    assert_eq!(report.started.len(), 1);
    let started = remove.starter.started.lock().unwrap();
    let input: PipelineInput = serde_json::from_str(&started[0].1).unwrap();
    assert!(input.removed);
    assert_eq!(
        input.object.key,
        "iot/2020/06/24/sensor readings été batch#1.ndjson"
    );
    // A delete marker deletes no version: the object as a whole is gone.
    assert_eq!(input.object.version_id, None);
    assert_eq!(
        input.object.sequencer.as_deref(),
        Some("0055AED6DCD9028F00")
    );
    // Its execution is not the upload's.
    let mut created = input.clone();
    created.removed = false;
    assert_ne!(execution_name(&input), execution_name(&created));
}

#[tokio::test]
async fn a_duplicate_delivery_starts_nothing_new() {
    let deps = deps();
    handle(&deps, event()).await.unwrap();
    let again = handle(&deps, event()).await.unwrap();
    assert!(again.started.is_empty());
    assert_eq!(again.duplicates, 1);
    assert_eq!(deps.starter.started.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn keys_of_no_dataset_and_other_events_are_skipped() {
    let deps = deps();
    let text = S3_PUT.replace("iot/2020/06/24/sensor+readings", "other/sensor+readings");
    let report = handle(&deps, serde_json::from_str(&text).unwrap())
        .await
        .unwrap();
    assert!(report.started.is_empty());
    assert_eq!(
        report.skipped[0].reason,
        "no dataset's prefix and suffixes match the key"
    );
    let restored = S3_PUT.replace("ObjectCreated:Put", "ObjectRestore:Completed");
    let report = handle(&deps, serde_json::from_str(&restored).unwrap())
        .await
        .unwrap();
    assert!(report.started.is_empty());
    assert!(report.skipped.iter().all(|s| s
        .reason
        .contains("is neither ObjectCreated nor ObjectRemoved")));
}

#[test]
fn keys_decode_like_s3_encodes_them() {
    assert_eq!(decode_key("Happy+Face%21.jpg").unwrap(), "Happy Face!.jpg");
    assert_eq!(decode_key("a%2Bb+c").unwrap(), "a+b c");
    assert_eq!(decode_key("caf%C3%A9").unwrap(), "café");
    assert!(decode_key("bad%zz").is_err());
    assert!(decode_key("bad%FF").is_err());
}

#[test]
fn execution_names_are_stable_short_and_distinct() {
    let input = |key: &str, version: Option<&str>| PipelineInput {
        dataset: "iot_sensors".into(),
        object: ObjectRef {
            bucket: "raw".into(),
            key: key.into(),
            version_id: version.map(String::from),
            etag: None,
            size: 1,
            sequencer: Some("0055AED6DCD90281E5".into()),
            created: None,
        },
        removed: false,
    };
    let long = format!("iot/{}.json", "x".repeat(200));
    for i in [
        input("iot/a.json", None),
        input(&long, Some("v")),
        input("iot/ü ü.json", None),
    ] {
        let n = execution_name(&i);
        assert!(n.len() <= 80, "{n}");
        assert_eq!(n, execution_name(&i));
    }
    assert_ne!(
        execution_name(&input("iot/a.json", Some("v1"))),
        execution_name(&input("iot/a.json", Some("v2")))
    );
    // The same bytes uploaded again (same ETag, unversioned bucket) are a new event.
    let first = input("iot/a.json", None);
    let mut again = first.clone();
    again.object.sequencer = Some("0055AED6DCD90281F0".into());
    assert_ne!(execution_name(&first), execution_name(&again));
}

#[tokio::test]
async fn throttled_starts_fail_the_invocation_as_retryable() {
    use aws_sdk_sfn::operation::start_execution::StartExecutionOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    let throttled = mock!(aws_sdk_sfn::Client::start_execution).then_http_response(|| {
        etl_aws::testing::http_response(
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
    });
    let ok = mock!(aws_sdk_sfn::Client::start_execution).then_output(|| {
        StartExecutionOutput::builder()
            .execution_arn("arn:exec")
            .start_date(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&throttled, &ok], |c| c
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));
    let deps = Deps {
        starter: etl_aws::sfn::SfnStarter::new(client, "arn:sm"),
        objects: LocalObjects::new(std::env::temp_dir()),
        datasets: etl_aws::lambda::embedded_datasets().unwrap(),
    };
    let err = handle(&deps, event()).await.unwrap_err();
    assert_eq!(err.name, "Retryable");
    assert!(
        err.message.contains("ThrottlingException: Rate exceeded"),
        "{}",
        err.message
    );
    let report = handle(&deps, event()).await.unwrap();
    assert_eq!(report.started, vec!["arn:exec".to_string()]);
}
