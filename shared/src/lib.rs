//! The pipeline core: dataset definitions, the streaming JSON → Parquet transform, Hive layout and
//! Athena DDL. Pure Rust over bytes and files; AWS lives in the Lambda crates behind the
//! [`output::OutputStore`] port and the stage contract.

pub mod contract;
pub mod dataset;
pub mod decode;
pub mod engine;
pub mod hive;
#[cfg(test)]
mod hive_reference;
pub mod mapping;
pub mod numbers;
pub mod output;
pub mod parquet_out;
pub mod ports;
pub mod read_ahead;
pub mod sql;
pub mod summary;
pub mod timefmt;

pub use dataset::Dataset;
pub use engine::{Engine, SourceObject, TransformError};
pub use summary::Summary;
