//! S3: streaming reads of raw objects, small JSON objects, and the engine's output files
//! (single PUT for small files, multipart upload for large ones).

use std::io::{self, Read, Write};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use etl_core::output::{OutputError, OutputFile, OutputStore};
use etl_core::ports::{FailureKind, ObjectStore, PortError};
use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;

use crate::error::port_error;

/// Upload part size: S3 needs at least 5 MiB for every part but the last.
pub const PART_SIZE: usize = 8 << 20;

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
        // The engine reads synchronously on a blocking thread; the bridge drives the body stream.
        Ok(Box::new(SyncIoBridge::new(out.body.into_async_read())))
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
        let number = self.parts.len() as i32 + 1;
        let body = ByteStream::from(std::mem::take(&mut self.buffer));
        let out = self
            .handle
            .block_on(
                self.client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .body(body)
                    .send(),
            )
            .map_err(|e| port_error(op("UploadPart"), e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build(),
        );
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
                let last = if self.buffer.is_empty() {
                    Ok(())
                } else {
                    self.send_part()
                };
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
        self.buffer.len()
    }
}

impl Drop for S3File {
    fn drop(&mut self) {
        if self.committed {
            return;
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
