//! Local adapters: objects in a directory (one folder per bucket), and recording fakes for
//! executions, queries and notifications that behave like the services in the ways the stages
//! rely on (duplicate execution names, a table existing after its CREATE, message ids).

use crate::layout::S3Uri;
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{
    ExecutionStarter, FailureKind, Listed, Notifier, ObjectStore, PortError, Precondition,
    QueryEngine, QueryInfo, StartOutcome, Tagged,
};
use crate::contract::QueryState;
use crate::output::{LocalDir, OutputStore};

/// Objects as files: `root/bucket/key`. Versions are not kept. Conditional writes hold one lock
/// (shared by the clones of a `LocalObjects`) between their check and their write, as S3 decides
/// them atomically.
#[derive(Debug, Clone)]
pub struct LocalObjects {
    root: PathBuf,
    conditional: Arc<Mutex<()>>,
}

impl LocalObjects {
    /// Objects below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            conditional: Arc::default(),
        }
    }

    /// The ETag of a local object: a hash of its bytes, quoted as S3 quotes ETags.
    fn etag(body: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        let hex: String = Sha256::digest(body)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("\"{hex}\"")
    }

    fn read_tagged(&self, bucket: &str, key: &str) -> Result<Option<Tagged>, PortError> {
        match fs::read(self.path(bucket, key)) {
            Ok(body) => Ok(Some(Tagged {
                etag: Self::etag(&body),
                body,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::error("GetObject", bucket, key, e)),
        }
    }

    /// Writes whole or not at all (a temporary file renamed), so a reader never sees half an
    /// object, as in S3.
    fn write(&self, bucket: &str, key: &str, body: &[u8]) -> Result<(), PortError> {
        let path = self.path(bucket, key);
        let failed = |e| Self::error("PutObject", bucket, key, e);
        let dir = path.parent().expect("an object's path has a parent");
        fs::create_dir_all(dir).map_err(failed)?;
        let mut temp = tempfile_in(dir).map_err(failed)?;
        std::io::Write::write_all(&mut temp.1, body).map_err(failed)?;
        fs::rename(&temp.0, &path).map_err(failed)
    }

    /// The file behind an object.
    pub fn path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    fn error(op: &str, bucket: &str, key: &str, e: std::io::Error) -> PortError {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            FailureKind::NotFound
        } else {
            FailureKind::Permanent
        };
        PortError::new(
            kind,
            format!("{op} {}", S3Uri::new(bucket, key)),
            format!("{:?}", e.kind()),
            e.to_string(),
        )
    }
}

impl ObjectStore for LocalObjects {
    async fn open(
        &self,
        bucket: &str,
        key: &str,
        _version: Option<&str>,
    ) -> Result<Box<dyn Read + Send>, PortError> {
        let file = fs::File::open(self.path(bucket, key))
            .map_err(|e| Self::error("GetObject", bucket, key, e))?;
        Ok(Box::new(file))
    }

    fn output_store(&self, bucket: &str, prefix: &str) -> Box<dyn OutputStore> {
        Box::new(LocalDir::new(self.path(bucket, prefix)))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
        fs::read(self.path(bucket, key)).map_err(|e| Self::error("GetObject", bucket, key, e))
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), PortError> {
        self.write(bucket, key, &body)
    }

    async fn get_tagged(&self, bucket: &str, key: &str) -> Result<Option<Tagged>, PortError> {
        self.read_tagged(bucket, key)
    }

    async fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        precondition: &Precondition,
    ) -> Result<bool, PortError> {
        let _decided_alone = self
            .conditional
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = self.read_tagged(bucket, key)?;
        let holds = match (precondition, &now) {
            (Precondition::Absent, None) => true,
            (Precondition::Unchanged(etag), Some(now)) => &now.etag == etag,
            _ => false,
        };
        if holds {
            self.write(bucket, key, &body)?;
        }
        Ok(holds)
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, PortError> {
        let root = self.root.join(bucket);
        let mut keys = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Self::error("ListObjectsV2", bucket, prefix, e)),
            };
            for entry in entries {
                let path = entry
                    .map_err(|e| Self::error("ListObjectsV2", bucket, prefix, e))?
                    .path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let key = path.strip_prefix(&root).expect("below the root");
                let key = key
                    .to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/");
                // Hidden names are files being written (`LocalDir`, `write`), not objects.
                let hidden = key.rsplit('/').next().is_some_and(|n| n.starts_with('.'));
                if key.starts_with(prefix) && !hidden {
                    let body = fs::read(&path)
                        .map_err(|e| Self::error("ListObjectsV2", bucket, prefix, e))?;
                    keys.push(Listed {
                        key,
                        size: body.len() as u64,
                        etag: Self::etag(&body).trim_matches('"').to_string(),
                        last_modified: fs::metadata(&path)
                            .and_then(|m| m.modified())
                            .ok()
                            .map(crate::timefmt::rfc3339_of),
                    });
                }
            }
        }
        Ok(keys)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), PortError> {
        match fs::remove_file(self.path(bucket, key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::error("DeleteObject", bucket, key, e)),
        }
    }
}

/// Records started executions; a repeated name is [`StartOutcome::AlreadyExists`], as in Step Functions.
#[derive(Debug, Default)]
pub struct RecordingStarter {
    /// (name, input) of every execution started.
    pub started: Mutex<Vec<(String, String)>>,
}

impl ExecutionStarter for RecordingStarter {
    async fn start(&self, name: &str, input: &str) -> Result<StartOutcome, PortError> {
        let mut started = self.started.lock().expect("not poisoned");
        if started.iter().any(|(n, _)| n == name) {
            return Ok(StartOutcome::AlreadyExists);
        }
        started.push((name.to_string(), input.to_string()));
        Ok(StartOutcome::Started(format!(
            "arn:aws:states:local:000000000000:execution:pipeline:{name}"
        )))
    }
}

/// Records queries and succeeds them; a table exists once a `CREATE` for it was run.
#[derive(Debug, Default)]
pub struct RecordingQueryEngine {
    /// Every query started, in order.
    pub queries: Mutex<Vec<String>>,
    /// `database.table` names that exist.
    pub tables: Mutex<BTreeSet<String>>,
}

impl QueryEngine for RecordingQueryEngine {
    async fn table_exists(&self, database: &str, table: &str) -> Result<bool, PortError> {
        Ok(self
            .tables
            .lock()
            .expect("not poisoned")
            .contains(&format!("{database}.{table}")))
    }

    async fn start(&self, sql: &str, _database: Option<&str>) -> Result<String, PortError> {
        if let Some(rest) = sql.strip_prefix("CREATE EXTERNAL TABLE IF NOT EXISTS ") {
            let name: String = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .replace('`', "");
            self.tables.lock().expect("not poisoned").insert(name);
        }
        let mut queries = self.queries.lock().expect("not poisoned");
        queries.push(sql.to_string());
        Ok(format!("local-query-{}", queries.len()))
    }

    async fn status(&self, _query_execution_id: &str) -> Result<QueryInfo, PortError> {
        Ok(QueryInfo {
            state: QueryState::Succeeded,
            reason: None,
            engine_execution_ms: Some(0),
            data_scanned_bytes: Some(0),
        })
    }
}

/// Records published messages.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    /// (subject, message) of every message.
    pub messages: Mutex<Vec<(String, String)>>,
}

impl Notifier for RecordingNotifier {
    async fn publish(&self, subject: &str, message: &str) -> Result<String, PortError> {
        let mut messages = self.messages.lock().expect("not poisoned");
        messages.push((subject.to_string(), message.to_string()));
        Ok(format!("local-message-{}", messages.len()))
    }
}

/// A new file with a unique hidden name in `dir`.
fn tempfile_in(dir: &std::path::Path) -> std::io::Result<(PathBuf, fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".put-{}-{n}", std::process::id()));
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}
