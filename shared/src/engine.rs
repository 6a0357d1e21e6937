//! The transform: one source object's bytes in, Hive-partitioned Parquet, rejected records and an
//! exact [`Summary`] out. Used by the transform Lambda, the local runner and the `etl` CLI alike.

use std::collections::BTreeMap;

use ahash::AHashMap;
use std::io::{Read, Write};

use serde::Serialize;

use crate::dataset::{Dataset, MismatchPolicy};
use crate::dataset::{Partition, TimePart};
use crate::decode::json::{PathTree, Shape, Slot, UnknownFields};
use crate::decode::{open_input, DecodeError, InputStats, Record, RecordPos, RecordReader};
use crate::hive;
use crate::mapping::{
    preview_text, rejection, value_micros, value_of, write_text, Reason, Rejection, Value,
};
use crate::output::{OutputError, OutputFile, OutputStore};
use crate::parquet_out::{
    file_schema, writer_properties, FileSettings, PartitionOut, RowLayout, WriteError,
};
use crate::read_ahead::ReadAhead;
use crate::summary::{Quality, Summary};

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
}

impl SourceObject {
    /// A local file (the `etl` CLI): identified by its path.
    pub fn local_file(path: &str) -> Self {
        Self {
            bucket: String::new(),
            key: path.to_string(),
            version: None,
        }
    }

    /// `s3://bucket/key`, or `file://path` for a local file.
    pub fn uri(&self) -> String {
        if self.bucket.is_empty() {
            format!("file://{}", self.key)
        } else {
            format!("s3://{}/{}", self.bucket, self.key)
        }
    }
}

/// The transform could not process the object; nothing it wrote is left behind.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The input is unreadable as a whole (broken JSON array, corrupt gzip, read failure).
    #[error("{object}: {source}")]
    Input {
        /// Source URI.
        object: String,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// Writing output failed.
    #[error("{object}: {source}")]
    Output {
        /// Source URI.
        object: String,
        /// Why.
        #[source]
        source: WriteError,
    },
}

impl TransformError {
    /// Whether trying again may succeed (a storage hiccup, not the data).
    pub fn is_retryable(&self) -> bool {
        match self {
            TransformError::Input {
                source: DecodeError::Io(e),
                ..
            } => {
                // A gzip stream that does not inflate is the data's fault.
                e.kind() != std::io::ErrorKind::InvalidInput
                    && e.kind() != std::io::ErrorKind::InvalidData
            }
            TransformError::Input { .. } => false,
            TransformError::Output {
                source: WriteError::Output(e),
                ..
            } => e.is_retryable(),
            TransformError::Output { .. } => false,
        }
    }
}

enum Failure {
    Decode(DecodeError),
    Write(WriteError),
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        Failure::Decode(e)
    }
}

impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Self {
        Failure::Write(e)
    }
}

impl From<OutputError> for Failure {
    fn from(e: OutputError) -> Self {
        Failure::Write(WriteError::Output(e))
    }
}

/// A dataset compiled for transforming: built once (per Lambda cold start), used for many objects.
pub struct Engine<'d> {
    dataset: &'d Dataset,
    tree: PathTree,
    partition_names: Vec<String>,
    file_columns: Vec<usize>,
    schema: arrow_schema::SchemaRef,
    props: parquet::file::properties::WriterProperties,
    layout: RowLayout,
}

impl<'d> Engine<'d> {
    /// Compiles the dataset's paths and Parquet settings.
    pub fn new(dataset: &'d Dataset) -> Self {
        Self {
            dataset,
            tree: PathTree::new(dataset.fields.iter().map(|f| f.path.as_slice())),
            partition_names: dataset.partitions.iter().map(|p| p.name.clone()).collect(),
            file_columns: (0..dataset.fields.len())
                .filter(|&i| dataset.fields[i].in_file)
                .collect(),
            schema: file_schema(dataset),
            props: writer_properties(dataset),
            layout: RowLayout::new(dataset),
        }
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        self.dataset
    }

    /// Transforms one object. Parquet goes to `data` under Hive partition paths, rejected records
    /// to `rejected`. On error, and when the error threshold is crossed, the Parquet files already
    /// written are deleted again.
    pub fn transform(
        &self,
        input: impl Read + Send,
        source: &SourceObject,
        data: &dyn OutputStore,
        rejected: &dyn OutputStore,
    ) -> Result<Summary, TransformError> {
        let mut run = Run::new(self, source, data, rejected);
        let outcome = run.read_all(input);
        match outcome {
            Ok(()) => Ok(run.into_summary()),
            Err(failure) => {
                run.discard();
                let object = source.uri();
                Err(match failure {
                    Failure::Decode(source) => TransformError::Input { object, source },
                    Failure::Write(source) => TransformError::Output { object, source },
                })
            }
        }
    }
}

/// The state of one transform.
struct Run<'e, 'd> {
    engine: &'e Engine<'d>,
    source_uri: String,
    source_id: String,
    data: &'e dyn OutputStore,
    rejected_store: &'e dyn OutputStore,
    settings: FileSettings,
    /// Open partitions, in order of first appearance.
    partitions: Vec<PartitionOut>,
    /// Position in `partitions` by the raw (unescaped) partition values, see [`partition_key`].
    partition_index: AHashMap<Box<[u8]>, usize>,
    /// Position in `partitions` by path: one writer per directory.
    partition_by_path: AHashMap<String, usize>,
    /// Values written as null because they could not be cast (`on_type_mismatch = "null"`), per
    /// field, in written records.
    nulled_by_field: Vec<u64>,
    buffered_bytes: usize,
    budget_bytes: usize,
    rejected_file: Option<(String, Box<dyn OutputFile>)>,
    rejected_key: Option<String>,
    records_in: u64,
    records_written: u64,
    rejected_by_reason: BTreeMap<Reason, u64>,
    rejected_by_field: BTreeMap<String, u64>,
    unknown: UnknownFields,
    bytes_in: u64,
    bytes_decoded: u64,
    threshold_crossed: bool,
}

impl<'e, 'd> Run<'e, 'd> {
    fn new(
        engine: &'e Engine<'d>,
        source: &'e SourceObject,
        data: &'e dyn OutputStore,
        rejected_store: &'e dyn OutputStore,
    ) -> Self {
        let out = &engine.dataset.output;
        let source_id = hive::source_id(&source.bucket, &source.key, source.version.as_deref());
        Self {
            engine,
            source_uri: source.uri(),
            data,
            rejected_store,
            settings: FileSettings {
                schema: engine.schema.clone(),
                props: engine.props.clone(),
                layout: engine.layout.clone(),
                source_id: source_id.clone(),
                compression: out.compression,
                row_group_rows: out.row_group_rows,
                target_file_bytes: out.target_file_mb << 20,
            },
            source_id,
            partitions: Vec::new(),
            partition_index: AHashMap::new(),
            partition_by_path: AHashMap::new(),
            nulled_by_field: vec![0; engine.dataset.fields.len()],
            buffered_bytes: 0,
            budget_bytes: (out.memory_budget_mb as usize) << 20,
            rejected_file: None,
            rejected_key: None,
            records_in: 0,
            records_written: 0,
            rejected_by_reason: BTreeMap::new(),
            rejected_by_field: BTreeMap::new(),
            unknown: UnknownFields::default(),
            bytes_in: 0,
            bytes_decoded: 0,
            threshold_crossed: false,
        }
    }

    fn read_all(&mut self, input: impl Read + Send) -> Result<(), Failure> {
        let (decoded, stats) = open_input(input).map_err(DecodeError::Io)?;
        // Reading, and inflating gzip (about a third of what the rest of the transform does with
        // the bytes), run a few chunks ahead on a thread of their own.
        std::thread::scope(|scope| {
            let name = if stats.gzip { "inflate" } else { "read-ahead" };
            let chunks = ReadAhead::scoped(scope, name, decoded).map_err(DecodeError::Io)?;
            self.read_records(chunks, &stats)
        })
    }

    fn read_records(&mut self, chunks: ReadAhead, stats: &InputStats) -> Result<(), Failure> {
        let mut reader = RecordReader::new(chunks);
        let engine = self.engine;
        let mut unknown = std::mem::take(&mut self.unknown);
        let mut scratch = Scratch::default();
        let result = reader.for_each(
            &engine.tree,
            engine.tree.slot_count(),
            &mut unknown,
            |record| -> Result<(), Failure> {
                self.records_in += 1;
                match record {
                    Record::Invalid { pos, raw, error } => {
                        self.reject(pos, raw, false, Reason::InvalidJson, None, &error)
                    }
                    Record::Parsed {
                        pos,
                        raw,
                        shape: Shape::Other(kind),
                        ..
                    } => {
                        let msg = format!("the record is a JSON {kind}, not an object");
                        self.reject(pos, raw, true, Reason::NotAnObject, None, &msg)
                    }
                    Record::Parsed {
                        pos, raw, slots, ..
                    } => self.accept(pos, raw, slots, &mut scratch),
                }
            },
        );
        self.unknown = unknown;
        self.bytes_in = stats.raw_bytes();
        self.bytes_decoded = reader.bytes_read();
        result?;
        self.finish()
    }

    fn accept(
        &mut self,
        pos: RecordPos,
        raw: &[u8],
        slots: &[Slot<'_>],
        scratch: &mut Scratch,
    ) -> Result<(), Failure> {
        let dataset = self.engine.dataset;
        let mut row = recycle(std::mem::take(&mut scratch.row));
        for (i, (field, slot)) in dataset.fields.iter().zip(slots).enumerate() {
            match value_of(field, slot) {
                Ok(v) => {
                    if field.on_type_mismatch == MismatchPolicy::Null
                        && v == Value::Null
                        && !matches!(slot, Slot::Missing | Slot::Null)
                    {
                        scratch.nulled.push(i);
                    }
                    row.push(v)
                }
                Err(reason) => {
                    scratch.row = recycle(row);
                    scratch.nulled.clear();
                    let rejection = rejection(field, slot, reason);
                    return self.reject_mapped(pos, raw, rejection, Some(&field.column));
                }
            }
        }

        // Looked up by the raw values: escaping the Hive path is only done for a new partition.
        partition_key(
            dataset,
            &row,
            &mut scratch.calendar,
            &mut scratch.text,
            &mut scratch.key,
        );
        let index = match self.partition_index.get(scratch.key.as_slice()) {
            Some(&i) => i,
            None => match self.open_partition(&row, &mut scratch.calendar) {
                Ok(i) => {
                    self.partition_index
                        .insert(scratch.key.as_slice().into(), i);
                    i
                }
                Err((field, rejection)) => {
                    scratch.row = recycle(row);
                    scratch.nulled.clear();
                    let column = &dataset.fields[field].column;
                    return self.reject_mapped(pos, raw, rejection, Some(column));
                }
            },
        };
        if !scratch.nulled.is_empty() {
            for &field in &scratch.nulled {
                self.nulled_by_field[field] += 1;
            }
            scratch.nulled.clear();
        }
        let partition = &mut self.partitions[index];
        let file_values = self.engine.file_columns.iter().map(|&i| row[i]);
        self.buffered_bytes += partition.push_row(&self.settings, file_values);
        self.records_written += 1;
        scratch.row = recycle(row);
        let mut flushed = false;
        if partition.row_group_full(&self.settings) {
            self.buffered_bytes -= partition.flush(self.data, &self.settings)?;
            flushed = true;
        }
        if flushed || self.buffered_bytes > self.budget_bytes {
            self.relieve_memory()?;
        }
        Ok(())
    }

    /// The partition for a row whose partition values were not seen before: by its path, so two
    /// values that share a directory share its writer; a new one when the path is new. Refuses a
    /// value that cannot be a partition value, naming the field it came from.
    #[cold]
    #[inline(never)]
    fn open_partition(
        &mut self,
        row: &[Value<'_>],
        calendar: &mut Calendar,
    ) -> Result<usize, (usize, Rejection)> {
        let dataset = self.engine.dataset;
        let values: Vec<Option<String>> = dataset
            .partitions
            .iter()
            .map(|p| {
                let mut text = String::new();
                partition_text(dataset, p, row, calendar, &mut text).then_some(text)
            })
            .collect();
        let refuse = |i: usize, reason: Reason, message: String| {
            let field = dataset.partitions[i].field;
            Err((field, Rejection { reason, message }))
        };
        let path = match hive::partition_path(
            &self.engine.partition_names,
            values.iter().map(Option::as_deref),
        ) {
            Ok(path) => path,
            Err((i, hive::PartitionValueError::Reserved)) => {
                return refuse(
                    i,
                    Reason::ReservedPartitionValue,
                    format!(
                        "partition {} = {:?} is the name Hive, Glue and Athena give null partition values: it would read back as null. Map it to another value, or partition by another field",
                        dataset.partitions[i].name,
                        hive::DEFAULT_PARTITION
                    ),
                )
            }
            Err((i, hive::PartitionValueError::TooLong)) => {
                return refuse(
                    i,
                    Reason::PartitionValueTooLong,
                    format!(
                        "partition {} = {} is too long for a path segment ({} bytes at most, escaped); partition by a shorter field",
                        dataset.partitions[i].name,
                        preview_text(values[i].as_deref().unwrap_or_default()),
                        hive::MAX_SEGMENT_BYTES
                    ),
                )
            }
        };
        let longest_name =
            hive::data_file_name(&self.source_id, u32::MAX, self.settings.compression);
        if path.len() + longest_name.len() > self.data.max_key_bytes() {
            let last = dataset.partitions.len() - 1;
            return refuse(
                last,
                Reason::PartitionValueTooLong,
                format!(
                    "the partition path {} is too long for an object key of the output ({} bytes at most); partition by shorter fields",
                    preview_text(&path),
                    self.data.max_key_bytes()
                ),
            );
        }
        if let Some(&i) = self.partition_by_path.get(&path) {
            return Ok(i);
        }
        self.partitions
            .push(PartitionOut::new(values, path.clone()));
        let i = self.partitions.len() - 1;
        self.partition_by_path.insert(path, i);
        Ok(i)
    }

    /// Brings memory back under half the budget: first the partitions with the most buffered rows
    /// are flushed as row groups; then, if the output store holds too many written-but-unsent
    /// bytes (open upload parts), the files holding the most are completed.
    fn relieve_memory(&mut self) -> Result<(), Failure> {
        let target = self.budget_bytes / 2;
        if self.buffered_bytes > target {
            let mut by_bytes: Vec<usize> = (0..self.partitions.len()).collect();
            by_bytes
                .sort_unstable_by_key(|&i| std::cmp::Reverse(self.partitions[i].buffered_bytes()));
            for i in by_bytes {
                if self.buffered_bytes <= target {
                    break;
                }
                self.buffered_bytes -= self.partitions[i].flush(self.data, &self.settings)?;
            }
        }
        let mut by_pending: Vec<(usize, usize)> = self
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.pending_bytes(), i))
            .filter(|&(bytes, _)| bytes > 0)
            .collect();
        let mut pending: usize = by_pending.iter().map(|&(bytes, _)| bytes).sum();
        if self.buffered_bytes + pending > self.budget_bytes {
            by_pending.sort_unstable_by_key(|&(bytes, _)| std::cmp::Reverse(bytes));
            for (bytes, i) in by_pending {
                if self.buffered_bytes + pending <= target {
                    break;
                }
                self.partitions[i].close_file()?;
                pending -= bytes;
            }
        }
        Ok(())
    }

    fn reject_mapped(
        &mut self,
        pos: RecordPos,
        raw: &[u8],
        rejection: Rejection,
        column: Option<&str>,
    ) -> Result<(), Failure> {
        self.reject(pos, raw, true, rejection.reason, column, &rejection.message)
    }

    /// Writes a rejected record with its reason and position, and counts it.
    fn reject(
        &mut self,
        pos: RecordPos,
        raw: &[u8],
        valid_json: bool,
        reason: Reason,
        column: Option<&str>,
        message: &str,
    ) -> Result<(), Failure> {
        *self.rejected_by_reason.entry(reason).or_default() += 1;
        if let Some(c) = column {
            *self.rejected_by_field.entry(c.to_string()).or_default() += 1;
        }
        if self.rejected_file.is_none() {
            let key = hive::rejected_file_name(&self.engine.dataset.name, &self.source_id);
            let file = self.rejected_store.create(&key)?;
            self.rejected_file = Some((key, file));
        }
        let (key, file) = self.rejected_file.as_mut().expect("opened above");
        let meta = RejectedMeta {
            source: &self.source_uri,
            record_number: pos.index,
            line: pos.line,
            offset: pos.offset,
            reason: reason.code(),
            field: column,
            message,
        };
        let mut line = serde_json::to_vec(&meta).expect("plain struct serialises");
        line.pop(); // the closing brace: the record itself is appended
        if valid_json {
            line.extend_from_slice(b",\"record\":");
            line.extend(one_line_json(raw));
        } else {
            // Every line is UTF-8 JSON; bytes that are not UTF-8 stay recoverable in base64.
            line.extend_from_slice(b",\"raw\":");
            let text = String::from_utf8_lossy(raw);
            line.extend(serde_json::to_vec(&text).expect("strings serialise"));
            if let std::borrow::Cow::Owned(_) = text {
                line.extend_from_slice(b",\"raw_base64\":\"");
                base64_into(raw, &mut line);
                line.push(b'"');
            }
        }
        line.extend_from_slice(b"}\n");
        file.write_all(&line).map_err(|source| OutputError::Io {
            key: key.clone(),
            source,
        })?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Failure> {
        // In path order, so files are completed in the same order on every run.
        let mut order: Vec<usize> = (0..self.partitions.len()).collect();
        order.sort_by(|&a, &b| self.partitions[a].path().cmp(self.partitions[b].path()));
        for i in order {
            self.partitions[i].finish(self.data, &self.settings)?;
        }
        self.buffered_bytes = 0;
        if let Some((key, file)) = self.rejected_file.take() {
            file.commit()?;
            self.rejected_key = Some(key);
        }
        self.data.sync()?;
        self.rejected_store.sync()?;
        let rejected = self.records_in - self.records_written;
        self.threshold_crossed = match self.engine.dataset.max_rejected_fraction {
            _ if self.records_in == 0 => false,
            None => self.records_written == 0,
            Some(max) => rejected as f64 / self.records_in as f64 > max,
        };
        if self.threshold_crossed {
            // The object failed its quality bar: its rows must not reach the table.
            self.delete_data_files();
        }
        Ok(())
    }

    fn delete_data_files(&mut self) {
        for p in &self.partitions {
            for key in p.committed_keys() {
                // Best effort: the object is failing anyway and its files carry deterministic
                // names, so a reprocess overwrites whatever could not be deleted.
                let _ = self.data.delete(key);
            }
        }
    }

    /// Takes back everything this run wrote (on a failure of the object as a whole).
    fn discard(&mut self) {
        // Dropping uncommitted files discards them.
        for p in &mut self.partitions {
            p.abandon();
        }
        self.rejected_file = None;
        // Commits and discards still finishing in the background must land before files are
        // deleted and before the caller looks.
        let _ = self.data.sync();
        let _ = self.rejected_store.sync();
        self.delete_data_files();
        if let Some(key) = self.rejected_key.take() {
            let _ = self.rejected_store.delete(&key);
        }
    }

    fn into_summary(self) -> Summary {
        let records_rejected = self.records_in - self.records_written;
        let mut partitions: Vec<_> = if self.threshold_crossed {
            Vec::new()
        } else {
            self.partitions
                .iter()
                .map(|p| p.summary(&self.engine.partition_names))
                .collect()
        };
        partitions.sort_by(|a, b| a.path.cmp(&b.path));
        // Like the rows, nulled values count only when the object's rows reach the table.
        let nulled_by_field: BTreeMap<String, u64> = if self.threshold_crossed {
            BTreeMap::new()
        } else {
            let fields = &self.engine.dataset.fields;
            fields
                .iter()
                .zip(&self.nulled_by_field)
                .filter(|&(_, &n)| n > 0)
                .map(|(f, &n)| (f.column.clone(), n))
                .collect()
        };
        Summary {
            dataset: self.engine.dataset.name.clone(),
            source: self.source_uri,
            bytes_in: self.bytes_in,
            bytes_decoded: self.bytes_decoded,
            records_in: self.records_in,
            records_written: if self.threshold_crossed {
                0
            } else {
                self.records_written
            },
            records_rejected,
            rejected_by_reason: self
                .rejected_by_reason
                .iter()
                .map(|(r, n)| (r.code().to_string(), *n))
                .collect(),
            rejected_by_field: self.rejected_by_field,
            values_nulled: nulled_by_field.values().sum(),
            nulled_by_field,
            unknown_fields: self.unknown.counts.into_iter().collect(),
            quality: Quality {
                rejected_fraction: if self.records_in == 0 {
                    0.0
                } else {
                    records_rejected as f64 / self.records_in as f64
                },
                max_rejected_fraction: self.engine.dataset.max_rejected_fraction,
                threshold_crossed: self.threshold_crossed,
            },
            rejected_file: self.rejected_key.map(|k| self.rejected_store.uri(&k)),
            partitions,
        }
    }
}

/// Buffers reused from record to record.
#[derive(Default)]
struct Scratch {
    row: Vec<Value<'static>>,
    /// Fields of the record at hand whose value was nulled by `on_type_mismatch = "null"`.
    nulled: Vec<usize>,
    key: Vec<u8>,
    text: String,
    calendar: Calendar,
}

/// Empties a row and gives its allocation a new lifetime (std collects in place: no reallocation).
fn recycle<'b>(mut row: Vec<Value<'_>>) -> Vec<Value<'b>> {
    row.clear();
    row.into_iter().map(|_| Value::Null).collect()
}

/// The partition values of `row` as one byte string, in `key`: per partition, 0 for the default
/// partition, else 1 and the value: a time part as four bytes, a value's raw text and 0xFF (a byte
/// UTF-8 never holds). Equal keys ⇔ equal paths, and no text is formatted for a known partition.
fn partition_key(
    dataset: &Dataset,
    row: &[Value<'_>],
    calendar: &mut Calendar,
    text: &mut String,
    key: &mut Vec<u8>,
) {
    key.clear();
    for p in &dataset.partitions {
        let value = row[p.field];
        if value == Value::Null {
            key.push(0);
            continue;
        }
        if let Some(part) = p.part {
            let micros = value_micros(&dataset.fields[p.field], value)
                .expect("time partitions use time fields");
            key.push(1);
            key.extend_from_slice(&calendar.part(micros, part).to_le_bytes());
            continue;
        }
        let raw = match value {
            Value::Str(s) => s,
            other => {
                text.clear();
                write_text(other, text);
                text.as_str()
            }
        };
        if raw.is_empty() {
            key.push(0);
        } else {
            key.push(1);
            key.extend_from_slice(raw.as_bytes());
            key.push(0xFF);
        }
    }
}

/// The raw text of a partition value; false when it is null (the default partition).
fn partition_text(
    dataset: &Dataset,
    p: &Partition,
    row: &[Value<'_>],
    calendar: &mut Calendar,
    out: &mut String,
) -> bool {
    let value = row[p.field];
    if value == Value::Null {
        return false;
    }
    let Some(part) = p.part else {
        write_text(value, out);
        return !out.is_empty();
    };
    let micros =
        value_micros(&dataset.fields[p.field], value).expect("time partitions use time fields");
    // Time values were range-checked when cast: the year has four digits.
    let width = if part == TimePart::Year { 4 } else { 2 };
    push_digits(out, calendar.part(micros, part), width);
    true
}

fn push_digits(out: &mut String, value: u32, width: u32) {
    for i in (0..width).rev() {
        out.push(char::from(b'0' + (value / 10u32.pow(i) % 10) as u8));
    }
}

/// Calendar parts of UTC instants, remembering the last instant and day: records arrive roughly
/// in time order, so most share their day with the one before, and several partitions (year,
/// month, ...) usually take their parts from the same instant.
#[derive(Default)]
struct Calendar {
    day: Option<(i64, (u32, u32, u32))>,
    instant: Option<(i64, (u32, u32, u32, u32))>,
}

impl Calendar {
    #[inline]
    fn part(&mut self, micros: i64, part: TimePart) -> u32 {
        let (year, month, day, hour) = self.parts(micros);
        match part {
            TimePart::Year => year,
            TimePart::Month => month,
            TimePart::Day => day,
            TimePart::Hour => hour,
        }
    }

    fn parts(&mut self, micros: i64) -> (u32, u32, u32, u32) {
        if let Some((cached, parts)) = self.instant {
            if cached == micros {
                return parts;
            }
        }
        let days = crate::timefmt::micros_to_days(micros);
        let hour = crate::timefmt::hour_of_day(micros);
        let (y, m, d) = match self.day {
            Some((cached, ymd)) if cached == days => ymd,
            _ => {
                let (y, m, d) = crate::timefmt::civil_from_days(days);
                let ymd = (y.clamp(0, 9999) as u32, m, d);
                self.day = Some((days, ymd));
                ymd
            }
        };
        self.instant = Some((micros, (y, m, d, hour)));
        (y, m, d, hour)
    }
}

/// A valid record as one line of JSON, exactly as written otherwise: valid JSON has no raw
/// control characters inside strings, so line breaks and tabs in it are blanks between tokens.
fn one_line_json(raw: &[u8]) -> impl Iterator<Item = u8> + '_ {
    raw.iter()
        .copied()
        .filter(|b| !matches!(b, b'\n' | b'\r' | b'\t'))
}

/// Appends `bytes` in standard base64 (RFC 4648, with padding).
fn base64_into(bytes: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[derive(Serialize)]
struct RejectedMeta<'a> {
    source: &'a str,
    record_number: u64,
    line: u64,
    offset: u64,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    message: &'a str,
}

#[cfg(test)]
mod tests;
