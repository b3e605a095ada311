//! Slash commands: one line the user typed (or a script fed) turned into a
//! request to send or a local action. Pure: no I/O, so every rule is unit-tested
//! here. A line that is not right gets a one-line usage hint and sends nothing.
//!
//! The account commands (`/register`, `/login`, `/password`, `/unregister`)
//! carry passwords: [`secret_from`] tells the faces where a typed line's secret
//! part starts, so it is masked while typed and never kept in an input history,
//! and no hint here ever repeats a word of such a line.

use crate::protocol::names::{check_text, check_topic, Nick, RoomName};
use crate::protocol::request::{HistoryPage, Request, Target};

mod extended;

use extended::{account_command, moderation_command};
pub use extended::{mask_secret, secret_from};

/// What a line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this request.
    Send(Request),
    /// Make this room the current one.
    Switch(RoomName),
    /// Show the topic of this room, as the client knows it.
    ShowTopic(RoomName),
    /// Log in to the account of the nick with this password (`/login`): the
    /// protocol logs in only at `hello`, so the conversation says hello again.
    Login(String),
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
    /// The room of the buffer the line was typed in, when the user is no
    /// longer in it (kicked, banned, or its rejoin failed): text and room
    /// commands without a room are refused rather than sent elsewhere.
    pub gone: Option<&'a RoomName>,
    pub joined: &'a [RoomName],
    pub max_text_bytes: usize,
}

/// The `/help` text, one command a line.
pub const HELP: &[&str] = &[
    "/join ROOM                  join ROOM (created if new) and make it current",
    "/leave [ROOM] [REASON]      leave ROOM (default: the current room)",
    "/switch ROOM, /sw ROOM      make ROOM (one you are in) the current room",
    "/msg NICK TEXT              send TEXT privately to NICK",
    "/me TEXT                    an action in the current room (* you TEXT)",
    "/nick NEW                   change your nick",
    "/topic [ROOM] [TEXT]        show the topic, or set it (TEXT '-' clears it)",
    "/who [ROOM]                 list the members of ROOM, with their roles",
    "/rooms                      list the rooms on the server",
    "/history [N]                show the last N messages of the current room",
    "/quit [REASON]              leave every room and disconnect",
    "/help                       this list",
    "TEXT                        say TEXT in the current room (//TEXT sends /TEXT)",
    "Accounts (a password is one word, never shown or kept in the input history):",
    "/register PASSWORD          make your nick an account and log in to it",
    "/register NICK PASSWORD     make NICK an account (server operators)",
    "/login PASSWORD             log in to the account of your nick",
    "/password OLD NEW           change your account's password",
    "/unregister PASSWORD        drop your account (you keep the nick)",
    "Rooms (these take an optional #ROOM first; account:NAME names an account):",
    "/claim                      become the owner of a room nobody owns",
    "/op, /voice, /owner NICK    give NICK's account a role (/owner: server operators)",
    "/deop, /devoice NICK        take NICK's role away",
    "/kick NICK [REASON]         put NICK out of the room",
    "/ban NICK [TIME] [REASON]   keep NICK out (TIME like 90s, 10m, 2h, 1d; default: for good)",
    "/unban NICK                 lift a ban",
    "/mute NICK [TIME] [REASON]  keep NICK from speaking and setting the topic",
    "/unmute NICK                lift a mute",
    "/invite NICK                let NICK into an invite-only room, once",
    "/flags [+i -m +t +a ...]    show the room's flags, or set (+) and clear (-) them:",
    "                            i invite-only, m moderated, t topic lock, a accounts only",
    "Server operators:",
    "/kill NICK [REASON]         disconnect NICK",
    "/suspend ACCOUNT [REASON]   keep an account out; /unsuspend ACCOUNT lets it in",
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
    let command = command.to_ascii_lowercase();
    if let Some(action) = account_command(&command, rest)? {
        return Ok(action);
    }
    if let Some(request) = moderation_command(&command, rest, context)? {
        return Ok(Action::Send(request));
    }
    match command.as_str() {
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
            // With each member's account and role (protocol 1.2; the
            // conversation asks an older server for the plain list).
            Ok(Action::Send(Request::Who { room, detail: true }))
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
    context.current.ok_or_else(|| no_room(context))
}

/// Why a line that needs a room has none.
fn no_room(context: &Context) -> String {
    match context.gone {
        Some(room) => format!("you are not in #{room} any more: /join {room} first"),
        None => "you are in no room: /join ROOM first".to_owned(),
    }
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
        None if context.gone.is_some() => Err(no_room(context)),
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
    use crate::protocol::moderation::{
        AccountRequest, Extended, FlagChanges, ModRequest, OperatorRequest, Role, Subject,
    };

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn run(line: &str) -> Result<Action, String> {
        let joined = [room("general"), room("ops")];
        let context = Context {
            current: Some(&joined[0]),
            query: None,
            gone: None,
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
                detail: true,
            }
        );
        assert_eq!(
            sends("/who #x"),
            Request::Who {
                room: room("x"),
                detail: true
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
            gone: None,
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
            gone: None,
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
    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn moderates(line: &str) -> ModRequest {
        match sends(line) {
            Request::Extended(Extended::Moderate(request)) => request,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn account(line: &str) -> AccountRequest {
        match sends(line) {
            Request::Extended(Extended::Account(request)) => request,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn operates(line: &str) -> OperatorRequest {
        match sends(line) {
            Request::Extended(Extended::Operator(request)) => request,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn account_commands_build_their_requests() {
        assert_eq!(
            account("/register hunter2hunter2"),
            AccountRequest::Register {
                nick: None,
                password: "hunter2hunter2".into()
            }
        );
        assert_eq!(
            account("/REGISTER Bob hunter2hunter2"),
            AccountRequest::Register {
                nick: Some(nick("Bob")),
                password: "hunter2hunter2".into()
            }
        );
        assert_eq!(
            account("/password old-one new-one-2"),
            AccountRequest::SetPassword {
                old: "old-one".into(),
                new: "new-one-2".into()
            }
        );
        assert_eq!(
            account("/unregister whatever"),
            AccountRequest::DropAccount {
                password: "whatever".into()
            }
        );
        // Logging in is the conversation's business: the protocol logs in at
        // hello only.
        assert_eq!(run("/login s3cret"), Ok(Action::Login("s3cret".into())));
    }

    #[test]
    fn account_hints_never_repeat_a_password() {
        let lines = [
            "/register short1",
            "/register pw-alpha pw-beta pw-gamma",
            "/register 9nick longenough",
            "/login",
            "/login pw-two pw-words",
            "/password pw-onlyone",
            "/password pw-oldpass short",
            "/unregister",
        ];
        for line in lines {
            let hint = run(line).unwrap_err();
            for word in line.split_whitespace().skip(1) {
                if word != "9nick" {
                    assert!(!hint.contains(word), "{line:?} gave {hint:?}");
                }
            }
        }
        assert!(run("/register short1").unwrap_err().contains("8 to 1024"));
        assert_eq!(lines.len(), 8);
    }

    #[test]
    fn roles_kicks_and_invites_act_on_the_current_room_or_the_one_named() {
        assert_eq!(
            moderates("/op bob"),
            ModRequest::Role {
                room: room("general"),
                account: nick("bob"),
                role: Some(Role::Op)
            }
        );
        let role = |line: &str| match moderates(line) {
            ModRequest::Role {
                room,
                account,
                role,
                ..
            } => (room.as_str().to_owned(), account.as_str().to_owned(), role),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            role("/voice #ops carol"),
            ("ops".into(), "carol".into(), Some(Role::Voice))
        );
        assert_eq!(
            role("/owner ops account:carol"),
            ("ops".into(), "carol".into(), Some(Role::Owner))
        );
        assert_eq!(role("/deop bob"), ("general".into(), "bob".into(), None));
        assert_eq!(role("/devoice bob"), ("general".into(), "bob".into(), None));
        // A joined room's name alone is a nick: there is nothing after it.
        assert_eq!(
            role("/op ops"),
            ("general".into(), "ops".into(), Some(Role::Op))
        );
        assert_eq!(
            moderates("/kick bob  spamming links"),
            ModRequest::Kick {
                room: room("general"),
                nick: nick("bob"),
                reason: Some("spamming links".into())
            }
        );
        assert_eq!(
            moderates("/kick #ops bob"),
            ModRequest::Kick {
                room: room("ops"),
                nick: nick("bob"),
                reason: None
            }
        );
        assert_eq!(
            moderates("/invite bob"),
            ModRequest::Invite {
                room: room("general"),
                nick: nick("bob")
            }
        );
        assert_eq!(
            moderates("/claim"),
            ModRequest::Claim {
                room: room("general")
            }
        );
        assert_eq!(
            moderates("/claim #new"),
            ModRequest::Claim { room: room("new") }
        );
    }

    #[test]
    fn bans_and_mutes_take_an_account_a_duration_and_a_reason() {
        assert_eq!(
            moderates("/ban bob 2h spam"),
            ModRequest::Ban {
                room: room("general"),
                subject: Subject::Nick(nick("bob")),
                reason: Some("spam".into()),
                duration: Some(7200),
            }
        );
        assert_eq!(
            moderates("/ban #ops account:Bob"),
            ModRequest::Ban {
                room: room("ops"),
                subject: Subject::Account(nick("Bob")),
                reason: None,
                duration: None,
            }
        );
        // A word that is not a duration starts the reason.
        assert_eq!(
            moderates("/ban bob 3 strikes"),
            ModRequest::Ban {
                room: room("general"),
                subject: Subject::Nick(nick("bob")),
                reason: Some("3 strikes".into()),
                duration: None,
            }
        );
        let mute = |line: &str| match moderates(line) {
            ModRequest::Mute {
                duration, reason, ..
            } => (duration, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(mute("/mute bob 90s"), (Some(90), None));
        assert_eq!(
            mute("/mute bob 10m calm down"),
            (Some(600), Some("calm down".into()))
        );
        assert_eq!(mute("/mute bob 1d"), (Some(86_400), None));
        assert_eq!(
            moderates("/unban account:bob"),
            ModRequest::Unban {
                room: room("general"),
                subject: Subject::Account(nick("bob"))
            }
        );
        assert_eq!(
            moderates("/unmute #ops bob"),
            ModRequest::Unmute {
                room: room("ops"),
                subject: Subject::Nick(nick("bob"))
            }
        );
    }

    #[test]
    fn flags_read_or_change_by_short_or_long_name() {
        let flags = |line: &str| match moderates(line) {
            ModRequest::Flags { room, changes } => (room.as_str().to_owned(), changes),
            other => panic!("{other:?}"),
        };
        assert_eq!(flags("/flags"), ("general".into(), FlagChanges::default()));
        assert_eq!(
            flags("/flags elsewhere"),
            ("elsewhere".into(), FlagChanges::default())
        );
        assert_eq!(
            flags("/flags +invite_only -moderated +t -accounts"),
            (
                "general".into(),
                FlagChanges {
                    invite_only: Some(true),
                    moderated: Some(false),
                    topic_lock: Some(true),
                    accounts_only: Some(false),
                }
            )
        );
        assert_eq!(
            flags("/flags #ops +i +m +invite -topic-lock +a"),
            (
                "ops".into(),
                FlagChanges {
                    invite_only: Some(true),
                    moderated: Some(true),
                    topic_lock: Some(false),
                    accounts_only: Some(true),
                }
            )
        );
    }

    #[test]
    fn operator_commands_build_their_requests() {
        assert_eq!(
            operates("/kill mallory flooding the lobby"),
            OperatorRequest::Kill {
                nick: nick("mallory"),
                reason: Some("flooding the lobby".into())
            }
        );
        assert_eq!(
            operates("/suspend account:mallory"),
            OperatorRequest::Suspend {
                account: nick("mallory"),
                reason: None
            }
        );
        assert_eq!(
            operates("/unsuspend mallory"),
            OperatorRequest::Unsuspend {
                account: nick("mallory")
            }
        );
    }

    #[test]
    fn wrong_moderation_lines_get_a_usage_line_and_send_nothing() {
        let hints = [
            ("/op", "usage: /op [#ROOM] NICK"),
            ("/op a b", "usage: /op [#ROOM] NICK"),
            ("/deop 1x", "nick"),
            ("/kick", "usage: /kick"),
            ("/kick account:bob", "not an account"),
            ("/ban", "usage: /ban"),
            ("/ban bob 0s", "at least 1s"),
            ("/ban account:", "nick"),
            ("/unban", "usage: /unban"),
            ("/unmute bob now", "usage: /unmute"),
            ("/mute", "usage: /mute"),
            ("/invite", "usage: /invite"),
            ("/flags +x", "usage: /flags"),
            ("/flags #no!room", "room"),
            ("/flags +i moderated", "usage: /flags"),
            ("/claim a b", "usage: /claim"),
            ("/kill", "usage: /kill"),
            ("/suspend", "usage: /suspend"),
            ("/unsuspend", "usage: /unsuspend"),
        ];
        for (line, hint) in hints {
            let err = run(line).unwrap_err();
            assert!(err.contains(hint), "{line:?} gave {err:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
        assert_eq!(hints.len(), 19);
        let context = Context {
            current: None,
            query: None,
            gone: None,
            joined: &[],
            max_text_bytes: 100,
        };
        assert!(parse("/kick bob", &context)
            .unwrap_err()
            .contains("no room"));
        assert!(parse("/kick #ops bob", &context).is_ok());
    }

    #[test]
    fn a_line_typed_in_a_room_left_is_not_sent_elsewhere() {
        let joined = [room("general")];
        let ops = room("ops");
        let context = Context {
            current: None,
            query: None,
            gone: Some(&ops),
            joined: &joined,
            max_text_bytes: 100,
        };
        for line in ["hello", "/me waves", "/kick bob", "/who", "/leave"] {
            let err = parse(line, &context).unwrap_err();
            assert!(
                err.contains("not in #ops any more: /join ops"),
                "{line}: {err}"
            );
        }
        assert!(parse("/join ops", &context).is_ok());
    }

    #[test]
    fn the_arguments_of_account_commands_are_secret() {
        assert_eq!(secret_from("/login hunter2"), Some(6));
        assert_eq!(secret_from("/Register bob pw"), Some(9));
        assert_eq!(secret_from("/password"), Some(9));
        assert_eq!(secret_from("/unregister x"), Some(11));
        for line in [
            "/log",
            "/loginx pw",
            "//login pw",
            "login pw",
            "/join ops",
            "",
        ] {
            assert_eq!(secret_from(line), None, "{line:?}");
        }
        assert_eq!(mask_secret("/login hunter2"), "/login *******");
        assert_eq!(mask_secret("/password  ab 猫x"), "/password  ** ***");
        assert_eq!(mask_secret("/join ops"), "/join ops");
    }
}
