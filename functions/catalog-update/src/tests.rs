use etl_core::contract::CatalogRequest;
use etl_core::output::LocalDir;
use etl_core::ports::local::{LocalObjects, RecordingQueryEngine};
use etl_core::{Engine, SourceObject};

use super::*;

const EVENT: &str = include_str!("../../../events/catalog-update.json");
const SAMPLE: &str = include_str!("../../../datasets/samples/iot_sensors.ndjson");

/// A fixture with the sample's real summary stored where the event says it is.
fn fixture() -> (
    tempfile::TempDir,
    Deps<LocalObjects, RecordingQueryEngine>,
    CatalogRequest,
) {
    let dir = tempfile::tempdir().unwrap();
    let datasets = etl_aws::lambda::embedded_datasets().unwrap();
    let request: CatalogRequest = serde_json::from_str(EVENT).unwrap();
    let summary = Engine::new(&datasets[0])
        .transform(
            SAMPLE.as_bytes(),
            &SourceObject::local_file("sample"),
            &LocalDir::new(dir.path().join("out")),
            &LocalDir::new(dir.path().join("rejected")),
        )
        .unwrap();
    let objects = LocalObjects::new(dir.path());
    let uri = S3Uri::parse_object(&request.transform.summary_uri).unwrap();
    let path = objects.path(&uri.bucket, &uri.key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(&summary).unwrap()).unwrap();
    let deps = Deps {
        objects,
        queries: RecordingQueryEngine::default(),
        datasets,
        table_lookup: true,
    };
    (dir, deps, request)
}

/// Runs the handler until it says no DDL remains, as the state machine does.
async fn run_to_end(
    deps: &Deps<LocalObjects, RecordingQueryEngine>,
    mut request: CatalogRequest,
) -> Vec<CatalogStep> {
    let mut steps = Vec::new();
    loop {
        let step = handle(deps, request.clone()).await.unwrap();
        steps.push(step.clone());
        if !step.more {
            return steps;
        }
        request.catalog = Some(step);
        assert!(steps.len() < 10, "the loop ends");
    }
}

/// The statements a run issues for a table that is not (known to be) there.
const FULL_SEQUENCE: [Option<DdlStatement>; 3] =
    [Some(CreateDatabase), Some(CreateTable), Some(AddPartitions)];

fn statements(steps: &[CatalogStep]) -> Vec<Option<DdlStatement>> {
    steps.iter().map(|s| s.statement).collect()
}

#[tokio::test]
async fn a_new_table_gets_database_table_then_partitions() {
    let (_dir, deps, request) = fixture();
    let steps = run_to_end(&deps, request).await;
    assert_eq!(statements(&steps), FULL_SEQUENCE);
    assert!(steps.iter().all(|s| s.query_execution_id.is_some()));
    let queries = deps.queries.queries.lock().unwrap();
    assert_eq!(queries[0], "CREATE DATABASE IF NOT EXISTS `iot`");
    assert!(queries[1].starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `iot`.`sensor_readings`"));
    assert!(
        queries[1].contains("LOCATION 's3://etl-curated-123456789012/tables/iot/sensor_readings/'")
    );
    assert!(queries[2].starts_with("ALTER TABLE `iot`.`sensor_readings` ADD IF NOT EXISTS"));
    assert_eq!(queries[2].matches("PARTITION (").count(), 4);
    assert!(queries[2].contains("LOCATION 's3://etl-curated-123456789012/tables/iot/sensor_readings/year=2020/month=06/device_id=dev-0001/'"));
}

#[tokio::test]
async fn an_existing_table_only_gets_partitions_and_a_rerun_repeats_them_harmlessly() {
    let (_dir, deps, request) = fixture();
    run_to_end(&deps, request.clone()).await;
    let again = run_to_end(&deps, request).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].statement, Some(AddPartitions));
    assert!(!again[0].more);
    assert_eq!((again[0].next, again[0].total), (1, 1));
}

#[tokio::test]
async fn without_table_lookup_every_run_creates_if_not_exists_then_adds_partitions() {
    let (_dir, mut deps, request) = fixture();
    deps.table_lookup = false;
    for _ in 0..2 {
        let steps = run_to_end(&deps, request.clone()).await;
        assert_eq!(statements(&steps), FULL_SEQUENCE);
    }
    assert_eq!(deps.queries.queries.lock().unwrap().len(), 6);
}

#[test]
fn table_lookup_setting_is_checked() {
    // One test touches TABLE_LOOKUP, so no other test races on it.
    for (value, expected) in [("athena", Ok(true)), ("off", Ok(false)), ("", Ok(true))] {
        std::env::set_var("TABLE_LOOKUP", value);
        assert_eq!(table_lookup_from_env().map_err(|e| e.name), expected);
    }
    std::env::set_var("TABLE_LOOKUP", "glue");
    let err = table_lookup_from_env().unwrap_err();
    assert_eq!(err.name, "BadConfig");
    assert!(err.message.contains("use athena (the default) or off"));
    std::env::remove_var("TABLE_LOOKUP");
}

#[tokio::test]
async fn nothing_written_means_nothing_to_register() {
    let (_dir, deps, mut request) = fixture();
    request.transform.records_written = 0;
    let step = handle(&deps, request).await.unwrap();
    assert_eq!(step.query_execution_id, None);
    assert!(!step.more);
    assert!(deps.queries.queries.lock().unwrap().is_empty());
}

/// A later attempt of the object replaced this generation (and deleted its summary) before its
/// partitions were registered: nothing is left to register, and that is no failure.
#[tokio::test]
async fn a_replaced_generation_has_nothing_to_register() {
    let (dir, deps, request) = fixture();
    let uri = S3Uri::parse_object(&request.transform.summary_uri).unwrap();
    std::fs::remove_file(deps.objects.path(&uri.bucket, &uri.key)).unwrap();
    let steps = run_to_end(&deps, request).await;
    assert_eq!(statements(&steps), [None]);
    assert!(deps.queries.queries.lock().unwrap().is_empty());
    drop(dir);
}

#[tokio::test]
async fn athena_throttling_is_retryable() {
    use aws_smithy_mocks::{mock, mock_client};
    let busy = mock!(aws_sdk_athena::Client::get_table_metadata).then_http_response(|| {
        etl_aws::testing::http_response(
            400,
            r#"{"__type":"TooManyRequestsException","Message":"Rate exceeded"}"#,
        )
    });
    let client = mock_client!(
        aws_sdk_athena,
        aws_smithy_mocks::RuleMode::Sequential,
        [&busy],
        |c| c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
    );
    let (_dir, local, request) = fixture();
    let deps = Deps {
        objects: local.objects,
        queries: etl_aws::athena::AthenaEngine::new(client, "etl"),
        datasets: local.datasets,
        table_lookup: true,
    };
    let err = handle(&deps, request).await.unwrap_err();
    assert_eq!(err.name, "Retryable");
    assert!(
        err.message.contains("TooManyRequestsException"),
        "{}",
        err.message
    );
}
