use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;

use super::*;
use crate::output::LocalDir;

const IOT: &str = include_str!("../../../datasets/iot_sensors.toml");

fn iot() -> Dataset {
    Dataset::from_toml_str(IOT, "datasets/iot_sensors.toml").unwrap()
}

/// A dataset `t` reading `t/` with these fields and partitions (TOML).
fn dataset(fields_and_partitions: &str) -> Dataset {
    let toml = format!(
        "name = \"t\"\ndatabase = \"db\"\ntable = \"t\"\n[source]\nprefix = \"t/\"\n{fields_and_partitions}"
    );
    Dataset::from_toml_str(&toml, "t.toml").unwrap()
}

fn source(key: &str) -> SourceObject {
    SourceObject {
        bucket: "raw".into(),
        key: key.into(),
        version: Some("v1".into()),
    }
}

struct Out {
    _dir: tempfile::TempDir,
    data: LocalDir,
    rejected: LocalDir,
}

fn out() -> Out {
    let dir = tempfile::tempdir().unwrap();
    Out {
        data: LocalDir::new(dir.path().join("table")),
        rejected: LocalDir::new(dir.path().join("rejected")),
        _dir: dir,
    }
}

fn run(dataset: &Dataset, input: &[u8], o: &Out) -> Result<Summary, TransformError> {
    Engine::new(dataset).transform(input, &source("iot/a.json"), &o.data, &o.rejected)
}

/// Every file below `root`, relative, sorted.
fn files(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn read_parquet(path: PathBuf) -> Vec<RecordBatch> {
    let file = fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The column `name` of a batch read back, as its primitive type.
fn column<'b, T: arrow_array::ArrowPrimitiveType>(
    batch: &'b RecordBatch,
    name: &str,
) -> &'b arrow_array::PrimitiveArray<T> {
    batch.column_by_name(name).unwrap().as_primitive::<T>()
}

/// (timestamp, latitude, longitude, temperature) rows of every file in a partition folder.
fn rows_in(dir: PathBuf) -> Vec<(i64, f64, f64, Option<f64>)> {
    let mut rows = Vec::new();
    for name in files(&dir) {
        for b in read_parquet(dir.join(name)) {
            let ts = column::<Int64Type>(&b, "timestamp");
            let lat = column::<Float64Type>(&b, "latitude");
            let lon = column::<Float64Type>(&b, "longitude");
            let temp = column::<Float64Type>(&b, "temperature");
            for i in 0..b.num_rows() {
                let t = (!temp.is_null(i)).then(|| temp.value(i));
                rows.push((ts.value(i), lat.value(i), lon.value(i), t));
            }
        }
    }
    rows
}

const SAMPLE: &str = r#"{"device_id":"A","timestamp":1593007044,"location":{"lat":"35.698362","long":"139.773288"},"temperature":30.1,"humidity":39.35,"pressure":1020.44}
{"device_id":"A","timestamp":"2020-06-24T14:00:00Z","location":{"lat":35.7,"long":139.8},"temperature":"31","extra":1}
{"device_id":"B","timestamp":1588291200,"location":{"lat":"-1.5","long":"2.5"}}
{"device_id":"B","timestamp":1588291201,"location":{"lat":"95.0","long":"2.5"}}
{"timestamp":1588291202,"location":{"lat":"1","long":"2"}}
this is not json
{"device_id":"A/..","timestamp":1588291203,"location":{"lat":"1","long":"2"}}
"#;

#[test]
fn sample_is_partitioned_read_back_and_accounted() {
    let o = out();
    let s = run(&iot(), SAMPLE.as_bytes(), &o).unwrap();

    assert_eq!(
        (s.records_in, s.records_written, s.records_rejected),
        (7, 4, 3)
    );
    assert_eq!(s.records_in, s.records_written + s.records_rejected);
    let reasons: BTreeMap<&str, u64> = s
        .rejected_by_reason
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        reasons,
        BTreeMap::from([
            ("invalid_json", 1),
            ("missing_required_field", 1),
            ("out_of_range", 1)
        ])
    );
    assert_eq!(s.rejected_by_field.get("latitude"), Some(&1));
    assert_eq!(s.unknown_fields, BTreeMap::from([("extra".to_string(), 1)]));
    assert!(!s.quality.threshold_crossed);

    let paths: Vec<&str> = s.partitions.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "year=2020/month=05/device_id=A%2F../",
            "year=2020/month=05/device_id=B/",
            "year=2020/month=06/device_id=A/",
        ]
    );
    let a = &s.partitions[2];
    assert_eq!(a.values[2].value.as_deref(), Some("A"));
    assert_eq!(a.rows, 2);
    assert_eq!(a.files.len(), 1);
    assert!(a.files[0]
        .key
        .starts_with("year=2020/month=06/device_id=A/part-"));
    assert_eq!(
        a.bytes,
        fs::metadata(o.data.root().join(&a.files[0].key))
            .unwrap()
            .len()
    );

    assert_eq!(
        rows_in(o.data.root().join("year=2020/month=06/device_id=A")),
        vec![
            (1_593_007_044, 35.698362, 139.773288, Some(30.1)),
            (1_593_007_200, 35.7, 139.8, Some(31.0)),
        ]
    );
    assert_eq!(
        rows_in(o.data.root().join("year=2020/month=05/device_id=B")),
        vec![(1_588_291_200, -1.5, 2.5, None)]
    );

    // Partition columns are not repeated inside the files; types are as declared.
    let batch = &read_parquet(o.data.root().join(&a.files[0].key))[0];
    let schema = batch.schema();
    let columns: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| {
            (
                f.name().as_str(),
                f.data_type().to_string(),
                f.is_nullable(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("timestamp", "Int64".to_string(), false),
            ("latitude", "Float64".to_string(), true),
            ("longitude", "Float64".to_string(), true),
            ("temperature", "Float64".to_string(), true),
            ("humidity", "Float64".to_string(), true),
            ("pressure", "Float64".to_string(), true),
        ]
    );

    let rejected = fs::read_to_string(o.rejected.root().join(hive::rejected_file_name(
        "iot_sensors",
        &hive::source_id("raw", "iot/a.json", Some("v1")),
    )))
    .unwrap();
    let lines: Vec<serde_json::Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["reason"], "out_of_range");
    assert_eq!(lines[0]["field"], "latitude");
    assert_eq!(lines[0]["line"], 4);
    assert_eq!(lines[0]["record"]["location"]["lat"], "95.0");
    assert_eq!(lines[0]["source"], "s3://raw/iot/a.json");
    assert_eq!(lines[1]["reason"], "missing_required_field");
    assert_eq!(lines[1]["message"], "required field device_id is missing");
    assert_eq!(lines[2]["reason"], "invalid_json");
    assert_eq!(lines[2]["raw"], "this is not json");
    assert_eq!(lines[2]["line"], 6);
    assert!(s.rejected_file.as_deref().unwrap().starts_with("file://"));
}

#[test]
fn processing_the_same_object_twice_overwrites() {
    let o = out();
    let first = run(&iot(), SAMPLE.as_bytes(), &o).unwrap();
    let before = files(o.data.root());
    let second = run(&iot(), SAMPLE.as_bytes(), &o).unwrap();
    assert_eq!(files(o.data.root()), before);
    assert_eq!(first, second);
    assert_eq!(before.len(), 3);
}

#[test]
fn layouts_and_gzip_give_the_same_rows() {
    let records: Vec<&str> = SAMPLE.lines().filter(|l| l.starts_with('{')).collect();
    let array = format!("[\n{}\n]", records.join(",\n"));
    let concatenated = records.concat();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(records.join("\n").as_bytes()).unwrap();
    let gzip = gz.finish().unwrap();
    let mut results = Vec::new();
    for input in [
        array.as_bytes(),
        concatenated.as_bytes(),
        records.join("\r\n").as_bytes(),
        &gzip,
    ] {
        let o = out();
        let s = run(&iot(), input, &o).unwrap();
        assert_eq!((s.records_in, s.records_written), (6, 4));
        results.push(rows_in(
            o.data.root().join("year=2020/month=06/device_id=A"),
        ));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

/// A gzip object found corrupt after several chunks were inflated (on the inflating thread) fails
/// as bad input, is not retried, and what was written from it is taken back.
#[test]
fn a_gzip_object_corrupt_halfway_fails_and_leaves_nothing_behind() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(many_records(40_000, "\n").as_bytes()).unwrap();
    let mut gzip = gz.finish().unwrap();
    let n = gzip.len();
    gzip[n * 3 / 4..].iter_mut().for_each(|b| *b ^= 0x5a);
    let mut d = iot();
    d.output.row_group_rows = 100; // files are committed before the corruption is reached
    let o = out();
    let err = run(&d, &gzip, &o).unwrap_err();
    assert!(
        matches!(
            err,
            TransformError::Input {
                source: DecodeError::Io(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().starts_with("s3://raw/iot/a.json: "),
        "{err}"
    );
    assert_eq!(files(o.data.root()), Vec::<String>::new());
    assert_eq!(files(o.rejected.root()), Vec::<String>::new());
}

#[test]
fn a_broken_array_fails_and_leaves_nothing_behind() {
    let o = out();
    // Rejected records first, more than the local store sends to its writer thread at once: their
    // file, still being written, must go too.
    let mut input = String::from("[");
    for _ in 0..1000 {
        input.push_str("{\"device_id\":\"no timestamp, which is required\"},");
    }
    input.push('\n');
    for i in 1..5000 {
        input.push_str(&format!(
            "{{\"device_id\":\"d{}\",\"timestamp\":{},\"location\":{{\"lat\":1,\"long\":2}}}},\n",
            i % 7,
            1_593_007_044 + i
        ));
    }
    input.push_str("{\"device_id\":\"x\" oops}]");
    let mut d = iot();
    d.output.row_group_rows = 100; // files are committed before the error is reached
    let err = run(&d, input.as_bytes(), &o).unwrap_err();
    assert!(!err.is_retryable());
    let offset = input.find(" oops").unwrap() + 1;
    assert_eq!(
        err.to_string(),
        format!("s3://raw/iot/a.json: the JSON array is broken at line 5001, column 18 (byte {offset}): expected ',' or '}}' after an object value")
    );
    assert_eq!(files(o.data.root()), Vec::<String>::new());
    assert_eq!(files(o.rejected.root()), Vec::<String>::new());
}

#[test]
fn a_local_file_that_cannot_be_written_fails_the_object_and_takes_back_the_rest() {
    // Local files are written by a background thread; its failure must still fail the object.
    let o = out();
    let input = many_records(3000, "\n");
    // A file where one partition's directory belongs.
    let blocked = o.data.root().join("year=2020/month=06");
    fs::create_dir_all(&blocked).unwrap();
    fs::write(blocked.join("device_id=d1"), b"in the way").unwrap();
    let mut d = iot();
    d.output.row_group_rows = 100; // files of the other partitions are committed first
    let err = run(&d, input.as_bytes(), &o).unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let message = err.to_string();
    assert!(
        message
            .starts_with("s3://raw/iot/a.json: cannot write year=2020/month=06/device_id=d1/part-"),
        "{message}"
    );
    assert_eq!(
        files(o.data.root()),
        vec!["year=2020/month=06/device_id=d1"]
    );
}

#[test]
fn crossing_the_error_threshold_discards_the_rows_but_keeps_the_reasons() {
    let o = out();
    let input = "{\"device_id\":\"A\",\"timestamp\":1}\nbad\nbad\n";
    let s = run(&iot(), input.as_bytes(), &o).unwrap();
    assert!(s.quality.threshold_crossed, "2 of 3 rejected > 0.5");
    assert_eq!(
        (s.records_in, s.records_written, s.records_rejected),
        (3, 0, 2)
    );
    assert!(s.partitions.is_empty());
    assert_eq!(files(o.data.root()), Vec::<String>::new());
    assert_eq!(files(o.rejected.root()).len(), 1);

    // Default threshold: only an object whose every record is rejected fails.
    let mut d = iot();
    d.max_rejected_fraction = None;
    let s = run(&d, input.as_bytes(), &out()).unwrap();
    assert!(!s.quality.threshold_crossed);
    let s = run(&d, b"bad\n", &out()).unwrap();
    assert!(s.quality.threshold_crossed);
    let s = run(&d, b"", &out()).unwrap();
    assert!(!s.quality.threshold_crossed);
    assert_eq!(s.records_in, 0);
}

/// Every column type reads back as written, nulls included, whatever mix of present, null and
/// missing values the rows had.
#[test]
fn every_column_type_reads_back_with_its_nulls() {
    let d = dataset(
        r#"
[[fields]]
column = "s"
type = "string"
[[fields]]
column = "i"
type = "int32"
[[fields]]
column = "l"
type = "int64"
[[fields]]
column = "f"
type = "double"
[[fields]]
column = "b"
type = "boolean"
[[fields]]
column = "t"
type = "timestamp"
[[fields]]
column = "d"
type = "date"
[[fields]]
column = "p"
type = "string"
[[partitions]]
name = "p"
from = "p"
"#,
    );
    let input = r#"{"p":"x","s":"é\"q","i":-7,"l":9007199254740993,"f":-0.5,"b":true,"t":"2020-06-24T13:57:24.5Z","d":"2020-06-24"}
{"p":"x","s":null,"i":null}
{"p":"x","s":"","i":2147483647,"l":-1,"f":1e300,"b":false,"t":0,"d":0}
{"p":"x","b":"yes","s":"last"}
"#;
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (4, 0));
    let path = o.data.root().join(&s.partitions[0].files[0].key);
    let batches = read_parquet(path);
    let batch = &batches[0];
    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    let text: Vec<Option<String>> = col("s")
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect();
    assert_eq!(
        text,
        [
            Some("é\"q".to_string()),
            None,
            Some(String::new()),
            Some("last".to_string())
        ]
    );
    let ints: Vec<Option<i32>> = col("i")
        .as_primitive::<arrow_array::types::Int32Type>()
        .iter()
        .collect();
    assert_eq!(ints, [Some(-7), None, Some(i32::MAX), None]);
    let longs: Vec<Option<i64>> = col("l").as_primitive::<Int64Type>().iter().collect();
    assert_eq!(longs, [Some(9_007_199_254_740_993), None, Some(-1), None]);
    let doubles: Vec<Option<f64>> = col("f").as_primitive::<Float64Type>().iter().collect();
    assert_eq!(doubles, [Some(-0.5), None, Some(1e300), None]);
    let bools: Vec<Option<bool>> = col("b").as_boolean().iter().collect();
    assert_eq!(bools, [Some(true), None, Some(false), Some(true)]);
    let times: Vec<Option<i64>> = col("t")
        .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
        .iter()
        .collect();
    assert_eq!(times, [Some(1_593_007_044_500_000), None, Some(0), None]);
    let days: Vec<Option<i32>> = col("d")
        .as_primitive::<arrow_array::types::Date32Type>()
        .iter()
        .collect();
    assert_eq!(days, [Some(18_437), None, Some(0), None]);
    assert_eq!(
        batch.schema().field_with_name("t").unwrap().data_type(),
        &arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
    );
}

/// Columns whose values hardly repeat are written plain; repeating ones keep their dictionary;
/// every value reads back the same either way.
#[test]
fn dictionary_encoding_only_where_values_repeat() {
    let mut input = String::new();
    for i in 0..1000 {
        input.push_str(&format!(
            "{{\"device_id\":\"d\",\"timestamp\":{},\"location\":{{\"lat\":\"{}\",\"long\":2}},\"temperature\":{}}}\n",
            1_593_007_044 + i,
            f64::from(i) / 1000.0,
            i % 7
        ));
    }
    let o = out();
    let s = run(&iot(), input.as_bytes(), &o).unwrap();
    assert_eq!(s.records_written, 1000);
    let path = o.data.root().join(&s.partitions[0].files[0].key);
    let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap()).unwrap();
    let row_group = builder.metadata().row_group(0);
    let dictionary = |name: &str| {
        let column = row_group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
            .unwrap();
        column.dictionary_page_offset().is_some()
    };
    // Unique values: plain. Seven values, one value, all nulls: dictionary (the default).
    assert!(!dictionary("timestamp"));
    assert!(!dictionary("latitude"));
    assert!(dictionary("temperature"));
    assert!(dictionary("longitude"));
    assert!(dictionary("pressure"));
    let batches = read_parquet(path);
    let batch = &batches[0];
    let ts = column::<Int64Type>(batch, "timestamp");
    let lat = column::<Float64Type>(batch, "latitude");
    let temp = column::<Float64Type>(batch, "temperature");
    for i in 0..1000 {
        assert_eq!(ts.value(i), 1_593_007_044 + i as i64);
        assert_eq!(lat.value(i), i as f64 / 1000.0);
        assert_eq!(temp.value(i), (i % 7) as f64);
    }
}

#[test]
fn a_small_budget_makes_more_row_groups_and_files_but_loses_nothing() {
    let mut input = String::new();
    for i in 0..20_000 {
        input.push_str(&format!(
            "{{\"device_id\":\"d{}\",\"timestamp\":{},\"location\":{{\"lat\":1,\"long\":2}},\"temperature\":{i}}}\n",
            i % 3,
            1_593_007_044 + i
        ));
    }
    let mut d = iot();
    d.output.memory_budget_mb = 1;
    d.output.row_group_rows = 1000;
    d.output.target_file_mb = 1;
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!(s.records_written, 20_000);
    let in_files: u64 = s
        .partitions
        .iter()
        .flat_map(|p| &p.files)
        .map(|f| f.rows)
        .sum();
    assert_eq!(in_files, 20_000);
    let dir = o.data.root().join("year=2020/month=06/device_id=d0");
    let rows = rows_in(dir.clone());
    assert_eq!(rows.len(), 6667);
    assert!(
        rows.iter()
            .enumerate()
            .all(|(k, r)| r.3 == Some((3 * k) as f64)),
        "order kept"
    );
    let first = fs::File::open(dir.join(&files(&dir)[0])).unwrap();
    let meta = ParquetRecordBatchReaderBuilder::try_new(first).unwrap();
    assert!(meta.metadata().num_row_groups() > 1);
    let stats = meta.metadata().row_group(0).column(0).statistics().unwrap();
    assert!(stats.min_bytes_opt().is_some(), "statistics are written");
}

/// A row group of more rows than one batch handed to the Parquet writer stays one row group, in
/// order.
#[test]
fn a_row_group_larger_than_a_batch_keeps_its_rows_in_order() {
    let n = 3 * crate::parquet_out::BATCH_ROWS + 5;
    let input: String = (0..n)
        .map(|i| format!("{{\"device_id\":\"d\",\"timestamp\":{},\"location\":{{\"lat\":1,\"long\":2}},\"temperature\":{i}}}\n", 1_593_007_044 + i))
        .collect();
    let o = out();
    let s = run(&iot(), input.as_bytes(), &o).unwrap();
    assert_eq!(s.records_written, n as u64);
    let dir = o.data.root().join("year=2020/month=06/device_id=d");
    let rows = rows_in(dir.clone());
    assert_eq!(rows.len(), n);
    assert!(
        rows.iter()
            .enumerate()
            .all(|(k, r)| r.0 == 1_593_007_044 + k as i64 && r.3 == Some(k as f64)),
        "order kept"
    );
    let file = fs::File::open(dir.join(&files(&dir)[0])).unwrap();
    let meta = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(meta.metadata().num_row_groups(), 1);
}

#[test]
fn value_partitions_escape_and_default() {
    let o = out();
    let input = r#"{"device_id":"a=b","timestamp":1593007044}
{"device_id":"","timestamp":1593007044}
"#;
    let s = run(&iot(), input.as_bytes(), &o).unwrap();
    let paths: Vec<&str> = s.partitions.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "year=2020/month=06/device_id=__HIVE_DEFAULT_PARTITION__/",
            "year=2020/month=06/device_id=a%3Db/"
        ]
    );
    assert_eq!(s.partitions[0].values[2].value, None);
    assert_eq!(s.partitions[1].values[2].value.as_deref(), Some("a=b"));
}

/// Null, missing and empty values share the default partition; a number value partitions by its
/// text; day and hour parts come from the same instant as year and month.
#[test]
fn partition_keys_group_by_path() {
    let d = dataset(
        r#"
[[fields]]
column = "site"
type = "string"
[[fields]]
column = "level"
type = "int32"
[[fields]]
column = "at"
type = "timestamp"
[[partitions]]
name = "site"
from = "site"
[[partitions]]
name = "level"
from = "level"
[[partitions]]
name = "day"
from = "at"
part = "day"
[[partitions]]
name = "hour"
from = "at"
part = "hour"
"#,
    );
    let o = out();
    let input = r#"{"site":null,"level":7,"at":"2020-06-24T13:00:00Z"}
{"level":7,"at":"2020-06-24T13:59:59Z"}
{"site":"","level":"7","at":"2020-06-24T13:30:00Z"}
{"site":"x","level":7,"at":"2020-06-24T14:00:00Z"}
{"site":"x","at":"2020-06-25T14:00:00Z"}
"#;
    let s = run(&d, input.as_bytes(), &o).unwrap();
    let paths: Vec<(&str, u64)> = s
        .partitions
        .iter()
        .map(|p| (p.path.as_str(), p.rows))
        .collect();
    assert_eq!(
        paths,
        [
            ("site=__HIVE_DEFAULT_PARTITION__/level=7/day=24/hour=13/", 3),
            ("site=x/level=7/day=24/hour=14/", 1),
            ("site=x/level=__HIVE_DEFAULT_PARTITION__/day=25/hour=14/", 1),
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever mix of good, bad and broken lines comes in, every record is written or rejected.
    #[test]
    fn every_record_is_written_or_rejected(kinds in proptest::collection::vec(0u8..6, 0..60)) {
        let mut input = String::new();
        for (i, k) in kinds.iter().enumerate() {
            let line = match k {
                0 => format!("{{\"device_id\":\"d{}\",\"timestamp\":{}}}", i % 4, 1_593_007_044 + i),
                1 => "{\"device_id\":\"x\"}".to_string(),
                2 => "{\"device_id\":\"x\",\"timestamp\":1,\"location\":{\"lat\":\"north\"}}".to_string(),
                3 => "{\"broken\":".to_string(),
                4 => "[1, {\"device_id\":\"y\",\"timestamp\":5}]".to_string(),
                _ => "   ".to_string(),
            };
            input.push_str(&line);
            input.push('\n');
        }
        let mut d = iot();
        d.max_rejected_fraction = Some(1.0);
        let o = out();
        let s = run(&d, input.as_bytes(), &o).unwrap();
        prop_assert_eq!(s.records_in, s.records_written + s.records_rejected);
        let by_reason: u64 = s.rejected_by_reason.values().sum();
        prop_assert_eq!(by_reason, s.records_rejected);
        let rejected_lines = files(o.rejected.root())
            .iter()
            .map(|f| fs::read_to_string(o.rejected.root().join(f)).unwrap().lines().count() as u64)
            .sum::<u64>();
        prop_assert_eq!(rejected_lines, s.records_rejected);
        let written: u64 = s.partitions.iter().map(|p| p.rows).sum();
        prop_assert_eq!(written, s.records_written);
        let expected_in = kinds.iter().map(|k| match k { 4 => 2, 5 => 0, _ => 1 }).sum::<u64>();
        prop_assert_eq!(s.records_in, expected_in);
    }
}

/// An output store that keeps every file in memory until committed, like an upload that has not
/// been sent: everything written is "pending". With `defer_commits`, committed files become
/// visible only at `sync` (like S3 commits finishing in the background), and the commit of a key
/// containing `fail_commit_of` fails there.
#[derive(Default)]
struct HoldingStore {
    committed: std::sync::Mutex<BTreeMap<String, Vec<u8>>>,
    defer_commits: bool,
    fail_commit_of: Option<&'static str>,
    deferred: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
}

struct HeldFile<'s> {
    key: String,
    bytes: Vec<u8>,
    store: &'s HoldingStore,
}

impl std::io::Write for HeldFile<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl crate::output::OutputFile for HeldFile<'static> {
    fn commit(self: Box<Self>) -> Result<u64, crate::output::OutputError> {
        let n = self.bytes.len() as u64;
        if self.store.defer_commits {
            self.store
                .deferred
                .lock()
                .unwrap()
                .push((self.key, self.bytes));
        } else {
            self.store
                .committed
                .lock()
                .unwrap()
                .insert(self.key, self.bytes);
        }
        Ok(n)
    }
    fn pending_bytes(&self) -> usize {
        self.bytes.len()
    }
}

impl OutputStore for &'static HoldingStore {
    fn create(
        &self,
        key: &str,
    ) -> Result<Box<dyn crate::output::OutputFile>, crate::output::OutputError> {
        Ok(Box::new(HeldFile {
            key: key.into(),
            bytes: Vec::new(),
            store: self,
        }))
    }
    fn delete(&self, key: &str) -> Result<(), crate::output::OutputError> {
        self.committed.lock().unwrap().remove(key);
        Ok(())
    }
    fn uri(&self, key: &str) -> String {
        format!("mem://{key}")
    }
    fn sync(&self) -> Result<(), crate::output::OutputError> {
        let mut first_error = None;
        for (key, bytes) in self.deferred.lock().unwrap().drain(..) {
            if self.fail_commit_of.is_some_and(|f| key.contains(f)) {
                first_error.get_or_insert(crate::output::OutputError::Service {
                    key,
                    code: "SlowDown".into(),
                    message: "Reduce your request rate".into(),
                    retryable: true,
                });
            } else {
                self.committed.lock().unwrap().insert(key, bytes);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[test]
fn commits_finishing_in_the_background_are_waited_for_and_their_failures_fail_the_object() {
    let sample = include_bytes!("../../../datasets/samples/iot_sensors.ndjson");
    let d = iot();
    let background: &'static HoldingStore = Box::leak(Box::new(HoldingStore {
        defer_commits: true,
        ..HoldingStore::default()
    }));
    let o = out();
    let s = Engine::new(&d)
        .transform(&sample[..], &source("iot/a.json"), &background, &o.rejected)
        .unwrap();
    let visible: Vec<String> = background
        .committed
        .lock()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let reported: Vec<String> = s
        .partitions
        .iter()
        .flat_map(|p| p.files.iter().map(|f| f.key.clone()))
        .collect();
    assert!(!reported.is_empty());
    assert_eq!(
        visible, reported,
        "every reported file is visible when transform returns"
    );

    let failing: &'static HoldingStore = Box::leak(Box::new(HoldingStore {
        defer_commits: true,
        fail_commit_of: Some("device_id=dev-0002"),
        ..HoldingStore::default()
    }));
    let o = out();
    let err = Engine::new(&d)
        .transform(&sample[..], &source("iot/a.json"), &failing, &o.rejected)
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("s3://raw/iot/a.json") && message.contains("device_id=dev-0002"),
        "{message}"
    );
    assert!(err.is_retryable(), "a throttled commit is worth retrying");
    assert!(
        failing.committed.lock().unwrap().is_empty() && failing.deferred.lock().unwrap().is_empty(),
        "the files that did land are taken back"
    );
    assert!(files(o.rejected.root()).is_empty());

    // A fatal error after files were committed mid-object: those commits land, then go again.
    let interrupted: &'static HoldingStore = Box::leak(Box::new(HoldingStore {
        defer_commits: true,
        ..HoldingStore::default()
    }));
    let broken = format!("[{},{{\"device_id\":", many_records(100_000, ","));
    let o = out();
    Engine::new(&tight_budget())
        .transform(
            broken.as_bytes(),
            &source("iot/a.json"),
            &interrupted,
            &o.rejected,
        )
        .unwrap_err();
    assert!(
        interrupted.committed.lock().unwrap().is_empty()
            && interrupted.deferred.lock().unwrap().is_empty(),
        "files committed before the failure are taken back after they land"
    );
}

/// `n` records over five devices, separated by `separator`.
fn many_records(n: u32, separator: &str) -> String {
    let mut input = String::new();
    for i in 0..n {
        if i > 0 {
            input.push_str(separator);
        }
        input.push_str(&format!(
            "{{\"device_id\":\"d{}\",\"timestamp\":{},\"location\":{{\"lat\":1,\"long\":2}},\"temperature\":{i}.5}}",
            i % 5,
            1_593_007_044 + i
        ));
    }
    input
}

/// The IoT dataset with a 1 MB budget, so files are completed while the object is being read.
fn tight_budget() -> Dataset {
    let mut d = iot();
    d.output.memory_budget_mb = 1;
    d.output.row_group_rows = 2_000;
    d
}

#[test]
fn bytes_held_by_the_store_count_against_the_budget() {
    let store: &'static HoldingStore = Box::leak(Box::default());
    let input = many_records(200_000, "\n");
    let d = tight_budget();
    let rejected = out();
    let s = Engine::new(&d)
        .transform(
            input.as_bytes(),
            &source("iot/a.json"),
            &store,
            &rejected.rejected,
        )
        .unwrap();
    assert_eq!(s.records_written, 200_000);
    // Open files were completed early to release held bytes, so partitions have several files.
    assert!(
        s.partitions.iter().all(|p| p.files.len() > 1),
        "{:?}",
        s.partitions
            .iter()
            .map(|p| p.files.len())
            .collect::<Vec<_>>()
    );
    let committed = store.committed.lock().unwrap();
    let mut rows = 0;
    for p in &s.partitions {
        for f in &p.files {
            let bytes = bytes::Bytes::from(committed[&f.key].clone());
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap();
            rows += reader.map(|b| b.unwrap().num_rows()).sum::<usize>();
        }
    }
    assert_eq!(rows, 200_000);
}
