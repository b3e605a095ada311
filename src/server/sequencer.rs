//! The one write path for room state. Every change to a room (a message, a
//! topic; later moderation events) goes through [`Sequencer::commit`]:
//!
//! 1. it waits its turn in the room's queue (one batch per room is with the
//!    store at a time, so the store sees each room's records in seq order);
//! 2. it takes the next `seq` of the room's current epoch (messages) and its
//!    timestamp, and its event is encoded once ([`encode`]);
//! 3. the store keeps it ([`Store::append`]): at once in memory, after the
//!    group commit of the day files, or not at all (`unavailable`);
//! 4. stored, it is applied to the room (history, topic) and fanned out to
//!    every member, all under the room's lock, in seq order; then, with the
//!    room's locks released, the history budget is enforced (it may forget
//!    another room's oldest messages);
//! 5. the session that asked is told "stored as seq N" (or "not stored"): its
//!    [`Respond`] hook, handed over with the change, runs right after that
//!    change's fan-out and queues the session's own `ok` (or `unavailable`), so
//!    the echo always comes before the `ok`, and the next change's events after
//!    it, as if requests were carried out one at a time.
//!
//! While a batch is with the store, the room's next changes gather in its
//! queue and go together as the next batch: that, plus the store's own
//! batching across rooms, is the group commit. A change that is not stored
//! leaves no trace: its seq was never seen and is handed out again.
//!
//! A room does not outrun its readers: members whose outbound queue is over its
//! soft bound after a fan-out are noted, and the room's next batch waits (in a
//! task of its own, never in the store's writer thread) until each has drained,
//! turned lagging (its grace time is over) or gone; see `outbox`. A batch is
//! capped in bytes too, so one fan-out goes past a member's soft bound by a
//! bounded amount.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::protocol::frames::{Event, Message};
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::time;

use super::accounts::{Registry, RoomRecord};
use super::moderation::ModKind;
use super::room::{CommitQueue, Room};
use super::rules;
use super::store::{Batch, Completion, Record, RecordKind, Store};

/// Most records one batch of a room carries to the store.
const MAX_BATCH: usize = 1024;

/// Most bytes of frames one batch carries (but always at least one record):
/// what one fan-out may add to a member's queue past its soft bound.
pub const MAX_BATCH_BYTES: usize = 32 * 1024;

/// A change to a room's state, validated by the session.
#[derive(Debug, Clone)]
pub enum Change {
    Message {
        from: Nick,
        text: String,
        action: bool,
    },
    Topic {
        by: Nick,
        topic: String,
    },
    /// A moderation action (protocol 1.2): numbered like a message, and its
    /// effect on the room's record kept in the accounts store before the
    /// room store, so that an answered action is never lost.
    Moderation {
        by: Nick,
        kind: ModKind,
    },
}

/// What a stored change was given: its `seq` (messages) and its `ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub seq: Option<u64>,
    pub ts: String,
}

/// The store did not keep the change (it logged why); nobody was sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotStored;

/// The outcome of one change, for the session that asked for it.
pub type Pending = oneshot::Receiver<Result<Committed, NotStored>>;

/// What the asker does the moment its change is applied and fanned out (or
/// refused): run under the room's lock, so it must only queue, never wait.
pub type Respond = Box<dyn FnOnce(&Result<Committed, NotStored>) + Send>;

type Reply = oneshot::Sender<Result<Committed, NotStored>>;

/// A change waiting in its room's queue.
pub(super) struct Queued {
    change: Change,
    respond: Option<Respond>,
    reply: Reply,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("change", &self.change)
            .finish_non_exhaustive()
    }
}

/// Who waits for one record of a batch.
struct Waiter {
    respond: Option<Respond>,
    reply: Reply,
}

impl Waiter {
    fn answer(self, result: Result<Committed, NotStored>) {
        if let Some(respond) = self.respond {
            respond(&result);
        }
        let _ = self.reply.send(result);
    }
}

/// A batch with the store, and who waits for each of its records.
struct InFlight {
    room: Arc<Room>,
    batch: Batch,
    waiters: Vec<Waiter>,
    /// A moderation batch (always alone in its batch): the action, and the
    /// room record it leaves, which the accounts store keeps first.
    moderation: Option<(ModKind, Option<RoomRecord>)>,
    /// The record above is in the accounts store.
    recorded: bool,
}

/// Commits changes to rooms through one store.
#[derive(Debug, Clone)]
pub struct Sequencer {
    store: Arc<dyn Store>,
    /// Where rooms' moderation records are kept.
    registry: Arc<dyn Registry>,
    /// Where a room waits for its congested members. Without a runtime (unit
    /// tests of rooms) nobody waits: the hard bounds still hold.
    runtime: Option<Handle>,
}

impl Sequencer {
    /// A sequencer over `store`; made inside a tokio runtime, rooms wait for
    /// congested members in tasks of that runtime.
    pub fn new(store: Arc<dyn Store>, registry: Arc<dyn Registry>) -> Sequencer {
        Sequencer {
            store,
            registry,
            runtime: Handle::try_current().ok(),
        }
    }

    /// The store rooms are kept in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Commits `change` to `room`. Never waits: the returned [`Pending`]
    /// resolves once the change is stored, applied and fanned out (or refused).
    pub fn commit(&self, room: &Arc<Room>, change: Change) -> Pending {
        self.commit_then(room, change, None)
    }

    /// Like [`Sequencer::commit`], running `respond` right after the change's
    /// own fan-out (before the next change of the room is fanned out).
    pub fn commit_then(
        &self,
        room: &Arc<Room>,
        change: Change,
        respond: Option<Respond>,
    ) -> Pending {
        let (reply, pending) = oneshot::channel();
        let first = {
            let mut queue = room.commits();
            queue.waiting.push_back(Queued {
                change,
                respond,
                reply,
            });
            if queue.committing {
                // The batch in flight takes this one along when it finishes.
                None
            } else {
                self.next(room, &mut queue)
            }
        };
        if let Some(batch) = first {
            self.drive(batch);
        }
        pending
    }

    /// Hands batches of one room to the store until its queue is empty. A
    /// store that answers at once (memory) is driven right here, in a loop; one
    /// that answers later (disk, network) finishes the batch and hands over the
    /// next one from wherever it completes (the day-file writer thread), so no
    /// session waits for another's batch and no extra task hop is paid.
    fn drive(&self, mut in_flight: InFlight) {
        loop {
            if !in_flight.recorded {
                let Some(record) = in_flight.moderation.as_ref().and_then(|(_, r)| r.clone())
                else {
                    in_flight.recorded = true;
                    continue;
                };
                // The accounts store writes durably (an fsync): never on an
                // async worker, and the room waits its turn meanwhile.
                let Some(runtime) = self.runtime.clone() else {
                    let kept = self.record(&record);
                    in_flight.recorded = kept;
                    if !kept {
                        match self.finish(in_flight, 0) {
                            Some(next) => in_flight = next,
                            None => return,
                        }
                    }
                    continue;
                };
                let sequencer = self.clone();
                runtime.spawn(async move {
                    let registry = sequencer.clone();
                    let kept = tokio::task::spawn_blocking(move || registry.record(&record))
                        .await
                        .unwrap_or(false);
                    in_flight.recorded = kept;
                    if kept {
                        sequencer.drive(in_flight);
                    } else if let Some(next) = sequencer.finish(in_flight, 0) {
                        sequencer.drive(next);
                    }
                });
                return;
            }
            match self.store.append(&in_flight.batch) {
                Completion::Done(kept) => match self.finish(in_flight, kept) {
                    Some(next) => in_flight = next,
                    None => return,
                },
                Completion::Later(when_stored) => {
                    let sequencer = self.clone();
                    when_stored(Box::new(move |kept| {
                        if let Some(next) = sequencer.finish(in_flight, kept) {
                            sequencer.drive(next);
                        }
                    }));
                    return;
                }
            }
        }
    }

    /// Keeps a room's moderation record in the accounts store; false (logged)
    /// when it could not.
    fn record(&self, record: &RoomRecord) -> bool {
        match self.registry.put_room(record) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(room = %record.room, "could not store the room's moderation: {e}");
                false
            }
        }
    }

    /// Applies and fans out the first `kept` records of a batch, refuses the
    /// rest, and takes the next batch from the room's queue, if any.
    fn finish(&self, in_flight: InFlight, kept: usize) -> Option<InFlight> {
        let InFlight {
            room,
            batch,
            waiters,
            moderation,
            recorded,
        } = in_flight;
        if kept == 0 && recorded {
            if let Some((_, Some(_))) = &moderation {
                // The accounts store took the action but the room store did
                // not: put the record back as it was, so that what is in
                // force is what was answered.
                let previous = room
                    .rules()
                    .record()
                    .cloned()
                    .unwrap_or_else(|| RoomRecord::new(room.name().as_str()));
                self.record(&previous);
            }
        }
        let durable = self.store.is_durable();
        let mut last_seq = None;
        let mut state = room.lock();
        for (index, (record, waiter)) in batch.records.into_iter().zip(waiters).enumerate() {
            if index >= kept {
                waiter.answer(Err(NotStored));
                continue;
            }
            match record.kind {
                RecordKind::Message => {
                    let seq = record.seq.expect("a message record has a seq");
                    state.apply_message(seq, &record.frame, durable);
                    last_seq = Some(seq);
                }
                RecordKind::Topic(topic) => state.apply_topic(topic, durable),
                RecordKind::Moderation => {
                    let seq = record.seq.expect("a moderation record has a seq");
                    state.apply_event(seq, &record.frame, durable);
                    last_seq = Some(seq);
                }
            }
            state.broadcast(&record.frame, None);
            if let Some((kind, new_record)) = &moderation {
                // Everyone, the kicked or banned member too, has the event;
                // from now on they are out.
                state.remove_where(|member| kind.removes(member));
                if let Some(new_record) = new_record {
                    room.rules().set_record(new_record.clone());
                }
            }
            // After the fan-out: the sender's echo is queued before its `ok`.
            waiter.answer(Ok(Committed {
                seq: record.seq,
                ts: record.ts,
            }));
        }
        let congested = state.congested_members();
        drop(state);
        let next = {
            let mut queue = room.commits();
            if let Some(seq) = last_seq {
                queue.last_seq = seq;
            }
            queue.congested = congested;
            self.next(&room, &mut queue)
        };
        if last_seq.is_some() {
            // Outside the room's locks: the oldest history may be another room's.
            room.enforce_budget();
        }
        next
    }

    /// The room's next batch, if changes wait and no member that is still
    /// congested must be waited for first. When one must, a task waits for
    /// them and then drives the batch; the room counts as committing
    /// meanwhile, so no other batch overtakes it. Called with the room's
    /// commit queue locked, and only when no batch of the room is in flight.
    fn next(&self, room: &Arc<Room>, queue: &mut CommitQueue) -> Option<InFlight> {
        if queue.waiting.is_empty() {
            // Noted members are waited for when the next change comes.
            queue.committing = false;
            return None;
        }
        queue.committing = true;
        queue.congested.retain(|member| {
            member
                .upgrade()
                .is_some_and(|member| member.outbox().is_congested())
        });
        let Some(runtime) = self
            .runtime
            .as_ref()
            .filter(|_| !queue.congested.is_empty())
        else {
            queue.congested.clear();
            return Some(next_batch(room, queue));
        };
        let congested = std::mem::take(&mut queue.congested);
        let sequencer = self.clone();
        let room = room.clone();
        runtime.spawn(async move {
            for member in congested {
                let Some(member) = member.upgrade() else {
                    continue;
                };
                // Bounded by the member's grace time; it ends early when the
                // member drains or goes.
                member.outbox().drained().await;
            }
            let next = sequencer.next(&room, &mut room.commits());
            if let Some(next) = next {
                sequencer.drive(next);
            }
        });
        None
    }
}

/// Gives the waiting changes (up to a batch, in records and in bytes) their
/// seqs, timestamps and frames. Only one batch of a room is in flight, so the
/// next seq always follows the last one applied; seqs of a batch that was not
/// stored are simply given again.
fn next_batch(room: &Arc<Room>, queue: &mut CommitQueue) -> InFlight {
    let epoch = room.epoch().clone();
    let mut seq = queue.last_seq;
    let mut records = Vec::new();
    let mut waiters = Vec::new();
    let mut bytes = 0;
    let mut moderation = None;
    while records.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
        // A moderation action goes alone in its batch: its record is kept
        // before the batch is stored, and nothing rides along with it.
        let alone = matches!(
            queue.waiting.front(),
            Some(Queued {
                change: Change::Moderation { .. },
                ..
            })
        );
        if alone && !records.is_empty() {
            break;
        }
        let Some(Queued {
            change,
            respond,
            reply,
        }) = queue.waiting.pop_front()
        else {
            break;
        };
        let ts = time::now();
        let record = match change {
            Change::Message { .. } => {
                seq += 1;
                encode(room.name(), Some(seq), ts, change)
            }
            Change::Topic { .. } => encode(room.name(), None, ts, change),
            Change::Moderation { ref kind, .. } => {
                seq += 1;
                let new_record = kind.record_change().map(|change| {
                    rules::after(room.name().as_str(), room.rules().record(), &change)
                });
                moderation = Some((kind.clone(), new_record));
                encode(room.name(), Some(seq), ts, change)
            }
        };
        bytes += record.frame.get().len() + 1;
        records.push(record);
        waiters.push(Waiter { respond, reply });
        if alone {
            break;
        }
    }
    InFlight {
        room: room.clone(),
        batch: Batch {
            room: room.name().clone(),
            epoch,
            records,
        },
        waiters,
        moderation,
        recorded: false,
    }
}

/// The one place a room change becomes its event frame.
fn encode(room: &RoomName, seq: Option<u64>, ts: String, change: Change) -> Record {
    let (kind, event) = match change {
        Change::Message { from, text, action } => (
            RecordKind::Message,
            Event::Message(Message {
                room: Some(room.clone()),
                to: None,
                seq,
                ts: ts.clone(),
                from,
                text,
                action,
            }),
        ),
        Change::Topic { by, topic } => (
            RecordKind::Topic(topic.clone()),
            Event::Topic {
                room: room.clone(),
                topic,
                by,
                ts: ts.clone(),
            },
        ),
        Change::Moderation { by, kind } => (
            RecordKind::Moderation,
            // Moderation always takes a seq (`next_batch`).
            kind.event(room, seq.unwrap_or_default(), ts.clone(), by),
        ),
    };
    Record {
        seq,
        ts,
        kind,
        frame: event.encode(),
    }
}
