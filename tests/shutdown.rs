//! Graceful shutdown, in-process through the shutdown token and through the real
//! binary with SIGTERM/SIGINT; and `confab server --check`.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_token_says_bye_to_every_client() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    let mut newcomer = Client::connect(&server).await;
    // Make sure the unregistered connection is being served before shutting down.
    assert_frame(
        &newcomer.request(json!({"type": "ping", "id": 1})).await,
        json!({"type": "ok", "id": 1}),
    );
    let addr = server.addr();

    server.cancel();
    let mut clients = [alice, bob, newcomer];
    for c in clients.iter_mut() {
        // No leave events first: every client just gets bye.
        assert_frame(
            &c.recv().await,
            json!({"type": "bye", "reason": "server shutting down"}),
        );
        c.expect_closed().await;
    }
    assert_eq!(clients.len(), 3);
    server.shutdown().await;
    // No longer accepting.
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener still accepts after shutdown"
    );
}

#[tokio::test]
async fn shutdown_with_no_clients_returns_ok() {
    let server = TestServer::start("").await;
    server.shutdown().await;
}

/// Kills (SIGKILL) and reaps the child if the test ends without it having exited.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Writes a config file for the binary: a TLS listener on 127.0.0.1:0 and a state
/// directory next to it, plus `extra` top-level lines.
fn write_config(dir: &Path, name: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let state = dir.join("state");
    let text = format!(
        "state_dir = {}\nserver_name = \"bin.test\"\nlog_level = \"info\"\n{extra}\n[[listen]]\naddr = \"127.0.0.1:0\"\n",
        toml_string(&state.display().to_string())
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The address in a `listening on <ADDR> (tls)` log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let token = rest.split_whitespace().next()?;
    token
        .trim_matches(|c: char| c == '"' || c == ',' || c == '\'')
        .parse()
        .ok()
}

/// The `SHA256:…` fingerprint in a log line.
fn logged_fingerprint(line: &str) -> Option<String> {
    if !line.contains("fingerprint") {
        return None;
    }
    let start = line.find("SHA256:")?;
    let fingerprint: String = line[start..]
        .chars()
        .enumerate()
        .take_while(|(i, c)| *i < 7 || c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .map(|(_, c)| c)
        .collect();
    (fingerprint.len() > 7).then_some(fingerprint)
}

/// Starts `confab server --config <file>` and waits (bounded) for its log to show
/// the TLS listener's address and the certificate fingerprint.
async fn start_binary(config: &Path) -> (ChildGuard, SocketAddr, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("server")
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn confab");
    let stderr = child.stderr.take().unwrap();
    let guard = ChildGuard(Some(child));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Keep draining stderr for the child's whole life, so it never blocks on a
    // full pipe, whether or not the test is still listening.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut addr, mut fingerprint) = (None, None);
    let mut log = Vec::new();
    while addr.is_none() || fingerprint.is_none() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(remaining, rx.recv()).await {
            Ok(Some(line)) => common::strip_ansi(&line),
            Ok(None) => panic!(
                "confab exited before it was listening; its log:\n{}",
                log.join("\n")
            ),
            Err(_) => panic!(
                "confab did not log its listener and fingerprint within 30 s:\n{}",
                log.join("\n")
            ),
        };
        if line.contains("(tls)") {
            addr = addr.or(listening_addr(&line));
        }
        fingerprint = fingerprint.or(logged_fingerprint(&line));
        log.push(line);
    }
    (guard, addr.unwrap(), fingerprint.unwrap())
}

async fn signal_stops_the_binary_gracefully(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "confab.toml", "");
    let (mut guard, addr, fingerprint) = start_binary(&config).await;
    assert!(addr.ip().is_loopback(), "{addr}");

    let mut alice = Client::connect_pinned(addr, &fingerprint, None)
        .await
        .expect("connect to the binary with the logged fingerprint");
    assert_frame(
        &alice
            .request(json!({"type": "hello", "nick": "alice"}))
            .await,
        json!({"type": "ok", "nick": "alice", "server": "bin.test", "version": VERSION, "protocol": "1.2", "limits": default_limits()}),
    );
    alice.join("lobby").await;

    let pid = guard.0.as_ref().unwrap().id();
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");

    assert_frame(
        &alice.recv().await,
        json!({"type": "bye", "reason": "server shutting down"}),
    );
    alice.expect_closed().await;

    let mut child = guard.0.take().unwrap();
    let waited = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || {
            let status = child.wait();
            (child, status)
        }),
    )
    .await;
    match waited {
        Ok(joined) => {
            let (_child, status) = joined.expect("wait task");
            let status = status.expect("wait for confab");
            assert_eq!(
                status.code(),
                Some(0),
                "confab exited with {status} after {signal}"
            );
        }
        Err(_) => {
            // The blocking task still owns the child; kill it by its pid.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("confab did not exit within 20 s of {signal}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_binary_with_bye_and_exit_0() {
    signal_stops_the_binary_gracefully("-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_binary_with_bye_and_exit_0() {
    signal_stops_the_binary_gracefully("-INT").await;
}

fn check(config: &Path) -> Output {
    run_confab(&[
        "server".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--check".as_ref(),
    ])
}

#[test]
fn check_accepts_a_good_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "good.toml", "motd = \"hi\"\n");
    let output = check(&config);
    assert!(
        output.status.success(),
        "--check refused a good config: {}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn check_refuses_a_bad_config_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown-top.toml", "colour = \"blue\"\n", "colour"),
        (
            "unknown-limit.toml",
            "[limits]\nmax_conections = 5\n",
            "max_conections",
        ),
    ];
    for (name, extra, key) in cases {
        let config = write_config(dir.path(), name, extra);
        let output = check(&config);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "--check accepted {name}");
        assert!(
            stderr.contains(name),
            "stderr does not name the file {name}:\n{stderr}"
        );
        assert!(
            stderr.contains(key),
            "stderr does not name the key {key}:\n{stderr}"
        );
    }
    assert_eq!(cases.len(), 2);

    // A plaintext listener off loopback.
    let path = dir.path().join("plaintext.toml");
    std::fs::write(
        &path,
        format!(
            "state_dir = {}\n[[listen]]\naddr = \"0.0.0.0:7667\"\ntls = false\n",
            toml_string(&dir.path().join("state").display().to_string())
        ),
    )
    .unwrap();
    let output = check(&path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "--check accepted plaintext on 0.0.0.0"
    );
    assert!(stderr.to_lowercase().contains("loopback"), "{stderr}");
    assert!(stderr.contains("plaintext.toml"), "{stderr}");
}
