use super::*;

const IOT: &str = include_str!("../../../datasets/iot_sensors.toml");

fn load(text: &str) -> Result<Dataset, DatasetError> {
    Dataset::from_toml_str(text, "datasets/x.toml")
}

/// A minimal valid definition with `extra` appended (TOML tables may follow).
fn minimal(extra: &str) -> String {
    format!(
        "name = \"x\"\ndatabase = \"db\"\ntable = \"t\"\n[source]\nprefix = \"x/\"\n\
         [[fields]]\ncolumn = \"id\"\ntype = \"string\"\n\
         [[fields]]\ncolumn = \"ts\"\ntype = \"timestamp\"\n{extra}"
    )
}

fn error_of(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

#[test]
fn shipped_iot_dataset_compiles_as_documented() {
    let d = load(IOT).unwrap();
    assert_eq!(
        (d.name.as_str(), d.database.as_str(), d.table.as_str()),
        ("iot_sensors", "iot", "sensor_readings")
    );
    let columns: Vec<_> = d.file_fields().map(|f| f.column.as_str()).collect();
    assert_eq!(
        columns,
        [
            "timestamp",
            "latitude",
            "longitude",
            "temperature",
            "humidity",
            "pressure"
        ]
    );
    assert_eq!(d.fields[2].path, ["location", "lat"]);
    let parts: Vec<_> = d
        .partitions
        .iter()
        .map(|p| (p.name.as_str(), p.part))
        .collect();
    assert_eq!(
        parts,
        [
            ("year", Some(TimePart::Year)),
            ("month", Some(TimePart::Month)),
            ("device_id", None)
        ]
    );
    assert!(d.matches_key("iot/2020/06/a.json.gz"));
    assert!(!d.matches_key("other/a.json"));
    assert!(!d.matches_key("iot/a.csv"));
    for compressed in ["a.json.zst", "a.ndjson.bz2", "a.jsonl.snappy", "a.jsonl.gz"] {
        assert!(d.matches_key(&format!("iot/{compressed}")), "{compressed}");
    }
    assert!(!d.matches_key("iot/a.csv.gz"));
    assert!(!d.matches_key("iot/a.gz"));
}

#[test]
fn every_dataset_in_the_repository_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    let all = Dataset::load_dir(&dir).unwrap();
    assert!(all.iter().any(|d| d.name == "iot_sensors"));
}

#[test]
fn paths_with_dotted_keys_and_defaults() {
    let d = load(&minimal(
        "[[fields]]\ncolumn = \"v\"\npath = [\"meta.v1\", \"x\"]\ntype = \"double\"\n",
    ))
    .unwrap();
    assert_eq!(d.fields[2].path, ["meta.v1", "x"]);
    assert_eq!(d.fields[0].path, ["id"]);
    assert_eq!(d.output.compression, Compression::Snappy);
    assert_eq!(d.max_rejected_fraction, None);
}

#[test]
fn bad_definitions_name_the_file_and_key() {
    let cases: &[(&str, &str)] = &[
        ("[[fields]]\ncolumn = \"v\"\ntype = \"float\"\n", "\"float\" is not a column type: expected a type name"),
        ("[[partitions]]\nname = \"p\"\nfrom = \"nope\"\n", "partitions[0].from: no field with column \"nope\""),
        ("[[fields]]\ncolumn = \"id\"\ntype = \"string\"\n", "fields[2].column: duplicate column \"id\""),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"string\"\ncolour = 1\n", "unknown field `colour`"),
        ("[[fields]]\ncolumn = \"Bad-Name\"\ntype = \"string\"\n", "fields[2].column: \"Bad-Name\" is not a valid Athena identifier"),
        ("[[partitions]]\nname = \"year\"\nfrom = \"id\"\npart = \"year\"\n", "partitions[0].part: field \"id\" is not a point in time"),
        ("[[partitions]]\nname = \"ts\"\nfrom = \"id\"\n", "partitions[0].name: \"ts\" is also a column"),
        ("[[partitions]]\nname = \"p\"\nfrom = \"id\"\n[[partitions]]\nname = \"p\"\nfrom = \"ts\"\n", "partitions[1].name: duplicate partition \"p\""),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"double\"\nmin = 5\nmax = 1\n", "fields[2].min: min 5 is greater than max 1"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"string\"\nmin = 1\n", "fields[2].min: min/max apply to"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"timestamp\"\nformat = \"yyyy\"\n", "fields[2].format: unknown format \"yyyy\""),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"double\"\nallowed = [1.5]\n", "fields[2].allowed: applies to string"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"string\"\npath = \"a..b\"\n", "fields[2].path: \"a..b\": empty member name"),
        ("[quality]\nmax_rejected_fraction = 1.5\n", "quality.max_rejected_fraction: 1.5 is not between 0.0 and 1.0"),
        ("[output]\nrow_group_rows = 0\n", "output: row_group_rows"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"json\"\n[[partitions]]\nname = \"p\"\nfrom = \"v\"\n", "partitions[0].from: field \"v\" is a json, array, struct or map column"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"json\"\nmax = 1\n", "fields[2].min: min/max apply to"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"json\"\nallowed = [\"a\"]\n", "fields[2].allowed: applies to string"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"json\"\nformat = \"auto\"\n", "fields[2].format: only applies to"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"string\"\npath = \"a[*].b\"\n", "fields[2].path: a[*].b takes every element of an array ([*]): give the column an array type, e.g. array<string>"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"array<string>\"\npath = \"a[*].b[*]\"\n", "fields[2].path: the path takes every element ([*]) more often than the type has array<> levels"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"array<string>\"\nallowed = [\"a\"]\n", "fields[2].type: min, max and allowed apply to scalar columns"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"struct<a:string>\"\n[[partitions]]\nname = \"p\"\nfrom = \"v\"\n", "partitions[0].from: field \"v\" is a json, array, struct or map column"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"array<struct<a:string>>\"\nepoch_unit = \"millis\"\n", "fields[2].epoch_unit: only applies to"),
        ("[[fields]]\ncolumn = \"v\"\ntype = \"map<int,string>\"\n", "expected string (JSON object keys are strings)"),
    ];
    for (extra, expected) in cases {
        let err = error_of(&minimal(extra));
        assert!(err.starts_with("datasets/x.toml: "), "{err}");
        assert!(
            err.contains(expected),
            "{extra:?}\n  got: {err}\n  wanted: {expected}"
        );
    }
    let err = error_of(&minimal("").replace("prefix = \"x/\"", "prefix = \"x/\"\nrecords = \"\""));
    assert!(err.contains("source.records: an empty name"), "{err}");
    let err = error_of(&minimal("").replace("name = \"x\"", "name = \"X Y\""));
    assert!(err.contains("name: \"X Y\" must be"), "{err}");
}

#[test]
fn json_definitions_are_accepted_too() {
    let json = r#"{"name":"j","database":"db","table":"t","source":{"prefix":""},
        "fields":[{"column":"id","type":"bigint","required":true}]}"#;
    let d = Dataset::from_json_str(json, "datasets/j.json").unwrap();
    assert_eq!(d.fields[0].kind, FieldType::Int64);
    let err = Dataset::from_json_str(r#"{"name":"j"}"#, "datasets/j.json").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("datasets/j.json: missing field"),
        "{err}"
    );
}

#[test]
fn longest_prefix_wins_and_names_are_unique() {
    let a = load(&minimal("").replace("prefix = \"x/\"", "prefix = \"iot/\"")).unwrap();
    let mut b = load(&minimal("").replace("prefix = \"x/\"", "prefix = \"iot/special/\"")).unwrap();
    b.name = "y".into();
    let all = [a, b];
    assert_eq!(
        dataset_for_key(&all, "iot/special/a.json").unwrap().name,
        "y"
    );
    assert_eq!(dataset_for_key(&all, "iot/a.json").unwrap().name, "x");
    assert!(dataset_for_key(&all, "else/a.json").is_none());
    let dup = [all[0].clone(), all[0].clone()];
    assert!(check_unique_names(&dup)
        .unwrap_err()
        .to_string()
        .contains("already used"));
}

#[test]
fn a_column_name_left_out_is_the_paths_names_in_snake_case() {
    let d = load(&minimal(
        "[[fields]]\npath = \"userIdentity.accountId\"\ntype = \"string\"\n\
         [[fields]]\npath = \"sourceIPAddress\"\ntype = \"string\"\n\
         [[fields]]\npath = [\"meta.v1\", \"eventID\"]\ntype = \"string\"\n",
    ))
    .unwrap();
    let derived: Vec<(&str, String)> = d.fields[2..]
        .iter()
        .map(|f| (f.column.as_str(), f.path_display()))
        .collect();
    assert_eq!(
        derived,
        [
            (
                "user_identity_account_id",
                "userIdentity.accountId".to_string()
            ),
            ("source_ip_address", "sourceIPAddress".to_string()),
            ("meta_v1_event_id", "meta.v1.eventID".to_string()),
        ]
    );
    for (extra, expected) in [
        (
            "[[fields]]\ntype = \"string\"\n",
            "fields[2].column: a field needs a column name or a path",
        ),
        (
            "[[fields]]\npath = \"a[0].b\"\ntype = \"string\"\n",
            "fields[2].column: the path \"a[0].b\" steps into arrays: give the column a name",
        ),
        (
            "[[fields]]\npath = \"2fa\"\ntype = \"string\"\n",
            "fields[2].column: \"2fa\" is not a valid Athena identifier",
        ),
        (
            "[[fields]]\npath = \"Id\"\ntype = \"string\"\n",
            "fields[2].column: duplicate column \"id\"",
        ),
    ] {
        let err = error_of(&minimal(extra));
        assert!(err.contains(expected), "{extra:?}\n  got: {err}");
    }
}

#[test]
fn json_strings_bind_the_fields_that_go_on_inside_them() {
    let d = load(
        &minimal(
            "[[fields]]\npath = \"message.level\"\ntype = \"string\"\n\
         [[fields]]\ncolumn = \"first\"\npath = \"message[0]\"\ntype = \"string\"\n\
         [[fields]]\npath = \"message\"\ntype = \"string\"\n\
         [[fields]]\npath = \"sns.Message.order.id\"\ntype = \"bigint\"\n",
        )
        .replace(
            "prefix = \"x/\"",
            "prefix = \"x/\"\njson_strings = [\"message\", \"sns.Message\"]",
        ),
    )
    .unwrap();
    let bound: Vec<_> = d.fields[2..]
        .iter()
        .map(|f| {
            (
                f.column.as_str(),
                f.json_string,
                f.path.clone(),
                f.select.len(),
            )
        })
        .collect();
    assert_eq!(
        bound,
        [
            ("message_level", Some(0), vec!["level".to_string()], 0),
            ("first", Some(0), vec![], 1),
            ("message", None, vec!["message".to_string()], 0),
            (
                "sns_message_order_id",
                Some(1),
                vec!["order".into(), "id".into()],
                0
            ),
        ]
    );
    assert_eq!(d.json_strings[1].path, ["sns", "Message"]);

    let with = |strings: &str, extra: &str| {
        error_of(&minimal(extra).replace(
            "prefix = \"x/\"",
            &format!("prefix = \"x/\"\njson_strings = {strings}"),
        ))
    };
    let level = "[[fields]]\npath = \"message.level\"\ntype = \"string\"\n";
    for (strings, extra, expected) in [
        (
            "[\"message[0]\"]",
            level,
            "source.json_strings[0]: message[0] steps into an array: a JSON string is named by member names only",
        ),
        (
            "[\"message\", \"message.inner\"]",
            level,
            "source.json_strings[1]: message.inner and message overlap",
        ),
        (
            "[\"message\"]",
            "",
            "source.json_strings[0]: no field reads inside message: give a field a path that goes on inside it, e.g. \"message.level\"",
        ),
        (
            "[\"message\"]",
            "[rows]\neach = \"items[*]\"\n[[fields]]\npath = \"message.level\"\ntype = \"string\"\n",
            "source.json_strings[0]: json_strings and [rows] do not go together",
        ),
        ("[\"\"]", level, "source.json_strings[0]: "),
    ] {
        let err = with(strings, extra);
        assert!(
            err.contains(expected),
            "{strings} {extra:?}\n  got: {err}\n  wanted: {expected}"
        );
    }
}

#[test]
fn fields_from_the_document_need_records_around_them() {
    let d = load(
        &minimal("[[fields]]\npath = \"logGroup\"\nfrom = \"document\"\ntype = \"string\"\n")
            .replace(
                "prefix = \"x/\"",
                "prefix = \"x/\"\nrecords = \"logEvents\"",
            ),
    )
    .unwrap();
    assert_eq!(
        (d.fields[2].from, d.fields[0].from),
        (config::FieldFrom::Document, config::FieldFrom::Record)
    );
    assert_eq!(d.fields[2].column, "log_group");
    for (source, extra, expected) in [
        (
            "",
            "[[fields]]\npath = \"logGroup\"\nfrom = \"document\"\ntype = \"string\"\n",
            "fields[2].from: from = \"document\" reads the document around the records: it needs [source] records",
        ),
        (
            "records = \"logEvents\"",
            "[[fields]]\ncolumn = \"n\"\npath = \"logEvents[0].id\"\nfrom = \"document\"\ntype = \"string\"\n",
            "fields[2].from: logEvents[0].id is the records' own array",
        ),
        (
            "records = \"logEvents\"",
            "[[fields]]\npath = \"logGroup\"\nfrom = \"elsewhere\"\ntype = \"string\"\n",
            "unknown variant `elsewhere`, expected one of `record`, `document`, `object`",
        ),
    ] {
        let err = error_of(&minimal(extra).replace("prefix = \"x/\"", &format!("prefix = \"x/\"\n{source}")));
        assert!(err.contains(expected), "{extra:?}\n  got: {err}\n  wanted: {expected}");
    }
}

#[test]
fn an_empty_suffix_accepts_keys_without_an_extension() {
    let d = load(&minimal("").replace("prefix = \"x/\"", "prefix = \"x/\"\nsuffixes = [\"\"]"))
        .unwrap();
    assert!(d.matches_key("x/2026/12/01/10/stream-1-2026-12-01-10-00-00-5f1e2d3c"));
    assert!(!d.matches_key("y/a.json"));
}

#[test]
fn records_are_named_by_a_path_of_member_names() {
    let with = |records: &str| {
        minimal("").replace(
            "prefix = \"x/\"",
            &format!("prefix = \"x/\"\nrecords = {records}"),
        )
    };
    let d = load(&with("\"detail.batch.items\"")).unwrap();
    assert_eq!(d.records.unwrap(), ["detail", "batch", "items"]);
    let d = load(&with("[\"meta.v1\", \"Records\"]")).unwrap();
    assert_eq!(d.records.unwrap(), ["meta.v1", "Records"]);
    let err = error_of(&with("\"items[0]\""));
    assert!(
        err.contains("source.records: items[0]: the records are named by member names only"),
        "{err}"
    );
}

#[test]
fn every_bad_field_is_reported_each_on_its_line() {
    let err = error_of(&minimal(
        "[[fields]]\ncolumn = \"a\"\npath = \"a..b\"\ntype = \"string\"\n\
         [[fields]]\ncolumn = \"b\"\ntype = \"string\"\nmin = 1\n\
         [[fields]]\ncolumn = \"id\"\ntype = \"string\"\n",
    ));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    for (line, key) in lines
        .iter()
        .zip(["fields[2].path", "fields[3].min", "fields[4].column"])
    {
        assert!(
            line.starts_with(&format!("datasets/x.toml: {key}")),
            "{line}"
        );
    }
}

#[test]
fn fields_from_the_object_read_its_members_only() {
    let ok = load(&minimal(
        "[[fields]]\ncolumn = \"dt\"\nfrom = \"object\"\npath = \"key_values.dt\"\ntype = \"date\"\n\
         [[fields]]\ncolumn = \"ingested\"\nfrom = \"object\"\npath = \"created\"\ntype = \"timestamp\"\n",
    ))
    .unwrap();
    assert_eq!(ok.fields[2].from, config::FieldFrom::Object);
    for path in [
        "\"size\"",
        "\"key_values\"",
        "\"key.x\"",
        "\"key_values.a.b\"",
        "\"created[0]\"",
    ] {
        let err = error_of(&minimal(&format!(
            "[[fields]]\ncolumn = \"x\"\nfrom = \"object\"\npath = {path}\ntype = \"string\"\n"
        )));
        assert!(
            err.contains("fields[2].from: ") && err.contains("is not a member of the object: one of bucket, key, created, key_time, or key_values.<name>"),
            "{path}: {err}"
        );
    }
}
