//! S3: streaming reads of raw objects, small JSON objects, and the engine's output files
//! (single PUT for small files, multipart upload for large ones).
//!
//! Network and decoding overlap: the object is read ahead of the engine by a task on the async
//! runtime ([`READ_AHEAD`] bytes at most), and multipart parts upload in the background
//! ([`PARTS_IN_FLIGHT`] per file) while the engine goes on. The engine itself runs on a blocking
//! thread, so a Lambda's wall time is close to the largest of download, transform and upload
//! rather than their sum.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use etl_core::output::{OutputError, OutputFile, OutputStore};
use etl_core::ports::{FailureKind, ObjectStore, PortError};
use tokio::runtime::Handle;

use crate::error::port_error;

/// Upload part size: S3 needs at least 5 MiB for every part but the last.
pub const PART_SIZE: usize = 8 << 20;

/// Parts of one file being uploaded at once while the engine goes on writing.
pub const PARTS_IN_FLIGHT: usize = 2;

/// How far the download may run ahead of the decoder.
pub const READ_AHEAD: usize = 8 << 20;

/// S3 through one client (built once per cold start).
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
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
            .map_err(|e| port_error(format!("GetObject s3://{bucket}/{key}"), e))?;
        // The engine reads synchronously on a blocking thread, from chunks a task downloads ahead.
        Ok(Box::new(read_ahead(out.body, &Handle::current())))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
        let op = || format!("GetObject s3://{bucket}/{key}");
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| port_error(op(), e))?;
        let bytes =
            out.body.collect().await.map_err(|e| {
                PortError::new(FailureKind::Retryable, op(), "ReadBody", e.to_string())
            })?;
        Ok(bytes.to_vec())
    }

    fn output_store(&self, bucket: &str, prefix: &str) -> Box<dyn OutputStore> {
        Box::new(S3Output {
            client: self.client.clone(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            handle: Handle::current(),
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
            .map_err(|e| port_error(format!("PutObject s3://{bucket}/{key}"), e))?;
        Ok(())
    }
}

/// Streams `body` from a task on `handle` into a blocking [`Read`], at most [`READ_AHEAD`] bytes
/// ahead of the reader.
fn read_ahead(mut body: ByteStream, handle: &Handle) -> ChunkReader {
    const KIB: usize = 1024;
    let budget = Arc::new(Semaphore::new(READ_AHEAD / KIB));
    // The semaphore bounds the bytes; the channel only needs room for many small chunks.
    let (sender, chunks) = mpsc::channel(1024);
    handle.spawn(async move {
        loop {
            let next = match body.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    let kib = chunk.len().div_ceil(KIB).min(READ_AHEAD / KIB) as u32;
                    let Ok(permit) = budget.clone().acquire_many_owned(kib).await else {
                        return;
                    };
                    Ok((chunk, permit))
                }
                Some(Err(e)) => Err(io::Error::other(e)),
                None => return,
            };
            let failed = next.is_err();
            // A closed channel means the reader is gone (the engine stopped): stop downloading.
            if sender.send(next).await.is_err() || failed {
                return;
            }
        }
    });
    ChunkReader {
        chunks,
        current: Bytes::new(),
        _permit: None,
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

/// Files below `s3://bucket/prefix`, written from a blocking thread.
pub struct S3Output {
    client: Client,
    bucket: String,
    prefix: String,
    handle: Handle,
}

impl S3Output {
    fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn output_error(key: &str, e: PortError) -> OutputError {
    OutputError::Service {
        key: key.to_string(),
        retryable: e.kind == FailureKind::Retryable,
        code: e.code,
        message: format!("{}: {}", e.operation, e.message),
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
                    port_error(format!("DeleteObject s3://{}/{key}", self.bucket), e),
                )
            })?;
        Ok(())
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.object_key(key))
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
}

impl S3File {
    fn send_part(&mut self) -> Result<(), PortError> {
        let op = |what: &str| format!("{what} s3://{}/{}", self.bucket, self.key);
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
        let operation = format!("UploadPart s3://{}/{}", self.bucket, self.key);
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
            PortError::new(
                FailureKind::Retryable,
                format!("UploadPart s3://{}/{}", self.bucket, self.key),
                "UploadTask",
                e.to_string(),
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
        let result = match self.upload_id.clone() {
            None => {
                let body = ByteStream::from(std::mem::take(&mut self.buffer));
                self.handle
                    .block_on(
                        self.client
                            .put_object()
                            .bucket(&self.bucket)
                            .key(&self.key)
                            .body(body)
                            .send(),
                    )
                    .map(|_| ())
                    .map_err(|e| port_error(format!("PutObject s3://{}/{key}", self.bucket), e))
            }
            Some(upload_id) => {
                let mut last = if self.buffer.is_empty() {
                    Ok(())
                } else {
                    self.send_part()
                };
                while last.is_ok() && !self.in_flight.is_empty() {
                    last = self.finish_oldest_part();
                }
                last.and_then(|()| {
                    let parts = CompletedMultipartUpload::builder()
                        .set_parts(Some(self.parts.clone()))
                        .build();
                    self.handle
                        .block_on(
                            self.client
                                .complete_multipart_upload()
                                .bucket(&self.bucket)
                                .key(&self.key)
                                .upload_id(upload_id)
                                .multipart_upload(parts)
                                .send(),
                        )
                        .map(|_| ())
                        .map_err(|e| {
                            port_error(
                                format!("CompleteMultipartUpload s3://{}/{key}", self.bucket),
                                e,
                            )
                        })
                })
            }
        };
        result.map_err(|e| output_error(&key, e))?;
        self.committed = true;
        Ok(self.bytes)
    }

    fn pending_bytes(&self) -> usize {
        self.buffer.len() + self.in_flight_bytes
    }
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
