//! The server's shared directory: who is connected under which nick, and which
//! rooms exist. Lock order is always directory, then room (its state, then its
//! commit queue), then a client's own small locks (nick, outbox), so no two
//! paths can wait on each other. Messages only take their room's locks: the
//! directory is for joins, leaves, nick changes and lookups.
//!
//! The directory holds the rooms in memory: the configured ones and those
//! someone is in, at most `max_total_rooms`. A logged room nobody is in is set
//! aside in the store (its numbering and topic) and brought back when named;
//! a room without a log that nobody is in ends. New rooms cost the creating
//! connection a token of its room-creation bucket.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{Bound, Range};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::{ConfiguredRoom, Limits, Settings};
use crate::protocol::epoch::Epoch;
use crate::protocol::frames::{self, Event, Frame, JoinOk, RoomSummary};
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::HistoryPage;
use crate::protocol::time;
use crate::protocol::ProtocolError;

use super::accounts::RoomRecord;
use super::budget::HistoryBudget;
use super::outbox::Outbox;
use super::page;
use super::room::Room;
use super::store::{RestoredRoom, Store};

/// A registered connection as others see it: its nick and its outbound queue.
#[derive(Debug)]
pub struct Client {
    id: u64,
    nick: Mutex<Nick>,
    /// The account the connection is logged in to (protocol 1.2).
    account: Mutex<Option<Nick>>,
    /// A kick or a ban took it out of a room since its session last looked:
    /// only then does the session ask its rooms whether it is still in them.
    removed: AtomicBool,
    outbox: Arc<Outbox>,
}

impl Client {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn nick(&self) -> Nick {
        self.nick
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set_nick(&self, nick: Nick) {
        *self.nick.lock().unwrap_or_else(|p| p.into_inner()) = nick;
    }

    /// The account this connection is logged in to, if any.
    pub fn account(&self) -> Option<Nick> {
        self.account
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Notes that a kick or a ban took the connection out of a room.
    pub(super) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }

    /// Whether a kick or a ban took the connection out of a room since the
    /// last [`Client::take_removed`].
    pub fn was_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// [`Client::was_removed`], clearing it.
    pub fn take_removed(&self) -> bool {
        self.removed.swap(false, Ordering::AcqRel)
    }

    /// Logs the connection in to `account` (or out, with `None`).
    pub fn set_account(&self, account: Option<Nick>) {
        *self.account.lock().unwrap_or_else(|p| p.into_inner()) = account;
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

/// Which history a `join` asks for.
#[derive(Debug, Clone)]
pub enum JoinHistory {
    /// The newest `n` messages.
    Last(usize),
    /// Every message after this seq (up to `history_max`), counted in this
    /// epoch when one is named. A numbering the room no longer has (another
    /// epoch, or a seq beyond its newest) gives the oldest messages instead.
    Since(u64, Option<Epoch>),
}

#[derive(Debug, Default)]
struct Directory {
    /// Registered clients by case-folded nick.
    nicks: HashMap<String, Arc<Client>>,
    /// Every room in memory; a BTreeMap so the `rooms` listing comes out sorted.
    rooms: BTreeMap<RoomName, Arc<Room>>,
}

/// Shared state of one server.
#[derive(Debug)]
pub struct Hub {
    directory: Mutex<Directory>,
    next_client_id: AtomicU64,
    shutting_down: AtomicBool,
    /// Messages each room keeps in memory; a reload may change it.
    history_keep: AtomicUsize,
    /// Most rooms in memory at once; a reload may change it.
    max_total_rooms: AtomicUsize,
    /// Bytes of history all rooms keep in memory together.
    budget: Arc<HistoryBudget>,
    /// Where rooms nobody is in are set aside (and read back from).
    store: Arc<dyn Store>,
    /// The configured rooms' topics, for a room brought back from the store
    /// without one.
    configured: Mutex<Vec<ConfiguredRoom>>,
}

impl Hub {
    /// A hub holding the configured rooms and the rooms the store restored. A
    /// configured room the store holds continues from it; its stored topic, if
    /// it has one, replaces the configured one (it was set later).
    pub fn new(
        settings: &Settings,
        store: Arc<dyn Store>,
        restored: Vec<RestoredRoom>,
        registrations: Vec<RoomRecord>,
    ) -> Hub {
        let limits = &settings.limits;
        let history_keep = limits.history_keep;
        let budget = Arc::new(HistoryBudget::new(limits.history_memory_bytes));
        let mut rooms: BTreeMap<RoomName, Arc<Room>> = settings
            .rooms
            .iter()
            .map(|room| {
                let persistent = Room::new(
                    room.name.clone(),
                    room.topic.clone(),
                    true,
                    history_keep,
                    budget.clone(),
                );
                (room.name.clone(), persistent)
            })
            .collect();
        let hub = Hub {
            directory: Mutex::new(Directory::default()),
            next_client_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            history_keep: AtomicUsize::new(history_keep),
            max_total_rooms: AtomicUsize::new(limits.max_total_rooms),
            budget,
            store,
            configured: Mutex::new(settings.rooms.clone()),
        };
        for room in restored {
            let name = room.name.clone();
            let configured = settings.rooms.iter().any(|c| c.name == name);
            rooms.insert(name, hub.bring_in(room, configured));
        }
        // Rooms with moderation to keep (claimed, flags, bans) are there from
        // the start, like configured ones, with their rules.
        for record in registrations {
            let Ok(name) = RoomName::parse(&record.room) else {
                tracing::warn!(room = %record.room, "a moderation record names no valid room; ignored");
                continue;
            };
            let room = rooms.entry(name.clone()).or_insert_with(|| {
                Room::new(name, String::new(), false, history_keep, hub.budget.clone())
            });
            room.rules().set_record(record);
        }
        hub.lock().rooms = rooms;
        hub.budget.enforce();
        hub
    }

    /// A room the store restored or held aside, in memory again with its
    /// numbering; its topic, if the store has one, replaces the configured one
    /// (it was set later).
    fn bring_in(&self, room: RestoredRoom, persistent: bool) -> Arc<Room> {
        let topic = room.topic.clone().unwrap_or_else(|| {
            self.configured
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|c| c.name == room.name)
                .map(|c| c.topic.clone())
                .unwrap_or_default()
        });
        let history_keep = self.history_keep.load(Ordering::Relaxed);
        Room::restored(room, topic, persistent, history_keep, self.budget.clone())
    }

    /// The server-wide history budget.
    pub fn budget(&self) -> &HistoryBudget {
        &self.budget
    }

    fn lock(&self) -> MutexGuard<'_, Directory> {
        self.directory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// From now on departures are not announced: every client is being sent `bye`.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Claims `nick` for a new client, logged in to `account` if it has one.
    pub fn register(
        &self,
        nick: Nick,
        account: Option<Nick>,
        outbox: Arc<Outbox>,
    ) -> Result<Arc<Client>, ProtocolError> {
        let mut directory = self.lock();
        let key = nick.key();
        if directory.nicks.contains_key(&key) {
            return Err(ProtocolError::NickInUse(nick.to_string()));
        }
        let client = Arc::new(Client {
            id: self.next_client_id.fetch_add(1, Ordering::Relaxed),
            nick: Mutex::new(nick),
            account: Mutex::new(account),
            removed: AtomicBool::new(false),
            outbox,
        });
        directory.nicks.insert(key, client.clone());
        Ok(client)
    }

    /// Changes a client's nick and tells every other connection sharing one of
    /// `rooms` with it, once each. Returns false when the nick was identical.
    pub fn rename<'a>(
        &self,
        client: &Arc<Client>,
        new: &Nick,
        rooms: impl IntoIterator<Item = &'a Arc<Room>>,
    ) -> Result<bool, ProtocolError> {
        let old = client.nick();
        if old == *new {
            return Ok(false);
        }
        {
            let mut directory = self.lock();
            let (old_key, new_key) = (old.key(), new.key());
            // A change of case keeps the same key: it is still this client's nick.
            if old_key != new_key {
                if directory.nicks.contains_key(&new_key) {
                    return Err(ProtocolError::NickInUse(new.to_string()));
                }
                directory.nicks.remove(&old_key);
                directory.nicks.insert(new_key, client.clone());
            }
            client.set_nick(new.clone());
        }
        let frame = Event::Nick {
            old,
            new: new.clone(),
            ts: time::now(),
        }
        .encode();
        let mut told = HashSet::from([client.id()]);
        for room in rooms {
            let state = room.lock();
            for member in state.members() {
                if told.insert(member.id()) {
                    member.outbox().push(&frame);
                }
            }
        }
        Ok(true)
    }

    /// Adds `client` to the room (brought back from the store, or created, if
    /// needed), announcing it to the other members unless it was already
    /// there. The history in the answer is what memory holds, at most
    /// `history_max` messages; the returned range is the older part of the
    /// page, for the caller to read from the store and put first.
    ///
    /// A room not in memory needs a place under `max_total_rooms`
    /// (`too_many_rooms`); a room that does not exist at all is created only
    /// if `may_create` allows it (the connection's creation rate).
    pub fn join(
        &self,
        client: &Arc<Client>,
        name: &RoomName,
        history: JoinHistory,
        history_max: usize,
        may_create: &mut dyn FnMut() -> Result<(), ProtocolError>,
        admit: &mut dyn FnMut(&Room) -> Result<(), ProtocolError>,
    ) -> Result<(Arc<Room>, JoinOk, Range<u64>), ProtocolError> {
        let mut directory = self.lock();
        let room = match directory.rooms.get(name) {
            Some(room) => room.clone(),
            None => {
                let max = self.max_total_rooms.load(Ordering::Relaxed);
                if directory.rooms.len() >= max {
                    return Err(ProtocolError::ServerRoomsFull { max });
                }
                let room = match self.store.bring_back(name) {
                    Some(aside) => self.bring_in(aside, false),
                    None => {
                        may_create()?;
                        Room::new(
                            name.clone(),
                            String::new(),
                            false,
                            self.history_keep.load(Ordering::Relaxed),
                            self.budget.clone(),
                        )
                    }
                };
                directory.rooms.insert(name.clone(), room.clone());
                room
            }
        };
        let store = self.store.as_ref();
        let mut state = room.lock();
        if !state.contains(client) {
            // Under the directory lock: a ban or an invite-only flag cannot
            // slip in between the check and the join. A room brought in just
            // now and refused stays: it is a room that exists.
            admit(&room)?;
            state.add(client.clone());
            let frame = Event::Join {
                room: name.clone(),
                nick: client.nick(),
                ts: time::now(),
            }
            .encode();
            state.broadcast(&frame, Some(client.id()));
        }
        let epoch = room.epoch();
        let (page, limit) = match history {
            JoinHistory::Last(count) => (HistoryPage::Newest, count.min(history_max)),
            JoinHistory::Since(seq, known) => {
                let gone = known.is_some_and(|known| known != *epoch) || seq > state.last_seq();
                (HistoryPage::After(if gone { 0 } else { seq }), history_max)
            }
        };
        let plan = state.plan(page, limit, store.oldest_seq(name, epoch));
        let ok = JoinOk {
            room: name.clone(),
            topic: state.topic().to_owned(),
            members: state.member_nicks(),
            epoch: epoch.clone(),
            history: plan.memory,
            more: plan.more,
        };
        drop(state);
        Ok((room, ok, plan.stored))
    }

    /// Removes `client` from `room`, telling the other members.
    pub fn leave(&self, client: &Client, room: &Arc<Room>, reason: Option<String>) {
        let mut directory = self.lock();
        self.depart(&mut directory, client, room, reason);
    }

    /// Forgets a client that is going away: frees its nick and takes it out of
    /// its rooms, telling their members why.
    pub fn disconnect<'a>(
        &self,
        client: &Client,
        rooms: impl IntoIterator<Item = &'a Arc<Room>>,
        reason: &str,
    ) {
        let mut directory = self.lock();
        let key = client.nick().key();
        if directory
            .nicks
            .get(&key)
            .is_some_and(|c| c.id() == client.id())
        {
            directory.nicks.remove(&key);
        }
        for room in rooms {
            self.depart(&mut directory, client, room, Some(reason.to_owned()));
        }
    }

    fn depart(
        &self,
        directory: &mut Directory,
        client: &Client,
        room: &Arc<Room>,
        reason: Option<String>,
    ) {
        let mut state = room.lock();
        if !state.remove(client) {
            return;
        }
        if !self.shutting_down.load(Ordering::SeqCst) {
            let frame: Frame = Event::Leave {
                room: room.name().clone(),
                nick: client.nick(),
                reason,
                ts: time::now(),
            }
            .encode();
            state.broadcast(&frame, None);
        }
        if state.is_empty() && !room.is_kept() {
            self.leave_memory(directory, room, state);
        }
    }

    /// Takes a room nobody is in out of memory: a room a durable store holds
    /// is set aside there, so its numbering continues when it is named again;
    /// any other room ends. A room with a change still being stored stays
    /// until someone leaves it again. Only a room nobody joined in the
    /// meantime goes: joins hold the directory lock too.
    fn leave_memory(
        &self,
        directory: &mut Directory,
        room: &Arc<Room>,
        mut state: MutexGuard<'_, super::room::RoomState>,
    ) {
        if room.is_committing(&state) {
            return;
        }
        if state.is_stored() {
            self.store.set_aside(state.set_aside(room));
        }
        state.clear_history();
        drop(state);
        directory.rooms.remove(room.name());
    }

    /// A reload changed the limits: `history_keep` and the history budget
    /// apply at once to every room's memory, `max_total_rooms` to the next
    /// room brought into memory.
    pub fn apply_limits(&self, limits: &Limits) {
        {
            let directory = self.lock();
            self.history_keep
                .store(limits.history_keep, Ordering::Relaxed);
            self.max_total_rooms
                .store(limits.max_total_rooms, Ordering::Relaxed);
            for room in directory.rooms.values() {
                room.set_history_keep(limits.history_keep);
            }
        }
        self.budget.set_limit(limits.history_memory_bytes);
        self.budget.enforce();
    }

    /// A reload changed the `[[room]]` list from `before` to `after`: rooms new in
    /// the config are created (or kept from now on, if they exist), rooms no
    /// longer in it become ordinary rooms (dropped now if nobody is in them and
    /// no durable store holds them). Returns the topics the caller must set and announce: a
    /// configured topic that changed in the file, and the topic of a room newly
    /// in the config when it has one (an empty one does not clear a topic users
    /// set).
    pub fn configure_rooms(
        &self,
        before: &[ConfiguredRoom],
        after: &[ConfiguredRoom],
    ) -> Vec<(Arc<Room>, String)> {
        let history_keep = self.history_keep.load(Ordering::Relaxed);
        let mut directory = self.lock();
        after.clone_into(&mut self.configured.lock().unwrap_or_else(|p| p.into_inner()));
        let mut topics = Vec::new();
        for configured in after {
            let previous = before.iter().find(|room| room.name == configured.name);
            if !directory.rooms.contains_key(&configured.name) {
                // A logged room set aside continues its numbering; configured
                // rooms always exist, whatever max_total_rooms says.
                let room = match self.store.bring_back(&configured.name) {
                    Some(aside) => self.bring_in(aside, true),
                    None => {
                        let room = Room::new(
                            configured.name.clone(),
                            configured.topic.clone(),
                            true,
                            history_keep,
                            self.budget.clone(),
                        );
                        directory.rooms.insert(configured.name.clone(), room);
                        continue;
                    }
                };
                directory.rooms.insert(configured.name.clone(), room);
            }
            let Some(room) = directory.rooms.get(&configured.name) else {
                continue;
            };
            room.set_persistent(true);
            let wanted = match previous {
                Some(previous) => previous.topic != configured.topic,
                None => !configured.topic.is_empty(),
            };
            if wanted && room.lock().topic() != configured.topic {
                topics.push((room.clone(), configured.topic.clone()));
            }
        }
        for gone in before {
            if after.iter().any(|room| room.name == gone.name) {
                continue;
            }
            let Some(room) = directory.rooms.get(&gone.name).cloned() else {
                continue;
            };
            room.set_persistent(false);
            let state = room.lock();
            if state.is_empty() && !room.is_kept() {
                self.leave_memory(&mut directory, &room, state);
            }
        }
        topics
    }

    /// The connections logged in to `account`.
    pub fn logged_in(&self, account: &Nick) -> Vec<Arc<Client>> {
        let key = account.key();
        self.lock()
            .nicks
            .values()
            .filter(|client| client.account().is_some_and(|a| a.key() == key))
            .cloned()
            .collect()
    }

    /// How many rooms `account` owns.
    pub fn owned_by(&self, account: &Nick) -> usize {
        let key = account.key();
        self.rooms_in_memory()
            .iter()
            .filter(|room| room.rules().owner() == Some(key.as_str()))
            .count()
    }

    /// Every room in memory.
    pub fn rooms_in_memory(&self) -> Vec<Arc<Room>> {
        self.lock().rooms.values().cloned().collect()
    }

    /// After a kick or ban took members out of `room`: a room left empty goes
    /// as if its last member had left.
    pub fn after_removal(&self, room: &Arc<Room>) {
        let mut directory = self.lock();
        let state = room.lock();
        if state.is_empty() && !room.is_kept() {
            self.leave_memory(&mut directory, room, state);
        }
    }

    pub fn find_user(&self, nick: &Nick) -> Option<Arc<Client>> {
        self.lock().nicks.get(&nick.key()).cloned()
    }

    pub fn find_room(&self, name: &RoomName) -> Option<Arc<Room>> {
        self.lock().rooms.get(name).cloned()
    }

    /// The members of a room, sorted; `None` when it does not exist. A room
    /// set aside exists with nobody in it: it is not brought into memory for
    /// that.
    pub fn members(&self, name: &RoomName) -> Option<Vec<Nick>> {
        let directory = self.lock();
        match directory.rooms.get(name) {
            Some(room) => Some(room.members()),
            None => self.store.holds_aside(name).then(Vec::new),
        }
    }

    /// How many rooms are in memory, and how many the store holds aside.
    pub fn room_counts(&self) -> (usize, usize) {
        let directory = self.lock();
        (directory.rooms.len(), self.store.aside_count())
    }

    /// A page of the room list, sorted by name: every room, those in memory
    /// (the configured ones and those someone is in) and those the store holds
    /// aside (nobody in them); the rooms after `after`, at most `limit` of them
    /// and `bytes` of list (at least one when any is left), and whether rooms
    /// after the last one listed exist.
    pub fn rooms(
        &self,
        after: Option<&RoomName>,
        limit: usize,
        bytes: usize,
    ) -> (Vec<RoomSummary>, bool) {
        let directory = self.lock();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut in_memory = directory
            .rooms
            .range((start, Bound::Unbounded))
            .map(|(_, room)| room)
            .peekable();
        // Under the directory lock: a room is in memory or aside, never both.
        // One more than the page can list says whether rooms are left.
        let mut aside = self
            .store
            .aside_rooms(after, limit.saturating_add(1))
            .into_iter()
            .peekable();
        let mut rooms = Vec::new();
        let mut used = 0;
        loop {
            let from_memory = match (in_memory.peek(), aside.peek()) {
                (None, None) => return (rooms, false),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(room), Some((name, _))) => room.name() < name,
            };
            if rooms.len() == limit {
                return (rooms, true);
            }
            let summary = if from_memory {
                in_memory.next().expect("peeked").summary()
            } else {
                let (room, topic) = aside.next().expect("peeked");
                RoomSummary {
                    room,
                    members: 0,
                    topic,
                }
            };
            let cost = page::cost(frames::encode(&summary).get().len());
            if !rooms.is_empty() && used + cost > bytes {
                return (rooms, true);
            }
            used += cost;
            rooms.push(summary);
        }
    }
}
