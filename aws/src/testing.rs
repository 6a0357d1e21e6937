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

/// The text of the `template.yaml` resource that builds the function `binary`
/// (`BuildProperties: Binary: <binary>`), from that line to the resource's end.
pub fn template_function(binary: &str) -> &'static str {
    let template = include_str!("../../template.yaml");
    let marker = format!("        Binary: {binary}\n");
    let start = template
        .find(&marker)
        .unwrap_or_else(|| panic!("template.yaml builds no function from {binary}"));
    // The function's resource ends where the next top-level resource (two-space indent) starts.
    let rest = &template[start + marker.len()..];
    let end = rest.find("\n  ").map_or(rest.len(), |i| {
        rest[i..]
            .match_indices("\n  ")
            .find(|(j, _)| !rest[i + j + 3..].starts_with(' '))
            .map_or(rest.len(), |(j, _)| i + j)
    });
    &rest[..end]
}

/// A property of the function `binary` in `template.yaml` (`Timeout`, `MemorySize`), as written.
pub fn template_property(binary: &str, name: &str) -> Option<String> {
    let marker = format!("      {name}: ");
    template_function(binary)
        .lines()
        .find_map(|l| l.strip_prefix(&marker))
        .map(|v| v.trim().to_string())
}

/// The environment variables `template.yaml` sets for the function built from `binary`, by
/// name, with their values as written.
pub fn template_variables(binary: &str) -> std::collections::BTreeMap<String, String> {
    let resource = template_function(binary);
    let Some(vars) = resource.split("        Variables:\n").nth(1) else {
        return Default::default();
    };
    vars.lines()
        .take_while(|l| l.starts_with("          "))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Checks that `template.yaml` sets exactly `variables` for the function built from `binary`;
/// returns their values.
pub fn assert_template_sets(
    binary: &str,
    variables: &[&str],
) -> std::collections::BTreeMap<String, String> {
    let set = template_variables(binary);
    let mut expected: Vec<&str> = variables.to_vec();
    expected.sort_unstable();
    assert_eq!(
        set.keys().map(String::as_str).collect::<Vec<_>>(),
        expected,
        "what template.yaml sets for {binary}, and what its Config reads"
    );
    set
}
