//! The day-file writer: one thread that owns every open day file and every
//! room's ledger. It takes whatever is queued (up to a round of commands: room
//! batches from the sequencer, private messages), appends each file's lines
//! with one write, fsyncs once per file per round when the policy is `always`
//! (group commit: concurrent senders and rooms share the fsync), and only then
//! reports to each batch how many of its records were stored, by running the
//! batch's completion on this thread: the sequencer then fans the records out
//! and queues the room's next batch, which the next round takes. With
//! `interval`, fsyncs happen between rounds once the interval has passed; with
//! `never`, not at all.
//!
//! Before the first append to a room after its ledger was sealed, and at each
//! new day, the room's ledger is opened on that day; an epoch marker line goes
//! before the first record appended to a file since it was opened. On SIGHUP
//! (reopen) and at stop every ledger is sealed again.
//!
//! A thread rather than a task: write(2) and fsync block, and must not hold up
//! a runtime worker that is serving connections.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::{FsyncPolicy, LogSettings};
use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Frame;
use crate::protocol::names::RoomName;
use crate::protocol::time;
use crate::server::store::{Batch, Done, Kept, RecordKind};

use super::files::{self, Day, PRIVATE_DIR};
use super::ledger::{self, Ledger};
use super::restore::remove_expired;
use super::{Index, RoomFiles};

/// Most commands taken as one round.
const MAX_ROUND: usize = 1024;

/// Day files kept open at once; beyond it the least recently used is closed, so
/// many rooms cannot exhaust the process's file descriptors.
const MAX_OPEN_FILES: usize = 256;

/// What the writer's queue carries.
pub(super) enum Command {
    /// A room's records; `done` is told how many were stored.
    Append { batch: Batch, done: Answer },
    /// A private message event; the answer is whether it was stored.
    Private {
        frame: Frame,
        ts: String,
        done: oneshot::Sender<bool>,
    },
    /// Check the timers (fsync interval, retention) and the reopen flag.
    Wake,
    /// Write what is queued, make it durable, seal the ledgers, and end.
    Stop,
}

/// A batch's completion, told exactly once: how many records were stored, or,
/// if the writer never gets to the batch (it stopped, or its thread died),
/// that none was, so the room's waiting changes are refused instead of
/// waiting for ever.
pub(super) struct Answer(Option<Done>);

impl Answer {
    pub(super) fn new(done: Done) -> Answer {
        Answer(Some(done))
    }

    pub(super) fn tell(mut self, kept: Kept) {
        if let Some(done) = self.0.take() {
            done(kept);
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            done(0);
        }
    }
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
    /// The epoch the lines appended since the file was opened belong to.
    marked: Option<Epoch>,
}

pub(super) struct Writer {
    dir: PathBuf,
    policy: FsyncPolicy,
    interval: Duration,
    retention_days: u32,
    index: Arc<Index>,
    ledgers: HashMap<RoomName, Ledger>,
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
        ledgers: HashMap<RoomName, Ledger>,
        reopen: Arc<AtomicBool>,
    ) -> Writer {
        Writer {
            dir: settings.dir.clone(),
            policy: settings.fsync,
            interval: settings.fsync_interval,
            retention_days: settings.retention_days,
            index,
            ledgers,
            reopen,
            open: HashMap::new(),
            uses: 0,
            last_sync: Instant::now(),
            retention_day: files::days_ago(0),
        }
    }

    fn durable(&self) -> bool {
        self.policy != FsyncPolicy::Never
    }

    /// Serves the queue until `Stop`, or until every sender is gone.
    pub(super) fn run(mut self, mut queue: mpsc::UnboundedReceiver<Command>) {
        let mut round = Vec::with_capacity(MAX_ROUND);
        let mut stopping = false;
        while !stopping {
            let Some(first) = queue.blocking_recv() else {
                break;
            };
            stopping |= take(first, &mut round);
            // Whatever queued up during the last write and fsync goes into
            // this round: that is the group commit.
            while round.len() < MAX_ROUND {
                match queue.try_recv() {
                    Ok(command) => stopping |= take(command, &mut round),
                    Err(_) => break,
                }
            }
            if self.reopen.swap(false, Ordering::SeqCst) {
                self.reopen_files();
            }
            self.commit(&mut round);
            if stopping {
                // Connections are gone, but something may have been queued just before.
                while let Ok(command) = queue.try_recv() {
                    take(command, &mut round);
                }
                self.commit(&mut round);
            }
            self.sync_if_due();
            self.retention_if_due();
        }
        for (_, open) in self.open.drain() {
            close(self.policy, open);
        }
        self.seal_ledgers();
    }

    /// Writes one round: each room batch with one write (and, with `always`,
    /// one fsync) per file, the round's private messages together, then the
    /// answers (an answer means durable per the policy).
    fn commit(&mut self, round: &mut Vec<Command>) {
        let mut private: Vec<(Frame, String, oneshot::Sender<bool>)> = Vec::new();
        let mut completions: Vec<(Answer, Kept)> = Vec::new();
        for command in round.drain(..) {
            match command {
                Command::Append { batch, done } => {
                    let kept = self.append_batch(&batch);
                    completions.push((done, kept));
                }
                Command::Private { frame, ts, done } => private.push((frame, ts, done)),
                Command::Wake | Command::Stop => {}
            }
        }
        // Grouped by day (a round that spans midnight writes two files).
        while !private.is_empty() {
            let day = files::day_of(&private[0].1);
            let (today, later): (Vec<_>, Vec<_>) = private
                .into_iter()
                .partition(|(_, ts, _)| files::day_of(ts) == day);
            private = later;
            let mut lines = Vec::new();
            for (frame, _, _) in &today {
                lines.extend_from_slice(frame.get().as_bytes());
                lines.push(b'\n');
            }
            let stored = match self.append(PRIVATE_DIR, &day, None, &lines) {
                Ok(()) => true,
                Err((path, e)) => {
                    error!(
                        path = %path.display(),
                        "cannot write the message log: {e}; its private messages were \
                         refused (\"unavailable\") and not delivered"
                    );
                    false
                }
            };
            for (_, _, done) in today {
                let _ = done.send(stored);
            }
        }
        // Last, once every file of the round is written: each completion fans
        // its records out and may queue its room's next batch for the next round.
        for (answer, kept) in completions {
            answer.tell(kept);
        }
    }

    /// Appends a room's batch, a day at a time; returns how many records (a
    /// prefix) were stored. After a failure nothing more of the batch is
    /// written: those seqs will be handed out again.
    fn append_batch(&mut self, batch: &Batch) -> Kept {
        let mut kept = 0;
        let records = &batch.records;
        while kept < records.len() {
            let day = files::day_of(&records[kept].ts);
            let end = kept
                + records[kept..]
                    .iter()
                    .take_while(|record| files::day_of(&record.ts) == day)
                    .count();
            let group = &records[kept..end];
            if let Err((path, e)) = self.open_ledger(&batch.room, &batch.epoch, &day) {
                error!(
                    path = %path.display(),
                    "cannot write the room's ledger: {e}; its records were refused \
                     (\"unavailable\") and not delivered"
                );
                break;
            }
            let mut lines = Vec::new();
            for record in group {
                lines.extend_from_slice(record.frame.get().as_bytes());
                lines.push(b'\n');
            }
            let marker = Some((&batch.room, &batch.epoch));
            if let Err((path, e)) = self.append(batch.room.as_str(), &day, marker, &lines) {
                error!(
                    path = %path.display(),
                    "cannot write the message log: {e}; its records were refused \
                     (\"unavailable\") and not delivered"
                );
                break;
            }
            self.note_stored(batch, group, &day);
            kept = end;
        }
        kept
    }

    /// Opens the room's ledger on `day` unless it already is: from now on that
    /// day's file holds the room's last seq.
    fn open_ledger(
        &mut self,
        room: &RoomName,
        epoch: &Epoch,
        day: &Day,
    ) -> Result<(), (PathBuf, io::Error)> {
        let ledger = self.ledgers.entry(room.clone()).or_insert_with(|| Ledger {
            epoch: epoch.clone(),
            last_seq: 0,
            topic: None,
            as_of: time::now(),
            open_day: None,
        });
        if ledger.epoch != *epoch {
            // The room started a new numbering while the writer ran.
            ledger.epoch = epoch.clone();
            ledger.last_seq = 0;
            ledger.open_day = None;
        }
        if ledger.open_day.as_ref() == Some(day) {
            return Ok(());
        }
        let mut opened = ledger.clone();
        opened.open_day = Some(day.clone());
        opened.as_of = time::now();
        let room_dir = self.room_dir(room.as_str())?;
        ledger::write(&room_dir, &opened, self.durable())
            .map_err(|e| (ledger::path(&room_dir), e))?;
        self.ledgers.insert(room.clone(), opened);
        Ok(())
    }

    /// Seals every ledger: nothing more is appended until it is opened again,
    /// so its last seq is the room's.
    fn seal_ledgers(&mut self) {
        let durable = self.durable();
        for (room, ledger) in &mut self.ledgers {
            if ledger.open_day.is_none() {
                continue;
            }
            let mut sealed = ledger.clone();
            sealed.open_day = None;
            sealed.as_of = time::now();
            let room_dir = self.dir.join(room.as_str());
            match ledger::write(&room_dir, &sealed, durable) {
                Ok(()) => *ledger = sealed,
                Err(e) => warn!(
                    path = %ledger::path(&room_dir).display(),
                    "cannot seal the room's ledger: {e}; if its day file is moved away \
                     before the next message, the room will start a new numbering"
                ),
            }
        }
    }

    /// Records what a stored group of records changed: the ledger's last seq
    /// and topic, and the day index history reads use.
    fn note_stored(&mut self, batch: &Batch, group: &[crate::server::store::Record], day: &Day) {
        let first_seq = group.iter().find_map(|record| record.seq);
        let last_seq = group.iter().rev().find_map(|record| record.seq);
        let topic = group.iter().rev().find_map(|record| match &record.kind {
            RecordKind::Topic(topic) => Some(topic.clone()),
            RecordKind::Message | RecordKind::Moderation => None,
        });
        let durable = self.durable();
        if let Some(ledger) = self.ledgers.get_mut(&batch.room) {
            if let Some(last) = last_seq {
                ledger.last_seq = last;
            }
            if let Some(topic) = &topic {
                // The ledger keeps the topic for when the day files are gone.
                ledger.topic = Some(topic.clone());
                ledger.as_of = time::now();
                let room_dir = self.dir.join(batch.room.as_str());
                if let Err(e) = ledger::write(&room_dir, ledger, durable) {
                    warn!(
                        path = %ledger::path(&room_dir).display(),
                        "cannot record the new topic in the room's ledger: {e}; the day \
                         file has it"
                    );
                }
            }
        }
        let mut index = self.index.lock();
        let files = index
            .entry(batch.room.clone())
            .or_insert_with(|| RoomFiles {
                epoch: batch.epoch.clone(),
                days: Vec::new(),
                topic_day: None,
            });
        if files.epoch != batch.epoch {
            *files = RoomFiles {
                epoch: batch.epoch.clone(),
                days: Vec::new(),
                topic_day: files.topic_day.take(),
            };
        }
        if let Some(first) = first_seq {
            if files
                .days
                .last()
                .is_none_or(|(last_day, _)| last_day != day)
            {
                files.days.push((day.clone(), first));
            }
        }
        if topic.is_some() {
            files.topic_day = Some(day.clone());
        }
    }

    /// A room's (or the private messages') directory, created if needed.
    fn room_dir(&self, target: &str) -> Result<PathBuf, (PathBuf, io::Error)> {
        let target_dir = self.dir.join(target);
        match files::create_private_dir(&target_dir) {
            // A new room directory must survive a crash along with its first file.
            Ok(()) if self.durable() => {
                files::sync_dir(&self.dir).map_err(|e| (self.dir.clone(), e))?;
            }
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err((target_dir, e)),
        }
        Ok(target_dir)
    }

    /// Appends `lines` to the target's file for `day`, fsyncing it with
    /// `always`. `marker`: the room and epoch the lines belong to; a file gets
    /// an epoch marker line before the first lines appended since it was
    /// opened (or since the room's epoch changed).
    fn append(
        &mut self,
        target: &str,
        day: &Day,
        marker: Option<(&RoomName, &Epoch)>,
        lines: &[u8],
    ) -> Result<(), (PathBuf, io::Error)> {
        let always = self.policy == FsyncPolicy::Always;
        let open = self.file_for(target, day)?;
        let before = open.len;
        let mark = marker
            .filter(|(_, epoch)| open.marked.as_ref() != Some(*epoch))
            .map(|(room, epoch)| files::epoch_marker(room, epoch, &time::now()));
        let result = mark
            .as_deref()
            .map_or(Ok(()), |line| (&open.file).write_all(line))
            .and_then(|()| (&open.file).write_all(lines))
            .and_then(|()| {
                if always {
                    open.file.sync_data()
                } else {
                    Ok(())
                }
            });
        match result {
            Ok(()) => {
                open.len += (mark.as_ref().map_or(0, Vec::len) + lines.len()) as u64;
                open.dirty = !always;
                if let Some((_, epoch)) = marker {
                    open.marked = Some(epoch.clone());
                }
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
        let durable = self.durable();
        let target_dir = self.room_dir(target)?;
        let path = files::day_file(&target_dir, day);
        let existed = path.exists();
        let fail = |e| (path.clone(), e);
        let file = files::private_file()
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
            marked: None,
        })
    }

    /// SIGHUP: closes every file (the next append opens it afresh at its
    /// path, after logrotate moved it) and seals every ledger, so a room whose
    /// day file was moved away still knows its last seq at the next start.
    fn reopen_files(&mut self) {
        for (_, open) in self.open.drain() {
            close(self.policy, open);
        }
        self.seal_ledgers();
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

/// Adds a command to the round; true for `Stop`.
fn take(command: Command, round: &mut Vec<Command>) -> bool {
    let stop = matches!(command, Command::Stop);
    if !matches!(command, Command::Wake | Command::Stop) {
        round.push(command);
    }
    stop
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_told_once_and_nothing_stored_when_dropped_untold() {
        let (told, heard) = std::sync::mpsc::channel();
        Answer::new(Box::new(move |kept| told.send(kept).unwrap())).tell(3);
        assert_eq!(heard.try_iter().collect::<Vec<_>>(), [3]);

        let (told, heard) = std::sync::mpsc::channel();
        drop(Answer::new(Box::new(move |kept| told.send(kept).unwrap())));
        assert_eq!(heard.try_iter().collect::<Vec<_>>(), [0]);
    }
}
