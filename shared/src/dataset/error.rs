//! Errors from loading a dataset definition. Each names the file and, where it can, the key.

/// A dataset definition that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be read.
    #[error("{file}: cannot read dataset definition: {source}")]
    Io {
        /// The definition file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML/JSON, has an unknown key or a value of the wrong type.
    #[error("{file}: {message}")]
    Parse {
        /// The definition file.
        file: String,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// The file parses but says something impossible.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The definition file.
        file: String,
        /// The offending key, e.g. `fields[2].type`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Several problems in one file, each with its key, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<DatasetError>),
}
