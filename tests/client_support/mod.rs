//! Helpers for the client tests: the real `confab client` binary run as a
//! subprocess (as a user or a script runs it), with its own config directory,
//! a TCP proxy the test can cut to simulate a dropped connection, and a fake
//! server over real TLS for servers the real one is not (hostile, newer, older).
//!
//! Every wait is bounded by [`WAIT`]; nothing sleeps.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long any one expected line or exit may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// The most lines a test reads while looking for one.
const MAX_LINES: usize = 500;

/// A running `confab client`.
pub struct ClientProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: JoinHandle<String>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
}

/// How a finished client ended.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    /// The stdout lines not yet read by the test when it finished.
    pub stdout: Vec<String>,
    /// Every stdout line, the ones the test read included.
    pub all_stdout: Vec<String>,
    pub stderr: String,
}

/// A fresh `XDG_CONFIG_HOME` for one client (no client.toml, no known hosts).
pub fn config_home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp config home")
}

/// The known-hosts file under a config home.
pub fn known_hosts(config_home: &Path) -> PathBuf {
    config_home.join("confab").join("known_hosts")
}

impl ClientProcess {
    /// Starts `confab ARGS…` with stdin, stdout and stderr piped.
    pub fn spawn(args: &[&str], config_home: &Path) -> ClientProcess {
        ClientProcess::spawn_program(env!("CARGO_BIN_EXE_confab"), args, config_home)
    }

    /// Starts `confab ARGS…` on a terminal of its own (a pseudo-terminal made by
    /// util-linux `script`), as a person at a keyboard runs it; the test types
    /// into stdin and reads the screen from stdout.
    pub fn spawn_in_terminal(args: &[&str], config_home: &Path) -> ClientProcess {
        let mut command = String::from(env!("CARGO_BIN_EXE_confab"));
        for arg in args {
            command.push_str(&format!(" '{}'", arg.replace('\'', "'\\''")));
        }
        ClientProcess::spawn_program(
            "script",
            &["-q", "-e", "-c", &command, "/dev/null"],
            config_home,
        )
    }

    /// Starts any program the same way.
    pub fn spawn_program(program: &str, args: &[&str], config_home: &Path) -> ClientProcess {
        let mut child = Command::new(program)
            .args(args)
            .env("TERM", "xterm")
            .env("XDG_CONFIG_HOME", config_home)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text).await;
            text
        });
        ClientProcess {
            child,
            stdin,
            stdout,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Writes one line to the client's stdin.
    pub async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to the client's stdin");
        stdin.flush().await.expect("flush the client's stdin");
    }

    /// Ends the client's input.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line; panics after [`WAIT`] or at end of output.
    pub async fn next_line(&mut self) -> String {
        let line = tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("no stdout line within {WAIT:?}; so far: {:#?}", self.seen))
            .expect("read the client's stdout")
            .unwrap_or_else(|| panic!("stdout ended; so far: {:#?}", self.seen));
        self.seen.push(line.clone());
        line
    }

    /// Reads stdout until a line contains `needle`, and returns that line.
    pub async fn line_containing(&mut self, needle: &str) -> String {
        for _ in 0..MAX_LINES {
            let line = self.next_line().await;
            if line.contains(needle) {
                return line;
            }
        }
        panic!(
            "no line containing {needle:?} in {MAX_LINES} lines: {:#?}",
            self.seen
        )
    }

    /// Closes stdin (if open), waits for the exit and collects what is left.
    pub async fn finish(mut self) -> Finished {
        self.stdin = None;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the client did not exit within {WAIT:?}; stdout: {:#?}",
                    self.seen
                )
            })
            .expect("wait for the client");
        let mut rest = Vec::new();
        while let Ok(Some(line)) = self.stdout.next_line().await {
            rest.push(line);
        }
        let stderr = self.stderr.await.unwrap_or_default();
        let mut all_stdout = self.seen;
        all_stdout.extend(rest.iter().cloned());
        Finished {
            code: status.code(),
            stdout: rest,
            all_stdout,
            stderr,
        }
    }
}

/// Runs `confab ARGS…` with `input` on stdin to its end.
pub async fn run_client(args: &[&str], input: &str, config_home: &Path) -> Finished {
    let mut client = ClientProcess::spawn(args, config_home);
    if !input.is_empty() {
        let stdin = client.stdin.as_mut().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
    }
    client.finish().await
}

/// A TCP proxy in front of a server, whose connections the test can cut, hold
/// back, and send to another server (a restarted one).
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    cut: watch::Sender<u64>,
    /// `false` while new connections are held back.
    open: watch::Sender<bool>,
    target: Arc<Mutex<std::net::SocketAddr>>,
    /// Connections accepted so far.
    accepted: Arc<Mutex<u64>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Forwards every connection on a fresh loopback port to `target`.
    pub async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (cut, cuts) = watch::channel(0u64);
        let (open, opened) = watch::channel(true);
        let target = Arc::new(Mutex::new(target));
        let accepted = Arc::new(Mutex::new(0));
        let counter = accepted.clone();
        let current_target = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                *counter.lock().unwrap() += 1;
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                let mut opened = opened.clone();
                let current_target = current_target.clone();
                tokio::spawn(async move {
                    // A held connection waits here, its client mid-connect,
                    // and goes wherever the proxy points once let through.
                    if opened.wait_for(|open| *open).await.is_err() {
                        return;
                    }
                    let target = *current_target.lock().unwrap();
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                    // Dropping both sockets closes them: the connection is cut.
                });
            }
        });
        Proxy {
            addr,
            cut,
            open,
            target,
            accepted,
            task,
        }
    }

    /// Closes every connection open now; new ones are still accepted.
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Holds new connections back (accepted, not forwarded) until [`Proxy::release`].
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    /// Lets held and new connections through.
    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Forwards connections made from now on (and held ones) to `target`.
    pub fn retarget(&self, target: std::net::SocketAddr) {
        *self.target.lock().unwrap() = target;
    }

    pub fn accepted(&self) -> u64 {
        *self.accepted.lock().unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A scripted server over real TLS with a self-signed certificate: it answers
/// each request line with whatever `respond` returns, and tells the test every
/// request it got.
pub struct FakeServer {
    pub addr: std::net::SocketAddr,
    pub fingerprint: String,
    /// `(connection number from 0, request)` for every request line.
    pub requests: mpsc::UnboundedReceiver<(usize, serde_json::Value)>,
    pub task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// What the fake server does with one request.
pub struct Answer {
    /// Lines to send, in order.
    pub lines: Vec<String>,
    /// Close the connection after sending them.
    pub close: bool,
}

impl FakeServer {
    /// Serves `connections` connections one after the other, then stops.
    pub async fn start(
        connections: usize,
        respond: impl Fn(usize, &serde_json::Value) -> Answer + Send + 'static,
    ) -> FakeServer {
        let dir = tempfile::tempdir().unwrap();
        let identity = confab::tls::load_identity(
            &confab::config::TlsSource::SelfSigned,
            dir.path(),
            "localhost",
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&identity.config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (told, requests) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            for connection in 0..connections {
                let (tcp, _) = listener.accept().await.unwrap();
                let tls = acceptor.accept(tcp).await.unwrap();
                let (read, mut write) = tokio::io::split(tls);
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let request: serde_json::Value = serde_json::from_str(&line).unwrap();
                    let answer = respond(connection, &request);
                    let _ = told.send((connection, request));
                    for reply in answer.lines {
                        write
                            .write_all(format!("{reply}\n").as_bytes())
                            .await
                            .unwrap();
                    }
                    if answer.close {
                        let _ = write.shutdown().await;
                        break;
                    }
                }
            }
        });
        FakeServer {
            addr,
            fingerprint: identity.fingerprint,
            requests,
            task,
            _dir: dir,
        }
    }

    /// The next request the server got; panics after [`WAIT`].
    pub async fn next_request(&mut self) -> (usize, serde_json::Value) {
        tokio::time::timeout(WAIT, self.requests.recv())
            .await
            .unwrap_or_else(|_| panic!("no request within {WAIT:?}"))
            .expect("the fake server stopped")
    }
}

/// The `ok` of a `hello` as a server of protocol `protocol` (none: 1.0) sends
/// it, with `extra` fields.
pub fn hello_ok(request: &serde_json::Value, protocol: Option<&str>, extra: &str) -> String {
    let protocol = protocol
        .map(|p| format!(r#","protocol":"{p}""#))
        .unwrap_or_default();
    format!(
        r#"{{"type":"ok","id":{},"nick":{},"server":"fake","version":"9.9.9"{protocol},"limits":{{"max_line_bytes":16384,"max_text_bytes":4096,"max_rooms":64,"history_max":200}}{extra}}}"#,
        request["id"], request["nick"]
    )
}
