//! `confab client`: the terminal client, and the tool scripts and bots use.
//!
//! - `settings`: the client config file merged with the flags
//! - `trust`: ssh-style certificate trust and the known-hosts file
//! - `core`: the conversation and what it knows and decides, UI-free: the
//!   connection, reconnect, the rooms and their catch-up by seq and epoch;
//!   it reports to a face
//! - `line`: the face of line mode, scripts, `--json` and one-shot sends
//! - `tui`: the full-screen face, at a terminal
//! - `commands`: slash commands into requests
//! - `render`: events into safe human-readable lines
//! - `screen`, `terminal`, `input`: where output goes and input comes from
//! - `raw`: `--raw`, frames verbatim both ways

pub mod commands;
pub mod core;
pub mod error;
mod input;
mod line;
mod raw;
pub mod render;
mod screen;
pub mod settings;
mod terminal;
pub mod trust;
pub mod tui;

use std::io::IsTerminal;

use crate::cli::ClientArgs;
use crate::protocol::names::RoomName;
use crate::protocol::request::{Request, Target};

use self::core::conversation::{Chat, Input, Options, Outcome};
use error::{ClientError, EXIT_OK, EXIT_SERVER_ERROR};
use line::LineFace;
use render::Renderer;
use screen::{Screen, Stream, Style};
use settings::{ClientSettings, TrustMode};
use trust::{Asker, TerminalAsker};

/// Runs the client; returns the process exit status.
pub fn run(args: &ClientArgs) -> u8 {
    match run_client(args) {
        Ok(Ending::Fine) => EXIT_OK,
        Ok(Ending::Failed(None)) => EXIT_SERVER_ERROR,
        Ok(Ending::Failed(Some(outcome))) => {
            // An interactive session's errors scrolled by (or went with the
            // full-screen interface): say why the status is not 0.
            let last = outcome
                .last_failure
                .map(|last| format!("; the last: {last}"))
                .unwrap_or_default();
            let requests = match outcome.failures {
                1 => "1 request".to_owned(),
                n => format!("{n} requests"),
            };
            eprintln!("confab client: {requests} of this session failed{last} (exit status 1)");
            EXIT_SERVER_ERROR
        }
        Err(err) => {
            eprintln!("confab client: {err}");
            err.exit_code()
        }
    }
}

/// How the client ended, when it ran to its end.
enum Ending {
    Fine,
    /// Some request failed; in an interactive session, which ones.
    Failed(Option<Outcome>),
}

fn run_client(args: &ClientArgs) -> Result<Ending, ClientError> {
    let mut settings = ClientSettings::load(args)?;
    let one_shot = match (&args.room, &args.send) {
        (Some(room), Some(_)) => {
            let room =
                RoomName::parse(room).map_err(|e| ClientError::Usage(format!("--room: {e}")))?;
            // A one-shot send joins only the room it sends to.
            settings.join = vec![room.clone()];
            Some(room)
        }
        _ => None,
    };
    if settings.trust == TrustMode::Insecure {
        eprintln!(
            "confab client: warning: --insecure: the server's certificate is not checked; \
             anyone on the path can read and change this conversation"
        );
    }
    let stdin_is_terminal = std::io::stdin().is_terminal();
    let interactive = stdin_is_terminal && !args.raw && one_shot.is_none();
    // The line editor changes the terminal's modes; whatever way the session
    // ends, they are put back when this guard goes.
    let _terminal_modes = interactive.then(terminal::SavedModes::save);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        // Asking about an unknown certificate needs a person at the keyboard.
        let mut terminal_asker = TerminalAsker;
        let ask: Option<&mut dyn Asker> = stdin_is_terminal.then_some(&mut terminal_asker as _);
        if args.raw {
            let fine = raw::run(&settings, ask).await?;
            return Ok(if fine {
                Ending::Fine
            } else {
                Ending::Failed(None)
            });
        }
        let color = interactive
            && !args.json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none();
        let style = match (args.json, one_shot.is_some()) {
            (true, _) => Style::Json,
            (false, true) => Style::Quiet,
            (false, false) => Style::Human,
        };
        let renderer = Renderer { color };
        let options = Options {
            settings: settings.clone(),
            interactive,
            one_shot: one_shot.is_some(),
            json: args.json,
        };
        let screen = Screen::new(
            Box::new(Stream { stderr: false }),
            Box::new(Stream { stderr: true }),
            style,
            renderer,
        );
        let chat = Chat::new(options, Box::new(LineFace::new(screen, interactive)))?;
        let input = match (&one_shot, &args.send) {
            (Some(room), Some(text)) => Input::Ready(input::requests(vec![Request::Message {
                target: Target::Room(room.clone()),
                text: text.clone(),
                action: false,
            }])),
            // The certificate question, if any, is asked before the line editor
            // takes the terminal: the editor starts once the first connection
            // is trusted.
            // The full-screen interface, on a terminal both ways.
            _ if interactive && !args.line && std::io::stdout().is_terminal() => {
                let server = settings.server.to_string();
                let ring = settings.bell;
                let color = std::env::var_os("NO_COLOR").is_none();
                Input::Later(Box::new(move || tui::start(&server, ring, color)))
            }
            _ if interactive => Input::Later(Box::new(move || {
                let terminal = terminal::start()?;
                let screen = Screen::new(terminal.out, terminal.err, style, renderer);
                let face: Box<dyn core::update::Face> = Box::new(LineFace::new(screen, true));
                Ok((terminal.input, face))
            })),
            _ => Input::Ready(input::stdin_lines()),
        };
        let outcome = chat.run(input, ask).await?;
        Ok(match outcome.failures {
            0 => Ending::Fine,
            _ if interactive => Ending::Failed(Some(outcome)),
            _ => Ending::Failed(None),
        })
    });
    // A read of stdin may still be blocked in a thread (a script whose input
    // stays open): do not wait for it.
    runtime.shutdown_background();
    outcome
}
