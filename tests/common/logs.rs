//! Message logs on disk: the `[log]` table that turns them on, where the server
//! writes a room's day file, and reading one back line by line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::frames::is_protocol_epoch;

/// A `[log]` table logging to `dir`, with `extra` lines added to the table.
pub fn log_table(dir: &Path, extra: &str) -> String {
    format!(
        "[log]\ndir = {}\n{extra}\n",
        toml::Value::String(dir.display().to_string())
    )
}

/// Today's UTC day, `YYYY-MM-DD`, as day files are named.
pub fn utc_day(offset_days: i64) -> String {
    let now = std::time::SystemTime::now();
    let shifted = if offset_days >= 0 {
        now + Duration::from_secs(86_400 * offset_days as u64)
    } else {
        now - Duration::from_secs(86_400 * offset_days.unsigned_abs())
    };
    humantime::format_rfc3339_millis(shifted).to_string()[..10].to_owned()
}

/// `DIR/ROOM/DAY.jsonl`.
pub fn day_file(log_dir: &Path, room: &str, day: &str) -> PathBuf {
    log_dir.join(room).join(format!("{day}.jsonl"))
}

/// The records of a day file, each line parsed as JSON, without the epoch
/// markers the server writes before a process's first record in a file
/// (checked for shape here); panics on a line that is not JSON.
pub fn log_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} does not end with a whole line",
        path.display()
    );
    text.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", path.display()))
        })
        .filter(|record| {
            if record["type"] != "epoch" {
                return true;
            }
            let epoch = record["epoch"].as_str().unwrap_or_default();
            assert!(is_protocol_epoch(epoch), "a malformed marker: {record}");
            false
        })
        .collect()
}

/// A room message line exactly as the server writes it (and sends it).
pub fn message_line(room: &str, seq: u64, ts: &str, from: &str, text: &str) -> String {
    format!(
        r#"{{"type":"message","room":"{room}","seq":{seq},"ts":"{ts}","from":"{from}","text":"{text}"}}"#
    )
}
