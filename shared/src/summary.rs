//! What a transform reports: exact record accounting, schema drift, the quality verdict, and every
//! file it wrote. Serialised as JSON by the CLI and passed between pipeline stages.
//!
//! [`Tally`] keeps the counts while an object is transformed and makes its [`Summary`];
//! [`threshold_crossed`] is the data-quality verdict.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::decode::json::UnknownFields;
use crate::mapping::Reason;

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
    /// For a ZIP archive: the members read (files; folders hold no records). 0 otherwise.
    #[serde(default)]
    pub archive_members: u64,
    /// Records found in the input (valid or not).
    pub records_in: u64,
    /// Records written to Parquet.
    pub records_written: u64,
    /// Records rejected; `records_in = records_written + records_rejected`.
    pub records_rejected: u64,
    /// Rows written to Parquet: one per record written, or, for a dataset with `rows`, one per
    /// element (and per null row of an empty array).
    #[serde(default)]
    pub rows_written: u64,
    /// Records written that gave no row (`rows.empty = "skip"` and an empty, missing or null
    /// array).
    #[serde(default)]
    pub records_without_rows: u64,
    /// Rejected records per reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rejected records per column (for reasons tied to a column).
    pub rejected_by_field: BTreeMap<String, u64>,
    /// Values written as null because they could not be cast to their column's type
    /// (`on_type_mismatch = "null"`), in the rows written.
    #[serde(default)]
    pub values_nulled: u64,
    /// [`Summary::values_nulled`] per column.
    #[serde(default)]
    pub nulled_by_field: BTreeMap<String, u64>,
    /// Values of the rows written that are null because their path met a value it cannot go
    /// into (`payload.commits.sha` with `commits` an array; a `json_strings` member whose string
    /// is not JSON), per column: never silently null.
    #[serde(default)]
    pub unreached_by_field: BTreeMap<String, u64>,
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

/// Whether an object fails its quality bar: more than `max` of its records rejected or, without a
/// `max`, every one of them. An empty object never fails.
pub fn threshold_crossed(records_in: u64, records_written: u64, max: Option<f64>) -> bool {
    let rejected = records_in - records_written;
    match max {
        _ if records_in == 0 => false,
        None => records_written == 0,
        Some(max) => rejected as f64 / records_in as f64 > max,
    }
}

/// The counts of one transform, kept as it runs.
#[derive(Debug, Default)]
pub struct Tally {
    /// Records found (valid or not).
    pub records_in: u64,
    /// Records written to Parquet.
    pub records_written: u64,
    /// Rows they gave.
    pub rows_written: u64,
    /// Records written that gave no row.
    pub records_without_rows: u64,
    rejected_by_reason: BTreeMap<Reason, u64>,
    rejected_by_field: BTreeMap<String, u64>,
    /// Per field (in the dataset's order): values nulled in written records.
    nulled_by_field: Vec<u64>,
    /// Per field: values of written records not reached because their path met an array or a
    /// scalar.
    unreached_by_field: Vec<u64>,
    /// Source keys no field maps.
    pub unknown: UnknownFields,
    /// Bytes read from the source.
    pub bytes_in: u64,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
    /// Members read from a ZIP archive.
    pub archive_members: u64,
}

/// Where an object's output went, for its summary.
#[derive(Debug, Default)]
pub struct Written {
    /// The data-quality verdict: when crossed, the object's rows did not reach the table.
    pub threshold_crossed: bool,
    /// The rejected-records file's URI, when records were rejected.
    pub rejected_file: Option<String>,
    /// The partitions written (ignored when the threshold was crossed).
    pub partitions: Vec<PartitionSummary>,
}

impl Tally {
    /// Empty counts for a dataset with `fields` fields.
    pub fn new(fields: usize) -> Self {
        Self {
            nulled_by_field: vec![0; fields],
            unreached_by_field: vec![0; fields],
            ..Self::default()
        }
    }

    /// Counts a rejected record, and the column it was rejected for.
    pub fn rejected(&mut self, reason: Reason, column: Option<&str>) {
        *self.rejected_by_reason.entry(reason).or_default() += 1;
        if let Some(c) = column {
            *self.rejected_by_field.entry(c.to_string()).or_default() += 1;
        }
    }

    /// Counts a written record and its `rows`, with the fields whose value its rows have nulled
    /// or not reached (a field once per row).
    #[inline]
    pub fn written(&mut self, counted: &crate::mapping::Counted, rows: u64) {
        self.records_written += 1;
        self.rows_written += rows;
        if rows == 0 {
            self.records_without_rows += 1;
        }
        for &field in &counted.nulled {
            self.nulled_by_field[field] += 1;
        }
        for &field in &counted.unreached {
            self.unreached_by_field[field] += 1;
        }
    }

    /// The summary of an object of `dataset` at `source`. When the threshold was crossed no row
    /// reached the table: nothing counts as written or nulled, and no partition is listed.
    pub fn into_summary(self, dataset: &Dataset, source: String, written: Written) -> Summary {
        let records_rejected = self.records_in - self.records_written;
        let reached_table = !written.threshold_crossed;
        let mut partitions = if reached_table {
            written.partitions
        } else {
            Vec::new()
        };
        partitions.sort_by(|a, b| a.path.cmp(&b.path));
        // What counts rows that reached the table: nothing when none did.
        let kept = |n: u64| if reached_table { n } else { 0 };
        let by_field = |counts: &[u64]| -> BTreeMap<String, u64> {
            dataset
                .fields
                .iter()
                .zip(counts)
                .filter(|&(_, &n)| kept(n) > 0)
                .map(|(f, &n)| (f.column.clone(), n))
                .collect()
        };
        let nulled_by_field = by_field(&self.nulled_by_field);
        let unreached_by_field = by_field(&self.unreached_by_field);
        Summary {
            dataset: dataset.name.clone(),
            source,
            bytes_in: self.bytes_in,
            bytes_decoded: self.bytes_decoded,
            archive_members: self.archive_members,
            records_in: self.records_in,
            records_written: kept(self.records_written),
            records_rejected,
            rows_written: kept(self.rows_written),
            records_without_rows: kept(self.records_without_rows),
            rejected_by_reason: self
                .rejected_by_reason
                .iter()
                .map(|(r, n)| (r.code().to_string(), *n))
                .collect(),
            rejected_by_field: self.rejected_by_field,
            values_nulled: nulled_by_field.values().sum(),
            nulled_by_field,
            unreached_by_field,
            unknown_fields: self.unknown.counts.into_iter().collect(),
            quality: Quality {
                rejected_fraction: if self.records_in == 0 {
                    0.0
                } else {
                    records_rejected as f64 / self.records_in as f64
                },
                max_rejected_fraction: dataset.max_rejected_fraction,
                threshold_crossed: written.threshold_crossed,
            },
            rejected_file: written.rejected_file,
            partitions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_a_share_of_records_or_all_of_them() {
        assert!(!threshold_crossed(0, 0, None));
        assert!(!threshold_crossed(0, 0, Some(0.0)));
        assert!(threshold_crossed(3, 0, None));
        assert!(!threshold_crossed(3, 1, None));
        assert!(!threshold_crossed(10, 9, Some(0.1)));
        assert!(threshold_crossed(10, 8, Some(0.1)));
        assert!(threshold_crossed(10, 9, Some(0.0)));
        assert!(!threshold_crossed(10, 0, Some(1.0)));
    }

    fn dataset() -> Dataset {
        Dataset::from_toml_str(
            "name = \"t\"\ndatabase = \"d\"\ntable = \"t\"\n[source]\nprefix = \"\"\n\
             [[fields]]\ncolumn = \"a\"\ntype = \"int64\"\n[[fields]]\ncolumn = \"b\"\ntype = \"double\"\n",
            "test",
        )
        .unwrap()
    }

    fn partition(path: &str, rows: u64) -> PartitionSummary {
        PartitionSummary {
            values: Vec::new(),
            path: path.into(),
            files: Vec::new(),
            rows,
            bytes: 1,
        }
    }

    #[test]
    fn the_summary_adds_up_and_a_failed_object_reports_nothing_written() {
        let mut tally = Tally::new(2);
        let counted = |nulled: Vec<usize>, unreached: Vec<usize>| crate::mapping::Counted {
            nulled,
            unreached,
            ..Default::default()
        };
        for _ in 0..3 {
            tally.records_in += 1;
            tally.written(&counted(vec![1], vec![0]), 1);
        }
        tally.records_in += 2;
        tally.rejected(Reason::TypeMismatch, Some("a"));
        tally.rejected(Reason::InvalidJson, None);
        let written = |crossed| Written {
            threshold_crossed: crossed,
            rejected_file: Some("file:///r".into()),
            partitions: vec![partition("b/", 2), partition("a/", 1)],
        };
        let summary = tally.into_summary(&dataset(), "s".into(), written(false));
        assert_eq!(
            (
                summary.records_in,
                summary.records_written,
                summary.records_rejected
            ),
            (5, 3, 2)
        );
        assert_eq!(summary.rejected_by_reason.values().sum::<u64>(), 2);
        assert_eq!(summary.rejected_by_field, BTreeMap::from([("a".into(), 1)]));
        assert_eq!(summary.nulled_by_field, BTreeMap::from([("b".into(), 3)]));
        assert_eq!(summary.values_nulled, 3);
        assert_eq!(
            summary.unreached_by_field,
            BTreeMap::from([("a".into(), 3)])
        );
        let paths: Vec<&str> = summary.partitions.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["a/", "b/"]);
        assert_eq!(summary.quality.rejected_fraction, 0.4);

        let mut tally = Tally::new(2);
        tally.records_in = 1;
        tally.written(&counted(vec![0], vec![1]), 1);
        let failed = tally.into_summary(&dataset(), "s".into(), written(true));
        assert_eq!((failed.records_in, failed.records_written), (1, 0));
        assert!(failed.partitions.is_empty() && failed.nulled_by_field.is_empty());
        assert!(failed.unreached_by_field.is_empty());
        assert_eq!(failed.values_nulled, 0);
        assert!(failed.quality.threshold_crossed);
    }
}
