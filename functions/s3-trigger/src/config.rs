//! s3-trigger's configuration, from the environment `template.yaml` sets.

use etl_aws::lambda::{env, StageError};

/// The pipeline's state machine.
pub const STATE_MACHINE_ARN: &str = "STATE_MACHINE_ARN";

/// What s3-trigger needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The state machine one execution per object is started on.
    pub state_machine_arn: String,
}

impl Config {
    /// Every variable s3-trigger reads.
    pub const VARIABLES: &'static [&'static str] = &[STATE_MACHINE_ARN];

    /// The variables without a default: a cold start fails without them.
    pub const REQUIRED: &'static [&'static str] = &[STATE_MACHINE_ARN];

    /// Reads the configuration; a missing variable fails the cold start.
    pub fn from_env() -> Result<Self, StageError> {
        Ok(Self {
            state_machine_arn: env(STATE_MACHINE_ARN)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_sets_every_variable() {
        etl_aws::testing::assert_template_sets("s3-trigger", super::Config::VARIABLES);
    }
}
