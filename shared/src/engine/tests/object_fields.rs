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
