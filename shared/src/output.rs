//! The port through which the engine writes files (Parquet and rejected records), with the local
//! directory adapter. The S3 adapter is `etl_aws::s3::S3Output`.
//!
//! A file becomes visible only when committed, so a failed run leaves no half-written file under a
//! real name; committed files are deleted again by the engine when the object fails as a whole.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use crate::port_error::{FailureKind, PortError};

/// Writing an output failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A local file system error.
    #[error("cannot write {key}: {source}")]
    Io {
        /// The output key.
        key: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A storage service error (from an adapter such as S3), with the service's own code.
    #[error("cannot write {key}: {source}")]
    Service {
        /// The output key.
        key: String,
        /// The failed call (boxed: errors travel in every `Result` of the hot path).
        #[source]
        source: Box<PortError>,
    },
}

impl OutputError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            OutputError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
            ),
            OutputError::Service { source, .. } => source.kind == FailureKind::Retryable,
        }
    }
}

/// A place files are written to: a local directory, an S3 prefix.
pub trait OutputStore: Send + Sync {
    /// Starts a file at `key` (relative to the store's root). It is visible only once committed;
    /// dropping it uncommitted discards it.
    fn create(&self, key: &str) -> Result<Box<dyn OutputFile>, OutputError>;
    /// Deletes a committed file (used to take back the output of an object that failed).
    fn delete(&self, key: &str) -> Result<(), OutputError>;
    /// The URI of a key, for summaries and messages (`file:///…`, `s3://…`).
    fn uri(&self, key: &str) -> String;

    /// The longest key, relative to the store's root, that the store can hold (in bytes). The
    /// engine rejects a record whose partition path would not fit instead of failing the object.
    fn max_key_bytes(&self) -> usize {
        usize::MAX
    }

    /// Waits until every committed file is visible. A store may finish commits in the background
    /// (S3 uploads overlap with the engine's work); the engine calls this before it reports files
    /// as written and before it deletes any. Returns the first failed commit after waiting for
    /// all of them.
    fn sync(&self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// A file being written.
pub trait OutputFile: Write + Send {
    /// Makes the file visible under its key, now or by the store's next [`OutputStore::sync`];
    /// returns its size in bytes.
    fn commit(self: Box<Self>) -> Result<u64, OutputError>;

    /// Bytes written but still held in memory (e.g. an upload part not yet sent). The engine
    /// counts them against its memory budget and closes files that hold too much.
    fn pending_bytes(&self) -> usize {
        0
    }
}

/// Bytes a local file hands to the writer thread at a time. Small, because a transform may hold
/// one file open per partition.
const PART_BYTES: usize = 64 << 10;
/// Operations queued for the writer thread before the engine waits: bounds the bytes in flight.
const QUEUED_OPS: usize = 64;

/// Files under a local directory; written to a hidden temporary name and renamed on commit.
///
/// Creating directories and files, writing and renaming happen on a writer thread, so they overlap
/// with the engine's work the way S3 uploads do: on some file systems creating a directory or a
/// file costs as much as encoding it. Failures are reported by [`OutputStore::sync`], which the
/// engine calls before it reports files as written.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
    writer: Arc<OnceLock<Writer>>,
}

impl LocalDir {
    /// A store rooted at `root` (created when the first file is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            writer: Arc::default(),
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn writer(&self) -> &Writer {
        self.writer.get_or_init(Writer::start)
    }
}

impl OutputStore for LocalDir {
    fn create(&self, key: &str) -> Result<Box<dyn OutputFile>, OutputError> {
        let target = self.path(key);
        let dir = target.parent().unwrap_or(&self.root);
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        // A leading '.' keeps Athena and Hive from reading a file that is still being written.
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        Ok(Box::new(LocalFile {
            file: Arc::new(FileJob {
                key: key.to_string(),
                temp,
                target,
            }),
            writer: self.writer().clone(),
            part: Vec::new(),
            bytes: 0,
            committed: false,
        }))
    }

    fn delete(&self, key: &str) -> Result<(), OutputError> {
        let (reply, answer) = mpsc::channel();
        self.writer().send(
            key,
            Op::Delete {
                key: key.to_string(),
                path: self.path(key),
                reply,
            },
        )?;
        answer.recv().unwrap_or_else(|_| Err(writer_gone(key)))
    }

    fn uri(&self, key: &str) -> String {
        let abs = std::path::absolute(self.path(key)).unwrap_or_else(|_| self.path(key));
        format!("file://{}", abs.display())
    }

    fn sync(&self) -> Result<(), OutputError> {
        let Some(writer) = self.writer.get() else {
            return Ok(());
        };
        let (reply, answer) = mpsc::channel();
        writer.send("", Op::Sync(reply))?;
        answer.recv().unwrap_or_else(|_| Err(writer_gone("")))
    }
}

/// The sending end of a store's writer thread.
#[derive(Debug, Clone)]
struct Writer(mpsc::SyncSender<Op>);

/// One output file's names, shared by its handle and the writer thread's operations.
#[derive(Debug)]
struct FileJob {
    key: String,
    temp: PathBuf,
    target: PathBuf,
}

enum Op {
    /// Appends bytes to the file's temporary name (creating it and its directories first).
    Append(Arc<FileJob>, Vec<u8>),
    /// Closes the file and renames it to its real name.
    Commit(Arc<FileJob>),
    /// Closes the file and removes it, then answers.
    Discard(Arc<FileJob>, mpsc::Sender<()>),
    Delete {
        key: String,
        path: PathBuf,
        reply: mpsc::Sender<Result<(), OutputError>>,
    },
    /// Answers with the first failure since the last sync, once everything sent before is done.
    Sync(mpsc::Sender<Result<(), OutputError>>),
}

fn writer_gone(key: &str) -> OutputError {
    OutputError::Io {
        key: key.to_string(),
        source: io::Error::new(io::ErrorKind::BrokenPipe, "the file writer thread stopped"),
    }
}

impl Writer {
    fn start() -> Self {
        let (sender, ops) = mpsc::sync_channel(QUEUED_OPS);
        std::thread::Builder::new()
            .name("local-writer".into())
            .spawn(move || write_files(ops))
            .expect("a thread can be started");
        Writer(sender)
    }

    fn send(&self, key: &str, op: Op) -> Result<(), OutputError> {
        self.0.send(op).map_err(|_| writer_gone(key))
    }
}

/// The writer thread: carries out operations in the order they were sent, until every sender is
/// gone.
fn write_files(ops: mpsc::Receiver<Op>) {
    let mut files = Files::default();
    for op in ops {
        match op {
            Op::Append(file, bytes) => files.append(&file, &bytes),
            Op::Commit(file) => files.commit(&file),
            Op::Discard(file, reply) => {
                files.discard(&file);
                let _ = reply.send(());
            }
            Op::Delete { key, path, reply } => {
                let result = match fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        Err(OutputError::Io { key, source: e })
                    }
                    _ => Ok(()),
                };
                let _ = reply.send(result);
            }
            Op::Sync(reply) => {
                let _ = reply.send(files.first_error.take().map_or(Ok(()), Err));
            }
        }
    }
}

/// The writer thread's open files and what went wrong since the last sync.
#[derive(Default)]
struct Files {
    open: HashMap<PathBuf, File>,
    /// Files whose writing failed: their later parts and commit are skipped (already reported).
    failed: HashSet<PathBuf>,
    first_error: Option<OutputError>,
}

impl Files {
    fn append(&mut self, file: &FileJob, bytes: &[u8]) {
        if self.failed.contains(&file.temp) {
            return;
        }
        let written = match self.open.entry(file.temp.clone()) {
            Entry::Occupied(e) => e.into_mut().write_all(bytes),
            Entry::Vacant(e) => create(file).and_then(|f| e.insert(f).write_all(bytes)),
        };
        if let Err(source) = written {
            self.discard(file);
            self.failed.insert(file.temp.clone());
            self.fail(file, source);
        }
    }

    fn commit(&mut self, file: &FileJob) {
        if self.failed.remove(&file.temp) {
            return;
        }
        let closed = match self.open.remove(&file.temp) {
            Some(f) => Ok(f),
            // Nothing was written: an empty file.
            None => create(file),
        };
        let renamed = closed.and_then(|f| {
            drop(f);
            fs::rename(&file.temp, &file.target)
        });
        if let Err(source) = renamed {
            let _ = fs::remove_file(&file.temp);
            self.fail(file, source);
        }
    }

    fn discard(&mut self, file: &FileJob) {
        self.failed.remove(&file.temp);
        if self.open.remove(&file.temp).is_some() {
            let _ = fs::remove_file(&file.temp);
        }
    }

    fn fail(&mut self, file: &FileJob, source: io::Error) {
        self.first_error.get_or_insert(OutputError::Io {
            key: file.key.clone(),
            source,
        });
    }
}

fn create(file: &FileJob) -> io::Result<File> {
    if let Some(dir) = file.temp.parent() {
        fs::create_dir_all(dir)?;
    }
    File::create(&file.temp)
}

/// A file being written: bytes are collected into parts and handed to the writer thread.
struct LocalFile {
    file: Arc<FileJob>,
    writer: Writer,
    part: Vec<u8>,
    bytes: u64,
    committed: bool,
}

impl LocalFile {
    fn send_part(&mut self) -> Result<(), OutputError> {
        let part = std::mem::replace(&mut self.part, Vec::with_capacity(PART_BYTES));
        self.writer
            .send(&self.file.key, Op::Append(self.file.clone(), part))
    }
}

impl Write for LocalFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.part.extend_from_slice(buf);
        self.bytes += buf.len() as u64;
        if self.part.len() >= PART_BYTES {
            self.send_part().map_err(io::Error::other)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl OutputFile for LocalFile {
    fn commit(mut self: Box<Self>) -> Result<u64, OutputError> {
        if !self.part.is_empty() {
            self.send_part()?;
        }
        self.committed = true;
        self.writer
            .send(&self.file.key, Op::Commit(self.file.clone()))?;
        Ok(self.bytes)
    }

    fn pending_bytes(&self) -> usize {
        self.part.len()
    }
}

impl Drop for LocalFile {
    /// Discards an uncommitted file, waiting until it is gone (only on failures; the caller may
    /// look at the directory next).
    fn drop(&mut self) {
        if !self.committed {
            let (reply, done) = mpsc::channel();
            let discard = Op::Discard(self.file.clone(), reply);
            if self.writer.send(&self.file.key, discard).is_ok() {
                let _ = done.recv();
            }
        }
    }
}

/// A store that remembers what it committed and has not deleted since: after a failed transform,
/// [`Tracked::left_behind`] says whether the engine's take-back deleted everything (almost always)
/// or some file may still be there (a `DeleteObject` that failed), which only a listing finds.
pub struct Tracked<'s> {
    inner: &'s dyn OutputStore,
    committed: Committed,
}

impl<'s> Tracked<'s> {
    /// Tracks the files written through `inner`.
    pub fn new(inner: &'s dyn OutputStore) -> Self {
        Self {
            inner,
            committed: Default::default(),
        }
    }

    /// The keys committed and not deleted since (relative to the store's root), sorted.
    pub fn left_behind(&self) -> Vec<String> {
        let committed = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        committed.iter().cloned().collect()
    }
}

impl OutputStore for Tracked<'_> {
    fn create(&self, key: &str) -> Result<Box<dyn OutputFile>, OutputError> {
        Ok(Box::new(TrackedFile {
            inner: self.inner.create(key)?,
            key: key.to_string(),
            committed: Arc::clone(&self.committed),
        }))
    }

    fn delete(&self, key: &str) -> Result<(), OutputError> {
        self.inner.delete(key)?;
        let mut committed = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        committed.remove(key);
        Ok(())
    }

    fn uri(&self, key: &str) -> String {
        self.inner.uri(key)
    }

    fn max_key_bytes(&self) -> usize {
        self.inner.max_key_bytes()
    }

    fn sync(&self) -> Result<(), OutputError> {
        self.inner.sync()
    }
}

/// The keys a [`Tracked`] store committed and has not deleted since.
type Committed = Arc<Mutex<BTreeSet<String>>>;

/// A file of a [`Tracked`] store.
struct TrackedFile {
    inner: Box<dyn OutputFile>,
    key: String,
    committed: Committed,
}

impl Write for TrackedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl OutputFile for TrackedFile {
    fn commit(self: Box<Self>) -> Result<u64, OutputError> {
        // Counted before the commit: one that fails in the background may still have landed.
        let mut committed = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        committed.insert(self.key.clone());
        drop(committed);
        self.inner.commit()
    }

    fn pending_bytes(&self) -> usize {
        self.inner.pending_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_appear_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::new(dir.path());
        let mut f = store.create("a=1/x.parquet").unwrap();
        f.write_all(b"hello").unwrap();
        store.sync().unwrap();
        assert!(!dir.path().join("a=1/x.parquet").exists());
        assert_eq!(f.commit().unwrap(), 5);
        store.sync().unwrap();
        assert_eq!(
            fs::read(dir.path().join("a=1/x.parquet")).unwrap(),
            b"hello"
        );

        // Dropped uncommitted, after a part went to the writer thread: nothing is left.
        let mut g = store.create("a=1/y.parquet").unwrap();
        g.write_all(&vec![7; PART_BYTES + 1]).unwrap();
        store.sync().unwrap();
        drop(g);
        let names: Vec<_> = fs::read_dir(dir.path().join("a=1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["x.parquet"]);

        store.delete("a=1/x.parquet").unwrap();
        store.delete("a=1/x.parquet").unwrap();
        assert!(!dir.path().join("a=1/x.parquet").exists());
        assert!(store.uri("k").starts_with("file:///"));
    }

    #[test]
    fn a_tracked_store_knows_what_it_committed_and_did_not_delete() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalDir::new(dir.path());
        let store = Tracked::new(&local);
        for key in ["a", "b", "c"] {
            let mut f = store.create(key).unwrap();
            f.write_all(b"x").unwrap();
            if key != "c" {
                f.commit().unwrap();
            }
        }
        store.sync().unwrap();
        assert_eq!(store.left_behind(), ["a", "b"], "c was dropped uncommitted");
        store.delete("a").unwrap();
        assert_eq!(store.left_behind(), ["b"]);
        assert!(dir.path().join("b").exists() && !dir.path().join("a").exists());
    }

    #[test]
    fn files_of_many_parts_and_empty_files_land_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::new(dir.path());
        let big: Vec<u8> = (0..3 * PART_BYTES + 5).map(|i| (i % 251) as u8).collect();
        let mut f = store.create("p/big.bin").unwrap();
        // Written in uneven pieces, as the Parquet writer does.
        for piece in big.chunks(10_000) {
            f.write_all(piece).unwrap();
        }
        assert!(f.pending_bytes() < PART_BYTES);
        assert_eq!(f.commit().unwrap(), big.len() as u64);
        let empty = store.create("q/empty.bin").unwrap();
        assert_eq!(empty.commit().unwrap(), 0);
        store.sync().unwrap();
        assert_eq!(fs::read(dir.path().join("p/big.bin")).unwrap(), big);
        assert_eq!(fs::read(dir.path().join("q/empty.bin")).unwrap(), b"");
    }

    #[test]
    fn a_failure_on_the_writer_thread_is_reported_by_sync_once_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the partition directory should be: creating the file below it fails.
        fs::write(dir.path().join("a=1"), b"in the way").unwrap();
        let store = LocalDir::new(dir.path());
        let mut bad = store.create("a=1/x.parquet").unwrap();
        bad.write_all(&vec![1; 2 * PART_BYTES]).unwrap();
        bad.commit().unwrap();
        let mut good = store.create("b=2/y.parquet").unwrap();
        good.write_all(b"fine").unwrap();
        good.commit().unwrap();

        let err = store.sync().unwrap_err();
        assert!(
            matches!(&err, OutputError::Io { key, .. } if key == "a=1/x.parquet"),
            "{err}"
        );
        assert!(!err.is_retryable());
        // The other file landed; the failure is reported once.
        assert_eq!(fs::read(dir.path().join("b=2/y.parquet")).unwrap(), b"fine");
        store.sync().unwrap();
    }
}
