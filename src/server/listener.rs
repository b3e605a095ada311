//! Accepting connections: admission control, the TLS handshake (inside the
//! connection's own task, under the handshake timeout, so a slow handshake never
//! holds up the accept loop), and handing the stream to a session.
//!
//! Two bounds: up to `max_connections` clients are served; a few more sockets are
//! let through their handshake only to be told `bye` "server full"; beyond that
//! ceiling a socket is closed at once, so a connection flood cannot exhaust memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::session;
use super::Shared;

/// Sockets allowed beyond `max_connections`, just to be told the server is full.
fn refusal_headroom(max_connections: usize) -> usize {
    (max_connections / 10).max(16)
}

/// The two connection bounds.
#[derive(Debug)]
pub(super) struct Admission {
    clients: Arc<Semaphore>,
    sockets: Arc<Semaphore>,
}

/// Held for a connection's lifetime; `client` is `None` for a refused one.
struct Ticket {
    _socket: OwnedSemaphorePermit,
    client: Option<OwnedSemaphorePermit>,
}

impl Admission {
    pub(super) fn new(max_connections: usize) -> Admission {
        Admission {
            clients: Arc::new(Semaphore::new(max_connections)),
            sockets: Arc::new(Semaphore::new(
                max_connections + refusal_headroom(max_connections),
            )),
        }
    }

    fn admit(&self) -> Option<Ticket> {
        let socket = self.sockets.clone().try_acquire_owned().ok()?;
        Some(Ticket {
            _socket: socket,
            client: self.clients.clone().try_acquire_owned().ok(),
        })
    }
}

/// What every connection task of one listener needs.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub shared: Arc<Shared>,
    pub admission: Arc<Admission>,
    /// `None` for a plaintext listener.
    pub tls: Option<TlsAcceptor>,
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
                let Some(ticket) = endpoint.admission.admit() else {
                    debug!(%peer, "closed at once: over the connection ceiling");
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
    let admitted = ticket.client.is_some();
    let Endpoint {
        shared,
        tls,
        sessions_stop,
        ..
    } = endpoint;
    match tls {
        None => session::serve(stream, peer, shared, sessions_stop, admitted).await,
        Some(acceptor) => {
            let timeout = shared.settings.limits.handshake_timeout;
            let handshake = tokio::time::timeout(timeout, acceptor.accept(stream));
            let outcome = tokio::select! {
                () = sessions_stop.cancelled() => return,
                outcome = handshake => outcome,
            };
            match outcome {
                Ok(Ok(stream)) => {
                    session::serve(stream, peer, shared, sessions_stop, admitted).await
                }
                Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
    drop(ticket);
}
