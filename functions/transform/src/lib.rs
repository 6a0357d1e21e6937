//! transform: streams the raw object (pinned to its version), runs the engine, writes Parquet
//! under the table location and rejected records under a prefix outside it, stores the full
//! summary, and returns the counts. The raw object is only read.

pub mod config;

use std::sync::Arc;

use etl_aws::lambda::{unknown_dataset, StageError};
use etl_core::contract::{PipelineInput, TransformResult};
use etl_core::ports::ObjectStore;
use etl_core::{Dataset, Engine, SourceObject};
use tracing::info;

pub use config::Config;

/// What the handler needs, built once per cold start.
pub struct Deps<S> {
    /// S3 (or a local stand-in).
    pub objects: S,
    /// One engine per dataset of the deployment.
    engines: Vec<Arc<Engine>>,
    /// Output locations.
    pub config: Config,
}

impl<S> Deps<S> {
    /// Compiles every dataset once.
    pub fn new(objects: S, datasets: &[Dataset], config: Config) -> Self {
        Self {
            objects,
            engines: datasets.iter().map(|d| Arc::new(Engine::new(d))).collect(),
            config,
        }
    }

    /// The engine of the dataset named `name`.
    pub fn engine(&self, name: &str) -> Result<&Arc<Engine>, StageError> {
        let mut names = self.engines.iter().map(|e| e.dataset().name.as_str());
        match self.engines.iter().find(|e| e.dataset().name == name) {
            Some(engine) => Ok(engine),
            None => Err(unknown_dataset(name, &mut names)),
        }
    }
}

/// Transforms one object.
pub async fn handle<S: ObjectStore>(
    deps: &Deps<S>,
    input: PipelineInput,
) -> Result<TransformResult, StageError> {
    let engine = Arc::clone(deps.engine(&input.dataset)?);
    let dataset = engine.dataset();
    let object = &input.object;
    let layout = &deps.config.layout;
    let table = layout.table_location(dataset);
    let reader = deps
        .objects
        .open(&object.bucket, &object.key, object.version_id.as_deref())
        .await?;
    let data = deps.objects.output_store(&table.bucket, &table.key);
    let rejected = deps
        .objects
        .output_store(&layout.bucket, layout.rejected_prefix());
    let source = SourceObject {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        version: object.identity_version().map(String::from),
    };
    let summary_key = layout.summary_key(&dataset.name, &source.id());
    let object_uri = object.uri();
    // The engine is synchronous and CPU-bound: keep it off the async workers.
    let summary = {
        let engine = Arc::clone(&engine);
        tokio::task::spawn_blocking(move || {
            engine.transform(reader, &source, data.as_ref(), rejected.as_ref())
        })
        .await
        .map_err(|e| {
            StageError::permanent(format!("the transform of {object_uri} panicked: {e}"))
        })??
    };

    let body = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    deps.objects
        .put(&layout.bucket, &summary_key, body, "application/json")
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
        table_location: table.to_string(),
        summary_uri: layout.uri(&summary_key).to_string(),
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

#[cfg(test)]
mod tests;
