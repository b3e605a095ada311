//! Accepting connections: admission (see `admission.rs`: which sockets are
//! taken on, and in which pool they count), the TLS handshake (in a task of its
//! own, under the handshake timeout, so a slow handshake never holds up the
//! accept loop), and starting the session in a task of its own, which holds
//! only what lives as long as the connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::admission::Ticket;
use super::{session, web, Shared};
use crate::config::WebSettings;

/// What every connection task of one listener needs.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub shared: Arc<Shared>,
    /// False for a plaintext listener.
    pub tls: bool,
    /// `Some` for a listener that serves browsers (`web/`).
    pub web: Option<WebSettings>,
    /// Tells sessions to say `bye` and end.
    pub sessions_stop: CancellationToken,
}

/// Accepts until `stop` is cancelled. Accept errors (such as running out of file
/// descriptors) are retried with a growing pause rather than ending the server.
pub(super) async fn accept_loop(
    listener: TcpListener,
    endpoint: Endpoint,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let mut pause = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                pause = Duration::from_millis(10);
                // Admission logs its own refusals (a flood must not flood the log).
                let Some(ticket) = endpoint.shared.admission.admit(peer.ip()) else {
                    continue;
                };
                // Chat frames are small and latency matters; the writer already
                // batches.
                if let Err(e) = stream.set_nodelay(true) {
                    debug!(%peer, "could not set TCP_NODELAY: {e}");
                }
                match endpoint.tls {
                    true => {
                        let handshake = handshake(stream, peer, endpoint.clone(), ticket, &tracker);
                        tracker.spawn(handshake);
                    }
                    false => spawn_serve(stream, peer, &endpoint, ticket, &tracker),
                }
            }
            Err(e) => {
                warn!("accept failed: {e}; retrying in {pause:?}");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// The TLS handshake, in a task of its own under the handshake timeout; the
/// session then runs in a task of its own too, so that it keeps no room for
/// the handshake's state (rustls's whole connection, the acceptor's future).
fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    endpoint: Endpoint,
    ticket: Ticket,
    tracker: &TaskTracker,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let tracker = tracker.clone();
    async move {
        // The certificate in force now: a reload swaps it for the
        // connections that come after, never under a handshake.
        let acceptor = endpoint.shared.certificate().acceptor;
        let timeout = endpoint.shared.settings().limits.handshake_timeout;
        let handshake = tokio::time::timeout(timeout, acceptor.accept(stream));
        let outcome = tokio::select! {
            () = endpoint.sessions_stop.cancelled() => return,
            outcome = handshake => outcome,
        };
        match outcome {
            // Boxed: a TLS stream holds rustls's connection state, kilobytes
            // that every future it passed through by value would keep room
            // for; behind a box they are a pointer.
            Ok(Ok(stream)) => spawn_serve(Box::new(stream), peer, &endpoint, ticket, &tracker),
            Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
            Err(_) => debug!(%peer, "TLS handshake timed out"),
        }
    }
}

/// Starts the line protocol, or HTTP and WebSockets for a browser listener, as
/// the connection's task: the task is then just that session's state, the
/// part of a connection that lives as long as it does.
fn spawn_serve<S>(
    stream: S,
    peer: SocketAddr,
    endpoint: &Endpoint,
    ticket: Ticket,
    tracker: &TaskTracker,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let shared = endpoint.shared.clone();
    let stop = endpoint.sessions_stop.clone();
    match endpoint.web.clone() {
        Some(settings) => tracker.spawn(web::serve(stream, peer, shared, stop, ticket, settings)),
        None => tracker.spawn(session::serve(stream, peer, shared, stop, ticket)),
    };
}
