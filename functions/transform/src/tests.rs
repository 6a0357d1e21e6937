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
        timeout: Config::DEFAULT_TIMEOUT,
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
    let result = handle(&f.deps, input.clone(), &Invocation::unhurried("request-1"))
        .await
        .unwrap();
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
    let err = handle(&f.deps, input, &Invocation::unhurried("request-1"))
        .await
        .unwrap_err();
    assert_eq!(err.name, "BadInput");
    assert!(err.message.starts_with("s3://etl-raw-123456789012/iot/2020/06/24/sensor readings été batch#1.ndjson: the JSON array is broken at line 1, column 56"), "{}", err.message);
    assert!(
        err.message
            .ends_with("Fix the object (or the dataset definition) and upload it again."),
        "{}",
        err.message
    );
    let curated = f.dir.path().join("curated");
    assert!(!curated.join("tables").exists() && !curated.join("rejected").exists());
    assert!(!curated.join("summaries").exists());
    let input = input_of_fixture();
    let m = manifest(&f, &input);
    assert!(m.current.is_none() && m.pending.is_empty(), "{m:?}");
    // The clean-up the state machine runs next finds nothing to do.
    let report = clean_up_after(&f.deps, input.clone(), &Invocation::unhurried("request-2"))
        .await
        .unwrap();
    assert_eq!((report.deleted.len(), report.wait_seconds), (0, 0));
    let m = manifest(&f, &input);
    assert!(m.current.is_none() && m.pending.is_empty(), "{m:?}");
}

fn input_of_fixture() -> PipelineInput {
    serde_json::from_str(EVENT).unwrap()
}

/// The manifest of the fixture's key.
fn manifest(f: &Fixture, input: &PipelineInput) -> etl_core::manifest::Manifest {
    let layout = &f.deps.config.layout;
    let key = layout.manifest_key(&input.dataset, &input.object.bucket, &input.object.key);
    serde_json::from_slice(&std::fs::read(f.deps.objects.path("curated", &key)).unwrap()).unwrap()
}

/// Every file below a folder of the curated bucket, relative to it, sorted.
fn files_below(f: &Fixture, folder: &str) -> Vec<String> {
    let root = f.dir.path().join("curated").join(folder);
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(&root).unwrap().display().to_string();
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Uploads `raw` as a new version of the fixture's key with this sequencer.
fn upload(f: &Fixture, input: &mut PipelineInput, raw: &[u8], version: &str, sequencer: &str) {
    std::fs::write(
        f.deps.objects.path(&input.object.bucket, &input.object.key),
        raw,
    )
    .unwrap();
    input.object.version_id = Some(version.into());
    input.object.sequencer = Some(sequencer.into());
}

const SIX_GOOD: usize = 6;

#[tokio::test]
async fn a_new_upload_replaces_the_rows_of_the_one_before() {
    let (f, mut input) = fixture(SAMPLE.as_bytes());
    let v1 = handle(&f.deps, input.clone(), &Invocation::unhurried("request-1"))
        .await
        .unwrap();
    assert_eq!(v1.records_written as usize, SIX_GOOD);
    let v1_files = files_below(&f, "tables");
    assert_eq!(v1_files.len() as u64, v1.files);

    // v2: the first two good records only.
    let two: String = SAMPLE.lines().take(2).map(|l| format!("{l}\n")).collect();
    upload(&f, &mut input, two.as_bytes(), "v2", "0055AED6DCD90281F0");
    let v2 = handle(&f.deps, input.clone(), &Invocation::unhurried("request-2"))
        .await
        .unwrap();
    assert!(!v2.superseded);
    let v2_files = files_below(&f, "tables");
    assert_eq!(
        v2_files.len() as u64,
        v2.files,
        "only v2's files: {v2_files:?}"
    );
    assert!(v2_files.iter().all(|k| !v1_files.contains(k)));
    let rows: u64 = v2.records_written;
    assert_eq!(rows, 2);
    // v1's summary and rejected records went with its rows.
    assert_eq!(files_below(&f, "summaries").len(), 1);
    assert_eq!(files_below(&f, "rejected"), Vec::<String>::new());
    let m = manifest(&f, &input);
    let current = m.current.unwrap();
    assert_eq!(current.version_id.as_deref(), Some("v2"));
    assert_eq!(current.records_written, 2);
    assert!(
        m.pending.is_empty() && m.garbage.is_empty(),
        "{:?}",
        m.garbage
    );

    // The same version again (a definition fixed, reprocessed): its rows replace themselves.
    let again = handle(&f.deps, input.clone(), &Invocation::unhurried("request-3"))
        .await
        .unwrap();
    assert_eq!(again.records_written, 2);
    assert_eq!(files_below(&f, "tables").len() as u64, again.files);
    assert!(files_below(&f, "tables")
        .iter()
        .all(|k| !v2_files.contains(k)));
}

#[tokio::test]
async fn a_late_event_of_an_older_upload_changes_nothing() {
    let (f, mut input) = fixture(SAMPLE.as_bytes());
    let v1_input = input.clone();
    let two: String = SAMPLE.lines().take(2).map(|l| format!("{l}\n")).collect();
    upload(&f, &mut input, two.as_bytes(), "v2", "0055AED6DCD90281F0");
    let v2 = handle(&f.deps, input.clone(), &Invocation::unhurried("request-2"))
        .await
        .unwrap();
    let v2_files = files_below(&f, "tables");
    // v1's event arrives after v2's (S3 does not promise order).
    let late = handle(&f.deps, v1_input, &Invocation::unhurried("request-1"))
        .await
        .unwrap();
    assert!(late.superseded);
    assert_eq!(
        (late.records_in, late.records_written, late.files),
        (0, 0, 0)
    );
    assert_eq!(files_below(&f, "tables"), v2_files);
    assert_eq!(v2.files as usize, v2_files.len());
    assert_eq!(
        manifest(&f, &input).current.unwrap().sequencer.as_deref(),
        Some("0055AED6DCD90281F0")
    );
}

#[tokio::test]
async fn a_deleted_object_takes_its_rows_rejects_and_summary_with_it() {
    let (f, input) = fixture(SAMPLE.as_bytes());
    let written = handle(&f.deps, input.clone(), &Invocation::unhurried("request-1"))
        .await
        .unwrap();
    assert!(written.files > 0 && written.rejected_uri.is_some());
    let mut delete = input.clone();
    delete.removed = true;
    delete.object.version_id = None; // a delete marker
    delete.object.sequencer = Some("0055AED6DCD9028F00".into());
    let removed = handle(&f.deps, delete.clone(), &Invocation::unhurried("request-2"))
        .await
        .unwrap();
    assert!(removed.removed && !removed.superseded);
    assert_eq!((removed.records_written, removed.files), (0, 0));
    for folder in ["tables", "rejected", "summaries"] {
        assert_eq!(files_below(&f, folder), Vec::<String>::new(), "{folder}");
    }
    let m = manifest(&f, &input);
    let current = m.current.unwrap();
    assert!(current.keys.is_empty() && m.garbage.is_empty());
    // The upload's event delivered again after the delete: superseded, nothing comes back.
    let late = handle(&f.deps, input.clone(), &Invocation::unhurried("request-3"))
        .await
        .unwrap();
    assert!(late.superseded);
    assert_eq!(files_below(&f, "tables"), Vec::<String>::new());
    // A later upload brings rows again.
    let mut again = input;
    again.object.sequencer = Some("0055AED6DCD9029000".into());
    let back = handle(&f.deps, again, &Invocation::unhurried("request-4"))
        .await
        .unwrap();
    assert_eq!(back.records_written as usize, SIX_GOOD);
    assert_eq!(files_below(&f, "tables").len() as u64, back.files);
}

#[tokio::test]
async fn near_the_deadline_the_transform_stops_and_takes_back_what_it_wrote() {
    let (f, input) = fixture(SAMPLE.as_bytes());
    let hurried = Invocation {
        request_id: "request-1".into(),
        deadline: std::time::SystemTime::now() - std::time::Duration::from_secs(1),
    };
    let err = handle(&f.deps, input.clone(), &hurried).await.unwrap_err();
    assert_eq!(err.name, "Permanent");
    assert!(
        err.message
            .contains("before the Lambda deadline and took back what it wrote")
            && err.message.contains("Split it into smaller objects"),
        "{}",
        err.message
    );
    for folder in ["tables", "rejected", "summaries"] {
        assert_eq!(files_below(&f, folder), Vec::<String>::new(), "{folder}");
    }
    let m = manifest(&f, &input);
    assert!(m.current.is_none() && m.pending.is_empty(), "{m:?}");
}

#[tokio::test]
async fn the_files_of_an_attempt_killed_mid_run_are_swept_by_the_next_one() {
    use etl_core::manifest::{begin, Pending};
    let (f, input) = fixture(SAMPLE.as_bytes());
    let layout = &f.deps.config.layout;
    let at = layout.manifest_key(&input.dataset, &input.object.bucket, &input.object.key);
    let object = (input.object.bucket.as_str(), input.object.key.as_str());
    // Two attempts recorded as pending, each with a file in the table: one killed an hour ago,
    // one still running.
    let mut stray = Vec::new();
    for (name, expires_ms) in [("killed", 1_000), ("running", u64::MAX / 2)] {
        let stem = format!("0123456789abcdef0123-{name}");
        let pending = Pending {
            attempt: name.into(),
            sequencer: input.object.sequencer.clone(),
            table_prefix: "tables/iot/sensor_readings/".into(),
            stem: stem.clone(),
            expires_ms,
        };
        begin(&f.deps.objects, ("curated", &at), object, &pending)
            .await
            .unwrap();
        let file = format!("year=2020/month=06/device_id=x/part-{stem}-00000.snappy.parquet");
        let path = f
            .deps
            .objects
            .path("curated", &format!("tables/iot/sensor_readings/{file}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"PAR1").unwrap();
        let summary = f
            .deps
            .objects
            .path("curated", &layout.summary_key(&input.dataset, &stem));
        std::fs::create_dir_all(summary.parent().unwrap()).unwrap();
        std::fs::write(&summary, b"{}").unwrap();
        stray.push(format!("iot/sensor_readings/{file}"));
    }
    let result = handle(&f.deps, input.clone(), &Invocation::unhurried("request-2"))
        .await
        .unwrap();
    let files = files_below(&f, "tables");
    assert!(
        !files.contains(&stray[0]),
        "the killed attempt's file is gone: {files:?}"
    );
    assert!(
        files.contains(&stray[1]),
        "the running attempt's file stays: {files:?} {stray:?}"
    );
    assert_eq!(files.len() as u64, result.files + 1);
    let m = manifest(&f, &input);
    let pending: Vec<&str> = m.pending.iter().map(|p| p.attempt.as_str()).collect();
    assert_eq!(pending, ["running"]);
    let summaries = files_below(&f, "summaries");
    assert!(
        summaries.iter().all(|s| !s.contains("-killed")),
        "{summaries:?}"
    );
}

#[tokio::test]
async fn the_clean_up_after_a_failure_deletes_dead_attempts_and_waits_for_running_ones() {
    use etl_core::contract::TransformRequest;
    use etl_core::manifest::{begin, Pending};
    let (f, input) = fixture(SAMPLE.as_bytes());
    let layout = &f.deps.config.layout;
    let at = layout.manifest_key(&input.dataset, &input.object.bucket, &input.object.key);
    let object = (input.object.bucket.as_str(), input.object.key.as_str());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let stem = "0123456789abcdef0123-killed";
    let file = format!("tables/iot/sensor_readings/year=2020/month=06/device_id=x/part-{stem}-00000.snappy.parquet");
    let path = f.deps.objects.path("curated", &file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"PAR1").unwrap();
    // One attempt of this event killed long ago, one still within its deadline, and one of
    // another event (not this execution's) still running.
    for (name, sequencer, expires_ms) in [
        ("killed", input.object.sequencer.clone(), 1_000),
        ("running", input.object.sequencer.clone(), now_ms + 100_000),
        (
            "other",
            Some("0055AED6DCD9029999".to_string()),
            now_ms + 800_000,
        ),
    ] {
        let pending = Pending {
            attempt: name.into(),
            sequencer,
            table_prefix: "tables/iot/sensor_readings/".into(),
            stem: format!("0123456789abcdef0123-{name}"),
            expires_ms,
        };
        begin(&f.deps.objects, ("curated", &at), object, &pending)
            .await
            .unwrap();
    }
    let request: TransformRequest =
        serde_json::from_value(serde_json::json!({ "clean_up": input.clone() })).unwrap();
    let Response::CleanedUp(report) =
        handle_request(&f.deps, request, &Invocation::unhurried("clean-up-1"))
            .await
            .unwrap()
    else {
        panic!("a clean-up answers with its report")
    };
    assert!(report.deleted.contains(&file), "{:?}", report.deleted);
    assert!(!path.exists());
    // The running attempt of this event: until its deadline and the grace have passed.
    let wait = (100_000 + etl_core::manifest::EXPIRY_GRACE_MS) / 1000;
    assert!(
        (wait - 5..=wait + 1).contains(&report.wait_seconds),
        "{}",
        report.wait_seconds
    );
    let pending: Vec<String> = manifest(&f, &input)
        .pending
        .into_iter()
        .map(|p| p.attempt)
        .collect();
    assert_eq!(pending, ["running", "other"]);
}

#[tokio::test]
async fn an_object_above_the_size_limit_fails_before_anything_is_read() {
    let (f, mut input) = fixture(SAMPLE.as_bytes());
    input.object.size = (10 << 30) + 1; // the default max_object_mb is 10 GiB
    let err = handle(&f.deps, input.clone(), &Invocation::unhurried("request-1"))
        .await
        .unwrap_err();
    assert_eq!(err.name, "BadInput");
    assert!(
        err.message
            .contains("10240 MiB is more than the dataset's max_object_mb = 10240"),
        "{}",
        err.message
    );
    assert!(
        !f.dir.path().join("curated").exists(),
        "nothing written, not even a manifest"
    );
}

#[tokio::test]
async fn overlapping_attempts_of_one_event_leave_one_generation() {
    let (f, input) = fixture(SAMPLE.as_bytes());
    let (first, second) = (
        Invocation::unhurried("request-a"),
        Invocation::unhurried("request-b"),
    );
    let (a, b) = tokio::join!(
        handle(&f.deps, input.clone(), &first),
        handle(&f.deps, input.clone(), &second)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(!a.superseded && !b.superseded);
    let files = files_below(&f, "tables");
    assert_eq!(
        files.len() as u64,
        a.files,
        "one generation's files: {files:?}"
    );
    let m = manifest(&f, &input);
    let winner = m.current.unwrap();
    assert!(
        files.iter().all(|k| k.contains(&winner.attempt)),
        "{files:?}"
    );
    assert!(m.pending.is_empty());
}

#[tokio::test]
async fn a_missing_object_or_dataset_is_named() {
    let (f, mut input) = fixture(b"");
    input.object.key = "iot/gone.json".into();
    assert_eq!(
        handle(&f.deps, input.clone(), &Invocation::unhurried("request-1"))
            .await
            .unwrap_err()
            .name,
        "NotFound"
    );
    input.dataset = "nope".into();
    assert_eq!(
        handle(&f.deps, input, &Invocation::unhurried("request-1"))
            .await
            .unwrap_err()
            .name,
        "BadConfig"
    );
}

#[tokio::test]
async fn all_records_rejected_crosses_the_threshold() {
    let (f, input) = fixture(b"nope\nnope\n");
    let result = handle(&f.deps, input, &Invocation::unhurried("request-1"))
        .await
        .unwrap();
    assert!(result.threshold_crossed);
    assert_eq!(result.records_written, 0);
    assert!(!f.dir.path().join("curated/tables").exists());
    // Its rejected records and summary stay for the failure message, listed for deletion by the
    // key's next commit.
    let kept = [
        files_below(&f, "rejected")
            .iter()
            .map(|k| format!("rejected/{k}"))
            .collect::<Vec<_>>(),
        files_below(&f, "summaries")
            .iter()
            .map(|k| format!("summaries/{k}"))
            .collect(),
    ]
    .concat();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let m = manifest(&f, &input_of_fixture());
    assert!(m.current.is_none() && m.pending.is_empty(), "{m:?}");
    let mut garbage = m.garbage.clone();
    garbage.sort();
    let mut kept_sorted = kept.clone();
    kept_sorted.sort();
    assert_eq!(garbage, kept_sorted);
    // A corrected upload commits, and the failed attempt's evidence goes.
    let mut input = input_of_fixture();
    upload(
        &f,
        &mut input,
        b"{\"device_id\":\"a\",\"timestamp\":1593007044}\n",
        "v2",
        "0000000000000000F0",
    );
    handle(&f.deps, input.clone(), &Invocation::unhurried("request-2"))
        .await
        .unwrap();
    let m = manifest(&f, &input);
    assert!(m.garbage.is_empty(), "{m:?}");
    let left: Vec<String> = [files_below(&f, "rejected"), files_below(&f, "summaries")].concat();
    assert_eq!(left.len(), 1, "only the new summary: {left:?}");
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
    let result = handle(&f.deps, input, &Invocation::unhurried("request-1"))
        .await
        .unwrap();
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

#[test]
fn the_margin_is_thirty_seconds_or_a_quarter_of_the_time_left() {
    let at = |secs| Invocation {
        request_id: "r".into(),
        deadline: std::time::SystemTime::now() + std::time::Duration::from_secs(secs),
    };
    assert_eq!(at(900).margin(), Invocation::MARGIN);
    let short = at(20).margin().as_secs_f64();
    assert!((4.9..=5.0).contains(&short), "{short}");
    // A deadline that has passed before the invocation starts is no deadline: the function's
    // timeout counts from now.
    let past = Invocation::from_lambda("r".into(), 1_000, std::time::Duration::from_secs(20));
    let short = past.margin().as_secs_f64();
    assert!((4.9..=5.0).contains(&short), "{short}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let real = Invocation::from_lambda("r".into(), now_ms + 60_000, Config::DEFAULT_TIMEOUT);
    assert!(real.margin() <= std::time::Duration::from_secs(15));
}
