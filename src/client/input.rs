//! What the user gives the client, from whichever source the mode has: lines
//! from a pipe or file (scripting), from the line editor (interactive), or the
//! one request of a one-shot send. Every source feeds the same bounded channel,
//! so the conversation logic does not care where a line came from.

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::protocol::request::{Request, Target};

/// How many input events may wait for the conversation to take them; a script
/// piping a large file is held back here rather than read into memory.
pub const INPUT_QUEUE: usize = 64;

/// One thing the user did.
#[derive(Debug, Clone, PartialEq)]
pub enum InputEvent {
    /// A typed line: a slash command or text for the current room.
    Line(String),
    /// A line typed in a buffer of the full-screen interface: plain text goes
    /// to that room or nick.
    LineIn(Target, String),
    /// A request built by the client itself (one-shot mode).
    Request(Request),
    /// A key was pressed on a line that is not a command (interactive only).
    Typing,
    /// The same, in a buffer of the full-screen interface.
    TypingIn(Target),
    /// End of input: finish what is pending, then quit.
    End,
}

/// Reads stdin lines until end of input, in a task of its own.
pub fn stdin_lines() -> mpsc::Receiver<InputEvent> {
    let (sender, receiver) = mpsc::channel(INPUT_QUEUE);
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            let event = match lines.next_line().await {
                Ok(Some(line)) => InputEvent::Line(line),
                Ok(None) => InputEvent::End,
                Err(e) => {
                    eprintln!("confab client: reading stdin: {e}");
                    InputEvent::End
                }
            };
            let end = event == InputEvent::End;
            if sender.send(event).await.is_err() || end {
                return;
            }
        }
    });
    receiver
}

/// A fixed list of requests, then the end.
pub fn requests(requests: Vec<Request>) -> mpsc::Receiver<InputEvent> {
    let (sender, receiver) = mpsc::channel(requests.len() + 1);
    for request in requests {
        // The channel was made large enough for all of them.
        let _ = sender.try_send(InputEvent::Request(request));
    }
    let _ = sender.try_send(InputEvent::End);
    receiver
}
