//! `etl-local run`: the whole pipeline on this machine (what `make run` does).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use etl_core::layout::S3Uri;
use etl_core::{Dataset, Summary};
use etl_local::{find_workspace, Execution, Stack, StackOptions};

#[derive(Parser)]
#[command(
    name = "etl-local",
    about = "Run the pipeline locally: moto server + cargo lambda watch + the real state machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Upload a file to the local raw bucket, deliver its S3 event and follow the execution.
    Run {
        /// The raw file (JSON, NDJSON, concatenated JSON or gzip).
        #[arg(long, default_value = "datasets/samples/iot_sensors.ndjson")]
        input: PathBuf,
        /// The dataset definition the functions use (its prefix routes the object).
        #[arg(long, default_value = "datasets/iot_sensors.toml")]
        dataset: PathBuf,
        /// Object key in the raw bucket (default: the dataset's prefix + the file name).
        #[arg(long)]
        key: Option<String>,
        /// Where the curated bucket is downloaded to.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli {
        command:
            Command::Run {
                input,
                dataset,
                key,
                out,
            },
    } = Cli::parse();
    let run = run(&input, &dataset, key, &out);
    let outcome = tokio::select! {
        outcome = run => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; the local stack was stopped")),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("etl-local: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs one object through the pipeline; `Ok(true)` when the execution succeeded.
async fn run(input: &Path, dataset_path: &Path, key: Option<String>, out: &Path) -> Result<bool> {
    let dataset = Dataset::load(dataset_path)?;
    let body = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let file_name = input
        .file_name()
        .context("the input has no file name")?
        .to_string_lossy();
    let key = key.unwrap_or_else(|| format!("{}{file_name}", dataset.prefix));
    let here = std::env::current_dir()?;
    let workspace = find_workspace(&here).context(
        "run etl-local inside the repository (no statemachine/pipeline.asl.json found above here)",
    )?;

    let mut options = StackOptions::new(&workspace);
    options.datasets_path = Some(std::fs::canonicalize(dataset_path)?);
    println!("Starting the local stack (moto server, cargo lambda watch, invoke proxy)…");
    let stack = Stack::start(options).await?;
    println!(
        "  moto {}   Lambda invoke proxy {}   logs {}",
        stack.moto_endpoint,
        stack.proxy_endpoint(),
        stack.log_dir.display()
    );

    let object = stack.upload(&key, body).await?;
    println!(
        "Uploaded {} ({} bytes)",
        S3Uri::new(&object.bucket, &object.key),
        object.size
    );
    let trigger = stack.deliver(&[&object]).await?;
    let Some(arn) = trigger.started.first() else {
        bail!(
            "s3-trigger started no execution (duplicates: {}, skipped: {}); is the key under the \
             dataset's prefix {:?}?",
            trigger.duplicates,
            serde_json::to_string(&trigger.skipped)?,
            dataset.prefix
        );
    };
    println!("s3-trigger started {arn}");
    let execution = stack.follow(arn, Duration::from_secs(600)).await?;
    print_execution(&stack, &execution).await?;

    let curated = out.join("curated");
    let files = stack
        .download(&stack.names.curated_bucket, &curated)
        .await?;
    println!(
        "\nCurated bucket downloaded: {files} files in {}/",
        curated.display()
    );
    for (what, dir) in [
        ("Parquet", "tables"),
        ("rejected", "rejected"),
        ("summaries", "summaries"),
        ("manifests", "manifests"),
    ] {
        let path = curated.join(dir);
        if path.exists() {
            println!("  {what:<10} {}/", path.display());
        }
    }
    let succeeded = execution.status == "SUCCEEDED";
    println!("\nStatus: {}", execution.status);
    stack.stop();
    Ok(succeeded)
}

async fn print_execution(stack: &Stack, execution: &Execution) -> Result<()> {
    println!("\nPath: {}", execution.states.join(" → "));
    if let Some(t) = &execution.transform {
        println!(
            "\nTransform: {} records in = {} written + {} rejected",
            t.records_in, t.records_written, t.records_rejected
        );
        for (reason, n) in &t.rejected_by_reason {
            println!("  rejected {reason}: {n}");
        }
        for (column, n) in &t.nulled_by_field {
            println!("  nulled {column}: {n} values (on_type_mismatch = \"null\")");
        }
        if let Some(uri) = &t.rejected_uri {
            println!("  rejected records: {uri}");
        }
        let uri = S3Uri::parse_object(&t.summary_uri)?;
        let summary: Summary = serde_json::from_slice(&stack.get(&uri.bucket, &uri.key).await?)?;
        println!(
            "  {} partitions under {}:",
            summary.partitions.len(),
            t.table_location
        );
        for p in &summary.partitions {
            println!("    {:<45} {} rows", p.path, p.rows);
        }
        println!("  summary: {}", t.summary_uri);
    }
    let queries = stack.athena_queries().await?;
    if !queries.is_empty() {
        println!("\nAthena DDL:");
        for q in queries {
            let first = q.lines().next().unwrap_or_default();
            println!("  {first}");
        }
    }
    if let Some((error, cause)) = &execution.error {
        println!("\nError: {error}: {cause}");
    }
    for published in stack.published().await? {
        println!(
            "\nFailure notification: {}\n{}",
            published.subject, published.message
        );
    }
    Ok(())
}
