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
    let (_, slots, _, _) = scan(r#"{"a":{"x":[1, {"y":2}]},"b":[1,2] ,"c":"flat"}"#, &t, 3);
    // Each holds its JSON text as written.
    assert_eq!(
        slots,
        vec![
            Slot::Object(br#"{"x":[1, {"y":2}]}"#),
            Slot::Array(b"[1,2]"),
            Slot::Unreached("string")
        ]
    );
}

#[test]
fn a_path_that_meets_a_non_object_where_it_goes_on_is_unreached_not_missing() {
    // `p` is a field itself and a branch of `p.q`; `c.d` goes through `c`.
    let t = tree(&[&["p"], &["p", "q"], &["c", "d"]]);
    let slots = |text: &'static str| scan(text, &t, 3).1;
    assert_eq!(
        slots(r#"{"p":[{"q":1}],"c":{"d":2}}"#),
        [
            Slot::Array(br#"[{"q":1}]"#),
            Slot::Unreached("array"),
            Slot::Number("2")
        ]
    );
    assert_eq!(
        slots(r#"{"p":"x","c":7}"#),
        [
            Slot::Str("x".into()),
            Slot::Unreached("string"),
            Slot::Unreached("number")
        ]
    );
    // null is only missing; a later object decides, as for every repeated key.
    assert_eq!(
        slots(r#"{"p":null,"c":null}"#),
        [Slot::Null, Slot::Missing, Slot::Missing]
    );
    assert_eq!(
        slots(r#"{"c":[1],"c":{"d":3}}"#),
        [Slot::Missing, Slot::Missing, Slot::Number("3")]
    );
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
        let body: Vec<u8> = raw.into_iter().filter(|&b| b != b'"' && b != b'\\' && b >= 0x20).collect();
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
        // The same verdict for the same bytes where nothing maps them: as a key, as a value.
        for unmapped in [[b"{\"".as_slice(), &body, b"\":1}"].concat(), [b"{\"x\":\"".as_slice(), &body, b"\"}"].concat()] {
            let mut fresh = vec![Slot::Missing; 1];
            let mut s = Scanner::new(&unmapped, 0, true);
            let verdict = s.record(&t, &mut fresh, &mut unknown).is_ok();
            proptest::prop_assert_eq!(verdict, std::str::from_utf8(&body).is_ok());
        }
    }
}

/// The verdict on `input` (bytes) with `tree`'s paths: `Ok` with the slots, or what was expected.
fn verdict<'a>(input: &'a [u8], tree: &PathTree) -> Result<Vec<Slot<'a>>, &'static str> {
    let mut slots = vec![Slot::Missing; tree.slot_count()];
    let mut s = Scanner::new(input, 0, true);
    match s.record(tree, &mut slots, &mut UnknownFields::default()) {
        Ok(_) => Ok(slots),
        Err(JsonError::Invalid { what, .. }) => Err(what),
        Err(JsonError::Incomplete) => Err("incomplete"),
    }
}

#[test]
fn raw_control_characters_in_strings_are_invalid_wherever_they_are() {
    let t = tree(&[&["v"]]);
    for input in [
        &b"{\"v\":\"a\tb\"}"[..],
        b"{\"v\":\"a\x01b\"}",
        b"{\"x\":\"a\x00b\",\"v\":\"ok\"}",
        b"{\"a\x1fb\":1,\"v\":\"ok\"}",
        b"{\"x\":[\"\x7f\",\"\r\"],\"v\":\"ok\"}",
    ] {
        assert!(
            verdict(input, &t).is_err(),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    // DEL (0x7f) is not a control character for JSON; escaped control characters are fine.
    assert_eq!(
        verdict(b"{\"v\":\"a\x7fb\\u0001\\t\"}", &t),
        Ok(vec![Slot::Str(Cow::Owned("a\x7fb\u{1}\t".into()))])
    );
}

#[test]
fn invalid_utf8_and_lone_surrogates_are_invalid_mapped_or_not() {
    let t = tree(&[&["v"]]);
    for input in [
        &b"{\"v\":\"\xff\"}"[..],
        br#"{"v":"\ud800"}"#,
        b"{\"x\":\"\xff\",\"v\":\"ok\"}",
        b"{\"\xff\":1,\"v\":\"ok\"}",
        br#"{"x":{"\udc00":1},"v":"ok"}"#,
        br#"{"x":"\ud800\u0041","v":"ok"}"#,
        br#"{"x":"\ud800x","v":"ok"}"#,
        br#"{"x":"\udfff\ud800","v":"ok"}"#,
        b"{\"x\":\"\xed\xa0\x80\",\"v\":\"ok\"}", // a surrogate encoded as UTF-8
        b"{\"x\":\"\xc0\xaf\",\"v\":\"ok\"}",     // an overlong encoding
        br#"{"x":"\u12G4","v":"ok"}"#,
        br#"{"x":"\u+123","v":"ok"}"#,
    ] {
        assert!(
            verdict(input, &t).is_err(),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(
        verdict(br#"{"x":"\ud83d\ude00","v":"\uD83D\uDE00"}"#, &t),
        Ok(vec![Slot::Str(Cow::Owned("😀".into()))])
    );
    // A surrogate pair cut by the end of the buffer asks for more, unless the input ends there.
    let cut = br#"{"v":"\ud83d\ude"#;
    let mut slots = vec![Slot::Missing];
    let mut s = Scanner::new(cut, 0, false);
    assert_eq!(
        s.record(&t, &mut slots, &mut UnknownFields::default()),
        Err(JsonError::Incomplete)
    );
}

#[test]
fn the_last_duplicate_key_wins_at_every_depth() {
    let t = tree(&[&["v", "a"], &["w"], &["v"]]);
    let slots = |input: &'static str| verdict(input.as_bytes(), &t).unwrap();
    let s = |text: &'static str| Slot::Str(Cow::Borrowed(text));
    assert_eq!(
        slots(r#"{"v":{"a":"first"},"v":null}"#),
        [Slot::Missing, Slot::Missing, Slot::Null]
    );
    assert_eq!(
        slots(r#"{"w":"x","w":"y"}"#),
        [Slot::Missing, s("y"), Slot::Missing]
    );
    assert_eq!(
        slots(r#"{"v":{"a":"first"},"v":{"b":2}}"#),
        [Slot::Missing, Slot::Missing, Slot::Object(br#"{"b":2}"#)]
    );
    assert_eq!(
        slots(r#"{"v":1,"v":{"a":"second"}}"#),
        [
            s("second"),
            Slot::Missing,
            Slot::Object(br#"{"a":"second"}"#)
        ]
    );
    assert_eq!(
        slots(r#"{"v":{"a":"first","a":"second"}}"#),
        [
            s("second"),
            Slot::Missing,
            Slot::Object(br#"{"a":"first","a":"second"}"#)
        ]
    );
}

#[test]
fn fields_reading_the_same_path_all_get_its_value() {
    let t = tree(&[&["ts"], &["a", "b"], &["ts"], &["a", "b"], &["c"], &["a"]]);
    assert_eq!(t.slot_count(), 6);
    let s = |text: &'static str| Slot::Str(Cow::Borrowed(text));
    assert_eq!(
        verdict(br#"{"ts":"t","a":{"b":"x"},"c":1,"ts":"last"}"#, &t),
        Ok(vec![
            s("last"),
            s("x"),
            s("last"),
            s("x"),
            Slot::Number("1"),
            Slot::Object(br#"{"b":"x"}"#)
        ])
    );
    assert_eq!(
        verdict(br#"{"a":{"b":"x"},"a":{}}"#, &t),
        Ok(vec![
            Slot::Missing,
            Slot::Missing,
            Slot::Missing,
            Slot::Missing,
            Slot::Missing,
            Slot::Object(b"{}")
        ])
    );
}

#[test]
fn nesting_of_128_levels_is_accepted_and_129_is_not() {
    let t = tree(&[&["m", "m"]]);
    // Levels are containers, the record's own object the first.
    let nested = |key: &str, levels: usize| {
        format!(
            "{{\"{key}\":{}1{}}}",
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    };
    for key in ["m", "x"] {
        let ok = nested(key, 128);
        assert!(verdict(ok.as_bytes(), &t).is_ok(), "{key}: 128 levels");
        let deep = nested(key, 129);
        assert_eq!(
            verdict(deep.as_bytes(), &t),
            Err("nesting no deeper than 128 levels"),
            "{key}: 129 levels"
        );
    }
    // Objects in a mapped branch, and a top-level array.
    let objects = |levels: usize| format!("{}1{}", "{\"m\":".repeat(levels), "}".repeat(levels));
    assert!(verdict(objects(127).as_bytes(), &t).is_ok());
    assert!(verdict(objects(128).as_bytes(), &t).is_ok());
    assert!(verdict(objects(129).as_bytes(), &t).is_err());
    let arrays = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    assert!(verdict(arrays(128).as_bytes(), &t).is_ok());
    assert!(verdict(arrays(129).as_bytes(), &t).is_err());
}

/// RFC 8259 as the public JSON test suites (JSONTestSuite's `y_`/`n_` cases) spell it: values
/// that must be accepted and values that must be rejected, each inside a record where a field
/// maps it and where nothing does (the verdict may not depend on the dataset), and as an element
/// of an array nothing maps.
#[test]
fn rfc_8259_conformance_mapped_or_not() {
    let accept: &[&[u8]] = &[
        b"0",
        b"-0",
        b"1",
        b"-1",
        b"0.5",
        b"1.5e10",
        b"1E+2",
        b"1e-2",
        b"-0.0e-0",
        b"1e400",
        b"123456789012345678901234567890",
        b"1.7976931348623157e308",
        b"true",
        b"false",
        b"null",
        b"\"\"",
        b"\" \"",
        b"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        b"\"\\u0000\"",
        b"\"\\uD834\\uDD1E\"",
        b"\"\\ud834\\udd1e\"",
        b"\"\\uFFFF\"",
        b"\"\\u002c\"",
        b"\"\xe2\x82\xac\"",
        b"\"\xf0\x9f\x98\x80\"",
        b"\"\x7f\"",
        b"\"\xef\xbf\xbf\"",
        b"\"\xf4\x8f\xbf\xbf\"",
        b"[]",
        b"[[]]",
        b"[1,[2,[3]]]",
        b"{}",
        b"{\"a\":{}}",
        b"{\"\":0}",
        b"{\"a\":1,\"a\":2}",
        b"[ 1 , 2 ]",
        b"{ \"a\" : [ ] }",
        b"[\"\\u0041\"]",
        b"{\"\\u0000\":1}",
    ];
    let reject: &[&[u8]] = &[
        b"01",
        b"-01",
        b"1.",
        b".5",
        b"+1",
        b"1e",
        b"1e+",
        b"-",
        b"0x10",
        b"1_0",
        b"Infinity",
        b"-Infinity",
        b"NaN",
        b"nan",
        b"tru",
        b"True",
        b"nul",
        b"NULL",
        b"fals",
        b"'a'",
        b"\"abc",
        b"\"\\x41\"",
        b"\"\\u12\"",
        b"\"\\u12G4\"",
        b"\"\\U0041\"",
        b"\"\\a\"",
        b"\"\t\"",
        b"\"\n\"",
        b"\"\x00\"",
        b"\"\x1f\"",
        b"\"\\uD800\"",
        b"\"\\uDC00\"",
        b"\"\\uD800\\u0041\"",
        b"\"\\uD800x\"",
        b"\"\\uDFFF\\uD800\"",
        b"\"\xff\"",
        b"\"\xc0\xaf\"",
        b"\"\xe0\x80\xaf\"",
        b"\"\xed\xa0\x80\"",
        b"\"\xf4\x90\x80\x80\"",
        b"\"\xe2\x82\"",
        b"\"\x80\"",
        b"[1,]",
        b"[,1]",
        b"[1 2]",
        b"[",
        b"]",
        b"[1",
        b"{\"a\":1,}",
        b"{,}",
        b"{\"a\"}",
        b"{\"a\" 1}",
        b"{a:1}",
        b"{1:1}",
        b"{\"a\":1 \"b\":2}",
        b"{\"a\":}",
        b"[\xff]",
        b"{\"\xff\":1}",
        b"[\"a\",\"\\uDC00\"]",
        b"\xef\xbb\xbf{}",
    ];
    let mapped = tree(&[&["v"], &["o", "v"]]);
    let unmapped = tree(&[&["w"]]);
    for (value, expected_ok) in accept
        .iter()
        .map(|v| (v, true))
        .chain(reject.iter().map(|v| (v, false)))
    {
        let shown = String::from_utf8_lossy(value);
        for wrapped in [
            [b"{\"v\":".as_slice(), value, b"}"].concat(),
            [b"{\"o\":{\"v\":".as_slice(), value, b"},\"x\":1}"].concat(),
            [b"{\"x\":[".as_slice(), value, b"],\"w\":1}"].concat(),
        ] {
            for (paths, name) in [(&mapped, "mapped"), (&unmapped, "unmapped")] {
                assert_eq!(
                    verdict(&wrapped, paths).is_ok(),
                    expected_ok,
                    "{shown} {name} in {}",
                    String::from_utf8_lossy(&wrapped)
                );
            }
        }
    }
}

#[test]
fn keys_inside_a_kept_object_are_not_unknown() {
    // `a` is kept whole (a json or map column) and `a.b` is a field too: `a.c` is part of a kept
    // value, not dropped; `x.c` under a branch that is not kept is.
    let t = tree(&[&["a"], &["a", "b"], &["x", "b"]]);
    let (r, slots, unknown, _) = scan(
        r#"{"a":{"b":1,"c":{"d":2}},"x":{"b":3,"c":4},"z":5}"#,
        &t,
        3,
    );
    assert_eq!(r, Ok(Shape::Object));
    assert_eq!(slots[1], Slot::Number("1"));
    let mut names: Vec<&str> = unknown.counts.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["x.c", "z"]);
}
