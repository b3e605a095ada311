//! A session's moderation requests (protocol 1.2): who may do what in a room
//! is decided here, from the room's rules; what the action then is goes to
//! the sequencer as a room change, so it is numbered, kept and fanned out in
//! the room's order like any message. Server operators' own requests (`kill`,
//! `suspend`, `unsuspend`) end connections through their outboxes.

use std::sync::Arc;

use tracing::{info, warn};

use crate::protocol::frames::{Empty, Event};
use crate::protocol::moderation::{
    level, FlagsOk, InviteOk, ModRequest, ModerationOk, OperatorRequest, Role, Subject,
};
use crate::protocol::names::Nick;
use crate::protocol::request::RequestId;
use crate::protocol::{time, ProtocolError};

use super::super::accounts::Sanction;
use super::super::hub::Client;
use super::super::moderation::{ModKind, Shown};
use super::super::room::Room;
use super::super::rules::{now_ms, require};
use super::super::sequencer::{Change, NotStored};
use super::accounts::Actor;
use super::{unavailable, Reply, Session};

impl Session {
    /// `claim`, `role`, `kick`, `ban`, `unban`, `mute`, `unmute`, `flags`,
    /// `invite`.
    pub(super) async fn moderate(
        &mut self,
        client: &Arc<Client>,
        request: ModRequest,
        id: Option<&RequestId>,
    ) -> Result<Reply, ProtocolError> {
        let actor = self.actor(client);
        let name = request.room().clone();
        if let ModRequest::Flags { changes, .. } = &request {
            let aside = self.shared.hub.find_room(&name).is_none()
                && self.shared.hub.members(&name).is_some();
            if changes.is_empty() && aside {
                // A logged room nobody is in has no moderation (that would
                // have kept it in memory): its flags are all off.
                return Reply::ok(
                    id,
                    FlagsOk {
                        room: name,
                        flags: Default::default(),
                        seq: None,
                        ts: None,
                    },
                );
            }
        }
        let room = self.room_for(&actor, &request)?;
        let kind = match request {
            ModRequest::Flags { changes, .. } => {
                let flags = room.rules().flags();
                let wanted = changes.applied_to(flags);
                if changes.is_empty() || wanted == flags {
                    // A read, or a change to what already is: no event.
                    if !changes.is_empty() {
                        require(room.rules().level(actor.who()), Role::Op, "setting flags")?;
                    }
                    return Reply::ok(
                        id,
                        FlagsOk {
                            room: name,
                            flags,
                            seq: None,
                            ts: None,
                        },
                    );
                }
                require(room.rules().level(actor.who()), Role::Op, "setting flags")?;
                ModKind::Flags(wanted)
            }
            ModRequest::Invite { nick, .. } => {
                require(room.rules().level(actor.who()), Role::Op, "inviting")?;
                let invitee = self.find_user(&nick)?;
                let nick = invitee.nick();
                room.rules().invite(&nick);
                let event = Event::Invite {
                    room: name.clone(),
                    by: actor.nick.clone(),
                    ts: time::now(),
                };
                invitee.outbox().push(&event.encode());
                info!(room = %name, by = %actor.nick, %nick, "invited");
                return Reply::ok(id, InviteOk { room: name, nick });
            }
            request => match self.action(&actor, &room, request)? {
                Some(kind) => kind,
                None => {
                    return Reply::ok(
                        id,
                        ModerationOk {
                            room: name,
                            seq: None,
                            ts: None,
                        },
                    )
                }
            },
        };
        let flags = matches!(kind, ModKind::Flags(_));
        let log = kind.describe();
        let change = Change::Moderation {
            by: actor.nick.clone(),
            kind,
        };
        let committed = self
            .shared
            .sequencer
            .commit(&room, change)
            .await
            .unwrap_or(Err(NotStored))
            .map_err(|NotStored| unavailable())?;
        // A kick or ban may have emptied the room.
        self.shared.hub.after_removal(&room);
        if actor.operator {
            warn!(room = %name, operator = %actor.nick, action = %log, "moderation by a server operator");
        } else {
            info!(room = %name, by = %actor.nick, action = %log, "moderation");
        }
        if flags {
            return Reply::ok(
                id,
                FlagsOk {
                    room: name,
                    flags: room.rules().flags(),
                    seq: committed.seq,
                    ts: Some(committed.ts),
                },
            );
        }
        Reply::ok(
            id,
            ModerationOk {
                room: name,
                seq: committed.seq,
                ts: Some(committed.ts),
            },
        )
    }

    /// The room a moderation request acts on: one the requester is in; any
    /// existing room for a server operator, or for a `flags` read.
    fn room_for(&self, actor: &Actor, request: &ModRequest) -> Result<Arc<Room>, ProtocolError> {
        let name = request.room();
        if let Ok(room) = self.joined(name) {
            return Ok(room.clone());
        }
        let read = matches!(request, ModRequest::Flags { changes, .. } if changes.is_empty());
        if !(actor.operator || read) {
            return Err(ProtocolError::NotInRoom(name.to_string()));
        }
        self.shared
            .hub
            .find_room(name)
            .ok_or_else(|| ProtocolError::NoSuchRoom(name.to_string()))
    }

    /// The room change a `claim`, `role`, `kick`, `ban`, `unban`, `mute` or
    /// `unmute` makes, if the requester may make it; `None` when it would
    /// change nothing (an unban of someone not banned).
    fn action(
        &self,
        actor: &Actor,
        room: &Room,
        request: ModRequest,
    ) -> Result<Option<ModKind>, ProtocolError> {
        let mine = room.rules().level(actor.who());
        let kind = match request {
            ModRequest::Claim { room: name } => {
                let account = actor.account.clone().ok_or_else(|| {
                    ProtocolError::NeedsAccount(
                        "claiming a room needs an account: register one first".into(),
                    )
                })?;
                if let Some(owner) = room.rules().owner() {
                    return Err(ProtocolError::NotPermitted(format!(
                        "{name} is already claimed by {owner}"
                    )));
                }
                if !actor.operator {
                    let owned = self.shared.hub.owned_by(&account);
                    if owned >= MAX_OWNED_ROOMS {
                        return Err(ProtocolError::NotPermitted(format!(
                            "you own {owned} rooms already, the most one account may own"
                        )));
                    }
                }
                ModKind::Claim { account }
            }
            ModRequest::Role { account, role, .. } => {
                require(mine, Role::Op, "giving roles")?;
                let account = self.existing_account(&account)?;
                let current = room.rules().role_of(Some(account.as_str()));
                let theirs = level(current);
                // One may only hand out and take back roles below one's own;
                // a server operator may do anything, an owner included.
                if !actor.operator && (level(role) >= mine || theirs >= mine) {
                    return Err(ProtocolError::NotPermitted(format!(
                        "you may only give or take roles below your own ({})",
                        role_name(mine)
                    )));
                }
                if current == role {
                    // Already so: no event.
                    return Ok(None);
                }
                ModKind::Role { account, role }
            }
            ModRequest::Kick {
                nick,
                reason,
                room: name,
            } => {
                require(mine, Role::Op, "kicking")?;
                let target = self.find_user(&nick)?;
                if !room.has_member(&target) {
                    return Err(ProtocolError::TargetNotInRoom {
                        nick: target.nick().to_string(),
                        room: name.to_string(),
                    });
                }
                self.outranks(actor, mine, room, &target)?;
                ModKind::Kick {
                    nick: target.nick(),
                    reason,
                }
            }
            ModRequest::Ban {
                subject,
                reason,
                duration,
                ..
            } => {
                require(mine, Role::Op, "banning")?;
                let (shown, sanction) =
                    self.sanction(actor, mine, room, subject, reason, duration)?;
                room_for_one_more(room.rules().record().map(|r| &r.bans), &shown, "bans")?;
                ModKind::Ban { shown, sanction }
            }
            ModRequest::Mute {
                subject,
                reason,
                duration,
                ..
            } => {
                require(mine, Role::Op, "muting")?;
                let (shown, sanction) =
                    self.sanction(actor, mine, room, subject, reason, duration)?;
                room_for_one_more(room.rules().record().map(|r| &r.mutes), &shown, "mutes")?;
                ModKind::Mute { shown, sanction }
            }
            ModRequest::Unban { subject, .. } => {
                require(mine, Role::Op, "unbanning")?;
                let shown = self.shown(subject)?;
                let target = shown.target();
                let banned = room.rules().record().is_some_and(|r| {
                    r.bans
                        .iter()
                        .any(|b| b.target == target && b.active(now_ms()))
                });
                if !banned {
                    return Ok(None);
                }
                ModKind::Unban { shown }
            }
            ModRequest::Unmute { subject, .. } => {
                require(mine, Role::Op, "unmuting")?;
                let shown = self.shown(subject)?;
                let target = shown.target();
                let muted = room.rules().record().is_some_and(|r| {
                    r.mutes
                        .iter()
                        .any(|m| m.target == target && m.active(now_ms()))
                });
                if !muted {
                    return Ok(None);
                }
                ModKind::Unmute { shown }
            }
            ModRequest::Flags { .. } | ModRequest::Invite { .. } => return Ok(None),
        };
        Ok(Some(kind))
    }

    /// A ban or mute of `subject` by `actor`, who must outrank whoever it
    /// names.
    fn sanction(
        &self,
        actor: &Actor,
        mine: u8,
        room: &Room,
        subject: Subject,
        reason: Option<String>,
        duration: Option<u64>,
    ) -> Result<(Shown, Sanction), ProtocolError> {
        let shown = self.shown(subject)?;
        if let Shown::Account(account) = &shown {
            let theirs = level(room.rules().role_of(Some(account.as_str())));
            let operator = self
                .shared
                .settings()
                .accounts
                .is_operator(account.as_str());
            if !actor.operator && (theirs >= mine || operator) {
                return Err(ProtocolError::NotPermitted(format!(
                    "{account} holds a role as high as yours"
                )));
            }
        }
        let sanction = Sanction {
            target: shown.target(),
            by: actor.nick.to_string(),
            reason,
            until: duration.map(|secs| now_ms().saturating_add(secs.saturating_mul(1000))),
        };
        Ok((shown, sanction))
    }

    /// Whom a ban or mute names: a nick that is an account is that account
    /// (only its owner can use it), any other nick stays a nick.
    fn shown(&self, subject: Subject) -> Result<Shown, ProtocolError> {
        match subject {
            Subject::Account(account) => Ok(Shown::Account(
                self.account_name(&account)?.unwrap_or(account),
            )),
            Subject::Nick(nick) => Ok(match self.account_name(&nick)? {
                Some(account) => Shown::Account(account),
                None => Shown::Nick(nick),
            }),
        }
    }

    /// The account named `name` as it is spelt, if it exists.
    fn account_name(&self, name: &Nick) -> Result<Option<Nick>, ProtocolError> {
        let record = self.shared.account(name)?;
        Ok(record.map(|record| Nick::parse(&record.name).unwrap_or_else(|_| name.clone())))
    }

    /// An account that must exist (`no_such_account`).
    fn existing_account(&self, name: &Nick) -> Result<Nick, ProtocolError> {
        self.account_name(name)?
            .ok_or_else(|| ProtocolError::NoSuchAccount(name.to_string()))
    }

    /// `actor` (at `mine`) may act on `target` only from above, unless it is
    /// a server operator.
    fn outranks(
        &self,
        actor: &Actor,
        mine: u8,
        room: &Room,
        target: &Client,
    ) -> Result<(), ProtocolError> {
        if actor.operator {
            return Ok(());
        }
        let target_actor = self.actor(target);
        let theirs = room.rules().level(target_actor.who());
        if theirs >= mine {
            return Err(ProtocolError::NotPermitted(format!(
                "{} holds a role as high as yours",
                target.nick()
            )));
        }
        Ok(())
    }

    /// `kill`, `suspend`, `unsuspend`: server operators only.
    pub(super) async fn operate(
        &mut self,
        client: &Arc<Client>,
        request: OperatorRequest,
        id: Option<&RequestId>,
    ) -> Result<Reply, ProtocolError> {
        let actor = self.actor(client);
        if !actor.operator {
            return Err(ProtocolError::NotPermitted(
                "only server operators may do that".into(),
            ));
        }
        match request {
            OperatorRequest::Kill { nick, reason } => {
                let target = self.find_user(&nick)?;
                let text = with_reason(format!("killed by {}", actor.nick), reason.as_deref());
                warn!(operator = %actor.nick, target = %target.nick(), reason = reason.as_deref().unwrap_or(""), "killed");
                end(&target, text);
            }
            OperatorRequest::Suspend { account, reason } => {
                let account = self.set_suspended(&account, true).await?;
                let text = with_reason(format!("suspended by {}", actor.nick), reason.as_deref());
                warn!(operator = %actor.nick, %account, reason = reason.as_deref().unwrap_or(""), "account suspended");
                for connection in self.shared.hub.logged_in(&account) {
                    end(&connection, text.clone());
                }
            }
            OperatorRequest::Unsuspend { account } => {
                let account = self.set_suspended(&account, false).await?;
                warn!(operator = %actor.nick, %account, "account unsuspended");
            }
        }
        Reply::ok(id, Empty {})
    }

    async fn set_suspended(&self, account: &Nick, suspended: bool) -> Result<Nick, ProtocolError> {
        let mut record = self
            .shared
            .account(account)?
            .ok_or_else(|| ProtocolError::NoSuchAccount(account.to_string()))?;
        record.suspended = suspended;
        let name = Nick::parse(&record.name).unwrap_or_else(|_| account.clone());
        let registry = self.shared.registry.clone();
        let stored = tokio::task::spawn_blocking(move || registry.update_account(&record))
            .await
            .map_err(|_| unavailable())?;
        match stored {
            Ok(true) => Ok(name),
            Ok(false) => Err(ProtocolError::NoSuchAccount(account.to_string())),
            Err(e) => {
                tracing::error!("accounts store: {e}");
                Err(unavailable())
            }
        }
    }
}

/// Most rooms one account may own (server operators are not counted): a
/// claimed room stays in memory, so claims must not fill `max_total_rooms`.
const MAX_OWNED_ROOMS: usize = 10;

/// Most bans, and most mutes, one room holds: a room's record is in memory.
const MAX_SANCTIONS: usize = 1000;

/// Whether a room's `list` of bans or mutes has room for one naming `shown`
/// (replacing one of the same target always has); expired ones still count
/// until the next action prunes them.
fn room_for_one_more(
    list: Option<&Vec<Sanction>>,
    shown: &Shown,
    what: &str,
) -> Result<(), ProtocolError> {
    let target = shown.target();
    let Some(list) = list else {
        return Ok(());
    };
    let now = now_ms();
    let active = list.iter().filter(|s| s.active(now)).count();
    if active >= MAX_SANCTIONS && !list.iter().any(|s| s.target == target) {
        return Err(ProtocolError::NotPermitted(format!(
            "this room holds the most {what} it may ({MAX_SANCTIONS}); lift some first"
        )));
    }
    Ok(())
}

/// "killed by alice: spam".
fn with_reason(text: String, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{text}: {reason}"),
        None => text,
    }
}

/// Ends `target`'s connection: `bye` with `why`, and its rooms hear `why`.
fn end(target: &Client, why: String) {
    let bye = Event::Bye {
        reason: why.clone(),
    };
    target.outbox().end_with(bye.encode(), why);
}

fn role_name(level: u8) -> &'static str {
    match level {
        100.. => "owner",
        50.. => "op",
        10.. => "voice",
        _ => "none",
    }
}
