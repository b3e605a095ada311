//! Human-readable lines for what the server says: one line per event with local
//! time, room and nick. Everything that came from the server goes through
//! [`clean`] first, so no control character or escape sequence a server (or a
//! user through it) sends can reach the terminal; the only escape sequences
//! printed are the colours this module adds itself.

use chrono::{DateTime, Local};
use serde_json::Value;

use crate::protocol::frames::{Event, Message, RoomSummary, Sanction};
use crate::protocol::incoming::{ServerEvent, UnknownEvent};
use crate::protocol::names::{Nick, RoomName};

use super::core::rooms::{Numbering, Summary};

/// Makes untrusted text safe to print: C0 controls (but tab) become caret
/// notation (`^[` for ESC), DEL, C1 controls and the bidirectional-override
/// characters (which can make text read differently than it is) become U+FFFD.
/// Newlines are kept only when `multiline`; otherwise they become `^J`.
pub fn clean_text(text: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            '\n' if multiline => out.push(c),
            '\u{0}'..='\u{1f}' => {
                out.push('^');
                out.push((b'@' + c as u8) as char);
            }
            '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push('\u{fffd}')
            }
            c => out.push(c),
        }
    }
    out
}

/// [`clean_text`] for one-line values: nicks, rooms, topics, reasons.
pub fn clean(text: &str) -> String {
    clean_text(text, false)
}

/// Turns events into lines.
#[derive(Debug, Clone, Copy)]
pub struct Renderer {
    /// Add ANSI colours (only when stdout is a terminal).
    pub color: bool,
}

impl Renderer {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn nick(&self, nick: &Nick) -> String {
        self.paint("1", &clean(nick.as_str()))
    }

    fn room(&self, room: &RoomName) -> String {
        self.paint("36", &format!("#{}", clean(room.as_str())))
    }

    /// A dimmed status line of the client's own.
    pub fn notice(&self, text: &str) -> String {
        self.paint("2", &format!("-- {text}"))
    }

    /// An error line.
    pub fn error(&self, text: &str) -> String {
        self.paint("31", &format!("error: {}", clean(text)))
    }

    /// A message, in a room or private. `me` tells incoming private messages
    /// from the ones this client sent.
    pub fn message(&self, message: &Message, me: &Nick) -> String {
        let time = local_time(&message.ts);
        let text = indent(&clean_text(&message.text, true));
        let body = if message.action {
            format!("* {} {text}", self.nick(&message.from))
        } else {
            format!("<{}> {text}", self.nick(&message.from))
        };
        match (&message.room, &message.to) {
            (Some(room), _) => format!("{time} {} {body}", self.room(room)),
            (None, Some(to)) if message.from.key() == me.key() && to.key() != me.key() => {
                let label = format!("[private to {}]", clean(to.as_str()));
                format!("{time} {} {body}", self.paint("35", &label))
            }
            (None, _) => format!("{time} {} {body}", self.paint("35", "[private]")),
        }
    }

    /// Any event but `message`, `typing`, `ping` and `bye`, which the caller
    /// treats on its own.
    pub fn event(&self, event: &Event) -> Option<String> {
        Some(match event {
            Event::Join { room, nick, ts } => format!(
                "{} {} {} joined",
                local_time(ts),
                self.room(room),
                self.nick(nick)
            ),
            Event::Leave {
                room,
                nick,
                reason,
                ts,
            } => format!(
                "{} {} {} left{}",
                local_time(ts),
                self.room(room),
                self.nick(nick),
                reason
                    .as_deref()
                    .map(|r| format!(" ({})", clean(r)))
                    .unwrap_or_default()
            ),
            Event::Nick { old, new, ts } => format!(
                "{} {} is now known as {}",
                local_time(ts),
                self.nick(old),
                self.nick(new)
            ),
            Event::Topic {
                room,
                topic,
                by,
                ts,
            } => match topic.as_str() {
                "" => format!(
                    "{} {} {} cleared the topic",
                    local_time(ts),
                    self.room(room),
                    self.nick(by)
                ),
                topic => format!(
                    "{} {} {} set the topic: {}",
                    local_time(ts),
                    self.room(room),
                    self.nick(by),
                    clean(topic)
                ),
            },
            Event::Invite { room, by, ts } => format!(
                "{} {} invited you to {} (/join {})",
                local_time(ts),
                self.nick(by),
                self.room(room),
                self.room(room)
            ),
            Event::Message(_) | Event::Typing { .. } | Event::Ping | Event::Bye { .. } => {
                return None
            }
            moderation => return self.moderation(moderation),
        })
    }

    /// A 1.2 room event, such as "alice banned bob: spam"; `None` for any other.
    pub fn moderation(&self, event: &Event) -> Option<String> {
        let action = event.room_action()?;
        let subject = |sanction: &Sanction| match (&sanction.account, &sanction.nick) {
            (Some(account), _) => self.nick(account),
            (None, Some(nick)) => format!("{} (nick)", self.nick(nick)),
            (None, None) => "?".to_owned(),
        };
        let why = |reason: &Option<String>| {
            reason
                .as_deref()
                .map(|r| format!(": {}", clean(r)))
                .unwrap_or_default()
        };
        let until = |sanction: &Sanction| {
            sanction
                .until
                .as_deref()
                .map(|until| format!(" until {}", local_time(until)))
                .unwrap_or_default()
        };
        let what = match event {
            Event::Claim(_) => "claimed the room".to_owned(),
            Event::Role { account, role, .. } => match role.as_str() {
                "none" => format!("took {}'s role away", self.nick(account)),
                role => format!("made {} {}", self.nick(account), clean(role)),
            },
            Event::Kick { nick, reason, .. } => {
                format!("kicked {}{}", self.nick(nick), why(reason))
            }
            Event::Ban(sanction) => format!(
                "banned {}{}{}",
                subject(sanction),
                until(sanction),
                why(&sanction.reason)
            ),
            Event::Unban(sanction) => format!("unbanned {}", subject(sanction)),
            Event::Mute(sanction) => format!(
                "muted {}{}{}",
                subject(sanction),
                until(sanction),
                why(&sanction.reason)
            ),
            Event::Unmute(sanction) => format!("unmuted {}", subject(sanction)),
            Event::Flags { flags, .. } => {
                let on: Vec<&str> = [
                    (flags.invite_only, "invite-only"),
                    (flags.moderated, "moderated"),
                    (flags.topic_lock, "topic lock"),
                    (flags.accounts_only, "accounts only"),
                ]
                .into_iter()
                .filter_map(|(set, name)| set.then_some(name))
                .collect();
                match on.as_slice() {
                    [] => "cleared the room's flags".to_owned(),
                    on => format!("set the room's flags: {}", on.join(", ")),
                }
            }
            _ => return None,
        };
        Some(format!(
            "{} {} {} {}",
            local_time(&action.ts),
            self.room(&action.room),
            self.nick(&action.by),
            what
        ))
    }

    /// Any room or private event, a history item among them; `None` for the
    /// ones the caller treats on its own (typing, ping, bye).
    pub fn item(&self, event: &ServerEvent, me: &Nick) -> Option<String> {
        match event {
            ServerEvent::Known(Event::Message(message)) => Some(self.message(message, me)),
            ServerEvent::Known(other) => self.event(other),
            ServerEvent::Unknown(unknown) => Some(self.unknown(unknown)),
        }
    }

    /// An event of a type a newer server added: its time and room when it
    /// has them, its type, then its other fields as `key=value`.
    pub fn unknown(&self, event: &UnknownEvent) -> String {
        let text = |key: &str| event.fields.get(key).and_then(Value::as_str);
        let mut parts = Vec::new();
        if let Some(ts) = text("ts") {
            parts.push(local_time(ts));
        }
        if let Some(room) = text("room") {
            parts.push(self.paint("36", &format!("#{}", clean(room))));
        }
        parts.push(format!("[{}]", clean(&event.kind)));
        for (key, value) in &event.fields {
            if matches!(key.as_str(), "ts" | "room" | "seq") {
                continue;
            }
            let value = match value {
                Value::String(text) => clean(text),
                other => clean(&other.to_string()),
            };
            parts.push(format!("{}={value}", clean(key)));
        }
        parts.join(" ")
    }

    /// The lines shown after joining a room.
    pub fn joined(&self, room: &RoomName, topic: &str, members: &[Nick]) -> String {
        let topic = match topic {
            "" => "no topic".to_owned(),
            topic => format!("topic: {}", clean(topic)),
        };
        self.notice(&format!(
            "joined #{} ({topic}); {} here: {}",
            clean(room.as_str()),
            members.len(),
            nick_list(members)
        ))
    }

    /// `/who`.
    pub fn members(&self, room: &RoomName, members: &[Nick]) -> String {
        self.notice(&format!(
            "#{}: {} member{}: {}",
            clean(room.as_str()),
            members.len(),
            if members.len() == 1 { "" } else { "s" },
            nick_list(members)
        ))
    }

    /// `/rooms`, a line per room.
    pub fn rooms(&self, rooms: &[RoomSummary]) -> Vec<String> {
        if rooms.is_empty() {
            return vec![self.notice("no rooms yet: /join ROOM creates one")];
        }
        rooms
            .iter()
            .map(|room| {
                let topic = match room.topic.as_str() {
                    "" => String::new(),
                    topic => format!(" - {}", clean(topic)),
                };
                self.notice(&format!(
                    "#{} ({}){topic}",
                    clean(room.room.as_str()),
                    room.members
                ))
            })
            .collect()
    }
}

/// The first line of a session: where it is connected, and as whom.
pub fn connected(server: &str, version: &str, nick: &Nick) -> String {
    format!(
        "connected to {} (confab {}) as {}",
        clean(server),
        clean(version),
        clean(nick.as_str())
    )
}

/// The status line of a dropped connection, and when the next try is.
pub fn connection_lost(reason: &str, delay: std::time::Duration) -> String {
    format!(
        "connection lost ({}); reconnecting in {:.1}s",
        clean(reason),
        delay.as_secs_f64()
    )
}

/// What `/history` says of a room with nothing to show.
pub fn no_messages(room: &RoomName) -> String {
    format!("no messages in #{}", clean(room.as_str()))
}

/// A room's topic as `/topic` with no text shows it.
pub fn topic(room: &RoomName, topic: &str) -> String {
    match topic {
        "" => format!("#{} has no topic", clean(room.as_str())),
        topic => format!("#{} topic: {}", clean(room.as_str()), clean(topic)),
    }
}

/// The status line saying a room's numbering restarted (its epoch changed, or
/// the server's answer started over): what follows is not what was missed
/// but what the server holds.
pub fn restarted(room: &RoomName) -> String {
    format!(
        "#{}: the server's numbering of this room restarted; showing what it holds",
        clean(room.as_str())
    )
}

/// The status line that ends a room's catch-up after a reconnect. It claims
/// to be caught up only when the server said the numbering is the same.
pub fn rejoined(summary: &Summary) -> String {
    let room = clean(summary.room.as_str());
    let shown = summary.shown;
    let s = if shown == 1 { "" } else { "s" };
    match summary.numbering {
        Numbering::Same { since: Some(since) } => {
            format!("rejoined #{room} (caught up from seq {since}: {shown} new message{s})")
        }
        Numbering::Restarted if shown == 0 => {
            format!("rejoined #{room} (numbering restarted: the server holds no messages)")
        }
        Numbering::Restarted => {
            format!("rejoined #{room} (numbering restarted: {shown} message{s} held by the server)")
        }
        Numbering::Unknown { since: Some(since) } => format!(
            "rejoined #{room} ({shown} message{s} after seq {since}; the server does not \
             report room epochs, so a restart of its numbering would not show)"
        ),
        Numbering::Same { since: None } | Numbering::Unknown { since: None } => {
            format!("rejoined #{room} ({shown} recent message{s})")
        }
    }
}

fn nick_list(members: &[Nick]) -> String {
    members
        .iter()
        .map(|nick| clean(nick.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Continuation lines of a multi-line message, indented under the first.
fn indent(text: &str) -> String {
    text.replace('\n', "\n      ")
}

/// `HH:MM` in local time, with the date in front when it is not today; the
/// server's text (cleaned) when it is not a timestamp.
pub fn local_time(ts: &str) -> String {
    match DateTime::parse_from_rfc3339(ts) {
        Ok(time) => {
            let local = time.with_timezone(&Local);
            if local.date_naive() == Local::now().date_naive() {
                local.format("%H:%M").to_string()
            } else {
                local.format("%Y-%m-%d %H:%M").to_string()
            }
        }
        Err(_) => clean(ts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn plain() -> Renderer {
        Renderer { color: false }
    }

    #[test]
    fn control_and_escape_characters_never_get_through() {
        let hostile = "a\u{1b}[2Jb\u{7}c\u{9b}31md\u{202e}e\u{7f}f\rg\u{0}";
        let cleaned = clean_text(hostile, true);
        assert_eq!(cleaned, "a^[[2Jb^Gc\u{fffd}31md\u{fffd}e\u{fffd}f^Mg^@");
        assert!(!cleaned
            .chars()
            .any(|c| c.is_control() && c != '\t' && c != '\n'));
        assert_eq!(clean("one\ntwo"), "one^Jtwo");
        assert_eq!(clean_text("one\ntwo\tthree", true), "one\ntwo\tthree");
    }

    #[test]
    fn messages_show_time_room_and_nick() {
        let message = Message {
            room: Some(RoomName::parse("general").unwrap()),
            to: None,
            seq: Some(1),
            ts: "2001-02-03T04:05:06.000Z".into(),
            from: nick("alice"),
            text: "hi\u{1b}]0;pwned\u{7}".into(),
            action: false,
        };
        let line = plain().message(&message, &nick("bob"));
        let time = local_time(&message.ts);
        assert_eq!(line, format!("{time} #general <alice> hi^[]0;pwned^G"));
        assert!(time.starts_with("2001-02-0"), "{time}");
        let action = Message {
            action: true,
            text: "waves\nand waves".into(),
            ..message
        };
        assert_eq!(
            plain().message(&action, &nick("bob")),
            format!("{time} #general * alice waves\n      and waves")
        );
    }

    #[test]
    fn private_messages_are_marked() {
        let incoming = Message {
            room: None,
            to: Some(nick("Bob")),
            seq: None,
            ts: "x".into(),
            from: nick("alice"),
            text: "psst".into(),
            action: false,
        };
        assert_eq!(
            plain().message(&incoming, &nick("bob")),
            "x [private] <alice> psst"
        );
        assert_eq!(
            plain().message(&incoming, &nick("alice")),
            "x [private to Bob] <alice> psst"
        );
    }

    #[test]
    fn room_events_read_as_sentences() {
        let room = RoomName::parse("ops").unwrap();
        let leave = Event::Leave {
            room: room.clone(),
            nick: nick("carol"),
            reason: Some("lunch".into()),
            ts: "t".into(),
        };
        assert_eq!(plain().event(&leave).unwrap(), "t #ops carol left (lunch)");
        let topic = Event::Topic {
            room,
            topic: "".into(),
            by: nick("carol"),
            ts: "t".into(),
        };
        assert_eq!(
            plain().event(&topic).unwrap(),
            "t #ops carol cleared the topic"
        );
        assert_eq!(plain().event(&Event::Ping), None);
    }

    #[test]
    fn unknown_events_show_generically_and_safely() {
        let line = r#"{"type":"kick","room":"ops","seq":7,"ts":"t","by":"alice","nick":"bob","reason":"x\u001b[2J","n":[1]}"#;
        let Ok(crate::protocol::incoming::ServerFrame::Event(event)) =
            crate::protocol::incoming::ServerFrame::parse(line)
        else {
            panic!("not an event");
        };
        assert_eq!(
            plain().item(&event, &nick("carol")).unwrap(),
            "t #ops [kick] by=alice n=[1] nick=bob reason=x^[[2J"
        );
    }

    #[test]
    fn a_catch_up_claims_nothing_it_cannot_know() {
        let summary = |numbering, shown| Summary {
            room: RoomName::parse("general").unwrap(),
            numbering,
            shown,
        };
        assert_eq!(
            rejoined(&summary(Numbering::Same { since: Some(41) }, 3)),
            "rejoined #general (caught up from seq 41: 3 new messages)"
        );
        assert_eq!(
            rejoined(&summary(Numbering::Restarted, 1)),
            "rejoined #general (numbering restarted: 1 message held by the server)"
        );
        for numbering in [Numbering::Restarted, Numbering::Unknown { since: Some(41) }] {
            let line = rejoined(&summary(numbering, 0));
            assert!(!line.contains("caught up"), "{line}");
        }
    }

    #[test]
    fn colours_wrap_only_our_own_markup() {
        let line = Renderer { color: true }.error("bad \u{1b}[31m");
        assert_eq!(line, "\x1b[31merror: bad ^[[31m\x1b[0m");
    }
}
