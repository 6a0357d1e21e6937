//! End-to-end tests: the real state machine (`statemachine/pipeline.asl.json`) executed by moto's
//! Step Functions interpreter, calling the five real function binaries under `cargo lambda
//! watch` through the invoke proxy, against moto's S3, Athena, SNS and SQS over HTTP.
//!
//! One stack serves every scenario (starting it costs seconds), so this file has its own
//! harness: scenarios run one after another, each checked in full, and the stack is stopped
//! whatever happens. `cargo test --workspace --test e2e -- NAME` runs the scenarios whose name contains NAME.
//! Needs `moto_server` and `cargo-lambda` on PATH: run it with `make e2e` (or `make test`).

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use etl_core::contract::TransformResult;
use etl_core::layout::{source_id, CuratedLayout, S3Uri};
use etl_core::manifest::Manifest;
use etl_core::Summary;
use etl_local::{find_workspace, Execution, Published, RawObject, Stack, StackOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// How long one execution may take (each DDL waits twice for its query).
const EXECUTION_TIMEOUT: Duration = Duration::from_secs(300);

/// Good readings: two devices, two months.
const GOOD: [&str; 4] = [
    r#"{"device_id":"A","timestamp":1593007044,"location":{"lat":"35.698362","long":"139.773288"},"temperature":30.1,"humidity":39.35,"pressure":1020.44}"#,
    r#"{"device_id":"A","timestamp":1593010644,"location":{"lat":"35.5","long":"139.5"},"temperature":29.8,"humidity":40.1,"pressure":1020.12}"#,
    r#"{"device_id":"B","timestamp":1593043200,"location":{"lat":"-33.86","long":"151.2"},"temperature":15,"humidity":60,"pressure":1013}"#,
    r#"{"device_id":"B","timestamp":1588291200,"location":{"lat":"34.693738","long":"135.502165"},"temperature":22.4,"humidity":61.0,"pressure":1015.3}"#,
];

/// [`GOOD`] as read back from Parquet: the partition path, then the file's columns.
const GOOD_ROWS: [&str; 4] = [
    "year=2020/month=05/device_id=B/ timestamp=1588291200 latitude=34.693738 longitude=135.502165 temperature=22.4 humidity=61 pressure=1015.3",
    "year=2020/month=06/device_id=A/ timestamp=1593007044 latitude=35.698362 longitude=139.773288 temperature=30.1 humidity=39.35 pressure=1020.44",
    "year=2020/month=06/device_id=A/ timestamp=1593010644 latitude=35.5 longitude=139.5 temperature=29.8 humidity=40.1 pressure=1020.12",
    "year=2020/month=06/device_id=B/ timestamp=1593043200 latitude=-33.86 longitude=151.2 temperature=15 humidity=60 pressure=1013",
];

/// The sample with good and bad records (6 written, 4 rejected).
const SAMPLE: &str = include_str!("../datasets/samples/iot_sensors.ndjson");

type Scenario = fn(Arc<Stack>) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>;

fn scenarios() -> Vec<(&'static str, Scenario)> {
    vec![
        ("happy_path_ndjson", |s| Box::pin(happy_path_ndjson(s))),
        ("array_concatenated_and_gzip_inputs", |s| {
            Box::pin(array_concatenated_and_gzip_inputs(s))
        }),
        ("mixed_good_and_bad_records", |s| {
            Box::pin(mixed_good_and_bad_records(s))
        }),
        ("key_with_spaces_and_non_ascii", |s| {
            Box::pin(key_with_spaces_and_non_ascii(s))
        }),
        ("malformed_object_fails_and_notifies", |s| {
            Box::pin(malformed_object_fails_and_notifies(s))
        }),
        ("same_event_twice_runs_once", |s| {
            Box::pin(same_event_twice_runs_once(s))
        }),
        ("partition_values_reach_the_catalog_exactly", |s| {
            Box::pin(partition_values_reach_the_catalog_exactly(s))
        }),
        ("a_new_upload_replaces_the_rows_of_the_one_before", |s| {
            Box::pin(a_new_upload_replaces_the_rows_of_the_one_before(s))
        }),
        ("a_late_event_of_an_older_upload_changes_nothing", |s| {
            Box::pin(a_late_event_of_an_older_upload_changes_nothing(s))
        }),
        (
            "a_deleted_object_removes_its_rows_where_the_dataset_says_so",
            |s| {
                Box::pin(a_deleted_object_removes_its_rows_where_the_dataset_says_so(
                    s,
                ))
            },
        ),
        ("a_backfill_processes_objects_that_had_no_event_once", |s| {
            Box::pin(a_backfill_processes_objects_that_had_no_event_once(s))
        }),
        ("one_event_many_times_at_once_leaves_one_generation", |s| {
            Box::pin(one_event_many_times_at_once_leaves_one_generation(s))
        }),
        (
            "a_transform_that_fails_after_committing_files_takes_them_back",
            |s| Box::pin(a_transform_that_fails_after_committing_files_takes_them_back(s)),
        ),
        (
            "a_transform_stopped_at_its_timeout_leaves_nothing_behind",
            |s| Box::pin(a_transform_stopped_at_its_timeout_leaves_nothing_behind(s)),
        ),
        ("objects_past_a_limit_fail_clearly_and_leave_nothing", |s| {
            Box::pin(objects_past_a_limit_fail_clearly_and_leave_nothing(s))
        }),
        (
            "nested_examples_reach_the_table_as_lists_and_structs",
            |s| Box::pin(nested_examples_reach_the_table_as_lists_and_structs(s)),
        ),
        ("a_large_object_is_read_as_ranges_of_one_version", |s| {
            Box::pin(a_large_object_is_read_as_ranges_of_one_version(s))
        }),
    ]
}

/// The transform's timeout in the stack: short, so that a transform stopped by it ends within
/// the test (its clean-up waits out the timeout and [`manifest::EXPIRY_GRACE_MS`]).
const TRANSFORM_TIMEOUT: Duration = Duration::from_secs(20);

/// `datasets/iot_sensors.toml` and variants of it, each under its own prefix into its own table:
/// `iot_erasable` (`erasable/`, `on_delete = "remove"`), `iot_small_files` (`small/`, files of
/// about 1 MB, so a transform commits some long before it ends) and `iot_limited` (`limited/`,
/// objects up to 1 MiB and 1 MiB decompressed, at most 3 partitions); and the examples
/// `cloudtrail` (`AWSLogs/`), `github_push` (`github/`), `github_commits` (`github-commits/`)
/// `kubernetes_audit` (`k8s-audit/`), `otlp_logs` (`otlp/`) and `cloudwatch_logs`
/// (`cloudwatch/`) from `datasets/examples/`.
fn test_datasets(workspace: &std::path::Path) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let iot = std::fs::read_to_string(workspace.join("datasets/iot_sensors.toml"))?;
    std::fs::write(dir.path().join("iot_sensors.toml"), &iot)?;
    let variant = |name: &str, table: &str, source: &str, output: &str| -> Result<()> {
        let text = iot
            .replace("name = \"iot_sensors\"", &format!("name = \"{name}\""))
            .replace(
                "table = \"sensor_readings\"",
                &format!("table = \"{table}\""),
            )
            .replace("prefix = \"iot/\"", source)
            .replace("[output]\n", &format!("[output]\n{output}"));
        ensure!(
            text.contains(source) && text.contains(output),
            "the shipped definition changed shape"
        );
        std::fs::write(dir.path().join(format!("{name}.toml")), text)?;
        Ok(())
    };
    variant(
        "iot_erasable",
        "erasable_readings",
        "prefix = \"erasable/\"\non_delete = \"remove\"",
        "",
    )?;
    variant(
        "iot_small_files",
        "small_file_readings",
        "prefix = \"small/\"",
        "row_group_rows = 2000\ntarget_file_mb = 1\n",
    )?;
    // The examples for nested sources, as shipped (not deployed by default).
    for name in [
        "cloudtrail",
        "github_push",
        "github_commits",
        "kubernetes_audit",
        "otlp_logs",
        "cloudwatch_logs",
    ] {
        let file = format!("{name}.toml");
        std::fs::copy(
            workspace.join("datasets/examples").join(&file),
            dir.path().join(&file),
        )?;
    }
    variant(
        "iot_limited",
        "limited_readings",
        "prefix = \"limited/\"\nmax_object_mb = 1\nmax_decompressed_mb = 1",
        "max_partitions = 3\n",
    )?;
    Ok(dir)
}

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<_> = scenarios()
        .into_iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async move {
        if selected.is_empty() {
            println!("e2e: no scenario matches {filters:?}");
            return ExitCode::SUCCESS;
        }
        let workspace = find_workspace(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
            .expect("the repository root");
        let datasets = match test_datasets(&workspace) {
            Ok(dir) => dir,
            Err(e) => {
                eprintln!("e2e: cannot write the test datasets: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let mut options = StackOptions::new(workspace);
        options.datasets_path = Some(datasets.path().to_path_buf());
        options.transform_timeout = TRANSFORM_TIMEOUT;
        let stack = match Stack::start(options).await {
            Ok(stack) => Arc::new(stack),
            Err(e) => {
                eprintln!("e2e: cannot start the local stack: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "\nrunning {} end-to-end scenarios (logs in {})",
            selected.len(),
            stack.log_dir.display()
        );
        let mut failed = Vec::new();
        for (name, scenario) in selected {
            print!("test {name} ... ");
            let _ = std::io::stdout().flush();
            let started = Instant::now();
            // A panic inside a scenario fails that scenario only.
            let outcome = match tokio::spawn(scenario(stack.clone())).await {
                Ok(outcome) => outcome,
                Err(panic) => Err(anyhow::anyhow!("panicked: {panic}")),
            };
            match outcome {
                Ok(()) => println!("ok ({:.1} s)", started.elapsed().as_secs_f64()),
                Err(e) => {
                    println!("FAILED ({:.1} s)\n  {e:#}", started.elapsed().as_secs_f64());
                    failed.push(name);
                }
            }
        }
        let Ok(stack) = Arc::try_unwrap(stack) else {
            panic!("a scenario kept the stack");
        };
        let logs = stack.log_dir.clone();
        stack.stop();
        if failed.is_empty() {
            println!("\ne2e: all scenarios passed");
            ExitCode::SUCCESS
        } else {
            println!(
                "\ne2e: FAILED: {} (logs in {})",
                failed.join(", "),
                logs.display()
            );
            ExitCode::FAILURE
        }
    })
}

/// Uploads, delivers the event, and follows the one execution it starts.
async fn run_one(stack: &Stack, key: &str, body: Vec<u8>) -> Result<(RawObject, Execution)> {
    let object = stack.upload(key, body).await?;
    let trigger = stack.deliver(&[&object]).await?;
    ensure!(
        trigger.started.len() == 1,
        "one execution started: {trigger:?}"
    );
    let execution = stack.follow(&trigger.started[0], EXECUTION_TIMEOUT).await?;
    Ok((object, execution))
}

fn succeeded(execution: &Execution) -> Result<&TransformResult> {
    ensure!(
        execution.status == "SUCCEEDED",
        "execution {} ended {} ({:?}) after {}",
        execution.arn,
        execution.status,
        execution.error,
        execution.states.join(" → ")
    );
    execution
        .transform
        .as_ref()
        .context("no Transform result in the history")
}

async fn summary(stack: &Stack, t: &TransformResult) -> Result<Summary> {
    let uri = S3Uri::parse_object(&t.summary_uri)?;
    Ok(serde_json::from_slice(
        &stack.get(&uri.bucket, &uri.key).await?,
    )?)
}

/// Every row of every Parquet file the summary lists, as "partition/ column=value …", sorted.
async fn parquet_rows(
    stack: &Stack,
    t: &TransformResult,
    summary: &Summary,
) -> Result<Vec<String>> {
    let table = S3Uri::parse(&t.table_location)?;
    let (bucket, table_prefix) = (table.bucket.as_str(), table.key.as_str());
    let mut rows = Vec::new();
    for partition in &summary.partitions {
        for file in &partition.files {
            let key = format!("{table_prefix}{}", file.key);
            ensure!(
                key.starts_with(&format!("{table_prefix}{}", partition.path)),
                "{key} lies in its partition"
            );
            let bytes = bytes::Bytes::from(stack.get(bucket, &key).await?);
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
            let mut in_file = 0;
            for batch in reader {
                let batch = batch?;
                in_file += batch.num_rows() as u64;
                rows.extend(render_rows(&partition.path, &batch)?);
            }
            ensure!(
                in_file == file.rows,
                "{key}: {in_file} rows, summary says {}",
                file.rows
            );
        }
    }
    rows.sort();
    Ok(rows)
}

/// The source id a raw object's output files are named by (its version, else its ETag).
fn source_id_of(o: &RawObject) -> String {
    let version = o.version_id.as_deref().unwrap_or(&o.etag);
    source_id(&o.bucket, &o.key, Some(version))
}

/// Every row the table holds for one raw key, whatever its versions: the rows of every Parquet
/// file in the table location written for `objects` (file names carry the object version's
/// source id), sorted.
async fn table_rows_of(
    stack: &Stack,
    table_location: &str,
    objects: &[&RawObject],
) -> Result<Vec<String>> {
    let table = S3Uri::parse(table_location)?;
    let ids: Vec<String> = objects
        .iter()
        .map(|o| format!("/part-{}-", source_id_of(o)))
        .collect();
    let mut rows = Vec::new();
    for key in stack.list(&table.bucket, &table.key).await? {
        if !ids.iter().any(|id| key.contains(id.as_str())) {
            continue;
        }
        let partition = key[table.key.len()..key.rfind('/').unwrap_or(0) + 1].to_string();
        let bytes = bytes::Bytes::from(stack.get(&table.bucket, &key).await?);
        for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
            rows.extend(render_rows(&partition, &batch?)?);
        }
    }
    rows.sort();
    Ok(rows)
}

async fn a_new_upload_replaces_the_rows_of_the_one_before(stack: Arc<Stack>) -> Result<()> {
    let key = "iot/replaced/readings.ndjson";
    let (v1, first) = run_one(&stack, key, (GOOD.join("\n") + "\n").into_bytes()).await?;
    let t1 = succeeded(&first)?.clone();
    ensure!(
        table_rows_of(&stack, &t1.table_location, &[&v1]).await? == GOOD_ROWS,
        "v1's rows"
    );
    // A corrected file with one record fewer.
    let (v2, second) = run_one(&stack, key, (GOOD[..3].join("\n") + "\n").into_bytes()).await?;
    let t2 = succeeded(&second)?.clone();
    let mut want: Vec<&str> = GOOD_ROWS
        .iter()
        .copied()
        .filter(|r| r.contains("month=06"))
        .collect();
    want.sort();
    let rows = table_rows_of(&stack, &t2.table_location, &[&v1, &v2]).await?;
    ensure!(
        rows == want,
        "exactly v2's rows, not v1's as well: {rows:#?}"
    );
    // "Copy it onto itself" (a new version of the same bytes) replaces, it does not add.
    let (v3, third) = run_one(&stack, key, (GOOD[..3].join("\n") + "\n").into_bytes()).await?;
    succeeded(&third)?;
    let rows = table_rows_of(&stack, &t2.table_location, &[&v1, &v2, &v3]).await?;
    ensure!(rows == want, "the same rows once: {rows:#?}");
    let manifest = manifest_of(&stack, "iot_sensors", key).await?;
    let current = manifest.current.context("a current generation")?;
    ensure!(
        current.version_id == v3.version_id && manifest.pending.is_empty(),
        "{current:?}"
    );
    // The replaced generations' summaries and rejected files went with them.
    let summaries: Vec<String> = curated_keys(&stack)
        .await?
        .into_iter()
        .filter(|k| {
            [&v1, &v2, &v3].iter().any(|o| k.contains(&source_id_of(o)))
                && !k.starts_with("tables/")
        })
        .collect();
    ensure!(summaries.len() == 1, "one summary left: {summaries:?}");
    Ok(())
}

async fn a_late_event_of_an_older_upload_changes_nothing(stack: Arc<Stack>) -> Result<()> {
    let key = "iot/late/readings.ndjson";
    let v1 = stack
        .upload(key, (GOOD.join("\n") + "\n").into_bytes())
        .await?;
    let v2 = stack
        .upload(key, (GOOD[..1].join("\n") + "\n").into_bytes())
        .await?;
    // v2's event arrives first, v1's after it has finished.
    let newer = stack.deliver(&[&v2]).await?;
    let t2 = succeeded(&stack.follow(&newer.started[0], EXECUTION_TIMEOUT).await?)?.clone();
    let older = stack.deliver(&[&v1]).await?;
    ensure!(older.started.len() == 1, "{older:?}");
    let late = stack.follow(&older.started[0], EXECUTION_TIMEOUT).await?;
    let t1 = succeeded(&late)?;
    ensure!(t1.superseded && t1.records_written == 0, "{t1:?}");
    let rows = table_rows_of(&stack, &t2.table_location, &[&v1, &v2]).await?;
    ensure!(rows == [GOOD_ROWS[1]], "v2's row only: {rows:#?}");

    // Both events in one notification, in the wrong order: v2's rows again.
    let key = "iot/late/both.ndjson";
    let v1 = stack
        .upload(key, (GOOD.join("\n") + "\n").into_bytes())
        .await?;
    let v2 = stack
        .upload(key, (GOOD[..1].join("\n") + "\n").into_bytes())
        .await?;
    let both = stack.deliver(&[&v2, &v1]).await?;
    ensure!(both.started.len() == 2, "{both:?}");
    for arn in &both.started {
        succeeded(&stack.follow(arn, EXECUTION_TIMEOUT).await?)?;
    }
    let rows = table_rows_of(&stack, &t2.table_location, &[&v1, &v2]).await?;
    ensure!(rows == [GOOD_ROWS[1]], "v2's row only: {rows:#?}");
    Ok(())
}

async fn a_deleted_object_removes_its_rows_where_the_dataset_says_so(
    stack: Arc<Stack>,
) -> Result<()> {
    let body = (GOOD.join("\n") + "\n").into_bytes();
    // on_delete = "remove": rows, rejected records and summary go.
    let key = "erasable/gone.ndjson";
    let (object, execution) = run_one(&stack, key, body.clone()).await?;
    let t = succeeded(&execution)?.clone();
    ensure!(table_rows_of(&stack, &t.table_location, &[&object]).await? == GOOD_ROWS);
    let deleted = stack.delete_raw(key).await?;
    ensure!(deleted.started.len() == 1, "{deleted:?}");
    let removal = stack.follow(&deleted.started[0], EXECUTION_TIMEOUT).await?;
    let r = succeeded(&removal)?;
    ensure!(r.removed && r.records_written == 0, "{r:?}");
    let rows = table_rows_of(&stack, &t.table_location, &[&object]).await?;
    ensure!(rows.is_empty(), "no rows of the deleted object: {rows:#?}");
    let id = source_id_of(&object);
    let left: Vec<String> = curated_keys(&stack)
        .await?
        .into_iter()
        .filter(|k| k.contains(&id))
        .collect();
    ensure!(left.is_empty(), "nothing of it left: {left:?}");

    // The default, on_delete = "keep": deleting the raw object keeps its rows.
    let key = "iot/kept/readings.ndjson";
    let (object, execution) = run_one(&stack, key, body).await?;
    let t = succeeded(&execution)?.clone();
    let kept = stack.delete_raw(key).await?;
    ensure!(
        kept.started.is_empty() && kept.skipped.len() == 1,
        "{kept:?}"
    );
    ensure!(table_rows_of(&stack, &t.table_location, &[&object]).await? == GOOD_ROWS);
    Ok(())
}

async fn a_backfill_processes_objects_that_had_no_event_once(stack: Arc<Stack>) -> Result<()> {
    // Two objects that were in the bucket before the stack: no event was ever delivered.
    let body = (GOOD.join("\n") + "\n").into_bytes();
    let a = stack.upload("iot/backfill/a.ndjson", body.clone()).await?;
    let b = stack.upload("iot/backfill/b c.ndjson", body).await?;
    let request = serde_json::json!({
        "backfill": {"bucket": stack.names.raw_bucket, "prefix": "iot/backfill/"}
    });
    let report: serde_json::Value =
        serde_json::from_slice(&stack.invoke("s3-trigger", &request).await?)?;
    let started: Vec<String> = serde_json::from_value(report["started"].clone())?;
    ensure!(started.len() == 2, "{report}");
    let mut location = String::new();
    for arn in &started {
        let t = succeeded(&stack.follow(arn, EXECUTION_TIMEOUT).await?)?.clone();
        location = t.table_location;
    }
    // Listed objects carry no version: their files are named by their ETag.
    for object in [&a, &b] {
        let listed = RawObject {
            version_id: None,
            ..(*object).clone()
        };
        ensure!(
            table_rows_of(&stack, &location, &[&listed]).await? == GOOD_ROWS,
            "{}: its rows once",
            object.key
        );
    }
    // Run again: nothing new starts.
    let again: serde_json::Value =
        serde_json::from_slice(&stack.invoke("s3-trigger", &request).await?)?;
    ensure!(
        again["started"].as_array().is_some_and(|s| s.is_empty()) && again["duplicates"] == 2,
        "{again}"
    );
    Ok(())
}

fn render_rows(partition: &str, batch: &RecordBatch) -> Result<Vec<String>> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|row| {
            let mut line = partition.to_string();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                let value = if column.is_null(row) {
                    "null".to_string()
                } else {
                    match field.data_type() {
                        DataType::Int64 => {
                            column.as_primitive::<Int64Type>().value(row).to_string()
                        }
                        DataType::Float64 => {
                            column.as_primitive::<Float64Type>().value(row).to_string()
                        }
                        DataType::Utf8 => column.as_string::<i32>().value(row).to_string(),
                        other => {
                            anyhow::bail!("column {} has unexpected type {other}", field.name())
                        }
                    }
                };
                line.push_str(&format!(" {}={value}", field.name()));
            }
            Ok(line)
        })
        .collect()
}

/// Everything in the curated bucket but the manifests (which record attempts too).
async fn curated_keys(stack: &Stack) -> Result<BTreeSet<String>> {
    Ok(stack
        .list(&stack.names.curated_bucket, "")
        .await?
        .into_iter()
        .filter(|k| !k.starts_with(CuratedLayout::MANIFESTS))
        .collect())
}

/// The manifest of a raw key of `dataset`.
async fn manifest_of(stack: &Stack, dataset: &str, key: &str) -> Result<Manifest> {
    let layout = CuratedLayout::with_defaults(&stack.names.curated_bucket);
    let at = layout.manifest_key(dataset, &stack.names.raw_bucket, key);
    Ok(serde_json::from_slice(
        &stack.get(&stack.names.curated_bucket, &at).await?,
    )?)
}

/// Checks the accounting, between the stage result, the summary object and its partitions.
fn check_accounting(t: &TransformResult, summary: &Summary) -> Result<()> {
    ensure!(
        t.records_in == t.records_written + t.records_rejected,
        "in {} = written {} + rejected {}",
        t.records_in,
        t.records_written,
        t.records_rejected
    );
    ensure!(
        (
            summary.records_in,
            summary.records_written,
            summary.records_rejected
        ) == (t.records_in, t.records_written, t.records_rejected),
        "summary object and stage result agree"
    );
    ensure!(
        t.rows_written == summary.rows_written,
        "rows written: stage result {} and summary {}",
        t.rows_written,
        summary.rows_written
    );
    let rows: u64 = summary.partitions.iter().map(|p| p.rows).sum();
    ensure!(
        rows == summary.rows_written,
        "partition rows {rows} = rows written {}",
        summary.rows_written
    );
    // One row per record, except in the datasets here that have `[rows]`.
    let has_rows = ["github_commits", "otlp_logs"].contains(&summary.dataset.as_str());
    ensure!(
        rows == t.records_written || has_rows,
        "partition rows {rows} = written {} (one row per record)",
        t.records_written
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------

/// Empty device ids share the default partition (one writer, listed once), Hive's name for it is
/// refused with a reason, and a NUL or a quote in a value reaches the DDL as literals Hive reads
/// back unchanged (`\u0000`, never `\0` followed by digits).
async fn partition_values_reach_the_catalog_exactly(stack: Arc<Stack>) -> Result<()> {
    let body = [
        r#"{"device_id":"","timestamp":1546300800}"#,
        r#"{"device_id":"","timestamp":1546300801}"#,
        r#"{"device_id":"__HIVE_DEFAULT_PARTITION__","timestamp":1546300802}"#,
        r#"{"device_id":"nul\u000012","timestamp":1546300803}"#,
        r#"{"device_id":"it's","timestamp":1546300804}"#,
    ]
    .join("\n");
    let (_, execution) = run_one(&stack, "iot/partitions/edge.ndjson", body.into_bytes()).await?;
    let t = succeeded(&execution)?;
    ensure!(
        (t.records_in, t.records_written, t.records_rejected) == (5, 4, 1),
        "{t:?}"
    );
    ensure!(
        t.rejected_by_reason.get("reserved_partition_value") == Some(&1),
        "{t:?}"
    );
    let summary = summary(&stack, t).await?;
    check_accounting(t, &summary)?;
    let rows = parquet_rows(&stack, t, &summary).await?;
    ensure!(rows.len() == 4, "4 rows read back: {rows:#?}");
    let queries = stack.athena_queries().await?;
    let add = queries
        .iter()
        .find(|q| q.contains("year=2019/month=01/"))
        .context("the ALTER TABLE of this object")?;
    ensure!(add.matches("PARTITION (").count() == 3, "{add}");
    ensure!(
        add.matches("__HIVE_DEFAULT_PARTITION__").count() == 2,
        "value and path: {add}"
    );
    ensure!(add.contains(r"`device_id` = 'nul\u000012'"), "{add}");
    ensure!(add.contains(r"`device_id` = 'it\'s'"), "{add}");
    ensure!(add.contains("device_id=nul%0012/'"), "{add}");
    Ok(())
}

async fn happy_path_ndjson(stack: Arc<Stack>) -> Result<()> {
    let body = GOOD.join("\n") + "\n";
    let (_, execution) = run_one(&stack, "iot/happy/readings.ndjson", body.into_bytes()).await?;
    let t = succeeded(&execution)?;
    ensure!(
        (t.records_in, t.records_written, t.records_rejected) == (4, 4, 0),
        "{t:?}"
    );
    let summary = summary(&stack, t).await?;
    check_accounting(t, &summary)?;
    let rows = parquet_rows(&stack, t, &summary).await?;
    ensure!(rows == GOOD_ROWS, "rows read back: {rows:#?}");
    let partitions: Vec<_> = summary.partitions.iter().map(|p| p.path.as_str()).collect();
    ensure!(
        partitions
            == [
                "year=2020/month=05/device_id=B/",
                "year=2020/month=06/device_id=A/",
                "year=2020/month=06/device_id=B/"
            ],
        "partitions: {partitions:?}"
    );
    ensure!(
        t.rejected_uri.is_none(),
        "no rejected file when nothing is rejected"
    );

    // The path: transform, then three DDL statements, each polled while RUNNING, then again.
    let path = execution.states.join(" → ");
    ensure!(
        path.starts_with("Transform → CheckQuality → StartCatalog → UpdateCatalog"),
        "{path}"
    );
    ensure!(path.ends_with("Done"), "{path}");
    ensure!(
        execution
            .states
            .iter()
            .filter(|s| *s == "UpdateCatalog")
            .count()
            == 3,
        "{path}"
    );
    // moto reports each query RUNNING on its first status check: the Wait → Poll loop runs twice.
    ensure!(
        execution
            .states
            .iter()
            .filter(|s| *s == "PollQuery")
            .count()
            == 6,
        "{path}"
    );

    // The DDL Athena was asked to run for this object.
    let queries = stack.athena_queries().await?;
    ensure!(
        queries
            .iter()
            .any(|q| q == "CREATE DATABASE IF NOT EXISTS `iot`"),
        "{queries:#?}"
    );
    ensure!(
        queries.iter().any(|q| q
            .starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `iot`.`sensor_readings`")
            && q.contains("PARTITIONED BY")
            && q.contains(&format!("LOCATION '{}'", t.table_location))),
        "{queries:#?}"
    );
    let add = queries
        .iter()
        .rev()
        .find(|q| q.starts_with("ALTER TABLE `iot`.`sensor_readings` ADD IF NOT EXISTS"))
        .context("an ALTER TABLE … ADD PARTITION query")?;
    for p in &summary.partitions {
        ensure!(
            add.contains(&format!("LOCATION '{}{}'", t.table_location, p.path)),
            "{add}"
        );
    }
    ensure!(add.matches("PARTITION (").count() == 3, "{add}");
    Ok(())
}

async fn array_concatenated_and_gzip_inputs(stack: Arc<Stack>) -> Result<()> {
    let array = format!("[\n  {}\n]\n", GOOD.join(",\n  "));
    let concatenated = GOOD.join(" ");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all((GOOD.join("\n") + "\n").as_bytes())?;
    let inputs = [
        ("iot/formats/array.json", array.into_bytes()),
        ("iot/formats/concatenated.json", concatenated.into_bytes()),
        ("iot/formats/readings.ndjson.gz", gzip.finish()?),
    ];
    let mut objects = Vec::new();
    for (key, body) in inputs {
        objects.push(stack.upload(key, body).await?);
    }
    // One notification with three records, as S3 may batch them: three executions side by side.
    let trigger = stack.deliver(&objects.iter().collect::<Vec<_>>()).await?;
    ensure!(trigger.started.len() == 3, "{trigger:?}");
    for (object, arn) in objects.iter().zip(&trigger.started) {
        let execution = stack.follow(arn, EXECUTION_TIMEOUT).await?;
        let t = succeeded(&execution).with_context(|| object.key.clone())?;
        ensure!(t.object.key == object.key, "execution for {}", object.key);
        ensure!(
            (t.records_in, t.records_written) == (4, 4),
            "{}: {t:?}",
            object.key
        );
        let summary = summary(&stack, t).await?;
        check_accounting(t, &summary)?;
        let rows = parquet_rows(&stack, t, &summary).await?;
        ensure!(
            rows == GOOD_ROWS,
            "{}: rows read back: {rows:#?}",
            object.key
        );
    }
    Ok(())
}

async fn mixed_good_and_bad_records(stack: Arc<Stack>) -> Result<()> {
    let (_, execution) = run_one(
        &stack,
        "iot/mixed/sample.ndjson",
        SAMPLE.as_bytes().to_vec(),
    )
    .await?;
    let t = succeeded(&execution)?;
    ensure!(
        (t.records_in, t.records_written, t.records_rejected) == (10, 6, 4),
        "{t:?}"
    );
    let summary = summary(&stack, t).await?;
    check_accounting(t, &summary)?;
    let rows = parquet_rows(&stack, t, &summary).await?;
    ensure!(rows.len() == 6, "6 rows read back: {rows:#?}");
    let expected_reasons = [
        "invalid_json",
        "missing_required_field",
        "out_of_range",
        "type_mismatch",
    ];
    ensure!(
        t.rejected_by_reason
            .keys()
            .map(String::as_str)
            .eq(expected_reasons),
        "{:?}",
        t.rejected_by_reason
    );

    let uri = S3Uri::parse_object(t.rejected_uri.as_deref().context("a rejected file")?)?;
    let rejected = String::from_utf8(stack.get(&uri.bucket, &uri.key).await?)?;
    let lines: Vec<serde_json::Value> = rejected
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(lines.len() == 4, "{rejected}");
    let mut reasons = BTreeSet::new();
    for line in &lines {
        let source = line["source"].as_str().unwrap_or_default();
        ensure!(
            source.ends_with("iot/mixed/sample.ndjson"),
            "each rejected record names its object: {line}"
        );
        reasons.insert(line["reason"].as_str().context("a reason")?.to_string());
    }
    ensure!(
        reasons.iter().map(String::as_str).eq(expected_reasons),
        "{reasons:?}"
    );
    // Line 9 is cut short: the rejected record says which line.
    ensure!(
        lines
            .iter()
            .any(|l| l["line"] == 9 && l["reason"] == "invalid_json"),
        "{rejected}"
    );
    Ok(())
}

async fn key_with_spaces_and_non_ascii(stack: Arc<Stack>) -> Result<()> {
    let key = "iot/2020/06/24/sensor readings été batch#1+2.ndjson";
    let (object, execution) = run_one(&stack, key, (GOOD.join("\n") + "\n").into_bytes()).await?;
    let t = succeeded(&execution)?;
    ensure!(
        t.object.key == key,
        "decoded key reaches the transform: {:?}",
        t.object.key
    );
    ensure!(
        t.object.version_id == object.version_id,
        "the event's version is read"
    );
    let summary = summary(&stack, t).await?;
    ensure!(
        summary.source.ends_with(key),
        "summary source {}",
        summary.source
    );
    let rows = parquet_rows(&stack, t, &summary).await?;
    ensure!(rows == GOOD_ROWS, "rows read back: {rows:#?}");
    Ok(())
}

async fn malformed_object_fails_and_notifies(stack: Arc<Stack>) -> Result<()> {
    let _ = stack.published().await?; // start from an empty inbox
    let before = curated_keys(&stack).await?;
    // A JSON array cut off in its third element: no record boundary to recover at.
    let body = format!(
        "[{},{},{{\"device_id\":\"C\",\"timestamp\":",
        GOOD[0], GOOD[1]
    )
    .into_bytes();
    let key = "iot/broken/cut-off.json";
    let (object, execution) = run_one(&stack, key, body.clone()).await?;

    ensure!(
        execution.status == "FAILED",
        "{} ended {}",
        execution.arn,
        execution.status
    );
    ensure!(
        execution.states.first().map(String::as_str) == Some("Transform"),
        "{:?}",
        execution.states
    );
    ensure!(
        execution.states.iter().any(|s| s == "NotifyFailure"),
        "{:?}",
        execution.states
    );
    ensure!(
        execution
            .states
            .iter()
            .position(|s| s == "CleanUpFailedTransform")
            < execution.states.iter().position(|s| s == "NotifyFailure"),
        "cleaned up before notified: {:?}",
        execution.states
    );
    let (error, cause) = execution.error.clone().context("an error")?;
    ensure!(error == "PipelineFailed", "{error}: {cause}");

    let published = stack.published().await?;
    ensure!(published.len() == 1, "one message: {published:#?}");
    let message = &published[0];
    ensure!(
        message.subject.contains("BadInput"),
        "subject names the error: {}",
        message.subject
    );
    ensure!(
        message.message.contains(key),
        "message names the object: {}",
        message.message
    );
    ensure!(
        message.message.contains("line 1"),
        "message says where: {}",
        message.message
    );
    ensure!(
        message.message.contains("Cleaned up: 0 files"),
        "message says what was cleaned up: {}",
        message.message
    );

    ensure!(
        curated_keys(&stack).await? == before,
        "nothing partial in the curated bucket"
    );
    let manifest = manifest_of(&stack, "iot_sensors", key).await?;
    ensure!(
        manifest.current.is_none() && manifest.pending.is_empty(),
        "the failed attempt left the manifest as it found it: {manifest:?}"
    );
    ensure!(
        stack.get(&object.bucket, key).await? == body,
        "raw object unchanged"
    );
    let versions = stack
        .clients
        .s3
        .list_object_versions()
        .bucket(&object.bucket)
        .prefix(key)
        .send()
        .await?;
    ensure!(versions.versions().len() == 1, "raw object not rewritten");
    ensure!(
        versions.delete_markers().is_empty(),
        "raw object not deleted"
    );
    Ok(())
}

async fn same_event_twice_runs_once(stack: Arc<Stack>) -> Result<()> {
    let object = stack
        .upload(
            "iot/twice/readings.ndjson",
            (GOOD.join("\n") + "\n").into_bytes(),
        )
        .await?;
    let first = stack.deliver(&[&object]).await?;
    // Delivered again while the execution runs: Step Functions returns the same execution.
    let second = stack.deliver(&[&object]).await?;
    ensure!(first.started.len() == 1, "{first:?}");
    let arn = &first.started[0];
    ensure!(
        second.started.iter().all(|a| a == arn)
            && second.started.len() + second.duplicates as usize == 1,
        "{second:?}"
    );
    let execution = stack.follow(arn, EXECUTION_TIMEOUT).await?;
    let t = succeeded(&execution)?;
    let after_first = curated_keys(&stack).await?;

    // Delivered once more after it finished: a duplicate, nothing started, nothing written.
    let third = stack.deliver(&[&object]).await?;
    ensure!(
        third.started.is_empty() && third.duplicates == 1,
        "{third:?}"
    );
    let executions = stack
        .clients
        .sfn
        .list_executions()
        .state_machine_arn(stack.names.state_machine_arn())
        .send()
        .await?;
    let for_object = executions
        .executions()
        .iter()
        .filter(|e| e.execution_arn == *arn)
        .count();
    ensure!(for_object == 1, "one execution for the object");
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure!(
        curated_keys(&stack).await? == after_first,
        "no duplicate files"
    );
    let summary = summary(&stack, t).await?;
    let files: usize = summary.partitions.iter().map(|p| p.files.len()).sum();
    let table_prefix = S3Uri::parse(&t.table_location)?.key;
    let id = t
        .summary_uri
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches(".json")
        .to_string();
    let parquet_for_object = after_first
        .iter()
        .filter(|k| k.starts_with(table_prefix.as_str()) && k.contains(&id))
        .count();
    ensure!(
        parquet_for_object == files,
        "{parquet_for_object} Parquet files for the object, summary lists {files}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Failures, overlaps and limits: what the table holds after each, and the one message each.

/// `n` readings of device `S`, one a second from 2020-06-24, with values varied enough (a fixed
/// pseudo-random sequence) that Parquet does not compress them to nothing: about 100 bytes of
/// JSON and 20 of Parquet each.
fn many_readings(n: usize) -> Vec<String> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            format!(
                r#"{{"device_id":"S","timestamp":{},"location":{{"lat":"{:.6}","long":"{:.6}"}},"temperature":{:.2},"humidity":{:.2},"pressure":{:.2}}}"#,
                1_592_956_800 + i,
                next() * 180.0 - 90.0,
                next() * 360.0 - 180.0,
                next() * 60.0 - 10.0,
                next() * 100.0,
                950.0 + next() * 100.0
            )
        })
        .collect()
}

/// The keys in the curated bucket (manifests aside) written for `object`, by its source id.
async fn keys_of(stack: &Stack, object: &RawObject) -> Result<Vec<String>> {
    let id = source_id_of(object);
    Ok(curated_keys(stack)
        .await?
        .into_iter()
        .filter(|k| k.contains(&id))
        .collect())
}

/// Polls the curated bucket until a data file written for `object` is there (at most a minute).
async fn a_data_file_of(stack: &Stack, object: &RawObject) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(key) = keys_of(stack, object)
            .await?
            .into_iter()
            .find(|k| k.starts_with("tables/") && k.ends_with(".parquet"))
        {
            return Ok(key);
        }
        ensure!(
            Instant::now() < deadline,
            "no data file of {} appeared",
            object.key
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The checks every failed object shares: the execution failed after cleaning up, one message
/// names the object and `error`, the object left nothing in the curated bucket and its manifest
/// (if it has one) holds no generation and no pending attempt. Returns the message.
async fn failed_cleanly(
    stack: &Stack,
    execution: &Execution,
    dataset: &str,
    object: &RawObject,
    error: &str,
) -> Result<Published> {
    ensure!(
        execution.status == "FAILED",
        "{} ended {}: {:?}",
        execution.arn,
        execution.status,
        execution.states
    );
    ensure!(
        execution
            .states
            .iter()
            .any(|s| s == "CleanUpFailedTransform"),
        "the clean-up ran: {:?}",
        execution.states
    );
    let published = stack.published().await?;
    ensure!(published.len() == 1, "one message: {published:#?}");
    let message = published[0].clone();
    ensure!(
        message.subject.contains(error) && message.message.contains(&object.key),
        "the message names {error} and the object: {message:#?}"
    );
    let left = keys_of(stack, object).await?;
    ensure!(left.is_empty(), "nothing of the object is left: {left:?}");
    let layout = CuratedLayout::with_defaults(&stack.names.curated_bucket);
    let at = layout.manifest_key(dataset, &object.bucket, &object.key);
    if stack
        .list(&stack.names.curated_bucket, &at)
        .await?
        .contains(&at)
    {
        let manifest = manifest_of(stack, dataset, &object.key).await?;
        ensure!(
            manifest.current.is_none() && manifest.pending.is_empty(),
            "the manifest holds nothing of the failed attempt: {manifest:?}"
        );
    }
    Ok(message)
}

/// The same event delivered three times at once, and two more executions started by hand with
/// its input while they run (as the failure message advises): the attempts overlap, and the
/// table ends with one generation, its rows once.
async fn one_event_many_times_at_once_leaves_one_generation(stack: Arc<Stack>) -> Result<()> {
    let key = "iot/crowd/readings.ndjson";
    let object = stack
        .upload(key, (GOOD.join("\n") + "\n").into_bytes())
        .await?;
    let objects = [&object];
    let (a, b, c) = tokio::join!(
        stack.deliver(&objects),
        stack.deliver(&objects),
        stack.deliver(&objects)
    );
    let mut arns: Vec<String> = [a?, b?, c?].into_iter().flat_map(|t| t.started).collect();
    arns.sort();
    arns.dedup();
    ensure!(arns.len() == 1, "one execution for one event: {arns:?}");
    let sfn = &stack.clients.sfn;
    let input = sfn
        .describe_execution()
        .execution_arn(&arns[0])
        .send()
        .await?
        .input
        .context("the execution's input")?;
    let start = |n: u32| {
        sfn.start_execution()
            .state_machine_arn(stack.names.state_machine_arn())
            .name(format!("crowd-by-hand-{n}-{}", std::process::id()))
            .input(input.clone())
            .send()
    };
    let (one, two) = tokio::join!(start(1), start(2));
    arns.push(one?.execution_arn);
    arns.push(two?.execution_arn);
    let mut results = Vec::new();
    for arn in &arns {
        results.push(succeeded(&stack.follow(arn, EXECUTION_TIMEOUT).await?)?.clone());
    }
    let t = &results[0];
    let rows = table_rows_of(&stack, &t.table_location, &[&object]).await?;
    ensure!(rows == GOOD_ROWS, "the rows once: {rows:#?}");
    let manifest = manifest_of(&stack, "iot_sensors", key).await?;
    let current = manifest.current.clone().context("a generation")?;
    ensure!(
        manifest.pending.is_empty() && manifest.garbage.is_empty(),
        "nothing under way or left to delete: {manifest:?}"
    );
    let mut want = current.keys.clone();
    want.sort();
    let have = keys_of(&stack, &object).await?;
    ensure!(
        have == want,
        "exactly the current generation's files: {have:#?} vs {want:#?}"
    );
    Ok(())
}

/// A JSON array broken after enough records that the transform committed data files first:
/// the files are taken back, the clean-up finds nothing left, one message.
async fn a_transform_that_fails_after_committing_files_takes_them_back(
    stack: Arc<Stack>,
) -> Result<()> {
    let _ = stack.published().await?;
    let before = curated_keys(&stack).await?;
    let body = format!(
        "[{},{{\"device_id\":\"C\",\"timestamp\":",
        many_readings(200_000).join(",")
    );
    let object = stack
        .upload("small/broken/cut-off.json", body.into_bytes())
        .await?;
    let trigger = stack.deliver(&[&object]).await?;
    ensure!(trigger.started.len() == 1, "{trigger:?}");
    let committed = a_data_file_of(&stack, &object).await?;
    let execution = stack.follow(&trigger.started[0], EXECUTION_TIMEOUT).await?;
    let message =
        failed_cleanly(&stack, &execution, "iot_small_files", &object, "BadInput").await?;
    ensure!(
        message.message.contains("the JSON array is broken"),
        "{message:#?}"
    );
    ensure!(
        curated_keys(&stack).await? == before,
        "{committed} and the rest were taken back"
    );
    Ok(())
}

/// A transform that hangs after committing files (frozen, as a stuck upload or a stalled host
/// would leave it) is stopped at its timeout, as Lambda stops it; the clean-up waits until the
/// attempt is certainly dead, deletes its files and says so in the one message. Then what the
/// message advises, a new execution with the failed one's input, processes the object.
async fn a_transform_stopped_at_its_timeout_leaves_nothing_behind(stack: Arc<Stack>) -> Result<()> {
    let _ = stack.published().await?;
    let before = curated_keys(&stack).await?;
    const RECORDS: u64 = 200_000;
    let body = many_readings(RECORDS as usize).join("\n") + "\n";
    let object = stack
        .upload("small/stalled/readings.ndjson", body.into_bytes())
        .await?;
    let trigger = stack.deliver(&[&object]).await?;
    ensure!(trigger.started.len() == 1, "{trigger:?}");
    a_data_file_of(&stack, &object).await?;
    let frozen = stack.freeze_working("transform");
    ensure!(frozen == 1, "one transform was working, not {frozen}");
    let left = keys_of(&stack, &object).await?;
    let execution = stack.follow(&trigger.started[0], EXECUTION_TIMEOUT).await?;
    ensure!(
        execution.states.iter().any(|s| s == "WaitForKilledAttempt"),
        "the clean-up waited for the attempt's deadline: {:?}",
        execution.states
    );
    let message = failed_cleanly(
        &stack,
        &execution,
        "iot_small_files",
        &object,
        "Sandbox.Timedout",
    )
    .await?;
    ensure!(
        message
            .message
            .contains(&format!("Cleaned up: {} files", left.len())),
        "the message counts the {} files the stopped attempt left: {message:#?}",
        left.len()
    );
    ensure!(
        curated_keys(&stack).await? == before,
        "nothing else changed"
    );

    let sfn = &stack.clients.sfn;
    let input = sfn
        .describe_execution()
        .execution_arn(&execution.arn)
        .send()
        .await?
        .input
        .context("the failed execution's input")?;
    let again = sfn
        .start_execution()
        .state_machine_arn(stack.names.state_machine_arn())
        .name(format!("stalled-again-{}", std::process::id()))
        .input(input)
        .send()
        .await?;
    let execution = stack
        .follow(&again.execution_arn, EXECUTION_TIMEOUT)
        .await?;
    let t = succeeded(&execution)?;
    ensure!(
        (t.records_in, t.records_written) == (RECORDS, RECORDS),
        "every record written: {t:?}"
    );
    let manifest = manifest_of(&stack, "iot_small_files", &object.key).await?;
    let current = manifest.current.context("a generation")?;
    ensure!(
        current.records_written == RECORDS && manifest.pending.is_empty(),
        "{current:?}"
    );
    Ok(())
}

/// Each of the dataset's limits (`iot_limited`): a gzip bomb, an object too large, one with too
/// many partitions. Each fails with a message naming the limit, and leaves nothing.
async fn objects_past_a_limit_fail_clearly_and_leave_nothing(stack: Arc<Stack>) -> Result<()> {
    let _ = stack.published().await?;
    let before = curated_keys(&stack).await?;
    // 3 MiB of readings, a few KiB once compressed.
    let text = GOOD.join("\n").repeat(5_000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(text.as_bytes())?;
    let bomb = gz.finish()?;
    ensure!(bomb.len() < 1 << 20, "the bomb is small: {}", bomb.len());
    let large = many_readings(15_000).join("\n").into_bytes();
    ensure!(large.len() > 1 << 20, "the large object is large");
    let partitions: String = (0..5)
        .map(|i| format!("{{\"device_id\":\"d{i}\",\"timestamp\":1593007044}}\n"))
        .collect();
    let cases = [
        ("limited/bomb.ndjson.gz", bomb, "max_decompressed_mb"),
        ("limited/large.ndjson", large, "max_object_mb"),
        (
            "limited/fan-out.ndjson",
            partitions.into_bytes(),
            "max_partitions",
        ),
    ];
    for (key, body, limit) in cases {
        let (object, execution) = run_one(&stack, key, body).await?;
        let message =
            failed_cleanly(&stack, &execution, "iot_limited", &object, "BadInput").await?;
        ensure!(
            message.message.contains(limit),
            "{key}: the message names {limit}: {message:#?}"
        );
    }
    let after = curated_keys(&stack).await?;
    ensure!(
        after == before,
        "nothing written: {:?}",
        after.symmetric_difference(&before).collect::<Vec<_>>()
    );
    Ok(())
}

/// The S3 adapter reads an object past `RANGED_FROM` as ranged GETs against the emulator, all of
/// the version its first response came from: whole and in order, and, when the key is overwritten
/// while it is read, still the old version in a versioned bucket (the raw one) and an error in an
/// unversioned one (`If-Match` no longer holds), never a mix of the two.
async fn a_large_object_is_read_as_ranges_of_one_version(stack: Arc<Stack>) -> Result<()> {
    use etl_aws::s3::{S3Objects, RANGES_IN_FLIGHT, RANGE_BYTES};
    use etl_core::ports::ObjectStore;
    use std::io::Read as _;
    // More ranges than are fetched at once, so the last ones start after the overwrite.
    let size = (RANGES_IN_FLIGHT as u64 + 2) * RANGE_BYTES + 12_345;
    let old: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let new: Vec<u8> = (0..size).map(|i| (i % 241) as u8).collect();
    let s3 = S3Objects::new(stack.clients.s3.clone());
    let read_all = |reader: Box<dyn std::io::Read + Send>| {
        tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let mut out = Vec::new();
            reader.read_to_end(&mut out).map(|_| out)
        })
    };
    let (raw, curated) = (&stack.names.raw_bucket, &stack.names.curated_bucket);
    for bucket in [raw, curated] {
        let key = "ranged/big.bin";
        let put = |body: &Vec<u8>| {
            (stack.clients.s3.put_object())
                .bucket(bucket)
                .key(key)
                .body(body.clone().into())
                .send()
        };
        put(&old).await?;
        let whole = read_all(s3.open(bucket, key, None).await?).await??;
        ensure!(
            whole == old,
            "{bucket}: the object read back whole and in order"
        );

        let reader = s3.open(bucket, key, None).await?;
        put(&new).await?;
        let read = read_all(reader).await?;
        match (bucket == raw, read) {
            (true, Ok(bytes)) => ensure!(bytes == old, "{bucket}: the version first read, whole"),
            (false, Err(e)) => ensure!(
                e.to_string().contains("PreconditionFailed"),
                "{bucket}: {e}"
            ),
            (versioned, other) => anyhow::bail!(
                "{bucket} (versioned: {versioned}): {:?}",
                other.map(|b| b == old)
            ),
        }
    }
    Ok(())
}

/// A ZIP archive (deflated) of `members` (name in the archive, file), as Python's zipfile writes it.
fn zip_with_python(members: &[(&str, &std::path::Path)]) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let archive = dir.path().join("archive.zip");
    let mut args = vec![archive.display().to_string()];
    for (name, path) in members {
        args.extend([name.to_string(), path.display().to_string()]);
    }
    let script = "import sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n\
        \x20   for name, path in zip(sys.argv[2::2], sys.argv[3::2]): z.write(path, name)\n";
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&args)
        .status()
        .context("python3 writes the archive")?;
    ensure!(status.success(), "python3's zipfile failed");
    Ok(std::fs::read(archive)?)
}

/// The example datasets for nested sources (`datasets/examples/`), their samples delivered as the
/// services write them (CloudTrail gzipped under `AWSLogs/`, CloudWatch Logs payloads gzipped by
/// Firehose under a key without an extension, and zipped, GitHub events as NDJSON): every
/// record written, the files' lists as Parquet's three-level lists and structs, and the table
/// created with the nested types. (`make readback` compares the values with DuckDB's reading.)
async fn nested_examples_reach_the_table_as_lists_and_structs(stack: Arc<Stack>) -> Result<()> {
    let examples = find_workspace(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .context("the repository")?
        .join("datasets/examples");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&std::fs::read(examples.join("samples/cloudtrail.json"))?)?;
    let mut cloudwatch = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    cloudwatch.write_all(&std::fs::read(
        examples.join("samples/cloudwatch_logs.json"),
    )?)?;
    // Firehose's ZIP compression: the same payloads as two members of an archive, written by
    // Python's zipfile (not by us).
    let sample = examples.join("samples/cloudwatch_logs.json");
    let zipped = zip_with_python(&[("logs-1", &sample), ("logs-2", &sample)])?;
    let inputs = [
        (
            "cloudwatch/2026/12/01/10/logs-to-s3-1-2026-12-01-10-00-00-5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            cloudwatch.finish()?,
            "cloudwatch_logs",
            8,
            ["log_group", "record"],
        ),
        (
            "cloudwatch/2026/12/01/11/logs-to-s3-1-2026-12-01-11-00-00-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            zipped,
            "cloudwatch_logs",
            16,
            ["log_group", "record"],
        ),
        (
            "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/30/123456789012_CloudTrail_us-east-1_20261130T2155Z_EXAMPLE.json.gz",
            gzip.finish()?,
            "cloudtrail",
            3,
            ["resources.list.element.account_id", "user_identity.session_context.attributes.creation_date"],
        ),
        (
            "github/2026-11-30-15.json",
            std::fs::read(examples.join("samples/github_push.ndjson"))?,
            "github_push",
            4,
            ["commits.list.element.author.email", "commit_shas.list.element"],
        ),
        (
            "github-commits/2026-11-30-15.json",
            std::fs::read(examples.join("samples/github_push.ndjson"))?,
            "github_commits",
            4,
            ["sha", "author_email"],
        ),
        (
            "k8s-audit/2026/12/01/kube-apiserver-audit.log",
            std::fs::read(examples.join("samples/kubernetes_audit.jsonl"))?,
            "kubernetes_audit",
            4,
            ["user_groups.list.element", "annotations.key_value.key"],
        ),
        (
            "otlp/2026/12/01/logs.jsonl",
            std::fs::read(examples.join("samples/otlp_logs.jsonl"))?,
            "otlp_logs",
            2,
            ["attributes.list.element.value.int_value", "service_name"],
        ),
    ];
    // One row per commit; the push without commits gives one row (`empty = "null_row"`).
    let rows_of = |name: &str| match name {
        "github_commits" => 9,
        "otlp_logs" => 5,
        _ => 0,
    };
    let queries_before = stack.athena_queries().await?.len();
    for (key, body, name, records, leaves) in inputs {
        let (_, execution) = run_one(&stack, key, body).await?;
        let t = succeeded(&execution).with_context(|| key.to_string())?;
        ensure!(
            (t.records_in, t.records_written, t.records_rejected) == (records, records, 0),
            "{key}: {t:?}"
        );
        ensure!(t.dataset == name, "{key} belongs to {name}: {t:?}");
        let summary = summary(&stack, t).await?;
        check_accounting(t, &summary)?;
        let members = if records == 16 { 2 } else { 0 };
        ensure!(summary.archive_members == members, "{key}: {summary:?}");
        let table = S3Uri::parse(&t.table_location)?;
        let mut rows = 0;
        for partition in &summary.partitions {
            for file in &partition.files {
                let key = format!("{}{}", table.key, file.key);
                let bytes = bytes::Bytes::from(stack.get(&table.bucket, &key).await?);
                let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
                let paths: Vec<String> = reader
                    .parquet_schema()
                    .columns()
                    .iter()
                    .map(|c| c.path().string())
                    .collect();
                for leaf in leaves {
                    ensure!(
                        paths.iter().any(|p| p == leaf),
                        "{key}: no {leaf} in {paths:?}"
                    );
                }
                for batch in reader.build()? {
                    let batch = batch?;
                    // The S3 event's time reached the transform as the object's creation.
                    if let Some(delivered) = batch.column_by_name("delivered") {
                        ensure!(delivered.null_count() == 0, "{key}: delivered is null");
                    }
                    rows += batch.num_rows() as u64;
                }
            }
        }
        let want_rows = match rows_of(name) {
            0 => records,
            rows => rows,
        };
        ensure!(rows == want_rows, "{key}: {rows} rows read back");
        ensure!(summary.rows_written == want_rows, "{key}: {summary:?}");
        let dataset = etl_core::Dataset::load(&examples.join(format!("{name}.toml")))?;
        let queries = stack.athena_queries().await?;
        let create = queries[queries_before..]
            .iter()
            .find(|q| q.starts_with("CREATE EXTERNAL TABLE") && q.contains(&format!("`{name}`")))
            .with_context(|| format!("the CREATE TABLE of {name} in {queries:#?}"))?;
        for field in dataset.file_fields() {
            if let Some(nested) = &field.nested {
                let column = format!("`{}` {}", field.column, nested.kind());
                ensure!(create.contains(&column), "{column} in {create}");
            }
        }
    }
    Ok(())
}
