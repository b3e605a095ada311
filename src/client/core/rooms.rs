//! The rooms this client is in, and how far it has shown each: the room's
//! epoch (protocol 1.1: which numbering its seqs belong to) and the last seq
//! shown. A seq means something only within its epoch, so after a reconnect
//! this module decides the catch-up:
//!
//! - rejoin with `since` = the last seq shown and `epoch` = its numbering;
//! - same epoch in the answer: show what came after `since`, page on with
//!   `history` `after` in that epoch, and hold live messages meanwhile so the
//!   room reads in seq order;
//! - another epoch (the room was created anew, or the server restarted without
//!   a log), or an answer that starts at or below `since`: the numbering
//!   restarted. Tell the user, and show what the server holds of the new
//!   numbering from its start. A 1.1 server answers a stale epoch that way
//!   already; an answer that does not plainly start over (a server that still
//!   reads `since` in the new numbering) is set aside and the new numbering
//!   asked for from seq 0, so nothing of it is skipped;
//! - a page answered in another epoch (`epoch_changed`, or an `ok` naming
//!   another epoch) is never spliced onto the pages before it: the catch-up
//!   starts again from the rejoin;
//! - no epoch in the answer (a 1.0 server): the messages after `since`, but
//!   nobody can say whether they are all that was missed.
//!
//! Pure: it returns what to show and what to ask next; the chat does the I/O.

use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Event;
use crate::protocol::incoming::{HistoryAnswer, JoinAnswer, ServerEvent};
use crate::protocol::names::RoomName;
use crate::protocol::request::{HistoryPage, Request};

/// The rooms joined, in the order they were joined (the order they are
/// rejoined in).
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: Vec<Room>,
    /// The `limit` of catch-up pages: the server's `history_max`.
    page_limit: Option<u64>,
}

#[derive(Debug)]
struct Room {
    name: RoomName,
    /// The numbering `last_seq` counts in; `None` when the server did not say.
    epoch: Option<Epoch>,
    /// The highest seq shown; `None` when unknown (joined without history).
    last_seq: Option<u64>,
    /// Set while a catch-up pages through what was missed.
    catch_up: Option<CatchUp>,
    /// The topic as last heard (join answer or topic event), for `/topic`.
    topic: String,
}

#[derive(Debug)]
struct CatchUp {
    numbering: Numbering,
    shown: usize,
    /// Live room events that arrived during the catch-up, shown after it
    /// (minus what its pages already showed).
    held: Vec<ServerEvent>,
}

/// What a rejoin found out about a room's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// The same numbering: what was shown is exactly what came after `since`.
    Same { since: Option<u64> },
    /// The numbering restarted: what was shown is what the server holds of
    /// the new one.
    Restarted,
    /// The server reports no epochs: what was shown came after `since`, but a
    /// restart of the numbering would not show.
    Unknown { since: Option<u64> },
}

/// How a finished catch-up went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub room: RoomName,
    pub numbering: Numbering,
    /// Items shown by the catch-up, held live ones included.
    pub shown: usize,
}

/// What a step of the catch-up asks of the chat, in this order.
#[derive(Debug, Default)]
pub struct Progress {
    /// Tell the user this room's numbering restarted.
    pub restarted: Option<RoomName>,
    /// Show these, in order.
    pub show: Vec<ServerEvent>,
    /// Send this next, before anything else.
    pub next: Option<Request>,
    /// The catch-up of a room is over.
    pub done: Option<Summary>,
}

impl Rooms {
    pub fn new() -> Rooms {
        Rooms::default()
    }

    /// The size of catch-up pages (the server's `history_max`).
    pub fn set_page_limit(&mut self, limit: u64) {
        self.page_limit = Some(limit);
    }

    pub fn names(&self) -> Vec<RoomName> {
        self.rooms.iter().map(|room| room.name.clone()).collect()
    }

    pub fn contains(&self, name: &RoomName) -> bool {
        self.rooms.iter().any(|room| &room.name == name)
    }

    /// The room joined last, which becomes current when the current one goes.
    pub fn last(&self) -> Option<&RoomName> {
        self.rooms.last().map(|room| &room.name)
    }

    /// A room joined (not rejoined): its numbering and how far its history
    /// went. Joining a room again on the same connection changes nothing.
    pub fn joined(&mut self, answer: &JoinAnswer) {
        if self.contains(&answer.room) {
            return;
        }
        let newest = answer.history.iter().filter_map(ServerEvent::seq).max();
        let last_seq = match (newest, answer.more) {
            (Some(seq), _) => Some(seq),
            // An empty room: everything from seq 1 on is new.
            (None, false) => Some(0),
            // Joined without history (a one-shot send): unknown.
            (None, true) => None,
        };
        self.rooms.push(Room {
            name: answer.room.clone(),
            epoch: answer.epoch.clone(),
            last_seq,
            catch_up: None,
            topic: answer.topic.clone(),
        });
    }

    /// The topic of a room joined, as last heard.
    pub fn topic(&self, name: &RoomName) -> Option<&str> {
        self.rooms
            .iter()
            .find(|room| &room.name == name)
            .map(|room| room.topic.as_str())
    }

    pub fn leave(&mut self, name: &RoomName) {
        self.rooms.retain(|room| &room.name != name);
    }

    /// The joins that restore every room after a reconnect, in join order.
    /// A catch-up the drop interrupted starts again from what was shown.
    pub fn rejoins(&mut self) -> Vec<Request> {
        self.rooms
            .iter_mut()
            .map(|room| {
                room.catch_up = None;
                room.rejoin()
            })
            .collect()
    }

    /// A live event. Room events with a seq advance the room's count, or are
    /// held while the room catches up (`None`: nothing to show now).
    pub fn live(&mut self, event: ServerEvent) -> Option<ServerEvent> {
        if let ServerEvent::Known(Event::Topic { room, topic, .. }) = &event {
            if let Some(joined) = self.find(room) {
                joined.topic = topic.clone();
            }
        }
        let (Some(name), Some(seq)) = (event.room(), event.seq()) else {
            return Some(event);
        };
        let Some(room) = self.find(&name) else {
            return Some(event);
        };
        if let Some(catch_up) = &mut room.catch_up {
            catch_up.held.push(event);
            return None;
        }
        room.last_seq = Some(seq);
        Some(event)
    }

    /// The answer to a rejoin that asked for the messages after `since`.
    pub fn rejoined(&mut self, since: Option<u64>, answer: JoinAnswer) -> Progress {
        let page_limit = self.page_limit;
        let Some(room) = self.find(&answer.room) else {
            return Progress::default();
        };
        let first = answer.history.iter().find_map(ServerEvent::seq);
        // An answer to `since` holds only seqs above it; one that starts at or
        // below it started the numbering over (1.1 does that for a stale
        // epoch, and for a `since` beyond the room's newest seq).
        let started_over = matches!((since, first), (Some(since), Some(first)) if first <= since);
        let numbering = match (&room.epoch, &answer.epoch) {
            _ if started_over => Numbering::Restarted,
            (Some(had), Some(now)) if had == now => Numbering::Same { since },
            (Some(_), Some(_)) => Numbering::Restarted,
            _ => Numbering::Unknown { since },
        };
        room.epoch = answer.epoch;
        room.topic = answer.topic;
        let mut progress = Progress::default();
        // A catch-up started again on this connection keeps what it held.
        let held = room.catch_up.take().map(|c| c.held).unwrap_or_default();
        let mut catch_up = CatchUp {
            numbering,
            shown: 0,
            held,
        };
        if numbering == Numbering::Restarted {
            progress.restarted = Some(room.name.clone());
            // Nothing of the new numbering has been shown yet.
            room.last_seq = Some(0);
            let from_start = started_over || since.unwrap_or(0) == 0;
            if !from_start {
                // The answer may be the new numbering read from our old
                // `since`, which would skip its start: ask for all of it.
                progress.next = Some(room.page(0, page_limit));
                room.catch_up = Some(catch_up);
                return progress;
            }
        }
        room.advance(
            &mut catch_up,
            answer.history,
            answer.more,
            page_limit,
            &mut progress,
        );
        if progress.next.is_some() {
            room.catch_up = Some(catch_up);
        }
        progress
    }

    /// A catch-up page.
    pub fn page(&mut self, answer: HistoryAnswer) -> Progress {
        let page_limit = self.page_limit;
        let Some(room) = self.find(&answer.room) else {
            return Progress::default();
        };
        let Some(mut catch_up) = room.catch_up.take() else {
            return Progress::default();
        };
        if let (Some(had), Some(now)) = (&room.epoch, &answer.epoch) {
            if had != now {
                // Another numbering than the pages before: start again from
                // the rejoin, which sees the change and tells the user. Live
                // messages are still held until then.
                room.catch_up = Some(catch_up);
                return Progress {
                    next: Some(room.rejoin()),
                    ..Progress::default()
                };
            }
        }
        let mut progress = Progress::default();
        room.advance(
            &mut catch_up,
            answer.messages,
            answer.more,
            page_limit,
            &mut progress,
        );
        if progress.next.is_some() {
            room.catch_up = Some(catch_up);
        }
        progress
    }

    /// A catch-up page was refused with `epoch_changed`: start again from the
    /// rejoin, still holding live messages until it is done.
    pub fn epoch_changed(&mut self, name: &RoomName) -> Progress {
        let Some(room) = self.find(name) else {
            return Progress::default();
        };
        // The rejoin's answer sets the numbering; this only starts holding.
        room.catch_up.get_or_insert_with(|| CatchUp {
            numbering: Numbering::Unknown { since: None },
            shown: 0,
            held: Vec::new(),
        });
        Progress {
            next: Some(room.rejoin()),
            ..Progress::default()
        }
    }

    fn find(&mut self, name: &RoomName) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|room| &room.name == name)
    }
}

impl Room {
    /// A join asking for what came after the last seq shown, in its numbering.
    fn rejoin(&self) -> Request {
        Request::Join {
            room: self.name.clone(),
            history: None,
            since: self.last_seq,
            // An epoch only means something beside a `since`.
            epoch: self.last_seq.and(self.epoch.clone()),
        }
    }

    /// A catch-up page after `seq`, in the room's numbering.
    fn page(&self, seq: u64, limit: Option<u64>) -> Request {
        Request::History {
            room: self.name.clone(),
            page: HistoryPage::After(seq),
            limit,
            epoch: self.epoch.clone(),
        }
    }

    /// Shows the new items of one answer; then either asks for the next page
    /// or ends the catch-up with what was held meanwhile.
    fn advance(
        &mut self,
        catch_up: &mut CatchUp,
        items: Vec<ServerEvent>,
        more: bool,
        page_limit: Option<u64>,
        progress: &mut Progress,
    ) {
        let got_any = !items.is_empty();
        let newest = items.iter().filter_map(ServerEvent::seq).max();
        self.show_new(catch_up, items, &mut progress.show);
        if more && got_any {
            let after = self.last_seq.max(newest).unwrap_or(0);
            progress.next = Some(self.page(after, page_limit));
            return;
        }
        let held = std::mem::take(&mut catch_up.held);
        self.show_new(catch_up, held, &mut progress.show);
        progress.done = Some(Summary {
            room: self.name.clone(),
            numbering: catch_up.numbering,
            shown: catch_up.shown,
        });
    }

    /// Items above the last seq shown (and items without a seq) go to `show`.
    fn show_new(
        &mut self,
        catch_up: &mut CatchUp,
        items: Vec<ServerEvent>,
        show: &mut Vec<ServerEvent>,
    ) {
        for item in items {
            if let Some(seq) = item.seq() {
                if self.last_seq.is_some_and(|last| seq <= last) {
                    continue;
                }
                self.last_seq = Some(seq);
            }
            catch_up.shown += 1;
            show.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frames::{Event, Message};
    use crate::protocol::names::Nick;

    fn room() -> RoomName {
        RoomName::parse("general").unwrap()
    }

    fn epoch(name: &str) -> Option<Epoch> {
        Some(Epoch::parse(name).unwrap())
    }

    fn message(seq: u64) -> ServerEvent {
        ServerEvent::Known(Event::Message(Message {
            room: Some(room()),
            to: None,
            seq: Some(seq),
            ts: "t".into(),
            from: Nick::parse("bob").unwrap(),
            text: format!("m{seq}"),
            action: false,
        }))
    }

    fn messages(seqs: impl IntoIterator<Item = u64>) -> Vec<ServerEvent> {
        seqs.into_iter().map(message).collect()
    }

    fn seqs(items: &[ServerEvent]) -> Vec<u64> {
        items.iter().filter_map(ServerEvent::seq).collect()
    }

    fn join(epoch: Option<Epoch>, history: Vec<ServerEvent>, more: bool) -> JoinAnswer {
        JoinAnswer {
            room: room(),
            topic: String::new(),
            members: Vec::new(),
            epoch,
            history,
            more,
        }
    }

    fn page(epoch: Option<Epoch>, messages: Vec<ServerEvent>, more: bool) -> HistoryAnswer {
        HistoryAnswer {
            room: room(),
            epoch,
            messages,
            more,
        }
    }

    /// In #general, numbering E1, having shown up to seq 2.
    fn rooms_at_seq_2() -> Rooms {
        let mut rooms = Rooms::new();
        rooms.set_page_limit(3);
        rooms.joined(&join(epoch("E1"), messages(1..=2), false));
        rooms
    }

    fn rejoin_since(rooms: &mut Rooms) -> Option<u64> {
        match rooms.rejoins().as_slice() {
            [Request::Join { since, .. }] => *since,
            other => panic!("{other:?}"),
        }
    }

    fn after(request: &Option<Request>) -> (u64, Option<Epoch>) {
        match request {
            Some(Request::History {
                page: HistoryPage::After(seq),
                epoch,
                limit: Some(3),
                ..
            }) => (*seq, epoch.clone()),
            other => panic!("not a catch-up page: {other:?}"),
        }
    }

    #[test]
    fn rejoins_carry_the_last_seq_and_its_epoch() {
        let mut rooms = rooms_at_seq_2();
        assert_eq!(
            rooms.rejoins(),
            [Request::Join {
                room: room(),
                history: None,
                since: Some(2),
                epoch: epoch("E1"),
            }]
        );
        // Live messages move the count on.
        assert!(rooms.live(message(3)).is_some());
        assert_eq!(rejoin_since(&mut rooms), Some(3));
        // An empty room counts from 0; one joined without history is unknown,
        // and then no epoch is sent either.
        let mut rooms = Rooms::new();
        rooms.joined(&join(epoch("E1"), Vec::new(), false));
        assert_eq!(rejoin_since(&mut rooms), Some(0));
        let mut rooms = Rooms::new();
        rooms.joined(&join(epoch("E1"), Vec::new(), true));
        assert!(matches!(
            rooms.rejoins().as_slice(),
            [Request::Join {
                since: None,
                epoch: None,
                ..
            }]
        ));
    }

    #[test]
    fn the_same_numbering_pages_on_and_holds_live_messages() {
        let mut rooms = rooms_at_seq_2();
        rooms.rejoins();
        let progress = rooms.rejoined(Some(2), join(epoch("E1"), messages(3..=5), true));
        assert_eq!(progress.restarted, None);
        assert_eq!(seqs(&progress.show), [3, 4, 5]);
        assert_eq!(after(&progress.next), (5, epoch("E1")));
        assert!(progress.done.is_none());
        // Live messages wait for the catch-up to end.
        assert!(rooms.live(message(7)).is_none());
        assert!(rooms.live(message(8)).is_none());
        let progress = rooms.page(page(epoch("E1"), messages(6..=7), false));
        assert_eq!(seqs(&progress.show), [6, 7, 8], "7 shown once");
        assert_eq!(
            progress.done,
            Some(Summary {
                room: room(),
                numbering: Numbering::Same { since: Some(2) },
                shown: 6,
            })
        );
        assert!(rooms.live(message(9)).is_some());
    }

    #[test]
    fn nothing_new_in_the_same_numbering_is_caught_up_at_once() {
        let mut rooms = rooms_at_seq_2();
        rooms.rejoins();
        let progress = rooms.rejoined(Some(2), join(epoch("E1"), Vec::new(), false));
        assert!(progress.next.is_none() && progress.show.is_empty());
        assert_eq!(
            progress.done.map(|s| (s.numbering, s.shown)),
            Some((Numbering::Same { since: Some(2) }, 0))
        );
    }

    #[test]
    fn another_epoch_that_starts_over_is_shown_from_its_start() {
        // A 1.1 server answers a stale epoch as for `since: 0`.
        let mut rooms = rooms_at_seq_2();
        rooms.rejoins();
        let progress = rooms.rejoined(Some(2), join(epoch("E2"), messages(1..=3), true));
        assert_eq!(progress.restarted, Some(room()));
        assert_eq!(seqs(&progress.show), [1, 2, 3]);
        assert_eq!(after(&progress.next), (3, epoch("E2")));
        let progress = rooms.page(page(epoch("E2"), messages(4..=4), false));
        assert_eq!(seqs(&progress.show), [4]);
        assert_eq!(
            progress.done.map(|s| (s.numbering, s.shown)),
            Some((Numbering::Restarted, 4))
        );
        assert_eq!(
            rooms.rejoins(),
            [Request::Join {
                room: room(),
                history: None,
                since: Some(4),
                epoch: epoch("E2"),
            }]
        );
    }

    #[test]
    fn another_epoch_read_from_the_old_since_is_asked_for_again_from_0() {
        // A server that reads `since: 2` in its new numbering sends only seq 3
        // of it: set that aside and fetch the new numbering from its start.
        let mut rooms = rooms_at_seq_2();
        rooms.rejoins();
        let progress = rooms.rejoined(Some(2), join(epoch("E2"), messages(3..=3), false));
        assert_eq!(progress.restarted, Some(room()));
        assert!(progress.show.is_empty());
        assert!(progress.done.is_none());
        assert_eq!(after(&progress.next), (0, epoch("E2")));
        assert!(rooms.live(message(4)).is_none(), "held during the catch-up");
        let progress = rooms.page(page(epoch("E2"), messages(1..=3), false));
        assert_eq!(seqs(&progress.show), [1, 2, 3, 4]);
        assert_eq!(
            progress.done.map(|s| (s.numbering, s.shown)),
            Some((Numbering::Restarted, 4))
        );
    }

    #[test]
    fn an_empty_room_of_another_epoch_is_still_a_restart() {
        let mut rooms = rooms_at_seq_2();
        rooms.rejoins();
        let progress = rooms.rejoined(Some(2), join(epoch("E2"), Vec::new(), false));
        assert_eq!(progress.restarted, Some(room()));
        // Empty could mean "nothing after seq 2": ask from the start.
        assert_eq!(after(&progress.next), (0, epoch("E2")));
        let progress = rooms.page(page(epoch("E2"), Vec::new(), false));
        assert_eq!(
            progress.done.map(|s| (s.numbering, s.shown)),
            Some((Numbering::Restarted, 0))
        );
        assert_eq!(rejoin_since(&mut rooms), Some(0));
    }

    #[test]
    fn an_answer_below_since_is_a_restart_even_without_epochs() {
        let mut rooms = Rooms::new();
        rooms.joined(&join(None, messages(1..=5), false));
        rooms.rejoins();
        let progress = rooms.rejoined(Some(5), join(None, messages(1..=2), false));
        assert_eq!(progress.restarted, Some(room()));
        assert_eq!(seqs(&progress.show), [1, 2]);
        assert_eq!(progress.done.unwrap().numbering, Numbering::Restarted);
    }

    #[test]
    fn without_epochs_a_catch_up_cannot_claim_to_be_complete() {
        let mut rooms = Rooms::new();
        rooms.joined(&join(None, messages(1..=2), false));
        rooms.rejoins();
        let progress = rooms.rejoined(Some(2), join(None, Vec::new(), false));
        assert_eq!(progress.restarted, None);
        assert_eq!(
            progress.done.map(|s| (s.numbering, s.shown)),
            Some((Numbering::Unknown { since: Some(2) }, 0))
        );
    }

    #[test]
    fn a_page_of_another_numbering_is_never_spliced() {
        let mut rooms = rooms_at_seq_2();
        rooms.rejoins();
        let progress = rooms.rejoined(Some(2), join(epoch("E1"), messages(3..=5), true));
        assert_eq!(seqs(&progress.show), [3, 4, 5]);
        // The next page comes from a new numbering: nothing of it is shown,
        // the catch-up starts again with a rejoin from seq 5 of E1.
        let progress = rooms.page(page(epoch("E2"), messages(1..=3), false));
        assert!(progress.show.is_empty() && progress.done.is_none());
        assert_eq!(
            progress.next,
            Some(Request::Join {
                room: room(),
                history: None,
                since: Some(5),
                epoch: epoch("E1"),
            })
        );
        let progress = rooms.rejoined(Some(5), join(epoch("E2"), messages(1..=3), false));
        assert_eq!(progress.restarted, Some(room()));
        assert_eq!(seqs(&progress.show), [1, 2, 3]);
    }

    #[test]
    fn epoch_changed_restarts_the_catch_up_from_the_rejoin() {
        let mut rooms = rooms_at_seq_2();
        rooms.rejoins();
        rooms.rejoined(Some(2), join(epoch("E1"), messages(3..=5), true));
        assert!(rooms.live(message(10)).is_none());
        let progress = rooms.epoch_changed(&room());
        assert!(progress.show.is_empty());
        assert!(matches!(
            progress.next,
            Some(Request::Join { since: Some(5), .. })
        ));
        // Still catching up: live messages wait for the rejoin's catch-up,
        // and then follow what it brought.
        assert!(rooms.live(message(11)).is_none());
        let progress = rooms.rejoined(Some(5), join(epoch("E1"), messages(6..=9), false));
        assert_eq!(seqs(&progress.show), [6, 7, 8, 9, 10, 11]);
        assert!(rooms.live(message(12)).is_some());
    }

    #[test]
    fn a_room_left_is_forgotten_and_never_rejoined() {
        // Left, kicked or banned: the conversation calls `leave`.
        let mut rooms = rooms_at_seq_2();
        rooms.leave(&room());
        assert!(!rooms.contains(&room()));
        assert!(rooms.rejoins().is_empty());
        // Its live events are no longer counted or held.
        assert!(rooms.live(message(3)).is_some());
        assert!(rooms.rejoins().is_empty());
    }
}
