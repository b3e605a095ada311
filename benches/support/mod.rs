//! What the benchmarks share: the real `confab` binary started as a child
//! process on loopback (its address and fingerprint read from its log), the
//! client config pinning its certificate (the tests' own, included from
//! `tests/common/tls.rs`), its resident memory (`tests/common/process.rs`), and
//! JSON frames over the client's TLS halves.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;

#[path = "../../tests/common/tls.rs"]
mod tls;
pub use tls::pinned_client_config;

#[path = "../../tests/common/process.rs"]
mod process;

pub type Lines = tokio::io::Lines<
    AsyncBufReader<tokio::io::ReadHalf<tokio_rustls::client::TlsStream<TcpStream>>>,
>;
pub type Writer = tokio::io::WriteHalf<tokio_rustls::client::TlsStream<TcpStream>>;

/// A size from the environment, for quick runs.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The binary benchmarked: this build's, or the one `CONFAB_BENCH_BINARY`
/// names (an older build, for before-and-after figures).
pub fn server_binary() -> std::ffi::OsString {
    std::env::var_os("CONFAB_BENCH_BINARY")
        .filter(|binary| !binary.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_confab").into())
}

/// The server under test, as a child process.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub fingerprint: String,
    _state: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the server on a TLS listener on 127.0.0.1 with no rate limit,
    /// large outbound queues and no per-address limit to speak of (every
    /// benchmark client comes from 127.0.0.1); `extra` is appended to the
    /// `[limits]` table (and may open tables of its own after it).
    pub fn start(state: tempfile::TempDir, extra: &str) -> ServerProcess {
        // A build from before the hard bound and the per-address limit
        // existed refuses their keys.
        let hard = if std::env::var_os("CONFAB_BENCH_PRE_HARD_BOUND").is_some() {
            ""
        } else {
            "outbound_queue_max_bytes = 67108864\nmax_connections_per_address = 100000\n"
        };
        ServerProcess::start_with_limits(
            state,
            &format!(
                "rate_burst = 1000000\nrate_per_second = 1000000.0\n\
                 outbound_queue_bytes = 16777216\n{hard}{extra}"
            ),
        )
    }

    /// Starts the server on a TLS listener on 127.0.0.1 with `limits` as its
    /// `[limits]` table (which may open tables of its own after it): the
    /// defaults for every key it leaves out. `CONFAB_BENCH_BINARY` names
    /// another build of `confab` to run (to measure a build before a change).
    pub fn start_with_limits(state: tempfile::TempDir, limits: &str) -> ServerProcess {
        let text = format!(
            "state_dir = {:?}\nlog_level = \"warn,confab::server=info\"\n\
             [[listen]]\naddr = \"127.0.0.1:0\"\n\
             [limits]\n{limits}",
            state.path()
        );
        let binary = server_binary();
        ServerProcess::start_config(state, Path::new(&binary), &text)
    }

    /// Starts `binary` (this build's, or another to compare with) on the config
    /// `text` as it is, written to the state directory. The log lines it
    /// echoes are warnings, errors and what the message log restored.
    pub fn start_config(state: tempfile::TempDir, binary: &Path, text: &str) -> ServerProcess {
        let config = state.path().join("bench.toml");
        std::fs::write(&config, text).expect("write config");
        let mut child = Command::new(binary)
            .args(["server", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start confab server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let (mut addr, mut fingerprint) = (None, None);
        while addr.is_none() || fingerprint.is_none() {
            let line = lines
                .next()
                .expect("server exited during start-up")
                .expect("read server log");
            if line.contains("message log open") {
                eprintln!("server: {line}");
            }
            if let Some(rest) = line.split("listening on ").nth(1) {
                addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.split("fingerprint ").nth(1) {
                fingerprint = rest.split_whitespace().next().map(str::to_owned);
            }
        }
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            lines
                .map_while(Result::ok)
                .filter(|l| {
                    l.contains("WARN") || l.contains("ERROR") || l.contains("message log open")
                })
                .for_each(|l| eprintln!("server: {l}"))
        });
        ServerProcess {
            child,
            addr: addr.expect("address"),
            fingerprint: fingerprint.expect("fingerprint"),
            _state: state,
        }
    }

    /// The state directory (a fresh temporary one per server).
    pub fn state_dir(&self) -> &Path {
        self._state.path()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        process::rss_kib(self.child.id())
    }

    /// The resident memory of process `pid`, in KiB (to sample it from
    /// another thread).
    pub fn rss_kib_of(pid: u32) -> u64 {
        process::rss_kib(pid)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS connection to the server (certificate pinned by `connector`), split
/// into its line reader and its writer; nothing sent yet.
pub async fn connect(
    server: &ServerProcess,
    connector: &tokio_rustls::TlsConnector,
) -> (Lines, Writer) {
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (read, writer) = tokio::io::split(tls);
    (
        tokio::io::AsyncBufReadExt::lines(AsyncBufReader::new(read)),
        writer,
    )
}

pub async fn send_frame(writer: &mut Writer, frame: &Value) {
    let mut line = frame.to_string();
    line.push('\n');
    writer.write_all(line.as_bytes()).await.expect("send");
    writer.flush().await.expect("flush");
}

pub async fn next_frame(lines: &mut Lines) -> Value {
    let line = lines
        .next_line()
        .await
        .expect("read")
        .expect("server closed the connection");
    serde_json::from_str(&line).expect("server frame is JSON")
}
