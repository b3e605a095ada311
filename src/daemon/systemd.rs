//! Telling a service manager what the server is doing (systemd's `Type=notify`
//! readiness protocol): ready once every listener accepts, reloading around a
//! SIGHUP, stopping at shutdown. Without `NOTIFY_SOCKET` (not started by
//! systemd) every call does nothing.

use sd_notify::NotifyState;
use tracing::warn;

/// The server accepts connections; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins; [`ready`] ends it. systemd wants the monotonic clock
/// reading with it to tell this reload from an earlier one.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => {
            warn!("cannot read the monotonic clock for systemd: {e}");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// Shutdown has begun.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
}

fn send(states: &[NotifyState]) {
    // A notification that cannot be sent must not stop the server: systemd
    // then times the service out, which says more than a crash would.
    if let Err(e) = sd_notify::notify(states) {
        warn!("could not notify the service manager: {e}");
    }
}
