//! Where room records are kept, behind one trait: [`MemoryStore`] (nothing
//! outlives the process) and [`DayFileStore`] (JSONL day files on disk, with
//! group commit and restore at start). A networked store (Redis Streams, for
//! several nodes) is meant to be a third implementation of the same trait.
//!
//! A store knows records, seqs and epochs. It knows nothing of connections,
//! outboxes, request ids or `ok` frames: the sequencer (`server::sequencer`)
//! hands it batches and publishes what it stored.

mod day_files;
mod memory;

use std::fmt::Debug;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Frame;
use crate::protocol::names::RoomName;

use super::page::{Budget, Fitted};

pub use day_files::{DayFileStore, StoreError, PRIVATE_DIR};
pub use memory::MemoryStore;

/// A future a store hands back; boxed so the trait stays object-safe.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One change to a room as it is stored: the event frame every member is sent
/// (encoded once), with what the store needs to index it.
#[derive(Debug, Clone)]
pub struct Record {
    /// The room's `seq` for this record; `None` for a change that takes none
    /// (a topic).
    pub seq: Option<u64>,
    /// The record's timestamp, as the frame carries it (it picks the day file).
    pub ts: String,
    /// What the record changes besides adding to history.
    pub kind: RecordKind,
    /// The event exactly as members receive it.
    pub frame: Frame,
}

/// What a record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKind {
    Message,
    Topic(String),
    /// A moderation event (1.2): numbered and kept like a message.
    Moderation,
}

/// Records of one room, in `seq` order, that directly follow what the store
/// already holds of that room's epoch.
#[derive(Debug, Clone)]
pub struct Batch {
    pub room: RoomName,
    pub epoch: Epoch,
    pub records: Vec<Record>,
}

/// How much of a batch a store kept: the first `n` records. A store keeps a
/// prefix or nothing, never records after a gap, so the seqs of the records it
/// did not keep can be handed out again.
pub type Kept = usize;

/// What to do once a batch is stored: called once, with how many records
/// were kept, on whatever thread the store finishes on (the day-file writer's
/// own, say), so it must only queue, never wait.
pub type Done = Box<dyn FnOnce(Kept) + Send>;

/// The outcome of [`Store::append`]: ready at once (memory), or later (disk,
/// network): then the caller hands over what to do when it is ([`Done`]).
pub enum Completion {
    Done(Kept),
    Later(Box<dyn FnOnce(Done) + Send>),
}

/// A room as a store brought it back at start.
#[derive(Debug)]
pub struct RestoredRoom {
    pub name: RoomName,
    /// The numbering the room continues (a new one when its last seq could not
    /// be established).
    pub epoch: Epoch,
    /// The room's latest topic, if the store holds one.
    pub topic: Option<String>,
    /// The newest seq of `epoch` (0 when none was given in it yet).
    pub last_seq: u64,
    /// The newest messages, contiguous in seq and ending at `last_seq`.
    pub history: Vec<Frame>,
}

/// Where room records are kept.
pub trait Store: Send + Sync + Debug {
    /// Whether rooms this store holds records of outlive the process (and so
    /// are never dropped when empty).
    fn is_durable(&self) -> bool;

    /// Stores a batch. A store that fails logs why, keeps a prefix of the batch
    /// (usually none) and reports how many records it kept.
    fn append(&self, batch: &Batch) -> Completion;

    /// Stores a private message event (`frame`, sent at `ts`) when this store
    /// keeps private messages; `None` when it does not. `Some(false)`: it could
    /// not be stored.
    fn append_private(&self, frame: &Frame, ts: &str) -> Option<StoreFuture<bool>>;

    /// The oldest seq of `epoch` this store can read back for `room`, if any.
    fn oldest_seq(&self, room: &RoomName, epoch: &Epoch) -> Option<u64>;

    /// The room's messages of `epoch` with a seq in `range`, oldest first,
    /// in strictly increasing seq, as many as fit `budget` from the end it
    /// keeps (a page's stored part is bounded in bytes like the rest of it).
    fn read(
        &self,
        room: &RoomName,
        epoch: &Epoch,
        range: Range<u64>,
        budget: Budget,
    ) -> StoreFuture<Fitted>;

    /// Takes over a room that leaves memory (nobody is in it) so that it can
    /// come back with its numbering: its epoch, last seq and topic (`room`'s
    /// history is empty; the store has it). A store whose rooms do not outlive
    /// the process keeps nothing.
    fn set_aside(&self, room: RestoredRoom);

    /// Gives back a room set aside (or restored at start and not yet brought
    /// into memory), with no history in memory: pages come from the store.
    /// It is the caller's from then on.
    fn bring_back(&self, room: &RoomName) -> Option<RestoredRoom>;

    /// Whether `room` is set aside here (it exists, with nobody in it).
    fn holds_aside(&self, room: &RoomName) -> bool;

    /// How many rooms are set aside.
    fn aside_count(&self) -> usize;

    /// The first `limit` rooms set aside after `after` (from the first when
    /// `None`), sorted by name, with their topics: a page of the room list
    /// costs that page, however many rooms the store holds aside.
    fn aside_rooms(&self, after: Option<&RoomName>, limit: usize) -> Vec<(RoomName, String)>;

    /// Starts what runs in the background (timers); called once the server runs.
    fn start(&self);

    /// Closes and reopens files (after logrotate moved them, on SIGHUP). False
    /// when the store has no files.
    fn reopen(&self) -> bool;

    /// Finishes what is queued, makes it durable, and stops; called once every
    /// connection has ended.
    fn stop(&self, deadline: Duration) -> StoreFuture<()>;
}

/// A store opened at start, with what it restored.
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub restored: Vec<RestoredRoom>,
}

/// Opens the store the configuration asks for: day files with `[log]`, memory
/// otherwise. Only the configured rooms and the `kept` ones (rooms with
/// moderation to keep) are restored into memory; the other
/// logged rooms stay set aside in the store until someone names them.
pub fn open(settings: &Settings, kept: &[RoomName]) -> Result<Opened, StoreError> {
    match &settings.log {
        Some(log) => {
            let resident: Vec<RoomName> = settings
                .rooms
                .iter()
                .map(|r| r.name.clone())
                .chain(kept.iter().cloned())
                .collect();
            let (store, restored) =
                DayFileStore::open(log, settings.limits.history_keep, &resident)?;
            Ok(Opened {
                store: Arc::new(store),
                restored,
            })
        }
        None => Ok(Opened {
            store: Arc::new(MemoryStore),
            restored: Vec::new(),
        }),
    }
}
