//! Accounts and room registrations (protocol 1.2): the records the server
//! keeps across restarts about who owns a nick and what a room remembers of
//! its moderation (roles, flags, bans, mutes), the [`Registry`] trait that
//! stores them, and password hashing ([`passwords`]).
//!
//! The records are plain data with the pure rules that read them (who owns a
//! room, whether a ban applies now), so the rules are tested without a store.
//! The trait is small on purpose: the embedded store ([`RedbRegistry`]) is the
//! one in use, and another backend (Redis) need only implement these seven
//! calls. Every write is durable before the call returns, so an `ok` the
//! client saw is never lost in a crash.
//!
//! Names are keyed by [`fold`]: ASCII-lowercase, the same rule that makes
//! nicks unique (`Nick::key`), so an account and its nick always match.

mod memory;
pub mod passwords;
mod redb_store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// The wire's role and flags are what a record stores: one definition, so a
// record, a `role` request and a `flags` event cannot disagree.
pub use crate::protocol::moderation::{Role, RoomFlags};

pub use memory::MemoryRegistry;
pub use passwords::{check_strength, PasswordError, Passwords, Verified};
pub use redb_store::RedbRegistry;

/// The key of an account or a role: the name ASCII-lowercased, as nicks
/// compare.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The nick as spelt at registration (its key is [`fold`] of it).
    pub name: String,
    /// The password's Argon2 hash, as a PHC string.
    pub hash: String,
    /// A suspended account cannot log in.
    #[serde(default)]
    pub suspended: bool,
    /// When it was registered (RFC 3339).
    pub created: String,
}

impl AccountRecord {
    /// A new, unsuspended account created now.
    pub fn new(name: &str, hash: String) -> AccountRecord {
        AccountRecord {
            name: name.to_owned(),
            hash,
            suspended: false,
            created: crate::protocol::time::now(),
        }
    }
}

/// Whom a ban or mute applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// An account, by its [`fold`]ed name: applies to whoever is logged in to it.
    Account(String),
    /// A nick that is no account, [`fold`]ed: applies to a connection using
    /// that nick without being logged in.
    Nick(String),
}

/// A ban or a mute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sanction {
    pub target: Target,
    /// The nick of whoever imposed it.
    pub by: String,
    pub reason: Option<String>,
    /// When it stops applying (Unix time in milliseconds); `None` is until
    /// lifted.
    pub until: Option<u64>,
}

impl Sanction {
    /// Whether it still applies at `now_ms`.
    pub fn active(&self, now_ms: u64) -> bool {
        self.until.is_none_or(|until| now_ms < until)
    }

    /// Whether it applies to a connection logged in to `account` (any case),
    /// or, when `account` is `None`, using `nick`. A nick ban never applies
    /// to a logged-in connection: a registered nick is banned by its account.
    pub fn applies_to(&self, account: Option<&str>, nick: &str) -> bool {
        match (&self.target, account) {
            (Target::Account(target), Some(account)) => target.eq_ignore_ascii_case(account),
            (Target::Nick(target), None) => target.eq_ignore_ascii_case(nick),
            _ => false,
        }
    }
}

/// What a room remembers across restarts: its roles, flags, bans and mutes.
/// A room with a record persists even when nobody is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    /// The room's (normalized) name.
    pub room: String,
    /// Roles by [`fold`]ed account name.
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    #[serde(default)]
    pub flags: RoomFlags,
    #[serde(default)]
    pub bans: Vec<Sanction>,
    #[serde(default)]
    pub mutes: Vec<Sanction>,
}

impl RoomRecord {
    /// A record with nothing in it yet.
    pub fn new(room: &str) -> RoomRecord {
        RoomRecord {
            room: room.to_owned(),
            roles: BTreeMap::new(),
            flags: RoomFlags::default(),
            bans: Vec::new(),
            mutes: Vec::new(),
        }
    }

    /// The owner's folded account name, if the room has been claimed.
    pub fn owner(&self) -> Option<&str> {
        self.roles
            .iter()
            .find(|(_, role)| **role == Role::Owner)
            .map(|(account, _)| account.as_str())
    }

    /// The role of `account` (any case) in this room.
    pub fn role_of(&self, account: &str) -> Option<Role> {
        self.roles.get(&fold(account)).copied()
    }

    /// The ban in force at `now_ms` on a connection logged in to `account`
    /// (or, with `None`, not logged in and using `nick`).
    pub fn banned(&self, account: Option<&str>, nick: &str, now_ms: u64) -> Option<&Sanction> {
        matching(&self.bans, account, nick, now_ms)
    }

    /// The mute in force at `now_ms`, by the same rule as [`RoomRecord::banned`].
    pub fn muted(&self, account: Option<&str>, nick: &str, now_ms: u64) -> Option<&Sanction> {
        matching(&self.mutes, account, nick, now_ms)
    }

    /// Whether the record holds nothing worth keeping: no roles, default
    /// flags, no bans, no mutes. Such a record is not stored.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
            && self.flags == RoomFlags::default()
            && self.bans.is_empty()
            && self.mutes.is_empty()
    }

    /// Drops the bans and mutes expired at `now_ms`; true if any went.
    pub fn prune(&mut self, now_ms: u64) -> bool {
        let before = self.bans.len() + self.mutes.len();
        self.bans.retain(|sanction| sanction.active(now_ms));
        self.mutes.retain(|sanction| sanction.active(now_ms));
        self.bans.len() + self.mutes.len() != before
    }
}

fn matching<'a>(
    sanctions: &'a [Sanction],
    account: Option<&str>,
    nick: &str,
    now_ms: u64,
) -> Option<&'a Sanction> {
    sanctions
        .iter()
        .find(|sanction| sanction.active(now_ms) && sanction.applies_to(account, nick))
}

/// Why the accounts store failed. The server cannot answer for an account
/// it cannot read, so these are internal errors, logged, never a protocol
/// error code of their own.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The store could not be opened (missing directory, no permission,
    /// another process has it open).
    #[error("cannot open the accounts database {}: {source}", path.display())]
    Open {
        path: std::path::PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("accounts store: {0}")]
    Io(#[from] std::io::Error),
    /// The backend failed (for redb: a transaction, table or commit error).
    #[error("accounts database: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record does not parse: the file was damaged or written by an
    /// incompatible version.
    #[error("accounts database: unreadable {what}: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Where accounts and room records are kept. Names are looked up by
/// [`fold`]; each call is one transaction, durable before it returns.
pub trait Registry: Send + Sync + std::fmt::Debug {
    /// The account named `name` (any case).
    fn account(&self, name: &str) -> Result<Option<AccountRecord>, RegistryError>;
    /// Creates it; `Ok(false)` when an account of that (folded) name exists.
    fn create_account(&self, account: &AccountRecord) -> Result<bool, RegistryError>;
    /// Replaces an existing account (password hash, suspension). `Ok(false)`
    /// if none.
    fn update_account(&self, account: &AccountRecord) -> Result<bool, RegistryError>;
    /// Removes the account and its roles in every room record, in one
    /// transaction (a record left empty goes too); `Ok(false)` if none.
    fn drop_account(&self, name: &str) -> Result<bool, RegistryError>;
    /// The record of `room`, if it has one.
    fn room(&self, room: &str) -> Result<Option<RoomRecord>, RegistryError>;
    /// Writes the record (removes it when [`RoomRecord::is_empty`]), durably
    /// before returning.
    fn put_room(&self, record: &RoomRecord) -> Result<(), RegistryError>;
    /// Every room record, sorted by room name (read at start).
    fn rooms(&self) -> Result<Vec<RoomRecord>, RegistryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanction(target: Target, until: Option<u64>) -> Sanction {
        Sanction {
            target,
            by: "Alice".into(),
            reason: None,
            until,
        }
    }

    #[test]
    fn roles_have_levels_names_and_parse_from_the_wire() {
        assert_eq!(
            [Role::Voice, Role::Op, Role::Owner].map(Role::level),
            [10, 50, 100]
        );
        for role in [Role::Voice, Role::Op, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(Some(role)));
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert_eq!(Role::parse("none"), Some(None));
        assert_eq!(Role::parse("Owner"), None);
        assert_eq!(Role::parse("admin"), None);
        assert!(Role::Voice < Role::Op && Role::Op < Role::Owner);
    }

    #[test]
    fn targets_serialize_as_a_one_key_object() {
        let account = Target::Account("bob".into());
        assert_eq!(
            serde_json::to_string(&account).unwrap(),
            r#"{"account":"bob"}"#
        );
        let nick: Target = serde_json::from_str(r#"{"nick":"eve"}"#).unwrap();
        assert_eq!(nick, Target::Nick("eve".into()));
    }

    #[test]
    fn owner_and_role_of_read_the_roles() {
        let mut record = RoomRecord::new("rust");
        assert_eq!(record.owner(), None);
        record.roles.insert("alice".into(), Role::Op);
        record.roles.insert("bob".into(), Role::Owner);
        assert_eq!(record.owner(), Some("bob"));
        assert_eq!(record.role_of("Alice"), Some(Role::Op));
        assert_eq!(record.role_of("carol"), None);
    }

    #[test]
    fn an_account_ban_follows_the_account_and_a_nick_ban_only_the_anonymous_nick() {
        let mut record = RoomRecord::new("rust");
        record
            .bans
            .push(sanction(Target::Account("bob".into()), None));
        record.bans.push(sanction(Target::Nick("eve".into()), None));
        // The account, whatever nick spelling, when logged in.
        assert!(record.banned(Some("Bob"), "Bob", 0).is_some());
        // Not logged in as bob: the account ban does not apply to the nick.
        assert!(record.banned(None, "bob", 0).is_none());
        assert!(record.banned(None, "EVE", 0).is_some());
        // Logged in (to an account named eve): the nick ban does not apply.
        assert!(record.banned(Some("eve"), "eve", 0).is_none());
        assert!(record.banned(Some("carol"), "carol", 0).is_none());
        // Mutes follow the same rule on their own list.
        assert!(record.muted(Some("bob"), "bob", 0).is_none());
        record.mutes = record.bans.clone();
        assert_eq!(
            record.muted(Some("bob"), "bob", 0).map(|s| &s.target),
            Some(&Target::Account("bob".into()))
        );
    }

    #[test]
    fn expired_sanctions_never_match_and_prune_drops_them() {
        let mut record = RoomRecord::new("rust");
        record
            .bans
            .push(sanction(Target::Account("bob".into()), Some(1_000)));
        record
            .mutes
            .push(sanction(Target::Nick("eve".into()), Some(2_000)));
        assert!(record.banned(Some("bob"), "bob", 999).is_some());
        assert!(record.banned(Some("bob"), "bob", 1_000).is_none());
        assert!(record.muted(None, "eve", 1_999).is_some());
        assert!(record.muted(None, "eve", 2_000).is_none());
        assert!(!record.prune(999));
        assert!(record.prune(1_500));
        assert_eq!((record.bans.len(), record.mutes.len()), (0, 1));
        assert!(record.prune(2_000));
        assert!(record.is_empty());
    }

    #[test]
    fn a_record_is_empty_only_without_roles_flags_bans_and_mutes() {
        let mut record = RoomRecord::new("rust");
        assert!(record.is_empty());
        record.flags.topic_lock = true;
        assert!(!record.is_empty());
        record.flags = RoomFlags::default();
        record.roles.insert("bob".into(), Role::Voice);
        assert!(!record.is_empty());
        record.roles.clear();
        record
            .mutes
            .push(sanction(Target::Nick("eve".into()), None));
        assert!(!record.is_empty());
    }

    #[test]
    fn a_record_written_without_the_optional_fields_reads_back() {
        let record: RoomRecord = serde_json::from_str(r#"{"room":"rust"}"#).unwrap();
        assert_eq!(record, RoomRecord::new("rust"));
    }

    /// The behaviour every [`Registry`] must have; each implementation's
    /// tests run it.
    pub(super) fn exercise(registry: &dyn Registry) {
        let alice = AccountRecord {
            name: "Alice".into(),
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            suspended: false,
            created: "2026-01-02T03:04:05.678Z".into(),
        };
        assert_eq!(registry.account("alice").unwrap(), None);
        assert!(registry.create_account(&alice).unwrap());
        // Account names are unique case-insensitively.
        let mut impostor = alice.clone();
        impostor.name = "ALICE".into();
        assert!(!registry.create_account(&impostor).unwrap());
        assert_eq!(registry.account("aLiCe").unwrap(), Some(alice.clone()));

        let mut suspended = alice.clone();
        suspended.suspended = true;
        suspended.hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI".into();
        assert!(registry.update_account(&suspended).unwrap());
        assert_eq!(registry.account("Alice").unwrap(), Some(suspended));
        let mut nobody = alice.clone();
        nobody.name = "nobody".into();
        assert!(!registry.update_account(&nobody).unwrap());
        assert_eq!(registry.account("nobody").unwrap(), None);

        let bob = AccountRecord {
            name: "bob".into(),
            ..alice.clone()
        };
        assert!(registry.create_account(&bob).unwrap());

        // Rooms: a round trip, sorted listing, and empty records removed.
        let mut rust = RoomRecord::new("rust");
        rust.roles.insert("alice".into(), Role::Owner);
        rust.roles.insert("bob".into(), Role::Op);
        rust.bans.push(Sanction {
            target: Target::Nick("eve".into()),
            by: "Alice".into(),
            reason: Some("spam".into()),
            until: Some(1_800_000_000_000),
        });
        let mut chat = RoomRecord::new("chat");
        chat.roles.insert("alice".into(), Role::Voice);
        let mut quiet = RoomRecord::new("quiet");
        quiet.flags.moderated = true;
        for record in [&rust, &chat, &quiet] {
            registry.put_room(record).unwrap();
        }
        assert_eq!(registry.room("rust").unwrap(), Some(rust.clone()));
        assert_eq!(registry.room("nowhere").unwrap(), None);
        let names: Vec<String> = registry
            .rooms()
            .unwrap()
            .into_iter()
            .map(|r| r.room)
            .collect();
        assert_eq!(names, ["chat", "quiet", "rust"]);
        quiet.flags = RoomFlags::default();
        registry.put_room(&quiet).unwrap();
        assert_eq!(registry.room("quiet").unwrap(), None);
        // Putting an empty record of a room without one is a no-op.
        registry.put_room(&RoomRecord::new("void")).unwrap();
        assert_eq!(registry.rooms().unwrap().len(), 2);

        // Dropping alice takes her roles everywhere; "chat" is left empty and goes.
        assert!(registry.drop_account("ALICE").unwrap());
        assert!(!registry.drop_account("alice").unwrap());
        assert_eq!(registry.account("alice").unwrap(), None);
        let mut rust_after = rust.clone();
        rust_after.roles.remove("alice");
        assert_eq!(registry.rooms().unwrap(), [rust_after.clone()]);
        assert_eq!(registry.room("rust").unwrap().unwrap().owner(), None);
        assert_eq!(registry.account("bob").unwrap(), Some(bob));
        // The name is free again.
        assert!(registry.create_account(&alice).unwrap());
    }

    #[test]
    fn the_memory_registry_behaves_like_a_registry() {
        exercise(&MemoryRegistry::default());
    }
}
