//! Athena DDL from the same dataset definition the transform uses, so the table always matches the
//! files: `CREATE EXTERNAL TABLE IF NOT EXISTS` and batched `ALTER TABLE … ADD IF NOT EXISTS
//! PARTITION`. Identifiers are validated; every literal is escaped (partition values come from data).

use crate::dataset::types::athena_scalar;
use crate::dataset::{check_identifier, Compression, Dataset, Field};
use crate::layout::hive::DEFAULT_PARTITION;
use crate::layout::S3Uri;
use crate::summary::PartitionSummary;

/// Athena's limit on the length of one query string, in bytes.
pub const MAX_QUERY_BYTES: usize = 262_144;

/// DDL that cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// An identifier Athena would reject or rewrite.
    #[error("{0}")]
    Identifier(String),
    /// The table location is not an S3 URI.
    #[error("table location {0:?} must be an s3://bucket/prefix/ URI")]
    Location(String),
    /// One partition clause alone is longer than the query limit.
    #[error("the partition {0:?} alone exceeds Athena's query size limit")]
    PartitionTooLarge(String),
}

/// `s3://bucket/prefix/` with exactly one trailing slash.
pub fn table_location(location: &str) -> Result<String, SqlError> {
    let bad = || SqlError::Location(location.into());
    let mut uri = S3Uri::parse(location).map_err(|_| bad())?;
    if location.chars().any(char::is_control) {
        return Err(bad());
    }
    uri.key = format!("{}/", uri.key.trim_end_matches('/'));
    if uri.key == "/" {
        uri.key.clear();
    }
    Ok(uri.to_string())
}

fn ident(name: &str) -> Result<String, SqlError> {
    check_identifier(name).map_err(SqlError::Identifier)?;
    Ok(format!("`{name}`"))
}

/// A Hive DDL string literal that Hive's parser (`unescapeSQLString`) reads back as exactly
/// `value`: quotes and backslashes are escaped, every control character is written as `\uXXXX`.
/// Short escapes are not used for them: Hive reads `\0` followed by two octal digits as one
/// character (`'\012'` is a line feed), so `"nul\u{0}12"` would come back as `"nul\n"`.
/// `%` and `_` stay as they are (Hive keeps the backslash of `\%` and `\_`).
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_control() => {
                let _ =
                    std::fmt::Write::write_fmt(&mut out, format_args!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn table_name(dataset: &Dataset) -> Result<String, SqlError> {
    Ok(format!(
        "{}.{}",
        ident(&dataset.database)?,
        ident(&dataset.table)?
    ))
}

/// A column's type as Athena spells it.
fn athena_type(field: &Field) -> String {
    match &field.nested {
        Some(nested) => nested.kind().to_string(),
        None => athena_scalar(field.kind).to_string(),
    }
}

/// `CREATE DATABASE IF NOT EXISTS` for the dataset's Glue database.
pub fn create_database(dataset: &Dataset) -> Result<String, SqlError> {
    Ok(format!(
        "CREATE DATABASE IF NOT EXISTS {}",
        ident(&dataset.database)?
    ))
}

/// `CREATE EXTERNAL TABLE IF NOT EXISTS` for the dataset at `location`. Partition columns are
/// `string`: their values are path text, and the default partition is not a number.
pub fn create_table(dataset: &Dataset, location: &str) -> Result<String, SqlError> {
    let location = table_location(location)?;
    let columns = dataset
        .file_fields()
        .map(|f| Ok(format!("  {} {}", ident(&f.column)?, athena_type(f))))
        .collect::<Result<Vec<_>, SqlError>>()?;
    let mut sql = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {} (\n{}\n)\n",
        table_name(dataset)?,
        columns.join(",\n")
    );
    if !dataset.partitions.is_empty() {
        let parts = dataset
            .partitions
            .iter()
            .map(|p| Ok(format!("  {} string", ident(&p.name)?)))
            .collect::<Result<Vec<_>, SqlError>>()?;
        sql.push_str(&format!("PARTITIONED BY (\n{}\n)\n", parts.join(",\n")));
    }
    let codec = match dataset.output.compression {
        Compression::Snappy => "SNAPPY",
        Compression::Zstd => "ZSTD",
        Compression::None => "UNCOMPRESSED",
    };
    sql.push_str(&format!(
        "STORED AS PARQUET\nLOCATION {}\nTBLPROPERTIES ('classification'='parquet', 'parquet.compression'='{codec}')",
        literal(&location)
    ));
    Ok(sql)
}

/// `ALTER TABLE … ADD IF NOT EXISTS PARTITION …` for every partition, as few statements as fit
/// under [`MAX_QUERY_BYTES`] each. Empty when there are no partitions.
pub fn add_partitions(
    dataset: &Dataset,
    location: &str,
    partitions: &[PartitionSummary],
) -> Result<Vec<String>, SqlError> {
    add_partitions_within(dataset, location, partitions, MAX_QUERY_BYTES)
}

/// [`add_partitions`] with a chosen statement size limit.
pub fn add_partitions_within(
    dataset: &Dataset,
    location: &str,
    partitions: &[PartitionSummary],
    max_bytes: usize,
) -> Result<Vec<String>, SqlError> {
    let location = table_location(location)?;
    let header = format!("ALTER TABLE {} ADD IF NOT EXISTS", table_name(dataset)?);
    let mut statements = Vec::new();
    if dataset.partitions.is_empty() {
        // An unpartitioned table reads its location; there is nothing to register.
        return Ok(statements);
    }
    let mut current = header.clone();
    // Hive rejects a whole statement that lists a partition twice.
    let mut seen = std::collections::HashSet::new();
    for p in partitions.iter().filter(|p| seen.insert(p.path.as_str())) {
        let spec = p
            .values
            .iter()
            .map(|v| {
                let value = v.value.as_deref().unwrap_or(DEFAULT_PARTITION);
                Ok(format!("{} = {}", ident(&v.name)?, literal(value)))
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        let clause = format!(
            "\n  PARTITION ({}) LOCATION {}",
            spec.join(", "),
            literal(&format!("{location}{}", p.path))
        );
        if header.len() + clause.len() > max_bytes {
            return Err(SqlError::PartitionTooLarge(p.path.clone()));
        }
        if current.len() + clause.len() > max_bytes {
            statements.push(std::mem::replace(&mut current, header.clone()));
        }
        current.push_str(&clause);
    }
    if current.len() > header.len() {
        statements.push(current);
    }
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::hive_unescape;
    use crate::summary::{PartitionSummary, PartitionValue};

    fn iot() -> Dataset {
        Dataset::from_toml_str(
            include_str!("../../datasets/iot_sensors.toml"),
            "datasets/iot_sensors.toml",
        )
        .unwrap()
    }

    fn partition(year: &str, month: &str, device: Option<&str>, path: &str) -> PartitionSummary {
        let v = |name: &str, value: Option<&str>| PartitionValue {
            name: name.into(),
            value: value.map(String::from),
        };
        PartitionSummary {
            values: vec![
                v("year", Some(year)),
                v("month", Some(month)),
                v("device_id", device),
            ],
            path: path.into(),
            files: vec![],
            rows: 1,
            bytes: 1,
        }
    }

    /// Compares with a golden file; `UPDATE_GOLDEN=1 cargo test` rewrites it.
    fn golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            actual, expected,
            "golden file {name} differs (UPDATE_GOLDEN=1 to accept)"
        );
    }

    #[test]
    fn create_table_matches_golden() {
        let sql = create_table(&iot(), "s3://curated-bucket/iot/sensor_readings").unwrap();
        golden("create_iot_sensors.sql", &sql);
    }

    /// Nested columns in Athena's spelling, struct member names quoted (`type` is a reserved word).
    #[test]
    fn create_table_of_nested_examples_matches_golden() {
        for (name, text) in [
            (
                "github_push",
                include_str!("../../datasets/examples/github_push.toml"),
            ),
            (
                "cloudtrail",
                include_str!("../../datasets/examples/cloudtrail.toml"),
            ),
        ] {
            let dataset = Dataset::from_toml_str(text, name).unwrap();
            let sql = create_table(&dataset, &format!("s3://curated-bucket/{name}")).unwrap();
            golden(&format!("create_{name}.sql"), &sql);
        }
    }

    #[test]
    fn add_partitions_matches_golden_and_escapes_values() {
        let parts = [
            partition(
                "2020",
                "06",
                Some("dev-0001"),
                "year=2020/month=06/device_id=dev-0001/",
            ),
            partition(
                "2020",
                "06",
                Some("it's\\x"),
                "year=2020/month=06/device_id=it%27s%5Cx/",
            ),
            partition(
                "2020",
                "06",
                None,
                "year=2020/month=06/device_id=__HIVE_DEFAULT_PARTITION__/",
            ),
        ];
        let sql =
            add_partitions(&iot(), "s3://curated-bucket/iot/sensor_readings/", &parts).unwrap();
        assert_eq!(sql.len(), 1);
        golden("add_partitions_iot_sensors.sql", &sql[0]);
    }

    #[test]
    fn statements_split_under_the_limit() {
        let parts: Vec<_> = (0..5000)
            .map(|i| {
                let d = format!("dev-{i:04}");
                partition(
                    "2020",
                    "06",
                    Some(&d),
                    &format!("year=2020/month=06/device_id={d}/"),
                )
            })
            .collect();
        let sql = add_partitions(&iot(), "s3://b/t/", &parts).unwrap();
        assert!(sql.len() > 1, "5000 partitions do not fit one query");
        assert!(sql.iter().all(|s| s.len() <= MAX_QUERY_BYTES));
        let clauses: usize = sql
            .iter()
            .map(|s| s.matches("\n  PARTITION (").count())
            .sum();
        assert_eq!(clauses, 5000);
        let small = add_partitions_within(&iot(), "s3://b/t/", &parts[..3], 300).unwrap();
        assert_eq!(small.len(), 3);
        assert_eq!(
            add_partitions_within(&iot(), "s3://b/t/", &parts[..1], 100),
            Err(SqlError::PartitionTooLarge(
                "year=2020/month=06/device_id=dev-0000/".into()
            ))
        );
        assert!(add_partitions(&iot(), "s3://b/t/", &[]).unwrap().is_empty());
    }

    #[test]
    fn create_database_names_the_dataset_database() {
        assert_eq!(
            create_database(&iot()).unwrap(),
            "CREATE DATABASE IF NOT EXISTS `iot`"
        );
    }

    #[test]
    fn the_hive_reference_follows_hives_rules() {
        // The defect this reference caught: `\0` and two digits are one octal character.
        assert_eq!(hive_unescape(r"'nul\012'"), "nul\n");
        assert_eq!(hive_unescape(r"'a\%b\_c'"), r"a\%b\_c");
        assert_eq!(hive_unescape(r"'\u0041\Z\q'"), "A\u{1A}q");
        assert_eq!(hive_unescape(r#""it's""#), "it's");
    }

    #[test]
    fn literals_cannot_break_out() {
        assert_eq!(literal("a'b"), r"'a\'b'");
        assert_eq!(
            literal(r"a\'); DROP TABLE x; --"),
            r"'a\\\'); DROP TABLE x; --'"
        );
        assert_eq!(literal("line\nbreak"), r"'line\u000Abreak'");
        assert_eq!(literal("nul\u{0}12"), r"'nul\u000012'");
        for value in [
            "nul\u{0}12",
            "a\\012",
            "100%_x",
            "\u{7f}\u{1f}'\"\\",
            "café 😀",
            "\\u0041",
        ] {
            assert_eq!(hive_unescape(&literal(value)), value, "{value:?}");
        }
    }

    proptest::proptest! {
        /// Every value, with every control character, quote, backslash, `%`, `_` and non-ASCII
        /// text, comes back unchanged through Hive's unescaping.
        #[test]
        fn every_literal_unescapes_to_its_value(
            value in proptest::string::string_regex("([\\x00-\\x1f\\x7f'\"\\\\%_0-7uUnZ]|\\PC){0,24}").unwrap()
        ) {
            proptest::prop_assert_eq!(hive_unescape(&literal(&value)), value);
        }
    }

    #[test]
    fn unpartitioned_tables_register_no_partitions() {
        let text = include_str!("../../datasets/iot_sensors.toml");
        let start = text.find("[[partitions]]").unwrap();
        let end = text[start..]
            .find("[output]")
            .map_or(text.len(), |e| start + e);
        let flat =
            Dataset::from_toml_str(&format!("{}{}", &text[..start], &text[end..]), "flat").unwrap();
        assert!(flat.partitions.is_empty());
        let whole = PartitionSummary {
            values: vec![],
            path: String::new(),
            files: vec![],
            rows: 1,
            bytes: 1,
        };
        assert_eq!(add_partitions(&flat, "s3://b/t/", &[whole]), Ok(vec![]));
        assert!(!create_table(&flat, "s3://b/t/")
            .unwrap()
            .contains("PARTITIONED BY"));
    }

    #[test]
    fn a_partition_is_listed_once_per_statement() {
        let p = partition(
            "2020",
            "06",
            None,
            "year=2020/month=06/device_id=__HIVE_DEFAULT_PARTITION__/",
        );
        let sql = add_partitions(&iot(), "s3://b/t/", &[p.clone(), p]).unwrap();
        assert_eq!(sql.len(), 1);
        assert_eq!(sql[0].matches("PARTITION (").count(), 1);
    }

    #[test]
    fn locations_must_be_s3() {
        assert_eq!(table_location("s3://b/p").unwrap(), "s3://b/p/");
        assert_eq!(table_location("s3://b/p//").unwrap(), "s3://b/p/");
        assert!(table_location("/tmp/x").is_err());
        assert!(table_location("s3://").is_err());
    }
}
