//! Casting a scanned JSON value to its column's type and checking the field's rules: the
//! declarative counterpart of Glue's ApplyMapping and ResolveChoice.
//!
//! Casts accept what real feeds send: numbers inside strings (`"35.698362"` → double), numbers
//! where strings are expected, booleans as `"true"` / `1`, times as epoch numbers or ISO 8601.

use std::fmt::Write as _;

use crate::dataset::{EpochUnit, Field, FieldType, MismatchPolicy};
use crate::decode::json::Slot;
use crate::nested::{Met, NestedColumn, Undeclared};
use crate::timefmt::{from_micros, micros_to_days, to_micros};

/// A typed value ready for its column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'s> {
    /// No value.
    Null,
    /// Text, borrowed from the input.
    Str(&'s str),
    /// A string of a `json` column: written as its JSON text (quoted and escaped).
    JsonString(&'s str),
    /// The JSON text of an array or object that fits its nested column's type; the writer reads
    /// it again into the column's lists, structs and maps.
    Nested(&'s [u8]),
    /// int32
    I32(i32),
    /// int64 (for `epoch_unit` columns: epoch in that unit).
    I64(i64),
    /// float32
    F32(f32),
    /// double
    F64(f64),
    /// decimal: the unscaled value (an `i128`, little-endian: bytes keep the value as small as
    /// the others) and the column's scale.
    Decimal {
        /// `i128::to_le_bytes` of the value times 10^scale.
        unscaled: [u8; 16],
        /// Digits after the point.
        scale: u8,
    },
    /// boolean
    Bool(bool),
    /// timestamp, UTC microseconds
    Micros(i64),
    /// date, days since 1970-01-01
    Days(i32),
}

// Rows of values are the transform's working set: a decimal must not make every value larger.
const _: () = assert!(std::mem::size_of::<Value<'static>>() == 24);

/// Why a record was rejected: a stable code for counting and alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The record is not valid JSON.
    InvalidJson,
    /// The record is valid JSON but not an object.
    NotAnObject,
    /// A required field is missing or null.
    MissingRequiredField,
    /// A value cannot be cast to its column type.
    TypeMismatch,
    /// A value is outside `min`/`max`.
    OutOfRange,
    /// A value is not in `allowed`.
    NotAllowed,
    /// A value partition's value does not fit a path segment or an object key.
    PartitionValueTooLong,
    /// The array the dataset's rows are taken from is another kind of value.
    NotAnArray,
    /// A value partition's value is `__HIVE_DEFAULT_PARTITION__`, which Hive, Glue and Athena
    /// read as null: it cannot be told apart from a missing value.
    ReservedPartitionValue,
}

impl Reason {
    /// The code written to rejected records and summaries.
    pub fn code(self) -> &'static str {
        match self {
            Reason::InvalidJson => "invalid_json",
            Reason::NotAnObject => "not_an_object",
            Reason::MissingRequiredField => "missing_required_field",
            Reason::TypeMismatch => "type_mismatch",
            Reason::OutOfRange => "out_of_range",
            Reason::NotAllowed => "not_allowed",
            Reason::NotAnArray => "not_an_array",
            Reason::PartitionValueTooLong => "partition_value_too_long",
            Reason::ReservedPartitionValue => "reserved_partition_value",
        }
    }
}

/// A field-level rejection.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The reason code.
    pub reason: Reason,
    /// What was wrong, for a person.
    pub message: String,
}

/// Casts and validates one field's slot: its value, or why the record is rejected.
///
/// The hot path of the transform: no message is built here (see [`rejection`] for that).
/// Inlined into [`map_record`], though nested columns call it too.
#[inline(always)]
pub fn value_of<'s>(field: &Field, slot: &'s Slot<'_>) -> Result<Value<'s>, Reason> {
    let value = match slot {
        Slot::Missing | Slot::Null | Slot::Unreached(_) => Value::Null,
        _ => match cast(field, slot) {
            Some(v) => v,
            None if field.on_type_mismatch == MismatchPolicy::Null && !field.required => {
                Value::Null
            }
            None => return Err(Reason::TypeMismatch),
        },
    };
    if let Value::Null = value {
        return if field.required {
            Err(Reason::MissingRequiredField)
        } else {
            Ok(value)
        };
    }
    if !in_range(field, value) {
        return Err(Reason::OutOfRange);
    }
    if let Some(allowed) = &field.allowed {
        if !allowed.contains(&text_of(value)) {
            return Err(Reason::NotAllowed);
        }
    }
    Ok(value)
}

/// The map stage for one record: each field's value from its slot (one slot per field, in order)
/// pushed onto `row`, and the fields whose value was nulled by `on_type_mismatch = "null"` onto
/// `nulled`. On the first field that rejects the record, its index and the reason.
#[inline]
pub fn map_record<'s>(
    fields: &[Field],
    slots: &'s [Slot<'_>],
    row: &mut Vec<Value<'s>>,
    counted: &mut Counted,
) -> Result<(), (usize, Reason)> {
    for (i, (field, slot)) in fields.iter().zip(slots).enumerate() {
        push_value(field, slot, i, row, counted).map_err(|reason| (i, reason))?;
    }
    Ok(())
}

/// [`map_record`] for a row whose slots are not side by side (a row of one element of an array,
/// with the slots of its record and of the enclosing elements): `slot_of(i)` is field `i`'s.
pub fn map_row<'s>(
    fields: &[Field],
    slot_of: impl Fn(usize) -> &'s Slot<'s>,
    row: &mut Vec<Value<'s>>,
    counted: &mut Counted,
) -> Result<(), (usize, Reason)> {
    for (i, field) in fields.iter().enumerate() {
        push_value(field, slot_of(i), i, row, counted).map_err(|reason| (i, reason))?;
    }
    Ok(())
}

/// Pushes field `i`'s value from its slot onto `row`, counted in `counted` when nulled or not
/// reached. (Pushing here rather than returning the value keeps the flat loop as fast as with
/// this written out in it: returned, it ran 10% slower.)
#[inline(always)]
fn push_value<'s>(
    field: &Field,
    slot: &'s Slot<'_>,
    i: usize,
    row: &mut Vec<Value<'s>>,
    counted: &mut Counted,
) -> Result<(), Reason> {
    if let Some(nested) = &field.nested {
        row.push(nested_value_of(field, nested, slot, i, counted)?);
        return Ok(());
    }
    let value = value_of(field, slot)?;
    if matches!(value, Value::Null) {
        match slot {
            Slot::Missing | Slot::Null => {}
            Slot::Unreached(_) => counted.unreached.push(i),
            _ => counted.nulled.push(i),
        }
    }
    row.push(value);
    Ok(())
}

/// A nested column's value (field `i`), its nulled or unreached parts counted.
#[cold]
fn nested_value_of<'s>(
    field: &Field,
    nested: &NestedColumn,
    slot: &'s Slot<'_>,
    i: usize,
    counted: &mut Counted,
) -> Result<Value<'s>, Reason> {
    let mut met = Met::default();
    let value = nested.check(slot, &mut met, &field.shown_path, &mut counted.undeclared)?;
    if value == Value::Null {
        if field.required {
            return Err(Reason::MissingRequiredField);
        }
        met.unreached |= matches!(slot, Slot::Unreached(_));
    }
    if met.nulled {
        counted.nulled.push(i);
    }
    if met.unreached {
        counted.unreached.push(i);
    }
    Ok(value)
}

/// The fields of one record whose value was null for a reason worth counting.
#[derive(Debug, Default)]
pub struct Counted {
    /// Nulled by `on_type_mismatch = "null"`.
    pub nulled: Vec<usize>,
    /// Not reached: the path met an array or a scalar where it goes on ([`Slot::Unreached`]).
    pub unreached: Vec<usize>,
    /// Members inside struct columns that their types do not declare, counted across records
    /// (not emptied by [`Counted::clear`]; the engine takes them at the end).
    pub undeclared: Undeclared,
}

impl Counted {
    /// Empties both lists for the next record.
    #[inline]
    pub fn clear(&mut self) {
        self.nulled.clear();
        self.unreached.clear();
    }
}

/// "a" or "an", before a JSON kind.
pub(crate) fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The rejection [`value_of`] answered with `reason`, with its message.
pub fn rejection(field: &Field, slot: &Slot<'_>, reason: Reason) -> Rejection {
    let path = field.path_display();
    let message = match reason {
        Reason::TypeMismatch if field.nested.is_some() => field
            .nested
            .as_ref()
            .expect("a nested column")
            .misfit_message(&path, slot),
        Reason::TypeMismatch => format!(
            "{} at {path} cannot be read as {}: {}",
            slot.kind(),
            type_name(field),
            preview(slot)
        ),
        Reason::MissingRequiredField => {
            let state = match slot {
                Slot::Missing => "missing".to_string(),
                Slot::Null => "null".to_string(),
                // Unreached, or a nested column whose `[*]` meets a value that is not an array.
                other => {
                    let kind = match other {
                        Slot::Unreached(kind) => kind,
                        value => value.kind(),
                    };
                    format!("missing: its path meets {} {kind} where it goes on (into an object, or with [..] into an array)", article(kind))
                }
            };
            format!("required field {path} is {state}")
        }
        Reason::OutOfRange => {
            let n = cast(field, slot).map(text_of).unwrap_or_default();
            let bound = |b: Option<f64>| b.map_or("-".to_string(), |b| b.to_string());
            format!(
                "{path} = {n} is outside [{}, {}]",
                bound(field.min),
                bound(field.max)
            )
        }
        Reason::NotAllowed => {
            let text = cast(field, slot).map(text_of).unwrap_or_default();
            format!("{path} = {text:?} is not one of the allowed values")
        }
        Reason::InvalidJson
        | Reason::NotAnObject
        | Reason::NotAnArray
        | Reason::PartitionValueTooLong
        | Reason::ReservedPartitionValue => reason.code().to_string(),
    };
    Rejection { reason, message }
}

/// Whether a numeric value is within `min`/`max` (other values have no range). Integers are
/// compared exactly (an `i64` near 2^63 is not rounded to a double first).
#[inline(always)]
fn in_range(field: &Field, value: Value<'_>) -> bool {
    if field.min.is_none() && field.max.is_none() {
        return true;
    }
    let order = |bound: f64| match value {
        Value::I32(v) => compare_int(i64::from(v), bound),
        Value::I64(v) => compare_int(v, bound),
        Value::F32(v) => f64::from(v).partial_cmp(&bound),
        Value::F64(v) => v.partial_cmp(&bound),
        _ => None,
    };
    use std::cmp::Ordering::{Greater, Less};
    !(field.min.is_some_and(|lo| order(lo) == Some(Less))
        || field.max.is_some_and(|hi| order(hi) == Some(Greater)))
}

/// How the integer `v` compares with `bound`, exactly.
fn compare_int(v: i64, bound: f64) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    // 2^63: every double at or past it is above every i64.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if bound.is_nan() {
        return None;
    }
    if bound >= TWO_POW_63 {
        return Some(Ordering::Less);
    }
    if bound < -TWO_POW_63 {
        return Some(Ordering::Greater);
    }
    // Within range the whole part converts exactly; the fraction breaks a tie.
    let whole = bound.trunc() as i64;
    Some(v.cmp(&whole).then(0.0.partial_cmp(&bound.fract())?))
}

/// The canonical text of a value, as `allowed` lists it.
fn text_of(value: Value<'_>) -> String {
    let mut text = String::new();
    write_text(value, &mut text);
    text
}

/// The type a scalar field reads, for messages.
pub(crate) fn type_name(field: &Field) -> std::borrow::Cow<'static, str> {
    let name = match field.kind {
        FieldType::Decimal { .. } => return crate::dataset::types::athena_scalar(field.kind),
        FieldType::String => "string",
        FieldType::Int16 => "int16",
        FieldType::Int32 => "int32",
        FieldType::Int64 if field.epoch_unit.is_some() => "a point in time (int64 epoch)",
        FieldType::Int64 => "int64",
        FieldType::Float32 => "float32",
        FieldType::Double => "double",
        FieldType::Boolean => "boolean",
        FieldType::Timestamp => "timestamp",
        FieldType::Date => "date",
        FieldType::Json => "json",
        FieldType::Nested => "an array, struct or map",
    };
    name.into()
}

/// The value of a slot for a message.
pub(crate) fn preview(slot: &Slot<'_>) -> String {
    let text: &str = match slot {
        Slot::Str(s) => s,
        Slot::Number(n) => n,
        Slot::Bool(true) => "true",
        Slot::Bool(false) => "false",
        other => other.kind(),
    };
    preview_text(text)
}

/// A text for a message: quoted, escaped, cut after 64 characters.
pub fn preview_text(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    format!("{out:?}")
}

/// Casts a present, non-null slot; `None` when it cannot be read as the column's type.
#[inline(always)]
fn cast<'s>(field: &Field, slot: &'s Slot<'_>) -> Option<Value<'s>> {
    match field.kind {
        FieldType::Json => match slot {
            Slot::Str(s) => Some(Value::JsonString(s)),
            Slot::Number(n) => Some(Value::Str(n)),
            Slot::Bool(b) => Some(Value::Str(if *b { "true" } else { "false" })),
            // The scanner checked the text whole, UTF-8 included.
            Slot::Object(raw) | Slot::Array(raw) => std::str::from_utf8(raw).ok().map(Value::Str),
            Slot::Missing | Slot::Null | Slot::Unreached(_) => None,
        },
        // Read by `nested_value_of`, never here.
        FieldType::Nested => None,
        FieldType::String => match slot {
            Slot::Str(s) => Some(Value::Str(s)),
            Slot::Number(n) => Some(Value::Str(n)),
            Slot::Bool(b) => Some(Value::Str(if *b { "true" } else { "false" })),
            _ => None,
        },
        FieldType::Int64 if field.epoch_unit.is_some() => {
            let unit = field.epoch_unit.unwrap_or(EpochUnit::Seconds);
            if let Slot::Number(n) = slot {
                return field.time_format.read_number_as(n, unit).map(Value::I64);
            }
            let micros = time_micros(field, slot, unit)?;
            from_micros(micros, unit).map(Value::I64)
        }
        FieldType::Int64 => int_text(slot).and_then(parse_int).map(Value::I64),
        FieldType::Int32 => int_text(slot)
            .and_then(parse_int)
            .and_then(|v| i32::try_from(v).ok())
            .map(Value::I32),
        FieldType::Int16 => int_text(slot)
            .and_then(parse_int)
            .and_then(|v| i16::try_from(v).ok())
            .map(|v| Value::I32(v.into())),
        FieldType::Decimal { precision, scale } => {
            let text = match slot {
                Slot::Number(n) => n,
                Slot::Str(s) => trim(s),
                _ => return None,
            };
            decimal_of(text, precision, scale).map(|v| Value::Decimal {
                unscaled: v.to_le_bytes(),
                scale,
            })
        }
        FieldType::Double => {
            let text = match slot {
                Slot::Number(n) => n,
                Slot::Str(s) => trim(s),
                _ => return None,
            };
            // Rust also parses "inf" and "NaN"; neither is a measurement.
            crate::numbers::parse_f64(text)
                .filter(|v| v.is_finite())
                .map(Value::F64)
        }
        FieldType::Float32 => {
            let text = match slot {
                Slot::Number(n) => n,
                Slot::Str(s) => trim(s),
                _ => return None,
            };
            // Rounded once, from the text (through an f64 it could be rounded twice); a number
            // past f32's range does not fit.
            text.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Value::F32)
        }
        FieldType::Boolean => match slot {
            Slot::Bool(b) => Some(Value::Bool(*b)),
            Slot::Number("1") => Some(Value::Bool(true)),
            Slot::Number("0") => Some(Value::Bool(false)),
            Slot::Str(s) => parse_bool(trim(s)).map(Value::Bool),
            _ => None,
        },
        FieldType::Timestamp => {
            time_micros(field, slot, field.epoch_unit.unwrap_or(EpochUnit::Seconds))
                .map(Value::Micros)
        }
        FieldType::Date => time_micros(field, slot, field.epoch_unit.unwrap_or(EpochUnit::Seconds))
            .and_then(|m| i32::try_from(micros_to_days(m)).ok())
            .map(Value::Days),
    }
}

/// The number `text` (JSON's grammar, or a numeric string: `str::parse::<f64>`'s) times
/// 10^`scale`, exactly: `None` when it has more digits after the point than `scale` (other than
/// zeros), or `precision` digits do not hold it.
fn decimal_of(text: &str, precision: u8, scale: u8) -> Option<i128> {
    let d = crate::numbers::Decimal::parse(text)?;
    if d.inexact {
        return None;
    }
    let limit = 10u128.pow(u32::from(precision));
    let mut unscaled = d.digits;
    let shift = d.exponent + i64::from(scale);
    if unscaled != 0 && shift > 0 {
        // Past `limit` after at most 38 steps, whatever the exponent.
        for _ in 0..shift {
            unscaled = unscaled.checked_mul(10).filter(|&v| v < limit)?;
        }
    } else if shift < 0 {
        for _ in 0..shift.unsigned_abs() {
            if unscaled == 0 {
                break;
            }
            if unscaled % 10 != 0 {
                return None;
            }
            unscaled /= 10;
        }
    }
    if unscaled >= limit {
        return None;
    }
    let value = unscaled as i128;
    Some(if d.negative { -value } else { value })
}

fn time_micros(field: &Field, slot: &Slot<'_>, unit: EpochUnit) -> Option<i64> {
    match slot {
        Slot::Number(n) => field.time_format.read_number(n, unit),
        Slot::Str(s) => field.time_format.read_str(s, unit),
        _ => None,
    }
}

fn int_text<'s>(slot: &'s Slot<'_>) -> Option<&'s str> {
    match slot {
        Slot::Number(n) => Some(n),
        Slot::Str(s) => Some(trim(s)),
        _ => None,
    }
}

/// `s` without surrounding whitespace; most values have none, which one look at each end shows.
#[inline]
fn trim(s: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b.is_ascii());
    if plain(s.as_bytes().first()) && plain(s.as_bytes().last()) {
        s
    } else {
        s.trim()
    }
}

/// An integer, also from `42.0` or `4.2e1`: exactly, never through binary floating point, and
/// never truncating `42.5` or wrapping past `i64`.
fn parse_int(text: &str) -> Option<i64> {
    if let Ok(v) = text.parse::<i64>() {
        return Some(v);
    }
    crate::numbers::Decimal::parse(text)?.to_i64()
}

fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "1", "yes", "y"];
    const FALSE: [&str; 4] = ["false", "0", "no", "n"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// The canonical text of a value: used for value partitions and `allowed` checks.
pub fn write_text(value: Value<'_>, out: &mut String) {
    match value {
        Value::Null => {}
        Value::Str(s) => out.push_str(s),
        Value::Nested(span) => out.push_str(&String::from_utf8_lossy(span)),
        Value::JsonString(s) => {
            out.push_str(&serde_json::to_string(s).expect("a string serialises"));
        }
        Value::I32(v) => {
            let _ = write!(out, "{v}");
        }
        Value::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F32(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Decimal { unscaled, scale } => {
            let v = i128::from_le_bytes(unscaled);
            let digits = v.unsigned_abs().to_string();
            let scale = usize::from(scale);
            let digits = format!("{digits:0>width$}", width = scale + 1);
            let (whole, fraction) = digits.split_at(digits.len() - scale);
            out.push_str(if v < 0 { "-" } else { "" });
            out.push_str(whole);
            if scale > 0 {
                out.push('.');
                out.push_str(fraction);
            }
        }
        Value::Bool(v) => out.push_str(if v { "true" } else { "false" }),
        Value::Micros(m) => {
            let (y, mo, d, h) = crate::timefmt::utc_parts(m);
            let secs = m.rem_euclid(3_600 * crate::timefmt::MICROS_PER_SECOND)
                / crate::timefmt::MICROS_PER_SECOND;
            let _ = write!(
                out,
                "{y:04}-{mo:02}-{d:02}T{h:02}:{:02}:{:02}Z",
                secs / 60,
                secs % 60
            );
        }
        Value::Days(days) => {
            let (y, mo, d) = crate::timefmt::civil_from_days(i64::from(days));
            let _ = write!(out, "{y:04}-{mo:02}-{d:02}");
        }
    }
}

/// The point in time a time-valued field holds, in UTC microseconds.
pub fn value_micros(field: &Field, value: Value<'_>) -> Option<i64> {
    match value {
        Value::Micros(m) => Some(m),
        Value::Days(d) => Some(i64::from(d) * crate::timefmt::MICROS_PER_DAY),
        Value::I64(v) => field.epoch_unit.and_then(|u| to_micros(v, u)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
