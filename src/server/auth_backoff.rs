//! The password back-off: failed passwords make their address wait before it
//! may try again, so guessing the server password costs time, not just
//! connections.
//!
//! The rule (protocol 1.1): an address's first [`FREE_FAILURES`] failed
//! passwords cost nothing, so a typo is never punished; from the next one on,
//! each failure doubles the wait before that address may try again
//! ([`FIRST_WAIT`], twice that, … up to [`MAX_WAIT`]). The count is forgotten
//! once [`WINDOW`] passes without a failure from the address. A successful
//! password does not clear it: behind a shared address (an office NAT) a
//! colleague's login must not hand a guesser fresh free tries.
//!
//! The check and the bookkeeping happen under one lock, with the comparison
//! inside it: parallel connections of one address cannot all slip through
//! before the first failure is counted. The comparison is a digest compare of
//! a few microseconds, so the lock is never held long.
//!
//! Memory is bounded: an entry is dropped [`WINDOW`] after its last failure,
//! and beyond [`MAX_TRACKED`] addresses the one whose last failure is oldest
//! makes room.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::address::AddressKey;

/// Failed passwords an address may make without waiting.
pub(super) const FREE_FAILURES: u32 = 3;
/// The wait after the first failure beyond the free ones; each further
/// failure doubles it.
pub(super) const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(5 * 60);
/// Failures are forgotten this long after an address's last one.
pub(super) const WINDOW: Duration = Duration::from_secs(10 * 60);
/// Addresses tracked at most (about 50 bytes each).
const MAX_TRACKED: usize = 10_000;

/// Failed passwords per address.
#[derive(Debug, Default)]
pub(super) struct AuthBackoff {
    entries: Mutex<HashMap<AddressKey, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Failures since the count was last forgotten.
    failures: u32,
    last_failure: Instant,
    /// No password from this address is checked before this.
    retry_at: Instant,
    /// A refused attempt during the current wait was logged already: one
    /// warning per wait, not one per attempt of a flood.
    throttle_logged: bool,
}

/// What became of one password attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempt {
    /// The password was right.
    Accepted,
    /// The password was wrong: the address's `failures` in the window, and
    /// the wait it now has before its next attempt (zero while free).
    Failed { failures: u32, wait: Duration },
    /// The address is still waiting: the password was not checked.
    /// `first` is true for the first such attempt of this wait.
    Throttled { wait: Duration, first: bool },
}

impl AuthBackoff {
    /// Checks a password from `address` with `matches`, unless the address
    /// is in its wait, and counts a failure.
    pub(super) fn attempt(
        &self,
        address: AddressKey,
        now: Instant,
        matches: impl FnOnce() -> bool,
    ) -> Attempt {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let known = entries
            .get_mut(&address)
            .filter(|entry| now < entry.last_failure + WINDOW);
        if let Some(entry) = known {
            if now < entry.retry_at {
                let first = !std::mem::replace(&mut entry.throttle_logged, true);
                return Attempt::Throttled {
                    wait: entry.retry_at - now,
                    first,
                };
            }
        }
        if matches() {
            return Attempt::Accepted;
        }
        let failures = match entries.get(&address) {
            Some(entry) if now < entry.last_failure + WINDOW => entry.failures + 1,
            _ => 1,
        };
        let wait = wait_after(failures);
        if !entries.contains_key(&address) && entries.len() >= MAX_TRACKED {
            make_room(&mut entries, now);
        }
        entries.insert(
            address,
            Entry {
                failures,
                last_failure: now,
                retry_at: now + wait,
                throttle_logged: false,
            },
        );
        Attempt::Failed { failures, wait }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// The wait an address has after its `failures`-th failure in the window.
fn wait_after(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES + 1) {
        None => Duration::ZERO,
        // 2^9 s is past the cap already; a larger shift would overflow.
        Some(doublings) => (FIRST_WAIT * 2u32.pow(doublings.min(9))).min(MAX_WAIT),
    }
}

/// Drops the forgotten entries, or failing any, the one whose last failure is
/// oldest.
fn make_room(entries: &mut HashMap<AddressKey, Entry>, now: Instant) {
    entries.retain(|_, entry| now < entry.last_failure + WINDOW);
    if entries.len() < MAX_TRACKED {
        return;
    }
    let oldest = entries
        .iter()
        .min_by_key(|(_, entry)| entry.last_failure)
        .map(|(address, _)| *address);
    if let Some(oldest) = oldest {
        entries.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn address(n: u32) -> AddressKey {
        AddressKey::of(IpAddr::V4(Ipv4Addr::from(n)))
    }

    fn fail(backoff: &AuthBackoff, at: Instant) -> Attempt {
        backoff.attempt(address(1), at, || false)
    }

    #[test]
    fn three_failures_are_free_then_each_one_doubles_the_wait_up_to_five_minutes() {
        let backoff = AuthBackoff::default();
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..14 {
            match fail(&backoff, now) {
                Attempt::Failed { wait, .. } => waits.push(wait.as_secs()),
                other => panic!("not checked: {other:?}"),
            }
            now += waits
                .last()
                .map_or(Duration::ZERO, |&s| Duration::from_secs(s));
        }
        assert_eq!(waits, [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn during_the_wait_nothing_is_checked_and_the_wait_does_not_grow() {
        let backoff = AuthBackoff::default();
        let start = Instant::now();
        for _ in 0..4 {
            fail(&backoff, start);
        }
        let checked = std::cell::Cell::new(0);
        let attempt = |at| {
            backoff.attempt(address(1), at, || {
                checked.set(checked.get() + 1);
                true
            })
        };
        let half = start + Duration::from_millis(500);
        assert_eq!(
            attempt(half),
            Attempt::Throttled {
                wait: Duration::from_millis(500),
                first: true
            }
        );
        assert_eq!(
            attempt(half),
            Attempt::Throttled {
                wait: Duration::from_millis(500),
                first: false
            }
        );
        assert_eq!(checked.get(), 0);
        // Another address is not held up.
        assert_eq!(
            backoff.attempt(address(2), half, || true),
            Attempt::Accepted
        );
        // Once the wait is over, the right password is let in.
        assert_eq!(attempt(start + FIRST_WAIT), Attempt::Accepted);
        assert_eq!(checked.get(), 1);
    }

    #[test]
    fn a_success_does_not_clear_the_count_but_a_quiet_window_does() {
        let backoff = AuthBackoff::default();
        let start = Instant::now();
        for _ in 0..3 {
            fail(&backoff, start);
        }
        assert_eq!(
            backoff.attempt(address(1), start, || true),
            Attempt::Accepted
        );
        assert_eq!(
            fail(&backoff, start),
            Attempt::Failed {
                failures: 4,
                wait: FIRST_WAIT
            }
        );
        let later = start + WINDOW;
        assert_eq!(
            fail(&backoff, later),
            Attempt::Failed {
                failures: 1,
                wait: Duration::ZERO
            }
        );
    }

    #[test]
    fn the_table_is_bounded_and_drops_the_oldest() {
        let backoff = AuthBackoff::default();
        let start = Instant::now();
        let count = u32::try_from(MAX_TRACKED).unwrap();
        for n in 0..count {
            let at = start + Duration::from_millis(u64::from(n));
            backoff.attempt(address(n), at, || false);
        }
        assert_eq!(backoff.tracked(), MAX_TRACKED);
        let at = start + Duration::from_secs(60);
        backoff.attempt(address(count), at, || false);
        assert_eq!(backoff.tracked(), MAX_TRACKED);
        // The oldest (address 0) went: its next failure counts as its first.
        assert_eq!(
            backoff.attempt(address(0), at, || false),
            Attempt::Failed {
                failures: 1,
                wait: Duration::ZERO
            }
        );
        // Forgotten entries go before any live one.
        backoff.attempt(
            address(count + 1),
            start + WINDOW + Duration::from_secs(61),
            || false,
        );
        assert_eq!(backoff.tracked(), 1);
    }
}
