//! Durations in the config file: strings with a unit ("500ms", "10s", "2m",
//! "1h"), parsed by humantime, as serde's `deserialize_with` for every duration
//! key.
//!
//! This is our own twenty lines rather than the humantime-serde crate: that
//! crate parses with the same humantime function, but its error is only
//! "expected a duration" and drops humantime's reason (an unknown unit, a
//! missing number), which a person fixing a config file needs.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// How a duration must be written, for error messages.
const HINT: &str = "write it like \"60s\" or \"2m\"";

/// Reads one duration key. A zero duration is accepted here and refused by
/// the key's own check, which can say which key it is.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    deserializer.deserialize_str(DurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration as a string with a unit ({HINT})")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        humantime::parse_duration(text)
            .map_err(|err| E::custom(format!("invalid duration {text:?}: {err} ({HINT})")))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Timeout {
        #[serde(deserialize_with = "deserialize")]
        after: Duration,
    }

    fn read(text: &str) -> Result<Duration, String> {
        toml::from_str::<Timeout>(text)
            .map(|t| t.after)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn units_are_humantime_units() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("2m", Duration::from_secs(120)),
            ("1h 30m", Duration::from_secs(5400)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(read(&format!("after = {text:?}")), Ok(expected), "{text}");
        }
        assert_eq!(cases.len(), 5);
    }

    #[test]
    fn errors_give_humantimes_reason_the_line_and_a_hint() {
        let err = read("after = \"6x\"").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert!(
            err.contains("invalid duration \"6x\": unknown time unit \"x\""),
            "{err}"
        );
        assert!(err.contains(HINT), "{err}");

        let err = read("after = 60").unwrap_err();
        assert!(err.contains("invalid type: integer `60`"), "{err}");
        assert!(err.contains(HINT), "{err}");
    }
}
