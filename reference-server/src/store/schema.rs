//! The data directory's SQLite schema and its version. A directory written by another schema
//! version is refused with a clear error rather than read wrongly.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension};

/// Bump on any change to the tables below (and migrate the versions before it in `prepare`).
pub const SCHEMA_VERSION: i64 = 2;

/// The application id SQLite keeps in the file header: "MSC4" in ASCII, so `file(1)` and this
/// server can tell our databases from others.
const APPLICATION_ID: i64 = 0x4d53_4334;

const TABLES: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE accounts (user_id TEXT PRIMARY KEY, password TEXT NOT NULL, guest INTEGER NOT NULL);
CREATE TABLE sessions (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL);
CREATE TABLE filters (
    user_id TEXT NOT NULL, idx INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (user_id, idx));
CREATE TABLE rooms (room_id TEXT PRIMARY KEY, creator TEXT NOT NULL);
-- Every event of every room; a room's state is its events replayed in stream order.
CREATE TABLE events (
    stream INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
    sender TEXT NOT NULL, type TEXT NOT NULL, state_key TEXT, content TEXT NOT NULL,
    origin_server_ts INTEGER NOT NULL, txn_id TEXT, delay_id TEXT);
CREATE TABLE txns (
    user_id TEXT NOT NULL, device_id TEXT NOT NULL, path INTEGER NOT NULL, room_id TEXT NOT NULL,
    type TEXT NOT NULL, txn_id TEXT NOT NULL, sent_event_id TEXT, delay_id TEXT,
    PRIMARY KEY (user_id, device_id, path, room_id, type, txn_id)) WITHOUT ROWID;
-- Delayed events: scheduled while `outcome` is NULL, finalised after (SRV-8). Keyed by the delay
-- id's 16 bytes.
CREATE TABLE delayed (
    delay_id BLOB PRIMARY KEY, owner TEXT NOT NULL, room_id TEXT NOT NULL, type TEXT NOT NULL,
    state_key TEXT, content TEXT NOT NULL, delay_ms INTEGER NOT NULL,
    outcome TEXT, reason TEXT, error TEXT, event_id TEXT, finalised_ts INTEGER, seq INTEGER)
    WITHOUT ROWID;
-- When each delayed event's timer last (re)started, apart from the rest: a restart rewrites a page
-- of ~150 of these narrow rows, not one of a few wide ones (a commit writes whole pages).
CREATE TABLE running (delay_id BLOB PRIMARY KEY, since INTEGER NOT NULL) WITHOUT ROWID;
";

/// Version 2: finalised delayed events an application service acknowledged (PSH-4), by the
/// registration's `id`; the rest are pushed again after a restart.
const APPSERVICE_ACKED: &str = "
CREATE TABLE appservice_acked (
    delay_id BLOB NOT NULL, service TEXT NOT NULL, PRIMARY KEY (delay_id, service)) WITHOUT ROWID;
";

/// Create the tables in a new database, or check an existing one is ours and of this version.
pub fn prepare(conn: &mut Connection) -> Result<(), StoreError> {
    let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let has_tables: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table'", [], |r| r.get(0))?;
    if !has_tables && app == 0 {
        let tx = conn.transaction()?;
        tx.execute_batch(TABLES)?;
        tx.execute_batch(APPSERVICE_ACKED)?;
        tx.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?1)", [SCHEMA_VERSION])?;
        tx.execute("INSERT INTO meta (key, value) VALUES ('boots', 0)", [])?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
        return Ok(());
    }
    if app != APPLICATION_ID {
        return Err(StoreError::Foreign);
    }
    let version: Option<i64> =
        conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).optional()?;
    match version {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(1) => {
            let tx = conn.transaction()?;
            tx.execute_batch(APPSERVICE_ACKED)?;
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'schema_version'", [SCHEMA_VERSION])?;
            tx.commit()?;
            Ok(())
        }
        Some(found) => Err(StoreError::Version { found, supported: SCHEMA_VERSION }),
        None => Err(StoreError::Foreign),
    }
}

/// Count this start and return its number: ids issued in this run start above every earlier
/// run's (SCH-4: a `delay_id` is never issued twice, across restarts too).
pub fn next_boot(conn: &Connection) -> Result<u64, StoreError> {
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'boots'", [])?;
    let boots: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'boots'", [], |r| r.get(0))?;
    Ok(boots as u64)
}
