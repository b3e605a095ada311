//! The command line, as clap derive definitions. The `///` comments here are the
//! `--help` text (and, later, the man page), so they are written for users.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A chat daemon and client speaking line-delimited JSON over TLS.
#[derive(Debug, Parser)]
#[command(name = "confab", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server (TLS on port 7667 on all interfaces unless configured
    /// otherwise).
    Server(ServerArgs),
}

/// Options of `confab server`. Flags override the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// Read the configuration from FILE (TOML); without it, built-in defaults apply.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Listen with TLS on ADDR (like 0.0.0.0:7667 or 127.0.0.1:7667) instead of the
    /// configured listeners; repeat the flag for several addresses.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,

    /// Check the configuration and the certificate files, print a summary and exit
    /// without starting the server.
    #[arg(long)]
    pub check: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_flags_parse() {
        let cli = Cli::try_parse_from([
            "confab",
            "server",
            "--config",
            "/etc/confab.toml",
            "--listen",
            "127.0.0.1:1",
            "--listen",
            "[::1]:2",
            "--check",
        ])
        .unwrap();
        let Command::Server(args) = cli.command;
        assert_eq!(args.config, Some(PathBuf::from("/etc/confab.toml")));
        assert_eq!(
            args.listen,
            ["127.0.0.1:1".parse().unwrap(), "[::1]:2".parse().unwrap()] as [SocketAddr; 2]
        );
        assert!(args.check);
    }

    #[test]
    fn a_bad_listen_address_is_a_usage_error() {
        let err = Cli::try_parse_from(["confab", "server", "--listen", "nowhere"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
