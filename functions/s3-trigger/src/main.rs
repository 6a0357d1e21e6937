//! s3-trigger Lambda: S3 ObjectCreated events → one state machine execution per object.

use etl_aws::lambda::{deployment_datasets, init_logging};
use etl_aws::s3::S3Objects;
use etl_aws::sfn::SfnStarter;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use s3_trigger::{handle_event, Config, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env()?;
    let aws = etl_aws::load_config();
    let deps = Deps {
        starter: SfnStarter::new(aws_sdk_sfn::Client::new(&aws), config.state_machine_arn),
        objects: S3Objects::new(aws_sdk_s3::Client::new(&aws)),
        datasets: deployment_datasets()?,
    };
    run(service_fn(|event: LambdaEvent<_>| {
        handle_event(&deps, event.payload)
    }))
    .await
}
