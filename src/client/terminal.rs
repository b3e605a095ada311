//! The interactive line editor: rustyline on a thread of its own, with input
//! history and the usual editing keys. Output reaches the terminal through the
//! editor's external printer, which prints above the line being typed and then
//! redraws it, so arriving messages never garble the input. Key presses on a
//! line that is not a slash command are reported, so the client can send
//! `typing`. The arguments of a command carrying a password are drawn as
//! `*`s, and such a line never joins the history.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::{DefaultHistory, History};
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ColorMode, ConditionalEventHandler, Editor, Event, EventContext, EventHandler,
    ExternalPrinter, Helper, KeyCode, KeyEvent, Modifiers, RepeatCount,
};

use crate::client::commands;

use tokio::sync::mpsc;

use super::input::{InputEvent, INPUT_QUEUE};
use super::screen::Sink;

/// Lines typed so far, kept for the arrow keys (in memory only: a chat
/// transcript is not written to disk behind the user's back).
const HISTORY_LINES: usize = 500;
const PROMPT: &str = "> ";

/// The editor's input and its two output sinks (conversation and errors), which
/// both print above the input line.
pub struct Terminal {
    pub input: mpsc::Receiver<InputEvent>,
    pub out: Box<dyn Sink>,
    pub err: Box<dyn Sink>,
}

/// Starts the editor.
pub fn start() -> std::io::Result<Terminal> {
    let config = rustyline::Config::builder()
        .max_history_size(HISTORY_LINES)
        .map_err(std::io::Error::other)?
        // Lines join the history in `edit`, those with a password left out.
        .auto_add_history(false)
        // The highlighter is what masks a password: it must always run. It
        // adds no colour of its own.
        .color_mode(ColorMode::Forced)
        .build();
    let mut editor: Editor<Masking, DefaultHistory> =
        Editor::with_config(config).map_err(std::io::Error::other)?;
    editor.set_helper(Some(Masking));
    let printer = editor
        .create_external_printer()
        .map_err(std::io::Error::other)?;
    let (sender, receiver) = mpsc::channel(INPUT_QUEUE);
    editor.bind_sequence(
        Event::Any,
        EventHandler::Conditional(Box::new(TypingSignal {
            sender: sender.clone(),
        })),
    );
    std::thread::Builder::new()
        .name("line-editor".into())
        .spawn(move || edit(editor, sender))?;
    let printer = Arc::new(Mutex::new(printer));
    Ok(Terminal {
        input: receiver,
        out: Box::new(Printer(printer.clone())),
        err: Box::new(Printer(printer)),
    })
}

fn edit(mut editor: Editor<Masking, DefaultHistory>, sender: mpsc::Sender<InputEvent>) {
    loop {
        let event = match editor.readline(PROMPT) {
            Ok(line) => {
                if commands::secret_from(&line).is_none() {
                    let _ = editor.history_mut().add(&line);
                }
                InputEvent::Line(line)
            }
            // Ctrl-C drops the half-typed line, as in a shell; Ctrl-D on an
            // empty line ends the session.
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => InputEvent::End,
            Err(e) => {
                eprintln!("confab client: terminal: {e}");
                InputEvent::End
            }
        };
        // After `/quit` the session ends: reading on would leave the terminal
        // in the editor's raw mode when the process exits.
        let quit = matches!(&event, InputEvent::Line(line) if is_quit(line));
        let end = event == InputEvent::End;
        if sender.blocking_send(event).is_err() || end || quit {
            return;
        }
    }
}

fn is_quit(line: &str) -> bool {
    let word = line.split_whitespace().next().unwrap_or("");
    word.eq_ignore_ascii_case("/quit") || word.eq_ignore_ascii_case("/exit")
}

/// The terminal's modes as they were before the editor started, restored when
/// dropped, so a session that ends while the editor waits for a key (the
/// server refused us, say) does not leave the shell without echo.
pub struct SavedModes {
    saved: Option<libc::termios>,
}

impl SavedModes {
    pub fn save() -> SavedModes {
        let mut modes = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr only writes into the struct we hand it, and we read
        // it only when the call succeeded.
        let saved = unsafe {
            (libc::tcgetattr(libc::STDIN_FILENO, modes.as_mut_ptr()) == 0)
                .then(|| modes.assume_init())
        };
        SavedModes { saved }
    }
}

impl Drop for SavedModes {
    fn drop(&mut self) {
        if let Some(modes) = &self.saved {
            // SAFETY: `modes` is a termios that tcgetattr filled in.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, modes);
            }
            // Bracketed paste, which the editor turned on.
            print!("\x1b[?2004l");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
    }
}

/// The editor's helper: only its highlighting does anything, drawing the
/// arguments of `/login`, `/register`, `/password` and `/unregister` as `*`s.
struct Masking;

impl Highlighter for Masking {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        commands::mask_secret(line)
    }

    fn highlight_char(&self, line: &str, _pos: usize, kind: CmdKind) -> bool {
        // A typed character of a secret line is drawn through `highlight`,
        // never echoed as it is.
        kind != CmdKind::MoveCursor && commands::secret_from(line).is_some()
    }
}

impl Completer for Masking {
    type Candidate = String;
}

impl Hinter for Masking {
    type Hint = String;
}

impl Validator for Masking {}

impl Helper for Masking {}

/// Reports a key press that edits chat text (not a slash command).
struct TypingSignal {
    sender: mpsc::Sender<InputEvent>,
}

impl ConditionalEventHandler for TypingSignal {
    fn handle(
        &self,
        event: &Event,
        _count: RepeatCount,
        _positive: bool,
        context: &EventContext,
    ) -> Option<Cmd> {
        let printable = matches!(
            event.get(0),
            Some(KeyEvent(
                KeyCode::Char(_),
                Modifiers::NONE | Modifiers::SHIFT
            ))
        );
        let starts_command = context.line().starts_with('/')
            || (context.line().is_empty()
                && matches!(event.get(0), Some(KeyEvent(KeyCode::Char('/'), _))));
        if printable && !starts_command {
            // Never block the editor: a full queue means the client is busy and
            // a typing notice is the least of its worries.
            let _ = self.sender.try_send(InputEvent::Typing);
        }
        None
    }
}

/// The editor's external printer as a [`Sink`].
struct Printer<P>(Arc<Mutex<P>>);

impl<P: ExternalPrinter + Send> Sink for Printer<P> {
    fn print(&mut self, text: String) {
        let mut printer = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // The printer adds the newline itself only while a line is being
        // edited; between two lines it writes the text as it is.
        if printer.print(format!("{text}\n")).is_err() {
            // The editor is gone (the session is ending); print plainly.
            println!("{text}");
        }
    }
}
