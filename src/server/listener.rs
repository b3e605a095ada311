//! Accepting connections: admission control, the TLS handshake (inside the
//! connection's own task, under the handshake timeout, so a slow handshake never
//! holds up the accept loop), and handing the stream to a session.
//!
//! Two bounds: up to `max_connections` clients are served; a few more sockets are
//! let through their handshake only to be told `bye` "server full"; beyond that
//! ceiling a socket is closed at once, so a connection flood cannot exhaust memory.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::session;
use super::Shared;

/// Sockets allowed beyond `max_connections`, just to be told the server is full.
fn refusal_headroom(max_connections: usize) -> usize {
    (max_connections / 10).max(16)
}

/// The two connection bounds, as counters rather than semaphores so a config
/// reload can move `max_connections` either way: connections already over a
/// lowered bound stay, and newcomers wait for the count to fall below it.
#[derive(Debug)]
pub(super) struct Admission {
    max_clients: AtomicUsize,
    clients: AtomicUsize,
    sockets: AtomicUsize,
}

/// Held for a connection's lifetime; counts it until dropped.
struct Ticket {
    admission: Arc<Admission>,
    /// False for a connection only let in to be told the server is full.
    client: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.sockets.fetch_sub(1, Ordering::AcqRel);
        if self.client {
            self.admission.clients.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Admission {
    pub(super) fn new(max_connections: usize) -> Admission {
        Admission {
            max_clients: AtomicUsize::new(max_connections),
            clients: AtomicUsize::new(0),
            sockets: AtomicUsize::new(0),
        }
    }

    /// A reload changed `max_connections`; it applies to the next newcomer.
    pub(super) fn set_max(&self, max_connections: usize) {
        self.max_clients.store(max_connections, Ordering::Release);
    }

    fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let max = self.max_clients.load(Ordering::Acquire);
        let ceiling = max + refusal_headroom(max);
        let take_one = |bound: usize| move |n: usize| (n < bound).then_some(n + 1);
        self.sockets
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, take_one(ceiling))
            .ok()?;
        let client = self
            .clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, take_one(max))
            .is_ok();
        Some(Ticket {
            admission: self.clone(),
            client,
        })
    }
}

/// What every connection task of one listener needs.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub shared: Arc<Shared>,
    /// False for a plaintext listener.
    pub tls: bool,
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
                let Some(ticket) = endpoint.shared.admission.admit() else {
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
    let admitted = ticket.client;
    let Endpoint {
        shared,
        tls,
        sessions_stop,
    } = endpoint;
    match tls {
        false => session::serve(stream, peer, shared, sessions_stop, admitted).await,
        true => {
            // The certificate in force now: a reload swaps it for the
            // connections that come after, never under a handshake.
            let acceptor = shared.certificate().acceptor;
            let timeout = shared.settings().limits.handshake_timeout;
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
