//! Helpers shared by the integration tests: a real server started in-process on
//! `127.0.0.1:0` with its own temporary state directory, and a line-oriented client
//! that talks to it over real TLS (pinning the server's self-signed certificate by
//! fingerprint, the way a user's client trusts it) or over a plaintext listener.
//!
//! Every read is bounded by [`FRAME_TIMEOUT`]: a test waits on the frame it expects,
//! never sleeps. To prove a connection was *not* sent something, use
//! [`Client::ping_roundtrip`]: the server queues a request's events to every recipient
//! before the response, so once another connection's `ping` is answered, any event
//! for it would already have arrived.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ProtocolVersion, SupportedProtocolVersion};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

/// How long any single expected frame, connection or close may take.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// The crate version the server must report in its `hello` response.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `server_name` every test server is given unless the test overrides it.
pub const SERVER_NAME: &str = "test.confab";

/// A config fragment that lifts the rate limit out of the way, for tests that send
/// many requests and are not about the rate limit.
pub const NO_RATE_LIMIT: &str = "rate_burst = 1000000\nrate_per_second = 1000000.0\n";

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// A server running in-process on a tokio task. The test owns its shutdown token.
pub struct TestServer {
    /// Listener addresses in config order: `[0]` is always the default TLS listener
    /// on 127.0.0.1, then the listeners the test's extra TOML added.
    pub addrs: Vec<SocketAddr>,
    /// The certificate fingerprint the server reports (`SHA256:…`).
    pub fingerprint: String,
    /// The state directory the server was given.
    pub state_dir: PathBuf,
    reloader: confab::server::Reloader,
    token: CancellationToken,
    task: Option<JoinHandle<Result<(), String>>>,
    // Kept last so the directory outlives the server task's use of it.
    _tmp: Option<TempDir>,
}

/// Builds the test config text: `state_dir`, `server_name = "test.confab"` and one
/// TLS listener on `127.0.0.1:0`, merged with `extra_toml`.
///
/// `extra_toml` is ordinary config TOML: top-level keys (`password`, `motd`, or an
/// override of `server_name`), a `[limits]` table, `[[room]]` entries, and
/// `[[listen]]` entries, which are added *after* the default TLS listener.
pub fn config_text(state_dir: &Path, extra_toml: &str) -> String {
    let mut table: toml::Table = extra_toml
        .parse()
        .unwrap_or_else(|e| panic!("test config fragment is not TOML: {e}\n{extra_toml}"));
    table
        .entry("state_dir")
        .or_insert_with(|| toml::Value::String(state_dir.display().to_string()));
    table
        .entry("server_name")
        .or_insert_with(|| toml::Value::String(SERVER_NAME.to_string()));
    let mut default_listener = toml::Table::new();
    default_listener.insert("addr".into(), toml::Value::String("127.0.0.1:0".into()));
    let mut listeners = vec![toml::Value::Table(default_listener)];
    if let Some(extra) = table.remove("listen") {
        match extra {
            toml::Value::Array(items) => listeners.extend(items),
            other => panic!("`listen` in a test config must be an array of tables: {other}"),
        }
    }
    table.insert("listen".into(), toml::Value::Array(listeners));
    toml::to_string(&table).expect("serialize test config")
}

/// Parses a config text exactly the way the tests' servers get theirs.
pub fn parse_settings(text: &str) -> confab::config::Settings {
    confab::config::Settings::from_toml_str(text, Path::new("test.toml"))
        .unwrap_or_else(|e| panic!("test config refused: {e}\n--- config ---\n{text}"))
}

impl TestServer {
    /// Starts a server with a fresh temporary state directory and `extra_toml`
    /// merged into the default test config (see [`config_text`]).
    pub async fn start(extra_toml: &str) -> TestServer {
        let tmp = tempfile::tempdir().expect("create temp state dir");
        let mut server = TestServer::start_in(tmp.path(), extra_toml).await;
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on a state directory the test owns (to start a second
    /// server on the same directory, e.g. to check the certificate is reused).
    pub async fn start_in(state_dir: &Path, extra_toml: &str) -> TestServer {
        let text = config_text(state_dir, extra_toml);
        let settings = parse_settings(&text);
        let server = tokio::time::timeout(FRAME_TIMEOUT, confab::server::Server::bind(settings))
            .await
            .expect("Server::bind did not finish within 10 s")
            .unwrap_or_else(|e| panic!("Server::bind failed: {e}\n--- config ---\n{text}"));
        let addrs = server.local_addrs();
        let fingerprint = server.fingerprint().to_string();
        let reloader = server.reloader();
        assert!(!addrs.is_empty(), "the server reports no listener address");
        for addr in &addrs {
            assert!(
                addr.ip().is_loopback(),
                "test listener {addr} is not loopback"
            );
            assert_ne!(addr.port(), 0, "local_addrs must report the bound port");
        }
        let token = CancellationToken::new();
        let run_token = token.clone();
        let task =
            tokio::spawn(async move { server.run(run_token).await.map_err(|e| e.to_string()) });
        TestServer {
            addrs,
            fingerprint,
            state_dir: state_dir.to_path_buf(),
            reloader,
            token,
            task: Some(task),
            _tmp: None,
        }
    }

    /// The default TLS listener.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Reloads the running server with the test config made of `extra_toml`
    /// (see [`config_text`]), as SIGHUP does with a changed config file.
    pub async fn reload(
        &self,
        extra_toml: &str,
    ) -> Result<confab::server::ReloadReport, confab::tls::TlsError> {
        let settings = parse_settings(&config_text(&self.state_dir, extra_toml));
        tokio::time::timeout(FRAME_TIMEOUT, self.reloader.reload(settings))
            .await
            .expect("reload did not finish within 10 s")
    }

    /// Starts a graceful shutdown without waiting for it (the test then watches
    /// its clients receive `bye`).
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Cancels the shutdown token, waits (bounded) for `run` to return, and asserts
    /// it returned `Ok`.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        let task = self.task.take().expect("server task already awaited");
        let joined = tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("server run() did not return within 20 s of cancelling its token");
        let result = joined.expect("server task panicked");
        if let Err(e) = result {
            panic!("server run() returned an error after shutdown: {e}");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A test that panicked before `shutdown` must not leave a server running.
        self.token.cancel();
    }
}

// ---------------------------------------------------------------------------
// TLS with a pinned certificate
// ---------------------------------------------------------------------------

/// A rustls client config that trusts only the certificate with `fingerprint`
/// (the library's pinning verifier, as the real client uses it).
/// `versions`: `None` for the safe defaults (TLS 1.2 and 1.3).
pub fn pinned_client_config(
    fingerprint: &str,
    versions: Option<&[&'static SupportedProtocolVersion]>,
) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider);
    let builder = match versions {
        None => builder.with_safe_default_protocol_versions(),
        Some(versions) => builder.with_protocol_versions(versions),
    }
    .expect("protocol versions supported by the ring provider");
    builder
        .dangerous()
        .with_custom_certificate_verifier(confab::tls::pinned_verifier(fingerprint))
        .with_no_client_auth()
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// Anything a [`Client`] can talk through: a TLS stream or a bare TCP stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One connection to the server, reading and writing whole lines.
pub struct Client {
    /// Used in panic messages to say which connection misbehaved.
    pub label: String,
    /// The TLS version negotiated (`None` on a plaintext connection).
    pub tls_version: Option<ProtocolVersion>,
    reader: BufReader<ReadHalf<Box<dyn Stream>>>,
    writer: WriteHalf<Box<dyn Stream>>,
}

impl Client {
    /// Connects over TLS to the server's first (TLS) listener, pinning its
    /// certificate fingerprint.
    pub async fn connect(server: &TestServer) -> Client {
        Client::connect_pinned(server.addr(), &server.fingerprint, None)
            .await
            .unwrap_or_else(|e| panic!("TLS connection to {} failed: {e}", server.addr()))
    }

    /// Connects over TLS to `addr`, trusting only the certificate with
    /// `fingerprint`. Fails (rather than panics) when the handshake fails.
    pub async fn connect_pinned(
        addr: SocketAddr,
        fingerprint: &str,
        versions: Option<&[&'static SupportedProtocolVersion]>,
    ) -> io::Result<Client> {
        let config = pinned_client_config(fingerprint, versions);
        let connect = async {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from("localhost").expect("valid server name");
            TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
        };
        let tls = tokio::time::timeout(FRAME_TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| panic!("TLS connection to {addr} did not complete within 10 s"))?;
        let version = tls.get_ref().1.protocol_version();
        let mut client = Client::from_stream(Box::new(tls), format!("tls client of {addr}"));
        client.tls_version = version;
        Ok(client)
    }

    /// Connects to a plaintext listener.
    pub async fn connect_plain(addr: SocketAddr) -> Client {
        let tcp = tokio::time::timeout(FRAME_TIMEOUT, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("TCP connection to {addr} did not complete within 10 s"))
            .unwrap_or_else(|e| panic!("TCP connection to {addr} failed: {e}"));
        tcp.set_nodelay(true).expect("set TCP_NODELAY");
        Client::from_stream(Box::new(tcp), format!("plaintext client of {addr}"))
    }

    fn from_stream(stream: Box<dyn Stream>, label: String) -> Client {
        let (read, write) = tokio::io::split(stream);
        Client {
            label,
            tls_version: None,
            reader: BufReader::new(read),
            writer: write,
        }
    }

    /// Sends one frame as one line.
    pub async fn send(&mut self, frame: Value) {
        let mut line = serde_json::to_vec(&frame).expect("serialize frame");
        line.push(b'\n');
        self.send_raw(&line).await;
    }

    /// Sends bytes as they are (several lines, partial lines, invalid UTF-8…).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let label = &self.label;
        let writer = &mut self.writer;
        let write = async {
            writer.write_all(bytes).await?;
            writer.flush().await
        };
        tokio::time::timeout(FRAME_TIMEOUT, write)
            .await
            .unwrap_or_else(|_| panic!("{label}: write did not complete within 10 s"))
            .unwrap_or_else(|e| panic!("{label}: write failed: {e}"));
    }

    /// Ends our sending direction (TLS close_notify, then TCP FIN) and keeps reading.
    pub async fn close_write(&mut self) {
        tokio::time::timeout(FRAME_TIMEOUT, self.writer.shutdown())
            .await
            .unwrap_or_else(|_| panic!("{}: shutdown did not complete", self.label))
            .unwrap_or_else(|e| panic!("{}: shutdown failed: {e}", self.label));
    }

    /// Reads one line: `Some(bytes)` (without the `\n`), or `None` at end of stream
    /// (a reset counts as the end too). Panics after [`FRAME_TIMEOUT`].
    async fn read_line(&mut self) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        let read = tokio::time::timeout(FRAME_TIMEOUT, self.reader.read_until(b'\n', &mut line))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{}: no frame within 10 s (partial line so far: {:?})",
                    self.label,
                    String::from_utf8_lossy(&line)
                )
            });
        match read {
            Ok(0) | Err(_) if line.is_empty() => None,
            Ok(_) => {
                assert_eq!(
                    line.last(),
                    Some(&b'\n'),
                    "{}: the server ended the stream inside a frame: {:?}",
                    self.label,
                    String::from_utf8_lossy(&line)
                );
                line.pop();
                Some(line)
            }
            Err(e) => panic!(
                "{}: read failed inside a frame ({e}): {:?}",
                self.label,
                String::from_utf8_lossy(&line)
            ),
        }
    }

    /// Reads the next frame; panics on timeout, end of stream, or a line that is
    /// not a JSON object.
    pub async fn recv(&mut self) -> Value {
        let Some(line) = self.read_line().await else {
            panic!(
                "{}: connection closed while waiting for a frame",
                self.label
            )
        };
        parse_frame(&self.label, &line)
    }

    /// Reads the next frame, or `None` when the server closed the connection.
    pub async fn try_recv(&mut self) -> Option<Value> {
        let line = self.read_line().await?;
        Some(parse_frame(&self.label, &line))
    }

    /// Asserts the server closes the connection next, with no further frame.
    pub async fn expect_closed(&mut self) {
        if let Some(frame) = self.try_recv().await {
            panic!(
                "{}: expected the connection to close, got {frame}",
                self.label
            );
        }
    }

    /// Reads every frame until the server closes the connection. Bounded by
    /// `max_frames` so a server that never closes fails the test.
    pub async fn recv_until_closed(&mut self, max_frames: usize) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Some(frame) = self.try_recv().await {
            frames.push(frame);
            assert!(
                frames.len() <= max_frames,
                "{}: more than {max_frames} frames and still not closed",
                self.label
            );
        }
        frames
    }

    /// Sends a frame and returns the next frame received.
    pub async fn request(&mut self, frame: Value) -> Value {
        self.send(frame).await;
        self.recv().await
    }

    /// Reads the next frame and asserts it is an `error` with `code` and `id`.
    pub async fn expect_error(&mut self, code: &str, id: Option<Value>) {
        let frame = self.recv().await;
        assert_error(&frame, code, id);
    }

    /// Sends `frame` and asserts the response is an `error` with `code`, echoing
    /// `frame`'s `id` when it has one.
    pub async fn request_error(&mut self, frame: Value, code: &str) {
        let id = frame.get("id").cloned();
        self.send(frame.clone()).await;
        let response = self.recv().await;
        if !response.get("type").is_some_and(|t| t == "error") {
            panic!(
                "{}: request {frame} should fail with {code}, got {response}",
                self.label
            );
        }
        assert_error(&response, code, id);
    }

    /// Sends each request with its index as `id` and checks each gets an `error`
    /// with its code. Returns how many were checked, for the caller to assert.
    pub async fn request_errors(&mut self, cases: &[(Value, &str)]) -> usize {
        for (i, (request, code)) in cases.iter().enumerate() {
            let mut request = request.clone();
            request["id"] = json!(i);
            self.request_error(request, code).await;
        }
        cases.len()
    }

    /// Sends `{"type":"ping","id":"sync"}` and reads until its response, returning
    /// the frames that arrived before it: everything the server had queued for this
    /// connection when it handled the ping.
    pub async fn ping_roundtrip(&mut self) -> Vec<Value> {
        self.send(json!({"type": "ping", "id": "sync"})).await;
        let mut before = Vec::new();
        loop {
            let frame = self.recv().await;
            if frame == json!({"type": "ok", "id": "sync"}) {
                return before;
            }
            before.push(frame);
            assert!(
                before.len() < 100_000,
                "{}: ping response never came",
                self.label
            );
        }
    }

    /// Asserts nothing was queued for this connection (see [`Client::ping_roundtrip`]).
    pub async fn expect_nothing(&mut self) {
        let frames = self.ping_roundtrip().await;
        assert!(
            frames.is_empty(),
            "{}: expected no frame, got {frames:?}",
            self.label
        );
    }

    /// Registers with `nick` and asserts the `ok`. Returns the response.
    pub async fn hello(&mut self, nick: &str) -> Value {
        self.label = format!("{nick} ({})", self.label);
        let frame = self.request(json!({"type": "hello", "nick": nick})).await;
        assert_eq!(frame["type"], "ok", "{}: hello failed: {frame}", self.label);
        assert_eq!(frame["nick"], nick, "{}: hello ok: {frame}", self.label);
        frame
    }

    /// Joins `room` (as written) and asserts the `ok`. Returns the response.
    pub async fn join(&mut self, room: &str) -> Value {
        let frame = self.request(json!({"type": "join", "room": room})).await;
        assert_eq!(
            frame["type"], "ok",
            "{}: join {room} failed: {frame}",
            self.label
        );
        frame
    }

    /// Sends a room message and returns `(echo, ok)`, asserting the echo comes
    /// first, as the protocol's ordering guarantee says.
    pub async fn say(&mut self, room: &str, text: &str) -> (Value, Value) {
        self.send(json!({"type": "message", "room": room, "text": text}))
            .await;
        let echo = self.recv().await;
        assert_eq!(
            echo["type"], "message",
            "{}: expected the echo of {text:?}, got {echo}",
            self.label
        );
        assert_eq!(echo["text"], text, "{}: unexpected echo {echo}", self.label);
        let ok = self.recv().await;
        assert_eq!(
            ok["type"], "ok",
            "{}: expected the ok of {text:?}, got {ok}",
            self.label
        );
        (echo, ok)
    }
}

/// Connects and registers a TLS client in one go.
pub async fn registered(server: &TestServer, nick: &str) -> Client {
    let mut client = Client::connect(server).await;
    client.hello(nick).await;
    client
}

fn parse_frame(label: &str, line: &[u8]) -> Value {
    let text = std::str::from_utf8(line).unwrap_or_else(|e| {
        panic!("{label}: server sent a line that is not UTF-8 ({e}): {line:?}")
    });
    assert!(
        !text.contains('\r'),
        "{label}: server frame contains a raw carriage return: {text:?}"
    );
    let frame: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{label}: server sent a line that is not JSON ({e}): {text:?}"));
    assert!(
        frame.is_object(),
        "{label}: server frame is not a JSON object: {text}"
    );
    frame
}

// ---------------------------------------------------------------------------
// Frame assertions
// ---------------------------------------------------------------------------

/// True when `s` is an RFC 3339 UTC timestamp with milliseconds and `Z`, like
/// `2026-11-21T10:15:30.123Z`.
pub fn is_protocol_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 24 {
        return false;
    }
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    for (i, c) in b.iter().enumerate() {
        let ok = match separators.iter().find(|(at, _)| *at == i) {
            Some((_, sep)) => c == sep,
            None => c.is_ascii_digit(),
        };
        if !ok {
            return false;
        }
    }
    let field = |from: usize, to: usize| -> u32 { s[from..to].parse().expect("digits") };
    let (year, month, day) = (field(0, 4), field(5, 7), field(8, 10));
    let (hour, minute, second) = (field(11, 13), field(14, 16), field(17, 19));
    year >= 2020
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60
}

/// True when `s` has the shape of a room epoch: 1–32 of `A-Z a-z 0-9 _ -`.
pub fn is_protocol_epoch(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks every `ts` field in `frame` (nested ones too, e.g. in `history` and
/// `messages`) has the protocol's timestamp shape and replaces it with `"<ts>"`,
/// and every `epoch` has the protocol's epoch shape and becomes `"<epoch>"`, so
/// a test can compare whole frames with a `json!` literal.
pub fn normalize(frame: &Value) -> Value {
    let mut frame = frame.clone();
    normalize_in_place(&mut frame);
    frame
}

fn normalize_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "ts" {
                    match item.as_str() {
                        Some(ts) if is_protocol_timestamp(ts) => *item = json!("<ts>"),
                        _ => panic!("`ts` is not an RFC 3339 UTC millisecond timestamp: {item}"),
                    }
                } else if key == "epoch" {
                    match item.as_str() {
                        Some(epoch) if is_protocol_epoch(epoch) => *item = json!("<epoch>"),
                        _ => panic!("`epoch` is not 1-32 characters of [A-Za-z0-9_-]: {item}"),
                    }
                } else {
                    normalize_in_place(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_in_place),
        _ => {}
    }
}

/// Asserts `frame`, with its timestamps normalized, equals `expected`.
#[track_caller]
pub fn assert_frame(frame: &Value, expected: Value) {
    let normalized = normalize(frame);
    assert_eq!(
        normalized, expected,
        "\n  got:      {frame}\n  expected: {expected}"
    );
}

/// Asserts `frame` is exactly an `error` with `code`, the given `id` (or no `id`
/// key at all), and a non-empty human-readable `message`.
#[track_caller]
pub fn assert_error(frame: &Value, code: &str, id: Option<Value>) {
    let Some(map) = frame.as_object() else {
        panic!("expected an error frame, got {frame}")
    };
    assert_eq!(
        map.get("type"),
        Some(&json!("error")),
        "expected an error {code}, got {frame}"
    );
    assert_eq!(
        map.get("code"),
        Some(&json!(code)),
        "expected error code {code}, got {frame}"
    );
    assert_eq!(map.get("id"), id.as_ref(), "wrong id in {frame}");
    let message = map.get("message").and_then(Value::as_str);
    assert!(
        message.is_some_and(|m| !m.trim().is_empty()),
        "error without a human-readable message: {frame}"
    );
    let expected_keys = if id.is_some() { 4 } else { 3 };
    assert_eq!(map.len(), expected_keys, "unexpected keys in {frame}");
}

/// A room message event as the protocol shapes it, with the timestamp normalized.
pub fn message_event(room: &str, seq: u64, from: &str, text: &str) -> Value {
    json!({"type": "message", "room": room, "seq": seq, "ts": "<ts>", "from": from, "text": text})
}

/// The `hello` `limits` object for the default limits.
pub fn default_limits() -> Value {
    json!({"max_line_bytes": 16384, "max_text_bytes": 4096, "max_rooms": 64, "history_max": 200})
}

// ---------------------------------------------------------------------------
// Message logs on disk
// ---------------------------------------------------------------------------

/// A `[log]` table logging to `dir`, with `extra` lines added to the table.
pub fn log_table(dir: &Path, extra: &str) -> String {
    format!(
        "[log]\ndir = {}\n{extra}\n",
        toml::Value::String(dir.display().to_string())
    )
}

/// Today's UTC day, `YYYY-MM-DD`, as day files are named.
pub fn utc_day(offset_days: i64) -> String {
    let now = std::time::SystemTime::now();
    let shifted = if offset_days >= 0 {
        now + Duration::from_secs(86_400 * offset_days as u64)
    } else {
        now - Duration::from_secs(86_400 * offset_days.unsigned_abs())
    };
    humantime::format_rfc3339_millis(shifted).to_string()[..10].to_owned()
}

/// `DIR/ROOM/DAY.jsonl`.
pub fn day_file(log_dir: &Path, room: &str, day: &str) -> PathBuf {
    log_dir.join(room).join(format!("{day}.jsonl"))
}

/// The records of a day file, each line parsed as JSON, without the epoch
/// markers the server writes before a process's first record in a file
/// (checked for shape here); panics on a line that is not JSON.
pub fn log_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} does not end with a whole line",
        path.display()
    );
    text.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", path.display()))
        })
        .filter(|record| {
            if record["type"] != "epoch" {
                return true;
            }
            let epoch = record["epoch"].as_str().unwrap_or_default();
            assert!(is_protocol_epoch(epoch), "a malformed marker: {record}");
            false
        })
        .collect()
}

/// A room message line exactly as the server writes it (and sends it).
pub fn message_line(room: &str, seq: u64, ts: &str, from: &str, text: &str) -> String {
    format!(
        r#"{{"type":"message","room":"{room}","seq":{seq},"ts":"{ts}","from":"{from}","text":"{text}"}}"#
    )
}

// ---------------------------------------------------------------------------
// The real binary, as a child process
// ---------------------------------------------------------------------------

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

/// A certificate and key written as PEM files, as an operator would configure
/// them under `[tls]`.
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub fingerprint: String,
}

impl CertificateFiles {
    /// The `[tls]` table naming these files.
    pub fn tls_table(&self) -> String {
        format!(
            "[tls]\ncert = {}\nkey = {}\n",
            toml::Value::String(self.cert.display().to_string()),
            toml::Value::String(self.key.display().to_string())
        )
    }
}

/// Generates a new self-signed certificate for localhost and writes it to
/// `dir/cert.pem` and `dir/key.pem`, replacing what was there.
pub fn write_certificate(dir: &Path) -> CertificateFiles {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("generate a certificate");
    std::fs::create_dir_all(dir).expect("create the certificate directory");
    let files = CertificateFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        fingerprint: confab::tls::fingerprint(made.cert.der()),
    };
    std::fs::write(&files.cert, made.cert.pem()).expect("write cert.pem");
    std::fs::write(&files.key, made.signing_key.serialize_pem()).expect("write key.pem");
    files
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

    /// Sends `signal` (e.g. "-HUP") to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
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
