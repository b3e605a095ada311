//! Start-up: reads every room's day files once, oldest first, to bring back what
//! each logged room had: its last `seq` (so numbering continues and is never
//! reused), its topic, and its newest `history_keep` messages. On the way it cuts
//! torn last lines, applies retention, and builds the day index that history
//! reads use. Each file is streamed a line at a time; only the history ring is
//! kept in memory.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tracing::{info, warn};

use crate::protocol::frames::Frame;
use crate::protocol::names::RoomName;

use super::files::{self, Day, PRIVATE_DIR};
use super::{RoomFiles, StoreError};

/// A room as its log left it.
#[derive(Debug)]
pub struct RestoredRoom {
    pub name: RoomName,
    /// The latest logged topic; `None` when the log holds no topic change.
    pub topic: Option<String>,
    pub last_seq: u64,
    /// The newest messages, contiguous in `seq` and ending at `last_seq`.
    pub history: VecDeque<Frame>,
}

pub(super) struct Restored {
    pub rooms: Vec<RestoredRoom>,
    pub index: HashMap<RoomName, RoomFiles>,
}

/// The fields of a log line that restoring needs.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "type")]
    kind: String,
    seq: Option<u64>,
    topic: Option<String>,
}

/// What one day file holds.
struct DayFile {
    day: Day,
    path: PathBuf,
    /// First and last message `seq`; `None` for a file of topic changes only.
    seqs: Option<(u64, u64)>,
    has_topic: bool,
}

pub(super) fn restore(
    dir: &Path,
    history_keep: usize,
    retention_days: u32,
) -> Result<Restored, StoreError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Read { path, source }
    };
    let cutoff = (retention_days > 0).then(|| files::days_ago(retention_days));
    let mut rooms = Vec::new();
    let mut index = HashMap::new();
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
                if let Some((restored, files)) =
                    restore_room(room.clone(), &path, history_keep, cutoff.as_deref())?
                {
                    index.insert(room, files);
                    rooms.push(restored);
                }
            }
            _ => warn!(
                path = %path.display(),
                "not a room's log directory (not a normalized room name); ignored"
            ),
        }
    }
    Ok(Restored { rooms, index })
}

fn restore_room(
    name: RoomName,
    room_dir: &Path,
    history_keep: usize,
    cutoff: Option<&str>,
) -> Result<Option<(RestoredRoom, RoomFiles)>, StoreError> {
    let listed = files::day_files(room_dir).map_err(|source| StoreError::Read {
        path: room_dir.to_path_buf(),
        source,
    })?;
    if listed.is_empty() {
        return Ok(None);
    }
    let mut state = Scan {
        history: VecDeque::new(),
        history_keep,
        last_seq: 0,
        topic: None,
    };
    let mut day_files = Vec::with_capacity(listed.len());
    for (day, path) in listed {
        day_files.push(state.scan_file(day, path)?);
    }

    // Retention: day files older than the cutoff go, but never the newest (it
    // carries the seq the room continues from) nor the one with the latest topic
    // change (the topic would be lost with it).
    let newest = day_files.len() - 1;
    let topic_file = day_files.iter().rposition(|file| file.has_topic);
    if let Some(cutoff) = cutoff {
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

    // The index covers the newest run of files whose seqs follow each other, so
    // a history page never straddles a hole (a removed or missing file).
    let mut days: Vec<(Day, u64)> = Vec::new();
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
    }
    days.reverse();
    let oldest_on_disk = days.first().map_or(state.last_seq + 1, |&(_, seq)| seq);
    // Messages from removed files are gone from history too.
    while state
        .history
        .front()
        .is_some_and(|(seq, _)| *seq < oldest_on_disk)
    {
        state.history.pop_front();
    }
    let topic_day = topic_file
        .and_then(|_| day_files.iter().rev().find(|file| file.has_topic))
        .map(|file| file.day.clone());
    Ok(Some((
        RestoredRoom {
            name,
            topic: state.topic,
            last_seq: state.last_seq,
            history: state.history.into_iter().map(|(_, frame)| frame).collect(),
        },
        RoomFiles { days, topic_day },
    )))
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
    /// The newest messages with their seqs, contiguous in seq.
    history: VecDeque<(u64, Frame)>,
    history_keep: usize,
    last_seq: u64,
    topic: Option<String>,
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
        let (mut seqs, mut has_topic, mut bad_lines, mut out_of_order) = (None, false, 0u64, 0u64);
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
            match (probe.kind.as_str(), probe.seq, probe.topic) {
                ("message", Some(seq), _) => {
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
                ("topic", _, Some(topic)) => {
                    self.topic = Some(topic);
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
            has_topic,
        })
    }
}
