//! A moderation action as the sequencer carries it: what it does to the
//! room's record (kept in the accounts store before anyone hears of it), the
//! room event it becomes (numbered, stored and fanned out like a message),
//! and whom it takes out of the room. The session decides whether the action
//! is allowed; this says what it is.

use crate::protocol::frames::{Event, RoomAction, Sanction as SanctionEvent};
use crate::protocol::moderation::{Role, RoomFlags};
use crate::protocol::names::{Nick, RoomName};

use super::accounts::{Sanction, Target};
use super::hub::Client;
use super::rules::{timestamp, RecordChange};

/// Whom a ban or mute names, as the event shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Account(Nick),
    Nick(Nick),
}

impl Shown {
    /// The store's target for it.
    pub fn target(&self) -> Target {
        match self {
            Shown::Account(account) => Target::Account(account.key()),
            Shown::Nick(nick) => Target::Nick(nick.key()),
        }
    }
}

/// One moderation action on a room.
#[derive(Debug, Clone)]
pub enum ModKind {
    /// The actor's account becomes the owner.
    Claim {
        account: Nick,
    },
    Role {
        account: Nick,
        role: Option<Role>,
    },
    Kick {
        nick: Nick,
        reason: Option<String>,
    },
    Ban {
        shown: Shown,
        sanction: Sanction,
    },
    Unban {
        shown: Shown,
    },
    Mute {
        shown: Shown,
        sanction: Sanction,
    },
    Unmute {
        shown: Shown,
    },
    Flags(RoomFlags),
}

impl ModKind {
    /// The action in a few words, for the log: "kick mallory", "ban account
    /// bob", "flags".
    pub fn describe(&self) -> String {
        let shown = |shown: &Shown| match shown {
            Shown::Account(account) => format!("account {account}"),
            Shown::Nick(nick) => format!("nick {nick}"),
        };
        match self {
            ModKind::Claim { account } => format!("claim by {account}"),
            ModKind::Role { account, role } => {
                format!("role {} for {account}", role.map_or("none", Role::as_str))
            }
            ModKind::Kick { nick, .. } => format!("kick {nick}"),
            ModKind::Ban { shown: who, .. } => format!("ban {}", shown(who)),
            ModKind::Unban { shown: who } => format!("unban {}", shown(who)),
            ModKind::Mute { shown: who, .. } => format!("mute {}", shown(who)),
            ModKind::Unmute { shown: who } => format!("unmute {}", shown(who)),
            ModKind::Flags(_) => "flags".to_owned(),
        }
    }

    /// What the action does to the room's record; `None` for a kick, which
    /// leaves nothing behind but its event.
    pub fn record_change(&self) -> Option<RecordChange> {
        Some(match self {
            ModKind::Claim { account } => RecordChange::Claim {
                account: account.key(),
            },
            ModKind::Role { account, role } => RecordChange::Role {
                account: account.key(),
                role: *role,
            },
            ModKind::Kick { .. } => return None,
            ModKind::Ban { sanction, .. } => RecordChange::Ban(sanction.clone()),
            ModKind::Unban { shown } => RecordChange::Unban(shown.target()),
            ModKind::Mute { sanction, .. } => RecordChange::Mute(sanction.clone()),
            ModKind::Unmute { shown } => RecordChange::Unmute(shown.target()),
            ModKind::Flags(flags) => RecordChange::Flags(*flags),
        })
    }

    /// The room event, with its place in the room.
    pub fn event(&self, room: &RoomName, seq: u64, ts: String, by: Nick) -> Event {
        let action = RoomAction {
            room: room.clone(),
            seq,
            ts,
            by,
        };
        let sanction = |shown: &Shown, reason: Option<String>, until: Option<u64>| {
            let (account, nick) = match shown {
                Shown::Account(account) => (Some(account.clone()), None),
                Shown::Nick(nick) => (None, Some(nick.clone())),
            };
            SanctionEvent {
                action: action.clone(),
                account,
                nick,
                reason,
                until: until.map(timestamp),
            }
        };
        match self {
            ModKind::Claim { .. } => Event::Claim(action),
            ModKind::Role { account, role } => Event::Role {
                action,
                account: account.clone(),
                role: role.map_or("none", Role::as_str).to_owned(),
            },
            ModKind::Kick { nick, reason } => Event::Kick {
                action,
                nick: nick.clone(),
                reason: reason.clone(),
            },
            ModKind::Ban { shown, sanction: s } => {
                Event::Ban(sanction(shown, s.reason.clone(), s.until))
            }
            ModKind::Unban { shown } => Event::Unban(sanction(shown, None, None)),
            ModKind::Mute { shown, sanction: s } => {
                Event::Mute(sanction(shown, s.reason.clone(), s.until))
            }
            ModKind::Unmute { shown } => Event::Unmute(sanction(shown, None, None)),
            ModKind::Flags(flags) => Event::Flags {
                action,
                flags: *flags,
            },
        }
    }

    /// Whether `member` is out of the room once the event is sent: the
    /// kicked nick, and whoever a ban names.
    pub fn removes(&self, member: &Client) -> bool {
        match self {
            ModKind::Kick { nick, .. } => member.nick().key() == nick.key(),
            ModKind::Ban { sanction, .. } => {
                let account = member.account().map(|account| account.key());
                sanction.applies_to(account.as_deref(), member.nick().as_str())
            }
            _ => false,
        }
    }
}
