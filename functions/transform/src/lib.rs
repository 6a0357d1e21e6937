//! transform: streams the raw object (pinned to its version), runs the engine, writes Parquet
//! under the table location and rejected records under a prefix outside it, stores the full
//! summary, and returns the counts. The raw object is only read.

use etl_aws::lambda::{dataset_named, env, env_or, StageError};
use etl_core::contract::{PipelineInput, TransformResult};
use etl_core::ports::ObjectStore;
use etl_core::{hive, Dataset, Engine, SourceObject, TransformError};
use tracing::info;

/// Where outputs go (from the environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Bucket for tables, rejected records and summaries (`CURATED_BUCKET`).
    pub curated_bucket: String,
    /// Prefix of table locations (`TABLES_PREFIX`, default `tables/`): `tables/<database>/<table>/`.
    pub tables_prefix: String,
    /// Prefix of rejected records (`REJECTED_PREFIX`, default `rejected/`), outside every table.
    pub rejected_prefix: String,
    /// Prefix of transform summaries (`SUMMARIES_PREFIX`, default `summaries/`).
    pub summaries_prefix: String,
}

impl Config {
    /// Reads the configuration; a missing bucket fails the cold start.
    pub fn from_env() -> Result<Self, StageError> {
        Ok(Self {
            curated_bucket: env("CURATED_BUCKET")?,
            tables_prefix: prefix(&env_or("TABLES_PREFIX", "tables/")),
            rejected_prefix: prefix(&env_or("REJECTED_PREFIX", "rejected/")),
            summaries_prefix: prefix(&env_or("SUMMARIES_PREFIX", "summaries/")),
        })
    }

    /// The table's key prefix in the curated bucket.
    pub fn table_prefix(&self, dataset: &Dataset) -> String {
        format!(
            "{}{}/{}/",
            self.tables_prefix, dataset.database, dataset.table
        )
    }
}

fn prefix(p: &str) -> String {
    let p = p.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// What the handler needs.
pub struct Deps<S> {
    /// S3 (or a local stand-in).
    pub objects: S,
    /// The deployment's datasets.
    pub datasets: Vec<Dataset>,
    /// Output locations.
    pub config: Config,
}

/// Transforms one object.
pub async fn handle<S: ObjectStore>(
    deps: &Deps<S>,
    input: PipelineInput,
) -> Result<TransformResult, StageError> {
    let dataset = dataset_named(&deps.datasets, &input.dataset)?.clone();
    let object = &input.object;
    let cfg = &deps.config;
    let table_prefix = cfg.table_prefix(&dataset);
    let reader = deps
        .objects
        .open(&object.bucket, &object.key, object.version_id.as_deref())
        .await?;
    let data = deps
        .objects
        .output_store(&cfg.curated_bucket, &table_prefix);
    let rejected = deps
        .objects
        .output_store(&cfg.curated_bucket, &cfg.rejected_prefix);
    let source = SourceObject {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        version: object.identity_version().map(String::from),
    };
    let engine_source = source.clone();
    // The engine is synchronous and CPU-bound: keep it off the async workers.
    let summary = tokio::task::spawn_blocking(move || {
        Engine::new(&dataset).transform(reader, &engine_source, data.as_ref(), rejected.as_ref())
    })
    .await
    .map_err(|e| StageError::permanent(format!("the transform of {} panicked: {e}", object.uri())))?
    .map_err(stage_error)?;

    let id = hive::source_id(&source.bucket, &source.key, source.version.as_deref());
    let summary_key = format!("{}{}/{id}.json", cfg.summaries_prefix, input.dataset);
    let body = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    deps.objects
        .put(&cfg.curated_bucket, &summary_key, body, "application/json")
        .await?;

    info!(
        dataset = %input.dataset,
        object = %object.uri(),
        records_in = summary.records_in,
        records_written = summary.records_written,
        records_rejected = summary.records_rejected,
        partitions = summary.partitions.len(),
        files = summary.files_written(),
        bytes_written = summary.bytes_written(),
        threshold_crossed = summary.quality.threshold_crossed,
        "transformed"
    );
    Ok(TransformResult {
        dataset: input.dataset.clone(),
        object: input.object.clone(),
        table_location: format!("s3://{}/{table_prefix}", cfg.curated_bucket),
        summary_uri: format!("s3://{}/{summary_key}", cfg.curated_bucket),
        records_in: summary.records_in,
        records_written: summary.records_written,
        records_rejected: summary.records_rejected,
        rejected_by_reason: summary.rejected_by_reason.clone(),
        rejected_uri: summary.rejected_file.clone(),
        values_nulled: summary.values_nulled,
        nulled_by_field: summary.nulled_by_field.clone(),
        unknown_fields: summary.unknown_fields.clone(),
        partitions: summary.partitions.len() as u64,
        files: summary.files_written() as u64,
        bytes_written: summary.bytes_written(),
        threshold_crossed: summary.quality.threshold_crossed,
    })
}

/// Bad data is permanent; storage hiccups are retryable.
fn stage_error(e: TransformError) -> StageError {
    let message = format!("{e}. Nothing was written for this object.");
    if e.is_retryable() {
        return StageError::retryable(message);
    }
    match e {
        TransformError::Input { .. } => StageError::bad_input(format!(
            "{message} Fix the object (or the dataset definition) and upload it again."
        )),
        TransformError::Output { .. } => StageError::permanent(message),
    }
}

#[cfg(test)]
mod tests;
