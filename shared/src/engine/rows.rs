//! Arrays to rows: one output row per element of the dataset's `rows` array (per innermost
//! element, for several levels), with the columns of the record and of the enclosing elements.
//!
//! The record is scanned once as usual (level 0, its paths and the first array); each element of
//! a level's array is then scanned with that level's own [`PathTree`] (the fields whose paths
//! start at its element, and the next level's array). All of a record's element slots are kept
//! side by side until its rows are mapped, so a record's rows are written together or, when one
//! of them is rejected, not at all: the record stays the unit of accounting.

use std::fmt::Write as _;

use super::value_paths::ValuePaths;
use crate::dataset::{Dataset, EmptyRows, FieldFrom, Step};
use crate::decode::json::{raw, JsonError, Layouts, PathTree, Scanner, Slot, UnknownFields};
use crate::mapping::Reason;

/// A row's element at a level where the row has none (the null row of an empty array).
const NONE: usize = usize::MAX;

/// The slot of a field at a level where its row has no element.
static MISSING: Slot<'static> = Slot::Missing;

/// How the records of a dataset with `rows` are read, level by level.
pub(super) struct RowPlan {
    /// Level 0 reads the record, level `k` an element of the `k`th array.
    levels: Vec<LevelPlan>,
    /// Per field: its level and its slot among that level's.
    place: Vec<(usize, usize)>,
    empty: EmptyRows,
}

/// What one level reads from its value (the record, or one element).
struct LevelPlan {
    paths: ValuePaths,
    /// The slot of the next level's array (none for the innermost level).
    next: Option<usize>,
    /// The rows path up to this level's `[*]` (`payload.commits[*]`): unknown members inside
    /// its elements are named from it.
    shown_path: String,
    /// This level's part of an element's position (`scopeLogs` of `resourceLogs[0].scopeLogs[2]`).
    segment: String,
}

/// Per level, what is kept from record to record.
#[derive(Default)]
pub(super) struct LevelState {
    layouts: Layouts,
    unknown: UnknownFields,
}

/// The rows of one record: the slots of every element it has, and per row which element of each
/// level it is.
#[derive(Default)]
pub(super) struct Expanded<'a> {
    arena: Vec<Slot<'a>>,
    /// Per row, per level `1..`: where its element's slots start in `arena` ([`NONE`]: no element).
    bases: Vec<usize>,
    /// Per row, per level `1..`: its element's position in its array.
    positions: Vec<usize>,
    /// Rows in the record.
    pub rows: usize,
    /// The first array of the record that is not one.
    misfit: Option<Misfit>,
}

/// Why a record gives no rows at all.
pub(super) enum Misfit {
    /// A level's array is another kind of value.
    NotAnArray {
        level: usize,
        positions: Vec<usize>,
        kind: &'static str,
        /// The path to the array met this kind of value on the way ([`Slot::Unreached`]).
        unreached: bool,
    },
    /// An element could not be scanned again (cannot happen: the record's scan checked it).
    Unreadable(JsonError),
}

impl RowPlan {
    /// The plan of `dataset`, which has `rows`.
    pub fn new(dataset: &Dataset) -> Option<Self> {
        let rows = dataset.rows.as_ref()?;
        let depth = rows.levels.len();
        let mut place = Vec::with_capacity(dataset.fields.len());
        let mut paths: Vec<Vec<&[String]>> = vec![Vec::new(); depth + 1];
        let mut selects: Vec<Vec<&[Step]>> = vec![Vec::new(); depth + 1];
        for field in &dataset.fields {
            if field.from != FieldFrom::Record {
                // Read from the document or the object (`sources::SourcesPlan`), not here.
                place.push((NONE, NONE));
                continue;
            }
            place.push((field.level, paths[field.level].len()));
            paths[field.level].push(&field.path);
            selects[field.level].push(&field.select);
        }
        let levels = (0..=depth)
            .map(|k| {
                let mut paths = std::mem::take(&mut paths[k]);
                let mut selects = std::mem::take(&mut selects[k]);
                let next = rows.levels.get(k).map(|level| {
                    paths.push(&level.path);
                    selects.push(&level.select);
                    paths.len() - 1
                });
                let (shown_path, segment) = match k {
                    0 => (String::new(), String::new()),
                    _ => {
                        let level = &rows.levels[k - 1];
                        let mut steps: Vec<Step> =
                            level.path.iter().cloned().map(Step::Key).collect();
                        steps.extend(level.select.iter().cloned());
                        (
                            level.shown_path.clone(),
                            crate::dataset::path::path_text(&steps),
                        )
                    }
                };
                LevelPlan {
                    paths: ValuePaths::new(&paths, &selects),
                    next,
                    shown_path,
                    segment,
                }
            })
            .collect();
        Some(Self {
            levels,
            place,
            empty: rows.empty,
        })
    }

    /// The record's paths (level 0), which the decoder fills.
    pub fn record_tree(&self) -> &PathTree {
        &self.levels[0].paths.tree
    }

    /// Fresh state for each level.
    pub fn states(&self) -> Vec<LevelState> {
        self.levels.iter().map(|_| LevelState::default()).collect()
    }

    /// Unknown members seen inside the elements, named from the record, added to `unknown`.
    pub fn report_unknown(&self, states: &mut [LevelState], unknown: &mut UnknownFields) {
        for (level, state) in self.levels.iter().zip(states).skip(1) {
            unknown.absorb(std::mem::take(&mut state.unknown), &level.shown_path);
        }
    }

    /// The rows of a record whose level-0 slots are `record` (as the decoder filled them).
    pub fn expand<'a>(
        &self,
        record: &mut [Slot<'a>],
        out: &mut Expanded<'a>,
        states: &mut [LevelState],
    ) -> Result<(), Misfit> {
        self.levels[0].paths.take_steps(record);
        let array = record[self.levels[0].next.expect("a first level")].clone();
        let mut bases = Vec::with_capacity(self.levels.len());
        let mut positions = Vec::with_capacity(self.levels.len());
        self.expand_level(1, &array, &mut bases, &mut positions, out, states)?;
        match out.misfit.take() {
            Some(misfit) => Err(misfit),
            None => Ok(()),
        }
    }

    /// The rows below one array of `level`: how many.
    fn expand_level<'a>(
        &self,
        level: usize,
        array: &Slot<'a>,
        bases: &mut Vec<usize>,
        positions: &mut Vec<usize>,
        out: &mut Expanded<'a>,
        states: &mut [LevelState],
    ) -> Result<usize, Misfit> {
        let span = match array {
            Slot::Array(span) => Some(*span),
            Slot::Missing | Slot::Null => None,
            // The record is rejected, but the other elements are still read, so that unknown
            // members are counted in every element of every record, as in every record.
            Slot::Unreached(kind) => {
                out.misfit(self.not_an_array(level, positions, kind, true));
                return Ok(0);
            }
            other => {
                out.misfit(self.not_an_array(level, positions, other.kind(), false));
                return Ok(0);
            }
        };
        let plan = &self.levels[level];
        let innermost = level + 1 == self.levels.len();
        let mut rows = 0;
        for (position, element) in span.into_iter().flat_map(raw::elements).enumerate() {
            let base = out.arena.len();
            out.arena
                .resize(base + plan.paths.slot_count, Slot::Missing);
            plan.fill(element, &mut out.arena[base..], &mut states[level])
                .map_err(Misfit::Unreadable)?;
            bases.push(base);
            positions.push(position);
            rows += if innermost {
                out.push_row(bases, positions, self.levels.len() - 1);
                1
            } else {
                let next = out.arena[base + plan.next.expect("an inner level")].clone();
                self.expand_level(level + 1, &next, bases, positions, out, states)?
            };
            bases.pop();
            positions.pop();
        }
        if rows == 0 && self.empty == EmptyRows::NullRow {
            out.push_row(bases, positions, self.levels.len() - 1);
            rows = 1;
        }
        Ok(rows)
    }

    fn not_an_array(
        &self,
        level: usize,
        positions: &[usize],
        kind: &'static str,
        unreached: bool,
    ) -> Misfit {
        Misfit::NotAnArray {
            level,
            positions: positions.to_vec(),
            kind,
            unreached,
        }
    }

    /// Field `field`'s slot in row `row`.
    #[inline]
    pub fn slot<'r, 'a>(
        &self,
        field: usize,
        record: &'r [Slot<'a>],
        rows: &'r Expanded<'a>,
        row: usize,
    ) -> &'r Slot<'a> {
        let (level, slot) = self.place[field];
        if level == 0 {
            return &record[slot];
        }
        match rows.bases[row * (self.levels.len() - 1) + level - 1] {
            NONE => &MISSING,
            base => &rows.arena[base + slot],
        }
    }

    /// Where row `row` is in its record (`payload.commits[3]`), for messages.
    pub fn row_position(&self, rows: &Expanded<'_>, row: usize) -> String {
        let depth = self.levels.len() - 1;
        let bases = &rows.bases[row * depth..(row + 1) * depth];
        let positions = &rows.positions[row * depth..(row + 1) * depth];
        let present = bases.iter().take_while(|&&b| b != NONE).count();
        if present == 0 {
            return format!("its empty {}", self.levels[1].shown_path);
        }
        let mut text = String::new();
        for (plan, position) in self.levels[1..=present].iter().zip(positions) {
            self.push_segment(&mut text, plan, *position);
        }
        if present < depth {
            text = format!("{text} (empty {})", self.levels[present + 1].segment);
        }
        text
    }

    /// The message for a record that gives no rows.
    pub fn misfit_message(&self, misfit: &Misfit) -> String {
        match misfit {
            Misfit::NotAnArray {
                level,
                positions,
                kind,
                unreached,
            } => {
                let mut at = String::new();
                for (plan, position) in self.levels[1..*level].iter().zip(positions) {
                    self.push_segment(&mut at, plan, *position);
                }
                let segment = &self.levels[*level].segment;
                if !at.is_empty() && !segment.starts_with('[') {
                    at.push('.');
                }
                at.push_str(segment);
                let rows = &self.levels[self.levels.len() - 1].shown_path;
                let article = crate::mapping::article(kind);
                if *unreached {
                    format!("{at} cannot be reached: its path meets {article} {kind} where it goes on (the rows are the elements of {rows})")
                } else {
                    format!("{at} is {article} {kind}, not an array: the rows are the elements of {rows}")
                }
            }
            Misfit::Unreadable(error) => format!("an element could not be read: {error:?}"),
        }
    }

    fn push_segment(&self, text: &mut String, plan: &LevelPlan, position: usize) {
        if !text.is_empty() && !plan.segment.starts_with('[') && !plan.segment.is_empty() {
            text.push('.');
        }
        let _ = write!(text, "{}[{position}]", plan.segment);
    }
}

impl Misfit {
    /// The reason the record is rejected with.
    pub fn reason(&self) -> Reason {
        match self {
            Misfit::NotAnArray { .. } => Reason::NotAnArray,
            Misfit::Unreadable(_) => Reason::InvalidJson,
        }
    }
}

impl LevelPlan {
    /// This level's slots of one element.
    fn fill<'a>(
        &self,
        element: &'a [u8],
        slots: &mut [Slot<'a>],
        state: &mut LevelState,
    ) -> Result<(), JsonError> {
        let is_object = element.first() == Some(&b'{');
        if is_object {
            let mut scanner = Scanner::resume(element, std::mem::take(&mut state.layouts));
            let scanned = scanner.record(&self.paths.tree, slots, &mut state.unknown);
            state.layouts = scanner.into_layouts();
            scanned?;
        }
        self.paths.complete(element, is_object, slots);
        Ok(())
    }
}

impl<'a> Expanded<'a> {
    /// Empties it for the next record, its buffers kept.
    pub fn recycle<'b>(self) -> Expanded<'b> {
        Expanded {
            arena: crate::engine::reuse(self.arena),
            bases: reset(self.bases),
            positions: reset(self.positions),
            rows: 0,
            misfit: None,
        }
    }

    fn misfit(&mut self, misfit: Misfit) {
        self.misfit.get_or_insert(misfit);
    }

    /// A row whose elements are `bases` at the outer levels, none at the others.
    fn push_row(&mut self, bases: &[usize], positions: &[usize], depth: usize) {
        self.bases.extend_from_slice(bases);
        self.bases
            .resize(self.bases.len() + depth - bases.len(), NONE);
        self.positions.extend_from_slice(positions);
        self.positions
            .resize(self.positions.len() + depth - positions.len(), 0);
        self.rows += 1;
    }
}

fn reset(mut v: Vec<usize>) -> Vec<usize> {
    v.clear();
    v
}
