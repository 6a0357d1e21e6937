//! The transform's configuration, from the environment `template.yaml` sets.

use etl_aws::lambda::{env, env_or, StageError};
use etl_core::layout::CuratedLayout;

/// Bucket for tables, rejected records and summaries.
pub const CURATED_BUCKET: &str = "CURATED_BUCKET";
/// Prefix of table locations (default `tables/`): `tables/<database>/<table>/`.
pub const TABLES_PREFIX: &str = "TABLES_PREFIX";
/// Prefix of rejected records (default `rejected/`), outside every table.
pub const REJECTED_PREFIX: &str = "REJECTED_PREFIX";
/// Prefix of transform summaries (default `summaries/`).
pub const SUMMARIES_PREFIX: &str = "SUMMARIES_PREFIX";

/// Where outputs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The curated bucket's layout.
    pub layout: CuratedLayout,
}

impl Config {
    /// Every variable the transform reads.
    pub const VARIABLES: &'static [&'static str] = &[
        CURATED_BUCKET,
        TABLES_PREFIX,
        REJECTED_PREFIX,
        SUMMARIES_PREFIX,
    ];

    /// The variables without a default: a cold start fails without them.
    pub const REQUIRED: &'static [&'static str] = &[CURATED_BUCKET];

    /// Reads the configuration; a missing bucket fails the cold start.
    pub fn from_env() -> Result<Self, StageError> {
        Ok(Self {
            layout: CuratedLayout::new(
                &env(CURATED_BUCKET)?,
                &env_or(TABLES_PREFIX, CuratedLayout::TABLES),
                &env_or(REJECTED_PREFIX, CuratedLayout::REJECTED),
                &env_or(SUMMARIES_PREFIX, CuratedLayout::SUMMARIES),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_sets_every_variable_with_the_default_layout() {
        let set = etl_aws::testing::assert_template_sets("transform", Config::VARIABLES);
        assert_eq!(set[TABLES_PREFIX], CuratedLayout::TABLES);
        assert_eq!(set[REJECTED_PREFIX], CuratedLayout::REJECTED);
        assert_eq!(set[SUMMARIES_PREFIX], CuratedLayout::SUMMARIES);
    }
}
