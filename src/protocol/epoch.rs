//! Room epochs (protocol 1.1): the name of one numbering of a room's `seq`. A
//! `seq` is meaningful only together with its epoch, so a client that comes back
//! after a restart can tell "nothing new" from "the numbering started again".

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::error::ProtocolError;

/// Longest epoch, in characters (all ASCII).
pub const MAX_EPOCH_LEN: usize = 32;

/// Random bytes in a new epoch: 72 bits, so two numberings of one room never
/// share a name by chance.
const NEW_EPOCH_BYTES: usize = 9;

/// An opaque epoch: 1–32 characters of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Epoch(Arc<str>);

impl Epoch {
    /// Checks the epoch rules. A malformed epoch in a request is `bad_request`:
    /// no server ever handed it out.
    pub fn parse(raw: &str) -> Result<Epoch, ProtocolError> {
        let shape_ok = !raw.is_empty()
            && raw.len() <= MAX_EPOCH_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !shape_ok {
            return Err(ProtocolError::BadRequest(
                "`epoch` must be 1 to 32 characters of A-Z, a-z, 0-9, '_' and '-'".to_owned(),
            ));
        }
        Ok(Epoch(Arc::from(raw)))
    }

    /// A fresh epoch, for a numbering that starts now.
    pub fn new_random() -> Epoch {
        let mut bytes = [0u8; NEW_EPOCH_BYTES];
        // The system's random source does not fail on any platform we run on;
        // should it, a clock-derived epoch is still unique enough for one room.
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes.copy_from_slice(&nanos.to_le_bytes()[..NEW_EPOCH_BYTES]);
        }
        Epoch(Arc::from(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Epoch {
    type Error = ProtocolError;

    fn try_from(raw: String) -> Result<Epoch, ProtocolError> {
        Epoch::parse(&raw)
    }
}

impl From<Epoch> for String {
    fn from(epoch: Epoch) -> String {
        epoch.0.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_epochs_are_valid_and_distinct() {
        let a = Epoch::new_random();
        let b = Epoch::new_random();
        assert_ne!(a, b);
        assert_eq!(Epoch::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn malformed_epochs_are_refused() {
        for raw in ["", "a b", "é", &"x".repeat(33), "a.b"] {
            assert!(Epoch::parse(raw).is_err(), "{raw:?}");
        }
        for raw in ["A", "a-b_c9", &"x".repeat(32)] {
            assert!(Epoch::parse(raw).is_ok(), "{raw:?}");
        }
    }
}
