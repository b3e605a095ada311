//! Account passwords: Argon2id hashes as PHC strings, computed off the async
//! workers.
//!
//! Argon2 is slow and memory-hard on purpose (here 19 MiB and two passes,
//! the OWASP minimum: tens of milliseconds of one core). Run on a tokio
//! worker it would stall every connection scheduled there, so each hash or
//! check runs under `spawn_blocking`; and since a flood of logins could
//! otherwise claim hundreds of blocking threads and 19 MiB each, at most
//! [`CONCURRENT`] run at once and the rest wait for a slot.
//!
//! A stored hash made with other parameters (older, weaker, or another
//! Argon2 variant) still verifies; the check then hands back a new hash with
//! the current parameters for the caller to store, so parameters can be
//! raised without asking anyone to change a password.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use tracing::error;

use crate::protocol::ProtocolError;

/// Memory cost in KiB (19 MiB).
const M_COST: u32 = 19_456;
/// Passes over the memory.
const T_COST: u32 = 2;
/// Lanes.
const P_COST: u32 = 1;
/// Hashes or checks running at once, at most.
const CONCURRENT: usize = 2;

/// Why a password could not be hashed: an internal failure, never the
/// password's fault.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot hash the password: {0}")]
    Hash(password_hash::Error),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or a stored hash that cannot be read).
    Wrong,
    /// Right password. `rehash` is a new hash with the current parameters
    /// when the stored one used others: store it in place of the old.
    Right { rehash: Option<String> },
}

/// One of the few places where a hash or a check may run.
#[derive(Debug)]
pub struct Turn {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Hashes and checks passwords, a bounded number at once, off the async
/// workers. Clones share the bound.
#[derive(Debug, Clone)]
pub struct Passwords {
    slots: Arc<Semaphore>,
    params: Params,
}

impl Default for Passwords {
    fn default() -> Passwords {
        Passwords::new()
    }
}

impl Passwords {
    /// Argon2id v0x13 with m=19456 KiB, t=2, p=1.
    pub fn new() -> Passwords {
        let params = Params::new(M_COST, T_COST, P_COST, None)
            .expect("the Argon2 parameters are within its limits");
        Passwords {
            slots: Arc::new(Semaphore::new(CONCURRENT)),
            params,
        }
    }

    /// A PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let params = self.params.clone();
        self.blocking(move || hash_with(params, password.as_bytes()))
            .await?
            .map_err(PasswordError::Hash)
    }

    /// Checks `password` against the stored PHC string `hash`.
    pub async fn verify(&self, hash: String, password: String) -> Verified {
        let turn = self.turn().await;
        self.verify_on(turn, hash, password).await
    }

    /// Waits until a check may run. A caller that must decide something at
    /// the last moment before its check (whether the back-off lets it run at
    /// all) takes its turn first, decides, then calls
    /// [`Passwords::verify_on`]: so at most as many checks as run at once
    /// are ever undecided.
    pub async fn turn(&self) -> Turn {
        Turn {
            _permit: self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed"),
        }
    }

    /// [`Passwords::verify`] in a turn already taken.
    pub async fn verify_on(&self, turn: Turn, hash: String, password: String) -> Verified {
        let params = self.params.clone();
        match self
            .run(turn, move || {
                verify_with(params, &hash, password.as_bytes())
            })
            .await
        {
            Ok(verified) => verified,
            Err(failure) => {
                error!("password check failed: {failure}");
                Verified::Wrong
            }
        }
    }

    /// Runs `work` on a blocking thread once a slot is free.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let turn = self.turn().await;
        self.run(turn, work).await
    }

    /// Runs `work` on a blocking thread in `turn`.
    async fn run<T: Send + 'static>(
        &self,
        turn: Turn,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        // The permit goes with the work: if the caller stops waiting (its
        // connection closed), the thread still runs to the end and holds the
        // slot until then.
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_with(params: Params, password: &[u8]) -> Result<String, password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2(params).hash_password(password, &salt)?.to_string())
}

fn verify_with(params: Params, stored: &str, password: &[u8]) -> Verified {
    let parsed = match PasswordHash::new(stored) {
        Ok(parsed) => parsed,
        Err(failure) => {
            // Not the user's fault, and nobody could log in to this account:
            // the operator must hear of it.
            error!("a stored password hash is not a PHC string: {failure}");
            return Verified::Wrong;
        }
    };
    // The stored hash's own algorithm and parameters are used, whatever
    // `params` says.
    match argon2(params.clone()).verify_password(password, &parsed) {
        Ok(()) => {}
        Err(password_hash::Error::Password) => return Verified::Wrong,
        Err(failure) => {
            error!("a stored password hash cannot be checked: {failure}");
            return Verified::Wrong;
        }
    }
    if current(&parsed, &params) {
        return Verified::Right { rehash: None };
    }
    match hash_with(params, password) {
        Ok(rehash) => Verified::Right {
            rehash: Some(rehash),
        },
        Err(failure) => {
            // The login still stands; the next one tries again.
            error!("cannot re-hash a password with the current parameters: {failure}");
            Verified::Right { rehash: None }
        }
    }
}

/// Whether `parsed` was made with exactly the current algorithm, version and
/// parameters.
fn current(parsed: &PasswordHash<'_>, params: &Params) -> bool {
    let Ok(stored) = Params::try_from(parsed) else {
        return false;
    };
    parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(u32::from(Version::V0x13))
        && stored.m_cost() == params.m_cost()
        && stored.t_cost() == params.t_cost()
        && stored.p_cost() == params.p_cost()
        && parsed.hash.is_some_and(|hash| {
            hash.len() == params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
        })
}

/// Checks a new password's length: 8 to 1024 bytes (`weak_password`).
pub fn check_strength(password: &str) -> Result<(), ProtocolError> {
    // One rule for server and client, kept with the other wire rules.
    crate::protocol::moderation::check_password(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        s.to_owned()
    }

    #[tokio::test]
    async fn a_hash_verifies_the_right_password_only() {
        let passwords = Passwords::new();
        let hash = passwords.hash(text("correct horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            passwords.verify(hash.clone(), text("correct horse")).await,
            Verified::Right { rehash: None }
        );
        assert_eq!(
            passwords.verify(hash.clone(), text("Correct horse")).await,
            Verified::Wrong
        );
        // A fresh salt each time.
        assert_ne!(passwords.hash(text("correct horse")).await.unwrap(), hash);
    }

    #[tokio::test]
    async fn a_hash_with_other_parameters_verifies_and_is_rehashed() {
        let passwords = Passwords::new();
        let weak = hash_with(Params::new(1024, 1, 1, None).unwrap(), b"hunter22").unwrap();
        let Verified::Right {
            rehash: Some(rehash),
        } = passwords.verify(weak.clone(), text("hunter22")).await
        else {
            panic!("not verified with a rehash");
        };
        assert!(
            rehash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{rehash}"
        );
        assert_eq!(
            passwords.verify(rehash, text("hunter22")).await,
            Verified::Right { rehash: None }
        );
        assert_eq!(
            passwords.verify(weak, text("hunter2")).await,
            Verified::Wrong
        );
        // Another Argon2 variant, same parameters: re-hashed as well.
        let salt = SaltString::generate(&mut OsRng);
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, passwords.params.clone())
            .hash_password(b"hunter22", &salt)
            .unwrap()
            .to_string();
        assert!(matches!(
            passwords.verify(argon2i, text("hunter22")).await,
            Verified::Right { rehash: Some(_) }
        ));
    }

    #[tokio::test]
    async fn an_unreadable_stored_hash_is_a_wrong_password() {
        let passwords = Passwords::new();
        for stored in [
            "",
            "plaintext",
            "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert_eq!(
                passwords.verify(text(stored), text("whatever1")).await,
                Verified::Wrong,
                "{stored}"
            );
        }
    }

    #[test]
    fn a_password_has_8_to_1024_bytes() {
        for (length, ok) in [
            (0, false),
            (7, false),
            (8, true),
            (1024, true),
            (1025, false),
        ] {
            let result = check_strength(&"x".repeat(length));
            assert_eq!(result.is_ok(), ok, "{length}");
            if let Err(error) = result {
                assert!(matches!(error, ProtocolError::WeakPassword(_)), "{error:?}");
            }
        }
        // Bytes, not characters: four 2-byte characters are enough.
        assert!(check_strength("éééé").is_ok());
    }
}
