//! The dataset definition file as users write it (`datasets/*.toml` or `*.json`).
//!
//! These structs only describe the file format; [`super::Dataset`] is the validated, compiled form the
//! engine runs on. Every field carries a doc comment because the README's reference is written from them.

use serde::Deserialize;

pub use crate::timefmt::EpochUnit;

/// One dataset: which raw objects belong to it, how each record maps to columns, how rows are
/// partitioned, and how the output is written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetFile {
    /// Dataset name (`[a-z0-9_-]`), used in execution names, logs, metrics and output file names.
    pub name: String,
    /// Glue Data Catalog database the table lives in.
    pub database: String,
    /// Glue Data Catalog / Athena table name.
    pub table: String,
    /// Which raw objects belong to this dataset.
    pub source: SourceConfig,
    /// One output row per element of an array inside each record, instead of one per record.
    #[serde(default)]
    pub rows: Option<RowsConfig>,
    /// Output columns, in table order.
    pub fields: Vec<FieldConfig>,
    /// Hive partition keys, outermost first. May be empty.
    #[serde(default)]
    pub partitions: Vec<PartitionConfig>,
    /// Parquet output settings.
    #[serde(default)]
    pub output: OutputConfig,
    /// When an object counts as failed because of rejected records.
    #[serde(default)]
    pub quality: QualityConfig,
}

/// Which objects in the raw bucket belong to the dataset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Key prefix in the raw bucket, e.g. `iot/`. Empty matches every key.
    pub prefix: String,
    /// Accepted key endings. Gzip is detected from the content, so `.gz` only decides matching.
    #[serde(default = "default_suffixes")]
    pub suffixes: Vec<String>,
    /// What deleting a raw object does to its rows.
    #[serde(default)]
    pub on_delete: OnDelete,
    /// The largest raw object the transform takes, in MiB (as stored, compressed or not): a
    /// larger one fails at once, naming the limit, instead of running into the Lambda timeout.
    #[serde(default = "default_max_object_mb")]
    pub max_object_mb: u64,
    /// The most bytes an object may decompress to, in MiB: a gzip bomb fails as soon as it
    /// passes it.
    #[serde(default = "default_max_decompressed_mb")]
    pub max_decompressed_mb: u64,
    /// The records are the elements of the array at this path of member names in each document
    /// (`"Records"` for CloudTrail, `"detail.items"` further in), not the documents themselves.
    #[serde(default)]
    pub records: Option<PathConfig>,
    /// Members of each record whose value is a JSON document written inside a string
    /// (CloudWatch Logs' `message`, SNS's `Message`): a field whose path goes on inside one
    /// (`"message.level"`) reads that document as if it were nested in the record. Member
    /// names only, no brackets; not with `[rows]`.
    #[serde(default)]
    pub json_strings: Vec<PathConfig>,
}

fn default_max_object_mb() -> u64 {
    10 << 10
}

fn default_max_decompressed_mb() -> u64 {
    50 << 10
}

/// What deleting a raw object (`ObjectRemoved:*`) does to the rows it put in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDelete {
    /// Keep them: the raw bucket may expire objects that the table keeps.
    #[default]
    Keep,
    /// Remove them, with the object's rejected records and summary (right to erasure, an upload
    /// to the wrong prefix).
    Remove,
}

fn default_suffixes() -> Vec<String> {
    [".json", ".jsonl", ".ndjson"].map(String::from).to_vec()
}

/// One output row per element of an array (Spark's `explode`, Glue's Unnest).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsConfig {
    /// The array whose elements are the rows, ending in `[*]`: `"payload.commits[*]"`. Each
    /// further `[*]` is one more level (`"resourceLogs[*].scopeLogs[*].logRecords[*]"`): a row
    /// per element of the innermost array. A field whose path starts with this path up to one of
    /// its `[*]` reads the current element of that level (`payload.commits[*].sha`); other paths
    /// read the record, the same value in each of its rows.
    pub each: PathConfig,
    /// What a record (or an element of an outer level) whose array is empty, missing or null
    /// gives.
    #[serde(default)]
    pub empty: EmptyRows,
}

/// What an empty, missing or null array of [`RowsConfig::each`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyRows {
    /// One row whose element columns are null (Spark's `explode_outer`): no record disappears
    /// from the table.
    #[default]
    NullRow,
    /// No row; the record still counts as written, and the summary counts it in
    /// `records_without_rows`.
    Skip,
}

/// A source path: `"location.lat"` (dot-separated) or `["meta.v1", "lat"]` when keys contain dots.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PathConfig {
    /// Dot-separated path.
    Dotted(String),
    /// One entry per key, for keys that contain dots themselves.
    Segments(Vec<String>),
}

/// One output column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// Column name in the table (`[a-z_][a-z0-9_]*`). Defaults to the path's member names in
    /// snake_case, joined by `_` (`userIdentity.accountId` → `user_identity_account_id`).
    pub column: Option<String>,
    /// Where the value is in the source record. Defaults to the column name.
    pub path: Option<PathConfig>,
    /// What `path` starts from: `record` (the default); `document`, the document around the
    /// records with `[source] records` (CloudWatch Logs' `logGroup` on every log event); or
    /// `object`, the raw object itself (`key`, `created`, `key_time`, `key_values.<name>`).
    #[serde(default)]
    pub from: FieldFrom,
    /// Column type, in Athena's spelling: a scalar, `array<T>`, `struct<name:T,...>` or
    /// `map<string,T>`.
    #[serde(rename = "type")]
    pub kind: super::types::ColumnType,
    /// A missing or null value rejects the record.
    #[serde(default)]
    pub required: bool,
    /// What to do with a value that cannot be cast to `type` (Glue's "choice" type).
    #[serde(default)]
    pub on_type_mismatch: MismatchPolicy,
    /// How strings (and numbers) are read as points in time, for `timestamp`, `date` and `int64` with
    /// `epoch_unit`: `auto` (ISO 8601 / RFC 3339 strings, epoch numbers), `iso8601`, `epoch_seconds`,
    /// `epoch_millis`, `epoch_micros`, or a chrono strftime pattern such as `%d/%m/%Y %H:%M`.
    pub format: Option<String>,
    /// Unit of epoch numbers in the input; on an `int64` column it also makes the column a point in
    /// time stored in that unit (so it can feed time partitions and accept date strings).
    pub epoch_unit: Option<EpochUnit>,
    /// Smallest accepted value (numeric columns).
    pub min: Option<f64>,
    /// Largest accepted value (numeric columns).
    pub max: Option<f64>,
    /// Accepted values (string, integer and boolean columns).
    pub allowed: Option<Vec<toml::Value>>,
}

/// What a field's path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldFrom {
    /// The record.
    #[default]
    Record,
    /// The document whose array holds the records (`[source] records`): its members, the same
    /// for each of its records.
    Document,
    /// The raw object: the same for all its records (see [`crate::dataset::OBJECT_MEMBERS`]).
    Object,
}

/// Column types (the scalar names users write are in [`super::types`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// UTF-8 text (Athena `string`).
    String,
    /// 16-bit integer (Athena `smallint`).
    Int16,
    /// 32-bit integer (Athena `int`).
    Int32,
    /// 64-bit integer (Athena `bigint`).
    Int64,
    /// 32-bit float (Athena `float`): the nearest `f32` to the number's text, rounded once.
    Float32,
    /// 64-bit float (Athena `double`).
    Double,
    /// true/false (Athena `boolean`).
    Boolean,
    /// Instant in UTC, microsecond precision (Athena `timestamp`).
    Timestamp,
    /// Calendar date (Athena `date`).
    Date,
    /// An exact decimal number of `precision` digits, `scale` of them after the point (Athena
    /// `decimal(p,s)`), read from the digits of JSON numbers and numeric strings, never through
    /// binary floating point.
    Decimal {
        /// Digits in all, 1 to 38.
        precision: u8,
        /// Digits after the point, 0 to `precision`.
        scale: u8,
    },
    /// Any JSON value (object, array, string, number, boolean) kept as its JSON text (Athena
    /// `string`, queried with `json_extract`): for the parts of a record whose shape varies.
    Json,
    /// An array, struct or map: its shape is the field's [`crate::nested::NestedColumn`].
    Nested,
}

/// What a value that cannot be cast does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MismatchPolicy {
    /// Reject the record with reason `type_mismatch`.
    #[default]
    Reject,
    /// Write null instead (a required field still rejects).
    Null,
}

/// One Hive partition key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionConfig {
    /// Partition column name (`[a-z_][a-z0-9_]*`).
    pub name: String,
    /// The field (by column name) the value comes from.
    pub from: String,
    /// Take this part of a point-in-time field (zero-padded, UTC). Without it the field's value is used.
    pub part: Option<TimePart>,
}

/// Parts of a point in time usable as partition values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimePart {
    /// `2020`
    Year,
    /// `06`
    Month,
    /// `09`
    Day,
    /// `07`
    Hour,
}

/// Parquet output settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// `snappy` (default), `zstd` or `none`.
    pub compression: Compression,
    /// Largest row group, in rows.
    pub row_group_rows: usize,
    /// A partition's file is closed and a new one started once it passes this size.
    pub target_file_mb: u64,
    /// Rows buffered across all partitions before the largest are flushed as row groups.
    pub memory_budget_mb: u64,
    /// The most partitions one object may write: an object past it fails and takes back what it
    /// wrote (a partition key of the wrong field, a timestamp in milliseconds read as seconds).
    pub max_partitions: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            compression: Compression::Snappy,
            row_group_rows: 1_000_000,
            target_file_mb: 256,
            memory_budget_mb: 32,
            max_partitions: 10_000,
        }
    }
}

/// Parquet compression codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Fast, Athena's default.
    Snappy,
    /// Smaller files, a little more CPU.
    Zstd,
    /// Uncompressed.
    None,
}

/// When an object counts as failed because of its rejected records (Glue's stageThreshold).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    /// Largest accepted share of rejected records (0.0 to 1.0). Unset: the object fails only when
    /// it had records and every one was rejected.
    pub max_rejected_fraction: Option<f64>,
}
