//! Slash commands: one line the user typed (or a script fed) turned into a
//! request to send or a local action. Pure: no I/O, so every rule is unit-tested
//! here. A line that is not right gets a one-line usage hint and sends nothing.

use crate::protocol::names::{check_text, check_topic, Nick, RoomName};
use crate::protocol::request::{HistoryPage, Request, Target};

/// What a line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this request.
    Send(Request),
    /// Make this room the current one.
    Switch(RoomName),
    /// Show the topic of this room, as the client knows it.
    ShowTopic(RoomName),
    /// Show the command list.
    Help,
    /// A blank line: nothing to do.
    Nothing,
}

/// What a command needs to know about the session.
pub struct Context<'a> {
    pub current: Option<&'a RoomName>,
    /// The nick of the private conversation the line was typed in: plain text
    /// and `/me` go to that nick instead of the current room.
    pub query: Option<&'a Nick>,
    pub joined: &'a [RoomName],
    pub max_text_bytes: usize,
}

/// The `/help` text, one command a line.
pub const HELP: &[&str] = &[
    "/join ROOM               join ROOM (created if new) and make it current",
    "/leave [ROOM] [REASON]   leave ROOM (default: the current room)",
    "/switch ROOM, /sw ROOM   make ROOM (one you are in) the current room",
    "/msg NICK TEXT           send TEXT privately to NICK",
    "/me TEXT                 an action in the current room (* you TEXT)",
    "/nick NEW                change your nick",
    "/topic [ROOM] [TEXT]     show the topic, or set it (TEXT '-' clears it)",
    "/who [ROOM]              list the members of ROOM",
    "/rooms                   list the rooms on the server",
    "/history [N]             show the last N messages of the current room",
    "/quit [REASON]           leave every room and disconnect",
    "/help                    this list",
    "TEXT                     say TEXT in the current room (//TEXT sends /TEXT)",
];

/// Parses one line. `Err` is the usage hint to show; nothing is sent then.
pub fn parse(line: &str, context: &Context) -> Result<Action, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(Action::Nothing);
    }
    let Some(command_line) = line.strip_prefix('/') else {
        return say(line, context, false);
    };
    if command_line.starts_with('/') {
        return say(command_line, context, false);
    }
    let (command, rest) = match command_line.split_once(char::is_whitespace) {
        Some((command, rest)) => (command, rest.trim()),
        None => (command_line, ""),
    };
    match command.to_ascii_lowercase().as_str() {
        "join" | "j" => {
            let room = one_word(rest, "/join ROOM")?;
            Ok(Action::Send(Request::Join {
                room: room_name(room)?,
                history: None,
                since: None,
                epoch: None,
            }))
        }
        "leave" | "part" => {
            let (room, reason) = optional_room(rest, context, "/leave [ROOM] [REASON]")?;
            Ok(Action::Send(Request::Leave {
                room,
                reason: reason_text(reason)?,
            }))
        }
        "switch" | "sw" => {
            let room = room_name(one_word(rest, "/switch ROOM")?)?;
            if !context.joined.contains(&room) {
                return Err(format!("you are not in #{room}: /join {room} first"));
            }
            Ok(Action::Switch(room))
        }
        "msg" | "query" => {
            let usage = "usage: /msg NICK TEXT";
            let (nick, text) = rest.split_once(char::is_whitespace).ok_or(usage)?;
            let nick = Nick::parse(nick).map_err(|e| e.to_string())?;
            message(Target::User(nick), text.trim_start(), false, context)
        }
        "me" => {
            if rest.is_empty() {
                return Err("usage: /me TEXT".into());
            }
            say(rest, context, true)
        }
        "nick" => {
            let nick = one_word(rest, "/nick NEW")?;
            Ok(Action::Send(Request::Nick {
                nick: Nick::parse(nick).map_err(|e| e.to_string())?,
            }))
        }
        "topic" => {
            let usage = "/topic [ROOM] TEXT";
            let (room, text) = optional_room(rest, context, usage)?;
            let topic = match text {
                "" => return Ok(Action::ShowTopic(room)),
                "-" => "",
                text => text,
            };
            check_topic(topic).map_err(|e| e.to_string())?;
            Ok(Action::Send(Request::Topic {
                room,
                topic: topic.to_owned(),
            }))
        }
        "who" | "names" => {
            let room = match rest {
                "" => current(context)?.clone(),
                room => room_name(one_word(room, "/who [ROOM]")?)?,
            };
            Ok(Action::Send(Request::Who {
                room,
                detail: false,
            }))
        }
        "rooms" | "list" => {
            no_arguments(rest, "/rooms")?;
            // The first page; the chat asks for the next ones (`more`).
            Ok(Action::Send(Request::Rooms {
                after: None,
                limit: None,
            }))
        }
        "history" => {
            let limit = match rest {
                "" => None,
                count => Some(
                    count
                        .parse::<u64>()
                        .map_err(|_| "usage: /history [N] (N a number of messages)")?,
                ),
            };
            Ok(Action::Send(Request::History {
                room: current(context)?.clone(),
                page: HistoryPage::Newest,
                limit,
                epoch: None,
            }))
        }
        "quit" | "exit" => Ok(Action::Send(Request::Quit {
            reason: reason_text(rest)?,
        })),
        "help" | "?" => Ok(Action::Help),
        other => Err(format!(
            "unknown command /{other}: /help lists the commands (//TEXT sends a line starting with /)"
        )),
    }
}

fn say(text: &str, context: &Context, action: bool) -> Result<Action, String> {
    if let Some(nick) = context.query {
        return message(Target::User(nick.clone()), text, action, context);
    }
    let room = current(context)?;
    message(Target::Room(room.clone()), text, action, context)
}

fn message(target: Target, text: &str, action: bool, context: &Context) -> Result<Action, String> {
    check_text(text, context.max_text_bytes).map_err(|e| e.to_string())?;
    Ok(Action::Send(Request::Message {
        target,
        text: text.to_owned(),
        action,
    }))
}

fn current<'a>(context: &Context<'a>) -> Result<&'a RoomName, String> {
    context
        .current
        .ok_or_else(|| "you are in no room: /join ROOM first".to_owned())
}

fn room_name(room: &str) -> Result<RoomName, String> {
    RoomName::parse(room).map_err(|e| e.to_string())
}

fn one_word<'a>(rest: &'a str, usage: &str) -> Result<&'a str, String> {
    match rest.split_whitespace().collect::<Vec<_>>()[..] {
        [word] => Ok(word),
        _ => Err(format!("usage: {usage}")),
    }
}

fn no_arguments(rest: &str, usage: &str) -> Result<(), String> {
    match rest {
        "" => Ok(()),
        _ => Err(format!("usage: {usage}")),
    }
}

/// `[ROOM] REST`: the first word is the room when it is written `#room` or names
/// a room you are in; otherwise the current room is meant and the whole line is
/// the rest.
fn optional_room<'a>(
    rest: &'a str,
    context: &Context,
    usage: &str,
) -> Result<(RoomName, &'a str), String> {
    let (first, after) = match rest.split_once(char::is_whitespace) {
        Some((first, after)) => (first, after.trim_start()),
        None => (rest, ""),
    };
    if !first.is_empty() {
        if first.starts_with('#') {
            return Ok((room_name(first)?, after));
        }
        if let Ok(room) = RoomName::parse(first) {
            if context.joined.contains(&room) {
                return Ok((room, after));
            }
        }
    }
    match context.current {
        Some(room) => Ok((room.clone(), rest)),
        None => Err(format!("you are in no room: usage: {usage}")),
    }
}

fn reason_text(reason: &str) -> Result<Option<String>, String> {
    match reason {
        "" => Ok(None),
        reason => {
            check_topic(reason).map_err(|e| e.to_string())?;
            Ok(Some(reason.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn run(line: &str) -> Result<Action, String> {
        let joined = [room("general"), room("ops")];
        let context = Context {
            current: Some(&joined[0]),
            query: None,
            joined: &joined,
            max_text_bytes: 16,
        };
        parse(line, &context)
    }

    fn sends(line: &str) -> Request {
        match run(line) {
            Ok(Action::Send(request)) => request,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn say(room_name: &str, text: &str, action: bool) -> Request {
        Request::Message {
            target: Target::Room(room(room_name)),
            text: text.into(),
            action,
        }
    }

    #[test]
    fn plain_text_goes_to_the_current_room() {
        assert_eq!(sends("hello there"), say("general", "hello there", false));
        assert_eq!(sends("//etc/hosts"), say("general", "/etc/hosts", false));
        assert_eq!(sends("/me waves"), say("general", "waves", true));
        assert_eq!(run("   "), Ok(Action::Nothing));
    }

    #[test]
    fn commands_build_their_requests() {
        assert_eq!(
            sends("/join #Dev"),
            Request::Join {
                room: room("dev"),
                history: None,
                since: None,
                epoch: None,
            }
        );
        assert_eq!(
            sends("/msg Bob  hi bob"),
            Request::Message {
                target: Target::User(Nick::parse("Bob").unwrap()),
                text: "hi bob".into(),
                action: false
            }
        );
        assert_eq!(
            sends("/nick alice2"),
            Request::Nick {
                nick: Nick::parse("alice2").unwrap()
            }
        );
        assert_eq!(
            sends("/who"),
            Request::Who {
                room: room("general"),
                detail: false,
            }
        );
        assert_eq!(
            sends("/who #x"),
            Request::Who {
                room: room("x"),
                detail: false
            }
        );
        assert_eq!(
            sends("/rooms"),
            Request::Rooms {
                after: None,
                limit: None
            }
        );
        assert_eq!(
            sends("/history 5"),
            Request::History {
                room: room("general"),
                page: HistoryPage::Newest,
                limit: Some(5),
                epoch: None,
            }
        );
        assert_eq!(
            sends("/quit gone fishing"),
            Request::Quit {
                reason: Some("gone fishing".into())
            }
        );
        assert_eq!(sends("/QUIT"), Request::Quit { reason: None });
        assert_eq!(run("/switch ops"), Ok(Action::Switch(room("ops"))));
        assert_eq!(run("/sw #OPS"), Ok(Action::Switch(room("ops"))));
        assert_eq!(run("/help"), Ok(Action::Help));
    }

    #[test]
    fn an_optional_room_is_told_apart_from_the_text() {
        let leave = |room_name: &str, reason: Option<&str>| Request::Leave {
            room: room(room_name),
            reason: reason.map(str::to_owned),
        };
        assert_eq!(sends("/leave"), leave("general", None));
        assert_eq!(sends("/leave ops"), leave("ops", None));
        assert_eq!(
            sends("/leave #elsewhere bye"),
            leave("elsewhere", Some("bye"))
        );
        assert_eq!(sends("/leave bye all"), leave("general", Some("bye all")));
        let topic = |room_name: &str, text: &str| Request::Topic {
            room: room(room_name),
            topic: text.into(),
        };
        assert_eq!(sends("/topic ops deploys"), topic("ops", "deploys"));
        assert_eq!(sends("/topic release day"), topic("general", "release day"));
        assert_eq!(sends("/topic -"), topic("general", ""));
        // With no text, the topic is shown, not set.
        assert_eq!(run("/topic"), Ok(Action::ShowTopic(room("general"))));
        assert_eq!(run("/topic #ops"), Ok(Action::ShowTopic(room("ops"))));
    }

    #[test]
    fn wrong_lines_get_a_hint_and_send_nothing() {
        let hints = [
            ("/frobnicate", "unknown command /frobnicate"),
            ("/join", "usage: /join ROOM"),
            ("/join a b", "usage: /join ROOM"),
            ("/join bad!room", "room"),
            ("/msg bob", "usage: /msg NICK TEXT"),
            ("/msg 1bob hi", "nick"),
            ("/nick", "usage: /nick NEW"),
            ("/me", "usage: /me TEXT"),
            ("/switch elsewhere", "/join elsewhere first"),
            ("/history many", "usage: /history"),
            ("/rooms now", "usage: /rooms"),
            ("this text is far too long", "bytes"),
            ("bell \u{7} here", "control"),
        ];
        for (line, hint) in hints {
            let err = run(line).unwrap_err();
            assert!(err.contains(hint), "{line:?} gave {err:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
        assert_eq!(hints.len(), 13);
    }

    #[test]
    fn without_a_current_room_text_needs_a_join_first() {
        let context = Context {
            current: None,
            query: None,
            joined: &[],
            max_text_bytes: 100,
        };
        assert!(parse("hi", &context).unwrap_err().contains("/join"));
        assert!(parse("/me hi", &context).unwrap_err().contains("/join"));
        assert!(parse("/rooms", &context).is_ok());
    }

    #[test]
    fn text_typed_in_a_private_conversation_goes_to_that_nick() {
        let joined = [room("general")];
        let bob = Nick::parse("bob").unwrap();
        let context = Context {
            current: Some(&joined[0]),
            query: Some(&bob),
            joined: &joined,
            max_text_bytes: 100,
        };
        let private = |text: &str, action| {
            Ok(Action::Send(Request::Message {
                target: Target::User(bob.clone()),
                text: text.into(),
                action,
            }))
        };
        assert_eq!(parse("lunch?", &context), private("lunch?", false));
        assert_eq!(parse("/me waves", &context), private("waves", true));
        // Commands still name their room.
        assert!(matches!(
            parse("/who", &context),
            Ok(Action::Send(Request::Who { .. }))
        ));
    }
}
