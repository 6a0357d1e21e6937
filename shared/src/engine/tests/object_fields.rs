//! Fields `from = "object"`: the object's key, its creation time and what its key says, on every
//! record, partitioning records that carry no time of their own.

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use serde_json::{json, Value};

use super::nested::json_at;
use super::{dataset, out, read_parquet, rejected_lines};
use crate::engine::sources::object_document;
use crate::{Engine, SourceObject};

fn object(key: &str, created: Option<&str>) -> SourceObject {
    SourceObject {
        bucket: "raw".into(),
        key: key.into(),
        version: None,
        attempt: None,
        created: created.map(String::from),
    }
}

fn members(key: &str) -> Value {
    serde_json::from_str(&object_document(&object(key, None), "t/")).unwrap()
}

#[test]
fn the_key_gives_its_time_and_its_name_value_segments() {
    let m = members("t/2026/12/01/10/stream-1-2026-12-01-10-00-00-5f1e");
    assert_eq!(m["key_time"], "2026-12-01T10:00:00Z");
    assert_eq!(m["key_values"], json!({}));
    assert_eq!(m["bucket"], "raw");
    assert_eq!(
        members("t/x/2026/02/28/a.json")["key_time"],
        "2026-02-28T00:00:00Z"
    );
    for no_time in [
        "t/2026/02/30/a.json",
        "t/2026/13/01/a.json",
        "t/26/12/01/a.json",
        "t/2026/12/a.json",
        "t/2026/12/01",
    ] {
        assert!(members(no_time).get("key_time").is_none(), "{no_time}");
    }
    let m = members("t/dt=2026-12-01/ts=10%3A00/region=eu=west/a=/x.json");
    assert_eq!(
        m["key_values"],
        json!({"dt": "2026-12-01", "ts": "10:00", "region": "eu=west", "a": ""})
    );
    assert!(members("t/x.json?dt=1").get("created").is_none());
}

#[test]
fn records_without_a_time_are_partitioned_by_when_and_where_their_object_arrived() {
    let d = dataset(
        r#"
[[fields]]
column = "id"
type = "bigint"
[[fields]]
column = "ingested"
from = "object"
path = "created"
type = "timestamp"
[[fields]]
column = "hour"
from = "object"
path = "key_time"
type = "timestamp"
[[fields]]
column = "source_key"
from = "object"
path = "key"
type = "string"
[[fields]]
column = "tenant"
from = "object"
path = "key_values.tenant"
type = "string"
required = true
[[partitions]]
name = "day"
from = "ingested"
part = "day"
[[partitions]]
name = "tenant"
from = "tenant"
"#,
    );
    let run_on = |key: &str, created: Option<&str>| {
        let o = out();
        let s = Engine::new(&d)
            .transform(
                &b"{\"id\":1}\n{\"id\":2}\n"[..],
                &object(key, created),
                &o.data,
                &o.rejected,
            )
            .unwrap();
        (s, o)
    };
    let key = "t/tenant=acme/2026/12/01/10/part-0.json";
    let (s, o) = run_on(key, Some("2026-12-02T00:00:01.500Z"));
    assert_eq!(s.records_written, 2);
    let paths: Vec<&str> = s.partitions.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["day=02/tenant=acme/"]);
    let batch = &read_parquet(o.data.root().join(&s.partitions[0].files[0].key))[0];
    let row: Vec<Value> = (0..batch.num_columns())
        .map(|c| {
            let column = batch.column(c);
            match column.as_primitive_opt::<TimestampMicrosecondType>() {
                Some(times) => json!(times.value(1)),
                None => json_at(column, 1),
            }
        })
        .collect();
    let micros = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_micros()
    };
    assert_eq!(
        row,
        [
            json!(2),
            json!(micros("2026-12-02T00:00:01.500Z")),
            json!(micros("2026-12-01T10:00:00Z")),
            json!(key)
        ],
        "every record carries its object's values"
    );

    // Unknown creation: a null time, the default partition; a key without the segment: each
    // record rejected for the required field, saying which.
    let (s, _) = run_on("t/tenant=acme/a.json", None);
    assert_eq!(
        s.partitions[0].path,
        "day=__HIVE_DEFAULT_PARTITION__/tenant=acme/"
    );
    let (s, o) = run_on("t/a.json", Some("2026-12-02T00:00:00Z"));
    assert_eq!((s.records_written, s.records_rejected), (0, 2));
    assert_eq!(
        rejected_lines(&o)[0]["message"],
        "required field key_values.tenant is missing"
    );
}

/// One row per item, each with its record's, its document's and its object's values: generated
/// wrapped documents (members before and after the records, empty and missing item lists, records
/// that are no objects) against serde_json's reading.
#[test]
fn rows_carry_the_document_and_object_fields_of_their_record() {
    let d = dataset(
        r#"records = "Records"
[rows]
each = "items[*]"
empty = "null_row"
[[fields]]
column = "id"
type = "bigint"
[[fields]]
column = "sku"
path = "items[*].sku"
type = "string"
[[fields]]
column = "batch"
from = "document"
path = "batch.id"
type = "string"
[[fields]]
column = "tenant"
from = "object"
path = "key_values.tenant"
type = "string"
required = true
[[fields]]
column = "hour"
from = "object"
path = "key_time"
type = "timestamp"
[[partitions]]
name = "tenant"
from = "tenant"
[quality]
max_rejected_fraction = 1.0
"#,
    );
    let mut g = super::nested::Gen(9);
    let mut input = String::new();
    let mut want = Vec::new();
    let (mut records, mut not_objects) = (0, 0);
    for doc in 0..300u64 {
        let recs: Vec<Value> = (0..g.next(4))
            .map(|r| {
                let id = doc * 10 + r;
                match g.next(6) {
                    0 => json!({"id": id}),
                    1 => json!({"id": id, "items": []}),
                    2 => json!("not a record"),
                    _ => json!({"id": id, "items": (0..g.next(3) + 1)
                        .map(|i| json!({"sku": format!("s{id}-{i}")}))
                        .collect::<Vec<_>>()}),
                }
            })
            .collect();
        let batch = match g.next(3) {
            0 => json!(null),
            _ => json!({"id": format!("b{doc}"), "at": doc}),
        };
        // The document's member before or after the records, as writers order them.
        let text = match g.next(2) {
            0 => json!({"batch": batch, "Records": recs}).to_string(),
            _ => format!(
                "{{\"Records\":{},\"batch\":{batch}}}",
                Value::Array(recs.clone())
            ),
        };
        input.push_str(&text);
        input.push('\n');
        records += recs.len() as u64;
        not_objects += recs.iter().filter(|r| !r.is_object()).count() as u64;
        let batch_id = batch.get("id").cloned().unwrap_or(Value::Null);
        for r in recs.iter().filter(|r| r.is_object()) {
            let items = r
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let skus: Vec<Value> = match items.is_empty() {
                true => vec![Value::Null],
                false => items.iter().map(|i| i["sku"].clone()).collect(),
            };
            for sku in skus {
                want.push(vec![r["id"].clone(), sku, batch_id.clone()]);
            }
        }
    }
    let key = "t/tenant=acme/2026/12/01/10/part-0.json";
    let o = out();
    let s = Engine::new(&d)
        .transform(input.as_bytes(), &object(key, None), &o.data, &o.rejected)
        .unwrap();
    assert_eq!((s.records_in, s.records_rejected), (records, not_objects));
    assert_eq!(s.rows_written, want.len() as u64);
    assert!(not_objects > 20 && want.iter().any(|r| r[1].is_null() && !r[2].is_null()));
    let paths: Vec<&str> = s.partitions.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["tenant=acme/"]);
    let mut got = Vec::new();
    for file in &s.partitions[0].files {
        for batch in read_parquet(o.data.root().join(&file.key)) {
            let hour = batch.column_by_name("hour").unwrap();
            let hour = hour.as_primitive::<TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                assert_eq!(hour.value(i), 1_796_119_200_000_000, "2026-12-01T10:00:00Z");
                got.push(
                    (0..3)
                        .map(|c| json_at(batch.column(c), i))
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    let order = |v: &Vec<Value>| (v[0].as_u64(), v[1].as_str().map(String::from));
    want.sort_by_key(order);
    got.sort_by_key(order);
    assert_eq!(got, want);
}
