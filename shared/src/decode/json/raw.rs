//! Walking the JSON text of one value the scanner has already checked (the span of an object or
//! array a [`Slot`] carries): its elements, its members, its scalars. For nested columns and
//! paths into arrays, which need more of a value than the record's scan materialises.

use std::borrow::Cow;

use super::{Scanner, Slot};

/// The value `span` holds, as a slot (objects and arrays as their spans).
pub fn slot_of(span: &[u8]) -> Slot<'_> {
    let mut s = Scanner::new(span, 0, true);
    s.skip_ws();
    // The span was checked whole when its record was scanned: an error here cannot happen, and
    // would only read as a missing value.
    s.scalar(1).unwrap_or(Slot::Missing)
}

/// The kind of the value `span` holds (`"object"`, `"array"`, `"string"`, …).
pub fn kind_of(span: &[u8]) -> &'static str {
    match span.iter().find(|b| !b.is_ascii_whitespace()) {
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

/// Iterator over an array's elements (see [`elements`]); empty for anything but an array.
pub struct Elements<'a> {
    s: Scanner<'a>,
    done: bool,
}

impl<'a> Elements<'a> {
    fn open(span: &'a [u8], open: u8) -> Self {
        let mut s = Scanner::new(span, 0, true);
        s.skip_ws();
        let mut done = s.peek() != Ok(open);
        if !done {
            s.pos += 1;
            s.skip_ws();
            done = matches!(s.peek(), Ok(b']' | b'}') | Err(_));
        }
        Self { s, done }
    }

    /// The next value's span, and the scanner past the separator after it.
    fn value(&mut self) -> Option<&'a [u8]> {
        let start = self.s.pos;
        if self.s.skip_value(1).is_err() {
            self.done = true;
            return None;
        }
        let span = &self.s.buf[start..self.s.pos];
        self.s.skip_ws();
        match self.s.peek() {
            Ok(b',') => {
                self.s.pos += 1;
                self.s.skip_ws();
            }
            _ => self.done = true,
        }
        Some(span)
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
        let Ok(name) = self.0.s.member_name() else {
            self.0.done = true;
            return None;
        };
        self.0.value().map(|span| (name, span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
