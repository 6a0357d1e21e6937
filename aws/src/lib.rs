//! AWS adapters for the pipeline's ports ([`etl_core::ports`]): S3 ([`s3::S3Objects`], which also
//! writes Parquet through [`etl_core::output::OutputStore`]), Step Functions, Athena and SNS.
//!
//! Errors keep the service's code and message and are classified once, here, into retryable,
//! not-found and permanent ([`error::port_error`]).

pub mod athena;
pub mod error;
pub mod lambda;
pub mod s3;
pub mod sfn;
pub mod sns;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// Loads the AWS configuration from the environment (region, credentials, `AWS_ENDPOINT_URL` for
/// emulators), with [`https_client`]. Call once per cold start.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK's hyper client with rustls on ring (HTTPS to AWS, plain HTTP to a local emulator).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
