//! The conversation's side of protocol 1.2: logging in with `/login` (the
//! protocol logs in only at `hello`, so a logged-in session connects again),
//! the answers to account, moderation and operator requests, and a room the
//! user was put out of (kicked, banned).

use crate::protocol::incoming::Reply;
use crate::protocol::moderation::{AccountRequest, Extended, ModRequest, OperatorRequest};
use crate::protocol::names::RoomName;
use crate::protocol::request::Request;

use super::super::update::{Done, Update};
use super::{is_message_to, Chat, Origin, Outgoing};

impl Chat {
    /// `/login`: remembers the password for the session, then says `hello`
    /// with it, on this connection when it is not registered yet, or else
    /// on a new one (quit, reconnect at once, rejoin and catch up).
    pub(super) fn login(&mut self, password: String) -> Outgoing {
        self.account_password = Some(password);
        self.password_typed = true;
        if self.needs_login {
            self.needs_login = false;
            return self.hello();
        }
        self.relogin = true;
        Outgoing {
            request: Request::Quit {
                reason: Some("logging in".into()),
            },
            origin: Origin::Setup,
            retries: 0,
        }
    }

    /// The user is out of a room (kicked, banned, or its rejoin failed): it
    /// is forgotten, so no reconnect rejoins it, and a message to it that
    /// was left unconfirmed by a drop is not resent.
    pub(super) fn removed(&mut self, room: RoomName) {
        self.rooms.leave(&room);
        self.unconfirmed.retain(|o| !is_message_to(o, &room));
        if self.current.as_ref() == Some(&room) {
            self.current = self.rooms.last().cloned();
        }
        self.face.update(Update::Removed {
            room,
            current: self.current.clone(),
        });
    }

    /// The `ok` of an account, moderation or operator request. What a room
    /// event shows (to a member of the room) is not said twice.
    pub(super) fn on_extended(&mut self, reply: Reply, request: &Extended) {
        let done = match (reply, request) {
            (
                Reply::Account(ok),
                Extended::Account(AccountRequest::Register { nick, password }),
            ) => {
                let own = nick.is_none();
                if own {
                    // A reconnect logs in to the new account.
                    self.account_password = Some(password.clone());
                    self.account = Some(ok.account.clone());
                }
                self.face.update(Update::Done(Done::Registered {
                    account: ok.account.clone(),
                    logged_in: own,
                }));
                if own {
                    self.face.update(Update::LoggedIn(Some(ok.account)));
                }
                return;
            }
            (_, Extended::Account(AccountRequest::SetPassword { new, .. })) => {
                self.account_password = Some(new.clone());
                Done::PasswordChanged
            }
            (_, Extended::Account(AccountRequest::DropAccount { .. })) => {
                self.account_password = None;
                let account = self.account.take().unwrap_or_else(|| self.nick.clone());
                self.face
                    .update(Update::Done(Done::AccountDropped(account)));
                self.face.update(Update::LoggedIn(None));
                return;
            }
            (Reply::Flags(ok), Extended::Moderate(ModRequest::Flags { changes, .. })) => {
                let read = changes.is_empty();
                let unchanged = !read && ok.seq.is_none();
                if !read && self.saw_event(&ok.room, ok.seq) {
                    return;
                }
                Done::Flags {
                    room: ok.room,
                    flags: ok.flags,
                    unchanged,
                }
            }
            (Reply::Invite(ok), _) => Done::Invited {
                room: ok.room,
                nick: ok.nick,
            },
            (Reply::Moderation(ok), Extended::Moderate(_)) => {
                let changed = ok.seq.is_some();
                if self.saw_event(&ok.room, ok.seq) {
                    return;
                }
                Done::Moderated {
                    room: ok.room,
                    kind: request.kind(),
                    changed,
                }
            }
            (_, Extended::Operator(OperatorRequest::Kill { nick, .. })) => {
                Done::Killed(nick.clone())
            }
            (_, Extended::Operator(OperatorRequest::Suspend { account, .. })) => {
                Done::Suspended(account.clone())
            }
            (_, Extended::Operator(OperatorRequest::Unsuspend { account })) => {
                Done::Unsuspended(account.clone())
            }
            // An answer of the wrong shape was refused before it got here.
            _ => return,
        };
        self.face.update(Update::Done(done));
    }

    /// Whether the room event an `ok` names came in (to a member of the
    /// room, right before the `ok`).
    pub(super) fn saw_event(&self, room: &RoomName, seq: Option<u64>) -> bool {
        match (&self.last_event, seq) {
            (Some((seen, last)), Some(seq)) => seen == room && *last == seq,
            _ => false,
        }
    }
}
