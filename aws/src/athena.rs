//! Athena: DDL against the Glue Data Catalog, in one workgroup.

use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};
use aws_sdk_athena::Client;
use etl_core::contract::QueryState;
use etl_core::ports::{FailureKind, PortError, QueryEngine, QueryInfo};

use crate::error::port_error;

/// Runs queries in a workgroup (which enforces the result location).
#[derive(Debug, Clone)]
pub struct AthenaEngine {
    client: Client,
    workgroup: String,
    catalog: String,
}

impl AthenaEngine {
    /// An engine for `workgroup`, on the `AwsDataCatalog` (Glue) catalog.
    pub fn new(client: Client, workgroup: impl Into<String>) -> Self {
        Self {
            client,
            workgroup: workgroup.into(),
            catalog: "AwsDataCatalog".into(),
        }
    }
}

impl QueryEngine for AthenaEngine {
    async fn table_exists(&self, database: &str, table: &str) -> Result<bool, PortError> {
        let result = self
            .client
            .get_table_metadata()
            .catalog_name(&self.catalog)
            .database_name(database)
            .table_name(table)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = port_error(format!("GetTableMetadata {database}.{table}"), e);
                // Athena answers a missing table (or database) with MetadataException.
                if err.kind == FailureKind::NotFound
                    || (err.code == "MetadataException"
                        && err.message.to_lowercase().contains("not found"))
                {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn start(&self, sql: &str, database: Option<&str>) -> Result<String, PortError> {
        let out = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .catalog(&self.catalog)
                    .set_database(database.map(String::from))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| port_error("StartQueryExecution", e))?;
        out.query_execution_id.ok_or_else(|| {
            PortError::new(
                FailureKind::Retryable,
                "StartQueryExecution",
                "NoQueryExecutionId",
                "Athena returned no query execution id",
            )
        })
    }

    async fn status(&self, query_execution_id: &str) -> Result<QueryInfo, PortError> {
        let out = self
            .client
            .get_query_execution()
            .query_execution_id(query_execution_id)
            .send()
            .await
            .map_err(|e| port_error(format!("GetQueryExecution {query_execution_id}"), e))?;
        let execution = out.query_execution;
        let status = execution.as_ref().and_then(|e| e.status.as_ref());
        let state = match status.and_then(|s| s.state.as_ref()) {
            Some(QueryExecutionState::Queued) | None => QueryState::Queued,
            Some(QueryExecutionState::Running) => QueryState::Running,
            Some(QueryExecutionState::Succeeded) => QueryState::Succeeded,
            Some(QueryExecutionState::Cancelled) => QueryState::Cancelled,
            Some(_) => QueryState::Failed,
        };
        let stats = execution.as_ref().and_then(|e| e.statistics.as_ref());
        Ok(QueryInfo {
            state,
            reason: status.and_then(|s| s.state_change_reason.clone()),
            engine_execution_ms: stats.and_then(|s| s.engine_execution_time_in_millis),
            data_scanned_bytes: stats.and_then(|s| s.data_scanned_in_bytes),
        })
    }
}
