//! Validation of the names and text a request carries: nicks, room names, message
//! text, topics and reasons. Each check returns the protocol error the request gets
//! (`bad_nick`, `bad_room`, `bad_text`), so the rules live in one place for the
//! server, the config loader and the client.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::ProtocolError;

/// Longest nick, in characters (all ASCII, so also bytes).
pub const MAX_NICK_LEN: usize = 32;
/// Longest room name, in characters (all ASCII, so also bytes).
pub const MAX_ROOM_LEN: usize = 64;
/// Longest topic, in bytes of UTF-8.
pub const MAX_TOPIC_BYTES: usize = 512;
/// Longest `leave`/`quit` reason, in bytes of UTF-8 (same rules as a topic).
pub const MAX_REASON_BYTES: usize = 512;

/// A valid nick, in the spelling its owner chose. Compare with [`Nick::key`],
/// because nicks are unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Nick(Arc<str>);

impl Nick {
    /// Checks the nick rules: 1–32 ASCII letters, digits, `_`, `-`, first a letter.
    pub fn parse(raw: &str) -> Result<Nick, ProtocolError> {
        let bad = |why: &str| Err(ProtocolError::BadNick(format!("nick {raw:?} {why}")));
        if raw.is_empty() {
            return bad("is empty");
        }
        if raw.len() > MAX_NICK_LEN {
            return bad("is longer than 32 characters");
        }
        if !raw.as_bytes()[0].is_ascii_alphabetic() {
            return bad("must start with a letter");
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad("may hold only ASCII letters, digits, '_' and '-'");
        }
        Ok(Nick(Arc::from(raw)))
    }

    /// The server itself, by its configured name, as the author of a change it
    /// makes (a topic set from the config file). The nick rules are not applied:
    /// a server name may hold dots.
    pub fn server(server_name: &str) -> Nick {
        Nick(Arc::from(server_name))
    }

    /// The case-folded form that decides uniqueness and sort order.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A normalized room name: lowercase, no leading `#`, safe as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomName(Arc<str>);

impl RoomName {
    /// Strips one leading `#`, lowercases, then checks the room rules: 1–64 of
    /// `a-z 0-9 - _ .`, first a letter or digit.
    pub fn parse(raw: &str) -> Result<RoomName, ProtocolError> {
        let bad = |why: &str| Err(ProtocolError::BadRoom(format!("room {raw:?} {why}")));
        let name = raw.strip_prefix('#').unwrap_or(raw).to_ascii_lowercase();
        if name.is_empty() {
            return bad("is empty");
        }
        if name.len() > MAX_ROOM_LEN {
            return bad("is longer than 64 characters");
        }
        if !name.as_bytes()[0].is_ascii_alphanumeric() {
            return bad("must start with a letter or digit");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        {
            return bad("may hold only letters, digits, '-', '_' and '.'");
        }
        Ok(RoomName(Arc::from(name)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Control characters no frame may carry to a terminal: C0 (but the allowed
/// ones), DEL and C1. Keeping them out server-side protects every client.
fn is_forbidden_control(c: char, allow_newline: bool) -> bool {
    match c {
        '\t' => false,
        '\n' => !allow_newline,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        _ => false,
    }
}

/// Checks message text: 1..=`max_bytes` bytes, not only whitespace, no control
/// characters but `\n` and `\t`.
pub fn check_text(text: &str, max_bytes: usize) -> Result<(), ProtocolError> {
    if text.is_empty() {
        return Err(ProtocolError::BadText("text is empty".into()));
    }
    if text.len() > max_bytes {
        return Err(ProtocolError::BadText(format!(
            "text is longer than {max_bytes} bytes"
        )));
    }
    check_line_rules(text, "text", true)
}

/// Checks a topic: 0..=512 bytes, one line; empty clears the topic.
pub fn check_topic(topic: &str) -> Result<(), ProtocolError> {
    check_one_line(topic, "topic", MAX_TOPIC_BYTES)
}

/// Checks a `leave` or `quit` reason: the topic rules (one line, at most 512 bytes).
pub fn check_reason(reason: &str) -> Result<(), ProtocolError> {
    check_one_line(reason, "reason", MAX_REASON_BYTES)
}

fn check_one_line(value: &str, what: &str, max_bytes: usize) -> Result<(), ProtocolError> {
    if value.len() > max_bytes {
        return Err(ProtocolError::BadText(format!(
            "{what} is longer than {max_bytes} bytes"
        )));
    }
    if value.is_empty() {
        return Ok(());
    }
    check_line_rules(value, what, false)
}

fn check_line_rules(value: &str, what: &str, allow_newline: bool) -> Result<(), ProtocolError> {
    if value.chars().all(char::is_whitespace) {
        return Err(ProtocolError::BadText(format!("{what} is only whitespace")));
    }
    if let Some(c) = value
        .chars()
        .find(|&c| is_forbidden_control(c, allow_newline))
    {
        return Err(ProtocolError::BadText(format!(
            "{what} contains the control character U+{:04X}",
            c as u32
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_follow_the_rules() {
        for good in ["a", "Alice", "bob_2", "x-y", &"n".repeat(32)] {
            assert!(Nick::parse(good).is_ok(), "{good} should be valid");
        }
        let bad = ["", "1abc", "_a", "a b", "ä", "a.b", &"n".repeat(33)];
        for nick in bad {
            assert!(
                matches!(Nick::parse(nick), Err(ProtocolError::BadNick(_))),
                "{nick} should be bad"
            );
        }
        assert_eq!(bad.len(), 7);
        assert_eq!(Nick::parse("AlIcE").unwrap().key(), "alice");
        assert_eq!(Nick::parse("AlIcE").unwrap().as_str(), "AlIcE");
    }

    #[test]
    fn rooms_are_normalized_then_checked() {
        assert_eq!(RoomName::parse("#Ops").unwrap().as_str(), "ops");
        assert_eq!(RoomName::parse("a.b-c_1").unwrap().as_str(), "a.b-c_1");
        assert_eq!(RoomName::parse("9lives").unwrap().as_str(), "9lives");
        assert_eq!(RoomName::parse(&"r".repeat(64)).unwrap().as_str().len(), 64);
        let bad = [
            "",
            "#",
            "##ops",
            ".",
            "..",
            "-x",
            "a b",
            "é",
            "a/b",
            &"r".repeat(65),
        ];
        for room in bad {
            assert!(
                matches!(RoomName::parse(room), Err(ProtocolError::BadRoom(_))),
                "{room} should be bad"
            );
        }
        assert_eq!(bad.len(), 10);
    }

    #[test]
    fn text_rules() {
        assert!(check_text("hi", 10).is_ok());
        assert!(check_text("two\nlines\tand tab", 100).is_ok());
        assert!(check_text("héllo ✓", 100).is_ok());
        let bad = [
            "",
            "   ",
            "\u{3000}\n",
            "esc\u{1b}[31m",
            "cr\r",
            "del\u{7f}",
            "c1\u{9b}",
        ];
        for text in bad {
            assert!(
                matches!(check_text(text, 100), Err(ProtocolError::BadText(_))),
                "{text:?} should be bad"
            );
        }
        assert_eq!(bad.len(), 7);
        assert!(check_text("12345", 4).is_err());
        assert!(check_text("1234", 4).is_ok());
    }

    #[test]
    fn topic_rules() {
        assert!(check_topic("").is_ok());
        assert!(check_topic("Say hello").is_ok());
        assert!(check_topic(&"t".repeat(512)).is_ok());
        assert!(check_topic(&"t".repeat(513)).is_err());
        assert!(check_topic("two\nlines").is_err());
        assert!(check_topic(" \t ").is_err());
        assert!(check_reason("gone fishing").is_ok());
    }
}
