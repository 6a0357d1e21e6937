use etl_core::contract::PipelineInput;
use etl_core::layout::S3Uri;
use etl_core::ports::local::LocalObjects;
use etl_core::Summary;

use super::*;

const EVENT: &str = include_str!("../../../events/transform.json");
const SAMPLE: &str = include_str!("../../../datasets/samples/iot_sensors.ndjson");

struct Fixture {
    dir: tempfile::TempDir,
    deps: Deps<LocalObjects>,
}

fn fixture(raw: &[u8]) -> (Fixture, PipelineInput) {
    let dir = tempfile::tempdir().unwrap();
    let input: PipelineInput = serde_json::from_str(EVENT).unwrap();
    let objects = LocalObjects::new(dir.path());
    let path = objects.path(&input.object.bucket, &input.object.key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, raw).unwrap();
    let config = Config {
        layout: etl_core::layout::CuratedLayout::with_defaults("curated"),
    };
    let deps = Deps::new(
        objects,
        &etl_aws::lambda::embedded_datasets().unwrap(),
        config,
    );
    (Fixture { dir, deps }, input)
}

#[tokio::test]
async fn the_sample_object_becomes_parquet_rejects_and_a_summary() {
    let (f, input) = fixture(SAMPLE.as_bytes());
    let result = handle(&f.deps, input.clone()).await.unwrap();
    assert_eq!(
        (
            result.records_in,
            result.records_written,
            result.records_rejected
        ),
        (10, 6, 4)
    );
    assert_eq!(
        result.table_location,
        "s3://curated/tables/iot/sensor_readings/"
    );
    assert_eq!(result.partitions, 4);
    assert!(!result.threshold_crossed);
    assert_eq!(result.unknown_fields.get("battery"), Some(&1));

    let uri = S3Uri::parse_object(&result.summary_uri).unwrap();
    let summary: Summary =
        serde_json::from_slice(&std::fs::read(f.deps.objects.path(&uri.bucket, &uri.key)).unwrap())
            .unwrap();
    assert_eq!(summary.records_in, 10);
    assert_eq!(
        summary.source,
        "s3://etl-raw-123456789012/iot/2020/06/24/sensor readings été batch#1.ndjson"
    );
    for p in &summary.partitions {
        for file in &p.files {
            let path = f.deps.objects.path(
                "curated",
                &format!("tables/iot/sensor_readings/{}", file.key),
            );
            assert!(path.exists(), "{}", path.display());
        }
    }
    let rejected = result.rejected_uri.unwrap();
    assert!(
        rejected.contains("/curated/rejected/iot_sensors/rejected-"),
        "{rejected}"
    );
    // The raw object is untouched.
    let raw = f.deps.objects.path(&input.object.bucket, &input.object.key);
    assert_eq!(std::fs::read_to_string(raw).unwrap(), SAMPLE);
    drop(f.dir);
}

#[tokio::test]
async fn a_broken_array_is_bad_input_and_writes_nothing() {
    let (f, input) = fixture(b"[{\"device_id\":\"a\",\"timestamp\":1593007044},{\"device_id\" 1}]");
    let err = handle(&f.deps, input).await.unwrap_err();
    assert_eq!(err.name, "BadInput");
    assert!(err.message.starts_with("s3://etl-raw-123456789012/iot/2020/06/24/sensor readings été batch#1.ndjson: the JSON array is broken at line 1, column 56"), "{}", err.message);
    assert!(
        err.message
            .ends_with("Fix the object (or the dataset definition) and upload it again."),
        "{}",
        err.message
    );
    assert!(!f.dir.path().join("curated").exists());
}

#[tokio::test]
async fn a_missing_object_or_dataset_is_named() {
    let (f, mut input) = fixture(b"");
    input.object.key = "iot/gone.json".into();
    assert_eq!(
        handle(&f.deps, input.clone()).await.unwrap_err().name,
        "NotFound"
    );
    input.dataset = "nope".into();
    assert_eq!(handle(&f.deps, input).await.unwrap_err().name, "BadConfig");
}

#[tokio::test]
async fn all_records_rejected_crosses_the_threshold() {
    let (f, input) = fixture(b"nope\nnope\n");
    let result = handle(&f.deps, input).await.unwrap();
    assert!(result.threshold_crossed);
    assert_eq!(result.records_written, 0);
    assert!(!f.dir.path().join("curated/tables").exists());
}

/// Through the Lambda: an empty device id goes to the default partition, Hive's name for it is
/// refused with a reason, a NUL in a value is escaped in the path and, for the catalog, as
/// `\u0000` (never the octal-looking `\0`).
#[tokio::test]
async fn partition_values_reach_the_catalog_exactly() {
    let raw = concat!(
        "{\"device_id\":\"\",\"timestamp\":1577836800}\n",
        "{\"device_id\":\"__HIVE_DEFAULT_PARTITION__\",\"timestamp\":1577836800}\n",
        "{\"device_id\":\"nul\\u000012\",\"timestamp\":1577836800}\n",
    );
    let (f, input) = fixture(raw.as_bytes());
    let result = handle(&f.deps, input).await.unwrap();
    assert_eq!((result.records_written, result.records_rejected), (2, 1));
    assert_eq!(result.rejected_by_reason["reserved_partition_value"], 1);
    let uri = S3Uri::parse_object(&result.summary_uri).unwrap();
    let summary: Summary =
        serde_json::from_slice(&std::fs::read(f.deps.objects.path(&uri.bucket, &uri.key)).unwrap())
            .unwrap();
    let paths: Vec<&str> = summary.partitions.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "year=2020/month=01/device_id=__HIVE_DEFAULT_PARTITION__/",
            "year=2020/month=01/device_id=nul%0012/"
        ]
    );
    let dataset = f.deps.engine("iot_sensors").unwrap().dataset();
    let sql = etl_core::sql::add_partitions(dataset, &result.table_location, &summary.partitions)
        .unwrap();
    assert!(
        sql[0].contains(r"`device_id` = 'nul\u000012'"),
        "{}",
        sql[0]
    );
}
