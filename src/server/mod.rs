//! The chat daemon: opens the message log (when configured) and restores the
//! logged rooms, binds the listeners, runs the accept loops, and shuts down
//! gracefully (stop accepting, `bye` to every client, flush, close, then the log's
//! last writes and fsync) when the shutdown token is cancelled, within the
//! configured deadline.

pub mod hub;
mod listener;
pub mod log;
pub mod outbox;
pub mod rate;
pub mod room;
mod session;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Settings;
use crate::tls::{self, ServerIdentity, TlsError};

use hub::Hub;
use listener::{Admission, Endpoint};
use log::{MessageLog, Reopener, RestoredRoom, StoreError};

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Log(#[from] StoreError),
}

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub settings: Settings,
    pub hub: Hub,
    /// The message log; `None` when rooms live in memory only.
    pub log: Option<MessageLog>,
}

struct BoundListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: bool,
}

/// A server whose listeners are bound and whose certificate is loaded.
pub struct Server {
    settings: Settings,
    identity: ServerIdentity,
    listeners: Vec<BoundListener>,
    log: Option<MessageLog>,
    restored: Vec<RestoredRoom>,
}

impl Server {
    /// Loads (or generates) the certificate and binds every listener.
    pub async fn bind(settings: Settings) -> Result<Server, ServerError> {
        let identity =
            tls::load_identity(&settings.tls, &settings.state_dir, &settings.server_name)?;
        if identity.generated {
            info!(path = %identity.cert_path.display(), "generated a self-signed certificate");
        }
        info!("certificate fingerprint {}", identity.fingerprint);
        // Before binding: a log directory that cannot be written stops the start
        // with an error naming it, before any client could connect.
        let (log, restored) = match &settings.log {
            Some(log_settings) => {
                let opened = log::open(log_settings, settings.limits.history_keep)?;
                (Some(opened.log), opened.restored)
            }
            None => (None, Vec::new()),
        };
        let mut listeners = Vec::with_capacity(settings.listeners.len());
        for wanted in &settings.listeners {
            let bind_error = |source| ServerError::Bind {
                addr: wanted.addr,
                source,
            };
            let listener = TcpListener::bind(wanted.addr).await.map_err(bind_error)?;
            let local_addr = listener.local_addr().map_err(bind_error)?;
            let kind = if wanted.tls { "tls" } else { "plaintext" };
            info!("listening on {local_addr} ({kind})");
            listeners.push(BoundListener {
                listener,
                local_addr,
                tls: wanted.tls,
            });
        }
        Ok(Server {
            settings,
            identity,
            listeners,
            log,
            restored,
        })
    }

    /// The bound addresses, in the order the listeners were configured.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.local_addr).collect()
    }

    /// The certificate's `SHA256:…` fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.identity.fingerprint
    }

    /// A handle that makes the message log reopen its files (for SIGHUP);
    /// `None` when logging is off.
    pub fn log_reopener(&self) -> Option<Reopener> {
        self.log.as_ref().map(MessageLog::reopener)
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        let shutdown_timeout = self.settings.shutdown_timeout;
        let admission = Arc::new(Admission::new(self.settings.limits.max_connections));
        let shared = Arc::new(Shared {
            hub: Hub::new(&self.settings, self.restored),
            settings: self.settings,
            log: self.log,
        });
        if let Some(log) = &shared.log {
            log.start_ticker();
        }
        // Sessions get their own token, cancelled only once the hub knows it is
        // shutting down, so no session's farewell is announced to the others.
        let sessions_stop = CancellationToken::new();
        let acceptor = TlsAcceptor::from(self.identity.config.clone());
        let tracker = TaskTracker::new();
        for bound in self.listeners {
            let endpoint = Endpoint {
                shared: shared.clone(),
                admission: admission.clone(),
                tls: bound.tls.then(|| acceptor.clone()),
                sessions_stop: sessions_stop.clone(),
            };
            tracker.spawn(listener::accept_loop(
                bound.listener,
                endpoint,
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        shutdown.cancelled().await;
        info!("shutting down");
        shared.hub.begin_shutdown();
        sessions_stop.cancel();
        tracker.close();
        if tokio::time::timeout(shutdown_timeout, tracker.wait())
            .await
            .is_err()
        {
            warn!(
                "connections still open after {}; closing them",
                humantime::format_duration(shutdown_timeout)
            );
        } else {
            info!("shut down cleanly");
        }
        // Last: every session has ended (or been cut off), so nothing more is
        // queued for the log after this.
        if let Some(log) = &shared.log {
            log.stop(shutdown_timeout).await;
        }
        Ok(())
    }
}

/// Binds and serves until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), ServerError> {
    Server::bind(settings).await?.run(shutdown).await
}
