//! The `confab` binary: parses the command line and hands over to the library,
//! turning errors into a one-line message on stderr and exit status 1.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

use confab::cli::{Cli, Command, ServerArgs};
use confab::config::Settings;
use confab::{telemetry, tls};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => server(&args),
        Command::Client(args) => return ExitCode::from(confab::client::run(&args)),
        Command::Completions(args) => {
            confab::manual::print_completions(args.shell).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("confab: {}", report(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn server(args: &ServerArgs) -> Result<(), Box<dyn Error>> {
    let settings = Settings::load(args)?;
    telemetry::init(&settings.log_level);
    if args.check {
        return check(args, &settings);
    }
    if args.print_fingerprint {
        let identity =
            tls::load_identity(&settings.tls, &settings.state_dir, &settings.server_name)?;
        println!("{}", identity.fingerprint);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(settings))
}

async fn serve(settings: Settings) -> Result<(), Box<dyn Error>> {
    let shutdown = CancellationToken::new();
    // Registered before the server starts, so a signal that arrives during
    // startup is not lost (nor kills the process the default way).
    let signals = ShutdownSignals::register()?;
    let hangup = signal(SignalKind::hangup())?;
    tokio::spawn(signals.cancel_on_first(shutdown.clone()));
    let server = confab::server::Server::bind(settings).await?;
    tokio::spawn(reopen_on_hangup(hangup, server.log_reopener()));
    server.run(shutdown).await?;
    Ok(())
}

/// SIGHUP: the message log reopens its files, so a log file moved away (by
/// logrotate, say) is recreated at its path on the next write. Without a log
/// there is nothing to reopen, and the signal must not stop the server.
async fn reopen_on_hangup(mut hangup: Signal, reopener: Option<confab::server::log::Reopener>) {
    while hangup.recv().await.is_some() {
        match &reopener {
            Some(reopener) => {
                tracing::info!("SIGHUP: reopening log files");
                reopener.request();
            }
            None => tracing::info!("SIGHUP ignored: message logging is off"),
        }
    }
}

/// `--check`: the configuration is valid (or `Settings::load` failed already);
/// now the certificate, without generating one.
fn check(args: &ServerArgs, settings: &Settings) -> Result<(), Box<dyn Error>> {
    let identity = tls::check_identity(&settings.tls, &settings.state_dir)?;
    match &args.config {
        Some(path) => println!("config OK: {}", path.display()),
        None => println!("config OK: no config file, built-in defaults"),
    }
    for listener in &settings.listeners {
        let kind = if listener.tls { "tls" } else { "plaintext" };
        println!("listen {} ({kind})", listener.addr);
    }
    match identity {
        Some(identity) => println!(
            "certificate {} ({})",
            identity.fingerprint,
            identity.cert_path.display()
        ),
        None => println!(
            "certificate will be generated in {} at first start",
            settings.state_dir.display()
        ),
    }
    Ok(())
}

/// SIGINT and SIGTERM, the two ways a user or a service manager asks us to stop.
struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    fn register() -> std::io::Result<ShutdownSignals> {
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn cancel_on_first(mut self, shutdown: CancellationToken) {
        let name = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        tracing::info!("shutting down on {name}");
        shutdown.cancel();
    }
}

/// The error and its causes, joined by ": ". A cause whose text the message
/// already holds is skipped: many errors repeat their source in their own text.
fn report(err: &dyn Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::report;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Hides(#[source] std::io::Error);

    #[test]
    fn causes_are_reported_once() {
        let io = || std::io::Error::other("disk on fire");
        assert_eq!(report(&Repeats(io())), "outer: disk on fire");
        assert_eq!(report(&Hides(io())), "outer: disk on fire");
    }
}
