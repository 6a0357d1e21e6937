//! What every Lambda shares: stable error names for the state machine, typed configuration from
//! the environment, the embedded dataset definitions, and logging set-up.

use std::fmt;

use etl_core::contract::ErrorName;
use etl_core::dataset::DatasetError;
use etl_core::layout::NotAnS3Uri;
use etl_core::manifest::ManifestError;
use etl_core::ports::{FailureKind, PortError};
use etl_core::sql::SqlError;
use etl_core::{Dataset, TransformError};
use lambda_runtime::Diagnostic;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/datasets.rs"));
}

/// A stage failure: a stable name the state machine's `Retry`/`Catch` match, and a message that
/// says what, where and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageError {
    /// The name the state machine sees.
    pub name: ErrorName,
    /// For a person.
    pub message: String,
}

impl StageError {
    /// An error with this name.
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }

    /// A `BadInput` error.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorName::BadInput, message)
    }

    /// A `BadConfig` error.
    pub fn bad_config(message: impl Into<String>) -> Self {
        Self::new(ErrorName::BadConfig, message)
    }

    /// A `Retryable` error.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorName::Retryable, message)
    }

    /// A `Permanent` error.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorName::Permanent, message)
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for StageError {}

impl From<PortError> for StageError {
    fn from(e: PortError) -> Self {
        let name = match e.kind {
            FailureKind::Retryable => ErrorName::Retryable,
            FailureKind::NotFound => ErrorName::NotFound,
            FailureKind::Permanent => ErrorName::Permanent,
        };
        Self::new(name, e.to_string())
    }
}

/// A stage message names a URI that is not one: the message it came in is wrong.
impl From<NotAnS3Uri> for StageError {
    fn from(e: NotAnS3Uri) -> Self {
        Self::bad_input(e.to_string())
    }
}

/// A dataset definition that does not compile: the deployment is wrong.
impl From<DatasetError> for StageError {
    fn from(e: DatasetError) -> Self {
        Self::bad_config(e.to_string())
    }
}

/// DDL that cannot be generated: a dataset or a location the catalog cannot take.
impl From<SqlError> for StageError {
    fn from(e: SqlError) -> Self {
        Self::bad_config(format!("cannot generate the DDL: {e}"))
    }
}

/// The manifest could not be read or written: `Retryable` when the store was, or when other
/// attempts kept winning; a corrupt manifest is `Permanent` (its message says what to do).
impl From<ManifestError> for StageError {
    fn from(e: ManifestError) -> Self {
        match e {
            ManifestError::Store(e) => e.into(),
            e if e.is_retryable() => Self::retryable(e.to_string()),
            e => Self::permanent(e.to_string()),
        }
    }
}

/// Bad data is `BadInput`, storage hiccups `Retryable`, anything else `Permanent`; the
/// engine has taken back whatever it wrote.
impl From<TransformError> for StageError {
    fn from(e: TransformError) -> Self {
        let message = format!(
            "{e}. What this attempt wrote was taken back: the table holds what it held before."
        );
        if e.is_retryable() {
            return Self::retryable(message);
        }
        match e {
            TransformError::Input { .. } | TransformError::Limit { .. } => {
                Self::bad_input(format!(
                    "{message} Fix the object (or the dataset definition) and upload it again."
                ))
            }
            TransformError::Output { .. } => Self::permanent(message),
        }
    }
}

impl From<StageError> for Diagnostic {
    fn from(e: StageError) -> Self {
        Diagnostic {
            error_type: e.name.as_str().to_string(),
            error_message: e.message,
        }
    }
}

/// A required environment variable, or a `BadConfig` error naming it.
pub fn env(name: &str) -> Result<String, StageError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(StageError::bad_config(format!(
            "environment variable {name} is not set; it is set by template.yaml (for a local run, export it)"
        ))),
    }
}

/// An optional environment variable with a default.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The dataset definitions built into this binary, validated.
pub fn embedded_datasets() -> Result<Vec<Dataset>, StageError> {
    let datasets = embedded::DATASETS
        .iter()
        .map(|(origin, text)| {
            if origin.ends_with(".json") {
                Dataset::from_json_str(text, origin)
            } else {
                Dataset::from_toml_str(text, origin)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(StageError::bad_config(format!(
            "two dataset definitions are named {:?}",
            w[0]
        )));
    }
    Ok(datasets)
}

/// Points the functions at definition files instead of the built-in ones (local runs).
pub const DATASETS_PATH: &str = "DATASETS_PATH";

/// The datasets this function serves: the definitions built into the binary or, when
/// [`DATASETS_PATH`] names a definition file or a folder of them, those (so a local run can try a
/// definition without rebuilding). Validated either way; any problem is a `BadConfig` error.
pub fn deployment_datasets() -> Result<Vec<Dataset>, StageError> {
    let Some(path) = std::env::var_os(DATASETS_PATH).filter(|p| !p.is_empty()) else {
        return embedded_datasets();
    };
    let path = std::path::Path::new(&path);
    let loaded = if path.is_dir() {
        Dataset::load_dir(path)
    } else {
        Dataset::load(path).map(|d| vec![d])
    };
    loaded.map_err(|e| StageError::bad_config(format!("{DATASETS_PATH}: {e}")))
}

/// Finds a dataset by name.
pub fn dataset_named<'d>(datasets: &'d [Dataset], name: &str) -> Result<&'d Dataset, StageError> {
    datasets
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| unknown_dataset(name, datasets.iter().map(|d| d.name.as_str())))
}

/// The `BadConfig` error for a dataset this deployment does not have.
pub fn unknown_dataset<'n>(name: &str, known: impl Iterator<Item = &'n str>) -> StageError {
    StageError::bad_config(format!(
        "no dataset named {name:?} in this deployment (known: {}); add datasets/{name}.toml and redeploy",
        known.collect::<Vec<_>>().join(", ")
    ))
}

/// Logs to stdout, JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (SAM's `LoggingConfig` sets it),
/// at the level of `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO.
///
/// Like the runtime's own default subscriber, without its per-target filter directives: those
/// need a regex engine, half a megabyte of every `bootstrap`. A level is all the template sets;
/// `RUST_LOG` values other than a level (`info,hyper=warn`) mean INFO.
pub fn init_logging() {
    let level = |name| std::env::var(name).ok().and_then(|v| log_level(&v));
    let level = level("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| level("RUST_LOG"))
        .unwrap_or(tracing::Level::INFO);
    let logs = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_ansi(false);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // `try_init`: a second call (tests) keeps the first subscriber.
    let _ = if json {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
}

/// A log level by name; Lambda's names (`TRACE` … `FATAL`) and `tracing`'s, any case.
fn log_level(name: &str) -> Option<tracing::Level> {
    match name.trim().to_ascii_lowercase().as_str() {
        "trace" => Some(tracing::Level::TRACE),
        "debug" => Some(tracing::Level::DEBUG),
        "info" => Some(tracing::Level::INFO),
        "warn" => Some(tracing::Level::WARN),
        "error" | "fatal" => Some(tracing::Level::ERROR),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_by_lambda_and_tracing_names() {
        assert_eq!(log_level("DEBUG"), Some(tracing::Level::DEBUG));
        assert_eq!(log_level("FATAL"), Some(tracing::Level::ERROR));
        assert_eq!(log_level(" warn "), Some(tracing::Level::WARN));
        assert_eq!(log_level("info,hyper=warn"), None);
    }

    #[test]
    fn embedded_datasets_are_valid_and_include_the_example() {
        let all = embedded_datasets().unwrap();
        assert!(all
            .iter()
            .any(|d| d.name == "iot_sensors" && d.origin == "datasets/iot_sensors.toml"));
        assert!(dataset_named(&all, "iot_sensors").is_ok());
        let err = dataset_named(&all, "nope").unwrap_err();
        assert_eq!(err.name, "BadConfig");
        assert!(
            err.message.contains("add datasets/nope.toml and redeploy"),
            "{}",
            err.message
        );
    }

    #[test]
    fn datasets_path_replaces_the_built_in_definitions() {
        // The only test that reads DATASETS_PATH, so setting it here races with nothing.
        let root = env!("CARGO_MANIFEST_DIR").to_string() + "/../datasets";
        std::env::set_var(DATASETS_PATH, format!("{root}/iot_sensors.toml"));
        let one = deployment_datasets().unwrap();
        assert_eq!(one.len(), 1);
        assert!(one[0].origin.ends_with("datasets/iot_sensors.toml"));
        std::env::set_var(DATASETS_PATH, &root);
        assert_eq!(
            deployment_datasets().unwrap().len(),
            embedded_datasets().unwrap().len()
        );
        std::env::set_var(DATASETS_PATH, format!("{root}/missing.toml"));
        let err = deployment_datasets().unwrap_err();
        assert_eq!(err.name, "BadConfig");
        assert!(
            err.message.starts_with("DATASETS_PATH: "),
            "{}",
            err.message
        );
        assert!(err.message.contains("missing.toml"), "{}", err.message);
        std::env::remove_var(DATASETS_PATH);
        let built_in = deployment_datasets().unwrap();
        assert!(built_in.iter().all(|d| d.origin.starts_with("datasets/")));
    }

    #[test]
    fn port_errors_keep_their_kind_and_service_code() {
        let e: StageError = PortError::new(
            FailureKind::Retryable,
            "GetObject s3://b/k",
            "SlowDown",
            "Please reduce your request rate.",
        )
        .into();
        assert_eq!(e.name, "Retryable");
        assert_eq!(
            e.message,
            "GetObject s3://b/k: SlowDown: Please reduce your request rate."
        );
        let d: Diagnostic = StageError::bad_input("x").into();
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("BadInput", "x")
        );
        let nf: StageError =
            PortError::new(FailureKind::NotFound, "op", "NoSuchKey", "gone").into();
        assert_eq!(nf.name, "NotFound");
    }
}
