//! The locks and atomics of the delayed-event core, from std or from loom, so the same code runs
//! in production and under the loom model checker (tokio's `loom` shim pattern). The switch is
//! `RUSTFLAGS="--cfg msc4140_loom"`, not `--cfg loom`, which would also put tokio (and so axum)
//! into tokio's own loom mode and break the build.

#[cfg(not(msc4140_loom))]
pub use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};

#[cfg(msc4140_loom)]
pub use loom::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

/// Reference counts are not what loom needs to check here (shared data is immutable once
/// published); std's `Arc` keeps `Arc<str>` conversions in both builds.
#[cfg(msc4140_loom)]
pub use std::sync::{Arc, Weak};

/// Lock a mutex. A poisoned lock means a panic happened while it was held; the data is still the
/// last consistent state we wrote (every mutation is a single step under the lock), so go on.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A lock-free queue of timer submissions. loom does not model crossbeam, so under loom it is a
/// mutex-protected deque with the same interface.
#[cfg(not(msc4140_loom))]
pub type Inbox<T> = crossbeam_queue::SegQueue<T>;

#[cfg(msc4140_loom)]
pub struct Inbox<T>(Mutex<std::collections::VecDeque<T>>);

#[cfg(msc4140_loom)]
impl<T> Default for Inbox<T> {
    fn default() -> Self {
        Inbox(Mutex::new(std::collections::VecDeque::new()))
    }
}

#[cfg(msc4140_loom)]
impl<T> Inbox<T> {
    pub fn push(&self, t: T) {
        lock(&self.0).push_back(t);
    }
    pub fn pop(&self) -> Option<T> {
        lock(&self.0).pop_front()
    }
    pub fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }
}

pub fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    match m.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

pub fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    match m.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
