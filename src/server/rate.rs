//! Per-connection request rate limiting: a token bucket for requests, and a second
//! bucket of the same size that refused requests drain, so a client that keeps
//! pushing past its limit is told to leave instead of being answered forever.

use tokio::time::Instant;

/// What the limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Answer `rate_limited`; do not carry the request out.
    Limited,
    /// Past the limit for so long that the connection should be closed.
    Flooding,
}

/// Token buckets for one connection.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    tokens: f64,
    /// Refused requests the client may still send before it counts as flooding.
    patience: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    pub fn new(burst: u32, per_second: f64, now: Instant) -> Self {
        let burst = f64::from(burst);
        RateLimiter {
            burst,
            per_second,
            tokens: burst,
            patience: burst,
            refilled_at: now,
        }
    }

    /// Takes a token for one request.
    pub fn check(&mut self, now: Instant) -> Verdict {
        let earned = now.duration_since(self.refilled_at).as_secs_f64() * self.per_second;
        self.refilled_at = now;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.patience = (self.patience + earned).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Verdict::Allowed
        } else if self.patience >= 1.0 {
            self.patience -= 1.0;
            Verdict::Limited
        } else {
            Verdict::Flooding
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_limited_then_flooding() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(3, 1.0, start);
        let verdicts: Vec<_> = (0..7).map(|_| limiter.check(start)).collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [Allowed, Allowed, Allowed, Limited, Limited, Limited, Flooding]
        );
    }

    #[test]
    fn tokens_come_back_at_the_configured_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(2, 10.0, start);
        assert_eq!(limiter.check(start), Verdict::Allowed);
        assert_eq!(limiter.check(start), Verdict::Allowed);
        assert_eq!(limiter.check(start), Verdict::Limited);
        let later = start + Duration::from_millis(100);
        assert_eq!(limiter.check(later), Verdict::Allowed);
        assert_eq!(limiter.check(later), Verdict::Limited);
        // A long pause refills to the burst, not beyond it.
        let much_later = later + Duration::from_secs(60);
        assert_eq!(limiter.check(much_later), Verdict::Allowed);
        assert_eq!(limiter.check(much_later), Verdict::Allowed);
        assert_eq!(limiter.check(much_later), Verdict::Limited);
    }
}
