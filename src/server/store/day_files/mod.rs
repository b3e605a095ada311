//! The day-file store: durable rooms. Every room record (message, topic
//! change; optionally every private message) is appended as one JSON line to
//! `DIR/ROOM/YYYY-MM-DD.jsonl` before anyone sees it, each room's epoch and
//! last seq are kept in its ledger (`DIR/ROOM/state.json`, see `ledger`), and
//! the rooms are restored from both at start.
//!
//! The write path is one writer thread (see `writer`) fed by a bounded queue:
//! the sequencer hands it a room's batch, it appends a whole round of batches
//! with one write per file, makes them durable when the policy says so (one
//! fsync per file for the round: group commit), and only then answers how many
//! records it stored. A batch that cannot be written is never published, and
//! its seqs were never seen by anyone, so they are handed out again and rooms
//! stay gap-free.
//!
//! Reading history older than a room's memory goes to the files through a small
//! per-room index (the epoch, and the first `seq` of each day file) and a
//! sparse index per day file (seq to offset, see `read`), reading only about
//! the wanted range of the files that hold it.
//!
//! Logged rooms nobody is in are not kept in memory: the store holds them
//! aside (epoch, last seq, topic: a few hundred bytes each, with their index
//! and ledger) and hands them back when someone names them; their history is
//! read from the files.

mod files;
mod ledger;
mod read;
mod restore;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::ops::{Bound, Range};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{FsyncPolicy, LogSettings};
use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Frame;
use crate::protocol::names::RoomName;

use super::{Batch, Completion, Done, RestoredRoom, Store, StoreFuture};
use crate::server::page::{Budget, Fitted};

pub use files::PRIVATE_DIR;

use files::Day;
use writer::{Answer, Command, Writer};

/// How often an idle writer wakes up to check for fsyncs and retention when the
/// fsync policy does not ask for more often.
const IDLE_TICK: Duration = Duration::from_secs(60);

/// Why the message log could not be opened or written. I/O failures, kept apart
/// from the protocol's errors: a client only ever sees `unavailable`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the log directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write in the log directory {}: {source}", path.display())]
    NotWritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the log {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot cut the torn last line of {}: {source}", path.display())]
    Repair {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove the expired log {}: {source}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where a room's day files of its current epoch start: the first message
/// `seq` of each, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct RoomFiles {
    epoch: Epoch,
    days: Vec<(Day, u64)>,
    /// The day file holding the room's latest topic change; retention keeps it.
    topic_day: Option<Day>,
}

/// The per-room day index, shared by the writer (which adds and removes days) and
/// the sessions (which read history through it). Held only for short lookups.
#[derive(Debug, Default)]
pub(crate) struct Index {
    rooms: Mutex<HashMap<RoomName, RoomFiles>>,
}

impl Index {
    fn lock(&self) -> MutexGuard<'_, HashMap<RoomName, RoomFiles>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Room records in JSONL day files.
#[derive(Debug)]
pub struct DayFileStore {
    dir: PathBuf,
    private: bool,
    /// Unbounded, yet bounded by design: each room has at most one batch
    /// with the store (the sequencer sees to it), and each connection at most
    /// one private message, so the queue never holds more than rooms plus
    /// connections. A disk that cannot keep up slows those down, nobody else.
    queue: mpsc::UnboundedSender<Command>,
    index: Arc<Index>,
    /// Where in each day file a seq is (bounded, see `read`).
    sparse: Arc<read::Indexes>,
    /// Logged rooms not in memory, by name; see [`Store::set_aside`].
    aside: Mutex<BTreeMap<RoomName, RestoredRoom>>,
    reopen: Arc<AtomicBool>,
    tick: Duration,
    stop: CancellationToken,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl DayFileStore {
    /// Opens (creating it if needed) the log directory, checks it can be
    /// written, applies retention, restores every logged room, and starts the
    /// writer. The `resident` rooms (the configured ones) come back with their
    /// newest `history_keep` messages, for memory; the others are only set
    /// aside (numbering and topic, no history) until someone names them.
    pub fn open(
        settings: &LogSettings,
        history_keep: usize,
        resident: &[RoomName],
    ) -> Result<(DayFileStore, Vec<RestoredRoom>), StoreError> {
        let dir = settings.dir.clone();
        files::create_private_dir_all(&dir).map_err(|source| StoreError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        check_writable(&dir)?;
        let durable = settings.fsync != FsyncPolicy::Never;
        let restore::Restored {
            rooms,
            index,
            ledgers,
        } = restore::restore(
            &dir,
            history_keep,
            resident,
            settings.retention_days,
            durable,
        )?;
        let (rooms, aside): (Vec<_>, Vec<_>) = rooms
            .into_iter()
            .partition(|room| resident.contains(&room.name));
        let index = Arc::new(Index {
            rooms: Mutex::new(index),
        });
        let (queue, receiver) = mpsc::unbounded_channel();
        let reopen = Arc::new(AtomicBool::new(false));
        let writer = Writer::new(settings, index.clone(), ledgers, reopen.clone());
        let thread = std::thread::Builder::new()
            .name("confab-log".to_owned())
            .spawn(move || writer.run(receiver))
            .map_err(|source| StoreError::NotWritable {
                path: dir.clone(),
                source,
            })?;
        info!(
            dir = %dir.display(),
            fsync = settings.fsync.as_str(),
            restored_rooms = rooms.len() + aside.len(),
            in_memory = rooms.len(),
            "message log open"
        );
        let tick = match settings.fsync {
            FsyncPolicy::Interval => settings.fsync_interval.min(IDLE_TICK),
            FsyncPolicy::Always | FsyncPolicy::Never => IDLE_TICK,
        };
        let store = DayFileStore {
            dir,
            private: settings.private,
            queue,
            index,
            sparse: Arc::default(),
            aside: Mutex::new(
                aside
                    .into_iter()
                    .map(|room| (room.name.clone(), room))
                    .collect(),
            ),
            reopen,
            tick,
            stop: CancellationToken::new(),
            thread: Arc::new(Mutex::new(Some(thread))),
        };
        Ok((store, rooms))
    }
}

impl DayFileStore {
    fn aside_map(&self) -> MutexGuard<'_, BTreeMap<RoomName, RestoredRoom>> {
        self.aside.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Start-up must fail now, naming the directory, rather than at the first message.
fn check_writable(dir: &Path) -> Result<(), StoreError> {
    let probe = dir.join(".confab-write-check");
    let result = std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe));
    result.map_err(|source| StoreError::NotWritable {
        path: dir.to_path_buf(),
        source,
    })
}

impl Store for DayFileStore {
    fn is_durable(&self) -> bool {
        true
    }

    /// The writer thread calls `done` once the round holding the batch is
    /// written (and fsynced, with `always`).
    fn append(&self, batch: &Batch) -> Completion {
        let batch = batch.clone();
        let queue = self.queue.clone();
        Completion::Later(Box::new(move |done: Done| {
            let done = Answer::new(done);
            if queue.send(Command::Append { batch, done }).is_err() {
                // The refused command is dropped here, and its answer with it:
                // the batch is told that nothing was stored.
                warn!("the message log writer has stopped; refusing the records");
            }
        }))
    }

    fn append_private(&self, frame: &Frame, ts: &str) -> Option<StoreFuture<bool>> {
        if !self.private {
            return None;
        }
        let (done, stored) = oneshot::channel();
        let command = Command::Private {
            frame: frame.clone(),
            ts: ts.to_owned(),
            done,
        };
        if self.queue.send(command).is_err() {
            warn!("the message log writer has stopped; refusing the private message");
            return Some(Box::pin(std::future::ready(false)));
        }
        Some(Box::pin(async move { stored.await.unwrap_or(false) }))
    }

    fn oldest_seq(&self, room: &RoomName, epoch: &Epoch) -> Option<u64> {
        self.index
            .lock()
            .get(room)
            .filter(|files| files.epoch == *epoch)
            .and_then(|files| files.days.first().map(|&(_, seq)| seq))
    }

    fn read(
        &self,
        room: &RoomName,
        epoch: &Epoch,
        range: Range<u64>,
        budget: Budget,
    ) -> StoreFuture<Fitted> {
        let days = match self.index.lock().get(room) {
            Some(files) if files.epoch == *epoch && !range.is_empty() => {
                read::days_for(&files.days, &range)
            }
            _ => return Box::pin(std::future::ready(Fitted::default())),
        };
        let room_dir = self.dir.join(room.as_str());
        let epoch = epoch.clone();
        let sparse = self.sparse.clone();
        Box::pin(async move {
            // File reads block; keep them off the runtime's worker threads.
            tokio::task::spawn_blocking(move || {
                read::read_range(&sparse, &room_dir, &days, &epoch, range, budget)
            })
            .await
            .unwrap_or_default()
        })
    }

    fn set_aside(&self, room: RestoredRoom) {
        self.aside_map().insert(room.name.clone(), room);
    }

    fn bring_back(&self, room: &RoomName) -> Option<RestoredRoom> {
        self.aside_map().remove(room)
    }

    fn holds_aside(&self, room: &RoomName) -> bool {
        self.aside_map().contains_key(room)
    }

    fn aside_count(&self) -> usize {
        self.aside_map().len()
    }

    fn aside_rooms(&self, after: Option<&RoomName>, limit: usize) -> Vec<(RoomName, String)> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.aside_map()
            .range::<RoomName, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|(name, room)| (name.clone(), room.topic.clone().unwrap_or_default()))
            .collect()
    }

    /// Wakes the writer regularly (fsync interval, daily retention) until
    /// [`Store::stop`].
    fn start(&self) {
        let queue = self.queue.clone();
        let stop = self.stop.clone();
        let period = self.tick;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {
                        if queue.send(Command::Wake).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }

    /// Takes effect before the writer's next round; logs "reopened log files".
    fn reopen(&self) -> bool {
        self.reopen.store(true, Ordering::SeqCst);
        let _ = self.queue.send(Command::Wake);
        true
    }

    /// Writes what is queued, makes it durable (except with `never`), seals
    /// the ledgers, and stops the writer.
    fn stop(&self, deadline: Duration) -> StoreFuture<()> {
        self.stop.cancel();
        let queue = self.queue.clone();
        let thread = self.thread.clone();
        Box::pin(async move {
            let _ = queue.send(Command::Stop);
            let thread = thread.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(thread) = thread {
                let joined = tokio::task::spawn_blocking(move || thread.join());
                match tokio::time::timeout(deadline, joined).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(_) => warn!("the message log writer failed while stopping"),
                    Err(_) => warn!("the message log writer did not stop in time"),
                }
            }
        })
    }
}
