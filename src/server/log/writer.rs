//! The log writer: one thread that owns every open day file. It takes whatever
//! records are queued (up to a batch), gives room messages their `seq`, appends
//! each file's lines with one write, fsyncs once per file per batch when the
//! policy is `always` (group commit: concurrent senders share the fsync), and
//! only then publishes the records to their rooms, in queue order, and
//! acknowledges their senders (queuing a room message's `ok` or `unavailable`
//! itself, right after its fan-out, so a sender can have several messages in
//! flight and they share batches). With `interval`, fsyncs happen between batches
//! once the interval has passed; with `never`, not at all.
//!
//! A thread rather than a task: write(2) and fsync block, and must not hold up
//! a runtime worker that is serving connections. Only this thread publishes room
//! messages while the log is on, so `seq`s it hands out follow the room's
//! published `seq` without any lock held across the write.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::{FsyncPolicy, LogSettings};
use crate::protocol::frames::{self, Event, Frame, Message, MessageOk};
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::RequestId;
use crate::protocol::time;
use crate::server::outbox::Outbox;

use super::files::{self, Day, PRIVATE_DIR};
use super::restore::remove_expired;
use super::{Index, NotStored, Stored};
use crate::server::room::Room;

/// Most records written (and fsynced) as one batch.
const MAX_BATCH: usize = 1024;

/// Day files kept open at once; beyond it the least recently used is closed, so
/// many rooms cannot exhaust the process's file descriptors.
const MAX_OPEN_FILES: usize = 256;

type Ack = oneshot::Sender<Result<Stored, NotStored>>;

/// What the writer's queue carries.
pub(super) enum Command {
    Append(Entry),
    /// Check the timers (fsync interval, retention) and the reopen flag.
    Wake,
    /// Write what is queued, make it durable, and end.
    Stop,
}

/// One record to log, with the sender waiting for its outcome.
pub(super) struct Entry {
    kind: Kind,
    ack: Ack,
    /// Where to queue the response (room messages): the sender's outbox and its
    /// request id. `None`: the session answers once acknowledged.
    respond: Option<(Arc<Outbox>, Option<RequestId>)>,
}

enum Kind {
    Message {
        room: Arc<Room>,
        from: Nick,
        text: String,
        action: bool,
    },
    Topic {
        room: Arc<Room>,
        by: Nick,
        topic: String,
    },
    Private {
        frame: Frame,
        ts: String,
    },
}

impl Entry {
    pub(super) fn message(
        room: Arc<Room>,
        from: Nick,
        text: String,
        action: bool,
        respond: (Arc<Outbox>, Option<RequestId>),
        ack: Ack,
    ) -> Entry {
        Entry {
            kind: Kind::Message {
                room,
                from,
                text,
                action,
            },
            ack,
            respond: Some(respond),
        }
    }

    pub(super) fn topic(room: Arc<Room>, by: Nick, topic: String, ack: Ack) -> Entry {
        Entry {
            kind: Kind::Topic { room, by, topic },
            ack,
            respond: None,
        }
    }

    pub(super) fn private(frame: Frame, ts: String, ack: Ack) -> Entry {
        Entry {
            kind: Kind::Private { frame, ts },
            ack,
            respond: None,
        }
    }
}

/// What happens once a line is stored.
enum Publish {
    Message(Arc<Room>, u64),
    Topic(Arc<Room>, String),
    Nothing,
}

/// A record turned into its line, waiting for its file's write.
struct Prepared {
    frame: Frame,
    stored: Stored,
    publish: Publish,
    ack: Ack,
    respond: Option<(Arc<Outbox>, Option<RequestId>)>,
    group: usize,
}

/// The lines of one batch that go to one file.
struct Group {
    target: String,
    room: Option<RoomName>,
    day: Day,
    lines: Vec<u8>,
    first_seq: Option<u64>,
    has_topic: bool,
    stored: bool,
}

struct OpenFile {
    day: Day,
    path: PathBuf,
    file: File,
    /// The file's length after our last successful write: a failed write is cut
    /// back to it.
    len: u64,
    /// Written since its last fsync.
    dirty: bool,
    last_used: u64,
}

pub(super) struct Writer {
    dir: PathBuf,
    policy: FsyncPolicy,
    interval: Duration,
    retention_days: u32,
    index: Arc<Index>,
    reopen: Arc<AtomicBool>,
    open: HashMap<String, OpenFile>,
    uses: u64,
    last_sync: Instant,
    /// The day retention last ran (at start, before the writer existed).
    retention_day: Day,
}

impl Writer {
    pub(super) fn new(
        settings: &LogSettings,
        index: Arc<Index>,
        reopen: Arc<AtomicBool>,
    ) -> Writer {
        Writer {
            dir: settings.dir.clone(),
            policy: settings.fsync,
            interval: settings.fsync_interval,
            retention_days: settings.retention_days,
            index,
            reopen,
            open: HashMap::new(),
            uses: 0,
            last_sync: Instant::now(),
            retention_day: files::days_ago(0),
        }
    }

    /// Serves the queue until `Stop`, or until every sender is gone.
    pub(super) fn run(mut self, mut queue: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut stopping = false;
        while !stopping {
            let Some(first) = queue.blocking_recv() else {
                break;
            };
            stopping |= take(first, &mut batch);
            // Everything that queued up during the last write and fsync goes into
            // this one: that is the group commit.
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(command) => stopping |= take(command, &mut batch),
                    Err(_) => break,
                }
            }
            if self.reopen.swap(false, Ordering::SeqCst) {
                self.reopen_files();
            }
            if !batch.is_empty() {
                self.commit(&mut batch);
            }
            if stopping {
                // Sessions are gone, but a record may have been queued just before.
                while let Ok(Command::Append(entry)) = queue.try_recv() {
                    batch.push(entry);
                }
                if !batch.is_empty() {
                    self.commit(&mut batch);
                }
            }
            self.sync_if_due();
            self.retention_if_due();
        }
        for (_, open) in self.open.drain() {
            close(self.policy, open);
        }
    }

    fn commit(&mut self, batch: &mut Vec<Entry>) {
        let mut prepared = Vec::with_capacity(batch.len());
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of: HashMap<(String, Day), usize> = HashMap::new();
        let mut next_seq: HashMap<RoomName, u64> = HashMap::new();
        for Entry { kind, ack, respond } in batch.drain(..) {
            let (target, room, frame, stored, publish) = match kind {
                Kind::Message {
                    room,
                    from,
                    text,
                    action,
                } => {
                    let name = room.name().clone();
                    let seq = next_seq
                        .entry(name.clone())
                        .or_insert_with(|| room.last_seq());
                    *seq += 1;
                    let ts = time::now();
                    let frame = Event::Message(Message {
                        room: Some(name.clone()),
                        to: None,
                        seq: Some(*seq),
                        ts: ts.clone(),
                        from,
                        text,
                        action,
                    })
                    .encode();
                    let stored = Stored {
                        seq: Some(*seq),
                        ts,
                    };
                    (
                        name.to_string(),
                        Some(name),
                        frame,
                        stored,
                        Publish::Message(room, *seq),
                    )
                }
                Kind::Topic { room, by, topic } => {
                    let name = room.name().clone();
                    let ts = time::now();
                    let frame = Event::Topic {
                        room: name.clone(),
                        topic: topic.clone(),
                        by,
                        ts: ts.clone(),
                    }
                    .encode();
                    let stored = Stored { seq: None, ts };
                    (
                        name.to_string(),
                        Some(name),
                        frame,
                        stored,
                        Publish::Topic(room, topic),
                    )
                }
                Kind::Private { frame, ts } => {
                    let stored = Stored { seq: None, ts };
                    (
                        PRIVATE_DIR.to_owned(),
                        None,
                        frame,
                        stored,
                        Publish::Nothing,
                    )
                }
            };
            let day = files::day_of(&stored.ts);
            let group = *group_of
                .entry((target.clone(), day.clone()))
                .or_insert_with(|| {
                    groups.push(Group {
                        target,
                        room,
                        day,
                        lines: Vec::new(),
                        first_seq: None,
                        has_topic: false,
                        stored: false,
                    });
                    groups.len() - 1
                });
            let g = &mut groups[group];
            g.lines.extend_from_slice(frame.get().as_bytes());
            g.lines.push(b'\n');
            match publish {
                Publish::Message(_, seq) => {
                    g.first_seq.get_or_insert(seq);
                }
                Publish::Topic(..) => g.has_topic = true,
                Publish::Nothing => {}
            }
            prepared.push(Prepared {
                frame,
                stored,
                publish,
                ack,
                respond,
                group,
            });
        }

        // Once a target's write fails, its later groups in this batch (the next
        // day's file, at midnight) are not written either: their seqs would
        // follow ones that were never stored.
        let mut failed: HashSet<String> = HashSet::new();
        for g in &mut groups {
            if failed.contains(&g.target) {
                continue;
            }
            match self.append(&g.target, &g.day, &g.lines) {
                Ok(()) => {
                    g.stored = true;
                    if let Some(room) = &g.room {
                        self.note_day(room, g);
                    }
                }
                Err((path, e)) => {
                    error!(
                        path = %path.display(),
                        "cannot write the message log: {e}; its records were refused \
                         (\"unavailable\") and not delivered"
                    );
                    failed.insert(g.target.clone());
                }
            }
        }

        // Publish in queue order: a room's messages come out in seq order, each
        // fanned out before its sender is acknowledged.
        for p in prepared {
            if !groups[p.group].stored {
                if let Some((outbox, id)) = &p.respond {
                    outbox.push(&frames::error(id.as_ref(), &super::unavailable()));
                }
                let _ = p.ack.send(Err(NotStored));
                continue;
            }
            match p.publish {
                Publish::Message(room, seq) => room.publish_message(&p.frame, seq),
                Publish::Topic(room, topic) => room.publish_topic(topic, &p.frame),
                Publish::Nothing => {}
            }
            if let Some((outbox, id)) = &p.respond {
                let ok = MessageOk {
                    seq: p.stored.seq,
                    ts: p.stored.ts.clone(),
                };
                outbox.push(&frames::ok(id.as_ref(), ok));
            }
            let _ = p.ack.send(Ok(p.stored));
        }
    }

    /// Records in the index that `g`'s day file holds messages from its first seq,
    /// and where the room's latest topic change is.
    fn note_day(&self, room: &RoomName, g: &Group) {
        let mut index = self.index.lock();
        let files = index.entry(room.clone()).or_default();
        if let Some(first) = g.first_seq {
            if files.days.last().is_none_or(|(day, _)| *day != g.day) {
                files.days.push((g.day.clone(), first));
            }
        }
        if g.has_topic {
            files.topic_day = Some(g.day.clone());
        }
    }

    /// Appends `lines` to the target's file for `day`, fsyncing it with `always`.
    fn append(
        &mut self,
        target: &str,
        day: &Day,
        lines: &[u8],
    ) -> Result<(), (PathBuf, io::Error)> {
        let always = self.policy == FsyncPolicy::Always;
        let open = self.file_for(target, day)?;
        let before = open.len;
        let result = (&open.file).write_all(lines).and_then(|()| {
            if always {
                open.file.sync_data()
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                open.len += lines.len() as u64;
                open.dirty = !always;
                Ok(())
            }
            Err(e) => {
                // What part of the batch reached the file must go: those seqs will
                // be handed out again.
                if let Err(cut) = open.file.set_len(before) {
                    warn!(path = %open.path.display(), "cannot cut a failed write back: {cut}");
                }
                let path = open.path.clone();
                // The next write opens the file afresh (and cuts any torn line).
                self.open.remove(target);
                Err((path, e))
            }
        }
    }

    fn file_for(&mut self, target: &str, day: &Day) -> Result<&mut OpenFile, (PathBuf, io::Error)> {
        self.uses += 1;
        if self.open.get(target).is_some_and(|open| open.day != *day) {
            if let Some(old) = self.open.remove(target) {
                close(self.policy, old);
            }
        }
        if !self.open.contains_key(target) {
            if self.open.len() >= MAX_OPEN_FILES {
                let coldest = self
                    .open
                    .iter()
                    .min_by_key(|(_, open)| open.last_used)
                    .map(|(name, _)| name.clone());
                if let Some(open) = coldest.and_then(|name| self.open.remove(&name)) {
                    close(self.policy, open);
                }
            }
            let open = self.open_file(target, day)?;
            self.open.insert(target.to_owned(), open);
        }
        let open = self.open.get_mut(target).expect("opened above");
        open.last_used = self.uses;
        Ok(open)
    }

    fn open_file(&self, target: &str, day: &Day) -> Result<OpenFile, (PathBuf, io::Error)> {
        let durable = self.policy != FsyncPolicy::Never;
        let target_dir = self.dir.join(target);
        match fs::create_dir(&target_dir) {
            // A new room directory must survive a crash along with its first file.
            Ok(()) if durable => files::sync_dir(&self.dir).map_err(|e| (self.dir.clone(), e))?,
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err((target_dir, e)),
        }
        let path = files::day_file(&target_dir, day);
        let existed = path.exists();
        let fail = |e| (path.clone(), e);
        let file = File::options()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(fail)?;
        let torn = files::cut_torn_tail(&file).map_err(fail)?;
        if torn > 0 {
            warn!(path = %path.display(), "cut a torn last line ({torn} bytes) before appending");
        }
        if !existed && durable {
            files::sync_dir(&target_dir).map_err(|e| (target_dir.clone(), e))?;
        }
        let len = file.metadata().map_err(fail)?.len();
        Ok(OpenFile {
            day: day.clone(),
            path,
            file,
            len,
            dirty: false,
            last_used: 0,
        })
    }

    fn reopen_files(&mut self) {
        for (_, open) in self.open.drain() {
            close(self.policy, open);
        }
        info!(dir = %self.dir.display(), "reopened log files");
    }

    fn sync_if_due(&mut self) {
        if self.policy != FsyncPolicy::Interval || self.last_sync.elapsed() < self.interval {
            return;
        }
        for open in self.open.values_mut().filter(|open| open.dirty) {
            if let Err(e) = open.file.sync_data() {
                error!(
                    path = %open.path.display(),
                    "fsync of the message log failed: {e}; what was written since the last \
                     fsync may be lost if the machine crashes"
                );
            }
            open.dirty = false;
        }
        self.last_sync = Instant::now();
    }

    /// Daily: removes the day files that have expired since the last check.
    fn retention_if_due(&mut self) {
        let today = files::days_ago(0);
        if self.retention_days == 0 || today == self.retention_day {
            return;
        }
        self.retention_day = today;
        let cutoff = files::days_ago(self.retention_days);
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                warn!(dir = %self.dir.display(), "retention: cannot list the log directory: {e}");
                return;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let room = RoomName::parse(&name)
                .ok()
                .filter(|room| room.as_str() == name);
            if room.is_none() && name != PRIVATE_DIR {
                continue;
            }
            let Ok(day_files) = files::day_files(&entry.path()) else {
                continue;
            };
            let newest = day_files.last().map(|(day, _)| day.clone());
            let topic_day = room.as_ref().and_then(|room| {
                self.index
                    .lock()
                    .get(room)
                    .and_then(|f| f.topic_day.clone())
            });
            let mut newest_removed: Option<Day> = None;
            for (day, path) in &day_files {
                // As at start: a room keeps its newest file and its latest topic.
                let protected = room.is_some()
                    && (Some(day) == newest.as_ref() || Some(day) == topic_day.as_ref());
                if day.as_str() < cutoff.as_str() && !protected && remove_expired(path) {
                    newest_removed = Some(day.clone());
                }
            }
            if let (Some(room), Some(removed)) = (room, newest_removed) {
                if let Some(files) = self.index.lock().get_mut(&room) {
                    // Nothing at or before a removed day can be paged any more.
                    files.days.retain(|(day, _)| *day > removed);
                }
            }
        }
    }
}

/// Adds an appended record to `batch`; true for `Stop`.
fn take(command: Command, batch: &mut Vec<Entry>) -> bool {
    match command {
        Command::Append(entry) => batch.push(entry),
        Command::Wake => {}
        Command::Stop => return true,
    }
    false
}

/// Closes a day file, making what was written to it durable first (unless the
/// policy is `never`).
fn close(policy: FsyncPolicy, open: OpenFile) {
    if open.dirty && policy != FsyncPolicy::Never {
        if let Err(e) = open.file.sync_data() {
            error!(path = %open.path.display(), "fsync of the message log failed on close: {e}");
        }
    }
}
