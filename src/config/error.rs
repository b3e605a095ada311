//! Why a configuration was refused: the one error type of `config`, whose
//! messages always start with where the value came from.

use std::path::PathBuf;

/// Why a configuration was refused. Every message starts with where the value came
/// from (the file, or the command line) and names the key when there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("{}: cannot read the config file: {cause}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why it could not be read.
        cause: std::io::Error,
    },
    /// The file is not TOML or does not have the config's shape (unknown key, wrong
    /// type, bad duration, unknown enumerated value, missing field); toml's
    /// message names the key and shows the line.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// toml's message, with the line and a caret under the key.
        message: String,
    },
    /// A value of the right type that is not acceptable.
    #[error("{origin}: {key}: {message}")]
    Invalid {
        /// The config file's path, or "command line".
        origin: String,
        /// The dotted key, e.g. `limits.ping_interval` or `room[0].name`.
        key: String,
        /// What is wrong with the value.
        message: String,
    },
}
