//! One room's moderation in memory: its record (roles, flags, bans, mutes, as
//! the accounts store keeps it) and its pending invites, and the questions
//! the server asks of them: may this connection join, post, set the topic,
//! act on that member? Pure (no I/O, no locks): the room holds it under a
//! lock of its own, and only the sequencer changes the record, in seq order
//! ([`after`] computes the record an action leaves behind).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::protocol::moderation::{level, Role, RoomFlags};
use crate::protocol::names::Nick;
use crate::protocol::ProtocolError;

use super::accounts::{fold, RoomRecord, Sanction, Target};

/// How long an invite stays good if it is not used.
const INVITE_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Most invites a room holds at once; the oldest goes first.
const MAX_INVITES: usize = 1024;

/// The current time as the store counts it: Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// A Unix time in milliseconds as a protocol timestamp.
pub fn timestamp(ms: u64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Who asks: a connection's nick, its account if logged in, and whether that
/// account is a server operator (owner power in every room).
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub nick: &'a Nick,
    pub account: Option<&'a str>,
    pub operator: bool,
}

/// A room's moderation state.
#[derive(Debug, Default)]
pub struct Rules {
    /// `None` while nobody claimed the room or moderated it.
    record: Option<RoomRecord>,
    /// Invited nicks (folded), until when.
    invites: HashMap<String, Instant>,
}

impl Rules {
    /// The rules of a room with `record` (from the store at start).
    pub fn with(record: Option<RoomRecord>) -> Rules {
        Rules {
            record,
            invites: HashMap::new(),
        }
    }

    pub fn record(&self) -> Option<&RoomRecord> {
        self.record.as_ref()
    }

    /// Whether the room has anything to keep (so it persists when empty).
    pub fn is_kept(&self) -> bool {
        self.record
            .as_ref()
            .is_some_and(|record| !record.is_empty())
    }

    /// Puts the record a stored action left in force.
    pub fn set_record(&mut self, record: RoomRecord) {
        self.record = (!record.is_empty()).then_some(record);
    }

    /// Forgets an account's roles (it was dropped).
    pub fn forget_account(&mut self, account: &str) {
        if let Some(record) = &mut self.record {
            record.roles.remove(&fold(account));
            if record.is_empty() {
                self.record = None;
            }
        }
    }

    pub fn flags(&self) -> RoomFlags {
        self.record.as_ref().map(|r| r.flags).unwrap_or_default()
    }

    /// The role an account holds here.
    pub fn role_of(&self, account: Option<&str>) -> Option<Role> {
        let account = account?;
        self.record.as_ref()?.role_of(account)
    }

    /// The power of `who` here: a server operator counts as an owner.
    pub fn level(&self, who: Who) -> u8 {
        if who.operator {
            return Role::Owner.level();
        }
        level(self.role_of(who.account))
    }

    /// The room's owner account, if claimed.
    pub fn owner(&self) -> Option<&str> {
        self.record.as_ref()?.owner()
    }

    /// The ban in force on `who`, if any.
    pub fn ban(&self, who: Who) -> Option<&Sanction> {
        self.record
            .as_ref()?
            .banned(who.account, who.nick.as_str(), now_ms())
    }

    /// The mute in force on `who`, if any.
    pub fn mute(&self, who: Who) -> Option<&Sanction> {
        self.record
            .as_ref()?
            .muted(who.account, who.nick.as_str(), now_ms())
    }

    /// Whether `who` may join; an invite that lets it in is used up.
    pub fn admit(&mut self, who: Who, room: &str) -> Result<(), ProtocolError> {
        if let Some(ban) = self.ban(who) {
            return Err(ProtocolError::Banned(format!(
                "you are banned from {room}{}",
                described(ban)
            )));
        }
        let flags = self.flags();
        if flags.accounts_only && who.account.is_none() {
            return Err(ProtocolError::NeedsAccount(format!(
                "{room} takes only logged-in members: register or log in first"
            )));
        }
        if flags.invite_only && self.level(who) < Role::Voice.level() {
            let now = Instant::now();
            match self.invites.remove(&who.nick.key()) {
                Some(until) if now < until => {}
                _ => return Err(ProtocolError::InviteOnly(room.to_owned())),
            }
        }
        Ok(())
    }

    /// Whether `who` may post a message here.
    pub fn may_post(&self, who: Who, room: &str) -> Result<(), ProtocolError> {
        self.not_muted(who, room)?;
        if self.flags().moderated && self.level(who) < Role::Voice.level() {
            return Err(ProtocolError::NotPermitted(format!(
                "{room} is moderated: only members with voice may talk"
            )));
        }
        Ok(())
    }

    /// Whether `who` may set the topic here.
    pub fn may_set_topic(&self, who: Who, room: &str) -> Result<(), ProtocolError> {
        self.not_muted(who, room)?;
        if self.flags().topic_lock && self.level(who) < Role::Op.level() {
            return Err(ProtocolError::NotPermitted(format!(
                "the topic of {room} is locked: only its ops may set it"
            )));
        }
        Ok(())
    }

    fn not_muted(&self, who: Who, room: &str) -> Result<(), ProtocolError> {
        match self.mute(who) {
            Some(mute) => Err(ProtocolError::Muted(format!(
                "you are muted in {room}{}",
                described(mute)
            ))),
            None => Ok(()),
        }
    }

    /// Lets `nick` past invite-only once.
    pub fn invite(&mut self, nick: &Nick) {
        let now = Instant::now();
        self.invites.retain(|_, until| now < *until);
        if self.invites.len() >= MAX_INVITES {
            if let Some(oldest) = self
                .invites
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(nick, _)| nick.clone())
            {
                self.invites.remove(&oldest);
            }
        }
        self.invites.insert(nick.key(), now + INVITE_LIFETIME);
    }
}

/// Needs at least `needed`; `what` says what was asked, for the refusal.
pub fn require(have: u8, needed: Role, what: &str) -> Result<(), ProtocolError> {
    if have >= needed.level() {
        Ok(())
    } else {
        Err(ProtocolError::NotPermitted(format!(
            "{what} needs the role {} in this room",
            needed.as_str()
        )))
    }
}

/// " by alice until …: reason", for a refusal.
fn described(sanction: &Sanction) -> String {
    let mut text = format!(" by {}", sanction.by);
    if let Some(until) = sanction.until {
        text.push_str(&format!(" until {}", timestamp(until)));
    }
    if let Some(reason) = &sanction.reason {
        text.push_str(&format!(": {reason}"));
    }
    text
}

/// What a moderation action does to a room's record.
#[derive(Debug, Clone)]
pub enum RecordChange {
    /// `account` becomes owner.
    Claim {
        account: String,
    },
    /// `account` gets `role` (`None` takes it away).
    Role {
        account: String,
        role: Option<Role>,
    },
    Ban(Sanction),
    Unban(Target),
    Mute(Sanction),
    Unmute(Target),
    Flags(RoomFlags),
}

/// The record `change` leaves behind, from `record` (the room's current one,
/// if any); expired sanctions are dropped on the way.
pub fn after(room: &str, record: Option<&RoomRecord>, change: &RecordChange) -> RoomRecord {
    let mut record = record.cloned().unwrap_or_else(|| RoomRecord::new(room));
    record.prune(now_ms());
    match change {
        RecordChange::Claim { account } => {
            record.roles.insert(fold(account), Role::Owner);
        }
        RecordChange::Role { account, role } => match role {
            Some(role) => {
                record.roles.insert(fold(account), *role);
            }
            None => {
                record.roles.remove(&fold(account));
            }
        },
        RecordChange::Ban(sanction) => {
            record.bans.retain(|ban| ban.target != sanction.target);
            record.bans.push(sanction.clone());
        }
        RecordChange::Unban(target) => record.bans.retain(|ban| ban.target != *target),
        RecordChange::Mute(sanction) => {
            record.mutes.retain(|mute| mute.target != sanction.target);
            record.mutes.push(sanction.clone());
        }
        RecordChange::Unmute(target) => record.mutes.retain(|mute| mute.target != *target),
        RecordChange::Flags(flags) => record.flags = *flags,
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn who<'a>(nick: &'a Nick, account: Option<&'a str>) -> Who<'a> {
        Who {
            nick,
            account,
            operator: false,
        }
    }

    fn rules_after(changes: &[RecordChange]) -> Rules {
        let mut rules = Rules::default();
        for change in changes {
            let record = after("ops", rules.record(), change);
            rules.set_record(record);
        }
        rules
    }

    #[test]
    fn levels_come_from_roles_and_operators_count_as_owners() {
        let rules = rules_after(&[
            RecordChange::Claim {
                account: "Alice".into(),
            },
            RecordChange::Role {
                account: "bob".into(),
                role: Some(Role::Voice),
            },
        ]);
        let (alice, bob, eve) = (nick("alice"), nick("bob"), nick("eve"));
        assert_eq!(rules.level(who(&alice, Some("alice"))), 100);
        assert_eq!(rules.level(who(&bob, Some("bob"))), 10);
        assert_eq!(
            rules.level(who(&bob, None)),
            0,
            "a nick alone holds no role"
        );
        let operator = Who {
            operator: true,
            ..who(&eve, Some("eve"))
        };
        assert_eq!(rules.level(operator), 100);
        assert_eq!(rules.owner(), Some("alice"));
        assert!(rules.is_kept());
    }

    #[test]
    fn bans_mutes_and_flags_decide_who_may_do_what() {
        let mut rules = rules_after(&[
            RecordChange::Ban(Sanction {
                target: Target::Nick("troll".into()),
                by: "alice".into(),
                reason: Some("spam".into()),
                until: None,
            }),
            RecordChange::Mute(Sanction {
                target: Target::Account("bob".into()),
                by: "alice".into(),
                reason: None,
                until: None,
            }),
            RecordChange::Flags(RoomFlags {
                invite_only: true,
                moderated: false,
                topic_lock: true,
                accounts_only: false,
            }),
        ]);
        let (troll, bob, carol) = (nick("Troll"), nick("bob"), nick("carol"));
        let refused = rules.admit(who(&troll, None), "ops").unwrap_err();
        assert_eq!(refused.code(), "banned");
        assert!(refused.to_string().contains("by alice: spam"), "{refused}");
        assert_eq!(
            rules
                .may_post(who(&bob, Some("bob")), "ops")
                .unwrap_err()
                .code(),
            "muted"
        );
        assert!(rules.may_post(who(&bob, None), "ops").is_ok());
        assert_eq!(
            rules
                .may_set_topic(who(&carol, None), "ops")
                .unwrap_err()
                .code(),
            "not_permitted"
        );
        assert_eq!(
            rules.admit(who(&carol, None), "ops").unwrap_err().code(),
            "invite_only"
        );
        rules.invite(&carol);
        assert!(rules.admit(who(&carol, None), "ops").is_ok());
        assert_eq!(
            rules.admit(who(&carol, None), "ops").unwrap_err().code(),
            "invite_only",
            "an invite is good once"
        );
    }

    #[test]
    fn an_unban_and_a_role_removal_leave_nothing_to_keep() {
        let target = Target::Account("bob".into());
        let rules = rules_after(&[
            RecordChange::Ban(Sanction {
                target: target.clone(),
                by: "alice".into(),
                reason: None,
                until: Some(now_ms() + 60_000),
            }),
            RecordChange::Unban(target),
        ]);
        assert!(!rules.is_kept());
        assert!(rules.record().is_none());
    }

    #[test]
    fn timestamps_have_the_protocol_shape() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
    }
}
