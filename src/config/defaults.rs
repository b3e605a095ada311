//! The value of every key a config file leaves out, in one place: the
//! `Default` impls serde fills missing keys from, and the few defaults that
//! depend on the machine (the host name, systemd's state directory). The
//! server without a config file runs on exactly these
//! ([`Settings::defaults`](super::Settings::defaults) validates an empty file).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::file::{FileAccounts, FileConfig, FileListener, FileLog, FileTls};
use super::settings::{FsyncPolicy, Limits, LogFormat, LogSettings};
use super::MAX_SERVER_NAME_BYTES;

/// The port confab listens on when nothing else is configured.
pub const DEFAULT_PORT: u16 = 7667;

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            server_name: host_name(),
            motd: None,
            password: None,
            state_dir: None,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            shutdown_timeout: Duration::from_secs(10),
            // One TLS listener on all IPv4 interfaces; any [[listen]] table
            // replaces it.
            listen: vec![FileListener {
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT).to_string(),
                tls: listen_tls(),
                allow_insecure_plaintext: false,
                websocket: false,
                origins: Vec::new(),
                trusted_proxies: Vec::new(),
            }],
            tls: FileTls::default(),
            limits: Limits::default(),
            room: Vec::new(),
            log: None,
            accounts: FileAccounts::default(),
        }
    }
}

/// `listen.tls`: clients get TLS unless a listener says otherwise.
pub(super) fn listen_tls() -> bool {
    true
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_pending_connections: 1000,
            max_connections_per_address: 32,
            max_line_bytes: 16_384,
            max_text_bytes: 4096,
            max_rooms: 64,
            history_keep: 1000,
            history_max: 200,
            history_on_join: 20,
            max_page_bytes: 256 * 1024,
            history_memory_bytes: 32 << 20,
            max_total_rooms: 10_000,
            room_creations_per_minute: 10,
            outbound_queue_bytes: 1 << 20,
            outbound_queue_max_bytes: 4 << 20,
            drain_grace: Duration::from_secs(2),
            rate_burst: 50,
            rate_per_second: 10.0,
            ping_rate_burst: 100,
            ping_rate_per_second: 20.0,
            handshake_timeout: Duration::from_secs(10),
            registration_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(180),
            write_timeout: Duration::from_secs(30),
            write_coalesce: Duration::from_millis(5),
        }
    }
}

impl Default for FileLog {
    fn default() -> Self {
        FileLog {
            dir: None,
            fsync: FsyncPolicy::Interval,
            fsync_interval: Duration::from_secs(1),
            retention_days: 0,
            private: false,
        }
    }
}

impl LogSettings {
    /// The settings of a `[log]` table that only names `dir`.
    pub fn with_dir(dir: PathBuf) -> LogSettings {
        let defaults = FileLog::default();
        LogSettings {
            dir,
            fsync: defaults.fsync,
            fsync_interval: defaults.fsync_interval,
            retention_days: defaults.retention_days,
            private: defaults.private,
        }
    }
}

/// `server_name`: the host name, or "localhost" when the host name would not
/// pass as a server name.
pub(super) fn host_name() -> String {
    let host = gethostname::gethostname();
    let host = host.to_string_lossy();
    let host = host.trim();
    if host.is_empty() || host.len() > MAX_SERVER_NAME_BYTES || host.chars().any(char::is_control) {
        "localhost".to_owned()
    } else {
        host.to_owned()
    }
}

/// `state_dir`: systemd's `StateDirectory=` sets `$STATE_DIRECTORY`
/// (colon-separated when the unit names several); otherwise the user's data
/// directory.
pub(super) fn state_dir(
    state_directory: Option<std::ffi::OsString>,
    data_dir: Option<PathBuf>,
) -> PathBuf {
    let from_systemd = state_directory
        .and_then(|dirs| std::env::split_paths(&dirs).find(|dir| !dir.as_os_str().is_empty()));
    from_systemd
        .or_else(|| data_dir.map(|dir| dir.join("confab")))
        .unwrap_or_else(|| PathBuf::from("./confab-state"))
}
