//! `confab client`: the terminal client, and the tool scripts and bots use.
//!
//! - `settings`: the client config file merged with the flags
//! - `trust`: ssh-style certificate trust and the known-hosts file
//! - `connection`: TCP, TLS, and lines in and out
//! - `core`: what the conversation knows and decides, UI-free (the rooms and
//!   their catch-up by seq and epoch)
//! - `chat`: the conversation, with reconnect and catch-up
//! - `commands`: slash commands into requests
//! - `render`: events into safe human-readable lines
//! - `screen`, `terminal`, `input`: where output goes and input comes from
//! - `raw`: `--raw`, frames verbatim both ways
//! - `tui`: the full-screen interface: text display, line editor, completion

mod backoff;
mod chat;
pub mod commands;
mod connection;
pub mod core;
pub mod error;
mod input;
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

use chat::{Chat, Input, Options};
use error::{ClientError, EXIT_OK, EXIT_SERVER_ERROR};
use render::Renderer;
use screen::{Screen, Stream, Style};
use settings::{ClientSettings, TrustMode};
use trust::{Asker, TerminalAsker};

/// Runs the client; returns the process exit status.
pub fn run(args: &ClientArgs) -> u8 {
    match run_client(args) {
        Ok(true) => EXIT_OK,
        Ok(false) => EXIT_SERVER_ERROR,
        Err(err) => {
            eprintln!("confab client: {err}");
            err.exit_code()
        }
    }
}

fn run_client(args: &ClientArgs) -> Result<bool, ClientError> {
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
            return raw::run(&settings, ask).await;
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
        };
        let screen = Screen::new(
            Box::new(Stream { stderr: false }),
            Box::new(Stream { stderr: true }),
            style,
            renderer,
        );
        let chat = Chat::new(options, screen)?;
        let input = match (&one_shot, &args.send) {
            (Some(room), Some(text)) => Input::Ready(input::requests(vec![Request::Message {
                target: Target::Room(room.clone()),
                text: text.clone(),
                action: false,
            }])),
            // The certificate question, if any, is asked before the line editor
            // takes the terminal: the editor starts once the first connection
            // is trusted.
            _ if interactive => Input::Terminal,
            _ => Input::Ready(input::stdin_lines()),
        };
        chat.run(input, ask).await
    });
    // A read of stdin may still be blocked in a thread (a script whose input
    // stays open): do not wait for it.
    runtime.shutdown_background();
    outcome
}
