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
        let set = etl_aws::testing::template_variables("failure-notifier");
        assert_eq!(set.keys().collect::<Vec<_>>(), super::Config::VARIABLES);
    }
}
