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

use aws_credential_types::provider::SharedCredentialsProvider;

/// The AWS configuration of a Lambda: region and credentials from the environment Lambda sets
/// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
/// `AWS_ENDPOINT_URL` when set (an emulator), [`https_client`], and the SDK's defaults for
/// retries and timeouts. Call once per cold start.
///
/// Not `aws_config::load_defaults`: its provider chains (profile files, SSO, web identity, ECS,
/// IMDS, STS) never apply inside Lambda and add a quarter of a megabyte to every `bootstrap`.
pub fn load_config() -> aws_config::SdkConfig {
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region.map(aws_config::Region::new))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .retry_config(aws_config::retry::RetryConfig::standard())
        .http_client(https_client());
    if let Some(endpoint) = env("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    config.build()
}

/// The SDK's hyper client with rustls on ring (HTTPS to AWS, plain HTTP to a local emulator).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
