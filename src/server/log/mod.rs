//! Durable rooms: every room message (and topic change, and optionally every
//! private message) is appended as one JSON line to `DIR/ROOM/YYYY-MM-DD.jsonl`
//! before anyone sees it, and the rooms are restored from those files at start.
//!
//! The write path is one writer thread (see `writer`) fed by a bounded queue. A
//! room message does not take its `seq` in the session: the writer assigns it,
//! appends a whole batch of lines with one write per file, makes them durable
//! when the policy says so (one fsync for the batch: group commit), and only then
//! publishes them to their rooms (history and fan-out, in `seq` order) and
//! acknowledges each sender. A batch that cannot be written is never published,
//! and its `seq`s were never seen by anyone, so the next message takes the same
//! `seq` and rooms stay gap-free.
//!
//! Reading history older than a room's memory goes to the files through a small
//! per-room index (the first `seq` of each day file), streaming only the files
//! that hold the wanted range.

mod files;
mod read;
mod restore;
mod writer;

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{FsyncPolicy, LogSettings};
use crate::protocol::frames::Frame;
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::RequestId;
use crate::protocol::ProtocolError;

use super::outbox::Outbox;
use super::room::Room;

pub use files::PRIVATE_DIR;
pub use restore::RestoredRoom;

use files::Day;
use writer::{Command, Entry, Writer};

/// Records waiting for the writer. Senders wait (asynchronously) when it is full:
/// a disk that cannot keep up slows the senders down, never the readers.
const QUEUE_RECORDS: usize = 4096;

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
}

/// The answer to a record that could not be stored (the writer logs why).
pub fn unavailable() -> ProtocolError {
    ProtocolError::Unavailable(
        "the server could not store the message; it was not delivered, try again later".to_owned(),
    )
}

/// The outcome of a record, for whoever waits on it.
pub type Pending = oneshot::Receiver<Result<Stored, NotStored>>;

/// A record that was not stored (the writer logged why); nothing was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotStored;

/// What a stored record was given: its `seq` (room messages) and `ts`.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: Option<u64>,
    pub ts: String,
}

/// Where a room's day files start: the first message `seq` of each, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoomFiles {
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

/// The message log as the sessions use it.
#[derive(Debug)]
pub struct MessageLog {
    dir: PathBuf,
    private: bool,
    queue: mpsc::Sender<Command>,
    index: Arc<Index>,
    reopen: Arc<AtomicBool>,
    tick: Duration,
    stop: CancellationToken,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A log opened at start: the handle, and what it restored.
pub struct Opened {
    pub log: MessageLog,
    pub restored: Vec<RestoredRoom>,
}

/// Asks the log writer to close its files and open them afresh on the next write
/// (SIGHUP), so a day file moved away is recreated at its path.
#[derive(Debug, Clone)]
pub struct Reopener {
    flag: Arc<AtomicBool>,
    queue: mpsc::Sender<Command>,
}

impl Reopener {
    /// Takes effect before the writer's next batch; logs "reopened log files".
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // A full queue means the writer is busy: it checks the flag before its
        // next batch anyway.
        let _ = self.queue.try_send(Command::Wake);
    }
}

/// Opens (creating it if needed) the log directory, checks it can be written,
/// applies retention, restores every logged room, and starts the writer.
pub fn open(settings: &LogSettings, history_keep: usize) -> Result<Opened, StoreError> {
    let dir = settings.dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| StoreError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    check_writable(&dir)?;
    let restore::Restored { rooms, index } =
        restore::restore(&dir, history_keep, settings.retention_days)?;
    let index = Arc::new(Index {
        rooms: Mutex::new(index),
    });
    let (queue, receiver) = mpsc::channel(QUEUE_RECORDS);
    let reopen = Arc::new(AtomicBool::new(false));
    let writer = Writer::new(settings, index.clone(), reopen.clone());
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
        restored_rooms = rooms.len(),
        "message log open"
    );
    let tick = match settings.fsync {
        FsyncPolicy::Interval => settings.fsync_interval.min(IDLE_TICK),
        FsyncPolicy::Always | FsyncPolicy::Never => IDLE_TICK,
    };
    Ok(Opened {
        log: MessageLog {
            dir,
            private: settings.private,
            queue,
            index,
            reopen,
            tick,
            stop: CancellationToken::new(),
            thread: Mutex::new(Some(thread)),
        },
        restored: rooms,
    })
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

impl MessageLog {
    /// Whether private messages are logged too.
    pub fn logs_private(&self) -> bool {
        self.private
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A handle for SIGHUP.
    pub fn reopener(&self) -> Reopener {
        Reopener {
            flag: self.reopen.clone(),
            queue: self.queue.clone(),
        }
    }

    /// Wakes the writer regularly (fsync interval, daily retention) until
    /// [`MessageLog::stop`].
    pub fn start_ticker(&self) {
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
                        // Full: the writer is busy and checks its timers after each batch.
                        if let Err(mpsc::error::TrySendError::Closed(_)) = queue.try_send(Command::Wake) {
                            return;
                        }
                    }
                }
            }
        });
    }

    /// Queues a record; the receiver resolves once it is stored and published,
    /// or refused.
    async fn enqueue(
        &self,
        entry: impl FnOnce(oneshot::Sender<Result<Stored, NotStored>>) -> Entry,
    ) -> Result<Pending, NotStored> {
        let (ack, stored) = oneshot::channel();
        if self.queue.send(Command::Append(entry(ack))).await.is_err() {
            warn!("the message log writer has stopped; refusing the record");
            return Err(NotStored);
        }
        Ok(stored)
    }

    async fn submit(
        &self,
        entry: impl FnOnce(oneshot::Sender<Result<Stored, NotStored>>) -> Entry,
    ) -> Result<Stored, NotStored> {
        self.enqueue(entry).await?.await.unwrap_or(Err(NotStored))
    }

    /// Queues a room message. The writer assigns its `seq`, stores it, fans it
    /// out, and then queues the sender's response (`ok`, or `unavailable`) to
    /// `outbox` itself, so the session need not wait before reading its next
    /// request; it must wait for the returned [`Pending`] before it queues any
    /// other response. `Err`: the writer is gone, nothing was queued.
    pub async fn post(
        &self,
        room: &Arc<Room>,
        from: Nick,
        text: String,
        action: bool,
        outbox: Arc<Outbox>,
        id: Option<RequestId>,
    ) -> Result<Pending, NotStored> {
        let room = room.clone();
        self.enqueue(|ack| Entry::message(room, from, text, action, (outbox, id), ack))
            .await
    }

    /// Logs a topic change, then applies and announces it.
    pub async fn set_topic(
        &self,
        room: &Arc<Room>,
        by: Nick,
        topic: String,
    ) -> Result<Stored, NotStored> {
        let room = room.clone();
        self.submit(|ack| Entry::topic(room, by, topic, ack)).await
    }

    /// Logs a private message event (`frame`, with its `ts`); the caller delivers it.
    pub async fn private(&self, frame: Frame, ts: &str) -> Result<Stored, NotStored> {
        let ts = ts.to_owned();
        self.submit(|ack| Entry::private(frame, ts, ack)).await
    }

    /// The oldest message `seq` the room's files hold, if any.
    pub fn oldest_seq(&self, room: &RoomName) -> Option<u64> {
        self.index
            .lock()
            .get(room)
            .and_then(|files| files.days.first().map(|&(_, seq)| seq))
    }

    /// The room's messages with a `seq` in `range`, read from its day files,
    /// oldest first. Only the files that can hold the range are read, a line at a
    /// time; a file that cannot be read yields nothing (and a warning).
    pub async fn read(&self, room: &RoomName, range: Range<u64>) -> Vec<Frame> {
        if range.is_empty() {
            return Vec::new();
        }
        let days = match self.index.lock().get(room) {
            Some(files) => read::days_for(&files.days, &range),
            None => return Vec::new(),
        };
        let room_dir = self.dir.join(room.as_str());
        // File reads block; keep them off the runtime's worker threads.
        tokio::task::spawn_blocking(move || read::read_range(&room_dir, &days, range))
            .await
            .unwrap_or_default()
    }

    /// Writes what is queued, makes it durable (except with `never`), and stops
    /// the writer. Called once every session has ended.
    pub async fn stop(&self, deadline: Duration) {
        self.stop.cancel();
        let _ = self.queue.send(Command::Stop).await;
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let joined = tokio::task::spawn_blocking(move || thread.join());
            match tokio::time::timeout(deadline, joined).await {
                Ok(Ok(Ok(()))) => {}
                Ok(_) => warn!("the message log writer failed while stopping"),
                Err(_) => warn!("the message log writer did not stop in time"),
            }
        }
    }
}
