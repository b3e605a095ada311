//! One room: its members, topic, `seq` counter and in-memory history. A room's
//! lock is held while a message takes its `seq` and is queued to every member, so
//! every member sees the room's messages in `seq` order. Queuing never waits (see
//! `outbox`), so the lock is held for a bounded, I/O-free moment.
//!
//! With the message log on, the log writer hands out the `seq`s and publishes
//! messages here once they are stored ([`Room::publish_message`]); history older
//! than what memory holds is then read from the room's files, outside the lock
//! ([`Plan::disk`]).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::protocol::epoch::Epoch;
use crate::protocol::frames::{Event, Frame, Message, RoomSummary};
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::HistoryPage;
use crate::protocol::time;

use super::hub::Client;

/// A page of history: message frames oldest first, and whether more exist
/// beyond the page in the direction it was read.
#[derive(Debug, Default)]
pub struct Page {
    pub messages: Vec<Frame>,
    pub more: bool,
}

/// A page of history as the room's lock sees it: the part memory holds, and the
/// older part (a `seq` range) to read from the room's log files.
#[derive(Debug, Default)]
pub struct Plan {
    /// Messages older than memory's, to read from the log; empty when none.
    pub disk: Range<u64>,
    /// The messages memory holds for the page, oldest first.
    pub memory: Vec<Frame>,
    pub more: bool,
}

/// A chat room.
#[derive(Debug)]
pub struct Room {
    name: RoomName,
    /// Declared in the config: never dropped when empty. A config reload can
    /// add or take away a room's place in the config.
    persistent: AtomicBool,
    state: Mutex<RoomState>,
}

#[derive(Debug)]
pub(super) struct RoomState {
    members: Vec<Arc<Client>>,
    topic: String,
    /// The numbering `last_seq` belongs to.
    epoch: Epoch,
    last_seq: u64,
    /// The last `history_keep` messages, contiguous in `seq`.
    history: VecDeque<Frame>,
    history_keep: usize,
    /// The room has a log on disk: it is never dropped, so its `seq` goes on.
    logged: bool,
}

impl Room {
    pub fn new(name: RoomName, topic: String, persistent: bool, history_keep: usize) -> Room {
        Room {
            name,
            persistent: AtomicBool::new(persistent),
            state: Mutex::new(RoomState {
                members: Vec::new(),
                topic,
                epoch: Epoch::new_random(),
                last_seq: 0,
                history: VecDeque::new(),
                history_keep,
                logged: false,
            }),
        }
    }

    /// A room brought back from its log: its `seq` continues after `last_seq`.
    pub fn restored(
        name: RoomName,
        topic: String,
        persistent: bool,
        history_keep: usize,
        last_seq: u64,
        mut history: VecDeque<Frame>,
    ) -> Room {
        while history.len() > history_keep {
            history.pop_front();
        }
        Room {
            name,
            persistent: AtomicBool::new(persistent),
            state: Mutex::new(RoomState {
                members: Vec::new(),
                topic,
                epoch: Epoch::new_random(),
                last_seq,
                history,
                history_keep,
                logged: true,
            }),
        }
    }

    pub fn name(&self) -> &RoomName {
        &self.name
    }

    pub fn is_persistent(&self) -> bool {
        self.persistent.load(Ordering::Relaxed)
    }

    /// Puts the room in the config (never dropped) or takes it out.
    pub fn set_persistent(&self, persistent: bool) {
        self.persistent.store(persistent, Ordering::Relaxed);
    }

    /// Changes how many messages memory holds, dropping the oldest beyond it
    /// (a room with a log still has them on disk).
    pub fn set_history_keep(&self, history_keep: usize) {
        let mut state = self.lock();
        state.history_keep = history_keep;
        while state.history.len() > history_keep {
            state.history.pop_front();
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, RoomState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Assigns the next `seq`, stores the message and queues it to every member,
    /// the sender included. Returns the `seq` and `ts` for the sender's `ok`.
    pub fn post(&self, from: &Nick, text: String, action: bool) -> (u64, String) {
        let mut state = self.lock();
        let seq = state.last_seq + 1;
        let ts = time::now();
        let frame = Event::Message(Message {
            room: Some(self.name.clone()),
            to: None,
            seq: Some(seq),
            ts: ts.clone(),
            from: from.clone(),
            text,
            action,
        })
        .encode();
        state.last_seq = seq;
        state.remember(frame.clone());
        state.broadcast(&frame, None);
        (seq, ts)
    }

    /// The `seq` of the newest published message (0 for none).
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// Publishes a message the log has stored: history, then every member. The
    /// log writer calls this for each room in `seq` order.
    pub fn publish_message(&self, frame: &Frame, seq: u64) {
        let mut state = self.lock();
        debug_assert_eq!(
            seq,
            state.last_seq + 1,
            "messages are published in seq order"
        );
        state.last_seq = seq;
        state.logged = true;
        state.remember(frame.clone());
        state.broadcast(frame, None);
    }

    /// Applies a topic change the log has stored and tells every member.
    pub fn publish_topic(&self, topic: String, frame: &Frame) {
        let mut state = self.lock();
        state.topic = topic;
        state.logged = true;
        state.broadcast(frame, None);
    }

    /// Sets the topic and tells every member, the setter included.
    pub fn set_topic(&self, by: &Nick, topic: String) {
        let mut state = self.lock();
        state.topic.clone_from(&topic);
        let frame = Event::Topic {
            room: self.name.clone(),
            topic,
            by: by.clone(),
            ts: time::now(),
        }
        .encode();
        state.broadcast(&frame, None);
    }

    /// Queues `frame` to every member but `sender`.
    pub fn tell_others(&self, sender: &Client, frame: &Frame) {
        self.lock().broadcast(frame, Some(sender.id()));
    }

    /// The members' nicks, sorted case-insensitively.
    pub fn members(&self) -> Vec<Nick> {
        self.lock().member_nicks()
    }

    pub fn summary(&self) -> RoomSummary {
        let state = self.lock();
        RoomSummary {
            room: self.name.clone(),
            members: state.members.len(),
            topic: state.topic.clone(),
        }
    }

    /// The room's current numbering.
    pub fn epoch(&self) -> Epoch {
        self.lock().epoch.clone()
    }

    /// A page for the `history` request.
    pub fn history(&self, page: HistoryPage, limit: usize) -> Page {
        self.lock().page(page, limit)
    }

    /// A page for the `history` request when older messages may be on disk from
    /// `oldest_on_disk` on.
    pub fn plan(&self, page: HistoryPage, limit: usize, oldest_on_disk: Option<u64>) -> Plan {
        self.lock().plan(page, limit, oldest_on_disk)
    }
}

impl RoomState {
    pub(super) fn topic(&self) -> &str {
        &self.topic
    }

    pub(super) fn epoch(&self) -> &Epoch {
        &self.epoch
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether the room has a log on disk (and so is never dropped).
    pub(super) fn is_logged(&self) -> bool {
        self.logged
    }

    pub(super) fn contains(&self, client: &Client) -> bool {
        self.members.iter().any(|m| m.id() == client.id())
    }

    pub(super) fn add(&mut self, client: Arc<Client>) {
        self.members.push(client);
    }

    pub(super) fn remove(&mut self, client: &Client) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.id() != client.id());
        self.members.len() != before
    }

    pub(super) fn member_nicks(&self) -> Vec<Nick> {
        let mut nicks: Vec<Nick> = self.members.iter().map(|m| m.nick()).collect();
        nicks.sort_by_cached_key(Nick::key);
        nicks
    }

    pub(super) fn members(&self) -> &[Arc<Client>] {
        &self.members
    }

    /// Queues `frame` to every member except `except`. A member whose queue is full
    /// is marked a slow consumer by its outbox and skipped; nobody waits.
    pub(super) fn broadcast(&self, frame: &Frame, except: Option<u64>) {
        for member in &self.members {
            if Some(member.id()) != except {
                member.outbox().push(frame);
            }
        }
    }

    fn remember(&mut self, frame: Frame) {
        if self.history_keep == 0 {
            return;
        }
        if self.history.len() == self.history_keep {
            self.history.pop_front();
        }
        self.history.push_back(frame);
    }

    /// Seq of the oldest message still held.
    fn first_seq(&self) -> u64 {
        self.last_seq + 1 - self.history.len() as u64
    }

    /// A page from memory alone.
    pub(super) fn page(&self, page: HistoryPage, limit: usize) -> Page {
        let plan = self.plan(page, limit, None);
        Page {
            messages: plan.memory,
            more: plan.more,
        }
    }

    /// The page as a `seq` range over everything that exists, memory and (from
    /// `oldest_on_disk` on) the log: the part memory holds is taken now, under the
    /// lock; the older part is left for the caller to read from the files. Those
    /// lines were written before their messages were published, and never change.
    pub(super) fn plan(
        &self,
        page: HistoryPage,
        limit: usize,
        oldest_on_disk: Option<u64>,
    ) -> Plan {
        // Half-open seq ranges: [lo, hi) exists, [start, end) is the page.
        let hi = self.last_seq + 1;
        let first_in_memory = self.first_seq();
        let lo = oldest_on_disk.map_or(first_in_memory, |disk| disk.min(first_in_memory));
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let (start, end, more) = match page {
            HistoryPage::Newest => {
                let start = hi.saturating_sub(limit).max(lo);
                (start, hi, start > lo)
            }
            HistoryPage::Before(before) => {
                let end = before.clamp(lo, hi);
                let start = end.saturating_sub(limit).max(lo);
                (start, end, start > lo)
            }
            HistoryPage::After(after) => {
                let start = after.saturating_add(1).clamp(lo, hi);
                let end = start.saturating_add(limit).min(hi);
                (start, end, end < hi)
            }
        };
        let index = |seq: u64| (seq.max(first_in_memory) - first_in_memory) as usize;
        Plan {
            disk: start..end.min(first_in_memory).max(start),
            memory: self
                .history
                .range(index(start)..index(end))
                .cloned()
                .collect(),
            more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room_with(messages: u64, keep: usize) -> Room {
        let room = Room::new(RoomName::parse("test").unwrap(), String::new(), false, keep);
        let alice = Nick::parse("alice").unwrap();
        for n in 1..=messages {
            room.post(&alice, format!("m{n}"), false);
        }
        room
    }

    fn seqs(page: &Page) -> Vec<u64> {
        page.messages
            .iter()
            .map(|frame| {
                let value: serde_json::Value = serde_json::from_str(frame.get()).unwrap();
                value["seq"].as_u64().unwrap()
            })
            .collect()
    }

    #[test]
    fn pages_in_every_direction() {
        let room = room_with(10, 100);
        let newest = room.history(HistoryPage::Newest, 3);
        assert_eq!((seqs(&newest), newest.more), (vec![8, 9, 10], true));
        let before = room.history(HistoryPage::Before(8), 3);
        assert_eq!((seqs(&before), before.more), (vec![5, 6, 7], true));
        let first = room.history(HistoryPage::Before(3), 5);
        assert_eq!((seqs(&first), first.more), (vec![1, 2], false));
        let after = room.history(HistoryPage::After(7), 2);
        assert_eq!((seqs(&after), after.more), (vec![8, 9], true));
        let last = room.history(HistoryPage::After(8), 5);
        assert_eq!((seqs(&last), last.more), (vec![9, 10], false));
        let beyond = room.history(HistoryPage::After(u64::MAX), 5);
        assert_eq!((seqs(&beyond), beyond.more), (vec![], false));
        let empty = room.history(HistoryPage::Newest, 0);
        assert_eq!((seqs(&empty), empty.more), (vec![], true));
    }

    #[test]
    fn keeps_only_the_newest_messages() {
        let room = room_with(10, 4);
        let all = room.history(HistoryPage::After(0), 100);
        assert_eq!((seqs(&all), all.more), (vec![7, 8, 9, 10], false));
        let old = room.history(HistoryPage::Before(7), 100);
        assert_eq!((seqs(&old), old.more), (vec![], false));
    }
}
