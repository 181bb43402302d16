//! The async shell around the core's timers: one task sleeps until the earliest due time and is
//! woken early only when a nearer one is submitted. No polling.

use crate::clock::Clock;
use crate::engine::{Engine, Signals};
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// The shell's side of [`Signals`]: a wake-up for the timer task, a counter for long-polls.
pub struct Shell {
    timers: Notify,
    stream: watch::Sender<u64>,
}

impl Default for Shell {
    fn default() -> Self {
        Shell { timers: Notify::new(), stream: watch::channel(0).0 }
    }
}

impl Shell {
    /// A receiver that sees every later change of rooms or finalised events.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.stream.subscribe()
    }
}

impl Signals for Shell {
    fn wake_timers(&self) {
        // Stores a permit when the task is busy, so a wake-up is never lost.
        self.timers.notify_one();
    }

    fn stream_changed(&self) {
        self.stream.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Fire delayed events as they fall due, forever.
pub async fn run(engine: Arc<Engine>, shell: Arc<Shell>, clock: Clock) {
    loop {
        match engine.run_timers(&|| clock.now_ms()) {
            Some(due) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(clock.instant_at(due)) => {}
                    _ = shell.timers.notified() => {}
                }
            }
            None => shell.timers.notified().await,
        }
    }
}
