//! Server configuration: the TOML file's shape, its defaults, and the validated
//! [`Settings`] the rest of the server runs on. Everything that can be wrong in a
//! config file is caught here, with the file and key named, before anything binds.
//!
//! Each key is defined once. The pieces, by concern:
//! - `file.rs`: the file as written, serde structs that deny unknown keys;
//!   they are the list of keys and their types.
//! - `defaults.rs`: what every key left out means.
//! - `validate.rs`: each key's check, from the file to [`Settings`].
//! - `keys.rs`: the file's top-level entries with what a reload does with
//!   each ([`SECTIONS`]), and every key ([`config_keys`]) read off the structs.
//! - `settings.rs`: the validated types; `duration.rs`, `secret.rs` and
//!   `error.rs`: a duration key's parser, the masked password, the error.
//!
//! Relative paths in a config file (`state_dir`, `tls.cert`, `tls.key`, `log.dir`) are taken
//! relative to the file's own directory, so a config means the same thing whatever
//! directory the server is started from.

use std::path::Path;

use crate::cli::ServerArgs;

mod defaults;
mod duration;
mod error;
mod file;
mod keys;
mod secret;
mod settings;
mod validate;

pub use defaults::DEFAULT_PORT;
pub use error::ConfigError;
pub use keys::{config_keys, Applies, ConfigKey, Section, SECTIONS};
pub use secret::Secret;
pub use settings::{
    AccountSettings, ConfiguredRoom, FsyncPolicy, Limits, ListenerSettings, LogFormat, LogSettings,
    Registration, Settings, TlsSource, WebSettings,
};

use file::FileConfig;
use validate::{first_duplicate, Checker};

/// Longest server name, in bytes: a DNS name's limit, generous for anything else.
const MAX_SERVER_NAME_BYTES: usize = 253;

impl Settings {
    /// The settings of a server started without a config file: one TLS listener on
    /// `0.0.0.0:7667`, a self-signed certificate, the host name as server name.
    pub fn defaults() -> Settings {
        // The same path as a file that sets nothing, so the defaults pass the
        // same checks (a unit test holds them to it).
        FileConfig::default()
            .into_settings(&Checker::built_in())
            .unwrap_or_else(|err| panic!("the built-in defaults are refused: {err}"))
    }

    /// Parses and validates a config file's text. `origin` is the file's path: it
    /// names the file in errors and anchors relative paths.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Settings, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|err| ConfigError::Syntax {
            path: origin.to_path_buf(),
            message: err.to_string().trim_end().to_owned(),
        })?;
        file.into_settings(&Checker::for_file(origin))
    }

    /// The settings for `confab server`: the `--config` file (or the defaults when
    /// there is none), then the command-line overrides.
    pub fn load(args: &ServerArgs) -> Result<Settings, ConfigError> {
        let mut settings = match &args.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::defaults(),
        };
        if !args.listen.is_empty() {
            settings.listeners = args
                .listen
                .iter()
                .map(|&addr| ListenerSettings {
                    addr,
                    tls: true,
                    web: None,
                })
                .collect();
            if let Some((_, later)) = first_duplicate(&settings.listeners) {
                return Err(Checker::command_line().invalid(
                    "--listen",
                    format!("{} is given twice", settings.listeners[later].addr),
                ));
            }
        }
        Ok(settings)
    }

    fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Settings::from_toml_str(&text, path)
    }
}

#[cfg(test)]
mod tests;
