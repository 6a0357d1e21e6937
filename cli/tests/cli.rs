//! The `etl` binary end to end: exit codes, stdout summary, stderr messages, files on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn etl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

/// `etl transform` of `input` with the shipped dataset into the table folder `table`.
fn transform(input: &str, table: &Path) -> Output {
    etl(&[
        "transform",
        "--dataset",
        "datasets/iot_sensors.toml",
        "--input",
        input,
        "--out",
        table.to_str().unwrap(),
    ])
}

fn summary(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { count_files(&p) } else { 1 })
        .sum()
}

#[test]
fn transform_sample_prints_an_exact_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("iot");
    let out = transform("datasets/samples/iot_sensors.ndjson", &table);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["records_in"], 10);
    assert_eq!(s["records_written"], 6);
    assert_eq!(s["records_rejected"], 4);
    assert_eq!(s["partitions"].as_array().unwrap().len(), 4);
    assert_eq!(count_files(&table), 4);
    assert_eq!(
        count_files(&tmp.path().join("iot.rejected")),
        1,
        "rejected beside the table"
    );
}

#[test]
fn a_broken_array_exits_1_and_names_the_place() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("broken.json");
    std::fs::write(
        &input,
        "[{\"device_id\":\"a\",\"timestamp\":1593007044},\n{\"device_id\":}]",
    )
    .unwrap();
    let table = tmp.path().join("t");
    let out = transform(input.to_str().unwrap(), &table);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.json: the JSON array is broken at line 2, column 14"),
        "{err}"
    );
    assert!(err.contains("Nothing was written"), "{err}");
    assert_eq!(count_files(&table), 0);
}

#[test]
fn crossing_the_threshold_exits_3_with_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("bad.ndjson");
    std::fs::write(
        &input,
        "{\"device_id\":\"a\",\"timestamp\":1593007044}\nnope\nnope\n",
    )
    .unwrap();
    let table = tmp.path().join("t");
    let out = transform(input.to_str().unwrap(), &table);
    assert_eq!(out.status.code(), Some(3));
    let s = summary(&out);
    assert_eq!(s["quality"]["threshold_crossed"], true);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 of 3 records rejected"));
    assert_eq!(count_files(&table), 0);
}

#[test]
fn ddl_with_a_summary_adds_its_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("iot");
    let out = transform("datasets/samples/iot_sensors.ndjson", &table);
    let summary_path = tmp.path().join("summary.json");
    std::fs::write(&summary_path, &out.stdout).unwrap();
    let out = etl(&[
        "ddl",
        "--dataset",
        "datasets/iot_sensors.toml",
        "--location",
        "s3://curated/iot/",
        "--summary",
        summary_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(
        sql.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `iot`.`sensor_readings`"),
        "{sql}"
    );
    assert_eq!(sql.matches("\n  PARTITION (").count(), 4);
    assert!(
        sql.contains("LOCATION 's3://curated/iot/year=2020/month=06/device_id=dev-0001/'"),
        "{sql}"
    );
}

#[test]
fn check_reports_a_bad_definition_with_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("datasets/iot_sensors.toml"),
        tmp.path().join("a.toml"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("b.toml"),
        "name = \"b\"\ndatabase = \"d\"\ntable = \"t\"\n[source]\nprefix = \"b/\"\n[[fields]]\ncolumn = \"x\"\ntype = \"decimal\"\n",
    )
    .unwrap();
    let out = etl(&["check", "--datasets", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("b.toml") && err.contains("\"decimal\" is not a column type"),
        "{err}"
    );
}

/// `etl check --datasets folder`'s report, which must be a pass.
fn check_passes(folder: &str) -> String {
    let out = etl(&["check", "--datasets", folder]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The definitions shipped in `datasets/` (compiled into the Lambdas) all pass `etl check`.
#[test]
fn every_shipped_dataset_definition_checks_ok() {
    let stdout = check_passes("datasets");
    assert!(stdout.contains("ok  datasets/iot_sensors.toml"), "{stdout}");
}

/// The definitions `make bench` maps its generated shapes with (`bench/datasets/`) pass too.
#[test]
fn every_bench_dataset_definition_checks_ok() {
    let stdout = check_passes("bench/datasets");
    for name in ["wide_metrics", "clickstream", "deep_documents", "fan_out"] {
        assert!(stdout.contains(&format!("{name}.toml")), "{stdout}");
    }
}

/// An unpartitioned dataset: its files sit at the table location and `etl ddl` registers no
/// partitions (no `PARTITION ()`, which Hive rejects).
#[test]
fn an_unpartitioned_dataset_gets_a_table_and_no_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let definition = tmp.path().join("flat.toml");
    std::fs::write(
        &definition,
        "name = \"flat\"\ndatabase = \"d\"\ntable = \"flat\"\n[source]\nprefix = \"flat/\"\n[[fields]]\ncolumn = \"n\"\ntype = \"int64\"\n",
    )
    .unwrap();
    let input = tmp.path().join("in.ndjson");
    std::fs::write(&input, "{\"n\":1}\n{\"n\":\"9007199254740993.0\"}\n").unwrap();
    let table = tmp.path().join("flat");
    let definition = definition.to_str().unwrap();
    let out = etl(&[
        "transform",
        "--dataset",
        definition,
        "--input",
        input.to_str().unwrap(),
        "--out",
        table.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary(&out)["records_written"], 2);
    let summary_path = tmp.path().join("summary.json");
    std::fs::write(&summary_path, &out.stdout).unwrap();
    let out = etl(&[
        "ddl",
        "--dataset",
        definition,
        "--location",
        "s3://curated/flat/",
        "--summary",
        summary_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(
        sql.contains("CREATE EXTERNAL TABLE IF NOT EXISTS `d`.`flat`"),
        "{sql}"
    );
    assert!(!sql.contains("PARTITION"), "{sql}");
}

/// Files and folders together; every bad file is reported, each problem of each on its line; the
/// good ones are still listed.
#[test]
fn check_reports_every_problem_of_every_file_given() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("more");
    std::fs::create_dir(&folder).unwrap();
    let head = "database = \"d\"\ntable = \"t\"\n[source]\nprefix = \"b/\"\n";
    std::fs::write(
        folder.join("b.toml"),
        format!("name = \"b\"\n{head}[[fields]]\ncolumn = \"x\"\npath = \"a..b\"\ntype = \"string\"\n[[fields]]\ncolumn = \"y\"\ntype = \"string\"\nmin = 1\n"),
    )
    .unwrap();
    let c = tmp.path().join("c.toml");
    std::fs::write(
        &c,
        "name = \"c\"\ndatabase = \"d\"\ntable = \"Bad Table\"\n[source]\nprefix = \"c/\"\n\
         [[fields]]\ncolumn = \"Bad-Name\"\ntype = \"string\"\n\
         [output]\nrow_group_rows = 0\n[quality]\nmax_rejected_fraction = 2.0\n",
    )
    .unwrap();
    let out = etl(&[
        "check",
        "datasets/iot_sensors.toml",
        folder.to_str().unwrap(),
        c.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for wanted in [
        "b.toml: fields[0].path",
        "b.toml: fields[1].min",
        "c.toml: table",
        "c.toml: fields[0].column",
        "c.toml: output: row_group_rows",
        "c.toml: quality.max_rejected_fraction: 2 is not between",
        "etl: 2 of 3 definitions have problems",
    ] {
        assert!(err.contains(wanted), "{wanted} in {err}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok  datasets/iot_sensors.toml"), "{stdout}");
}

/// With a sample, a path that crosses an array (and so finds nothing) is warned about, as are
/// rejected records and members no field maps.
#[test]
fn check_with_a_sample_warns_where_a_path_crosses_an_array() {
    let tmp = tempfile::tempdir().unwrap();
    let definition = tmp.path().join("push.toml");
    std::fs::write(
        &definition,
        "name = \"push\"\ndatabase = \"d\"\ntable = \"t\"\n[source]\nprefix = \"p/\"\n\
         [[fields]]\ncolumn = \"id\"\ntype = \"bigint\"\nrequired = true\n\
         [[fields]]\ncolumn = \"sha\"\npath = \"payload.commits.sha\"\ntype = \"string\"\n",
    )
    .unwrap();
    let sample = tmp.path().join("sample.ndjson");
    std::fs::write(
        &sample,
        "{\"id\":1,\"payload\":{\"commits\":[{\"sha\":\"a\"}]},\"actor\":\"x\"}\n{\"payload\":{}}\n",
    )
    .unwrap();
    let out = etl(&[
        "check",
        definition.to_str().unwrap(),
        "--sample",
        sample.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for wanted in [
        "2 records, 1 written, 1 rejected",
        "warning: ",
        "column sha (path payload.commits.sha) met a value it cannot go into in 1 of 1 records written: an array where the path goes on",
        "1 records rejected as missing_required_field",
        "members no field maps, e.g. actor (1)",
    ] {
        assert!(stdout.contains(wanted), "{wanted} in {stdout}");
    }
}

/// A local file's modification time is its object's creation time (`from = "object"`).
#[test]
fn a_local_file_was_created_when_it_was_last_written() {
    let tmp = tempfile::tempdir().unwrap();
    let definition = tmp.path().join("arrivals.toml");
    std::fs::write(
        &definition,
        "name = \"arrivals\"\ndatabase = \"d\"\ntable = \"t\"\n[source]\nprefix = \"\"\n\
         [[fields]]\ncolumn = \"n\"\ntype = \"int64\"\n\
         [[fields]]\ncolumn = \"ingested\"\nfrom = \"object\"\npath = \"created\"\ntype = \"timestamp\"\nrequired = true\n\
         [[partitions]]\nname = \"year\"\nfrom = \"ingested\"\npart = \"year\"\n",
    )
    .unwrap();
    let input = tmp.path().join("in.ndjson");
    std::fs::write(&input, "{\"n\":1}\n").unwrap();
    let modified = std::fs::metadata(&input).unwrap().modified().unwrap();
    let year = etl_core::timefmt::rfc3339_of(modified)[..4].to_string();
    let out = etl(&[
        "transform",
        "--dataset",
        definition.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        tmp.path().join("table").to_str().unwrap(),
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["records_written"], 1, "{summary}");
    assert_eq!(summary["partitions"][0]["path"], format!("year={year}/"));
}
