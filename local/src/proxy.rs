//! The invoke proxy: the one endpoint moto's Step Functions interpreter calls.
//!
//! moto runs the state machine and invokes its Lambda tasks through the Lambda API on its own
//! port (`MOTO_PORT`). The proxy listens there: Lambda `Invoke` requests go to `cargo lambda
//! watch` (function ARN → function name), everything else to moto. cargo lambda answers a function
//! error with HTTP 500; Lambda answers 200 with `X-Amz-Function-Error: Unhandled`, which is what
//! makes the state machine's `Retry`/`Catch` see the error name, so the proxy translates.

use std::convert::Infallible;
use std::net::SocketAddr;

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

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Where the proxy sends requests.
#[derive(Debug, Clone)]
pub struct Targets {
    /// moto server, e.g. `127.0.0.1:5000`.
    pub moto: SocketAddr,
    /// `cargo lambda watch`'s invoke address.
    pub lambda: SocketAddr,
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
        Some(function) => invoke(&client, targets.lambda, &function, request).await,
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
    lambda: SocketAddr,
    function: &str,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>> {
    let payload = request.into_body().collect().await?.to_bytes();
    let uri = format!("http://{lambda}/2015-03-31/functions/{function}/invocations");
    let upstream = Request::post(uri)
        .header("content-type", "application/json")
        .body(Full::new(payload))?;
    let response = client.request(upstream).await?;
    let failed = response.status() == StatusCode::INTERNAL_SERVER_ERROR;
    let ok = response.status().is_success();
    let body = response.into_body().collect().await?.to_bytes();
    let mut answer = Response::builder()
        .header("content-type", "application/json")
        .header("x-amz-executed-version", "$LATEST");
    answer = if failed {
        answer
            .status(StatusCode::OK)
            .header("x-amz-function-error", "Unhandled")
    } else if ok {
        answer.status(StatusCode::OK)
    } else {
        // Not a function result (e.g. unknown function): pass the emulator's answer on.
        answer.status(StatusCode::BAD_GATEWAY)
    };
    Ok(answer.body(Full::new(body))?)
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
