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
use crate::dataset::{Dataset, Step};
use crate::decode::json::{Layouts, PathTree, Scanner, Shape, Slot, UnknownFields};

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

enum InnerFrom {
    /// The document around the records.
    Document,
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
    /// The plan of `dataset`, when it has JSON strings or fields from the document.
    pub fn new(dataset: &Dataset) -> Option<Self> {
        let from_document = dataset.fields.iter().any(|f| f.from_document);
        if dataset.json_strings.is_empty() && !from_document {
            return None;
        }
        // Sources: 0 the record, then the document when read, then each string.
        let strings_from = 1 + usize::from(from_document);
        let sources = strings_from + dataset.json_strings.len();
        let mut paths: Vec<Vec<&[String]>> = vec![Vec::new(); sources];
        let mut selects: Vec<Vec<&[Step]>> = vec![Vec::new(); sources];
        let mut place = Vec::with_capacity(dataset.fields.len());
        for field in &dataset.fields {
            let source = match (field.from_document, field.json_string) {
                (true, _) => 1,
                (false, Some(k)) => strings_from + k,
                (false, None) => 0,
            };
            place.push((source, paths[source].len()));
            paths[source].push(&field.path);
            selects[source].push(&field.select);
        }
        let mut froms = Vec::with_capacity(sources - 1);
        if from_document {
            froms.push(InnerFrom::Document);
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
            .filter(|f| f.from_document)
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

    /// The slots of the inner values of the record whose slots are `record` and whose document's
    /// members are `document` (the text of an object; empty for none).
    pub fn read_inner<'a>(
        &self,
        record: &'a [Slot<'a>],
        document: &'a [u8],
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
