//! JSON documents written inside strings (`[source] json_strings`): CloudWatch Logs' `message`,
//! SNS's `Message`. The record's scan hands over each such string whole (one slot of the record's
//! tree); its text is then scanned, checked as JSON, with a tree of its own: the paths of the
//! fields that go on inside it. A string that is not JSON, or not an object where fields look for
//! members, leaves those fields unreached: counted per field, and rejected where required, as any
//! path that meets a value it cannot go into.

use crate::dataset::{Dataset, Step};
use crate::decode::json::{raw, Layouts, PathTree, Scanner, Shape, Slot, UnknownFields};
use crate::nested::select;

/// How the unreached fields of a string that is not a JSON document are counted (for messages:
/// "its path meets a string that is not JSON").
const NOT_JSON: &str = "string that is not JSON";

/// How the records of a dataset with JSON strings are read.
pub(super) struct JsonStringPlan {
    /// The record's paths: the fields that read the record, then each JSON string.
    record: Reader,
    /// Per JSON string: its slot in the record's, and what is read inside its document.
    strings: Vec<(usize, Reader)>,
    /// Per field: the source it reads (0 the record, `k` the `k`th string, as in `strings[k-1]`)
    /// and its slot among that source's.
    place: Vec<(usize, usize)>,
    /// Where each string's slots start among the documents' slots.
    bases: Vec<usize>,
    /// The shown paths of the strings, which name unknown members found inside them.
    shown_paths: Vec<String>,
}

/// One tree of paths over one value (the record, or one string's document).
struct Reader {
    tree: PathTree,
    slot_count: usize,
    /// Slots whose path is the document itself (`message[0]`): taken from it whole.
    own: Vec<usize>,
    /// Slots the tree fills.
    named: Vec<usize>,
    /// Slots with steps to take after their member names.
    selecting: Vec<(usize, Vec<Step>)>,
}

/// What is kept from record to record: per string, its learnt key layouts and unknown members.
#[derive(Default)]
pub(super) struct JsonStringState {
    layouts: Vec<Layouts>,
    unknown: Vec<UnknownFields>,
    /// The unknown members of the document at hand: counted only once it is known to be JSON.
    pending: UnknownFields,
}

impl JsonStringPlan {
    /// The plan of `dataset`, when it has JSON strings.
    pub fn new(dataset: &Dataset) -> Option<Self> {
        if dataset.json_strings.is_empty() {
            return None;
        }
        let sources = dataset.json_strings.len() + 1;
        let mut paths: Vec<Vec<&[String]>> = vec![Vec::new(); sources];
        let mut selects: Vec<Vec<&[Step]>> = vec![Vec::new(); sources];
        let mut place = Vec::with_capacity(dataset.fields.len());
        for field in &dataset.fields {
            let source = field.json_string.map_or(0, |k| k + 1);
            place.push((source, paths[source].len()));
            paths[source].push(&field.path);
            selects[source].push(&field.select);
        }
        let mut string_slots = Vec::with_capacity(sources - 1);
        for string in &dataset.json_strings {
            string_slots.push(paths[0].len());
            paths[0].push(&string.path);
            selects[0].push(&[]);
        }
        let mut readers = paths
            .iter()
            .zip(&selects)
            .map(|(paths, selects)| Reader::new(paths, selects));
        let record = readers.next().expect("the record's reader");
        let strings: Vec<(usize, Reader)> = string_slots.into_iter().zip(readers).collect();
        let bases = strings
            .iter()
            .scan(0, |next, (_, reader)| {
                let base = *next;
                *next += reader.slot_count;
                Some(base)
            })
            .collect();
        Some(Self {
            record,
            strings,
            place,
            bases,
            shown_paths: dataset
                .json_strings
                .iter()
                .map(|s| s.shown_path.clone())
                .collect(),
        })
    }

    /// The record's paths, which the decoder fills.
    pub fn record_tree(&self) -> &PathTree {
        &self.record.tree
    }

    /// Fresh state for a run.
    pub fn state(&self) -> JsonStringState {
        JsonStringState {
            layouts: self.strings.iter().map(|_| Layouts::default()).collect(),
            unknown: self
                .strings
                .iter()
                .map(|_| UnknownFields::default())
                .collect(),
            pending: UnknownFields::default(),
        }
    }

    /// Unknown members seen inside the documents, named from the record, added to `unknown`.
    pub fn report_unknown(&self, state: &mut JsonStringState, unknown: &mut UnknownFields) {
        for (found, shown) in state.unknown.iter_mut().zip(&self.shown_paths) {
            unknown.absorb(std::mem::take(found), shown);
        }
    }

    /// Takes the steps of the record's slots that have them, in place.
    pub fn take_record_steps(&self, record: &mut [Slot<'_>]) {
        self.record.take_steps(record);
    }

    /// The slots of every string's document in the record whose slots are `record`.
    pub fn read_documents<'a>(
        &self,
        record: &'a [Slot<'a>],
        documents: &mut Vec<Slot<'a>>,
        state: &mut JsonStringState,
    ) {
        documents.clear();
        for (k, (slot, reader)) in self.strings.iter().enumerate() {
            let base = documents.len();
            documents.resize(base + reader.slot_count, Slot::Missing);
            let slots = &mut documents[base..];
            match &record[*slot] {
                Slot::Str(text) => reader.read(text.as_bytes(), slots, state, k),
                // Already JSON in this record (checked by the record's scan).
                Slot::Object(span) | Slot::Array(span) => reader.read(span, slots, state, k),
                Slot::Missing | Slot::Null => {}
                Slot::Unreached(kind) => reader.unreach(slots, kind),
                other => reader.unreach(slots, other.kind()),
            }
        }
    }

    /// Field `field`'s slot.
    #[inline]
    pub fn slot<'r, 'a>(
        &self,
        field: usize,
        record: &'r [Slot<'a>],
        documents: &'r [Slot<'a>],
    ) -> &'r Slot<'a> {
        match self.place[field] {
            (0, slot) => &record[slot],
            (source, slot) => &documents[self.bases[source - 1] + slot],
        }
    }
}

impl Reader {
    fn new(paths: &[&[String]], selects: &[&[Step]]) -> Self {
        let slot_count = paths.len();
        Self {
            tree: PathTree::new(paths.iter().copied()),
            slot_count,
            own: (0..slot_count).filter(|&i| paths[i].is_empty()).collect(),
            named: (0..slot_count).filter(|&i| !paths[i].is_empty()).collect(),
            selecting: (0..slot_count)
                .filter(|&i| !selects[i].is_empty())
                .map(|i| (i, selects[i].to_vec()))
                .collect(),
        }
    }

    fn take_steps(&self, slots: &mut [Slot<'_>]) {
        for (i, steps) in &self.selecting {
            slots[*i] = select(&slots[*i], steps);
        }
    }

    /// Every slot unreached: the value is not a document its paths can go into.
    fn unreach(&self, slots: &mut [Slot<'_>], kind: &'static str) {
        slots.iter_mut().for_each(|s| *s = Slot::Unreached(kind));
    }

    /// Scans the JSON text `text` (string `k`'s) into `slots`: checked whole, as a record is.
    fn read<'a>(
        &self,
        text: &'a [u8],
        slots: &mut [Slot<'a>],
        state: &mut JsonStringState,
        k: usize,
    ) {
        let mut scanner = Scanner::resume(text, std::mem::take(&mut state.layouts[k]));
        scanner.skip_ws();
        let scanned = scanner.record(&self.tree, slots, &mut state.pending);
        scanner.skip_ws();
        let whole = scanner.pos == text.len();
        state.layouts[k] = scanner.into_layouts();
        let shape = match scanned {
            Ok(shape) if whole => shape,
            _ => {
                state.pending.clear();
                return self.unreach(slots, NOT_JSON);
            }
        };
        state.unknown[k].merge_from(&mut state.pending);
        match shape {
            Shape::Object => {
                for &i in &self.own {
                    slots[i] = raw::slot_of(text);
                }
                self.take_steps(slots);
            }
            Shape::Other("null") => {}
            Shape::Other(kind) => {
                for &i in &self.named {
                    slots[i] = Slot::Unreached(kind);
                }
                for &i in &self.own {
                    slots[i] = raw::slot_of(text);
                }
                self.take_steps(slots);
            }
        }
    }
}
