//! Arrow arrays of nested columns, collected value by value as [`crate::nested`] walks each
//! row's JSON: lists and maps as offsets, structs as one child per member, scalars in the same
//! row buffers as top-level columns (one column wide), so every cast is written one way.

use std::sync::Arc;

use arrow_array::{ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
use arrow_schema::{ArrowError, DataType, Field as ArrowField, Fields};

use super::{RowLayout, Rows, WriteError};
use crate::dataset::FieldType;
use crate::mapping::Value;

/// The values of one nested column for one batch, shaped like its type.
pub(crate) enum Collector {
    /// Scalars (elements of a list, members of a struct, values of a map).
    Leaf { layout: RowLayout, rows: Rows },
    /// A list: where each value's elements end, whether it is there, the elements.
    List {
        field: Arc<ArrowField>,
        offsets: Vec<usize>,
        valid: Vec<bool>,
        element: Box<Collector>,
    },
    /// A struct: whether each value is there, one collector per member.
    Struct {
        fields: Fields,
        valid: Vec<bool>,
        members: Vec<Collector>,
    },
    /// A map: where each value's entries end, whether it is there, the keys, the values.
    Map {
        field: Arc<ArrowField>,
        offsets: Vec<usize>,
        valid: Vec<bool>,
        keys: Rows,
        values: Box<Collector>,
    },
}

/// The row buffer's kind for a scalar Arrow type (a `json` scalar is text like a string: the
/// cast has already written it as JSON).
fn scalar_kind(data_type: &DataType) -> FieldType {
    match data_type {
        DataType::Utf8 => FieldType::String,
        DataType::Int16 => FieldType::Int16,
        DataType::Int32 => FieldType::Int32,
        DataType::Int64 => FieldType::Int64,
        DataType::Float32 => FieldType::Float32,
        DataType::Float64 => FieldType::Double,
        DataType::Decimal128(precision, scale) => FieldType::Decimal {
            precision: *precision,
            scale: *scale as u8,
        },
        DataType::Boolean => FieldType::Boolean,
        DataType::Timestamp(..) => FieldType::Timestamp,
        DataType::Date32 => FieldType::Date,
        other => unreachable!("no column scalar is written as {other}"),
    }
}

/// The layout of a one-column row buffer.
fn leaf_layout(kind: FieldType) -> RowLayout {
    RowLayout::of(vec![kind], vec![None])
}

impl Collector {
    /// An empty collector for values of Arrow type `data_type`.
    pub(crate) fn new(data_type: &DataType) -> Self {
        match data_type {
            DataType::List(field) => Collector::List {
                field: field.clone(),
                offsets: vec![0],
                valid: Vec::new(),
                element: Box::new(Collector::new(field.data_type())),
            },
            DataType::Struct(fields) => Collector::Struct {
                fields: fields.clone(),
                valid: Vec::new(),
                members: fields
                    .iter()
                    .map(|f| Collector::new(f.data_type()))
                    .collect(),
            },
            DataType::Map(field, _) => {
                let DataType::Struct(entry) = field.data_type() else {
                    unreachable!("a map's entries are a struct")
                };
                Collector::Map {
                    field: field.clone(),
                    offsets: vec![0],
                    valid: Vec::new(),
                    keys: Rows::default(),
                    values: Box::new(Collector::new(entry[1].data_type())),
                }
            }
            scalar => Collector::Leaf {
                layout: leaf_layout(scalar_kind(scalar)),
                rows: Rows::default(),
            },
        }
    }

    /// Appends a scalar.
    pub(crate) fn leaf(&mut self, value: Value<'_>) {
        match self {
            Collector::Leaf { layout, rows } => {
                rows.push(layout, std::iter::once(value));
            }
            _ => unreachable!("a scalar where the type has a scalar"),
        }
    }

    /// Appends a null value.
    pub(crate) fn null(&mut self) {
        match self {
            Collector::Leaf { .. } => self.leaf(Value::Null),
            Collector::List { offsets, valid, .. } | Collector::Map { offsets, valid, .. } => {
                offsets.push(*offsets.last().expect("offsets start with 0"));
                valid.push(false);
            }
            Collector::Struct { valid, members, .. } => {
                // A struct's children are as long as the struct, null or not.
                valid.push(false);
                members.iter_mut().for_each(Collector::null);
            }
        }
    }

    /// The collector of a list's elements.
    pub(crate) fn elements(&mut self) -> &mut Collector {
        match self {
            Collector::List { element, .. } => element,
            _ => unreachable!("elements of a list"),
        }
    }

    /// The collector of a struct's member `i`.
    pub(crate) fn member(&mut self, i: usize) -> &mut Collector {
        match self {
            Collector::Struct { members, .. } => &mut members[i],
            _ => unreachable!("members of a struct"),
        }
    }

    /// Appends a map entry's key; its value goes to [`Collector::map_values`] next.
    pub(crate) fn map_key(&mut self, key: &str) {
        match self {
            Collector::Map { keys, .. } => {
                keys.push(
                    &leaf_layout(FieldType::String),
                    std::iter::once(Value::Str(key)),
                );
            }
            _ => unreachable!("keys of a map"),
        }
    }

    /// The collector of a map's values.
    pub(crate) fn map_values(&mut self) -> &mut Collector {
        match self {
            Collector::Map { values, .. } => values,
            _ => unreachable!("values of a map"),
        }
    }

    /// Ends a list, struct or map value whose elements (members, entries) were appended.
    pub(crate) fn close(&mut self) {
        match self {
            Collector::List {
                offsets,
                valid,
                element,
                ..
            } => {
                offsets.push(element.len());
                valid.push(true);
            }
            Collector::Map {
                offsets,
                valid,
                keys,
                ..
            } => {
                offsets.push(keys.len);
                valid.push(true);
            }
            Collector::Struct { valid, .. } => valid.push(true),
            Collector::Leaf { .. } => unreachable!("a scalar has nothing to close"),
        }
    }

    /// How many values it holds.
    fn len(&self) -> usize {
        match self {
            Collector::Leaf { rows, .. } => rows.len,
            Collector::List { valid, .. }
            | Collector::Struct { valid, .. }
            | Collector::Map { valid, .. } => valid.len(),
        }
    }

    /// The collected values as an Arrow array.
    pub(crate) fn finish(self) -> Result<ArrayRef, WriteError> {
        Ok(match self {
            Collector::Leaf { layout, rows } => rows.column(&layout, 0, 0..rows.len)?,
            Collector::List {
                field,
                offsets,
                valid,
                element,
            } => Arc::new(ListArray::try_new(
                field,
                offset_buffer(&offsets)?,
                element.finish()?,
                nulls(&valid),
            )?),
            Collector::Struct {
                fields,
                valid,
                members,
            } => {
                let children = members
                    .into_iter()
                    .map(Collector::finish)
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(fields, children, nulls(&valid))?)
            }
            Collector::Map {
                field,
                offsets,
                valid,
                keys,
                values,
            } => {
                let DataType::Struct(entry) = field.data_type() else {
                    unreachable!("a map's entries are a struct")
                };
                let keys = keys.column(&leaf_layout(FieldType::String), 0, 0..keys.len)?;
                let entries =
                    StructArray::try_new(entry.clone(), vec![keys, values.finish()?], None)?;
                Arc::new(MapArray::try_new(
                    field,
                    offset_buffer(&offsets)?,
                    entries,
                    nulls(&valid),
                    false,
                )?)
            }
        })
    }
}

fn offset_buffer(offsets: &[usize]) -> Result<OffsetBuffer<i32>, WriteError> {
    let offsets = offsets
        .iter()
        .map(|&o| i32::try_from(o))
        .collect::<Result<Vec<i32>, _>>()
        .map_err(|_| {
            ArrowError::ComputeError("a batch holds more than 2^31 elements of one list".into())
        })?;
    Ok(OffsetBuffer::new(offsets.into()))
}

/// The validity buffer, or none when every value is there.
fn nulls(valid: &[bool]) -> Option<NullBuffer> {
    (!valid.iter().all(|&v| v))
        .then(|| NullBuffer::new(BooleanBuffer::collect_bool(valid.len(), |i| valid[i])))
}
