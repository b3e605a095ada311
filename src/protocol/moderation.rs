//! Protocol 1.2 on the wire: the account, moderation and server-operator
//! requests (parsed here and written back by the client, from one
//! definition), the roles and room flags they name, and the `ok` payloads
//! they answer with. The room events they cause live with the other events
//! in `frames`.
//!
//! An account's name is its nick ("strict nick = account"), so account names
//! follow the nick rules and are compared the same way, case-insensitively.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ProtocolError;
use super::names::{Nick, RoomName};
use super::request::{parse_reason, Fields};

/// Shortest password, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Longest password, in bytes: hashing a long one costs the server time.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A role in a room, held by an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Voice,
    Op,
    Owner,
}

impl Role {
    /// The role's power: `owner` 100, `op` 50, `voice` 10 (everyone else 0).
    pub fn level(self) -> u8 {
        match self {
            Role::Voice => 10,
            Role::Op => 50,
            Role::Owner => 100,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Voice => "voice",
            Role::Op => "op",
            Role::Owner => "owner",
        }
    }

    /// A role as a request names it: `Some(None)` for `none` (no role).
    pub fn parse(name: &str) -> Option<Option<Role>> {
        match name {
            "voice" => Some(Some(Role::Voice)),
            "op" => Some(Some(Role::Op)),
            "owner" => Some(Some(Role::Owner)),
            "none" => Some(None),
            _ => None,
        }
    }
}

/// The level of an optional role: 0 without one.
pub fn level(role: Option<Role>) -> u8 {
    role.map_or(0, Role::level)
}

/// A room's flags, as `flags` answers and events carry them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomFlags {
    /// Joining needs an `invite` (or a role).
    #[serde(default)]
    pub invite_only: bool,
    /// Only `voice` and up may post.
    #[serde(default)]
    pub moderated: bool,
    /// Only `op` and up may set the topic.
    #[serde(default)]
    pub topic_lock: bool,
    /// Only logged-in connections may join.
    #[serde(default)]
    pub accounts_only: bool,
}

/// The flags a `flags` request changes; `None` leaves a flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagChanges {
    pub invite_only: Option<bool>,
    pub moderated: Option<bool>,
    pub topic_lock: Option<bool>,
    pub accounts_only: Option<bool>,
}

impl FlagChanges {
    /// A `flags` request that changes nothing only reads them.
    pub fn is_empty(&self) -> bool {
        *self == FlagChanges::default()
    }

    /// `flags` with these changes made.
    pub fn applied_to(&self, flags: RoomFlags) -> RoomFlags {
        RoomFlags {
            invite_only: self.invite_only.unwrap_or(flags.invite_only),
            moderated: self.moderated.unwrap_or(flags.moderated),
            topic_lock: self.topic_lock.unwrap_or(flags.topic_lock),
            accounts_only: self.accounts_only.unwrap_or(flags.accounts_only),
        }
    }
}

/// Whom a ban or a mute names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Account(Nick),
    Nick(Nick),
}

/// Account requests.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountRequest {
    /// Makes the connection's nick an account (or, from a server operator,
    /// `nick`'s).
    Register {
        nick: Option<Nick>,
        password: String,
    },
    SetPassword {
        old: String,
        new: String,
    },
    DropAccount {
        password: String,
    },
}

/// Room moderation requests.
#[derive(Debug, Clone, PartialEq)]
pub enum ModRequest {
    Claim {
        room: RoomName,
    },
    Role {
        room: RoomName,
        account: Nick,
        role: Option<Role>,
    },
    Kick {
        room: RoomName,
        nick: Nick,
        reason: Option<String>,
    },
    Ban {
        room: RoomName,
        subject: Subject,
        reason: Option<String>,
        /// Seconds; `None` (or 0) until unbanned.
        duration: Option<u64>,
    },
    Unban {
        room: RoomName,
        subject: Subject,
    },
    Mute {
        room: RoomName,
        subject: Subject,
        reason: Option<String>,
        duration: Option<u64>,
    },
    Unmute {
        room: RoomName,
        subject: Subject,
    },
    Flags {
        room: RoomName,
        changes: FlagChanges,
    },
    Invite {
        room: RoomName,
        nick: Nick,
    },
}

impl ModRequest {
    /// The room the request is about.
    pub fn room(&self) -> &RoomName {
        match self {
            ModRequest::Claim { room }
            | ModRequest::Role { room, .. }
            | ModRequest::Kick { room, .. }
            | ModRequest::Ban { room, .. }
            | ModRequest::Unban { room, .. }
            | ModRequest::Mute { room, .. }
            | ModRequest::Unmute { room, .. }
            | ModRequest::Flags { room, .. }
            | ModRequest::Invite { room, .. } => room,
        }
    }
}

/// The two kinds of sanction, which share their requests' shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanctionKind {
    Ban,
    Mute,
}

impl SanctionKind {
    /// `ban` or `mute` as a request type names it (and `unban`, `unmute`
    /// for lifting one); `None` for any other.
    pub fn of(kind: &str) -> Option<SanctionKind> {
        match kind {
            "ban" | "unban" => Some(SanctionKind::Ban),
            "mute" | "unmute" => Some(SanctionKind::Mute),
            _ => None,
        }
    }

    /// The request that imposes this sanction.
    pub fn impose(
        self,
        room: RoomName,
        subject: Subject,
        reason: Option<String>,
        duration: Option<u64>,
    ) -> ModRequest {
        match self {
            SanctionKind::Ban => ModRequest::Ban {
                room,
                subject,
                reason,
                duration,
            },
            SanctionKind::Mute => ModRequest::Mute {
                room,
                subject,
                reason,
                duration,
            },
        }
    }

    /// The request that lifts it.
    pub fn lift(self, room: RoomName, subject: Subject) -> ModRequest {
        match self {
            SanctionKind::Ban => ModRequest::Unban { room, subject },
            SanctionKind::Mute => ModRequest::Unmute { room, subject },
        }
    }
}

/// Server-operator requests.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorRequest {
    Kill {
        nick: Nick,
        reason: Option<String>,
    },
    Suspend {
        account: Nick,
        reason: Option<String>,
    },
    Unsuspend {
        account: Nick,
    },
}

/// A 1.2 request, of any of the three groups.
#[derive(Debug, Clone, PartialEq)]
pub enum Extended {
    Account(AccountRequest),
    Moderate(ModRequest),
    Operator(OperatorRequest),
}

impl Extended {
    /// The request's `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Extended::Account(AccountRequest::Register { .. }) => "register",
            Extended::Account(AccountRequest::SetPassword { .. }) => "set_password",
            Extended::Account(AccountRequest::DropAccount { .. }) => "drop_account",
            Extended::Moderate(request) => match request {
                ModRequest::Claim { .. } => "claim",
                ModRequest::Role { .. } => "role",
                ModRequest::Kick { .. } => "kick",
                ModRequest::Ban { .. } => "ban",
                ModRequest::Unban { .. } => "unban",
                ModRequest::Mute { .. } => "mute",
                ModRequest::Unmute { .. } => "unmute",
                ModRequest::Flags { .. } => "flags",
                ModRequest::Invite { .. } => "invite",
            },
            Extended::Operator(OperatorRequest::Kill { .. }) => "kill",
            Extended::Operator(OperatorRequest::Suspend { .. }) => "suspend",
            Extended::Operator(OperatorRequest::Unsuspend { .. }) => "unsuspend",
        }
    }

    /// Writes the request's fields (not `type` or `id`), leaving absent
    /// optional ones out.
    pub(super) fn put_fields(&self, put: &mut impl FnMut(&str, Value)) {
        let room =
            |put: &mut dyn FnMut(&str, Value), room: &RoomName| put("room", room.as_str().into());
        let opt = |put: &mut dyn FnMut(&str, Value), key: &str, value: &Option<String>| {
            if let Some(value) = value {
                put(key, value.as_str().into());
            }
        };
        let subject = |put: &mut dyn FnMut(&str, Value), subject: &Subject| match subject {
            Subject::Account(account) => put("account", account.as_str().into()),
            Subject::Nick(nick) => put("nick", nick.as_str().into()),
        };
        match self {
            Extended::Account(AccountRequest::Register { nick, password }) => {
                if let Some(nick) = nick {
                    put("nick", nick.as_str().into());
                }
                put("password", password.as_str().into());
            }
            Extended::Account(AccountRequest::SetPassword { old, new }) => {
                put("old", old.as_str().into());
                put("new", new.as_str().into());
            }
            Extended::Account(AccountRequest::DropAccount { password }) => {
                put("password", password.as_str().into());
            }
            Extended::Moderate(request) => {
                room(put, request.room());
                match request {
                    ModRequest::Claim { .. } => {}
                    ModRequest::Role { account, role, .. } => {
                        put("account", account.as_str().into());
                        put("role", role.map_or("none", Role::as_str).into());
                    }
                    ModRequest::Kick { nick, reason, .. } => {
                        put("nick", nick.as_str().into());
                        opt(put, "reason", reason);
                    }
                    ModRequest::Ban {
                        subject: who,
                        reason,
                        duration,
                        ..
                    }
                    | ModRequest::Mute {
                        subject: who,
                        reason,
                        duration,
                        ..
                    } => {
                        subject(put, who);
                        opt(put, "reason", reason);
                        if let Some(duration) = duration {
                            put("duration", (*duration).into());
                        }
                    }
                    ModRequest::Unban { subject: who, .. }
                    | ModRequest::Unmute { subject: who, .. } => subject(put, who),
                    ModRequest::Flags { changes, .. } => {
                        let flags = [
                            ("invite_only", changes.invite_only),
                            ("moderated", changes.moderated),
                            ("topic_lock", changes.topic_lock),
                            ("accounts_only", changes.accounts_only),
                        ];
                        for (key, value) in flags {
                            if let Some(value) = value {
                                put(key, value.into());
                            }
                        }
                    }
                    ModRequest::Invite { nick, .. } => put("nick", nick.as_str().into()),
                }
            }
            Extended::Operator(OperatorRequest::Kill { nick, reason }) => {
                put("nick", nick.as_str().into());
                opt(put, "reason", reason);
            }
            Extended::Operator(OperatorRequest::Suspend { account, reason }) => {
                put("account", account.as_str().into());
                opt(put, "reason", reason);
            }
            Extended::Operator(OperatorRequest::Unsuspend { account }) => {
                put("account", account.as_str().into());
            }
        }
    }
}

/// Parses a 1.2 request of type `kind`; `None` when `kind` is not one.
pub(super) fn parse(kind: &str, fields: &Fields) -> Option<Result<Extended, ProtocolError>> {
    let parsed = match kind {
        "register" => parse_register(fields).map(Extended::Account),
        "set_password" => (|| {
            Ok(Extended::Account(AccountRequest::SetPassword {
                old: fields.string("old")?.to_owned(),
                new: fields.string("new")?.to_owned(),
            }))
        })(),
        "drop_account" => fields.string("password").map(|password| {
            Extended::Account(AccountRequest::DropAccount {
                password: password.to_owned(),
            })
        }),
        "claim" | "role" | "kick" | "ban" | "unban" | "mute" | "unmute" | "flags" | "invite" => {
            parse_moderation(kind, fields).map(Extended::Moderate)
        }
        "kill" | "suspend" | "unsuspend" => parse_operator(kind, fields).map(Extended::Operator),
        _ => return None,
    };
    Some(parsed)
}

fn parse_register(fields: &Fields) -> Result<AccountRequest, ProtocolError> {
    let nick = fields.opt_string("nick")?;
    let password = fields.string("password")?;
    Ok(AccountRequest::Register {
        nick: nick.map(Nick::parse).transpose()?,
        password: password.to_owned(),
    })
}

fn parse_moderation(kind: &str, fields: &Fields) -> Result<ModRequest, ProtocolError> {
    // Shape first (every field's type), then the names.
    let room = fields.string("room")?;
    let request = match kind {
        "claim" => ModRequest::Claim {
            room: RoomName::parse(room)?,
        },
        "role" => {
            let account = fields.string("account")?;
            let role = fields.string("role")?;
            let role = Role::parse(role).ok_or_else(|| {
                ProtocolError::BadRequest(
                    "`role` must be \"owner\", \"op\", \"voice\" or \"none\"".into(),
                )
            })?;
            ModRequest::Role {
                room: RoomName::parse(room)?,
                account: Nick::parse(account)?,
                role,
            }
        }
        "kick" => {
            let nick = fields.string("nick")?;
            let reason = fields.opt_string("reason")?;
            ModRequest::Kick {
                room: RoomName::parse(room)?,
                nick: Nick::parse(nick)?,
                reason: parse_reason(reason)?,
            }
        }
        "ban" | "mute" => {
            let who = raw_subject(fields)?;
            let reason = fields.opt_string("reason")?;
            let duration = fields.opt_count("duration")?.filter(|&secs| secs > 0);
            let room = RoomName::parse(room)?;
            let subject = who.validate()?;
            let reason = parse_reason(reason)?;
            sanction(kind).impose(room, subject, reason, duration)
        }
        "unban" | "unmute" => {
            let who = raw_subject(fields)?;
            let room = RoomName::parse(room)?;
            let subject = who.validate()?;
            sanction(kind).lift(room, subject)
        }
        "flags" => ModRequest::Flags {
            changes: FlagChanges {
                invite_only: fields.opt_bool("invite_only")?,
                moderated: fields.opt_bool("moderated")?,
                topic_lock: fields.opt_bool("topic_lock")?,
                accounts_only: fields.opt_bool("accounts_only")?,
            },
            room: RoomName::parse(room)?,
        },
        _ => {
            let nick = fields.string("nick")?;
            ModRequest::Invite {
                room: RoomName::parse(room)?,
                nick: Nick::parse(nick)?,
            }
        }
    };
    Ok(request)
}

/// The sanction a `ban`, `unban`, `mute` or `unmute` is about (the caller
/// matched one of those).
fn sanction(kind: &str) -> SanctionKind {
    SanctionKind::of(kind).unwrap_or(SanctionKind::Mute)
}

fn parse_operator(kind: &str, fields: &Fields) -> Result<OperatorRequest, ProtocolError> {
    match kind {
        "kill" => {
            let nick = fields.string("nick")?;
            let reason = fields.opt_string("reason")?;
            Ok(OperatorRequest::Kill {
                nick: Nick::parse(nick)?,
                reason: parse_reason(reason)?,
            })
        }
        "suspend" => {
            let account = fields.string("account")?;
            let reason = fields.opt_string("reason")?;
            Ok(OperatorRequest::Suspend {
                account: Nick::parse(account)?,
                reason: parse_reason(reason)?,
            })
        }
        _ => Ok(OperatorRequest::Unsuspend {
            account: Nick::parse(fields.string("account")?)?,
        }),
    }
}

/// `account` or `nick`, exactly one, shape checked.
enum RawSubject<'a> {
    Account(&'a str),
    Nick(&'a str),
}

impl RawSubject<'_> {
    fn validate(self) -> Result<Subject, ProtocolError> {
        match self {
            RawSubject::Account(account) => Ok(Subject::Account(Nick::parse(account)?)),
            RawSubject::Nick(nick) => Ok(Subject::Nick(Nick::parse(nick)?)),
        }
    }
}

fn raw_subject<'a>(fields: &Fields<'a>) -> Result<RawSubject<'a>, ProtocolError> {
    match (fields.opt_string("account")?, fields.opt_string("nick")?) {
        (Some(account), None) => Ok(RawSubject::Account(account)),
        (None, Some(nick)) => Ok(RawSubject::Nick(nick)),
        (Some(_), Some(_)) => Err(ProtocolError::BadRequest(
            "`account` and `nick` exclude each other".into(),
        )),
        (None, None) => Err(ProtocolError::BadRequest(
            "either `account` or `nick` is required".into(),
        )),
    }
}

/// Checks a new password's length (`weak_password`).
pub fn check_password(password: &str) -> Result<(), ProtocolError> {
    let bytes = password.len();
    if (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&bytes) {
        Ok(())
    } else {
        Err(ProtocolError::WeakPassword(format!(
            "a password must be {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes long"
        )))
    }
}

/// `register` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountOk {
    pub account: Nick,
}

/// The response payload of a moderation request that became a room event:
/// the event's place in the room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModerationOk {
    pub room: RoomName,
    /// Absent when nothing changed (an `unban` of someone not banned, flags
    /// set to what they were), so no event was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

/// `flags` response payload: the room's flags after the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlagsOk {
    pub room: RoomName,
    pub flags: RoomFlags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

/// `invite` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteOk {
    pub room: RoomName,
    pub nick: Nick,
}

/// One member in a `who` answer with `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDetail {
    pub nick: Nick,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Nick>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::request::{parse_line, Request};

    fn parse(line: &str) -> Result<Request, ProtocolError> {
        parse_line(line.as_bytes(), 4096)
            .expect("not blank")
            .request
    }

    #[test]
    fn every_request_survives_the_round_trip_through_its_line() {
        let room = || RoomName::parse("ops").unwrap();
        let nick = || Nick::parse("bob").unwrap();
        let requests = [
            Extended::Account(AccountRequest::Register {
                nick: Some(nick()),
                password: "hunter22".into(),
            }),
            Extended::Account(AccountRequest::Register {
                nick: None,
                password: "hunter22".into(),
            }),
            Extended::Account(AccountRequest::SetPassword {
                old: "a".into(),
                new: "b".into(),
            }),
            Extended::Account(AccountRequest::DropAccount {
                password: "a".into(),
            }),
            Extended::Moderate(ModRequest::Claim { room: room() }),
            Extended::Moderate(ModRequest::Role {
                room: room(),
                account: nick(),
                role: Some(Role::Op),
            }),
            Extended::Moderate(ModRequest::Role {
                room: room(),
                account: nick(),
                role: None,
            }),
            Extended::Moderate(ModRequest::Kick {
                room: room(),
                nick: nick(),
                reason: Some("spam".into()),
            }),
            Extended::Moderate(ModRequest::Ban {
                room: room(),
                subject: Subject::Account(nick()),
                reason: Some("spam".into()),
                duration: Some(60),
            }),
            Extended::Moderate(ModRequest::Unban {
                room: room(),
                subject: Subject::Nick(nick()),
            }),
            Extended::Moderate(ModRequest::Mute {
                room: room(),
                subject: Subject::Nick(nick()),
                reason: None,
                duration: None,
            }),
            Extended::Moderate(ModRequest::Unmute {
                room: room(),
                subject: Subject::Account(nick()),
            }),
            Extended::Moderate(ModRequest::Flags {
                room: room(),
                changes: FlagChanges {
                    invite_only: Some(true),
                    moderated: None,
                    topic_lock: Some(false),
                    accounts_only: None,
                },
            }),
            Extended::Moderate(ModRequest::Invite {
                room: room(),
                nick: nick(),
            }),
            Extended::Operator(OperatorRequest::Kill {
                nick: nick(),
                reason: Some("abuse".into()),
            }),
            Extended::Operator(OperatorRequest::Suspend {
                account: nick(),
                reason: None,
            }),
            Extended::Operator(OperatorRequest::Unsuspend { account: nick() }),
        ];
        for extended in requests {
            let request = Request::Extended(extended);
            let line = request.to_line(None);
            assert_eq!(parse(&line), Ok(request), "{line}");
        }
    }

    #[test]
    fn shapes_are_checked_before_names() {
        let cases = [
            (r#"{"type":"ban","room":"ops"}"#, "bad_request"),
            (
                r#"{"type":"ban","room":"ops","nick":"a","account":"b"}"#,
                "bad_request",
            ),
            (
                r#"{"type":"ban","room":"ops","nick":"a","duration":-1}"#,
                "bad_request",
            ),
            (
                r#"{"type":"role","room":"ops","account":"a","role":"king"}"#,
                "bad_request",
            ),
            (
                r#"{"type":"flags","room":"ops","moderated":"yes"}"#,
                "bad_request",
            ),
            (r##"{"type":"kick","room":"#!","nick":"a"}"##, "bad_room"),
            (r#"{"type":"kick","room":"ops","nick":"1a"}"#, "bad_nick"),
            (r#"{"type":"register"}"#, "bad_request"),
            (r#"{"type":"kill","nick":7}"#, "bad_request"),
        ];
        for (line, code) in cases {
            assert_eq!(parse(line).unwrap_err().code(), code, "{line}");
        }
        assert_eq!(cases.len(), 9);
    }

    #[test]
    fn a_zero_duration_means_until_lifted() {
        let request = parse(r#"{"type":"mute","room":"ops","nick":"a","duration":0}"#);
        let Ok(Request::Extended(Extended::Moderate(ModRequest::Mute { duration, .. }))) = request
        else {
            panic!("not a mute: {request:?}");
        };
        assert_eq!(duration, None);
    }

    #[test]
    fn passwords_are_eight_to_1024_bytes() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(1024)).is_ok());
        assert_eq!(
            check_password(&"x".repeat(1025)).unwrap_err().code(),
            "weak_password"
        );
    }

    #[test]
    fn flag_changes_leave_the_rest_alone() {
        let flags = RoomFlags {
            moderated: true,
            ..RoomFlags::default()
        };
        let changes = FlagChanges {
            invite_only: Some(true),
            ..FlagChanges::default()
        };
        let after = changes.applied_to(flags);
        assert!(after.invite_only && after.moderated && !after.topic_lock);
        assert!(FlagChanges::default().is_empty());
    }
}
