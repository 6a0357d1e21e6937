//! The transform's configuration, from the environment `template.yaml` sets.

use std::time::Duration;

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
/// The function's timeout in seconds, as `template.yaml` configures it (default 900). Lambda
/// gives every invocation its deadline; this is the deadline's stand-in where a runtime emulator
/// gives none (`cargo lambda watch` sends one long past), so the deadline guard and the record of
/// when an attempt is dead work the same there.
pub const TIMEOUT_SECONDS: &str = "TIMEOUT_SECONDS";

/// Where outputs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The curated bucket's layout.
    pub layout: CuratedLayout,
    /// The function's timeout (see [`TIMEOUT_SECONDS`]).
    pub timeout: Duration,
}

impl Config {
    /// Every variable the transform reads.
    pub const VARIABLES: &'static [&'static str] = &[
        CURATED_BUCKET,
        TABLES_PREFIX,
        REJECTED_PREFIX,
        SUMMARIES_PREFIX,
        TIMEOUT_SECONDS,
    ];

    /// The variables without a default: a cold start fails without them.
    pub const REQUIRED: &'static [&'static str] = &[CURATED_BUCKET];

    /// The timeout when [`TIMEOUT_SECONDS`] is not set: Lambda's maximum.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);

    /// Reads the configuration; a missing bucket or a timeout that is not a number of seconds
    /// fails the cold start.
    pub fn from_env() -> Result<Self, StageError> {
        let timeout = env_or(
            TIMEOUT_SECONDS,
            &Self::DEFAULT_TIMEOUT.as_secs().to_string(),
        );
        let timeout = match timeout.parse::<u64>() {
            Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
            _ => {
                return Err(StageError::bad_config(format!(
                    "{TIMEOUT_SECONDS} = {timeout:?}: expected the function's timeout, a whole number of seconds"
                )))
            }
        };
        Ok(Self {
            timeout,
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

    #[test]
    fn the_timeout_it_is_told_is_the_functions_own() {
        let set = etl_aws::testing::template_variables("transform");
        let timeout = etl_aws::testing::template_property("transform", "Timeout");
        let told = set[TIMEOUT_SECONDS].trim_matches('"');
        assert_eq!(Some(told), timeout.as_deref());
    }
}
