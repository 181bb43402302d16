//! Persistence (`--data-dir`): the server's whole state in one SQLite database, written through
//! [`journal::Journal`] (group commit, answers held until durable) and read back at startup
//! ([`read::Snapshot`], rebuilt into the core by `Engine::restore`). PER-1..3.

pub mod change;
pub mod journal;
pub mod read;
pub mod schema;
mod write;

use journal::Journal;
pub use journal::StoreOptions;
use read::Snapshot;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How far a commit goes before the answers it holds back are released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// `fsync` at every group commit: an answered request survives power loss.
    #[default]
    Full,
    /// Written to the operating system at every group commit, `fsync`ed at checkpoints only: an
    /// answered request survives the server process dying (SIGKILL, a crash), not power loss.
    Normal,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the data directory is in use by another process (lock file {0})")]
    Locked(PathBuf),
    #[error("the data directory holds a database that is not this server's")]
    Foreign,
    #[error(
        "the data directory was written by schema version {found}; this server reads version \
         {supported} only"
    )]
    Version { found: i64, supported: i64 },
    #[error("the data directory is inconsistent: {0}")]
    Inconsistent(String),
    #[error("the storage writer has stopped")]
    WriterStopped,
    /// A planted crash point was reached (tests only).
    #[error("crashed at a planted crash point")]
    Crashed,
}

/// An open data directory: its journal, and the writer thread that owns the database.
pub struct Store {
    pub journal: Arc<Journal>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub dir: PathBuf,
    pub options: StoreOptions,
}

const DATABASE: &str = "msc4140.sqlite3";
const LOCK: &str = "lock";

impl Store {
    /// Open (or create) `dir`, read everything in it and start the writer.
    pub fn open(dir: &Path, sync: SyncMode, options: StoreOptions) -> Result<(Store, Snapshot), StoreError> {
        std::fs::create_dir_all(dir)?;
        // One server per directory: an advisory lock the kernel drops when the process dies.
        let lock_path = dir.join(LOCK);
        let lock = std::fs::File::create(&lock_path)?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(lock_path));
        }
        let mut conn = Connection::open(dir.join(DATABASE))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let level = match sync {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", level)?;
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        // 64 MiB of page cache (the default is 2 MiB): the hot rows of a large directory stay in
        // memory, so a restart's update reads nothing back from the file.
        conn.pragma_update(None, "cache_size", -65_536)?;
        // Checkpoint every ~40 MiB of log rather than 4 MiB: a page written many times between
        // two checkpoints is copied into the database once.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        schema::prepare(&mut conn)?;
        let boots = schema::next_boot(&conn)?;
        let snapshot = read::snapshot(&conn, boots)?;
        let journal = Arc::new(Journal::new());
        let writer_journal = journal.clone();
        let writer = std::thread::Builder::new().name("msc4140-store".into()).spawn(move || {
            // The lock lives as long as the writer: once it stops, nothing more is written.
            let _lock = lock;
            writer_journal.run_writer(conn, options);
        })?;
        Ok((Store { journal, writer: Mutex::new(Some(writer)), dir: dir.to_path_buf(), options }, snapshot))
    }

    /// Stop the writer without writing what is queued, as a SIGKILL would (in-process tests).
    #[cfg(feature = "faults")]
    pub fn abandon(&self) {
        self.journal.abandon();
        self.close();
    }

    /// Write what is queued and stop the writer (clean shutdown). Idempotent.
    pub fn close(&self) {
        self.journal.close();
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}
