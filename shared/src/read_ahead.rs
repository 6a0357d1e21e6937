//! Reading the input on a thread of its own, a few chunks ahead of the engine, and handing the
//! chunks over rather than copying them.
//!
//! The engine's thread then spends its time decoding: the `read` system calls (the kernel's copy
//! out of the page cache), gzip inflation, or the copy out of the S3 adapter's network frames all
//! happen on the reading thread. Each chunk is read behind [`HEADROOM`] free bytes, where the
//! record reader puts the unfinished record of the chunk before: a chunk becomes the reader's
//! buffer as it is, and only that record is copied.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

/// Bytes read per chunk.
pub const CHUNK: usize = 1 << 20;
/// Free bytes in front of a chunk's bytes, for the end of the chunk before (a record cut by the
/// chunk boundary). Records longer than this are gathered in a buffer of their own.
pub const HEADROOM: usize = 64 << 10;
/// Chunks read ahead of the one being consumed: memory stays at about `(AHEAD + 2) × CHUNK`.
const AHEAD: usize = 2;

/// A buffer of input: bytes `buf[start..end]`, with `start` free bytes in front of them.
#[derive(Debug)]
pub struct Chunk {
    /// The buffer (its length is at least `end`).
    pub buf: Vec<u8>,
    /// Where the input's bytes start.
    pub start: usize,
    /// Where they end.
    pub end: usize,
}

/// Chunks of `inner`, read on a background thread.
pub struct ReadAhead {
    chunks: Receiver<io::Result<Chunk>>,
    /// Buffers the reader is done with go back to the thread, so memory is allocated (and
    /// faulted in) once.
    spent: SyncSender<Vec<u8>>,
    done: bool,
}

impl ReadAhead {
    /// Starts reading `inner` on a thread of `scope` named `name` (the input may be borrowed: the
    /// thread ends with the scope at the latest).
    pub fn scoped<'scope>(
        scope: &'scope thread::Scope<'scope, '_>,
        name: &str,
        inner: impl Read + Send + 'scope,
    ) -> io::Result<Self> {
        let (chunk_sender, chunks) = mpsc::sync_channel(AHEAD);
        let (spent, spent_buffers) = mpsc::sync_channel(AHEAD + 2);
        thread::Builder::new()
            .name(name.into())
            .spawn_scoped(scope, move || {
                read_chunks(inner, chunk_sender, spent_buffers)
            })?;
        Ok(Self {
            chunks,
            spent,
            done: false,
        })
    }

    /// The next chunk; `None` at the end of the input. A read error comes after the chunk of
    /// the bytes read before it, and ends the chunks.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        match self.chunks.recv() {
            Ok(Ok(chunk)) => Ok(Some(chunk)),
            Ok(Err(e)) => {
                self.done = true;
                Err(e)
            }
            Err(_) => {
                self.done = true;
                Ok(None)
            }
        }
    }

    /// Gives a buffer back to be read into again.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() > 0 {
            // The thread may have enough already; then this one is freed.
            let _ = self.spent.try_send(buf);
        }
    }
}

/// The thread: fills chunks until the end of `inner`, an error, or the reader is dropped.
fn read_chunks(
    mut inner: impl Read,
    chunks: SyncSender<io::Result<Chunk>>,
    spent: Receiver<Vec<u8>>,
) {
    let full = HEADROOM + CHUNK;
    loop {
        let mut buf = spent.try_recv().unwrap_or_default();
        // A recycled buffer keeps its bytes (a longer one is cut back): nothing is zeroed again.
        buf.resize(full, 0);
        buf.shrink_to(full);
        let mut end = HEADROOM;
        let result = loop {
            match inner.read(&mut buf[end..full]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    end += n;
                    if end == full {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let last = end < full || result.is_err();
        let read = end > HEADROOM;
        let chunk = Chunk {
            buf,
            start: HEADROOM,
            end,
        };
        let sent = match result {
            Ok(()) => !read || chunks.send(Ok(chunk)).is_ok(),
            Err(e) => {
                // Bytes read before the error come first: the reader sees what the file held.
                (!read || chunks.send(Ok(chunk)).is_ok()) && chunks.send(Err(e)).is_ok()
            }
        };
        // A closed channel means the reader is gone: stop reading.
        if last || !sent {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// The bytes of all chunks, each checked to have its headroom; recycling every buffer.
    fn read_all(reader: &mut ReadAhead) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk()? {
            assert_eq!(chunk.start, HEADROOM);
            assert!(chunk.end > chunk.start, "no empty chunks");
            out.extend_from_slice(&chunk.buf[chunk.start..chunk.end]);
            reader.recycle(chunk.buf);
        }
        Ok(out)
    }

    #[test]
    fn every_byte_arrives_in_order_whatever_the_length() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 123] {
            let data = bytes(len);
            let got = thread::scope(|s| {
                read_all(&mut ReadAhead::scoped(s, "test", io::Cursor::new(&data)).unwrap())
            });
            assert!(got.unwrap() == data, "{len} bytes");
        }
    }

    /// Gives `good` bytes, then fails.
    struct FailsAfter {
        good: io::Cursor<Vec<u8>>,
    }

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.good.read(buf)? {
                0 => Err(io::Error::other("disk on fire")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_read_error_arrives_after_the_bytes_read_before_it() {
        let data = bytes(CHUNK + 10);
        thread::scope(|s| {
            let input = FailsAfter {
                good: io::Cursor::new(data.clone()),
            };
            let mut reader = ReadAhead::scoped(s, "test", input).unwrap();
            let mut got = Vec::new();
            let error = loop {
                match reader.next_chunk() {
                    Ok(Some(c)) => got.extend_from_slice(&c.buf[c.start..c.end]),
                    Ok(None) => panic!("the error went missing"),
                    Err(e) => break e,
                }
            };
            assert!(got == data);
            assert_eq!(error.to_string(), "disk on fire");
            assert!(reader.next_chunk().unwrap().is_none(), "then the end");
        });
    }

    #[test]
    fn a_reader_dropped_early_stops_the_thread() {
        /// Endless input (up to a limit, so a thread that went on would end the test, not hang it).
        struct Endless<'a>(&'a mut usize);
        impl Read for Endless<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if *self.0 >= 64 * CHUNK {
                    return Ok(0);
                }
                buf.fill(b'x');
                *self.0 += buf.len();
                Ok(buf.len())
            }
        }
        let mut produced = 0;
        thread::scope(|s| {
            let mut reader = ReadAhead::scoped(s, "test", Endless(&mut produced)).unwrap();
            reader.next_chunk().unwrap().expect("a chunk");
        });
        assert!(
            produced <= (AHEAD + 3) * CHUNK,
            "{produced} bytes read for a reader that took one chunk"
        );
    }
}
