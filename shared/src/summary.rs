//! What a transform reports: exact record accounting, schema drift, the quality verdict, and every
//! file it wrote. Serialised as JSON by the CLI and passed between pipeline stages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The result of transforming one source object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Dataset name.
    pub dataset: String,
    /// The source object's URI.
    pub source: String,
    /// Bytes read from the source (compressed size for gzip).
    pub bytes_in: u64,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
    /// Records found in the input (valid or not).
    pub records_in: u64,
    /// Records written to Parquet.
    pub records_written: u64,
    /// Records rejected; `records_in = records_written + records_rejected`.
    pub records_rejected: u64,
    /// Rejected records per reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rejected records per column (for reasons tied to a column).
    pub rejected_by_field: BTreeMap<String, u64>,
    /// Values written as null because they could not be cast to their column's type
    /// (`on_type_mismatch = "null"`), in the records written.
    #[serde(default)]
    pub values_nulled: u64,
    /// [`Summary::values_nulled`] per column.
    #[serde(default)]
    pub nulled_by_field: BTreeMap<String, u64>,
    /// Source keys no field maps, with how often they were seen (dropped from the output).
    pub unknown_fields: BTreeMap<String, u64>,
    /// The error-threshold verdict.
    pub quality: Quality,
    /// Where the rejected records are, when there are any.
    pub rejected_file: Option<String>,
    /// Partitions written, in path order.
    pub partitions: Vec<PartitionSummary>,
}

/// The error-threshold verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// `records_rejected / records_in` (0 for an empty input).
    pub rejected_fraction: f64,
    /// The configured threshold; `None`: the object fails only when every record is rejected.
    pub max_rejected_fraction: Option<f64>,
    /// The object counts as failed; its Parquet output was discarded.
    pub threshold_crossed: bool,
}

/// One Hive partition written by the transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSummary {
    /// Partition values in key order (`None`: the default partition).
    pub values: Vec<PartitionValue>,
    /// Path relative to the table location, e.g. `year=2020/month=06/device_id=A/`.
    pub path: String,
    /// Files written into it.
    pub files: Vec<FileSummary>,
    /// Rows in all its files.
    pub rows: u64,
    /// Bytes in all its files.
    pub bytes: u64,
}

/// A partition key and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionValue {
    /// Partition column.
    pub name: String,
    /// Raw (unescaped) value; `None` for null/empty.
    pub value: Option<String>,
}

/// One Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    /// Key relative to the table location.
    pub key: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

impl Summary {
    /// Files written in all partitions.
    pub fn files_written(&self) -> usize {
        self.partitions.iter().map(|p| p.files.len()).sum()
    }

    /// Bytes of Parquet written.
    pub fn bytes_written(&self) -> u64 {
        self.partitions.iter().map(|p| p.bytes).sum()
    }
}
