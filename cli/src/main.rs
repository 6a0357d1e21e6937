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
        /// Input file (JSON array, NDJSON or concatenated JSON; gzip, zstd, bzip2, Snappy, Hadoop-Snappy and ZIP archives detected). `-` reads stdin.
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
    /// Check dataset definitions: every problem of every file; with --sample, what each mapping
    /// finds in real records.
    Check {
        /// Definition files, or folders of them (*.toml, *.json) [default: datasets].
        paths: Vec<PathBuf>,
        /// A folder of definitions (the same as giving it as a path).
        #[arg(long)]
        datasets: Option<PathBuf>,
        /// A sample of raw records (any layout and compression `transform` reads): each definition
        /// is run on it, and what does not map as it should is reported (paths that meet an array
        /// or another value they cannot go into, rejected records, members no field maps).
        #[arg(long)]
        sample: Option<PathBuf>,
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
        Command::Check {
            mut paths,
            datasets,
            sample,
        } => {
            paths.extend(datasets);
            if paths.is_empty() {
                paths.push(PathBuf::from("datasets"));
            }
            check(&paths, sample.as_deref())
        }
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

/// `etl check`: every definition given compiles (each problem of each file is printed), and with
/// a sample, maps it as meant.
fn check(paths: &[PathBuf], sample: Option<&Path>) -> Result<ExitCode, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{}: no dataset definitions (*.toml, *.json)",
                    path.display()
                ));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut all = Vec::new();
    let mut failed = 0;
    for file in &files {
        match Dataset::load(file) {
            Ok(d) => {
                println!("ok  {}  {} → {}.{}", d.origin, d.name, d.database, d.table);
                all.push(d);
            }
            Err(e) => {
                eprintln!("{e}");
                failed += 1;
            }
        }
    }
    if let Err(e) = etl_core::dataset::check_unique_names(&all) {
        eprintln!("{e}");
        failed += 1;
    }
    if let Some(sample) = sample {
        for d in &all {
            try_on_sample(d, sample)?;
        }
    }
    if failed > 0 {
        eprintln!("etl: {failed} of {} definitions have problems", files.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `dataset` on `sample` into a scratch folder and says what did not map as it should.
fn try_on_sample(dataset: &Dataset, sample: &Path) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let s = transform(
        dataset,
        sample,
        &scratch.path().join("table"),
        &scratch.path().join("rejected"),
    )?;
    let name = &dataset.origin;
    println!(
        "    {name} on {}: {} records, {} written, {} rejected",
        sample.display(),
        s.records_in,
        s.records_written,
        s.records_rejected
    );
    let path_of = |column: &str| {
        (dataset.fields.iter())
            .find(|f| f.column == column)
            .map_or(String::new(), |f| f.path_display())
    };
    for (column, n) in &s.unreached_by_field {
        println!(
            "warning: {name}: column {column} (path {}) met a value it cannot go into in {n} of {} records written: an array where the path goes on into an object ([0] or [*] enter arrays), or a string or number; see unreached_by_field",
            path_of(column),
            s.records_written
        );
    }
    for (reason, n) in &s.rejected_by_reason {
        println!("warning: {name}: {n} records rejected as {reason}");
    }
    for (column, n) in &s.nulled_by_field {
        println!(
            "warning: {name}: column {column}: {n} values did not fit and were written as null"
        );
    }
    if !s.unknown_fields.is_empty() {
        let mut unknown: Vec<(&String, &u64)> = s.unknown_fields.iter().collect();
        unknown.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = (unknown.iter().take(10))
            .map(|(k, n)| format!("{k} ({n})"))
            .collect();
        println!(
            "note: {name}: {} members no field maps, e.g. {}",
            unknown.len(),
            shown.join(", ")
        );
    }
    Ok(())
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
    let mut source = SourceObject::local_file(&path.display().to_string());
    // A local file was "created" when it was last written.
    source.created = std::fs::metadata(input)
        .and_then(|m| m.modified())
        .ok()
        .map(etl_core::timefmt::rfc3339_of);
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
