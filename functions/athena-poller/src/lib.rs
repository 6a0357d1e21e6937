//! athena-poller: one `GetQueryExecution`, reported for the state machine's Choice state. The
//! poll count travels with the status so the state machine can bound the Wait → Poll loop.

pub mod config;

use etl_aws::lambda::StageError;
use etl_core::contract::{PollRequest, QueryStatus};
use etl_core::ports::QueryEngine;
use tracing::info;

pub use config::Config;

/// Reports the query's state.
pub async fn handle<Q: QueryEngine>(
    queries: &Q,
    request: PollRequest,
) -> Result<QueryStatus, StageError> {
    let info = queries.status(&request.query_execution_id).await?;
    let status = QueryStatus {
        query_execution_id: request.query_execution_id,
        state: info.state,
        reason: info.reason,
        polls: request.polls + 1,
        engine_execution_ms: info.engine_execution_ms,
        data_scanned_bytes: info.data_scanned_bytes,
    };
    info!(query_execution_id = %status.query_execution_id, state = ?status.state, polls = status.polls, "polled");
    Ok(status)
}

#[cfg(test)]
mod tests {
    use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
    use aws_sdk_athena::types::{QueryExecution, QueryExecutionState, QueryExecutionStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use etl_aws::athena::AthenaEngine;
    use etl_core::contract::QueryState;

    use super::*;

    const EVENT: &str = include_str!("../../../events/athena-poller.json");

    fn output(state: QueryExecutionState, reason: Option<&str>) -> GetQueryExecutionOutput {
        GetQueryExecutionOutput::builder()
            .query_execution(
                QueryExecution::builder()
                    .status(
                        QueryExecutionStatus::builder()
                            .state(state)
                            .set_state_change_reason(reason.map(String::from))
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn running_then_succeeded_counts_polls() {
        let rule = mock!(aws_sdk_athena::Client::get_query_execution)
            .match_requests(|r| {
                r.query_execution_id() == Some("5b8b5e5e-1c1e-4bcb-9d36-2f0c4c2d3b8a")
            })
            .sequence()
            .output(|| output(QueryExecutionState::Running, None))
            .output(|| output(QueryExecutionState::Succeeded, None))
            .build();
        let engine = AthenaEngine::new(
            mock_client!(aws_sdk_athena, RuleMode::Sequential, [&rule]),
            "etl",
        );
        let request: PollRequest = serde_json::from_str(EVENT).unwrap();
        let first = handle(&engine, request.clone()).await.unwrap();
        assert_eq!((first.state, first.polls), (QueryState::Running, 1));
        let second = handle(
            &engine,
            PollRequest {
                polls: first.polls,
                ..request
            },
        )
        .await
        .unwrap();
        assert_eq!((second.state, second.polls), (QueryState::Succeeded, 2));
        assert_eq!(serde_json::to_value(&second).unwrap()["state"], "SUCCEEDED");
    }

    #[tokio::test]
    async fn a_failed_query_carries_athena_reason() {
        let rule = mock!(aws_sdk_athena::Client::get_query_execution).then_output(|| {
            output(
                QueryExecutionState::Failed,
                Some("FAILED: SemanticException table not found"),
            )
        });
        let engine = AthenaEngine::new(mock_client!(aws_sdk_athena, [&rule]), "etl");
        let status = handle(&engine, serde_json::from_str(EVENT).unwrap())
            .await
            .unwrap();
        assert_eq!(status.state, QueryState::Failed);
        assert_eq!(
            status.reason.as_deref(),
            Some("FAILED: SemanticException table not found")
        );
    }

    #[tokio::test]
    async fn an_unknown_query_is_not_found() {
        let rule = mock!(aws_sdk_athena::Client::get_query_execution).then_http_response(|| etl_aws::testing::http_response(400, r#"{"__type":"InvalidRequestException","Message":"QueryExecution 5b8b is not found"}"#));
        let engine = AthenaEngine::new(mock_client!(aws_sdk_athena, [&rule]), "etl");
        let err = handle(&engine, serde_json::from_str(EVENT).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.name, "Permanent");
        assert!(
            err.message.contains("InvalidRequestException"),
            "{}",
            err.message
        );
    }
}
