//! The browser's side of a `websocket = true` listener: [`WsClient`], a
//! WebSocket to `GET /ws` carrying one line-protocol frame per text frame, and
//! [`http_get`], a page load of the web client's files.
//!
//! Both run over a stream the test opens itself ([`tls_stream`] pinning the
//! server's certificate, or [`plain_stream`]), so a test chooses the listener,
//! the source address and every header a browser or a proxy would send. Every
//! wait is bounded by [`FRAME_TIMEOUT`], as for [`Client`](super::Client).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::{pinned_client_config, Stream, FRAME_TIMEOUT};

/// The subprotocol the server's WebSocket speaks.
pub const SUBPROTOCOL: &str = "confab.v1";

/// A TLS connection to `addr` trusting only the certificate with
/// `fingerprint`, as a browser that accepted it would hold.
pub async fn tls_stream(addr: SocketAddr, fingerprint: &str) -> Box<dyn Stream> {
    let config = pinned_client_config(fingerprint, None);
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
        .unwrap_or_else(|_| panic!("TLS connection to {addr} took over 10 s"))
        .unwrap_or_else(|e| panic!("TLS connection to {addr} failed: {e}"));
    Box::new(tls)
}

/// A plaintext TCP connection to `addr`, as a reverse proxy on the same host
/// would open.
pub async fn plain_stream(addr: SocketAddr) -> Box<dyn Stream> {
    let tcp = tokio::time::timeout(FRAME_TIMEOUT, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|_| panic!("TCP connection to {addr} took over 10 s"))
        .unwrap_or_else(|e| panic!("TCP connection to {addr} failed: {e}"));
    tcp.set_nodelay(true).expect("set TCP_NODELAY");
    Box::new(tcp)
}

/// The origin of the page the listener at `addr` serves, as a browser names
/// it: `https://localhost:PORT` (`http://` when `tls` is false).
pub fn own_origin(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://localhost:{}", addr.port())
}

/// The upgrade request a browser on the listener's own page sends:
/// `GET /ws` with `Host: localhost:PORT`, the page's `Origin`, and the
/// subprotocol `confab.v1`. Tests change its headers to play someone else.
pub fn browser_request(addr: SocketAddr, tls: bool) -> Request {
    let scheme = if tls { "wss" } else { "ws" };
    let mut request = format!("{scheme}://localhost:{}/ws", addr.port())
        .into_client_request()
        .expect("a valid WebSocket URL");
    set_header(&mut request, "Origin", &own_origin(addr, tls));
    set_header(&mut request, "Sec-WebSocket-Protocol", SUBPROTOCOL);
    request
}

/// Sets (or replaces) one header of an upgrade request.
pub fn set_header(request: &mut Request, name: &'static str, value: &str) {
    let value = HeaderValue::from_str(value).expect("a valid header value");
    request.headers_mut().insert(name, value);
}

/// An upgrade the server answered with an HTTP error instead of `101`.
#[derive(Debug)]
pub struct UpgradeRefused {
    pub status: u16,
    pub body: String,
}

/// How a WebSocket ended: the frames that came before the close, and the
/// close frame's code and reason.
#[derive(Debug)]
pub struct WsClosed {
    pub frames: Vec<Value>,
    pub code: u16,
    pub reason: String,
}

/// One browser's WebSocket to the server, sending and reading whole frames.
pub struct WsClient {
    /// Used in panic messages to say which connection misbehaved.
    pub label: String,
    /// The subprotocol the server selected in its `101` answer.
    pub protocol: Option<String>,
    socket: WebSocketStream<Box<dyn Stream>>,
}

impl WsClient {
    /// Opens the WebSocket of the TLS listener at `addr` as a browser on its
    /// own page would; panics unless the server upgrades.
    pub async fn connect(addr: SocketAddr, fingerprint: &str) -> WsClient {
        let stream = tls_stream(addr, fingerprint).await;
        let label = format!("browser of {addr}");
        WsClient::handshake(stream, browser_request(addr, true), &label)
            .await
            .unwrap_or_else(|refused| panic!("{label}: upgrade refused: {refused:?}"))
    }

    /// Sends `request` over `stream` and returns the open WebSocket, or the
    /// HTTP answer that refused it. Panics on anything else (a broken
    /// handshake, a timeout).
    pub async fn handshake(
        stream: Box<dyn Stream>,
        request: Request,
        label: &str,
    ) -> Result<WsClient, UpgradeRefused> {
        let handshake = tokio_tungstenite::client_async(request, stream);
        let outcome = tokio::time::timeout(FRAME_TIMEOUT, handshake)
            .await
            .unwrap_or_else(|_| panic!("{label}: the WebSocket handshake took over 10 s"));
        match outcome {
            Ok((socket, response)) => Ok(WsClient {
                label: label.to_owned(),
                protocol: response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|p| p.to_str().ok())
                    .map(str::to_owned),
                socket,
            }),
            Err(WsError::Http(response)) => Err(UpgradeRefused {
                status: response.status().as_u16(),
                body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            }),
            Err(e) => panic!("{label}: the WebSocket handshake failed: {e}"),
        }
    }

    /// Sends one WebSocket message as it is (binary, over-long, broken text).
    pub async fn send_message(&mut self, message: Message) {
        tokio::time::timeout(FRAME_TIMEOUT, self.socket.send(message))
            .await
            .unwrap_or_else(|_| panic!("{}: send took over 10 s", self.label))
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.label));
    }

    /// Sends one frame as one text frame.
    pub async fn send(&mut self, frame: Value) {
        let text = serde_json::to_string(&frame).expect("serialize frame");
        self.send_message(Message::text(text)).await;
    }

    /// The next WebSocket message other than a ping or pong (those the
    /// WebSocket layer answers by itself), or `None` once the stream ended.
    async fn next_message(&mut self) -> Option<Message> {
        loop {
            let next = tokio::time::timeout(FRAME_TIMEOUT, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{}: nothing received within 10 s", self.label));
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(message)) => return Some(message),
                Some(Err(e)) => panic!("{}: read failed: {e}", self.label),
                None => return None,
            }
        }
    }

    /// Reads the next frame; panics unless it is a text frame holding one
    /// JSON object.
    pub async fn recv(&mut self) -> Value {
        match self.next_message().await {
            Some(Message::Text(text)) => parse_text(&self.label, &text),
            other => panic!("{}: expected a text frame, got {other:?}", self.label),
        }
    }

    /// Sends a frame and returns the next frame received.
    pub async fn request(&mut self, frame: Value) -> Value {
        self.send(frame).await;
        self.recv().await
    }

    /// Registers with `nick` and asserts the `ok`. Returns the response.
    pub async fn hello(&mut self, nick: &str) -> Value {
        self.label = format!("{nick} ({})", self.label);
        let frame = self.request(json!({"type": "hello", "nick": nick})).await;
        assert_eq!(frame["type"], "ok", "{}: hello failed: {frame}", self.label);
        assert_eq!(frame["nick"], nick, "{}: hello ok: {frame}", self.label);
        frame
    }

    /// Joins `room` and asserts the `ok`. Returns the response.
    pub async fn join(&mut self, room: &str) -> Value {
        let frame = self.request(json!({"type": "join", "room": room})).await;
        assert_eq!(frame["type"], "ok", "{}: join {room}: {frame}", self.label);
        frame
    }

    /// Sends a room message and returns `(echo, ok)`, asserting the echo
    /// comes first, as over the line protocol.
    pub async fn say(&mut self, room: &str, text: &str) -> (Value, Value) {
        self.send(json!({"type": "message", "room": room, "text": text}))
            .await;
        let echo = self.recv().await;
        assert_eq!(echo["type"], "message", "{}: echo: {echo}", self.label);
        assert_eq!(echo["text"], text, "{}: echo: {echo}", self.label);
        let ok = self.recv().await;
        assert_eq!(ok["type"], "ok", "{}: ok of {text:?}: {ok}", self.label);
        (echo, ok)
    }

    /// Asserts nothing was queued for this connection: a `ping` is answered
    /// after everything queued before it (see [`Client::ping_roundtrip`](super::Client::ping_roundtrip)).
    pub async fn expect_nothing(&mut self) {
        let answer = self.request(json!({"type": "ping", "id": "sync"})).await;
        assert_eq!(
            answer,
            json!({"type": "ok", "id": "sync"}),
            "{}: expected no frame before the ping's answer",
            self.label
        );
    }

    /// Reads until the server's close frame and returns it with the frames
    /// that came before it (at most `max_frames`, so a server that never
    /// closes fails the test). Then checks the stream ends.
    pub async fn recv_until_close(&mut self, max_frames: usize) -> WsClosed {
        let mut frames = Vec::new();
        loop {
            match self.next_message().await {
                Some(Message::Text(text)) => frames.push(parse_text(&self.label, &text)),
                Some(Message::Close(close)) => {
                    let (code, reason) = close
                        .map(|c| (u16::from(c.code), c.reason.as_str().to_owned()))
                        .unwrap_or((1005, String::new()));
                    self.expect_end().await;
                    return WsClosed {
                        frames,
                        code,
                        reason,
                    };
                }
                other => panic!("{}: expected a close, got {other:?}", self.label),
            }
            assert!(
                frames.len() <= max_frames,
                "{}: more than {max_frames} frames and no close: {frames:?}",
                self.label
            );
        }
    }

    /// After the server's close: the stream ends with nothing more on it
    /// (our close reply goes out as the stream is polled).
    async fn expect_end(&mut self) {
        let next = tokio::time::timeout(FRAME_TIMEOUT, self.socket.next())
            .await
            .unwrap_or_else(|_| panic!("{}: still open 10 s after the close", self.label));
        match next {
            None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {}
            // The server drops the connection as soon as its close frame is
            // out: without a TLS close_notify, and before our close reply
            // lands (which may draw a reset). A browser has its close code by
            // then and reports a clean close all the same.
            Some(Err(WsError::Io(e)))
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                ) => {}
            Some(other) => panic!("{}: more after the close: {other:?}", self.label),
        }
    }
}

fn parse_text(label: &str, text: &str) -> Value {
    assert!(
        !text.contains(['\n', '\r']),
        "{label}: a text frame holds a line break: {text:?}"
    );
    let frame: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{label}: a text frame is not JSON ({e}): {text:?}"));
    assert!(frame.is_object(), "{label}: not a JSON object: {text}");
    frame
}

/// An HTTP answer as a browser receives it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case, in the order they came.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of the header `name` (lower case), if there is exactly one.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.iter().filter(|(n, _)| n == name);
        let (_, value) = values.next()?;
        assert!(values.next().is_none(), "header {name} repeated: {self:?}");
        Some(value)
    }
}

/// `GET path` over `stream` with `Host: host`, one request on the
/// connection, read as far as its `Content-Length`.
pub async fn http_get(mut stream: Box<dyn Stream>, path: &str, host: &str) -> HttpResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await?;
        read_response(BufReader::new(stream)).await
    };
    tokio::time::timeout(FRAME_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no whole answer within 10 s"))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

async fn read_response(mut reader: BufReader<Box<dyn Stream>>) -> std::io::Result<HttpResponse> {
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let header = line.trim_end_matches("\r\n");
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .unwrap_or_else(|| panic!("not a header line: {line:?}"));
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map(|(_, value)| value.parse().expect("a numeric Content-Length"))
        .unwrap_or_else(|| panic!("an answer without Content-Length: {headers:?}"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
