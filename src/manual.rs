//! The man pages and shell completion scripts, generated from the clap
//! definitions in [`crate::cli`], so `--help`, `man confab-server` and the
//! completions can never disagree about a flag.
//!
//! The generated files are committed (`man/*.1`, `contrib/completions/`) so that
//! an installer or a packager finds them in the source tree without running
//! anything. `tests/generated_docs.rs` fails when they differ from what this module
//! generates now, and `CONFAB_REGENERATE=1 cargo test --test generated_docs`
//! rewrites them. The binary serves the same scripts (`confab completions SHELL`).
//! `man/confab.toml.5` is written by hand: the config file has no clap definition.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::{Generator, Shell};
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::cli::Cli;

/// The directory of the man pages, relative to the repository root.
pub const MAN_DIR: &str = "man";

/// The directory of the completion scripts, relative to the repository root.
pub const COMPLETIONS_DIR: &str = "contrib/completions";

/// Every shell `confab completions` writes a script for.
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

/// The name the binary is called by, in the pages and the scripts.
const BIN_NAME: &str = "confab";

/// A generated file: its name (without a directory) and its contents.
pub type GeneratedFile = (String, Vec<u8>);

/// The section 1 man pages: `confab.1` first, then one page per subcommand
/// (`confab-server.1`, ...), each ending in a SEE ALSO section that links the
/// pages together and to confab.toml(5).
pub fn man_pages() -> Vec<GeneratedFile> {
    // `confab help` is clap's built-in subcommand: it needs no page of its own,
    // and the main page should not list one that does not exist.
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Building the parent gives each subcommand its display name
    // (`confab-server`) and usage name (`confab server`) before it is cloned.
    cli.build();
    let subcommands: Vec<clap::Command> = cli
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect();

    let mut main_refs: Vec<(String, &str)> = subcommands
        .iter()
        .map(|sub| (page_name(sub), "1"))
        .collect();
    main_refs.push(("confab.toml".to_owned(), "5"));
    let mut pages = vec![man_page(cli, &[], &main_refs)];

    for sub in subcommands {
        let mut refs = vec![(BIN_NAME.to_owned(), "1")];
        let sections = match sub.get_name() {
            // The server is the one subcommand the config file is for.
            "server" => {
                refs.push(("confab.toml".to_owned(), "5"));
                SERVER_SECTIONS
            }
            "client" => CLIENT_SECTIONS,
            _ => &[],
        };
        pages.push(man_page(sub, sections, &refs));
    }
    pages
}

/// A man page section clap knows nothing of: its title and its tagged
/// paragraphs (term, then text).
type Section = (&'static str, &'static [(&'static str, &'static str)]);

/// What an operator looks for in `man confab-server` beyond the flags.
const SERVER_SECTIONS: &[Section] = &[
    (
        "PROTOCOL",
        &[
            ("1.1", "The server speaks line-delimited JSON over TLS, protocol 1.1 (hello's ok says \"protocol\":\"1.1\"): version 1 plus room epochs. Every room's seq numbering has an epoch; join with since and epoch answers from the start of the room's current numbering when the one the client knew is gone, and history with a stale epoch gets epoch_changed. A connection has at most 128 room messages in flight; beyond that the server stops reading from it. See docs/PROTOCOL.md."),
        ],
    ),
    (
        "SIGNALS",
        &[
            ("SIGHUP", "Reload: read the configuration file again and apply it without dropping anyone (server_name, motd, password, log_level, shutdown_timeout, the limits, the configured rooms and their topics, and the certificate and key, which are read again even when their paths did not change); reopen the message log files and seal each logged room's ledger (DIR/ROOM/state.json), so a day file logrotate moved away cannot make a room reuse seqs. Listeners, state_dir, log_format and [log] take a restart: a warning names each one that changed. A file that does not parse, or a certificate that does not load, is refused whole and the running configuration stays. See confab.toml(5), RELOADING."),
            ("SIGTERM, SIGINT", "Shut down gracefully: stop accepting, send every client bye \"server shutting down\", send what is queued, close, and exit 0 within shutdown_timeout. A second SIGTERM or SIGINT during that shutdown exits at once, with status 1."),
        ],
    ),
    (
        "ENVIRONMENT",
        &[
            ("RUST_LOG", "A log filter (such as confab=debug) that wins over log_level in the configuration."),
            ("NOTIFY_SOCKET", "Set by systemd for a Type=notify service: the server reports READY=1 once every listener accepts, RELOADING=1 and READY=1 around a reload, and STOPPING=1 at shutdown. Without it nothing is sent."),
            ("JOURNAL_STREAM", "Set by systemd when stderr goes to the journal: log lines then carry no timestamp or colours and start with a syslog priority."),
            ("STATE_DIRECTORY", "Set by systemd's StateDirectory=: the default state_dir, where the self-signed certificate is kept."),
        ],
    ),
    (
        "EXIT STATUS",
        &[
            ("0", "The server shut down on a signal, or --check or --print-fingerprint succeeded."),
            ("1", "The configuration, the certificate, a listener or the log directory could not be used; the message on stderr names the file or the key."),
            ("2", "The command line was wrong."),
        ],
    ),
];

/// The full-screen interface's keys, the exit statuses scripts test for, and
/// the files the client keeps.
const CLIENT_SECTIONS: &[Section] = &[
    (
        "KEYS",
        &[
            ("Alt-1 ... Alt-9", "Go to buffer 1 to 9 of the list (1 is the server buffer)."),
            ("Alt-Left, Alt-Right, Ctrl-P, Ctrl-N", "The previous or the next buffer."),
            ("Alt-A", "The next buffer with activity: those with a mention first, then those with unread messages."),
            ("PgUp, PgDn", "Scroll the buffer. PgUp past the oldest line loaded fetches the page before it from the server, so the whole history the server holds is one scroll away."),
            ("Tab", "Complete a nick (those of the room first, with a colon after it at the start of a line), a #room or a /command; Tab again gives the next match."),
            ("Up, Down", "Recall earlier input."),
            ("Enter, Alt-Enter", "Send the line; Alt-Enter starts a new line within one message."),
            ("Ctrl-C", "Clear the input line (Up brings it back). It does not quit."),
            ("Ctrl-D", "On an empty line, quit (like /quit)."),
            ("Ctrl-O", "Show folded messages whole (a message taller than 6 rows is folded), or fold them again."),
            ("Ctrl-L", "Redraw the screen."),
            ("/query NICK [TEXT], /close", "Open a private buffer (and say TEXT there); close a private buffer, or leave the room of the buffer."),
        ],
    ),
    (
        "EXIT STATUS",
        &[
            ("0", "Everything was sent and answered."),
            ("1", "The server answered an error (or refused a script line)."),
            ("2", "The command line or the client configuration was wrong."),
            ("3", "The client could not connect, the server's certificate was not trusted, or the connection was lost for good."),
        ],
    ),
    (
        "FILES",
        &[
            ("$XDG_CONFIG_HOME/confab/client.toml", "Client defaults: server, nick, join, password_file, account_password_file, ca, known_hosts, reconnect_attempts, bell (~/.config/confab when XDG_CONFIG_HOME is unset)."),
            ("$XDG_CONFIG_HOME/confab/known_hosts", "The fingerprints of the servers you trusted, one HOST:PORT SHA256:... line each."),
        ],
    ),
];

/// The completion script for `shell`, under the file name that shell looks for
/// (`confab.bash`, `_confab`, `confab.fish`, `confab.elv`, `_confab.ps1`).
pub fn completion_script(shell: Shell) -> GeneratedFile {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
    (shell.file_name(BIN_NAME), script)
}

/// The completion scripts of every shell in [`SHELLS`].
pub fn completion_scripts() -> Vec<GeneratedFile> {
    SHELLS.into_iter().map(completion_script).collect()
}

/// `confab completions SHELL`: writes the script to stdout. A reader that
/// closes the pipe early (`| head`) is not an error: it has what it wanted.
pub fn print_completions(shell: Shell) -> io::Result<()> {
    // Generated into memory first: clap_complete panics on a failed write, and
    // a closed stdout must be an ordinary outcome, not a crash.
    let (_, script) = completion_script(shell);
    let mut stdout = io::stdout().lock();
    match stdout.write_all(&script).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The man page name of a built command: `confab`, or `confab-server` for a
/// subcommand (clap sets the display name while building the parent).
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

fn man_page(
    cmd: clap::Command,
    sections: &[Section],
    see_also: &[(String, &str)],
) -> GeneratedFile {
    let man = Man::new(cmd);
    let name = man.get_filename();
    let mut rendered = Vec::new();
    man.render(&mut rendered)
        .expect("writing to a Vec cannot fail");
    let rendered = String::from_utf8(rendered).expect("clap_mangen writes UTF-8");

    // clap_mangen writes an empty date as nothing at all, so the source lands in
    // the date's place, and a subcommand's source is its bare name ("server "):
    // write the title line here, with the date empty but quoted. A real date
    // would make the pages differ from one day to the next, and the committed
    // copies always stale.
    let (title, section) = name.rsplit_once('.').expect("NAME.SECTION");
    let title_line = format!(
        ".TH {title} {section} \"\" \"{BIN_NAME} {}\"",
        env!("CARGO_PKG_VERSION")
    );
    let mut page = String::new();
    for line in rendered.lines() {
        page.push_str(if line.starts_with(".TH ") {
            &title_line
        } else {
            line
        });
        page.push('\n');
    }

    let mut refs = Vec::new();
    for (i, (name, section)) in see_also.iter().enumerate() {
        if i > 0 {
            refs.push(roman(", "));
        }
        refs.push(bold(name.as_str()));
        refs.push(roman(format!("({section})")));
    }
    let mut tail = Roff::new();
    for (title, paragraphs) in sections {
        tail.control("SH", [*title]);
        for (term, text) in *paragraphs {
            tail.control("TP", [])
                .text([bold(*term)])
                .text([roman(*text)]);
        }
    }
    tail.control("SH", ["SEE ALSO"]).text(refs);
    // `to_roff`, not `render`: the page already starts with roff's preamble.
    page.push_str(&tail.to_roff());
    (name, page.into_bytes())
}
