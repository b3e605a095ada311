//! The protocol 1.2 commands: accounts (`/register`, `/login`, `/password`,
//! `/unregister`), room moderation (`/claim`, `/op`, `/kick`, `/ban`, `/mute`,
//! `/invite`, `/flags`, …) and the server operators' (`/kill`, `/suspend`,
//! `/unsuspend`). Pure, like the rest of `commands`.
//!
//! The account commands carry passwords: [`secret_from`] tells the faces where
//! a typed line's secret part starts, so it is masked while typed and never
//! kept in an input history, and no hint here ever repeats a word of such a
//! line.

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use crate::protocol::moderation::{
    check_password, AccountRequest, Extended, FlagChanges, ModRequest, OperatorRequest, Role,
    SanctionKind, Subject,
};
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::{parse_reason, Request};

use super::{current, no_room, one_word, room_name, Action, Context};

/// The commands whose arguments are passwords.
const SECRET_COMMANDS: &[&str] = &["register", "login", "password", "unregister"];

/// `/register`, `/login`, `/password`, `/unregister`; `None` for any other
/// command. Their hints never quote an argument: it may be a password.
pub(super) fn account_command(command: &str, rest: &str) -> Result<Option<Action>, String> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let account = |request| {
        Ok(Some(Action::Send(Request::Extended(Extended::Account(
            request,
        )))))
    };
    let strong = |password: &str| check_password(password).map_err(|e| e.to_string());
    match command {
        "register" => match words[..] {
            [password] => {
                strong(password)?;
                account(AccountRequest::Register {
                    nick: None,
                    password: password.to_owned(),
                })
            }
            [nick, password] => {
                let nick = Nick::parse(nick).map_err(|e| e.to_string())?;
                strong(password)?;
                account(AccountRequest::Register {
                    nick: Some(nick),
                    password: password.to_owned(),
                })
            }
            _ => Err(
                "usage: /register PASSWORD (your nick), or /register NICK PASSWORD \
                      (server operators); a password is one word"
                    .into(),
            ),
        },
        "login" => match words[..] {
            [password] => Ok(Some(Action::Login(password.to_owned()))),
            _ => Err("usage: /login PASSWORD (one word)".into()),
        },
        "password" => match words[..] {
            [old, new] => {
                strong(new)?;
                account(AccountRequest::SetPassword {
                    old: old.to_owned(),
                    new: new.to_owned(),
                })
            }
            _ => Err("usage: /password OLD NEW (each one word)".into()),
        },
        "unregister" => match words[..] {
            [password] => account(AccountRequest::DropAccount {
                password: password.to_owned(),
            }),
            _ => Err("usage: /unregister PASSWORD (drops your account)".into()),
        },
        _ => Ok(None),
    }
}

/// The room moderation and server-operator commands; `None` for any other
/// command.
pub(super) fn moderation_command(
    command: &str,
    rest: &str,
    context: &Context,
) -> Result<Option<Request>, String> {
    let moderate = |request| Ok(Some(Request::Extended(Extended::Moderate(request))));
    let operator = |request| Ok(Some(Request::Extended(Extended::Operator(request))));
    match command {
        "claim" => {
            let room = match rest {
                "" => current(context)?.clone(),
                room => room_name(one_word(room, "/claim [ROOM]")?)?,
            };
            moderate(ModRequest::Claim { room })
        }
        "op" | "voice" | "owner" | "deop" | "devoice" => {
            let usage = format!("/{command} [#ROOM] NICK");
            let (room, rest) = room_first(rest, context, &usage)?;
            let account = account_name(one_word(rest, &usage)?)?;
            let role = match command {
                "op" => Some(Role::Op),
                "voice" => Some(Role::Voice),
                "owner" => Some(Role::Owner),
                _ => None,
            };
            moderate(ModRequest::Role {
                room,
                account,
                role,
            })
        }
        "kick" => {
            let usage = "/kick [#ROOM] NICK [REASON]";
            let (room, rest) = room_first(rest, context, usage)?;
            let (nick, reason) = first_word(rest);
            if nick.is_empty() {
                return Err(format!("usage: {usage}"));
            }
            if strip_account(nick).is_some() {
                return Err(format!(
                    "usage: {usage} (a kick names a nick in the room, not an account)"
                ));
            }
            moderate(ModRequest::Kick {
                room,
                nick: nick_name(nick)?,
                reason: moderation_reason(reason)?,
            })
        }
        "ban" | "mute" => {
            let usage = format!("/{command} [#ROOM] NICK [DURATION] [REASON]");
            let (room, rest) = room_first(rest, context, &usage)?;
            let (who, rest) = first_word(rest);
            if who.is_empty() {
                return Err(format!("usage: {usage}"));
            }
            let subject = subject(who)?;
            let (word, after) = first_word(rest);
            let (duration, reason) = match duration(word)? {
                Some(seconds) => (Some(seconds), after),
                None => (None, rest),
            };
            let reason = moderation_reason(reason)?;
            moderate(sanction(command).impose(room, subject, reason, duration))
        }
        "unban" | "unmute" => {
            let usage = format!("/{command} [#ROOM] NICK");
            let (room, rest) = room_first(rest, context, &usage)?;
            let subject = subject(one_word(rest, &usage)?)?;
            moderate(sanction(command).lift(room, subject))
        }
        "invite" => {
            let usage = "/invite [#ROOM] NICK";
            let (room, rest) = room_first(rest, context, usage)?;
            let nick = nick_name(one_word(rest, usage)?)?;
            moderate(ModRequest::Invite { room, nick })
        }
        "flags" => {
            // A first word that is not a change (+x, -x) names the room.
            let (first, after) = first_word(rest);
            let (room, changes) = if first.is_empty() || first.starts_with(['+', '-']) {
                (current(context)?.clone(), rest)
            } else {
                (room_name(first)?, after)
            };
            moderate(ModRequest::Flags {
                room,
                changes: flag_changes(changes)?,
            })
        }
        "kill" => {
            let (nick, reason) = first_word(rest);
            if nick.is_empty() {
                return Err("usage: /kill NICK [REASON]".into());
            }
            operator(OperatorRequest::Kill {
                nick: nick_name(nick)?,
                reason: moderation_reason(reason)?,
            })
        }
        "suspend" => {
            let (account, reason) = first_word(rest);
            if account.is_empty() {
                return Err("usage: /suspend ACCOUNT [REASON]".into());
            }
            operator(OperatorRequest::Suspend {
                account: account_name(account)?,
                reason: moderation_reason(reason)?,
            })
        }
        "unsuspend" => {
            let account = account_name(one_word(rest, "/unsuspend ACCOUNT")?)?;
            operator(OperatorRequest::Unsuspend { account })
        }
        _ => Ok(None),
    }
}

/// The sanction `/ban`, `/unban`, `/mute` or `/unmute` is about (the
/// caller matched one of those).
fn sanction(command: &str) -> SanctionKind {
    SanctionKind::of(command).unwrap_or(SanctionKind::Mute)
}

/// The first word and the rest, trimmed.
fn first_word(rest: &str) -> (&str, &str) {
    match rest.split_once(char::is_whitespace) {
        Some((first, after)) => (first, after.trim_start()),
        None => (rest, ""),
    }
}

/// `[#ROOM] ARGS` for the moderation commands: the first word is the room
/// when written `#room`, or when it names a room you are in and arguments
/// follow it (so `/kick ops` in a room with a member `ops` kicks them);
/// otherwise the current room is meant.
fn room_first<'a>(
    rest: &'a str,
    context: &Context,
    usage: &str,
) -> Result<(RoomName, &'a str), String> {
    let (first, after) = first_word(rest);
    if first.starts_with('#') {
        return Ok((room_name(first)?, after));
    }
    if !after.is_empty() {
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

/// `account:NAME` without its prefix, in any case.
fn strip_account(word: &str) -> Option<&str> {
    let (prefix, name) = word.split_once(':')?;
    prefix.eq_ignore_ascii_case("account").then_some(name)
}

/// A ban's or a mute's target: `account:NAME` names an account, anything
/// else a nick.
fn subject(word: &str) -> Result<Subject, String> {
    match strip_account(word) {
        Some(account) => Ok(Subject::Account(nick_name(account)?)),
        None => Ok(Subject::Nick(nick_name(word)?)),
    }
}

/// An account name (roles and operators name accounts, and an account's name
/// is its nick), with or without `account:`.
fn account_name(word: &str) -> Result<Nick, String> {
    nick_name(strip_account(word).unwrap_or(word))
}

fn nick_name(word: &str) -> Result<Nick, String> {
    Nick::parse(word).map_err(|e| e.to_string())
}

/// A word that reads as a duration (`90s`, `10m`, `2h`, `1d`, `1w`; it
/// starts with a digit and has a unit) in whole seconds; `None` for a word
/// that is not one, which then starts the reason.
fn duration(word: &str) -> Result<Option<u64>, String> {
    if !word.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(None);
    }
    let Ok(duration) = humantime::parse_duration(word) else {
        return Ok(None);
    };
    match duration.as_secs() {
        0 => Err(format!(
            "a duration is at least 1s ({word:?}); leave it out for a ban or mute until lifted"
        )),
        seconds => Ok(Some(seconds)),
    }
}

fn moderation_reason(reason: &str) -> Result<Option<String>, String> {
    parse_reason(Some(reason)).map_err(|e| e.to_string())
}

/// `+i -m +topic_lock …`: each flag set (`+`) or cleared (`-`), by its short
/// or long name. Nothing at all reads the flags.
fn flag_changes(words: &str) -> Result<FlagChanges, String> {
    let usage = "usage: /flags [#ROOM] [+FLAG|-FLAG ...], FLAG one of i (invite_only), \
                 m (moderated), t (topic_lock), a (accounts_only)";
    let mut changes = FlagChanges::default();
    for word in words.split_whitespace() {
        let (on, name) = match (word.strip_prefix('+'), word.strip_prefix('-')) {
            (Some(name), _) => (true, name),
            (_, Some(name)) => (false, name),
            _ => return Err(usage.into()),
        };
        let flag = match name.to_ascii_lowercase().replace('-', "_").as_str() {
            "i" | "invite" | "invite_only" => &mut changes.invite_only,
            "m" | "moderated" => &mut changes.moderated,
            "t" | "topic" | "topic_lock" => &mut changes.topic_lock,
            "a" | "accounts" | "accounts_only" => &mut changes.accounts_only,
            _ => return Err(usage.into()),
        };
        *flag = Some(on);
    }
    Ok(changes)
}

/// Where the secret part of a typed line starts: for `/register`, `/login`,
/// `/password` and `/unregister`, the byte offset just after the command
/// word (every argument is masked, the nick of `/register NICK PASSWORD`
/// too, which keeps the rule simple). `None` for any other line. A line with
/// one is never kept in an input history.
pub fn secret_from(line: &str) -> Option<usize> {
    let command_line = line.strip_prefix('/')?;
    let end = command_line
        .find(char::is_whitespace)
        .unwrap_or(command_line.len());
    let command = command_line[..end].to_ascii_lowercase();
    SECRET_COMMANDS
        .contains(&command.as_str())
        .then_some(1 + end)
}

/// The line as it may be shown while typed: the arguments of a secret
/// command become `*`s (as many columns as they take, so the cursor stays
/// where it is), spaces kept. Any other line is returned as it is.
pub fn mask_secret(line: &str) -> Cow<'_, str> {
    let Some(from) = secret_from(line) else {
        return Cow::Borrowed(line);
    };
    let mut shown = line[..from].to_owned();
    for grapheme in line[from..].graphemes(true) {
        if grapheme.chars().all(char::is_whitespace) {
            shown.push_str(grapheme);
        } else {
            shown.push_str(&"*".repeat(grapheme.width()));
        }
    }
    Cow::Owned(shown)
}
