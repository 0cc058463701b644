//! Token buckets for chat, reactions and HTTP. Time is passed in, so the
//! ECS can drive them from its clock and tests from a manual one.

use crate::config::RateConfig;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: RateConfig,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at time `now`.
    pub fn new(rate: RateConfig, now: Duration) -> Self {
        TokenBucket {
            rate,
            tokens: rate.burst as f64,
            last: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self, now: Duration) -> Result<(), Duration> {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst as f64);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate.per_second;
            Err(Duration::from_secs_f64(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_sustained_rate() {
        let rate = RateConfig {
            per_second: 1.0,
            burst: 5,
        };
        let t0 = Duration::from_secs(100);
        let mut bucket = TokenBucket::new(rate, t0);
        for _ in 0..5 {
            assert!(bucket.try_take(t0).is_ok());
        }
        let wait = bucket.try_take(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-9);
        assert!(bucket.try_take(t0 + Duration::from_millis(500)).is_err());
        assert!(bucket.try_take(t0 + Duration::from_millis(1000)).is_ok());
        // A long quiet spell refills only up to the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert!(bucket.try_take(later).is_ok());
        }
        assert!(bucket.try_take(later).is_err());
    }
}
