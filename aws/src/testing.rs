//! Helpers for tests that answer SDK calls with aws-smithy-mocks (feature `testing`).

use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

/// A raw service response, so the SDK's own error parsing runs as it does against AWS
/// (`{"__type":"ThrottlingException",...}`, S3's XML `<Error><Code>NoSuchKey</Code>…`).
pub fn http_response(status: u16, body: &'static str) -> Response {
    Response::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body),
    )
}
