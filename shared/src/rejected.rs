//! The rejected-records file of one source object: one JSON line per rejected record, with where
//! it was, why, and the record itself, so a person can fix and replay it.
//!
//! ```text
//! {"source":"s3://raw/iot/a.json","record_number":7,"line":7,"offset":812,"reason":"type_mismatch","field":"latitude","message":"...","record":{...}}
//! ```
//!
//! A record of a ZIP archive's member also names the member (`"member":"logs/a.json"`); its
//! number, line and offset are then counted within the member.
//!
//! A valid record is kept as written (on one line); one that is not valid JSON is kept as text in
//! `raw`, and in `raw_base64` too when it is not UTF-8, so no byte of it is lost.

use std::io::Write;

use serde::Serialize;

use crate::decode::RecordPos;
use crate::mapping::Reason;
use crate::output::{OutputError, OutputFile, OutputStore};

/// One rejected record.
#[derive(Debug, Clone, Copy)]
pub struct RejectedRecord<'a> {
    /// The ZIP archive's member it is in, for an archive.
    pub member: Option<&'a str>,
    /// Where it starts in the input (in the member, for an archive).
    pub pos: RecordPos,
    /// Its bytes as read.
    pub raw: &'a [u8],
    /// Whether `raw` is valid JSON (kept as JSON) or not (kept as text).
    pub valid_json: bool,
    /// Why it was rejected.
    pub reason: Reason,
    /// The column it was rejected for, if any.
    pub field: Option<&'a str>,
    /// What was wrong, for a person.
    pub message: &'a str,
}

/// Writes the rejected records of one source object to `key` of a store. The file is created at
/// the first rejected record, so an object without any leaves no file.
pub struct RejectedWriter<'s> {
    store: &'s dyn OutputStore,
    key: String,
    source_uri: String,
    file: Option<Box<dyn OutputFile>>,
    committed: bool,
}

impl<'s> RejectedWriter<'s> {
    /// A writer of the rejected records of the object at `source_uri` into `key` of `store`.
    pub fn new(store: &'s dyn OutputStore, key: String, source_uri: String) -> Self {
        Self {
            store,
            key,
            source_uri,
            file: None,
            committed: false,
        }
    }

    /// Appends one rejected record.
    pub fn write(&mut self, record: &RejectedRecord<'_>) -> Result<(), OutputError> {
        if self.file.is_none() {
            self.file = Some(self.store.create(&self.key)?);
        }
        let line = rejected_line(&self.source_uri, record);
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&line).map_err(|source| OutputError::Io {
            key: self.key.clone(),
            source,
        })
    }

    /// Makes the file visible (when there is one) and waits until it is.
    pub fn commit(&mut self) -> Result<(), OutputError> {
        if let Some(file) = self.file.take() {
            file.commit()?;
            self.committed = true;
        }
        self.store.sync()
    }

    /// The URI of the committed file; `None` when no record was rejected.
    pub fn uri(&self) -> Option<String> {
        self.committed.then(|| self.store.uri(&self.key))
    }

    /// Takes the file back: an uncommitted one is dropped (which discards it), a committed one
    /// deleted. Best effort, on a failure of the object as a whole.
    pub fn discard(&mut self) {
        self.file = None;
        let _ = self.store.sync();
        if std::mem::take(&mut self.committed) {
            let _ = self.store.delete(&self.key);
        }
    }
}

#[derive(Serialize)]
struct RejectedMeta<'a> {
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<&'a str>,
    record_number: u64,
    line: u64,
    offset: u64,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    message: &'a str,
}

/// The line of a rejected record, ending in `\n`.
fn rejected_line(source: &str, r: &RejectedRecord<'_>) -> Vec<u8> {
    let meta = RejectedMeta {
        source,
        member: r.member,
        record_number: r.pos.index,
        line: r.pos.line,
        offset: r.pos.offset,
        reason: r.reason.code(),
        field: r.field,
        message: r.message,
    };
    let mut line = serde_json::to_vec(&meta).expect("plain struct serialises");
    line.pop(); // the closing brace: the record itself is appended
    if r.valid_json {
        line.extend_from_slice(b",\"record\":");
        line.extend(one_line_json(r.raw));
    } else {
        // Every line is UTF-8 JSON; bytes that are not UTF-8 stay recoverable in base64.
        line.extend_from_slice(b",\"raw\":");
        let text = String::from_utf8_lossy(r.raw);
        line.extend(serde_json::to_vec(&text).expect("strings serialise"));
        if let std::borrow::Cow::Owned(_) = text {
            line.extend_from_slice(b",\"raw_base64\":\"");
            base64_into(r.raw, &mut line);
            line.push(b'"');
        }
    }
    line.extend_from_slice(b"}\n");
    line
}

/// A valid record as one line of JSON, exactly as written otherwise: valid JSON has no raw
/// control characters inside strings, so line breaks and tabs in it are blanks between tokens.
fn one_line_json(raw: &[u8]) -> impl Iterator<Item = u8> + '_ {
    raw.iter()
        .copied()
        .filter(|b| !matches!(b, b'\n' | b'\r' | b'\t'))
}

/// Appends `bytes` in standard base64 (RFC 4648, with padding).
fn base64_into(bytes: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base64(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        base64_into(bytes, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xFF, 0xFE, 0x00]), "//4A");
    }

    fn record<'a>(raw: &'a [u8], valid_json: bool) -> RejectedRecord<'a> {
        RejectedRecord {
            member: None,
            pos: RecordPos {
                index: 3,
                line: 4,
                offset: 50,
            },
            raw,
            valid_json,
            reason: Reason::TypeMismatch,
            field: Some("latitude"),
            message: "string at lat cannot be read as double: \"x\"",
        }
    }

    #[test]
    fn a_line_is_one_json_object_that_keeps_the_record() {
        let pretty = b"{\n\t\"lat\": \"x\",\r\n  \"n\": [1, 2]\n}";
        let line = rejected_line("s3://raw/a.json", &record(pretty, true));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["source"], "s3://raw/a.json");
        assert_eq!(
            (&v["record_number"], &v["line"], &v["offset"]),
            (&3.into(), &4.into(), &50.into())
        );
        assert_eq!(v["reason"], "type_mismatch");
        assert_eq!(v["field"], "latitude");
        assert_eq!(
            v["message"],
            "string at lat cannot be read as double: \"x\""
        );
        let original: serde_json::Value = serde_json::from_slice(pretty).unwrap();
        assert_eq!(v["record"], original);
        assert!(v.get("member").is_none());

        let in_member = RejectedRecord {
            member: Some("logs/b.json"),
            ..record(pretty, true)
        };
        let v: serde_json::Value =
            serde_json::from_slice(&rejected_line("s3://raw/a.zip", &in_member)).unwrap();
        assert_eq!(v["member"], "logs/b.json");
    }

    #[test]
    fn bytes_that_are_not_json_or_not_utf8_are_recoverable() {
        let text = b"{\"a\": 1,,}";
        let v: serde_json::Value =
            serde_json::from_slice(&rejected_line("s", &record(text, false))).unwrap();
        assert_eq!(v["raw"], "{\"a\": 1,,}");
        assert!(v.get("raw_base64").is_none());
        let binary = b"{\"a\":\"\xFF\xFE\"}\x00";
        let v: serde_json::Value =
            serde_json::from_slice(&rejected_line("s", &record(binary, false))).unwrap();
        assert_eq!(v["raw"], "{\"a\":\"\u{FFFD}\u{FFFD}\"}\u{0}");
        assert_eq!(v["raw_base64"], base64(binary));
    }
}
