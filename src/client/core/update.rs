//! What the conversation tells a face: every change the user may need to see,
//! as data rather than text. The line and scripting faces turn each update into
//! the lines they always printed; the full-screen face folds them into its
//! buffers (`core::buffers`). The conversation never formats anything itself,
//! so a new face needs no change here.

use std::time::Duration;

use crate::protocol::frames::{Message, RoomSummary};
use crate::protocol::incoming::{HistoryAnswer, JoinAnswer, ServerEvent};
use crate::protocol::moderation::{MemberDetail, RoomFlags};
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::{HistoryPage, Target};

use super::rooms::Summary;

/// Somewhere the conversation's updates go.
pub trait Face: Send {
    fn update(&mut self, update: Update);
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The first registration of the session succeeded.
    Connected {
        server: String,
        version: String,
        nick: Nick,
        motd: Option<String>,
    },
    /// Registered again after a dropped connection.
    Reconnected { nick: Nick },
    /// The account the connection is logged in to, `None` when it is not:
    /// after each registration (from `hello`'s `account`), and whenever it
    /// changes (`/register`, `/unregister`).
    LoggedIn(Option<Nick>),
    /// `hello` was refused in a way the connection survives: the nick is an
    /// account and no password was given (`refusal` `None`), or the
    /// server's message for another refusal (a suspended account). Nothing
    /// else is sent until `/login` or `/nick` is answered.
    NeedsLogin { nick: Nick, refusal: Option<String> },
    /// The connection dropped; the next attempt is in `delay`.
    Reconnecting { reason: String, delay: Duration },
    /// How many of the user's lines and requests wait for the connection.
    Queued(usize),
    /// A room the user asked to join was joined; `current` when it became
    /// the current room.
    Joined { answer: JoinAnswer, current: bool },
    /// The user left a room; `current` is the current room now.
    Left {
        room: RoomName,
        current: Option<RoomName>,
    },
    /// The user was kicked or banned from a room (the event itself comes as
    /// an [`Update::Event`] first): the room counts as left, and is not
    /// rejoined after a reconnect; `current` is the current room now.
    Removed {
        room: RoomName,
        current: Option<RoomName>,
    },
    /// The user made a room current (`/switch`).
    Switched(RoomName),
    /// A room event or private message, live or from a history page.
    Event(ServerEvent),
    /// Someone else is typing (rooms and private conversations).
    Typing {
        room: Option<RoomName>,
        nick: Nick,
        active: bool,
    },
    /// The answer to a `history` request the user (or a face) made.
    History {
        page: HistoryPage,
        answer: HistoryAnswer,
    },
    /// A message of the user's went out and waits for the server's `ok`.
    Pending {
        target: Target,
        text: String,
        action: bool,
    },
    /// A private message of the user's was accepted (the server sends no
    /// echo of it to the sender, unless it was to the sender).
    PrivateSent(Message),
    /// A message of the user's was refused, or may not have arrived.
    NotSent {
        target: Target,
        text: String,
        action: bool,
        reason: String,
    },
    /// The user's own nick changed.
    NickChanged(Nick),
    /// A page of the server's room list; `first` for the first page.
    Rooms {
        rooms: Vec<RoomSummary>,
        first: bool,
    },
    /// The members of a room, with their accounts and roles when the server
    /// gave them (protocol 1.2).
    Who {
        room: RoomName,
        members: Vec<MemberDetail>,
    },
    /// An account, moderation or operator request was carried out, and the
    /// user would not learn it from a room event.
    Done(Done),
    /// A room's topic as the client knows it (`/topic` with no text).
    Topic { room: RoomName, topic: String },
    /// The command list (`/help`).
    Help,
    /// A room's numbering restarted: what follows is what the server holds.
    Restarted(RoomName),
    /// A room was joined again after a reconnect: its topic and members as
    /// they are now (its messages follow as the catch-up shows them).
    Rejoining {
        room: RoomName,
        topic: String,
        members: Vec<Nick>,
    },
    /// A room's catch-up after a reconnect is over.
    Rejoined(Summary),
    /// A room message the catch-up shows never arrived is sent again.
    Resending,
    /// A status line of the client's own.
    Status(String),
    /// An error, shown whatever the style.
    Error(String),
    /// A server frame exactly as received (the JSON face prints it).
    Frame(String),
}

/// What a protocol 1.2 request of the user's did, when no room event shows
/// it (the faces word it alike, `render::done`).
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// `register`: the account was made; `logged_in` when it is the user's
    /// own nick (the connection is then logged in to it).
    Registered {
        account: Nick,
        logged_in: bool,
    },
    /// `set_password`.
    PasswordChanged,
    /// `drop_account`: the account is gone, the nick stays.
    AccountDropped(Nick),
    /// A moderation request (`kind`, its wire type) in a room whose events
    /// the user does not see (not a member), or that changed nothing
    /// (`changed` false: an unban of someone not banned).
    Moderated {
        room: RoomName,
        kind: &'static str,
        changed: bool,
    },
    /// A room's flags: read, set to what they were (`unchanged`), or changed
    /// in a room the user is not in.
    Flags {
        room: RoomName,
        flags: RoomFlags,
        unchanged: bool,
    },
    /// `invite`: the invitee was told.
    Invited {
        room: RoomName,
        nick: Nick,
    },
    Killed(Nick),
    Suspended(Nick),
    Unsuspended(Nick),
}
