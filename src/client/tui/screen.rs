//! The terminal while the full-screen interface owns it: raw mode, the
//! alternate screen and bracketed paste on the way in, and the terminal as it
//! was on the way out, whichever way out it is (a normal end, an error, a
//! panic). A signal that ends the client (SIGTERM, SIGHUP) is turned into an
//! orderly quit by the interface's loop, so this guard runs then too.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};

/// Whether the terminal is in the interface's modes now: restoring twice
/// (the guard after the panic hook) must not print twice.
static TAKEN: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// Puts the terminal back when dropped.
pub struct Taken(());

impl Taken {
    /// Takes the terminal over.
    pub fn take() -> io::Result<Taken> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // The panic message must land on a normal screen to be read.
                restore();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        TAKEN.store(true, Ordering::SeqCst);
        if let Err(e) = execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste) {
            restore();
            return Err(e);
        }
        Ok(Taken(()))
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode, once.
pub fn restore() {
    if !TAKEN.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Rings the terminal bell.
pub fn bell() {
    let mut out = io::stdout();
    let _ = out.write_all(b"\x07").and_then(|()| out.flush());
}
