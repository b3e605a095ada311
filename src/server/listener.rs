//! Accepting connections: admission (see `admission.rs`: which sockets are
//! taken on, and in which pool they count), the TLS handshake (inside the
//! connection's own task, under the handshake timeout, so a slow handshake never
//! holds up the accept loop), and handing the stream to a session.

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
                tracker.spawn(connection(stream, peer, endpoint.clone(), ticket));
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

async fn connection(stream: TcpStream, peer: SocketAddr, endpoint: Endpoint, ticket: Ticket) {
    // Chat frames are small and latency matters; the writer already batches.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, "could not set TCP_NODELAY: {e}");
    }
    let Endpoint {
        shared,
        tls,
        web,
        sessions_stop,
    } = endpoint;
    match tls {
        false => serve(stream, peer, shared, sessions_stop, ticket, web).await,
        true => {
            // The certificate in force now: a reload swaps it for the
            // connections that come after, never under a handshake.
            let acceptor = shared.certificate().acceptor;
            let timeout = shared.settings().limits.handshake_timeout;
            // Boxed: a handshake's state (rustls's whole connection) is
            // large and over in a moment; inline, the connection's task
            // would keep room for it for the connection's whole life.
            let handshake = Box::pin(tokio::time::timeout(timeout, acceptor.accept(stream)));
            let outcome = tokio::select! {
                () = sessions_stop.cancelled() => return,
                outcome = handshake => outcome,
            };
            match outcome {
                // Boxed: a TLS stream holds rustls's connection state, kilobytes
                // that every future it passed through by value would keep room
                // for; behind a box they are a pointer.
                Ok(Ok(stream)) => {
                    let stream = Box::new(stream);
                    serve(stream, peer, shared, sessions_stop, ticket, web).await
                }
                Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

/// The line protocol, or HTTP and WebSockets for a browser listener.
async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    ticket: Ticket,
    browsers: Option<WebSettings>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    match browsers {
        // Boxed: the HTTP stack's state is large, and every connection task
        // is as large as its largest branch; a line client must not carry
        // room for a browser's.
        Some(settings) => Box::pin(web::serve(stream, peer, shared, stop, ticket, settings)).await,
        None => session::serve(stream, peer, shared, stop, ticket).await,
    }
}
