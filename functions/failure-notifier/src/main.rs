//! failure-notifier Lambda: every pipeline failure → one SNS message.

use etl_aws::lambda::{env, init_logging};
use etl_aws::sns::SnsNotifier;
use failure_notifier::handle;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = etl_aws::load_config();
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&config), env("TOPIC_ARN")?);
    run(service_fn(|event: LambdaEvent<_>| {
        handle(&notifier, event.payload)
    }))
    .await
}
