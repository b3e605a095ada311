//! Applying a new configuration to a running server (SIGHUP), without dropping
//! anyone. What can change live changes: the server name, motd and password
//! for the next `hello`, the limits (for connections made from now on;
//! the connection bounds, `history_keep`, `history_memory_bytes` and
//! `max_total_rooms` at once), the configured rooms and
//! their topics, and the certificate (new connections get it, established ones
//! keep theirs). What cannot change without a restart (listeners, the state
//! directory, the log format, the message log) is reported and left as it runs.
//!
//! A reload is all or nothing: the new certificate is loaded before anything is
//! changed, so a broken one leaves the old configuration wholly in force.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tracing::warn;

use crate::config::{Settings, SECTIONS};
use crate::protocol::names::Nick;
use crate::tls::{self, TlsError};

use super::sequencer::Change;
use super::{Certificate, Shared};

/// Applies new settings to the running server it came from.
#[derive(Clone)]
pub struct Reloader {
    shared: Arc<Shared>,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Config keys (or tables) whose new values are in force now.
    pub applied: Vec<&'static str>,
    /// Config keys (or tables) that changed but take a restart; their running
    /// values stay.
    pub needs_restart: Vec<&'static str>,
    /// The fingerprint of the certificate served to new connections.
    pub fingerprint: String,
    /// The certificate differs from the one served before the reload.
    pub certificate_changed: bool,
}

impl Reloader {
    pub(super) fn new(shared: Arc<Shared>) -> Reloader {
        Reloader { shared }
    }

    /// Puts `new` in force, except the parts that need a restart. Fails, with
    /// nothing changed, when the certificate it names cannot be loaded.
    pub async fn reload(&self, mut new: Settings) -> Result<ReloadReport, TlsError> {
        let old = self.shared.settings();
        let mut report = ReloadReport::default();
        keep_running_values(&old, &mut new, &mut report.needs_restart);
        // Read again even when the paths are the same: rotating a certificate
        // means replacing its files and reloading.
        let identity = {
            let (source, state_dir, name) = (
                new.tls.clone(),
                new.state_dir.clone(),
                new.server_name.clone(),
            );
            tokio::task::spawn_blocking(move || tls::load_identity(&source, &state_dir, &name))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?
        };
        report.applied = changed_live_keys(&old, &new);
        report.certificate_changed = self.shared.certificate().fingerprint != identity.fingerprint;
        report.fingerprint.clone_from(&identity.fingerprint);
        self.shared.replace_certificate(Certificate {
            acceptor: TlsAcceptor::from(identity.config),
            fingerprint: identity.fingerprint,
        });

        let shared = &self.shared;
        shared.admission.set_limits(&new.limits);
        shared.hub.apply_limits(&new.limits);
        let topics = shared.hub.configure_rooms(&old.rooms, &new.rooms);
        let author = Nick::server(&new.server_name);
        shared.replace_settings(Arc::new(new));
        for (room, topic) in topics {
            let change = Change::Topic {
                by: author.clone(),
                topic,
            };
            if !matches!(shared.sequencer.commit(&room, change).await, Ok(Ok(_))) {
                warn!(room = %room.name(), "the configured topic could not be stored; the room keeps its topic");
            }
        }
        Ok(report)
    }

    /// Makes the store reopen its files (after logrotate moved them). False
    /// when it keeps no files.
    pub fn reopen_log_files(&self) -> bool {
        self.shared.sequencer.store().reopen()
    }
}

/// Settings that only take effect at start keep their running values; each
/// one that changed is named in `needs_restart`. Which ones those are is
/// `config::SECTIONS`' call, not this module's.
fn keep_running_values(old: &Settings, new: &mut Settings, needs_restart: &mut Vec<&'static str>) {
    for section in SECTIONS.iter().filter(|s| s.needs_restart()) {
        if section.differs(old, new) {
            needs_restart.push(section.name);
            section.keep_running(old, new);
        }
    }
}

/// The live settings that differ between `old` and `new`, by config key (or
/// table), in the order of `config::SECTIONS`.
fn changed_live_keys(old: &Settings, new: &Settings) -> Vec<&'static str> {
    SECTIONS
        .iter()
        .filter(|s| !s.needs_restart() && s.differs(old, new))
        .map(|s| s.name)
        .collect()
}
