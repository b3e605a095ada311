//! [`Client`]: one connection to a server, over TLS (pinning the server's
//! certificate by fingerprint, the way a user's client trusts it) or over a
//! plaintext listener, sending frames and reading whole lines back.
//!
//! Every read is bounded by [`FRAME_TIMEOUT`]: a test waits on the frame it expects,
//! never sleeps. To prove a connection was *not* sent something, use
//! [`Client::ping_roundtrip`]: the server queues a request's events to every recipient
//! before the response, so once another connection's `ping` is answered, any event
//! for it would already have arrived.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ProtocolVersion, SupportedProtocolVersion};
use serde_json::{json, Value};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{assert_error, pinned_client_config, TestServer};

/// How long any single expected frame, connection or close may take.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

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
        let label = format!("tls client of {addr}");
        Client::over_tls(TcpStream::connect(addr), fingerprint, versions, label).await
    }

    /// A TLS client over the TCP connection `tcp` makes, trusting only the
    /// certificate with `fingerprint`; `label` names it in panic messages.
    /// The whole connection is bounded by [`FRAME_TIMEOUT`].
    pub async fn over_tls(
        tcp: impl std::future::Future<Output = io::Result<TcpStream>>,
        fingerprint: &str,
        versions: Option<&[&'static SupportedProtocolVersion]>,
        label: String,
    ) -> io::Result<Client> {
        let config = pinned_client_config(fingerprint, versions);
        let connect = async {
            let tcp = tcp.await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from("localhost").expect("valid server name");
            TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
        };
        let tls = tokio::time::timeout(FRAME_TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| panic!("{label}: the TLS connection took over 10 s"))?;
        let version = tls.get_ref().1.protocol_version();
        let mut client = Client::from_stream(Box::new(tls), label);
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

    pub(super) fn from_stream(stream: Box<dyn Stream>, label: String) -> Client {
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

    /// Sends bytes as they are while reading whatever arrives meanwhile, and
    /// returns those frames: a client that writes a big burst must read too,
    /// or the server's push-back on its requests would stall both ends.
    pub async fn send_raw_reading(&mut self, bytes: &[u8]) -> Vec<Value> {
        let label = self.label.clone();
        let writer = &mut self.writer;
        let reader = &mut self.reader;
        let write = async {
            writer.write_all(bytes).await?;
            writer.flush().await
        };
        tokio::pin!(write);
        let mut frames = Vec::new();
        // Kept across wake-ups: a line read in part stays here.
        let mut line = Vec::new();
        let run = async {
            loop {
                tokio::select! {
                    written = &mut write => {
                        written.unwrap_or_else(|e| panic!("{label}: write failed: {e}"));
                        // Finish a line read in part: its start is consumed.
                        if !line.is_empty() {
                            match reader.read_until(b'\n', &mut line).await {
                                Ok(_) if line.last() == Some(&b'\n') => {
                                    line.pop();
                                    frames.push(parse_frame(&label, &line));
                                    line.clear();
                                }
                                _ => panic!("{label}: connection ended inside a frame"),
                            }
                        }
                        break;
                    }
                    read = reader.read_until(b'\n', &mut line) => {
                        match read {
                            Ok(n) if n > 0 && line.last() == Some(&b'\n') => {
                                line.pop();
                                frames.push(parse_frame(&label, &line));
                                line.clear();
                            }
                            _ => panic!("{label}: connection ended during a write"),
                        }
                    }
                }
            }
        };
        tokio::time::timeout(FRAME_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| panic!("{}: write did not complete within 10 s", self.label));
        frames
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
