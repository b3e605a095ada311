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

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::client::commands::HELP;
use crate::client::render::{clean, clean_text, rejoined, restarted};
use crate::protocol::epoch::Epoch;
use crate::protocol::frames::{Event, Message, RoomSummary};
use crate::protocol::incoming::{HistoryAnswer, JoinAnswer, ServerEvent};
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::{HistoryPage, Request, Target};

use super::update::Update;

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

impl Buffer {
    fn new(key: BufferKey, title: String) -> Buffer {
        Buffer {
            key,
            title,
            lines: VecDeque::new(),
            unread: 0,
            mentions: 0,
            marker: None,
            topic: String::new(),
            members: Vec::new(),
            more_before: false,
            epoch: None,
            fetching: false,
            reading_back: false,
        }
    }

    /// Where "new" goes: the index of the first line that came after the
    /// user left the buffer. `None` when nothing came since. Older messages
    /// fetched meanwhile were put in front, so the place is after the last
    /// line that was there, not before the first new id.
    pub fn marker_at(&self) -> Option<usize> {
        let marker = self.marker?;
        let at = self
            .lines
            .iter()
            .rposition(|line| line.id < marker)
            .map_or(0, |last_seen| last_seen + 1);
        (at < self.lines.len()).then_some(at)
    }

    /// Whether the marker is drawn: lines came after it.
    pub fn marker_visible(&self) -> bool {
        self.marker_at().is_some()
    }

    /// A page of older messages was asked for and not answered yet.
    pub fn is_fetching(&self) -> bool {
        self.fetching
    }

    fn oldest_seq(&self) -> Option<u64> {
        self.lines.iter().filter_map(|line| line.seq).min()
    }

    fn seqs(&self) -> HashSet<u64> {
        self.lines.iter().filter_map(|line| line.seq).collect()
    }

    fn push(&mut self, line: Line) {
        self.lines.push_back(line);
        self.trim();
    }

    fn trim(&mut self) {
        if self.reading_back {
            return;
        }
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
            // Only a room's lines can be fetched again.
            if matches!(self.key, BufferKey::Room(_)) {
                self.more_before = true;
            }
        }
    }

    /// The first of the user's lines to this buffer still waiting for the
    /// server, with this text.
    fn pending_mut(&mut self, text: &str, action: bool) -> Option<&mut Line> {
        self.lines.iter_mut().find(|line| {
            matches!(&line.kind, LineKind::Message {
                text: pending,
                action: was_action,
                delivery: Delivery::Pending,
                ..
            } if pending == text && *was_action == action)
        })
    }

    /// The room's numbering changed: the seqs held so far compare with
    /// nothing the server holds now, and nothing before them can be fetched.
    fn forget_numbering(&mut self) {
        for line in &mut self.lines {
            line.seq = None;
        }
        self.epoch = None;
        self.more_before = false;
    }

    fn set_members(&mut self, mut members: Vec<Nick>) {
        members.sort_by_key(Nick::key);
        self.members = members;
    }

    fn add_member(&mut self, nick: &Nick) {
        let key = nick.key();
        if let Err(at) = self.members.binary_search_by_key(&key, Nick::key) {
            self.members.insert(at, nick.clone());
        }
    }

    /// Whether the nick was a member.
    fn remove_member(&mut self, nick: &Nick) -> bool {
        let key = nick.key();
        let before = self.members.len();
        self.members.retain(|member| member.key() != key);
        self.members.len() != before
    }

    /// Whether `old` was a member.
    fn rename_member(&mut self, old: &Nick, new: &Nick) -> bool {
        let had = self.remove_member(old);
        if had {
            self.add_member(new);
        }
        had
    }
}

impl Buffers {
    /// The server buffer alone, focused, before the first connection.
    pub fn new(server: &str) -> Buffers {
        Buffers {
            server: server.to_owned(),
            me: None,
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
            Some(BufferKey::Room(room)) => Close::Leave(room.clone()),
            Some(BufferKey::Private(_)) => {
                self.remove(index);
                Close::Closed
            }
            Some(BufferKey::Server) | None => Close::No,
        }
    }

    /// The request for the messages before a room buffer's oldest, when the
    /// server holds more and none is on its way already. The buffer is being
    /// read back from now on: it keeps every page until
    /// [`Buffers::back_to_newest`].
    pub fn older_request(&mut self, index: usize) -> Option<Request> {
        let buffer = self.buffers.get_mut(index)?;
        let BufferKey::Room(room) = &buffer.key else {
            return None;
        };
        if !buffer.more_before || buffer.fetching {
            return None;
        }
        buffer.reading_back = true;
        let page = match buffer.oldest_seq() {
            Some(seq) => HistoryPage::Before(seq),
            None => HistoryPage::Newest,
        };
        let request = Request::History {
            room: room.clone(),
            page,
            limit: None,
            epoch: buffer.epoch.clone(),
        };
        buffer.fetching = true;
        Some(request)
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
            Update::Topic { room, topic } => self.notice_here(match topic.as_str() {
                "" => format!("#{} has no topic", clean(room.as_str())),
                topic => format!("#{} topic: {}", clean(room.as_str()), clean(topic)),
            }),
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
        self.notice(
            SERVER,
            format!(
                "connected to {} (confab {}) as {}",
                clean(server),
                clean(version),
                clean(nick.as_str())
            ),
        );
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
        let reason = clean(reason);
        self.notice(
            SERVER,
            format!(
                "connection lost ({reason}); reconnecting in {:.1}s",
                delay.as_secs_f64()
            ),
        );
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
            ServerEvent::Known(Event::Message(_)) | ServerEvent::Unknown(_) => {}
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

    fn history(&mut self, page: HistoryPage, answer: HistoryAnswer) {
        // A late answer for a room left meanwhile has nowhere to go.
        let Some(index) = self.room_index(&answer.room) else {
            return;
        };
        let fetching = std::mem::take(&mut self.buffers[index].fetching);
        self.adopt_epoch(index, answer.epoch);
        // `older_request` asks for the newest page when it holds no seq yet.
        let older =
            matches!(page, HistoryPage::Before(_)) || (fetching && page == HistoryPage::Newest);
        if older {
            self.prepend(index, answer.messages, answer.more);
            return;
        }
        if page == HistoryPage::Newest && answer.messages.is_empty() {
            let text = format!("no messages in #{}", clean(answer.room.as_str()));
            self.notice(index, text);
        }
        self.merge(index, answer.messages, answer.more);
    }

    /// Older messages in front of the buffer's lines, as many as fit.
    fn prepend(&mut self, index: usize, messages: Vec<ServerEvent>, more: bool) {
        let held = self.buffers[index].seqs();
        let mut fresh: Vec<ServerEvent> = messages
            .into_iter()
            .filter(|event| event.seq().is_none_or(|seq| !held.contains(&seq)))
            .collect();
        let room = if self.buffers[index].reading_back {
            usize::MAX
        } else {
            MAX_LINES.saturating_sub(self.buffers[index].lines.len())
        };
        // The page is oldest first: keep its newest, next to what is held.
        let cut = fresh.len().saturating_sub(room);
        let kept = fresh.split_off(cut);
        let lines: Vec<Line> = kept
            .into_iter()
            .map(|event| self.event_line(event))
            .collect();
        let buffer = &mut self.buffers[index];
        for line in lines.into_iter().rev() {
            buffer.lines.push_front(line);
        }
        buffer.more_before = more || cut > 0;
    }

    /// Messages put in seq order among the buffer's lines, those it holds
    /// already skipped; a backlog, so nothing counts as unread.
    fn merge(&mut self, index: usize, messages: Vec<ServerEvent>, more: bool) {
        let oldest = self.buffers[index].oldest_seq();
        let mut held = self.buffers[index].seqs();
        // Whether the page says anything about what lies before the buffer.
        let mut reaches_back = oldest.is_none();
        for event in messages {
            let seq = event.seq();
            if let Some(seq) = seq {
                if !held.insert(seq) {
                    continue;
                }
                reaches_back |= oldest.is_some_and(|oldest| seq < oldest);
            }
            let line = self.event_line(event);
            let lines = &mut self.buffers[index].lines;
            let at = seq
                .and_then(|seq| {
                    lines
                        .iter()
                        .position(|line| line.seq.is_some_and(|later| later > seq))
                })
                .unwrap_or(lines.len());
            lines.insert(at, line);
        }
        let buffer = &mut self.buffers[index];
        if reaches_back {
            buffer.more_before = more;
        }
        buffer.trim();
    }

    /// A new epoch in an answer: a different one means the room's numbering
    /// restarted, and seqs of the old one must not be compared with it.
    fn adopt_epoch(&mut self, index: usize, epoch: Option<Epoch>) {
        let Some(epoch) = epoch else {
            return;
        };
        let buffer = &mut self.buffers[index];
        if buffer.epoch.as_ref().is_some_and(|held| *held != epoch) {
            buffer.forget_numbering();
        }
        buffer.epoch = Some(epoch);
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

    fn who(&mut self, room: &RoomName, members: Vec<Nick>) {
        let names: Vec<String> = members.iter().map(|nick| clean(nick.as_str())).collect();
        let text = format!(
            "#{}: {} member{}: {}",
            clean(room.as_str()),
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
        self.with_room(room, |buffer| buffer.set_members(members));
        self.notice_here(text);
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
        ServerEvent::Known(Event::Typing { .. } | Event::Ping | Event::Bye { .. }) => None,
        ServerEvent::Unknown(unknown) => unknown
            .fields
            .get("ts")
            .and_then(|ts| ts.as_str())
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::core::rooms::{Numbering, Summary};
    use serde_json::{Map, Value};

    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn epoch(name: &str) -> Option<Epoch> {
        Some(Epoch::parse(name).unwrap())
    }

    fn said(room_name: &str, seq: u64, from: &str, text: &str) -> ServerEvent {
        ServerEvent::Known(Event::Message(Message {
            room: Some(room(room_name)),
            to: None,
            seq: Some(seq),
            ts: format!("2026-11-21T10:00:{:02}Z", seq % 60),
            from: nick(from),
            text: text.into(),
            action: false,
        }))
    }

    fn whispered(from: &str, to: &str, text: &str) -> Message {
        Message {
            room: None,
            to: Some(nick(to)),
            seq: None,
            ts: "2026-11-21T10:00:00Z".into(),
            from: nick(from),
            text: text.into(),
            action: false,
        }
    }

    fn answer(name: &str, history: Vec<ServerEvent>, more: bool) -> JoinAnswer {
        JoinAnswer {
            room: room(name),
            topic: format!("all about {name}"),
            members: vec![nick("bob"), nick("Ann"), nick("carol")],
            epoch: epoch("E1"),
            history,
            more,
        }
    }

    fn page(name: &str, messages: Vec<ServerEvent>, more: bool) -> HistoryAnswer {
        HistoryAnswer {
            room: room(name),
            epoch: epoch("E1"),
            messages,
            more,
        }
    }

    /// Connected as Ann, in #general (focused, index 1) and #random (2).
    fn session(now: Instant) -> Buffers {
        let mut buffers = Buffers::new("chat.example");
        buffers.apply(
            Update::Connected {
                server: "chat.example".into(),
                version: "0.1.0".into(),
                nick: nick("Ann"),
                motd: Some("welcome\nbe nice".into()),
            },
            now,
        );
        let joined = |name: &str, current| Update::Joined {
            answer: answer(name, vec![said(name, 1, "bob", "earlier")], false),
            current,
        };
        buffers.apply(joined("general", true), now);
        buffers.apply(joined("random", false), now);
        buffers
    }

    fn live(buffers: &mut Buffers, event: ServerEvent, now: Instant) -> Effects {
        buffers.apply(Update::Event(event), now)
    }

    fn index(buffers: &Buffers, key: BufferKey) -> usize {
        buffers.position(&key).unwrap()
    }

    fn seqs(buffer: &Buffer) -> Vec<u64> {
        buffer.lines.iter().filter_map(|line| line.seq).collect()
    }

    fn texts(buffer: &Buffer) -> Vec<String> {
        buffer
            .lines
            .iter()
            .map(|line| match &line.kind {
                LineKind::Message { text, .. } => text.clone(),
                LineKind::Notice(text) | LineKind::Error(text) | LineKind::Marker(text) => {
                    text.clone()
                }
                LineKind::Event(event) => format!("{event:?}"),
            })
            .collect()
    }

    fn deliveries(buffer: &Buffer) -> Vec<(String, Delivery)> {
        buffer
            .lines
            .iter()
            .filter_map(|line| match &line.kind {
                LineKind::Message { text, delivery, .. } => Some((text.clone(), delivery.clone())),
                _ => None,
            })
            .collect()
    }

    fn counts(buffer: &Buffer) -> (usize, usize) {
        (buffer.unread, buffer.mentions)
    }

    #[test]
    fn a_session_starts_in_the_server_buffer_and_joins_rooms_after_it() {
        let now = Instant::now();
        let buffers = Buffers::new("chat.example");
        assert_eq!(buffers.connection(), &Connection::Connecting);
        assert_eq!(buffers.focused_buffer().key, BufferKey::Server);
        assert_eq!(buffers.me(), None);
        let buffers = session(now);
        assert_eq!(buffers.me(), Some(&nick("Ann")));
        assert_eq!(buffers.connection(), &Connection::Online);
        assert_eq!(buffers.server(), "chat.example");
        let titles: Vec<&str> = buffers.buffers().iter().map(|b| b.title.as_str()).collect();
        assert_eq!(titles, ["chat.example", "#general", "#random"]);
        assert_eq!(
            texts(&buffers.buffers()[SERVER]),
            [
                "connected to chat.example (confab 0.1.0) as Ann",
                "welcome",
                "be nice"
            ]
        );
        let general = buffers.focused_buffer();
        assert_eq!(general.key, BufferKey::Room(room("general")));
        assert_eq!(general.topic, "all about general");
        let members: Vec<&str> = general.members.iter().map(Nick::as_str).collect();
        assert_eq!(members, ["Ann", "bob", "carol"]);
        assert_eq!(general.epoch, epoch("E1"));
        // History is backlog: it counts as read even where not focused.
        assert_eq!(counts(&buffers.buffers()[2]), (0, 0));
        assert_eq!(texts(&buffers.buffers()[2]), ["earlier"]);
    }

    #[test]
    fn unfocused_messages_count_as_unread_and_mentions_ring_until_focused() {
        let now = Instant::now();
        let mut buffers = session(now);
        let random = index(&buffers, BufferKey::Room(room("random")));

        let quiet = live(&mut buffers, said("random", 2, "bob", "lunch?"), now);
        assert!(!quiet.bell && !quiet.refocused);
        let loud = live(&mut buffers, said("random", 3, "bob", "ann: you in?"), now);
        assert!(loud.bell);
        assert_eq!(counts(&buffers.buffers()[random]), (2, 1));
        assert!(buffers.buffers()[random].lines.back().unwrap().mention);
        // Events are not messages; the user's own messages never count.
        live(
            &mut buffers,
            ServerEvent::Known(Event::Join {
                room: room("random"),
                nick: nick("dave"),
                ts: "t".into(),
            }),
            now,
        );
        live(&mut buffers, said("random", 4, "ann", "ann is here"), now);
        assert_eq!(counts(&buffers.buffers()[random]), (2, 1));
        // The focused buffer counts nothing, but a mention still rings.
        let here = live(&mut buffers, said("general", 2, "carol", "hi Ann"), now);
        assert!(here.bell);
        assert_eq!(counts(buffers.focused_buffer()), (0, 0));

        assert!(buffers.focus(random));
        assert_eq!(counts(&buffers.buffers()[random]), (0, 0));
        assert!(!buffers.focus(random), "already there");
        assert!(!buffers.focus(99));
    }

    #[test]
    fn a_mention_is_the_nick_as_a_whole_word_in_any_case() {
        let me = nick("ann-2");
        let cases = [
            ("ann-2: ping", true),
            ("hey ANN-2!", true),
            ("(Ann-2)", true),
            ("héann-2é", true),
            ("ann", false),
            ("ann-22", false),
            ("xann-2", false),
            ("ann-2_", false),
            ("", false),
        ];
        for (text, expected) in cases {
            assert_eq!(names(text, &me), expected, "{text:?}");
        }
        assert_eq!(cases.len(), 9);
    }

    #[test]
    fn a_private_message_opens_a_buffer_titled_as_its_sender_spells_it() {
        let now = Instant::now();
        let mut buffers = session(now);
        let effects = live(
            &mut buffers,
            ServerEvent::Known(Event::Message(whispered("Bob", "Ann", "psst"))),
            now,
        );
        assert!(effects.bell, "a private message from someone else rings");
        let bob = index(&buffers, BufferKey::Private("bob".into()));
        assert_eq!(bob, 3, "opened at the end of the list");
        assert_eq!(buffers.buffers()[bob].title, "Bob");
        assert_eq!(counts(&buffers.buffers()[bob]), (1, 1));
        live(
            &mut buffers,
            ServerEvent::Known(Event::Message(whispered("BOB", "Ann", "again"))),
            now,
        );
        assert_eq!(buffers.buffers()[bob].title, "BOB");
        assert_eq!(counts(&buffers.buffers()[bob]), (2, 2));
        assert_eq!(buffers.buffers().len(), 4, "one buffer per nick, any case");
    }

    #[test]
    fn leaving_a_buffer_marks_where_new_lines_start() {
        let now = Instant::now();
        let mut buffers = session(now);
        let general = buffers.focused();
        live(&mut buffers, said("general", 2, "bob", "seen"), now);
        assert_eq!(buffers.buffers()[general].marker, None);
        assert!(buffers.focus(SERVER));
        assert!(buffers.buffers()[general].marker.is_some());
        assert!(
            !buffers.buffers()[general].marker_visible(),
            "nothing new yet"
        );
        // Something elsewhere does not make the marker show.
        live(&mut buffers, said("random", 2, "bob", "elsewhere"), now);
        assert!(!buffers.buffers()[general].marker_visible());
        live(&mut buffers, said("general", 3, "bob", "new one"), now);
        live(&mut buffers, said("general", 4, "bob", "newer"), now);
        let buffer = &buffers.buffers()[general];
        assert_eq!(buffer.marker_at(), Some(2));
        assert_eq!(texts(buffer)[2], "new one");
        // Coming back keeps it where it was; older lines fetched meanwhile
        // go in front of it, not after it.
        assert!(buffers.focus(general));
        buffers.buffers[general].more_before = true;
        let request = buffers.older_request(general).unwrap();
        assert!(matches!(
            request,
            Request::History {
                page: HistoryPage::Before(1),
                ..
            }
        ));
        buffers.apply(
            Update::History {
                page: HistoryPage::Before(1),
                answer: HistoryAnswer {
                    room: room("general"),
                    epoch: epoch("E1"),
                    messages: vec![said("general", 0, "bob", "oldest")],
                    more: false,
                },
            },
            now,
        );
        let buffer = &buffers.buffers()[general];
        assert_eq!(buffer.marker_at(), Some(3));
        assert_eq!(texts(buffer)[3], "new one");
        // Leaving a buffer without lines leaves no marker.
        assert!(buffers.focus(SERVER));
        buffers.buffers[SERVER].lines.clear();
        assert!(buffers.focus(general));
        assert_eq!(buffers.buffers()[SERVER].marker, None);
    }

    #[test]
    fn focus_moves_around_the_list_and_to_activity_mentions_first() {
        let now = Instant::now();
        let mut buffers = session(now);
        buffers.apply(
            Update::Joined {
                answer: answer("ops", Vec::new(), false),
                current: false,
            },
            now,
        );
        // server, general, random, ops; general focused.
        assert!(buffers.focus_next());
        assert_eq!(buffers.focused(), 2);
        assert!(buffers.focus_next() && buffers.focus_next());
        assert_eq!(buffers.focused(), 0, "wraps after the last");
        assert!(buffers.focus_prev());
        assert_eq!(buffers.focused(), 3, "wraps before the first");
        assert!(buffers.focus(1));

        assert!(!buffers.focus_active(), "nothing to go to");
        live(&mut buffers, said("random", 2, "bob", "plain"), now);
        live(&mut buffers, said("ops", 1, "bob", "Ann, look"), now);
        assert!(buffers.focus_active());
        assert_eq!(buffers.focused(), 3, "mentions first");
        assert!(buffers.focus_active());
        assert_eq!(buffers.focused(), 2, "then unread");
        assert!(!buffers.focus_active());
        // In list order after the focused one, wrapping around.
        live(&mut buffers, said("general", 2, "bob", "one"), now);
        live(&mut buffers, said("ops", 2, "bob", "two"), now);
        assert!(buffers.focus(3));
        live(&mut buffers, said("random", 3, "bob", "three"), now);
        assert!(buffers.focus_active());
        assert_eq!(buffers.focused(), 1);
    }

    #[test]
    fn an_own_room_message_shows_once_pending_then_as_the_server_echoed_it() {
        let now = Instant::now();
        let mut buffers = session(now);
        let general = buffers.focused();
        let pending = |text: &str| Update::Pending {
            target: Target::Room(room("general")),
            text: text.into(),
            action: false,
        };
        buffers.apply(pending("same"), now);
        buffers.apply(pending("same"), now);
        live(&mut buffers, said("general", 2, "bob", "meanwhile"), now);
        let first = buffers.buffers()[general].lines[1].clone();
        assert_eq!(first.ts, None);
        assert_eq!(
            deliveries(&buffers.buffers()[general])[1..],
            [
                ("same".into(), Delivery::Pending),
                ("same".into(), Delivery::Pending),
                ("meanwhile".into(), Delivery::Sent),
            ]
        );
        let echo = live(&mut buffers, said("general", 3, "ANN", "same"), now);
        assert!(!echo.bell);
        let buffer = &buffers.buffers()[general];
        assert_eq!(buffer.lines.len(), 4, "the echo replaced its pending line");
        let confirmed = &buffer.lines[1];
        assert_eq!(confirmed.id, first.id, "in its place");
        assert_eq!(confirmed.seq, Some(3));
        assert!(confirmed.ts.is_some());
        assert!(matches!(
            &confirmed.kind,
            LineKind::Message { from, delivery: Delivery::Sent, .. } if from.as_str() == "ANN"
        ));
        assert_eq!(
            buffer.lines[2].kind,
            LineKind::Message {
                from: nick("Ann"),
                text: "same".into(),
                action: false,
                delivery: Delivery::Pending
            },
            "the second stays pending"
        );
        // An action with the same text is another message.
        live(
            &mut buffers,
            ServerEvent::Known(Event::Message(Message {
                action: true,
                ..match said("general", 4, "Ann", "same") {
                    ServerEvent::Known(Event::Message(message)) => message,
                    _ => unreachable!(),
                }
            })),
            now,
        );
        let buffer = &buffers.buffers()[general];
        assert_eq!(buffer.lines.len(), 5);
        assert_eq!(deliveries(buffer)[2].1, Delivery::Pending);
    }

    #[test]
    fn own_private_messages_are_marked_sent_or_failed() {
        let now = Instant::now();
        let mut buffers = session(now);
        let to_bob = |text: &str| Update::Pending {
            target: Target::User(nick("Bob")),
            text: text.into(),
            action: false,
        };
        buffers.apply(to_bob("first"), now);
        buffers.apply(to_bob("second"), now);
        let bob = index(&buffers, BufferKey::Private("bob".into()));
        assert_eq!(buffers.focused(), 1, "sending does not move the focus");
        buffers.apply(Update::PrivateSent(whispered("Ann", "bob", "first")), now);
        buffers.apply(
            Update::NotSent {
                target: Target::User(nick("Bob")),
                text: "second".into(),
                action: false,
                reason: "no such user".into(),
            },
            now,
        );
        let buffer = &buffers.buffers()[bob];
        assert_eq!(
            deliveries(buffer),
            [
                ("first".into(), Delivery::Sent),
                ("second".into(), Delivery::Failed("no such user".into())),
            ]
        );
        assert_eq!(buffer.lines[0].ts.as_deref(), Some("2026-11-21T10:00:00Z"));
        assert_eq!(buffer.title, "bob", "as the server spells it");
        assert_eq!(counts(buffer), (0, 0), "own messages never count");
        // Sent with no pending line (another face sent it): added.
        buffers.apply(Update::PrivateSent(whispered("Ann", "bob", "third")), now);
        assert_eq!(deliveries(&buffers.buffers()[bob]).len(), 3);
        // Refused with no pending line: said in the focused buffer.
        buffers.apply(
            Update::NotSent {
                target: Target::Room(room("nowhere")),
                text: "lost".into(),
                action: false,
                reason: "not in room".into(),
            },
            now,
        );
        assert_eq!(
            buffers.focused_buffer().lines.back().unwrap().kind,
            LineKind::Error("a message to #nowhere was not sent: not in room".into())
        );
    }

    #[test]
    fn a_nick_change_renames_members_and_the_private_buffer() {
        let now = Instant::now();
        let mut buffers = session(now);
        buffers.apply(
            Update::Joined {
                answer: JoinAnswer {
                    members: vec![nick("Ann"), nick("carol")],
                    ..answer("ops", Vec::new(), false)
                },
                current: false,
            },
            now,
        );
        buffers.open_private(&nick("Bob"));
        let bob = buffers.focused();
        let lines_before: Vec<usize> = buffers.buffers().iter().map(|b| b.lines.len()).collect();
        let rename = ServerEvent::Known(Event::Nick {
            old: nick("BOB"),
            new: nick("Robert"),
            ts: "t".into(),
        });
        live(&mut buffers, rename.clone(), now);
        let lines_after: Vec<usize> = buffers.buffers().iter().map(|b| b.lines.len()).collect();
        // server, general, random, ops, bob: ops never had him.
        assert_eq!(lines_before, [3, 1, 1, 0, 0]);
        assert_eq!(lines_after, [3, 2, 2, 0, 1]);
        let general = &buffers.buffers()[1];
        assert_eq!(general.lines.back().unwrap().kind, LineKind::Event(rename));
        let members: Vec<&str> = general.members.iter().map(Nick::as_str).collect();
        assert_eq!(members, ["Ann", "carol", "Robert"]);
        let private = &buffers.buffers()[bob];
        assert_eq!(private.key, BufferKey::Private("robert".into()));
        assert_eq!(private.title, "Robert");
        // The user's own nick follows too.
        live(
            &mut buffers,
            ServerEvent::Known(Event::Nick {
                old: nick("ann"),
                new: nick("Anna"),
                ts: "t".into(),
            }),
            now,
        );
        assert_eq!(buffers.me(), Some(&nick("Anna")));
        assert!(buffers.buffers()[3].members.contains(&nick("Anna")));
    }

    #[test]
    fn typing_lasts_six_seconds_after_the_last_notice_or_until_a_message() {
        let t0 = Instant::now();
        let mut buffers = session(t0);
        let typing = |who: &str, active| Update::Typing {
            room: Some(room("general")),
            nick: nick(who),
            active,
        };
        let at = |seconds: u64| t0 + Duration::from_secs(seconds);
        buffers.apply(typing("carol", true), t0);
        buffers.apply(typing("bob", true), t0);
        assert_eq!(buffers.typing_here(at(5)), [nick("bob"), nick("carol")]);
        assert_eq!(buffers.typing_here(at(6)), Vec::<Nick>::new());
        // A new notice restarts the six seconds.
        buffers.apply(typing("bob", true), at(5));
        assert_eq!(buffers.typing_here(at(10)), [nick("bob")]);
        // A message from bob ends it at once; so does `active: false`.
        live(&mut buffers, said("general", 2, "Bob", "done"), at(6));
        assert_eq!(buffers.typing_here(at(6)), Vec::<Nick>::new());
        buffers.apply(typing("carol", true), at(7));
        buffers.apply(typing("carol", false), at(8));
        assert_eq!(buffers.typing_here(at(8)), Vec::<Nick>::new());
        // Private typing shows in that buffer only; nobody sees their own.
        buffers.apply(
            Update::Typing {
                room: None,
                nick: nick("dave"),
                active: true,
            },
            at(9),
        );
        buffers.apply(typing("ann", true), at(9));
        assert_eq!(buffers.typing_here(at(9)), Vec::<Nick>::new());
        buffers.open_private(&nick("dave"));
        assert_eq!(buffers.typing_here(at(9)), [nick("dave")]);
    }

    #[test]
    fn older_pages_go_in_front_once_without_duplicates() {
        let now = Instant::now();
        let mut buffers = session(now);
        buffers.apply(
            Update::Joined {
                answer: answer(
                    "ops",
                    (5..=7).map(|seq| said("ops", seq, "bob", "x")).collect(),
                    true,
                ),
                current: true,
            },
            now,
        );
        let ops = buffers.focused();
        assert!(buffers.buffers()[ops].more_before);
        assert_eq!(buffers.older_request(SERVER), None, "not a room");
        assert_eq!(
            buffers.older_request(ops),
            Some(Request::History {
                room: room("ops"),
                page: HistoryPage::Before(5),
                limit: None,
                epoch: epoch("E1"),
            })
        );
        assert!(buffers.buffers()[ops].is_fetching());
        assert_eq!(buffers.older_request(ops), None, "already asked");
        let effects = buffers.apply(
            Update::History {
                page: HistoryPage::Before(5),
                answer: page(
                    "ops",
                    (2..=5).map(|seq| said("ops", seq, "bob", "Ann?")).collect(),
                    false,
                ),
            },
            now,
        );
        assert!(!effects.bell, "a backlog does not ring");
        let buffer = &buffers.buffers()[ops];
        assert_eq!(seqs(buffer), [2, 3, 4, 5, 6, 7]);
        assert!(!buffer.more_before && !buffer.is_fetching());
        assert!(buffer.lines[0].mention, "still highlighted");
        assert_eq!(counts(buffer), (0, 0));
        assert_eq!(buffers.older_request(ops), None, "nothing more to fetch");
    }

    #[test]
    fn a_room_without_seqs_asks_for_its_newest_page_first() {
        let now = Instant::now();
        let mut buffers = session(now);
        buffers.apply(
            Update::Joined {
                answer: answer("ops", Vec::new(), true),
                current: false,
            },
            now,
        );
        let ops = index(&buffers, BufferKey::Room(room("ops")));
        live(
            &mut buffers,
            ServerEvent::Known(Event::Join {
                room: room("ops"),
                nick: nick("dave"),
                ts: "t".into(),
            }),
            now,
        );
        assert!(matches!(
            buffers.older_request(ops),
            Some(Request::History {
                page: HistoryPage::Newest,
                ..
            })
        ));
        buffers.apply(
            Update::History {
                page: HistoryPage::Newest,
                answer: page("ops", vec![said("ops", 9, "bob", "old")], true),
            },
            now,
        );
        let buffer = &buffers.buffers()[ops];
        assert_eq!(texts(buffer)[0], "old", "in front of the live join");
        assert!(buffer.more_before);
        assert!(matches!(
            buffers.older_request(ops),
            Some(Request::History {
                page: HistoryPage::Before(9),
                ..
            })
        ));
        // An error may be that page's: it can be asked for again.
        buffers.apply(Update::Error("rate limited".into()), now);
        assert!(buffers.older_request(ops).is_some());
    }

    #[test]
    fn the_users_history_merges_by_seq_and_says_when_a_room_is_empty() {
        let now = Instant::now();
        let mut buffers = session(now);
        let general = buffers.focused();
        live(&mut buffers, said("general", 5, "bob", "five"), now);
        buffers.apply(
            Update::History {
                page: HistoryPage::Newest,
                answer: page(
                    "general",
                    (3..=5)
                        .map(|seq| said("general", seq, "bob", "m"))
                        .collect(),
                    true,
                ),
            },
            now,
        );
        let buffer = &buffers.buffers()[general];
        assert_eq!(seqs(buffer), [1, 3, 4, 5]);
        assert!(!buffer.more_before, "nothing older than seq 1 came");
        buffers.apply(
            Update::History {
                page: HistoryPage::Newest,
                answer: page("general", Vec::new(), false),
            },
            now,
        );
        assert_eq!(
            buffers.buffers()[general].lines.back().unwrap().kind,
            LineKind::Notice("no messages in #general".into())
        );
    }

    #[test]
    fn leaving_removes_the_buffer_and_closing_says_what_it_takes() {
        let now = Instant::now();
        let mut buffers = session(now);
        buffers.open_private(&nick("bob"));
        // server, general, random, bob (focused).
        assert_eq!(buffers.close(SERVER), Close::No);
        assert_eq!(buffers.close(1), Close::Leave(room("general")));
        assert_eq!(buffers.buffers().len(), 4, "a room goes when left");
        let effects = buffers.apply(
            Update::Left {
                room: room("general"),
                current: Some(room("random")),
            },
            now,
        );
        assert!(!effects.refocused, "the focused buffer is still bob's");
        assert_eq!(buffers.focused_buffer().title, "bob");
        assert_eq!(buffers.focused(), 2);
        live(&mut buffers, said("random", 2, "bob", "unread"), now);
        assert_eq!(buffers.close(2), Close::Closed);
        assert_eq!(buffers.buffers().len(), 2);
        assert_eq!(buffers.focused_buffer().title, "#random", "the one before");
        assert_eq!(counts(buffers.focused_buffer()), (0, 0));
        let effects = buffers.apply(
            Update::Left {
                room: room("random"),
                current: None,
            },
            now,
        );
        assert!(effects.refocused);
        assert_eq!(buffers.focused(), SERVER);
        assert_eq!(buffers.close(7), Close::No);
    }

    #[test]
    fn joining_and_switching_focus_the_room() {
        let now = Instant::now();
        let mut buffers = session(now);
        let effects = buffers.apply(Update::Switched(room("random")), now);
        assert!(effects.refocused);
        assert_eq!(buffers.focused(), 2);
        let effects = buffers.apply(
            Update::Joined {
                answer: answer("general", vec![said("general", 2, "bob", "b")], false),
                current: true,
            },
            now,
        );
        assert!(effects.refocused);
        assert_eq!(buffers.focused(), 1, "the buffer is reused in its place");
        assert_eq!(seqs(buffers.focused_buffer()), [1, 2]);
        assert_eq!(buffers.buffers().len(), 3);
    }

    #[test]
    fn a_buffer_keeps_its_newest_lines_and_a_room_fetches_the_rest_again() {
        let now = Instant::now();
        let mut buffers = session(now);
        let random = index(&buffers, BufferKey::Room(room("random")));
        assert!(!buffers.buffers()[random].more_before);
        for seq in 2..=(MAX_LINES as u64 + 1) {
            live(&mut buffers, said("random", seq, "bob", "flood"), now);
        }
        let buffer = &buffers.buffers()[random];
        assert_eq!(buffer.lines.len(), MAX_LINES);
        assert_eq!(buffer.lines[0].seq, Some(2), "the oldest went");
        assert!(buffer.more_before);
        assert_eq!(buffer.unread, MAX_LINES, "the count is not capped");
        // Scrolling back reaches past the usual number of lines…
        assert_eq!(
            buffers.older_request(random),
            Some(Request::History {
                room: room("random"),
                page: HistoryPage::Before(2),
                limit: None,
                epoch: Some(Epoch::parse("E1").unwrap()),
            })
        );
        buffers.apply(
            Update::History {
                page: HistoryPage::Before(2),
                answer: HistoryAnswer {
                    room: room("random"),
                    epoch: Some(Epoch::parse("E1").unwrap()),
                    messages: vec![said("random", 1, "bob", "the first")],
                    more: false,
                },
            },
            now,
        );
        let buffer = &buffers.buffers()[random];
        assert_eq!(buffer.lines.len(), MAX_LINES + 1, "the whole history");
        assert_eq!(buffer.lines[0].seq, Some(1));
        assert!(!buffer.more_before);
        // …and back at the newest lines, the buffer holds its usual number.
        buffers.back_to_newest(random);
        let buffer = &buffers.buffers()[random];
        assert_eq!(buffer.lines.len(), MAX_LINES);
        assert!(buffer.more_before);
        // A private buffer's dropped lines cannot be fetched.
        for n in 0..=MAX_LINES {
            buffers.apply(
                Update::PrivateSent(whispered("Ann", "bob", &n.to_string())),
                now,
            );
        }
        let bob = index(&buffers, BufferKey::Private("bob".into()));
        assert_eq!(buffers.buffers()[bob].lines.len(), MAX_LINES);
        assert!(!buffers.buffers()[bob].more_before);
    }

    #[test]
    fn a_rejoin_brings_the_topic_and_members_up_to_date() {
        let now = Instant::now();
        let mut buffers = session(now);
        let general = index(&buffers, BufferKey::Room(room("general")));
        buffers.apply(
            Update::Rejoining {
                room: room("general"),
                topic: String::new(),
                members: vec![nick("Ann"), nick("carol")],
            },
            now,
        );
        let buffer = &buffers.buffers()[general];
        assert_eq!(buffer.topic, "");
        assert_eq!(buffer.members, [nick("Ann"), nick("carol")]);
    }

    #[test]
    fn a_restart_forgets_the_old_numbering_and_catch_ups_leave_markers() {
        let now = Instant::now();
        let mut buffers = session(now);
        let general = buffers.focused();
        buffers.buffers[general].more_before = true;
        buffers.apply(Update::Restarted(room("general")), now);
        let buffer = &buffers.buffers()[general];
        assert_eq!(seqs(buffer), Vec::<u64>::new());
        assert!(!buffer.more_before && buffer.epoch.is_none());
        assert_eq!(
            buffer.lines.back().unwrap().kind,
            LineKind::Marker(restarted(&room("general")))
        );
        let summary = Summary {
            room: room("general"),
            numbering: Numbering::Same { since: Some(41) },
            shown: 3,
        };
        buffers.apply(Update::Rejoined(summary), now);
        assert_eq!(
            buffers.buffers()[general].lines.back().unwrap().kind,
            LineKind::Marker("rejoined #general (caught up from seq 41: 3 new messages)".into())
        );
        // A page of another numbering is not spliced among the old seqs.
        live(
            &mut buffers,
            said("general", 1, "bob", "new numbering"),
            now,
        );
        buffers.apply(
            Update::History {
                page: HistoryPage::Newest,
                answer: HistoryAnswer {
                    epoch: epoch("E2"),
                    ..page("general", vec![said("general", 1, "bob", "x")], false)
                },
            },
            now,
        );
        assert_eq!(seqs(&buffers.buffers()[general]), [1]);
        assert_eq!(buffers.buffers()[general].epoch, epoch("E2"));
    }

    #[test]
    fn answers_to_commands_are_notices_in_the_focused_buffer() {
        let now = Instant::now();
        let mut buffers = session(now);
        let general = buffers.focused();
        let before = buffers.buffers()[general].lines.len();
        buffers.apply(Update::Help, now);
        assert_eq!(buffers.buffers()[general].lines.len(), before + HELP.len());
        buffers.apply(
            Update::Who {
                room: room("random"),
                members: vec![nick("zed"), nick("Ann")],
            },
            now,
        );
        buffers.apply(
            Update::Rooms {
                rooms: vec![RoomSummary {
                    room: room("ops"),
                    members: 2,
                    topic: "deploys\u{1b}[2J".into(),
                }],
                first: true,
            },
            now,
        );
        buffers.apply(
            Update::Rooms {
                rooms: Vec::new(),
                first: false,
            },
            now,
        );
        buffers.apply(
            Update::Topic {
                room: room("general"),
                topic: String::new(),
            },
            now,
        );
        buffers.apply(Update::Status("hello\u{7}".into()), now);
        buffers.apply(Update::NickChanged(nick("Anna")), now);
        buffers.apply(Update::Resending, now);
        buffers.apply(Update::Frame("{}".into()), now);
        buffers.apply(Update::Error("nope".into()), now);
        let tail: Vec<String> = texts(&buffers.buffers()[general]).split_off(before + HELP.len());
        assert_eq!(
            tail,
            [
                "#random: 2 members: zed, Ann",
                "#ops (2) - deploys^[[2J",
                "#general has no topic",
                "hello^G",
                "you are now Anna",
                "resending a message the server never stored",
                "nope",
            ]
        );
        assert!(matches!(
            buffers.buffers()[general].lines.back().unwrap().kind,
            LineKind::Error(_)
        ));
        let members: Vec<&str> = buffers.buffers()[2]
            .members
            .iter()
            .map(Nick::as_str)
            .collect();
        assert_eq!(members, ["Ann", "zed"], "who refreshes the members");
        assert_eq!(buffers.me(), Some(&nick("Anna")));
    }

    #[test]
    fn the_connection_state_follows_drops_and_reconnects() {
        let now = Instant::now();
        let mut buffers = session(now);
        buffers.apply(Update::Queued(2), now);
        buffers.apply(
            Update::Reconnecting {
                reason: "reset".into(),
                delay: Duration::from_millis(1500),
            },
            now,
        );
        assert_eq!(
            buffers.connection(),
            &Connection::Reconnecting {
                reason: "reset".into(),
                at: now + Duration::from_millis(1500),
            }
        );
        assert_eq!(buffers.queued(), 2);
        buffers.apply(Update::Reconnected { nick: nick("Ann_") }, now);
        assert_eq!(buffers.connection(), &Connection::Online);
        assert_eq!(buffers.me(), Some(&nick("Ann_")));
        let server = texts(&buffers.buffers()[SERVER]);
        assert_eq!(
            server[server.len() - 2..],
            [
                "connection lost (reset); reconnecting in 1.5s",
                "reconnected as Ann_"
            ]
        );
    }

    #[test]
    fn unknown_events_go_to_their_room_or_the_server_buffer() {
        let now = Instant::now();
        let mut buffers = session(now);
        let unknown = |room: Option<&str>| {
            let mut fields = Map::new();
            fields.insert("ts".into(), Value::from("2026-11-21T10:00:00Z"));
            if let Some(room) = room {
                fields.insert("room".into(), Value::from(room));
            }
            ServerEvent::Unknown(crate::protocol::incoming::UnknownEvent {
                kind: "poll".into(),
                fields,
            })
        };
        live(&mut buffers, unknown(Some("random")), now);
        live(&mut buffers, unknown(None), now);
        live(&mut buffers, ServerEvent::Known(Event::Ping), now);
        let random = &buffers.buffers()[2];
        assert_eq!(random.lines.len(), 2);
        assert_eq!(random.lines[1].ts.as_deref(), Some("2026-11-21T10:00:00Z"));
        assert_eq!(counts(random), (0, 0));
        assert_eq!(buffers.buffers()[SERVER].lines.len(), 4);
    }

    #[test]
    fn completion_offers_the_room_first_then_every_other_nick() {
        let now = Instant::now();
        let mut buffers = session(now);
        buffers.apply(
            Update::Joined {
                answer: JoinAnswer {
                    members: vec![nick("Ann"), nick("Zoe"), nick("bob")],
                    ..answer("ops", Vec::new(), false)
                },
                current: false,
            },
            now,
        );
        buffers.open_private(&nick("dave"));
        assert!(buffers.focus(1));
        assert_eq!(
            buffers.completion(),
            Completion {
                here: vec!["bob".into(), "carol".into()],
                others: vec!["dave".into(), "Zoe".into()],
                rooms: vec!["general".into(), "random".into(), "ops".into()],
            }
        );
    }
}
