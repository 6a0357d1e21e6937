//! Turning a raw object's byte stream into records, without holding the object in memory.
//!
//! Accepted layouts, detected from the bytes and mixable in one object: newline-delimited JSON,
//! concatenated JSON (`{..}{..}`, what Firehose writes), and JSON arrays of records. Compressions
//! ([`compression`]) and ZIP archives ([`zip`], each member read as such an input) are detected
//! from the first bytes; a UTF-8 BOM and CRLF line ends are tolerated.
//!
//! Failure policy: a top-level record that is not valid JSON is handed to the caller as
//! [`Record::Invalid`] and reading resumes at the next line (see [`next_record_line`] for
//! pretty-printed input). Inside a JSON
//! array there is no safe place to resume, so a syntax error there fails the whole object with
//! its position ([`DecodeError::Malformed`]).

pub mod compression;
pub mod json;
pub mod zip;

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use compression::Compression;
use json::{JsonError, PathTree, Scanner, Shape, Slot, UnknownFields};
use zip::ZipReader;

use crate::read_ahead::ReadAhead;

/// A single record larger than this fails the object (it would not fit a Lambda's budget).
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// An object that cannot be read as records at all.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Reading the input failed (including a corrupt gzip stream).
    #[error("cannot read the input: {0}")]
    Io(#[from] io::Error),
    /// A syntax error inside a JSON array; records after it cannot be located safely.
    #[error("the JSON array is broken at line {line}, column {column} (byte {offset}): expected {expected}")]
    Malformed {
        /// 1-based line.
        line: u64,
        /// 1-based column, in bytes.
        column: u64,
        /// 0-based byte offset in the decompressed input.
        offset: u64,
        /// What the parser expected there.
        expected: &'static str,
    },
    /// A record too large to buffer.
    #[error("the record starting at line {line} is larger than {} MiB; split the input into smaller records", MAX_RECORD_BYTES >> 20)]
    RecordTooLarge {
        /// 1-based line where the record starts.
        line: u64,
    },
}

/// Where a record starts in the (decompressed) input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPos {
    /// 1-based record number.
    pub index: u64,
    /// 1-based line number.
    pub line: u64,
    /// 0-based byte offset.
    pub offset: u64,
}

/// One record handed to the caller.
#[derive(Debug)]
pub enum Record<'a, 's> {
    /// Valid JSON. For an object, `slots` holds the configured paths.
    Parsed {
        /// Position.
        pos: RecordPos,
        /// The record's text.
        raw: &'a [u8],
        /// Object or another kind of value.
        shape: Shape,
        /// One slot per configured path (the caller may take steps from them in place).
        slots: &'s mut [Slot<'a>],
        /// With [`RecordReader::with_document_members`]: the members of the record's document
        /// that come before its records array, as one JSON object (`{"logGroup":"…"}`); empty
        /// for a record that is in no document.
        document: &'s [u8],
    },
    /// Not valid JSON; `raw` holds the text up to the next record.
    Invalid {
        /// Position.
        pos: RecordPos,
        /// The text that was skipped.
        raw: &'a [u8],
        /// What was wrong, with line and column.
        error: String,
    },
}

/// Byte counters of an input, shared with the reader chain.
#[derive(Debug, Clone, Default)]
pub struct InputStats {
    raw_bytes: Arc<AtomicU64>,
    /// The compression detected.
    pub compression: Compression,
}

impl InputStats {
    /// Bytes read from the underlying source (the compressed size).
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// How many bytes of an object are looked at to tell its compression.
const HEAD_BYTES: usize = 64;

/// An object opened for reading: one stream of records, or a ZIP archive whose members are.
pub enum Opened<'r> {
    /// The decompressed stream.
    Stream(Box<dyn Read + Send + 'r>),
    /// The archive, each of its members to be opened with [`open_member`].
    Archive(ZipReader<Box<dyn BufRead + Send + 'r>>),
}

/// Opens a raw object stream as its first bytes say (see [`Compression`]): decompressing it, or as
/// a ZIP archive. More than `max_decoded` bytes after decompression are an error (`InvalidData`,
/// naming the limit), so a compression bomb stops as soon as it passes it.
pub fn open_object<'r>(
    reader: impl Read + Send + 'r,
    max_decoded: u64,
) -> io::Result<(Opened<'r>, InputStats)> {
    let mut stats = InputStats::default();
    let counted = Counting {
        inner: reader,
        count: stats.raw_bytes.clone(),
    };
    let (compression, buffered) = detect(counted, 256 << 10)?;
    stats.compression = compression;
    let opened = match compression {
        Compression::Zip => Opened::Archive(ZipReader::new(Box::new(buffered))),
        _ => Opened::Stream(Box::new(Limited {
            inner: compression.decoder(buffered)?,
            left: max_decoded,
            limit: max_decoded,
        })),
    };
    Ok((opened, stats))
}

/// A member of an archive as a stream, decompressed when it is itself compressed (a `.json.gz`
/// zipped); past `left` more bytes, the object's `max_decoded` is passed (an error).
pub fn open_member<'m>(
    member: impl Read + Send + 'm,
    left: u64,
    max_decoded: u64,
) -> io::Result<Box<dyn Read + Send + 'm>> {
    let (compression, buffered) = detect(member, 64 << 10)?;
    Ok(Box::new(Limited {
        inner: compression.decoder(buffered)?,
        left,
        limit: max_decoded,
    }))
}

/// A reader whose first bytes were read and put back in front, buffered.
type Rejoined<R> = BufReader<io::Chain<io::Cursor<Vec<u8>>, R>>;

/// The compression of `reader` told from its first bytes (however the stream delivers them), and
/// the reader buffered with those bytes put back in front.
fn detect<R: Read>(mut reader: R, capacity: usize) -> io::Result<(Compression, Rejoined<R>)> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    (&mut reader)
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)?;
    let compression = Compression::detect(&head);
    Ok((
        compression,
        BufReader::with_capacity(capacity, io::Cursor::new(head).chain(reader)),
    ))
}

/// The decompressed stream of an object that is not an archive (for tests).
#[cfg(test)]
pub(crate) fn open_input<'r>(
    reader: impl Read + Send + 'r,
    max_decoded: u64,
) -> io::Result<(Box<dyn Read + Send + 'r>, InputStats)> {
    match open_object(reader, max_decoded)? {
        (Opened::Stream(stream), stats) => Ok((stream, stats)),
        (Opened::Archive(_), _) => Err(io::Error::other("an archive")),
    }
}

/// At most `limit` bytes of `inner`, then an error.
struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the object decompresses to more than {} MiB (the dataset's max_decompressed_mb); raise the limit if that is expected",
                    self.limit >> 20
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    TopLevel,
    /// Inside `[`: expecting the first element or `]`.
    ArrayStart,
    /// Inside `[`, after a `,`.
    ArrayElement,
    /// Inside `[`, after an element.
    ArrayAfterElement,
    /// Inside a wrapper document (`{"Records":[…]}`), expecting its first member or `}`.
    WrapperFirst,
    /// Inside a wrapper document, after a `,`: expecting a member.
    WrapperMember,
    /// Inside a wrapper document, after a member's value: expecting `,` or `}`.
    WrapperAfterValue,
}

/// Position bookkeeping, kept apart from the buffer so scanning can borrow both.
struct Cursor {
    /// Next unconsumed byte in the buffer.
    pos: usize,
    /// Absolute offset of buffer byte 0 (negative while the input's first byte lies behind the
    /// free room at the front of the first chunk).
    base: i64,
    /// Newlines before `line_pos` have been counted into `line` (1-based line at `line_pos`).
    line: u64,
    line_pos: usize,
    /// Absolute offset of the start of the current line, for columns.
    line_start: u64,
    records: u64,
    mode: Mode,
    /// Whether a valid record of this input spanned lines (pretty-printed JSON): then the rest of
    /// a broken record is skipped as a whole, not line by line.
    multi_line: bool,
    /// The array being read is the records array of a wrapper document.
    in_wrapper: bool,
    /// How many objects of the records' path are open (1: the document itself).
    wrapper_depth: usize,
    /// Where the wrapper document being read starts, and whether it had its records array.
    wrapper_start: RecordPos,
    wrapper_had_records: bool,
}

impl Cursor {
    /// The absolute offset of buffer byte `at`.
    fn offset(&self, at: usize) -> u64 {
        (self.base + at as i64) as u64
    }

    /// Buffer byte `from` moves to `to` (the unconsumed bytes from `from` on are moved there).
    fn rebase(&mut self, from: usize, to: usize) {
        debug_assert!(self.line_pos >= from && self.pos >= from);
        self.base += from as i64 - to as i64;
        self.line_pos = self.line_pos - from + to;
        self.pos = self.pos - from + to;
    }

    fn line_at(&mut self, buf: &[u8], to: usize) -> u64 {
        if to > self.line_pos {
            let slice = &buf[self.line_pos..to];
            let mut last = None;
            for i in memchr::memchr_iter(b'\n', slice) {
                self.line += 1;
                last = Some(i);
            }
            if let Some(i) = last {
                self.line_start = self.offset(self.line_pos + i + 1);
            }
            self.line_pos = to;
        }
        self.line
    }

    /// Takes over the newlines the scanner skipped since `line_pos`, up to its position.
    fn take_lines(&mut self, s: &mut Scanner<'_>) {
        debug_assert!(s.pos >= self.line_pos);
        if s.newlines > 0 {
            self.line += s.newlines;
            self.line_start = self.offset(s.last_line_start);
            s.newlines = 0;
        }
        self.line_pos = s.pos;
    }

    /// Moves past the bracket or comma at `at`, where lines are counted up to: it is no newline,
    /// so they stay counted.
    fn step_over_bracket(&mut self, at: usize) {
        debug_assert_eq!(self.line_pos, at);
        self.pos = at + 1;
        self.line_pos = at + 1;
    }

    fn record_pos(&mut self, buf: &[u8], start: usize) -> RecordPos {
        self.records += 1;
        RecordPos {
            index: self.records,
            line: self.line_at(buf, start),
            offset: self.offset(start),
        }
    }

    /// (line, column) of a buffer offset at or after `line_pos`, leaving the count where it is
    /// (the offset may lie past the point where reading resumes).
    fn line_col(&self, buf: &[u8], at: usize) -> (u64, u64) {
        let (mut line, mut line_start) = (self.line, self.line_start);
        if at > self.line_pos {
            for i in memchr::memchr_iter(b'\n', &buf[self.line_pos..at]) {
                line += 1;
                line_start = self.offset(self.line_pos + i + 1);
            }
        }
        (line, self.offset(at) - line_start + 1)
    }
}

enum Progress {
    NeedMore,
    Done,
}

/// Reads records from a decoded byte stream.
pub struct RecordReader {
    input: ReadAhead,
    /// The chunk being scanned (or, for a record longer than a chunk's free room, a buffer of its
    /// own gathering it); bytes `..len` are input.
    buf: Vec<u8>,
    len: usize,
    eof: bool,
    started: bool,
    cursor: Cursor,
    /// When the records are the elements of the array at these member names in each document.
    records_path: Vec<Vec<u8>>,
    /// The document members handed on with each record.
    document: DocumentMembers,
}

/// The members of the document at hand that fields read (`from = "document"`).
#[derive(Default)]
struct DocumentMembers {
    /// The names of the members kept; none kept when empty.
    names: Vec<Vec<u8>>,
    /// The members kept, as the text of a JSON object.
    text: Vec<u8>,
}

impl DocumentMembers {
    /// Reads the document that starts at `buf[start]` (its `{`) whole, keeping the members named
    /// in `names`.
    fn keep_members(
        &mut self,
        s: &mut Scanner<'_>,
        buf: &[u8],
        start: usize,
    ) -> Result<(), JsonError> {
        self.text.clear();
        self.text.push(b'{');
        s.pos = start + 1;
        s.skip_ws();
        if s.peek()? != b'}' {
            loop {
                let member = s.pos;
                let name = s.member_name()?;
                let kept = self.names.iter().any(|n| *n == *name);
                s.skip_value(2)?;
                if kept {
                    if self.text.len() > 1 {
                        self.text.push(b',');
                    }
                    self.text.extend_from_slice(&buf[member..s.pos]);
                }
                s.skip_ws();
                match s.peek()? {
                    b',' => {
                        s.pos += 1;
                        s.skip_ws();
                    }
                    b'}' => break,
                    _ => {
                        return Err(JsonError::Invalid {
                            at: s.pos,
                            what: "',' or '}' after a member of the document",
                        })
                    }
                }
            }
        }
        s.pos += 1;
        self.text.push(b'}');
        Ok(())
    }
}

impl RecordReader {
    /// A reader over an already decompressed stream (see [`open_input`]), read ahead.
    pub fn new(input: ReadAhead) -> Self {
        Self {
            input,
            buf: Vec::new(),
            len: 0,
            eof: false,
            started: false,
            cursor: Cursor {
                pos: 0,
                base: 0,
                line: 1,
                line_pos: 0,
                line_start: 0,
                records: 0,
                mode: Mode::TopLevel,
                multi_line: false,
                in_wrapper: false,
                wrapper_depth: 0,
                wrapper_start: RecordPos {
                    index: 0,
                    line: 1,
                    offset: 0,
                },
                wrapper_had_records: false,
            },
            records_path: Vec::new(),
            document: DocumentMembers::default(),
        }
    }

    /// Reads the records as the elements of the array at the member names `path` in each
    /// top-level object (a CloudTrail file's `{"Records":[…]}`; `["detail", "items"]` for
    /// `{"detail":{"items":[…]}}`), streamed element by element; the documents' other members are
    /// checked and skipped.
    pub fn with_records_path(mut self, path: &[String]) -> Self {
        self.records_path = path.iter().map(|k| k.as_bytes().to_vec()).collect();
        self
    }

    /// Hands on, with each record of a document, the document's members named `names` that
    /// come before its records array (see [`Record::Parsed`]'s `document`).
    pub fn with_document_members(mut self, names: Vec<String>) -> Self {
        self.document.names = names.into_iter().map(String::into_bytes).collect();
        self
    }

    /// Decompressed bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.cursor.offset(self.len)
    }

    /// Calls `f` for every record, in order. `tree` selects the paths that fill the slots.
    pub fn for_each<E: From<DecodeError>>(
        &mut self,
        tree: &PathTree,
        slot_count: usize,
        unknown: &mut UnknownFields,
        mut f: impl FnMut(Record<'_, '_>) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            self.fill()?;
            let progress = scan_buffer(
                &self.buf[..self.len],
                self.eof,
                &mut self.cursor,
                &self.records_path,
                &mut self.document,
                tree,
                slot_count,
                unknown,
                &mut f,
            )?;
            if let Progress::Done = progress {
                return Ok(());
            }
            if self.eof {
                // The scanner only asks for more when it is not at the end of the input.
                unreachable!("scanner asked for more input after end of input");
            }
        }
    }

    /// Takes the next chunk as the buffer, the unconsumed bytes (a record cut by the chunk's end)
    /// put in front of its bytes; a record too long for the room there is gathered in a buffer
    /// that grows.
    fn fill(&mut self) -> Result<(), DecodeError> {
        if self.eof {
            return Ok(());
        }
        let c = &mut self.cursor;
        let from = c.pos;
        c.line_at(&self.buf[..self.len], from);
        let unconsumed = self.len - from;
        if unconsumed > MAX_RECORD_BYTES {
            return Err(DecodeError::RecordTooLarge { line: c.line });
        }
        let Some(chunk) = self.input.next_chunk()? else {
            self.eof = true;
            return Ok(());
        };
        if unconsumed <= chunk.start {
            let to = chunk.start - unconsumed;
            let mut buf = chunk.buf;
            buf[to..chunk.start].copy_from_slice(&self.buf[from..self.len]);
            self.input.recycle(std::mem::replace(&mut self.buf, buf));
            self.len = chunk.end;
            c.rebase(from, to);
        } else {
            self.buf.copy_within(from..self.len, 0);
            self.buf.truncate(unconsumed);
            c.rebase(from, 0);
            // The buffer at least doubles, so a long record is scanned again a few times, not once
            // per chunk.
            let wanted = (2 * unconsumed).min(MAX_RECORD_BYTES);
            let mut chunk = chunk;
            loop {
                self.buf
                    .extend_from_slice(&chunk.buf[chunk.start..chunk.end]);
                self.input.recycle(chunk.buf);
                if self.buf.len() >= wanted {
                    break;
                }
                match self.input.next_chunk()? {
                    Some(next) => chunk = next,
                    None => {
                        self.eof = true;
                        break;
                    }
                }
            }
            self.len = self.buf.len();
        }
        if !self.started {
            self.started = true;
            if self.buf[c.pos..self.len].starts_with(b"\xEF\xBB\xBF") {
                c.pos += 3;
                c.line_pos = c.pos;
                c.line_start = c.offset(c.pos);
            }
        }
        Ok(())
    }
}

/// What a member of an object on the records' path is.
enum PathMember {
    /// The records' array.
    Records,
    /// The next object on the path.
    Enter,
    /// Anything else, skipped.
    Skipped,
}

#[allow(clippy::too_many_arguments)] // the reader's state, passed apart so the buffer can be borrowed
fn scan_buffer<'a, E: From<DecodeError>>(
    buf: &'a [u8],
    eof: bool,
    c: &mut Cursor,
    records_path: &[Vec<u8>],
    document: &mut DocumentMembers,
    tree: &PathTree,
    slot_count: usize,
    unknown: &mut UnknownFields,
    f: &mut impl FnMut(Record<'a, '_>) -> Result<(), E>,
) -> Result<Progress, E> {
    let mut slots: Vec<Slot<'a>> = vec![Slot::Missing; slot_count];
    let mut s = Scanner::new(buf, c.pos, eof);
    loop {
        // Lines are counted up to `c.pos`, so the scanner counts the ones it skips from there.
        c.line_at(buf, c.pos);
        s.pos = c.pos;
        s.newlines = 0;
        s.skip_ws();
        c.take_lines(&mut s);
        if s.pos == buf.len() {
            c.pos = s.pos;
            if !eof {
                return Ok(Progress::NeedMore);
            }
            if c.mode != Mode::TopLevel {
                let (line, column) = c.line_col(buf, s.pos);
                return Err(DecodeError::Malformed {
                    line,
                    column,
                    offset: c.offset(s.pos),
                    expected: match c.mode {
                        Mode::WrapperFirst | Mode::WrapperMember | Mode::WrapperAfterValue => {
                            "'}' to close the document (the input ends inside it)"
                        }
                        _ => "']' to close the JSON array (the input ends inside it)",
                    },
                }
                .into());
            }
            return Ok(Progress::Done);
        }
        let start = s.pos;
        match c.mode {
            Mode::TopLevel if !records_path.is_empty() && buf[start] == b'{' => {
                if !document.names.is_empty() {
                    // The members fields read may come after the records (keys sorted by the
                    // producer): the document is read whole for them first.
                    match document.keep_members(&mut s, buf, start) {
                        Ok(()) => s.newlines = 0,
                        Err(JsonError::Incomplete) => {
                            c.pos = start;
                            return Ok(Progress::NeedMore);
                        }
                        Err(JsonError::Invalid { at, what }) => {
                            return Err(malformed(c, buf, at, what).into())
                        }
                    }
                }
                c.wrapper_start = RecordPos {
                    index: c.records + 1,
                    line: c.line,
                    offset: c.offset(start),
                };
                c.wrapper_had_records = false;
                c.wrapper_depth = 1;
                c.mode = Mode::WrapperFirst;
                c.step_over_bracket(start);
                continue;
            }
            Mode::WrapperFirst | Mode::WrapperAfterValue if buf[start] == b'}' => {
                c.step_over_bracket(start);
                c.wrapper_depth -= 1;
                if c.wrapper_depth > 0 {
                    // An object on the records' path closes inside the document.
                    c.mode = Mode::WrapperAfterValue;
                    continue;
                }
                c.mode = Mode::TopLevel;
                if !c.wrapper_had_records {
                    let key = records_path
                        .iter()
                        .map(|k| String::from_utf8_lossy(k))
                        .collect::<Vec<_>>()
                        .join(".");
                    let pos = c.wrapper_start;
                    c.records += 1;
                    f(Record::Invalid {
                        pos,
                        raw: b"",
                        error: format!(
                            "the document starting at line {} has no {key:?} array of records; check the dataset's [source] records",
                            pos.line
                        ),
                    })?;
                }
                continue;
            }
            Mode::WrapperAfterValue if buf[start] == b',' => {
                c.mode = Mode::WrapperMember;
                c.step_over_bracket(start);
                continue;
            }
            Mode::WrapperAfterValue => {
                return Err(
                    malformed(c, buf, start, "',' or '}' after a member of the document").into(),
                )
            }
            Mode::WrapperFirst | Mode::WrapperMember => {
                let depth = c.wrapper_depth;
                let last = depth == records_path.len();
                let member = s.member_name().and_then(|name| {
                    if name.as_ref() == records_path[depth - 1].as_slice() {
                        match (last, s.peek()?) {
                            (true, b'[') => return Ok(PathMember::Records),
                            (false, b'{') => return Ok(PathMember::Enter),
                            _ => {}
                        }
                    }
                    s.skip_value(depth + 1).map(|_| PathMember::Skipped)
                });
                match member {
                    Ok(member) => {
                        c.take_lines(&mut s);
                        match member {
                            PathMember::Records => {
                                c.wrapper_had_records = true;
                                c.in_wrapper = true;
                                c.mode = Mode::ArrayStart;
                                c.step_over_bracket(s.pos);
                            }
                            PathMember::Enter => {
                                c.wrapper_depth += 1;
                                c.mode = Mode::WrapperFirst;
                                c.step_over_bracket(s.pos);
                            }
                            PathMember::Skipped => {
                                c.mode = Mode::WrapperAfterValue;
                                c.pos = s.pos;
                            }
                        }
                        continue;
                    }
                    Err(JsonError::Incomplete) => {
                        c.pos = start;
                        return Ok(Progress::NeedMore);
                    }
                    Err(JsonError::Invalid { at, what }) => {
                        return Err(malformed(c, buf, at, what).into())
                    }
                }
            }
            Mode::TopLevel if buf[start] == b'[' => {
                document.text.clear();
                c.mode = Mode::ArrayStart;
                c.step_over_bracket(start);
                continue;
            }
            Mode::ArrayStart | Mode::ArrayAfterElement if buf[start] == b']' => {
                c.mode = if c.in_wrapper {
                    Mode::WrapperAfterValue
                } else {
                    Mode::TopLevel
                };
                c.in_wrapper = false;
                c.step_over_bracket(start);
                continue;
            }
            Mode::ArrayAfterElement if buf[start] == b',' => {
                c.mode = Mode::ArrayElement;
                c.step_over_bracket(start);
                continue;
            }
            Mode::ArrayAfterElement => {
                return Err(malformed(c, buf, start, "',' or ']' after an array element").into())
            }
            Mode::TopLevel | Mode::ArrayStart | Mode::ArrayElement => {}
        }
        slots.iter_mut().for_each(|s| *s = Slot::Missing);
        let mut result = s.record(tree, &mut slots, unknown);
        // A record that goes on past its line is one record only in pretty-printed input; in
        // NDJSON it is a cut line, and the next line is a record of its own.
        if s.newlines > 0
            && result.is_ok()
            && c.mode == Mode::TopLevel
            && !c.multi_line
            && !opens_only(buf, start)
        {
            let at = start + memchr::memchr(b'\n', &buf[start..]).expect("a newline was skipped");
            result = Err(JsonError::Invalid {
                at,
                what: "the record to end on its line (NDJSON; a record spans lines only pretty-printed, its first line only '{')",
            });
        }
        match result {
            Ok(shape) => {
                let end = s.pos;
                let pos = c.record_pos(buf, start);
                c.take_lines(&mut s);
                c.multi_line |= c.line > pos.line;
                c.pos = end;
                if c.mode != Mode::TopLevel {
                    c.mode = Mode::ArrayAfterElement;
                }
                f(Record::Parsed {
                    pos,
                    raw: &buf[start..end],
                    shape,
                    slots: &mut slots,
                    document: &document.text,
                })?;
            }
            Err(JsonError::Incomplete) => {
                c.pos = start;
                return Ok(Progress::NeedMore);
            }
            Err(JsonError::Invalid { at, what }) => {
                if c.mode != Mode::TopLevel {
                    return Err(malformed(c, buf, at, what).into());
                }
                let Some(resume) = next_record_line(buf, start, eof, c.multi_line) else {
                    c.pos = start;
                    return Ok(Progress::NeedMore);
                };
                let pos = c.record_pos(buf, start);
                let (line, column) = c.line_col(buf, at);
                c.pos = resume;
                f(Record::Invalid {
                    pos,
                    raw: buf[start..resume].trim_ascii_end(),
                    error: if line > pos.line {
                        format!("invalid JSON at line {line}, column {column}: expected {what} (the record starting at line {} is not complete)", pos.line)
                    } else {
                        format!("invalid JSON at line {line}, column {column}: expected {what}")
                    },
                })?;
            }
        }
    }
}

fn malformed(c: &mut Cursor, buf: &[u8], at: usize, expected: &'static str) -> DecodeError {
    let (line, column) = c.line_col(buf, at);
    DecodeError::Malformed {
        line,
        column,
        offset: c.offset(at),
        expected,
    }
}

/// Whether the line from `start` only opens a value (`{` or `[` and blanks), as pretty-printers
/// (jq, `json.dumps(indent=…)`, `JSON.stringify(…, null, 2)`) write a record's first line.
fn opens_only(buf: &[u8], start: usize) -> bool {
    let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |nl| start + nl);
    matches!(buf[start..end].trim_ascii(), b"{" | b"[")
}

/// Where reading resumes after an invalid top-level record. In NDJSON every line is a record
/// (even a garbage one, even one that starts with blanks), so reading resumes at the next line.
/// In pretty-printed JSON (an earlier record of the input spanned lines, or the broken one's first
/// line only opens it) the indented rest of a broken object and its closing brace are skipped up
/// to the next line that starts at its first byte with something other than blank space or a
/// closing bracket, so one broken object is one rejection. `None` when the buffer ends first and
/// more input may follow.
fn next_record_line(buf: &[u8], start: usize, eof: bool, multi_line: bool) -> Option<usize> {
    let Some(first_end) = memchr::memchr(b'\n', &buf[start..]).map(|nl| start + nl) else {
        return eof.then_some(buf.len());
    };
    if !(multi_line || opens_only(buf, start)) {
        return Some(first_end + 1);
    }
    let mut from = start;
    while let Some(nl) = memchr::memchr(b'\n', &buf[from..]) {
        let line_start = from + nl + 1;
        match buf.get(line_start) {
            None => break,
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'}' | b']' | b',') => from = line_start,
            Some(_) => return Some(line_start),
        }
    }
    eof.then_some(buf.len())
}

#[cfg(test)]
mod tests;
