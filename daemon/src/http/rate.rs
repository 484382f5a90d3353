//! Requests per application: a token bucket each, refilled at the configured rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Applications tracked at most; beyond this, full buckets are forgotten (they hold nothing).
const MAX_TRACKED: usize = 10_000;

pub struct Limiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    pub fn new(per_second: u32, burst: u32) -> Limiter {
        Limiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `application`'s bucket, or says in how many whole seconds one
    /// will be there.
    pub fn take(&self, application: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(application) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < burst
            });
        }
        let (tokens, at) = buckets
            .entry(application.to_owned())
            .or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_and_the_next_waits() {
        let limiter = Limiter::new(1, 3);
        for _ in 0..3 {
            assert_eq!(limiter.take("DMV-RENEWAL"), Ok(()));
        }
        assert_eq!(limiter.take("DMV-RENEWAL"), Err(1));
        assert_eq!(
            limiter.take("TAX-PAYMENT"),
            Ok(()),
            "each application has its own"
        );
    }
}
