//! The engine against references it does not share code with: seeded, generated and mutated
//! NDJSON objects go through [`Engine::transform`]; the same bytes go through `serde_json` (what
//! is a record and whether it is valid JSON, which value a path holds, duplicate keys) and through
//! the documented casts computed by other routes (`str::parse::<f64>` for doubles, bit for bit;
//! the decimal text moved by string operations for integers and epochs; chrono for calendars).
//! Every record's verdict (written, or rejected with which reason at which field) and every
//! written value must agree, and the summary and the files must add up.
//!
//! `differential_short` runs in `make test`; `make fuzz` runs `differential_fuzz` for
//! `FUZZ_SECONDS` (default 60) from `FUZZ_SEED` on, printing the seed of a failure, which then
//! becomes a regression case in [`REGRESSION_SEEDS`].

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::value::RawValue;

use crate::output::LocalDir;
use crate::reference::floor_by_text;
use crate::{Dataset, Engine, SourceObject};

const DATASET: &str = r#"
name = "diff"
database = "db"
table = "diff"
[source]
prefix = ""
[[fields]]
column = "s"
type = "string"
[[fields]]
column = "d"
path = "m.d"
type = "double"
min = -90
max = 90
[[fields]]
column = "i"
type = "int64"
min = -1e18
max = 1e18
[[fields]]
column = "j"
path = ["k.e", "j"]
type = "int32"
[[fields]]
column = "b"
type = "boolean"
[[fields]]
column = "t"
type = "timestamp"
[[fields]]
column = "dt"
path = "t"
type = "date"
[[fields]]
column = "e"
type = "timestamp"
format = "epoch_seconds"
[[fields]]
column = "n"
type = "double"
on_type_mismatch = "null"
[[fields]]
column = "r"
type = "string"
required = true
[[fields]]
column = "a"
type = "string"
allowed = ["x", "y"]
[[fields]]
column = "js"
path = "m"
type = "json"
[quality]
max_rejected_fraction = 1.0
"#;

/// Seeds that once found a defect, run first by `differential_short`. A seed stands for the
/// generator as it was: when the generator changes, the defect keeps its own regression test
/// beside the code (seed 1796164218 found NDJSON lines cut after a comma read together with the
/// next line: `decode::tests::a_line_cut_after_a_comma_does_not_take_the_next_line_as_its_rest`).
const REGRESSION_SEEDS: &[u64] = &[];

/// A value as written to a column.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Str(String),
    /// A double's bits: equal means bit-exact.
    F64(u64),
    I64(i64),
    I32(i32),
    Bool(bool),
    Micros(i64),
    Days(i32),
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Written(Vec<Cell>),
    /// Reason code and column.
    Rejected(String, Option<String>),
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A JSON value to serialise, with the liberties real producers take.
enum Json {
    Raw(String),
    Str(String),
    Obj(Vec<(String, Json)>),
    Arr(Vec<Json>),
}

/// Numbers worth trying: integers near every limit, long mantissas, exponents, negative zero,
/// epochs in every unit, values a double cannot hold.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "-0.0",
    "1",
    "42",
    "42.0",
    "4.2e1",
    "42.5",
    "-7",
    "1e400",
    "-1e400",
    "1e-400",
    "2.5e-324",
    "4.9e-324",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "9007199254740993",
    "9007199254740993.0",
    "9223372036854775807",
    "9223372036854775807.0",
    "-9223372036854775808",
    "-9223372036854775809",
    "9223372036854775808",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "1.00000000000000001",
    "6423.6487647e15",
    "4.1",
    "543537559.787",
    "1.000001",
    "253402300799",
    "253402300799.0",
    "253402300800",
    "-62135596800",
    "-62135596801",
    "1593007044",
    "1593007044.5",
    "1593007044123",
    "1593007044123.4",
    "1593007044123456",
    "35.698362",
    "-139.773288",
    "90",
    "90.0000000000001",
    "-90",
    "1e18",
    "1000000000000000001",
    "0.1",
    "0.30000000000000004",
    "123456789012345678901234567890",
    "1E2",
    "1e+2",
    "1e-2",
    "100e-2",
    "0e0",
];

/// Texts for string values: numbers with blanks, booleans, allowed and nearly allowed values.
const TEXTS: &[&str] = &[
    "x",
    "y",
    "X",
    "x ",
    "",
    " 42 ",
    "42",
    "+42",
    "4.2e1",
    " 1e3 ",
    "\t1e3",
    "\u{a0}7\u{2003}",
    "1_000",
    "0x10",
    "inf",
    "NaN",
    "infinity",
    "-0",
    "1.",
    ".5",
    "true",
    "false",
    "TRUE",
    "Yes",
    "n",
    "1",
    "0",
    "2",
    "on",
    "café",
    "日本",
    "😀",
    "a\"b",
    "a\\b",
    "a/b",
    "\u{1}\u{1f}\u{7f}",
];

/// Times in every documented form, and some that are not times.
const TIMES: &[&str] = &[
    "2020-06-24T13:57:24Z",
    "2020-06-24t13:57:24z",
    "2020-06-24 13:57:24",
    "2020-06-24T13:57",
    "2020-06-24T22:57:24+09:00",
    "2020-06-24T08:57:24-0500",
    "2020-06-24T08:57:24-05",
    "2020-06-24T13:57:24.123456789Z",
    "2020-06-24T13:57:24,5Z",
    "2020-02-30T00:00:00Z",
    "2020-02-29",
    "2019-02-29",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-01:00",
    "0000-12-31T23:59:59Z",
    "2020-06-24T24:00:00Z",
    "2020-06-24T23:59:60Z",
    "2020-06-24T13:57:24+24:00",
    "2020-06-24T13:57:24Zjunk",
    "2020-06-24 ",
    " 2020-06-24",
    "1593007044",
    " 1593007044123 ",
    "+1593007044123",
    "-1593007044123456",
    "1593007044.25",
];

const NOISE_KEYS: &[&str] = &[
    "extra", "s_", "ss", "m2", "k", "k.", "e.j", "device", "R", "a ", "\u{0}", "é", "😀",
];

fn gen_number(rng: &mut Rng) -> String {
    if rng.chance(60) {
        return rng.pick(NUMBERS).to_string();
    }
    let mut text = String::new();
    if rng.chance(30) {
        text.push('-');
    }
    let digits = 1 + rng.below(22);
    for k in 0..digits {
        let d = if k == 0 && digits > 1 {
            1 + rng.below(9)
        } else {
            rng.below(10)
        };
        text.push(char::from(b'0' + d as u8));
    }
    if rng.chance(50) {
        text.push('.');
        for _ in 0..1 + rng.below(20) {
            text.push(char::from(b'0' + rng.below(10) as u8));
        }
    }
    if rng.chance(30) {
        text.push(*rng.pick(&['e', 'E']));
        if rng.chance(50) {
            text.push(*rng.pick(&['+', '-']));
        }
        text.push_str(&rng.below(420).to_string());
    }
    text
}

fn gen_text(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=3 => rng.pick(TEXTS).to_string(),
        4 | 5 => rng.pick(TIMES).to_string(),
        6 => format!(" {} ", gen_number(rng)),
        7 => gen_number(rng),
        // Now and then a value longer than the room before a read chunk (64 KiB); a record longer
        // than a whole chunk is added per object (see `gen_object`).
        8 if rng.chance(5) => "x".repeat(70_000),
        8 => "x".repeat(*rng.pick(&[1usize, 100, 5_000])),
        _ => (0..rng.below(12))
            .map(|_| char::from_u32(rng.below(0x11000) as u32).unwrap_or('\u{fffd}'))
            .collect(),
    }
}

fn gen_value(rng: &mut Rng, depth: usize) -> Json {
    match rng.below(20) {
        0..=6 => Json::Raw(gen_number(rng)),
        7..=13 => Json::Str(gen_text(rng)),
        14 => Json::Raw(rng.pick(&["true", "false"]).to_string()),
        15 => Json::Raw("null".into()),
        16 if depth < 4 => Json::Obj(
            (0..rng.below(4))
                .map(|_| (rng.pick(NOISE_KEYS).to_string(), gen_value(rng, depth + 1)))
                .collect(),
        ),
        17 if depth < 4 => Json::Arr(
            (0..rng.below(4))
                .map(|_| gen_value(rng, depth + 1))
                .collect(),
        ),
        _ => Json::Raw(gen_number(rng)),
    }
}

/// A value that the column will probably take, edge cases included: most records of a real feed
/// are good, and values are only compared for records that are written.
fn fitting(rng: &mut Rng, column: &str) -> Json {
    let number = |rng: &mut Rng, items: &[&str]| {
        let text = rng.pick(items).to_string();
        if rng.chance(20) {
            Json::Str(format!(
                "{}{text}{}",
                rng.pick(&["", " ", "\t"]),
                rng.pick(&["", " "])
            ))
        } else {
            Json::Raw(text)
        }
    };
    match column {
        "d" => number(
            rng,
            &[
                "35.698362",
                "-139.773288",
                "0",
                "-0",
                "90",
                "-90",
                "89.99999999999999",
                "1e1",
                "0.30000000000000004",
                "4.9e-324",
                "-0.0",
                "12.5e-1",
            ],
        ),
        "i" => number(
            rng,
            &[
                "0",
                "-0",
                "42",
                "42.0",
                "4.2e1",
                "9007199254740993",
                "9007199254740993.0",
                "6423.6487647e15",
                "1000000000000000000",
                "-1000000000000000000",
                "1e18",
                "100e-2",
                "-7",
            ],
        ),
        "j" => number(
            rng,
            &[
                "0",
                "1",
                "-1",
                "2147483647",
                "-2147483648",
                "2147483647.0",
                "21474836.47e2",
                "-0.0e5",
            ],
        ),
        "b" => Json::Raw(rng.pick(&["true", "false", "1", "0"]).to_string()),
        "t" => {
            if rng.chance(60) {
                Json::Str(rng.pick(TIMES).to_string())
            } else {
                number(
                    rng,
                    &[
                        "1593007044",
                        "1593007044.5",
                        "1593007044123",
                        "1593007044123.4",
                        "1593007044123456",
                        "1593007044123456789",
                        "159300704412345678.9",
                        "-1593007044123456789",
                        "4.1",
                        "-1.0000001",
                        "253402300799",
                        "253402300799.999999",
                        "-62135596800",
                    ],
                )
            }
        }
        "e" => number(
            rng,
            &[
                "4.1",
                "543537559.787",
                "1.000001",
                "1.0000019",
                "-1.0000001",
                "253402300799",
                "253402300799.0",
                "-62135596800.0",
                "1593007044",
                "1.5e3",
                "0",
            ],
        ),
        "r" => Json::Str(
            rng.pick(&["r", "名前", "x\u{0}y", "\"quoted\""])
                .to_string(),
        ),
        "a" => Json::Str(rng.pick(&["x", "y"]).to_string()),
        _ => Json::Str(gen_text(rng)),
    }
}

/// One record: the mapped keys (sometimes missing, repeated, nested wrongly) among noise.
fn gen_record(rng: &mut Rng) -> Json {
    let typed = rng.chance(60);
    let value = |rng: &mut Rng, column: &str, depth: usize| {
        if typed && rng.chance(93) {
            fitting(rng, column)
        } else {
            gen_value(rng, depth)
        }
    };
    let mut members: Vec<(String, Json)> = Vec::new();
    let present = |rng: &mut Rng| rng.chance(if typed { 95 } else { 85 });
    for column in ["s", "m", "i", "k.e", "b", "t", "e", "n", "r", "a"] {
        if !present(rng) {
            continue;
        }
        let v = match column {
            "m" if rng.chance(90) => Json::Obj(vec![("d".into(), value(rng, "d", 2))]),
            "k.e" if rng.chance(90) => Json::Obj(vec![("j".into(), value(rng, "j", 2))]),
            other => value(rng, other, 1),
        };
        members.push((column.to_string(), v));
    }
    for _ in 0..rng.below(4) {
        let noise = gen_value(rng, 1);
        members.push((rng.pick(NOISE_KEYS).to_string(), noise));
    }
    // Repeated keys (the last one counts), at the top and inside `m`.
    if rng.chance(15) && !members.is_empty() {
        let key = members[rng.below(members.len())].0.clone();
        let again = value(rng, &key, 1);
        members.push((key, again));
    }
    if rng.chance(5) {
        members.push((
            "m".into(),
            Json::Obj(vec![("x".into(), Json::Raw("1".into()))]),
        ));
    }
    // Shuffle a little: producers do not agree on key order.
    if rng.chance(30) && members.len() > 1 {
        let (x, y) = (rng.below(members.len()), rng.below(members.len()));
        members.swap(x, y);
    }
    Json::Obj(members)
}

/// Writes `json` with random blanks (never a line feed) and random escaping of string text.
fn serialise(rng: &mut Rng, json: &Json, out: &mut Vec<u8>) {
    let blank = |rng: &mut Rng, out: &mut Vec<u8>| {
        if rng.chance(8) {
            out.push(*rng.pick(b" \t\r "));
        }
    };
    match json {
        Json::Raw(text) => out.extend_from_slice(text.as_bytes()),
        Json::Str(text) => string(rng, text, out),
        Json::Obj(members) => {
            out.push(b'{');
            for (k, (key, value)) in members.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                blank(rng, out);
                string(rng, key, out);
                blank(rng, out);
                out.push(b':');
                blank(rng, out);
                serialise(rng, value, out);
                blank(rng, out);
            }
            out.push(b'}');
        }
        Json::Arr(items) => {
            out.push(b'[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                blank(rng, out);
                serialise(rng, item, out);
            }
            out.push(b']');
        }
    }
}

fn string(rng: &mut Rng, text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let escape_some = rng.chance(20);
    for ch in text.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\t' if rng.chance(50) => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            '/' if rng.chance(50) => out.extend_from_slice(b"\\/"),
            c if escape_some && rng.chance(30) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let spelled = if rng.chance(50) {
                        format!("\\u{unit:04x}")
                    } else {
                        format!("\\u{unit:04X}")
                    };
                    out.extend_from_slice(spelled.as_bytes());
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Breaks a record the ways transport and producers do: a byte changed, inserted or lost, a
/// control character, bytes that are not UTF-8, a lone surrogate escape, a cut.
fn mutate(rng: &mut Rng, record: &mut Vec<u8>) {
    if record.is_empty() {
        return;
    }
    let at = rng.below(record.len());
    match rng.below(8) {
        7 => {
            // A line cut after a comma: with the next line it could read as one object.
            let commas: Vec<usize> = (0..record.len()).filter(|&i| record[i] == b',').collect();
            if !commas.is_empty() {
                record.truncate(commas[rng.below(commas.len())] + 1);
            }
        }
        0 => {
            // Never a line feed (a line is a record), nor a '[' that would start an array
            // layout (a broken array fails the whole object, by design).
            let b = loop {
                let b = rng.next() as u8;
                if b != b'\n' && b != b'[' {
                    break b;
                }
            };
            record[at] = b;
        }
        1 => {
            let b = *rng.pick(&[
                0x00, 0x01, 0x09, 0x0d, 0x1f, 0x7f, 0xff, 0xc0, b'"', b'\\', b',', b'}', b']',
                b'{', b':',
            ]);
            record.insert(at, b);
        }
        2 => {
            let bytes: &[u8] = rng.pick::<&[u8]>(&[
                &b"\xed\xa0\x80"[..],
                b"\xc0\xaf",
                b"\\ud800",
                b"\\udc00",
                b"\\u12",
                b"\xf4\x90\x80\x80",
                b"\xe2\x82",
            ]);
            for (k, &b) in bytes.iter().enumerate() {
                record.insert(at + k, b);
            }
        }
        3 => {
            record.remove(at);
        }
        4 => record.truncate(at),
        5 => {
            // A surrogate pair split, or reversed.
            record.splice(at..at, b"\"\\udc00\\ud800\"".iter().copied());
        }
        _ => {
            let b = *rng.pick(b"09-.e ");
            record.insert(at, b);
        }
    }
}

/// A generated object: its bytes, and per line whether it was built deep (and how deep).
struct Object {
    bytes: Vec<u8>,
}

fn gen_object(rng: &mut Rng, records: usize) -> Object {
    let mut bytes = Vec::new();
    if rng.chance(10) {
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let crlf = rng.chance(20);
    for _ in 0..records {
        let mut line = Vec::new();
        match rng.below(100) {
            // Deep nesting around the limit (valid JSON, never mutated: see `reference_records`).
            0 => {
                let levels = *rng.pick(&[2usize, 127, 128, 129, 300]);
                line.extend_from_slice(b"{\"r\":\"deep\",\"z\":");
                line.extend(std::iter::repeat_n(b'[', levels - 1));
                line.extend(std::iter::repeat_n(b']', levels - 1));
                line.push(b'}');
            }
            // A record longer than a read chunk (1 MiB).
            2 if rng.chance(3) => {
                let big = Json::Obj(vec![
                    ("r".into(), Json::Str("x".repeat(1_100_000))),
                    ("s".into(), Json::Str("big".into())),
                ]);
                serialise(rng, &big, &mut line);
            }
            1 => line.extend_from_slice(rng.pick::<&[u8]>(&[
                &b"[1,2]"[..],
                b"\"text\"",
                b"42",
                b"null",
                b"{}",
                b" ",
                b"",
                b"{\"r\":1}{\"r\":\"two\"}",
                b"tru",
                b"nul",
            ])),
            _ => {
                let record = gen_record(rng);
                serialise(rng, &record, &mut line);
                if rng.chance(12) {
                    mutate(rng, &mut line);
                    if rng.chance(20) {
                        mutate(rng, &mut line);
                    }
                }
            }
        }
        bytes.extend_from_slice(&line);
        bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }
    Object { bytes }
}

/// What serde_json makes of one line: the top-level values in it, one after another (concatenated
/// JSON on one line is several records), and an invalid rest as one more record.
fn reference_records(line: &[u8]) -> Vec<Result<Box<RawValue>, ()>> {
    if line.trim_ascii_start().starts_with(b"[") {
        // A JSON array at the top is a container of records (the array layout); the generator
        // writes only valid ones (a broken array fails the whole object by design).
        let items: Vec<Box<RawValue>> =
            serde_json::from_slice(line).expect("generated arrays are valid");
        return items.into_iter().map(Ok).collect();
    }
    let mut records = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(line).into_iter::<Box<RawValue>>();
    loop {
        match stream.next() {
            None => break,
            Some(Ok(raw)) => match valid_json(raw.get()) {
                Ok(()) => records.push(Ok(raw)),
                Err(e) if e.to_string().contains("recursion limit") => {
                    // serde_json stops at 128 open containers; our documented limit is 128
                    // levels of nesting, one more. Deep records are generated valid.
                    records.push(
                        if depth(raw.get().as_bytes()) <= crate::decode::json::MAX_DEPTH {
                            Ok(raw)
                        } else {
                            Err(())
                        },
                    );
                }
                Err(_) => {
                    records.push(Err(()));
                    break;
                }
            },
            Some(Err(e)) => {
                if e.to_string().contains("recursion limit")
                    && depth(&line[stream.byte_offset()..]) <= crate::decode::json::MAX_DEPTH
                {
                    unreachable!("a valid deep record fails only whole: {e}");
                }
                records.push(Err(()));
                break;
            }
        }
    }
    records
}

/// serde_json's verdict on a whole value. It refuses numbers beyond `f64` ("number out of range"),
/// which RFC 8259 allows: those are checked against the number grammar on their own (by serde_json
/// too) and the rest of the value with them replaced by `0`.
fn valid_json(text: &str) -> Result<(), serde_json::Error> {
    let e = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(_) => return Ok(()),
        Err(e) if e.to_string().contains("number out of range") => e,
        Err(e) => return Err(e),
    };
    let mut tame = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            tame.push(c);
        } else if c == '-' || c.is_ascii_digit() {
            let mut end = at + c.len_utf8();
            while let Some(&(i, d)) = chars.peek() {
                if !(d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-')) {
                    break;
                }
                end = i + 1;
                chars.next();
            }
            let token = &text[at..end];
            let grammatical = serde_json::from_str::<serde::de::IgnoredAny>(token).is_ok();
            tame.push_str(if grammatical { "0" } else { token });
        } else {
            in_string = c == '"';
            tame.push(c);
        }
    }
    serde_json::from_str::<serde_json::Value>(&tame)
        .map(|_| ())
        .map_err(|_| e)
}

/// The deepest nesting of containers in valid JSON text.
fn depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in text {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') => in_string = false,
            (true, _) => {}
            (false, b'"') => in_string = true,
            (false, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A path's value in a record (serde_json's reading: the last of repeated keys).
#[derive(Debug)]
enum Found {
    Missing,
    /// The path met a non-null value that is not an object where it goes on.
    Unreached,
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    /// An object or array: its text as written.
    Composite(String),
}

/// The members of a JSON object (serde_json's reading: the last of repeated keys wins).
type Members<'r> = BTreeMap<String, &'r RawValue>;

fn lookup(top: &Members<'_>, path: &[&str]) -> Found {
    let mut raw: &RawValue = match top.get(path[0]) {
        Some(v) => v,
        None => return Found::Missing,
    };
    for key in &path[1..] {
        if raw.get() == "null" {
            return Found::Missing;
        }
        if !raw.get().starts_with('{') {
            return Found::Unreached;
        }
        let members: Members<'_> = serde_json::from_str(raw.get()).expect("valid object");
        match members.get(*key) {
            Some(v) => raw = v,
            None => return Found::Missing,
        }
    }
    let text = raw.get();
    match text.as_bytes()[0] {
        b'n' => Found::Null,
        b't' => Found::Bool(true),
        b'f' => Found::Bool(false),
        b'"' => Found::Str(serde_json::from_str(text).expect("valid string")),
        b'{' | b'[' => Found::Composite(text.to_string()),
        _ => Found::Number(text.to_string()),
    }
}

/// A decimal text as `str::parse::<f64>` reads it, without `inf`/`NaN` spellings.
fn is_decimal(text: &str) -> bool {
    text.parse::<f64>().is_ok()
        && !text
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
}

/// `floor(text × 10^shift)` exactly when the text is a decimal, and whether it is an integer.
fn decimal_floor(text: &str, shift: i64) -> Option<(i64, bool)> {
    if !is_decimal(text) {
        return None;
    }
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    if exp.abs() > 10_000 {
        // Far out: zero, a fraction of one, or beyond every range.
        let zero = mantissa.bytes().all(|b| !b.is_ascii_digit() || b == b'0');
        return match (zero, exp < 0, mantissa.starts_with('-')) {
            (true, _, _) => Some((0, true)),
            (false, true, true) => Some((-1, false)),
            (false, true, false) => Some((0, false)),
            (false, false, _) => None,
        };
    }
    let (v, integral) = floor_by_text(&format!("{mantissa}e{}", exp + shift))?;
    Some((i64::try_from(v).ok()?, integral))
}

fn scaled_floor(text: &str, shift: i64) -> Option<i64> {
    decimal_floor(text, shift).map(|(v, _)| v)
}

fn exact_integer(text: &str) -> Option<i64> {
    decimal_floor(text, 0)
        .filter(|&(_, integral)| integral)
        .map(|(v, _)| v)
}

const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

fn in_time_range(micros: i64) -> Option<i64> {
    (MIN_MICROS..=MAX_MICROS)
        .contains(&micros)
        .then_some(micros)
}

/// An epoch number in `auto` mode: seconds, unless its integer digits say milliseconds (12–14),
/// microseconds (15–17) or nanoseconds (18 and more), as the README documents.
fn auto_epoch(text: &str) -> Option<i64> {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let shift = match digits {
        0..=11 => 6,
        12..=14 => 3,
        15..=17 => 0,
        _ => -3,
    };
    scaled_floor(text, shift).and_then(in_time_range)
}

/// ISO 8601 / RFC 3339 in the documented forms, with chrono doing the calendar.
fn iso(text: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveTime};
    let b = text.as_bytes();
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let number =
        |from: usize, len: usize| (from..from + len).try_fold(0, |n, i| Some(n * 10 + digit(i)?));
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        number(0, 4)? as i32,
        number(5, 2)? as u32,
        number(8, 2)? as u32,
    )?;
    let midnight = date.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
    if b.len() == 10 {
        return in_time_range(midnight);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.get(13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (number(11, 2)?, number(14, 2)?);
    let mut i = 16;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        second = number(17, 2)?;
        i = 19;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut micros = midnight + ((hour * 60 + minute) * 60 + second) * 1_000_000;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        while digit(i).is_some() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let fraction = format!("{:0<6}", &text[start..i.min(start + 6)]);
        micros += fraction.parse::<i64>().ok()?;
    }
    let offset = match &b[i..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest.len() {
                2 => (number(i + 1, 2)?, 0),
                4 => (number(i + 1, 2)?, number(i + 3, 2)?),
                5 if rest[2] == b':' => (number(i + 1, 2)?, number(i + 4, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let seconds = (h * 60 + m) * 60;
            if *sign == b'+' {
                seconds
            } else {
                -seconds
            }
        }
        _ => return None,
    };
    in_time_range(micros - offset * 1_000_000)
}

/// The cast of the README's table, by field: `Ok(cell)` or `Err(reason)`.
fn cast(column: &str, found: &Found) -> Result<Cell, &'static str> {
    if matches!(found, Found::Missing | Found::Null | Found::Unreached) {
        return if column == "r" {
            Err("missing_required_field")
        } else {
            Ok(Cell::Null)
        };
    }
    let number_text = || match found {
        Found::Number(t) => Some(t.clone()),
        Found::Str(s) => Some(s.trim().to_string()),
        _ => None,
    };
    let as_string = || match found {
        Found::Str(s) => Some(s.clone()),
        Found::Number(t) => Some(t.clone()),
        Found::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let double = || {
        let text = number_text()?;
        let v: f64 = text.parse().ok()?;
        v.is_finite().then_some(v)
    };
    let time = || match found {
        Found::Number(t) => auto_epoch(t),
        Found::Str(s) => iso(s.trim()).or_else(|| auto_epoch(s.trim())),
        _ => None,
    };
    let mismatch = Err("type_mismatch");
    match column {
        "s" | "r" => as_string().map(Cell::Str).ok_or("type_mismatch"),
        "a" => match as_string() {
            Some(s) if s == "x" || s == "y" => Ok(Cell::Str(s)),
            Some(_) => Err("not_allowed"),
            None => mismatch,
        },
        "d" => match double() {
            Some(v) if !(-90.0..=90.0).contains(&v) => Err("out_of_range"),
            Some(v) => Ok(Cell::F64(v.to_bits())),
            None => mismatch,
        },
        "n" => Ok(double().map_or(Cell::Null, |v| Cell::F64(v.to_bits()))),
        "i" => match number_text().as_deref().and_then(exact_integer) {
            Some(v) if !(-1_000_000_000_000_000_000..=1_000_000_000_000_000_000).contains(&v) => {
                Err("out_of_range")
            }
            Some(v) => Ok(Cell::I64(v)),
            None => mismatch,
        },
        "j" => number_text()
            .as_deref()
            .and_then(exact_integer)
            .and_then(|v| i32::try_from(v).ok())
            .map(Cell::I32)
            .ok_or("type_mismatch"),
        "b" => match found {
            Found::Bool(b) => Ok(Cell::Bool(*b)),
            Found::Number(t) if t == "1" => Ok(Cell::Bool(true)),
            Found::Number(t) if t == "0" => Ok(Cell::Bool(false)),
            Found::Str(s) => {
                let s = s.trim().to_ascii_lowercase();
                match s.as_str() {
                    "true" | "1" | "yes" | "y" => Ok(Cell::Bool(true)),
                    "false" | "0" | "no" | "n" => Ok(Cell::Bool(false)),
                    _ => mismatch,
                }
            }
            _ => mismatch,
        },
        "t" => time().map(Cell::Micros).ok_or("type_mismatch"),
        "dt" => time()
            .map(|m| Cell::Days(m.div_euclid(86_400_000_000) as i32))
            .ok_or("type_mismatch"),
        // The value's JSON text: objects, arrays and numbers as written, a string re-encoded
        // from its value.
        "js" => Ok(Cell::Str(match found {
            Found::Composite(text) | Found::Number(text) => text.clone(),
            Found::Str(s) => serde_json::to_string(s).expect("a string"),
            Found::Bool(b) => b.to_string(),
            Found::Missing | Found::Null | Found::Unreached => unreachable!("handled above"),
        })),
        "e" => number_text()
            .and_then(|t| scaled_floor(&t, 6))
            .and_then(in_time_range)
            .map(Cell::Micros)
            .ok_or("type_mismatch"),
        other => unreachable!("no column {other}"),
    }
}

const COLUMNS: [(&str, &[&str]); 12] = [
    ("s", &["s"]),
    ("d", &["m", "d"]),
    ("i", &["i"]),
    ("j", &["k.e", "j"]),
    ("b", &["b"]),
    ("t", &["t"]),
    ("dt", &["t"]),
    ("e", &["e"]),
    ("n", &["n"]),
    ("r", &["r"]),
    ("a", &["a"]),
    ("js", &["m"]),
];

/// The reference verdicts of an object, how many values it nulls in written records, and how many
/// it does not reach (a path meeting a non-object where it goes on).
fn reference(object: &[u8]) -> (Vec<(usize, Verdict)>, u64, u64) {
    let body = object.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(object);
    let mut verdicts = Vec::new();
    let mut nulled = 0;
    let mut unreached = 0;
    for (line_no, line) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = line_no + 1;
        for record in reference_records(line) {
            let Ok(raw) = record else {
                verdicts.push((line_no, Verdict::Rejected("invalid_json".into(), None)));
                continue;
            };
            if !raw.get().starts_with('{') {
                verdicts.push((line_no, Verdict::Rejected("not_an_object".into(), None)));
                continue;
            }
            let mut cells = Vec::new();
            let mut rejected = None;
            let (mut nulled_here, mut unreached_here) = (0, 0);
            let top: Members<'_> = serde_json::from_str(raw.get()).expect("valid object");
            for (column, path) in COLUMNS {
                let found = lookup(&top, path);
                match cast(column, &found) {
                    Ok(cell) => {
                        if matches!(found, Found::Unreached) {
                            unreached_here += 1;
                        }
                        if column == "n"
                            && cell == Cell::Null
                            && !matches!(found, Found::Missing | Found::Null)
                        {
                            nulled_here += 1;
                        }
                        cells.push(cell);
                    }
                    Err(reason) => {
                        rejected = Some(Verdict::Rejected(reason.into(), Some(column.into())));
                        break;
                    }
                }
            }
            match rejected {
                Some(v) => verdicts.push((line_no, v)),
                None => {
                    nulled += nulled_here;
                    unreached += unreached_here;
                    verdicts.push((line_no, Verdict::Written(cells)));
                }
            }
        }
    }
    (verdicts, nulled, unreached)
}

/// The engine's verdicts: rejected records from the rejected file (by record number), written
/// ones from the Parquet files in order (the dataset has no partitions, so rows keep the input's
/// order).
fn engine_verdicts(
    dataset: &Dataset,
    object: &[u8],
    dir: &Path,
) -> (Vec<(Option<usize>, Verdict)>, crate::Summary) {
    let data = LocalDir::new(dir.join("table"));
    let rejected = LocalDir::new(dir.join("rejected"));
    let source = SourceObject::local_file("generated.ndjson");
    let summary = Engine::new(dataset)
        .transform(object, &source, &data, &rejected)
        .expect("the object is processed");
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("table"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    for file in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            for row in 0..batch.num_rows() {
                let cells = COLUMNS
                    .iter()
                    .map(|(column, _)| {
                        let a = batch.column_by_name(column).unwrap();
                        if a.is_null(row) {
                            return Cell::Null;
                        }
                        match *column {
                            "s" | "r" | "a" | "js" => {
                                Cell::Str(a.as_string::<i32>().value(row).to_string())
                            }
                            "d" | "n" => {
                                Cell::F64(a.as_primitive::<Float64Type>().value(row).to_bits())
                            }
                            "i" => Cell::I64(a.as_primitive::<Int64Type>().value(row)),
                            "j" => Cell::I32(a.as_primitive::<Int32Type>().value(row)),
                            "b" => Cell::Bool(a.as_boolean().value(row)),
                            "t" | "e" => Cell::Micros(
                                a.as_primitive::<TimestampMicrosecondType>().value(row),
                            ),
                            "dt" => Cell::Days(a.as_primitive::<Date32Type>().value(row)),
                            other => unreachable!("{other}"),
                        }
                    })
                    .collect();
                rows.push(cells);
            }
        }
    }
    let mut rejections: BTreeMap<u64, Verdict> = BTreeMap::new();
    let mut rejected_lines: BTreeMap<u64, usize> = BTreeMap::new();
    if let Some(uri) = &summary.rejected_file {
        let path = uri.strip_prefix("file://").unwrap();
        let text = std::fs::read_to_string(path).expect("rejected records are UTF-8");
        for line in text.lines() {
            // The record's own text is kept as written (numbers beyond f64 included), so the line
            // is read without turning the record into values.
            #[derive(serde::Deserialize)]
            struct Line {
                record_number: u64,
                line: usize,
                reason: String,
                field: Option<String>,
            }
            let v: Line = serde_json::from_str(line).expect("every rejected line is JSON");
            rejected_lines.insert(v.record_number, v.line);
            rejections.insert(v.record_number, Verdict::Rejected(v.reason, v.field));
        }
    }
    assert_eq!(
        rejections.len() as u64,
        summary.records_rejected,
        "rejected lines = summary"
    );
    assert_eq!(
        rows.len() as u64,
        summary.records_written,
        "rows on disk = summary"
    );
    let mut rows = rows.into_iter();
    let verdicts = (1..=summary.records_in)
        .map(|n| match rejections.remove(&n) {
            Some(v) => (rejected_lines.get(&n).copied(), v),
            None => (
                None,
                Verdict::Written(rows.next().expect("a row per written record")),
            ),
        })
        .collect();
    (verdicts, summary)
}

/// A line for a failure message: at most 400 characters of it.
fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let cut: String = text.chars().take(400).collect();
    format!("{cut:?}{}", if cut.len() < text.len() { "…" } else { "" })
}

/// Runs one seed: `objects` objects of `records` records; panics naming the seed, the record and
/// its bytes on the first disagreement.
fn check_seed(
    seed: u64,
    objects: usize,
    records: usize,
    outcomes: &mut BTreeMap<String, u64>,
) -> u64 {
    let dataset = Dataset::from_toml_str(DATASET, "differential.toml").unwrap();
    let mut rng = Rng(seed);
    let mut checked = 0;
    for _ in 0..objects {
        let object = gen_object(&mut rng, records);
        let dir = tempfile::tempdir().unwrap();
        let (expected, nulled, unreached) = reference(&object.bytes);
        let (actual, summary) = engine_verdicts(&dataset, &object.bytes, dir.path());
        let lines: Vec<&[u8]> = object.bytes.split(|&b| b == b'\n').collect();
        for (k, ((line, e), (engine_line, a))) in expected.iter().zip(&actual).enumerate() {
            assert!(
                engine_line.is_none_or(|l| l == *line),
                "seed {seed}: record {} is on line {line}, the engine says {engine_line:?}: {:?}, the line before: {:?}",
                k + 1,
                shown(lines[line - 1]),
                shown(lines[line.saturating_sub(2)])
            );
            assert_eq!(
                a,
                e,
                "seed {seed}: record {} (line {line}) differs (engine left, reference right): {:?}",
                k + 1,
                shown(lines[line - 1])
            );
        }
        assert_eq!(actual.len(), expected.len(), "seed {seed}: record count");
        assert_eq!(summary.values_nulled, nulled, "seed {seed}: values nulled");
        assert_eq!(
            summary.unreached_by_field.values().sum::<u64>(),
            unreached,
            "seed {seed}: values not reached"
        );
        assert_eq!(
            summary.records_in,
            summary.records_written + summary.records_rejected
        );
        for (_, v) in &expected {
            let outcome = match v {
                Verdict::Written(_) => "written".to_string(),
                Verdict::Rejected(reason, field) => {
                    format!("{reason} {}", field.as_deref().unwrap_or(""))
                }
            };
            *outcomes.entry(outcome).or_insert(0u64) += 1;
        }
        checked += expected.len() as u64;
    }
    checked
}

#[test]
fn differential_short() {
    let mut outcomes = BTreeMap::new();
    let mut checked = 0;
    for &seed in REGRESSION_SEEDS {
        checked += check_seed(seed, 1, 2_000, &mut outcomes);
    }
    for seed in 1..=24 {
        checked += check_seed(seed, 1, 2_500, &mut outcomes);
    }
    println!("{checked} records: {outcomes:#?}");
    assert!(checked >= 60_000, "{checked} records checked");
    // The generator reaches every outcome, often: written records and each reason.
    for outcome in [
        "written",
        "invalid_json ",
        "not_an_object ",
        "type_mismatch s",
        "type_mismatch i",
        "type_mismatch j",
        "type_mismatch t",
        "type_mismatch e",
        "out_of_range d",
        "missing_required_field r",
        "not_allowed a",
    ] {
        let n = outcomes.get(outcome).copied().unwrap_or(0);
        assert!(n * 500 >= checked, "{outcome}: only {n} of {checked}");
    }
}

/// `make fuzz`: seeds from `FUZZ_SEED` (default: the time) for `FUZZ_SECONDS` (default 60).
#[test]
#[ignore]
fn differential_fuzz() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let first: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    let start = std::time::Instant::now();
    let (mut seed, mut checked, mut outcomes) = (first, 0u64, BTreeMap::new());
    while start.elapsed().as_secs() < seconds {
        checked += check_seed(seed, 1, 5_000, &mut outcomes);
        seed += 1;
    }
    println!(
        "differential: seeds {first}..{seed}, {checked} records, no disagreement: {outcomes:#?}"
    );
}
