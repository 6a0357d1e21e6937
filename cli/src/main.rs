//! `etl`: try a dataset mapping on local files before deploying, print the Athena DDL, check the
//! dataset definitions, and generate the benchmark's standard data. The same engine the Lambdas run.

mod generate;

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use etl_core::output::LocalDir;
use etl_core::{sql, Dataset, Engine, SourceObject, Summary};

#[derive(Parser)]
#[command(
    name = "etl",
    version,
    about = "Serverless JSON → Parquet ETL: local tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Transform one JSON file into Hive-partitioned Parquet; prints the summary as JSON.
    Transform {
        /// Dataset definition (TOML or JSON).
        #[arg(long)]
        dataset: PathBuf,
        /// Input file (JSON array, NDJSON or concatenated JSON; gzip, zstd, bzip2, Snappy and Hadoop-Snappy detected). `-` reads stdin.
        #[arg(long)]
        input: PathBuf,
        /// Table location: partitions are written below it.
        #[arg(long)]
        out: PathBuf,
        /// Where rejected records go [default: OUT.rejected, beside the table].
        #[arg(long)]
        rejected: Option<PathBuf>,
    },
    /// Print the Athena DDL for a dataset; with --summary also the ADD PARTITION statements.
    Ddl {
        /// Dataset definition.
        #[arg(long)]
        dataset: PathBuf,
        /// Table location, `s3://bucket/prefix/`.
        #[arg(long)]
        location: String,
        /// A summary printed by `etl transform`.
        #[arg(long)]
        summary: Option<PathBuf>,
    },
    /// Check every dataset definition in a folder.
    Check {
        /// Folder of definitions.
        #[arg(long, default_value = "datasets")]
        datasets: PathBuf,
    },
    /// Write the benchmark's standard IoT data set (deterministic).
    Generate {
        /// Number of records.
        #[arg(long, default_value_t = 2_000_000)]
        records: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Layout.
        #[arg(long, value_enum, default_value_t = Layout::Ndjson)]
        layout: Layout,
    },
}

/// Layouts of the generated data.
#[derive(Clone, Copy, ValueEnum)]
enum Layout {
    /// One record per line.
    Ndjson,
    /// NDJSON, gzip-compressed.
    Gzip,
    /// One JSON array.
    Array,
}

/// Exit code when the error threshold was crossed (the summary is still printed).
const EXIT_THRESHOLD: u8 = 3;

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("etl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Transform {
            dataset,
            input,
            out,
            rejected,
        } => {
            let dataset = Dataset::load(&dataset).map_err(|e| e.to_string())?;
            let rejected = rejected.unwrap_or_else(|| sibling(&out, "rejected"));
            let summary = transform(&dataset, &input, &out, &rejected)?;
            print_json(&summary)?;
            if summary.quality.threshold_crossed {
                eprintln!(
                    "etl: {} of {} records rejected ({:.1}%), over the dataset's threshold: no Parquet kept; reasons in {}",
                    summary.records_rejected,
                    summary.records_in,
                    summary.quality.rejected_fraction * 100.0,
                    summary.rejected_file.as_deref().unwrap_or("(none)")
                );
                return Ok(ExitCode::from(EXIT_THRESHOLD));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ddl {
            dataset,
            location,
            summary,
        } => ddl(&dataset, &location, summary.as_deref()),
        Command::Check { datasets } => check(&datasets),
        Command::Generate {
            records,
            out,
            layout,
        } => {
            let file = File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            let written = generate::write(
                records,
                layout_of(layout),
                BufWriter::with_capacity(1 << 20, file),
            )
            .map_err(|e| format!("{}: {e}", out.display()))?;
            eprintln!(
                "wrote {records} records, {written} bytes to {}",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `etl ddl`: the CREATE TABLE statement, and the ADD PARTITION ones of a summary.
fn ddl(dataset: &Path, location: &str, summary: Option<&Path>) -> Result<ExitCode, String> {
    let dataset = Dataset::load(dataset).map_err(|e| e.to_string())?;
    let mut statements = vec![sql::create_table(&dataset, location).map_err(|e| e.to_string())?];
    if let Some(path) = summary {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let summary: Summary = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a transform summary: {e}", path.display()))?;
        statements.extend(
            sql::add_partitions(&dataset, location, &summary.partitions)
                .map_err(|e| e.to_string())?,
        );
    }
    println!("{};", statements.join(";\n\n"));
    Ok(ExitCode::SUCCESS)
}

/// `etl check`: every definition in a folder compiles.
fn check(datasets: &Path) -> Result<ExitCode, String> {
    let all = Dataset::load_dir(datasets).map_err(|e| e.to_string())?;
    if all.is_empty() {
        return Err(format!(
            "{}: no dataset definitions (*.toml, *.json)",
            datasets.display()
        ));
    }
    for d in &all {
        println!("ok  {}  {} → {}.{}", d.origin, d.name, d.database, d.table);
    }
    Ok(ExitCode::SUCCESS)
}

fn layout_of(layout: Layout) -> generate::Layout {
    match layout {
        Layout::Ndjson => generate::Layout::Ndjson,
        Layout::Gzip => generate::Layout::Gzip,
        Layout::Array => generate::Layout::Array,
    }
}

fn transform(
    dataset: &Dataset,
    input: &Path,
    out: &Path,
    rejected: &Path,
) -> Result<Summary, String> {
    let reader: Box<dyn Read + Send> = if input == Path::new("-") {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(input).map_err(|e| format!("{}: {e}", input.display()))?)
    };
    let path = std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf());
    let source = SourceObject::local_file(&path.display().to_string());
    Engine::new(dataset)
        .transform(reader, &source, &LocalDir::new(out), &LocalDir::new(rejected))
        .map_err(|e| format!("{e}\nNothing was written for this input. Fix the file (or the dataset definition) and run again."))
}

/// `out/iot` → `out/iot.rejected`: beside the table, never inside it.
fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    out.with_file_name(name)
}

fn print_json(summary: &Summary) -> Result<(), String> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, summary).map_err(|e| e.to_string())?;
    writeln!(stdout).map_err(|e| e.to_string())
}
