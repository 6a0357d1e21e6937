//! Per-partition column buffers and Parquet files.
//!
//! Rows are appended to Arrow builders per partition; a partition is flushed as one row group when
//! it reaches `row_group_rows` or when the engine needs memory back. A partition's file is closed
//! and the next one started once it passes `target_file_mb`.

use std::sync::Arc;

use ahash::AHashSet;
use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::dataset::{Compression, Dataset, FieldType};
use crate::hive;
use crate::mapping::Value;
use crate::output::{OutputError, OutputFile, OutputStore};
use crate::summary::{FileSummary, PartitionSummary, PartitionValue};

/// Failure writing Parquet.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Encoding failed.
    #[error("cannot encode Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building a batch failed.
    #[error("cannot build a record batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The output store failed.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// The Arrow schema of the data files (partition-carried columns left out).
pub fn file_schema(dataset: &Dataset) -> SchemaRef {
    let fields: Vec<ArrowField> = dataset
        .file_fields()
        .map(|f| ArrowField::new(&f.column, arrow_type(f.kind), !f.required))
        .collect();
    Arc::new(Schema::new(fields))
}

fn arrow_type(kind: FieldType) -> DataType {
    match kind {
        FieldType::String => DataType::Utf8,
        FieldType::Int32 => DataType::Int32,
        FieldType::Int64 => DataType::Int64,
        FieldType::Double => DataType::Float64,
        FieldType::Boolean => DataType::Boolean,
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        FieldType::Date => DataType::Date32,
    }
}

/// Writer settings from the dataset's output section.
pub fn writer_properties(dataset: &Dataset) -> WriterProperties {
    let compression = match dataset.output.compression {
        Compression::Snappy => ParquetCompression::SNAPPY,
        Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::default()),
        Compression::None => ParquetCompression::UNCOMPRESSED,
    };
    WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(dataset.output.row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(concat!("serverless-etl ", env!("CARGO_PKG_VERSION")).to_string())
        .build()
}

/// The writer settings for a file whose first row group is `batch`: dictionary encoding is turned
/// off for columns whose values do not repeat (event ids, timestamps). For those the dictionary is
/// as large as the data, the file grows by the indices, and every value costs a hash lookup; plain
/// encoding is smaller and faster. Columns whose values repeat keep the dictionary: even values
/// that look unique in a few rows (coordinates, readings) repeat over a whole row group.
fn file_properties(base: &WriterProperties, batch: &RecordBatch) -> WriterProperties {
    let unique: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(_, column)| never_repeats(column.as_ref()))
        .map(|(field, _)| field.name().as_str())
        .collect();
    if unique.is_empty() {
        return base.clone();
    }
    unique
        .into_iter()
        .fold(base.clone().into_builder(), |b, name| {
            b.set_column_dictionary_enabled(ColumnPath::from(name), false)
        })
        .build()
}

/// Whether the first [`SAMPLE`] non-null values are all distinct: by the birthday bound, values
/// drawn from fewer than about a hundred thousand possibilities would almost surely have repeated.
/// Too few values to judge (a small partition) keep the default.
fn never_repeats(column: &dyn Array) -> bool {
    const SAMPLE: usize = 512;
    const TOO_FEW: usize = 64;
    fn judge<T: std::hash::Hash + Eq>(values: impl Iterator<Item = Option<T>>) -> bool {
        let mut seen = AHashSet::with_capacity(SAMPLE);
        for v in values.flatten().take(SAMPLE) {
            if !seen.insert(v) {
                return false;
            }
        }
        seen.len() >= TOO_FEW
    }
    match column.data_type() {
        DataType::Utf8 => judge(column.as_string::<i32>().iter()),
        DataType::Int32 => judge(column.as_primitive::<Int32Type>().iter()),
        DataType::Date32 => judge(column.as_primitive::<Date32Type>().iter()),
        DataType::Int64 => judge(column.as_primitive::<Int64Type>().iter()),
        DataType::Timestamp(..) => judge(column.as_primitive::<TimestampMicrosecondType>().iter()),
        DataType::Float64 => judge(
            column
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(f64::to_bits)),
        ),
        _ => false,
    }
}

enum Column {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Micros(TimestampMicrosecondBuilder),
    Days(Date32Builder),
}

impl Column {
    fn new(kind: FieldType) -> Self {
        match kind {
            FieldType::String => Column::Str(StringBuilder::new()),
            FieldType::Int32 => Column::I32(Int32Builder::new()),
            FieldType::Int64 => Column::I64(Int64Builder::new()),
            FieldType::Double => Column::F64(Float64Builder::new()),
            FieldType::Boolean => Column::Bool(BooleanBuilder::new()),
            FieldType::Timestamp => {
                Column::Micros(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            FieldType::Date => Column::Days(Date32Builder::new()),
        }
    }

    /// Appends a value already cast to this column's type; returns the bytes it buffers.
    fn push(&mut self, value: Value<'_>) -> usize {
        match (self, value) {
            (Column::Str(b), Value::Str(s)) => {
                b.append_value(s);
                s.len() + 4
            }
            (Column::I32(b), Value::I32(v)) => {
                b.append_value(v);
                4
            }
            (Column::I64(b), Value::I64(v)) => {
                b.append_value(v);
                8
            }
            (Column::F64(b), Value::F64(v)) => {
                b.append_value(v);
                8
            }
            (Column::Bool(b), Value::Bool(v)) => {
                b.append_value(v);
                1
            }
            (Column::Micros(b), Value::Micros(v)) => {
                b.append_value(v);
                8
            }
            (Column::Days(b), Value::Days(v)) => {
                b.append_value(v);
                4
            }
            (column, Value::Null) => {
                column.push_null();
                1
            }
            (_, other) => unreachable!("a value cast for another column type: {other:?}"),
        }
    }

    fn push_null(&mut self) {
        match self {
            Column::Str(b) => b.append_null(),
            Column::I32(b) => b.append_null(),
            Column::I64(b) => b.append_null(),
            Column::F64(b) => b.append_null(),
            Column::Bool(b) => b.append_null(),
            Column::Micros(b) => b.append_null(),
            Column::Days(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Str(b) => Arc::new(b.finish()),
            Column::I32(b) => Arc::new(b.finish()),
            Column::I64(b) => Arc::new(b.finish()),
            Column::F64(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Micros(b) => Arc::new(b.finish()),
            Column::Days(b) => Arc::new(b.finish()),
        }
    }
}

/// Everything one partition has buffered and written.
pub struct PartitionOut {
    values: Vec<Option<String>>,
    path: String,
    columns: Vec<Column>,
    buffered_rows: usize,
    buffered_bytes: usize,
    writer: Option<ArrowWriter<Box<dyn OutputFile>>>,
    current_key: String,
    current_rows: u64,
    files: Vec<FileSummary>,
}

/// Settings shared by all partitions of one transform.
pub struct FileSettings {
    /// Data file schema.
    pub schema: SchemaRef,
    /// Parquet writer settings.
    pub props: WriterProperties,
    /// Source object id for file names.
    pub source_id: String,
    /// Codec, for file names.
    pub compression: Compression,
    /// Row group size in rows.
    pub row_group_rows: usize,
    /// Size at which a file is closed.
    pub target_file_bytes: u64,
}

impl PartitionOut {
    /// An empty partition at `path` with these raw values.
    pub fn new(dataset: &Dataset, values: Vec<Option<String>>, path: String) -> Self {
        Self {
            values,
            path,
            columns: dataset.file_fields().map(|f| Column::new(f.kind)).collect(),
            buffered_rows: 0,
            buffered_bytes: 0,
            writer: None,
            current_key: String::new(),
            current_rows: 0,
            files: Vec::new(),
        }
    }

    /// The partition's Hive path, e.g. `year=2020/month=06/device_id=A/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Bytes of rows waiting in builders.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Appends one row (values for the file columns, in order); returns the bytes added.
    pub fn push_row<'v>(&mut self, row: impl Iterator<Item = Value<'v>>) -> usize {
        let mut bytes = 0;
        for (column, value) in self.columns.iter_mut().zip(row) {
            bytes += column.push(value);
        }
        self.buffered_rows += 1;
        self.buffered_bytes += bytes;
        bytes
    }

    /// Whether the buffered rows make a full row group.
    pub fn row_group_full(&self, s: &FileSettings) -> bool {
        self.buffered_rows >= s.row_group_rows
    }

    /// Writes the buffered rows as a row group; returns the bytes released.
    pub fn flush(
        &mut self,
        store: &dyn OutputStore,
        s: &FileSettings,
    ) -> Result<usize, WriteError> {
        if self.buffered_rows == 0 {
            return Ok(0);
        }
        let columns: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        let batch = RecordBatch::try_new(s.schema.clone(), columns)?;
        if self.writer.is_none() {
            let seq = self.files.len() as u32;
            self.current_key = format!(
                "{}{}",
                self.path,
                hive::data_file_name(&s.source_id, seq, s.compression)
            );
            let file = store.create(&self.current_key)?;
            self.writer = Some(ArrowWriter::try_new(
                file,
                s.schema.clone(),
                Some(file_properties(&s.props, &batch)),
            )?);
        }
        let writer = self.writer.as_mut().expect("writer was just opened");
        writer.write(&batch)?;
        writer.flush()?;
        self.current_rows += self.buffered_rows as u64;
        let released = self.buffered_bytes;
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
        if writer.bytes_written() as u64 >= s.target_file_bytes {
            self.close_file()?;
        }
        Ok(released)
    }

    /// Bytes of the open file still held in memory by the output store.
    pub fn pending_bytes(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, |w| w.inner().pending_bytes())
    }

    /// Completes the open file (if any); the next flush starts a new one.
    pub fn close_file(&mut self) -> Result<(), WriteError> {
        if let Some(writer) = self.writer.take() {
            let file = writer.into_inner()?;
            let bytes = file.commit()?;
            self.files.push(FileSummary {
                key: std::mem::take(&mut self.current_key),
                rows: std::mem::take(&mut self.current_rows),
                bytes,
            });
        }
        Ok(())
    }

    /// Flushes what is left and closes the open file.
    pub fn finish(&mut self, store: &dyn OutputStore, s: &FileSettings) -> Result<(), WriteError> {
        self.flush(store, s)?;
        self.close_file()
    }

    /// Drops the open file without committing it (which discards it) and the buffered rows.
    pub fn abandon(&mut self) {
        self.writer = None;
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
    }

    /// Keys of the files committed so far.
    pub fn committed_keys(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.key.as_str())
    }

    /// The partition's summary, with the partition key names.
    pub fn summary(&self, names: &[String]) -> PartitionSummary {
        PartitionSummary {
            values: names
                .iter()
                .zip(&self.values)
                .map(|(name, value)| PartitionValue {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            path: self.path.clone(),
            rows: self.files.iter().map(|f| f.rows).sum(),
            bytes: self.files.iter().map(|f| f.bytes).sum(),
            files: self.files.clone(),
        }
    }
}
