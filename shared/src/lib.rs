//! The pipeline core: dataset definitions, the streaming JSON → Parquet transform, Hive layout and
//! Athena DDL. Pure Rust over bytes and files; AWS lives in the Lambda crates behind the
//! [`output::OutputStore`] port and the stage contract.

pub mod contract;
pub mod dataset;
pub mod decode;
#[cfg(test)]
mod differential_tests;
pub mod engine;
pub mod hive;
pub mod mapping;
pub mod numbers;
pub mod output;
pub mod parquet_out;
pub mod ports;
pub mod read_ahead;
#[cfg(test)]
mod reference;
pub mod sql;
pub mod summary;
pub mod timefmt;

pub use dataset::Dataset;
pub use engine::{Engine, SourceObject, TransformError};
pub use summary::Summary;
