//! History older than a room's memory, read from its day files. The index says
//! which files can hold a `seq` range of the room's epoch; each is streamed a
//! line at a time and only the lines of that epoch in the range are kept, so a
//! page costs at most `history_max` frames of memory whatever the size of a
//! day, and never mixes two numberings.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::Path;

use tracing::warn;

use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Frame;

use super::files::{self, Day, Probe};

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

/// The messages of `epoch` with a `seq` in `range` from the given day files
/// of one room.
pub(super) fn read_range(
    room_dir: &Path,
    days: &[Day],
    epoch: &Epoch,
    range: Range<u64>,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut line = Vec::new();
    for day in days {
        // Lines before a file's first marker are of the unmarked epoch.
        let mut current = files::unmarked_epoch();
        let path = files::day_file(room_dir, day);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) => {
                warn!(path = %path.display(), "cannot read a log file for history: {e}");
                continue;
            }
        };
        let mut reader = BufReader::new(file);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    warn!(path = %path.display(), "cannot read a log file for history: {e}");
                    break;
                }
            }
            let Some(text) = std::str::from_utf8(&line).ok().map(str::trim_end) else {
                continue;
            };
            let Ok(probe) = serde_json::from_str::<Probe>(text) else {
                continue;
            };
            let seq = match (probe.kind.as_str(), probe.seq, probe.epoch) {
                ("epoch", _, Some(marked)) => {
                    current = marked;
                    continue;
                }
                ("message", Some(seq), _) if current == *epoch => seq,
                _ => continue,
            };
            if seq >= range.end {
                return frames;
            }
            if seq >= range.start {
                if let Ok(raw) = serde_json::from_str::<Box<serde_json::value::RawValue>>(text) {
                    frames.push(Frame::from(raw));
                }
            }
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
