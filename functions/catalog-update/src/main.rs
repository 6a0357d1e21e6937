//! catalog-update Lambda: one Athena DDL statement per call until the table and its partitions exist.

use catalog_update::{handle, Config, Deps};
use etl_aws::athena::AthenaEngine;
use etl_aws::lambda::{deployment_datasets, init_logging};
use etl_aws::s3::S3Objects;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env()?;
    let aws = etl_aws::load_config();
    let deps = Deps {
        objects: S3Objects::new(aws_sdk_s3::Client::new(&aws)),
        queries: AthenaEngine::new(aws_sdk_athena::Client::new(&aws), config.workgroup),
        datasets: deployment_datasets()?,
        table_lookup: config.table_lookup,
    };
    run(service_fn(|event: LambdaEvent<_>| {
        handle(&deps, event.payload)
    }))
    .await
}
