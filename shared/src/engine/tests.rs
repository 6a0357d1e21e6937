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
use crate::decode::compression::tests::{compress, ALL as ALL_COMPRESSIONS};
use crate::output::{LocalDir, OutputError, OutputFile};

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
        attempt: None,
        created: None,
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

    let rejected = fs::read_to_string(o.rejected.root().join(crate::layout::rejected_file_name(
        "iot_sensors",
        &crate::layout::source_id("raw", "iot/a.json", Some("v1")),
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
fn layouts_and_compressions_give_the_same_rows() {
    let records: Vec<&str> = SAMPLE.lines().filter(|l| l.starts_with('{')).collect();
    let array = format!("[\n{}\n]", records.join(",\n"));
    let mut inputs = vec![
        array.clone().into_bytes(),
        records.concat().into_bytes(),
        records.join("\r\n").into_bytes(),
    ];
    for kind in &ALL_COMPRESSIONS[1..] {
        inputs.push(compress(*kind, records.join("\n").as_bytes()));
        inputs.push(compress(*kind, array.as_bytes()));
    }
    let mut results = Vec::new();
    for input in &inputs {
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
fn a_compression_bomb_stops_at_the_decompression_limit() {
    // 3 MiB of records that decompress from a few KiB (Snappy: about 150 KiB).
    let record =
        "{\"device_id\":\"d\",\"timestamp\":1593007044,\"location\":{\"lat\":1,\"long\":2}}\n";
    let records = record.repeat((3 << 20) / record.len());
    for kind in &ALL_COMPRESSIONS[1..] {
        let bomb = compress(*kind, records.as_bytes());
        assert!(bomb.len() < 200_000, "{}", kind.name());
        let mut d = iot();
        d.max_decompressed_mb = 1;
        d.output.row_group_rows = 1000; // files are committed before the limit is reached
        let o = out();
        let err = run(&d, &bomb, &o).unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(
            err.to_string()
                .contains("decompresses to more than 1 MiB (the dataset's max_decompressed_mb)"),
            "{}: {err}",
            kind.name()
        );
        assert_eq!(files(o.data.root()), Vec::<String>::new());
        // Within the limit, the same object goes through.
        d.max_decompressed_mb = 4;
        assert!(run(&d, &bomb, &out()).is_ok());
    }
}

#[test]
fn an_object_past_max_partitions_fails_and_leaves_nothing_behind() {
    let mut d = iot();
    d.output.max_partitions = 3;
    d.output.row_group_rows = 10;
    let o = out();
    // Five devices: the fourth partition is one too many.
    let err = run(&d, many_records(200, "\n").as_bytes(), &o).unwrap_err();
    assert!(matches!(err, TransformError::Limit { .. }), "{err}");
    assert!(!err.is_retryable());
    let message = err.to_string();
    assert!(
        message.contains("opens partition 4 (year=2020/month=06/device_id=d3/) past the dataset's max_partitions = 3"),
        "{message}"
    );
    assert_eq!(files(o.data.root()), Vec::<String>::new());
    assert_eq!(files(o.rejected.root()), Vec::<String>::new());
    d.output.max_partitions = 5;
    assert_eq!(
        run(&d, many_records(200, "\n").as_bytes(), &out())
            .unwrap()
            .partitions
            .len(),
        5
    );
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
    /// Files hold their bytes without counting them as pending (as a local file writes them).
    nothing_pending: bool,
    /// Files created and not yet committed or dropped, and the most there were at once.
    open: std::sync::atomic::AtomicUsize,
    most_open: std::sync::atomic::AtomicUsize,
}

struct HeldFile<'s> {
    key: String,
    bytes: Vec<u8>,
    store: &'s HoldingStore,
}

impl Drop for HeldFile<'_> {
    fn drop(&mut self) {
        self.store
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
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
        let (key, bytes) = (self.key.clone(), self.bytes.clone());
        if self.store.defer_commits {
            self.store.deferred.lock().unwrap().push((key, bytes));
        } else {
            self.store.committed.lock().unwrap().insert(key, bytes);
        }
        Ok(n)
    }
    fn pending_bytes(&self) -> usize {
        if self.store.nothing_pending {
            0
        } else {
            self.bytes.len()
        }
    }
}

impl HoldingStore {
    /// The rows of the committed files a summary lists, read back.
    fn rows_of(&self, s: &Summary) -> usize {
        let committed = self.committed.lock().unwrap();
        let mut rows = 0;
        for f in s.partitions.iter().flat_map(|p| &p.files) {
            let bytes = bytes::Bytes::from(committed[&f.key].clone());
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap();
            rows += reader.map(|b| b.unwrap().num_rows()).sum::<usize>();
        }
        rows
    }
}

impl OutputStore for &'static HoldingStore {
    fn create(
        &self,
        key: &str,
    ) -> Result<Box<dyn crate::output::OutputFile>, crate::output::OutputError> {
        use std::sync::atomic::Ordering::Relaxed;
        let open = self.open.fetch_add(1, Relaxed) + 1;
        self.most_open.fetch_max(open, Relaxed);
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
                    source: Box::new(crate::ports::PortError::new(
                        crate::ports::FailureKind::Retryable,
                        format!("PutObject mem://{key}"),
                        "SlowDown",
                        "Reduce your request rate",
                    )),
                    key,
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
    assert_eq!(store.rows_of(&s), 200_000);
}

/// Thousands of partitions of a few rows each: the open files' state counts against the budget
/// (each open file holds about `open_file_bytes`), so partitions with few rows are written as
/// complete files instead of held open, and no row is lost.
#[test]
fn open_files_count_against_the_budget_at_any_fan_out() {
    let store: &'static HoldingStore = Box::leak(Box::new(HoldingStore {
        nothing_pending: true,
        ..HoldingStore::default()
    }));
    let mut d = by_value();
    d.output.memory_budget_mb = 1;
    d.output.max_partitions = 5_000;
    let input: String = (0..240_000)
        .map(|n| format!("{{\"n\":{n},\"k\":\"p{}\"}}\n", n % 4_000))
        .collect();
    let rejected = out();
    let s = Engine::new(&d)
        .transform(
            input.as_bytes(),
            &source("t/a.json"),
            &store,
            &rejected.rejected,
        )
        .unwrap();
    assert_eq!((s.records_written, s.partitions.len()), (240_000, 4_000));
    let most_open = store.most_open.load(std::sync::atomic::Ordering::Relaxed);
    let per_file = crate::writer::open_file_bytes(1);
    assert!(
        most_open * per_file <= 1 << 20,
        "{most_open} files open at once"
    );
    let files: usize = s.partitions.iter().map(|p| p.files.len()).sum();
    assert!(files < 4_000 * 2, "{files} files");
    assert_eq!(store.rows_of(&s), 240_000);
}

/// A dataset partitioned by the value of `k` (carried by the partition, so not in the files), with
/// the record's number `n` as its one data column: every row can be traced to its directory.
fn by_value() -> Dataset {
    dataset(
        r#"
[[fields]]
column = "n"
type = "int64"
[[fields]]
column = "k"
type = "string"
[[partitions]]
name = "k"
from = "k"
[quality]
max_rejected_fraction = 1.0
"#,
    )
}

/// Every row on disk as (directory below the table, n).
fn rows_by_directory(root: &Path) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    for file in files(root) {
        let dir = Path::new(&file).parent().unwrap().display().to_string();
        for b in read_parquet(root.join(&file)) {
            let n = column::<Int64Type>(&b, "n");
            rows.extend((0..b.num_rows()).map(|i| (dir.clone(), n.value(i))));
        }
    }
    rows.sort();
    rows
}

/// The rejected records' lines, each parsed as JSON (so every one must be JSON).
fn rejected_lines(o: &Out) -> Vec<serde_json::Value> {
    files(o.rejected.root())
        .iter()
        .flat_map(|f| {
            let bytes = fs::read(o.rejected.root().join(f)).unwrap();
            let text = String::from_utf8(bytes).expect("rejected files are UTF-8");
            text.lines()
                .map(|l| serde_json::from_str(l).expect("every rejected line is JSON"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn null_empty_and_missing_values_share_the_default_partition_and_its_name_is_refused() {
    let o = out();
    let input = r#"{"n":1,"k":""}
{"n":2,"k":null}
{"n":3}
{"n":4,"k":"__HIVE_DEFAULT_PARTITION__"}
{"n":5,"k":"__hive_default_partition__"}
"#;
    let s = run(&by_value(), input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (4, 1));
    assert_eq!(s.rejected_by_reason["reserved_partition_value"], 1);
    assert_eq!(s.rejected_by_field["k"], 1);
    let default = "k=__HIVE_DEFAULT_PARTITION__";
    assert_eq!(
        rows_by_directory(o.data.root()),
        [
            (default.to_string(), 1),
            (default.to_string(), 2),
            (default.to_string(), 3),
            ("k=__hive_default_partition__".to_string(), 5)
        ]
    );
    assert_eq!(s.partitions.len(), 2);
    let sql = crate::sql::add_partitions(&by_value(), "s3://b/t/", &s.partitions).unwrap();
    assert_eq!(sql.len(), 1);
    assert_eq!(sql[0].matches(default).count(), 1, "{}", sql[0]);
    let message = rejected_lines(&o)[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("would read back as null"), "{message}");
}

#[test]
fn a_partition_value_too_long_for_a_path_rejects_its_record_and_the_object_goes_on() {
    let o = out();
    let long = "x".repeat(300);
    let input =
        format!("{{\"n\":1,\"k\":\"a\"}}\n{{\"n\":2,\"k\":\"{long}\"}}\n{{\"n\":3,\"k\":\"a\"}}\n");
    let s = run(&by_value(), input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (2, 1));
    assert_eq!(s.rejected_by_reason["partition_value_too_long"], 1);
    assert_eq!(rejected_lines(&o)[0]["line"], 2);
    assert_eq!(
        rows_by_directory(o.data.root()),
        [("k=a".to_string(), 1), ("k=a".to_string(), 3)]
    );
}

#[test]
fn a_store_with_short_keys_rejects_paths_that_do_not_fit() {
    /// A local directory whose keys may be at most 60 bytes (as an S3 prefix leaves less than
    /// 1,024 bytes).
    struct ShortKeys(LocalDir);
    impl OutputStore for ShortKeys {
        fn create(&self, key: &str) -> Result<Box<dyn OutputFile>, OutputError> {
            assert!(key.len() <= 60, "{key}");
            self.0.create(key)
        }
        fn delete(&self, key: &str) -> Result<(), OutputError> {
            self.0.delete(key)
        }
        fn uri(&self, key: &str) -> String {
            self.0.uri(key)
        }
        fn sync(&self) -> Result<(), OutputError> {
            self.0.sync()
        }
        fn max_key_bytes(&self) -> usize {
            60
        }
    }
    let o = out();
    let data = ShortKeys(o.data.clone());
    let input = "{\"n\":1,\"k\":\"ok\"}\n{\"n\":2,\"k\":\"a-value-that-makes-the-key-too-long\"}\n";
    let s = Engine::new(&by_value())
        .transform(input.as_bytes(), &source("t/a.json"), &data, &o.rejected)
        .unwrap();
    assert_eq!((s.records_written, s.records_rejected), (1, 1));
    assert_eq!(s.rejected_by_reason["partition_value_too_long"], 1);
}

#[test]
fn rejected_lines_are_json_and_keep_bytes_that_are_not_utf8() {
    let o = out();
    let mut input = b"{\"n\":1,\"note\":\"caf\xe9\",\"k\":\"x\"}\n".to_vec();
    input.extend_from_slice(b"{\n\"n\":\"two\",\n \"k\":\"x\"}\n{\"n\":\"three\",\"k\":\"x\"}\n");
    input.extend_from_slice(b"{\n  \"n\": 12345678901234567890.5,\n  \"k\": \"x\"\n}\n");
    let s = run(&by_value(), &input, &o).unwrap();
    assert_eq!(s.records_rejected, 4);
    let lines = rejected_lines(&o);
    assert_eq!(lines[0]["reason"], "invalid_json");
    let base64 = lines[0]["raw_base64"].as_str().unwrap();
    assert_eq!(base64, "eyJuIjoxLCJub3RlIjoiY2Fm6SIsImsiOiJ4In0=");
    assert_eq!(lines[1]["reason"], "type_mismatch");
    assert_eq!(
        lines[1]["record"],
        serde_json::json!({"n": "two", "k": "x"})
    );
    assert!(lines[2].get("raw_base64").is_none());
    // A pretty-printed record on one line, its number as written (not through a double).
    let text = fs::read_to_string(o.rejected.root().join(&files(o.rejected.root())[0])).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.ends_with(r#""record":{  "n": 12345678901234567890.5,  "k": "x"}}"#),
        "{last}"
    );
}

#[test]
fn values_nulled_by_the_mismatch_policy_are_counted_per_field() {
    let d = dataset(
        r#"
[[fields]]
column = "a"
type = "int64"
on_type_mismatch = "null"
[[fields]]
column = "b"
type = "double"
on_type_mismatch = "null"
[[fields]]
column = "c"
type = "int64"
"#,
    );
    let o = out();
    let input = r#"{"a":"x","b":1,"c":1}
{"a":1.5,"b":"y","c":2}
{"a":null,"b":"z","c":3}
{"a":"w","b":2,"c":"not a number"}
{"c":5}
"#;
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (4, 1));
    // The rejected fourth record's nulled `a` is not counted: it is in no file.
    assert_eq!(s.values_nulled, 4);
    assert_eq!(
        s.nulled_by_field,
        BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 2)])
    );
}

#[test]
fn two_fields_from_one_path_are_both_filled() {
    let d = dataset(
        r#"
[[fields]]
column = "event_time"
type = "timestamp"
path = "ts"
[[fields]]
column = "event_date"
type = "date"
path = "ts"
[[fields]]
column = "raw_ts"
type = "string"
path = "ts"
"#,
    );
    let o = out();
    let s = run(&d, br#"{"ts":"2020-06-24T13:57:24Z"}"#, &o).unwrap();
    assert_eq!(s.records_written, 1);
    let batch = &read_parquet(o.data.root().join(&files(o.data.root())[0]))[0];
    let time = batch.column_by_name("event_time").unwrap();
    let date = batch.column_by_name("event_date").unwrap();
    assert_eq!(
        time.as_primitive::<arrow_array::types::TimestampMicrosecondType>()
            .value(0),
        1_593_007_044_000_000
    );
    assert_eq!(
        date.as_primitive::<arrow_array::types::Date32Type>()
            .value(0),
        18_437
    );
    assert_eq!(
        batch
            .column_by_name("raw_ts")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "2020-06-24T13:57:24Z"
    );
}

#[test]
fn an_unpartitioned_dataset_writes_its_files_at_the_table_location() {
    let d = dataset("[[fields]]\ncolumn = \"n\"\ntype = \"int64\"\n");
    let o = out();
    let s = run(&d, b"{\"n\":1}\n{\"n\":2}\n", &o).unwrap();
    assert_eq!(s.partitions.len(), 1);
    assert_eq!(s.partitions[0].path, "");
    assert_eq!(
        rows_by_directory(o.data.root()),
        [(String::new(), 1), (String::new(), 2)]
    );
    assert_eq!(
        crate::sql::add_partitions(&d, "s3://b/t/", &s.partitions),
        Ok(vec![])
    );
}

/// Partition values worth mixing: the default partition's spellings, values that escape alike
/// or nearly, control characters, quotes, backslashes, `%`, `_`, non-ASCII and long values.
fn partition_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        Just(Some(crate::layout::hive::DEFAULT_PARTITION.to_string())),
        Just(Some("a/b".to_string())),
        Just(Some("a%2Fb".to_string())),
        Just(Some("a%2fb".to_string())),
        Just(Some("nul\u{0}12".to_string())),
        Just(Some("it's \\ \"x\"".to_string())),
        Just(Some("100%_".to_string())),
        Just(Some("x".repeat(245))),
        Just(Some("x".repeat(246))),
        Just(Some("é".repeat(123))),
        proptest::string::string_regex("[\\x00-\\x1f\\x7f/=%_'\"\\\\a-c]{1,6}")
            .unwrap()
            .prop_map(Some),
        any::<String>().prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    /// For any multiset of partition values: the files hold exactly the rows the summary says were
    /// written, each in the directory of its own value; every other record is rejected with a
    /// reason; no two partitions share a directory; every DDL literal reads back (Hive's rules) as
    /// its value, and every partition is listed once.
    #[test]
    fn partitions_hold_exactly_their_rows(values in proptest::collection::vec(partition_value(), 1..40)) {
        let mut input = String::new();
        for (n, v) in values.iter().enumerate() {
            match v {
                Some(v) => input.push_str(&serde_json::json!({"n": n, "k": v}).to_string()),
                None if n % 2 == 0 => input.push_str(&format!("{{\"n\":{n}}}")),
                None => input.push_str(&format!("{{\"n\":{n},\"k\":null}}")),
            }
            input.push('\n');
        }
        let o = out();
        let d = by_value();
        let s = run(&d, input.as_bytes(), &o).unwrap();
        prop_assert_eq!(s.records_in, values.len() as u64);
        prop_assert_eq!(s.records_in, s.records_written + s.records_rejected);

        // What each record should become, by a model of Hive's rules.
        let mut expected_rows = Vec::new();
        let mut expected_rejected = BTreeMap::new();
        for (n, v) in values.iter().enumerate() {
            let value = v.as_deref().filter(|v| !v.is_empty());
            let mut segment = String::new();
            crate::layout::hive::escape_value(value, &mut segment);
            if value == Some(crate::layout::hive::DEFAULT_PARTITION) {
                *expected_rejected.entry("reserved_partition_value").or_insert(0u64) += 1;
            } else if segment.len() + 2 > crate::layout::hive::MAX_SEGMENT_BYTES {
                *expected_rejected.entry("partition_value_too_long").or_insert(0u64) += 1;
            } else {
                expected_rows.push((value.map(str::to_string), n as i64));
            }
        }
        let on_disk: Vec<(Option<String>, i64)> = rows_by_directory(o.data.root())
            .into_iter()
            .map(|(dir, n)| {
                let segment = dir.strip_prefix("k=").expect("one k= directory");
                ((segment != crate::layout::hive::DEFAULT_PARTITION).then(|| crate::layout::percent_decode(segment, false).unwrap()), n)
            })
            .collect();
        let mut expected_sorted = expected_rows.clone();
        expected_sorted.sort_by_key(|&(_, n)| n);
        let mut on_disk_sorted = on_disk.clone();
        on_disk_sorted.sort_by_key(|&(_, n)| n);
        prop_assert_eq!(on_disk_sorted, expected_sorted);
        let rejected: BTreeMap<&str, u64> =
            s.rejected_by_reason.iter().map(|(r, n)| (r.as_str(), *n)).collect();
        prop_assert_eq!(rejected, expected_rejected);
        prop_assert_eq!(rejected_lines(&o).len() as u64, s.records_rejected);

        // One partition per directory, with the rows it says.
        let mut paths: Vec<&str> = s.partitions.iter().map(|p| p.path.as_str()).collect();
        paths.dedup();
        prop_assert_eq!(paths.len(), s.partitions.len());
        for p in &s.partitions {
            let dir = p.path.trim_end_matches('/');
            let rows = rows_by_directory(o.data.root()).iter().filter(|(d, _)| d == dir).count();
            prop_assert_eq!(rows as u64, p.rows);
        }

        // The DDL: per partition its value then its location, each reading back exactly.
        let sql = crate::sql::add_partitions(&d, "s3://b/t/", &s.partitions).unwrap();
        let literals: Vec<String> = sql.iter().flat_map(|q| crate::reference::hive_string_literals(q)).collect();
        let expected: Vec<String> = s
            .partitions
            .iter()
            .flat_map(|p| {
                let value = p.values[0].value.clone().unwrap_or_else(|| crate::layout::hive::DEFAULT_PARTITION.into());
                [value, format!("s3://b/t/{}", p.path)]
            })
            .collect();
        prop_assert_eq!(literals, expected);
    }
}

/// CloudTrail-like events in a pretty-printed array: a `json` column holds each event's
/// `requestParameters` (an object, `null`, a string, missing) as JSON text equal to what
/// serde_json reads at that path, objects exactly as written; another field reads inside it.
#[test]
fn a_json_column_keeps_each_value_as_its_json_text() {
    let d = dataset(
        r#"
[[fields]]
column = "event_name"
path = "eventName"
type = "string"
[[fields]]
column = "request_parameters"
path = "requestParameters"
type = "json"
[[fields]]
column = "bucket_name"
path = "requestParameters.bucketName"
type = "string"
"#,
    );
    let input = r#"[
  {
    "eventName": "GetObject",
    "requestParameters": {
      "bucketName": "b",
      "key": "a \"quoted\" key",
      "Host": ["b.s3.amazonaws.com"],
      "n": 1e400
    }
  },
  {"eventName": "ListBuckets", "requestParameters": null},
  {"eventName": "Odd", "requestParameters": "line\nbreak \u00e9"},
  {"eventName": "Bare"},
  {"eventName": "Empty", "requestParameters": {}}
]"#;
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (5, 0));
    let file = o.data.root().join(&s.partitions[0].files[0].key);
    let batch = &read_parquet(file)[0];
    let json = batch
        .column_by_name("request_parameters")
        .unwrap()
        .as_string::<i32>();
    let bucket = batch
        .column_by_name("bucket_name")
        .unwrap()
        .as_string::<i32>();
    // serde_json's reading of each event (RawValue: the text as written, 1e400 included).
    type Event = BTreeMap<String, Box<serde_json::value::RawValue>>;
    let events: Vec<Event> = serde_json::from_str(input).unwrap();
    for (i, event) in events.iter().enumerate() {
        match event.get("requestParameters").map(|v| v.get()) {
            None | Some("null") => assert!(json.is_null(i), "row {i}"),
            Some(text) if text.starts_with('"') => {
                let value = |t: &str| serde_json::from_str::<String>(t).unwrap();
                assert_eq!(value(json.value(i)), value(text), "row {i}");
            }
            Some(text) => assert_eq!(json.value(i), text, "row {i}"),
        }
    }
    assert!(json
        .value(0)
        .contains("\n      \"key\": \"a \\\"quoted\\\" key\""));
    assert_eq!(json.value(2), r#""line\nbreak é""#);
    assert_eq!(json.value(4), "{}");
    assert_eq!(bucket.value(0), "b");
    assert!(bucket.is_null(1) && bucket.is_null(4));
    let ddl = crate::sql::create_table(&d, "s3://curated/tables/db/t/").unwrap();
    assert!(ddl.contains("`request_parameters` string"), "{ddl}");
}

/// A CloudTrail log file as delivered (gzip, `{"Records":[…]}`): every event is a record, with
/// its own line in the rejected file when it fails, and the accounting adds up.
#[test]
fn cloudtrail_records_inside_their_wrapper_are_the_records() {
    let d = dataset(
        r#"
records = "Records"
[[fields]]
column = "event_time"
path = "eventTime"
type = "timestamp"
required = true
[[fields]]
column = "event_name"
path = "eventName"
type = "string"
[[fields]]
column = "request_parameters"
path = "requestParameters"
type = "json"
"#,
    );
    assert_eq!(
        d.records.as_deref(),
        Some(&["Records".to_string()][..]),
        "read from [source]"
    );
    let events = r#"{"Records":[
{"eventVersion":"1.08","eventTime":"2020-06-24T13:57:24Z","eventName":"GetObject","requestParameters":{"bucketName":"b","key":"k"}},
{"eventVersion":"1.08","eventTime":"2020-06-24T13:57:25Z","eventName":"ListBuckets","requestParameters":null},
{"eventVersion":"1.08","eventName":"NoTime"}
]}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(events.as_bytes()).unwrap();
    let o = out();
    let s = run(&d, &gz.finish().unwrap(), &o).unwrap();
    assert_eq!(
        (s.records_in, s.records_written, s.records_rejected),
        (3, 2, 1)
    );
    let file = o.data.root().join(&s.partitions[0].files[0].key);
    let batch = &read_parquet(file)[0];
    let names = batch
        .column_by_name("event_name")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(
        (names.value(0), names.value(1)),
        ("GetObject", "ListBuckets")
    );
    let params = batch
        .column_by_name("request_parameters")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(params.value(0), r#"{"bucketName":"b","key":"k"}"#);
    assert!(params.is_null(1));
    // The rejected line holds the event itself, with its line in the file.
    let rejected = fs::read_to_string(o.rejected.root().join(crate::layout::rejected_file_name(
        "t",
        &source("iot/a.json").file_stem(),
    )))
    .unwrap();
    let line: serde_json::Value = serde_json::from_str(rejected.trim()).unwrap();
    assert_eq!(line["reason"], "missing_required_field");
    assert_eq!(line["line"], 4);
    assert_eq!(line["record"]["eventName"], "NoTime");
}

#[test]
fn decimals_reach_parquet_exactly_with_their_precision_and_scale() {
    use arrow_array::types::Decimal128Type;
    use arrow_array::Array as _;

    let d = dataset(
        r#"
[[fields]]
column = "price"
type = "decimal(12,2)"
[[fields]]
column = "amounts"
type = "array<decimal(6,3)>"
[[fields]]
column = "id"
type = "bigint"
"#,
    );
    let input = concat!(
        r#"{"id":1,"price":19.99,"amounts":["0.125",2,-1.5]}"#,
        "\n",
        r#"{"id":2,"price":"1234567890.10","amounts":[]}"#,
        "\n",
        r#"{"id":3,"price":0.005}"#,
        "\n",
        r#"{"id":4,"price":null,"amounts":[0.1e1]}"#,
        "\n",
    );
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (3, 1));
    let lines = rejected_lines(&o);
    assert_eq!(
        lines[0]["message"],
        "number at price cannot be read as decimal(12,2): \"0.005\""
    );
    let file = o.data.root().join(&s.partitions[0].files[0].key);
    let batch = &read_parquet(file)[0];
    let price = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!((price.precision(), price.scale()), (12, 2));
    assert_eq!(price.value(0), 1999);
    assert_eq!(price.value(1), 123456789010);
    assert!(price.is_null(2));
    let amounts = batch.column(1).as_list::<i32>();
    let first = amounts.value(0);
    let first = first.as_primitive::<Decimal128Type>();
    assert_eq!(first.scale(), 3);
    assert_eq!(first.values().to_vec(), [125, 2000, -1500]);
    assert_eq!(amounts.value(1).len(), 0);
    assert_eq!(
        amounts.value(2).as_primitive::<Decimal128Type>().value(0),
        1000
    );
    let ddl = crate::sql::create_table(&d, "s3://curated/t/").unwrap();
    assert!(
        ddl.contains("`price` decimal(12,2)") && ddl.contains("`amounts` array<decimal(6,3)>"),
        "{ddl}"
    );
}

mod archives;
mod json_strings;
mod nested;
mod object_fields;
mod rows;
mod scalars;
