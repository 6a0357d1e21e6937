//! catalog-update: makes the table and its new partitions known to the Glue Data Catalog through
//! Athena DDL, one statement per call. The state machine polls each query and comes back while
//! `more` is true:
//!
//! 1. table missing (asked once, on the first call) → `CREATE DATABASE IF NOT EXISTS`, then
//!    `CREATE EXTERNAL TABLE IF NOT EXISTS`;
//! 2. then the `ALTER TABLE … ADD IF NOT EXISTS PARTITION` statements for the partitions in the
//!    transform's summary (as many as Athena's query size limit needs).
//!
//! Every statement is idempotent, so a retried or repeated execution does no harm.

use etl_aws::lambda::{dataset_named, env_or, parse_s3_uri, StageError};
use etl_core::contract::{CatalogRequest, CatalogStep};
use etl_core::ports::{ObjectStore, QueryEngine};
use etl_core::{sql, Dataset, Summary};
use tracing::info;

/// What the handler needs.
pub struct Deps<S, Q> {
    /// Reads the transform summary.
    pub objects: S,
    /// Runs DDL.
    pub queries: Q,
    /// The deployment's datasets.
    pub datasets: Vec<Dataset>,
    /// Ask the catalog whether the table exists before creating it (`TABLE_LOOKUP=athena`, the
    /// default). Off (`TABLE_LOOKUP=off`), every execution runs the idempotent `CREATE … IF NOT
    /// EXISTS` statements: for emulators without `GetTableMetadata` (moto), at the price of two
    /// more DDL queries per object.
    pub table_lookup: bool,
}

/// Reads `TABLE_LOOKUP` (`athena` or `off`).
pub fn table_lookup_from_env() -> Result<bool, StageError> {
    match env_or("TABLE_LOOKUP", "athena").as_str() {
        "athena" => Ok(true),
        "off" => Ok(false),
        other => Err(StageError::bad_config(format!(
            "TABLE_LOOKUP is {other:?}; use athena (the default) or off"
        ))),
    }
}

/// Statement kinds, as reported in [`CatalogStep::statement`].
pub const CREATE_DATABASE: &str = "create_database";
/// See [`CREATE_DATABASE`].
pub const CREATE_TABLE: &str = "create_table";
/// See [`CREATE_DATABASE`].
pub const ADD_PARTITIONS: &str = "add_partitions";

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
    let (bucket, key) = parse_s3_uri(&t.summary_uri)?;
    let summary: Summary =
        serde_json::from_slice(&deps.objects.get(bucket, key).await?).map_err(|e| {
            StageError::bad_input(format!("{}: not a transform summary: {e}", t.summary_uri))
        })?;
    let statements =
        sql::add_partitions(dataset, &t.table_location, &summary.partitions).map_err(sql_error)?;
    let total = statements.len() as u32;

    let previous_statement = previous.and_then(|p| p.statement.as_deref());
    let (kind, sql, database, next_after) = match previous_statement {
        // First call: ask the catalog once whether the table is there.
        None if !deps.table_lookup
            || !deps
                .queries
                .table_exists(&dataset.database, &dataset.table)
                .await? =>
        {
            (
                CREATE_DATABASE,
                sql::create_database(dataset).map_err(sql_error)?,
                None,
                next,
            )
        }
        Some(CREATE_DATABASE) => (
            CREATE_TABLE,
            sql::create_table(dataset, &t.table_location).map_err(sql_error)?,
            Some(dataset.database.as_str()),
            next,
        ),
        _ if next < total => (
            ADD_PARTITIONS,
            statements[next as usize].clone(),
            Some(dataset.database.as_str()),
            next + 1,
        ),
        _ => return Ok(done(next, total)),
    };
    let id = deps.queries.start(&sql, database).await?;
    let more = kind != ADD_PARTITIONS || next_after < total;
    info!(dataset = %dataset.name, statement = kind, query_execution_id = %id, next = next_after, total, more, "started DDL");
    Ok(CatalogStep {
        query_execution_id: Some(id),
        statement: Some(kind.to_string()),
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

fn sql_error(e: sql::SqlError) -> StageError {
    StageError::bad_config(format!("cannot generate the DDL: {e}"))
}

#[cfg(test)]
mod tests;
