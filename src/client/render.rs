//! Human-readable lines for what the server says: one line per event with local
//! time, room and nick. Everything that came from the server goes through
//! [`clean`] first, so no control character or escape sequence a server (or a
//! user through it) sends can reach the terminal; the only escape sequences
//! printed are the colours this module adds itself.

use chrono::{DateTime, Local};
use serde_json::Value;

use crate::protocol::frames::{Event, Message, RoomSummary, Sanction};
use crate::protocol::incoming::{ServerEvent, UnknownEvent};
use crate::protocol::moderation::{MemberDetail, RoomFlags};
use crate::protocol::names::{Nick, RoomName};

use super::core::rooms::{Numbering, Summary};
use super::core::update::Done;

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
            Event::Invite { ts, .. } => format!(
                "{} {}",
                local_time(ts),
                invite_text(event, &|nick| self.nick(nick))?
            ),
            Event::Message(_) | Event::Typing { .. } | Event::Ping | Event::Bye { .. } => {
                return None
            }
            moderation => return self.moderation(moderation),
        })
    }

    /// A 1.2 room event, such as "10:15 #ops alice banned bob: spam",
    /// dimmed like the room's other goings-on; `None` for any other event.
    pub fn moderation(&self, event: &Event) -> Option<String> {
        let action = event.room_action()?;
        let what = moderation_text(event, &|nick| clean(nick.as_str()), &local_time)?;
        Some(self.paint(
            "2",
            &format!(
                "{} #{} {what}",
                local_time(&action.ts),
                clean(action.room.as_str())
            ),
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
    pub fn members(&self, room: &RoomName, members: &[MemberDetail]) -> String {
        self.notice(&who(room, members))
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

/// What a 1.2 room event says, after its time and room: "alice banned bob
/// until 18:00: spam". `nick` writes a nick (plain, or painted), `time` a
/// timestamp (the face's clock); untrusted text goes through [`clean`].
/// `None` for an event that is not a moderation event.
pub fn moderation_text(
    event: &Event,
    nick: &dyn Fn(&Nick) -> String,
    time: &dyn Fn(&str) -> String,
) -> Option<String> {
    let action = event.room_action()?;
    let subject = |sanction: &Sanction| match (&sanction.account, &sanction.nick) {
        (Some(account), _) => nick(account),
        (None, Some(name)) => format!("{} (nick)", nick(name)),
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
            .map(|until| format!(" until {}", time(until)))
            .unwrap_or_default()
    };
    let what = match event {
        Event::Claim(_) => "claimed the room".to_owned(),
        Event::Role { account, role, .. } => match role.as_str() {
            "none" => format!("took {}'s role away", nick(account)),
            role => format!("made {} {}", nick(account), clean(role)),
        },
        Event::Kick {
            nick: kicked,
            reason,
            ..
        } => format!("kicked {}{}", nick(kicked), why(reason)),
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
        Event::Flags { flags, .. } => match flag_names(flags).as_slice() {
            [] => "cleared the room's flags".to_owned(),
            on => format!("set the room's flags: {}", on.join(", ")),
        },
        _ => return None,
    };
    Some(format!("{} {what}", nick(&action.by)))
}

/// An `invite` event: "bob invited you to #ops (/join ops)"; `None` for any
/// other event.
pub fn invite_text(event: &Event, nick: &dyn Fn(&Nick) -> String) -> Option<String> {
    let Event::Invite { room, by, .. } = event else {
        return None;
    };
    let room = clean(room.as_str());
    Some(format!(
        "{} invited you to #{room} (/join {room})",
        nick(by)
    ))
}

/// The flags that are set, by the names the interface shows.
fn flag_names(flags: &RoomFlags) -> Vec<&'static str> {
    [
        (flags.invite_only, "invite-only"),
        (flags.moderated, "moderated"),
        (flags.topic_lock, "topic lock"),
        (flags.accounts_only, "accounts only"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

/// `/who`'s answer: "#ops: 4 members: alice (owner), bob (op), carol (logged
/// in), dave". A role is held by an account, so it implies a login; a member
/// logged in to an account of another spelling says which.
pub fn who(room: &RoomName, members: &[MemberDetail]) -> String {
    let list: Vec<String> = members
        .iter()
        .map(|member| {
            let name = clean(member.nick.as_str());
            let account = member.account.as_ref().map(|account| {
                if account.key() == member.nick.key() {
                    String::new()
                } else {
                    format!(" as {}", clean(account.as_str()))
                }
            });
            match (member.role, account) {
                (Some(role), _) => format!("{name} ({})", role.as_str()),
                (None, Some(other)) => format!("{name} (logged in{other})"),
                (None, None) => name,
            }
        })
        .collect();
    format!(
        "#{}: {} member{}: {}",
        clean(room.as_str()),
        members.len(),
        if members.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// The status of the session's account: "logged in as alice".
pub fn logged_in(account: Option<&Nick>) -> String {
    match account {
        Some(account) => format!("logged in as {}", clean(account.as_str())),
        None => "not logged in to an account".to_owned(),
    }
}

/// What to do when `hello` was refused but the connection stays: `refusal`
/// is `None` when the nick is an account (and no password was given), else
/// the server's message (a suspended account).
pub fn needs_login(nick: &Nick, refusal: Option<&str>) -> String {
    let nick = clean(nick.as_str());
    match refusal {
        None => format!("nick {nick} is registered: /login PASSWORD, or /nick OTHER"),
        Some(message) => format!(
            "{}: /nick OTHER to go on under another nick",
            clean(message)
        ),
    }
}

/// The status line of a reconnect that logs in (`/login` once registered).
pub fn logging_in(nick: &Nick) -> String {
    format!(
        "logging in to the account {}: connecting again",
        clean(nick.as_str())
    )
}

/// The user was kicked or banned from a room.
pub fn removed(room: &RoomName) -> String {
    let room = clean(room.as_str());
    format!("you are no longer in #{room} (/join {room} to try again)")
}

/// What a 1.2 request did, when no room event says it.
pub fn done(done: &Done) -> String {
    match done {
        Done::Registered {
            account,
            logged_in: true,
        } => format!(
            "registered your nick {} as an account",
            clean(account.as_str())
        ),
        Done::Registered { account, .. } => {
            format!("registered the account {}", clean(account.as_str()))
        }
        Done::PasswordChanged => "your account's password is changed".to_owned(),
        Done::AccountDropped(account) => format!(
            "dropped the account {} (you keep the nick)",
            clean(account.as_str())
        ),
        Done::Moderated {
            room,
            kind,
            changed: true,
        } => format!("{kind} in #{}: done", clean(room.as_str())),
        Done::Moderated { room, kind, .. } => {
            format!("{kind} in #{}: nothing to change", clean(room.as_str()))
        }
        Done::Flags {
            room,
            flags,
            unchanged,
        } => {
            let room = clean(room.as_str());
            let unchanged = if *unchanged { " (unchanged)" } else { "" };
            match flag_names(flags).as_slice() {
                [] => format!("#{room} has no flags set{unchanged}"),
                on => format!("#{room} flags: {}{unchanged}", on.join(", ")),
            }
        }
        Done::Invited { room, nick } => format!(
            "invited {} to #{}",
            clean(nick.as_str()),
            clean(room.as_str())
        ),
        Done::Killed(nick) => format!("killed {}", clean(nick.as_str())),
        Done::Suspended(account) => {
            format!("suspended the account {}", clean(account.as_str()))
        }
        Done::Unsuspended(account) => {
            format!("unsuspended the account {}", clean(account.as_str()))
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
    use crate::protocol::frames::RoomAction;
    use crate::protocol::moderation::Role;

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
        let line = r#"{"type":"redact","room":"ops","seq":7,"ts":"t","by":"alice","nick":"bob","reason":"x\u001b[2J","n":[1]}"#;
        let Ok(crate::protocol::incoming::ServerFrame::Event(event)) =
            crate::protocol::incoming::ServerFrame::parse(line)
        else {
            panic!("not an event");
        };
        assert_eq!(
            plain().item(&event, &nick("carol")).unwrap(),
            "t #ops [redact] by=alice n=[1] nick=bob reason=x^[[2J"
        );
    }

    fn action(seq: u64) -> RoomAction {
        RoomAction {
            room: RoomName::parse("ops").unwrap(),
            seq,
            ts: "t".into(),
            by: nick("alice"),
        }
    }

    fn sanction(account: Option<&str>, nick_name: Option<&str>, reason: Option<&str>) -> Sanction {
        Sanction {
            action: action(3),
            account: account.map(nick),
            nick: nick_name.map(nick),
            reason: reason.map(str::to_owned),
            until: None,
        }
    }

    #[test]
    fn moderation_events_read_as_dimmed_sentences() {
        let lines = [
            (Event::Claim(action(1)), "t #ops alice claimed the room"),
            (
                Event::Role {
                    action: action(2),
                    account: nick("bob"),
                    role: "op".into(),
                },
                "t #ops alice made bob op",
            ),
            (
                Event::Role {
                    action: action(2),
                    account: nick("bob"),
                    role: "none".into(),
                },
                "t #ops alice took bob's role away",
            ),
            (
                Event::Kick {
                    action: action(3),
                    nick: nick("bob"),
                    reason: Some("flood\u{1b}[2J".into()),
                },
                "t #ops alice kicked bob: flood^[[2J",
            ),
            (
                Event::Ban(sanction(Some("bob"), None, Some("spam"))),
                "t #ops alice banned bob: spam",
            ),
            (
                Event::Ban(Sanction {
                    until: Some("u".into()),
                    ..sanction(None, Some("bob"), None)
                }),
                "t #ops alice banned bob (nick) until u",
            ),
            (
                Event::Unban(sanction(Some("bob"), None, None)),
                "t #ops alice unbanned bob",
            ),
            (
                Event::Mute(sanction(None, Some("bob"), Some("calm down"))),
                "t #ops alice muted bob (nick): calm down",
            ),
            (
                Event::Unmute(sanction(Some("bob"), None, None)),
                "t #ops alice unmuted bob",
            ),
            (
                Event::Flags {
                    action: action(9),
                    flags: RoomFlags {
                        invite_only: true,
                        topic_lock: true,
                        ..RoomFlags::default()
                    },
                },
                "t #ops alice set the room's flags: invite-only, topic lock",
            ),
            (
                Event::Flags {
                    action: action(9),
                    flags: RoomFlags::default(),
                },
                "t #ops alice cleared the room's flags",
            ),
        ];
        for (event, line) in &lines {
            assert_eq!(plain().event(event).as_deref(), Some(*line));
        }
        assert_eq!(lines.len(), 11);
        // Dimmed at a terminal, and nothing inside resets the dimming.
        let dim = Renderer { color: true }.event(&lines[4].0).unwrap();
        assert_eq!(dim, "\x1b[2mt #ops alice banned bob: spam\x1b[0m");
        let invite = Event::Invite {
            room: RoomName::parse("ops").unwrap(),
            by: nick("bob"),
            ts: "t".into(),
        };
        assert_eq!(
            plain().event(&invite).unwrap(),
            "t bob invited you to #ops (/join ops)"
        );
    }

    #[test]
    fn who_shows_roles_and_logins() {
        let member = |name: &str, account: Option<&str>, role| MemberDetail {
            nick: nick(name),
            account: account.map(nick),
            role,
        };
        let members = [
            member("alice", Some("alice"), Some(Role::Owner)),
            member("bob", Some("bob"), Some(Role::Op)),
            member("carol", Some("carol"), Some(Role::Voice)),
            member("dave", Some("Dave"), None),
            member("erin", None, None),
        ];
        assert_eq!(
            who(&RoomName::parse("ops").unwrap(), &members),
            "#ops: 5 members: alice (owner), bob (op), carol (voice), dave (logged in), erin"
        );
        assert_eq!(
            who(&RoomName::parse("ops").unwrap(), &members[4..]),
            "#ops: 1 member: erin"
        );
    }

    #[test]
    fn what_a_request_did_is_said_once_for_both_faces() {
        let ops = || RoomName::parse("ops").unwrap();
        let cases = [
            (
                Done::Registered {
                    account: nick("alice"),
                    logged_in: true,
                },
                "registered your nick alice as an account",
            ),
            (
                Done::Moderated {
                    room: ops(),
                    kind: "unban",
                    changed: false,
                },
                "unban in #ops: nothing to change",
            ),
            (
                Done::Flags {
                    room: ops(),
                    flags: RoomFlags {
                        moderated: true,
                        ..RoomFlags::default()
                    },
                    unchanged: false,
                },
                "#ops flags: moderated",
            ),
            (
                Done::Flags {
                    room: ops(),
                    flags: RoomFlags::default(),
                    unchanged: true,
                },
                "#ops has no flags set (unchanged)",
            ),
            (
                Done::Invited {
                    room: ops(),
                    nick: nick("bob"),
                },
                "invited bob to #ops",
            ),
            (Done::Killed(nick("mallory")), "killed mallory"),
        ];
        for (what, text) in &cases {
            assert_eq!(done(what), *text);
        }
        assert_eq!(cases.len(), 6);
        assert_eq!(
            needs_login(&nick("alice"), None),
            "nick alice is registered: /login PASSWORD, or /nick OTHER"
        );
        assert_eq!(logged_in(Some(&nick("alice"))), "logged in as alice");
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
