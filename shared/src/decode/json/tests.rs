use super::*;

fn tree(paths: &[&[&str]]) -> PathTree {
    let owned: Vec<Vec<String>> = paths
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
    PathTree::new(owned.iter().map(|p| p.as_slice()))
}

fn scan<'a>(
    input: &'a str,
    tree: &PathTree,
    n: usize,
) -> (
    Result<Shape, JsonError>,
    Vec<Slot<'a>>,
    UnknownFields,
    usize,
) {
    let mut slots = vec![Slot::Missing; n];
    let mut unknown = UnknownFields::default();
    let mut s = Scanner::new(input.as_bytes(), 0, true);
    let r = s.record(tree, &mut slots, &mut unknown);
    (r, slots, unknown, s.pos)
}

/// Scans `records` one after another with one scanner, as the reader does (so key order is learnt
/// from record to record), asserting each record's slots: number texts, or "Missing". Checks that
/// the scanner ends on the last record's end; returns the unknown fields counted.
fn scan_in_sequence<const N: usize>(
    tree: &PathTree,
    records: &[(&str, [&str; N])],
) -> UnknownFields {
    let input: String = records.iter().map(|(r, _)| format!("{r}\n")).collect();
    let mut s = Scanner::new(input.as_bytes(), 0, true);
    let mut unknown = UnknownFields::default();
    for (record, expected) in records {
        let mut slots = vec![Slot::Missing; N];
        s.skip_ws();
        assert_eq!(
            s.record(tree, &mut slots, &mut unknown),
            Ok(Shape::Object),
            "{record}"
        );
        let got: Vec<Slot<'_>> = expected
            .iter()
            .map(|n| match *n {
                "Missing" => Slot::Missing,
                n => Slot::Number(n),
            })
            .collect();
        assert_eq!(slots, got, "{record}");
    }
    assert_eq!(s.pos, input.len() - 1);
    unknown
}

#[test]
fn extracts_nested_paths_and_borrows_text() {
    let t = tree(&[
        &["device_id"],
        &["location", "lat"],
        &["location", "long"],
        &["temp"],
    ]);
    let input = r#"{"device_id":"A","timestamp":1593007044,"location":{"lat":"35.698362","long":139.77},"temp":-1.5e2}"#;
    let (r, slots, unknown, end) = scan(input, &t, 4);
    assert_eq!(r, Ok(Shape::Object));
    assert_eq!(end, input.len());
    assert_eq!(slots[0], Slot::Str(Cow::Borrowed("A")));
    assert!(matches!(slots[0], Slot::Str(Cow::Borrowed(_))));
    assert_eq!(slots[1], Slot::Str("35.698362".into()));
    assert_eq!(slots[2], Slot::Number("139.77"));
    assert_eq!(slots[3], Slot::Number("-1.5e2"));
    assert_eq!(unknown.counts.get("timestamp"), Some(&1));
}

#[test]
fn keys_with_dots_escapes_and_unicode() {
    let t = tree(&[&["meta.v1", "x"], &["name"]]);
    let input = r#"{"meta.v1":{"x":true,"y":null},"n\u0061me":"caf\u00e9 \ud83d\ude00 \"q\""}"#;
    let (r, slots, unknown, _) = scan(input, &t, 2);
    assert_eq!(r, Ok(Shape::Object));
    assert_eq!(slots[0], Slot::Bool(true));
    assert_eq!(slots[1], Slot::Str("café 😀 \"q\"".into()));
    assert_eq!(unknown.counts.get("meta.v1.y"), Some(&1));
}

#[test]
fn composite_values_where_scalars_are_expected() {
    let t = tree(&[&["a"], &["b"], &["c", "d"]]);
    let (_, slots, _, _) = scan(r#"{"a":{"x":[1,{"y":2}]},"b":[1,2],"c":"flat"}"#, &t, 3);
    assert_eq!(slots, vec![Slot::Object, Slot::Array, Slot::Missing]);
}

#[test]
fn last_duplicate_key_wins_and_null_is_kept() {
    let t = tree(&[&["a"], &["b"]]);
    let (_, slots, _, _) = scan(r#"{"a":1,"a":2,"b":null}"#, &t, 2);
    assert_eq!(slots, vec![Slot::Number("2"), Slot::Null]);
}

#[test]
fn non_object_records_are_scanned_whole() {
    let t = tree(&[&["a"]]);
    for (input, kind) in [
        ("[1,2,{\"a\":1}]", "array"),
        ("42", "number"),
        ("\"s\"", "string"),
        ("null", "null"),
    ] {
        let (r, slots, _, end) = scan(input, &t, 1);
        assert_eq!(r, Ok(Shape::Other(kind)), "{input}");
        assert_eq!(end, input.len());
        assert_eq!(slots[0], Slot::Missing);
    }
}

#[test]
fn invalid_json_names_what_was_expected() {
    let t = tree(&[&["a"]]);
    let cases = [
        (r#"{"a":1,}"#, "a '\"' to start an object key"),
        (r#"{"a" 1}"#, "':' after an object key"),
        (r#"{"a":1 "b":2}"#, "',' or '}' after an object value"),
        (r#"{"a":tru}"#, "true, false or null"),
        (r#"{"a":01}"#, "',' or '}' after an object value"),
        (r#"{"a":1.}"#, "a digit after '.'"),
        (
            r#"{"a":"x\q"}"#,
            "a valid escape sequence (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
        ),
        (
            "{\"a\":\"line\nbreak\"}",
            "a closing '\"' before the end of the line",
        ),
        (r#"{"z":[1 2]}"#, "',' or ']' after an array element"),
        (r#"{"a":"#, "more input (the input ends inside a value)"),
        (r#"{"a":nul"#, "more input (the input ends inside a value)"),
    ];
    for (input, expected) in cases {
        let (r, _, _, _) = scan(input, &t, 1);
        match r {
            Err(JsonError::Invalid { what, .. }) => assert_eq!(what, expected, "{input}"),
            other => panic!("{input}: {other:?}"),
        }
    }
}

#[test]
fn invalid_utf8_in_a_wanted_string_is_invalid() {
    let t = tree(&[&["a"]]);
    let input = b"{\"a\":\"\xff\"}";
    let mut slots = vec![Slot::Missing];
    let mut s = Scanner::new(input, 0, true);
    let r = s.record(&t, &mut slots, &mut UnknownFields::default());
    assert!(matches!(
        r,
        Err(JsonError::Invalid {
            what: "valid UTF-8 in a string",
            ..
        })
    ));
}

#[test]
fn truncated_input_asks_for_more_unless_at_eof() {
    let t = tree(&[&["a"]]);
    let full = r#"{"a":"xyz","b":[1,2,3],"c":12345}"#;
    for cut in 1..full.len() {
        let part = &full.as_bytes()[..cut];
        let mut slots = vec![Slot::Missing];
        let mut s = Scanner::new(part, 0, false);
        let r = s.record(&t, &mut slots, &mut UnknownFields::default());
        assert_eq!(r, Err(JsonError::Incomplete), "cut at {cut}");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let t = tree(&[&["a"]]);
    let input = format!("{{\"z\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let (r, _, _, _) = scan(&input, &t, 1);
    assert!(matches!(
        r,
        Err(JsonError::Invalid {
            what: "nesting no deeper than 128 levels",
            ..
        })
    ));
}

#[test]
fn unescape_rejects_lone_surrogates() {
    assert_eq!(unescape(br"\ud83d").as_deref(), None);
    assert_eq!(unescape(br"a\/b").as_deref(), Some("a/b"));
}

#[test]
fn unknown_names_are_bounded() {
    let mut u = UnknownFields::default();
    for i in 0..UnknownFields::MAX_NAMES + 10 {
        u.record(&[], format!("k{i}").as_bytes());
    }
    assert_eq!(u.counts.len(), UnknownFields::MAX_NAMES + 1);
    assert_eq!(u.counts.get("(other)"), Some(&10));
}

/// One scanner over several records, as the reader uses it: the key order learnt from one record
/// must never decide the next record's slots, whatever order, spelling or extra keys it has.
#[test]
fn records_with_changing_key_order_prefixes_and_escapes() {
    let t = tree(&[&["lat"], &["latitude"], &["loc", "x"], &["long key"]]);
    let records = [
        (
            r#"{"lat":1,"latitude":2,"loc":{"x":3},"long key":4}"#,
            ["1", "2", "3", "4"],
        ),
        // Same order: the expected keys match in place.
        (
            r#"{"lat":5,"latitude":6,"loc":{"x":7},"long key":8}"#,
            ["5", "6", "7", "8"],
        ),
        // Reordered, a key that extends an expected one, an unknown key in between.
        (
            r#"{"latitude":9,"extra":0,"lat":10,"long key":11,"loc":{"y":0,"x":12}}"#,
            ["10", "9", "12", "11"],
        ),
        // The expected key written with an escape, and one cut short.
        (
            r#"{"l\u0061titude":13,"la":0,"lat":14,"loc":{"x":15},"long key":16}"#,
            ["14", "13", "15", "16"],
        ),
        // Keys that start like the expected ones but go on: `lat"` must not match `lat\"`.
        (
            r#"{"lat\"":0,"latitudes":0,"lat":17,"latitude":18,"loc":{"xx":0,"x":19},"long key":20}"#,
            ["17", "18", "19", "20"],
        ),
    ];
    let unknown = scan_in_sequence(&t, &records);
    // Unknown keys are counted as written (escapes kept).
    assert_eq!(unknown.counts.get(r#"lat\""#), Some(&1));
    assert_eq!(unknown.counts.get("la"), Some(&1));
    assert_eq!(unknown.counts.get("loc.xx"), Some(&1));
    assert_eq!(unknown.counts.get("extra"), Some(&1));
}

/// Learnt keys are compared as bytes: keys longer than the sixteen bytes compared at once, keys
/// that differ only after them, space before the colon, and escaped spellings.
#[test]
fn learnt_keys_match_only_the_same_bytes() {
    let long = "a_key_longer_than_sixteen_bytes";
    let t = tree(&[&[long], &["b"], &["é"]]);
    let records = [
        (
            r#"{"a_key_longer_than_sixteen_bytes":1,"b" : 2,"\u00e9":3}"#,
            ["1", "2", "3"],
        ),
        (
            r#"{"a_key_longer_than_sixteen_bytes":4,"b" : 5,"\u00e9":6}"#,
            ["4", "5", "6"],
        ),
        // Same first sixteen bytes, different rest; then the key itself; another spelling of é.
        (
            r#"{"a_key_longer_than_sixteen_bytez":0,"a_key_longer_than_sixteen_bytes":7,"b":8,"é":9}"#,
            ["7", "8", "9"],
        ),
        // The last key of the input ends closer than sixteen bytes to the end of the buffer.
        (
            r#"{"a_key_longer_than_sixteen_bytez":0,"b":10}"#,
            ["Missing", "10", "Missing"],
        ),
    ];
    let unknown = scan_in_sequence(&t, &records);
    assert_eq!(
        unknown.counts.get("a_key_longer_than_sixteen_bytez"),
        Some(&2)
    );
}

proptest::proptest! {
    /// The eight-at-a-time digit count agrees with counting byte by byte, whatever follows.
    #[test]
    fn digit_run_counts_like_a_byte_loop(
        bytes in proptest::collection::vec(proptest::prop_oneof![0x2Fu8..=0x3Au8, proptest::num::u8::ANY], 0..40),
        from in 0usize..40,
    ) {
        let from = from.min(bytes.len());
        let naive = bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        proptest::prop_assert_eq!(digit_run(&bytes, from), naive);
    }
}

proptest::proptest! {
    /// A string value is borrowed exactly when its bytes are valid UTF-8, whatever mix of ASCII and
    /// other bytes, at any length (the ASCII check rides along the eight-byte scan).
    #[test]
    fn string_values_are_text_exactly_when_valid_utf8(
        raw in proptest::collection::vec(proptest::num::u8::ANY, 0..40)
    ) {
        let body: Vec<u8> = raw.into_iter().filter(|b| !matches!(b, b'"' | b'\\' | b'\n')).collect();
        let mut input = b"{\"v\":\"".to_vec();
        input.extend_from_slice(&body);
        input.extend_from_slice(b"\"}");
        let t = tree(&[&["v"]]);
        let mut slots = vec![Slot::Missing; 1];
        let mut unknown = UnknownFields::default();
        let mut s = Scanner::new(&input, 0, true);
        let result = s.record(&t, &mut slots, &mut unknown);
        match std::str::from_utf8(&body) {
            Ok(text) => {
                proptest::prop_assert_eq!(result, Ok(Shape::Object));
                proptest::prop_assert_eq!(&slots[0], &Slot::Str(Cow::Borrowed(text)));
            }
            Err(_) => proptest::prop_assert!(result.is_err()),
        }
    }
}
