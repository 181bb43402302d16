//! The timer index. Requests never take a shared lock to arm a timer: scheduling pushes
//! `(due, id)` on a lock-free inbox and wakes the timer task only when the new due time is earlier
//! than the one it sleeps until (`armed`). The timer task alone owns the min-heap (O(log n) per
//! event). A restart pushes nothing: due times only move later, so the event's one entry comes up
//! at its old due time, finds the event not yet due, and is pushed again at the new one. Entries
//! of events finalised early stay until they come up, and are compacted when they pile up.

use super::accounts::Account;
use super::ids::DelayId;
use super::rooms::RoomCell;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Inbox, Mutex, Ordering};
use std::cmp::{Ordering as Cmp, Reverse};
use std::collections::BinaryHeap;

pub struct TimerEntry {
    pub due: u64,
    pub id: DelayId,
    pub owner: Arc<Account>,
    pub room: Arc<RoomCell>,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.id) == (other.due, other.id)
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Cmp> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> Cmp {
        (self.due, self.id).cmp(&(other.due, other.id))
    }
}

/// Wake the timer task to drain the inbox after this many submissions, so it never grows
/// unboundedly while the earliest timer is far away.
const DRAIN_EVERY: usize = 1 << 16;

pub struct Timers {
    inbox: Inbox<TimerEntry>,
    /// Submissions since the last drain.
    pushed: AtomicUsize,
    /// The due time the timer task will next wake at (`u64::MAX`: none).
    armed: AtomicU64,
    pub(super) heap: Mutex<BinaryHeap<Reverse<TimerEntry>>>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            inbox: Inbox::default(),
            pushed: AtomicUsize::new(0),
            armed: AtomicU64::new(u64::MAX),
            heap: Mutex::new(BinaryHeap::new()),
        }
    }
}

impl Timers {
    /// Submit an entry; `true` when the timer task must be woken to see it in time.
    pub fn push(&self, entry: TimerEntry) -> bool {
        let due = entry.due;
        self.inbox.push(entry);
        let pushed = self.pushed.fetch_add(1, Ordering::Relaxed) + 1;
        // SeqCst pairs with `arm`: either the task's drain after arming sees this entry, or this
        // load sees the armed time and we wake the task if we are earlier.
        due < self.armed.load(Ordering::SeqCst) || pushed == DRAIN_EVERY
    }

    pub(super) fn drain_into(&self, heap: &mut BinaryHeap<Reverse<TimerEntry>>) {
        self.pushed.store(0, Ordering::Relaxed);
        while let Some(e) = self.inbox.pop() {
            heap.push(Reverse(e));
        }
    }

    /// Publish the next wake-up; `true` if the inbox is still empty afterwards (safe to sleep).
    pub(super) fn arm(&self, next: Option<u64>) -> bool {
        self.armed.store(next.unwrap_or(u64::MAX), Ordering::SeqCst);
        self.inbox.is_empty()
    }
}
