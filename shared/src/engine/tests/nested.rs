//! Nested columns and paths into arrays, end to end through the engine: generated GitHub-style
//! events (mutated: wrong kinds, numbers in strings, nulls, repeated and camelCase names, empty
//! and missing arrays), each column read back from the Parquet files and compared with a
//! reference computed from serde_json's reading of the same event.

use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, ListArray, MapArray, StructArray};
use serde_json::{json, Map, Value};

use super::{dataset, out, read_parquet, run};

/// Every field nulls what does not fit (the reference notes where).
const FIELDS: &str = r#"
[[fields]]
column = "id"
type = "bigint"
[[fields]]
column = "commits"
path = "payload.commits"
type = "array<struct<sha:string,author_name:string,size:bigint,distinct:boolean>>"
[[fields]]
column = "shas"
path = "payload.commits[*].sha"
type = "array<string>"
[[fields]]
column = "first_sha"
path = "payload.commits[0].sha"
type = "string"
[[fields]]
column = "last_size"
path = "payload.commits[-1].size"
type = "bigint"
[[fields]]
column = "labels"
type = "map<string,bigint>"
[[fields]]
column = "service"
path = "attributes[key=service.name].value.stringValue"
type = "string"
"#;

/// A small deterministic generator (no dependence on a crate's sequence across versions).
pub(super) struct Gen(pub(super) u64);

impl Gen {
    pub(super) fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    pub(super) fn text(&mut self) -> Value {
        let texts = ["a1b2", "é\"q\\", "line\nbreak", "", "7", "\u{1}"];
        json!(format!(
            "{}{}",
            texts[self.next(6) as usize],
            self.next(1000)
        ))
    }

    fn commit(&mut self) -> Value {
        if self.next(12) == 0 {
            return [json!(null), json!("c"), json!([1])][self.next(3) as usize].clone();
        }
        let mut c = Map::new();
        if self.next(10) > 0 {
            let sha = match self.next(8) {
                0 => json!(12345),
                1 => json!({"x": 1}),
                2 => json!(true),
                _ => self.text(),
            };
            c.insert("sha".into(), sha);
        }
        match self.next(4) {
            0 => {}
            1 => {
                c.insert("author_name".into(), self.text());
            }
            _ => {
                c.insert("authorName".into(), self.text());
            }
        }
        let size = match self.next(8) {
            0 => json!("17"),
            1 => json!("x"),
            2 => json!(1.5),
            3 => json!(3.0),
            4 => json!(null),
            _ => json!(self.next(100_000)),
        };
        c.insert("size".into(), size);
        let distinct = match self.next(7) {
            0 => json!("true"),
            1 => json!("no"),
            2 => json!(1),
            3 => json!(2),
            _ => json!(self.next(2) == 0),
        };
        c.insert("distinct".into(), distinct);
        if self.next(5) == 0 {
            c.insert("extra".into(), json!({"deep": [1, 2]}));
        }
        Value::Object(c)
    }

    fn event(&mut self, id: usize) -> Value {
        let mut e = Map::new();
        e.insert("id".into(), json!(id));
        let commits = match self.next(10) {
            0 => None,
            1 => Some(json!(null)),
            2 => Some(json!("not a list")),
            3 => Some(json!([])),
            _ => Some(Value::Array(
                (0..self.next(5) + 1).map(|_| self.commit()).collect(),
            )),
        };
        if let Some(commits) = commits {
            e.insert("payload".into(), json!({ "commits": commits }));
        }
        if self.next(4) > 0 {
            let mut labels = Map::new();
            for _ in 0..self.next(4) {
                let value = match self.next(4) {
                    0 => json!("x"),
                    1 => json!(" 42 "),
                    _ => json!(self.next(9)),
                };
                labels.insert(format!("k{}", self.next(3)), value);
            }
            e.insert("labels".into(), Value::Object(labels));
        }
        if self.next(3) > 0 {
            let mut attributes = Vec::new();
            for _ in 0..self.next(4) {
                let key = ["service.name", "host.name", "service"][self.next(3) as usize];
                attributes.push(json!({"key": key, "value": {"stringValue": self.text()}}));
            }
            e.insert("attributes".into(), Value::Array(attributes));
        }
        Value::Object(e)
    }
}

/// The reference casts (documented rules, by serde_json and `str::parse`), `None` for a value
/// that does not fit (nulled).
pub(super) fn string_of(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) => Some(v.clone()),
        Value::Number(n) => Some(json!(n.to_string())),
        Value::Bool(b) => Some(json!(b.to_string())),
        _ => None,
    }
}

pub(super) fn bigint_of(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Value::from),
        Value::String(s) => s.trim().parse::<i64>().ok().map(Value::from),
        _ => None,
    }
}

fn boolean_of(v: &Value) -> Option<Value> {
    match v {
        Value::Bool(_) => Some(v.clone()),
        Value::Number(n) if n.as_i64() == Some(1) => Some(json!(true)),
        Value::Number(n) if n.as_i64() == Some(0) => Some(json!(false)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" => Some(json!(true)),
            "false" | "0" | "no" | "n" => Some(json!(false)),
            _ => None,
        },
        _ => None,
    }
}

/// A scalar member read with `cast`: null stays null, a misfit is null and noted.
pub(super) fn cast(
    v: Option<&Value>,
    cast: fn(&Value) -> Option<Value>,
    nulled: &mut bool,
) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(v) => cast(v).unwrap_or_else(|| {
            *nulled = true;
            Value::Null
        }),
    }
}

/// What each column should hold for `event`, and whether `commits` and `labels` nulled a part.
fn expected(event: &Value) -> (Vec<Value>, bool, bool) {
    let commits = event.pointer("/payload/commits");
    let mut commits_nulled = false;
    let commit_row = |c: &Value, nulled: &mut bool| -> Value {
        match c {
            Value::Null => Value::Null,
            Value::Object(m) => {
                let author = m.get("author_name").or_else(|| m.get("authorName"));
                json!({
                    "sha": cast(m.get("sha"), string_of, nulled),
                    "author_name": cast(author, string_of, nulled),
                    "size": cast(m.get("size"), bigint_of, nulled),
                    "distinct": cast(m.get("distinct"), boolean_of, nulled),
                })
            }
            _ => {
                *nulled = true;
                Value::Null
            }
        }
    };
    let commits_value = match commits {
        Some(Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|c| commit_row(c, &mut commits_nulled))
                .collect(),
        ),
        None | Some(Value::Null) => Value::Null,
        Some(_) => {
            commits_nulled = true;
            Value::Null
        }
    };
    let sha_of = |c: &Value| match c.get("sha") {
        Some(v) if c.is_object() => string_of(v).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let (shas, first, last_size) = match commits {
        Some(Value::Array(items)) => (
            Value::Array(items.iter().map(sha_of).collect()),
            items.first().map_or(Value::Null, sha_of),
            items
                .last()
                .and_then(|c| c.get("size"))
                .and_then(bigint_of)
                .unwrap_or(Value::Null),
        ),
        _ => (Value::Null, Value::Null, Value::Null),
    };
    let mut labels_nulled = false;
    let labels = match event.get("labels") {
        Some(Value::Object(m)) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), cast(Some(v), bigint_of, &mut labels_nulled)))
                .collect(),
        ),
        _ => Value::Null,
    };
    let service = event
        .get("attributes")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x["key"] == "service.name"))
        .map_or(Value::Null, |x| x["value"]["stringValue"].clone());
    (
        vec![
            event["id"].clone(),
            commits_value,
            shas,
            first,
            last_size,
            labels,
            service,
        ],
        commits_nulled,
        labels_nulled,
    )
}

/// Row `i` of a column read back, as JSON (maps as objects).
pub(super) fn json_at(array: &ArrayRef, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<arrow_array::StringArray>() {
        json!(a.value(i))
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        json!(a.value(i))
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        json!(a.value(i))
    } else if let Some(a) = any.downcast_ref::<ListArray>() {
        let items = a.value(i);
        Value::Array((0..items.len()).map(|j| json_at(&items, j)).collect())
    } else if let Some(a) = any.downcast_ref::<StructArray>() {
        let names = a.column_names();
        Value::Object(
            names
                .iter()
                .zip(a.columns())
                .map(|(n, c)| (n.to_string(), json_at(c, i)))
                .collect(),
        )
    } else if let Some(a) = any.downcast_ref::<MapArray>() {
        let entries = a.value(i);
        let keys = entries.column(0).clone();
        let values = entries.column(1).clone();
        let mut m = Map::new();
        for j in 0..entries.len() {
            let Value::String(k) = json_at(&keys, j) else {
                panic!("map keys are strings")
            };
            assert!(m.insert(k, json_at(&values, j)).is_none(), "a key once");
        }
        Value::Object(m)
    } else {
        panic!("unexpected column type {:?}", array.data_type())
    }
}

#[test]
fn nested_columns_and_array_paths_read_back_as_the_reference_reads_the_json() {
    let fields = FIELDS.replace("\ntype = ", "\non_type_mismatch = \"null\"\ntype = ");
    let d = dataset(&fields);
    let mut g = Gen(42);
    // More rows than one batch of the writer, so lists are cut between batches too.
    let events: Vec<Value> = (0..9_000).map(|i| g.event(i)).collect();
    let input: String = events.iter().map(|e| e.to_string() + "\n").collect();
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!(
        (s.records_in, s.records_written, s.records_rejected),
        (9_000, 9_000, 0)
    );
    let file = o.data.root().join(&s.partitions[0].files[0].key);
    let batches = read_parquet(file);
    let mut row = 0;
    let (mut commits_nulled, mut labels_nulled) = (0, 0);
    for batch in &batches {
        for i in 0..batch.num_rows() {
            let (want, c_nulled, l_nulled) = expected(&events[row]);
            commits_nulled += u64::from(c_nulled);
            labels_nulled += u64::from(l_nulled);
            for (c, want) in want.iter().enumerate() {
                let got = json_at(batch.column(c), i);
                assert_eq!(
                    &got,
                    want,
                    "event {row} column {}: {}",
                    batch.schema().field(c).name(),
                    events[row]
                );
            }
            row += 1;
        }
    }
    assert_eq!(row, 9_000);
    assert!(
        commits_nulled > 100 && labels_nulled > 100,
        "the generator reaches the misfits"
    );
    assert_eq!(s.nulled_by_field.get("commits"), Some(&commits_nulled));
    assert_eq!(s.nulled_by_field.get("labels"), Some(&labels_nulled));
    // `shas` meets commits that are no objects (and a string where the list is).
    let unreached = |e: &Value| match e.pointer("/payload/commits") {
        Some(Value::Array(items)) => items.iter().any(|c| !c.is_object() && !c.is_null()),
        Some(v) => !v.is_null(),
        None => false,
    };
    let want = events.iter().filter(|e| unreached(e)).count() as u64;
    assert_eq!(s.unreached_by_field.get("shas"), Some(&want));
    // Members the struct does not declare are counted under their source path, never dropped
    // unseen; nothing else in the events is unmapped.
    let extras = |e: &Value| match e.pointer("/payload/commits") {
        Some(Value::Array(items)) => items.iter().filter(|c| c.get("extra").is_some()).count(),
        _ => 0,
    };
    let want = events.iter().map(extras).sum::<usize>() as u64;
    assert!(want > 100);
    let unknown: Vec<(&str, u64)> = s
        .unknown_fields
        .iter()
        .map(|(k, &n)| (k.as_str(), n))
        .collect();
    assert_eq!(unknown, [("payload.commits[*].extra", want)]);
}

#[test]
fn a_misfit_inside_a_nested_value_rejects_its_record_and_says_where() {
    // The first two fields, rejecting what does not fit.
    let d = dataset(
        FIELDS
            .split("[[fields]]\ncolumn = \"shas\"")
            .next()
            .unwrap(),
    );
    let input = concat!(
        r#"{"id":1,"payload":{"commits":[{"sha":"a","size":1},{"sha":"b","size":"many"}]}}"#,
        "\n",
        r#"{"id":2,"payload":{"commits":{"sha":"a"}}}"#,
        "\n",
        r#"{"id":3,"payload":{"commits":[{"sha":"a"},"c"]}}"#,
        "\n",
        r#"{"id":4,"payload":{"commits":[{"sha":"ok","authorName":"Ann"}]}}"#,
        "\n",
    );
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (1, 3));
    let lines = super::rejected_lines(&o);
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "string at payload.commits[1].size cannot be read as int64: \"many\"",
            "object at payload.commits cannot be read as array<struct<`sha`:string,`author_name`:string,`size`:bigint,`distinct`:boolean>>",
            "string at payload.commits[1] cannot be read as object (struct<sha,author_name,size,distinct>)",
        ]
    );
    assert!(lines
        .iter()
        .all(|l| l["field"] == "commits" && l["reason"] == "type_mismatch"));
}

#[test]
fn a_required_list_of_every_element_says_what_its_path_met() {
    let d = dataset(
        "[[fields]]\ncolumn = \"shas\"\npath = \"payload.commits[*].sha\"\ntype = \"array<string>\"\nrequired = true\n",
    );
    let input = concat!(
        r#"{"payload":{"commits":{"sha":"a"}}}"#,
        "\n",
        r#"{"payload":{"commits":null}}"#,
        "\n",
        r#"{"payload":{"commits":[{"sha":"b"}]}}"#,
        "\n",
    );
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!((s.records_written, s.records_rejected), (1, 2));
    let messages: Vec<String> = super::rejected_lines(&o)
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        messages,
        [
            "required field payload.commits[*].sha is missing: its path meets an object where it goes on (into an object, or with [..] into an array)",
            "required field payload.commits[*].sha is null",
        ]
    );
}
