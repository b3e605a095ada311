//! What a test expects of a frame: [`normalize`] checks and blanks the fields that
//! vary (`ts`, `epoch`) so [`assert_frame`] can compare whole frames with a `json!`
//! literal, [`assert_error`] checks an `error` frame's exact shape, and the
//! expected values shared by many tests ([`VERSION`], [`message_event`],
//! [`default_limits`]).

use serde_json::{json, Value};

/// The crate version the server must report in its `hello` response.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// True when `s` is an RFC 3339 UTC timestamp with milliseconds and `Z`, like
/// `2026-11-21T10:15:30.123Z`.
pub fn is_protocol_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 24 {
        return false;
    }
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    for (i, c) in b.iter().enumerate() {
        let ok = match separators.iter().find(|(at, _)| *at == i) {
            Some((_, sep)) => c == sep,
            None => c.is_ascii_digit(),
        };
        if !ok {
            return false;
        }
    }
    let field = |from: usize, to: usize| -> u32 { s[from..to].parse().expect("digits") };
    let (year, month, day) = (field(0, 4), field(5, 7), field(8, 10));
    let (hour, minute, second) = (field(11, 13), field(14, 16), field(17, 19));
    year >= 2020
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60
}

/// True when `s` has the shape of a room epoch: 1–32 of `A-Z a-z 0-9 _ -`.
pub fn is_protocol_epoch(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks every `ts` field in `frame` (nested ones too, e.g. in `history` and
/// `messages`) has the protocol's timestamp shape and replaces it with `"<ts>"`,
/// and every `epoch` has the protocol's epoch shape and becomes `"<epoch>"`, so
/// a test can compare whole frames with a `json!` literal.
pub fn normalize(frame: &Value) -> Value {
    let mut frame = frame.clone();
    normalize_in_place(&mut frame);
    frame
}

fn normalize_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "ts" {
                    match item.as_str() {
                        Some(ts) if is_protocol_timestamp(ts) => *item = json!("<ts>"),
                        _ => panic!("`ts` is not an RFC 3339 UTC millisecond timestamp: {item}"),
                    }
                } else if key == "epoch" {
                    match item.as_str() {
                        Some(epoch) if is_protocol_epoch(epoch) => *item = json!("<epoch>"),
                        _ => panic!("`epoch` is not 1-32 characters of [A-Za-z0-9_-]: {item}"),
                    }
                } else {
                    normalize_in_place(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_in_place),
        _ => {}
    }
}

/// Asserts `frame`, with its timestamps normalized, equals `expected`.
#[track_caller]
pub fn assert_frame(frame: &Value, expected: Value) {
    let normalized = normalize(frame);
    assert_eq!(
        normalized, expected,
        "\n  got:      {frame}\n  expected: {expected}"
    );
}

/// Asserts `frame` is exactly an `error` with `code`, the given `id` (or no `id`
/// key at all), and a non-empty human-readable `message`.
#[track_caller]
pub fn assert_error(frame: &Value, code: &str, id: Option<Value>) {
    let Some(map) = frame.as_object() else {
        panic!("expected an error frame, got {frame}")
    };
    assert_eq!(
        map.get("type"),
        Some(&json!("error")),
        "expected an error {code}, got {frame}"
    );
    assert_eq!(
        map.get("code"),
        Some(&json!(code)),
        "expected error code {code}, got {frame}"
    );
    assert_eq!(map.get("id"), id.as_ref(), "wrong id in {frame}");
    let message = map.get("message").and_then(Value::as_str);
    assert!(
        message.is_some_and(|m| !m.trim().is_empty()),
        "error without a human-readable message: {frame}"
    );
    let expected_keys = if id.is_some() { 4 } else { 3 };
    assert_eq!(map.len(), expected_keys, "unexpected keys in {frame}");
}

/// A room message event as the protocol shapes it, with the timestamp normalized.
pub fn message_event(room: &str, seq: u64, from: &str, text: &str) -> Value {
    json!({"type": "message", "room": room, "seq": seq, "ts": "<ts>", "from": from, "text": text})
}

/// The `hello` `limits` object for the default limits.
pub fn default_limits() -> Value {
    json!({"max_line_bytes": 16384, "max_text_bytes": 4096, "max_rooms": 64, "history_max": 200, "max_page_bytes": 262144})
}
