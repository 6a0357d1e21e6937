//! athena-poller's configuration, from the environment `template.yaml` sets.

use etl_aws::lambda::{env, StageError};

/// The Athena workgroup the pipeline's queries run in.
pub const ATHENA_WORKGROUP: &str = "ATHENA_WORKGROUP";

/// What athena-poller needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The workgroup.
    pub workgroup: String,
}

impl Config {
    /// Every variable athena-poller reads.
    pub const VARIABLES: &'static [&'static str] = &[ATHENA_WORKGROUP];

    /// The variables without a default: a cold start fails without them.
    pub const REQUIRED: &'static [&'static str] = &[ATHENA_WORKGROUP];

    /// Reads the configuration; a missing variable fails the cold start.
    pub fn from_env() -> Result<Self, StageError> {
        Ok(Self {
            workgroup: env(ATHENA_WORKGROUP)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_sets_every_variable() {
        etl_aws::testing::assert_template_sets("athena-poller", super::Config::VARIABLES);
    }
}
