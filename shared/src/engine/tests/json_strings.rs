//! JSON documents inside strings, end to end through the engine: generated CloudWatch-style log
//! events whose `message` is a JSON document written as a string (mutated: plain text, truncated
//! and trailing text, numbers, arrays, `null`, objects that are no strings, escaped content,
//! unknown members, wrong kinds inside), read back from Parquet and compared value by value, with
//! the per-field counts, to a reference that reads each message with serde_json.

use serde_json::{json, Map, Value};

use super::nested::{bigint_of, cast, json_at, string_of, Gen};
use super::{dataset, out, read_parquet, rejected_lines, run};

const FIELDS: &str = r#"
json_strings = ["message"]
[[fields]]
column = "id"
type = "bigint"
[[fields]]
column = "level"
path = "message.level"
type = "string"
on_type_mismatch = "null"
[[fields]]
column = "latency"
path = "message.latency_ms"
type = "bigint"
on_type_mismatch = "null"
[[fields]]
column = "user"
path = "message.user.name"
type = "string"
on_type_mismatch = "null"
[[fields]]
column = "tags"
path = "message.tags"
type = "array<string>"
on_type_mismatch = "null"
[[fields]]
column = "first"
path = "message[0]"
type = "string"
on_type_mismatch = "null"
"#;

/// The columns after `id`, in order, as the reference names them.
const INSIDE: [&str; 5] = ["level", "latency", "user", "tags", "first"];

/// A log application's JSON document, with now and then values of the wrong kind.
fn document(g: &mut Gen) -> Value {
    let mut d = Map::new();
    let level = match g.next(8) {
        0 => None,
        1 => Some(json!(7)),
        2 => Some(json!({"x": 1})),
        3 => Some(json!(null)),
        _ => Some(json!(["INFO", "WARN", "ERROR"][g.next(3) as usize])),
    };
    if let Some(level) = level {
        d.insert("level".into(), level);
    }
    let latency = match g.next(7) {
        0 => None,
        1 => Some(json!("12")),
        2 => Some(json!("slow")),
        3 => Some(json!(2.5)),
        _ => Some(json!(g.next(5000))),
    };
    if let Some(latency) = latency {
        d.insert("latency_ms".into(), latency);
    }
    match g.next(6) {
        0 => {}
        1 => {
            d.insert("user".into(), json!("bob"));
        }
        2 => {
            d.insert("user".into(), json!([{"name": "in an array"}]));
        }
        3 => {
            d.insert("user".into(), json!(null));
        }
        _ => {
            d.insert("user".into(), json!({ "name": g.text() }));
        }
    }
    match g.next(5) {
        0 => {}
        1 => {
            d.insert("tags".into(), json!("x"));
        }
        2 => {
            d.insert("tags".into(), json!(["a", {"b": 1}, 5]));
        }
        _ => {
            let tags: Vec<Value> = (0..g.next(3)).map(|_| g.text()).collect();
            d.insert("tags".into(), Value::Array(tags));
        }
    }
    if g.next(6) == 0 {
        d.insert("extra".into(), json!({"deep": [1, {"x": "y"}]}));
    }
    Value::Object(d)
}

/// A log event's `message`: mostly a JSON document as a string, now and then anything else.
fn message(g: &mut Gen) -> Option<Value> {
    let text = |g: &mut Gen| document(g).to_string();
    Some(match g.next(16) {
        0 => return None,
        1 => json!(null),
        2 => g.text(),
        3 => json!("null"),
        4 => json!(42),
        5 => document(g),
        6 => json!(format!("[{}, 2]", g.text())),
        7 => json!(["native", 1]),
        8 => {
            let t = text(g);
            let mut cut = 1 + g.next(t.len() as u64 - 1) as usize;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            json!(t[..cut].to_string())
        }
        9 => json!(format!("{} x", text(g))),
        10 => json!(format!(" \n{}\t ", text(g))),
        11 => json!("\"just a JSON string\""),
        _ => json!(text(g)),
    })
}

fn event(g: &mut Gen, id: usize) -> Value {
    let mut e = Map::new();
    e.insert("id".into(), json!(id));
    e.insert("logStream".into(), json!("stream"));
    if let Some(m) = message(g) {
        e.insert("message".into(), m);
    }
    Value::Object(e)
}

/// What the reference expects of an event: the row, and per inside column whether its value
/// was nulled (did not fit) or unreached (the path met a value it cannot go into).
struct Expected {
    row: Vec<Value>,
    nulled: Vec<bool>,
    unreached: Vec<bool>,
}

/// The document a `message` holds, read by serde_json: `Ok(None)` for none (missing or null),
/// `Err(())` for a string that is not JSON.
fn document_of(message: Option<&Value>) -> Result<Option<Value>, ()> {
    match message {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Null) => Ok(None),
            Ok(doc) => Ok(Some(doc)),
            Err(_) => Err(()),
        },
        Some(native) => Ok(Some(native.clone())),
    }
}

fn expected(event: &Value) -> Expected {
    let n = INSIDE.len();
    let mut e = Expected {
        row: vec![event["id"].clone()],
        nulled: vec![false; n],
        unreached: vec![false; n],
    };
    let doc = match document_of(event.get("message")) {
        Err(()) => {
            e.row.extend(vec![Value::Null; n]);
            e.unreached = vec![true; n];
            return e;
        }
        Ok(None) => {
            e.row.extend(vec![Value::Null; n]);
            return e;
        }
        Ok(Some(doc)) => doc,
    };
    let Some(members) = doc.as_object() else {
        // A document that is no object: its members cannot be reached; `[0]` reads an array.
        e.row.extend(vec![Value::Null; n - 1]);
        e.unreached[..n - 1].fill(true);
        let first = match &doc {
            Value::Array(items) => items.first().map_or(Value::Null, |v| {
                cast(Some(v), string_of, &mut e.nulled[n - 1])
            }),
            _ => {
                e.unreached[n - 1] = true;
                Value::Null
            }
        };
        e.row.push(first);
        return e;
    };
    e.row
        .push(cast(members.get("level"), string_of, &mut e.nulled[0]));
    e.row
        .push(cast(members.get("latency_ms"), bigint_of, &mut e.nulled[1]));
    e.row.push(match members.get("user") {
        Some(Value::Object(u)) => cast(u.get("name"), string_of, &mut e.nulled[2]),
        None | Some(Value::Null) => Value::Null,
        Some(_) => {
            e.unreached[2] = true;
            Value::Null
        }
    });
    e.row.push(match members.get("tags") {
        Some(Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|t| cast(Some(t), string_of, &mut e.nulled[3]))
                .collect(),
        ),
        None | Some(Value::Null) => Value::Null,
        Some(_) => {
            e.nulled[3] = true;
            Value::Null
        }
    });
    // `[0]` of an object: it is no array.
    e.unreached[4] = true;
    e.row.push(Value::Null);
    e
}

#[test]
fn documents_inside_strings_read_back_as_serde_json_reads_them() {
    let mut g = Gen(11);
    let events: Vec<Value> = (0..4_000).map(|i| event(&mut g, i)).collect();
    let input: String = events.iter().map(|e| e.to_string() + "\n").collect();
    let d = dataset(FIELDS);
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_in, s.records_written), (4_000, 4_000));
    let want: Vec<Expected> = events.iter().map(expected).collect();

    let count = |pick: fn(&Expected) -> &Vec<bool>, c: usize| {
        want.iter().filter(|e| pick(e)[c]).count() as u64
    };
    for (c, column) in INSIDE.iter().enumerate() {
        let nulled = count(|e| &e.nulled, c);
        let unreached = count(|e| &e.unreached, c);
        assert!(unreached > 100, "the generator reaches {column}'s cases");
        assert_eq!(
            s.nulled_by_field.get(*column).copied().unwrap_or(0),
            nulled,
            "{column} nulled"
        );
        assert_eq!(
            s.unreached_by_field.get(*column).copied().unwrap_or(0),
            unreached,
            "{column} unreached"
        );
    }
    let not_json = want
        .iter()
        .filter(|e| e.unreached.iter().all(|u| *u))
        .count();
    assert!(not_json > 400, "plain, cut and trailing texts: {not_json}");
    // Unknown members are counted inside the documents that are JSON, named from the record.
    let extra = events
        .iter()
        .filter_map(|e| document_of(e.get("message")).ok().flatten())
        .filter(|doc| doc.get("extra").is_some())
        .count() as u64;
    assert!(extra > 100);
    assert_eq!(
        s.unknown_fields,
        [
            ("logStream".to_string(), 4_000),
            ("message.extra".to_string(), extra)
        ]
        .into()
    );

    let file = o.data.root().join(&s.partitions[0].files[0].key);
    let mut row = 0;
    for batch in read_parquet(file) {
        for i in 0..batch.num_rows() {
            for (c, expected) in want[row].row.iter().enumerate() {
                let got = json_at(batch.column(c), i);
                let name = batch.schema().field(c).name().clone();
                assert_eq!(&got, expected, "row {row} column {name}: {}", events[row]);
            }
            row += 1;
        }
    }
    assert_eq!(row, want.len());
}

#[test]
fn a_required_field_inside_a_string_that_is_not_json_rejects_its_record_saying_so() {
    let d = dataset(
        r#"
json_strings = ["sns.Message"]
[[fields]]
column = "order"
path = "sns.Message.order_id"
type = "bigint"
required = true
[[fields]]
column = "text"
path = "sns.Message"
type = "string"
on_type_mismatch = "null"
"#,
    );
    let input = [
        r#"{"sns":{"Message":"{\"order_id\":17}"}}"#,
        r#"{"sns":{"Message":"order 17 shipped"}}"#,
        r#"{"sns":{"Message":"[17]"}}"#,
        r#"{"sns":{"Message":"{}"}}"#,
        r#"{"sns":{"Message":{"order_id":"18"}}}"#,
    ]
    .join("\n");
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (2, 3));
    let said: Vec<(String, String)> = rejected_lines(&o)
        .iter()
        .map(|l| (l["reason"].to_string(), l["message"].to_string()))
        .collect();
    let quoted = |r: &str, m: &str| (format!("{r:?}"), format!("{m:?}"));
    assert_eq!(
        said,
        [
            quoted(
                "missing_required_field",
                "required field sns.Message.order_id is missing: its path meets a string that is not JSON where it goes on (into an object, or with [..] into an array)"
            ),
            quoted(
                "missing_required_field",
                "required field sns.Message.order_id is missing: its path meets an array where it goes on (into an object, or with [..] into an array)"
            ),
            quoted(
                "missing_required_field",
                "required field sns.Message.order_id is missing"
            ),
        ]
    );
    let batch = &read_parquet(o.data.root().join(&s.partitions[0].files[0].key))[0];
    let rows: Vec<(Value, Value)> = (0..batch.num_rows())
        .map(|i| (json_at(batch.column(0), i), json_at(batch.column(1), i)))
        .collect();
    assert_eq!(
        rows,
        [
            (json!(17), json!("{\"order_id\":17}")),
            (json!(18), Value::Null)
        ],
        "the string itself can be a column too; an object is no string"
    );
}

/// A CloudWatch Logs subscription payload's wrapper: its members before `logEvents`, now and then
/// missing or of the wrong kind, then its events.
fn payload(g: &mut Gen, first_id: &mut usize) -> Value {
    let mut p = Map::new();
    p.insert("messageType".into(), json!("DATA_MESSAGE"));
    match g.next(8) {
        0 => {}
        1 => {
            p.insert("owner".into(), json!("not a number"));
        }
        _ => {
            p.insert("owner".into(), json!(format!("{}", 100_000 + g.next(1000))));
        }
    }
    match g.next(8) {
        0 => {}
        1 => {
            p.insert("logGroup".into(), json!(17));
        }
        _ => {
            p.insert(
                "logGroup".into(),
                json!(format!("/aws/lambda/f{}", g.next(5))),
            );
        }
    }
    match g.next(6) {
        0 => {}
        1 => {
            p.insert("meta".into(), json!("flat"));
        }
        _ => {
            p.insert("meta".into(), json!({"region": g.text(), "other": 1}));
        }
    }
    p.insert("subscriptionFilters".into(), json!(["all"]));
    let events: Vec<Value> = (0..g.next(6))
        .map(|_| {
            *first_id += 1;
            let mut e = Map::new();
            e.insert("id".into(), json!(*first_id));
            if let Some(m) = message(g) {
                e.insert("message".into(), m);
            }
            Value::Object(e)
        })
        .collect();
    p.insert("logEvents".into(), Value::Array(events));
    Value::Object(p)
}

#[test]
fn the_documents_members_come_with_each_of_its_records_as_serde_json_reads_them() {
    let d = dataset(
        r#"
records = "logEvents"
json_strings = ["message"]
[[fields]]
column = "id"
type = "bigint"
[[fields]]
column = "level"
path = "message.level"
type = "string"
on_type_mismatch = "null"
[[fields]]
column = "log_group"
path = "logGroup"
from = "document"
type = "string"
required = true
[[fields]]
column = "owner"
from = "document"
type = "bigint"
on_type_mismatch = "null"
[[fields]]
column = "region"
path = "meta.region"
from = "document"
type = "string"
"#,
    );
    let mut g = Gen(5);
    let mut id = 0;
    let payloads: Vec<Value> = (0..600).map(|_| payload(&mut g, &mut id)).collect();
    let input: String = payloads.iter().map(|p| p.to_string() + "\n").collect();
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();

    // The reference: each event with its payload's members, read by serde_json.
    let mut want = Vec::new();
    let (mut rejected, mut owner_nulled, mut region_unreached) = (0, 0, 0);
    for p in &payloads {
        for event in p["logEvents"].as_array().unwrap() {
            let group = match p.get("logGroup") {
                Some(g @ Value::String(_)) => g.clone(),
                Some(Value::Number(n)) => json!(n.to_string()),
                _ => {
                    rejected += 1;
                    continue;
                }
            };
            let mut nulled = false;
            let owner = cast(p.get("owner"), bigint_of, &mut nulled);
            owner_nulled += u64::from(nulled);
            let region = match p.get("meta") {
                Some(Value::Object(m)) => m["region"].clone(),
                _ => {
                    region_unreached += u64::from(p.get("meta").is_some());
                    Value::Null
                }
            };
            let level = expected(event).row[1].clone();
            want.push(vec![event["id"].clone(), level, group, owner, region]);
        }
    }
    assert!(rejected > 20 && owner_nulled > 20 && region_unreached > 20);
    assert_eq!(
        (s.records_in, s.records_written, s.records_rejected),
        (id as u64, want.len() as u64, rejected)
    );
    assert_eq!(
        s.rejected_by_field,
        [("log_group".to_string(), rejected)].into()
    );
    assert_eq!(s.nulled_by_field.get("owner"), Some(&owner_nulled));
    assert_eq!(s.unreached_by_field.get("region"), Some(&region_unreached));
    assert!(
        !s.unknown_fields.keys().any(|k| k.contains("other")),
        "the document's members are not counted once per record: {:?}",
        s.unknown_fields
    );

    let file = o.data.root().join(&s.partitions[0].files[0].key);
    let mut row = 0;
    for batch in read_parquet(file) {
        for i in 0..batch.num_rows() {
            let got: Vec<Value> = (0..5).map(|c| json_at(batch.column(c), i)).collect();
            assert_eq!(got, want[row], "row {row}");
            row += 1;
        }
    }
    assert_eq!(row, want.len());
}
