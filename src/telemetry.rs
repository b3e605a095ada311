//! Logging setup: tracing events go to stderr as text, filtered by `RUST_LOG` when
//! it is set and by the configured level otherwise.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `default_filter` (an `EnvFilter` directive such
/// as "info" or "confab=debug") applies when `RUST_LOG` is unset or empty. Colours
/// only on a terminal, so logs captured by systemd or a test stay plain text.
/// Calling it again is harmless: the first subscriber stays.
pub fn init(default_filter: &str) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::builder().parse_lossy(directives)
        }
        _ => EnvFilter::builder().parse_lossy(default_filter),
    };
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_init_does_not_panic() {
        // "off", so the subscriber this installs for the whole test binary does
        // not spill other tests' logs onto the terminal.
        super::init("off");
        super::init("off");
    }
}
