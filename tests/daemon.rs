//! The real binary as a daemon: systemd's readiness protocol on a test-owned
//! `NOTIFY_SOCKET`, SIGHUP reloading the config file (certificate rotation
//! included) without dropping anyone, a broken config refused, and the log
//! formats for journald and for log shippers.

mod common;

use std::io::BufRead;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A Unix datagram socket standing in for systemd's notification socket.
struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set a read timeout");
        NotifySocket { socket, path }
    }

    /// The next notification, as its `KEY=value` lines (bounded by 30 s).
    fn next(&self) -> Vec<String> {
        let mut buffer = [0u8; 4096];
        let n = self
            .socket
            .recv(&mut buffer)
            .expect("a notification within 30 s");
        String::from_utf8(buffer[..n].to_vec())
            .expect("a UTF-8 notification")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn systemd_hears_ready_then_reloading_and_ready_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify = NotifySocket::bind(dir.path());
    let config = write_binary_config(dir.path(), "");
    let mut server = BinaryServer::start_with(&config, |command| {
        command.env("NOTIFY_SOCKET", &notify.path);
    })
    .await;

    let ready = notify.next();
    assert_eq!(ready[0], "READY=1", "the first notification: {ready:?}");
    assert!(
        ready.contains(&format!("STATUS=listening on {}", server.addr)),
        "{ready:?}"
    );
    // Ready means accepting: a client gets in straight away.
    let mut alice = server.client("alice").await;

    server.signal("-HUP");
    let reloading = notify.next();
    assert_eq!(reloading[0], "RELOADING=1", "{reloading:?}");
    let clock = reloading[1]
        .strip_prefix("MONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC after RELOADING=1: {reloading:?}"));
    assert!(clock.parse::<u64>().is_ok_and(|usec| usec > 0), "{clock}");
    assert_eq!(notify.next()[0], "READY=1");
    alice.ping_roundtrip().await;

    server.signal("-TERM");
    let stopping = notify.next();
    assert_eq!(stopping[0], "STOPPING=1", "{stopping:?}");
    server.wait_for_log("shut down cleanly").await;
}

#[tokio::test]
async fn sighup_rotates_the_certificate_and_motd_without_dropping_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let first = write_certificate(&certs);
    let config = write_binary_config(
        dir.path(),
        &format!("motd = \"before\"\n{}", first.tls_table()),
    );
    let mut server = BinaryServer::start(&config).await;
    assert_eq!(server.fingerprint, first.fingerprint);
    let mut alice = Client::connect_pinned(server.addr, &first.fingerprint, None)
        .await
        .expect("connect with the first certificate");
    assert_eq!(alice.hello("alice").await["motd"], "before");
    alice.join("lobby").await;

    // Rotation as an operator does it: new files at the same paths, new motd.
    let second = write_certificate(&certs);
    write_binary_config(
        dir.path(),
        &format!("motd = \"after\"\n{}", second.tls_table()),
    );
    server.signal("-HUP");
    server
        .wait_for_log(&format!("new certificate {}", second.fingerprint))
        .await;
    let reloaded = server.wait_for_log("configuration reloaded").await;
    assert!(reloaded.ends_with(": motd changed"), "{reloaded}");

    assert!(
        Client::connect_pinned(server.addr, &first.fingerprint, None)
            .await
            .is_err(),
        "a new connection was still served the old certificate"
    );
    let mut bob = Client::connect_pinned(server.addr, &second.fingerprint, None)
        .await
        .expect("connect with the new certificate");
    assert_eq!(bob.hello("bob").await["motd"], "after");

    // Alice, on her old TLS session, is untouched and hears everything.
    bob.join("lobby").await;
    assert_frame(
        &alice.recv().await,
        json!({"type": "join", "room": "lobby", "nick": "bob", "ts": "<ts>"}),
    );
    alice.say("lobby", "still here").await;
    assert_eq!(bob.recv().await["text"], "still here");
}

#[tokio::test]
async fn a_broken_config_on_sighup_is_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_binary_config(dir.path(), "motd = \"kept\"");
    let mut server = BinaryServer::start(&config).await;
    let mut alice = server.client("alice").await;

    let broken = [
        ("motd = 12", "line 4, column 8: invalid type"),
        ("[limits]\nmax_conections = 3", "max_conections"),
        (
            "motd = \"new\"\n[tls]\ncert = \"missing.pem\"\nkey = \"missing.pem\"",
            "tls.cert",
        ),
    ];
    for (i, (fragment, named)) in broken.iter().enumerate() {
        write_binary_config(dir.path(), fragment);
        server.signal("-HUP");
        let refused = server.wait_for_log("reload refused").await;
        assert!(refused.contains("ERROR"), "{refused}");
        assert!(refused.contains(named), "{fragment:?}: {refused}");
        let mut newcomer = Client::connect_pinned(server.addr, &server.fingerprint, None)
            .await
            .expect("the old certificate is still served");
        let hello = newcomer.hello(&format!("user{i}")).await;
        assert_eq!(hello["motd"], "kept", "{fragment:?}");
    }
    assert_eq!(broken.len(), 3);
    alice.ping_roundtrip().await;

    // A changed listener is applied only by a restart, and says so.
    write_binary_config(
        dir.path(),
        "motd = \"kept\"\n[[listen]]\naddr = \"127.0.0.1:0\"\ntls = false",
    );
    server.signal("-HUP");
    let warning = server.wait_for_log("takes a restart").await;
    assert!(
        warning.contains("WARN") && warning.contains("listen"),
        "{warning}"
    );
}

/// Reads stderr lines from `pipe` on a thread, for the test to wait on.
fn collect_lines(pipe: std::io::PipeReader) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Lines up to and including the first that contains `needle` (30 s bound).
fn lines_until(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no line with {needle:?} ({e}); saw {seen:#?}"));
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
}

/// Starts the binary with its stderr on a pipe the test reads, and `env`.
fn spawn_with_stderr_pipe(
    config: &Path,
    env: impl FnOnce(&std::io::PipeWriter) -> Vec<(String, String)>,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let (reader, writer) = std::io::pipe().expect("make a pipe");
    let vars = env(&writer);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["server", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .envs(vars)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(writer)
        .spawn()
        .expect("spawn confab");
    (child, collect_lines(reader))
}

/// SIGTERM, then the exit (bounded), which must be clean.
fn stop(child: std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let exit = wait_bounded(child, "confab after SIGTERM").status;
    assert!(exit.success(), "{exit}");
}

#[test]
fn under_journald_lines_carry_a_priority_and_no_timestamp_or_colour() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let config = write_binary_config(dir.path(), "");
    let (child, lines) = spawn_with_stderr_pipe(&config, |stderr| {
        let stat = std::fs::File::from(
            std::os::fd::AsFd::as_fd(stderr)
                .try_clone_to_owned()
                .expect("dup the pipe"),
        )
        .metadata()
        .expect("fstat the pipe");
        vec![(
            "JOURNAL_STREAM".to_owned(),
            format!("{}:{}", stat.dev(), stat.ino()),
        )]
    });
    let start = lines_until(&lines, "listening on");
    for line in &start {
        assert!(line.starts_with("<6> INFO "), "{line:?}");
        assert!(!line.contains('\u{1b}'), "a colour code: {line:?}");
    }
    // A warning ranks as one: a changed listener asks for a restart.
    write_binary_config(
        dir.path(),
        "[[listen]]\naddr = \"127.0.0.1:0\"\ntls = false",
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let warning = lines_until(&lines, "takes a restart").pop().unwrap();
    assert!(warning.starts_with("<4> WARN "), "{warning:?}");
    stop(child);
}

#[test]
fn without_journald_text_lines_keep_their_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_binary_config(dir.path(), "");
    // JOURNAL_STREAM naming some other stream (inherited from a parent whose
    // stderr was the journal) does not count.
    let (child, lines) = spawn_with_stderr_pipe(&config, |_| {
        vec![("JOURNAL_STREAM".to_owned(), "1:1".to_owned())]
    });
    let line = lines_until(&lines, "listening on").pop().unwrap();
    assert!(!line.starts_with('<'), "{line:?}");
    let year = line.get(..4).unwrap_or_default();
    assert!(
        year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()),
        "no timestamp first: {line:?}"
    );
    stop(child);
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_binary_config(dir.path(), "log_format = \"json\"");
    let (child, lines) = spawn_with_stderr_pipe(&config, |_| Vec::new());
    let start = lines_until(&lines, "listening on");
    let objects: Vec<Value> = start
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    for object in &objects {
        assert_eq!(object["level"], "INFO", "{object}");
        assert!(object["timestamp"].is_string(), "{object}");
        assert!(object["fields"]["message"].is_string(), "{object}");
    }
    let last = objects.last().unwrap();
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("listening on 127.0.0.1:"),
        "{last}"
    );
    stop(child);
}
