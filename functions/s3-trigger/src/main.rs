//! s3-trigger Lambda: S3 ObjectCreated events → one state machine execution per object.

use etl_aws::lambda::{deployment_datasets, env, init_logging};
use etl_aws::sfn::SfnStarter;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use s3_trigger::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = etl_aws::load_config();
    let deps = Deps {
        starter: SfnStarter::new(aws_sdk_sfn::Client::new(&config), env("STATE_MACHINE_ARN")?),
        datasets: deployment_datasets()?,
    };
    run(service_fn(|event: LambdaEvent<_>| {
        handle(&deps, event.payload)
    }))
    .await
}
