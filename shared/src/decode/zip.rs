//! ZIP archives read in one pass, front to back, as they stream from S3: each member's local
//! header, its data (stored or deflated) and data descriptor, and at the end the central directory,
//! which must list exactly the members that were read.
//!
//! Nothing is held but one small entry per member (its name, offset, CRC-32 and sizes). Every
//! member's CRC-32 and sizes are checked when its end is reached, and the central directory is
//! compared with the entries at the end: an archive that was appended to or updated in place (so
//! that the directory disowns a local entry, or lists one that is not there) fails as a whole,
//! which takes back what was written from it. That gives the guarantee a reader that starts from
//! the central directory (with a ranged GET of the object's tail) gives, without the extra
//! requests and with members read in the order they were written.
//!
//! Read: ZIP and ZIP64 archives, stored or deflated members, their sizes in the local headers or in
//! data descriptors after the data (as streaming writers such as Java's `ZipOutputStream` write
//! them).
//! Refused with a message: encrypted members, other methods, archives split over several disks, and
//! a stored member whose size only comes after its data (its end cannot be found in one pass).

use std::io::{self, BufRead, Read};

use flate2::bufread::DeflateDecoder;
use flate2::Crc;

/// Signatures of the records of an archive.
const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_OF_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;

/// The extra field that holds 64-bit sizes and offsets.
const ZIP64_EXTRA: u16 = 0x0001;
/// A 32-bit size or offset whose value is in the ZIP64 extra field.
const IN_ZIP64: u32 = u32::MAX;

const FLAG_ENCRYPTED: u16 = 1 << 0;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;

const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// The most members an archive may have: each is remembered (about 50 bytes and its name) until
/// the central directory has been checked.
pub const MAX_MEMBERS: usize = 100_000;

/// Whether `head` (an object's first bytes) opens a ZIP archive: a member's local header, or the
/// end record of an archive with no members.
pub fn is_zip(head: &[u8]) -> bool {
    let signature = |s: u32| head.starts_with(&s.to_le_bytes());
    signature(LOCAL_HEADER) || (signature(END_OF_DIRECTORY) && head.len() >= 22)
}

/// A member as its local header, data and data descriptor gave it; compared with the central
/// directory's entry at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: Vec<u8>,
    /// Offset of its local header in the archive.
    offset: u64,
    crc: u32,
    compressed: u64,
    size: u64,
}

/// The members of a ZIP archive, one after the other ([`ZipReader::next_member`]).
pub struct ZipReader<R> {
    input: Offset<R>,
    entries: Vec<Entry>,
    /// A member was handed out and its end has not been reached yet.
    open: bool,
    /// The central directory has been checked.
    done: bool,
}

impl<R: BufRead> ZipReader<R> {
    /// The archive read from `input`, positioned at its first byte.
    pub fn new(input: R) -> Self {
        Self {
            input: Offset {
                inner: input,
                at: 0,
            },
            entries: Vec::new(),
            open: false,
            done: false,
        }
    }

    /// The next member, to be read to its end before asking for the one after it; `None` after
    /// the last, once the central directory has been found to list exactly the members read.
    pub fn next_member(&mut self) -> io::Result<Option<Member<'_, R>>> {
        if self.open {
            return Err(io::Error::other(
                "a ZIP member was not read to its end before the next was asked for",
            ));
        }
        if self.done {
            return Ok(None);
        }
        let offset = self.input.at;
        let signature = match read_u32(&mut self.input) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(damaged(format!(
                    "ends at byte {offset} without its central directory: the object was cut short"
                )));
            }
            Err(e) => return Err(e),
        };
        match signature {
            LOCAL_HEADER => {
                if self.entries.len() == MAX_MEMBERS {
                    return Err(damaged(format!(
                        "has more than {MAX_MEMBERS} members; deliver fewer, larger members or several archives"
                    )));
                }
                let header = LocalHeader::read(&mut self.input, offset)?;
                self.open = true;
                Ok(Some(Member::new(self, header)))
            }
            CENTRAL_HEADER | END_OF_DIRECTORY | ZIP64_END_OF_DIRECTORY => {
                let listed = read_central_directory(&mut self.input, signature, offset)?;
                self.done = true;
                check_directory(&self.entries, listed, offset)?;
                Ok(None)
            }
            other => Err(damaged(format!(
                "has at byte {offset} neither a member nor its central directory (0x{other:08x})"
            ))),
        }
    }

    /// How many members have been read (directories included).
    pub fn members_read(&self) -> usize {
        self.entries.len()
    }
}

/// A member's local header.
struct LocalHeader {
    name: Vec<u8>,
    offset: u64,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    /// Its sizes are 64-bit (in the data descriptor too).
    zip64: bool,
}

impl LocalHeader {
    /// The header whose signature, at `offset`, has just been read.
    fn read(input: &mut impl Read, offset: u64) -> io::Result<Self> {
        let mut fixed = [0; 26];
        input.read_exact(&mut fixed).map_err(cut_short)?;
        let u16_at = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(fixed[i..i + 4].try_into().expect("4 bytes"));
        let (flags, method, crc) = (u16_at(2), u16_at(4), u32_at(10));
        let (compressed, size) = (u32_at(14), u32_at(18));
        let name = read_bytes(input, u16_at(22) as usize)?;
        let extra = read_bytes(input, u16_at(24) as usize)?;
        let mut header = LocalHeader {
            name,
            offset,
            flags,
            method,
            crc,
            compressed: compressed.into(),
            size: size.into(),
            zip64: false,
        };
        if let Some(mut fields) = zip64_fields(&extra) {
            // A local header's ZIP64 field holds both sizes (the original size first).
            header.zip64 = true;
            if size == IN_ZIP64 || compressed == IN_ZIP64 {
                header.size = fields.next().ok_or_else(|| header.bad("ZIP64 field"))?;
                header.compressed = fields.next().ok_or_else(|| header.bad("ZIP64 field"))?;
            }
        }
        header.check()?;
        Ok(header)
    }

    fn check(&self) -> io::Result<()> {
        let name = self.display_name();
        if self.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 {
            return Err(damaged(format!(
                "member {name} is encrypted; deliver it unencrypted (S3 encrypts objects at rest)"
            )));
        }
        if self.method != STORED && self.method != DEFLATED {
            return Err(damaged(format!(
                "member {name} is compressed with method {} ({}), not stored or deflated; re-create the archive with the default compression",
                self.method,
                method_name(self.method)
            )));
        }
        if self.method == STORED && self.has_descriptor() && !self.is_directory() {
            return Err(damaged(format!(
                "member {name} is stored uncompressed with its size written only after its data, so its end cannot be found in one pass; re-create the archive with compression (deflate), or deliver the file unzipped"
            )));
        }
        Ok(())
    }

    fn has_descriptor(&self) -> bool {
        self.flags & FLAG_DESCRIPTOR != 0
    }

    fn is_directory(&self) -> bool {
        self.name.ends_with(b"/")
    }

    fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    fn bad(&self, what: &str) -> io::Error {
        damaged(format!(
            "has a short {what} in the local header of member {}",
            self.display_name()
        ))
    }
}

/// The data of a member being read.
enum Data<'a, R> {
    Stored(io::Take<&'a mut Offset<R>>),
    Deflated(DeflateDecoder<io::Take<&'a mut Offset<R>>>),
}

impl<'a, R: BufRead> Data<'a, R> {
    fn input(&mut self) -> &mut Offset<R> {
        match self {
            Data::Stored(take) => take.get_mut(),
            Data::Deflated(decoder) => decoder.get_mut().get_mut(),
        }
    }
}

/// One member of an archive: its name, and a reader of its bytes (inflated, CRC-checked).
pub struct Member<'a, R> {
    name: String,
    header: LocalHeader,
    data: Data<'a, R>,
    entries: &'a mut Vec<Entry>,
    open: &'a mut bool,
    data_start: u64,
    crc: Crc,
    /// Bytes of its data so far.
    size: u64,
    ended: bool,
}

impl<'a, R: BufRead> Member<'a, R> {
    fn new(zip: &'a mut ZipReader<R>, header: LocalHeader) -> Self {
        let data_start = zip.input.at;
        // A data descriptor's sizes come after the data: a deflate stream ends by itself.
        let length = match header.has_descriptor() {
            true => u64::MAX,
            false => header.compressed,
        };
        let take = (&mut zip.input).take(length);
        let data = match header.method {
            DEFLATED => Data::Deflated(DeflateDecoder::new(take)),
            _ => Data::Stored(take),
        };
        Self {
            name: header.display_name(),
            header,
            data,
            entries: &mut zip.entries,
            open: &mut zip.open,
            data_start,
            crc: Crc::new(),
            size: 0,
            ended: false,
        }
    }

    /// Its name in the archive (a path, `/` between folders).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is a folder (whose name ends in `/`), which holds no data.
    pub fn is_directory(&self) -> bool {
        self.header.is_directory()
    }

    /// Reads it to its end, discarding its bytes.
    pub fn skip(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(drop)
    }

    /// At the end of the data: the sizes and CRC-32 checked against the header or the data
    /// descriptor that follows, and the entry remembered for the central directory.
    fn end(&mut self) -> io::Result<()> {
        let header = &self.header;
        let input = self.data.input();
        let compressed = input.at - self.data_start;
        let (crc, expected_compressed, size) = if header.has_descriptor() {
            read_descriptor(input, header.zip64).map_err(cut_short)?
        } else {
            (header.crc, header.compressed, header.size)
        };
        let name = &self.name;
        if compressed != expected_compressed {
            return Err(damaged(format!(
                "member {name} has {compressed} bytes of compressed data where its header says {expected_compressed}: it is damaged or cut short"
            )));
        }
        if self.size != size || self.crc.sum() != crc {
            return Err(damaged(format!(
                "member {name} does not match its CRC-32 and size ({size} bytes): it is damaged or cut short"
            )));
        }
        self.entries.push(Entry {
            name: std::mem::take(&mut self.header.name),
            offset: self.header.offset,
            crc,
            compressed,
            size,
        });
        *self.open = false;
        self.ended = true;
        Ok(())
    }
}

impl<R: BufRead> Read for Member<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        let n = match &mut self.data {
            Data::Stored(take) => take.read(buf)?,
            Data::Deflated(decoder) => decoder.read(buf).map_err(|e| match e.kind() {
                io::ErrorKind::InvalidInput => damaged(format!(
                    "member {} is not a valid deflate stream: it is damaged",
                    self.name
                )),
                io::ErrorKind::UnexpectedEof => damaged(format!(
                    "member {} ends inside its deflate stream: the object was cut short",
                    self.name
                )),
                _ => e,
            })?,
        };
        if n == 0 {
            self.end()?;
        } else {
            self.crc.update(&buf[..n]);
            self.size += n as u64;
        }
        Ok(n)
    }
}

/// A data descriptor: CRC-32, compressed and original size (its signature is optional).
fn read_descriptor(input: &mut impl Read, zip64: bool) -> io::Result<(u32, u64, u64)> {
    let mut crc = read_u32(input)?;
    if crc == DATA_DESCRIPTOR {
        crc = read_u32(input)?;
    }
    let (compressed, size) = match zip64 {
        true => (read_u64(input)?, read_u64(input)?),
        false => (read_u32(input)?.into(), read_u32(input)?.into()),
    };
    Ok((crc, compressed, size))
}

/// The central directory's entries and the end record (read from the signature at `offset`).
fn read_central_directory(
    input: &mut impl Read,
    mut signature: u32,
    offset: u64,
) -> io::Result<Vec<Entry>> {
    let mut listed = Vec::new();
    while signature == CENTRAL_HEADER {
        if listed.len() > MAX_MEMBERS {
            return Err(damaged(format!("lists more than {MAX_MEMBERS} members")));
        }
        listed.push(read_central_entry(input).map_err(cut_short)?);
        signature = read_u32(input).map_err(cut_short)?;
    }
    // Members, the central directory's offset and the disk, from the ZIP64 end record.
    let mut zip64 = None;
    if signature == ZIP64_END_OF_DIRECTORY {
        // Its size, then the fixed fields (44 bytes) and data the format leaves to extensions.
        let length = read_u64(input).map_err(cut_short)?;
        let extension = length
            .checked_sub(44)
            .ok_or_else(|| damaged("has a short ZIP64 end record".into()))?;
        let record = read_bytes(input, 44)?;
        if io::copy(&mut input.by_ref().take(extension), &mut io::sink())? != extension {
            return Err(cut_short(io::ErrorKind::UnexpectedEof.into()));
        }
        let field = |at: usize| u64::from_le_bytes(record[at..at + 8].try_into().expect("8 bytes"));
        let disk = u32::from_le_bytes(record[4..8].try_into().expect("4 bytes"));
        zip64 = Some((field(20), field(36), disk));
        signature = read_u32(input).map_err(cut_short)?;
        if signature == ZIP64_LOCATOR {
            read_bytes(input, 16)?;
            signature = read_u32(input).map_err(cut_short)?;
        }
    }
    if signature != END_OF_DIRECTORY {
        return Err(damaged(format!(
            "has no end record after its central directory (at byte {offset})"
        )));
    }
    let mut end = [0; 18];
    input.read_exact(&mut end).map_err(cut_short)?;
    let u16_at = |i: usize| u16::from_le_bytes([end[i], end[i + 1]]);
    let disk = u16_at(0);
    let entries = u16_at(6);
    let directory_offset = u32::from_le_bytes(end[12..16].try_into().expect("4 bytes"));
    let (entries, directory_offset, disk) = match zip64 {
        Some((zip64_entries, zip64_offset, zip64_disk)) => (
            if entries == u16::MAX {
                zip64_entries
            } else {
                entries.into()
            },
            if directory_offset == IN_ZIP64 {
                zip64_offset
            } else {
                directory_offset.into()
            },
            zip64_disk.max(disk.into()),
        ),
        None => (entries.into(), directory_offset.into(), disk.into()),
    };
    if disk != 0 {
        return Err(spanned());
    }
    if entries != listed.len() as u64 || directory_offset != offset {
        return Err(damaged(format!(
            "says in its end record that {entries} members are listed from byte {directory_offset}, but its central directory at byte {offset} lists {}",
            listed.len()
        )));
    }
    // The archive's comment and anything after it are not read.
    Ok(listed)
}

/// One central directory entry, after its signature.
fn read_central_entry(input: &mut impl Read) -> io::Result<Entry> {
    let mut fixed = [0; 42];
    input.read_exact(&mut fixed)?;
    let u16_at = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(fixed[i..i + 4].try_into().expect("4 bytes"));
    let (crc, compressed, size, offset) = (u32_at(12), u32_at(16), u32_at(20), u32_at(38));
    let name = read_bytes(input, u16_at(24) as usize)?;
    let extra = read_bytes(input, u16_at(26) as usize)?;
    read_bytes(input, u16_at(28) as usize)?; // the member's comment
    if u16_at(30) != 0 && u16_at(30) != u16::MAX {
        return Err(spanned());
    }
    // The ZIP64 field holds only the values that did not fit, in this order.
    let mut fields = zip64_fields(&extra).into_iter().flatten();
    let mut wide = |narrow: u32| match narrow {
        IN_ZIP64 => fields.next().ok_or_else(|| {
            damaged(format!(
                "has a short ZIP64 field in the central directory's entry for {}",
                String::from_utf8_lossy(&name)
            ))
        }),
        _ => Ok(u64::from(narrow)),
    };
    let (size, compressed, offset) = (wide(size)?, wide(compressed)?, wide(offset)?);
    Ok(Entry {
        name,
        offset,
        crc,
        compressed,
        size,
    })
}

fn spanned() -> io::Error {
    damaged("is split over several disks (a spanned archive); join it into one file".into())
}

/// The central directory compared with the members read: the same members (name, offset,
/// CRC-32, sizes), in any order.
fn check_directory(read: &[Entry], mut listed: Vec<Entry>, offset: u64) -> io::Result<()> {
    listed.sort_by_key(|e| e.offset);
    let first_difference = read
        .iter()
        .zip(&listed)
        .find(|(read, listed)| read != listed)
        .map(|(read, _)| read)
        .or_else(|| read.get(listed.len()))
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .or_else(|| {
            listed
                .get(read.len())
                .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        });
    match first_difference {
        None => Ok(()),
        Some(name) => Err(damaged(format!(
            "has a central directory (at byte {offset}) that does not list the members as they were read, first at {name} (an archive appended to or updated in place): re-create it"
        ))),
    }
}

/// The 64-bit values of the ZIP64 field of `extra`, if it has one.
fn zip64_fields(extra: &[u8]) -> Option<impl Iterator<Item = u64> + '_> {
    let mut rest = extra;
    while rest.len() >= 4 {
        let id = u16::from_le_bytes([rest[0], rest[1]]);
        let length = u16::from_le_bytes([rest[2], rest[3]]) as usize;
        let data = rest.get(4..4 + length)?;
        if id == ZIP64_EXTRA {
            return Some(
                data.chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
            );
        }
        rest = &rest[4 + length..];
    }
    None
}

fn method_name(method: u16) -> &'static str {
    match method {
        9 => "deflate64",
        12 => "bzip2",
        14 => "LZMA",
        93 => "zstd",
        95 => "xz",
        98 => "PPMd",
        99 => "AES-encrypted",
        _ => "unknown",
    }
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut bytes = [0; 8];
    input.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

fn read_bytes(input: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; n];
    input.read_exact(&mut bytes).map_err(cut_short)?;
    Ok(bytes)
}

fn damaged(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the ZIP archive {what}"),
    )
}

fn cut_short(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            damaged("ends in the middle of a record: the object was cut short".into())
        }
        _ => e,
    }
}

/// A buffered reader that knows how far into the archive it is.
struct Offset<R> {
    inner: R,
    at: u64,
}

impl<R: BufRead> Read for Offset<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Offset<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.at += amt as u64;
        self.inner.consume(amt);
    }
}

#[cfg(test)]
pub(crate) mod tests;
