//! Nested columns (`array<T>`, `struct<...>`, `map<string,T>`) and paths into arrays.
//!
//! The record's scan keeps a nested value as its JSON text (a [`Slot::Object`] or
//! [`Slot::Array`] span); this module walks that text. Mapping walks it once to check every
//! element against the type with the column's casts and `on_type_mismatch` (the record is written
//! or rejected as a whole), and the Parquet writer walks it again when it builds the column's
//! batch. Flat datasets never come here.
//!
//! Paths into arrays are steps over the same text: `[0]`, `[-1]`, `[name=value]` choose one
//! element ([`select`], before the cast), `[*]` makes the column a list of what the rest of the
//! path finds in every element.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::Arc;

use arrow_schema::{DataType, Field as ArrowField, Fields};

use crate::dataset::{ColumnType, Field, MismatchPolicy, Step};
use crate::decode::json::raw;
use crate::decode::json::{Slot, UnknownFields};
use crate::mapping::{self, Reason, Value};
use crate::parquet_out::{arrow_type, Collector};

/// A nested column: its type compiled with the steps of its path from the first `[*]` on.
#[derive(Debug, Clone)]
pub struct NestedColumn {
    shape: Shape,
    policy: MismatchPolicy,
    required: bool,
    kind: ColumnType,
}

#[derive(Debug, Clone)]
enum Shape {
    /// A scalar, cast by this field's rules (its type, format, epoch unit).
    Leaf(Box<Field>),
    /// A list, each element first taken through `each` (the steps between one `[*]` and the next).
    /// `stepped` when a `[*]` of the path makes it: a value that is no array is then not reached
    /// (as for `[0]`), where for a list the type alone asks for it is a mismatch.
    List {
        each: Vec<Step>,
        element: Box<Shape>,
        stepped: bool,
    },
    /// A struct's members, in order.
    Struct(Vec<Member>),
    /// A map's values.
    Map(Box<Shape>),
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    shape: Shape,
}

/// What reading a nested value met besides values.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Met {
    /// A part that did not fit its type was written as null (`on_type_mismatch = "null"`).
    pub nulled: bool,
    /// A path inside met a value it cannot go into (an element that is no object, …).
    pub unreached: bool,
}

/// A struct member's value as found: its span, its name as written, whether that is its own name.
type FoundMember<'a> = Option<(&'a [u8], Cow<'a, [u8]>, bool)>;

/// The members no struct of a type declares, counted by name as the source spells them, with a
/// buffer for the names (reused from record to record).
#[derive(Debug, Default)]
pub struct Undeclared {
    /// Occurrences per name.
    pub found: UnknownFields,
    name: Vec<u8>,
}

/// Where a checking walk is (the path from the record, `userIdentity.sessionContext`), for
/// naming the members no struct of the type declares.
struct Trail<'u> {
    name: &'u mut Vec<u8>,
    unknown: &'u mut UnknownFields,
}

/// Where a nested value does not fit its type, for the rejection's message.
#[derive(Debug)]
struct Misfit {
    /// The steps from the column's value to the misfit, innermost last.
    trail: Vec<String>,
    found: &'static str,
    expected: String,
    preview: String,
}

impl NestedColumn {
    /// Compiles the type `kind` of `rules`' column; `steps` are its path's steps from the first
    /// `[*]` on (each `[*]` takes one `array<>` level), `rules` the column's casting rules.
    pub fn compile(kind: &ColumnType, steps: &[Step], rules: &Field) -> Result<Self, String> {
        Ok(Self {
            shape: shape_of(kind, steps, rules)?,
            policy: rules.on_type_mismatch,
            required: rules.required,
            kind: kind.clone(),
        })
    }

    /// The column's type as written (and as Athena spells it).
    pub fn kind(&self) -> &ColumnType {
        &self.kind
    }

    /// The column's Arrow type: lists with `element`, maps with `key_value` entries of `key` and
    /// `value`, as the Parquet format names them.
    pub fn data_type(&self) -> DataType {
        self.shape.data_type()
    }

    /// Checks a value (the column's slot) against the type: `Null` for a null or missing value
    /// (or one nulled by `on_type_mismatch = "null"`), else the value's JSON text for the writer.
    /// Members no struct of the type declares are counted in `undeclared`, named from `path` (the
    /// column's path as written) as in the source: `userIdentity.invokedBy`,
    /// `resources[*].partition` inside a list's elements, `tags.*.color` inside a map's values.
    pub fn check<'s>(
        &self,
        slot: &'s Slot<'_>,
        met: &mut Met,
        path: &str,
        undeclared: &mut Undeclared,
    ) -> Result<Value<'s>, Reason> {
        let span = match slot {
            Slot::Missing | Slot::Null | Slot::Unreached(_) => return Ok(Value::Null),
            Slot::Object(span) | Slot::Array(span) if raw::kind_of(span) == self.shape.wanted() => {
                *span
            }
            _ if self.shape.is_stepped() => {
                met.unreached = true;
                return Ok(Value::Null);
            }
            // A value of another kind where the type wants a list, struct or map: the column's
            // own policy, as for a scalar column (a required column rejects).
            _ if self.policy == MismatchPolicy::Null && !self.required => {
                met.nulled = true;
                return Ok(Value::Null);
            }
            _ => return Err(Reason::TypeMismatch),
        };
        undeclared.name.clear();
        undeclared.name.extend_from_slice(path.as_bytes());
        let mut trail = Trail {
            name: &mut undeclared.name,
            unknown: &mut undeclared.found,
        };
        match self.read(&self.shape, Some(span), None, met, Some(&mut trail)) {
            Ok(_) => Ok(Value::Nested(span)),
            Err(_) => Err(Reason::TypeMismatch),
        }
    }

    /// Why `slot` does not fit the type, for a person: the kind found, where, what was expected.
    pub fn misfit_message(&self, column_path: &str, slot: &Slot<'_>) -> String {
        let misfit = match slot {
            Slot::Object(span) | Slot::Array(span) if raw::kind_of(span) == self.shape.wanted() => {
                self.read(&self.shape, Some(span), None, &mut Met::default(), None)
                    .err()
            }
            other => Some(Box::new(Misfit {
                trail: Vec::new(),
                found: other.kind(),
                expected: self.kind.to_string(),
                preview: String::new(),
            })),
        };
        let Some(m) = misfit else {
            return format!("{column_path} does not fit its type {}", self.kind);
        };
        let at: String = m.trail.iter().rev().map(String::as_str).collect();
        let preview = if m.preview.is_empty() {
            String::new()
        } else {
            format!(": {}", m.preview)
        };
        format!(
            "{} at {column_path}{at} cannot be read as {}{preview}",
            m.found, m.expected
        )
    }

    /// An empty collector for a batch of this column.
    pub(crate) fn collector(&self) -> Collector {
        Collector::new(&self.data_type())
    }

    /// Appends one row's value (the JSON text [`NestedColumn::check`] passed) to `out`.
    pub(crate) fn collect(&self, span: &[u8], out: &mut Collector) {
        let written = self.read(
            &self.shape,
            Some(span),
            Some(out),
            &mut Met::default(),
            None,
        );
        debug_assert!(written.is_ok(), "a value checked when it was mapped");
    }

    /// Reads the value `span` (`None`: missing) as `shape`, appending it to `out` when given and
    /// counting undeclared members along `trail` when given. Answers whether it was there (not
    /// null); a misfit the policy rejects is an error.
    fn read(
        &self,
        shape: &Shape,
        span: Option<&[u8]>,
        mut out: Option<&mut Collector>,
        met: &mut Met,
        mut trail: Option<&mut Trail<'_>>,
    ) -> Result<bool, Box<Misfit>> {
        let Some(span) = span.filter(|s| !raw::is_null(s)) else {
            if let Some(out) = out {
                out.null();
            }
            return Ok(false);
        };
        let wanted = match shape {
            Shape::Leaf(field) => {
                let slot = raw::slot_of(span);
                return match mapping::value_of(field, &slot) {
                    Ok(value) => {
                        met.nulled |= value == Value::Null;
                        if let Some(out) = out {
                            out.leaf(value);
                        }
                        Ok(value != Value::Null)
                    }
                    Err(_) => Err(Box::new(Misfit {
                        trail: Vec::new(),
                        found: slot.kind(),
                        expected: mapping::type_name(field).to_string(),
                        preview: mapping::preview(&slot),
                    })),
                };
            }
            container => container.wanted(),
        };
        let found = raw::kind_of(span);
        if found != wanted && shape.is_stepped() {
            met.unreached = true;
            if let Some(out) = out {
                out.null();
            }
            return Ok(false);
        }
        if found != wanted {
            return match self.policy {
                MismatchPolicy::Null => {
                    met.nulled = true;
                    if let Some(out) = out {
                        out.null();
                    }
                    Ok(false)
                }
                MismatchPolicy::Reject => Err(Box::new(Misfit {
                    trail: Vec::new(),
                    found,
                    expected: format!("{wanted} ({})", shape.describe()),
                    preview: String::new(),
                })),
            };
        }
        match shape {
            Shape::Leaf(_) => unreachable!("scalars were read above"),
            Shape::List { each, element, .. } => {
                let depth = trail.as_deref_mut().map(|t| t.enter_elements(each));
                for (i, item) in raw::elements(span).enumerate() {
                    let target = match walk(item, each) {
                        Walked::Found(s) => Some(s),
                        Walked::Missing => None,
                        Walked::Unreached(_) => {
                            met.unreached = true;
                            None
                        }
                    };
                    let child = out.as_deref_mut().map(Collector::elements);
                    (self.read(element, target, child, met, trail.as_deref_mut())).map_err(
                        |mut m| {
                            m.trail.push(format!("[{i}]{}", steps_text(each)));
                            m
                        },
                    )?;
                }
                Trail::leave(trail.as_deref_mut(), depth);
            }
            Shape::Struct(members) => {
                // Per member, its value, its name as written and whether that is its own name.
                let mut spans: Vec<FoundMember> = vec![None; members.len()];
                for (name, value) in raw::members(span) {
                    if let Some((i, exact)) = member_index(members, &name) {
                        // The last of a repeated name counts, as for top-level fields; a member
                        // under the member's own name beats one under a camelCase spelling.
                        if exact || !spans[i].as_ref().is_some_and(|(_, _, e)| *e) {
                            spans[i] = Some((value, name, exact));
                        }
                    } else if let Some(t) = trail.as_deref_mut() {
                        let depth = t.enter_member(&name);
                        t.unknown.count(t.name);
                        Trail::leave(Some(t), Some(depth));
                    }
                }
                for (i, (member, found)) in members.iter().zip(spans).enumerate() {
                    let child = out.as_deref_mut().map(|o| o.member(i));
                    let (value, name) = match found {
                        Some((value, name, _)) => (Some(value), Some(name)),
                        None => (None, None),
                    };
                    let depth = match (trail.as_deref_mut(), &name) {
                        (Some(t), Some(name)) => Some(t.enter_member(name)),
                        _ => None,
                    };
                    (self.read(&member.shape, value, child, met, trail.as_deref_mut())).map_err(
                        |mut m| {
                            m.trail.push(format!(".{}", member.name));
                            m
                        },
                    )?;
                    Trail::leave(trail.as_deref_mut(), depth);
                }
            }
            Shape::Map(values) => {
                let depth = trail.as_deref_mut().map(Trail::enter_values);
                let entries = last_of_each_name(raw::members(span).collect());
                for (name, value) in entries {
                    let key = String::from_utf8_lossy(&name);
                    if let Some(out) = out.as_deref_mut() {
                        out.map_key(&key);
                    }
                    let child = out.as_deref_mut().map(Collector::map_values);
                    (self.read(values, Some(value), child, met, trail.as_deref_mut())).map_err(
                        |mut m| {
                            m.trail.push(format!("[{key:?}]"));
                            m
                        },
                    )?;
                }
                Trail::leave(trail, depth);
            }
        }
        if let Some(out) = out {
            out.close();
        }
        Ok(true)
    }
}

impl Shape {
    /// Whether this is a list a `[*]` of the path makes.
    fn is_stepped(&self) -> bool {
        matches!(self, Shape::List { stepped: true, .. })
    }

    /// The JSON kind a list, struct or map is read from.
    fn wanted(&self) -> &'static str {
        match self {
            Shape::List { .. } => "array",
            Shape::Struct(_) | Shape::Map(_) => "object",
            Shape::Leaf(_) => "scalar",
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Shape::Leaf(field) => arrow_type(field.kind),
            Shape::List { element, .. } => DataType::List(Arc::new(ArrowField::new(
                "element",
                element.data_type(),
                true,
            ))),
            Shape::Struct(members) => DataType::Struct(
                members
                    .iter()
                    .map(|m| ArrowField::new(&m.name, m.shape.data_type(), true))
                    .collect::<Fields>(),
            ),
            Shape::Map(values) => {
                let entry = Fields::from(vec![
                    ArrowField::new("key", DataType::Utf8, false),
                    ArrowField::new("value", values.data_type(), true),
                ]);
                DataType::Map(
                    Arc::new(ArrowField::new("key_value", DataType::Struct(entry), false)),
                    false,
                )
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Shape::Leaf(field) => mapping::type_name(field).to_string(),
            Shape::List { element, .. } => format!("array<{}>", element.describe()),
            Shape::Struct(members) => format!(
                "struct<{}>",
                members
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Shape::Map(values) => format!("map<string,{}>", values.describe()),
        }
    }
}

fn shape_of(kind: &ColumnType, steps: &[Step], rules: &Field) -> Result<Shape, String> {
    match kind {
        ColumnType::Array(element) => {
            let (each, rest) = match steps.split_first() {
                None => (Vec::new(), steps),
                Some((Step::Each, after)) => {
                    let next = after
                        .iter()
                        .position(|s| *s == Step::Each)
                        .unwrap_or(after.len());
                    (after[..next].to_vec(), &after[next..])
                }
                Some(_) => unreachable!("the steps of a nested column start at a [*]"),
            };
            Ok(Shape::List {
                stepped: !steps.is_empty(),
                each,
                element: Box::new(shape_of(element, rest, rules)?),
            })
        }
        _ if !steps.is_empty() => Err(format!(
            "the path takes every element ([*]) more often than the type has array<> levels ({}): each [*] makes one array",
            kind
        )),
        ColumnType::Scalar(scalar) => Ok(Shape::Leaf(Box::new(Field {
            kind: *scalar,
            required: false,
            min: None,
            max: None,
            allowed: None,
            nested: None,
            select: Vec::new(),
            ..rules.clone()
        }))),
        ColumnType::Struct(members) => members
            .iter()
            .map(|m| {
                Ok(Member {
                    name: m.name.clone(),
                    shape: shape_of(&m.kind, &[], rules)?,
                })
            })
            .collect::<Result<_, String>>()
            .map(Shape::Struct),
        ColumnType::Map(values) => Ok(Shape::Map(Box::new(shape_of(values, &[], rules)?))),
    }
}

impl Trail<'_> {
    /// Goes into a member named `name` as written; answers where to come back to.
    fn enter_member(&mut self, name: &[u8]) -> usize {
        let depth = self.name.len();
        self.name.push(b'.');
        self.name.extend_from_slice(name);
        depth
    }

    /// Goes into a list's elements, and the steps taken from each.
    fn enter_elements(&mut self, each: &[Step]) -> usize {
        let depth = self.name.len();
        self.name.extend_from_slice(b"[*]");
        for step in each {
            let _ = write!(self.name, "{step}");
        }
        depth
    }

    /// Goes into a map's values.
    fn enter_values(&mut self) -> usize {
        let depth = self.name.len();
        self.name.extend_from_slice(b".*");
        depth
    }

    /// Comes back to `depth` (when there is a trail).
    fn leave(trail: Option<&mut Self>, depth: Option<usize>) {
        if let (Some(t), Some(depth)) = (trail, depth) {
            t.name.truncate(depth);
        }
    }
}

/// The struct member a JSON member name is read into: the member of that name, or else the one
/// that is the name in snake_case (`accountId` → `account_id`, `sourceIPAddress` →
/// `source_ip_address`). Also answers whether it was the member's own name.
fn member_index(members: &[Member], name: &[u8]) -> Option<(usize, bool)> {
    if let Some(i) = members.iter().position(|m| m.name.as_bytes() == name) {
        return Some((i, true));
    }
    let name = std::str::from_utf8(name).ok()?;
    // Most names are no member's: a comparison that ignores case and '_' turns them away
    // before any snake_case is built.
    let mut snake: Option<String> = None;
    members
        .iter()
        .position(|m| {
            loosely_equal(&m.name, name)
                && *snake.get_or_insert_with(|| heck::ToSnakeCase::to_snake_case(name)) == m.name
        })
        .map(|i| (i, false))
}

/// Whether two names are the same letters and digits, ignoring case and '_'.
fn loosely_equal(a: &str, b: &str) -> bool {
    fn plain(s: &str) -> impl Iterator<Item = u8> + '_ {
        s.bytes()
            .filter(|&b| b != b'_')
            .map(|b| b.to_ascii_lowercase())
    }
    plain(a).eq(plain(b))
}

/// A map's entries with one entry per name, the last of each (as Athena refuses a map with a
/// repeated key), in the order of those last ones.
fn last_of_each_name<'a>(
    entries: Vec<(Cow<'a, [u8]>, &'a [u8])>,
) -> Vec<(Cow<'a, [u8]>, &'a [u8])> {
    let repeated = |i: usize| entries[i + 1..].iter().any(|(n, _)| *n == entries[i].0);
    if entries.len() <= 32 {
        let keep: Vec<bool> = (0..entries.len()).map(|i| !repeated(i)).collect();
        return entries
            .into_iter()
            .zip(keep)
            .filter_map(|(e, keep)| keep.then_some(e))
            .collect();
    }
    let mut last = ahash::AHashMap::with_capacity(entries.len());
    for (i, (name, _)) in entries.iter().enumerate() {
        last.insert(name.clone(), i);
    }
    entries
        .into_iter()
        .enumerate()
        .filter(|(i, (name, _))| last[name] == *i)
        .map(|(_, e)| e)
        .collect()
}

/// Where a walk of steps over a value ended.
#[derive(Debug, PartialEq)]
enum Walked<'a> {
    /// At this value.
    Found(&'a [u8]),
    /// Nothing there: a missing member, a position past the end, no element matched, a null.
    Missing,
    /// A step met this kind of value, which it cannot go into.
    Unreached(&'static str),
}

/// Follows `steps` (none of them `[*]`) from the value `span`.
fn walk<'a>(span: &'a [u8], steps: &[Step]) -> Walked<'a> {
    let mut at = span;
    for step in steps {
        let kind = raw::kind_of(at);
        if kind == "null" {
            return Walked::Missing;
        }
        let next = match step {
            Step::Key(key) if kind == "object" => raw::members(at)
                .filter(|(name, _)| name.as_ref() == key.as_bytes())
                .last()
                .map(|(_, value)| value),
            Step::Index(i) if kind == "array" => element_at(at, *i),
            Step::Match { at: inner, value } if kind == "array" => {
                raw::elements(at).find(|element| matches_value(element, inner, value))
            }
            Step::Each => unreachable!("[*] is a list level, not a step"),
            _ => return Walked::Unreached(kind),
        };
        match next {
            Some(value) => at = value,
            None => return Walked::Missing,
        }
    }
    Walked::Found(at)
}

/// The element at position `i` (negative: from the end).
fn element_at(span: &[u8], i: i64) -> Option<&[u8]> {
    match usize::try_from(i) {
        Ok(i) => raw::elements(span).nth(i),
        Err(_) => {
            let from_end = usize::try_from(i.unsigned_abs()).ok()?;
            let all: Vec<&[u8]> = raw::elements(span).collect();
            all.len().checked_sub(from_end).map(|j| all[j])
        }
    }
}

/// Whether the scalar at `steps` inside `element` reads as `value`.
fn matches_value(element: &[u8], steps: &[Step], value: &str) -> bool {
    let Walked::Found(span) = walk(element, steps) else {
        return false;
    };
    match raw::slot_of(span) {
        Slot::Str(s) => s == value,
        Slot::Number(n) => n == value,
        Slot::Bool(b) => value == if b { "true" } else { "false" },
        _ => false,
    }
}

/// The slot a field's path reaches once its steps up to the first `[*]` are taken from the slot
/// the scan filled (the value at the path's member names).
pub fn select<'a>(slot: &Slot<'a>, steps: &[Step]) -> Slot<'a> {
    let span = match slot {
        Slot::Object(span) | Slot::Array(span) => *span,
        Slot::Missing | Slot::Null | Slot::Unreached(_) => return slot.clone(),
        other => return Slot::Unreached(other.kind()),
    };
    match walk(span, steps) {
        Walked::Found(span) => raw::slot_of(span),
        Walked::Missing => Slot::Missing,
        Walked::Unreached(kind) => Slot::Unreached(kind),
    }
}

fn steps_text(steps: &[Step]) -> String {
    steps.iter().map(Step::to_string).collect()
}

#[cfg(test)]
mod tests;
