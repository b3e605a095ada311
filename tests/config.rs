//! The config file as the library reads it: unknown keys are errors naming the key
//! and the file, durations are `"60s"`-style strings, and no `[limits]` means the
//! documented defaults.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn refusal(text: &str) -> String {
    match confab::config::Settings::from_toml_str(text, Path::new("test.toml")) {
        Ok(settings) => panic!("config accepted: {settings:?}\n--- config ---\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_keys_are_errors_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("colour = \"blue\"\n", "colour"),
        ("[limits]\nmax_conections = 5\n", "max_conections"),
        ("[[listen]]\naddr = \"127.0.0.1:0\"\nport = 7667\n", "port"),
        ("[[room]]\nname = \"general\"\ntopics = \"x\"\n", "topics"),
        (
            "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nchain = \"/x.pem\"\n",
            "chain",
        ),
    ];
    for (fragment, key) in cases {
        let text = config_text(dir.path(), fragment);
        let message = refusal(&text);
        assert!(
            message.contains(key),
            "the error does not name {key}: {message}"
        );
        assert!(
            message.contains("test.toml"),
            "the error does not name the file: {message}"
        );
    }
    assert_eq!(cases.len(), 5);
}

#[test]
fn bad_values_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        "[limits]\nping_interval = \"soon\"\n",
        "[limits]\nmax_text_bytes = -1\n",
        "[limits]\nrate_burst = \"many\"\n",
        "[[listen]]\naddr = \"not an address\"\n",
        "[[room]]\nname = \"no spaces allowed\"\n",
    ];
    for fragment in cases {
        let text = config_text(dir.path(), fragment);
        let message = refusal(&text);
        assert!(
            message.contains("test.toml"),
            "the error does not name the file: {message}"
        );
    }
    assert_eq!(cases.len(), 5);
}

#[test]
fn limits_default_and_durations_parse() {
    let dir = tempfile::tempdir().unwrap();
    let settings = parse_settings(&config_text(dir.path(), ""));
    assert_eq!(settings.limits, confab::config::Limits::default());
    assert_eq!(settings.server_name, SERVER_NAME);
    assert_eq!(settings.state_dir, dir.path());
    assert!(settings.motd.is_none());
    assert!(settings.password.is_none());

    let settings = parse_settings(&config_text(
        dir.path(),
        "[limits]\nregistration_timeout = \"200ms\"\nping_interval = \"2m\"\nidle_timeout = \"1h\"\n",
    ));
    assert_eq!(
        settings.limits.registration_timeout,
        Duration::from_millis(200)
    );
    assert_eq!(settings.limits.ping_interval, Duration::from_secs(120));
    assert_eq!(settings.limits.idle_timeout, Duration::from_secs(3600));
}

#[test]
fn the_password_never_shows_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let settings = parse_settings(&config_text(dir.path(), "password = \"hunter2-secret\"\n"));
    let secret = settings.password.as_ref().expect("password parsed");
    assert!(secret.matches("hunter2-secret"));
    assert!(!secret.matches("hunter2"));
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains("hunter2"),
        "password leaked in Debug: {debug}"
    );
}

/// The dotted keys `config.example.toml` shows, whether set or commented out
/// (`# key = value`), each under the table header above it.
fn keys_shown_in_the_example(text: &str) -> std::collections::BTreeSet<String> {
    let mut table = String::new();
    let mut keys = std::collections::BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        let header = line.trim_start_matches('[').trim_end_matches(']');
        let is_name =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if line.starts_with('[') && line.ends_with(']') && is_name(header) {
            header.clone_into(&mut table);
        } else if let Some((key, _)) = line.split_once(" = ") {
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                let dotted = if table.is_empty() {
                    key.to_owned()
                } else {
                    format!("{table}.{key}")
                };
                keys.insert(dotted);
            }
        }
    }
    keys
}

#[test]
fn the_example_config_is_valid_and_shows_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).expect("config.example.toml");
    if let Err(e) = confab::config::Settings::from_toml_str(&text, &path) {
        panic!("config.example.toml does not load: {e}");
    }
    let shown = keys_shown_in_the_example(&text);
    let accepted: Vec<String> = confab::config::config_keys()
        .iter()
        .map(ToString::to_string)
        .collect();
    let missing: Vec<_> = accepted
        .iter()
        .filter(|key| !shown.contains(*key))
        .collect();
    assert!(
        missing.is_empty(),
        "keys config.example.toml does not show: {missing:?}"
    );
    let unknown: Vec<_> = shown.iter().filter(|key| !accepted.contains(key)).collect();
    assert!(
        unknown.is_empty(),
        "config.example.toml shows keys the server does not accept: {unknown:?}"
    );
    assert_eq!(shown.len(), accepted.len());
}
