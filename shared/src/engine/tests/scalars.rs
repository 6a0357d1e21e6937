//! `float32` and `int16` columns, end to end: generated numbers (as JSON numbers and as strings,
//! at and past the types' limits, with exponents, long mantissas that round differently through
//! an f64) read back from Parquet and compared with `str::parse::<f32>` and `i16::try_from`, the
//! values that do not fit nulled and counted.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int16Type};
use arrow_array::Array;
use serde_json::json;

use super::nested::Gen;
use super::{dataset, out, read_parquet, run};

/// A number's text: plain, with a fraction or exponent, long, at the edges of f32 and i16.
fn number_text(g: &mut Gen) -> String {
    // `min` digits and up to `spread - 1` more.
    let digits = |g: &mut Gen, min: u64, spread: u64| -> String {
        let n = min + g.next(spread);
        (0..n)
            .map(|_| char::from(b'0' + g.next(10) as u8))
            .collect()
    };
    let sign = if g.next(3) == 0 { "-" } else { "" };
    match g.next(9) {
        0 => format!("{sign}{}", g.next(70_000)),
        1 => format!(
            "{sign}{}",
            ["32767", "32768", "-32768", "-32769", "0", "3.0", "1e2"][g.next(7) as usize]
        ),
        2 => format!("{sign}{}.{}", digits(g, 1, 8), digits(g, 1, 30)),
        3 => {
            let mantissa = digits(g, 1, 12);
            format!("{sign}{mantissa}e{}", g.next(80) as i64 - 40)
        }
        4 => format!("{sign}3.4028235{}e38", digits(g, 0, 6)),
        5 => {
            let fraction = digits(g, 0, 9);
            format!("{sign}1.{fraction}e-{}", 35 + g.next(15))
        }
        // Halfway cases between two f32 neighbours, written out long.
        6 => format!("{sign}16777217.{}", digits(g, 0, 5)),
        7 => format!("{sign}0.{}", digits(g, 20, 20)),
        // Just past the midpoint of two neighbouring f32s: read once it rounds up, through an
        // f64 (which holds the midpoint exactly) it ties to even.
        8 if g.next(2) == 0 => {
            let below = f32::from_bits(0x3f80_0000 + 2 * g.next(1 << 21) as u32);
            let midpoint = (f64::from(below) + f64::from(below.next_up())) / 2.0;
            format!("{sign}{midpoint:.40}1")
        }
        _ => format!("{sign}{}", digits(g, 1, 25)),
    }
}

/// The reference for a number's text as written: `str::parse` rounding once to f32, finite only.
fn float32_of(text: &str) -> Option<f32> {
    text.parse::<f32>().ok().filter(|f| f.is_finite())
}

/// The reference for a number's text as written (the generator's grammar: `-`, digits, a
/// fraction, an exponent): its exact value, when it is an integer that fits an i16.
fn int16_of(text: &str) -> Option<i16> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap()),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let point = whole.len() as i64 + exponent;
    let (integer, rest) = if point <= 0 {
        (String::new(), digits.clone())
    } else if point as usize >= digits.len() {
        (
            digits.clone() + &"0".repeat(point as usize - digits.len()),
            String::new(),
        )
    } else {
        let (i, r) = digits.split_at(point as usize);
        (i.to_string(), r.to_string())
    };
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let integer = integer.trim_start_matches('0');
    if integer.len() > 6 {
        return None;
    }
    let n = integer.parse::<i64>().unwrap_or(0);
    i16::try_from(if negative { -n } else { n }).ok()
}

#[test]
fn float32_and_int16_read_back_as_str_parse_reads_them() {
    let d = dataset(
        r#"
[[fields]]
column = "f"
type = "float32"
on_type_mismatch = "null"
[[fields]]
column = "s"
type = "int16"
on_type_mismatch = "null"
"#,
    );
    let mut g = Gen(3);
    let mut texts = Vec::new();
    let mut input = String::new();
    for _ in 0..20_000 {
        let text = number_text(&mut g);
        // As a JSON number, or as a string (with blanks around, as feeds send them).
        // (Leading zeros make no JSON number: those go as strings.)
        let json_number = serde_json::from_str::<serde_json::Value>(&text).is_ok();
        let value = match g.next(3) {
            0 => json!(format!(" {text} ")).to_string(),
            _ if !json_number => json!(text).to_string(),
            _ => text.clone(),
        };
        input.push_str(&format!("{{\"f\":{value},\"s\":{value}}}\n"));
        texts.push(text);
    }
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!(s.records_written, 20_000);
    let want_f: Vec<Option<f32>> = texts.iter().map(|t| float32_of(t)).collect();
    let want_s: Vec<Option<i16>> = texts.iter().map(|t| int16_of(t)).collect();
    let (mut f_rounded_differently, mut f_nulled, mut s_fit) = (0, 0, 0);
    let mut row = 0;
    let files = s.partitions[0].files.iter();
    let batches = files.flat_map(|f| read_parquet(o.data.root().join(&f.key)));
    for batch in batches {
        let f = batch.column(0).as_primitive::<Float32Type>();
        let sm = batch.column(1).as_primitive::<Int16Type>();
        for i in 0..batch.num_rows() {
            let got_f = f.is_valid(i).then(|| f.value(i));
            assert_eq!(
                got_f.map(f32::to_bits),
                want_f[row].map(f32::to_bits),
                "row {row}: {}",
                texts[row]
            );
            let got_s = sm.is_valid(i).then(|| sm.value(i));
            assert_eq!(got_s, want_s[row], "row {row}: {}", texts[row]);
            if let Some(v) = want_f[row] {
                let through_f64 = texts[row].parse::<f64>().unwrap() as f32;
                f_rounded_differently += usize::from(through_f64.to_bits() != v.to_bits());
            }
            f_nulled += usize::from(got_f.is_none());
            s_fit += usize::from(got_s.is_some());
            row += 1;
        }
    }
    assert_eq!(row, 20_000);
    let nulled = |w: usize| w as u64;
    assert_eq!(
        s.nulled_by_field.get("f").copied().unwrap_or(0),
        nulled(want_f.iter().filter(|v| v.is_none()).count())
    );
    assert_eq!(
        s.nulled_by_field.get("s").copied().unwrap_or(0),
        nulled(want_s.iter().filter(|v| v.is_none()).count())
    );
    assert!(
        f_nulled > 500 && s_fit > 2_000,
        "the generator reaches both sides of the limits"
    );
    assert!(
        f_rounded_differently > 0,
        "some numbers round differently through an f64: reading them once is what is tested"
    );
}

#[test]
fn bounds_allowed_values_and_partitions_of_float32_and_int16() {
    let d = dataset(
        r#"
[[fields]]
column = "f"
type = "float32"
min = -1.5
max = 0.25
[[fields]]
column = "s"
type = "int16"
allowed = [1, 2, 300]
[[partitions]]
name = "sp"
from = "s"
[[partitions]]
name = "fp"
from = "f"
"#,
    );
    let input = [
        r#"{"f":0.1,"s":300}"#,
        r#"{"f":"0.26","s":1}"#,
        r#"{"f":-1.5,"s":3}"#,
        r#"{"f":-1.5,"s":2.0}"#,
        r#"{"f":1e39,"s":2}"#,
    ]
    .join("\n");
    let o = out();
    let s = run(&d, input.as_bytes(), &o).unwrap();
    assert_eq!(
        s.rejected_by_reason,
        [
            ("not_allowed".to_string(), 1),
            ("out_of_range".to_string(), 1),
            ("type_mismatch".to_string(), 1)
        ]
        .into()
    );
    let paths: Vec<&str> = s.partitions.iter().map(|p| p.path.as_str()).collect();
    // A float32 partition value is the float's shortest text, not its widened double's.
    assert_eq!(paths, ["sp=2/fp=-1.5/", "sp=300/fp=0.1/"]);
}
