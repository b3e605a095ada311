//! Browsers: a listener with `websocket = true` speaks HTTP (over TLS unless
//! `tls = false`). `GET /` and its two assets serve the web client embedded in
//! the binary; `GET /ws` upgrades to a WebSocket (subprotocol `confab.v1`)
//! whose text frames carry the line protocol's frames, one each. Behind the
//! upgrade, the connection is an ordinary session (`session::serve`), so every
//! rule of the line protocol (limits, rate limits, password, admission, slow
//! consumers) holds for browsers as it is.
//!
//! - `assets`: the web client's files and their content types
//! - `gate`: who may open the WebSocket (origins) and who the client really is
//!   (`X-Forwarded-For` from a trusted proxy)
//! - `bridge`: WebSocket frames to and from the session's lines

mod assets;
mod bridge;
mod gate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::admission::Ticket;
use super::Shared;
use crate::config::WebSettings;

/// The subprotocol a browser must ask for: the line protocol, version 1.
pub const SUBPROTOCOL: &str = "confab.v1";

/// How long a browser may take to send a request's headers; an HTTP
/// connection that only idles holds an admission ticket, so it must not last.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP connection's state, shared by its requests.
struct Connection {
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    web: WebSettings,
    /// Taken by the first WebSocket upgrade: one session per connection.
    ticket: Mutex<Option<Ticket>>,
    /// Told when the upgraded session is over. The session runs in a task of
    /// the HTTP layer's; the connection's own task (which the server's
    /// shutdown waits for) waits for it, so no `bye` is cut short.
    session_over: Mutex<Option<oneshot::Receiver<()>>>,
}

/// Serves one HTTP connection until it ends (or its WebSocket session does).
pub(super) async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    ticket: Ticket,
    web: WebSettings,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let connection = Arc::new(Connection {
        peer,
        shared,
        stop: stop.clone(),
        web,
        ticket: Mutex::new(Some(ticket)),
        session_over: Mutex::new(None),
    });
    let router = Router::new()
        .route("/", get(assets::index))
        .route("/app.js", get(assets::script))
        .route("/style.css", get(assets::style))
        .route("/ws", get(upgrade))
        .fallback(not_found)
        .with_state(connection.clone());
    let service = TowerToHyperService::new(router);
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(http);
    let outcome = tokio::select! {
        outcome = &mut http => outcome,
        () = stop.cancelled() => {
            // Page loads end now; an upgraded session says its own `bye`.
            http.as_mut().graceful_shutdown();
            http.await
        }
    };
    if let Err(e) = outcome {
        debug!(%peer, "HTTP connection ended: {e}");
    }
    let session = lock(&connection.session_over).take();
    if let Some(over) = session {
        // An upgrade that never completed drops the sender: that ends it too.
        let _ = over.await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// `GET /ws`: the WebSocket, for an allowed origin asking for `confab.v1`.
async fn upgrade(
    State(connection): State<Arc<Connection>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(refused) = gate::check_origin(&headers, &connection.web) {
        debug!(peer = %connection.peer, "WebSocket refused: {refused}");
        return (StatusCode::FORBIDDEN, refused).into_response();
    }
    let offered = upgrade
        .requested_protocols()
        .filter_map(|p| p.to_str().ok())
        .flat_map(|p| p.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offered {
        let why = format!("ask for the WebSocket subprotocol {SUBPROTOCOL}");
        return (StatusCode::BAD_REQUEST, why).into_response();
    }
    let Some(ticket) = lock(&connection.ticket).take() else {
        let why = "one WebSocket per connection";
        return (StatusCode::CONFLICT, why).into_response();
    };
    let client = gate::client_address(connection.peer, &headers, &connection.web);
    // Counted by the real client's address, not the proxy's.
    let ticket = if client.ip() == connection.peer.ip() {
        ticket
    } else {
        drop(ticket);
        match connection.shared.admission.admit(client.ip()) {
            Some(ticket) => ticket,
            None => {
                let why = "too many connections";
                return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
            }
        }
    };
    let limits = connection.shared.settings().limits.clone();
    let shared = connection.shared.clone();
    let stop = connection.stop.clone();
    let (over, session_over) = oneshot::channel();
    *lock(&connection.session_over) = Some(session_over);
    upgrade
        .protocols([SUBPROTOCOL])
        .read_buffer_size(bridge::BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(bridge::largest_frame(&limits))
        .max_frame_size(bridge::largest_frame(&limits))
        .on_upgrade(move |socket| async move {
            bridge::run(socket, client, shared, stop, ticket, &limits).await;
            let _ = over.send(());
        })
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found",
    )
        .into_response()
}
