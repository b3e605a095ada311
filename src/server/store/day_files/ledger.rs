//! A room's ledger: `DIR/ROOM/state.json`, the small file that remembers a
//! logged room's epoch, last seq and topic apart from its day files, so that
//! moving the day files away (logrotate, then SIGHUP) cannot make the room
//! reuse seqs or lose its topic.
//!
//! The ledger is either *sealed* (nothing was written to the room's day files
//! since it was written: its `last_seq` is the room's last seq) or *open* on a
//! day (records are being appended to that day's file, which holds the last
//! seq). The writer seals every ledger when it reopens its files and when it
//! stops, and opens a ledger before the first append after a seal and at each
//! new day. At start, an open ledger whose day file is gone means the room's
//! last seq cannot be known, and the room starts a new epoch.
//!
//! Its name does not end in `.jsonl`, so rotation patterns for day files leave
//! it alone.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::protocol::epoch::Epoch;

use super::files::{self, Day};

/// The ledger's file name inside a room's directory.
pub const LEDGER_FILE: &str = "state.json";

/// What a room's ledger says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub epoch: Epoch,
    /// The last seq of `epoch` as of `as_of` (exact when sealed).
    pub last_seq: u64,
    /// The room's topic as of `as_of`; a topic line in a day file at or after
    /// `as_of` is newer.
    pub topic: Option<String>,
    /// When this was written (a protocol timestamp).
    pub as_of: String,
    /// `None`: sealed. `Some(day)`: records are being appended to that day.
    pub open_day: Option<Day>,
}

/// The ledger's path in a room's directory.
pub fn path(room_dir: &Path) -> PathBuf {
    room_dir.join(LEDGER_FILE)
}

/// Reads a room's ledger; `Ok(None)` when it has none (a room logged before
/// ledgers existed) or it cannot be parsed (then the day files decide).
pub fn read(room_dir: &Path) -> io::Result<Option<Ledger>> {
    match fs::read(path(room_dir)) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces a room's ledger atomically (write aside, then rename), durably
/// unless `durable` is false (fsync policy `never`).
pub fn write(room_dir: &Path, ledger: &Ledger, durable: bool) -> io::Result<()> {
    let target = path(room_dir);
    let aside = room_dir.join(format!("{LEDGER_FILE}.new"));
    let mut bytes = serde_json::to_vec(ledger).map_err(io::Error::other)?;
    bytes.push(b'\n');
    {
        let mut file = files::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&aside)?;
        file.write_all(&bytes)?;
        if durable {
            file.sync_data()?;
        }
    }
    fs::rename(&aside, &target)?;
    if durable {
        files::sync_dir(room_dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_survives_the_round_trip_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let ledger = Ledger {
            epoch: Epoch::parse("E1").unwrap(),
            last_seq: 42,
            topic: Some("hello".into()),
            as_of: "2026-11-21T10:15:30.123Z".into(),
            open_day: Some("2026-11-21".into()),
        };
        write(dir.path(), &ledger, true).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(ledger));
        fs::write(path(dir.path()), b"{torn").unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
    }
}
