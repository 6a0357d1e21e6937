use super::*;
use crate::dataset::{Dataset, SourcePath};

fn steps(path: &str) -> Vec<Step> {
    SourcePath::dotted(&format!("x{path}")).unwrap().steps
}

fn found<'a>(span: &'a [u8], path: &str) -> Walked<'a> {
    walk(span, &steps(path))
}

#[test]
fn steps_choose_elements_by_position_and_by_value() {
    let otlp = br#"[{"key":"host.name","value":{"stringValue":"h1"}},
                    {"key":"service.name","value":{"stringValue":"checkout"}},
                    {"key":"service.name","value":{"stringValue":"second"}}]"#;
    assert_eq!(
        found(otlp, "[key=service.name].value.stringValue"),
        Walked::Found(br#""checkout""#)
    );
    assert_eq!(found(otlp, "[key=nothing].value"), Walked::Missing);
    assert_eq!(found(otlp, "[-1].key"), Walked::Found(br#""service.name""#));
    assert_eq!(found(otlp, "[0].key"), Walked::Found(br#""host.name""#));
    assert_eq!(found(otlp, "[3]"), Walked::Missing, "past the end");
    assert_eq!(found(otlp, "[-4]"), Walked::Missing, "before the start");
    assert_eq!(
        found(otlp, "[0].key.more"),
        Walked::Unreached("string"),
        "a string cannot be gone into"
    );
    assert_eq!(found(br#"{"a":1}"#, "[0]"), Walked::Unreached("object"));
    assert_eq!(found(otlp, "[0][0]"), Walked::Unreached("object"));

    let sentry = br#"[["level","error"],["os", "linux"],["n", 5],["b", true]]"#;
    assert_eq!(found(sentry, "[0=os][1]"), Walked::Found(br#""linux""#));
    assert_eq!(found(sentry, "[0=n][1]"), Walked::Found(b"5"));
    assert_eq!(
        found(sentry, "[1=5][0]"),
        Walked::Found(br#""n""#),
        "numbers as written"
    );
    assert_eq!(found(sentry, "[1=true][0]"), Walked::Found(br#""b""#));
    assert_eq!(
        found(b"[null, 1]", "[0].a"),
        Walked::Missing,
        "a null is missing"
    );
}

#[test]
fn select_gives_the_slot_of_what_the_steps_reach() {
    let slot = Slot::Array(br#"[{"sha":"a\"b"},{"sha":7}]"#);
    assert_eq!(
        select(&slot, &steps("[0].sha")),
        Slot::Str(Cow::Owned("a\"b".into()))
    );
    assert_eq!(select(&slot, &steps("[-1].sha")), Slot::Number("7"));
    assert_eq!(select(&slot, &steps("[2].sha")), Slot::Missing);
    assert_eq!(
        select(&Slot::Str(Cow::Borrowed("x")), &steps("[0]")),
        Slot::Unreached("string")
    );
    assert_eq!(select(&Slot::Null, &steps("[0]")), Slot::Null);
    assert_eq!(select(&Slot::Missing, &steps("[0]")), Slot::Missing);
}

/// CloudTrail's and OTLP's member names, and names heck (the snake_case rule clap uses) reads
/// as the same words.
#[test]
fn camel_case_names_find_their_snake_case_members() {
    let names = [
        "account_id",
        "source_ip_address",
        "arn",
        "event_id",
        "user_agent",
        "aws_access_key_id",
        "type",
        "time_unix_nano",
    ];
    let members: Vec<Member> = names
        .iter()
        .map(|n| Member {
            name: n.to_string(),
            shape: Shape::Map(Box::new(Shape::Struct(Vec::new()))),
        })
        .collect();
    let at = |key: &str| member_index(&members, key.as_bytes());
    for (key, member) in [
        ("accountId", "account_id"),
        ("sourceIPAddress", "source_ip_address"),
        ("ARN", "arn"),
        ("eventID", "event_id"),
        ("userAgent", "user_agent"),
        ("AWSAccessKeyId", "aws_access_key_id"),
        ("type", "type"),
        ("timeUnixNano", "time_unix_nano"),
        ("account_id", "account_id"),
    ] {
        let (i, exact) = at(key).unwrap_or_else(|| panic!("{key} finds {member}"));
        assert_eq!(names[i], member, "{key}");
        assert_eq!(exact, key == member, "{key}");
    }
    // Any other name: a member exactly when heck's snake_case of it is one.
    for key in [
        "accountid",
        "AccountID2",
        "account-ids",
        "Type_",
        "TYPE",
        "nope",
        "Account_Id",
        "ÁRN",
    ] {
        let snake = heck::ToSnakeCase::to_snake_case(key);
        assert_eq!(
            at(key).map(|(i, _)| names[i]),
            names.iter().copied().find(|n| *n == snake),
            "{key}"
        );
    }
}

#[test]
fn a_map_keeps_the_last_value_of_a_repeated_key() {
    let entries = |text: &'static [u8]| -> Vec<(String, String)> {
        last_of_each_name(raw::members(text).collect())
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k.into_owned()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        entries(br#"{"a":1,"b":2,"a":3}"#),
        [("b".into(), "2".into()), ("a".into(), "3".into())]
    );
    // Past the size compared pairwise, the same rule by a table.
    let many: String = (0..100)
        .map(|i| format!("\"k{}\":{i}", i % 40))
        .collect::<Vec<_>>()
        .join(",");
    let many: &'static [u8] = Box::leak(format!("{{{many}}}").into_bytes().into_boxed_slice());
    let got = entries(many);
    assert_eq!(got.len(), 40);
    let expected: Vec<(String, String)> = (60..100)
        .map(|i| (format!("k{}", i % 40), i.to_string()))
        .collect();
    assert_eq!(got, expected);
}

fn field_of(definition: &str) -> Field {
    let toml = format!(
        "name = \"t\"\ndatabase = \"db\"\ntable = \"t\"\n[source]\nprefix = \"t/\"\n[[fields]]\n{definition}"
    );
    Dataset::from_toml_str(&toml, "t.toml").unwrap().fields[0].clone()
}

#[test]
fn times_inside_a_nested_value_follow_the_columns_format() {
    let field = field_of(
        "column = \"spans\"\ntype = \"array<struct<start:timestamp,day:date>>\"\nepoch_unit = \"nanos\"",
    );
    let nested = field.nested.as_ref().unwrap();
    let slot = Slot::Array(br#"[{"start": 1593007044123456789, "day": "2020-06-24"}]"#);
    let mut met = Met::default();
    assert!(matches!(
        nested.check(&slot, &mut met, "x", &mut Undeclared::default()),
        Ok(Value::Nested(_))
    ));
    assert_eq!(met, Met::default());
    let slot = Slot::Array(br#"[{"start": "yesterday"}]"#);
    assert_eq!(
        nested.check(&slot, &mut met, "x", &mut Undeclared::default()),
        Err(Reason::TypeMismatch)
    );
    assert_eq!(
        nested.misfit_message("spans", &slot),
        "string at spans[0].start cannot be read as timestamp: \"yesterday\""
    );
}

#[test]
fn a_path_with_every_element_makes_a_list_and_counts_what_it_cannot_reach() {
    let field =
        field_of("column = \"texts\"\npath = \"hashtags[*].text\"\ntype = \"array<string>\"");
    assert!(field.select.is_empty());
    assert_eq!(field.shown_path, "hashtags[*].text");
    let nested = field.nested.as_ref().unwrap();
    let mut met = Met::default();
    let slot = Slot::Array(br#"[{"text":"a"}, "b", {"other":1}, null]"#);
    assert!(matches!(
        nested.check(&slot, &mut met, "x", &mut Undeclared::default()),
        Ok(Value::Nested(_))
    ));
    assert_eq!(
        met,
        Met {
            nulled: false,
            unreached: true
        }
    );
    // The value where the list should be is no array: not reached, never a mismatch.
    let mut met = Met::default();
    let slot = Slot::Str(Cow::Borrowed("x"));
    assert_eq!(
        nested.check(&slot, &mut met, "x", &mut Undeclared::default()),
        Ok(Value::Null)
    );
    assert!(met.unreached);
}

#[test]
fn members_no_struct_declares_are_counted_under_their_source_path() {
    let field = field_of(
        "column = \"identity\"\npath = \"userIdentity\"\ntype = \"struct<type:string,session_context:struct<mfa:boolean>,keys:array<struct<id:bigint>>,tags:map<string,struct<v:string>>>\"",
    );
    let nested = field.nested.as_ref().unwrap();
    let value = br#"{"type":"IAMUser","invokedBy":"x","sessionContext":{"mfa":true,"issuer":{"a":1}},
        "keys":[{"id":1,"old":2},{"id":2},{"old":3}],"tags":{"a":{"v":"1","w":2},"b":{"v":"2"}},"invokedBy":"y"}"#;
    let slot = Slot::Object(value);
    let mut met = Met::default();
    let mut undeclared = Undeclared::default();
    let checked = nested.check(&slot, &mut met, &field.shown_path, &mut undeclared);
    assert!(matches!(checked, Ok(Value::Nested(_))));
    let mut counts: Vec<(String, u64)> = undeclared.found.counts.into_iter().collect();
    counts.sort();
    let want = [
        ("userIdentity.invokedBy", 2),
        ("userIdentity.keys[*].old", 2),
        ("userIdentity.sessionContext.issuer", 1),
        ("userIdentity.tags.*.w", 1),
    ];
    assert_eq!(counts, want.map(|(k, n)| (k.to_string(), n)));

    // Every member declared: nothing to count.
    let mut undeclared = Undeclared::default();
    let slot = Slot::Object(br#"{"type":"Root","keys":[{"id":1}],"tags":{}}"#);
    assert!(nested.check(&slot, &mut met, "u", &mut undeclared).is_ok());
    assert!(undeclared.found.counts.is_empty());
}
