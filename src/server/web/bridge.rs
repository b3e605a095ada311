//! A WebSocket as a session's connection: each text frame from the browser
//! becomes one line of the session's input, and each line the session writes
//! becomes one text frame. The session sees an ordinary byte stream (an
//! in-memory pipe), so nothing of the line protocol is written twice.
//!
//! The two directions run as tasks of their own: the way out must keep
//! draining while the way in waits for the session to read, or a session
//! waiting for its outbox to drain would wait forever. The pipe's bound in each
//! direction passes backpressure on: a browser that stops reading fills the
//! way out, and the session's outbox then applies its usual slow-consumer
//! rules.
//!
//! How a WebSocket ends:
//! - after the session's `bye`: close 1000 ("bye");
//! - a binary frame: close 1003 (text frames only);
//! - a text frame holding a line break: close 1007 (one frame, one line);
//! - a frame over `max_line_bytes`: close 1009 (a frame so large the
//!   WebSocket layer refuses to read it whole too);
//! - anything else the WebSocket layer refuses: close 1002.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::super::admission::Ticket;
use super::super::{session, Shared};
use crate::config::Limits;

/// The pipe's bound each way: what may wait between the WebSocket and the
/// session before the writer waits (frames larger than this still pass).
const PIPE_BYTES: usize = 8 * 1024;

/// The WebSocket's read chunk and the first size of the buffer lines are read
/// out of: small, so an idle browser costs little; both grow for a large
/// frame, as the session's own read buffer does.
pub(super) const BUFFER_BYTES: usize = 1024;

/// A browser idle this long is sent a WebSocket ping, which keeps proxies and
/// NAT boxes from dropping a quiet connection.
const PING_EVERY: Duration = Duration::from_secs(30);

/// The largest frame the WebSocket layer reads before refusing it outright.
/// Frames up to this size but over `max_line_bytes` get a clean close 1009.
pub(super) fn largest_frame(limits: &Limits) -> usize {
    limits.max_line_bytes.saturating_mul(4).max(64 * 1024)
}

/// Why the way in stopped, as the close frame the way out will send.
type Ending = Arc<Mutex<Option<CloseFrame>>>;

/// Runs a session over `socket` until either side ends it.
pub(super) async fn run(
    socket: WebSocket,
    client: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    ticket: Ticket,
    limits: &Limits,
) {
    let (ours, sessions) = tokio::io::duplex(PIPE_BYTES);
    let (from_session, to_session) = tokio::io::split(ours);
    let (sink, stream) = socket.split();
    let ending: Ending = Arc::new(Mutex::new(None));
    let way_in = tokio::spawn(frames_in(
        stream,
        to_session,
        limits.max_line_bytes,
        ending.clone(),
    ));
    // Lines out are bounded by the session's own frames (a page at most,
    // `max_page_bytes`, or a `max_line_bytes` message): anything longer is
    // not the session's.
    let longest = limits.max_page_bytes.max(limits.max_line_bytes) + 1024;
    let way_out = tokio::spawn(lines_out(from_session, sink, longest, ending));
    session::serve(sessions, client, shared, stop, ticket).await;
    // The session is over and its half of the pipe gone: the way out sends
    // what is left, then the close frame; the way in has nobody to feed.
    let _ = way_out.await;
    way_in.abort();
}

/// Browser frames into the session's input, a line each.
async fn frames_in(
    mut frames: futures_util::stream::SplitStream<WebSocket>,
    mut session: WriteHalf<DuplexStream>,
    max_line_bytes: usize,
    ending: Ending,
) {
    let close = |code: u16, reason: &'static str| {
        *ending.lock().unwrap_or_else(|p| p.into_inner()) = Some(CloseFrame {
            code,
            reason: reason.into(),
        });
    };
    while let Some(frame) = frames.next().await {
        match frame {
            Ok(Message::Text(text)) => {
                if text.len() > max_line_bytes {
                    close(1009, "frame over max_line_bytes");
                    break;
                }
                if text.as_str().contains(['\n', '\r']) {
                    close(1007, "one frame holds one line");
                    break;
                }
                let written = async {
                    session.write_all(text.as_bytes()).await?;
                    session.write_all(b"\n").await
                };
                if written.await.is_err() {
                    break;
                }
            }
            Ok(Message::Binary(_)) => {
                close(1003, "binary frames are not used: send text");
                break;
            }
            // Pings are answered by the WebSocket layer; pongs need nothing.
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) => break,
            Err(e) => {
                debug!("WebSocket read failed: {e}");
                match e.into_inner().downcast_ref::<tungstenite::Error>() {
                    // Far over the limit: refused before it was read whole.
                    Some(tungstenite::Error::Capacity(_)) => {
                        close(1009, "frame over max_line_bytes")
                    }
                    _ => close(1002, "protocol error"),
                }
                break;
            }
        }
    }
    // The session reads the end of its input as the connection closing.
    let _ = session.shutdown().await;
}

/// The session's lines out to the browser, a frame each, then the close.
async fn lines_out(
    from_session: ReadHalf<DuplexStream>,
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    longest: usize,
    ending: Ending,
) {
    let codec = LinesCodec::new_with_max_length(longest);
    let mut lines = FramedRead::with_capacity(from_session, codec, BUFFER_BYTES);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    loop {
        tokio::select! {
            line = lines.next() => match line {
                Some(Ok(line)) => {
                    ping.reset();
                    if sink.send(Message::Text(line.into())).await.is_err() {
                        return;
                    }
                }
                // The session closed its end (after `bye`), or wrote
                // something that is not a line: either way, it is over.
                Some(Err(_)) | None => break,
            },
            _ = ping.tick() => {
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
    let frame = ending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or(CloseFrame {
            code: 1000,
            reason: "bye".into(),
        });
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}
