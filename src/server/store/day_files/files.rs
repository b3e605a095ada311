//! The log's layout on disk and the file-level chores: naming day files
//! (`DIR/ROOM/YYYY-MM-DD.jsonl`, UTC days), listing them, the shape of their
//! lines (the event frames as sent, plus an epoch marker before the first
//! record a process appends to a file), and cutting a torn last line (an
//! append interrupted by a crash) off a file, so that the next append starts
//! on a line of its own and the rest of the log stays readable. Everything the
//! log creates is owner-only (directories 0700, files 0600) whatever the
//! umask: messages, private ones above all, are nobody else's to read.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::protocol::epoch::Epoch;
use crate::protocol::names::RoomName;

/// The directory private messages go to. A room name starts with a letter or a
/// digit, so no room can ever have this directory.
pub const PRIVATE_DIR: &str = "@private";

/// Suffix of a day file.
const DAY_SUFFIX: &str = ".jsonl";

/// How much of a file's end is read at a time when looking for its last newline.
const TAIL_BLOCK: u64 = 8192;

/// A UTC day as the file names spell it, `YYYY-MM-DD`. Days compare as strings.
pub type Day = String;

/// The day of a protocol timestamp (`2026-11-21T10:15:30.123Z` → `2026-11-21`).
pub fn day_of(ts: &str) -> Day {
    ts.get(..10).unwrap_or(ts).to_owned()
}

/// The UTC day `days_back` days before today.
pub fn days_ago(days_back: u32) -> Day {
    let day = chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(days_back));
    day.format("%Y-%m-%d").to_string()
}

/// The epoch of lines written before epoch markers existed (protocol 1.0
/// logs): they are one numbering, continued under this name.
pub const UNMARKED_EPOCH: &str = "unmarked";

/// The epoch a file's lines belong to until its first marker.
pub fn unmarked_epoch() -> Epoch {
    Epoch::parse(UNMARKED_EPOCH).expect("a valid epoch")
}

/// The fields of a day-file line that reading and restoring look at.
#[derive(Debug, Deserialize)]
pub struct Probe {
    #[serde(rename = "type")]
    pub kind: String,
    pub seq: Option<u64>,
    pub topic: Option<String>,
    pub epoch: Option<Epoch>,
    pub ts: Option<String>,
}

/// The marker line that says the lines after it belong to `epoch`.
#[derive(Debug, Serialize)]
struct Marker<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room: &'a RoomName,
    epoch: &'a Epoch,
    ts: &'a str,
}

/// An epoch marker line, newline included.
pub fn epoch_marker(room: &RoomName, epoch: &Epoch, ts: &str) -> Vec<u8> {
    let mut line = serde_json::to_vec(&Marker {
        kind: "epoch",
        room,
        epoch,
        ts,
    })
    .expect("a marker always serializes");
    line.push(b'\n');
    line
}

/// The day a file name stands for, when it is a day file's name.
pub fn day_of_file_name(name: &str) -> Option<Day> {
    let day = name.strip_suffix(DAY_SUFFIX)?;
    let shape_ok = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shape_ok.then(|| day.to_owned())
}

/// The file of `day` in one room's (or the private messages') directory.
pub fn day_file(target_dir: &Path, day: &str) -> PathBuf {
    target_dir.join(format!("{day}{DAY_SUFFIX}"))
}

/// The day files in `dir`, oldest first. A missing directory has none; other
/// files (a day file moved aside, say) are not the log's and are left alone.
pub fn day_files(dir: &Path) -> io::Result<Vec<(Day, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(day) = entry.file_name().to_str().and_then(day_of_file_name) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            files.push((day, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Cuts everything after the file's last newline away. Returns how many bytes
/// were dropped (0 when the file ends with a whole line, or is empty).
pub fn cut_torn_tail(file: &File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut end = len;
    let mut block = vec![0u8; TAIL_BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(TAIL_BLOCK);
        let chunk = &mut block[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(at) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + at as u64 + 1;
            if keep < len {
                file.set_len(keep)?;
            }
            return Ok(len - keep);
        }
        end = start;
    }
    // Not one newline: the whole file is a single torn line.
    file.set_len(0)?;
    Ok(len)
}

/// Mode of every directory the log creates.
const DIR_MODE: u32 = 0o700;

/// Mode of every file the log creates.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and any missing parent) owner-only. An umask can only take
/// bits away, so the mode holds whatever the umask is.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Creates the one directory `dir` owner-only; fails if it exists.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(dir)
}

/// Options that create a file owner-only (the mode only applies to a file
/// the open creates).
pub fn private_file() -> OpenOptions {
    let mut options = File::options();
    options.mode(FILE_MODE);
    options
}

/// Makes a directory entry (a new file or subdirectory in `dir`) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn days_count_back_from_today() {
        assert_eq!(days_ago(0), day_of(&crate::protocol::time::now()));
        assert!(days_ago(1) < days_ago(0));
        assert!(days_ago(400) < days_ago(365));
    }

    #[test]
    fn a_marker_is_one_line_a_probe_reads() {
        let room = RoomName::parse("ops").unwrap();
        let epoch = Epoch::parse("E9").unwrap();
        let line = epoch_marker(&room, &epoch, "2026-11-21T10:15:30.123Z");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let probe: Probe = serde_json::from_slice(&line).unwrap();
        assert_eq!((probe.kind.as_str(), probe.epoch), ("epoch", Some(epoch)));
    }

    #[test]
    fn day_file_names() {
        assert_eq!(
            day_of_file_name("2026-11-21.jsonl").as_deref(),
            Some("2026-11-21")
        );
        for name in [
            "2026-11-21.jsonl.1",
            "2026-1-21.jsonl",
            "x026-11-21.jsonl",
            "2026-11-21",
        ] {
            assert_eq!(day_of_file_name(name), None, "{name}");
        }
        assert_eq!(day_of("2026-11-21T10:15:30.123Z"), "2026-11-21");
    }

    #[test]
    fn torn_tails_are_cut_at_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], &[u8]); 5] = [
            (b"", b""),
            (b"a\nb\n", b"a\nb\n"),
            (b"a\nb\n{\"type\":\"mess", b"a\nb\n"),
            (b"torn", b""),
            (b"x\n\0\0\0", b"x\n"),
        ];
        for (i, (before, after)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("{i}.jsonl"));
            std::fs::write(&path, before).unwrap();
            let file = File::options().read(true).append(true).open(&path).unwrap();
            let dropped = cut_torn_tail(&file).unwrap();
            assert_eq!(dropped as usize, before.len() - after.len());
            (&file).write_all(b"next\n").unwrap();
            let mut expected = after.to_vec();
            expected.extend_from_slice(b"next\n");
            assert_eq!(std::fs::read(&path).unwrap(), expected);
        }
        // A tail longer than one block.
        let path = dir.path().join("long.jsonl");
        let mut text = b"first\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 20_000));
        std::fs::write(&path, &text).unwrap();
        let file = File::options().read(true).append(true).open(&path).unwrap();
        assert_eq!(cut_torn_tail(&file).unwrap(), 20_000);
        assert_eq!(std::fs::read(&path).unwrap(), b"first\n");
    }
}
