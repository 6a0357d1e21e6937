//! Walking the JSON text of one value the scanner has already checked (the span of an object or
//! array a [`Slot`] carries): its elements, its members, its scalars. For nested columns and
//! paths into arrays, which need more of a value than the record's scan materialises.

use std::borrow::Cow;

use super::{Scanner, Slot};

/// The value `span` holds, as a slot (objects and arrays as their spans).
pub fn slot_of(span: &[u8]) -> Slot<'_> {
    let start = skip_blanks(span, 0);
    match span.get(start) {
        Some(b'{') => Slot::Object(&span[start..value_end(span, start)]),
        Some(b'[') => Slot::Array(&span[start..value_end(span, start)]),
        _ => {
            let mut s = Scanner::new(span, start, true);
            // The span was checked whole when its record was scanned: an error here cannot
            // happen, and would only read as a missing value.
            s.scalar(1).unwrap_or(Slot::Missing)
        }
    }
}

/// The kind of the value `span` holds (`"object"`, `"array"`, `"string"`, …).
pub fn kind_of(span: &[u8]) -> &'static str {
    match span.get(skip_blanks(span, 0)) {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// Whether `span` is the literal `null`.
pub fn is_null(span: &[u8]) -> bool {
    kind_of(span) == "null"
}

/// The elements of the array `span`, each as its span.
pub fn elements(span: &[u8]) -> Elements<'_> {
    Elements::open(span, b'[')
}

/// The members of the object `span`: each name (unescaped) and its value's span.
pub fn members(span: &[u8]) -> Members<'_> {
    Members(Elements::open(span, b'{'))
}

fn skip_blanks(buf: &[u8], mut i: usize) -> usize {
    while buf
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// Past the closing quote of the string opening at `start`. The text was checked when its
/// record was scanned, so only quotes and backslashes matter here. Eight bytes at a time (a
/// vectorised search's set-up costs more than the short strings of records save).
fn string_end(buf: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(word) = buf.get(i..i + 8) {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let found = has_byte(word, b'"') | has_byte(word, b'\\');
        if found == 0 {
            i += 8;
            continue;
        }
        // The lowest flagged byte is always a true match.
        let at = i + (found.trailing_zeros() / 8) as usize;
        if buf[at] == b'"' {
            return at + 1;
        }
        i = at + 2;
    }
    while i < buf.len() {
        match buf[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    buf.len()
}

/// The high bit of each byte of `word` that equals `byte` (and possibly of bytes above the first
/// such one: only the lowest flagged byte is sure).
fn has_byte(word: u64, byte: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// Past the end of the checked value starting at `start`.
fn value_end(buf: &[u8], start: usize) -> usize {
    match buf[start] {
        b'"' => string_end(buf, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < buf.len() {
                match buf[i] {
                    b'"' => {
                        i = string_end(buf, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            buf.len()
        }
        _ => {
            let rest = &buf[start..];
            start
                + rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(rest.len())
        }
    }
}

/// Iterator over an array's elements (see [`elements`]); empty for anything but an array.
pub struct Elements<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Elements<'a> {
    fn open(span: &'a [u8], open: u8) -> Self {
        let start = skip_blanks(span, 0);
        let mut done = span.get(start) != Some(&open);
        let pos = skip_blanks(span, start + 1);
        done = done || matches!(span.get(pos), Some(b']' | b'}') | None);
        Self {
            buf: span,
            pos,
            done,
        }
    }

    /// The next value's span, and the position past the separator after it.
    fn value(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        if start >= self.buf.len() {
            self.done = true;
            return None;
        }
        let end = value_end(self.buf, start);
        let span = &self.buf[start..end];
        self.pos = skip_blanks(self.buf, end);
        match self.buf.get(self.pos) {
            Some(b',') => self.pos = skip_blanks(self.buf, self.pos + 1),
            _ => self.done = true,
        }
        Some(span)
    }

    /// A member's name (unescaped) and the position of its value.
    fn name(&mut self) -> Option<Cow<'a, [u8]>> {
        let start = self.pos;
        if self.buf.get(start) != Some(&b'"') {
            self.done = true;
            return None;
        }
        let end = string_end(self.buf, start);
        let raw = &self.buf[start + 1..end.saturating_sub(1).max(start + 1)];
        let name = if raw.contains(&b'\\') {
            Cow::Owned(super::unescape(raw)?.into_bytes())
        } else {
            Cow::Borrowed(raw)
        };
        let colon = skip_blanks(self.buf, end);
        self.pos = skip_blanks(self.buf, colon + 1);
        Some(name)
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.value()
    }
}

/// Iterator over an object's members (see [`members`]); empty for anything but an object.
pub struct Members<'a>(Elements<'a>);

impl<'a> Iterator for Members<'a> {
    type Item = (Cow<'a, [u8]>, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.done {
            return None;
        }
        let name = self.0.name()?;
        self.0.value().map(|span| (name, span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings as serde_json writes them (quotes, backslashes and escapes at every alignment of
    /// the eight-byte steps), each followed by more text: the end is where serde_json's ends.
    #[test]
    fn a_string_ends_where_its_json_text_does() {
        let pieces = ["a", "\"", "\\", "é", "\u{1}", "\n", "abcdefg", "/"];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let text: String = (0..state % 24)
                .map(|k| pieces[((state >> (k * 2 + 5)) % 8) as usize])
                .collect();
            let encoded = serde_json::to_string(&text).unwrap();
            for before in ["", "  ", "[1,"] {
                let buf = format!("{before}{encoded},\"next\"]");
                let start = before.len();
                assert_eq!(
                    string_end(buf.as_bytes(), start),
                    start + encoded.len(),
                    "{buf}"
                );
            }
        }
    }

    #[test]
    fn elements_members_and_scalars_of_checked_json() {
        let array = br#" [ 1 , "a\"b" , {"k": [2, 3]}, [], null ] "#;
        let spans: Vec<&[u8]> = elements(array).collect();
        assert_eq!(
            spans,
            [&b"1"[..], br#""a\"b""#, br#"{"k": [2, 3]}"#, b"[]", b"null"]
        );
        assert_eq!(slot_of(spans[1]), Slot::Str(Cow::Owned("a\"b".into())));
        assert_eq!(slot_of(spans[0]), Slot::Number("1"));
        assert!(is_null(spans[4]));
        assert_eq!(kind_of(spans[2]), "object");
        assert_eq!(elements(b"[]").count(), 0);
        assert_eq!(elements(b"{}").count(), 0, "an object has no elements");

        let object = br#"{"a\u0062": 1, "c" : {"d": "e"} , "a": true}"#;
        let got: Vec<(String, &[u8])> = members(object)
            .map(|(k, v)| (String::from_utf8(k.into_owned()).unwrap(), v))
            .collect();
        assert_eq!(
            got,
            [
                ("ab".to_string(), &b"1"[..]),
                ("c".to_string(), br#"{"d": "e"}"#),
                ("a".to_string(), b"true"),
            ]
        );
        assert_eq!(members(b"{ }").count(), 0);
        assert_eq!(members(b"[1]").count(), 0, "an array has no members");
    }

    /// Against serde_json on generated documents: the same elements and members, in order.
    #[test]
    fn walks_as_serde_json_reads() {
        use serde_json::Value;
        fn check(span: &[u8]) {
            let value: Value = serde_json::from_slice(span).unwrap();
            match &value {
                Value::Array(items) => {
                    let spans: Vec<&[u8]> = elements(span).collect();
                    assert_eq!(spans.len(), items.len());
                    for (s, item) in spans.iter().zip(items) {
                        assert_eq!(&serde_json::from_slice::<Value>(s).unwrap(), item);
                        check(s);
                    }
                }
                Value::Object(map) => {
                    let got: Vec<_> = members(span).collect();
                    assert_eq!(got.len(), map.len(), "no repeated names generated");
                    for (name, s) in got {
                        let name = std::str::from_utf8(&name).unwrap();
                        assert_eq!(&serde_json::from_slice::<Value>(s).unwrap(), &map[name]);
                        check(s);
                    }
                }
                _ => assert_eq!(kind_of(span), kind_name(&value)),
            }
        }
        fn kind_name(v: &Value) -> &'static str {
            match v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            }
        }
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        fn gen(next: &mut dyn FnMut() -> usize, depth: usize) -> Value {
            match next() % if depth > 3 { 4 } else { 6 } {
                0 => Value::Null,
                1 => Value::Bool(next().is_multiple_of(2)),
                2 => Value::from(next() as i64 - 1_000_000),
                3 => Value::from(format!("s\"\\{}é\u{1}", next() % 100)),
                4 => Value::Array((0..next() % 4).map(|_| gen(next, depth + 1)).collect()),
                _ => Value::Object(
                    (0..next() % 4)
                        .map(|i| (format!("k{i}\n"), gen(next, depth + 1)))
                        .collect(),
                ),
            }
        }
        for round in 0..300 {
            let value = gen(&mut next, 0);
            let text = if round % 2 == 0 {
                serde_json::to_string(&value).unwrap()
            } else {
                serde_json::to_string_pretty(&value).unwrap()
            };
            check(text.as_bytes());
        }
    }
}
