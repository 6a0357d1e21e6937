use std::borrow::Cow;

use super::*;
use crate::dataset::Dataset;

/// A field compiled from one `[[fields]]` TOML table.
fn field(spec: &str) -> Field {
    let text = format!(
        "name = \"t\"\ndatabase = \"d\"\ntable = \"t\"\n[source]\nprefix = \"\"\n[[fields]]\ncolumn = \"c\"\n{spec}\n"
    );
    Dataset::from_toml_str(&text, "test")
        .unwrap()
        .fields
        .remove(0)
}

/// One field's value, or its rejection with the message a person reads.
fn map_field<'s>(field: &Field, slot: &'s Slot<'_>) -> Result<Value<'s>, Rejection> {
    value_of(field, slot).map_err(|reason| rejection(field, slot, reason))
}

fn s(v: &str) -> Slot<'_> {
    Slot::Str(Cow::Borrowed(v))
}

#[test]
fn doubles_from_numbers_and_numeric_strings() {
    let f = field("type = \"double\"");
    assert_eq!(map_field(&f, &s("35.698362")), Ok(Value::F64(35.698362)));
    assert_eq!(map_field(&f, &s(" 1e3 ")), Ok(Value::F64(1000.0)));
    assert_eq!(map_field(&f, &Slot::Number("-0.5")), Ok(Value::F64(-0.5)));
    for bad in [
        s("abc"),
        s("NaN"),
        s("inf"),
        Slot::Bool(true),
        Slot::Object(b"{}"),
        Slot::Number("1e999"),
    ] {
        let err = map_field(&f, &bad).unwrap_err();
        assert_eq!(err.reason, Reason::TypeMismatch, "{bad:?}");
    }
    assert_eq!(
        map_field(&f, &s("abc")).unwrap_err().message,
        "string at c cannot be read as double: \"abc\""
    );
}

#[test]
fn integers_never_truncate() {
    let f = field("type = \"int64\"");
    assert_eq!(map_field(&f, &Slot::Number("42")), Ok(Value::I64(42)));
    assert_eq!(map_field(&f, &s("42")), Ok(Value::I64(42)));
    assert_eq!(map_field(&f, &Slot::Number("4.2e1")), Ok(Value::I64(42)));
    assert_eq!(map_field(&f, &Slot::Number("42.0")), Ok(Value::I64(42)));
    assert!(map_field(&f, &Slot::Number("42.5")).is_err());
    assert!(map_field(&f, &Slot::Number("1e19")).is_err());
    let g = field("type = \"int32\"");
    assert_eq!(map_field(&g, &Slot::Number("-7")), Ok(Value::I32(-7)));
    assert!(map_field(&g, &Slot::Number("3000000000")).is_err());
}

#[test]
fn strings_from_numbers_and_booleans() {
    let f = field("type = \"string\"");
    assert_eq!(map_field(&f, &Slot::Number("1.50")), Ok(Value::Str("1.50")));
    assert_eq!(map_field(&f, &Slot::Bool(false)), Ok(Value::Str("false")));
    assert!(map_field(&f, &Slot::Array(b"[1]")).is_err());
}

#[test]
fn a_json_column_keeps_any_value_as_its_json_text() {
    let f = field("type = \"json\"");
    let raw = br#"{"a": [1, "x"], "b": {"c": null}}"#;
    assert_eq!(
        map_field(&f, &Slot::Object(raw)),
        Ok(Value::Str(std::str::from_utf8(raw).unwrap()))
    );
    assert_eq!(map_field(&f, &Slot::Array(b"[]")), Ok(Value::Str("[]")));
    assert_eq!(
        map_field(&f, &Slot::Number("1e400")),
        Ok(Value::Str("1e400"))
    );
    assert_eq!(map_field(&f, &Slot::Bool(true)), Ok(Value::Str("true")));
    // A string is written as JSON text, quoted and escaped.
    let slot = s("say \"hi\"\n");
    let quoted = map_field(&f, &slot).unwrap();
    assert_eq!(quoted, Value::JsonString("say \"hi\"\n"));
    assert_eq!(super::text_of(quoted), r#""say \"hi\"\n""#);
    assert_eq!(map_field(&f, &Slot::Null), Ok(Value::Null));
}

#[test]
fn booleans_from_text_and_bits() {
    let f = field("type = \"boolean\"");
    for (slot, want) in [
        (s("true"), true),
        (s("TRUE"), true),
        (s("yes"), true),
        (s("0"), false),
        (Slot::Number("1"), true),
        (Slot::Number("0"), false),
        (Slot::Bool(false), false),
    ] {
        assert_eq!(map_field(&f, &slot), Ok(Value::Bool(want)), "{slot:?}");
    }
    assert!(map_field(&f, &Slot::Number("2")).is_err());
    assert!(map_field(&f, &s("maybe")).is_err());
}

#[test]
fn times_normalise_to_utc() {
    let ts = field("type = \"timestamp\"");
    let t = 1_593_007_044_000_000;
    assert_eq!(
        map_field(&ts, &Slot::Number("1593007044")),
        Ok(Value::Micros(t))
    );
    assert_eq!(
        map_field(&ts, &s("2020-06-24 13:57:24")),
        Ok(Value::Micros(t))
    );
    assert_eq!(
        map_field(&ts, &s("2020-06-24T15:57:24+02:00")),
        Ok(Value::Micros(t))
    );
    let ms = field("type = \"timestamp\"\nformat = \"epoch_millis\"");
    assert_eq!(
        map_field(&ms, &Slot::Number("1593007044000")),
        Ok(Value::Micros(t))
    );
    let epoch = field("type = \"int64\"\nepoch_unit = \"seconds\"");
    assert_eq!(
        map_field(&epoch, &Slot::Number("1593007044")),
        Ok(Value::I64(1_593_007_044))
    );
    assert_eq!(
        map_field(&epoch, &s("2020-06-24T13:57:24Z")),
        Ok(Value::I64(1_593_007_044))
    );
    let epoch_ms = field("type = \"int64\"\nepoch_unit = \"millis\"");
    assert_eq!(
        map_field(&epoch_ms, &s("2020-06-24T13:57:24.5Z")),
        Ok(Value::I64(1_593_007_044_500))
    );
    let date = field("type = \"date\"");
    assert_eq!(map_field(&date, &s("2020-06-24")), Ok(Value::Days(18_437)));
    assert_eq!(
        map_field(&date, &s("2020-06-24T23:59:59-01:00")),
        Ok(Value::Days(18_438))
    );
    assert_eq!(
        map_field(&ts, &s("24/06/2020")).unwrap_err().reason,
        Reason::TypeMismatch
    );
    assert_eq!(value_micros(&epoch, Value::I64(1_593_007_044)), Some(t));
    assert_eq!(value_micros(&date, Value::Days(1)), Some(86_400_000_000));
}

#[test]
fn mismatch_policy_null_keeps_the_record() {
    let f = field("type = \"double\"\non_type_mismatch = \"null\"");
    assert_eq!(map_field(&f, &s("str")), Ok(Value::Null));
    let required = field("type = \"double\"\non_type_mismatch = \"null\"\nrequired = true");
    assert_eq!(
        map_field(&required, &s("str")).unwrap_err().reason,
        Reason::TypeMismatch
    );
}

#[test]
fn required_range_and_allowed_rules() {
    let f = field("type = \"double\"\nrequired = true\nmin = -90\nmax = 90");
    let missing = map_field(&f, &Slot::Missing).unwrap_err();
    assert_eq!(
        (missing.reason, missing.message.as_str()),
        (Reason::MissingRequiredField, "required field c is missing")
    );
    assert_eq!(
        map_field(&f, &Slot::Null).unwrap_err().message,
        "required field c is null"
    );
    assert_eq!(map_field(&f, &Slot::Number("90")), Ok(Value::F64(90.0)));
    let out = map_field(&f, &Slot::Number("90.5")).unwrap_err();
    assert_eq!(
        (out.reason, out.message.as_str()),
        (Reason::OutOfRange, "c = 90.5 is outside [-90, 90]")
    );
    let optional = field("type = \"double\"");
    assert_eq!(map_field(&optional, &Slot::Missing), Ok(Value::Null));
    let set = field("type = \"string\"\nallowed = [\"A\", \"B\"]");
    assert_eq!(map_field(&set, &s("A")), Ok(Value::Str("A")));
    let not_allowed = map_field(&set, &s("C")).unwrap_err();
    assert_eq!(
        (not_allowed.reason, not_allowed.message.as_str()),
        (
            Reason::NotAllowed,
            "c = \"C\" is not one of the allowed values"
        )
    );
    let ints = field("type = \"int32\"\nallowed = [1, 2]");
    assert_eq!(map_field(&ints, &s("2")), Ok(Value::I32(2)));
    assert_eq!(
        map_field(&ints, &Slot::Number("3.0")).unwrap_err().message,
        "c = \"3\" is not one of the allowed values"
    );
}

#[test]
fn canonical_text() {
    let text = |v| {
        let mut s = String::new();
        write_text(v, &mut s);
        s
    };
    assert_eq!(text(Value::F64(35.5)), "35.5");
    assert_eq!(text(Value::I64(-3)), "-3");
    assert_eq!(
        text(Value::Micros(1_593_007_044_000_000)),
        "2020-06-24T13:57:24Z"
    );
    assert_eq!(text(Value::Days(18_437)), "2020-06-24");
}

#[test]
fn integer_casts_are_exact_or_a_mismatch() {
    let big = field("type = \"int64\"");
    let small = field("type = \"int32\"");
    let cases: [(&str, Option<i64>); 15] = [
        ("9007199254740993.0", Some(9_007_199_254_740_993)),
        ("6423.6487647e15", Some(6_423_648_764_700_000_000)),
        ("1.00000000000000001", None),
        ("1e-400", None),
        ("-9223372036854775809", None),
        ("9223372036854775808", None),
        ("9223372036854775807.0", Some(i64::MAX)),
        ("-9223372036854775808.000", Some(i64::MIN)),
        ("-0.0", Some(0)),
        ("0e999999999999", Some(0)),
        (
            "12345678901234567890123456789012345678901234567890e-40",
            None,
        ),
        ("10000000000000000000000000000000000000000e-40", Some(1)),
        ("100000000000000000000000000000000000000000e-40", Some(10)),
        ("2147483648", Some(2_147_483_648)),
        ("-2147483648.0", Some(-2_147_483_648)),
    ];
    for (text, expected) in cases {
        for slot in [Slot::Number(text), s(text)] {
            assert_eq!(
                value_of(&big, &slot).ok(),
                expected.map(Value::I64),
                "int64 {slot:?}"
            );
            let as_i32 = expected.and_then(|v| i32::try_from(v).ok());
            assert_eq!(
                value_of(&small, &slot).ok(),
                as_i32.map(Value::I32),
                "int32 {slot:?}"
            );
            if expected.is_none() {
                assert_eq!(value_of(&big, &slot), Err(Reason::TypeMismatch));
            }
        }
    }
}

#[test]
fn integer_bounds_compare_exactly() {
    let f = field("type = \"int64\"\nmax = 9007199254740992.0");
    assert_eq!(
        value_of(&f, &Slot::Number("9007199254740992")),
        Ok(Value::I64(9_007_199_254_740_992))
    );
    // As a double 2^53 + 1 rounds to 2^53, which is within the bound; exactly it is not.
    assert_eq!(
        value_of(&f, &Slot::Number("9007199254740993")),
        Err(Reason::OutOfRange)
    );
    let g = field("type = \"int32\"\nmin = -1.5\nmax = 2.5");
    assert_eq!(value_of(&g, &Slot::Number("-1")), Ok(Value::I32(-1)));
    assert_eq!(value_of(&g, &Slot::Number("-2")), Err(Reason::OutOfRange));
    assert_eq!(value_of(&g, &Slot::Number("2")), Ok(Value::I32(2)));
    assert_eq!(value_of(&g, &Slot::Number("3")), Err(Reason::OutOfRange));
}

#[test]
fn fractional_epochs_are_exact_to_the_microsecond() {
    let ts = field("type = \"timestamp\"\nformat = \"epoch_seconds\"");
    let micros = |text: &str| match value_of(&ts, &Slot::Number(text)) {
        Ok(Value::Micros(m)) => Some(m),
        _ => None,
    };
    assert_eq!(micros("4.1"), Some(4_100_000));
    assert_eq!(micros("543537559.787"), Some(543_537_559_787_000));
    assert_eq!(micros("1.000001"), Some(1_000_001));
    assert_eq!(
        micros("1.0000019"),
        Some(1_000_001),
        "finer digits are dropped"
    );
    assert_eq!(micros("-1.0000001"), Some(-1_000_001), "towards the past");
    assert_eq!(micros("-0.5"), Some(-500_000));
    assert_eq!(micros("1.5e3"), Some(1_500_000_000));
    // The last second of year 9999, in both spellings; one microsecond later is out.
    assert_eq!(micros("253402300799"), Some(253_402_300_799_000_000));
    assert_eq!(micros("253402300799.0"), Some(253_402_300_799_000_000));
    assert_eq!(micros("253402300799.999999"), Some(253_402_300_799_999_999));
    assert_eq!(micros("253402300800"), None);
    assert_eq!(micros("253402300800.0"), None);
    assert_eq!(micros("-62135596800.0"), Some(-62_135_596_800_000_000));
    assert_eq!(micros("-62135596800.000001"), None);
    let millis = field("type = \"int64\"\nepoch_unit = \"millis\"\nformat = \"epoch_millis\"");
    assert_eq!(
        value_of(&millis, &Slot::Number("1593007044123.9")),
        Ok(Value::I64(1_593_007_044_123))
    );
    assert_eq!(
        value_of(&millis, &s("1593007044123.0")),
        Ok(Value::I64(1_593_007_044_123))
    );
}

#[test]
fn a_required_field_not_reached_says_why() {
    let f = field("type = \"string\"\nrequired = true\npath = \"payload.commits.sha\"");
    let slot = Slot::Unreached("array");
    let reason = value_of(&f, &slot).unwrap_err();
    assert_eq!(reason, Reason::MissingRequiredField);
    assert_eq!(
        rejection(&f, &slot, reason).message,
        "required field payload.commits.sha is missing: its path meets an array where it goes on (into an object, or with [..] into an array)"
    );
    let optional = field("type = \"string\"\npath = \"payload.commits.sha\"");
    assert_eq!(value_of(&optional, &slot), Ok(Value::Null));
}

/// The reference for decimals: the point moved in the text (no arithmetic of ours), the digits
/// read by `str::parse::<i128>`. `None` when digits other than zeros fall past the scale or the
/// value needs more than `precision` digits.
fn decimal_reference(text: &str, precision: u8, scale: u8) -> Option<i128> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    // The point sits after `point` digits of `digits`.
    let point = whole.len() as i64 + exponent + i64::from(scale);
    let (kept, dropped) = if point <= 0 {
        ("0".to_string(), digits.clone())
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    if dropped.bytes().any(|b| b != b'0') {
        return None;
    }
    let kept = kept.trim_start_matches('0');
    if kept.len() > usize::from(precision) {
        return None;
    }
    let value = if kept.is_empty() {
        0
    } else {
        kept.parse::<i128>().ok()?
    };
    Some(if negative { -value } else { value })
}

#[test]
fn decimals_are_read_exactly_as_the_text_says() {
    let mut seed = 11u64;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut checked = [0u32; 2];
    for _ in 0..200_000 {
        let precision = 1 + next(38) as u8;
        let scale = next(u64::from(precision) + 1) as u8;
        let digits = |n: u64, next: &mut dyn FnMut(u64) -> u64| -> String {
            (0..n).map(|_| char::from(b'0' + next(10) as u8)).collect()
        };
        let mut text = String::new();
        if next(3) == 0 {
            text.push('-');
        }
        let whole = next(42) + 1;
        text += &digits(whole.min(if next(4) == 0 { 42 } else { 12 }), &mut next);
        if next(2) == 0 {
            text.push('.');
            text += &digits(next(14) + 1, &mut next);
            if next(3) == 0 {
                text += &"0".repeat(next(30) as usize);
            }
        }
        if next(5) == 0 {
            text += &format!("e{}", next(60) as i64 - 30);
        }
        let f = Field {
            kind: FieldType::Decimal { precision, scale },
            ..field("type = \"decimal(38,0)\"")
        };
        let want = decimal_reference(&text, precision, scale);
        checked[usize::from(want.is_some())] += 1;
        for slot in [Slot::Number(&text), s(&text)] {
            let got = match value_of(&f, &slot) {
                Ok(Value::Decimal { unscaled, scale: s }) => {
                    assert_eq!(s, scale);
                    Some(i128::from_le_bytes(unscaled))
                }
                Err(Reason::TypeMismatch) => None,
                other => panic!("{text}: {other:?}"),
            };
            assert_eq!(got, want, "{text} as decimal({precision},{scale})");
        }
    }
    assert!(
        checked.iter().all(|&n| n > 20_000),
        "both outcomes: {checked:?}"
    );
}

#[test]
fn decimals_refuse_what_they_cannot_hold_and_print_with_their_scale() {
    let f = field("type = \"decimal(5,2)\"");
    let ok = |v: i128| {
        Ok(Value::Decimal {
            unscaled: v.to_le_bytes(),
            scale: 2,
        })
    };
    assert_eq!(map_field(&f, &Slot::Number("123.45")), ok(12345));
    assert_eq!(map_field(&f, &s(" -0.5 ")), ok(-50));
    assert_eq!(map_field(&f, &Slot::Number("1.50000")), ok(150));
    assert_eq!(map_field(&f, &Slot::Number("12e1")), ok(12000));
    assert_eq!(map_field(&f, &Slot::Number("0e-999")), ok(0));
    for bad in ["1234.5", "0.001", "1e3", "1e400", "x", "1.2.3"] {
        let err = map_field(&f, &s(bad)).unwrap_err();
        assert_eq!(err.reason, Reason::TypeMismatch, "{bad}");
        assert!(err.message.contains("decimal(5,2)"), "{}", err.message);
    }
    assert_eq!(
        map_field(&f, &Slot::Bool(true)).unwrap_err().reason,
        Reason::TypeMismatch
    );
    let mut text = String::new();
    write_text(ok(-5).unwrap(), &mut text);
    assert_eq!(text, "-0.05");
    text.clear();
    write_text(ok(12345).unwrap(), &mut text);
    assert_eq!(text, "123.45");
    let whole = Value::Decimal {
        unscaled: 7i128.to_le_bytes(),
        scale: 0,
    };
    text.clear();
    write_text(whole, &mut text);
    assert_eq!(text, "7");
}
