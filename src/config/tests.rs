//! Tests of the config file as a whole: a full file and its values, the
//! defaults, relative paths, every refusal and how it names the key, and the
//! command-line overrides. `FULL` and `parse` are shared with the tests of
//! `keys.rs`.

use std::path::PathBuf;
use std::time::Duration;

use super::defaults;
use super::*;

const ORIGIN: &str = "/etc/confab.toml";

/// Every key of [`config_keys`], each set to something other than its default.
pub(super) const FULL: &str = r##"
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

[[listen]]
addr = "0.0.0.0:8443"
websocket = true
origins = ["https://Chat.example.org/"]
trusted_proxies = ["10.0.0.2", "::1"]

[tls]
cert = "/etc/confab/cert.pem"
key = "/etc/confab/key.pem"

[limits]
max_connections = 500
max_pending_connections = 50
max_connections_per_address = 4
max_line_bytes = 8192
max_text_bytes = 2048
max_rooms = 8
history_keep = 300
history_max = 100
history_on_join = 10
max_page_bytes = 32768
history_memory_bytes = 1048576
max_total_rooms = 100
room_creations_per_minute = 3
outbound_queue_bytes = 65536
outbound_queue_max_bytes = 262144
drain_grace = "500ms"
rate_burst = 20
rate_per_second = 5
ping_rate_burst = 40
ping_rate_per_second = 8
handshake_timeout = "5s"
registration_timeout = "20s"
ping_interval = "30s"
idle_timeout = "2m"
write_timeout = "15s"
write_coalesce = "2ms"

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

[accounts]
registration = "closed"
operators = ["Root", "ops-lead"]
"##;

pub(super) fn parse(text: &str) -> Result<Settings, ConfigError> {
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
        web: None,
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
        defaults::state_dir(Some("/var/lib/confab:/var/lib/other".into()), data.clone()),
        PathBuf::from("/var/lib/confab")
    );
    assert_eq!(
        defaults::state_dir(Some("".into()), data.clone()),
        PathBuf::from("/home/u/.local/share/confab")
    );
    assert_eq!(
        defaults::state_dir(None, data),
        PathBuf::from("/home/u/.local/share/confab")
    );
    assert_eq!(
        defaults::state_dir(None, None),
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
            ListenerSettings {
                web: Some(WebSettings {
                    origins: vec!["https://chat.example.org".into()],
                    trusted_proxies: vec!["10.0.0.2".parse().unwrap(), "::1".parse().unwrap()],
                }),
                ..listener("0.0.0.0:8443", true)
            },
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
            max_pending_connections: 50,
            max_connections_per_address: 4,
            max_line_bytes: 8192,
            max_text_bytes: 2048,
            max_rooms: 8,
            history_keep: 300,
            history_max: 100,
            history_on_join: 10,
            max_page_bytes: 32768,
            history_memory_bytes: 1 << 20,
            max_total_rooms: 100,
            room_creations_per_minute: 3,
            outbound_queue_bytes: 65536,
            outbound_queue_max_bytes: 262144,
            drain_grace: Duration::from_millis(500),
            rate_burst: 20,
            rate_per_second: 5.0,
            ping_rate_burst: 40,
            ping_rate_per_second: 8.0,
            handshake_timeout: Duration::from_secs(5),
            registration_timeout: Duration::from_secs(20),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(15),
            write_coalesce: Duration::from_millis(2),
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
    let mut listed: Vec<String> = config_keys().iter().map(ToString::to_string).collect();
    listed.sort();
    assert_eq!(found, listed);
    assert_eq!(listed.len(), 50);
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

/// A value serde refuses (a wrong type, an unknown enumerated value, a
/// duration humantime cannot read): toml's message names the file, shows the
/// line with the key on it, and says why.
fn assert_refused_at(text: &str, line: usize, reason: &str) {
    let err = error(text);
    let shown = text.lines().nth(line - 1).unwrap();
    assert!(err.starts_with(&format!("{ORIGIN}: ")), "{err}");
    assert!(err.contains(&format!("line {line}")), "{err}");
    assert!(err.contains(shown), "the line is not shown: {err}");
    assert!(err.contains(reason), "{err}");
}

#[test]
fn bad_durations_name_the_key() {
    assert_refused_at(
        "[limits]\nping_interval = \"6x\"\n",
        2,
        "invalid duration \"6x\": unknown time unit \"x\"",
    );
    assert_refused_at(
        "[limits]\nping_interval = 60\n",
        2,
        "expected a duration as a string with a unit (write it like \"60s\" or \"2m\")",
    );
    // Zero is a duration, but not a wait: refused by the key's own check.
    let err = error("shutdown_timeout = \"0s\"\n");
    assert!(
        err.starts_with(&format!(
            "{ORIGIN}: shutdown_timeout: must be longer than 0s"
        )),
        "{err}"
    );
}

#[test]
fn limits_must_be_sane() {
    let cases = [
        ("max_connections = 0", "limits.max_connections"),
        (
            "max_pending_connections = 0",
            "limits.max_pending_connections",
        ),
        (
            "max_connections_per_address = 0",
            "limits.max_connections_per_address",
        ),
        ("max_rooms = 0", "limits.max_rooms"),
        ("history_keep = 0", "limits.history_keep"),
        ("history_max = 0", "limits.history_max"),
        ("rate_burst = 0", "limits.rate_burst"),
        ("max_total_rooms = 0", "limits.max_total_rooms"),
        (
            "room_creations_per_minute = 0",
            "limits.room_creations_per_minute",
        ),
        ("rate_per_second = 0.0", "limits.rate_per_second"),
        ("rate_per_second = nan", "limits.rate_per_second"),
        ("ping_rate_burst = 0", "limits.ping_rate_burst"),
        ("ping_rate_per_second = -1.0", "limits.ping_rate_per_second"),
        ("max_line_bytes = 1023", "limits.max_line_bytes"),
        ("max_text_bytes = 20000", "limits.max_text_bytes"),
        ("max_text_bytes = 0", "limits.max_text_bytes"),
        ("outbound_queue_bytes = 100", "limits.outbound_queue_bytes"),
        ("max_page_bytes = 16383", "limits.max_page_bytes"),
        (
            "outbound_queue_max_bytes = 1100000",
            "limits.max_page_bytes",
        ),
        (
            "outbound_queue_max_bytes = 1048577",
            "limits.outbound_queue_max_bytes",
        ),
        (
            "outbound_queue_bytes = 4194304",
            "limits.outbound_queue_max_bytes",
        ),
        ("idle_timeout = \"60s\"", "limits.idle_timeout"),
        ("idle_timeout = \"0s\"", "limits.idle_timeout"),
        ("write_timeout = \"0s\"", "limits.write_timeout"),
        ("write_coalesce = \"2s\"", "limits.write_coalesce"),
    ];
    for (line, key) in cases {
        let err = error(&format!("[limits]\n{line}\n"));
        assert!(
            err.starts_with(&format!("{ORIGIN}: {key}: ")),
            "{line}: {err}"
        );
    }
    assert_eq!(cases.len(), 25);
}

#[test]
fn the_outbound_queue_must_hold_a_page_and_a_line() {
    // 256 KiB of page and 16 KiB of line above the 1 MiB soft bound: a hard
    // bound of 1 MiB + 272 KiB is just enough.
    let fits = parse("[limits]\noutbound_queue_max_bytes = 1327104\n").unwrap();
    assert_eq!(fits.limits.max_page_bytes, 262_144);
    let err = error("[limits]\noutbound_queue_max_bytes = 1327103\n");
    for named in ["limits.max_page_bytes", "limits.outbound_queue_max_bytes"] {
        assert!(err.contains(named), "{err}");
    }
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
            "[log]\ndir = \"l\"\nfsync_interval = \"0s\"\n",
            "log.fsync_interval: must be longer than 0s",
        ),
    ];
    for (text, start) in cases {
        let err = error(text);
        assert!(
            err.starts_with(&format!("{ORIGIN}: {start}")),
            "{text}: {err}"
        );
    }
    assert_eq!(cases.len(), 3);
    assert_refused_at(
        "[log]\ndir = \"l\"\nfsync = \"sometimes\"\n",
        3,
        "unknown variant `sometimes`, expected one of `always`, `interval`, `never`",
    );
    assert_refused_at(
        "[log]\ndir = \"l\"\nfsync_interval = \"soon\"\n",
        3,
        "invalid duration \"soon\"",
    );
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
        ("state_dir = \"\"", "state_dir"),
    ];
    for (line, key) in cases {
        let err = error(&format!("{line}\n"));
        assert!(
            err.starts_with(&format!("{ORIGIN}: {key}: ")),
            "{line}: {err}"
        );
    }
    assert_eq!(cases.len(), 8);
    assert_refused_at(
        "log_format = \"xml\"\n",
        1,
        "unknown variant `xml`, expected `text` or `json`",
    );
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

#[test]
fn browser_listener_settings_are_checked() {
    let cases = [
        (
            "[[listen]]\naddr = \"127.0.0.1:1\"\norigins = [\"https://a.example\"]\n",
            "listen[0].origins: only a WebSocket listener",
        ),
        (
            "[[listen]]\naddr = \"127.0.0.1:1\"\ntrusted_proxies = [\"127.0.0.1\"]\n",
            "listen[0].trusted_proxies: only a WebSocket listener",
        ),
        (
            "[[listen]]\naddr = \"127.0.0.1:1\"\nwebsocket = true\norigins = [\"chat.example\"]\n",
            "listen[0].origins[0]: \"chat.example\" is not an origin",
        ),
        (
            "[[listen]]\naddr = \"127.0.0.1:1\"\nwebsocket = true\norigins = [\"https://a.example/chat\"]\n",
            "is not an origin",
        ),
        (
            "[[listen]]\naddr = \"127.0.0.1:1\"\nwebsocket = true\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
            "listen[0].trusted_proxies[0]: \"10.0.0.0/8\" is not an IP address",
        ),
    ];
    for (config, expected) in cases {
        let err = error(config);
        assert!(err.contains(expected), "{config}: {err}");
    }
    assert_eq!(cases.len(), 5);
    // Plaintext browsers follow the plaintext rule: loopback only by default.
    let err = error("[[listen]]\naddr = \"0.0.0.0:8080\"\nwebsocket = true\ntls = false\n");
    assert!(err.contains("loopback-only by default"), "{err}");
}
