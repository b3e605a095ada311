//! Where the client's output goes: conversation lines to stdout, status and
//! errors to stderr, or both through the line editor's printer in an interactive
//! session so that arriving messages never garble the line being typed.

use std::io::Write;

use super::render::Renderer;

/// Somewhere to print whole lines.
pub trait Sink: Send {
    fn print(&mut self, text: String);
}

/// A standard stream; each line is flushed at once, so a script reading the
/// output sees it as it happens. Write errors (a closed pipe) are ignored: the
/// conversation goes on, and the exit status still tells the outcome.
pub struct Stream {
    pub stderr: bool,
}

impl Sink for Stream {
    fn print(&mut self, text: String) {
        if self.stderr {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}").and_then(|()| out.flush());
        }
    }
}

/// How server frames are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One readable line per event.
    Human,
    /// Every frame as the JSON line it was.
    Json,
    /// Nothing but errors (one-shot sends).
    Quiet,
}

/// The client's output.
pub struct Screen {
    out: Box<dyn Sink>,
    err: Box<dyn Sink>,
    pub style: Style,
    pub renderer: Renderer,
}

impl Screen {
    pub fn new(out: Box<dyn Sink>, err: Box<dyn Sink>, style: Style, renderer: Renderer) -> Screen {
        Screen {
            out,
            err,
            style,
            renderer,
        }
    }

    /// A conversation line (human style only).
    pub fn line(&mut self, text: String) {
        if self.style == Style::Human {
            self.out.print(text);
        }
    }

    /// A server frame as received (JSON style only).
    pub fn frame(&mut self, line: &str) {
        if self.style == Style::Json {
            self.out.print(json_safe(line));
        }
    }

    /// A status line of the client's own (connecting, reconnecting, …).
    pub fn status(&mut self, text: &str) {
        if self.style != Style::Quiet {
            let line = self.renderer.notice(text);
            self.err.print(line);
        }
    }

    /// An error, always shown.
    pub fn error(&mut self, text: &str) {
        let line = self.renderer.error(text);
        self.err.print(line);
    }
}

/// A JSON line made safe for a terminal without changing what it means: JSON
/// already escapes C0 controls inside strings, but DEL, C1 controls and bidi
/// overrides may appear raw, so they are written as `\uXXXX` escapes. jq reads
/// the result as the same value.
pub fn json_safe(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::json_safe;

    #[test]
    fn json_lines_keep_their_meaning_but_lose_raw_controls() {
        let line = "{\"text\":\"a\u{9b}2Jb\u{202e}c\"}";
        let safe = json_safe(line);
        assert_eq!(safe, r#"{"text":"a\u009b2Jb\u202ec"}"#);
        let before: serde_json::Value = serde_json::from_str(line).unwrap();
        let after: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(before, after);
        let plain = r#"{"type":"ok","id":1}"#;
        assert_eq!(json_safe(plain), plain);
    }
}
