//! The server-wide budget for in-memory room history (`history_memory_bytes`).
//! Every message a room keeps in memory is stamped with a ticket from one
//! server-wide counter, so tickets order all rooms' history by age. The budget
//! counts the bytes held and, for each room that holds any, the ticket of its
//! oldest message. Past the budget, the message with the smallest ticket goes
//! first, whichever room holds it: a busy room cannot keep its own history by
//! pushing out everyone else's, and the memory held is bounded whatever the
//! number of rooms. With a message log, what memory forgets is read from disk.
//!
//! Lock order: a room's state, then this budget's lock (the innermost of the
//! server). [`HistoryBudget::enforce`] takes the budget's lock alone to find
//! the oldest message, lets it go, and only then locks that message's room, so
//! no two rooms' locks are ever held at once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Weak};

use super::room::Room;

/// What one message held in memory costs besides its bytes: the frame's
/// reference-counted allocation and its slot in the room's ring, rounded up.
pub const ENTRY_OVERHEAD: usize = 64;

/// The history budget shared by every room of a server.
#[derive(Debug)]
pub struct HistoryBudget {
    limit: AtomicUsize,
    next_ticket: AtomicU64,
    books: Mutex<Books>,
}

#[derive(Debug, Default)]
struct Books {
    /// Bytes held by every room's history, overhead included.
    used: usize,
    /// For each room holding history: the ticket of its oldest message.
    oldest: BTreeMap<u64, Weak<Room>>,
}

impl HistoryBudget {
    pub fn new(limit: usize) -> HistoryBudget {
        HistoryBudget {
            limit: AtomicUsize::new(limit),
            next_ticket: AtomicU64::new(1),
            books: Mutex::new(Books::default()),
        }
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reload changed `history_memory_bytes`; the caller then enforces it.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes held now, overhead included.
    pub fn used(&self) -> usize {
        self.books().used
    }

    /// The age stamp of a message entering a room's memory.
    pub(super) fn ticket(&self) -> u64 {
        self.next_ticket.fetch_add(1, Ordering::Relaxed)
    }

    /// What a room's history changed, called under the room's lock: `added`
    /// and `removed` bytes, and its oldest ticket before and after.
    pub(super) fn account(
        &self,
        room: &Weak<Room>,
        oldest_before: Option<u64>,
        oldest_after: Option<u64>,
        added: usize,
        removed: usize,
    ) {
        let mut books = self.books();
        books.used = (books.used + added).saturating_sub(removed);
        if oldest_before != oldest_after {
            if let Some(before) = oldest_before {
                books.oldest.remove(&before);
            }
            if let Some(after) = oldest_after {
                books.oldest.insert(after, room.clone());
            }
        }
    }

    /// Forgets the oldest messages of any room until the history held fits
    /// the budget. Called with no room's lock held.
    pub fn enforce(&self) {
        loop {
            let (ticket, room) = {
                let books = self.books();
                if books.used <= self.limit() {
                    return;
                }
                match books.oldest.first_key_value() {
                    Some((&ticket, room)) => (ticket, room.clone()),
                    // Nothing left to forget (the count is only ever an
                    // overestimate while a room is being dropped).
                    None => return,
                }
            };
            let forgotten = room
                .upgrade()
                .is_some_and(|room| room.forget_oldest(ticket));
            if !forgotten {
                // The room went, or its oldest message changed since: its
                // entry is stale (a current one is never removed here).
                let mut books = self.books();
                if books
                    .oldest
                    .get(&ticket)
                    .is_some_and(|held| Weak::ptr_eq(held, &room))
                    && room.strong_count() == 0
                {
                    books.oldest.remove(&ticket);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::names::RoomName;
    use crate::server::sequencer::{Change, Sequencer};
    use crate::server::store::MemoryStore;
    use std::sync::Arc;

    fn post(sequencer: &Sequencer, room: &Arc<Room>, n: usize) {
        let alice = crate::protocol::names::Nick::parse("alice").unwrap();
        for i in 0..n {
            let change = Change::Message {
                from: alice.clone(),
                text: format!("{i:0>100}"),
                action: false,
            };
            assert!(sequencer.commit(room, change).try_recv().is_ok());
        }
    }

    fn room(name: &str, budget: &Arc<HistoryBudget>) -> Arc<Room> {
        Room::new(
            RoomName::parse(name).unwrap(),
            String::new(),
            false,
            1000,
            budget.clone(),
        )
    }

    #[test]
    fn the_oldest_history_of_any_room_goes_first() {
        let budget = Arc::new(HistoryBudget::new(20_000));
        let sequencer = Sequencer::new(
            Arc::new(MemoryStore),
            Arc::new(crate::server::accounts::MemoryRegistry::default()),
        );
        let (quiet, busy) = (room("quiet", &budget), room("busy", &budget));
        post(&sequencer, &quiet, 10);
        post(&sequencer, &busy, 200);
        assert!(budget.used() <= 20_000, "{} bytes held", budget.used());
        // The quiet room's messages were the oldest: they went first.
        assert_eq!(quiet.held(), 0);
        assert!(busy.held() > 10 && busy.held() < 200, "{}", busy.held());
        drop(busy);
        assert_eq!(budget.used(), 0, "a dropped room gives its bytes back");
    }

    #[test]
    fn a_smaller_budget_applies_at_once() {
        let budget = Arc::new(HistoryBudget::new(1 << 20));
        let sequencer = Sequencer::new(
            Arc::new(MemoryStore),
            Arc::new(crate::server::accounts::MemoryRegistry::default()),
        );
        let one = room("one", &budget);
        post(&sequencer, &one, 100);
        assert_eq!(one.held(), 100);
        budget.set_limit(0);
        budget.enforce();
        assert_eq!((one.held(), budget.used()), (0, 0));
    }
}
