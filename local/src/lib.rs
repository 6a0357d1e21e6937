//! The whole pipeline on one machine, with no AWS account and no Docker.
//!
//! [`stack::Stack`] starts moto server (S3, Step Functions with its interpreter running the real
//! `statemachine/pipeline.asl.json`, Athena, SNS, SQS), the five real function binaries under
//! `cargo lambda watch`, and an invoke proxy so that the state machine run by moto calls them.
//! [`pipeline`] drives it as AWS would: object in the raw bucket → S3 event to s3-trigger →
//! execution → Parquet, rejected records, DDL, failure messages. `make run` and the end-to-end
//! tests in `tests/` use both.

pub mod aws;
pub mod pipeline;
pub mod process;
pub mod proxy;
pub mod stack;

pub use pipeline::{Execution, Published, RawObject, TriggerOutcome};
pub use stack::{Stack, StackOptions};

/// The repository root: the nearest folder above `start` holding `statemachine/pipeline.asl.json`.
pub fn find_workspace(start: &std::path::Path) -> Option<std::path::PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("statemachine/pipeline.asl.json").is_file())
        .map(std::path::Path::to_path_buf)
}
