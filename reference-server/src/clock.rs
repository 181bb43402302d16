//! The server's clock: milliseconds since the Unix epoch, read from tokio's monotonic clock and
//! an epoch taken once. Timestamps never go backwards, and under tokio's paused clock
//! (`start_paused`) tests run on virtual time: `advance` moves timers and timestamps together.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_ms: u64,
    start: Instant,
}

impl Clock {
    /// Now is the system time; later readings advance monotonically from it.
    pub fn system() -> Clock {
        let base_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Clock::starting_at(base_ms)
    }

    /// Now is `base_ms` (deterministic tests).
    pub fn starting_at(base_ms: u64) -> Clock {
        Clock { base_ms, start: Instant::now() }
    }

    pub fn now_ms(&self) -> u64 {
        self.base_ms.saturating_add(self.start.elapsed().as_millis() as u64)
    }

    /// The instant at which `now_ms()` first reads `ms`.
    pub fn instant_at(&self, ms: u64) -> Instant {
        // Capped far in the future so the addition cannot overflow.
        let offset = Duration::from_millis(ms.saturating_sub(self.base_ms).min(1 << 40));
        self.start + offset
    }
}
