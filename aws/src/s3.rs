//! S3: streaming reads of raw objects, small JSON objects, and the engine's output files
//! (single PUT for small files, multipart upload for large ones).
//!
//! Network and decoding overlap: the object is read ahead of the engine by a task on the async
//! runtime ([`READ_AHEAD`] bytes at most). One GetObject stream delivers far less than the engine
//! reads (often under 100 MB/s in Lambda), so an object larger than [`RANGED_FROM`] is read as
//! ranges of [`RANGE_BYTES`], [`RANGES_IN_FLIGHT`] at once on their own connections, each pinned
//! to the version the first response came from (`If-Match` its ETag, and its version id): at
//! most `RANGES_IN_FLIGHT × RANGE_BYTES` (32 MiB) more in memory. Multipart parts upload in the background
//! ([`PARTS_IN_FLIGHT`] per file) while the engine goes on. Committing a file (its single PUT, or
//! the completion of its multipart upload) also happens in the background, [`COMMITS_IN_FLIGHT`]
//! at a time: a transform that ends with 150 small partition files does not wait for 150 PUTs one
//! after the other. [`OutputStore::sync`] waits for all of them. The engine itself runs on a
//! blocking thread, so a Lambda's wall time is close to the largest of download, transform and
//! upload rather than their sum.

use etl_core::layout::S3Uri;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use etl_core::output::{OutputError, OutputFile, OutputStore};
use etl_core::ports::{FailureKind, Listed, ObjectStore, PortError, Precondition, Tagged};
use tokio::runtime::Handle;

use crate::error::port_error;

/// Upload part size: S3 needs at least 5 MiB for every part but the last.
pub const PART_SIZE: usize = 8 << 20;

/// Parts of one file being uploaded at once while the engine goes on writing.
pub const PARTS_IN_FLIGHT: usize = 2;

/// How far the download may run ahead of the decoder.
pub const READ_AHEAD: usize = 8 << 20;

/// Objects larger than this are read as ranges on several connections at once.
pub const RANGED_FROM: u64 = 16 << 20;

/// The size of each ranged GET.
pub const RANGE_BYTES: u64 = 8 << 20;

/// Ranged GETs of one object downloading at once (each holds up to [`RANGE_BYTES`]).
pub const RANGES_IN_FLIGHT: usize = 4;

/// Files of one output store being committed at once in the background.
pub const COMMITS_IN_FLIGHT: usize = 16;

/// Bytes the background commits of one output store may hold (PUT bodies, last parts); a commit
/// waits for older ones beyond it, so memory stays bounded however many files there are.
pub const COMMIT_BYTES_IN_FLIGHT: usize = 16 << 20;

/// S3 through one client (built once per cold start).
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: Client,
    ranged_from: u64,
}

impl S3Objects {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            ranged_from: RANGED_FROM,
        }
    }

    /// Reads objects larger than `bytes` as ranges ([`RANGED_FROM`] unless set; `u64::MAX`: one
    /// stream whatever the size, for comparing the two).
    pub fn ranged_from(mut self, bytes: u64) -> Self {
        self.ranged_from = bytes.max(RANGE_BYTES);
        self
    }
}

impl ObjectStore for S3Objects {
    async fn open(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Box<dyn Read + Send>, PortError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(String::from))
            .send()
            .await
            .map_err(|e| port_error(format!("GetObject {}", S3Uri::new(bucket, key)), e))?;
        // The engine reads synchronously on a blocking thread, from chunks a task downloads ahead.
        let size = out.content_length().map_or(0, |n| n.max(0) as u64);
        if size <= self.ranged_from {
            return Ok(Box::new(read_ahead(out.body, &Handle::current())));
        }
        let object = Ranged {
            client: self.client.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            version: out
                .version_id()
                .map(String::from)
                .or(version.map(String::from)),
            etag: out.e_tag().map(String::from),
            size,
        };
        Ok(Box::new(object.read(out.body, &Handle::current())))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
        match self.get_tagged(bucket, key).await? {
            Some(tagged) => Ok(tagged.body),
            None => Err(PortError::new(
                FailureKind::NotFound,
                format!("GetObject {}", S3Uri::new(bucket, key)),
                "NoSuchKey",
                "The specified key does not exist.",
            )),
        }
    }

    fn output_store(&self, bucket: &str, prefix: &str) -> Box<dyn OutputStore> {
        Box::new(S3Output {
            client: self.client.clone(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            handle: Handle::current(),
            commits: Arc::default(),
        })
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| port_error(format!("PutObject {}", S3Uri::new(bucket, key)), e))?;
        Ok(())
    }

    async fn get_tagged(&self, bucket: &str, key: &str) -> Result<Option<Tagged>, PortError> {
        let op = || format!("GetObject {}", S3Uri::new(bucket, key));
        let out = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = port_error(op(), e);
                return match e.kind {
                    FailureKind::NotFound => Ok(None),
                    _ => Err(e),
                };
            }
        };
        let etag = out.e_tag.clone().unwrap_or_default();
        let body =
            out.body.collect().await.map_err(|e| {
                PortError::new(FailureKind::Retryable, op(), "ReadBody", e.to_string())
            })?;
        Ok(Some(Tagged {
            body: body.to_vec(),
            etag,
        }))
    }

    async fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        precondition: &Precondition,
    ) -> Result<bool, PortError> {
        let put = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        let put = match precondition {
            Precondition::Absent => put.if_none_match("*"),
            Precondition::Unchanged(etag) => put.if_match(etag),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = port_error(format!("PutObject {}", S3Uri::new(bucket, key)), e);
                // 412: the precondition did not hold; 409: another conditional write to the key
                // was in progress. Either way someone else wrote: read again.
                if CONDITION_LOST.contains(&e.code.as_str()) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, PortError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                port_error(format!("ListObjectsV2 {}", S3Uri::new(bucket, prefix)), e)
            })?;
            keys.extend(page.contents().iter().filter_map(|o| {
                Some(Listed {
                    key: o.key.clone()?,
                    size: o.size.unwrap_or(0).max(0) as u64,
                    etag: o
                        .e_tag
                        .as_deref()
                        .unwrap_or("")
                        .trim_matches('"')
                        .to_string(),
                    last_modified: o
                        .last_modified
                        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
                })
            }));
        }
        Ok(keys)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), PortError> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| port_error(format!("DeleteObject {}", S3Uri::new(bucket, key)), e))?;
        Ok(())
    }
}

/// The codes of a conditional write that lost: S3 answers 412 `PreconditionFailed`, or 409
/// `ConditionalRequestConflict` while another conditional write to the key is in progress.
const CONDITION_LOST: &[&str] = &["PreconditionFailed", "ConditionalRequestConflict"];

/// Streams `body` from a task on `handle` into a blocking [`Read`], at most [`READ_AHEAD`] bytes
/// ahead of the reader.
fn read_ahead(mut body: ByteStream, handle: &Handle) -> ChunkReader {
    let (feed, reader) = chunk_channel();
    handle.spawn(async move {
        while let Some(chunk) = body.next().await {
            if !feed.send(chunk.map_err(io::Error::other)).await {
                return;
            }
        }
    });
    reader
}

/// The two ends of a download running at most [`READ_AHEAD`] bytes ahead of its reader.
fn chunk_channel() -> (Feed, ChunkReader) {
    // The semaphore bounds the bytes; the channel only needs room for many small chunks.
    let (sender, chunks) = mpsc::channel(1024);
    let feed = Feed {
        sender,
        budget: Arc::new(Semaphore::new(READ_AHEAD / KIB)),
    };
    let reader = ChunkReader {
        chunks,
        current: Bytes::new(),
        _permit: None,
    };
    (feed, reader)
}

const KIB: usize = 1024;

/// The downloading end of [`chunk_channel`].
struct Feed {
    sender: mpsc::Sender<io::Result<(Bytes, OwnedSemaphorePermit)>>,
    budget: Arc<Semaphore>,
}

impl Feed {
    /// Passes a chunk (or the error) to the reader once the budget has room for it; false when
    /// the reader is gone or the chunk was an error (nothing more is to be sent).
    async fn send(&self, chunk: io::Result<Bytes>) -> bool {
        let next = match chunk {
            Ok(chunk) if chunk.is_empty() => return true,
            Ok(chunk) => {
                // At most half the budget for one chunk: the reader keeps the permit of the chunk
                // it is reading until the next arrives, so a chunk needing all of it would wait
                // for that one forever (a range is one chunk of RANGE_BYTES).
                let kib = chunk.len().div_ceil(KIB).min(READ_AHEAD / KIB / 2) as u32;
                let Ok(permit) = self.budget.clone().acquire_many_owned(kib).await else {
                    return false;
                };
                Ok((chunk, permit))
            }
            Err(e) => Err(e),
        };
        let failed = next.is_err();
        // A closed channel means the reader is gone (the engine stopped): stop downloading.
        self.sender.send(next).await.is_ok() && !failed
    }
}

/// A large object read as ranges, all of the version the first response came from.
struct Ranged {
    client: Client,
    bucket: String,
    key: String,
    version: Option<String>,
    etag: Option<String>,
    size: u64,
}

impl Ranged {
    /// The object as a blocking [`Read`]: its first range streamed from `first` (the response to
    /// a plain GetObject, dropped after that range), each further range fetched whole by a GET
    /// of its own, [`RANGES_IN_FLIGHT`] at once, and passed on in order.
    fn read(self, mut first: ByteStream, handle: &Handle) -> ChunkReader {
        let (feed, reader) = chunk_channel();
        let object = Arc::new(self);
        handle.spawn(async move {
            let mut next = RANGE_BYTES.min(object.size);
            let mut in_flight: VecDeque<(u64, JoinHandle<io::Result<Bytes>>)> = VecDeque::new();
            let start_ranges = |in_flight: &mut VecDeque<_>, next: &mut u64| {
                while in_flight.len() < RANGES_IN_FLIGHT && *next < object.size {
                    let end = (*next + RANGE_BYTES).min(object.size);
                    let task = tokio::spawn(Arc::clone(&object).fetch(*next, end));
                    in_flight.push_back((end - *next, task));
                    *next = end;
                }
            };
            start_ranges(&mut in_flight, &mut next);
            // The first range, from the response already open.
            let mut left = RANGE_BYTES.min(object.size) as usize;
            while left > 0 {
                let next_chunk = match first.next().await {
                    Some(Ok(mut chunk)) => {
                        chunk.truncate(left);
                        left -= chunk.len();
                        Ok(chunk)
                    }
                    Some(Err(e)) => Err(io::Error::other(e)),
                    None => Err(object.cut_short()),
                };
                if !feed.send(next_chunk).await {
                    return;
                }
            }
            drop(first);
            while let Some((length, task)) = in_flight.pop_front() {
                let range = match task.await {
                    Ok(Ok(bytes)) if bytes.len() as u64 == length => Ok(bytes),
                    Ok(Ok(_)) => Err(object.cut_short()),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(io::Error::other(e)),
                };
                if !feed.send(range).await {
                    return;
                }
                start_ranges(&mut in_flight, &mut next);
            }
        });
        reader
    }

    /// The bytes `start..end` of the object's version.
    async fn fetch(self: Arc<Self>, start: u64, end: u64) -> io::Result<Bytes> {
        let what = || {
            format!(
                "GetObject {} (bytes {start}-{})",
                S3Uri::new(&self.bucket, &self.key),
                end - 1
            )
        };
        let out = (self.client.get_object())
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version.clone())
            .set_if_match(self.etag.clone())
            .range(format!("bytes={start}-{}", end - 1))
            .send()
            .await
            .map_err(|e| io::Error::other(port_error(what(), e)))?;
        let body = out.body.collect().await.map_err(io::Error::other)?;
        Ok(body.into_bytes())
    }

    fn cut_short(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "GetObject {}: fewer bytes than its {} came",
                S3Uri::new(&self.bucket, &self.key),
                self.size
            ),
        )
    }
}

/// The reading end of [`read_ahead`]; each chunk's budget returns when it has been read.
struct ChunkReader {
    chunks: mpsc::Receiver<io::Result<(Bytes, OwnedSemaphorePermit)>>,
    current: Bytes,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok((chunk, permit))) => {
                    self.current = chunk;
                    self._permit = Some(permit);
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// S3's limit on the length of an object key, in bytes of UTF-8.
const MAX_S3_KEY_BYTES: usize = 1024;

/// Files below `s3://bucket/prefix`, written from a blocking thread.
pub struct S3Output {
    client: Client,
    bucket: String,
    prefix: String,
    handle: Handle,
    commits: Arc<Commits>,
}

/// A commit running in the background: the object key, the bytes it holds, its task.
type Commit = (String, usize, JoinHandle<Result<(), PortError>>);

/// The background commits of one output store, oldest first.
#[derive(Default)]
struct Commits {
    queue: Mutex<VecDeque<Commit>>,
}

impl Commits {
    /// Starts `commit`, then waits for the oldest commits while more than [`COMMITS_IN_FLIGHT`]
    /// or more than [`COMMIT_BYTES_IN_FLIGHT`] bytes are in flight. The new commit is tracked
    /// even when an older one failed, so [`OutputStore::sync`] still waits for it.
    fn start(
        &self,
        handle: &Handle,
        key: String,
        bytes: usize,
        commit: impl std::future::Future<Output = Result<(), PortError>> + Send + 'static,
    ) -> Result<(), OutputError> {
        let task = handle.spawn(commit);
        self.queue
            .lock()
            .expect("commit queue")
            .push_back((key, bytes, task));
        loop {
            let queue = self.queue.lock().expect("commit queue");
            let held: usize = queue.iter().map(|(_, bytes, _)| bytes).sum();
            let over = queue.len() > COMMITS_IN_FLIGHT
                || (queue.len() > 1 && held > COMMIT_BYTES_IN_FLIGHT);
            drop(queue);
            if !over {
                return Ok(());
            }
            self.wait_oldest(handle)?;
        }
    }

    /// Waits for the oldest commit; `Ok(false)` when none is left.
    fn wait_oldest(&self, handle: &Handle) -> Result<bool, OutputError> {
        let Some((key, _, task)) = self.queue.lock().expect("commit queue").pop_front() else {
            return Ok(false);
        };
        handle
            .block_on(task)
            .map_err(|e| task_failed(format!("commit of {key}"), "CommitTask", e))
            .and_then(|done| done)
            .map_err(|e| output_error(&key, e))?;
        Ok(true)
    }
}

impl S3Output {
    fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// A background upload task that panicked or was cancelled: worth retrying the object.
fn task_failed(operation: String, code: &str, e: tokio::task::JoinError) -> PortError {
    PortError::new(FailureKind::Retryable, operation, code, e.to_string())
}

fn output_error(key: &str, e: PortError) -> OutputError {
    OutputError::Service {
        key: key.to_string(),
        source: Box::new(e),
    }
}

impl OutputStore for S3Output {
    fn create(&self, key: &str) -> Result<Box<dyn OutputFile>, OutputError> {
        Ok(Box::new(S3File {
            client: self.client.clone(),
            handle: self.handle.clone(),
            bucket: self.bucket.clone(),
            key: self.object_key(key),
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            bytes: 0,
            committed: false,
            commits: self.commits.clone(),
        }))
    }

    fn delete(&self, key: &str) -> Result<(), OutputError> {
        let key = self.object_key(key);
        self.handle
            .block_on(
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .send(),
            )
            .map_err(|e| {
                output_error(
                    &key,
                    port_error(
                        format!("DeleteObject {}", S3Uri::new(&self.bucket, &key)),
                        e,
                    ),
                )
            })?;
        Ok(())
    }

    fn uri(&self, key: &str) -> String {
        S3Uri::new(&self.bucket, self.object_key(key)).to_string()
    }

    fn max_key_bytes(&self) -> usize {
        MAX_S3_KEY_BYTES.saturating_sub(self.prefix.len())
    }

    fn sync(&self) -> Result<(), OutputError> {
        // Every commit is waited for, even after a failure: nothing may land after this returns.
        let mut first_error = None;
        loop {
            match self.commits.wait_oldest(&self.handle) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// One object being written: buffered up to [`PART_SIZE`], then sent as multipart upload parts.
struct S3File {
    client: Client,
    handle: Handle,
    bucket: String,
    key: String,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    /// Parts being uploaded, oldest first, with their sizes.
    in_flight: VecDeque<(usize, JoinHandle<Result<CompletedPart, PortError>>)>,
    in_flight_bytes: usize,
    bytes: u64,
    committed: bool,
    commits: Arc<Commits>,
}

impl S3File {
    fn send_part(&mut self) -> Result<(), PortError> {
        let op = |what: &str| format!("{what} {}", S3Uri::new(&self.bucket, &self.key));
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let out = self
                    .handle
                    .block_on(
                        self.client
                            .create_multipart_upload()
                            .bucket(&self.bucket)
                            .key(&self.key)
                            .send(),
                    )
                    .map_err(|e| port_error(op("CreateMultipartUpload"), e))?;
                let id = out.upload_id.unwrap_or_default();
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.finish_oldest_part()?;
        }
        let number = (self.parts.len() + self.in_flight.len()) as i32 + 1;
        let body = std::mem::take(&mut self.buffer);
        let size = body.len();
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send();
        let operation = format!("UploadPart {}", S3Uri::new(&self.bucket, &self.key));
        let task = self.handle.spawn(async move {
            let out = request.await.map_err(|e| port_error(operation, e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build())
        });
        self.in_flight.push_back((size, task));
        self.in_flight_bytes += size;
        Ok(())
    }

    /// Waits for the oldest part in flight.
    fn finish_oldest_part(&mut self) -> Result<(), PortError> {
        let Some((size, task)) = self.in_flight.pop_front() else {
            return Ok(());
        };
        self.in_flight_bytes -= size;
        let part = self.handle.block_on(task).map_err(|e| {
            task_failed(
                format!("UploadPart {}", S3Uri::new(&self.bucket, &self.key)),
                "UploadTask",
                e,
            )
        })??;
        self.parts.push(part);
        Ok(())
    }
}

impl Write for S3File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        self.bytes += buf.len() as u64;
        if self.buffer.len() >= PART_SIZE {
            self.send_part().map_err(io::Error::other)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl OutputFile for S3File {
    fn commit(mut self: Box<Self>) -> Result<u64, OutputError> {
        let key = self.key.clone();
        let (held, commit): (usize, CommitFuture) = match self.upload_id.clone() {
            None => {
                let body = std::mem::take(&mut self.buffer);
                let held = body.len();
                let put = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .body(ByteStream::from(body))
                    .send();
                let operation = format!("PutObject {}", S3Uri::new(&self.bucket, &key));
                let commit = async move {
                    put.await.map_err(|e| port_error(operation, e))?;
                    Ok(())
                };
                (held, Box::pin(commit))
            }
            Some(upload_id) => {
                if !self.buffer.is_empty() {
                    self.send_part().map_err(|e| output_error(&key, e))?;
                }
                // From here the background task owns the upload (and aborts it if it fails).
                self.upload_id = None;
                let held = self.in_flight_bytes;
                let commit = complete_upload(
                    self.client.clone(),
                    self.bucket.clone(),
                    key.clone(),
                    upload_id,
                    std::mem::take(&mut self.parts),
                    self.in_flight.drain(..).map(|(_, task)| task).collect(),
                );
                (held, Box::pin(commit))
            }
        };
        self.committed = true;
        self.commits.start(&self.handle, key, held, commit)?;
        Ok(self.bytes)
    }

    fn pending_bytes(&self) -> usize {
        self.buffer.len() + self.in_flight_bytes
    }
}

type CommitFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), PortError>> + Send>>;

/// Waits for the parts still in flight, then completes the multipart upload; on any failure the
/// upload is aborted so no parts linger.
async fn complete_upload(
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    mut parts: Vec<CompletedPart>,
    in_flight: Vec<JoinHandle<Result<CompletedPart, PortError>>>,
) -> Result<(), PortError> {
    let op = |what: &str| format!("{what} {}", S3Uri::new(&bucket, &key));
    let mut result = Ok(());
    for task in in_flight {
        match task.await {
            Ok(Ok(part)) => parts.push(part),
            Ok(Err(e)) => result = Err(e),
            Err(e) => result = Err(task_failed(op("UploadPart"), "UploadTask", e)),
        }
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        result = client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(completed)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error(op("CompleteMultipartUpload"), e));
    }
    if result.is_err() {
        let abort = client
            .abort_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&upload_id)
            .send()
            .await;
        if let Err(e) = abort {
            tracing::warn!(%bucket, %key, error = %e, "could not abort multipart upload");
        }
    }
    result
}

impl Drop for S3File {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for (_, task) in self.in_flight.drain(..) {
            task.abort();
        }
        if let Some(upload_id) = self.upload_id.take() {
            // Not committed: abandon the upload so no parts linger (best effort; a bucket
            // lifecycle rule aborts incomplete uploads too).
            let abort = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send();
            if let Err(e) = self.handle.block_on(abort) {
                tracing::warn!(bucket = %self.bucket, key = %self.key, error = %e, "could not abort multipart upload");
            }
        }
    }
}
