//! Time and randomness, injected so the engine and sign-in rules can run under a controlled clock
//! and a seeded generator.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    fn today(&self) -> jiff::civil::Date {
        cip_common::calendar::day_of(&jiff::tz::TimeZone::UTC, self.now_ms())
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        ManualClock(AtomicI64::new(now_ms))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now()
    }
}

/// The one source of randomness for ids, tokens and confirmation codes: a CSPRNG seeded from the
/// operating system, or from a seed under simulation.
#[derive(Clone)]
pub struct Entropy(Arc<Mutex<StdRng>>);

impl Entropy {
    pub fn from_os() -> Self {
        Entropy(Arc::new(Mutex::new(rand::make_rng())))
    }

    pub fn seeded(seed: u64) -> Self {
        Entropy(Arc::new(Mutex::new(StdRng::seed_from_u64(seed))))
    }

    pub fn next_u64(&self) -> u64 {
        use rand::Rng;
        self.0.lock().unwrap_or_else(|p| p.into_inner()).next_u64()
    }

    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        use rand::Rng;
        let mut out = [0u8; N];
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fill_bytes(&mut out);
        out
    }

    /// A secret a person or a browser carries (a session token, a pay link, a cookie): 256
    /// random bits as 64 hex digits.
    pub fn secret_hex(&self) -> String {
        blake3::Hash::from(self.bytes::<32>()).to_hex().to_string()
    }
}
