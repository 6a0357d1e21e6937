//! Every name the pipeline gives to what it stores, in one place: the identity of a source object,
//! the curated bucket's layout, the file names, and `s3://` URIs.
//!
//! ```text
//! s3://<curated>/tables/<database>/<table>/            table location (CREATE TABLE … LOCATION)
//!     year=2020/month=06/device_id=A/                  partition path (hive)
//!         part-<stem>-00000.snappy.parquet             data file
//! s3://<curated>/rejected/<dataset>/rejected-<stem>.jsonl
//! s3://<curated>/summaries/<dataset>/<stem>.json
//! s3://<curated>/manifests/<dataset>/<key id>.json     which generation of a raw key is current
//! ```
//!
//! The stem is `<source id>-<attempt>`: the source id a hash of the raw object's bucket, key and
//! version (or ETag), the attempt a hash of the Lambda request that wrote the files, so no two
//! attempts share a name. The key id is a hash of bucket and key alone: one manifest per raw key
//! ([`crate::manifest`]).

pub mod hive;

use std::fmt;

use sha2::{Digest, Sha256};

use crate::dataset::{Compression, Dataset};

/// An `s3://bucket/key` URI (the key may be a prefix, or empty for the bucket itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    /// Bucket.
    pub bucket: String,
    /// Key or prefix, without a leading `/`.
    pub key: String,
}

/// A text that is not an `s3://bucket/…` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an s3://bucket/key URI")]
pub struct NotAnS3Uri(pub String);

impl S3Uri {
    /// The URI of `key` in `bucket`.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// Parses `s3://bucket/key`; the bucket must not be empty.
    pub fn parse(uri: &str) -> Result<Self, NotAnS3Uri> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| NotAnS3Uri(uri.into()))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(NotAnS3Uri(uri.into()));
        }
        Ok(Self::new(bucket, key))
    }

    /// Parses `s3://bucket/key` with a non-empty key (an object, not a bucket).
    pub fn parse_object(uri: &str) -> Result<Self, NotAnS3Uri> {
        Self::parse(uri)
            .ok()
            .filter(|u| !u.key.is_empty())
            .ok_or_else(|| NotAnS3Uri(uri.into()))
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The identity of a source object: it names the output files, so processing the same object
/// again overwrites its earlier output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// Bucket (empty for a local file).
    pub bucket: String,
    /// Key (or path).
    pub key: String,
    /// S3 version id, or ETag when unversioned.
    pub version: Option<String>,
    /// The attempt writing its output (the Lambda's request, hashed): its files are named after
    /// it, so overlapping attempts never write or delete each other's files. `None` for the CLI,
    /// whose files are named by the object alone.
    pub attempt: Option<String>,
    /// When the object was created (RFC 3339, UTC): the S3 event's time, or a local file's
    /// modification time; `None` when not known.
    pub created: Option<String>,
}

impl SourceObject {
    /// A local file (the `etl` CLI): identified by its path.
    pub fn local_file(path: &str) -> Self {
        Self {
            bucket: String::new(),
            key: path.to_string(),
            version: None,
            attempt: None,
            created: None,
        }
    }

    /// `s3://bucket/key`, or `file://path` for a local file.
    pub fn uri(&self) -> String {
        if self.bucket.is_empty() {
            format!("file://{}", self.key)
        } else {
            S3Uri::new(&self.bucket, &self.key).to_string()
        }
    }

    /// The short id of the object version, see [`source_id`].
    pub fn id(&self) -> String {
        source_id(&self.bucket, &self.key, self.version.as_deref())
    }

    /// What its output files are named by: `<source id>` or `<source id>-<attempt>`.
    pub fn file_stem(&self) -> String {
        match &self.attempt {
            Some(attempt) => format!("{}-{attempt}", self.id()),
            None => self.id(),
        }
    }
}

/// A short id for an attempt from something unique to it (the Lambda request id).
pub fn attempt_id(unique: &str) -> String {
    source_id("attempt", unique, None)[..12].to_string()
}

/// A short, stable id for a source key (bucket and key, whatever the version): names its
/// manifest.
pub fn key_id(bucket: &str, key: &str) -> String {
    source_id(bucket, key, Some("key"))
}

impl SourceObject {}

/// A short, stable id for a source object: the same object (bucket, key, version or ETag) always
/// gives the same output names, so processing it again overwrites instead of duplicating.
pub fn source_id(bucket: &str, key: &str, version: Option<&str>) -> String {
    let mut h = Sha256::new();
    for part in [bucket, key, version.unwrap_or("")] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Name of the `seq`-th Parquet file a source object writes into one partition (relative to the
/// partition's path).
pub fn data_file_name(stem: &str, seq: u32, compression: Compression) -> String {
    let codec = match compression {
        Compression::Snappy => ".snappy",
        Compression::Zstd => ".zstd",
        Compression::None => "",
    };
    format!("part-{stem}-{seq:05}{codec}.parquet")
}

/// The longest data file name a source object can write: partition paths must leave room for it.
pub fn longest_data_file_name(stem: &str, compression: Compression) -> usize {
    data_file_name(stem, u32::MAX, compression).len()
}

/// Name of the rejected-records file of a source object (relative to the rejected prefix).
pub fn rejected_file_name(dataset: &str, stem: &str) -> String {
    format!("{dataset}/rejected-{stem}.jsonl")
}

/// The prefixes of the curated bucket: tables, rejected records and summaries each under their
/// own, so no table location holds anything but data files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuratedLayout {
    /// The curated bucket.
    pub bucket: String,
    tables: String,
    rejected: String,
    summaries: String,
}

impl CuratedLayout {
    /// Default prefix of table locations.
    pub const TABLES: &'static str = "tables/";
    /// Default prefix of rejected records.
    pub const REJECTED: &'static str = "rejected/";
    /// Default prefix of summaries.
    pub const SUMMARIES: &'static str = "summaries/";
    /// Prefix of manifests.
    pub const MANIFESTS: &'static str = "manifests/";

    /// The layout of `bucket` with the given prefixes (`a`, `a/` and `/a/` alike; empty: the
    /// bucket's root).
    pub fn new(bucket: &str, tables: &str, rejected: &str, summaries: &str) -> Self {
        Self {
            bucket: bucket.to_string(),
            tables: prefix(tables),
            rejected: prefix(rejected),
            summaries: prefix(summaries),
        }
    }

    /// The default prefixes in `bucket`.
    pub fn with_defaults(bucket: &str) -> Self {
        Self::new(bucket, Self::TABLES, Self::REJECTED, Self::SUMMARIES)
    }

    /// The key prefix of a dataset's table: `tables/<database>/<table>/`.
    pub fn table_prefix(&self, dataset: &Dataset) -> String {
        format!("{}{}/{}/", self.tables, dataset.database, dataset.table)
    }

    /// The table location, `s3://curated/tables/<database>/<table>/`.
    pub fn table_location(&self, dataset: &Dataset) -> S3Uri {
        S3Uri::new(&self.bucket, self.table_prefix(dataset))
    }

    /// The prefix rejected-records files are under (see [`rejected_file_name`]).
    pub fn rejected_prefix(&self) -> &str {
        &self.rejected
    }

    /// The key of a source object's rejected-records file (see [`rejected_file_name`]).
    pub fn rejected_key(&self, dataset: &str, stem: &str) -> String {
        format!(
            "{}{}",
            self.rejected_prefix(),
            rejected_file_name(dataset, stem)
        )
    }

    /// The key of a source object's summary (`stem`: [`SourceObject::file_stem`]).
    pub fn summary_key(&self, dataset: &str, stem: &str) -> String {
        format!("{}{dataset}/{stem}.json", self.summaries)
    }

    /// The key of a raw key's manifest.
    pub fn manifest_key(&self, dataset: &str, bucket: &str, key: &str) -> String {
        format!("{}{dataset}/{}.json", Self::MANIFESTS, key_id(bucket, key))
    }

    /// The URI of a key of the curated bucket.
    pub fn uri(&self, key: &str) -> S3Uri {
        S3Uri::new(&self.bucket, key)
    }
}

/// A key prefix ending in one `/`, or empty.
fn prefix(p: &str) -> String {
    let p = p.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as S3 event keys and HTML
/// forms write it). Fails on a malformed escape or bytes that are not UTF-8, saying where.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let byte = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("{text:?} has a bad %-escape at byte {i}"))?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests;
