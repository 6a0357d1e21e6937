//! The partition stage: which Hive partition a mapped row belongs to.
//!
//! A row's partition is looked up by its raw partition values ([`Partitioner::place`]): most rows
//! fall into a partition seen before, and for those no text is formatted or escaped. Only a new
//! combination of values builds its Hive path (through [`crate::layout::hive`]), and only a new
//! path opens a partition, so two values that share a directory share its writer.

use ahash::AHashMap;

use crate::dataset::{Dataset, Partition, TimePart};
use crate::layout::hive::{self, PartitionValueError};
use crate::mapping::{preview_text, value_micros, write_text, Reason, Rejection, Value};

/// Where a row goes.
#[derive(Debug, PartialEq)]
pub enum Place {
    /// Into the partition with this index (in order of first appearance).
    Known(usize),
    /// Into a new partition, the next index: the caller opens it. (Boxed, like [`Refused`]: the
    /// answer for every row stays two words.)
    New(Box<NewPartition>),
}

/// A partition seen for the first time.
#[derive(Debug, PartialEq, Eq)]
pub struct NewPartition {
    /// Raw partition values in key order (`None`: the default partition).
    pub values: Vec<Option<String>>,
    /// Its Hive path, e.g. `year=2020/month=06/device_id=A/`.
    pub path: String,
}

/// A row whose partition values cannot name a directory.
#[derive(Debug, PartialEq)]
pub struct Refused {
    /// The field (index into the dataset's fields) the offending value came from.
    pub field: usize,
    /// Why, for the rejected-records file.
    pub rejection: Rejection,
}

/// Assigns rows to partitions, for one source object.
pub struct Partitioner<'d> {
    dataset: &'d Dataset,
    names: Vec<String>,
    /// The longest partition path that still leaves room for a data file's name in an output key.
    max_path_bytes: usize,
    /// Partition index by the raw values, see [`partition_key`].
    by_key: AHashMap<Box<[u8]>, usize>,
    /// Partition index by path.
    by_path: AHashMap<String, usize>,
    calendar: Calendar,
    key: Vec<u8>,
    text: String,
}

impl<'d> Partitioner<'d> {
    /// A partitioner for `dataset` whose paths are at most `max_path_bytes` long.
    pub fn new(dataset: &'d Dataset, max_path_bytes: usize) -> Self {
        Self {
            dataset,
            names: dataset.partitions.iter().map(|p| p.name.clone()).collect(),
            max_path_bytes,
            by_key: AHashMap::new(),
            by_path: AHashMap::new(),
            calendar: Calendar::default(),
            key: Vec::new(),
            text: String::new(),
        }
    }

    /// The partition key names, outermost first.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The partition of a mapped row (values for every field, in the dataset's order).
    #[inline]
    pub fn place(&mut self, row: &[Value<'_>]) -> Result<Place, Box<Refused>> {
        partition_key(
            self.dataset,
            row,
            &mut self.calendar,
            &mut self.text,
            &mut self.key,
        );
        if let Some(&i) = self.by_key.get(self.key.as_slice()) {
            return Ok(Place::Known(i));
        }
        self.place_new_values(row)
    }

    /// Values not seen before: by their path, a partition seen before or a new one.
    #[cold]
    #[inline(never)]
    fn place_new_values(&mut self, row: &[Value<'_>]) -> Result<Place, Box<Refused>> {
        let values: Vec<Option<String>> = self
            .dataset
            .partitions
            .iter()
            .map(|p| {
                let mut text = String::new();
                partition_text(self.dataset, p, row, &mut self.calendar, &mut text).then_some(text)
            })
            .collect();
        let path = self.path_of(&values)?;
        let key: Box<[u8]> = self.key.as_slice().into();
        if let Some(&i) = self.by_path.get(&path) {
            self.by_key.insert(key, i);
            return Ok(Place::Known(i));
        }
        let i = self.by_path.len();
        self.by_path.insert(path.clone(), i);
        self.by_key.insert(key, i);
        Ok(Place::New(Box::new(NewPartition { values, path })))
    }

    /// The Hive path of raw partition values, or why they cannot have one.
    fn path_of(&self, values: &[Option<String>]) -> Result<String, Box<Refused>> {
        let dataset = self.dataset;
        let refuse = |i: usize, reason: Reason, message: String| {
            Box::new(Refused {
                field: dataset.partitions[i].field,
                rejection: Rejection { reason, message },
            })
        };
        let path = hive::partition_path(&self.names, values.iter().map(Option::as_deref))
            .map_err(|(i, error)| match error {
                PartitionValueError::Reserved => refuse(
                    i,
                    Reason::ReservedPartitionValue,
                    format!(
                        "partition {} = {:?} is the name Hive, Glue and Athena give null partition values: it would read back as null. Map it to another value, or partition by another field",
                        dataset.partitions[i].name,
                        hive::DEFAULT_PARTITION
                    ),
                ),
                PartitionValueError::TooLong => refuse(
                    i,
                    Reason::PartitionValueTooLong,
                    format!(
                        "partition {} = {} is too long for a path segment ({} bytes at most, escaped); partition by a shorter field",
                        dataset.partitions[i].name,
                        preview_text(values[i].as_deref().unwrap_or_default()),
                        hive::MAX_SEGMENT_BYTES
                    ),
                ),
            })?;
        if path.len() > self.max_path_bytes {
            return Err(refuse(
                dataset.partitions.len() - 1,
                Reason::PartitionValueTooLong,
                format!(
                    "the partition path {} is too long for an object key of the output ({} bytes at most with the file name); partition by shorter fields",
                    preview_text(&path),
                    self.max_path_bytes
                ),
            ));
        }
        Ok(path)
    }
}

/// The partition values of `row` as one byte string, in `key`: per partition, 0 for the default
/// partition, else 1 and the value: a time part as four bytes, a value's raw text and 0xFF (a byte
/// UTF-8 never holds). Equal keys ⇔ equal values, and no text is formatted for a known partition.
fn partition_key(
    dataset: &Dataset,
    row: &[Value<'_>],
    calendar: &mut Calendar,
    text: &mut String,
    key: &mut Vec<u8>,
) {
    key.clear();
    for p in &dataset.partitions {
        let value = row[p.field];
        if value == Value::Null {
            key.push(0);
            continue;
        }
        if let Some(part) = p.part {
            let micros = value_micros(&dataset.fields[p.field], value)
                .expect("time partitions use time fields");
            key.push(1);
            key.extend_from_slice(&calendar.part(micros, part).to_le_bytes());
            continue;
        }
        let raw = match value {
            Value::Str(s) => s,
            other => {
                text.clear();
                write_text(other, text);
                text.as_str()
            }
        };
        if raw.is_empty() {
            key.push(0);
        } else {
            key.push(1);
            key.extend_from_slice(raw.as_bytes());
            key.push(0xFF);
        }
    }
}

/// The raw text of a partition value; false when it is null (the default partition).
fn partition_text(
    dataset: &Dataset,
    p: &Partition,
    row: &[Value<'_>],
    calendar: &mut Calendar,
    out: &mut String,
) -> bool {
    let value = row[p.field];
    if value == Value::Null {
        return false;
    }
    let Some(part) = p.part else {
        write_text(value, out);
        return !out.is_empty();
    };
    let micros =
        value_micros(&dataset.fields[p.field], value).expect("time partitions use time fields");
    // Time values were range-checked when cast: the year has four digits.
    let width = if part == TimePart::Year { 4 } else { 2 };
    push_digits(out, calendar.part(micros, part), width);
    true
}

fn push_digits(out: &mut String, value: u32, width: u32) {
    for i in (0..width).rev() {
        out.push(char::from(b'0' + (value / 10u32.pow(i) % 10) as u8));
    }
}

/// Calendar parts of UTC instants, remembering the last instant and day: records arrive roughly
/// in time order, so most share their day with the one before, and several partitions (year,
/// month, ...) usually take their parts from the same instant.
#[derive(Default)]
struct Calendar {
    day: Option<(i64, (u32, u32, u32))>,
    instant: Option<(i64, (u32, u32, u32, u32))>,
}

impl Calendar {
    #[inline]
    fn part(&mut self, micros: i64, part: TimePart) -> u32 {
        let (year, month, day, hour) = self.parts(micros);
        match part {
            TimePart::Year => year,
            TimePart::Month => month,
            TimePart::Day => day,
            TimePart::Hour => hour,
        }
    }

    fn parts(&mut self, micros: i64) -> (u32, u32, u32, u32) {
        if let Some((cached, parts)) = self.instant {
            if cached == micros {
                return parts;
            }
        }
        let days = crate::timefmt::micros_to_days(micros);
        let hour = crate::timefmt::hour_of_day(micros);
        let (y, m, d) = match self.day {
            Some((cached, ymd)) if cached == days => ymd,
            _ => {
                let (y, m, d) = crate::timefmt::civil_from_days(days);
                let ymd = (y.clamp(0, 9999) as u32, m, d);
                self.day = Some((days, ymd));
                ymd
            }
        };
        self.instant = Some((micros, (y, m, d, hour)));
        (y, m, d, hour)
    }
}

#[cfg(test)]
mod tests;
