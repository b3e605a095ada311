//! The chat daemon: opens the room store (day files with `[log]`, memory
//! otherwise) and restores its rooms, binds the listeners, runs the accept
//! loops, applies a new configuration while running (see `reload`), and shuts
//! down gracefully (stop accepting, `bye` to every client, flush, close, then
//! the store's last writes and fsync) when the shutdown token is cancelled,
//! within the configured deadline.

pub mod accounts;
mod address;
mod admission;
mod auth_backoff;
pub mod budget;
pub mod hub;
mod listener;
mod moderation;
pub mod outbox;
pub mod page;
pub mod rate;
mod reload;
pub mod room;
pub mod rules;
pub mod sequencer;
mod session;
pub mod store;
mod web;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Settings;
use crate::protocol::names::RoomName;
use crate::tls::{self, TlsError};

use admission::Admission;
use auth_backoff::AuthBackoff;
use hub::Hub;
use listener::Endpoint;
pub use reload::{ReloadReport, Reloader};
use sequencer::Sequencer;
use store::StoreError;

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
    Store(#[from] StoreError),
    #[error("cannot open the accounts store {path}: {source}")]
    Accounts {
        path: std::path::PathBuf,
        #[source]
        source: accounts::RegistryError,
    },
}

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The settings in force; a reload replaces them (see [`Shared::settings`]).
    settings: RwLock<Arc<Settings>>,
    /// The certificate in force; a reload replaces it.
    certificate: RwLock<Certificate>,
    admission: Arc<Admission>,
    /// Failed passwords per address, across connections and reloads.
    auth_backoff: AuthBackoff,
    /// Failed account passwords per account, wherever they come from.
    account_backoff: AuthBackoff<String>,
    /// Accounts and rooms' moderation records.
    registry: Arc<dyn accounts::Registry>,
    /// Argon2id hashing, off the async workers and bounded.
    passwords: accounts::Passwords,
    pub hub: Hub,
    /// The one write path for room state, over the configured store.
    pub sequencer: Sequencer,
}

impl Shared {
    /// The account named `name` (any case), read in place: a short read.
    pub(crate) fn account(
        &self,
        name: &crate::protocol::names::Nick,
    ) -> Result<Option<accounts::AccountRecord>, crate::protocol::ProtocolError> {
        self.registry.account(name.as_str()).map_err(|e| {
            tracing::error!("accounts store: {e}");
            crate::protocol::ProtocolError::Unavailable(
                "the server could not read its accounts; try again later".into(),
            )
        })
    }

    /// The settings in force now. A connection keeps the snapshot it took, so
    /// what it was told in its `hello` stays true for it after a reload.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn replace_settings(&self, settings: Arc<Settings>) {
        *self
            .settings
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
    }

    /// The certificate for a connection starting now.
    pub fn certificate(&self) -> Certificate {
        self.certificate
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn replace_certificate(&self, certificate: Certificate) {
        *self
            .certificate
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = certificate;
    }
}

/// The certificate served to new TLS connections.
#[derive(Clone)]
pub(crate) struct Certificate {
    pub acceptor: TlsAcceptor,
    pub fingerprint: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

struct BoundListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: bool,
    web: Option<crate::config::WebSettings>,
}

/// The accounts store's file, in the state directory.
const ACCOUNTS_FILE: &str = "accounts.redb";

/// The accounts store in the state directory, and the rooms' moderation
/// records it holds (those rooms are kept in memory from the start).
fn open_accounts(
    settings: &Settings,
) -> Result<(Arc<dyn accounts::Registry>, Vec<accounts::RoomRecord>), ServerError> {
    let path = settings.state_dir.join(ACCOUNTS_FILE);
    let failed = |source| ServerError::Accounts {
        path: path.clone(),
        source,
    };
    if let Err(e) = create_private_dir(&settings.state_dir) {
        return Err(failed(accounts::RegistryError::Io(e)));
    }
    let registry = accounts::RedbRegistry::open(&path).map_err(failed)?;
    let rooms = accounts::Registry::rooms(&registry).map_err(failed)?;
    Ok((Arc::new(registry), rooms))
}

/// The state directory, readable by the server's user only when it makes it.
fn create_private_dir(dir: &std::path::Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A server whose listeners are bound and whose certificate is loaded.
pub struct Server {
    shared: Arc<Shared>,
    fingerprint: String,
    listeners: Vec<BoundListener>,
}

impl Server {
    /// Loads (or generates) the certificate, opens the store and restores its
    /// rooms, and binds every listener.
    pub async fn bind(settings: Settings) -> Result<Server, ServerError> {
        let identity =
            tls::load_identity(&settings.tls, &settings.state_dir, &settings.server_name)?;
        if identity.generated {
            info!(path = %identity.cert_path.display(), "generated a self-signed certificate");
        }
        info!("certificate fingerprint {}", identity.fingerprint);
        // Before binding: a log directory that cannot be written stops the start
        // with an error naming it, before any client could connect.
        let (registry, registrations) = open_accounts(&settings)?;
        let kept: Vec<RoomName> = registrations
            .iter()
            .filter_map(|record| RoomName::parse(&record.room).ok())
            .collect();
        let opened = store::open(&settings, &kept)?;
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
                web: wanted.web.clone(),
            });
        }
        let shared = Arc::new(Shared {
            hub: Hub::new(
                &settings,
                opened.store.clone(),
                opened.restored,
                registrations,
            ),
            admission: Arc::new(Admission::new(&settings.limits)),
            auth_backoff: AuthBackoff::default(),
            account_backoff: AuthBackoff::default(),
            registry: registry.clone(),
            passwords: accounts::Passwords::new(),
            certificate: RwLock::new(Certificate {
                acceptor: TlsAcceptor::from(identity.config),
                fingerprint: identity.fingerprint.clone(),
            }),
            settings: RwLock::new(Arc::new(settings)),
            sequencer: Sequencer::new(opened.store, registry),
        });
        Ok(Server {
            shared,
            fingerprint: identity.fingerprint,
            listeners,
        })
    }

    /// The bound addresses, in the order the listeners were configured.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.local_addr).collect()
    }

    /// The certificate's `SHA256:…` fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A handle that applies a new configuration to this server while it runs.
    pub fn reloader(&self) -> Reloader {
        Reloader::new(self.shared.clone())
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        self.run_and_report(shutdown, || {}).await
    }

    /// Like [`Server::run`], calling `ready` once every listener is accepting
    /// (the moment to tell a service manager the server is up).
    pub async fn run_and_report(
        self,
        shutdown: CancellationToken,
        ready: impl FnOnce(),
    ) -> Result<(), ServerError> {
        let shared = self.shared;
        shared.sequencer.store().start();
        // Sessions get their own token, cancelled only once the hub knows it is
        // shutting down, so no session's farewell is announced to the others.
        let sessions_stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        for bound in self.listeners {
            let endpoint = Endpoint {
                shared: shared.clone(),
                tls: bound.tls,
                web: bound.web,
                sessions_stop: sessions_stop.clone(),
            };
            tracker.spawn(listener::accept_loop(
                bound.listener,
                endpoint,
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        // Bound sockets queue connections from `bind` on, and every accept loop
        // is running now.
        ready();
        shutdown.cancelled().await;
        info!("shutting down");
        // Read now: a reload may have changed it since the start.
        let shutdown_timeout = shared.settings().shutdown_timeout;
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
        // queued for the store after this.
        shared.sequencer.store().stop(shutdown_timeout).await;
        Ok(())
    }
}

/// Binds and serves until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), ServerError> {
    Server::bind(settings).await?.run(shutdown).await
}
