//! The only place that reads the system clock. Tests use [`ManualClock`].

use crate::domain::Ts;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Ts;
}

pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Ts {
        Ts::from_timestamp(jiff::Timestamp::now())
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Ts) -> Self {
        ManualClock(AtomicI64::new(start.0))
    }
    pub fn set(&self, t: Ts) {
        self.0.store(t.0, Ordering::SeqCst);
    }
    pub fn advance(&self, d: std::time::Duration) {
        self.0.fetch_add(
            i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Ts {
        Ts(self.0.load(Ordering::SeqCst))
    }
}

/// Monotonic time for measuring durations (latency metrics); not a calendar clock.
pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}
