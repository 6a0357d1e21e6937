//! Archives written by Python's `zipfile` (a writer we did not write), read back member by member;
//! damaged and cut copies of them either fail or read back exactly what was archived.

use std::io::{BufReader, Read, Write};
use std::process::{Command, Stdio};

use serde_json::json;

use super::*;

/// How a member is written.
#[derive(Clone)]
pub(crate) struct Spec {
    pub name: String,
    pub data: Vec<u8>,
    pub deflated: bool,
    pub zip64: bool,
}

impl Spec {
    pub fn new(name: &str, data: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            data: data.into(),
            deflated: true,
            zip64: false,
        }
    }
}

/// An archive of `members` as Python's `zipfile` writes it: to a file it can seek in, or to a
/// stream it cannot (each member's CRC-32 and sizes then follow its data in a data descriptor,
/// as Java's `ZipOutputStream` and Go's `archive/zip` write them).
pub(crate) fn python_zip(members: &[Spec], seekable: bool, comment: &str) -> Vec<u8> {
    let spec = json!({
        "seekable": seekable,
        "comment": comment,
        "members": members.iter().map(|m| json!({
            "name": m.name,
            "data": m.data.iter().map(|&b| b as u32).collect::<Vec<_>>(),
            "deflated": m.deflated,
            "zip64": m.zip64,
        })).collect::<Vec<_>>(),
    });
    let script = r#"
import io, json, sys, zipfile
spec = json.load(sys.stdin)
class Unseekable(io.RawIOBase):
    def __init__(self): self.out = bytearray()
    def writable(self): return True
    def seekable(self): return False
    def write(self, b): self.out += b; return len(b)
target = io.BytesIO() if spec["seekable"] else Unseekable()
with zipfile.ZipFile(target, "w") as z:
    z.comment = spec["comment"].encode()
    for m in spec["members"]:
        info = zipfile.ZipInfo(m["name"], date_time=(2024, 5, 1, 12, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED if m["deflated"] else zipfile.ZIP_STORED
        if m["name"].endswith("/"):
            info.external_attr = 0o40755 << 16 | 0x10
        with z.open(info, "w", force_zip64=m["zip64"]) as f:
            f.write(bytes(m["data"]))
sys.stdout.buffer.write(target.getvalue() if spec["seekable"] else bytes(target.out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = serde_json::to_vec(&spec).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python's zipfile failed");
    out.stdout
}

/// Every member (folders included) with its bytes, read through a buffer of `buffer` bytes.
fn read_members(archive: &[u8], buffer: usize) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut zip = ZipReader::new(BufReader::with_capacity(buffer, archive));
    let mut members = Vec::new();
    while let Some(mut member) = zip.next_member()? {
        let mut data = Vec::new();
        member.read_to_end(&mut data)?;
        members.push((member.name().to_string(), data));
    }
    assert_eq!(zip.members_read(), members.len());
    Ok(members)
}

fn expected(members: &[Spec]) -> Vec<(String, Vec<u8>)> {
    members
        .iter()
        .map(|m| (m.name.clone(), m.data.clone()))
        .collect()
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Member contents of every kind: empty, one byte, NDJSON, incompressible bytes, long runs
/// (deflate's best case), larger than the buffers.
fn contents(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => Vec::new(),
        1 => vec![b'{'],
        2 => (0..rng.below(2_000))
            .map(|i| format!("{{\"device_id\":\"d{}\",\"n\":{i}}}\n", rng.below(50)))
            .collect::<String>()
            .into_bytes(),
        3 => (0..rng.below(70_000)).map(|_| rng.next() as u8).collect(),
        4 => vec![b'a'; rng.below(300_000) as usize],
        _ => (0..rng.below(400_000))
            .map(|i| b"[{\"a\":1},\n"[i as usize % 10])
            .collect(),
    }
}

/// An archive's members, whether it was written seekable, and its bytes.
type Archive = (Vec<Spec>, bool, Vec<u8>);

/// Archives of generated members (written once for the tests that share them).
fn generated_archives() -> &'static [Archive] {
    static ARCHIVES: std::sync::OnceLock<Vec<Archive>> = std::sync::OnceLock::new();
    ARCHIVES.get_or_init(generate_archives)
}

fn generate_archives() -> Vec<Archive> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..24)
        .map(|round| {
            let members: Vec<Spec> = (0..rng.below(5))
                .map(|i| {
                    let folder = if rng.below(3) == 0 { "logs/2024/" } else { "" };
                    let name = match rng.below(4) {
                        0 => format!("{folder}événements-{i}.json"),
                        _ => format!("{folder}part-{round}-{i}.ndjson"),
                    };
                    let mut spec = Spec::new(&name, contents(&mut rng));
                    spec.zip64 = rng.below(4) == 0;
                    spec.deflated = rng.below(3) != 0;
                    spec
                })
                .collect();
            let seekable = round % 2 == 0;
            let mut members = members;
            if !seekable {
                // A stored member with a data descriptor cannot be read in one pass.
                members.iter_mut().for_each(|m| m.deflated = true);
            }
            let comment = if round % 3 == 0 {
                "written by a test"
            } else {
                ""
            };
            let archive = python_zip(&members, seekable, comment);
            (members, seekable, archive)
        })
        .collect()
}

#[test]
fn archives_from_pythons_zipfile_read_back_member_by_member() {
    let (mut descriptors, mut zip64) = (0, 0);
    for (members, seekable, archive) in generated_archives() {
        for buffer in [7, 4096, 256 << 10] {
            let read = read_members(archive, buffer).expect("a valid archive reads");
            assert_eq!(read, expected(members), "buffer {buffer}");
        }
        if let Some(first) = members.first() {
            // The local header's flags: a data descriptor follows exactly when written unseekable.
            assert_eq!(archive[6] & 8 != 0, !seekable);
            descriptors += usize::from(!seekable);
            zip64 += usize::from(first.zip64);
        }
    }
    assert!(descriptors > 3 && zip64 > 3, "{descriptors} {zip64}");
}

#[test]
fn folders_and_an_empty_archive_are_read_too() {
    let members = [
        Spec::new("logs/", ""),
        Spec::new("logs/a.json", "{\"a\":1}\n"),
    ];
    let archive = python_zip(&members, true, "");
    let mut zip = ZipReader::new(BufReader::new(&archive[..]));
    let mut folder = zip.next_member().unwrap().unwrap();
    assert!(folder.is_directory());
    folder.skip().unwrap();
    let mut file = zip.next_member().unwrap().unwrap();
    assert!(!file.is_directory());
    file.skip().unwrap();
    assert!(zip.next_member().unwrap().is_none());
    assert!(zip.next_member().unwrap().is_none());

    let empty = python_zip(&[], true, "nothing here");
    assert!(is_zip(&empty));
    assert_eq!(read_members(&empty, 64).unwrap(), vec![]);
}

#[test]
fn a_member_must_be_read_to_its_end_before_the_next() {
    let archive = python_zip(&[Spec::new("a", "xyz"), Spec::new("b", "")], true, "");
    let mut zip = ZipReader::new(BufReader::new(&archive[..]));
    let mut first = zip.next_member().unwrap().unwrap();
    let mut one = [0; 1];
    first.read_exact(&mut one).unwrap();
    let error = zip.next_member().err().unwrap();
    assert!(error.to_string().contains("not read to its end"), "{error}");
}

/// A copy with one byte changed, or cut short, either fails with a message about the archive or
/// reads back exactly the archived members (a changed timestamp, a cut in the archive's comment).
#[test]
fn damaged_and_cut_archives_fail_or_read_back_exactly() {
    let mut rng = Rng(7);
    let (mut failed, mut same) = (0, 0);
    for (members, _, archive) in generated_archives() {
        let want = expected(members);
        for _ in 0..60 {
            let mut copy = archive.clone();
            if rng.below(2) == 0 {
                let at = rng.below(copy.len() as u64) as usize;
                copy[at] ^= 1 << rng.below(8);
            } else {
                copy.truncate(rng.below(copy.len() as u64) as usize);
            }
            match read_members(&copy, 4096) {
                Ok(read) => {
                    assert_eq!(read, want, "a damaged archive read back other data");
                    same += 1;
                }
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
                    assert!(e.to_string().starts_with("the ZIP archive "), "{e}");
                    failed += 1;
                }
            }
        }
    }
    assert!(failed > 500 && same > 20, "failed {failed}, same {same}");
}

#[test]
fn what_cannot_be_read_is_refused_with_the_member_named() {
    let unseekable_stored = python_zip(
        &[Spec {
            deflated: false,
            ..Spec::new("plain.json", "{}\n")
        }],
        false,
        "",
    );
    let error = read_members(&unseekable_stored, 4096)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "member plain.json is stored uncompressed with its size written only after its data"
        ),
        "{error}"
    );

    // The method field of the local header and of the central directory (bzip2 is 12).
    let mut bzip2 = python_zip(&[Spec::new("a.json", "{}\n")], true, "");
    bzip2[8] = 12;
    let error = read_members(&bzip2, 4096).unwrap_err().to_string();
    assert!(
        error.contains("member a.json is compressed with method 12 (bzip2)"),
        "{error}"
    );

    let mut encrypted = python_zip(&[Spec::new("a.json", "{}\n")], true, "");
    encrypted[6] |= 1;
    let error = read_members(&encrypted, 4096).unwrap_err().to_string();
    assert!(error.contains("member a.json is encrypted"), "{error}");
}

/// An archive whose central directory disowns a member that is still in the file (as one that
/// was updated in place leaves it) fails instead of reading the stale member.
#[test]
fn a_central_directory_that_disagrees_with_the_members_fails() {
    let first = python_zip(&[Spec::new("old.json", "{\"v\":1}\n")], true, "");
    let second = python_zip(&[Spec::new("new.json", "{\"v\":2}\n")], true, "");
    // The first archive's member, then the second's member and directory, with the offsets in
    // the directory and end record moved past the first member: a consistent archive, but for
    // the member its directory does not list.
    let shift = (first.len() - directory_and_end_len(&first)) as u32;
    let mut stale = first[..shift as usize].to_vec();
    stale.extend_from_slice(&second);
    let directory = stale.len() - directory_and_end_len(&stale);
    let add = |bytes: &mut [u8], at: usize| {
        let value = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) + shift;
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    };
    add(&mut stale, directory + 42);
    let end = stale.len() - 22;
    add(&mut stale, end + 16);
    let error = read_members(&stale, 4096).unwrap_err().to_string();
    assert!(
        error.contains("does not list the members as they were read, first at old.json"),
        "{error}"
    );
}

/// The length of the central directory and end record of an archive with one member.
fn directory_and_end_len(archive: &[u8]) -> usize {
    let at = archive
        .windows(4)
        .rposition(|w| w == CENTRAL_HEADER.to_le_bytes())
        .unwrap();
    archive.len() - at
}

/// An archive ending in a ZIP64 end record (with extension data) and its locator, the 32-bit end
/// record's counts saying "see ZIP64", as writers do past 65,535 members or 4 GiB: read the same.
#[test]
fn a_zip64_end_record_is_read_and_its_extension_skipped() {
    let members = [
        Spec::new("a.json", "{\"a\":1}\n"),
        Spec::new("b.json", "{}\n"),
    ];
    let archive = python_zip(&members, true, "");
    let end = archive.len() - 22;
    assert_eq!(archive[end..end + 4], END_OF_DIRECTORY.to_le_bytes());
    let u32_at = |at: usize| u32::from_le_bytes(archive[at..at + 4].try_into().unwrap());
    let (directory_size, directory_offset) = (u32_at(end + 12), u32_at(end + 16));
    let mut zip64 = archive[..end].to_vec();
    let record_at = zip64.len() as u64;
    let extension = b"extra";
    zip64.extend(ZIP64_END_OF_DIRECTORY.to_le_bytes());
    zip64.extend((44 + extension.len() as u64).to_le_bytes());
    zip64.extend([45, 0, 45, 0]);
    zip64.extend([0u8; 8]); // this disk, the directory's disk
    zip64.extend(2u64.to_le_bytes());
    zip64.extend(2u64.to_le_bytes());
    zip64.extend(u64::from(directory_size).to_le_bytes());
    zip64.extend(u64::from(directory_offset).to_le_bytes());
    zip64.extend(extension);
    zip64.extend(ZIP64_LOCATOR.to_le_bytes());
    zip64.extend(0u32.to_le_bytes());
    zip64.extend(record_at.to_le_bytes());
    zip64.extend(1u32.to_le_bytes());
    zip64.extend(END_OF_DIRECTORY.to_le_bytes());
    zip64.extend([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    zip64.extend(directory_size.to_le_bytes());
    zip64.extend(u32::MAX.to_le_bytes());
    zip64.extend([0, 0]);
    assert_eq!(read_members(&zip64, 4096).unwrap(), expected(&members));

    // Its counts disagreeing with the directory: the archive fails.
    let count_at = record_at as usize + 12 + 2 + 2 + 8 + 8;
    let mut wrong = zip64.clone();
    wrong[count_at] = 3;
    let error = read_members(&wrong, 4096).unwrap_err().to_string();
    assert!(
        error.contains("says in its end record that 3 members"),
        "{error}"
    );
}
