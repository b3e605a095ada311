//! The validated settings the server runs on, with real types (`SocketAddr`,
//! `Duration`, `PathBuf`). Everything in here has passed the checks in
//! `validate.rs`; the rest of the server reads these types and never the file.
//!
//! `Limits`, `LogFormat` and `FsyncPolicy` are read straight from the file by
//! serde (their values need no conversion, only the checks); the other types
//! are built from the raw tables of `file.rs`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::secret::Secret;
use crate::protocol::names::RoomName;

/// Validated settings for one server run: file values, then CLI overrides.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Name reported in the `hello` response (default: the host name).
    pub server_name: String,
    /// Message of the day, sent in the `hello` response.
    pub motd: Option<String>,
    /// Server password every `hello` must carry.
    pub password: Option<Secret>,
    /// Where the generated certificate (and later, other state) lives.
    pub state_dir: PathBuf,
    /// Listening sockets, at least one.
    pub listeners: Vec<ListenerSettings>,
    /// Where the TLS certificate comes from.
    pub tls: TlsSource,
    /// Resource limits and timeouts.
    pub limits: Limits,
    /// Rooms that exist from start and are never dropped.
    pub rooms: Vec<ConfiguredRoom>,
    /// Log filter used when `RUST_LOG` is not set (e.g. "info", "confab=debug").
    pub log_level: String,
    /// How log lines are written: plain text or JSON objects.
    pub log_format: LogFormat,
    /// How long a graceful shutdown may take before connections are cut.
    pub shutdown_timeout: Duration,
    /// Message logs on disk; `None` (the default) keeps rooms in memory only.
    pub log: Option<LogSettings>,
    /// Who may register accounts, and who the server operators are.
    pub accounts: AccountSettings,
}

/// Who may make a nick an account (`[accounts] registration`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone, for their own nick.
    #[default]
    Open,
    /// Only server operators, for any nick.
    Closed,
    /// Nobody; existing accounts still log in.
    Off,
}

impl Registration {
    /// The value as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::Closed => "closed",
            Registration::Off => "off",
        }
    }
}

/// The `[accounts]` table, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSettings {
    pub registration: Registration,
    /// The server operators' account names, ASCII-lowercased (account names
    /// compare like nicks, ignoring case).
    pub operators: Vec<String>,
}

impl AccountSettings {
    /// Whether `account` is a server operator.
    pub fn is_operator(&self, account: &str) -> bool {
        self.operators
            .iter()
            .any(|operator| operator.eq_ignore_ascii_case(account))
    }
}

/// How the server writes its own log lines on stderr (`log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (without timestamps and with a syslog priority
    /// prefix under journald, which stamps and ranks lines itself).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// The value as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Where and how room messages are logged to disk (the `[log]` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The log directory: one subdirectory per room, one JSONL file per UTC day.
    pub dir: PathBuf,
    /// When appended lines are made durable.
    pub fsync: FsyncPolicy,
    /// With [`FsyncPolicy::Interval`], the longest time a written line waits for
    /// its fsync.
    pub fsync_interval: Duration,
    /// Day files older than this many days are removed; 0 keeps them forever.
    pub retention_days: u32,
    /// Log private messages too (in `DIR/@private/`).
    pub private: bool,
}

/// When the message log calls fsync (`log.fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Before a message is delivered or acknowledged (concurrent messages share
    /// one fsync): an acknowledged message survives a crash of the machine.
    Always,
    /// Every `fsync_interval`: a crash of the machine (not of the server alone)
    /// may lose the last interval's messages.
    Interval,
    /// Never: the operating system writes the files back when it sees fit.
    Never,
}

impl FsyncPolicy {
    /// The policy's name, as the config file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Interval => "interval",
            FsyncPolicy::Never => "never",
        }
    }
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    /// Address to bind; port 0 lets the system pick one.
    pub addr: SocketAddr,
    /// false: plaintext (accepted on loopback only unless `allow_insecure_plaintext`).
    pub tls: bool,
    /// `Some`: this listener serves browsers (the web client and the
    /// WebSocket endpoint), not the line protocol.
    pub web: Option<WebSettings>,
}

/// What a WebSocket listener checks before it lets a browser in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// Origins allowed to open the WebSocket, as `scheme://host[:port]`, lower
    /// case; empty: the listener's own origin only (the page it serves).
    pub origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` names the real client.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Where the server's certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Generate a self-signed certificate once and keep it in `state_dir`.
    SelfSigned,
    /// PEM files named in the config.
    Files { cert: PathBuf, key: PathBuf },
}

/// A room declared in the config: it exists from start and is never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredRoom {
    /// The normalized name (`#General` in the file is `general`).
    pub name: RoomName,
    /// Initial topic; empty for none.
    pub topic: String,
}

/// Every bound and timeout the server enforces: the `[limits]` table, read as
/// it is (a key left out takes its value from `Limits::default()`, in
/// `defaults.rs`) and then checked as a whole.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Registered clients served at once (a successful `hello`); more get
    /// `bye` "server full".
    pub max_connections: usize,
    /// Connections still in their TLS handshake or before a successful
    /// `hello`, counted apart from `max_connections`; more get `bye` "server
    /// full".
    pub max_pending_connections: usize,
    /// Connections from one address (IPv4) or one /64 (IPv6), pending and
    /// registered; more get `too_many_connections`.
    pub max_connections_per_address: usize,
    /// Longest line a client may send, in bytes (at least 1024).
    pub max_line_bytes: usize,
    /// Longest message text, in bytes (at most `max_line_bytes`).
    pub max_text_bytes: usize,
    /// Rooms one connection may be in at once.
    pub max_rooms: usize,
    /// Messages kept per room.
    pub history_keep: usize,
    /// Most messages one `join` or `history` response returns.
    pub history_max: usize,
    /// Messages a `join` returns by default (never more than `history_max`).
    pub history_on_join: usize,
    /// Most bytes of one `join`, `history` or `rooms` answer (the whole `ok`
    /// line): a page stops before the item that would cross it, with `more`.
    /// At least `max_line_bytes`; with `max_line_bytes` more, at most the
    /// room between the two queue bounds, so every answer fits the client's
    /// queue.
    pub max_page_bytes: usize,
    /// Bytes of room history all rooms together keep in memory; beyond it the
    /// oldest messages of any room are forgotten first (a message log still
    /// has them). 0 keeps no history in memory.
    pub history_memory_bytes: usize,
    /// Rooms in memory at once, configured rooms included; a `join` that would
    /// bring one more gets `too_many_rooms`.
    pub max_total_rooms: usize,
    /// New rooms one connection may create a minute (a bucket of that many,
    /// refilled over a minute); beyond it such a `join` gets `rate_limited`.
    pub room_creations_per_minute: u32,
    /// Soft bound on one client's outbound queue, in bytes (at least
    /// `max_line_bytes`): beyond it, whoever can wait (a room's next batch, a
    /// private message, the client's own next request) waits for the client to
    /// drain, up to `drain_grace`.
    pub outbound_queue_bytes: usize,
    /// Hard bound on one client's outbound queue, in bytes (at least
    /// `outbound_queue_bytes` + `max_line_bytes`): a frame that would take the
    /// queue beyond it cuts the client off as a slow consumer.
    pub outbound_queue_max_bytes: usize,
    /// Longest time anyone waits for one client to drain its outbound queue
    /// below `outbound_queue_bytes`; a client that made them wait that long is
    /// not waited for again until it has caught up (0: never wait).
    #[serde(deserialize_with = "duration::deserialize")]
    pub drain_grace: Duration,
    /// Request bucket size per connection.
    pub rate_burst: u32,
    /// Request bucket refill rate, above 0.
    pub rate_per_second: f64,
    /// `ping` bucket size per connection (pings have a bucket of their own).
    pub ping_rate_burst: u32,
    /// `ping` bucket refill rate, above 0.
    pub ping_rate_per_second: f64,
    /// Time allowed for the TLS handshake.
    #[serde(deserialize_with = "duration::deserialize")]
    pub handshake_timeout: Duration,
    /// Time allowed until a successful `hello`.
    #[serde(deserialize_with = "duration::deserialize")]
    pub registration_timeout: Duration,
    /// Silence after which the server sends `ping`.
    #[serde(deserialize_with = "duration::deserialize")]
    pub ping_interval: Duration,
    /// Silence after which the client is disconnected (longer than `ping_interval`).
    #[serde(deserialize_with = "duration::deserialize")]
    pub idle_timeout: Duration,
    /// Time one write to a client may take.
    #[serde(deserialize_with = "duration::deserialize")]
    pub write_timeout: Duration,
    /// Frames for a client queued within this time after a write to it wait
    /// and go out together in its next write (0: every frame at once).
    #[serde(deserialize_with = "duration::deserialize")]
    pub write_coalesce: Duration,
}
