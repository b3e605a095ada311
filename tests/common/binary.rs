//! The real `confab` binary as a child process: [`BinaryServer`] runs
//! `confab server --config FILE` and follows its log, [`run_confab`] and
//! [`run_binary_to_exit`] run it to completion. Every wait is bounded
//! ([`wait_bounded`]), and a child never outlives its test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Client;
use super::NO_RATE_LIMIT;

/// `confab server --config FILE` running as a child process, its stderr log lines
/// collected as they come. Killed (SIGKILL) when dropped.
pub struct BinaryServer {
    child: Option<std::process::Child>,
    /// The TLS listener's address, from the "listening on" log line.
    pub addr: SocketAddr,
    /// The certificate fingerprint, from the log.
    pub fingerprint: String,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every log line read so far.
    pub log: Vec<String>,
}

/// Writes a config file for the binary in `dir`: a TLS listener on 127.0.0.1:0,
/// a state directory `dir/state`, and `extra` (top-level keys, then tables;
/// a `[[listen]]` table in it comes before the default listener).
pub fn write_binary_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("confab.toml");
    let text = format!(
        "state_dir = {}\nserver_name = \"bin.test\"\nlog_level = \"info\"\n{extra}\n\n[[listen]]\naddr = \"127.0.0.1:0\"\n",
        toml::Value::String(dir.join("state").display().to_string())
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// A config for the binary with rate limits lifted and the message log on in
/// `dir/logs` (`log_extra`: more keys of the `[log]` table). Returns the log
/// directory and the config file.
pub fn write_logged_config(dir: &Path, log_extra: &str) -> (PathBuf, PathBuf) {
    let logs = dir.join("logs");
    let extra = format!(
        "[limits]\n{NO_RATE_LIMIT}\n{}",
        super::logs::log_table(&logs, log_extra)
    );
    (logs, write_binary_config(dir, &extra))
}

/// `confab server --config FILE` with plain logs on a piped stderr.
fn server_command(config: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
    command
        .args(["server", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        // Not under systemd, whatever the environment running the tests says.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    command
}

impl BinaryServer {
    /// Starts the binary and waits (bounded) until it logs its listener and
    /// certificate fingerprint.
    pub async fn start(config: &Path) -> BinaryServer {
        BinaryServer::start_with(config, |_| {}).await
    }

    /// Like [`BinaryServer::start`], with `adjust` applied to the command first
    /// (to set environment variables, say).
    pub async fn start_with(
        config: &Path,
        adjust: impl FnOnce(&mut std::process::Command),
    ) -> BinaryServer {
        use std::io::BufRead;
        let mut command = server_command(config);
        adjust(&mut command);
        let mut child = command.spawn().expect("spawn confab");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        // Drain stderr for the child's whole life so it never blocks on the pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = BinaryServer {
            child: Some(child),
            addr: "127.0.0.1:0".parse().unwrap(),
            fingerprint: String::new(),
            lines,
            log: Vec::new(),
        };
        let line = server.wait_for_log("listening on").await;
        let rest = &line[line.find("listening on ").unwrap() + "listening on ".len()..];
        server.addr = rest
            .split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server.fingerprint = server
            .log
            .iter()
            .find_map(|l| {
                let at = l.find("SHA256:")?;
                l[at..].split_whitespace().next().map(str::to_owned)
            })
            .expect("the fingerprint is logged before the listener");
        server
    }

    /// Waits (bounded by 30 s) for a log line containing `needle` that was not
    /// seen yet, and returns it.
    pub async fn wait_for_log(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => strip_ansi(&line),
                Ok(None) => panic!(
                    "confab exited before logging {needle:?}; its log:\n{}",
                    self.log.join("\n")
                ),
                Err(_) => panic!(
                    "confab did not log {needle:?} within 30 s; its log:\n{}",
                    self.log.join("\n")
                ),
            };
            self.log.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// A registered TLS client of this server.
    pub async fn client(&self, nick: &str) -> Client {
        let mut client = Client::connect_pinned(self.addr, &self.fingerprint, None)
            .await
            .expect("connect to the binary");
        client.hello(nick).await;
        client
    }

    /// The server's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        super::process::rss_kib(self.child.as_ref().expect("running").id())
    }

    /// Sends `signal` (e.g. "-HUP") to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Waits (bounded by 30 s) for the process to exit on its own.
    pub fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        let child = self.child.take().expect("running");
        wait_bounded(child, "confab server").status
    }

    /// SIGKILL, then waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL confab");
            child.wait().expect("reap confab");
        }
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `confab server --config FILE` expecting it to exit (bounded by 30 s);
/// returns its exit code and stderr.
pub fn run_binary_to_exit(config: &Path) -> (Option<i32>, String) {
    let child = server_command(config).spawn().expect("spawn confab");
    let output = wait_bounded(child, "confab server");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

/// Runs `confab ARGS` to completion (bounded by 30 s), stdout and stderr
/// captured, with plain logs and no inherited `RUST_LOG` or `STATE_DIRECTORY`.
pub fn run_confab(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("STATE_DIRECTORY")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn confab");
    wait_bounded(child, &format!("confab {args:?}"))
}

/// Waits for `child` to exit and collects its piped output; past 30 s it is
/// killed and the test fails, naming `what`.
pub fn wait_bounded(child: std::process::Child, what: &str) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output.unwrap_or_else(|e| panic!("wait for {what}: {e}")),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what} did not exit within 30 s");
        }
    }
}

/// Removes ANSI escape sequences, in case the log is coloured after all.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
