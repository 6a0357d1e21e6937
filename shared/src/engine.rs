//! The transform: one source object's bytes in, Hive-partitioned Parquet, rejected records and an
//! exact [`Summary`] out. Used by the transform Lambda, the local runner and the `etl` CLI alike.
//!
//! A short pipeline of stages, each in its own module:
//!
//! ```text
//! bytes ─ decode ─────────► record slots ─ mapping ──► row ─ partition ─► index ─ writer ──► Parquet
//!         (decode::RecordReader)           (map_record)     (Partitioner)          (TableWriter)
//!              │ invalid JSON, not an object       │ rejected      │ refused
//!              └───────────────────────────────────┴───────────────┴──► rejected::RejectedWriter
//! ```
//!
//! Every record is counted ([`Tally`]) as written or rejected with a reason; the quality verdict
//! ([`threshold_crossed`]) decides whether the rows reach the table.

mod error;
mod rows;
mod sources;
mod value_paths;

use std::io::Read;

use error::Failure;
pub use error::TransformError;

use crate::dataset::{Dataset, FieldFrom};
use crate::decode::compression::Compression;
use crate::decode::json::UnknownFields;
use crate::decode::json::{PathTree, Shape, Slot};
use crate::decode::zip::ZipReader;
use crate::decode::{
    open_member, open_object, DecodeError, Opened, Record, RecordPos, RecordReader,
};
use crate::layout::{self, SourceObject};
use crate::mapping::{map_record, map_row, rejection, Counted, Reason, Rejection, Value};
use crate::output::OutputStore;
use crate::parquet_out::{file_schema, writer_properties, FileSettings, RowLayout};
use crate::partition::{Partitioner, Place};
use crate::read_ahead::ReadAhead;
use crate::rejected::{RejectedRecord, RejectedWriter};
use crate::summary::{threshold_crossed, Summary, Tally, Written};
use crate::writer::TableWriter;

/// A dataset compiled for transforming: built once (per Lambda cold start), used for many objects.
pub struct Engine {
    dataset: Dataset,
    tree: PathTree,
    /// The fields stored in the data files (not those only carried by the partition path).
    file_columns: Vec<usize>,
    schema: arrow_schema::SchemaRef,
    props: parquet::file::properties::WriterProperties,
    layout: RowLayout,
    /// The fields whose paths step into arrays past their member names (their `select`).
    selecting: Vec<usize>,
    /// For a dataset with `rows`: how its records become rows.
    rows: Option<rows::RowPlan>,
    /// For a dataset with `json_strings` or fields from the document: how they are read.
    sources: Option<sources::SourcesPlan>,
}

impl Engine {
    /// Compiles the dataset's paths and Parquet settings.
    pub fn new(dataset: &Dataset) -> Self {
        let rows = rows::RowPlan::new(dataset);
        let sources = sources::SourcesPlan::new(dataset);
        let tree = match (&rows, &sources) {
            (Some(plan), _) => plan.record_tree().clone(),
            (None, Some(plan)) => plan.record_tree().clone(),
            (None, None) => PathTree::new(dataset.fields.iter().map(|f| f.path.as_slice())),
        };
        Self {
            dataset: dataset.clone(),
            tree,
            file_columns: (0..dataset.fields.len())
                .filter(|&i| dataset.fields[i].in_file)
                .collect(),
            schema: file_schema(dataset),
            props: writer_properties(dataset),
            layout: RowLayout::new(dataset),
            selecting: (0..dataset.fields.len())
                .filter(|&i| !dataset.fields[i].select.is_empty())
                .collect(),
            rows,
            sources,
        }
    }

    /// The dataset it transforms.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
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
        match run.read_all(input) {
            Ok(()) => Ok(run.into_summary()),
            Err(failure) => {
                run.discard();
                let object = match &run.member {
                    Some(member) => format!("{}, member {member}", source.uri()),
                    None => source.uri(),
                };
                Err(TransformError::new(object, failure))
            }
        }
    }
}

/// The state of one transform.
struct Run<'e> {
    engine: &'e Engine,
    source_uri: String,
    partitioner: Partitioner<'e>,
    writer: TableWriter<'e>,
    rejected: RejectedWriter<'e>,
    tally: Tally,
    threshold_crossed: bool,
    /// The object's members, for fields `from = "object"` (see [`sources::object_document`]).
    object: String,
    /// The ZIP archive's member being read, for an archive.
    member: Option<String>,
}

impl<'e> Run<'e> {
    fn new(
        engine: &'e Engine,
        source: &SourceObject,
        data: &'e dyn OutputStore,
        rejected_store: &'e dyn OutputStore,
    ) -> Self {
        let dataset = &engine.dataset;
        let out = &dataset.output;
        let stem = source.file_stem();
        let max_path_bytes = data
            .max_key_bytes()
            .saturating_sub(layout::longest_data_file_name(&stem, out.compression));
        let settings = FileSettings {
            schema: engine.schema.clone(),
            props: engine.props.clone(),
            layout: engine.layout.clone(),
            file_stem: stem.clone(),
            compression: out.compression,
            row_group_rows: out.row_group_rows,
            target_file_bytes: out.target_file_mb << 20,
        };
        let budget_bytes = (out.memory_budget_mb as usize) << 20;
        let rejected_key = layout::rejected_file_name(&dataset.name, &stem);
        Self {
            engine,
            source_uri: source.uri(),
            partitioner: Partitioner::new(dataset, max_path_bytes),
            writer: TableWriter::new(data, settings, budget_bytes),
            rejected: RejectedWriter::new(rejected_store, rejected_key, source.uri()),
            tally: Tally::new(dataset.fields.len()),
            threshold_crossed: false,
            object: match &engine.sources {
                Some(plan) if plan.reads_object() => {
                    sources::object_document(source, &dataset.prefix)
                }
                _ => String::new(),
            },
            member: None,
        }
    }

    fn read_all(&mut self, input: impl Read + Send) -> Result<(), Failure> {
        let max_decoded = self.engine.dataset.max_decompressed_mb << 20;
        let (opened, stats) = open_object(input, max_decoded).map_err(DecodeError::Io)?;
        let mut unknown = std::mem::take(&mut self.tally.unknown);
        let mut scratch = Scratch {
            levels: self.engine.rows.as_ref().map_or(Vec::new(), |p| p.states()),
            sources: (self.engine.sources.as_ref()).map_or_else(Default::default, |p| p.state()),
            object: std::mem::take(&mut self.object),
            ..Scratch::default()
        };
        let result = match opened {
            Opened::Stream(decoded) => {
                let name = match stats.compression {
                    Compression::None => "read-ahead",
                    _ => "inflate",
                };
                self.read_stream(decoded, name, &mut scratch, &mut unknown)
            }
            Opened::Archive(zip) => self.read_archive(zip, max_decoded, &mut scratch, &mut unknown),
        };
        if let Some(plan) = &self.engine.rows {
            plan.report_unknown(&mut scratch.levels, &mut unknown);
        }
        if let Some(plan) = &self.engine.sources {
            plan.report_unknown(&mut scratch.sources, &mut unknown);
        }
        unknown.merge_from(&mut scratch.counted.undeclared.found);
        self.tally.unknown = unknown;
        self.tally.bytes_in = stats.raw_bytes();
        result?;
        self.finish()
    }

    /// Every member of a ZIP archive read as an input of its own, in the archive's order, and the
    /// central directory checked at the end.
    fn read_archive<R: std::io::BufRead + Send>(
        &mut self,
        mut zip: ZipReader<R>,
        max_decoded: u64,
        scratch: &mut Scratch,
        unknown: &mut UnknownFields,
    ) -> Result<(), Failure> {
        while let Some(mut member) = zip.next_member().map_err(DecodeError::Io)? {
            if member.is_directory() {
                member.skip().map_err(DecodeError::Io)?;
                continue;
            }
            self.member = Some(member.name().to_string());
            self.tally.archive_members += 1;
            let left = max_decoded - self.tally.bytes_decoded;
            let decoded = open_member(&mut member, left, max_decoded).map_err(DecodeError::Io)?;
            self.read_stream(decoded, "unzip", scratch, unknown)?;
            // What a compressed member holds after its stream (nothing, as a rule) is not read.
            member.skip().map_err(DecodeError::Io)?;
            self.member = None;
        }
        Ok(())
    }

    /// Reads the records of one decoded stream, which is read (and decompressed) a few chunks
    /// ahead on a thread of its own: gzip's inflate is about a third of what the rest of the
    /// transform does with the bytes.
    fn read_stream(
        &mut self,
        decoded: impl Read + Send,
        thread: &str,
        scratch: &mut Scratch,
        unknown: &mut UnknownFields,
    ) -> Result<(), Failure> {
        std::thread::scope(|scope| {
            let chunks = ReadAhead::scoped(scope, thread, decoded).map_err(DecodeError::Io)?;
            self.read_records(chunks, scratch, unknown)
        })
    }

    fn read_records(
        &mut self,
        chunks: ReadAhead,
        scratch: &mut Scratch,
        unknown: &mut UnknownFields,
    ) -> Result<(), Failure> {
        let mut reader = RecordReader::new(chunks);
        if let Some(path) = &self.engine.dataset.records {
            reader = reader.with_records_path(path);
        }
        if let Some(plan) = &self.engine.sources {
            reader = reader.with_document_members(plan.document_members().to_vec());
        }
        let tree = &self.engine.tree;
        let result = reader.for_each(tree, tree.slot_count(), unknown, |record| {
            self.tally.records_in += 1;
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
                    pos,
                    raw,
                    slots,
                    document,
                    ..
                } => match (&self.engine.rows, &self.engine.sources) {
                    (Some(plan), _) => self.accept_rows(plan, pos, raw, slots, document, scratch),
                    (None, Some(plan)) => {
                        self.accept_sources(plan, pos, raw, slots, document, scratch)
                    }
                    (None, None) => self.accept(pos, raw, slots, scratch),
                },
            }
        });
        self.tally.bytes_decoded += reader.bytes_read();
        result
    }

    /// A parsed object: mapped to a row, placed in its partition and written, or rejected.
    fn accept(
        &mut self,
        pos: RecordPos,
        raw: &[u8],
        slots: &mut [Slot<'_>],
        scratch: &mut Scratch,
    ) -> Result<(), Failure> {
        let fields = &self.engine.dataset.fields;
        for &i in &self.engine.selecting {
            slots[i] = crate::nested::select(&slots[i], &fields[i].select);
        }
        let slots = &*slots;
        let mut row = reuse(std::mem::take(&mut scratch.row));
        scratch.counted.clear();
        let mapped = map_record(fields, slots, &mut row, &mut scratch.counted);
        let result = self.write_row(pos, raw, mapped, |i| &slots[i], &row, &scratch.counted);
        scratch.row = reuse(row);
        result
    }

    /// A parsed object of a dataset with `json_strings` or fields from the document: its inner
    /// values read, then as [`accept`].
    ///
    /// [`accept`]: Self::accept
    fn accept_sources(
        &mut self,
        plan: &sources::SourcesPlan,
        pos: RecordPos,
        raw: &[u8],
        slots: &mut [Slot<'_>],
        document: &[u8],
        scratch: &mut Scratch,
    ) -> Result<(), Failure> {
        plan.take_record_steps(slots);
        let slots = &*slots;
        let mut inner = reuse(std::mem::take(&mut scratch.inner));
        let object = scratch.object.as_bytes();
        plan.read_inner(slots, document, object, &mut inner, &mut scratch.sources);
        let slot_of = |i| plan.slot(i, slots, &inner);
        let mut row = reuse(std::mem::take(&mut scratch.row));
        scratch.counted.clear();
        let fields = &self.engine.dataset.fields;
        let mapped = map_row(fields, slot_of, &mut row, &mut scratch.counted);
        let result = self.write_row(pos, raw, mapped, slot_of, &row, &scratch.counted);
        scratch.row = reuse(row);
        scratch.inner = reuse(inner);
        result
    }

    /// A record's mapped row placed in its partition and written, or the record rejected for the
    /// field that could not be mapped (`mapped`) or placed; `slot_of(i)` is field `i`'s slot.
    #[inline(always)]
    fn write_row<'s>(
        &mut self,
        pos: RecordPos,
        raw: &[u8],
        mapped: Result<(), (usize, Reason)>,
        slot_of: impl Fn(usize) -> &'s Slot<'s>,
        row: &[Value<'_>],
        counted: &Counted,
    ) -> Result<(), Failure> {
        let engine = self.engine;
        let fields = &engine.dataset.fields;
        let refused = match mapped {
            Ok(()) => self.place(row, pos)?,
            Err((field, reason)) => Err((field, rejection(&fields[field], slot_of(field), reason))),
        };
        match refused {
            Ok(index) => {
                self.tally.written(counted, 1);
                let file_values = engine.file_columns.iter().map(|&i| row[i]);
                Ok(self.writer.push_row(index, file_values)?)
            }
            Err((field, rejection)) => {
                let column = Some(fields[field].column.as_str());
                self.reject(pos, raw, true, rejection.reason, column, &rejection.message)
            }
        }
    }

    /// The partition of a mapped row (opened when new), or the field whose value cannot make
    /// one; an object past `max_partitions` fails.
    fn place(
        &mut self,
        row: &[Value<'_>],
        pos: RecordPos,
    ) -> Result<Result<usize, (usize, Rejection)>, Failure> {
        match self.partitioner.place(row) {
            Ok(Place::Known(index)) => Ok(Ok(index)),
            Ok(Place::New(partition)) => {
                let max = self.engine.dataset.output.max_partitions;
                if self.writer.partition_count() == max {
                    return Err(Failure::Limit(format!(
                        "record {} (line {}) opens partition {} ({}) past the dataset's max_partitions = {max}; partition by a field with fewer values, or raise the limit",
                        pos.index,
                        pos.line,
                        max + 1,
                        partition.path
                    )));
                }
                Ok(Ok(self.writer.open(*partition)))
            }
            Err(refused) => Ok(Err((refused.field, refused.rejection))),
        }
    }

    /// A parsed object of a dataset with `rows`: all its rows mapped, placed and written, or the
    /// record rejected (for the first row that cannot be, naming its element). Fields from the
    /// document or the object are read once and go with every row.
    fn accept_rows<'a>(
        &mut self,
        plan: &rows::RowPlan,
        pos: RecordPos,
        raw: &[u8],
        slots: &mut [Slot<'a>],
        document: &[u8],
        scratch: &mut Scratch,
    ) -> Result<(), Failure> {
        let mut expanded: rows::Expanded<'a> = std::mem::take(&mut scratch.expanded).recycle();
        if let Err(misfit) = plan.expand(slots, &mut expanded, &mut scratch.levels) {
            scratch.expanded = expanded.recycle();
            let message = plan.misfit_message(&misfit);
            return self.reject(pos, raw, true, misfit.reason(), None, &message);
        }
        let slots = &*slots;
        let fields = &self.engine.dataset.fields;
        let width = fields.len();
        let mut outside = reuse(std::mem::take(&mut scratch.inner));
        let sources = self.engine.sources.as_ref();
        if let Some(sources) = sources {
            let object = scratch.object.as_bytes();
            sources.read_inner(&[], document, object, &mut outside, &mut scratch.sources);
        }
        let mut values = reuse(std::mem::take(&mut scratch.row));
        let mut indices = std::mem::take(&mut scratch.partitions);
        indices.clear();
        scratch.counted.clear();
        let mut refused = None;
        for r in 0..expanded.rows {
            let slot_of = |i: usize| match sources {
                Some(sources) if fields[i].from != FieldFrom::Record => {
                    sources.slot(i, &[], &outside)
                }
                _ => plan.slot(i, slots, &expanded, r),
            };
            if let Err((field, reason)) =
                map_row(fields, slot_of, &mut values, &mut scratch.counted)
            {
                refused = Some((r, field, rejection(&fields[field], slot_of(field), reason)));
                break;
            }
        }
        if refused.is_none() {
            for r in 0..expanded.rows {
                match self.place(&values[r * width..(r + 1) * width], pos)? {
                    Ok(index) => indices.push(index),
                    Err((field, rejection)) => {
                        refused = Some((r, field, rejection));
                        break;
                    }
                }
            }
        }
        let result = match refused {
            Some((r, field, rejection)) => {
                let message = format!("{}: {}", plan.row_position(&expanded, r), rejection.message);
                let column = Some(fields[field].column.as_str());
                self.reject(pos, raw, true, rejection.reason, column, &message)
            }
            None => {
                self.tally.written(&scratch.counted, expanded.rows as u64);
                let file_columns = &self.engine.file_columns;
                let writer = &mut self.writer;
                indices
                    .iter()
                    .zip(values.chunks_exact(width))
                    .try_for_each(|(&index, row)| {
                        writer.push_row(index, file_columns.iter().map(|&i| row[i]))
                    })
                    .map_err(Failure::from)
            }
        };
        scratch.row = reuse(values);
        scratch.partitions = indices;
        scratch.inner = reuse(outside);
        scratch.expanded = expanded.recycle();
        result
    }

    /// Writes a rejected record with its reason and position, and counts it.
    fn reject(
        &mut self,
        pos: RecordPos,
        raw: &[u8],
        valid_json: bool,
        reason: Reason,
        field: Option<&str>,
        message: &str,
    ) -> Result<(), Failure> {
        self.tally.rejected(reason, field);
        self.rejected.write(&RejectedRecord {
            member: self.member.as_deref(),
            pos,
            raw,
            valid_json,
            reason,
            field,
            message,
        })?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Failure> {
        self.writer.finish()?;
        self.rejected.commit()?;
        let tally = &self.tally;
        self.threshold_crossed = threshold_crossed(
            tally.records_in,
            tally.records_written,
            self.engine.dataset.max_rejected_fraction,
        );
        if self.threshold_crossed {
            // The object failed its quality bar: its rows must not reach the table.
            self.writer.delete_committed();
        }
        Ok(())
    }

    /// Takes back everything this run wrote (on a failure of the object as a whole).
    fn discard(&mut self) {
        self.writer.discard();
        self.rejected.discard();
    }

    fn into_summary(self) -> Summary {
        let written = Written {
            threshold_crossed: self.threshold_crossed,
            rejected_file: self.rejected.uri(),
            partitions: self.writer.summaries(self.partitioner.names()),
        };
        self.tally
            .into_summary(&self.engine.dataset, self.source_uri, written)
    }
}

/// Buffers reused from record to record.
#[derive(Default)]
struct Scratch {
    /// The record's row (with `rows`, its rows one after the other).
    row: Vec<Value<'static>>,
    /// Fields of the record at hand whose value was nulled or not reached (once per row).
    counted: Counted,
    /// With `rows`: the record's elements, the state of each level, each row's partition.
    expanded: rows::Expanded<'static>,
    levels: Vec<rows::LevelState>,
    partitions: Vec<usize>,
    /// With `json_strings` or document fields: the slots of the values read apart from the
    /// record, and what is learnt across records.
    inner: Vec<Slot<'static>>,
    sources: sources::SourcesState,
    object: String,
}

/// Empties a vector and gives its allocation to a vector of another type of the same size and
/// alignment (std collects in place: no reallocation), such as the same type with another lifetime.
fn reuse<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

#[cfg(test)]
mod tests;
