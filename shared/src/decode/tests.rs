use super::*;
use std::io::Write;

/// (index, line, ok/err, raw text, first slot as text)
type Seen = Vec<(u64, u64, bool, String, String)>;

fn read_all(bytes: Vec<u8>) -> Result<Seen, DecodeError> {
    read_with(bytes, None)
}

/// The records of `bytes`, read as the elements of the `records` member's array when given.
fn read_with(bytes: Vec<u8>, records: Option<&str>) -> Result<Seen, DecodeError> {
    let (input, _) = open_input(std::io::Cursor::new(bytes), u64::MAX).unwrap();
    std::thread::scope(|s| read_records(ReadAhead::scoped(s, "test", input).unwrap(), records))
}

fn read_records(chunks: ReadAhead, records: Option<&str>) -> Result<Seen, DecodeError> {
    let mut reader = RecordReader::new(chunks);
    if let Some(key) = records {
        let path: Vec<String> = key.split('.').map(String::from).collect();
        reader = reader.with_records_path(&path);
    }
    let tree = PathTree::new([vec!["id".to_string()]].iter().map(|p| p.as_slice()));
    let mut seen = Vec::new();
    let mut unknown = UnknownFields::default();
    reader.for_each(&tree, 1, &mut unknown, |r| {
        match r {
            Record::Parsed {
                pos, raw, slots, ..
            } => seen.push((
                pos.index,
                pos.line,
                true,
                String::from_utf8_lossy(raw).into_owned(),
                format!("{:?}", slots[0]),
            )),
            Record::Invalid { pos, raw, error } => seen.push((
                pos.index,
                pos.line,
                false,
                String::from_utf8_lossy(raw).into_owned(),
                error,
            )),
        }
        Ok::<(), DecodeError>(())
    })?;
    Ok(seen)
}

fn ids(seen: &Seen) -> Vec<String> {
    seen.iter().filter(|s| s.2).map(|s| s.4.clone()).collect()
}

const THREE: [&str; 3] = ["Number(\"1\")", "Number(\"2\")", "Number(\"3\")"];

#[test]
fn ndjson_concatenated_and_array_layouts_agree() {
    for input in [
        "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n",
        "{\"id\":1}\r\n{\"id\":2}\r\n{\"id\":3}",
        "{\"id\":1}{\"id\":2}{\"id\":3}",
        "{\"id\":1} {\"id\":2}\t{\"id\":3}",
        "[{\"id\":1},{\"id\":2},\n{\"id\":3}]",
        "[\n  {\"id\": 1},\n  {\"id\": 2}\n]\n[{\"id\":3}]",
        "\u{feff}{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n",
        "{\n  \"id\": 1\n}\n{\n  \"id\": 2\n}\n{\"id\":3}",
    ] {
        let seen = read_all(input.as_bytes().to_vec()).unwrap();
        assert_eq!(ids(&seen), THREE, "{input:?}");
        assert_eq!(seen.len(), 3, "{input:?}");
    }
}

#[test]
fn gzip_is_detected_by_magic_bytes_including_multi_member() {
    let mut bytes = Vec::new();
    for part in ["{\"id\":1}\n{\"id\":2}\n", "{\"id\":3}\n"] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(part.as_bytes()).unwrap();
        bytes.extend(gz.finish().unwrap());
    }
    assert_eq!(ids(&read_all(bytes).unwrap()), THREE);
}

#[test]
fn corrupt_gzip_is_an_io_error() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&[b'{'; 10_000]).unwrap();
    let mut bytes = gz.finish().unwrap();
    let n = bytes.len();
    bytes[n / 2..].iter_mut().for_each(|b| *b ^= 0x5a);
    assert!(matches!(read_all(bytes), Err(DecodeError::Io(_))));
}

#[test]
fn invalid_ndjson_lines_are_reported_and_reading_goes_on() {
    let input = "{\"id\":1}\nnot json\n{\"id\":\"unterminated\n{\"id\":2}\n[1,2]\n{\"id\":3,}\n{\"id\":3}\n";
    let seen = read_all(input.as_bytes().to_vec()).unwrap();
    let summary: Vec<(u64, u64, bool, &str)> =
        seen.iter().map(|s| (s.0, s.1, s.2, s.3.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            (1, 1, true, "{\"id\":1}"),
            (2, 2, false, "not json"),
            (3, 3, false, "{\"id\":\"unterminated"),
            (4, 4, true, "{\"id\":2}"),
            // A top-level array is a list of records: two records, neither an object.
            (5, 5, true, "1"),
            (6, 5, true, "2"),
            (7, 6, false, "{\"id\":3,}"),
            (8, 7, true, "{\"id\":3}"),
        ]
    );
    assert_eq!(
        seen[1].4,
        "invalid JSON at line 2, column 1: expected true, false or null"
    );
    assert_eq!(
        seen[6].4,
        "invalid JSON at line 6, column 9: expected a '\"' to start an object key"
    );
}

#[test]
fn a_broken_pretty_printed_object_is_one_rejection() {
    let input = "{\n  \"id\": 1,\n  \"x\": oops\n}\n{\n  \"id\": 2\n}\n";
    let seen = read_all(input.as_bytes().to_vec()).unwrap();
    assert_eq!(seen.len(), 2);
    assert!(!seen[0].2);
    assert_eq!(seen[0].3, "{\n  \"id\": 1,\n  \"x\": oops\n}");
    assert!(seen[0].4.contains("line 3, column 8"), "{}", seen[0].4);
    assert_eq!((seen[1].1, seen[1].4.as_str()), (5, "Number(\"2\")"));
}

#[test]
fn a_truncated_last_line_is_rejected_not_fatal() {
    let seen = read_all(b"{\"id\":1}\n{\"id\":2".to_vec()).unwrap();
    assert_eq!(seen.len(), 2);
    assert!(!seen[1].2);
}

#[test]
fn a_broken_array_fails_the_object_with_its_position() {
    let err = read_all(b"[{\"id\":1},\n {\"id\":2} {\"id\":3}]".to_vec()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the JSON array is broken at line 2, column 11 (byte 21): expected ',' or ']' after an array element"
    );
    let err = read_all(b"[{\"id\":1},{\"id\":".to_vec()).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
    let err = read_all(b"[{\"id\":1},".to_vec()).unwrap_err();
    assert!(
        err.to_string().contains("']' to close the JSON array"),
        "{err}"
    );
    let err = read_all(b"[{\"id\":1},]".to_vec()).unwrap_err();
    assert!(err.to_string().contains("expected a JSON value"), "{err}");
}

#[test]
fn records_spanning_read_chunks_are_reassembled() {
    // Records straddle the 1 MiB chunk boundary many times over; line numbers stay exact.
    let mut input = String::new();
    let pad = "x".repeat(1000);
    let n = 10_000;
    for i in 0..n {
        input.push_str(&format!("{{\"id\":{i},\"pad\":\"{pad}\"}}\n"));
    }
    let seen = read_all(input.into_bytes()).unwrap();
    assert_eq!(seen.len(), n);
    for (i, s) in seen.iter().enumerate() {
        assert_eq!((s.0, s.1), (i as u64 + 1, i as u64 + 1));
        assert_eq!(s.4, format!("Number(\"{i}\")"));
    }
}

#[test]
fn records_longer_than_the_room_before_a_chunk_are_gathered_whole() {
    use crate::read_ahead::{CHUNK, HEADROOM};
    // Around the room in front of a chunk, and longer than several chunks; pretty-printed across
    // lines, after a byte order mark, with short records between.
    let pads = [
        HEADROOM - 20,
        HEADROOM + 1,
        10,
        3 * CHUNK + 7,
        2 * HEADROOM,
        CHUNK,
        5,
    ];
    let mut input = String::from("\u{feff}");
    let mut expected = Vec::new();
    let mut line = 1;
    for (i, pad) in pads.iter().enumerate() {
        let record = format!("{{\n\"id\": {i},\n\"pad\": \"{}\"}}", "y".repeat(*pad));
        input.push_str(&record);
        input.push('\n');
        expected.push((i as u64 + 1, line, record));
        line += 3;
    }
    let seen = read_all(input.into_bytes()).unwrap();
    let got: Vec<_> = seen.into_iter().map(|s| (s.0, s.1, s.3)).collect();
    assert!(got == expected, "records differ");
}

#[test]
fn a_record_longer_than_the_limit_fails_the_object_with_its_line() {
    // The limit is checked when more input is needed: past it by more than a chunk, a record
    // surely fails.
    let mut input = String::from("{\"id\":1}\n{\"id\":2}\n{\"pad\":\"");
    input.push_str(&"z".repeat(MAX_RECORD_BYTES + 2 * crate::read_ahead::CHUNK));
    input.push_str("\"}\n");
    match read_all(input.into_bytes()) {
        Err(DecodeError::RecordTooLarge { line }) => assert_eq!(line, 3),
        Err(other) => panic!("{other}"),
        Ok(seen) => panic!("{} records read", seen.len()),
    }
}

#[test]
fn empty_and_blank_inputs_have_no_records() {
    for input in ["", "\n\n  \r\n", "[]", "[ ]\n"] {
        assert!(
            read_all(input.as_bytes().to_vec()).unwrap().is_empty(),
            "{input:?}"
        );
    }
}

proptest::proptest! {
    /// Whatever mix of compact, pretty-printed, broken and blank lines comes in, every record's
    /// line is the number of newlines before it plus one (the reader counts lines as it scans).
    #[test]
    fn record_lines_match_the_newlines_before_them(
        picks in proptest::collection::vec(0usize..7, 1..60)
    ) {
        const PIECES: [&str; 7] = [
            "{\"id\":1}\n",
            "{\n  \"id\": 2,\n  \"x\": [1,\n 2]\n}\n",
            "not json\n",
            "\n\r\n",
            "[{\"id\":3},\n{\"id\":4}]\n",
            "{\"id\":\"cut\n",
            "{\n  \"id\": 5,\n  \"x\": oops\n}\n",
        ];
        let input: String = picks.iter().map(|&i| PIECES[i]).collect();
        let (decoded, _) = open_input(std::io::Cursor::new(input.clone().into_bytes()), u64::MAX).unwrap();
        let tree = PathTree::new([vec!["id".to_string()]].iter().map(|p| p.as_slice()));
        let mut unknown = UnknownFields::default();
        let mut seen = Vec::new();
        std::thread::scope(|s| {
            let mut reader = RecordReader::new(ReadAhead::scoped(s, "test", decoded).unwrap());
            reader
                .for_each(&tree, 1, &mut unknown, |r| {
                    let pos = match r {
                        Record::Parsed { pos, .. } | Record::Invalid { pos, .. } => pos,
                    };
                    seen.push(pos);
                    Ok::<(), DecodeError>(())
                })
                .unwrap();
        });
        for pos in seen {
            let newlines = input.as_bytes()[..pos.offset as usize]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            proptest::prop_assert_eq!(pos.line, newlines + 1, "{:?} in {:?}", pos, input);
        }
    }
}

#[test]
fn in_ndjson_an_invalid_line_never_takes_the_next_line_with_it() {
    // Lines that start with blanks, and a truncated line whose error shows only on the next line.
    let input = "{\"id\":1,}\n {\"id\":2}\n{\"id\":3,\n\t{\"id\":4}\n  garbage\n{\"id\":6}\n";
    let seen = read_all(input.as_bytes().to_vec()).unwrap();
    let verdicts: Vec<(u64, bool)> = seen.iter().map(|s| (s.1, s.2)).collect();
    assert_eq!(
        verdicts,
        [
            (1, false),
            (2, true),
            (3, false),
            (4, true),
            (5, false),
            (6, true)
        ]
    );
    assert_eq!(
        ids(&seen),
        ["Number(\"2\")", "Number(\"4\")", "Number(\"6\")"]
    );
}

#[test]
fn after_a_pretty_printed_record_a_broken_one_is_skipped_whole() {
    let input = "{\n  \"id\": 1\n}\n{ \"id\": 2,\n  \"x\": oops\n}\n{\n  \"id\": 3\n}\n";
    let seen = read_all(input.as_bytes().to_vec()).unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen.iter().map(|s| s.2).collect::<Vec<_>>(),
        [true, false, true]
    );
    assert_eq!(ids(&seen), ["Number(\"1\")", "Number(\"3\")"]);
}

#[test]
fn a_line_cut_after_a_comma_does_not_take_the_next_line_as_its_rest() {
    // Together the two lines would be one valid object with fields of two records.
    let seen = read_all(b"{\"id\":1,\n\"x\":2}\n{\"id\":3}\n".to_vec()).unwrap();
    assert_eq!((seen[0].1, seen[0].2), (1, false));
    assert!(seen[0].4.contains("to end on its line"), "{}", seen[0].4);
    assert!(seen[1..].iter().all(|s| s.1 >= 2));
    // Line 2 alone is the string "x" (not an object) and an invalid rest; line 3 is a record.
    assert_eq!(
        seen.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
        [(1, false), (2, true), (2, false), (3, true)]
    );
    assert_eq!(ids(&seen), ["Missing", "Number(\"3\")"]);
    // Pretty-printed, the same object is one record.
    let seen = read_all(b"{\n\"id\":1,\n\"x\":2}\n{\"id\":3}\n".to_vec()).unwrap();
    assert_eq!(ids(&seen), ["Number(\"1\")", "Number(\"3\")"]);
}

/// CloudTrail's layout: the records are the elements of `Records` in each document, streamed;
/// the documents' other members are checked and skipped, before the array or after it.
#[test]
fn records_inside_a_wrapper_are_streamed_element_by_element() {
    let key = Some("Records");
    let cloudtrail = "{\"Records\":[{\"id\":1},{\"id\":2}]}\n{\"Records\":[{\"id\":3}]}\n";
    assert_eq!(ids(&read_with(cloudtrail.into(), key).unwrap()), THREE);
    // Pretty-printed, members around the array, an escaped key, a document per line or not.
    let pretty = r#"{
  "version": {"nested": [1, {"Records": "not these"}]},
  "Re\u0063ords": [
    {"id": 1},
    {"id": 2}
  ],
  "after": "x"
}{"Records":[],"Records":[{"id":3}]}"#;
    let seen = read_with(pretty.into(), key).unwrap();
    assert_eq!(ids(&seen), THREE);
    assert_eq!(
        seen.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        [(1, 4), (2, 5), (3, 8)],
        "record numbers and lines as in the input"
    );
    // An element that is not valid JSON breaks the array: no safe place to resume.
    let err = read_with("{\"Records\":[{\"id\":1},{\"id\" 2}]}".into(), key).unwrap_err();
    assert!(
        matches!(err, DecodeError::Malformed { line: 1, .. }),
        "{err}"
    );
    let err = read_with("{\"Records\":[{\"id\":1}]".into(), key).unwrap_err();
    assert!(
        err.to_string().contains("'}' to close the document"),
        "{err}"
    );
    let err = read_with("{\"Records\":[{\"id\":1}] \"x\":1}".into(), key).unwrap_err();
    assert!(
        err.to_string()
            .contains("',' or '}' after a member of the document"),
        "{err}"
    );
    // A document without the array is one rejected record that says so.
    let seen = read_with(
        "{\"records\":[{\"id\":1}]}\n{\"Records\":[{\"id\":2}]}".into(),
        key,
    )
    .unwrap();
    assert_eq!(ids(&seen), ["Number(\"2\")"]);
    assert!(
        !seen[0].2 && seen[0].4.contains("has no \"Records\" array of records"),
        "{seen:?}"
    );
    assert_eq!((seen[0].0, seen[1].0), (1, 2));
}

/// A document far larger than a read chunk, with a skipped member and elements cut by chunk
/// ends: every element once, in order.
#[test]
fn a_wrapper_larger_than_a_chunk_reads_every_element() {
    let filler = "x".repeat(3 * crate::read_ahead::CHUNK / 2);
    let n = 60_000;
    let mut doc = format!("{{\"meta\":\"{filler}\",\"Records\":[");
    for i in 0..n {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(
            "{{\"id\":{i},\"pad\":\"{}\"}}",
            "y".repeat(i % 50)
        ));
    }
    doc.push_str("]}");
    let seen = read_with(doc.into_bytes(), Some("Records")).unwrap();
    assert_eq!(seen.len(), n);
    assert!(seen
        .iter()
        .enumerate()
        .all(|(i, s)| s.2 && s.4 == format!("Number(\"{i}\")")));
}

/// Each record's `id` and the document members handed on with it (those longer than 100 bytes
/// by their length and last bytes).
fn with_documents(bytes: Vec<u8>, members: &[&str]) -> Result<Vec<(String, String)>, DecodeError> {
    let (input, _) = open_input(std::io::Cursor::new(bytes), u64::MAX).unwrap();
    std::thread::scope(|s| {
        let chunks = ReadAhead::scoped(s, "test", input).unwrap();
        let mut reader = RecordReader::new(chunks)
            .with_records_path(&["logEvents".to_string()])
            .with_document_members(members.iter().map(|m| m.to_string()).collect());
        let tree = PathTree::new([vec!["id".to_string()]].iter().map(|p| p.as_slice()));
        let mut seen = Vec::new();
        reader.for_each(&tree, 1, &mut UnknownFields::default(), |r| {
            if let Record::Parsed {
                slots, document, ..
            } = r
            {
                let shown = match document.len() {
                    0..=100 => String::from_utf8(document.to_vec()).unwrap(),
                    n => format!(
                        "{n} bytes ending {}",
                        String::from_utf8_lossy(&document[n - 10..])
                    ),
                };
                seen.push((format!("{:?}", slots[0]), shown));
            }
            Ok::<(), DecodeError>(())
        })?;
        Ok(seen)
    })
}

/// CloudWatch Logs' layout: the members of the document that fields read come with each of its
/// records, as one JSON object, wherever they are in it.
#[test]
fn the_documents_members_come_with_each_of_its_records() {
    let input = concat!(
        r#"{"messageType":"DATA_MESSAGE","owner":"1234","logGroup":"/aws/lambda/f","#,
        r#""subscriptionFilters":["a"],"logEvents":[{"id":1},{"id":2}],"after":1}"#,
        "\n",
        "{ \"logGroup\" : { \"name\" : [1, \"x\"] } ,\n \"logEvents\": [{\"id\":3}]}\n",
        r#"{"owner":"9","logEvents":[{"id":4}]}"#,
        "\n",
        r#"[{"id":5}]"#,
    );
    let seen = with_documents(input.into(), &["logGroup", "owner"]).unwrap();
    let doc1 = r#"{"owner":"1234","logGroup":"/aws/lambda/f"}"#;
    let doc2 = "{\"logGroup\" : { \"name\" : [1, \"x\"] }}";
    let want = [
        ("1", doc1),
        ("2", doc1),
        ("3", doc2),
        ("4", r#"{"owner":"9"}"#),
        ("5", ""),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(id, d)| (format!("Number(\"{id}\")"), d.to_string()))
        .collect();
    assert_eq!(seen, want);
    for (_, document) in &seen[..4] {
        let parsed: serde_json::Value = serde_json::from_str(document).unwrap();
        assert!(parsed.is_object(), "a JSON object: {document}");
    }

    // Members after the records (keys sorted by the producer) come with them too; a document
    // broken after its records fails before any of them is handed on.
    let late = r#"{"logEvents":[{"id":1}],"logGroup":"g","owner":"1"}"#;
    let seen = with_documents(late.into(), &["logGroup"]).unwrap();
    assert_eq!(seen[0].1, r#"{"logGroup":"g"}"#);
    let broken = r#"{"logEvents":[{"id":1}],"logGroup":"g" "owner":"1"}"#;
    let err = with_documents(broken.into(), &["logGroup"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("',' or '}' after a member of the document"),
        "{err}"
    );

    // A kept member larger than a read chunk, and records cut by chunk ends.
    let filler = "x".repeat(3 * crate::read_ahead::CHUNK / 2);
    let mut doc = format!("{{\"logGroup\":\"{filler}\",\"logEvents\":[");
    let n = 15_000;
    for i in 0..n {
        doc.push_str(&format!(
            "{}{{\"id\":{i},\"pad\":\"{}\"}}",
            if i > 0 { "," } else { "" },
            "y".repeat(i % 50)
        ));
    }
    doc.push_str("]}");
    let seen = with_documents(doc.into_bytes(), &["logGroup"]).unwrap();
    assert_eq!(seen.len(), n);
    let kept = format!("{} bytes ending xxxxxxxx\"}}", filler.len() + 15);
    assert!(seen
        .iter()
        .enumerate()
        .all(|(i, (id, d))| *id == format!("Number(\"{i}\")") && *d == kept));
}

/// Records further in (`records = "detail.items"`, as EventBridge and AWS Config deliver them):
/// the objects on the way are entered, their other members skipped; a document whose path is not
/// there, or not objects on the way, has no records and says so.
#[test]
fn records_at_a_nested_path_are_streamed_element_by_element() {
    let key = Some("detail.batch.items");
    let input = concat!(
        r#"{"version":"0","detail":{"meta":{"items":[{"id":9}]},"batch":{"items":[{"id":1},{"id":2}],"n":2},"after":[]},"items":[{"id":9}]}"#,
        "\n",
        "{\n  \"detail\": {\n    \"batch\": {\n      \"items\": [\n        {\"id\": 3}\n      ]\n    }\n  }\n}\n",
        r#"{"detail":"x"}"#,
        "\n",
        r#"{"detail":{"batch":{"items":{"id":9}}}}"#,
        "\n",
        r#"{"items":[{"id":9}]}"#,
    );
    let seen = read_with(input.into(), key).unwrap();
    assert_eq!(ids(&seen), THREE);
    assert_eq!(
        seen.iter().map(|s| (s.0, s.1, s.2)).collect::<Vec<_>>(),
        [
            (1, 1, true),
            (2, 1, true),
            (3, 6, true),
            (4, 11, false),
            (5, 12, false),
            (6, 13, false)
        ]
    );
    assert!(
        seen[3]
            .4
            .contains("has no \"detail.batch.items\" array of records"),
        "{:?}",
        seen[3]
    );
    // A document broken after its records still fails the object.
    let err = read_with(
        r#"{"detail":{"batch":{"items":[{"id":1}]} "x":1}}"#.into(),
        key,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("',' or '}' after a member of the document"),
        "{err}"
    );

    // A document larger than a read chunk, the records cut by chunk ends.
    let filler = "x".repeat(3 * crate::read_ahead::CHUNK / 2);
    let mut doc = format!("{{\"detail\":{{\"pad\":\"{filler}\",\"batch\":{{\"items\":[");
    let n = 20_000;
    for i in 0..n {
        doc.push_str(&format!("{}{{\"id\":{i}}}", if i > 0 { "," } else { "" }));
    }
    doc.push_str("]}}}");
    let seen = read_with(doc.into_bytes(), key).unwrap();
    assert_eq!(seen.len(), n);
    assert!(seen
        .iter()
        .enumerate()
        .all(|(i, s)| s.2 && s.4 == format!("Number(\"{i}\")")));
}

/// Generated documents (the path's objects present or not, of other kinds, with members around
/// them that hold look-alike arrays): the records read are the elements serde_json finds at the
/// path, one rejected record for each document without them.
#[test]
fn records_at_a_nested_path_are_what_serde_json_finds_there() {
    use serde_json::{json, Value};
    let mut state = 17u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut id = 0;
    let mut input = String::new();
    let mut want: Vec<Option<i64>> = Vec::new();
    for _ in 0..2_000 {
        let mut items: Vec<Value> = Vec::new();
        for _ in 0..next(4) {
            id += 1;
            items.push(json!({ "id": id, "pad": [1, {"items": [0]}] }));
        }
        let batch = match next(8) {
            0 => json!("not an object"),
            1 => json!({ "items": {"id": 0} }),
            2 => json!({ "other": items }),
            _ => json!({ "before": {"items": [0]}, "items": items, "after": next(9) }),
        };
        let doc = match next(10) {
            0 => json!({ "batch": batch }),
            1 => json!({ "detail": [batch] }),
            _ => json!({ "id": "doc", "detail": { "x": null, "batch": batch }, "tail": [] }),
        };
        match doc.pointer("/detail/batch/items").and_then(Value::as_array) {
            Some(found) => want.extend(found.iter().map(|r| r["id"].as_i64())),
            None => want.push(None),
        }
        input.push_str(&doc.to_string());
        input.push_str(["\n", "", " \r\n"][next(3) as usize]);
    }
    let seen = read_with(input.into_bytes(), Some("detail.batch.items")).unwrap();
    let got: Vec<Option<i64>> = seen
        .iter()
        .map(|s| {
            s.2.then(|| {
                s.4.trim_start_matches("Number(\"")
                    .trim_end_matches("\")")
                    .parse()
                    .unwrap()
            })
        })
        .collect();
    assert_eq!(got, want);
    assert!(want.iter().filter(|w| w.is_none()).count() > 300);
}
