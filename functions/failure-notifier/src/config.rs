//! failure-notifier's configuration, from the environment `template.yaml` sets.

use etl_aws::lambda::{env, StageError};

/// The SNS topic failures are published to.
pub const TOPIC_ARN: &str = "TOPIC_ARN";

/// What failure-notifier needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The topic.
    pub topic_arn: String,
}

impl Config {
    /// Every variable failure-notifier reads.
    pub const VARIABLES: &'static [&'static str] = &[TOPIC_ARN];

    /// The variables without a default: a cold start fails without them.
    pub const REQUIRED: &'static [&'static str] = &[TOPIC_ARN];

    /// Reads the configuration; a missing variable fails the cold start.
    pub fn from_env() -> Result<Self, StageError> {
        Ok(Self {
            topic_arn: env(TOPIC_ARN)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_sets_every_variable() {
        etl_aws::testing::assert_template_sets("failure-notifier", super::Config::VARIABLES);
    }
}
