//! The emulated AWS account: clients pointed at moto, and the resources `template.yaml` creates,
//! under the same names the sample events use.

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use etl_core::layout::S3Uri;

/// moto's default account.
pub const ACCOUNT: &str = "123456789012";
/// The region everything runs in.
pub const REGION: &str = "us-east-1";
/// The five functions, by their binary (and `cargo lambda`) names.
pub const FUNCTIONS: [&str; 5] = [
    "s3-trigger",
    "transform",
    "catalog-update",
    "athena-poller",
    "failure-notifier",
];

/// Names of the local resources (the account id matches the sample events in `events/`).
#[derive(Debug, Clone)]
pub struct Names {
    /// Raw input bucket.
    pub raw_bucket: String,
    /// Curated output bucket (tables, rejected records, summaries).
    pub curated_bucket: String,
    /// Athena query results bucket.
    pub results_bucket: String,
    /// Athena workgroup.
    pub workgroup: String,
    /// The state machine.
    pub state_machine: String,
    /// The failure topic.
    pub topic: String,
    /// The queue subscribed to the failure topic, so a run can show what was published.
    pub failure_queue: String,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            raw_bucket: format!("etl-raw-{ACCOUNT}"),
            curated_bucket: format!("etl-curated-{ACCOUNT}"),
            results_bucket: format!("etl-athena-results-{ACCOUNT}"),
            workgroup: "etl-local-etl".into(),
            state_machine: "etl-local-pipeline".into(),
            topic: "etl-local-failures".into(),
            failure_queue: "etl-local-failures-inbox".into(),
        }
    }
}

impl Names {
    /// The state machine's ARN.
    pub fn state_machine_arn(&self) -> String {
        format!(
            "arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{}",
            self.state_machine
        )
    }

    /// The failure topic's ARN.
    pub fn topic_arn(&self) -> String {
        format!("arn:aws:sns:{REGION}:{ACCOUNT}:{}", self.topic)
    }
}

/// A function's ARN, as the state machine's `DefinitionSubstitutions` would give it.
pub fn function_arn(function: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")
}

/// SDK clients for the emulator at `endpoint`.
#[derive(Debug, Clone)]
pub struct Clients {
    /// S3 (path-style addressing: the emulator is one host).
    pub s3: aws_sdk_s3::Client,
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
    /// Athena.
    pub athena: aws_sdk_athena::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
}

/// The environment that points the AWS SDK (in the functions) at the emulator.
pub fn sdk_environment(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_REGION", REGION.into()),
        ("AWS_DEFAULT_REGION", REGION.into()),
        // No shared config/credentials files from the developer's machine.
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

impl Clients {
    /// Clients for the emulator at `endpoint` with dummy credentials.
    pub async fn new(endpoint: &str) -> Self {
        let config: SdkConfig = aws_config::defaults(BehaviorVersion::latest())
            // The emulator speaks plain HTTP.
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .endpoint_url(endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "local"))
            .load()
            .await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            sfn: aws_sdk_sfn::Client::new(&config),
            athena: aws_sdk_athena::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
        }
    }

    /// Creates what `template.yaml` would: the three buckets (raw one versioned), the Athena
    /// workgroup with its result location, the failure topic with a subscribed queue, and the
    /// state machine from `statemachine/pipeline.asl.json` with its substitutions resolved to
    /// the local functions. Returns the failure queue's URL.
    pub async fn create_resources(&self, names: &Names, definition: &str) -> Result<String> {
        for bucket in [
            &names.raw_bucket,
            &names.curated_bucket,
            &names.results_bucket,
        ] {
            self.s3
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .with_context(|| format!("CreateBucket {bucket}"))?;
        }
        self.s3
            .put_bucket_versioning()
            .bucket(&names.raw_bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .context("PutBucketVersioning")?;

        self.athena
            .create_work_group()
            .name(&names.workgroup)
            .configuration(
                aws_sdk_athena::types::WorkGroupConfiguration::builder()
                    .enforce_work_group_configuration(true)
                    .result_configuration(
                        aws_sdk_athena::types::ResultConfiguration::builder()
                            .output_location(S3Uri::new(&names.results_bucket, "").to_string())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .context("CreateWorkGroup")?;

        let topic_arn = self
            .sns
            .create_topic()
            .name(&names.topic)
            .send()
            .await
            .context("CreateTopic")?
            .topic_arn
            .context("CreateTopic returned no ARN")?;
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(&names.failure_queue)
            .send()
            .await
            .context("CreateQueue")?
            .queue_url
            .context("CreateQueue returned no URL")?;
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", names.failure_queue);
        self.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .context("Subscribe")?;

        self.sfn
            .create_state_machine()
            .name(&names.state_machine)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/etl-local-pipeline"))
            .definition(substitute_function_arns(definition))
            .send()
            .await
            .context("CreateStateMachine")?;
        Ok(queue_url)
    }
}

/// Resolves the definition's `${…FunctionArn}` substitutions (template.yaml's
/// `DefinitionSubstitutions`) to the local functions.
pub fn substitute_function_arns(definition: &str) -> String {
    [
        ("${TransformFunctionArn}", "transform"),
        ("${CatalogUpdateFunctionArn}", "catalog-update"),
        ("${AthenaPollerFunctionArn}", "athena-poller"),
        ("${FailureNotifierFunctionArn}", "failure-notifier"),
    ]
    .iter()
    .fold(definition.to_string(), |d, (placeholder, function)| {
        d.replace(placeholder, &function_arn(function))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_substitution_in_the_definition_is_resolved() {
        let definition = include_str!("../../statemachine/pipeline.asl.json");
        let resolved = substitute_function_arns(definition);
        assert!(!resolved.contains("${"), "unresolved substitution left");
        assert!(resolved.contains(&function_arn("transform")));
        serde_json::from_str::<serde_json::Value>(&resolved).unwrap();
    }
}
