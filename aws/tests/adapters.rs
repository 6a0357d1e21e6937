//! The AWS adapters against SDK clients whose responses come from aws-smithy-mocks: success,
//! throttling, not found, and the service-specific answers the stages depend on.

use std::io::{Read, Write};
use std::sync::Arc;

use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_table_metadata::{
    GetTableMetadataError, GetTableMetadataOutput,
};
use aws_sdk_athena::types::{
    QueryExecution, QueryExecutionState, QueryExecutionStatistics, QueryExecutionStatus,
};
use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::types::error::ExecutionAlreadyExists;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use etl_aws::athena::AthenaEngine;
use etl_aws::s3::{
    S3Objects, COMMITS_IN_FLIGHT, PARTS_IN_FLIGHT, PART_SIZE, RANGED_FROM, RANGE_BYTES, READ_AHEAD,
};
use etl_aws::sfn::SfnStarter;
use etl_aws::sns::SnsNotifier;
use etl_aws::testing::http_response;
use etl_core::contract::QueryState;
use etl_core::ports::{
    ExecutionStarter, FailureKind, Notifier, ObjectStore, Precondition, QueryEngine, StartOutcome,
};

#[tokio::test]
async fn a_duplicate_execution_name_is_not_an_error() {
    let exists = mock!(aws_sdk_sfn::Client::start_execution)
        .match_requests(|r| r.name() == Some("dup"))
        .then_error(|| {
            StartExecutionError::ExecutionAlreadyExists(
                ExecutionAlreadyExists::builder().message("exists").build(),
            )
        });
    let started = mock!(aws_sdk_sfn::Client::start_execution)
        .match_requests(|r| r.name() == Some("new") && r.state_machine_arn() == Some("arn:sm"))
        .then_output(|| {
            StartExecutionOutput::builder()
                .execution_arn("arn:exec:new")
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
    let throttled = mock!(aws_sdk_sfn::Client::start_execution)
        .match_requests(|r| r.name() == Some("busy"))
        .then_http_response(|| {
            http_response(
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            )
        });
    let client = mock_client!(
        aws_sdk_sfn,
        RuleMode::MatchAny,
        [&exists, &started, &throttled],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let starter = SfnStarter::new(client, "arn:sm");
    assert_eq!(
        starter.start("dup", "{}").await.unwrap(),
        StartOutcome::AlreadyExists
    );
    assert_eq!(
        starter.start("new", "{}").await.unwrap(),
        StartOutcome::Started("arn:exec:new".into())
    );
    let err = starter.start("busy", "{}").await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str()),
        (FailureKind::Retryable, "ThrottlingException")
    );
    assert_eq!(
        err.to_string(),
        "StartExecution busy: ThrottlingException: Rate exceeded"
    );
}

#[tokio::test]
async fn athena_table_lookup_and_query_states() {
    let missing = mock!(aws_sdk_athena::Client::get_table_metadata)
        .match_requests(|r| r.table_name() == Some("missing"))
        .then_http_response(|| {
            http_response(400, r#"{"__type":"MetadataException","Message":"Table missing not found in database iot"}"#)
        });
    let present = mock!(aws_sdk_athena::Client::get_table_metadata)
        .match_requests(|r| r.table_name() == Some("present"))
        .then_output(|| GetTableMetadataOutput::builder().build());
    let busy = mock!(aws_sdk_athena::Client::get_table_metadata)
        .match_requests(|r| r.table_name() == Some("busy"))
        .then_error(|| {
            // Not a modelled error of this operation: Athena sends it as a generic one.
            GetTableMetadataError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("TooManyRequestsException")
                    .message("slow down")
                    .build(),
            )
        });
    let failed = mock!(aws_sdk_athena::Client::get_query_execution)
        .match_requests(|r| r.query_execution_id() == Some("q-failed"))
        .then_output(|| {
            GetQueryExecutionOutput::builder()
                .query_execution(
                    QueryExecution::builder()
                        .status(
                            QueryExecutionStatus::builder()
                                .state(QueryExecutionState::Failed)
                                .state_change_reason("FAILED: line 1:8: mismatched input")
                                .build(),
                        )
                        .statistics(
                            QueryExecutionStatistics::builder()
                                .engine_execution_time_in_millis(12)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let running = mock!(aws_sdk_athena::Client::get_query_execution)
        .match_requests(|r| r.query_execution_id() == Some("q-running"))
        .then_output(|| {
            GetQueryExecutionOutput::builder()
                .query_execution(
                    QueryExecution::builder()
                        .status(
                            QueryExecutionStatus::builder()
                                .state(QueryExecutionState::Running)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let client = mock_client!(
        aws_sdk_athena,
        RuleMode::MatchAny,
        [&missing, &present, &busy, &failed, &running],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let athena = AthenaEngine::new(client, "etl");
    assert!(!athena.table_exists("iot", "missing").await.unwrap());
    assert!(athena.table_exists("iot", "present").await.unwrap());
    let err = athena.table_exists("iot", "busy").await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str()),
        (FailureKind::Retryable, "TooManyRequestsException")
    );
    let info = athena.status("q-failed").await.unwrap();
    assert_eq!(info.state, QueryState::Failed);
    assert_eq!(
        info.reason.as_deref(),
        Some("FAILED: line 1:8: mismatched input")
    );
    assert_eq!(info.engine_execution_ms, Some(12));
    assert_eq!(
        athena.status("q-running").await.unwrap().state,
        QueryState::Running
    );
}

#[tokio::test]
async fn s3_streams_objects_and_reports_missing_ones() {
    let found = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("iot/a b.json") && r.version_id() == Some("v1"))
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(b"{\"a\":1}\n"))
                .build()
        });
    let gone = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("iot/gone.json"))
        .then_http_response(|| {
            http_response(
                404,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
            )
        });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&found, &gone], |c| c
        .retry_config(RetryConfig::disabled()));
    let s3 = S3Objects::new(client);
    let reader = s3.open("raw", "iot/a b.json", Some("v1")).await.unwrap();
    let text = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut s = String::new();
        reader.read_to_string(&mut s).map(|_| s)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text, "{\"a\":1}\n");
    let err = s3.open("raw", "iot/gone.json", None).await.err().unwrap();
    assert_eq!(
        (err.kind, err.code.as_str()),
        (FailureKind::NotFound, "NoSuchKey")
    );
}

/// The manifest's conditional writes: the headers S3 decides on, and a lost condition (412, or
/// 409 while another conditional write is in progress) is `false`, not an error.
#[tokio::test]
async fn s3_conditional_writes_say_whether_they_won() {
    let created = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("m/new.json") && r.if_none_match() == Some("*"))
        .then_output(|| PutObjectOutput::builder().e_tag("\"e1\"").build());
    let changed = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("m/a.json") && r.if_match() == Some("\"e1\""))
        .then_output(|| PutObjectOutput::builder().e_tag("\"e2\"").build());
    let lost = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("m/a.json") && r.if_match() == Some("\"old\""))
        .then_http_response(|| {
            http_response(
                412,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
            )
        });
    let conflict = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("m/busy.json"))
        .then_http_response(|| {
            http_response(
                409,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ConditionalRequestConflict</Code><Message>A conflicting operation is in progress</Message></Error>",
            )
        });
    let denied = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("m/denied.json"))
        .then_http_response(|| {
            http_response(
                403,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            )
        });
    let tagged = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("m/a.json"))
        .then_output(|| {
            GetObjectOutput::builder()
                .e_tag("\"e1\"")
                .body(ByteStream::from_static(b"{}"))
                .build()
        });
    let missing = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("m/new.json"))
        .then_http_response(|| {
            http_response(
                404,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
            )
        });
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&created, &changed, &lost, &conflict, &denied, &tagged, &missing],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let s3 = S3Objects::new(client);
    let body = || b"{}".to_vec();
    assert!(s3
        .put_if("b", "m/new.json", body(), &Precondition::Absent)
        .await
        .unwrap());
    let e1 = Precondition::Unchanged("\"e1\"".into());
    assert!(s3.put_if("b", "m/a.json", body(), &e1).await.unwrap());
    let old = Precondition::Unchanged("\"old\"".into());
    assert!(!s3.put_if("b", "m/a.json", body(), &old).await.unwrap());
    assert!(!s3.put_if("b", "m/busy.json", body(), &e1).await.unwrap());
    let err = s3
        .put_if("b", "m/denied.json", body(), &e1)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str()),
        (FailureKind::Permanent, "AccessDenied")
    );
    let got = s3.get_tagged("b", "m/a.json").await.unwrap().unwrap();
    assert_eq!(
        (got.body.as_slice(), got.etag.as_str()),
        (&b"{}"[..], "\"e1\"")
    );
    assert_eq!(s3.get_tagged("b", "m/new.json").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_reads_ahead_of_the_engine_without_losing_or_reordering_bytes() {
    // Larger than the read-ahead budget, so the download has to wait for the reader.
    let body: Vec<u8> = (0..3 * READ_AHEAD + 12_345)
        .map(|i| (i % 251) as u8)
        .collect();
    let expected = body.clone();
    let big = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
        GetObjectOutput::builder()
            .body(ByteStream::from(body.clone()))
            .build()
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&big], |c| c
        .retry_config(RetryConfig::disabled()));
    let reader = S3Objects::new(client)
        .open("raw", "iot/big.json", None)
        .await
        .unwrap();
    let read = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 100_000];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap();
    assert!(read == expected, "same bytes in the same order");
}

/// Reads a whole object through the port's blocking reader.
async fn read_whole(reader: Box<dyn Read + Send>) -> std::io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map(|_| out)
    })
    .await
    .unwrap()
}

/// A large object: its first range from the plain GetObject's stream, the rest as ranged GETs
/// pinned to the first response's ETag and version, put back in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_reads_a_large_object_as_ranges_of_its_version_in_order() {
    let size = 3 * RANGE_BYTES + RANGE_BYTES / 2 + 1_234;
    assert!(size > RANGED_FROM);
    let body: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i % 253) as u8).collect());
    let whole = {
        let body = Arc::clone(&body);
        mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| r.range().is_none() && r.version_id().is_none())
            .then_output(move || {
                GetObjectOutput::builder()
                    .body(ByteStream::from(body.to_vec()))
                    .content_length(size as i64)
                    .e_tag("\"v1\"")
                    .version_id("ver-1")
                    .build()
            })
    };
    let ranges: Vec<_> = (1..4)
        .map(|k| {
            let start = k * RANGE_BYTES;
            let end = (start + RANGE_BYTES).min(size);
            let range = format!("bytes={start}-{}", end - 1);
            let body = Arc::clone(&body);
            mock!(aws_sdk_s3::Client::get_object)
                .match_requests(move |r| {
                    r.range() == Some(range.as_str())
                        && r.if_match() == Some("\"v1\"")
                        && r.version_id() == Some("ver-1")
                })
                .then_output(move || {
                    GetObjectOutput::builder()
                        .body(ByteStream::from(
                            body[start as usize..end as usize].to_vec(),
                        ))
                        .build()
                })
        })
        .collect();
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&whole, &ranges[0], &ranges[1], &ranges[2]],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let reader = S3Objects::new(client)
        .open("raw", "iot/big.json", None)
        .await
        .unwrap();
    let read = read_whole(reader).await.unwrap();
    assert!(read == *body, "same bytes in the same order");
    assert_eq!(whole.num_calls(), 1);
    assert!(ranges.iter().all(|r| r.num_calls() == 1));
}

/// A range of a version that is gone (the key was overwritten while it was read) fails the read,
/// naming the object and the bytes; nothing of the newer version is read into the older one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_large_object_replaced_while_read_fails_its_read() {
    let size = RANGED_FROM + 1;
    let whole = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.range().is_none())
        .then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(vec![b' '; size as usize]))
                .content_length(size as i64)
                .e_tag("\"v1\"")
                .build()
        });
    let changed = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.range().is_some())
        .then_http_response(|| {
            http_response(
                412,
                "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
            )
        });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&whole, &changed], |c| c
        .retry_config(RetryConfig::disabled()));
    let reader = S3Objects::new(client)
        .open("raw", "iot/big.json", None)
        .await
        .unwrap();
    let error = read_whole(reader).await.unwrap_err().to_string();
    assert!(
        error.contains("GetObject s3://raw/iot/big.json (bytes 8388608-")
            && error.contains("PreconditionFailed"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_output_puts_small_files_and_uploads_large_ones_in_parts() {
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| {
            r.bucket() == Some("curated") && r.key() == Some("tables/t/small.parquet")
        })
        .then_output(|| PutObjectOutput::builder().build());
    let create = mock!(aws_sdk_s3::Client::create_multipart_upload).then_output(|| {
        CreateMultipartUploadOutput::builder()
            .upload_id("up-1")
            .build()
    });
    let part = mock!(aws_sdk_s3::Client::upload_part)
        .match_requests(|r| r.upload_id() == Some("up-1"))
        .then_output(|| UploadPartOutput::builder().e_tag("etag").build());
    let complete = mock!(aws_sdk_s3::Client::complete_multipart_upload)
        .match_requests(|r| {
            r.key() == Some("tables/t/large.parquet")
                && r.multipart_upload().map(|m| m.parts().len()) == Some(3)
        })
        .then_output(|| CompleteMultipartUploadOutput::builder().build());
    let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload)
        .match_requests(|r| r.key() == Some("tables/t/abandoned.parquet"))
        .then_output(|| AbortMultipartUploadOutput::builder().build());
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&put, &create, &part, &complete, &abort],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let store = S3Objects::new(client).output_store("curated", "tables/t/");
    assert_eq!(store.uri("x.parquet"), "s3://curated/tables/t/x.parquet");
    let sizes = tokio::task::spawn_blocking(move || {
        let mut small = store.create("small.parquet").unwrap();
        small.write_all(b"PAR1").unwrap();
        assert_eq!(small.pending_bytes(), 4);
        let small = small.commit().unwrap();
        let mut large = store.create("large.parquet").unwrap();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..(2 * PART_SIZE / chunk.len() + 3) {
            large.write_all(&chunk).unwrap();
        }
        assert!(
            large.pending_bytes() <= (PARTS_IN_FLIGHT + 1) * PART_SIZE,
            "full parts are sent as they fill; bytes in flight still count"
        );
        let large = large.commit().unwrap();
        let mut abandoned = store.create("abandoned.parquet").unwrap();
        abandoned.write_all(&vec![1u8; PART_SIZE]).unwrap();
        drop(abandoned);
        store.sync().unwrap();
        (small, large)
    })
    .await
    .unwrap();
    assert_eq!(sizes, (4, (2 * PART_SIZE + (3 << 20)) as u64));
    assert_eq!(put.num_calls(), 1);
    assert_eq!(create.num_calls(), 2);
    assert!(
        (3..=4).contains(&part.num_calls()),
        "large: 2 full parts + the rest; abandoned: its part cancelled in flight or sent ({})",
        part.num_calls()
    );
    assert_eq!(complete.num_calls(), 1);
    assert_eq!(abort.num_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_commits_run_in_the_background_and_sync_reports_every_failure() {
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key().is_some_and(|k| k.starts_with("tables/t/ok-")))
        .then_output(|| PutObjectOutput::builder().build());
    let denied = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("tables/t/denied.parquet"))
        .then_http_response(|| {
            http_response(
                403,
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            )
        });
    let create = mock!(aws_sdk_s3::Client::create_multipart_upload).then_output(|| {
        CreateMultipartUploadOutput::builder()
            .upload_id("up-2")
            .build()
    });
    let part = mock!(aws_sdk_s3::Client::upload_part)
        .then_output(|| UploadPartOutput::builder().e_tag("etag").build());
    let incomplete =
        mock!(aws_sdk_s3::Client::complete_multipart_upload).then_http_response(|| {
            http_response(
                503,
                "<Error><Code>SlowDown</Code><Message>Reduce your request rate</Message></Error>",
            )
        });
    let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload)
        .match_requests(|r| r.upload_id() == Some("up-2"))
        .then_output(|| AbortMultipartUploadOutput::builder().build());
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&put, &denied, &create, &part, &incomplete, &abort],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let store = S3Objects::new(client).output_store("curated", "tables/t/");
    let files = 3 * COMMITS_IN_FLIGHT;
    let (ok_sync, failed_sync) = tokio::task::spawn_blocking(move || {
        for i in 0..files {
            let mut file = store.create(&format!("ok-{i}.parquet")).unwrap();
            file.write_all(b"PAR1").unwrap();
            assert_eq!(file.commit().unwrap(), 4);
        }
        let ok_sync = store.sync();
        let mut denied = store.create("denied.parquet").unwrap();
        denied.write_all(b"PAR1").unwrap();
        assert_eq!(
            denied.commit().unwrap(),
            4,
            "a PUT fails after commit returns"
        );
        let mut large = store.create("large.parquet").unwrap();
        large.write_all(&vec![1u8; PART_SIZE]).unwrap();
        large.write_all(b"!").unwrap();
        large.commit().unwrap();
        let failed_sync = store.sync().map_err(|e| e.to_string());
        assert!(store.sync().is_ok(), "sync reports each failure once");
        (ok_sync, failed_sync)
    })
    .await
    .unwrap();
    ok_sync.unwrap();
    assert_eq!(put.num_calls(), files);
    let message = failed_sync.unwrap_err();
    assert!(
        message.contains("tables/t/denied.parquet") && message.contains("AccessDenied"),
        "the first failure names its object: {message}"
    );
    assert_eq!(part.num_calls(), 2);
    assert_eq!(
        (incomplete.num_calls(), abort.num_calls()),
        (1, 1),
        "a multipart upload that cannot complete is aborted"
    );
}

#[tokio::test]
async fn sns_publishes_subject_and_message() {
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| r.topic_arn() == Some("arn:topic") && r.subject() == Some("s"))
        .then_output(|| {
            aws_sdk_sns::operation::publish::PublishOutput::builder()
                .message_id("m-1")
                .build()
        });
    let client = mock_client!(aws_sdk_sns, [&publish]);
    let sns = SnsNotifier::new(client, "arn:topic");
    assert_eq!(sns.publish("s", "body").await.unwrap(), "m-1");
}
