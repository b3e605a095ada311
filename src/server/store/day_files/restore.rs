//! Start-up: reads every room's ledger and day files once, oldest first, to
//! bring back what each logged room had: its epoch and last `seq` (so
//! numbering continues and is never reused; a new epoch when the last seq
//! cannot be known), its topic, and, for the rooms that start in memory (the
//! configured ones), its newest `history_keep` messages of that epoch. On the way it cuts torn last lines, applies retention, builds the day
//! index that history reads use, and seals each room's ledger with what it
//! concluded. Each file is streamed a line at a time; only the history ring is
//! kept in memory.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Frame;
use crate::protocol::names::RoomName;
use crate::protocol::time;
use crate::server::store::RestoredRoom;

use super::files::{self, Day, Probe, PRIVATE_DIR};
use super::ledger::{self, Ledger};
use super::{RoomFiles, StoreError};

pub(super) struct Restored {
    pub rooms: Vec<RestoredRoom>,
    pub index: HashMap<RoomName, RoomFiles>,
    /// Every restored room's ledger, sealed.
    pub ledgers: HashMap<RoomName, Ledger>,
}

/// What one day file holds.
struct DayFile {
    day: Day,
    path: PathBuf,
    /// First and last message `seq` of the scan's epoch as it stood after the
    /// file; `None` when the file holds none of it.
    seqs: Option<(u64, u64)>,
    /// The epoch of the file's messages started (again) in this file.
    starts_epoch: bool,
    has_topic: bool,
}

pub(super) fn restore(
    dir: &Path,
    history_keep: usize,
    resident: &[RoomName],
    retention_days: u32,
    durable: bool,
) -> Result<Restored, StoreError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Read { path, source }
    };
    let cutoff = (retention_days > 0).then(|| files::days_ago(retention_days));
    let mut rooms = Vec::new();
    let mut index = HashMap::new();
    let mut ledgers = HashMap::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(read_error(dir))?
        .collect::<Result<_, _>>()
        .map_err(read_error(dir))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        if !entry.file_type().map_err(read_error(&path))?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == PRIVATE_DIR {
            if let Some(cutoff) = &cutoff {
                let files = files::day_files(&path).map_err(read_error(&path))?;
                for (_, file) in files.iter().filter(|(day, _)| day < cutoff) {
                    remove_expired(file);
                }
            }
            continue;
        }
        match RoomName::parse(&name) {
            Ok(room) if room.as_str() == name => {
                let cutoff = cutoff.as_deref();
                // A room that does not start in memory needs no history ring.
                let keep = if resident.contains(&room) {
                    history_keep
                } else {
                    0
                };
                if let Some((restored, files, ledger)) =
                    restore_room(room.clone(), &path, keep, cutoff, durable)?
                {
                    index.insert(room.clone(), files);
                    ledgers.insert(room, ledger);
                    rooms.push(restored);
                }
            }
            _ => warn!(
                path = %path.display(),
                "not a room's log directory (not a normalized room name); ignored"
            ),
        }
    }
    Ok(Restored {
        rooms,
        index,
        ledgers,
    })
}

fn restore_room(
    name: RoomName,
    room_dir: &Path,
    history_keep: usize,
    cutoff: Option<&str>,
    durable: bool,
) -> Result<Option<(RestoredRoom, RoomFiles, Ledger)>, StoreError> {
    let read_error = |source| StoreError::Read {
        path: room_dir.to_path_buf(),
        source,
    };
    let listed = files::day_files(room_dir).map_err(read_error)?;
    let ledger = ledger::read(room_dir).map_err(read_error)?;
    if listed.is_empty() && ledger.is_none() {
        return Ok(None);
    }
    let mut scan = Scan {
        history: VecDeque::new(),
        history_keep,
        epoch: None,
        last_seq: 0,
        topic: None,
    };
    let mut day_files = Vec::with_capacity(listed.len());
    for (day, path) in listed {
        day_files.push(scan.scan_file(day, path)?);
    }

    // Retention: day files older than the cutoff go, but never the newest (it
    // carries the seq the room continues from) nor the one with the latest topic
    // change (the topic would be lost with it).
    if let (Some(cutoff), false) = (cutoff, day_files.is_empty()) {
        let newest = day_files.len() - 1;
        let topic_file = day_files.iter().rposition(|file| file.has_topic);
        let mut kept = Vec::with_capacity(day_files.len());
        for (i, file) in day_files.into_iter().enumerate() {
            let protected = i == newest || Some(i) == topic_file;
            if file.day.as_str() < cutoff && !protected && remove_expired(&file.path) {
                continue;
            }
            kept.push(file);
        }
        day_files = kept;
    }

    let in_files = scan.epoch.clone().map(|epoch| (epoch, scan.last_seq));
    let decided = decide(&name, room_dir, ledger.as_ref(), in_files.as_ref());
    let continues_files = in_files
        .as_ref()
        .is_some_and(|(epoch, last)| *epoch == decided.epoch && *last == decided.last_seq);

    // The index covers the newest run of the current epoch's files whose seqs
    // follow each other, so a history page never straddles a hole (a removed
    // or missing file) nor another numbering.
    let mut days: Vec<(Day, u64)> = Vec::new();
    if continues_files {
        let mut expected_next: Option<u64> = None;
        for file in day_files.iter().rev() {
            let Some((first, last)) = file.seqs else {
                continue;
            };
            if expected_next.is_some_and(|next| last + 1 != next) {
                break;
            }
            days.push((file.day.clone(), first));
            expected_next = Some(first);
            if file.starts_epoch {
                break;
            }
        }
        days.reverse();
    }
    let history = if continues_files {
        let oldest_stored = days.first().map_or(decided.last_seq + 1, |&(_, seq)| seq);
        // Messages from removed files are gone from history too.
        while scan
            .history
            .front()
            .is_some_and(|(seq, _)| *seq < oldest_stored)
        {
            scan.history.pop_front();
        }
        scan.history.into_iter().map(|(_, frame)| frame).collect()
    } else {
        Vec::new()
    };
    // A topic line written after the ledger is newer than the ledger's topic.
    let topic = match (&ledger, scan.topic) {
        (Some(ledger), Some((topic, ts))) if ts.as_str() >= ledger.as_of.as_str() => Some(topic),
        (Some(ledger), _) => ledger.topic.clone(),
        (None, line) => line.map(|(topic, _)| topic),
    };
    let topic_day = day_files
        .iter()
        .rev()
        .find(|file| file.has_topic)
        .map(|file| file.day.clone());
    let sealed = Ledger {
        epoch: decided.epoch.clone(),
        last_seq: decided.last_seq,
        topic: topic.clone(),
        as_of: time::now(),
        open_day: None,
    };
    // Written now, so what this start concluded holds even if the next run
    // finds the day files gone.
    ledger::write(room_dir, &sealed, durable).map_err(|source| StoreError::Write {
        path: ledger::path(room_dir),
        source,
    })?;
    Ok(Some((
        RestoredRoom {
            name,
            epoch: decided.epoch.clone(),
            topic,
            last_seq: decided.last_seq,
            history,
        },
        RoomFiles {
            epoch: decided.epoch,
            days,
            topic_day,
        },
        sealed,
    )))
}

/// The numbering a room continues.
struct Decided {
    epoch: Epoch,
    last_seq: u64,
}

/// Which epoch and last seq a room continues, from its ledger and what its
/// day files hold (`in_files`: the newest epoch in them and its last seq).
fn decide(
    room: &RoomName,
    room_dir: &Path,
    ledger: Option<&Ledger>,
    in_files: Option<&(Epoch, u64)>,
) -> Decided {
    let Some(ledger) = ledger else {
        // Logged before ledgers existed: the files are all there is.
        let (epoch, last_seq) = in_files
            .cloned()
            .unwrap_or_else(|| (files::unmarked_epoch(), 0));
        return Decided { epoch, last_seq };
    };
    let files_last = in_files
        .filter(|(epoch, _)| *epoch == ledger.epoch)
        .map(|&(_, last)| last);
    let known = match &ledger.open_day {
        // Sealed: nothing was appended after the ledger was written.
        None => true,
        // Open: the day file being appended to holds the last seq; without it
        // the last seq cannot be known.
        Some(day) => files::day_file(room_dir, day).exists() && files_last.is_some(),
    };
    if known {
        return Decided {
            epoch: ledger.epoch.clone(),
            last_seq: files_last.unwrap_or(0).max(ledger.last_seq),
        };
    }
    let epoch = Epoch::new_random();
    warn!(
        %room,
        old_epoch = %ledger.epoch,
        new_epoch = %epoch,
        "the day file that held the room's last messages is gone and the room was not \
         sealed (SIGHUP or a clean stop) after it moved; its last seq cannot be known, \
         so the room starts a new numbering"
    );
    Decided { epoch, last_seq: 0 }
}

/// Removes an expired day file; false (and a warning) if it cannot be removed.
pub(super) fn remove_expired(path: &Path) -> bool {
    match fs::remove_file(path) {
        Ok(()) => {
            info!(path = %path.display(), "removed an expired log file");
            true
        }
        Err(e) => {
            warn!(path = %path.display(), "cannot remove an expired log file: {e}");
            false
        }
    }
}

/// A room's state as the scan of its files, oldest first, builds it up.
struct Scan {
    /// The newest messages of `epoch` with their seqs, contiguous in seq.
    history: VecDeque<(u64, Frame)>,
    history_keep: usize,
    /// The epoch of the newest message seen.
    epoch: Option<Epoch>,
    /// The newest seq of `epoch`.
    last_seq: u64,
    /// The latest topic line, with its timestamp.
    topic: Option<(String, String)>,
}

impl Scan {
    fn scan_file(&mut self, day: Day, path: PathBuf) -> Result<DayFile, StoreError> {
        let read_error = |source| StoreError::Read {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(read_error)?;
        let torn = files::cut_torn_tail(&file).map_err(|source| StoreError::Repair {
            path: path.clone(),
            source,
        })?;
        if torn > 0 {
            warn!(
                path = %path.display(),
                "cut a torn last line ({torn} bytes, a write interrupted by a crash); \
                 the lines before it are kept"
            );
        }
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut current = files::unmarked_epoch();
        let (mut seqs, mut has_topic, mut starts_epoch) = (None::<(u64, u64)>, false, false);
        let (mut bad_lines, mut out_of_order) = (0u64, 0u64);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
                break;
            }
            let Ok(text) = std::str::from_utf8(&line) else {
                bad_lines += 1;
                continue;
            };
            let text = text.trim_end();
            if text.is_empty() {
                continue;
            }
            let Ok(probe) = serde_json::from_str::<Probe>(text) else {
                bad_lines += 1;
                continue;
            };
            match (probe.kind.as_str(), probe.seq, probe.topic, probe.epoch) {
                ("epoch", _, _, Some(epoch)) => current = epoch,
                (kind, Some(seq), _, _) if kind != "epoch" => {
                    if self.epoch.as_ref() != Some(&current) {
                        // Another numbering: what came before is not its history.
                        self.epoch = Some(current.clone());
                        self.last_seq = 0;
                        self.history.clear();
                        seqs = None;
                        starts_epoch = true;
                    }
                    if seq <= self.last_seq {
                        // A seq is never taken twice; a line that would is not trusted.
                        out_of_order += 1;
                        continue;
                    }
                    let Ok(raw) = serde_json::from_str::<Box<serde_json::value::RawValue>>(text)
                    else {
                        bad_lines += 1;
                        continue;
                    };
                    if seq != self.last_seq + 1 {
                        // A hole: memory history must be contiguous, so start afresh.
                        self.history.clear();
                    }
                    self.last_seq = seq;
                    if self.history.len() == self.history_keep {
                        self.history.pop_front();
                    }
                    if self.history_keep > 0 {
                        self.history.push_back((seq, Frame::from(raw)));
                    }
                    seqs = Some(seqs.map_or((seq, seq), |(first, _)| (first, seq)));
                }
                ("topic", _, Some(topic), _) => {
                    self.topic = Some((topic, probe.ts.unwrap_or_default()));
                    has_topic = true;
                }
                _ => bad_lines += 1,
            }
        }
        if bad_lines > 0 || out_of_order > 0 {
            warn!(
                path = %path.display(),
                "skipped {bad_lines} unreadable lines and {out_of_order} lines with a seq \
                 already used"
            );
        }
        Ok(DayFile {
            day,
            path,
            seqs,
            starts_epoch,
            has_topic,
        })
    }
}
