//! The config file as written: the serde structs that define which keys the
//! file accepts, their types, and (through `#[serde(default)]`, filled from
//! `defaults.rs`) what a key left out means. Nothing is checked beyond types
//! here; `validate.rs` turns a [`FileConfig`] into [`Settings`](super::Settings).
//!
//! Every struct denies unknown fields, so a misspelt key is an error naming
//! the key, the file and the line. The list of keys in `keys.rs` is read off
//! these structs, so a field added here is a documented, reloadable key with
//! no second list to update.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::secret::Secret;
use super::settings::{FsyncPolicy, Limits, LogFormat, Registration};

/// The whole file. A key left out takes its value from `FileConfig::default()`.
/// The fields are in the order of [`Settings`](super::Settings)'s, which is
/// also the order in which a reload reports what changed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileConfig {
    pub server_name: String,
    /// `None`, or `""`: no message of the day.
    pub motd: Option<String>,
    /// `None`: no password.
    pub password: Option<Secret>,
    /// `None`: the default, which (unlike a path written in the file) is not
    /// relative to the file's directory.
    pub state_dir: Option<PathBuf>,
    pub listen: Vec<FileListener>,
    pub tls: FileTls,
    pub limits: Limits,
    pub room: Vec<FileRoom>,
    pub log_level: String,
    pub log_format: LogFormat,
    #[serde(deserialize_with = "duration::deserialize")]
    pub shutdown_timeout: Duration,
    /// `None`: no message logs on disk.
    pub log: Option<FileLog>,
    pub accounts: FileAccounts,
}

/// The `[accounts]` table (protocol 1.2).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileAccounts {
    pub registration: Registration,
    /// Account names of the server operators.
    pub operators: Vec<String>,
}

/// One `[[listen]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileListener {
    /// Kept as text so that a bad address gets our message, with an example,
    /// rather than the standard library's "invalid socket address syntax".
    pub addr: String,
    #[serde(default = "super::defaults::listen_tls")]
    pub tls: bool,
    #[serde(default)]
    pub allow_insecure_plaintext: bool,
    /// Serve the web client and the WebSocket endpoint instead of the line
    /// protocol.
    #[serde(default)]
    pub websocket: bool,
    /// Page origins allowed to open the WebSocket (`https://chat.example.org`);
    /// none: the listener's own origin only.
    #[serde(default)]
    pub origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// The `[tls]` table: both files, or neither for a self-signed certificate.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// One `[[room]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRoom {
    pub name: String,
    /// Empty: no topic.
    #[serde(default)]
    pub topic: String,
}

/// The `[log]` table. A key left out takes its value from `FileLog::default()`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileLog {
    /// Optional here only so that a `[log]` table without it gets an error
    /// that explains what the table does, rather than serde's "missing field".
    pub dir: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    #[serde(deserialize_with = "duration::deserialize")]
    pub fsync_interval: Duration,
    pub retention_days: u32,
    pub private: bool,
}
