//! When to try again after a dropped connection: exponential backoff from 1 s
//! up to 30 s, with jitter so that the clients of a restarted server do not all
//! come back in the same instant.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);

/// Failed attempts since the last good connection.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff::default()
    }

    /// A connection registered: the next drop starts from the shortest delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The wait before the next attempt, or `None` once `limit` attempts have
    /// been made (no limit: forever).
    pub fn next_delay(&mut self, limit: Option<u32>) -> Option<Duration> {
        if limit.is_some_and(|limit| self.failures >= limit) {
            return None;
        }
        let base = FIRST.saturating_mul(1 << self.failures.min(5)).min(LONGEST);
        self.failures += 1;
        // ±20 %, kept within the 1 s to 30 s bounds.
        let jittered = base.mul_f64(0.8 + 0.4 * unit_random());
        Some(jittered.clamp(FIRST, LONGEST))
    }
}

/// A number in [0, 1).
fn unit_random() -> f64 {
    let mut bytes = [0u8; 4];
    match SystemRandom::new().fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_thirty_seconds_then_stay() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay(None).unwrap()).collect();
        let bounds = [1, 2, 4, 8, 16, 30, 30, 30];
        for (delay, bound) in delays.iter().zip(bounds) {
            let bound = Duration::from_secs(bound);
            assert!(
                *delay >= bound.mul_f64(0.8).max(FIRST),
                "{delay:?} for {bound:?}"
            );
            assert!(
                *delay <= bound.mul_f64(1.2).min(LONGEST),
                "{delay:?} for {bound:?}"
            );
        }
    }

    #[test]
    fn a_limit_stops_the_attempts_and_a_reset_restarts_them() {
        let mut backoff = Backoff::new();
        assert!(backoff.next_delay(Some(2)).is_some());
        assert!(backoff.next_delay(Some(2)).is_some());
        assert_eq!(backoff.next_delay(Some(2)), None);
        backoff.reset();
        assert!(backoff.next_delay(Some(2)).unwrap() <= Duration::from_millis(1200));
        assert_eq!(Backoff::new().next_delay(Some(0)), None);
    }
}
