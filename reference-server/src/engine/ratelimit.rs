//! Per-user fixed-window rate limits by request class (SCH-6, MGT-6, SRV-6, SEC-3). The same
//! rule as the model: at most `max` requests per window; the answer names when the window ends.

use crate::config::{RateLimits, Window};
use crate::error::{MatrixError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateClass {
    Scheduling = 0,
    Management = 1,
    Lookups = 2,
    Sending = 3,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    start: u64,
    count: u32,
}

#[derive(Debug, Default)]
pub struct RateWindows([Bucket; 4]);

impl RateClass {
    pub fn limit(self, limits: &RateLimits) -> Option<Window> {
        match self {
            RateClass::Scheduling => limits.scheduling,
            RateClass::Management => limits.management,
            RateClass::Lookups => limits.lookups,
            RateClass::Sending => limits.sending,
        }
    }
}

impl RateWindows {
    /// Count one request of `class` at `now`, or refuse it with 429 `M_LIMIT_EXCEEDED`.
    pub fn take(&mut self, class: RateClass, limit: Option<Window>, now: u64) -> Result<()> {
        let Some(limit) = limit else { return Ok(()) };
        let b = &mut self.0[class as usize];
        let end = b.start.saturating_add(limit.window_ms);
        if now >= end {
            *b = Bucket { start: now, count: 0 };
        }
        if b.count >= limit.max {
            return Err(MatrixError::limit_exceeded(
                b.start.saturating_add(limit.window_ms).saturating_sub(now),
            ));
        }
        b.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // covers: SCH-6 MGT-6
    // Would catch: one window shared by all classes, a window that never reopens, a wrong
    // `retry_after_ms`.
    #[test]
    fn window_refuses_then_reopens() {
        let mut w = RateWindows::default();
        let limit = Some(Window { max: 2, window_ms: 1000 });
        assert!(w.take(RateClass::Scheduling, limit, 10_000).is_ok());
        assert!(w.take(RateClass::Scheduling, limit, 10_010).is_ok());
        let e = w.take(RateClass::Scheduling, limit, 10_020).expect_err("third in window");
        assert_eq!((e.status, e.retry_after_ms), (429, Some(980)));
        assert!(w.take(RateClass::Management, limit, 10_020).is_ok(), "classes are separate");
        assert!(w.take(RateClass::Scheduling, limit, 10_999).is_err(), "window still open");
        assert!(w.take(RateClass::Scheduling, limit, 11_000).is_ok(), "a new window");
        assert!(w.take(RateClass::Scheduling, None, 11_000).is_ok());
    }
}
