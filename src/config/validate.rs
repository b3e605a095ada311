//! From the file as written ([`FileConfig`]) to the [`Settings`] the server
//! runs on: each key's check, once, naming the key; relative paths anchored at
//! the file's directory; and the checks that relate keys to each other
//! (`idle_timeout` against `ping_interval`, listeners on the same address).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::defaults::{self, DEFAULT_PORT};
use super::error::ConfigError;
use super::file::{FileConfig, FileListener, FileLog, FileRoom, FileTls};
use super::secret::Secret;
use super::settings::{
    AccountSettings, ConfiguredRoom, Limits, ListenerSettings, LogSettings, Settings, TlsSource,
    WebSettings,
};
use super::MAX_SERVER_NAME_BYTES;

/// The longest `limits.write_coalesce` allowed.
const MAX_WRITE_COALESCE: Duration = Duration::from_secs(1);
use crate::protocol::names::{check_text, check_topic, Nick, RoomName};

/// A line must at least hold a `hello` with a long nick and password, or a
/// `join` with a long room name; below this the server would be unusable.
const MIN_LINE_BYTES: usize = 1024;
/// Longest message of the day, in bytes.
const MAX_MOTD_BYTES: usize = 4096;

impl FileConfig {
    /// Checks every value and builds the settings, or names the first key
    /// that is wrong.
    pub(super) fn into_settings(self, c: &Checker) -> Result<Settings, ConfigError> {
        Ok(Settings {
            server_name: checked_server_name(self.server_name, c)?,
            motd: checked_motd(self.motd, c)?,
            password: checked_password(self.password, c)?,
            state_dir: match self.state_dir {
                Some(dir) => c.path("state_dir", dir)?,
                None => defaults::state_dir(std::env::var_os("STATE_DIRECTORY"), dirs::data_dir()),
            },
            listeners: checked_listeners(self.listen, c)?,
            tls: self.tls.into_source(c)?,
            limits: checked_limits(self.limits, c)?,
            rooms: checked_rooms(self.room, c)?,
            log_level: checked_log_level(self.log_level, c)?,
            log_format: self.log_format,
            shutdown_timeout: c.positive("shutdown_timeout", self.shutdown_timeout)?,
            log: match self.log {
                Some(log) => Some(log.into_settings(c)?),
                None => None,
            },
            accounts: AccountSettings {
                registration: self.accounts.registration,
                operators: checked_operators(self.accounts.operators, c)?,
            },
        })
    }
}

/// Operators are account names, which follow the nick rules.
fn checked_operators(names: Vec<String>, c: &Checker) -> Result<Vec<String>, ConfigError> {
    names
        .into_iter()
        .map(|name| match Nick::parse(&name) {
            Ok(nick) => Ok(nick.as_str().to_ascii_lowercase()),
            Err(e) => Err(c.invalid("accounts.operators", format!("{name:?}: {e}"))),
        })
        .collect()
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
        Ok(LogSettings {
            dir: c.path("log.dir", dir)?,
            fsync: self.fsync,
            fsync_interval: c.positive("log.fsync_interval", self.fsync_interval)?,
            retention_days: self.retention_days,
            private: self.private,
        })
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

fn checked_limits(mut limits: Limits, c: &Checker) -> Result<Limits, ConfigError> {
    check_limits(&limits, c)?;
    // Sending more history on join than a `history` page may hold would only
    // be a second, inconsistent page size: the smaller one wins.
    limits.history_on_join = limits.history_on_join.min(limits.history_max);
    Ok(limits)
}

fn check_limits(l: &Limits, c: &Checker) -> Result<(), ConfigError> {
    let counts = [
        ("limits.max_connections", l.max_connections),
        ("limits.max_pending_connections", l.max_pending_connections),
        (
            "limits.max_connections_per_address",
            l.max_connections_per_address,
        ),
        ("limits.max_text_bytes", l.max_text_bytes),
        ("limits.max_rooms", l.max_rooms),
        ("limits.history_keep", l.history_keep),
        ("limits.history_max", l.history_max),
        ("limits.rate_burst", l.rate_burst as usize),
        ("limits.ping_rate_burst", l.ping_rate_burst as usize),
        ("limits.max_total_rooms", l.max_total_rooms),
        (
            "limits.room_creations_per_minute",
            l.room_creations_per_minute as usize,
        ),
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
    // One fan-out goes past the soft bound before anyone waits: the hard bound
    // must leave room for at least one more line.
    if l.outbound_queue_max_bytes < l.outbound_queue_bytes.saturating_add(l.max_line_bytes) {
        return Err(c.invalid(
            "limits.outbound_queue_max_bytes",
            format!(
                "{} is less than limits.outbound_queue_bytes ({}) plus limits.max_line_bytes \
                 ({}): a client could be cut off as soon as it is waited for",
                l.outbound_queue_max_bytes, l.outbound_queue_bytes, l.max_line_bytes
            ),
        ));
    }
    check_page_bytes(l, c)?;
    let rates = [
        ("limits.rate_per_second", l.rate_per_second),
        ("limits.ping_rate_per_second", l.ping_rate_per_second),
    ];
    for (key, rate) in rates {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(c.invalid(key, format!("must be a number above 0, not {rate}")));
        }
    }
    check_timeouts(l, c)
}

/// A page must hold one message (a message's frame is about one request
/// line), and a full page, with room for the events queued around it (one
/// line's worth), must fit between the two queue bounds: a session carries a
/// request out once its queue is back under the soft bound, so its answer
/// lands at most a page above it, and must not reach the hard bound that
/// would cut the client that asked for it.
fn check_page_bytes(l: &Limits, c: &Checker) -> Result<(), ConfigError> {
    if l.max_page_bytes < l.max_line_bytes {
        return Err(c.invalid(
            "limits.max_page_bytes",
            format!(
                "{} is less than limits.max_line_bytes ({}): a page could not hold one message",
                l.max_page_bytes, l.max_line_bytes
            ),
        ));
    }
    let room = l
        .outbound_queue_max_bytes
        .saturating_sub(l.outbound_queue_bytes);
    if l.max_page_bytes.saturating_add(l.max_line_bytes) > room {
        return Err(c.invalid(
            "limits.max_page_bytes",
            format!(
                "{} plus limits.max_line_bytes ({}) is more than limits.outbound_queue_max_bytes \
                 ({}) minus limits.outbound_queue_bytes ({}): a full page would not fit the \
                 client's outbound queue, and the client that asked for it would be cut as a \
                 slow consumer",
                l.max_page_bytes,
                l.max_line_bytes,
                l.outbound_queue_max_bytes,
                l.outbound_queue_bytes
            ),
        ));
    }
    Ok(())
}

fn check_timeouts(l: &Limits, c: &Checker) -> Result<(), ConfigError> {
    let timeouts = [
        ("limits.handshake_timeout", l.handshake_timeout),
        ("limits.registration_timeout", l.registration_timeout),
        ("limits.ping_interval", l.ping_interval),
        ("limits.idle_timeout", l.idle_timeout),
        ("limits.write_timeout", l.write_timeout),
    ];
    for (key, value) in timeouts {
        c.positive(key, value)?;
    }
    // Coalescing delays frames by up to this much: beyond a second it would be a
    // lag users notice, not a way to make fewer writes.
    if l.write_coalesce > MAX_WRITE_COALESCE {
        return Err(c.invalid(
            "limits.write_coalesce",
            format!(
                "{} is longer than the most allowed, {}",
                humantime::format_duration(l.write_coalesce),
                humantime::format_duration(MAX_WRITE_COALESCE)
            ),
        ));
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

fn checked_password(password: Option<Secret>, c: &Checker) -> Result<Option<Secret>, ConfigError> {
    match password {
        Some(password) if password.is_empty() => Err(c.invalid(
            "password",
            "must not be empty (leave the key out for a server without a password)",
        )),
        password => Ok(password),
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
        // Clients on other hosts must not be able to talk in the clear by
        // accident; loopback is for local scripting only.
        if !self.tls && !addr.ip().is_loopback() && !self.allow_insecure_plaintext {
            return Err(c.invalid(
                format!("listen[{index}].tls"),
                format!(
                    "plaintext listener on {addr} refused: plaintext listeners are loopback-only \
                     by default; set allow_insecure_plaintext = true in this [[listen]] entry \
                     to accept clients in the clear anyway"
                ),
            ));
        }
        let web = self
            .websocket
            .then(|| self.web_settings(index, c))
            .transpose()?;
        if !self.websocket && (!self.origins.is_empty() || !self.trusted_proxies.is_empty()) {
            let key = if self.origins.is_empty() {
                "trusted_proxies"
            } else {
                "origins"
            };
            return Err(c.invalid(
                format!("listen[{index}].{key}"),
                "only a WebSocket listener (websocket = true) checks origins and proxies"
                    .to_owned(),
            ));
        }
        Ok(ListenerSettings {
            addr,
            tls: self.tls,
            web,
        })
    }

    fn web_settings(&self, index: usize, c: &Checker) -> Result<WebSettings, ConfigError> {
        let mut origins = Vec::new();
        for (i, origin) in self.origins.iter().enumerate() {
            origins.push(
                checked_origin(origin)
                    .map_err(|why| c.invalid(format!("listen[{index}].origins[{i}]"), why))?,
            );
        }
        let mut trusted_proxies = Vec::new();
        for (i, proxy) in self.trusted_proxies.iter().enumerate() {
            trusted_proxies.push(proxy.parse().map_err(|_| {
                c.invalid(
                    format!("listen[{index}].trusted_proxies[{i}]"),
                    format!("{proxy:?} is not an IP address (like \"127.0.0.1\" or \"::1\")"),
                )
            })?);
        }
        Ok(WebSettings {
            origins,
            trusted_proxies,
        })
    }
}

/// An origin as a browser sends it: `scheme://host[:port]`, nothing after,
/// compared in lower case.
fn checked_origin(origin: &str) -> Result<String, String> {
    let lower = origin.trim_end_matches('/').to_ascii_lowercase();
    let host = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ']) => Ok(lower),
        _ => Err(format!(
            "{origin:?} is not an origin (like \"https://chat.example.org\" or \"http://localhost:8080\")"
        )),
    }
}

/// The first pair of listeners (earlier, later) on the same address. Port 0 asks
/// the system for a fresh port on every bind, so those never collide.
pub(super) fn first_duplicate(listeners: &[ListenerSettings]) -> Option<(usize, usize)> {
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
pub(super) struct Checker {
    origin: String,
    base_dir: PathBuf,
}

impl Checker {
    pub(super) fn for_file(path: &Path) -> Checker {
        Checker {
            origin: path.display().to_string(),
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }

    /// For the settings of a server without a config file.
    pub(super) fn built_in() -> Checker {
        Checker {
            origin: "built-in defaults".to_owned(),
            base_dir: PathBuf::new(),
        }
    }

    pub(super) fn command_line() -> Checker {
        Checker {
            origin: "command line".to_owned(),
            base_dir: PathBuf::new(),
        }
    }

    pub(super) fn invalid(
        &self,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
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

    /// Every duration in the file is a wait or a period: zero would mean
    /// "never wait" or "spin", never what was meant.
    fn positive(&self, key: &str, duration: Duration) -> Result<Duration, ConfigError> {
        if duration.is_zero() {
            return Err(self.invalid(key, "must be longer than 0s"));
        }
        Ok(duration)
    }
}
