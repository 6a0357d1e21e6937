//! ZIP archives (written by Python's `zipfile`): each member is read as an object of its own would
//! be, so an archive gives exactly the rows and rejections of its members transformed one by one,
//! with the member named in every rejection and in a failure.

use super::*;
use crate::decode::zip::tests::{python_zip, Spec};

/// Members of every layout the decoder reads, with rejections in them: NDJSON with bad lines
/// and no final line end, concatenated JSON, a JSON array, a gzipped member, an empty one.
fn members(round: u32) -> Vec<Spec> {
    let record = |n: u32| format!("{{\"n\":{n},\"k\":\"k{}\"}}", (n * 7 + round) % 5);
    let ndjson = (0..300)
        .map(|n| match n % 37 {
            0 => "not json".to_string(),
            1 => format!("{{\"n\":\"x{n}\",\"k\":\"a\"}}"),
            _ => record(round * 10_000 + n),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let concatenated: String = (0..50)
        .map(|n| record(round * 10_000 + 1_000 + n))
        .collect();
    let array = format!(
        "[{}]",
        (0..40)
            .map(|n| record(round * 10_000 + 2_000 + n))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let gzipped = compress(
        Compression::Gzip,
        (0..60)
            .map(|n| record(round * 10_000 + 3_000 + n) + "\n")
            .collect::<String>()
            .as_bytes(),
    );
    let mut members = vec![
        Spec::new("logs/", ""),
        Spec::new("logs/a.ndjson", ndjson),
        Spec::new("logs/b.json", concatenated),
        Spec::new("c.json", array),
        Spec::new("d.json.gz", gzipped),
        Spec::new("empty.json", ""),
    ];
    let turn = round as usize % members.len();
    members.rotate_left(turn);
    for (i, m) in members.iter_mut().enumerate() {
        m.deflated = !(i as u32 + round).is_multiple_of(3);
        m.zip64 = (i as u32 + round).is_multiple_of(4);
    }
    members
}

/// A rejection without its source and member: where it was in its member, and why.
fn rejection_in_member(line: &serde_json::Value) -> serde_json::Value {
    let mut line = line.clone();
    let fields = line.as_object_mut().unwrap();
    fields.remove("source");
    fields.remove("member");
    line
}

#[test]
fn an_archive_gives_the_rows_and_rejections_of_its_members_one_by_one() {
    let d = by_value();
    for round in 0..6 {
        let seekable = round % 2 == 0;
        let mut members = members(round);
        if !seekable {
            // Written to a stream, a stored member's size comes after it: not readable in one pass.
            members.iter_mut().for_each(|m| m.deflated = true);
        }
        let archive = python_zip(&members, seekable, "");
        let o = out();
        let s = run(&d, &archive, &o).unwrap();

        let (mut rows, mut records_in, mut written, mut decoded) = (Vec::new(), 0, 0, 0);
        let mut rejections = Vec::new();
        let files_in_it = members.iter().filter(|m| !m.name.ends_with('/'));
        for m in files_in_it.clone() {
            let alone = out();
            let one = run(&d, &m.data, &alone).unwrap();
            rows.extend(rows_by_directory(alone.data.root()));
            records_in += one.records_in;
            written += one.records_written;
            decoded += one.bytes_decoded;
            let lines = rejected_lines(&alone);
            rejections.extend(
                lines
                    .iter()
                    .map(|l| (m.name.clone(), rejection_in_member(l))),
            );
        }
        rows.sort();
        assert_eq!(rows_by_directory(o.data.root()), rows, "round {round}");
        assert_eq!(
            (s.records_in, s.records_written, s.bytes_decoded),
            (records_in, written, decoded)
        );
        assert_eq!(s.records_in, s.records_written + s.records_rejected);
        assert_eq!(s.archive_members, files_in_it.count() as u64);
        assert_eq!(s.bytes_in, archive.len() as u64);

        let got: Vec<_> = rejected_lines(&o)
            .iter()
            .map(|l| {
                assert_eq!(l["source"], "s3://raw/iot/a.json");
                (
                    l["member"].as_str().unwrap().to_string(),
                    rejection_in_member(l),
                )
            })
            .collect();
        assert_eq!(got, rejections, "round {round}");
        assert!(rejections.len() > 10);
    }
}

#[test]
fn a_failure_inside_a_member_names_it_and_leaves_nothing_behind() {
    let mut d = by_value();
    d.output.row_group_rows = 10; // files are committed before the failure is reached
    let good = (0..500)
        .map(|n| format!("{{\"n\":{n},\"k\":\"a\"}}\n"))
        .collect::<String>();
    let archive = python_zip(
        &[
            Spec::new("good.json", good),
            Spec::new("broken.json", "[{\"n\":1},{\"n\":]"),
        ],
        true,
        "",
    );
    let o = out();
    let err = run(&d, &archive, &o).unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().starts_with(
            "s3://raw/iot/a.json, member broken.json: the JSON array is broken at line 1"
        ),
        "{err}"
    );
    assert_eq!(files(o.data.root()), Vec::<String>::new());
    assert_eq!(files(o.rejected.root()), Vec::<String>::new());
}

/// A damaged member, a central directory that disowns a member, and more bytes than
/// `max_decompressed_mb` over all members each fail the object after its first member was written.
#[test]
fn a_damaged_or_oversized_archive_fails_as_a_whole() {
    let mut d = by_value();
    d.output.row_group_rows = 10;
    d.max_decompressed_mb = 1;
    let member = |n: u32| {
        (0..30_000)
            .map(|i| format!("{{\"n\":{},\"k\":\"a\"}}\n", n + i))
            .collect::<String>()
    };
    let (first, second) = (member(0), member(100_000));
    assert!(first.len() < 1 << 20 && first.len() + second.len() > 1 << 20);

    let mut damaged = python_zip(&[Spec::new("a.json", first.clone())], true, "");
    let crc_at = 14;
    damaged[crc_at] ^= 1;
    let too_big = python_zip(
        &[Spec::new("a.json", first), Spec::new("b.json", second)],
        true,
        "",
    );
    for (archive, message) in [
        (damaged, "s3://raw/iot/a.json, member a.json: cannot read the input: the ZIP archive member a.json does not match its CRC-32"),
        (too_big, "s3://raw/iot/a.json, member b.json: cannot read the input: the object decompresses to more than 1 MiB"),
    ] {
        let o = out();
        let err = run(&d, &archive, &o).unwrap_err();
        assert!(err.to_string().starts_with(message), "{err}");
        assert!(!err.is_retryable());
        assert_eq!(files(o.data.root()), Vec::<String>::new());
    }
}
