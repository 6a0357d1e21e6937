//! athena-poller Lambda: reports a query's state.

use athena_poller::{handle, Config};
use etl_aws::athena::AthenaEngine;
use etl_aws::lambda::init_logging;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env()?;
    let aws = etl_aws::load_config();
    let engine = AthenaEngine::new(aws_sdk_athena::Client::new(&aws), config.workgroup);
    run(service_fn(|event: LambdaEvent<_>| {
        handle(&engine, event.payload)
    }))
    .await
}
