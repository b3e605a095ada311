//! Server configuration: the TOML file's shape, its defaults, and the validated
//! [`Settings`] the rest of the server runs on. Everything that can be wrong in a
//! config file is caught here, with the file and key named, before anything binds.
//!
//! Relative paths in a config file (`state_dir`, `tls.cert`, `tls.key`, `log.dir`) are taken
//! relative to the file's own directory, so a config means the same thing whatever
//! directory the server is started from.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::ServerArgs;
use crate::protocol::names::{check_text, check_topic, RoomName};

/// The port confab listens on when nothing else is configured.
pub const DEFAULT_PORT: u16 = 7667;

/// Every key a config file accepts, dotted; keys of `[[listen]]` and `[[room]]`
/// entries are listed once (`listen.addr`), whatever the number of entries.
pub const CONFIG_KEYS: &[&str] = &[
    "server_name",
    "motd",
    "password",
    "state_dir",
    "log_level",
    "log_format",
    "shutdown_timeout",
    "listen.addr",
    "listen.tls",
    "listen.allow_insecure_plaintext",
    "tls.cert",
    "tls.key",
    "limits.max_connections",
    "limits.max_line_bytes",
    "limits.max_text_bytes",
    "limits.max_rooms",
    "limits.history_keep",
    "limits.history_max",
    "limits.history_on_join",
    "limits.outbound_queue_bytes",
    "limits.rate_burst",
    "limits.rate_per_second",
    "limits.handshake_timeout",
    "limits.registration_timeout",
    "limits.ping_interval",
    "limits.idle_timeout",
    "limits.write_timeout",
    "room.name",
    "room.topic",
    "log.dir",
    "log.fsync",
    "log.fsync_interval",
    "log.retention_days",
    "log.private",
];

/// A line must at least hold a `hello` with a long nick and password, or a
/// `join` with a long room name; below this the server would be unusable.
const MIN_LINE_BYTES: usize = 1024;
/// Longest message of the day, in bytes.
const MAX_MOTD_BYTES: usize = 4096;
/// Longest server name, in bytes: a DNS name's limit, generous for anything else.
const MAX_SERVER_NAME_BYTES: usize = 253;

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
}

/// How the server writes its own log lines on stderr (`log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (without timestamps and with a syslog priority
    /// prefix under journald, which stamps and ranks lines itself).
    #[default]
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

/// When the message log calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl LogSettings {
    /// The settings of a `[log]` table that only names `dir`.
    pub fn with_dir(dir: PathBuf) -> LogSettings {
        LogSettings {
            dir,
            fsync: FsyncPolicy::Interval,
            fsync_interval: Duration::from_secs(1),
            retention_days: 0,
            private: false,
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

/// Every bound and timeout the server enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Connections served at once; more get `bye` "server full".
    pub max_connections: usize,
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
    /// Bound on one client's outbound queue, in bytes (at least `max_line_bytes`).
    pub outbound_queue_bytes: usize,
    /// Request bucket size per connection.
    pub rate_burst: u32,
    /// Request bucket refill rate, above 0.
    pub rate_per_second: f64,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed until a successful `hello`.
    pub registration_timeout: Duration,
    /// Silence after which the server sends `ping`.
    pub ping_interval: Duration,
    /// Silence after which the client is disconnected (longer than `ping_interval`).
    pub idle_timeout: Duration,
    /// Time one write to a client may take.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_line_bytes: 16_384,
            max_text_bytes: 4096,
            max_rooms: 64,
            history_keep: 1000,
            history_max: 200,
            history_on_join: 20,
            outbound_queue_bytes: 1 << 20,
            rate_burst: 50,
            rate_per_second: 10.0,
            handshake_timeout: Duration::from_secs(10),
            registration_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(180),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// A secret string (the server password) that never shows up in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// Compares without an early exit on the first differing byte, so response
    /// timing does not reveal how much of a guess was right.
    pub fn matches(&self, candidate: &str) -> bool {
        let a = ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes());
        let b = ring::digest::digest(&ring::digest::SHA256, candidate.as_bytes());
        a.as_ref()
            .iter()
            .zip(b.as_ref())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

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
    /// type, missing field); toml's message names the key and shows the line.
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

/// The config file as written: every key optional, nothing checked yet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server_name: Option<String>,
    motd: Option<String>,
    password: Option<String>,
    state_dir: Option<PathBuf>,
    log_level: Option<String>,
    log_format: Option<String>,
    shutdown_timeout: Option<String>,
    listen: Option<Vec<FileListener>>,
    tls: Option<FileTls>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    room: Vec<FileRoom>,
    log: Option<FileLog>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    dir: Option<PathBuf>,
    fsync: Option<String>,
    fsync_interval: Option<String>,
    retention_days: Option<u32>,
    private: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileListener {
    addr: String,
    tls: Option<bool>,
    #[serde(default)]
    allow_insecure_plaintext: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_connections: Option<usize>,
    max_line_bytes: Option<usize>,
    max_text_bytes: Option<usize>,
    max_rooms: Option<usize>,
    history_keep: Option<usize>,
    history_max: Option<usize>,
    history_on_join: Option<usize>,
    outbound_queue_bytes: Option<usize>,
    rate_burst: Option<u32>,
    rate_per_second: Option<f64>,
    handshake_timeout: Option<String>,
    registration_timeout: Option<String>,
    ping_interval: Option<String>,
    idle_timeout: Option<String>,
    write_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRoom {
    name: String,
    #[serde(default)]
    topic: String,
}

impl Settings {
    /// The settings of a server started without a config file: one TLS listener on
    /// `0.0.0.0:7667`, a self-signed certificate, the host name as server name.
    pub fn defaults() -> Settings {
        Settings {
            server_name: default_server_name(),
            motd: None,
            password: None,
            state_dir: default_state_dir(std::env::var_os("STATE_DIRECTORY"), dirs::data_dir()),
            listeners: vec![default_listener()],
            tls: TlsSource::SelfSigned,
            limits: Limits::default(),
            rooms: Vec::new(),
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            shutdown_timeout: Duration::from_secs(10),
            log: None,
        }
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
                .map(|&addr| ListenerSettings { addr, tls: true })
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

impl FileConfig {
    fn into_settings(self, c: &Checker) -> Result<Settings, ConfigError> {
        let defaults = Settings::defaults();
        let limits = self.limits.into_limits(c)?;
        Ok(Settings {
            server_name: match self.server_name {
                Some(name) => checked_server_name(name, c)?,
                None => defaults.server_name,
            },
            motd: checked_motd(self.motd, c)?,
            password: checked_password(self.password, c)?,
            state_dir: match self.state_dir {
                Some(dir) => c.path("state_dir", dir)?,
                None => defaults.state_dir,
            },
            listeners: match self.listen {
                Some(entries) => checked_listeners(entries, c)?,
                None => defaults.listeners,
            },
            tls: match self.tls {
                Some(tls) => tls.into_source(c)?,
                None => defaults.tls,
            },
            rooms: checked_rooms(self.room, c)?,
            log_level: match self.log_level {
                Some(level) => checked_log_level(level, c)?,
                None => defaults.log_level,
            },
            log_format: match self.log_format.as_deref() {
                None => defaults.log_format,
                Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(c.invalid(
                        "log_format",
                        format!("{other:?} is not one of \"text\", \"json\""),
                    ))
                }
            },
            shutdown_timeout: c.duration(
                "shutdown_timeout",
                self.shutdown_timeout,
                defaults.shutdown_timeout,
            )?,
            log: match self.log {
                Some(log) => Some(log.into_settings(c)?),
                None => None,
            },
            limits,
        })
    }
}

impl FileLog {
    fn into_settings(self, c: &Checker) -> Result<LogSettings, ConfigError> {
        // A [log] table turns logging on, so it must say where: guessing a
        // directory would scatter chat logs somewhere nobody looks.
        let Some(dir) = self.dir else {
            return Err(c.invalid(
                "log.dir",
                "missing: a [log] table turns message logging on and needs the directory \
                 (leave the whole table out to keep rooms in memory only)",
            ));
        };
        let d = LogSettings::with_dir(PathBuf::new());
        let fsync = match self.fsync.as_deref() {
            None => d.fsync,
            Some("always") => FsyncPolicy::Always,
            Some("interval") => FsyncPolicy::Interval,
            Some("never") => FsyncPolicy::Never,
            Some(other) => {
                return Err(c.invalid(
                    "log.fsync",
                    format!("{other:?} is not one of \"always\", \"interval\", \"never\""),
                ))
            }
        };
        Ok(LogSettings {
            dir: c.path("log.dir", dir)?,
            fsync,
            fsync_interval: c.duration(
                "log.fsync_interval",
                self.fsync_interval,
                d.fsync_interval,
            )?,
            retention_days: self.retention_days.unwrap_or(d.retention_days),
            private: self.private.unwrap_or(d.private),
        })
    }
}

impl FileLimits {
    fn into_limits(self, c: &Checker) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let mut limits = Limits {
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_line_bytes: self.max_line_bytes.unwrap_or(d.max_line_bytes),
            max_text_bytes: self.max_text_bytes.unwrap_or(d.max_text_bytes),
            max_rooms: self.max_rooms.unwrap_or(d.max_rooms),
            history_keep: self.history_keep.unwrap_or(d.history_keep),
            history_max: self.history_max.unwrap_or(d.history_max),
            history_on_join: self.history_on_join.unwrap_or(d.history_on_join),
            outbound_queue_bytes: self.outbound_queue_bytes.unwrap_or(d.outbound_queue_bytes),
            rate_burst: self.rate_burst.unwrap_or(d.rate_burst),
            rate_per_second: self.rate_per_second.unwrap_or(d.rate_per_second),
            handshake_timeout: c.duration(
                "limits.handshake_timeout",
                self.handshake_timeout,
                d.handshake_timeout,
            )?,
            registration_timeout: c.duration(
                "limits.registration_timeout",
                self.registration_timeout,
                d.registration_timeout,
            )?,
            ping_interval: c.duration(
                "limits.ping_interval",
                self.ping_interval,
                d.ping_interval,
            )?,
            idle_timeout: c.duration("limits.idle_timeout", self.idle_timeout, d.idle_timeout)?,
            write_timeout: c.duration(
                "limits.write_timeout",
                self.write_timeout,
                d.write_timeout,
            )?,
        };
        check_limits(&limits, c)?;
        // Sending more history on join than a `history` page may hold would only
        // be a second, inconsistent page size: the smaller one wins.
        limits.history_on_join = limits.history_on_join.min(limits.history_max);
        Ok(limits)
    }
}

impl FileTls {
    fn into_source(self, c: &Checker) -> Result<TlsSource, ConfigError> {
        let both = "[tls] needs both cert and key (or neither, for a self-signed certificate)";
        match (self.cert, self.key) {
            (Some(cert), Some(key)) => Ok(TlsSource::Files {
                cert: c.path("tls.cert", cert)?,
                key: c.path("tls.key", key)?,
            }),
            (None, None) => Ok(TlsSource::SelfSigned),
            (Some(_), None) => Err(c.invalid("tls.key", format!("missing: {both}"))),
            (None, Some(_)) => Err(c.invalid("tls.cert", format!("missing: {both}"))),
        }
    }
}

fn check_limits(l: &Limits, c: &Checker) -> Result<(), ConfigError> {
    let counts = [
        ("limits.max_connections", l.max_connections),
        ("limits.max_text_bytes", l.max_text_bytes),
        ("limits.max_rooms", l.max_rooms),
        ("limits.history_keep", l.history_keep),
        ("limits.history_max", l.history_max),
        ("limits.rate_burst", l.rate_burst as usize),
    ];
    if let Some((key, _)) = counts.iter().find(|(_, value)| *value == 0) {
        return Err(c.invalid(*key, "must be at least 1"));
    }
    if l.max_line_bytes < MIN_LINE_BYTES {
        return Err(c.invalid(
            "limits.max_line_bytes",
            format!("must be at least {MIN_LINE_BYTES}"),
        ));
    }
    if l.max_text_bytes > l.max_line_bytes {
        return Err(c.invalid(
            "limits.max_text_bytes",
            format!(
                "{} is more than limits.max_line_bytes ({}): such a message could never be sent",
                l.max_text_bytes, l.max_line_bytes
            ),
        ));
    }
    if l.outbound_queue_bytes < l.max_line_bytes {
        return Err(c.invalid(
            "limits.outbound_queue_bytes",
            format!(
                "{} is less than limits.max_line_bytes ({}): one event could fill the queue",
                l.outbound_queue_bytes, l.max_line_bytes
            ),
        ));
    }
    if !(l.rate_per_second.is_finite() && l.rate_per_second > 0.0) {
        return Err(c.invalid(
            "limits.rate_per_second",
            format!("must be a number above 0, not {}", l.rate_per_second),
        ));
    }
    check_timeouts(l, c)
}

fn check_timeouts(l: &Limits, c: &Checker) -> Result<(), ConfigError> {
    let timeouts = [
        ("limits.handshake_timeout", l.handshake_timeout),
        ("limits.registration_timeout", l.registration_timeout),
        ("limits.ping_interval", l.ping_interval),
        ("limits.write_timeout", l.write_timeout),
    ];
    if let Some((key, _)) = timeouts.iter().find(|(_, value)| value.is_zero()) {
        return Err(c.invalid(*key, "must be longer than 0s"));
    }
    // The server pings after `ping_interval` of silence; an idle timeout no longer
    // than that would cut the client before it ever saw the ping.
    if l.idle_timeout <= l.ping_interval {
        return Err(c.invalid(
            "limits.idle_timeout",
            format!(
                "{} must be longer than limits.ping_interval ({})",
                humantime::format_duration(l.idle_timeout),
                humantime::format_duration(l.ping_interval)
            ),
        ));
    }
    Ok(())
}

fn checked_server_name(name: String, c: &Checker) -> Result<String, ConfigError> {
    let problem = if name.trim().is_empty() {
        Some("must not be empty".to_owned())
    } else if name.len() > MAX_SERVER_NAME_BYTES {
        Some(format!("is longer than {MAX_SERVER_NAME_BYTES} bytes"))
    } else if name.chars().any(char::is_control) {
        Some("must be one line without control characters".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(c.invalid("server_name", problem)),
        None => Ok(name),
    }
}

fn checked_motd(motd: Option<String>, c: &Checker) -> Result<Option<String>, ConfigError> {
    match motd {
        // An empty motd is the same as none: the hello response then omits it.
        None => Ok(None),
        Some(motd) if motd.is_empty() => Ok(None),
        Some(motd) => match check_text(&motd, MAX_MOTD_BYTES) {
            Ok(()) => Ok(Some(motd)),
            Err(err) => Err(c.invalid("motd", err.to_string())),
        },
    }
}

fn checked_password(password: Option<String>, c: &Checker) -> Result<Option<Secret>, ConfigError> {
    match password {
        None => Ok(None),
        Some(password) if password.is_empty() => Err(c.invalid(
            "password",
            "must not be empty (leave the key out for a server without a password)",
        )),
        Some(password) => Ok(Some(Secret::new(password))),
    }
}

fn checked_log_level(level: String, c: &Checker) -> Result<String, ConfigError> {
    if level.trim().is_empty() {
        return Err(c.invalid("log_level", "must not be empty"));
    }
    match tracing_subscriber::EnvFilter::try_new(&level) {
        Ok(_) => Ok(level),
        Err(err) => Err(c.invalid("log_level", format!("invalid filter {level:?}: {err}"))),
    }
}

fn checked_listeners(
    entries: Vec<FileListener>,
    c: &Checker,
) -> Result<Vec<ListenerSettings>, ConfigError> {
    if entries.is_empty() {
        return Err(c.invalid("listen", "at least one [[listen]] entry is needed"));
    }
    let listeners = entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| entry.into_listener(i, c))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((first, later)) = first_duplicate(&listeners) {
        return Err(c.invalid(
            format!("listen[{later}].addr"),
            format!(
                "{} is already used by listen[{first}]",
                listeners[later].addr
            ),
        ));
    }
    Ok(listeners)
}

impl FileListener {
    fn into_listener(self, index: usize, c: &Checker) -> Result<ListenerSettings, ConfigError> {
        let addr: SocketAddr = self.addr.parse().map_err(|_| {
            c.invalid(
                format!("listen[{index}].addr"),
                format!(
                    "{:?} is not an IP address with a port (like \"0.0.0.0:{DEFAULT_PORT}\" or \"[::1]:{DEFAULT_PORT}\")",
                    self.addr
                ),
            )
        })?;
        let tls = self.tls.unwrap_or(true);
        // Clients on other hosts must not be able to talk in the clear by
        // accident; loopback is for local scripting only.
        if !tls && !addr.ip().is_loopback() && !self.allow_insecure_plaintext {
            return Err(c.invalid(
                format!("listen[{index}].tls"),
                format!(
                    "plaintext listener on {addr} refused: plaintext listeners are loopback-only \
                     by default; set allow_insecure_plaintext = true in this [[listen]] entry \
                     to accept clients in the clear anyway"
                ),
            ));
        }
        Ok(ListenerSettings { addr, tls })
    }
}

/// The first pair of listeners (earlier, later) on the same address. Port 0 asks
/// the system for a fresh port on every bind, so those never collide.
fn first_duplicate(listeners: &[ListenerSettings]) -> Option<(usize, usize)> {
    listeners.iter().enumerate().find_map(|(later, listener)| {
        let addr = listener.addr;
        listeners[..later]
            .iter()
            .position(|earlier| addr.port() != 0 && earlier.addr == addr)
            .map(|first| (first, later))
    })
}

fn checked_rooms(entries: Vec<FileRoom>, c: &Checker) -> Result<Vec<ConfiguredRoom>, ConfigError> {
    let mut rooms: Vec<ConfiguredRoom> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let name = RoomName::parse(&entry.name)
            .map_err(|err| c.invalid(format!("room[{index}].name"), err.to_string()))?;
        if let Some(first) = rooms.iter().position(|room| room.name == name) {
            return Err(c.invalid(
                format!("room[{index}].name"),
                format!("room {name:?} is already declared by room[{first}]"),
            ));
        }
        check_topic(&entry.topic)
            .map_err(|err| c.invalid(format!("room[{index}].topic"), err.to_string()))?;
        rooms.push(ConfiguredRoom {
            name,
            topic: entry.topic,
        });
    }
    Ok(rooms)
}

/// Where values come from, for error messages, and the directory that relative
/// paths are taken from.
struct Checker {
    origin: String,
    base_dir: PathBuf,
}

impl Checker {
    fn for_file(path: &Path) -> Checker {
        Checker {
            origin: path.display().to_string(),
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }

    fn command_line() -> Checker {
        Checker {
            origin: "command line".to_owned(),
            base_dir: PathBuf::new(),
        }
    }

    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn path(&self, key: &str, path: PathBuf) -> Result<PathBuf, ConfigError> {
        if path.as_os_str().is_empty() {
            return Err(self.invalid(key, "must not be empty"));
        }
        Ok(self.base_dir.join(path))
    }

    fn duration(
        &self,
        key: &str,
        value: Option<String>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(text) = value else {
            return Ok(default);
        };
        let duration = humantime::parse_duration(&text).map_err(|err| {
            self.invalid(
                key,
                format!("invalid duration {text:?}: {err} (write it like \"60s\" or \"2m\")"),
            )
        })?;
        if duration.is_zero() {
            return Err(self.invalid(key, "must be longer than 0s"));
        }
        Ok(duration)
    }
}

fn default_listener() -> ListenerSettings {
    ListenerSettings {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT),
        tls: true,
    }
}

fn default_server_name() -> String {
    let host = gethostname::gethostname();
    let host = host.to_string_lossy();
    let host = host.trim();
    if host.is_empty() || host.len() > MAX_SERVER_NAME_BYTES || host.chars().any(char::is_control) {
        "localhost".to_owned()
    } else {
        host.to_owned()
    }
}

/// systemd's `StateDirectory=` sets `$STATE_DIRECTORY` (colon-separated when the
/// unit names several); otherwise the user's data directory.
fn default_state_dir(
    state_directory: Option<std::ffi::OsString>,
    data_dir: Option<PathBuf>,
) -> PathBuf {
    let from_systemd = state_directory
        .and_then(|dirs| std::env::split_paths(&dirs).find(|dir| !dir.as_os_str().is_empty()));
    from_systemd
        .or_else(|| data_dir.map(|dir| dir.join("confab")))
        .unwrap_or_else(|| PathBuf::from("./confab-state"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "/etc/confab.toml";

    /// Every key in `CONFIG_KEYS`, each set to something other than its default.
    const FULL: &str = r##"
server_name = "chat.example.org"
motd = "Welcome\n\tbe nice"
password = "secret"
state_dir = "/var/lib/confab"
log_level = "confab=debug"
log_format = "json"
shutdown_timeout = "5s"

[[listen]]
addr = "0.0.0.0:7667"

[[listen]]
addr = "127.0.0.1:7668"
tls = false

[[listen]]
addr = "[::]:7669"
tls = false
allow_insecure_plaintext = true

[tls]
cert = "/etc/confab/cert.pem"
key = "/etc/confab/key.pem"

[limits]
max_connections = 500
max_line_bytes = 8192
max_text_bytes = 2048
max_rooms = 8
history_keep = 300
history_max = 100
history_on_join = 10
outbound_queue_bytes = 65536
rate_burst = 20
rate_per_second = 5
handshake_timeout = "5s"
registration_timeout = "20s"
ping_interval = "30s"
idle_timeout = "2m"
write_timeout = "15s"

[[room]]
name = "#General"
topic = "Say hello"

[[room]]
name = "ops"

[log]
dir = "/var/log/confab"
fsync = "always"
fsync_interval = "250ms"
retention_days = 30
private = true
"##;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_toml_str(text, Path::new(ORIGIN))
    }

    fn error(text: &str) -> String {
        parse(text)
            .expect_err("config should be refused")
            .to_string()
    }

    fn listener(addr: &str, tls: bool) -> ListenerSettings {
        ListenerSettings {
            addr: addr.parse().unwrap(),
            tls,
        }
    }

    #[test]
    fn defaults_listen_with_tls_on_all_interfaces() {
        let settings = Settings::defaults();
        assert_eq!(settings.listeners, vec![listener("0.0.0.0:7667", true)]);
        assert_eq!(settings.tls, TlsSource::SelfSigned);
        assert_eq!(settings.limits, Limits::default());
        assert_eq!(settings.log_level, "info");
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(10));
        assert!(!settings.server_name.is_empty());
        assert!(settings.motd.is_none() && settings.password.is_none());
        assert!(settings.rooms.is_empty());
        assert!(settings.log.is_none(), "logging is off by default");
    }

    #[test]
    fn an_empty_file_means_the_defaults() {
        let settings = parse("").unwrap();
        let defaults = Settings::defaults();
        assert_eq!(settings.listeners, defaults.listeners);
        assert_eq!(settings.limits, defaults.limits);
        assert_eq!(settings.server_name, defaults.server_name);
        assert_eq!(settings.state_dir, defaults.state_dir);
    }

    #[test]
    fn state_dir_prefers_systemd_then_the_data_dir() {
        let data = Some(PathBuf::from("/home/u/.local/share"));
        assert_eq!(
            default_state_dir(Some("/var/lib/confab:/var/lib/other".into()), data.clone()),
            PathBuf::from("/var/lib/confab")
        );
        assert_eq!(
            default_state_dir(Some("".into()), data.clone()),
            PathBuf::from("/home/u/.local/share/confab")
        );
        assert_eq!(
            default_state_dir(None, data),
            PathBuf::from("/home/u/.local/share/confab")
        );
        assert_eq!(
            default_state_dir(None, None),
            PathBuf::from("./confab-state")
        );
    }

    #[test]
    fn a_full_config_parses_into_its_values() {
        let s = parse(FULL).unwrap();
        assert_eq!(s.server_name, "chat.example.org");
        assert_eq!(s.motd.as_deref(), Some("Welcome\n\tbe nice"));
        let password = s.password.as_ref().unwrap();
        assert!(password.matches("secret") && !password.matches("Secret"));
        assert_eq!(format!("{password:?}"), "Secret(****)");
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/confab"));
        assert_eq!(s.log_level, "confab=debug");
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(
            s.listeners,
            vec![
                listener("0.0.0.0:7667", true),
                listener("127.0.0.1:7668", false),
                listener("[::]:7669", false),
            ]
        );
        assert_eq!(
            s.tls,
            TlsSource::Files {
                cert: "/etc/confab/cert.pem".into(),
                key: "/etc/confab/key.pem".into(),
            }
        );
        assert_eq!(
            s.limits,
            Limits {
                max_connections: 500,
                max_line_bytes: 8192,
                max_text_bytes: 2048,
                max_rooms: 8,
                history_keep: 300,
                history_max: 100,
                history_on_join: 10,
                outbound_queue_bytes: 65536,
                rate_burst: 20,
                rate_per_second: 5.0,
                handshake_timeout: Duration::from_secs(5),
                registration_timeout: Duration::from_secs(20),
                ping_interval: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(120),
                write_timeout: Duration::from_secs(15),
            }
        );
        let rooms: Vec<(&str, &str)> = s
            .rooms
            .iter()
            .map(|room| (room.name.as_str(), room.topic.as_str()))
            .collect();
        assert_eq!(rooms, [("general", "Say hello"), ("ops", "")]);
        assert_eq!(
            s.log,
            Some(LogSettings {
                dir: "/var/log/confab".into(),
                fsync: FsyncPolicy::Always,
                fsync_interval: Duration::from_millis(250),
                retention_days: 30,
                private: true,
            })
        );
    }

    #[test]
    fn config_keys_are_exactly_the_keys_of_the_full_example() {
        fn collect(prefix: &str, table: &toml::Table, keys: &mut Vec<String>) {
            for (name, value) in table {
                let key = format!("{prefix}{name}");
                match value {
                    toml::Value::Table(inner) => collect(&format!("{key}."), inner, keys),
                    toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                        for item in items.iter().filter_map(toml::Value::as_table) {
                            collect(&format!("{key}."), item, keys);
                        }
                    }
                    _ => keys.push(key),
                }
            }
        }
        let mut found = Vec::new();
        collect("", &FULL.parse::<toml::Table>().unwrap(), &mut found);
        found.sort();
        found.dedup();
        let mut listed: Vec<String> = CONFIG_KEYS.iter().map(|k| k.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed);
        assert_eq!(listed.len(), 34);
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_directory() {
        let text = "state_dir = \"state\"\n[tls]\ncert = \"c.pem\"\nkey = \"/abs/k.pem\"\n";
        let s = parse(text).unwrap();
        assert_eq!(s.state_dir, PathBuf::from("/etc/state"));
        assert_eq!(
            s.tls,
            TlsSource::Files {
                cert: "/etc/c.pem".into(),
                key: "/abs/k.pem".into()
            }
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let err = error("server_name = \"x\"\nmotdd = \"hi\"\n");
        assert!(err.starts_with(ORIGIN), "{err}");
        assert!(err.contains("motdd") && err.contains("line 2"), "{err}");

        let err = error("[limits]\nmax_conections = 5\n");
        assert!(
            err.contains("max_conections") && err.contains("line 2"),
            "{err}"
        );

        let err = error("[[listen]]\naddr = \"127.0.0.1:1\"\ntsl = false\n");
        assert!(err.contains("tsl") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn bad_durations_name_the_key() {
        let err = error("[limits]\nping_interval = \"6x\"\n");
        assert!(
            err.starts_with(&format!(
                "{ORIGIN}: limits.ping_interval: invalid duration \"6x\": "
            )),
            "{err}"
        );
        let err = error("shutdown_timeout = \"0s\"\n");
        assert!(err.contains(": shutdown_timeout: "), "{err}");
        let err = error("[limits]\nping_interval = 60\n");
        assert!(
            err.contains("ping_interval") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn limits_must_be_sane() {
        let cases = [
            ("max_connections = 0", "limits.max_connections"),
            ("max_rooms = 0", "limits.max_rooms"),
            ("history_keep = 0", "limits.history_keep"),
            ("history_max = 0", "limits.history_max"),
            ("rate_burst = 0", "limits.rate_burst"),
            ("rate_per_second = 0.0", "limits.rate_per_second"),
            ("rate_per_second = nan", "limits.rate_per_second"),
            ("max_line_bytes = 1023", "limits.max_line_bytes"),
            ("max_text_bytes = 20000", "limits.max_text_bytes"),
            ("max_text_bytes = 0", "limits.max_text_bytes"),
            ("outbound_queue_bytes = 100", "limits.outbound_queue_bytes"),
            ("idle_timeout = \"60s\"", "limits.idle_timeout"),
            ("write_timeout = \"0s\"", "limits.write_timeout"),
        ];
        for (line, key) in cases {
            let err = error(&format!("[limits]\n{line}\n"));
            assert!(
                err.starts_with(&format!("{ORIGIN}: {key}: ")),
                "{line}: {err}"
            );
        }
        assert_eq!(cases.len(), 13);
    }

    #[test]
    fn a_log_table_needs_a_dir_and_defaults_the_rest() {
        let s = parse("[log]\ndir = \"logs\"\n").unwrap();
        assert_eq!(s.log, Some(LogSettings::with_dir("/etc/logs".into())));
        let log = s.log.unwrap();
        assert_eq!(log.fsync, FsyncPolicy::Interval);
        assert_eq!(log.fsync_interval, Duration::from_secs(1));
        assert_eq!((log.retention_days, log.private), (0, false));

        let cases = [
            ("[log]\nfsync = \"always\"\n", "log.dir: missing"),
            ("[log]\ndir = \"\"\n", "log.dir: must not be empty"),
            (
                "[log]\ndir = \"l\"\nfsync = \"sometimes\"\n",
                "log.fsync: \"sometimes\"",
            ),
            (
                "[log]\ndir = \"l\"\nfsync_interval = \"0s\"\n",
                "log.fsync_interval: ",
            ),
            (
                "[log]\ndir = \"l\"\nfsync_interval = \"soon\"\n",
                "log.fsync_interval: ",
            ),
        ];
        for (text, start) in cases {
            let err = error(text);
            assert!(
                err.starts_with(&format!("{ORIGIN}: {start}")),
                "{text}: {err}"
            );
        }
        assert_eq!(cases.len(), 5);
        let err = error("[log]\ndir = \"l\"\nretention = 3\n");
        assert!(err.contains("retention") && err.contains("line 3"), "{err}");
        let err = error("[log]\ndir = \"l\"\nretention_days = -1\n");
        assert!(err.contains("retention_days"), "{err}");
    }

    #[test]
    fn history_on_join_is_clamped_to_history_max() {
        let s = parse("[limits]\nhistory_max = 5\nhistory_on_join = 50\n").unwrap();
        assert_eq!(s.limits.history_on_join, 5);
    }

    #[test]
    fn plaintext_is_refused_beyond_loopback() {
        let err = error("[[listen]]\naddr = \"0.0.0.0:7668\"\ntls = false\n");
        assert!(
            err.starts_with(&format!("{ORIGIN}: listen[0].tls: ")),
            "{err}"
        );
        assert!(err.contains("loopback-only by default"), "{err}");
        assert!(err.contains("allow_insecure_plaintext"), "{err}");

        for addr in ["127.0.0.1:7668", "127.0.0.2:1", "[::1]:7668"] {
            let s = parse(&format!("[[listen]]\naddr = \"{addr}\"\ntls = false\n")).unwrap();
            assert_eq!(s.listeners, vec![listener(addr, false)]);
        }

        let text =
            "[[listen]]\naddr = \"0.0.0.0:7668\"\ntls = false\nallow_insecure_plaintext = true\n";
        assert_eq!(
            parse(text).unwrap().listeners,
            vec![listener("0.0.0.0:7668", false)]
        );
    }

    #[test]
    fn listeners_are_checked() {
        let err = error("[[listen]]\naddr = \"localhost:1\"\n");
        assert!(
            err.starts_with(&format!("{ORIGIN}: listen[0].addr: ")),
            "{err}"
        );
        let err = error("listen = []\n");
        assert!(err.starts_with(&format!("{ORIGIN}: listen: ")), "{err}");
        let twice = "[[listen]]\naddr = \"127.0.0.1:9\"\n[[listen]]\naddr = \"127.0.0.1:9\"\n";
        let err = error(twice);
        assert!(
            err.starts_with(&format!("{ORIGIN}: listen[1].addr: ")),
            "{err}"
        );
        let ephemeral =
            "[[listen]]\naddr = \"127.0.0.1:0\"\n[[listen]]\naddr = \"127.0.0.1:0\"\ntls = false\n";
        assert_eq!(parse(ephemeral).unwrap().listeners.len(), 2);
    }

    #[test]
    fn tls_needs_both_files_or_neither() {
        let err = error("[tls]\ncert = \"c.pem\"\n");
        assert!(
            err.starts_with(&format!("{ORIGIN}: tls.key: missing")),
            "{err}"
        );
        let err = error("[tls]\nkey = \"k.pem\"\n");
        assert!(
            err.starts_with(&format!("{ORIGIN}: tls.cert: missing")),
            "{err}"
        );
        assert_eq!(parse("[tls]\n").unwrap().tls, TlsSource::SelfSigned);
    }

    #[test]
    fn rooms_are_normalized_and_checked() {
        let s = parse("[[room]]\nname = \"#General\"\n").unwrap();
        assert_eq!(s.rooms[0].name.as_str(), "general");
        assert_eq!(s.rooms[0].topic, "");

        let err = error("[[room]]\nname = \"ok\"\n[[room]]\nname = \"no way\"\n");
        assert!(
            err.starts_with(&format!("{ORIGIN}: room[1].name: ")),
            "{err}"
        );
        let err = error("[[room]]\nname = \"ok\"\ntopic = \"two\\nlines\"\n");
        assert!(
            err.starts_with(&format!("{ORIGIN}: room[0].topic: ")),
            "{err}"
        );
        let err = error("[[room]]\nname = \"general\"\n[[room]]\nname = \"#GENERAL\"\n");
        assert!(
            err.starts_with(&format!("{ORIGIN}: room[1].name: ")),
            "{err}"
        );
        assert!(err.contains("room[0]"), "{err}");
    }

    #[test]
    fn text_values_are_checked() {
        let cases = [
            ("server_name = \"\"", "server_name"),
            ("server_name = \"a\\nb\"", "server_name"),
            ("motd = \"\\u001b[31mred\"", "motd"),
            ("motd = \"   \"", "motd"),
            ("password = \"\"", "password"),
            ("log_level = \"\"", "log_level"),
            ("log_level = \"confab=loud\"", "log_level"),
            ("log_format = \"xml\"", "log_format"),
            ("state_dir = \"\"", "state_dir"),
        ];
        for (line, key) in cases {
            let err = error(&format!("{line}\n"));
            assert!(
                err.starts_with(&format!("{ORIGIN}: {key}: ")),
                "{line}: {err}"
            );
        }
        assert_eq!(cases.len(), 9);
        assert!(parse("motd = \"\"\n").unwrap().motd.is_none());
    }

    #[test]
    fn command_line_listeners_replace_the_configured_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confab.toml");
        std::fs::write(&path, "[[listen]]\naddr = \"127.0.0.1:1\"\ntls = false\n").unwrap();
        let mut args = ServerArgs {
            config: Some(path),
            listen: vec!["127.0.0.1:2".parse().unwrap(), "[::1]:3".parse().unwrap()],
            ..ServerArgs::default()
        };
        let s = Settings::load(&args).unwrap();
        assert_eq!(
            s.listeners,
            vec![listener("127.0.0.1:2", true), listener("[::1]:3", true)]
        );

        args.listen.push("127.0.0.1:2".parse().unwrap());
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(err.starts_with("command line: --listen: "), "{err}");
    }

    #[test]
    fn a_missing_config_file_is_named() {
        let args = ServerArgs {
            config: Some("/nonexistent/confab.toml".into()),
            listen: Vec::new(),
            ..ServerArgs::default()
        };
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(
            err.starts_with("/nonexistent/confab.toml: cannot read"),
            "{err}"
        );
    }
}
