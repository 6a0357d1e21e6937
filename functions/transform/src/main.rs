//! transform Lambda: one raw object → Parquet, rejected records and a summary.

use etl_aws::lambda::{deployment_datasets, init_logging};
use etl_aws::s3::S3Objects;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use transform::{handle_request, Config, Deps, Invocation};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env()?;
    let aws = etl_aws::load_config();
    let deps = Deps::new(
        S3Objects::new(aws_sdk_s3::Client::new(&aws)),
        &deployment_datasets()?,
        config,
    );
    run(service_fn(|event: LambdaEvent<_>| {
        let invocation = Invocation::from_lambda(
            event.context.request_id,
            event.context.deadline,
            deps.config.timeout,
        );
        let deps = &deps;
        async move { handle_request(deps, event.payload, &invocation).await }
    }))
    .await
}
