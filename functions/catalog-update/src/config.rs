//! catalog-update's configuration, from the environment `template.yaml` sets.

use etl_aws::lambda::{env, env_or, StageError};

/// The Athena workgroup the DDL runs in.
pub const ATHENA_WORKGROUP: &str = "ATHENA_WORKGROUP";
/// `athena` (the default): ask the catalog (`GetTableMetadata`) whether the table exists before
/// creating it. `off`: every execution runs the idempotent `CREATE … IF NOT EXISTS` statements,
/// for emulators without `GetTableMetadata` (moto), at the price of two more DDL queries per
/// object.
pub const TABLE_LOOKUP: &str = "TABLE_LOOKUP";

/// What catalog-update needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The workgroup.
    pub workgroup: String,
    /// See [`TABLE_LOOKUP`].
    pub table_lookup: bool,
}

impl Config {
    /// Every variable catalog-update reads.
    pub const VARIABLES: &'static [&'static str] = &[ATHENA_WORKGROUP, TABLE_LOOKUP];

    /// The variables without a default: a cold start fails without them.
    pub const REQUIRED: &'static [&'static str] = &[ATHENA_WORKGROUP];

    /// Reads the configuration; a missing or bad variable fails the cold start.
    pub fn from_env() -> Result<Self, StageError> {
        Ok(Self {
            workgroup: env(ATHENA_WORKGROUP)?,
            table_lookup: table_lookup_from_env()?,
        })
    }
}

/// Reads [`TABLE_LOOKUP`] (`athena` or `off`).
pub fn table_lookup_from_env() -> Result<bool, StageError> {
    match env_or(TABLE_LOOKUP, "athena").as_str() {
        "athena" => Ok(true),
        "off" => Ok(false),
        other => Err(StageError::bad_config(format!(
            "{TABLE_LOOKUP} is {other:?}; use athena (the default) or off"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_sets_every_variable() {
        let set =
            etl_aws::testing::assert_template_sets("catalog-update", super::Config::VARIABLES);
        assert_eq!(set[super::TABLE_LOOKUP], "athena");
    }
}
