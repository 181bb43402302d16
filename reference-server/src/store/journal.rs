//! The write path: the core pushes changes into an ordered queue, one writer thread commits
//! whatever has accumulated in a single SQLite transaction (group commit), and answers wait for
//! the durable watermark to pass every change queued before them. A change is queued while the
//! core holds the locks that order it, so the committed prefix is always a state the server
//! passed through, and nothing a client was told can be lost by a crash.

use super::change::Change;
use super::write::write_change;
use super::StoreError;
use rusqlite::Connection;
use std::sync::{Condvar, Mutex, MutexGuard};
use tokio::sync::watch;

/// How far the writer has got: every change numbered `upto` or less is committed. `failed`: the
/// writer stopped (a storage error, or a planted crash in tests); nothing more becomes durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watermark {
    pub upto: u64,
    pub failed: bool,
}

#[derive(Default)]
struct Queue {
    /// The number of the last change queued.
    last: u64,
    changes: Vec<Change>,
    closing: bool,
}

/// A step of the write path where a test can make the writer stop dead, as a SIGKILL would
/// (only a build with the planted faults has the plans that do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// A batch was taken from the queue; nothing of it written.
    BeforeBegin,
    /// After writing one change of a batch, inside its transaction.
    MidBatch,
    /// Everything written, before `COMMIT`.
    BeforeCommit,
    /// Committed, before the watermark moved (the answers are still held back).
    AfterCommit,
}

#[cfg(feature = "faults")]
impl CrashPoint {
    pub const ALL: [CrashPoint; 4] =
        [CrashPoint::BeforeBegin, CrashPoint::MidBatch, CrashPoint::BeforeCommit, CrashPoint::AfterCommit];
}

/// Stop at the `hit`-th time (1-based) the writer reaches `at`.
#[cfg(feature = "faults")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPlan {
    pub at: CrashPoint,
    pub hit: u32,
}

/// How the store runs; the crash hooks exist only in a build with the planted faults.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoreOptions {
    /// Answers wait for durability on a blocking thread rather than a task. Tests on tokio's paused
    /// clock need it: the runtime does not move virtual time ahead while a blocking task runs.
    pub blocking_waits: bool,
    /// Where to stop dead.
    #[cfg(feature = "faults")]
    pub crash: Option<CrashPlan>,
    /// The planted `double_send` class of element-hq/synapse#17326: a sent delayed event and its
    /// record committed in two transactions, so a crash can fall between them.
    #[cfg(feature = "faults")]
    pub split_sent_from_record: bool,
}

pub struct Journal {
    queue: Mutex<Queue>,
    queued: Condvar,
    watermark: watch::Sender<Watermark>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Journal {
    pub(super) fn new() -> Journal {
        Journal {
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            watermark: watch::channel(Watermark::default()).0,
        }
    }

    /// Queue a change; the caller holds the core's locks that order it against its conflicts.
    pub fn push(&self, change: Change) {
        let mut q = lock(&self.queue);
        q.last += 1;
        let wake = q.changes.is_empty();
        q.changes.push(change);
        drop(q);
        if wake {
            self.queued.notify_one();
        }
    }

    /// The number of the last change queued so far.
    pub fn queued(&self) -> u64 {
        lock(&self.queue).last
    }

    /// Resolves once the writer has stopped on an error.
    pub async fn failed(&self) {
        let mut rx = self.watermark.subscribe();
        let _ = rx.wait_for(|w| w.failed).await;
    }

    pub fn watermark(&self) -> Watermark {
        *self.watermark.borrow()
    }

    /// Wait until change `n` and every one before it are committed.
    pub async fn durable(&self, n: u64) -> Result<(), StoreError> {
        let mut rx = self.watermark.subscribe();
        let w = rx.wait_for(|w| w.failed || w.upto >= n).await.map(|w| *w);
        match w {
            Ok(w) if w.upto >= n => Ok(()),
            _ => Err(StoreError::WriterStopped),
        }
    }

    fn publish(&self, w: Watermark) {
        self.watermark.send_replace(w);
    }

    /// Drop what is queued and stop the writer after the batch it is writing (a process kill, in
    /// tests that run the server in process).
    #[cfg(feature = "faults")]
    pub(super) fn abandon(&self) {
        let mut q = lock(&self.queue);
        q.changes.clear();
        q.closing = true;
        drop(q);
        self.queued.notify_one();
    }

    /// Let the writer finish what is queued and stop (a clean shutdown).
    pub(super) fn close(&self) {
        lock(&self.queue).closing = true;
        self.queued.notify_one();
    }

    /// The writer thread's loop.
    pub(super) fn run_writer(&self, mut conn: Connection, options: StoreOptions) {
        let mut hits = Hits::new(&options);
        loop {
            let (batch, upto) = {
                let mut q = lock(&self.queue);
                while q.changes.is_empty() && !q.closing {
                    q = self.queued.wait(q).unwrap_or_else(|p| p.into_inner());
                }
                if q.changes.is_empty() {
                    return;
                }
                (std::mem::take(&mut q.changes), q.last)
            };
            let result = commit(&mut conn, &batch, &options, &mut hits);
            if result.is_ok() {
                self.publish(Watermark { upto, failed: false });
            }
            if let Err(e) = result {
                if !matches!(e, StoreError::Crashed) {
                    tracing::error!(error = %e, "storage failed; no request is answered any more");
                }
                let upto = self.watermark().upto;
                self.publish(Watermark { upto, failed: true });
                return;
            }
        }
    }
}

/// Write `changes` in one transaction and commit it.
fn commit(
    conn: &mut Connection,
    changes: &[Change],
    options: &StoreOptions,
    hits: &mut Hits,
) -> Result<(), StoreError> {
    let _ = options;
    hits.reach(CrashPoint::BeforeBegin)?;
    #[cfg_attr(not(feature = "faults"), allow(unused_mut))]
    let mut tx = conn.transaction()?;
    for c in changes {
        #[cfg(feature = "faults")]
        if let (true, Change::Finalised(f)) = (options.split_sent_from_record, c) {
            if let Some(event) = &f.sent {
                super::write::event(&tx, event)?;
                tx.commit()?;
                hits.reach(CrashPoint::AfterCommit)?;
                tx = conn.transaction()?;
                super::write::finalised(&tx, f, false)?;
                hits.reach(CrashPoint::MidBatch)?;
                continue;
            }
        }
        write_change(&tx, c)?;
        hits.reach(CrashPoint::MidBatch)?;
    }
    hits.reach(CrashPoint::BeforeCommit)?;
    tx.commit()?;
    hits.reach(CrashPoint::AfterCommit)
}

/// Counts the writer's passes through each crash point; without the planted faults, nothing.
#[cfg(feature = "faults")]
struct Hits {
    plan: Option<CrashPlan>,
    seen: u32,
}

#[cfg(feature = "faults")]
impl Hits {
    fn new(options: &StoreOptions) -> Hits {
        Hits { plan: options.crash, seen: 0 }
    }

    fn reach(&mut self, point: CrashPoint) -> Result<(), StoreError> {
        let Some(plan) = self.plan.filter(|p| p.at == point) else { return Ok(()) };
        self.seen += 1;
        if self.seen == plan.hit {
            return Err(StoreError::Crashed);
        }
        Ok(())
    }
}

#[cfg(not(feature = "faults"))]
struct Hits;

#[cfg(not(feature = "faults"))]
impl Hits {
    fn new(_: &StoreOptions) -> Hits {
        Hits
    }

    #[inline(always)]
    fn reach(&mut self, _: CrashPoint) -> Result<(), StoreError> {
        Ok(())
    }
}
