//! One room: its members, topic, epoch, `seq` counter, in-memory history, and
//! (under a lock of its own) the queue of changes waiting for the sequencer. A
//! room's lock is held while a stored record is applied and queued to every
//! member, so every member sees the room's records in `seq` order. Queuing
//! never waits (see `outbox`), so the lock is held for a bounded, I/O-free
//! moment; storing, and waiting for members that are slow to drain, happen
//! outside it.
//!
//! History older than what memory holds is read from the store, outside the
//! lock ([`Plan::stored`]). What memory holds is bounded twice: `history_keep`
//! messages per room, and the server-wide byte budget (`budget`), which may
//! forget a room's oldest messages at any time.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::protocol::epoch::Epoch;
use crate::protocol::frames::{Frame, RoomSummary};
use crate::protocol::moderation::MemberDetail;
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::HistoryPage;

use super::budget::{HistoryBudget, ENTRY_OVERHEAD};
use super::hub::Client;
use super::rules::Rules;
use super::sequencer::Queued;
use super::store::RestoredRoom;

/// A page of history as the room's lock sees it: the part memory holds, and the
/// older part (a `seq` range) to read from the store.
#[derive(Debug)]
pub struct Plan {
    /// Messages older than memory's, to read from the store; empty when none.
    pub stored: Range<u64>,
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
    /// The numbering of this room's seqs; fixed for the room's life (a room
    /// created again is a new room with a new epoch).
    epoch: Epoch,
    state: Mutex<RoomState>,
    commits: Mutex<CommitQueue>,
    /// Roles, flags, bans, mutes and invites. A leaf lock: taken after the
    /// state's or the commit queue's, never before them.
    rules: Mutex<Rules>,
    /// The server-wide history budget (the state holds it too, to account
    /// under its lock).
    budget: Arc<HistoryBudget>,
}

#[derive(Debug)]
pub(super) struct RoomState {
    members: Vec<Arc<Client>>,
    topic: String,
    /// The seq of the newest record applied (0 for none in this epoch).
    last_seq: u64,
    /// At most the last `history_keep` messages, contiguous in `seq` and
    /// ending at `last_seq`, with their age stamps for the budget.
    history: VecDeque<Held>,
    history_keep: usize,
    /// A durable store holds records of this room: when nobody is in it, it
    /// is set aside in the store rather than ended, so its numbering goes on.
    stored: bool,
    /// The room itself, as the budget names it.
    me: Weak<Room>,
    budget: Arc<HistoryBudget>,
}

/// One message in memory, with its server-wide age stamp.
#[derive(Debug)]
struct Held {
    ticket: u64,
    frame: Frame,
}

impl Held {
    fn cost(&self) -> usize {
        self.frame.get().len() + ENTRY_OVERHEAD
    }
}

/// The room's queue for the sequencer, under a lock of its own so that a
/// session queuing a change never waits for a fan-out in progress. Lock order:
/// the room's state, then this; the sequencer never holds both.
#[derive(Debug)]
pub(super) struct CommitQueue {
    /// Changes waiting for the batch in flight to finish (see `sequencer`).
    pub(super) waiting: VecDeque<Queued>,
    /// A batch of this room is with the store: the next waits its turn, so the
    /// store sees each room's records in seq order and without gaps.
    pub(super) committing: bool,
    /// The seq of the last change applied; the next batch follows it. A copy
    /// of the state's `last_seq`, both set in `Sequencer::finish`, so that
    /// queuing a change never takes the state's lock.
    pub(super) last_seq: u64,
    /// Members whose outbound queue was over its soft bound after the last
    /// fan-out: the room's next batch waits for them (see `sequencer`).
    pub(super) congested: Vec<Weak<Client>>,
}

impl Room {
    /// A room created now: a new numbering starts.
    pub fn new(
        name: RoomName,
        topic: String,
        persistent: bool,
        history_keep: usize,
        budget: Arc<HistoryBudget>,
    ) -> Arc<Room> {
        Arc::new_cyclic(|me| Room {
            name,
            persistent: AtomicBool::new(persistent),
            epoch: Epoch::new_random(),
            state: Mutex::new(RoomState {
                members: Vec::new(),
                topic,
                last_seq: 0,
                history: VecDeque::new(),
                history_keep,
                stored: false,
                me: me.clone(),
                budget: budget.clone(),
            }),
            commits: Mutex::new(CommitQueue {
                waiting: VecDeque::new(),
                committing: false,
                last_seq: 0,
                congested: Vec::new(),
            }),
            rules: Mutex::new(Rules::default()),
            budget,
        })
    }

    /// A room brought back by the store: its numbering continues. The caller
    /// enforces the budget once the room is in place.
    pub fn restored(
        restored: RestoredRoom,
        topic: String,
        persistent: bool,
        history_keep: usize,
        budget: Arc<HistoryBudget>,
    ) -> Arc<Room> {
        let room = Arc::new_cyclic(|me| Room {
            name: restored.name,
            persistent: AtomicBool::new(persistent),
            epoch: restored.epoch,
            state: Mutex::new(RoomState {
                members: Vec::new(),
                topic,
                last_seq: restored.last_seq,
                history: VecDeque::new(),
                history_keep,
                stored: true,
                me: me.clone(),
                budget: budget.clone(),
            }),
            commits: Mutex::new(CommitQueue {
                waiting: VecDeque::new(),
                committing: false,
                last_seq: restored.last_seq,
                congested: Vec::new(),
            }),
            rules: Mutex::new(Rules::default()),
            budget,
        });
        {
            let mut state = room.lock();
            let skip = restored.history.len().saturating_sub(history_keep);
            for frame in restored.history.into_iter().skip(skip) {
                state.push_history(frame);
            }
        }
        room
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
    /// (a durable store still has them).
    pub fn set_history_keep(&self, history_keep: usize) {
        let mut state = self.lock();
        state.history_keep = history_keep;
        while state.history.len() > history_keep {
            state.pop_history();
        }
    }

    /// The budget's eviction: forgets the room's oldest message if it is the
    /// one stamped `ticket`; false when it is not (it went meanwhile).
    pub(super) fn forget_oldest(&self, ticket: u64) -> bool {
        let mut state = self.lock();
        if state
            .history
            .front()
            .is_some_and(|held| held.ticket == ticket)
        {
            state.pop_history();
            true
        } else {
            false
        }
    }

    /// Forgets the server's oldest history until it fits the budget; called
    /// after adding to this room's, with none of its locks held.
    pub(super) fn enforce_budget(&self) {
        self.budget.enforce();
    }

    /// How many messages memory holds for the room.
    pub fn held(&self) -> usize {
        self.lock().history.len()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, RoomState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The room's moderation. Never hold it while taking the room's other
    /// locks.
    pub fn rules(&self) -> MutexGuard<'_, Rules> {
        self.rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the room stays when nobody is in it: it is in the config, or
    /// it has moderation to keep (claimed, flags, bans).
    pub fn is_kept(&self) -> bool {
        self.is_persistent() || self.rules().is_kept()
    }

    pub(super) fn commits(&self) -> MutexGuard<'_, CommitQueue> {
        self.commits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a change to the room is still being stored: then it must stay
    /// in memory even when empty. Takes the commit queue's lock inside the
    /// state's, in the documented order.
    pub(super) fn is_committing(&self, _state: &RoomState) -> bool {
        self.commits().committing
    }

    /// The room's numbering.
    pub fn epoch(&self) -> &Epoch {
        &self.epoch
    }

    /// Whether `client` is a member.
    pub fn has_member(&self, client: &Client) -> bool {
        self.lock().contains(client)
    }

    /// The members with their accounts and roles, sorted by nick (`who` with
    /// `detail`).
    pub fn member_details(&self) -> Vec<MemberDetail> {
        let mut members: Vec<(Nick, Option<Nick>)> = self
            .lock()
            .members
            .iter()
            .map(|member| (member.nick(), member.account()))
            .collect();
        members.sort_by_cached_key(|(nick, _)| nick.key());
        let rules = self.rules();
        members
            .into_iter()
            .map(|(nick, account)| MemberDetail {
                role: rules.role_of(account.as_ref().map(Nick::as_str)),
                nick,
                account,
            })
            .collect()
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

    /// A page for the `history` request when older messages may be in the
    /// store from `oldest_stored` on.
    pub fn plan(&self, page: HistoryPage, limit: usize, oldest_stored: Option<u64>) -> Plan {
        self.lock().plan(page, limit, oldest_stored)
    }
}

impl RoomState {
    pub(super) fn topic(&self) -> &str {
        &self.topic
    }

    pub(super) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// A durable store holds records of the room.
    pub(super) fn is_stored(&self) -> bool {
        self.stored
    }

    /// What the store keeps of a room set aside: enough to bring it back with
    /// its numbering (its history stays on disk).
    pub(super) fn set_aside(&self, room: &Room) -> RestoredRoom {
        RestoredRoom {
            name: room.name.clone(),
            epoch: room.epoch.clone(),
            topic: Some(self.topic.clone()),
            last_seq: self.last_seq,
            history: Vec::new(),
        }
    }

    /// Forgets every message memory holds (the room is leaving memory).
    pub(super) fn clear_history(&mut self) {
        let removed: usize = self.history.iter().map(Held::cost).sum();
        let oldest = self.oldest_ticket();
        self.history.clear();
        self.budget.account(&self.me, oldest, None, 0, removed);
    }

    fn oldest_ticket(&self) -> Option<u64> {
        self.history.front().map(|held| held.ticket)
    }

    fn push_history(&mut self, frame: Frame) {
        let oldest = self.oldest_ticket();
        let held = Held {
            ticket: self.budget.ticket(),
            frame,
        };
        let added = held.cost();
        self.history.push_back(held);
        self.budget
            .account(&self.me, oldest, self.oldest_ticket(), added, 0);
    }

    fn pop_history(&mut self) {
        let oldest = self.oldest_ticket();
        if let Some(held) = self.history.pop_front() {
            self.budget
                .account(&self.me, oldest, self.oldest_ticket(), 0, held.cost());
        }
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

    /// Takes out every member `leaves` picks (kicked, banned); no `leave`
    /// event: the moderation event already told everyone.
    pub(super) fn remove_where(&mut self, mut leaves: impl FnMut(&Client) -> bool) {
        self.members.retain(|member| {
            let removed = leaves(member);
            if removed {
                member.mark_removed();
            }
            !removed
        });
    }

    /// Applies a stored moderation event: it takes its seq and a place in
    /// history like a message.
    pub(super) fn apply_event(&mut self, seq: u64, frame: &Frame, durable: bool) {
        self.apply_message(seq, frame, durable);
    }

    /// Queues `frame` to every member except `except`. A member whose queue
    /// would go beyond its hard bound is marked a slow consumer by its outbox
    /// and skipped; nobody waits.
    pub(super) fn broadcast(&self, frame: &Frame, except: Option<u64>) {
        for member in &self.members {
            if Some(member.id()) != except {
                member.outbox().push(frame);
            }
        }
    }

    /// The members that producers should wait for before adding more (see
    /// `Outbox::is_congested`).
    pub(super) fn congested_members(&self) -> Vec<Weak<Client>> {
        self.members
            .iter()
            .filter(|member| member.outbox().is_congested())
            .map(Arc::downgrade)
            .collect()
    }

    /// Applies a stored message (the sequencer's only way to add one): it
    /// becomes the newest of history. `durable`: a store that outlives the
    /// process holds it.
    pub(super) fn apply_message(&mut self, seq: u64, frame: &Frame, durable: bool) {
        debug_assert_eq!(seq, self.last_seq + 1, "messages are applied in seq order");
        self.last_seq = seq;
        self.stored |= durable;
        if self.history_keep == 0 {
            return;
        }
        if self.history.len() >= self.history_keep {
            self.pop_history();
        }
        self.push_history(frame.clone());
    }

    /// Applies a stored topic change.
    pub(super) fn apply_topic(&mut self, topic: String, durable: bool) {
        self.topic = topic;
        self.stored |= durable;
    }

    /// Seq of the oldest message still held.
    fn first_seq(&self) -> u64 {
        self.last_seq + 1 - self.history.len() as u64
    }

    /// The page as a `seq` range over everything that exists, memory and (from
    /// `oldest_stored` on) the store: the part memory holds is taken now, under
    /// the lock; the older part is left for the caller to read from the store.
    /// Stored records were stored before they were applied, and never change.
    pub(super) fn plan(&self, page: HistoryPage, limit: usize, oldest_stored: Option<u64>) -> Plan {
        // Half-open seq ranges: [lo, hi) exists, [start, end) is the page.
        let hi = self.last_seq + 1;
        let first_in_memory = self.first_seq();
        let lo = oldest_stored.map_or(first_in_memory, |stored| stored.min(first_in_memory));
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
            stored: start..end.min(first_in_memory).max(start),
            memory: self
                .history
                .range(index(start)..index(end))
                .map(|held| held.frame.clone())
                .collect(),
            more,
        }
    }
}

impl Drop for Room {
    /// A room leaving memory gives its history's bytes back to the budget.
    fn drop(&mut self) {
        self.state
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .clear_history();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sequencer::{Change, Sequencer};
    use crate::server::store::MemoryStore;

    fn room_with(messages: u64, keep: usize) -> Arc<Room> {
        let room = Room::new(
            RoomName::parse("test").unwrap(),
            String::new(),
            false,
            keep,
            Arc::new(HistoryBudget::new(usize::MAX)),
        );
        let sequencer = Sequencer::new(
            Arc::new(MemoryStore),
            Arc::new(crate::server::accounts::MemoryRegistry::default()),
        );
        let alice = Nick::parse("alice").unwrap();
        for n in 1..=messages {
            let change = Change::Message {
                from: alice.clone(),
                text: format!("m{n}"),
                action: false,
            };
            let mut committed = sequencer.commit(&room, change);
            assert!(
                committed.try_recv().is_ok(),
                "a memory store commits at once"
            );
        }
        room
    }

    fn page(room: &Room, page: HistoryPage, limit: usize) -> (Vec<u64>, bool) {
        let plan = room.plan(page, limit, None);
        let seqs = plan
            .memory
            .iter()
            .map(|frame| {
                let value: serde_json::Value = serde_json::from_str(frame.get()).unwrap();
                value["seq"].as_u64().unwrap()
            })
            .collect();
        (seqs, plan.more)
    }

    #[test]
    fn pages_in_every_direction() {
        let room = room_with(10, 100);
        assert_eq!(page(&room, HistoryPage::Newest, 3), (vec![8, 9, 10], true));
        assert_eq!(
            page(&room, HistoryPage::Before(8), 3),
            (vec![5, 6, 7], true)
        );
        assert_eq!(page(&room, HistoryPage::Before(3), 5), (vec![1, 2], false));
        assert_eq!(page(&room, HistoryPage::After(7), 2), (vec![8, 9], true));
        assert_eq!(page(&room, HistoryPage::After(8), 5), (vec![9, 10], false));
        assert_eq!(
            page(&room, HistoryPage::After(u64::MAX), 5),
            (vec![], false)
        );
        assert_eq!(page(&room, HistoryPage::Newest, 0), (vec![], true));
    }

    #[test]
    fn keeps_only_the_newest_messages() {
        let room = room_with(10, 4);
        assert_eq!(
            page(&room, HistoryPage::After(0), 100),
            (vec![7, 8, 9, 10], false)
        );
        assert_eq!(page(&room, HistoryPage::Before(7), 100), (vec![], false));
    }

    #[test]
    fn older_pages_come_from_the_store_range() {
        let room = room_with(10, 4);
        let plan = room.plan(HistoryPage::Newest, 6, Some(1));
        assert_eq!(plan.stored, 5..7);
        assert_eq!(plan.memory.len(), 4);
        assert!(plan.more);
    }
}
