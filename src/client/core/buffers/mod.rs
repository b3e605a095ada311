//! The full-screen client's buffers: the server buffer, one per room and one
//! per private conversation, each with its lines, its unread and mention
//! counts and the place the user left it; which buffer is focused; and the
//! session state a status line shows (nick, connection, queued lines).
//!
//! The face feeds every [`Update`] of the conversation to [`Buffers::apply`]
//! and draws from what this model holds. Nothing here draws, reads a clock or
//! does I/O (time comes in as a parameter), so every rule is a unit test.
//!
//! Text: notice, error and marker lines, and a reconnect's reason, are ready
//! to draw (whatever came from the server in them went through [`clean`]).
//! Everything else is kept as received (message texts, events, topics, nicks
//! and the titles made of them), because the face lays it out itself: it
//! cleans it when drawing, as the line client does.
//!
//! - `buffer`: one buffer's lines, marker, pending messages and members
//! - `history`: pages of older messages, put in place by seq and epoch

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::client::commands::HELP;
use crate::client::render::{self, clean, clean_text, rejoined, restarted};
use crate::protocol::epoch::Epoch;
use crate::protocol::frames::{Event, Message, RoomSummary};
use crate::protocol::incoming::{HistoryAnswer, JoinAnswer, ServerEvent};
use crate::protocol::moderation::MemberDetail;
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::{HistoryPage, Request, Target};

use super::update::Update;

mod buffer;
mod history;
#[cfg(test)]
mod tests;

/// Most lines a buffer keeps. Older ones are dropped; a room's are fetched
/// again from the server when the user scrolls back to them.
pub const MAX_LINES: usize = 2000;

/// How long someone counts as typing after their last typing notice.
pub const TYPING_FOR: Duration = Duration::from_secs(6);

/// The server buffer is always first and never goes.
const SERVER: usize = 0;

/// Which conversation a buffer holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BufferKey {
    /// The server's own lines: connection news, answers with no room.
    Server,
    Room(RoomName),
    /// A private conversation, by the other party's [`Nick::key`].
    Private(String),
}

/// One buffer of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    /// The conversation, which never changes but for a private buffer whose
    /// partner changed nick.
    pub key: BufferKey,
    /// The server's name, `#room`, or the other party's nick as last spelled.
    pub title: String,
    /// Oldest first.
    pub lines: VecDeque<Line>,
    /// Messages from others that arrived while the buffer was not focused.
    pub unread: usize,
    /// Those of them that mention the user.
    pub mentions: usize,
    /// The id of the first line not yet seen when the user left the buffer:
    /// every line that was there then has a lower id. See [`Buffer::marker_at`].
    pub marker: Option<u64>,
    /// A room's topic, as received.
    pub topic: String,
    /// A room's members, sorted by [`Nick::key`].
    pub members: Vec<Nick>,
    /// The server holds older messages of this room than the buffer does.
    pub more_before: bool,
    /// The numbering the room's seqs belong to, when the server said.
    pub epoch: Option<Epoch>,
    /// The user is no longer in this room (kicked, banned, or its rejoin
    /// failed): the buffer stays, to show why, until closed or joined again.
    pub parted: bool,
    /// A page of older messages was asked for and not answered yet.
    fetching: bool,
    /// The user is scrolling back through older pages: nothing is trimmed
    /// meanwhile, so the whole history the server holds stays one scroll
    /// away. What was read back goes once the user returns to the newest
    /// lines or leaves the buffer ([`Buffers::back_to_newest`]).
    reading_back: bool,
}

/// One line of a buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Unique among all buffers, increasing in the order lines were made.
    pub id: u64,
    /// The server's RFC 3339 timestamp; `None` for the client's own lines
    /// and messages not yet accepted.
    pub ts: Option<String>,
    /// The place in the room's numbering.
    pub seq: Option<u64>,
    pub kind: LineKind,
    /// A message from someone else that names the user, or a private one.
    pub mention: bool,
}

/// What a line shows.
#[derive(Debug, Clone, PartialEq)]
pub enum LineKind {
    Message {
        from: Nick,
        text: String,
        action: bool,
        delivery: Delivery,
    },
    /// Join, leave, nick, topic and events of types this build does not know.
    Event(ServerEvent),
    /// The client's own lines: answers to commands, connection news.
    Notice(String),
    Error(String),
    /// A catch-up's milestone: a rejoin, a restart of the numbering.
    Marker(String),
}

/// How far one of the user's messages got; others' messages are `Sent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent, not yet accepted by the server.
    Pending,
    Sent,
    /// Refused, or it may not have arrived: why.
    Failed(String),
}

/// The connection, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Online,
    /// Connected, but the server refused the nick until the user logs in
    /// (`/login`) or picks another (`/nick`).
    NeedsLogin,
    /// Dropped; the next try is `at`.
    Reconnecting {
        reason: String,
        at: Instant,
    },
}

/// What an update asks of the face beyond redrawing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effects {
    /// A message mentions the user or a private one arrived (the face decides
    /// whether to ring).
    pub bell: bool,
    /// Another buffer is focused now (a join, `/switch`, a leave): the face
    /// resets its scrolling.
    pub refocused: bool,
}

/// What closing a buffer takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// Leave this room: the buffer goes when [`Update::Left`] arrives.
    Leave(RoomName),
    /// The private buffer is gone.
    Closed,
    /// The server buffer stays.
    No,
}

/// Words to complete a nick or room name with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// The focused room's members, or the other party of a private buffer.
    pub here: Vec<String>,
    /// Every other nick the client knows, sorted.
    pub others: Vec<String>,
    /// The rooms the user is in, without `#`, in list order.
    pub rooms: Vec<String>,
}

/// Every buffer, which one is focused, and the session's state.
#[derive(Debug)]
pub struct Buffers {
    server: String,
    me: Option<Nick>,
    /// The account the connection is logged in to.
    account: Option<Nick>,
    connection: Connection,
    queued: usize,
    /// The server buffer first, then rooms and private buffers as opened.
    buffers: Vec<Buffer>,
    focused: usize,
    next_id: u64,
    typing: Vec<Typing>,
}

/// Someone typing somewhere, since their last notice.
#[derive(Debug)]
struct Typing {
    buffer: BufferKey,
    nick: Nick,
    at: Instant,
}

impl Buffers {
    /// The server buffer alone, focused, before the first connection.
    pub fn new(server: &str) -> Buffers {
        Buffers {
            server: server.to_owned(),
            me: None,
            account: None,
            connection: Connection::Connecting,
            queued: 0,
            buffers: vec![Buffer::new(BufferKey::Server, server.to_owned())],
            focused: SERVER,
            next_id: 1,
            typing: Vec::new(),
        }
    }

    /// The user's nick, once registered.
    pub fn me(&self) -> Option<&Nick> {
        self.me.as_ref()
    }

    /// The account the connection is logged in to, as the server said.
    pub fn account(&self) -> Option<&Nick> {
        self.account.as_ref()
    }

    /// The server's name, as [`Buffers::new`] was given it.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether the client is online, connecting or waiting to reconnect.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// How many of the user's lines and requests wait for the connection.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Every buffer, in list order.
    pub fn buffers(&self) -> &[Buffer] {
        &self.buffers
    }

    /// The buffer at `index` in the list.
    pub fn buffer(&self, index: usize) -> Option<&Buffer> {
        self.buffers.get(index)
    }

    /// The index of the buffer holding this conversation.
    pub fn position(&self, key: &BufferKey) -> Option<usize> {
        self.buffers.iter().position(|buffer| &buffer.key == key)
    }

    /// The index of the focused buffer.
    pub fn focused(&self) -> usize {
        self.focused
    }

    /// The focused buffer (there always is one: the server buffer stays).
    pub fn focused_buffer(&self) -> &Buffer {
        &self.buffers[self.focused]
    }

    /// Focuses a buffer; whether the focus moved.
    pub fn focus(&mut self, index: usize) -> bool {
        self.set_focus(index)
    }

    /// The next buffer in the list, the first after the last.
    pub fn focus_next(&mut self) -> bool {
        self.set_focus((self.focused + 1) % self.buffers.len())
    }

    /// The previous buffer in the list, the last before the first.
    pub fn focus_prev(&mut self) -> bool {
        let count = self.buffers.len();
        self.set_focus((self.focused + count - 1) % count)
    }

    /// Jumps to the next buffer with mentions, else the next with unread
    /// messages, looking in list order after the focused one; whether it
    /// moved.
    pub fn focus_active(&mut self) -> bool {
        let count = self.buffers.len();
        let order: Vec<usize> = (1..count)
            .map(|step| (self.focused + step) % count)
            .collect();
        let with = |test: fn(&Buffer) -> bool| {
            order
                .iter()
                .copied()
                .find(|&index| test(&self.buffers[index]))
        };
        match with(|b| b.mentions > 0).or_else(|| with(|b| b.unread > 0)) {
            Some(index) => self.set_focus(index),
            None => false,
        }
    }

    /// Opens the private buffer with `nick`, or finds it, and focuses it
    /// (`/query`); its index.
    pub fn open_private(&mut self, nick: &Nick) -> usize {
        let index = self.private(nick, false);
        self.set_focus(index);
        index
    }

    /// Closes a buffer, or says what that takes.
    pub fn close(&mut self, index: usize) -> Close {
        match self.buffers.get(index).map(|buffer| &buffer.key) {
            Some(BufferKey::Room(_)) if self.buffers[index].parted => {
                self.remove(index);
                Close::Closed
            }
            Some(BufferKey::Room(room)) => Close::Leave(room.clone()),
            Some(BufferKey::Private(_)) => {
                self.remove(index);
                Close::Closed
            }
            Some(BufferKey::Server) | None => Close::No,
        }
    }

    /// Who is typing in the focused buffer at `now`, sorted.
    pub fn typing_here(&self, now: Instant) -> Vec<Nick> {
        let here = &self.buffers[self.focused].key;
        let mut nicks: Vec<Nick> = self
            .typing
            .iter()
            .filter(|typing| &typing.buffer == here && still_typing(typing, now))
            .map(|typing| typing.nick.clone())
            .collect();
        nicks.sort_by_key(Nick::key);
        nicks
    }

    /// Nicks and rooms to complete with, the user's own nick left out.
    pub fn completion(&self) -> Completion {
        let focused = &self.buffers[self.focused];
        let mine = self.me.as_ref().map(Nick::key);
        let mut seen: HashSet<String> = mine.into_iter().collect();
        let mut here = Vec::new();
        for nick in known_nicks(focused) {
            if seen.insert(nick.to_ascii_lowercase()) {
                here.push(nick.to_owned());
            }
        }
        let mut others = Vec::new();
        for buffer in &self.buffers {
            for nick in known_nicks(buffer) {
                if seen.insert(nick.to_ascii_lowercase()) {
                    others.push(nick.to_owned());
                }
            }
        }
        others.sort_by_key(|nick| nick.to_ascii_lowercase());
        let rooms = self
            .buffers
            .iter()
            .filter_map(|buffer| match &buffer.key {
                BufferKey::Room(room) => Some(room.as_str().to_owned()),
                _ => None,
            })
            .collect();
        Completion {
            here,
            others,
            rooms,
        }
    }

    /// Folds one update of the conversation into the buffers.
    pub fn apply(&mut self, update: Update, now: Instant) -> Effects {
        let before = self.buffers[self.focused].key.clone();
        let bell = self.dispatch(update, now);
        Effects {
            bell,
            refocused: self.buffers[self.focused].key != before,
        }
    }

    /// Whether to ring.
    fn dispatch(&mut self, update: Update, now: Instant) -> bool {
        match update {
            Update::Connected {
                server,
                version,
                nick,
                motd,
            } => self.connected(&server, &version, nick, motd.as_deref()),
            Update::Reconnected { nick } => {
                self.notice(SERVER, format!("reconnected as {}", clean(nick.as_str())));
                self.online(nick);
            }
            Update::LoggedIn(account) => {
                if account != self.account {
                    if account.is_some() || self.account.is_some() {
                        self.notice(SERVER, render::logged_in(account.as_ref()));
                    }
                    self.account = account;
                }
            }
            Update::NeedsLogin { nick, refusal } => {
                self.connection = Connection::NeedsLogin;
                let text = render::needs_login(&nick, refusal.as_deref());
                self.add(self.focused, LineKind::Error(text));
            }
            Update::Removed { room, .. } => return self.removed(&room),
            Update::Done(done) => self.notice_here(render::done(&done)),
            Update::Reconnecting { reason, delay } => self.reconnecting(&reason, delay, now),
            Update::Queued(count) => self.queued = count,
            Update::Joined { answer, current } => self.joined(answer, current),
            Update::Left { room, .. } => {
                if let Some(index) = self.room_index(&room) {
                    self.remove(index);
                }
            }
            Update::Rejoining {
                room,
                topic,
                members,
            } => {
                // What changed while the connection was down.
                self.with_room(&room, |buffer| {
                    buffer.topic = topic;
                    buffer.set_members(members);
                });
            }
            Update::Switched(room) => {
                if let Some(index) = self.room_index(&room) {
                    self.set_focus(index);
                }
            }
            Update::Event(event) => return self.event(event),
            Update::Typing { room, nick, active } => self.typing(room, nick, active, now),
            Update::History { page, answer } => self.history(page, answer),
            Update::Pending {
                target,
                text,
                action,
            } => self.pending(&target, text, action),
            Update::PrivateSent(message) => self.private_sent(message),
            Update::NotSent {
                target,
                text,
                action,
                reason,
            } => self.not_sent(&target, &text, action, reason),
            Update::NickChanged(nick) => {
                self.notice_here(format!("you are now {}", clean(nick.as_str())));
                self.me = Some(nick);
            }
            Update::Rooms { rooms, first } => self.room_list(&rooms, first),
            Update::Who { room, members } => self.who(&room, members),
            Update::Topic { room, topic } => self.notice_here(render::topic(&room, &topic)),
            Update::Help => {
                for line in HELP {
                    self.notice_here((*line).to_owned());
                }
            }
            Update::Restarted(room) => {
                let index = self.room_index(&room).unwrap_or(SERVER);
                if index != SERVER {
                    self.buffers[index].forget_numbering();
                }
                self.add(index, LineKind::Marker(restarted(&room)));
            }
            Update::Rejoined(summary) => {
                let index = self.room_index(&summary.room).unwrap_or(SERVER);
                self.add(index, LineKind::Marker(rejoined(&summary)));
            }
            Update::Resending => {
                self.notice_here("resending a message the server never stored".to_owned())
            }
            Update::Status(text) => self.notice_here(clean(&text)),
            Update::Error(text) => {
                // The conversation does not say which request failed: it may
                // be a page of older messages, which must not stay "on its
                // way" for ever. Asking again is harmless (seqs already held
                // are skipped).
                for buffer in &mut self.buffers {
                    buffer.fetching = false;
                }
                self.add(self.focused, LineKind::Error(clean(&text)));
            }
            Update::Frame(_) => {}
        }
        false
    }

    fn connected(&mut self, server: &str, version: &str, nick: Nick, motd: Option<&str>) {
        self.notice(SERVER, render::connected(server, version, &nick));
        for line in clean_text(motd.unwrap_or_default(), true).lines() {
            self.notice(SERVER, line.to_owned());
        }
        self.online(nick);
    }

    fn online(&mut self, nick: Nick) {
        self.me = Some(nick);
        self.connection = Connection::Online;
    }

    fn reconnecting(&mut self, reason: &str, delay: Duration, now: Instant) {
        self.notice(SERVER, render::connection_lost(reason, delay));
        let reason = clean(reason);
        self.connection = Connection::Reconnecting {
            reason,
            at: now + delay,
        };
        // A page asked for may be lost with the connection (asking again is
        // harmless), and who was typing is unknown until notices come again.
        for buffer in &mut self.buffers {
            buffer.fetching = false;
        }
        self.typing.clear();
    }

    fn joined(&mut self, answer: JoinAnswer, current: bool) {
        let index = match self.room_index(&answer.room) {
            Some(index) => index,
            None => {
                let title = format!("#{}", answer.room.as_str());
                self.buffers
                    .push(Buffer::new(BufferKey::Room(answer.room), title));
                self.buffers.len() - 1
            }
        };
        let buffer = &mut self.buffers[index];
        buffer.parted = false;
        buffer.topic = answer.topic;
        buffer.set_members(answer.members);
        self.adopt_epoch(index, answer.epoch);
        self.merge(index, answer.history, answer.more);
        if current {
            self.set_focus(index);
        }
    }

    /// A room event or private message; whether to ring.
    fn event(&mut self, event: ServerEvent) -> bool {
        let event = match event {
            ServerEvent::Known(Event::Message(message)) => return self.message(message),
            other => other,
        };
        match &event {
            ServerEvent::Known(Event::Join { room, nick, .. }) => {
                self.with_room(room, |buffer| buffer.add_member(nick));
            }
            ServerEvent::Known(Event::Leave { room, nick, .. }) => {
                self.with_room(room, |buffer| {
                    buffer.remove_member(nick);
                });
            }
            ServerEvent::Known(Event::Topic { room, topic, .. }) => {
                self.with_room(room, |buffer| buffer.topic = topic.clone());
            }
            ServerEvent::Known(Event::Nick { old, new, .. }) => {
                self.renamed(old, new, &event);
                return false;
            }
            // Typing comes as its own update; pings and byes are the
            // connection's business.
            ServerEvent::Known(Event::Typing { .. } | Event::Ping | Event::Bye { .. }) => {
                return false
            }
            // Whoever is kicked or banned is out of the room: the event is
            // their departure (no `leave` follows).
            ServerEvent::Known(Event::Kick { action, nick, .. }) => {
                self.with_room(&action.room, |buffer| {
                    buffer.remove_member(nick);
                });
            }
            ServerEvent::Known(Event::Ban(sanction)) => {
                if let Some(nick) = sanction.account.as_ref().or(sanction.nick.as_ref()) {
                    self.with_room(&sanction.action.room, |buffer| {
                        buffer.remove_member(nick);
                    });
                }
            }
            // An invitation is the user's own news, wherever it is from: in
            // the server buffer, counted like a private message.
            ServerEvent::Known(Event::Invite { .. }) => {
                let mut line = self.event_line(event);
                line.mention = true;
                self.arrive(SERVER, line, true);
                return true;
            }
            ServerEvent::Known(_) | ServerEvent::Unknown(_) => {}
        }
        let index = event
            .room()
            .and_then(|room| self.room_index(&room))
            .unwrap_or(SERVER);
        let line = self.event_line(event);
        self.arrive(index, line, false);
        false
    }

    /// A live message; whether to ring.
    fn message(&mut self, message: Message) -> bool {
        let from_me = self.is_me(&message.from);
        let index = match &message.room {
            Some(room) => self.room_index(room).unwrap_or(SERVER),
            None => {
                // The server spells `to` as its owner does.
                let partner = match (&message.to, from_me) {
                    (Some(to), true) => to,
                    _ => &message.from,
                };
                self.private(partner, true)
            }
        };
        let key = self.buffers[index].key.clone();
        let author = message.from.key();
        self.typing
            .retain(|typing| !(typing.buffer == key && typing.nick.key() == author));
        if from_me && self.confirm(index, &message) {
            return false;
        }
        let line = self.message_line(message, Delivery::Sent);
        let mention = line.mention;
        self.arrive(index, line, !from_me);
        mention
    }

    /// Turns the user's first pending line with this text into the message
    /// the server accepted, where it stands; whether there was one.
    fn confirm(&mut self, index: usize, message: &Message) -> bool {
        let Some(line) = self.buffers[index].pending_mut(&message.text, message.action) else {
            return false;
        };
        line.ts = Some(message.ts.clone());
        line.seq = message.seq;
        if let LineKind::Message { from, delivery, .. } = &mut line.kind {
            *from = message.from.clone();
            *delivery = Delivery::Sent;
        }
        true
    }

    fn renamed(&mut self, old: &Nick, new: &Nick, event: &ServerEvent) {
        if self.is_me(old) {
            self.me = Some(new.clone());
        }
        let (old_key, new_key) = (old.key(), new.key());
        self.typing.retain(|typing| typing.nick.key() != old_key);
        // Two buffers with one key would be one conversation split in two:
        // an old one with the new nick keeps its place.
        let taken = old_key != new_key && self.private_index(&new_key).is_some();
        let mut had = Vec::new();
        for (index, buffer) in self.buffers.iter_mut().enumerate() {
            let holds = match &buffer.key {
                BufferKey::Room(_) => buffer.rename_member(old, new),
                BufferKey::Private(key) if *key == old_key && !taken => {
                    buffer.key = BufferKey::Private(new_key.clone());
                    buffer.title = new.as_str().to_owned();
                    true
                }
                _ => false,
            };
            if holds {
                had.push(index);
            }
        }
        for index in had {
            let line = self.event_line(event.clone());
            self.arrive(index, line, false);
        }
    }

    fn typing(&mut self, room: Option<RoomName>, nick: Nick, active: bool, now: Instant) {
        if self.is_me(&nick) {
            return;
        }
        let buffer = match room {
            Some(room) => BufferKey::Room(room),
            None => BufferKey::Private(nick.key()),
        };
        let key = nick.key();
        self.typing.retain(|typing| {
            still_typing(typing, now) && !(typing.buffer == buffer && typing.nick.key() == key)
        });
        if active {
            self.typing.push(Typing {
                buffer,
                nick,
                at: now,
            });
        }
    }

    fn pending(&mut self, target: &Target, text: String, action: bool) {
        // Nothing goes out before registration, which names the user.
        let Some(me) = self.me.clone() else {
            return;
        };
        let index = self.target_index(target, true).unwrap_or(SERVER);
        let kind = LineKind::Message {
            from: me,
            text,
            action,
            delivery: Delivery::Pending,
        };
        self.add(index, kind);
    }

    fn private_sent(&mut self, message: Message) {
        let partner = message.to.clone().unwrap_or_else(|| message.from.clone());
        let index = self.private(&partner, true);
        if !self.confirm(index, &message) {
            let line = self.message_line(message, Delivery::Sent);
            self.arrive(index, line, false);
        }
    }

    fn not_sent(&mut self, target: &Target, text: &str, action: bool, reason: String) {
        let line = self
            .target_index(target, false)
            .and_then(|index| self.buffers[index].pending_mut(text, action));
        match line {
            Some(line) => {
                if let LineKind::Message { delivery, .. } = &mut line.kind {
                    *delivery = Delivery::Failed(reason);
                }
            }
            None => {
                let place = match target {
                    Target::Room(room) => format!("#{}", clean(room.as_str())),
                    Target::User(nick) => clean(nick.as_str()),
                };
                let text = format!("a message to {place} was not sent: {}", clean(&reason));
                self.add(self.focused, LineKind::Error(text));
            }
        }
    }

    fn room_list(&mut self, rooms: &[RoomSummary], first: bool) {
        // A later page that came back empty (rooms went meanwhile) is not
        // "no rooms".
        if rooms.is_empty() && first {
            self.notice_here("no rooms yet: /join ROOM creates one".to_owned());
        }
        for room in rooms {
            let topic = match room.topic.as_str() {
                "" => String::new(),
                topic => format!(" - {}", clean(topic)),
            };
            let text = format!("#{} ({}){topic}", clean(room.room.as_str()), room.members);
            self.notice_here(text);
        }
    }

    fn who(&mut self, room: &RoomName, members: Vec<MemberDetail>) {
        let text = render::who(room, &members);
        let nicks = members.into_iter().map(|member| member.nick).collect();
        self.with_room(room, |buffer| buffer.set_members(nicks));
        self.notice_here(text);
    }

    /// The user is out of a room: its buffer stays, says so, and counts as
    /// a mention while it is not looked at; whether to ring.
    fn removed(&mut self, room: &RoomName) -> bool {
        let Some(index) = self.room_index(room) else {
            return false;
        };
        let focused = index == self.focused;
        let buffer = &mut self.buffers[index];
        buffer.parted = true;
        buffer.members.clear();
        if !focused {
            buffer.unread += 1;
            buffer.mentions += 1;
        }
        self.typing
            .retain(|typing| typing.buffer != BufferKey::Room(room.clone()));
        self.notice(index, render::removed(room));
        true
    }

    fn is_me(&self, nick: &Nick) -> bool {
        self.me.as_ref().is_some_and(|me| me.key() == nick.key())
    }

    fn room_index(&self, room: &RoomName) -> Option<usize> {
        self.position(&BufferKey::Room(room.clone()))
    }

    fn private_index(&self, key: &str) -> Option<usize> {
        self.buffers
            .iter()
            .position(|buffer| matches!(&buffer.key, BufferKey::Private(held) if held == key))
    }

    /// The buffer a message to `target` goes to; a private one is opened
    /// when `open`.
    fn target_index(&mut self, target: &Target, open: bool) -> Option<usize> {
        match target {
            Target::Room(room) => self.room_index(room),
            Target::User(nick) if open => Some(self.private(nick, false)),
            Target::User(nick) => self.private_index(&nick.key()),
        }
    }

    /// The private buffer with `nick`, opened at the end of the list if
    /// need be; `spelled` when the server spelled the nick, which then
    /// becomes the title.
    fn private(&mut self, nick: &Nick, spelled: bool) -> usize {
        match self.private_index(&nick.key()) {
            Some(index) => {
                if spelled {
                    self.buffers[index].title = nick.as_str().to_owned();
                }
                index
            }
            None => {
                let key = BufferKey::Private(nick.key());
                self.buffers
                    .push(Buffer::new(key, nick.as_str().to_owned()));
                self.buffers.len() - 1
            }
        }
    }

    fn with_room(&mut self, room: &RoomName, change: impl FnOnce(&mut Buffer)) {
        if let Some(index) = self.room_index(room) {
            change(&mut self.buffers[index]);
        }
    }

    fn set_focus(&mut self, index: usize) -> bool {
        if index >= self.buffers.len() || index == self.focused {
            return false;
        }
        let next = self.next_id;
        self.back_to_newest(self.focused);
        let left = &mut self.buffers[self.focused];
        left.marker = (!left.lines.is_empty()).then_some(next);
        self.focused = index;
        self.seen(index);
        true
    }

    /// The user is back at a buffer's newest lines (or left it): what was
    /// read back beyond the usual number of lines goes, and can be fetched
    /// again.
    pub fn back_to_newest(&mut self, index: usize) {
        if let Some(buffer) = self.buffers.get_mut(index) {
            if buffer.reading_back {
                buffer.reading_back = false;
                buffer.trim();
            }
        }
    }

    fn seen(&mut self, index: usize) {
        let buffer = &mut self.buffers[index];
        buffer.unread = 0;
        buffer.mentions = 0;
    }

    /// Drops a buffer other than the server's; if it was focused, the one
    /// before it is.
    fn remove(&mut self, index: usize) {
        if index == SERVER || index >= self.buffers.len() {
            return;
        }
        let gone = self.buffers.remove(index);
        self.typing.retain(|typing| typing.buffer != gone.key);
        if index < self.focused {
            self.focused -= 1;
        } else if index == self.focused {
            self.focused = index - 1;
            self.seen(self.focused);
        }
    }

    fn make_line(
        &mut self,
        kind: LineKind,
        ts: Option<String>,
        seq: Option<u64>,
        mention: bool,
    ) -> Line {
        let id = self.next_id;
        self.next_id += 1;
        Line {
            id,
            ts,
            seq,
            kind,
            mention,
        }
    }

    fn message_line(&mut self, message: Message, delivery: Delivery) -> Line {
        let mention = self.mentions_me(&message);
        let kind = LineKind::Message {
            from: message.from,
            text: message.text,
            action: message.action,
            delivery,
        };
        self.make_line(kind, Some(message.ts), message.seq, mention)
    }

    fn event_line(&mut self, event: ServerEvent) -> Line {
        match event {
            ServerEvent::Known(Event::Message(message)) => {
                self.message_line(message, Delivery::Sent)
            }
            other => {
                let ts = event_ts(&other);
                let seq = other.seq();
                self.make_line(LineKind::Event(other), ts, seq, false)
            }
        }
    }

    /// A message from someone else that names the user, or any private one
    /// from someone else.
    fn mentions_me(&self, message: &Message) -> bool {
        match &self.me {
            Some(me) if me.key() != message.from.key() => {
                message.room.is_none() || names(&message.text, me)
            }
            _ => false,
        }
    }

    /// Adds a line; `counts` for a live message from someone else, which is
    /// unread while its buffer is not focused.
    fn arrive(&mut self, index: usize, line: Line, counts: bool) {
        let focused = index == self.focused;
        let buffer = &mut self.buffers[index];
        if counts && !focused {
            buffer.unread += 1;
            if line.mention {
                buffer.mentions += 1;
            }
        }
        buffer.push(line);
    }

    fn add(&mut self, index: usize, kind: LineKind) {
        let line = self.make_line(kind, None, None, false);
        self.buffers[index].push(line);
    }

    fn notice(&mut self, index: usize, text: String) {
        self.add(index, LineKind::Notice(text));
    }

    fn notice_here(&mut self, text: String) {
        self.notice(self.focused, text);
    }
}

fn still_typing(typing: &Typing, now: Instant) -> bool {
    now.saturating_duration_since(typing.at) < TYPING_FOR
}

/// The nicks a buffer knows: a room's members, a private buffer's partner.
fn known_nicks(buffer: &Buffer) -> Vec<&str> {
    match &buffer.key {
        BufferKey::Room(_) => buffer.members.iter().map(Nick::as_str).collect(),
        BufferKey::Private(_) => vec![buffer.title.as_str()],
        BufferKey::Server => Vec::new(),
    }
}

/// Whether `text` names `nick` as a word, in any case: a word is a run of
/// the characters a nick is made of.
fn names(text: &str, nick: &Nick) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .any(|word| word.eq_ignore_ascii_case(nick.as_str()))
}

/// The server's timestamp of an event, if it has one.
fn event_ts(event: &ServerEvent) -> Option<String> {
    match event {
        ServerEvent::Known(
            Event::Join { ts, .. }
            | Event::Leave { ts, .. }
            | Event::Nick { ts, .. }
            | Event::Topic { ts, .. },
        ) => Some(ts.clone()),
        ServerEvent::Known(Event::Message(message)) => Some(message.ts.clone()),
        ServerEvent::Known(Event::Invite { ts, .. }) => Some(ts.clone()),
        ServerEvent::Known(event) => event.room_action().map(|action| action.ts.clone()),
        ServerEvent::Unknown(unknown) => unknown
            .fields
            .get("ts")
            .and_then(|ts| ts.as_str())
            .map(str::to_owned),
    }
}
