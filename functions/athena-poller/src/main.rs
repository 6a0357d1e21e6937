//! athena-poller Lambda: reports a query's state.

use athena_poller::handle;
use etl_aws::athena::AthenaEngine;
use etl_aws::lambda::{env, init_logging};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = etl_aws::load_config();
    let engine = AthenaEngine::new(
        aws_sdk_athena::Client::new(&config),
        env("ATHENA_WORKGROUP")?,
    );
    run(service_fn(|event: LambdaEvent<_>| {
        handle(&engine, event.payload)
    }))
    .await
}
