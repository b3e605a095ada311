//! Server timestamps: RFC 3339, UTC, millisecond precision, `Z` suffix.

use std::time::SystemTime;

/// The current time as the protocol's `ts` string, e.g. `2026-11-21T10:15:30.123Z`.
pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_the_protocol_shape() {
        let ts = super::now();
        assert_eq!(ts.len(), "2026-11-21T10:15:30.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.');
    }
}
