//! Starting and stopping the local stack: moto server (S3, Step Functions with its interpreter,
//! Athena, SNS, SQS), the five functions under `cargo lambda watch`, and the invoke proxy between
//! them. Ports are picked free; every process stops with the stack.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use etl_aws::lambda::DATASETS_PATH;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinHandle;

use crate::aws::{sdk_environment, Clients, Names, FUNCTIONS};
use crate::process::{free_port, require_tool, signal_working, Service};
use crate::proxy;

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The repository root (the workspace `cargo lambda watch` builds).
    pub workspace: PathBuf,
    /// Dataset definitions for the functions (`DATASETS_PATH`); `None`: the built-in ones.
    pub datasets_path: Option<PathBuf>,
    /// Where the tools' logs go (outside the workspace, or `cargo lambda watch` sees them change).
    pub log_dir: PathBuf,
    /// Athena queries report `RUNNING` on their first status check, so every DDL goes round the
    /// state machine's Wait → Poll loop at least twice (as in AWS), instead of succeeding at once.
    pub slow_queries: bool,
    /// The transform's timeout: it is told so (`TIMEOUT_SECONDS`), and an invocation still
    /// running after it is stopped as Lambda stops it (see [`proxy`]).
    pub transform_timeout: Duration,
}

impl StackOptions {
    /// Defaults for the repository at `workspace`: built-in datasets, logs in a fresh temporary
    /// folder, queries that take one poll to finish, the transform's timeout as in `template.yaml`.
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        let log_dir = std::env::temp_dir().join(format!("etl-local-{}", std::process::id()));
        Self {
            workspace: workspace.into(),
            datasets_path: None,
            log_dir,
            slow_queries: true,
            transform_timeout: Duration::from_secs(900),
        }
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// How many instances of each function `cargo lambda watch` runs at once.
const FUNCTION_CONCURRENCY: u32 = 4;

/// The running stack. Dropping it stops everything.
pub struct Stack {
    /// Resource names.
    pub names: Names,
    /// Clients for the emulator.
    pub clients: Clients,
    /// moto's endpoint (`http://127.0.0.1:port`).
    pub moto_endpoint: String,
    /// The queue subscribed to the failure topic.
    pub failure_queue_url: String,
    /// Where the tools' logs are.
    pub log_dir: PathBuf,
    lambda_addr: SocketAddr,
    proxy_addr: SocketAddr,
    http: HttpClient,
    proxy: JoinHandle<()>,
    // Stopped in this order: the functions, then the emulator.
    lambda: Mutex<Service>,
    moto: Mutex<Service>,
}

impl Stack {
    /// Builds the functions, starts moto, creates the resources, starts the proxy and
    /// `cargo lambda watch`, and waits until each answers.
    pub async fn start(options: StackOptions) -> Result<Self> {
        let moto_server = require_tool("moto_server")?;
        let cargo_lambda = require_tool("cargo-lambda")?;
        std::fs::create_dir_all(&options.log_dir)
            .with_context(|| format!("cannot create {}", options.log_dir.display()))?;
        build_functions(&options.workspace)?;

        let moto_port = free_port()?;
        let lambda_port = free_port()?;
        let proxy_listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .context("cannot bind the invoke proxy")?;
        let proxy_addr = proxy_listener.local_addr()?;
        let moto_addr: SocketAddr = ([127, 0, 0, 1], moto_port).into();
        let lambda_addr: SocketAddr = ([127, 0, 0, 1], lambda_port).into();

        // moto's interpreter invokes Lambda at localhost:$MOTO_PORT: that is the proxy.
        let mut command = Command::new(moto_server);
        command
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .env("MOTO_PORT", proxy_addr.port().to_string());
        let mut moto = Service::spawn("moto_server", command, &options.log_dir.join("moto.log"))?;
        moto.wait_for_port(moto_port, Duration::from_secs(60))
            .await?;
        let moto_endpoint = format!("http://{moto_addr}");
        let http: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        configure_moto(&http, &moto_endpoint, options.slow_queries).await?;

        let names = Names::default();
        let clients = Clients::new(&moto_endpoint).await;
        let definition_path = options.workspace.join("statemachine/pipeline.asl.json");
        let definition = std::fs::read_to_string(&definition_path)
            .with_context(|| format!("cannot read {}", definition_path.display()))?;
        let failure_queue_url = clients.create_resources(&names, &definition).await?;

        let mut command = Command::new(cargo_lambda);
        command
            .current_dir(&options.workspace)
            .args(["lambda", "watch", "--ignore-changes", "--quiet"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &lambda_port.to_string()])
            // Lambda runs invocations side by side; so do the tests that race attempts.
            .args(["--concurrency", &FUNCTION_CONCURRENCY.to_string()])
            .envs(sdk_environment(&moto_endpoint))
            .envs(function_environment(
                &names,
                options.datasets_path.as_deref(),
            ))
            .env(
                transform::config::TIMEOUT_SECONDS,
                options.transform_timeout.as_secs().to_string(),
            );
        let lambda = start_functions(command, &options.log_dir, lambda_port).await?;
        let proxy = proxy::spawn(
            proxy_listener,
            proxy::Targets {
                moto: moto_addr,
                lambda: lambda_addr,
                functions_parent: lambda.pid(),
                timeouts: [("transform".to_string(), options.transform_timeout)].into(),
            },
        )?;

        Ok(Self {
            names,
            clients,
            moto_endpoint,
            failure_queue_url,
            log_dir: options.log_dir,
            lambda_addr,
            proxy_addr,
            http,
            proxy,
            lambda: Mutex::new(lambda),
            moto: Mutex::new(moto),
        })
    }

    /// The endpoint moto's interpreter calls for Lambda (the proxy).
    pub fn proxy_endpoint(&self) -> String {
        format!("http://{}", self.proxy_addr)
    }

    /// Invokes a function through `cargo lambda watch`, as the Lambda service would: its result,
    /// or an error carrying the function's error name and message.
    pub async fn invoke(&self, function: &str, payload: &serde_json::Value) -> Result<Bytes> {
        let uri = format!(
            "http://{}/2015-03-31/functions/{function}/invocations",
            self.lambda_addr
        );
        let request = Request::post(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(payload)?)))?;
        let response = self
            .http
            .request(request)
            .await
            .with_context(|| format!("cannot reach {function} through cargo lambda watch"))?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != StatusCode::OK {
            bail!(
                "{function} failed (HTTP {status}): {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }

    /// Freezes the instances of `function` that are working (SIGSTOP), as a hung upload or a
    /// stalled host would: they neither finish nor clean up, and the function's timeout ends them
    /// (see [`proxy`]). Returns how many there were.
    pub fn freeze_working(&self, function: &str) -> usize {
        let parent = lock(&self.lambda).pid();
        signal_working(parent, function, Duration::from_millis(300), libc::SIGSTOP)
    }

    /// Fails if moto or cargo lambda has exited.
    pub fn check_running(&self) -> Result<()> {
        lock(&self.moto).check_running()?;
        lock(&self.lambda).check_running()
    }

    /// Stops the functions, then the emulator.
    pub fn stop(self) {
        drop(self);
    }

    fn shutdown(&self) {
        self.proxy.abort();
        lock(&self.lambda).stop();
        lock(&self.moto).stop();
    }
}

fn lock(service: &Mutex<Service>) -> std::sync::MutexGuard<'_, Service> {
    // A panic while holding the lock leaves the service as usable as before.
    service
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The environment `template.yaml` gives the functions, for the local resources.
pub fn function_environment(
    names: &Names,
    datasets_path: Option<&Path>,
) -> Vec<(&'static str, String)> {
    // `cargo lambda watch` gives every function the same environment: one list for all five.
    let mut env = vec![
        (
            s3_trigger::config::STATE_MACHINE_ARN,
            names.state_machine_arn(),
        ),
        (
            transform::config::CURATED_BUCKET,
            names.curated_bucket.clone(),
        ),
        // catalog-update and athena-poller both read it.
        (
            catalog_update::config::ATHENA_WORKGROUP,
            names.workgroup.clone(),
        ),
        (failure_notifier::config::TOPIC_ARN, names.topic_arn()),
        // moto has no GetTableMetadata: run the idempotent CREATE … IF NOT EXISTS every time.
        (catalog_update::config::TABLE_LOOKUP, "off".into()),
        ("AWS_LAMBDA_LOG_LEVEL", "info".into()),
    ];
    if let Some(path) = datasets_path {
        env.push((DATASETS_PATH, path.display().to_string()));
    }
    env
}

/// Starts `cargo lambda watch` and waits until it takes invocations.
async fn start_functions(command: Command, log_dir: &Path, port: u16) -> Result<Service> {
    let mut lambda = Service::spawn(
        "cargo lambda watch",
        command,
        &log_dir.join("functions.log"),
    )?;
    lambda.wait_for_port(port, Duration::from_secs(120)).await?;
    Ok(lambda)
}

/// Builds the five functions first, so that the first invocation does not wait for a compile.
fn build_functions(workspace: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace).args(["build", "--locked"]);
    for function in FUNCTIONS {
        command.args(["--bin", function]);
    }
    let status = command.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build of the functions failed ({status})");
    }
    Ok(())
}

/// Turns on moto's Step Functions interpreter, and optionally makes Athena queries take a poll.
async fn configure_moto(http: &HttpClient, endpoint: &str, slow_queries: bool) -> Result<()> {
    post_json(
        http,
        &format!("{endpoint}/moto-api/config"),
        serde_json::json!({ "stepfunctions": { "execute_state_machine": true } }),
    )
    .await?;
    if slow_queries {
        post_json(
            http,
            &format!("{endpoint}/moto-api/state-manager/set-transition"),
            serde_json::json!({
                "model_name": "athena::execution",
                "transition": { "progression": "manual", "times": 1 }
            }),
        )
        .await?;
    }
    Ok(())
}

async fn post_json(http: &HttpClient, uri: &str, body: serde_json::Value) -> Result<()> {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let response = http
        .request(request)
        .await
        .with_context(|| format!("POST {uri}"))?;
    if !response.status().is_success() {
        bail!("POST {uri}: HTTP {}", response.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every function needs without a default, as `make run` and the e2e tests start them
    /// and as the start-up bench (`bench/lambda_start.py`) does.
    const REQUIRED: [&[&str]; 5] = [
        s3_trigger::Config::REQUIRED,
        transform::Config::REQUIRED,
        catalog_update::Config::REQUIRED,
        athena_poller::Config::REQUIRED,
        failure_notifier::Config::REQUIRED,
    ];

    #[test]
    fn the_local_stack_sets_what_each_function_requires() {
        let env = function_environment(&Names::default(), None);
        for name in REQUIRED.iter().copied().flatten() {
            assert!(
                env.iter().any(|(n, v)| n == name && !v.is_empty()),
                "the local stack does not set {name}"
            );
        }
    }

    #[test]
    fn the_start_up_bench_sets_what_each_function_requires() {
        let bench = include_str!("../../bench/lambda_start.py");
        for name in REQUIRED.iter().copied().flatten() {
            assert!(
                bench.contains(&format!("    \"{name}\": ")),
                "bench/lambda_start.py does not set {name}"
            );
        }
    }
}
