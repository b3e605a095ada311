//! The command line, as clap derive definitions. The `///` comments here are the
//! `--help` text and the man pages (`crate::manual` renders them), so they are
//! written for users.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

/// A chat daemon and client speaking line-delimited JSON over TLS.
///
/// `confab server` runs the daemon: people join rooms and talk, in rooms or
/// privately, over TLS on port 7667. Its configuration file, given with
/// --config, is described in confab.toml(5).
///
/// `confab client` chats with a server, from a terminal or from a script.
///
/// `confab completions` prints a shell completion script.
#[derive(Debug, Parser)]
#[command(name = "confab", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
// Parsed once at start-up and never moved around: the client's many options
// make the variants' sizes differ, which costs nothing here.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server (TLS on port 7667 on all interfaces unless configured
    /// otherwise).
    Server(ServerArgs),
    /// Chat from a terminal, or script a conversation: slash commands and plain
    /// lines on stdin, events on stdout.
    ///
    /// At a terminal (stdin and stdout both terminals) the client opens a
    /// full-screen interface: a buffer list with unread and mention counts (the
    /// server, each room, each private conversation), the focused buffer's
    /// messages, a status line (nick, server, connection, lines queued while
    /// offline, who is typing) and an input line; the keys are listed under
    /// KEYS. --line keeps a line editor instead. With a pipe or a file on stdin
    /// it runs a script: each line is a slash command or text for the current
    /// room, answered before the next is read.
    Client(ClientArgs),
    /// Print the completion script for SHELL to stdout.
    ///
    /// bash: save it as ~/.local/share/bash-completion/completions/confab (for
    /// every user: /usr/local/share/bash-completion/completions/confab).
    ///
    /// zsh: save it as _confab in a directory of $fpath, such as
    /// /usr/local/share/zsh/site-functions.
    ///
    /// fish: save it as ~/.config/fish/completions/confab.fish.
    ///
    /// elvish: add `eval (confab completions elvish | slurp)` to
    /// ~/.config/elvish/rc.elv.
    ///
    /// powershell: add `confab completions powershell | Out-String |
    /// Invoke-Expression` to $PROFILE.
    Completions(CompletionsArgs),
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
    #[arg(long, conflicts_with = "print_fingerprint")]
    pub check: bool,

    /// Print the SHA256 fingerprint of the server's certificate (the configured one,
    /// or the self-signed one, made now if there is none yet) and exit, so it can
    /// be handed to users.
    #[arg(long)]
    pub print_fingerprint: bool,
}

/// Options of `confab client`. Flags override the client config file.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientArgs {
    /// The server to connect to: HOST or HOST:PORT (an IPv6 address in brackets,
    /// like [::1]:7667). Default: `server` from the client config, else
    /// localhost:7667.
    #[arg(value_name = "HOST[:PORT]")]
    pub server: Option<String>,

    /// Your nick: 1 to 32 ASCII letters, digits, '_' or '-', starting with a
    /// letter. Default: `nick` from the client config, else your user name.
    #[arg(long, short = 'n', value_name = "NICK")]
    pub nick: Option<String>,

    /// Join ROOM once connected; repeat the flag for several rooms. Replaces the
    /// `join` list of the client config.
    #[arg(long = "join", short = 'j', value_name = "ROOM")]
    pub join: Vec<String>,

    /// Read the server password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Log in to the account of your nick with the password on the first
    /// line of FILE. FILE must be readable by you alone (chmod 600), as ssh
    /// asks of a private key. There is no flag taking the password itself: a
    /// command line is visible to every user of the machine.
    #[arg(long, value_name = "FILE")]
    pub account_password_file: Option<PathBuf>,

    /// Trust only a certificate that chains to a CA certificate in FILE (PEM) and
    /// names the host, instead of the system roots and the known-hosts file.
    #[arg(long, value_name = "FILE", group = "trust")]
    pub ca: Option<PathBuf>,

    /// Trust the server whose certificate has this fingerprint (as printed by
    /// `confab server --print-fingerprint`), for this run only.
    #[arg(long, value_name = "SHA256:...", group = "trust")]
    pub fingerprint: Option<String>,

    /// Skip every certificate check, with a warning: anyone on the path can then
    /// read and change the conversation.
    #[arg(long, group = "trust")]
    pub insecure: bool,

    /// Print every server frame to stdout as the JSON line it was (for jq),
    /// instead of human-readable lines.
    #[arg(long)]
    pub json: bool,

    /// At a terminal, use the line editor (lines scroll like a shell) instead
    /// of the full-screen interface.
    #[arg(long, conflicts_with_all = ["json", "raw", "send"])]
    pub line: bool,

    /// Send stdin lines verbatim as protocol frames and print every frame
    /// received; no hello or join is sent for you.
    #[arg(long, conflicts_with_all = [
        "json", "nick", "join", "room", "password_file", "account_password_file",
    ])]
    pub raw: bool,

    /// One-shot: the room to send to (with --send).
    #[arg(long, value_name = "ROOM", requires = "send")]
    pub room: Option<String>,

    /// One-shot: connect, join --room, send TEXT, wait for the server's ok, quit.
    #[arg(long, value_name = "TEXT", requires = "room")]
    pub send: Option<String>,

    /// Read client defaults from FILE instead of
    /// $XDG_CONFIG_HOME/confab/client.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Remember and check server fingerprints in FILE instead of
    /// $XDG_CONFIG_HOME/confab/known_hosts.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// Outside an interactive session (scripts, one-shot sends), give up after N
    /// failed attempts to reconnect a dropped connection; interactive sessions
    /// retry forever. Default: `reconnect_attempts` from the client config,
    /// else 5.
    #[arg(long, value_name = "N")]
    pub reconnect_attempts: Option<u32>,
}

/// Options of `confab completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
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
        let Command::Server(args) = cli.command else {
            panic!("not the server subcommand");
        };
        assert_eq!(args.config, Some(PathBuf::from("/etc/confab.toml")));
        assert_eq!(
            args.listen,
            ["127.0.0.1:1".parse().unwrap(), "[::1]:2".parse().unwrap()] as [SocketAddr; 2]
        );
        assert!(args.check);
    }

    #[test]
    fn client_flags_parse() {
        let cli = Cli::try_parse_from([
            "confab",
            "client",
            "[::1]:7000",
            "--nick",
            "alice",
            "-j",
            "ops",
            "--join",
            "#dev",
            "--fingerprint",
            "SHA256:abc",
            "--account-password-file",
            "account.pw",
            "--json",
        ])
        .unwrap();
        let Command::Client(args) = cli.command else {
            panic!("not the client subcommand");
        };
        assert_eq!(args.server.as_deref(), Some("[::1]:7000"));
        assert_eq!(args.nick.as_deref(), Some("alice"));
        assert_eq!(args.join, ["ops", "#dev"]);
        assert_eq!(args.fingerprint.as_deref(), Some("SHA256:abc"));
        assert_eq!(
            args.account_password_file,
            Some(PathBuf::from("account.pw"))
        );
        assert!(args.json && !args.raw && !args.insecure);
    }

    #[test]
    fn client_flag_rules_are_usage_errors() {
        let refused = [
            vec!["--insecure", "--fingerprint", "SHA256:x"],
            vec!["--ca", "ca.pem", "--insecure"],
            vec!["--room", "ops"],
            vec!["--send", "hi"],
            vec!["--raw", "--json"],
            vec!["--raw", "--join", "ops"],
            vec!["--raw", "--account-password-file", "pw"],
        ];
        for flags in &refused {
            let err = Cli::try_parse_from(["confab", "client"].iter().chain(flags)).unwrap_err();
            use clap::error::ErrorKind;
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::ArgumentConflict | ErrorKind::MissingRequiredArgument
                ),
                "{flags:?}: {err}"
            );
        }
    }

    #[test]
    fn completions_take_one_of_five_shells() {
        let shells = [
            ("bash", Shell::Bash),
            ("zsh", Shell::Zsh),
            ("fish", Shell::Fish),
            ("elvish", Shell::Elvish),
            ("powershell", Shell::PowerShell),
        ];
        for (name, shell) in shells {
            let cli = Cli::try_parse_from(["confab", "completions", name]).unwrap();
            let Command::Completions(args) = cli.command else {
                panic!("{name}: not the completions subcommand");
            };
            assert_eq!(args.shell, shell, "{name}");
        }
        assert_eq!(shells.len(), 5);

        let err = Cli::try_parse_from(["confab", "completions", "tcsh"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        let err = Cli::try_parse_from(["confab", "completions"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn a_bad_listen_address_is_a_usage_error() {
        let err = Cli::try_parse_from(["confab", "server", "--listen", "nowhere"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
