//! The signals a daemon honours: SIGINT and SIGTERM start a graceful shutdown,
//! and a second one during that shutdown exits at once (someone wants it gone
//! now, not after the drain deadline); SIGHUP reloads the configuration file
//! and reopens the message log files.

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::cli::ServerArgs;
use crate::config::Settings;
use crate::server::Reloader;
use crate::telemetry::LevelHandle;

use super::systemd;

/// The signal streams, registered before the server starts.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

/// What a SIGHUP needs: where the configuration comes from, and what to apply
/// it to.
pub struct Reload {
    pub args: ServerArgs,
    pub reloader: Reloader,
    pub log_level: Option<LevelHandle>,
    /// The status systemd shows again once the reload is over.
    pub status: String,
}

impl Signals {
    pub fn register() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Reloads on every SIGHUP until SIGINT or SIGTERM, which cancels
    /// `shutdown`. Reloads are carried out one at a time, in the order asked.
    /// A second SIGINT or SIGTERM while the shutdown runs ends the process at
    /// once, with exit status 1.
    pub async fn handle(mut self, shutdown: CancellationToken, reload: Reload) {
        loop {
            tokio::select! {
                _ = self.interrupt.recv() => break stop(&shutdown, "SIGINT"),
                _ = self.terminate.recv() => break stop(&shutdown, "SIGTERM"),
                _ = self.hangup.recv() => reload.run().await,
            }
        }
        let again = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        // What the store holds is what it holds: with fsync "always" every
        // acknowledged message is already on disk.
        warn!("{again} during the shutdown: exiting at once");
        std::process::exit(1);
    }
}

fn stop(shutdown: &CancellationToken, signal: &str) {
    info!("shutting down on {signal}");
    systemd::stopping();
    shutdown.cancel();
}

impl Reload {
    async fn run(&self) {
        systemd::reloading();
        info!("SIGHUP: reloading the configuration");
        self.apply_config_file().await;
        if self.reloader.reopen_log_files() {
            info!("SIGHUP: reopening log files");
        }
        systemd::ready(&self.status);
    }

    /// Reads the configuration again and puts it in force, or refuses it whole.
    async fn apply_config_file(&self) {
        let origin = match &self.args.config {
            Some(path) => path.display().to_string(),
            None => "the built-in defaults".to_owned(),
        };
        let settings = match Settings::load(&self.args) {
            Ok(settings) => settings,
            Err(e) => return refused(&e),
        };
        let log_level = settings.log_level.clone();
        let report = match self.reloader.reload(settings).await {
            Ok(report) => report,
            Err(e) => return refused(&e),
        };
        if let Some(handle) = &self.log_level {
            handle.set(&log_level);
        }
        for key in &report.needs_restart {
            warn!(
                "{key} changed in {origin}: it takes a restart; the running value stays in force"
            );
        }
        if report.certificate_changed {
            info!("new certificate {} for new connections", report.fingerprint);
        }
        if report.applied.is_empty() {
            info!("configuration reloaded from {origin}: nothing changed that applies live");
        } else {
            info!(
                "configuration reloaded from {origin}: {} changed",
                report.applied.join(", ")
            );
        }
    }
}

fn refused(cause: &dyn std::fmt::Display) {
    error!(
        "configuration reload refused, the running configuration stays in force: {}",
        one_line(&cause.to_string())
    );
}

/// A log record is one line (journald makes each line an entry of its own),
/// but a TOML error shows the offending line with a caret under it. Keeps the
/// lines that say something, joined: "TOML parse error at line 4, column 8:
/// invalid type: integer `12`, expected a string".
fn one_line(message: &str) -> String {
    let is_excerpt = |line: &str| {
        let before_bar = line.split_once('|').map(|(before, _)| before.trim());
        before_bar.is_some_and(|before| before.bytes().all(|b| b.is_ascii_digit()))
    };
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_excerpt(line))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_toml_error_becomes_one_line() {
        let toml_error = "/etc/confab.toml: TOML parse error at line 4, column 8\n  |\n4 | motd = 12\n  |        ^^\ninvalid type: integer `12`, expected a string\n";
        assert_eq!(
            one_line(toml_error),
            "/etc/confab.toml: TOML parse error at line 4, column 8: invalid type: integer `12`, expected a string"
        );
        assert_eq!(one_line("tls.cert: a | b"), "tls.cert: a | b");
    }
}
