//! The port through which the engine writes files (Parquet and rejected records), with the local
//! directory adapter. The S3 adapter lives with the transform Lambda.
//!
//! A file becomes visible only when committed, so a failed run leaves no half-written file under a
//! real name; committed files are deleted again by the engine when the object fails as a whole.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

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
    #[error("cannot write {key}: {code}: {message}")]
    Service {
        /// The output key.
        key: String,
        /// The service's error code, e.g. `SlowDown`.
        code: String,
        /// The service's message.
        message: String,
        /// Whether trying again later may succeed (throttling, timeouts, 5xx).
        retryable: bool,
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
            OutputError::Service { retryable, .. } => *retryable,
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

/// Per-file write buffer: small, because a transform may hold one file open per partition.
const WRITE_BUFFER: usize = 64 << 10;

/// Files under a local directory; written to a hidden temporary name and renamed on commit.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// A store rooted at `root` (created when the first file is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

impl OutputStore for LocalDir {
    fn create(&self, key: &str) -> Result<Box<dyn OutputFile>, OutputError> {
        let io_err = |source| OutputError::Io {
            key: key.to_string(),
            source,
        };
        let target = self.path(key);
        let dir = target.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(io_err)?;
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        // A leading '.' keeps Athena and Hive from reading a file that is still being written.
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&temp).map_err(io_err)?;
        Ok(Box::new(LocalFile {
            key: key.to_string(),
            temp,
            target,
            out: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            bytes: 0,
        }))
    }

    fn delete(&self, key: &str) -> Result<(), OutputError> {
        match fs::remove_file(self.path(key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(OutputError::Io {
                key: key.to_string(),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    fn uri(&self, key: &str) -> String {
        let abs = std::path::absolute(self.path(key)).unwrap_or_else(|_| self.path(key));
        format!("file://{}", abs.display())
    }
}

struct LocalFile {
    key: String,
    temp: PathBuf,
    target: PathBuf,
    out: Option<BufWriter<File>>,
    bytes: u64,
}

impl Write for LocalFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.as_mut().expect("file is open").write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("file is open").flush()
    }
}

impl OutputFile for LocalFile {
    fn commit(mut self: Box<Self>) -> Result<u64, OutputError> {
        let io_err = |source| OutputError::Io {
            key: self.key.clone(),
            source,
        };
        let file = self.out.take().expect("file is open");
        file.into_inner().map_err(|e| io_err(e.into_error()))?;
        fs::rename(&self.temp, &self.target).map_err(io_err)?;
        Ok(self.bytes)
    }

    fn pending_bytes(&self) -> usize {
        self.out.as_ref().map_or(0, |o| o.buffer().len())
    }
}

impl Drop for LocalFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            // Not committed: discard.
            let _ = fs::remove_file(&self.temp);
        }
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
        assert!(!dir.path().join("a=1/x.parquet").exists());
        assert_eq!(f.commit().unwrap(), 5);
        assert_eq!(
            fs::read(dir.path().join("a=1/x.parquet")).unwrap(),
            b"hello"
        );

        let mut g = store.create("a=1/y.parquet").unwrap();
        g.write_all(b"partial").unwrap();
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
}
