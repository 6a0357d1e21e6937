//! Dataset definitions: loading, validating and compiling `datasets/*.toml|json` into the form the
//! engine runs on. A bad definition fails here, naming the file and the key, never mid-stream.

pub mod config;
mod error;
pub mod path;
pub mod types;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

pub use config::{
    Compression, DatasetFile, EmptyRows, EpochUnit, FieldFrom, FieldType, MismatchPolicy, OnDelete,
    PartitionConfig, TimePart,
};
pub use error::DatasetError;
pub use path::{SourcePath, Step};
pub use types::{ColumnType, StructMember};

use crate::timefmt::TimeFormat;

/// A validated dataset definition.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where the definition came from (a path, or a label for embedded definitions).
    pub origin: String,
    /// Dataset name.
    pub name: String,
    /// Glue database.
    pub database: String,
    /// Glue table.
    pub table: String,
    /// Raw key prefix.
    pub prefix: String,
    /// Accepted raw key endings.
    pub suffixes: Vec<String>,
    /// What deleting a raw object does to its rows.
    pub on_delete: OnDelete,
    /// The largest raw object taken, in MiB.
    pub max_object_mb: u64,
    /// The most bytes an object may decompress to, in MiB.
    pub max_decompressed_mb: u64,
    /// The member names, from each document, of the array whose elements are the records, if
    /// any.
    pub records: Option<Vec<String>>,
    /// Members of each record holding a JSON document inside a string, read as JSON.
    pub json_strings: Vec<JsonString>,
    /// One row per element of an array inside each record, when set.
    pub rows: Option<Rows>,
    /// Columns, in table order (including those that only feed partitions).
    pub fields: Vec<Field>,
    /// Partition keys, outermost first.
    pub partitions: Vec<Partition>,
    /// Parquet settings.
    pub output: config::OutputConfig,
    /// Share of rejected records above which the object fails; `None`: only when all are rejected.
    pub max_rejected_fraction: Option<f64>,
}

/// A member of each record whose string value is itself a JSON document (`[source] json_strings`).
#[derive(Debug, Clone)]
pub struct JsonString {
    /// Member names from the record to the string.
    pub path: Vec<String>,
    /// The path as written, for messages and unknown members (`message`).
    pub shown_path: String,
}

/// The arrays whose elements are the rows: level 1 inside the record, each further level inside
/// an element of the one before.
#[derive(Debug, Clone)]
pub struct Rows {
    /// The path as written, for messages.
    pub shown_path: String,
    /// Every step of the path, member names included.
    pub steps: Vec<Step>,
    /// The levels, outermost first.
    pub levels: Vec<RowsLevel>,
    /// What an empty, missing or null array gives.
    pub empty: EmptyRows,
}

/// Where one level's array is, inside the record (level 1) or an element of the level before.
#[derive(Debug, Clone)]
pub struct RowsLevel {
    /// Member names to it (none: the enclosing element is itself the array).
    pub path: Vec<String>,
    /// Steps from there, before its `[*]` (positions, matches).
    pub select: Vec<Step>,
    /// The rows path up to this level's `[*]`, for messages (`payload.commits[*]`).
    pub shown_path: String,
}

impl Rows {
    /// How many leading levels of the rows path `steps` (all of a field path's steps) starts
    /// with, and the steps after them: what it reads inside the element of that level.
    pub fn bind<'p>(&self, steps: &'p [Step]) -> (usize, &'p [Step]) {
        let mut bound = (0, steps);
        let mut level = 0;
        for (i, step) in self.steps.iter().enumerate() {
            if steps.get(i) != Some(step) {
                break;
            }
            if *step == Step::Each {
                level += 1;
                bound = (level, &steps[i + 1..]);
            }
        }
        bound
    }
}

/// A validated column.
#[derive(Debug, Clone)]
pub struct Field {
    /// Column name.
    pub column: String,
    /// The rows level it reads from: 0 the record, `k` the current element of
    /// [`Dataset::rows`]' level `k` (its paths start there).
    pub level: usize,
    /// What its path starts from: the record, the document around the records, or the object.
    pub from: config::FieldFrom,
    /// The [`Dataset::json_strings`] entry whose document it reads inside (its `path` and
    /// `select` then start there), or none for a path from the record.
    pub json_string: Option<usize>,
    /// Member names from the record (or the level's element) to the value the scan hands over (the path up to its first
    /// bracket).
    pub path: Vec<String>,
    /// Steps from there into arrays, up to the first `[*]` (taken by [`crate::nested::select`]).
    pub select: Vec<Step>,
    /// The whole path as written, for messages.
    pub shown_path: String,
    /// Column type ([`FieldType::Nested`] for arrays, structs and maps).
    pub kind: FieldType,
    /// A nested column's type, with the steps of its path from the first `[*]` on.
    pub nested: Option<Arc<crate::nested::NestedColumn>>,
    /// Missing/null rejects the record.
    pub required: bool,
    /// Failed casts reject or null.
    pub on_type_mismatch: MismatchPolicy,
    /// How points in time are read, for time-valued fields.
    pub time_format: TimeFormat,
    /// Set on `int64` columns that hold epoch values in this unit.
    pub epoch_unit: Option<EpochUnit>,
    /// Inclusive lower bound.
    pub min: Option<f64>,
    /// Inclusive upper bound.
    pub max: Option<f64>,
    /// Accepted values in their canonical text form.
    pub allowed: Option<HashSet<String>>,
    /// False when a value partition of the same name carries this column instead (Athena forbids
    /// a partition column that is also a data column).
    pub in_file: bool,
}

impl Field {
    /// Whether the column holds a point in time (and so can feed time partitions).
    pub fn is_time(&self) -> bool {
        matches!(self.kind, FieldType::Timestamp | FieldType::Date)
            || (self.kind == FieldType::Int64 && self.epoch_unit.is_some())
    }

    /// The path as users write it, for messages.
    pub fn path_display(&self) -> String {
        self.shown_path.clone()
    }
}

/// A validated partition key.
#[derive(Debug, Clone)]
pub struct Partition {
    /// Partition column name.
    pub name: String,
    /// Index into [`Dataset::fields`].
    pub field: usize,
    /// A time part, or the field's own value.
    pub part: Option<TimePart>,
}

impl Dataset {
    /// Loads a definition file; `.json` is read as JSON, anything else as TOML.
    pub fn load(path: &Path) -> Result<Self, DatasetError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::Io {
            file: origin.clone(),
            source: e,
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::from_json_str(&text, &origin)
        } else {
            Self::from_toml_str(&text, &origin)
        }
    }

    /// Loads every `*.toml` / `*.json` definition in a folder, sorted by file name, and checks that
    /// dataset names are unique.
    pub fn load_dir(dir: &Path) -> Result<Vec<Self>, DatasetError> {
        let entries = std::fs::read_dir(dir).map_err(|e| DatasetError::Io {
            file: dir.display().to_string(),
            source: e,
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
            .collect();
        paths.sort();
        let datasets = paths
            .iter()
            .map(|p| Self::load(p))
            .collect::<Result<Vec<_>, _>>()?;
        check_unique_names(&datasets)?;
        Ok(datasets)
    }

    /// Parses and validates a TOML definition.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, DatasetError> {
        let file: DatasetFile = toml::from_str(text).map_err(|e| DatasetError::Parse {
            file: origin.to_string(),
            message: e.to_string(),
        })?;
        Self::compile(file, origin)
    }

    /// Parses and validates a JSON definition.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, DatasetError> {
        let file: DatasetFile = serde_json::from_str(text).map_err(|e| DatasetError::Parse {
            file: origin.to_string(),
            message: e.to_string(),
        })?;
        Self::compile(file, origin)
    }

    /// Validates a parsed definition, reporting every problem it finds (those that depend on a
    /// part with a problem of its own, such as fields on a broken `[rows]`, only once that is
    /// fixed).
    pub fn compile(file: DatasetFile, origin: &str) -> Result<Self, DatasetError> {
        let invalid = Invalid(origin);
        let mut problems = Problems::default();
        if !is_dataset_name(&file.name) {
            problems.push(invalid.at(
                "name",
                format!(
                    "{:?} must be 1-64 characters of a-z, 0-9, '_' or '-'",
                    file.name
                ),
            ));
        }
        problems.keep(check_identifier(&file.database).map_err(|m| invalid.at("database", m)));
        problems.keep(check_identifier(&file.table).map_err(|m| invalid.at("table", m)));
        if file.source.suffixes.is_empty() {
            problems.push(invalid.at(
                "source.suffixes",
                "must list at least one key ending, e.g. \".json\"",
            ));
        }
        let records = (file.source.records.as_ref())
            .map(records_path)
            .transpose()
            .map_err(|m| invalid.at("source.records", m));
        let records = problems.keep(records);
        let rows = problems.keep(compile_rows(&file, invalid));
        let json_strings = problems.keep(compile_json_strings(&file, invalid));
        let mut compiled = match (&rows, &json_strings) {
            (Some(rows), Some(strings)) => {
                problems.keep(compile_fields(&file, rows.as_ref(), strings, invalid))
            }
            _ => None,
        };
        let mut partitions = None;
        if let (Some((fields, by_column)), Some(strings)) = (&mut compiled, &json_strings) {
            problems.keep(check_json_strings_read(strings, fields, invalid));
            partitions = problems.keep(compile_partitions(&file, fields, by_column, invalid));
            if partitions.is_some() && !fields.iter().any(|f| f.in_file) {
                problems.push(invalid.at(
                    "fields",
                    "every column is a partition; Parquet files need at least one data column",
                ));
            }
        }
        let out = &file.output;
        if out.row_group_rows == 0
            || out.target_file_mb == 0
            || out.memory_budget_mb == 0
            || out.max_partitions == 0
        {
            problems.push(invalid.at(
                "output",
                "row_group_rows, target_file_mb, memory_budget_mb and max_partitions must be greater than 0",
            ));
        }
        if file.source.max_object_mb == 0 || file.source.max_decompressed_mb == 0 {
            problems.push(invalid.at(
                "source",
                "max_object_mb and max_decompressed_mb must be greater than 0",
            ));
        }
        if let Some(f) = file.quality.max_rejected_fraction {
            if !(0.0..=1.0).contains(&f) {
                problems.push(invalid.at(
                    "quality.max_rejected_fraction",
                    format!("{f} is not between 0.0 and 1.0"),
                ));
            }
        }
        problems.into_result()?;
        let (Some(records), Some(rows), Some(json_strings), Some((fields, _)), Some(partitions)) =
            (records, rows, json_strings, compiled, partitions)
        else {
            unreachable!("every part compiled when there is no problem");
        };
        Ok(Dataset {
            origin: origin.to_string(),
            name: file.name,
            database: file.database,
            table: file.table,
            prefix: file.source.prefix,
            suffixes: file.source.suffixes,
            on_delete: file.source.on_delete,
            max_object_mb: file.source.max_object_mb,
            max_decompressed_mb: file.source.max_decompressed_mb,
            records,
            json_strings,
            rows,
            fields,
            partitions,
            output: file.output,
            max_rejected_fraction: file.quality.max_rejected_fraction,
        })
    }

    /// Whether a raw object key belongs to this dataset.
    pub fn matches_key(&self, key: &str) -> bool {
        let name = (COMPRESSION_EXTENSIONS.iter())
            .find_map(|e| key.strip_suffix(e))
            .unwrap_or(key);
        key.starts_with(&self.prefix)
            && (self.suffixes.iter())
                .any(|s| key.ends_with(s.as_str()) || name.ends_with(s.as_str()))
    }

    /// The columns written inside the Parquet files, in order.
    pub fn file_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.in_file)
    }
}

/// The problems found in one definition.
#[derive(Default)]
struct Problems(Vec<DatasetError>);

impl Problems {
    fn push(&mut self, problem: DatasetError) {
        match problem {
            DatasetError::Several(problems) => self.0.extend(problems),
            problem => self.0.push(problem),
        }
    }

    /// The value, or `None` with its problem noted.
    fn keep<T>(&mut self, result: Result<T, DatasetError>) -> Option<T> {
        result.map_err(|problem| self.push(problem)).ok()
    }

    /// One error for all the problems, if there are any.
    fn into_result(mut self) -> Result<(), DatasetError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.pop().expect("one problem")),
            _ => Err(DatasetError::Several(self.0)),
        }
    }
}

/// Extensions of compressed files that may follow a dataset's suffixes (`a.json.zst`): the
/// compression itself is told from the bytes.
const COMPRESSION_EXTENSIONS: [&str; 5] = [".gz", ".zst", ".bz2", ".snappy", ".zip"];

/// Builds the error for a bad key of the definition file `origin`.
#[derive(Clone, Copy)]
struct Invalid<'o>(&'o str);

impl Invalid<'_> {
    fn at(self, key: impl Into<String>, message: impl Into<String>) -> DatasetError {
        DatasetError::Invalid {
            file: self.0.to_string(),
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The rows path, split into its levels.
fn compile_rows(file: &DatasetFile, invalid: Invalid<'_>) -> Result<Option<Rows>, DatasetError> {
    let Some(rows) = &file.rows else {
        return Ok(None);
    };
    let at = |m: String| invalid.at("rows.each", m);
    let path = source_path(&rows.each).map_err(at)?;
    if path.steps.last() != Some(&Step::Each) {
        return Err(at(format!(
            "{path} does not end with [*]: the rows are the elements of an array, e.g. \"{path}[*]\""
        )));
    }
    let steps = path.all_steps();
    let mut levels = Vec::new();
    let mut start = 0;
    for (i, step) in steps.iter().enumerate() {
        if *step == Step::Each {
            let inside = SourcePath::within_element(&steps[start..i]);
            levels.push(RowsLevel {
                path: inside.keys,
                select: inside.steps,
                shown_path: path::path_text(&steps[..=i]),
            });
            start = i + 1;
        }
    }
    Ok(Some(Rows {
        shown_path: path.to_string(),
        steps,
        levels,
        empty: rows.empty,
    }))
}

/// The members of each record read as JSON documents: member names only, none inside another.
fn compile_json_strings(
    file: &DatasetFile,
    invalid: Invalid<'_>,
) -> Result<Vec<JsonString>, DatasetError> {
    let mut strings: Vec<JsonString> = Vec::new();
    for (i, entry) in file.source.json_strings.iter().enumerate() {
        let at = |m: String| invalid.at(format!("source.json_strings[{i}]"), m);
        if file.rows.is_some() {
            return Err(at(
                "json_strings and [rows] do not go together: a dataset reads JSON strings in records that are not split into rows".into(),
            ));
        }
        let path = source_path(entry).map_err(at)?;
        if !path.steps.is_empty() {
            return Err(at(format!(
                "{path} steps into an array: a JSON string is named by member names only, e.g. \"message\""
            )));
        }
        let shown_path = path.to_string();
        for other in &strings {
            let (short, long) = if other.path.len() <= path.keys.len() {
                (&other.path, &path.keys)
            } else {
                (&path.keys, &other.path)
            };
            if long.starts_with(short) {
                return Err(at(format!(
                    "{shown_path} and {} overlap: a JSON string cannot be inside another",
                    other.shown_path
                )));
            }
        }
        strings.push(JsonString {
            path: path.keys,
            shown_path,
        });
    }
    Ok(strings)
}

/// Which JSON string, if any, the path `steps` goes on inside, and its steps from there.
fn bind_json_string<'p>(strings: &[JsonString], steps: &'p [Step]) -> (Option<usize>, &'p [Step]) {
    for (k, string) in strings.iter().enumerate() {
        let n = string.path.len();
        let inside = steps.len() > n
            && string
                .path
                .iter()
                .zip(steps)
                .all(|(key, step)| matches!(step, Step::Key(k) if k == key));
        if inside {
            return (Some(k), &steps[n..]);
        }
    }
    (None, steps)
}

/// What a field `from = "object"` can read: the object's bucket and key, when it was created (S3's
/// time, RFC 3339), the time in its key's `YYYY/MM/DD/HH/` segments after the prefix (Firehose's
/// layout; `HH` may be left out), and its key's Hive-style `name=value` segments.
pub const OBJECT_MEMBERS: [&str; 5] = ["bucket", "key", "created", "key_time", "key_values"];

/// A field can read the object's members: those of [`OBJECT_MEMBERS`].
fn check_object_field(path: &SourcePath) -> Result<(), String> {
    let first = path.keys.first().map(String::as_str).unwrap_or_default();
    let fits = match first {
        "key_values" => path.keys.len() == 2 && path.steps.is_empty(),
        member => OBJECT_MEMBERS.contains(&member) && path.keys.len() == 1 && path.steps.is_empty(),
    };
    if !fits {
        return Err(format!(
            "{path} is not a member of the object: one of bucket, key, created, key_time, or key_values.<name> for a key segment <name>=<value>"
        ));
    }
    Ok(())
}

/// The member names of `[source] records`.
fn records_path(path: &config::PathConfig) -> Result<Vec<String>, String> {
    let empty = "an empty name: give the member whose array holds the records, e.g. \"Records\"";
    if matches!(path, config::PathConfig::Dotted(p) if p.is_empty()) {
        return Err(empty.into());
    }
    let path = source_path(path)?;
    if !path.steps.is_empty() || path.keys.is_empty() {
        return Err(format!(
            "{path}: the records are named by member names only (\"detail.items\"), their array's elements are the records"
        ));
    }
    Ok(path.keys)
}

/// A field can read the document around the records when there is one.
fn check_document_field(file: &DatasetFile, path: &SourcePath) -> Result<(), String> {
    let Some(records) = file
        .source
        .records
        .as_ref()
        .and_then(|r| records_path(r).ok())
    else {
        return Err("from = \"document\" reads the document around the records: it needs [source] records (the member whose array holds them)".into());
    };
    if path.keys.starts_with(&records) {
        return Err(format!(
            "{path} is the records' own array: a field from the document reads its other members"
        ));
    }
    Ok(())
}

/// Every JSON string is read by some field: one that is not is a slip in the definition.
fn check_json_strings_read(
    strings: &[JsonString],
    fields: &[Field],
    invalid: Invalid<'_>,
) -> Result<(), DatasetError> {
    for (k, string) in strings.iter().enumerate() {
        if !fields.iter().any(|f| f.json_string == Some(k)) {
            return Err(invalid.at(
                format!("source.json_strings[{k}]"),
                format!(
                    "no field reads inside {0}: give a field a path that goes on inside it, e.g. \"{0}.level\"",
                    string.shown_path
                ),
            ));
        }
    }
    Ok(())
}

fn source_path(path: &config::PathConfig) -> Result<SourcePath, String> {
    match path {
        config::PathConfig::Dotted(p) => SourcePath::dotted(p),
        config::PathConfig::Segments(s) => SourcePath::segments(s),
    }
}

/// The fields, and each one's index by column name.
fn compile_fields(
    file: &DatasetFile,
    rows: Option<&Rows>,
    json_strings: &[JsonString],
    invalid: Invalid<'_>,
) -> Result<(Vec<Field>, HashMap<String, usize>), DatasetError> {
    if file.fields.is_empty() {
        return Err(invalid.at("fields", "must define at least one column"));
    }
    let mut fields = Vec::with_capacity(file.fields.len());
    let mut by_column: HashMap<String, usize> = HashMap::new();
    // Fields are independent: every field's problem is reported, not only the first.
    let mut problems = Vec::new();
    for (i, f) in file.fields.iter().enumerate() {
        let bound = FieldBinding {
            file,
            rows,
            json_strings,
            invalid,
        };
        match bound.compile(i, f, &mut by_column) {
            Ok(field) => fields.push(field),
            Err(e) => problems.push(e),
        }
    }
    if problems.len() > 1 {
        return Err(DatasetError::Several(problems));
    }
    if let Some(problem) = problems.pop() {
        return Err(problem);
    }
    Ok((fields, by_column))
}

/// What a field is compiled against.
#[derive(Clone, Copy)]
struct FieldBinding<'a> {
    file: &'a DatasetFile,
    rows: Option<&'a Rows>,
    json_strings: &'a [JsonString],
    invalid: Invalid<'a>,
}

impl FieldBinding<'_> {
    /// Field `i`, its column recorded in `by_column`.
    fn compile(
        self,
        i: usize,
        f: &config::FieldConfig,
        by_column: &mut HashMap<String, usize>,
    ) -> Result<Field, DatasetError> {
        let Self {
            file,
            rows,
            json_strings,
            invalid,
        } = self;
        let key = |k: &str| format!("fields[{i}].{k}");
        let source = match &f.path {
            None => f.column.as_deref().map(SourcePath::dotted).transpose(),
            Some(p) => source_path(p).map(Some),
        }
        .map_err(|m| invalid.at(key("path"), m))?;
        let Some(source) = source else {
            return Err(invalid.at(key("column"), "a field needs a column name or a path"));
        };
        let all_steps = source.all_steps();
        let from_document = f.from != config::FieldFrom::Record;
        match f.from {
            config::FieldFrom::Record => {}
            config::FieldFrom::Document => {
                check_document_field(file, &source).map_err(|m| invalid.at(key("from"), m))?
            }
            config::FieldFrom::Object => {
                check_object_field(&source).map_err(|m| invalid.at(key("from"), m))?
            }
        }
        let (level, inside) = match rows {
            Some(r) if !from_document => r.bind(&all_steps),
            _ => (0, all_steps.as_slice()),
        };
        // Named from the path as written: `message.level` is `message_level` whether or not
        // `message` is a JSON string.
        let column = column_name(f, &source, &SourcePath::within_element(inside))
            .map_err(|m| invalid.at(key("column"), m))?;
        let (json_string, inside) = match from_document {
            true => (None, inside),
            false => bind_json_string(json_strings, inside),
        };
        let inside = SourcePath::within_element(inside);
        check_identifier(&column).map_err(|m| invalid.at(key("column"), m))?;
        if by_column.insert(column.clone(), i).is_some() {
            return Err(invalid.at(key("column"), format!("duplicate column {column:?}")));
        }
        let mut field = compile_field(f, column, &source, level, inside, &key)
            .map_err(|(k, m)| invalid.at(k, m))?;
        field.json_string = json_string;
        field.from = f.from;
        Ok(field)
    }
}

/// The partition keys; a value partition named like its field takes the column out of the files.
fn compile_partitions(
    file: &DatasetFile,
    fields: &mut [Field],
    by_column: &HashMap<String, usize>,
    invalid: Invalid<'_>,
) -> Result<Vec<Partition>, DatasetError> {
    let mut partitions = Vec::with_capacity(file.partitions.len());
    let mut partition_names = HashSet::new();
    for (i, p) in file.partitions.iter().enumerate() {
        let key = |k: &str| format!("partitions[{i}].{k}");
        check_identifier(&p.name).map_err(|m| invalid.at(key("name"), m))?;
        if !partition_names.insert(p.name.clone()) {
            return Err(invalid.at(key("name"), format!("duplicate partition {:?}", p.name)));
        }
        let Some(&field) = by_column.get(&p.from) else {
            let known: Vec<&str> = fields.iter().map(|f| f.column.as_str()).collect();
            return Err(invalid.at(
                key("from"),
                format!(
                    "no field with column {:?}; partitions are taken from fields (known: {})",
                    p.from,
                    known.join(", ")
                ),
            ));
        };
        if matches!(fields[field].kind, FieldType::Json | FieldType::Nested) {
            return Err(invalid.at(
                key("from"),
                format!(
                    "field {:?} is a json, array, struct or map column; partition by a scalar field",
                    p.from
                ),
            ));
        }
        if p.part.is_some() && !fields[field].is_time() {
            return Err(invalid.at(
                key("part"),
                format!(
                    "field {:?} is not a point in time; use a timestamp or date field, or an int64 with epoch_unit",
                    p.from
                ),
            ));
        }
        if p.part.is_none() && p.name == p.from {
            // The partition carries the column; Athena rejects a name used twice.
            fields[field].in_file = false;
        } else if by_column.contains_key(&p.name) {
            return Err(invalid.at(
                key("name"),
                format!(
                    "{:?} is also a column; Athena rejects a partition column with a data column's name",
                    p.name
                ),
            ));
        }
        partitions.push(Partition {
            name: p.name.clone(),
            field,
            part: p.part,
        });
    }
    Ok(partitions)
}

/// Picks the dataset a raw key belongs to: the longest matching prefix wins.
pub fn dataset_for_key<'a>(datasets: &'a [Dataset], key: &str) -> Option<&'a Dataset> {
    datasets
        .iter()
        .filter(|d| d.matches_key(key))
        .max_by_key(|d| d.prefix.len())
}

/// Two definitions with one name are a mistake (their tables would be confused).
pub fn check_unique_names(datasets: &[Dataset]) -> Result<(), DatasetError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for d in datasets {
        if let Some(first) = seen.insert(&d.name, &d.origin) {
            return Err(DatasetError::Invalid {
                file: d.origin.clone(),
                key: "name".into(),
                message: format!("dataset name {:?} is already used by {first}", d.name),
            });
        }
    }
    Ok(())
}

type KeyedError = (String, String);

/// A field's column name: as given, or derived from the member names of its path (from the rows
/// level's element on, for a path into the current element: `payload.commits[*].author.name`
/// → `author_name`).
fn column_name(
    f: &config::FieldConfig,
    source: &SourcePath,
    inside: &SourcePath,
) -> Result<String, String> {
    if let Some(column) = &f.column {
        return Ok(column.clone());
    }
    if !inside.steps.is_empty() || inside.keys.is_empty() {
        return Err(format!(
            "the path {:?} steps into arrays: give the column a name",
            source.to_string()
        ));
    }
    Ok(inside
        .keys
        .iter()
        .map(|n| heck::ToSnakeCase::to_snake_case(n.as_str()))
        .collect::<Vec<_>>()
        .join("_"))
}

/// One field; `inside` is its path from its rows level's element (the record for level 0).
fn compile_field(
    f: &config::FieldConfig,
    column: String,
    source: &SourcePath,
    level: usize,
    inside: SourcePath,
    key: &dyn Fn(&str) -> String,
) -> Result<Field, KeyedError> {
    let err = |k: &str, m: String| (key(k), m);
    let each_at = inside
        .steps
        .iter()
        .position(|s| *s == Step::Each)
        .unwrap_or(inside.steps.len());
    let scalar = f.kind.scalar();
    if scalar.is_some() && each_at < inside.steps.len() {
        return Err(err(
            "path",
            format!(
                "{source} takes every element of an array ([*]): give the column an array type, e.g. array<{}>",
                f.kind
            ),
        ));
    }
    if scalar.is_none() && (f.min.is_some() || f.max.is_some() || f.allowed.is_some()) {
        return Err(err(
            "type",
            "min, max and allowed apply to scalar columns, not to arrays, structs and maps".into(),
        ));
    }
    let leaves = leaf_kinds(&f.kind);
    let has = |kinds: &[FieldType]| leaves.iter().any(|k| kinds.contains(k));
    let time_capable = has(&[FieldType::Timestamp, FieldType::Date, FieldType::Int64]);
    if f.epoch_unit.is_some() && !has(&[FieldType::Int64, FieldType::Timestamp]) {
        return Err(err(
            "epoch_unit",
            "only applies to int64 and timestamp columns".into(),
        ));
    }
    let time_format = match &f.format {
        None => TimeFormat::Auto,
        Some(_) if !time_capable => {
            return Err(err(
                "format",
                "only applies to timestamp, date and int64 columns".into(),
            ))
        }
        Some(s) => TimeFormat::parse(s).map_err(|m| err("format", m))?,
    };
    if f.format.is_some() && scalar == Some(FieldType::Int64) && f.epoch_unit.is_none() {
        return Err(err(
            "format",
            "an int64 column reads times only with epoch_unit set (the unit it stores)".into(),
        ));
    }
    let numeric = matches!(
        scalar,
        Some(
            FieldType::Int16
                | FieldType::Int32
                | FieldType::Int64
                | FieldType::Float32
                | FieldType::Double
        )
    );
    if (f.min.is_some() || f.max.is_some()) && !numeric {
        return Err(err(
            "min",
            "min/max apply to int32, int64 and double columns".into(),
        ));
    }
    if let (Some(lo), Some(hi)) = (f.min, f.max) {
        if lo > hi {
            return Err(err("min", format!("min {lo} is greater than max {hi}")));
        }
    }
    let allowed = allowed_values(f, scalar).map_err(|m| err("allowed", m))?;
    let (select, each) = inside.steps.split_at(each_at);
    let mut field = Field {
        column,
        level,
        json_string: None,
        from: config::FieldFrom::Record,
        path: inside.keys.clone(),
        select: select.to_vec(),
        shown_path: source.to_string(),
        kind: scalar.unwrap_or(FieldType::Nested),
        nested: None,
        required: f.required,
        on_type_mismatch: f.on_type_mismatch,
        time_format,
        epoch_unit: f.epoch_unit,
        min: f.min,
        max: f.max,
        allowed,
        in_file: true,
    };
    if scalar.is_none() {
        let nested = crate::nested::NestedColumn::compile(&f.kind, each, &field)
            .map_err(|m| err("path", m))?;
        field.nested = Some(Arc::new(nested));
    }
    Ok(field)
}

/// The scalar types a column type holds (itself, for a scalar).
fn leaf_kinds(kind: &ColumnType) -> Vec<FieldType> {
    match kind {
        ColumnType::Scalar(k) => vec![*k],
        ColumnType::Array(element) | ColumnType::Map(element) => leaf_kinds(element),
        ColumnType::Struct(members) => members.iter().flat_map(|m| leaf_kinds(&m.kind)).collect(),
    }
}

/// A field's `allowed` values as the text they are compared by.
fn allowed_values(
    f: &config::FieldConfig,
    scalar: Option<FieldType>,
) -> Result<Option<HashSet<String>>, String> {
    let Some(values) = &f.allowed else {
        return Ok(None);
    };
    if !matches!(
        scalar,
        Some(
            FieldType::String
                | FieldType::Int16
                | FieldType::Int32
                | FieldType::Int64
                | FieldType::Boolean
        )
    ) {
        return Err("applies to string, int16, int32, int64 and boolean columns".into());
    }
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("{other} is not a string, integer or boolean")),
    };
    values.iter().map(text).collect::<Result<_, _>>().map(Some)
}

/// Athena/Glue identifiers: lower case so that Glue does not rewrite them behind our back.
pub fn check_identifier(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let ok_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok_first && ok_rest && name.len() <= 255 {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid Athena identifier: use lower-case a-z, 0-9 and '_', starting with a letter or '_'"
        ))
    }
}

fn is_dataset_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests;
