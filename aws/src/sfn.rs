//! Step Functions: starting one execution per raw object.

use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::Client;
use etl_core::ports::{ExecutionStarter, PortError, StartOutcome};

use crate::error::port_error;

/// Starts executions of one state machine.
#[derive(Debug, Clone)]
pub struct SfnStarter {
    client: Client,
    state_machine_arn: String,
}

impl SfnStarter {
    /// A starter for `state_machine_arn`.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }
}

impl ExecutionStarter for SfnStarter {
    async fn start(&self, name: &str, input: &str) -> Result<StartOutcome, PortError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            Ok(out) => Ok(StartOutcome::Started(out.execution_arn)),
            // Same name, same input: a duplicate delivery of the same S3 event.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(StartExecutionError::ExecutionAlreadyExists(_))
                ) =>
            {
                Ok(StartOutcome::AlreadyExists)
            }
            Err(e) => Err(port_error(format!("StartExecution {name}"), e)),
        }
    }
}
