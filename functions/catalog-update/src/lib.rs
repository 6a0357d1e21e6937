//! catalog-update: makes the table and its new partitions known to the Glue Data Catalog through
//! Athena DDL, one statement per call. The state machine polls each query and comes back while
//! `more` is true:
//!
//! 1. table missing (asked once, on the first call) → `CREATE DATABASE IF NOT EXISTS`, then
//!    `CREATE EXTERNAL TABLE IF NOT EXISTS`;
//! 2. then the `ALTER TABLE … ADD IF NOT EXISTS PARTITION` statements for the partitions in the
//!    transform's summary (as many as Athena's query size limit needs).
//!
//! Every statement is idempotent, so a retried or repeated execution does no harm. A summary
//! that is gone means a later attempt of the object replaced this one's output (see
//! [`etl_core::manifest`]): there is nothing left to register, and the execution ends well.

pub mod config;

use etl_aws::lambda::{dataset_named, StageError};
use etl_core::contract::{CatalogRequest, CatalogStep, DdlStatement};
use etl_core::layout::S3Uri;
use etl_core::ports::{FailureKind, ObjectStore, QueryEngine};
use etl_core::{sql, Dataset, Summary};
use tracing::info;

pub use config::{table_lookup_from_env, Config};
use DdlStatement::{AddPartitions, CreateDatabase, CreateTable};

/// What the handler needs.
pub struct Deps<S, Q> {
    /// Reads the transform summary.
    pub objects: S,
    /// Runs DDL.
    pub queries: Q,
    /// The deployment's datasets.
    pub datasets: Vec<Dataset>,
    /// Ask the catalog whether the table exists before creating it (see
    /// [`config::TABLE_LOOKUP`]).
    pub table_lookup: bool,
}

/// Starts the next DDL statement, if any.
pub async fn handle<S: ObjectStore, Q: QueryEngine>(
    deps: &Deps<S, Q>,
    request: CatalogRequest,
) -> Result<CatalogStep, StageError> {
    let t = &request.transform;
    let dataset = dataset_named(&deps.datasets, &t.dataset)?;
    let previous = request.catalog.as_ref();
    let next = previous.map_or(0, |p| p.next);
    if t.records_written == 0 {
        return Ok(done(next, 0));
    }
    let summary_uri = S3Uri::parse_object(&t.summary_uri)?;
    let body = match deps
        .objects
        .get(&summary_uri.bucket, &summary_uri.key)
        .await
    {
        Ok(body) => body,
        // The transform deletes a generation's summary with its files once a later attempt of
        // the key replaced it (or the object was removed): that attempt's own execution registers
        // what the table holds now, and these partitions may hold nothing.
        Err(e) if e.kind == FailureKind::NotFound => {
            info!(dataset = %dataset.name, object = %t.object.uri(), summary = %t.summary_uri, "the generation was replaced before its partitions were registered; nothing to do");
            return Ok(done(next, 0));
        }
        Err(e) => return Err(e.into()),
    };
    let summary: Summary = serde_json::from_slice(&body).map_err(|e| {
        StageError::bad_input(format!("{}: not a transform summary: {e}", t.summary_uri))
    })?;
    let statements = sql::add_partitions(dataset, &t.table_location, &summary.partitions)?;
    let total = statements.len() as u32;

    let previous_statement = previous.and_then(|p| p.statement);
    let (kind, sql, database, next_after) = match previous_statement {
        // First call: ask the catalog once whether the table is there.
        None if !deps.table_lookup
            || !deps
                .queries
                .table_exists(&dataset.database, &dataset.table)
                .await? =>
        {
            (CreateDatabase, sql::create_database(dataset)?, None, next)
        }
        Some(CreateDatabase) => (
            CreateTable,
            sql::create_table(dataset, &t.table_location)?,
            Some(dataset.database.as_str()),
            next,
        ),
        _ if next < total => (
            AddPartitions,
            statements[next as usize].clone(),
            Some(dataset.database.as_str()),
            next + 1,
        ),
        _ => return Ok(done(next, total)),
    };
    let id = deps.queries.start(&sql, database).await?;
    let more = kind != AddPartitions || next_after < total;
    info!(dataset = %dataset.name, statement = ?kind, query_execution_id = %id, next = next_after, total, more, "started DDL");
    Ok(CatalogStep {
        query_execution_id: Some(id),
        statement: Some(kind),
        next: next_after,
        total,
        more,
    })
}

fn done(next: u32, total: u32) -> CatalogStep {
    CatalogStep {
        query_execution_id: None,
        statement: None,
        next,
        total,
        more: false,
    }
}

#[cfg(test)]
mod tests;
