//! `confab server` as a process: loads the configuration, sets up logging,
//! answers `--check` and `--print-fingerprint`, and otherwise runs the server
//! under the signals a Unix daemon is expected to honour (SIGINT and SIGTERM
//! stop it, SIGHUP reloads it), telling systemd about each step.

mod signals;
mod systemd;

use std::error::Error;

use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cli::ServerArgs;
use crate::config::Settings;
use crate::server::Server;
use crate::{telemetry, tls};

/// Runs `confab server` with these arguments until it is told to stop.
pub fn run(args: &ServerArgs) -> Result<(), Box<dyn Error>> {
    let settings = Settings::load(args)?;
    let log_level = telemetry::init(&settings.log_level, settings.log_format);
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
    runtime.block_on(serve(args.clone(), settings, log_level))
}

async fn serve(
    args: ServerArgs,
    settings: Settings,
    log_level: Option<telemetry::LevelHandle>,
) -> Result<(), Box<dyn Error>> {
    let shutdown = CancellationToken::new();
    // Registered before the server starts, so a signal that arrives during
    // startup is not lost (nor kills the process the default way).
    let signals = signals::Signals::register()?;
    let server = Server::bind(settings).await?;
    let status = listening_status(&server);
    let reload = signals::Reload {
        args,
        reloader: server.reloader(),
        log_level,
        status: status.clone(),
    };
    tokio::spawn(signals.handle(shutdown.clone(), reload));
    server
        .run_and_report(shutdown, || {
            info!("ready for connections");
            systemd::ready(&status);
        })
        .await?;
    Ok(())
}

/// The status line systemd shows while the server runs.
fn listening_status(server: &Server) -> String {
    let addrs: Vec<String> = server
        .local_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    format!("listening on {}", addrs.join(", "))
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
