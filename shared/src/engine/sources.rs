//! Fields whose values are not in the record's own scan: inside JSON documents written as
//! strings (`[source] json_strings`: CloudWatch Logs' `message`, SNS's `Message`), and in the
//! document around the records (`from = "document"`: CloudWatch Logs' `logGroup`).
//!
//! The record's scan hands over each such string whole (one slot of the record's tree); its text
//! is then scanned, checked as JSON, with a tree of its own: the paths of the fields that go on
//! inside it. A string that is not JSON, or not an object where fields look for members, leaves
//! those fields unreached: counted per field, and rejected where required, as any path that meets
//! a value it cannot go into. The document's members that fields read come with each record (the
//! decoder keeps them, see `RecordReader::with_document_members`) and are scanned the same way.

use super::value_paths::ValuePaths;
use crate::dataset::{Dataset, FieldFrom, Step};
use crate::decode::json::{Layouts, PathTree, Scanner, Shape, Slot, UnknownFields};
use crate::layout::SourceObject;

/// How the unreached fields of a string that is not a JSON document are counted (for messages:
/// "its path meets a string that is not JSON").
const NOT_JSON: &str = "string that is not JSON";

/// How the records of a dataset with JSON strings or document fields are read.
pub(super) struct SourcesPlan {
    /// The record's paths: the fields that read the record, then each JSON string.
    record: ValuePaths,
    /// The other values read, each with a tree of its own.
    inner: Vec<Inner>,
    /// Per field: where it reads (0 the record, `j + 1` `inner[j]`) and its slot among that
    /// source's.
    place: Vec<(usize, usize)>,
    /// The names of the document's members that fields read.
    document_members: Vec<String>,
}

/// A value read apart from the record's scan.
struct Inner {
    from: InnerFrom,
    paths: ValuePaths,
    /// Where its slots start among the inner values' slots.
    base: usize,
}

#[derive(PartialEq)]
enum InnerFrom {
    /// The document around the records.
    Document,
    /// The object's members (see [`object_document`]).
    Object,
    /// The JSON string in this slot of the record; `shown_path` names unknown members found
    /// inside it.
    String { slot: usize, shown_path: String },
}

/// What is kept from record to record: per inner value, its learnt key layouts and unknown
/// members (reported for JSON strings; the document is scanned again for each of its records).
#[derive(Default)]
pub(super) struct SourcesState {
    layouts: Vec<Layouts>,
    unknown: Vec<UnknownFields>,
    /// The unknown members of the value at hand: counted only once it is known to be JSON.
    pending: UnknownFields,
}

impl SourcesPlan {
    /// The plan of `dataset`, when it has JSON strings or fields from the document or object.
    pub fn new(dataset: &Dataset) -> Option<Self> {
        let reads = |from: FieldFrom| dataset.fields.iter().any(|f| f.from == from);
        let (from_document, from_object) = (reads(FieldFrom::Document), reads(FieldFrom::Object));
        if dataset.json_strings.is_empty() && !from_document && !from_object {
            return None;
        }
        // Sources: 0 the record, then the document and the object when read, then each string.
        let mut froms = Vec::new();
        if from_document {
            froms.push(InnerFrom::Document);
        }
        if from_object {
            froms.push(InnerFrom::Object);
        }
        let source_of =
            |wanted: InnerFrom| 1 + froms.iter().position(|f| *f == wanted).unwrap_or(0);
        let (document_source, object_source) =
            (source_of(InnerFrom::Document), source_of(InnerFrom::Object));
        let strings_from = 1 + froms.len();
        let sources = strings_from + dataset.json_strings.len();
        let mut paths: Vec<Vec<&[String]>> = vec![Vec::new(); sources];
        let mut selects: Vec<Vec<&[Step]>> = vec![Vec::new(); sources];
        let mut place = Vec::with_capacity(dataset.fields.len());
        for field in &dataset.fields {
            let source = match (field.from, field.json_string) {
                (FieldFrom::Document, _) => document_source,
                (FieldFrom::Object, _) => object_source,
                (FieldFrom::Record, Some(k)) => strings_from + k,
                (FieldFrom::Record, None) => 0,
            };
            place.push((source, paths[source].len()));
            paths[source].push(&field.path);
            selects[source].push(&field.select);
        }
        for string in &dataset.json_strings {
            froms.push(InnerFrom::String {
                slot: paths[0].len(),
                shown_path: string.shown_path.clone(),
            });
            paths[0].push(&string.path);
            selects[0].push(&[]);
        }
        let mut each_source = (paths.iter())
            .zip(&selects)
            .map(|(paths, selects)| ValuePaths::new(paths, selects));
        let record = each_source.next().expect("the record's paths");
        let mut base = 0;
        let inner = froms
            .into_iter()
            .zip(each_source)
            .map(|(from, paths)| {
                let at = base;
                base += paths.slot_count;
                Inner {
                    from,
                    paths,
                    base: at,
                }
            })
            .collect();
        let mut document_members: Vec<String> = (dataset.fields.iter())
            .filter(|f| f.from == FieldFrom::Document)
            .filter_map(|f| f.path.first().cloned())
            .collect();
        document_members.sort();
        document_members.dedup();
        Some(Self {
            record,
            inner,
            place,
            document_members,
        })
    }

    /// The record's paths, which the decoder fills.
    pub fn record_tree(&self) -> &PathTree {
        &self.record.tree
    }

    /// Whether fields read the object's members (so [`object_document`] is needed).
    pub fn reads_object(&self) -> bool {
        self.inner.iter().any(|i| i.from == InnerFrom::Object)
    }

    /// The names of the document's members that fields read (for the decoder to keep).
    pub fn document_members(&self) -> &[String] {
        &self.document_members
    }

    /// Fresh state for a run.
    pub fn state(&self) -> SourcesState {
        SourcesState {
            layouts: self.inner.iter().map(|_| Layouts::default()).collect(),
            unknown: self
                .inner
                .iter()
                .map(|_| UnknownFields::default())
                .collect(),
            pending: UnknownFields::default(),
        }
    }

    /// Unknown members seen inside the JSON strings, named from the record, added to `unknown`.
    pub fn report_unknown(&self, state: &mut SourcesState, unknown: &mut UnknownFields) {
        for (inner, found) in self.inner.iter().zip(&mut state.unknown) {
            if let InnerFrom::String { shown_path, .. } = &inner.from {
                unknown.absorb(std::mem::take(found), shown_path);
            }
        }
    }

    /// Takes the steps of the record's slots that have them, in place.
    pub fn take_record_steps(&self, record: &mut [Slot<'_>]) {
        self.record.take_steps(record);
    }

    /// The slots of the inner values of the record whose slots are `record`, whose document's
    /// members are `document` (the text of an object; empty for none) and whose object's are
    /// `object` (see [`object_document`]).
    pub fn read_inner<'a>(
        &self,
        record: &'a [Slot<'a>],
        document: &'a [u8],
        object: &'a [u8],
        slots: &mut Vec<Slot<'a>>,
        state: &mut SourcesState,
    ) {
        slots.clear();
        for (j, inner) in self.inner.iter().enumerate() {
            let paths = &inner.paths;
            slots.resize(inner.base + paths.slot_count, Slot::Missing);
            let slots = &mut slots[inner.base..];
            match &inner.from {
                InnerFrom::Document if document.is_empty() => {}
                InnerFrom::Document => read(paths, document, slots, state, j),
                InnerFrom::Object => read(paths, object, slots, state, j),
                InnerFrom::String { slot, .. } => {
                    match &record[*slot] {
                        Slot::Str(text) => read(paths, text.as_bytes(), slots, state, j),
                        // Already JSON in this record (checked by the record's scan).
                        Slot::Object(span) | Slot::Array(span) => {
                            read(paths, span, slots, state, j)
                        }
                        Slot::Missing | Slot::Null => {}
                        Slot::Unreached(kind) => unreach(slots, kind),
                        other => unreach(slots, other.kind()),
                    }
                }
            }
        }
    }

    /// Field `field`'s slot.
    #[inline]
    pub fn slot<'r, 'a>(
        &self,
        field: usize,
        record: &'r [Slot<'a>],
        inner: &'r [Slot<'a>],
    ) -> &'r Slot<'a> {
        match self.place[field] {
            (0, slot) => &record[slot],
            (source, slot) => &inner[self.inner[source - 1].base + slot],
        }
    }
}

/// Scans the JSON text `text` (inner value `k`'s) into `slots`: checked whole, as a record is;
/// a text that is not JSON leaves them all unreached.
fn read<'a>(
    paths: &ValuePaths,
    text: &'a [u8],
    slots: &mut [Slot<'a>],
    state: &mut SourcesState,
    k: usize,
) {
    let mut scanner = Scanner::resume(text, std::mem::take(&mut state.layouts[k]));
    scanner.skip_ws();
    let scanned = scanner.record(&paths.tree, slots, &mut state.pending);
    scanner.skip_ws();
    let whole = scanner.pos == text.len();
    state.layouts[k] = scanner.into_layouts();
    match scanned {
        Ok(shape) if whole => {
            state.unknown[k].merge_from(&mut state.pending);
            paths.complete(text, shape == Shape::Object, slots);
        }
        _ => {
            state.pending.clear();
            unreach(slots, NOT_JSON);
        }
    }
}

/// Every slot unreached: the value is not a document its paths can go into.
fn unreach(slots: &mut [Slot<'_>], kind: &'static str) {
    slots.iter_mut().for_each(|s| *s = Slot::Unreached(kind));
}

/// The members of `source` that fields `from = "object"` read, as the text of a JSON object:
/// `bucket`, `key`, `created` when known, `key_time` when the key has `YYYY/MM/DD[/HH]/`
/// segments after `prefix`, and `key_values` from its `name=value` segments (`%XX` decoded).
pub(super) fn object_document(source: &SourceObject, prefix: &str) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("bucket".into(), source.bucket.clone().into());
    doc.insert("key".into(), source.key.clone().into());
    if let Some(created) = &source.created {
        doc.insert("created".into(), created.clone().into());
    }
    let folders: Vec<&str> = match source.key.rsplit_once('/') {
        Some((folders, _file)) => folders.split('/').collect(),
        None => Vec::new(),
    };
    let after_prefix = source.key.strip_prefix(prefix).unwrap_or(&source.key);
    if let Some(time) = key_time(after_prefix) {
        doc.insert("key_time".into(), time.into());
    }
    let values: serde_json::Map<String, serde_json::Value> = (folders.iter())
        .filter_map(|segment| segment.split_once('='))
        .map(|(name, value)| (name.to_string(), percent_decoded(value).into()))
        .collect();
    doc.insert("key_values".into(), values.into());
    serde_json::Value::Object(doc).to_string()
}

/// The first `YYYY/MM/DD` folders (and `HH` after them, if there) of `key`, as RFC 3339 UTC.
fn key_time(key: &str) -> Option<String> {
    let folders: Vec<&str> = key.rsplit_once('/')?.0.split('/').collect();
    let number = |s: &str, len: usize, range: std::ops::RangeInclusive<u32>| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
            .filter(|n| range.contains(n))
    };
    (0..folders.len().saturating_sub(2)).find_map(|i| {
        let year = number(folders[i], 4, 1..=9999)?;
        let month = number(folders[i + 1], 2, 1..=12)?;
        let day = number(folders[i + 2], 2, 1..=31)?;
        let hour = folders
            .get(i + 3)
            .and_then(|h| number(h, 2, 0..=23))
            .unwrap_or(0);
        chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
        Some(format!("{year:04}-{month:02}-{day:02}T{hour:02}:00:00Z"))
    })
}

/// `%XX` escapes decoded, as Hive writes partition values into paths (others left as they are).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}
