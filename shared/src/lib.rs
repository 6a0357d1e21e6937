//! The pipeline core: dataset definitions, the streaming JSON → Parquet transform, the output
//! layout and Athena DDL. No AWS SDK in here: plain Rust over bytes, files and the ports
//! ([`ports`], [`output::OutputStore`]) that the AWS adapters (crate `etl-aws`) and the local
//! adapters implement.
//!
//! The transform is a pipeline of stages, composed in [`engine`]: [`decode`] → [`mapping`] →
//! [`partition`] → [`writer`] (with [`parquet_out`]), rejected records in [`rejected`], counts
//! and the quality verdict in [`summary`]. Every name the pipeline stores things under comes from
//! [`layout`].

pub mod contract;
pub mod dataset;
pub mod decode;
#[cfg(test)]
mod differential_tests;
pub mod engine;
pub mod layout;
pub mod manifest;
pub mod mapping;
pub mod nested;
pub mod numbers;
pub mod output;
pub mod parquet_out;
pub mod partition;
pub mod port_error;
pub mod ports;
pub mod read_ahead;
#[cfg(test)]
mod reference;
pub mod rejected;
pub mod sql;
pub mod summary;
pub mod timefmt;
pub mod writer;

pub use dataset::Dataset;
pub use engine::{Engine, TransformError};
pub use layout::SourceObject;
pub use summary::Summary;
