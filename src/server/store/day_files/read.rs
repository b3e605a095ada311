//! History older than a room's memory, read from its day files. The day index
//! says which files can hold a `seq` range of the room's epoch; within a file a
//! sparse index ([`Indexes`]) says where to start, so a deep page reads about
//! one page of the file, not all of it. Only the lines of that epoch in the
//! range are kept, within the page's byte budget, so a page never mixes two
//! numberings and costs about its own size in memory.
//!
//! A file written offline may hold a duplicated or out-of-order line. A line
//! counts only when its seq is above every seq before it in its file (the rule
//! restore follows when it finds the last seq), and a read returns seqs in
//! strictly increasing order, so no such line is ever returned, nor any seq
//! twice.
//!
//! The sparse index of a file holds the seq and offset of a counted line every
//! [`SPACING`] bytes or so. It is built the first time the file is read (one
//! pass over it) and extended over what was appended since at each later read
//! (a file the writer is appending to), and rebuilt when the file at that path
//! was replaced (logrotate) or shrank. Memory is bounded: at most
//! [`MAX_ENTRIES`] entries of 16 bytes per file (the spacing doubles beyond
//! it) and at most [`MAX_FILES`] files indexed, the least recently read
//! forgotten first: 4 MiB in all.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::warn;

use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Frame;
use crate::server::page::{Budget, Collector, Fitted};

use super::files::{self, Day, Probe};

/// Bytes of a file between two entries of its sparse index (at least): a read
/// starts at most about this far before its first wanted line.
pub(super) const SPACING: u64 = 64 * 1024;

/// Entries one file's index keeps at most; past it, every other one goes and
/// the spacing doubles.
pub(super) const MAX_ENTRIES: usize = 4096;

/// Files whose sparse index is kept at once.
pub(super) const MAX_FILES: usize = 64;

/// The days (of `days`, each with its first `seq`, oldest first) whose files can
/// hold a message in `range`.
pub(super) fn days_for(days: &[(Day, u64)], range: &Range<u64>) -> Vec<Day> {
    days.iter()
        .enumerate()
        .filter(|&(i, &(_, first))| {
            let next_first = days.get(i + 1).map_or(u64::MAX, |&(_, seq)| seq);
            first < range.end && next_first > range.start
        })
        .map(|(_, (day, _))| day.clone())
        .collect()
}

/// The sparse indexes of the day files read lately.
#[derive(Debug, Default)]
pub(super) struct Indexes {
    files: Mutex<IndexMap>,
}

#[derive(Debug, Default)]
struct IndexMap {
    files: HashMap<PathBuf, (u64, Arc<Mutex<FileIndex>>)>,
    /// Counts reads, to find the least recently read file.
    clock: u64,
}

/// Where one day file's counted lines of one epoch are.
#[derive(Debug)]
struct FileIndex {
    epoch: Epoch,
    /// The file indexed (device, inode): another at the same path is
    /// indexed anew.
    identity: (u64, u64),
    /// The file's whole lines up to here are indexed.
    len: u64,
    /// `(seq, offset)` of counted lines, both increasing.
    entries: Vec<(u64, u64)>,
    spacing: u64,
    /// Where the scan stopped, to go on from `len`: the epoch the lines
    /// belong to there, and the highest seq counted so far.
    current: Epoch,
    max_seq: Option<u64>,
}

impl FileIndex {
    fn new(epoch: &Epoch, identity: (u64, u64)) -> FileIndex {
        FileIndex {
            epoch: epoch.clone(),
            identity,
            len: 0,
            entries: Vec::new(),
            spacing: SPACING,
            current: files::unmarked_epoch(),
            max_seq: None,
        }
    }

    /// Indexes the whole lines from `len` to the end of `file`.
    fn extend(&mut self, file: &mut File) -> std::io::Result<()> {
        file.seek(SeekFrom::Start(self.len))?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 || line.last() != Some(&b'\n') {
                // A line being written: it is indexed once it is whole.
                break;
            }
            let offset = self.len;
            self.len += read as u64;
            let Some(probe) = probe(&line) else {
                continue;
            };
            match (probe.kind.as_str(), probe.seq, probe.epoch) {
                ("epoch", _, Some(marked)) => self.current = marked,
                (kind, Some(seq), _) if kind != "epoch" && self.current == self.epoch => {
                    if self.max_seq.is_some_and(|max| seq <= max) {
                        continue;
                    }
                    self.max_seq = Some(seq);
                    let due = self
                        .entries
                        .last()
                        .is_none_or(|&(_, last)| offset - last >= self.spacing);
                    if due {
                        self.entries.push((seq, offset));
                    }
                }
                _ => {}
            }
        }
        if self.entries.len() > MAX_ENTRIES {
            // Keep the first (it starts the file's counted lines) and every
            // other one after it.
            let mut keep = false;
            self.entries.retain(|_| {
                keep = !keep;
                keep
            });
            self.spacing *= 2;
        }
        Ok(())
    }

    /// Where to start reading for `seq`: the offset of the last entry at or
    /// before it, or the file's start, with the epoch current there.
    fn start_for(&self, seq: u64) -> (u64, Epoch) {
        let after = self.entries.partition_point(|&(entry, _)| entry <= seq);
        match after.checked_sub(1).map(|i| self.entries[i]) {
            Some((_, offset)) => (offset, self.epoch.clone()),
            None => (0, files::unmarked_epoch()),
        }
    }
}

fn probe(line: &[u8]) -> Option<Probe> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    serde_json::from_str::<Probe>(text).ok()
}

impl Indexes {
    fn lock(&self) -> MutexGuard<'_, IndexMap> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index of the file at `path`, brought up to date with `file`.
    fn refreshed(
        &self,
        path: &Path,
        file: &mut File,
        epoch: &Epoch,
    ) -> std::io::Result<Arc<Mutex<FileIndex>>> {
        let meta = file.metadata()?;
        let identity = (meta.dev(), meta.ino());
        let index = {
            let mut map = self.lock();
            map.clock += 1;
            let now = map.clock;
            if !map.files.contains_key(path) && map.files.len() >= MAX_FILES {
                let oldest = map
                    .files
                    .iter()
                    .min_by_key(|(_, (used, _))| *used)
                    .map(|(path, _)| path.clone());
                if let Some(oldest) = oldest {
                    map.files.remove(&oldest);
                }
            }
            let entry = map
                .files
                .entry(path.to_path_buf())
                .or_insert_with(|| (now, Arc::new(Mutex::new(FileIndex::new(epoch, identity)))));
            entry.0 = now;
            entry.1.clone()
        };
        // Only this file's readers wait here, while it is (re)indexed.
        let mut guard = index.lock().unwrap_or_else(|p| p.into_inner());
        if guard.identity != identity || guard.epoch != *epoch || meta.len() < guard.len {
            *guard = FileIndex::new(epoch, identity);
        }
        if meta.len() > guard.len {
            guard.extend(file)?;
        }
        drop(guard);
        Ok(index)
    }

    fn forget(&self, path: &Path) {
        self.lock().files.remove(path);
    }
}

/// The messages of `epoch` with a `seq` in `range` from the given day files
/// of one room, within `budget`.
pub(super) fn read_range(
    indexes: &Indexes,
    room_dir: &Path,
    days: &[Day],
    epoch: &Epoch,
    range: Range<u64>,
    budget: Budget,
) -> Fitted {
    let mut reading = Reading {
        collector: Collector::new(budget),
        last: None,
        range,
        bytes_read: 0,
    };
    for day in days {
        let path = files::day_file(room_dir, day);
        match reading.file(indexes, &path, epoch) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::NotFound {
                    indexes.forget(&path);
                }
                warn!(path = %path.display(), "cannot read a log file for history: {e}");
            }
        }
    }
    reading.collector.finish()
}

/// One read of a range, across files.
struct Reading {
    collector: Collector,
    /// The last seq taken: what comes next must be above it.
    last: Option<u64>,
    range: Range<u64>,
    /// Bytes of files gone through (what a deep page costs).
    bytes_read: u64,
}

impl Reading {
    /// Reads one file's part of the range. False when the range (or the
    /// budget) is done and later files need not be read.
    fn file(&mut self, indexes: &Indexes, path: &Path, epoch: &Epoch) -> std::io::Result<bool> {
        let mut file = File::open(path)?;
        let index = indexes.refreshed(path, &mut file, epoch)?;
        let (start, mut current, end) = {
            let index = index.lock().unwrap_or_else(|p| p.into_inner());
            let (start, current) = index.start_for(self.range.start);
            (start, current, index.len)
        };
        file.seek(SeekFrom::Start(start))?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut max_seq: Option<u64> = None;
        let mut at = start;
        while at < end {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            at += read as u64;
            self.bytes_read += read as u64;
            let Some(probe) = probe(&line) else {
                continue;
            };
            let seq = match (probe.kind.as_str(), probe.seq, probe.epoch) {
                ("epoch", _, Some(marked)) => {
                    current = marked;
                    continue;
                }
                (kind, Some(seq), _) if kind != "epoch" && current == *epoch => seq,
                _ => continue,
            };
            if max_seq.is_some_and(|max| seq <= max) {
                // Not above what came before it in the file: not trusted.
                continue;
            }
            max_seq = Some(seq);
            if seq >= self.range.end {
                return Ok(false);
            }
            if seq < self.range.start || self.last.is_some_and(|last| seq <= last) {
                continue;
            }
            let text = std::str::from_utf8(&line).unwrap_or_default().trim_end();
            if let Ok(raw) = serde_json::from_str::<Box<serde_json::value::RawValue>>(text) {
                self.last = Some(seq);
                if !self.collector.offer(Frame::from(raw)) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::page::Keep;
    use std::io::Write;

    #[test]
    fn only_files_that_can_hold_the_range_are_read() {
        let days: Vec<(Day, u64)> = vec![
            ("2026-01-01".into(), 1),
            ("2026-01-02".into(), 11),
            ("2026-01-05".into(), 21),
        ];
        let names = |range: Range<u64>| days_for(&days, &range);
        assert_eq!(names(1..5), ["2026-01-01"]);
        assert_eq!(names(5..15), ["2026-01-01", "2026-01-02"]);
        assert_eq!(names(11..21), ["2026-01-02"]);
        assert_eq!(names(20..22), ["2026-01-02", "2026-01-05"]);
        assert_eq!(names(30..40), ["2026-01-05"]);
        assert!(names(0..1).is_empty());
    }

    fn message(seq: u64, text: &str) -> String {
        format!(
            "{{\"type\":\"message\",\"room\":\"r\",\"seq\":{seq},\"ts\":\"2026-01-01T00:00:00.000Z\",\"from\":\"a\",\"text\":\"{text}\"}}\n"
        )
    }

    fn marker(epoch: &str) -> String {
        format!("{{\"type\":\"epoch\",\"room\":\"r\",\"epoch\":\"{epoch}\",\"ts\":\"2026-01-01T00:00:00.000Z\"}}\n")
    }

    fn budget() -> Budget {
        Budget {
            bytes: usize::MAX,
            keep: Keep::Oldest,
            at_least_one: true,
        }
    }

    fn seqs(fitted: &Fitted) -> Vec<(u64, String)> {
        fitted
            .frames
            .iter()
            .map(|frame| {
                let value: serde_json::Value = serde_json::from_str(frame.get()).unwrap();
                (
                    value["seq"].as_u64().unwrap(),
                    value["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// A file of `n` messages of epoch E, with a stray older line and a
    /// duplicate, an epoch of another numbering in the middle, and E again.
    fn write_file(dir: &Path, n: u64) -> std::io::Result<()> {
        let mut text = marker("E");
        for seq in 1..=n {
            text.push_str(&message(seq, &format!("m{seq} {}", "x".repeat(200))));
            if seq == 710 {
                text.push_str(&message(700, "stray"));
            }
            if seq == 1000 {
                text.push_str(&message(1000, "dup"));
            }
            if seq == n / 2 {
                // Another numbering (a copy of another room's file, say), then
                // this one again after a restart.
                text.push_str(&marker("F"));
                text.push_str(&message(n / 2 + 1, "other numbering"));
                text.push_str(&marker("E"));
            }
        }
        std::fs::create_dir_all(dir)?;
        File::create(dir.join("2026-01-01.jsonl"))?.write_all(text.as_bytes())
    }

    #[test]
    fn deep_reads_start_near_their_range_and_skip_untrusted_lines() {
        let dir = tempfile::tempdir().unwrap();
        let n = 20_000;
        write_file(dir.path(), n).unwrap();
        let epoch = Epoch::parse("E").unwrap();
        let indexes = Indexes::default();
        let days = ["2026-01-01".to_owned()];
        let read =
            |range: Range<u64>| read_range(&indexes, dir.path(), &days, &epoch, range, budget());
        let all = read(1..n + 1);
        let got = seqs(&all);
        assert_eq!(got.len() as u64, n);
        for (i, (seq, text)) in got.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1);
            assert!(text.starts_with(&format!("m{seq} ")), "{seq}: {text}");
        }
        for range in [690..740, 995..1005, n / 2 - 2..n / 2 + 3, n - 5..n + 1] {
            let got = seqs(&read(range.clone()));
            let expected: Vec<u64> = range.clone().filter(|&s| s <= n).collect();
            assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), expected);
            assert!(got.iter().all(|(s, t)| t.starts_with(&format!("m{s} "))));
        }
        // Once indexed, a deep page goes through about one spacing of the
        // file, not the file.
        let mut reading = Reading {
            collector: Collector::new(budget()),
            last: None,
            range: 15_000..15_010,
            bytes_read: 0,
        };
        let path = files::day_file(dir.path(), "2026-01-01");
        assert!(!reading.file(&indexes, &path, &epoch).unwrap());
        let file_len = std::fs::metadata(&path).unwrap().len();
        assert!(file_len > 40 * SPACING, "{file_len}");
        assert!(
            reading.bytes_read < SPACING + 20 * 300,
            "{} bytes read",
            reading.bytes_read
        );
        assert_eq!(reading.collector.finish().frames.len(), 10);
    }

    #[test]
    fn appended_lines_are_indexed_and_a_replaced_file_anew() {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), 3000).unwrap();
        let epoch = Epoch::parse("E").unwrap();
        let indexes = Indexes::default();
        let days = ["2026-01-01".to_owned()];
        let read = |range: Range<u64>| {
            let fitted = read_range(&indexes, dir.path(), &days, &epoch, range, budget());
            seqs(&fitted)
                .into_iter()
                .map(|(s, _)| s)
                .collect::<Vec<_>>()
        };
        assert_eq!(read(2999..3005), [2999, 3000]);
        let path = files::day_file(dir.path(), "2026-01-01");
        let mut file = File::options().append(true).open(&path).unwrap();
        file.write_all(message(3001, "late").as_bytes()).unwrap();
        file.write_all(b"{\"type\":\"message\",\"seq\":3002")
            .unwrap();
        assert_eq!(read(2999..3005), [2999, 3000, 3001]);
        // Replaced by a shorter file (another inode): indexed anew.
        std::fs::remove_file(&path).unwrap();
        write_file(dir.path(), 50).unwrap();
        assert_eq!(read(45..60), [45, 46, 47, 48, 49, 50]);
    }

    #[test]
    fn the_budget_bounds_what_a_read_keeps() {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), 100).unwrap();
        let epoch = Epoch::parse("E").unwrap();
        let indexes = Indexes::default();
        let days = ["2026-01-01".to_owned()];
        let line = message(10, &format!("m10 {}", "x".repeat(200))).len() - 1;
        for (keep, expected) in [(Keep::Oldest, [1, 2, 3]), (Keep::Newest, [98, 99, 100])] {
            let budget = Budget {
                bytes: 3 * (line + 1) + 10,
                keep,
                at_least_one: true,
            };
            let fitted = read_range(&indexes, dir.path(), &days, &epoch, 1..101, budget);
            let got: Vec<u64> = seqs(&fitted).into_iter().map(|(s, _)| s).collect();
            assert_eq!((got, fitted.cut), (expected.to_vec(), true), "{keep:?}");
        }
    }
}
