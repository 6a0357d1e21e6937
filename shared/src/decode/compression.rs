//! How a raw object is compressed, told from its first bytes (never from its name: delivery
//! services name objects without extensions), and the stream that undoes it.
//!
//! Gzip (CloudTrail, Firehose, most producers; several members one after the other), zstd and
//! bzip2 (Glue and Spark writers; several frames or streams one after the other), Snappy in its
//! framing format (Firehose's "Snappy") and Hadoop-Snappy (Firehose's "Hadoop-Compatible Snappy":
//! blocks of raw Snappy chunks, each with its length in front). A ZIP archive is recognised here
//! and read member by member by [`super::zip`].

use std::io::{self, BufRead, Read};

/// A compression, as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Not compressed.
    #[default]
    None,
    Gzip,
    Zstd,
    Bzip2,
    /// Snappy's framing format (`sNaPpY` stream identifier).
    Snappy,
    /// Hadoop's block format with Snappy chunks.
    HadoopSnappy,
    /// A ZIP archive: an archive of members, not one stream (see [`super::zip`]).
    Zip,
}

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const SNAPPY_STREAM: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// The largest Hadoop-Snappy block or chunk read (Hadoop writes 256 KiB blocks by default;
/// Firehose less): a larger length means a corrupt stream, not a buffer to allocate.
const MAX_HADOOP_BLOCK: usize = 64 << 20;

impl Compression {
    /// The compression of an object whose first bytes are `head` (as many as a buffered reader
    /// holds; a few dozen settle it).
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(GZIP) {
            Self::Gzip
        } else if head.starts_with(ZSTD) {
            Self::Zstd
        } else if head.len() >= 4 && head.starts_with(b"BZh") && matches!(head[3], b'1'..=b'9') {
            Self::Bzip2
        } else if head.starts_with(SNAPPY_STREAM) {
            Self::Snappy
        } else if is_hadoop_snappy(head) {
            Self::HadoopSnappy
        } else if super::zip::is_zip(head) {
            Self::Zip
        } else {
            Self::None
        }
    }

    /// Its name in messages and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Bzip2 => "bzip2",
            Self::Snappy => "snappy",
            Self::HadoopSnappy => "hadoop-snappy",
            Self::Zip => "zip",
        }
    }

    /// The decompressed stream of `input` (a ZIP archive is no stream: an error).
    pub fn decoder<'r>(
        self,
        input: impl BufRead + Send + 'r,
    ) -> io::Result<Box<dyn Read + Send + 'r>> {
        Ok(match self {
            Self::None => Box::new(input),
            Self::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
            Self::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
            Self::Snappy => Box::new(snap::read::FrameDecoder::new(input)),
            Self::HadoopSnappy => Box::new(HadoopSnappy::new(input)),
            Self::Zip => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a ZIP archive inside a ZIP archive is not read; deliver its members in the outer archive",
                ))
            }
        })
    }
}

/// Whether `head` opens a Hadoop-Snappy stream: a block's length, its first chunk's length, and
/// a raw Snappy chunk whose own length prefix (a varint) fits the block. JSON text never starts
/// with the zero byte a block length of under 16 MiB starts with.
fn is_hadoop_snappy(head: &[u8]) -> bool {
    let (Some(block), Some(chunk)) = (be_u32(head, 0), be_u32(head, 4)) else {
        return false;
    };
    if head[0] != 0 || block == 0 || chunk == 0 || block > MAX_HADOOP_BLOCK {
        return false;
    }
    matches!(snap::raw::decompress_len(&head[8..]), Ok(n) if n > 0 && n <= block)
}

fn be_u32(buf: &[u8], at: usize) -> Option<usize> {
    let bytes: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes) as usize)
}

/// Hadoop's `BlockCompressorStream` format with Snappy: blocks, each its decompressed length
/// (4 bytes, big-endian) and then chunks (each its compressed length and a raw Snappy block)
/// until that length is reached; blocks follow one another to the end.
struct HadoopSnappy<R> {
    input: R,
    /// Decompressed bytes of the current block still to come from its chunks.
    block_left: usize,
    chunk: Vec<u8>,
    out: Vec<u8>,
    at: usize,
    decoder: snap::raw::Decoder,
}

impl<R: BufRead> HadoopSnappy<R> {
    fn new(input: R) -> Self {
        Self {
            input,
            block_left: 0,
            chunk: Vec::new(),
            out: Vec::new(),
            at: 0,
            decoder: snap::raw::Decoder::new(),
        }
    }

    /// A length field: `None` at a clean end of input (only where a block may start).
    fn length(&mut self, block_start: bool) -> io::Result<Option<usize>> {
        if block_start && self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let mut bytes = [0; 4];
        self.input.read_exact(&mut bytes).map_err(cut_short)?;
        let n = u32::from_be_bytes(bytes) as usize;
        if n > MAX_HADOOP_BLOCK {
            return Err(corrupt(format!("a length of {n} bytes")));
        }
        Ok(Some(n))
    }

    /// Decompresses the next chunk into `out`; false at the end of the input.
    fn next_chunk(&mut self) -> io::Result<bool> {
        while self.block_left == 0 {
            match self.length(true)? {
                None => return Ok(false),
                Some(n) => self.block_left = n,
            }
        }
        let n = self.length(false)?.expect("inside a block");
        self.chunk.resize(n, 0);
        self.input.read_exact(&mut self.chunk).map_err(cut_short)?;
        let len = snap::raw::decompress_len(&self.chunk).map_err(|e| corrupt(e.to_string()))?;
        if len > self.block_left {
            return Err(corrupt(format!(
                "a chunk of {len} bytes in a block with {} left",
                self.block_left
            )));
        }
        self.out.resize(len, 0);
        self.decoder
            .decompress(&self.chunk, &mut self.out)
            .map_err(|e| corrupt(e.to_string()))?;
        self.block_left -= len;
        self.at = 0;
        Ok(true)
    }
}

impl<R: BufRead> Read for HadoopSnappy<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.out.len() {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn corrupt(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the Hadoop-Snappy stream is corrupt: {what}"),
    )
}

fn cut_short(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => corrupt("it ends inside a block".into()),
        _ => e,
    }
}

#[cfg(test)]
pub(crate) mod tests;
