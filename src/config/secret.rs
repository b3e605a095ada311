//! The server password as a type that never shows itself: masked in `Debug`
//! from the moment serde reads it out of the file, and compared without an
//! early exit.

use serde::Deserialize;

/// A secret string (the server password) that never shows up in `Debug` output.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// Compares in the same time whatever the guess, so response timing
    /// reveals neither how much of a guess was right nor the password's
    /// length: both sides are hashed to digests of one fixed length, compared
    /// in constant time (`subtle`, which the optimizer cannot turn back into
    /// an early exit).
    pub fn matches(&self, candidate: &str) -> bool {
        use subtle::ConstantTimeEq;
        let a = ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes());
        let b = ring::digest::digest(&ring::digest::SHA256, candidate.as_bytes());
        a.as_ref().ct_eq(b.as_ref()).into()
    }

    /// An empty password would let anyone in who sends `"password": ""`; the
    /// config refuses it rather than guess that "no password" was meant.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_masks_the_value_even_when_read_from_a_file() {
        #[derive(Debug, Deserialize)]
        struct File {
            #[allow(dead_code)] // read only through Debug, which is the point
            password: Secret,
        }
        let file: File = toml::from_str("password = \"hunter2\"").unwrap();
        let shown = format!("{file:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Secret(****)"), "{shown}");
        assert!(file.password.matches("hunter2") && !file.password.matches("hunter"));
    }
}
