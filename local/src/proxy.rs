//! The invoke proxy: the one endpoint moto's Step Functions interpreter calls.
//!
//! moto runs the state machine and invokes its Lambda tasks through the Lambda API on its own
//! port (`MOTO_PORT`). The proxy listens there: Lambda `Invoke` requests go to `cargo lambda
//! watch` (function ARN → function name), everything else to moto. cargo lambda answers a function
//! error with HTTP 500; Lambda answers 200 with `X-Amz-Function-Error: Unhandled`, which is what
//! makes the state machine's `Retry`/`Catch` see the error name, so the proxy translates.
//!
//! cargo lambda does not stop a function at its timeout; Lambda does. The proxy does it for the
//! functions given a timeout: when an invocation runs past it, the function's instances that are
//! in the middle of an invocation are killed (cargo lambda does not say which instance runs which
//! invocation, so another invocation of the function running at that moment dies too; the idle
//! instances take the next ones) and the state machine gets Lambda's answer, a
//! `Sandbox.Timedout` error.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::process::signal_working;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// How long the proxy watches a function's instances for the one still at work when an
/// invocation times out.
const KILL_WINDOW: Duration = Duration::from_millis(300);

/// Where the proxy sends requests.
#[derive(Debug, Clone)]
pub struct Targets {
    /// moto server, e.g. `127.0.0.1:5000`.
    pub moto: SocketAddr,
    /// `cargo lambda watch`'s invoke address.
    pub lambda: SocketAddr,
    /// `cargo lambda watch`'s process id (its function processes are its children).
    pub functions_parent: libc::pid_t,
    /// Functions that are stopped after this long, as Lambda stops them at their timeout.
    pub timeouts: HashMap<String, Duration>,
}

/// Serves on `listener` until the returned task is aborted.
pub fn spawn(listener: std::net::TcpListener, targets: Targets) -> Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let client = client.clone();
            let targets = targets.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    forward(client.clone(), targets.clone(), request)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }))
}

/// The function name in a Lambda `Invoke` path (`/2015-03-31/functions/{name or ARN}/invocations`).
pub fn invoked_function(path: &str) -> Option<String> {
    let target = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let target = etl_core::layout::percent_decode(target, false).ok()?;
    // arn:aws:lambda:region:account:function:name[:qualifier]
    let name = match target.strip_prefix("arn:") {
        Some(_) => target.split(':').nth(6)?.to_string(),
        None => target,
    };
    (!name.is_empty()).then_some(name)
}

async fn forward(
    client: HttpClient,
    targets: Targets,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let answer = match invoked_function(request.uri().path()) {
        Some(function) => invoke(&client, &targets, &function, request).await,
        None => pass_through(&client, targets.moto, request).await,
    };
    Ok(answer.unwrap_or_else(|e| {
        Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Full::new(Bytes::from(format!("invoke proxy: {e:#}"))))
            .expect("a valid response")
    }))
}

async fn invoke(
    client: &HttpClient,
    targets: &Targets,
    function: &str,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>> {
    let payload = request.into_body().collect().await?.to_bytes();
    let uri = format!(
        "http://{}/2015-03-31/functions/{function}/invocations",
        targets.lambda
    );
    let upstream = Request::post(uri)
        .header("content-type", "application/json")
        .body(Full::new(payload))?;
    let call = async {
        let response = client.request(upstream).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    let (status, body) = match targets.timeouts.get(function) {
        None => call.await?,
        Some(&timeout) => match tokio::time::timeout(timeout, call).await {
            Ok(answer) => answer?,
            Err(_) => {
                let (parent, name) = (targets.functions_parent, function.to_string());
                tokio::task::spawn_blocking(move || {
                    signal_working(parent, &name, KILL_WINDOW, libc::SIGKILL)
                })
                .await?;
                (StatusCode::INTERNAL_SERVER_ERROR, timed_out(timeout))
            }
        },
    };
    let mut answer = Response::builder()
        .header("content-type", "application/json")
        .header("x-amz-executed-version", "$LATEST");
    answer = if status == StatusCode::INTERNAL_SERVER_ERROR {
        answer
            .status(StatusCode::OK)
            .header("x-amz-function-error", "Unhandled")
    } else if status.is_success() {
        answer.status(StatusCode::OK)
    } else {
        // Not a function result (e.g. unknown function): pass the emulator's answer on.
        answer.status(StatusCode::BAD_GATEWAY)
    };
    Ok(answer.body(Full::new(body))?)
}

/// Lambda's answer for an invocation it stopped at the function's timeout.
fn timed_out(timeout: Duration) -> Bytes {
    let error = serde_json::json!({
        "errorType": "Sandbox.Timedout",
        "errorMessage": format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
    });
    Bytes::from(error.to_string())
}

async fn pass_through(
    client: &HttpClient,
    moto: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = Request::builder()
        .method(parts.method)
        .uri(format!("http://{moto}{path}"));
    for (name, value) in &parts.headers {
        upstream = upstream.header(name, value);
    }
    let response = client.request(upstream.body(Full::new(body))?).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_paths_name_the_function_by_name_or_arn() {
        assert_eq!(
            invoked_function("/2015-03-31/functions/transform/invocations").as_deref(),
            Some("transform")
        );
        assert_eq!(
            invoked_function(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aathena-poller/invocations"
            )
            .as_deref(),
            Some("athena-poller")
        );
        assert_eq!(
            invoked_function(
                "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:transform:$LATEST/invocations"
            )
            .as_deref(),
            Some("transform")
        );
        assert_eq!(
            invoked_function("/2015-03-31/functions/x/configuration"),
            None
        );
        assert_eq!(invoked_function("/etl-raw/iot/a.json"), None);
    }
}
