//! Arrays to rows, end to end through the engine: generated OTLP-style log documents (three
//! levels; mutated: empty, missing, null and non-array levels, elements that are no objects,
//! values of the wrong kind, unknown members) read back from Parquet and compared row by row with
//! a reference that explodes serde_json's reading of each document.

use serde_json::{json, Map, Value};

use super::nested::{bigint_of, cast, json_at, string_of, Gen};
use super::{dataset, out, read_parquet, rejected_lines, run};

const LOG: &str = "resourceLogs[*].scopeLogs[*].logRecords[*]";

fn fields(empty: &str) -> String {
    format!(
        r#"
[rows]
each = "{LOG}"
empty = "{empty}"
[[fields]]
column = "doc"
type = "bigint"
[[fields]]
column = "service"
path = "resourceLogs[*].resource.attributes[key=service.name].value.stringValue"
type = "string"
[[fields]]
column = "scope"
path = "resourceLogs[*].scopeLogs[*].scope.name"
type = "string"
[[fields]]
column = "time"
path = "{LOG}.timeUnixNano"
type = "bigint"
on_type_mismatch = "null"
[[fields]]
path = "{LOG}.severityText"
type = "string"
[[fields]]
column = "body"
path = "{LOG}.body.stringValue"
type = "string"
[[fields]]
column = "attribute_keys"
path = "{LOG}.attributes[*].key"
type = "array<string>"
"#
    )
}

/// An array of `make`'s values, or (now and then) null, missing, empty or not an array.
fn level(g: &mut Gen, make: &mut dyn FnMut(&mut Gen) -> Value) -> Option<Value> {
    match g.next(14) {
        0 => None,
        1 => Some(json!(null)),
        2 => Some(json!([])),
        3 if g.next(4) == 0 => Some(json!("not a list")),
        _ => Some(Value::Array((0..g.next(4) + 1).map(|_| make(g)).collect())),
    }
}

/// A level's element: an object, or now and then null or a scalar.
fn element(g: &mut Gen, object: Map<String, Value>) -> Value {
    match g.next(15) {
        0 => json!(null),
        1 => json!(7),
        _ => Value::Object(object),
    }
}

fn log_record(g: &mut Gen) -> Value {
    let mut r = Map::new();
    let time = match g.next(6) {
        0 => json!("1700000000123456789"),
        1 => json!("soon"),
        2 => json!(1.5),
        _ => json!(1_700_000_000_000_000_000u64 + g.next(1 << 40)),
    };
    r.insert("timeUnixNano".into(), time);
    if g.next(5) > 0 {
        r.insert(
            "severityText".into(),
            json!(["INFO", "WARN", "ERROR"][g.next(3) as usize]),
        );
    }
    if g.next(6) > 0 {
        r.insert("body".into(), json!({"stringValue": g.text()}));
    }
    if g.next(3) == 0 {
        let keys: Vec<Value> = (0..g.next(3))
            .map(|i| json!({"key": format!("k{i}"), "value": {"intValue": "1"}}))
            .collect();
        r.insert("attributes".into(), Value::Array(keys));
    }
    if g.next(7) == 0 {
        r.insert("extra".into(), json!({"x": [1]}));
    }
    element(g, r)
}

fn scope_log(g: &mut Gen) -> Value {
    let mut s = Map::new();
    if g.next(4) > 0 {
        s.insert("scope".into(), json!({"name": g.text()}));
    }
    if let Some(records) = level(g, &mut log_record) {
        s.insert("logRecords".into(), records);
    }
    element(g, s)
}

fn resource_log(g: &mut Gen) -> Value {
    let mut r = Map::new();
    let mut attributes = Vec::new();
    for _ in 0..g.next(3) {
        let key = ["service.name", "host.name"][g.next(2) as usize];
        let value = match g.next(5) {
            0 => json!(42),
            _ => g.text(),
        };
        attributes.push(json!({"key": key, "value": {"stringValue": value}}));
    }
    r.insert("resource".into(), json!({ "attributes": attributes }));
    if let Some(scopes) = level(g, &mut scope_log) {
        r.insert("scopeLogs".into(), scopes);
    }
    element(g, r)
}

fn document(g: &mut Gen, doc: usize) -> Value {
    let mut d = Map::new();
    d.insert("doc".into(), json!(doc));
    if let Some(resources) = level(g, &mut resource_log) {
        d.insert("resourceLogs".into(), resources);
    }
    Value::Object(d)
}

/// A row the reference expects: its values, and whether its time was nulled.
type Row = (Vec<Value>, bool);

/// The reference: the rows of a document (each with whether its time was nulled), or `None`
/// when a level's array is something else (the record is rejected).
fn reference_rows(doc: &Value, null_row: bool) -> Option<Vec<Row>> {
    /// The elements of a level's array inside `parent` (`None`: not an array).
    fn elements<'v>(parent: &'v Value, key: &str) -> Option<&'v [Value]> {
        match parent.get(key) {
            None | Some(Value::Null) => Some(&[]),
            Some(Value::Array(items)) => Some(items),
            Some(_) => None,
        }
    }
    /// An element's own array: a null element has none, a scalar cannot have one.
    fn inner<'v>(element: &'v Value, key: &str) -> Option<&'v [Value]> {
        match element {
            Value::Null => Some(&[]),
            Value::Object(_) => elements(element, key),
            _ => None,
        }
    }
    let str_at = |v: &Value, pointer: &str| {
        v.pointer(pointer)
            .and_then(string_of)
            .unwrap_or(Value::Null)
    };
    let mut rows = Vec::new();
    let nulls = |n: usize| vec![Value::Null; n];
    for resource in elements(doc, "resourceLogs")? {
        let service = resource
            .pointer("/resource/attributes")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["key"] == "service.name"))
            .map_or(Value::Null, |x| str_at(x, "/value/stringValue"));
        let before = rows.len();
        for scope in inner(resource, "scopeLogs")? {
            let scope_name = str_at(scope, "/scope/name");
            let before_scope = rows.len();
            for log in inner(scope, "logRecords")? {
                let mut nulled = false;
                let time = cast(log.get("timeUnixNano"), bigint_of, &mut nulled);
                let keys = match log.get("attributes") {
                    Some(Value::Array(a)) => {
                        Value::Array(a.iter().map(|x| x["key"].clone()).collect())
                    }
                    _ => Value::Null,
                };
                let mut row = vec![doc["doc"].clone(), service.clone(), scope_name.clone()];
                row.extend([
                    time,
                    str_at(log, "/severityText"),
                    str_at(log, "/body/stringValue"),
                    keys,
                ]);
                rows.push((row, nulled));
            }
            if rows.len() == before_scope && null_row {
                let mut row = vec![doc["doc"].clone(), service.clone(), scope_name.clone()];
                row.extend(nulls(4));
                rows.push((row, false));
            }
        }
        if rows.len() == before && null_row {
            let mut row = vec![doc["doc"].clone(), service.clone()];
            row.extend(nulls(5));
            rows.push((row, false));
        }
    }
    if rows.is_empty() && null_row {
        let mut row = vec![doc["doc"].clone()];
        row.extend(nulls(6));
        rows.push((row, false));
    }
    Some(rows)
}

#[test]
fn three_levels_to_rows_read_back_as_the_reference_explodes_the_json() {
    let mut g = Gen(7);
    let docs: Vec<Value> = (0..3_000).map(|i| document(&mut g, i)).collect();
    let input: String = docs.iter().map(|d| d.to_string() + "\n").collect();
    for (empty, null_row) in [("null_row", true), ("skip", false)] {
        let d = dataset(&fields(empty));
        let o = out();
        let s = run(&d, input.as_bytes(), &o).unwrap();
        let reference: Vec<Option<Vec<Row>>> =
            docs.iter().map(|d| reference_rows(d, null_row)).collect();
        let rejected = reference.iter().filter(|r| r.is_none()).count() as u64;
        let want: Vec<&Row> = reference.iter().flatten().flatten().collect();
        let without_rows = reference
            .iter()
            .flatten()
            .filter(|rows| rows.is_empty())
            .count() as u64;
        assert!(
            rejected > 20 && want.len() > 3_000,
            "the generator reaches the cases"
        );
        assert_eq!(
            (s.records_in, s.records_written, s.records_rejected),
            (3_000, 3_000 - rejected, rejected),
            "{empty}"
        );
        assert_eq!(s.rows_written, want.len() as u64);
        assert_eq!(s.records_without_rows, without_rows);
        if null_row {
            assert_eq!(without_rows, 0);
        } else {
            assert!(without_rows > 100);
        }
        assert_eq!(s.rejected_by_reason.get("not_an_array"), Some(&rejected));
        let nulled = want.iter().filter(|(_, n)| *n).count() as u64;
        assert_eq!(s.nulled_by_field.get("time"), Some(&nulled));
        // In every element of every record, rejected or not, as in records (log records are
        // generated only inside arrays).
        let extra = docs
            .iter()
            .map(|d| d.to_string().matches(r#""extra":"#).count() as u64)
            .sum::<u64>();
        assert_eq!(
            s.unknown_fields.get(&format!("{LOG}.extra")),
            Some(&extra),
            "unknown members inside elements are named from the record"
        );

        let file = o.data.root().join(&s.partitions[0].files[0].key);
        let mut row = 0;
        for batch in read_parquet(file) {
            for i in 0..batch.num_rows() {
                for (c, expected) in want[row].0.iter().enumerate() {
                    let got = json_at(batch.column(c), i);
                    let name = batch.schema().field(c).name().clone();
                    assert_eq!(&got, expected, "{empty}: row {row} column {name}");
                }
                row += 1;
            }
        }
        assert_eq!(row, want.len());
        assert_eq!(s.partitions[0].rows, want.len() as u64);
    }
}

#[test]
fn a_record_is_written_with_all_its_rows_or_rejected_naming_the_element() {
    let d = dataset(
        r#"
[rows]
each = "payload.commits[*]"
[[fields]]
column = "id"
type = "bigint"
[[fields]]
column = "day"
path = "payload.commits[*].date"
type = "date"
required = true
[[fields]]
path = "payload.commits[*].size"
type = "bigint"
[[partitions]]
name = "d"
from = "day"
part = "day"
"#,
    );
    let input = [
        r#"{"id":1,"payload":{"commits":[{"date":"2024-01-05","size":1},{"date":"2024-01-06","size":"many"}]}}"#,
        r#"{"id":2,"payload":{"commits":"x"}}"#,
        r#"{"id":3,"payload":{"commits":[]}}"#,
        r#"{"id":4,"payload":{"commits":[{"date":"2024-01-07","size":2},{"date":"2024-01-08","size":3}]}}"#,
        r#"{"id":5,"payload":{"commits":[{"date":"2024-01-07","size":2},{"size":3}]}}"#,
        r#"{"id":6,"payload":[1]}"#,
    ]
    .join("\n");
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!(
        (s.records_written, s.records_rejected, s.rows_written),
        (1, 5, 2)
    );
    let paths: Vec<&str> = s.partitions.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["d=07/", "d=08/"],
        "no partition of a rejected record"
    );
    let lines = rejected_lines(&o);
    let said: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["reason"].as_str().unwrap(),
                l["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            (
                "type_mismatch",
                "payload.commits[1]: string at payload.commits[*].size cannot be read as int64: \"many\""
            ),
            (
                "not_an_array",
                "payload.commits is a string, not an array: the rows are the elements of payload.commits[*]"
            ),
            (
                "missing_required_field",
                "its empty payload.commits[*]: required field payload.commits[*].date is missing"
            ),
            (
                "missing_required_field",
                "payload.commits[1]: required field payload.commits[*].date is missing"
            ),
            (
                "not_an_array",
                "payload.commits cannot be reached: its path meets an array where it goes on (the rows are the elements of payload.commits[*])"
            ),
        ]
    );
    assert_eq!(lines[0]["record"]["id"], 1, "the record is kept whole");
    assert_eq!(lines[0]["record_number"], 1);
}

#[test]
fn levels_can_be_reached_by_positions_and_matches_and_be_arrays_of_arrays() {
    let d = dataset(
        r#"
[rows]
each = "data[kind=order].items[*]"
[[fields]]
column = "id"
type = "bigint"
[[fields]]
path = "data[kind=order].items[*].sku"
type = "string"
"#,
    );
    let input = concat!(
        r#"{"id":1,"data":[{"kind":"x","items":[{"sku":"no"}]},{"kind":"order","items":[{"sku":"a"},{"sku":"b"}]}]}"#,
        "\n",
        r#"{"id":2,"data":[{"kind":"x"}]}"#,
        "\n",
    );
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.rows_written), (2, 3));
    let batch = &read_parquet(o.data.root().join(&s.partitions[0].files[0].key))[0];
    let rows: Vec<(Value, Value)> = (0..batch.num_rows())
        .map(|i| (json_at(batch.column(0), i), json_at(batch.column(1), i)))
        .collect();
    assert_eq!(
        rows,
        [
            (json!(1), json!("a")),
            (json!(1), json!("b")),
            (json!(2), Value::Null)
        ]
    );

    // An array of arrays: the second level is the element itself.
    let d = dataset(
        "[rows]\neach = \"m[*][*]\"\n[[fields]]\ncolumn = \"v\"\npath = \"m[*][*]\"\ntype = \"bigint\"\n",
    );
    let o = out();
    let s = run(&d, br#"{"m":[[1,2],[],[3]]}"#.as_slice(), &o).unwrap();
    let batch = &read_parquet(o.data.root().join(&s.partitions[0].files[0].key))[0];
    let values: Vec<Value> = (0..batch.num_rows())
        .map(|i| json_at(batch.column(0), i))
        .collect();
    assert_eq!(values, [json!(1), json!(2), Value::Null, json!(3)]);
}
