//! Column types as users write them, in Athena's own spelling: a scalar (`string`, `bigint`, …)
//! or `array<T>`, `struct<name:T,...>` and `map<string,T>`, nested to any depth.

use std::fmt;

use super::config::FieldType;

/// A column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    /// One value.
    Scalar(FieldType),
    /// A list of values of one type (Athena `array<T>`).
    Array(Box<ColumnType>),
    /// Named members, each of its own type (Athena `struct<a:T,b:U>`), read from a JSON object.
    Struct(Vec<StructMember>),
    /// String keys to values of one type (Athena `map<string,T>`), read from a JSON object.
    Map(Box<ColumnType>),
}

/// One member of a struct type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructMember {
    /// The member's name (`[a-z_][a-z0-9_]*`); read from the JSON member of this name, or else
    /// from the one whose name in snake_case is this name (`accountId` for `account_id`).
    pub name: String,
    /// The member's type.
    pub kind: ColumnType,
}

impl ColumnType {
    /// Reads a type as written in a dataset definition (`array<struct<sku:string,qty:int>>`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = Parser { text, pos: 0 };
        let kind = p.kind(0)?;
        p.blanks();
        if p.pos != text.len() {
            return Err(p.error("the end of the type"));
        }
        Ok(kind)
    }

    /// The scalar type, when this is one.
    pub fn scalar(&self) -> Option<FieldType> {
        match self {
            ColumnType::Scalar(kind) => Some(*kind),
            _ => None,
        }
    }
}

/// Nesting deeper than this is refused: no source needs it, and a definition should not be able
/// to make the type walk recurse without bound.
const MAX_TYPE_DEPTH: usize = 32;

/// Scalar type names, with the aliases accepted for them.
const SCALARS: [(&str, FieldType); 15] = [
    ("string", FieldType::String),
    ("int16", FieldType::Int16),
    ("smallint", FieldType::Int16),
    ("float32", FieldType::Float32),
    ("int32", FieldType::Int32),
    ("int", FieldType::Int32),
    ("int64", FieldType::Int64),
    ("bigint", FieldType::Int64),
    ("double", FieldType::Double),
    ("float64", FieldType::Double),
    ("boolean", FieldType::Boolean),
    ("bool", FieldType::Boolean),
    ("timestamp", FieldType::Timestamp),
    ("date", FieldType::Date),
    ("json", FieldType::Json),
];

struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> String {
        let (before, after) = self.text.split_at(self.pos);
        let at = match (before.is_empty(), after.is_empty()) {
            (_, true) => "at the end".to_string(),
            (true, false) => format!("at {:?}", after.chars().take(16).collect::<String>()),
            (false, false) => format!(
                "at {:?} (after {before:?})",
                after.chars().take(16).collect::<String>()
            ),
        };
        format!(
            "{:?} is not a column type: expected {expected} {at}; write a scalar ({}, decimal(p,s)), array<T>, struct<name:T,...> or map<string,T>",
            self.text,
            SCALARS.map(|(name, _)| name).join(", ")
        )
    }

    fn blanks(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// A name: letters, digits and '_'.
    fn word(&mut self) -> &str {
        self.blanks();
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.blanks();
        if self.text[self.pos..].starts_with(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("'{c}'")))
        }
    }

    /// The `(p,s)` or `(p)` after `decimal`.
    fn decimal(&mut self) -> Result<ColumnType, String> {
        self.expect('(')?;
        let at = self.pos;
        let number = |p: &mut Self| p.word().parse::<u8>().ok();
        let precision = number(self).filter(|p| (1..=38).contains(p));
        let Some(precision) = precision else {
            self.pos = at;
            return Err(self.error("a precision from 1 to 38"));
        };
        self.blanks();
        let mut scale = 0;
        if self.text[self.pos..].starts_with(',') {
            self.pos += 1;
            let at = self.pos;
            scale = match number(self).filter(|s| *s <= precision) {
                Some(s) => s,
                None => {
                    self.pos = at;
                    return Err(
                        self.error(&format!("a scale from 0 to the precision ({precision})"))
                    );
                }
            };
        }
        self.expect(')')?;
        Ok(ColumnType::Scalar(FieldType::Decimal { precision, scale }))
    }

    fn kind(&mut self, depth: usize) -> Result<ColumnType, String> {
        if depth > MAX_TYPE_DEPTH {
            return Err(self.error("a type nested no deeper than 32 levels"));
        }
        let start = self.pos;
        let word = self.word().to_ascii_lowercase();
        match word.as_str() {
            "array" => {
                self.expect('<')?;
                let element = self.kind(depth + 1)?;
                self.expect('>')?;
                Ok(ColumnType::Array(Box::new(element)))
            }
            "map" => {
                self.expect('<')?;
                let key_at = self.pos;
                if self.word() != "string" {
                    self.pos = key_at;
                    return Err(self.error("string (JSON object keys are strings)"));
                }
                self.expect(',')?;
                let value = self.kind(depth + 1)?;
                self.expect('>')?;
                Ok(ColumnType::Map(Box::new(value)))
            }
            "struct" => {
                self.expect('<')?;
                let mut members: Vec<StructMember> = Vec::new();
                loop {
                    let name_at = self.pos;
                    let name = self.word().to_string();
                    if let Err(message) = super::check_identifier(&name) {
                        self.pos = name_at;
                        return Err(self.error(&format!("a member name ({message})")));
                    }
                    if members.iter().any(|m| m.name == name) {
                        self.pos = name_at;
                        return Err(self.error(&format!("a member name not used twice ({name})")));
                    }
                    self.expect(':')?;
                    let kind = self.kind(depth + 1)?;
                    members.push(StructMember { name, kind });
                    self.blanks();
                    if self.text[self.pos..].starts_with(',') {
                        self.pos += 1;
                        continue;
                    }
                    self.expect('>')?;
                    return Ok(ColumnType::Struct(members));
                }
            }
            "decimal" => self.decimal(),
            scalar => match SCALARS.iter().find(|(name, _)| *name == scalar) {
                Some((_, kind)) => Ok(ColumnType::Scalar(*kind)),
                None => {
                    self.pos = start;
                    self.blanks();
                    Err(self.error("a type name"))
                }
            },
        }
    }
}

/// Athena's name of a scalar type.
pub fn athena_scalar(kind: FieldType) -> std::borrow::Cow<'static, str> {
    let name = match kind {
        FieldType::Decimal { precision, scale } => {
            return format!("decimal({precision},{scale})").into()
        }
        FieldType::String | FieldType::Json => "string",
        FieldType::Int16 => "smallint",
        FieldType::Int32 => "int",
        FieldType::Int64 => "bigint",
        FieldType::Float32 => "float",
        FieldType::Double => "double",
        FieldType::Boolean => "boolean",
        FieldType::Timestamp => "timestamp",
        FieldType::Date => "date",
        FieldType::Nested => unreachable!("a nested column's type is its ColumnType"),
    };
    name.into()
}

/// Athena's spelling, as `CREATE EXTERNAL TABLE` takes it; struct member names are quoted so that
/// a reserved word (`type`, `date`) is read as a name.
impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Scalar(kind) => f.write_str(&athena_scalar(*kind)),
            ColumnType::Array(element) => write!(f, "array<{element}>"),
            ColumnType::Map(value) => write!(f, "map<string,{value}>"),
            ColumnType::Struct(members) => {
                f.write_str("struct<")?;
                for (i, m) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "`{}`:{}", m.name, m.kind)?;
                }
                f.write_str(">")
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for ColumnType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ColumnType::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_their_aliases() {
        assert_eq!(
            ColumnType::parse("bigint").unwrap(),
            ColumnType::Scalar(FieldType::Int64)
        );
        assert_eq!(
            ColumnType::parse(" Int ").unwrap(),
            ColumnType::Scalar(FieldType::Int32)
        );
        assert_eq!(
            ColumnType::parse("json").unwrap(),
            ColumnType::Scalar(FieldType::Json)
        );
        for (name, kind, athena) in [
            ("int16", FieldType::Int16, "smallint"),
            ("smallint", FieldType::Int16, "smallint"),
            ("float32", FieldType::Float32, "float"),
        ] {
            assert_eq!(ColumnType::parse(name).unwrap(), ColumnType::Scalar(kind));
            assert_eq!(athena_scalar(kind), athena);
        }
        // Hive's `float` is 32 bits, a reader may take it for 64: say which.
        assert!(ColumnType::parse("float").is_err());
        assert_eq!(
            ColumnType::parse("array<float32>").unwrap().to_string(),
            "array<float>"
        );
    }

    #[test]
    fn nested_types_read_as_athena_writes_them() {
        let text = "array<struct<arn:string, account_id : bigint,tags:map<string,array<double>>>>";
        let kind = ColumnType::parse(text).unwrap();
        let ColumnType::Array(element) = &kind else {
            panic!("an array: {kind:?}")
        };
        let ColumnType::Struct(members) = element.as_ref() else {
            panic!("a struct: {element:?}")
        };
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["arn", "account_id", "tags"]);
        assert_eq!(
            kind.to_string(),
            "array<struct<`arn`:string,`account_id`:bigint,`tags`:map<string,array<double>>>>"
        );
        // The spelling written reads back as the same type.
        assert_eq!(
            ColumnType::parse(&kind.to_string().replace('`', "")).unwrap(),
            kind
        );
    }

    #[test]
    fn decimals_take_a_precision_and_a_scale() {
        let decimal =
            |precision, scale| ColumnType::Scalar(FieldType::Decimal { precision, scale });
        assert_eq!(ColumnType::parse("decimal(12,2)").unwrap(), decimal(12, 2));
        assert_eq!(
            ColumnType::parse("DECIMAL( 38 , 38 )").unwrap(),
            decimal(38, 38)
        );
        assert_eq!(ColumnType::parse("decimal(7)").unwrap(), decimal(7, 0));
        let list = ColumnType::parse("array<decimal(6,3)>").unwrap();
        assert_eq!(list.to_string(), "array<decimal(6,3)>");
    }

    #[test]
    fn bad_types_say_where_and_what() {
        for (text, expected) in [
            ("array<strin>", "a type name"),
            ("array<string", "'>'"),
            ("map<int,string>", "string (JSON object keys are strings)"),
            ("struct<Name:string>", "a member name"),
            ("struct<a:string,a:int>", "not used twice"),
            ("struct<>", "a member name"),
            ("string>", "the end of the type"),
            ("", "a type name"),
            ("decimal(0,0)", "a precision from 1 to 38"),
            ("decimal(39,2)", "a precision from 1 to 38"),
            ("decimal(5,6)", "a scale from 0 to the precision (5)"),
            ("decimal(5,2", "')'"),
            ("decimal", "'('"),
        ] {
            let message = ColumnType::parse(text).unwrap_err();
            assert!(message.contains(expected), "{text}: {message}");
        }
        let deep = "array<".repeat(40) + "string" + &">".repeat(40);
        assert!(ColumnType::parse(&deep).unwrap_err().contains("32 levels"));
    }
}
