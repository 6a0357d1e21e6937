//! The paths read from one JSON value (a record, an element of a `[rows]` level, a document
//! inside a string): one tree for the member names, and what is taken from the value itself or
//! by steps after the names.

use crate::dataset::Step;
use crate::decode::json::{raw, PathTree, Slot};
use crate::nested::select;

pub(super) struct ValuePaths {
    pub tree: PathTree,
    pub slot_count: usize,
    /// Slots whose path starts at the value itself (no member name): taken from it whole.
    own: Vec<usize>,
    /// Slots the tree fills (whose paths name members).
    named: Vec<usize>,
    /// Slots with steps to take after their member names.
    selecting: Vec<(usize, Vec<Step>)>,
}

impl ValuePaths {
    /// Path `i` (its member names and the steps after them) fills slot `i`.
    pub fn new(paths: &[&[String]], selects: &[&[Step]]) -> Self {
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

    /// Takes the steps of the slots that have them, in place.
    pub fn take_steps(&self, slots: &mut [Slot<'_>]) {
        for (i, steps) in &self.selecting {
            slots[*i] = select(&slots[*i], steps);
        }
    }

    /// Completes the slots of `value` (its JSON text, checked) once the tree has filled those of
    /// an object: paths into the members of any other value but `null` meet it (counted, as in
    /// records); the value's own slots take it whole; then the steps.
    pub fn complete<'a>(&self, value: &'a [u8], is_object: bool, slots: &mut [Slot<'a>]) {
        if !is_object && !raw::is_null(value) {
            let kind = raw::kind_of(value);
            for &i in &self.named {
                slots[i] = Slot::Unreached(kind);
            }
        }
        for &i in &self.own {
            slots[i] = raw::slot_of(value);
        }
        self.take_steps(slots);
    }
}
