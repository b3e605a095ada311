//! Helpers for the client tests: the real `confab client` binary run as a
//! subprocess (as a user or a script runs it), with its own config directory,
//! and a TCP proxy the test can cut to simulate a dropped connection.
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
use tokio::sync::watch;
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
