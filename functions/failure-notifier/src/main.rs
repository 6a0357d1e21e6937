//! failure-notifier Lambda: every pipeline failure → one SNS message.

use etl_aws::lambda::init_logging;
use etl_aws::sns::SnsNotifier;
use failure_notifier::{handle, Config};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env()?;
    let aws = etl_aws::load_config();
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&aws), config.topic_arn);
    run(service_fn(|event: LambdaEvent<_>| {
        handle(&notifier, event.payload)
    }))
    .await
}
