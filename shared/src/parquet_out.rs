//! Per-partition row buffers and Parquet files.
//!
//! Rows are appended to a row buffer per partition; a partition is flushed as one row group when
//! it reaches `row_group_rows` or when the engine needs memory back. A partition's file is closed
//! and the next one started once it passes `target_file_mb`.

use std::sync::Arc;

use ahash::AHashSet;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::dataset::{Compression, Dataset, Field, FieldType};
use crate::mapping::Value;
use crate::nested::NestedColumn;
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
        .map(|f| ArrowField::new(&f.column, field_type(f), !f.required))
        .collect();
    Arc::new(Schema::new(fields))
}

/// A column's Arrow type.
fn field_type(field: &Field) -> DataType {
    match &field.nested {
        Some(nested) => nested.data_type(),
        None => arrow_type(field.kind),
    }
}

/// The Arrow type of a scalar column type.
pub(crate) fn arrow_type(kind: FieldType) -> DataType {
    match kind {
        FieldType::String | FieldType::Json => DataType::Utf8,
        FieldType::Int16 => DataType::Int16,
        FieldType::Int32 => DataType::Int32,
        FieldType::Int64 => DataType::Int64,
        FieldType::Float32 => DataType::Float32,
        FieldType::Double => DataType::Float64,
        FieldType::Decimal { precision, scale } => DataType::Decimal128(precision, scale as i8),
        FieldType::Boolean => DataType::Boolean,
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        FieldType::Date => DataType::Date32,
        FieldType::Nested => unreachable!("a nested column's type comes from its shape"),
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
        DataType::Int16 => judge(column.as_primitive::<Int16Type>().iter()),
        DataType::Int32 => judge(column.as_primitive::<Int32Type>().iter()),
        DataType::Float32 => judge(
            column
                .as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(f32::to_bits)),
        ),
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

/// The file columns as [`Rows`] holds them.
#[derive(Debug, Clone)]
pub struct RowLayout {
    /// The file columns' types, in file order.
    kinds: Vec<FieldType>,
    /// The shapes of the nested columns among them.
    nested: Vec<Option<Arc<NestedColumn>>>,
    /// Per column, the string column before it in the same row, if any.
    previous_string: Vec<Option<usize>>,
    /// The last string column of a row, if any.
    last_string: Option<usize>,
}

impl RowLayout {
    /// The layout of a dataset's file columns.
    pub fn new(dataset: &Dataset) -> Self {
        Self::of(
            dataset.file_fields().map(|f| f.kind).collect(),
            dataset.file_fields().map(|f| f.nested.clone()).collect(),
        )
    }

    fn of(kinds: Vec<FieldType>, nested: Vec<Option<Arc<NestedColumn>>>) -> Self {
        let mut previous_string = Vec::with_capacity(kinds.len());
        let mut last_string = None;
        for (c, kind) in kinds.iter().enumerate() {
            previous_string.push(last_string);
            // A nested value is kept as its JSON text until its batch is built.
            if matches!(
                kind,
                FieldType::String | FieldType::Json | FieldType::Nested | FieldType::Decimal { .. }
            ) {
                last_string = Some(c);
            }
        }
        Self {
            kinds,
            nested,
            previous_string,
            last_string,
        }
    }
}

/// A partition's rows waiting for their row group, kept row by row: one 64-bit word per file
/// column holding the value's bits, or for a string where its bytes end in `text` (it starts where
/// the string before it ended). Appending a row writes one run of memory, where Arrow builders
/// (one per column, for each of up to hundreds of open partitions) took a cache miss for nearly
/// every value; the rows are turned into columns when they are written.
#[derive(Default)]
pub(crate) struct Rows {
    words: Vec<u64>,
    text: Vec<u8>,
    /// One bit per value (row-major), set for a null; only as long as the last null needs.
    nulls: Vec<u64>,
    /// The columns that hold a null: the others need no validity buffer.
    null_columns: Vec<u64>,
    len: usize,
}

/// Bit `bit` of a bitmap kept as words; bits past its end are clear.
fn bit_is_set(bits: &[u64], bit: usize) -> bool {
    bits.get(bit / 64).is_some_and(|w| w >> (bit % 64) & 1 == 1)
}

/// Sets bit `bit`, growing the bitmap as needed.
fn set_bit(bits: &mut Vec<u64>, bit: usize) {
    if bits.len() <= bit / 64 {
        bits.resize(bit / 64 + 1, 0);
    }
    bits[bit / 64] |= 1 << (bit % 64);
}

impl Rows {
    /// Appends one row; returns the bytes it takes.
    #[inline]
    fn push<'v>(&mut self, layout: &RowLayout, row: impl Iterator<Item = Value<'v>>) -> usize {
        let columns = layout.kinds.len();
        let text_start = self.text.len();
        self.words.reserve(columns);
        for (c, value) in row.enumerate() {
            let word = match value {
                Value::Str(s) => {
                    self.text.extend_from_slice(s.as_bytes());
                    self.text.len() as u64
                }
                Value::Nested(span) => {
                    self.text.extend_from_slice(span);
                    self.text.len() as u64
                }
                Value::JsonString(s) => {
                    serde_json::to_writer(&mut self.text, s).expect("a string serialises");
                    self.text.len() as u64
                }
                // Sixteen bytes in the text buffer: a row's words stay one per column.
                Value::Decimal { unscaled, .. } => {
                    self.text.extend_from_slice(&unscaled);
                    self.text.len() as u64
                }
                Value::F64(v) => v.to_bits(),
                Value::F32(v) => u64::from(v.to_bits()),
                Value::I64(v) | Value::Micros(v) => v as u64,
                Value::I32(v) | Value::Days(v) => i64::from(v) as u64,
                Value::Bool(v) => u64::from(v),
                Value::Null => {
                    set_bit(&mut self.nulls, self.len * columns + c);
                    set_bit(&mut self.null_columns, c);
                    // Where a string column's next value starts.
                    self.text.len() as u64
                }
            };
            self.words.push(word);
        }
        debug_assert_eq!(
            self.words.len(),
            (self.len + 1) * columns,
            "a value per column"
        );
        self.len += 1;
        columns * 8 + self.text.len() - text_start
    }

    /// Where the text of row `r`'s value in string-like column `c` starts: where the string
    /// before it, in the same row or the row before, ended.
    fn text_start(&self, layout: &RowLayout, c: usize, r: usize) -> usize {
        let columns = layout.kinds.len();
        match (layout.previous_string[c], layout.last_string) {
            (Some(p), _) => self.words[r * columns + p] as usize,
            (None, Some(last)) if r > 0 => self.words[(r - 1) * columns + last] as usize,
            _ => 0,
        }
    }

    /// The text of row `r`'s value in string-like column `c`.
    fn text_of(&self, layout: &RowLayout, c: usize, r: usize) -> &[u8] {
        let end = self.words[r * layout.kinds.len() + c] as usize;
        &self.text[self.text_start(layout, c, r)..end]
    }

    /// Rows `range` as a record batch of the file schema.
    fn batch(
        &self,
        s: &FileSettings,
        range: std::ops::Range<usize>,
    ) -> Result<RecordBatch, WriteError> {
        let columns = (0..s.layout.kinds.len())
            .map(|c| self.column(&s.layout, c, range.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(s.schema.clone(), columns)?)
    }

    /// Column `c` of rows `range` as an Arrow array.
    fn column(
        &self,
        layout: &RowLayout,
        c: usize,
        range: std::ops::Range<usize>,
    ) -> Result<ArrayRef, WriteError> {
        let columns = layout.kinds.len();
        let word = |r: usize| self.words[r * columns + c];
        let first = range.start;
        let nulls = bit_is_set(&self.null_columns, c).then(|| {
            NullBuffer::new(BooleanBuffer::collect_bool(range.len(), |i| {
                !bit_is_set(&self.nulls, (first + i) * columns + c)
            }))
        });
        let values = range.clone();
        Ok(match layout.kinds[c] {
            FieldType::Double => Arc::new(Float64Array::new(
                values.map(|r| f64::from_bits(word(r))).collect(),
                nulls,
            )),
            FieldType::Int64 => Arc::new(Int64Array::new(
                values.map(|r| word(r) as i64).collect(),
                nulls,
            )),
            FieldType::Timestamp => Arc::new(
                TimestampMicrosecondArray::new(values.map(|r| word(r) as i64).collect(), nulls)
                    .with_timezone("UTC"),
            ),
            FieldType::Int32 => Arc::new(Int32Array::new(
                values.map(|r| word(r) as i64 as i32).collect(),
                nulls,
            )),
            // Cast within range: the mapping checked it.
            FieldType::Int16 => Arc::new(Int16Array::new(
                values.map(|r| word(r) as i64 as i16).collect(),
                nulls,
            )),
            FieldType::Float32 => Arc::new(Float32Array::new(
                values.map(|r| f32::from_bits(word(r) as u32)).collect(),
                nulls,
            )),
            FieldType::Date => Arc::new(Date32Array::new(
                values.map(|r| word(r) as i64 as i32).collect(),
                nulls,
            )),
            FieldType::Boolean => Arc::new(BooleanArray::new(
                BooleanBuffer::collect_bool(range.len(), |i| word(first + i) != 0),
                nulls,
            )),
            FieldType::Nested => {
                let nested = layout.nested[c]
                    .as_ref()
                    .expect("a nested column has its shape");
                let mut collector = nested.collector();
                for (i, r) in values.enumerate() {
                    match bit_is_set(&self.nulls, (first + i) * columns + c) {
                        true => collector.null(),
                        false => nested.collect(self.text_of(layout, c, r), &mut collector),
                    }
                }
                collector.finish()?
            }
            FieldType::Decimal { precision, scale } => {
                let value = |r: usize| {
                    let bytes = &self.text[self.text_start(layout, c, r)..word(r) as usize];
                    // A null's is empty.
                    bytes.try_into().map_or(0, i128::from_le_bytes)
                };
                Arc::new(
                    Decimal128Array::new(values.map(value).collect(), nulls)
                        .with_precision_and_scale(precision, scale as i8)?,
                )
            }
            FieldType::String | FieldType::Json => {
                let start_of = |r: usize| self.text_start(layout, c, r);
                let mut offsets = Vec::with_capacity(range.len() + 1);
                offsets.push(0i32);
                let mut bytes = Vec::new();
                for r in values {
                    bytes.extend_from_slice(&self.text[start_of(r)..word(r) as usize]);
                    offsets.push(i32::try_from(bytes.len()).map_err(|_| {
                        arrow_schema::ArrowError::ComputeError(
                            "a batch holds more than 2 GiB of one string column".into(),
                        )
                    })?);
                }
                Arc::new(StringArray::try_new(
                    OffsetBuffer::new(offsets.into()),
                    bytes.into(),
                    nulls,
                )?)
            }
        })
    }
}

/// Rows per record batch handed to the Parquet writer: the columns of one batch exist next to
/// the buffered rows only while it is written.
pub(crate) const BATCH_ROWS: usize = 8192;

mod nested;
pub(crate) use nested::Collector;

/// Everything one partition has buffered and written.
pub struct PartitionOut {
    values: Vec<Option<String>>,
    path: String,
    rows: Rows,
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
    /// How rows are buffered.
    pub layout: RowLayout,
    /// What the data files are named by ([`crate::layout::SourceObject::file_stem`]).
    pub file_stem: String,
    /// Codec, for file names.
    pub compression: Compression,
    /// Row group size in rows.
    pub row_group_rows: usize,
    /// Size at which a file is closed.
    pub target_file_bytes: u64,
}

impl PartitionOut {
    /// An empty partition at `path` with these raw values.
    pub fn new(values: Vec<Option<String>>, path: String) -> Self {
        Self {
            values,
            path,
            rows: Rows::default(),
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

    /// Bytes of rows waiting to be written.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Whether a file is open (its writer's state held in memory until it is completed).
    pub fn has_open_file(&self) -> bool {
        self.writer.is_some()
    }

    /// Appends one row (values for the file columns, in order, cast to their types); returns the
    /// bytes added.
    #[inline]
    pub fn push_row<'v>(
        &mut self,
        s: &FileSettings,
        row: impl Iterator<Item = Value<'v>>,
    ) -> usize {
        let bytes = self.rows.push(&s.layout, row);
        self.buffered_bytes += bytes;
        bytes
    }

    /// Whether the buffered rows make a full row group.
    pub fn row_group_full(&self, s: &FileSettings) -> bool {
        self.rows.len >= s.row_group_rows
    }

    /// Writes the buffered rows as a row group; returns the bytes released.
    pub fn flush(
        &mut self,
        store: &dyn OutputStore,
        s: &FileSettings,
    ) -> Result<usize, WriteError> {
        if self.rows.len == 0 {
            return Ok(0);
        }
        let rows = std::mem::take(&mut self.rows);
        for first in (0..rows.len).step_by(BATCH_ROWS) {
            let batch = rows.batch(s, first..rows.len.min(first + BATCH_ROWS))?;
            self.write_batch(store, s, &batch)?;
        }
        let writer = self.writer.as_mut().expect("a batch was written");
        writer.flush()?;
        self.current_rows += rows.len as u64;
        let released = self.buffered_bytes;
        self.buffered_bytes = 0;
        if writer.bytes_written() as u64 >= s.target_file_bytes {
            self.close_file()?;
        }
        Ok(released)
    }

    /// Writes a batch into the open row group, opening a file first when none is open.
    fn write_batch(
        &mut self,
        store: &dyn OutputStore,
        s: &FileSettings,
        batch: &RecordBatch,
    ) -> Result<(), WriteError> {
        if self.writer.is_none() {
            let seq = self.files.len() as u32;
            self.current_key = format!(
                "{}{}",
                self.path,
                crate::layout::data_file_name(&s.file_stem, seq, s.compression)
            );
            let file = store.create(&self.current_key)?;
            self.writer = Some(ArrowWriter::try_new(
                file,
                s.schema.clone(),
                Some(file_properties(&s.props, batch)),
            )?);
        }
        let writer = self.writer.as_mut().expect("writer was just opened");
        writer.write(batch)?;
        Ok(())
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
        self.rows = Rows::default();
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

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type};

    use super::*;

    /// Several string columns (each string starts where the one before it, in the same row or the
    /// row before, ended), more than 64 columns (null flags past the first word), nulls anywhere,
    /// and batches cut at arbitrary rows: every value comes back where it was put.
    #[test]
    fn rows_come_back_as_the_columns_they_were() {
        let cycle = [
            FieldType::String,
            FieldType::Double,
            FieldType::String,
            FieldType::Int64,
            FieldType::Boolean,
            FieldType::Int32,
            FieldType::Date,
            FieldType::Timestamp,
            FieldType::Json,
            FieldType::Decimal {
                precision: 38,
                scale: 4,
            },
            FieldType::Int16,
            FieldType::Float32,
        ];
        let kinds: Vec<FieldType> = cycle.iter().copied().cycle().take(70).collect();
        let layout = RowLayout::of(kinds.clone(), vec![None; kinds.len()]);
        let texts: Vec<String> = (0..700)
            .map(|n| "é".repeat(n % 4) + &n.to_string())
            .collect();
        // Row r, column c: null for some pairs (in the first row too), else a value from r and c.
        let value = |r: usize, c: usize| -> Value<'_> {
            if (r * 7 + c * 3).is_multiple_of(11) {
                return Value::Null;
            }
            let n = (r * 70 + c) as i64;
            match kinds[c] {
                FieldType::String => Value::Str(&texts[(r * 70 + c) % 700]),
                FieldType::Double => Value::F64(n as f64 / 4.0),
                FieldType::Int64 => Value::I64(-n),
                FieldType::Boolean => Value::Bool(n % 3 == 0),
                FieldType::Int32 => Value::I32(n as i32 - 500),
                FieldType::Int16 => Value::I32((n % 60_000 - 30_000) as i32),
                FieldType::Float32 => Value::F32(-(n as f32) / 3.0),
                FieldType::Date => Value::Days(n as i32),
                FieldType::Timestamp => Value::Micros(n * 1_000_000),
                FieldType::Json => Value::JsonString(&texts[(r * 70 + c) % 700]),
                FieldType::Decimal { scale, .. } => Value::Decimal {
                    unscaled: (i128::from(n) * 10i128.pow(30) - 7).to_le_bytes(),
                    scale,
                },
                FieldType::Nested => unreachable!("no nested column in this layout"),
            }
        };
        let mut rows = Rows::default();
        let mut bytes = 0;
        for r in 0..100 {
            bytes += rows.push(&layout, (0..70).map(|c| value(r, c)));
        }
        assert_eq!(rows.len, 100);
        assert!(
            bytes >= 100 * 70 * 8,
            "every value counts against the budget"
        );

        for range in [0..37, 37..100, 99..100] {
            for (c, kind) in kinds.iter().enumerate() {
                let array = rows.column(&layout, c, range.clone()).unwrap();
                assert_eq!(array.len(), range.len());
                for (i, r) in range.clone().enumerate() {
                    let expected = value(r, c);
                    if expected == Value::Null {
                        assert!(array.is_null(i), "row {r} column {c} is null");
                        continue;
                    }
                    if let Value::JsonString(text) = expected {
                        // Written as JSON text: the string quoted and escaped.
                        let written = array.as_string::<i32>().value(i);
                        assert_eq!(serde_json::from_str::<String>(written).unwrap(), text);
                        continue;
                    }
                    let got = match kind {
                        FieldType::String | FieldType::Json => {
                            Value::Str(array.as_string::<i32>().value(i))
                        }
                        FieldType::Double => {
                            Value::F64(array.as_primitive::<Float64Type>().value(i))
                        }
                        FieldType::Int64 => Value::I64(array.as_primitive::<Int64Type>().value(i)),
                        FieldType::Boolean => Value::Bool(array.as_boolean().value(i)),
                        FieldType::Int32 => Value::I32(array.as_primitive::<Int32Type>().value(i)),
                        FieldType::Int16 => Value::I32(
                            array
                                .as_primitive::<arrow_array::types::Int16Type>()
                                .value(i)
                                .into(),
                        ),
                        FieldType::Float32 => Value::F32(
                            array
                                .as_primitive::<arrow_array::types::Float32Type>()
                                .value(i),
                        ),
                        FieldType::Date => Value::Days(array.as_primitive::<Date32Type>().value(i)),
                        FieldType::Timestamp => Value::Micros(
                            array
                                .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                                .value(i),
                        ),
                        FieldType::Decimal { scale, .. } => Value::Decimal {
                            unscaled: array
                                .as_primitive::<arrow_array::types::Decimal128Type>()
                                .value(i)
                                .to_le_bytes(),
                            scale: *scale,
                        },
                        FieldType::Nested => unreachable!("no nested column in this layout"),
                    };
                    assert_eq!(got, expected, "row {r} column {c}");
                }
            }
        }
    }

    /// A column without nulls carries no validity buffer, as an Arrow builder would give it.
    #[test]
    fn columns_without_nulls_have_no_validity_buffer() {
        let layout = RowLayout::of(vec![FieldType::Double, FieldType::String], vec![None, None]);
        let mut rows = Rows::default();
        rows.push(&layout, [Value::F64(1.0), Value::Null].into_iter());
        rows.push(&layout, [Value::F64(2.0), Value::Str("x")].into_iter());
        assert!(rows.column(&layout, 0, 0..2).unwrap().nulls().is_none());
        let text = rows.column(&layout, 1, 0..2).unwrap();
        assert_eq!(text.null_count(), 1);
        assert_eq!(text.as_string::<i32>().value(1), "x");
    }
}
