//! Reading a stream on a thread of its own, a few chunks ahead of the engine.
//!
//! The S3 adapter already downloads ahead of decoding; this does the same for local files (the
//! `etl` CLI, the local stack), so the engine's thread spends its time decoding rather than in
//! `read` system calls: the kernel's copy out of the page cache and its page lookups happen on the
//! reading thread, the engine only copies from a chunk that is already in memory. The engine
//! inflates gzip input the same way, a few chunks ahead on a thread of its own.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

/// Bytes per chunk.
const CHUNK: usize = 1 << 20;
/// Chunks read ahead of the one being consumed: memory stays at about `(AHEAD + 2) × CHUNK`.
const AHEAD: usize = 2;

/// A [`Read`] whose bytes come from `inner`, read on a background thread.
pub struct ReadAhead {
    chunks: Receiver<io::Result<Chunk>>,
    /// Emptied buffers go back to the thread, so memory is allocated (and faulted in) once.
    spent: SyncSender<Vec<u8>>,
    current: Chunk,
    at: usize,
    done: bool,
}

/// A buffer of [`CHUNK`] bytes and how many of them were read. Buffers keep their length, so a
/// reused one is not zeroed again.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

impl ReadAhead {
    /// Starts reading `inner` on a thread named "read-ahead".
    pub fn new(inner: impl Read + Send + 'static) -> io::Result<Self> {
        let (reader, work) = Self::with_work(inner);
        thread::Builder::new()
            .name("read-ahead".into())
            .spawn(work)?;
        Ok(reader)
    }

    /// Starts reading `inner` on a thread of `scope` named `name`: for input that is borrowed
    /// (the thread ends with the scope at the latest).
    pub fn scoped<'scope>(
        scope: &'scope thread::Scope<'scope, '_>,
        name: &str,
        inner: impl Read + Send + 'scope,
    ) -> io::Result<Self> {
        let (reader, work) = Self::with_work(inner);
        thread::Builder::new()
            .name(name.into())
            .spawn_scoped(scope, work)?;
        Ok(reader)
    }

    /// The reader, and what its thread does.
    fn with_work<'a>(inner: impl Read + Send + 'a) -> (Self, impl FnOnce() + Send + 'a) {
        let (chunk_sender, chunks) = mpsc::sync_channel(AHEAD);
        let (spent, spent_buffers) = mpsc::sync_channel(AHEAD + 2);
        let reader = Self {
            chunks,
            spent,
            current: Chunk {
                buf: Vec::new(),
                len: 0,
            },
            at: 0,
            done: false,
        };
        (reader, move || {
            read_chunks(inner, chunk_sender, spent_buffers)
        })
    }
}

/// The thread: fills chunks until the end of `inner`, an error, or the reader is dropped.
fn read_chunks(
    mut inner: impl Read,
    chunks: SyncSender<io::Result<Chunk>>,
    spent: Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = spent.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
        let mut len = 0;
        let result = loop {
            match inner.read(&mut buf[len..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    len += n;
                    if len == CHUNK {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let last = len < CHUNK || result.is_err();
        let chunk = Chunk { buf, len };
        let sent = match result {
            Ok(()) if len == 0 => true,
            Ok(()) => chunks.send(Ok(chunk)).is_ok(),
            Err(e) => {
                // Bytes read before the error come first: the reader sees what the file held.
                (len == 0 || chunks.send(Ok(chunk)).is_ok()) && chunks.send(Err(e)).is_ok()
            }
        };
        // A closed channel means the reader is gone: stop reading.
        if last || !sent {
            return;
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len {
            if self.done {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    let spent = std::mem::replace(&mut self.current, chunk);
                    if !spent.buf.is_empty() {
                        // The thread may have enough already; then this one is freed.
                        let _ = self.spent.try_send(spent.buf);
                    }
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        let available = &self.current.buf[self.at..self.current.len];
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Reads everything in pieces of `piece` bytes.
    fn read_all(mut r: impl Read, piece: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0; piece];
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn every_byte_arrives_in_order_whatever_the_sizes() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 123] {
            for piece in [1000, 4 << 20] {
                let data = bytes(len);
                let got = read_all(
                    ReadAhead::new(io::Cursor::new(data.clone())).unwrap(),
                    piece,
                );
                assert!(got.unwrap() == data, "{len} bytes read {piece} at a time");
            }
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
        let mut reader = ReadAhead::new(FailsAfter {
            good: io::Cursor::new(data.clone()),
        })
        .unwrap();
        let mut got = vec![0; data.len()];
        reader.read_exact(&mut got).unwrap();
        assert!(got == data);
        let error = reader.read(&mut [0; 16]).unwrap_err();
        assert_eq!(error.to_string(), "disk on fire");
        assert_eq!(reader.read(&mut [0; 16]).unwrap(), 0, "then the end");
    }

    #[test]
    fn a_reader_dropped_early_stops_the_thread() {
        let (sender, finished) = mpsc::channel();
        struct Endless(mpsc::Sender<()>);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(b'x');
                Ok(buf.len())
            }
        }
        impl Drop for Endless {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let mut reader = ReadAhead::new(Endless(sender)).unwrap();
        reader.read_exact(&mut [0; 100]).unwrap();
        drop(reader);
        finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the thread ends and drops its input");
    }
}
