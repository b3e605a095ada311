//! The password back-off: failed passwords make their address (or, for
//! account passwords, their account too) wait before it may try again, so
//! guessing a password costs time, not just connections.
//!
//! The rule (protocol 1.1): a key's first [`FREE_FAILURES`] failed passwords
//! cost nothing, so a typo is never punished; from the next one on, each
//! failure doubles the wait before that key may try again ([`FIRST_WAIT`],
//! twice that, … up to [`MAX_WAIT`]). The count is forgotten once [`WINDOW`]
//! passes without a failure from the key. A successful password does not
//! clear it: behind a shared address (an office NAT) a colleague's login must
//! not hand a guesser fresh free tries.
//!
//! The key is an address ([`AddressKey`], the default) or anything else that
//! is `Eq + Hash + Clone`: protocol 1.2 also counts per account, so guesses at
//! one account spread over many addresses still meet the back-off.
//!
//! Parallel connections of one key must not all slip through before the
//! first failure is counted. Two ways keep that true:
//! - [`AuthBackoff::attempt`] runs the comparison under the lock. It is for
//!   a digest compare of a few microseconds (the server password), so the
//!   lock is never held long.
//! - [`AuthBackoff::begin`] is for a check too slow for the lock (Argon2, tens
//!   of milliseconds on another thread): it counts the attempt as a failure at
//!   once and hands back a [`Trial`]; a right password takes that failure
//!   back ([`Trial::accepted`]). A trial that is dropped stays a failure, so a
//!   check that never finishes costs the guesser, not the server.
//!
//! Memory is bounded: an entry is dropped [`WINDOW`] after its last failure,
//! and beyond [`MAX_TRACKED`] keys the one whose last failure is oldest
//! makes room.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::address::AddressKey;

/// Failed passwords a key may make without waiting.
pub(super) const FREE_FAILURES: u32 = 3;
/// The wait after the first failure beyond the free ones; each further
/// failure doubles it.
pub(super) const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(5 * 60);
/// Failures are forgotten this long after a key's last one.
pub(super) const WINDOW: Duration = Duration::from_secs(10 * 60);
/// Keys tracked at most (about 50 bytes each, plus the key).
const MAX_TRACKED: usize = 10_000;

/// Failed passwords per key: per address unless said otherwise.
#[derive(Debug)]
pub(super) struct AuthBackoff<K = AddressKey> {
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K> Default for AuthBackoff<K> {
    fn default() -> Self {
        AuthBackoff {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Failures since the count was last forgotten.
    failures: u32,
    last_failure: Instant,
    /// No password from this key is checked before this.
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
    /// The password was wrong: the key's `failures` in the window, and
    /// the wait it now has before its next attempt (zero while free).
    Failed { failures: u32, wait: Duration },
    /// The key is still waiting: the password was not checked.
    /// `first` is true for the first such attempt of this wait.
    Throttled { wait: Duration, first: bool },
}

/// A password check under way (see [`AuthBackoff::begin`]), counted as a
/// failure until [`Trial::accepted`] takes that back. Dropping it keeps the
/// failure.
#[must_use = "a trial left alone counts as a failed password"]
#[derive(Debug)]
pub(super) struct Trial<'a, K = AddressKey> {
    backoff: &'a AuthBackoff<K>,
    key: K,
    /// The entry before this trial counted (`None`: there was none live).
    before: Option<Entry>,
    /// The key's failures with this one, and the wait that set.
    failures: u32,
    wait: Duration,
}

impl<K: Eq + Hash + Clone> AuthBackoff<K> {
    /// Checks a password from `key` with `matches`, unless the key is in
    /// its wait, and counts a failure.
    pub(super) fn attempt(&self, key: K, now: Instant, matches: impl FnOnce() -> bool) -> Attempt {
        let mut entries = self.lock();
        if let Some(throttled) = throttled(&mut entries, &key, now) {
            return throttled;
        }
        if matches() {
            return Attempt::Accepted;
        }
        let (failures, wait) = count_failure(&mut entries, key, now);
        Attempt::Failed { failures, wait }
    }

    /// Starts a password check done outside the lock: refused (with
    /// [`Attempt::Throttled`]) while `key` waits; otherwise counted as a
    /// failure right away, so parallel attempts meet the wait this one may
    /// start, and returned as a [`Trial`] to settle when the check is done.
    pub(super) fn begin(&self, key: K, now: Instant) -> Result<Trial<'_, K>, Attempt> {
        let mut entries = self.lock();
        if let Some(throttled) = throttled(&mut entries, &key, now) {
            return Err(throttled);
        }
        let before = live(&entries, &key, now).copied();
        let (failures, wait) = count_failure(&mut entries, key.clone(), now);
        Ok(Trial {
            backoff: self,
            key,
            before,
            failures,
            wait,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

impl<K: Eq + Hash + Clone> Trial<'_, K> {
    /// The password was right: takes back the failure counted at
    /// [`AuthBackoff::begin`]. (Also the call for a password that ends up
    /// not checked at all.)
    pub(super) fn accepted(self) {
        let mut entries = self.backoff.lock();
        let Some(entry) = entries.get_mut(&self.key) else {
            // Forgotten or pushed out meanwhile: nothing left to take back.
            return;
        };
        if entry.failures == self.failures {
            // The count is where this trial left it: the entry goes back to
            // how it was before, as if this attempt never happened. (Should
            // attempts have been counted and taken back meanwhile in another
            // order, only the times differ, by less than one check takes.)
            match self.before {
                Some(before) => *entry = before,
                None => {
                    entries.remove(&self.key);
                }
            }
        } else if entry.failures > 1 {
            // Later attempts counted on top of this one (and set the wait and
            // the last failure's time): only this one comes off the count, and
            // the wait shrinks to what the count left calls for.
            entry.failures -= 1;
            let wait = entry.last_failure + wait_after(entry.failures);
            entry.retry_at = entry.retry_at.min(wait);
        } else {
            entries.remove(&self.key);
        }
    }

    /// The password was wrong: the failure counted at
    /// [`AuthBackoff::begin`] stands. Returns the key's failures with this
    /// one and the wait it started, as [`AuthBackoff::attempt`] would.
    pub(super) fn failed(self) -> Attempt {
        Attempt::Failed {
            failures: self.failures,
            wait: self.wait,
        }
    }
}

/// The entry of `key`, unless its failures are forgotten by `now`.
fn live<'e, K: Eq + Hash>(
    entries: &'e HashMap<K, Entry>,
    key: &K,
    now: Instant,
) -> Option<&'e Entry> {
    entries
        .get(key)
        .filter(|entry| now < entry.last_failure + WINDOW)
}

/// The refusal for `key` if it is in its wait at `now`.
fn throttled<K: Eq + Hash>(
    entries: &mut HashMap<K, Entry>,
    key: &K,
    now: Instant,
) -> Option<Attempt> {
    let entry = entries
        .get_mut(key)
        .filter(|entry| now < entry.last_failure + WINDOW)?;
    if now >= entry.retry_at {
        return None;
    }
    let first = !std::mem::replace(&mut entry.throttle_logged, true);
    Some(Attempt::Throttled {
        wait: entry.retry_at - now,
        first,
    })
}

/// Counts a failure of `key` at `now`: its failures in the window and the
/// wait that follows.
fn count_failure<K: Eq + Hash + Clone>(
    entries: &mut HashMap<K, Entry>,
    key: K,
    now: Instant,
) -> (u32, Duration) {
    let failures = live(entries, &key, now).map_or(1, |entry| entry.failures + 1);
    let wait = wait_after(failures);
    if !entries.contains_key(&key) && entries.len() >= MAX_TRACKED {
        make_room(entries, now);
    }
    entries.insert(
        key,
        Entry {
            failures,
            last_failure: now,
            retry_at: now + wait,
            throttle_logged: false,
        },
    );
    (failures, wait)
}

/// The wait a key has after its `failures`-th failure in the window.
fn wait_after(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES + 1) {
        None => Duration::ZERO,
        // 2^9 s is past the cap already; a larger shift would overflow.
        Some(doublings) => (FIRST_WAIT * 2u32.pow(doublings.min(9))).min(MAX_WAIT),
    }
}

/// Drops the forgotten entries, or failing any, the one whose last failure is
/// oldest.
fn make_room<K: Eq + Hash + Clone>(entries: &mut HashMap<K, Entry>, now: Instant) {
    entries.retain(|_, entry| now < entry.last_failure + WINDOW);
    if entries.len() < MAX_TRACKED {
        return;
    }
    let oldest = entries
        .iter()
        .min_by_key(|(_, entry)| entry.last_failure)
        .map(|(key, _)| key.clone());
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

    fn begin(backoff: &AuthBackoff, at: Instant) -> Trial<'_> {
        backoff.begin(address(1), at).expect("not throttled")
    }

    #[test]
    fn a_trial_counts_as_a_failure_until_accepted() {
        let backoff = AuthBackoff::default();
        let now = Instant::now();
        // Right passwords leave nothing behind.
        for _ in 0..5 {
            begin(&backoff, now).accepted();
        }
        assert_eq!(backoff.tracked(), 0);
        assert_eq!(
            begin(&backoff, now).failed(),
            Attempt::Failed {
                failures: 1,
                wait: Duration::ZERO
            }
        );
        // A trial dropped unsettled stays a failure.
        drop(begin(&backoff, now));
        assert_eq!(
            begin(&backoff, now).failed(),
            Attempt::Failed {
                failures: 3,
                wait: Duration::ZERO
            }
        );
        // A success does not clear the count either.
        begin(&backoff, now).accepted();
        assert_eq!(
            fail(&backoff, now),
            Attempt::Failed {
                failures: 4,
                wait: FIRST_WAIT
            }
        );
        assert!(matches!(
            backoff.begin(address(1), now),
            Err(Attempt::Throttled { first: true, .. })
        ));
        // The same rule as `attempt`: the wait ends, the count stays.
        assert_eq!(
            begin(&backoff, now + FIRST_WAIT).failed(),
            Attempt::Failed {
                failures: 5,
                wait: 2 * FIRST_WAIT
            }
        );
    }

    #[test]
    fn concurrent_trials_of_one_key_meet_the_wait_the_earlier_ones_start() {
        let backoff = AuthBackoff::default();
        let now = Instant::now();
        for _ in 0..2 {
            let _ = begin(&backoff, now).failed();
        }
        // Two checks at once: both are counted before either is done, the
        // second as the 4th failure, which starts the wait...
        let third = begin(&backoff, now);
        let fourth = begin(&backoff, now);
        // ...so a 5th attempt meanwhile is refused unchecked, even though
        // neither check has failed yet.
        assert_eq!(
            backoff.begin(address(1), now).unwrap_err(),
            Attempt::Throttled {
                wait: FIRST_WAIT,
                first: true
            }
        );
        // Another key is not held up.
        backoff.begin(address(2), now).unwrap().accepted();
        assert_eq!(
            third.failed(),
            Attempt::Failed {
                failures: 3,
                wait: Duration::ZERO
            }
        );
        assert_eq!(
            fourth.failed(),
            Attempt::Failed {
                failures: 4,
                wait: FIRST_WAIT
            }
        );
        assert!(backoff.begin(address(1), now).is_err());
    }

    #[test]
    fn a_trial_in_flight_starts_the_wait_and_taking_it_back_lifts_it() {
        let backoff = AuthBackoff::default();
        let now = Instant::now();
        for _ in 0..3 {
            let _ = begin(&backoff, now).failed();
        }
        // With 3 failures counted, the 4th attempt is checked and starts the
        // wait at once; one more in parallel is throttled.
        let fourth = begin(&backoff, now);
        assert!(matches!(
            backoff.begin(address(1), now),
            Err(Attempt::Throttled { .. })
        ));
        // It was right after all: its failure and the wait go.
        fourth.accepted();
        assert_eq!(
            begin(&backoff, now).failed(),
            Attempt::Failed {
                failures: 4,
                wait: FIRST_WAIT
            }
        );
    }

    #[test]
    fn trials_settled_out_of_order_take_back_one_failure_each() {
        let backoff = AuthBackoff::default();
        let now = Instant::now();
        for _ in 0..2 {
            let _ = begin(&backoff, now).failed();
        }
        let third = begin(&backoff, now);
        let fourth = begin(&backoff, now);
        // The earlier one is right: one failure comes off, and so does the
        // wait the later one started, which 3 failures do not call for.
        third.accepted();
        let fifth = begin(&backoff, now);
        assert_eq!(
            fifth.failed(),
            Attempt::Failed {
                failures: 4,
                wait: FIRST_WAIT
            }
        );
        // Counted: 2 failed, `fourth` in flight, `fifth` failed. Taking
        // `fourth` back leaves 3, and the next failure is the 4th.
        fourth.accepted();
        assert_eq!(
            fail(&backoff, now),
            Attempt::Failed {
                failures: 4,
                wait: FIRST_WAIT
            }
        );
    }

    #[test]
    fn any_hashable_key_will_do() {
        let backoff: AuthBackoff<String> = AuthBackoff::default();
        let now = Instant::now();
        for n in 1..=4 {
            let trial = backoff.begin("alice".to_owned(), now).unwrap();
            assert!(matches!(trial.failed(), Attempt::Failed { failures, .. } if failures == n));
        }
        assert!(backoff.begin("alice".to_owned(), now).is_err());
        assert_eq!(
            backoff.attempt("bob".to_owned(), now, || true),
            Attempt::Accepted
        );
    }
}
