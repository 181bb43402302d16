//! Each [`Change`] as SQL statements (inside the writer's open transaction).

use super::change::{Change, FinalisedRow, ScheduledRow, TxnRow};
use super::StoreError;
use crate::engine::accounts::TxnPath;
use crate::engine::events::Event;
use crate::engine::ids::DelayId;
use crate::error::MatrixError;
use rusqlite::{params, Transaction};

pub(super) fn path_code(p: TxnPath) -> i64 {
    match p {
        TxnPath::Send => 0,
        TxnPath::DelayedEvent => 1,
    }
}

/// A delay id as the `delayed` table's key: its 16 bytes, big-endian (so keys sort as ids do).
pub(super) fn key(id: DelayId) -> [u8; 16] {
    id.0.to_be_bytes()
}

/// SQLite integers are signed; our times and positions fit (they are below 2^63).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn error_json(e: &MatrixError) -> String {
    serde_json::json!({
        "status": e.status,
        "errcode": e.code.as_str(),
        "error": e.message,
        "max_delay": e.max_delay,
        "retry_after_ms": e.retry_after_ms,
    })
    .to_string()
}

pub(super) fn write_change(tx: &Transaction<'_>, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::Account { user_id, password, guest } => {
            tx.prepare_cached("INSERT INTO accounts (user_id, password, guest) VALUES (?1, ?2, ?3)")?
                .execute(params![&**user_id, password, guest])?;
        }
        Change::Session { token, user_id, device_id } => {
            tx.prepare_cached("INSERT INTO sessions (token, user_id, device_id) VALUES (?1, ?2, ?3)")?
                .execute(params![&**token, &**user_id, &**device_id])?;
        }
        Change::SessionGone { token } => {
            tx.prepare_cached("DELETE FROM sessions WHERE token = ?1")?.execute([&**token])?;
        }
        Change::SessionsGone { user_id } => {
            tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?.execute([&**user_id])?;
        }
        Change::Filter { user_id, index, body } => {
            tx.prepare_cached("INSERT INTO filters (user_id, idx, body) VALUES (?1, ?2, ?3)")?
                .execute(params![&**user_id, *index as i64, body])?;
        }
        Change::Room { room_id, creator, events } => {
            tx.prepare_cached("INSERT INTO rooms (room_id, creator) VALUES (?1, ?2)")?
                .execute(params![&**room_id, &**creator])?;
            for e in events {
                event(tx, e)?;
            }
        }
        Change::Event { event: e, txn: t } => {
            event(tx, e)?;
            if let Some(t) = t {
                txn(tx, t, Some(&e.event_id), None)?;
            }
        }
        Change::Scheduled { row, txn: t } => {
            scheduled(tx, row)?;
            if let Some(t) = t {
                txn(tx, t, None, Some(&row.id.to_string()))?;
            }
        }
        Change::Restarted { id, running_since } => {
            tx.prepare_cached("UPDATE running SET since = ?2 WHERE delay_id = ?1")?
                .execute(params![key(*id), int(*running_since)])?;
        }
        Change::Finalised(f) => finalised(tx, f, true)?,
        Change::Discarded { ids } => {
            let mut st =
                tx.prepare_cached("DELETE FROM delayed WHERE delay_id = ?1 AND outcome IS NOT NULL")?;
            let mut running = tx.prepare_cached("DELETE FROM running WHERE delay_id = ?1")?;
            for id in ids {
                if st.execute([key(*id)])? == 1 {
                    running.execute([key(*id)])?;
                }
            }
        }
        Change::AppserviceAcked { service, ids } => {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO appservice_acked (delay_id, service) VALUES (?1, ?2)",
            )?;
            for id in ids {
                st.execute(params![key(*id), &**service])?;
            }
        }
    }
    Ok(())
}

pub(super) fn event(tx: &Transaction<'_>, e: &Event) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO events (stream, event_id, room_id, sender, type, state_key, content,
             origin_server_ts, txn_id, delay_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        int(e.stream),
        &*e.event_id,
        &*e.room_id,
        &*e.sender,
        &*e.event_type,
        e.state_key.as_deref(),
        e.content.get(),
        int(e.origin_server_ts),
        e.txn_id.as_deref(),
        e.delay_id.map(|d| d.to_string()),
    ])?;
    Ok(())
}

fn txn(
    tx: &Transaction<'_>,
    t: &TxnRow,
    event_id: Option<&str>,
    delay_id: Option<&str>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO txns (user_id, device_id, path, room_id, type, txn_id, sent_event_id,
             delay_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        &*t.user_id,
        &*t.device_id,
        path_code(t.path),
        &*t.room_id,
        &*t.event_type,
        t.txn_id,
        event_id,
        delay_id
    ])?;
    Ok(())
}

fn scheduled(tx: &Transaction<'_>, r: &ScheduledRow) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO delayed (delay_id, owner, room_id, type, state_key, content, delay_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        key(r.id),
        &*r.owner,
        &*r.room_id,
        &*r.draft.event_type,
        r.draft.state_key.as_deref(),
        r.draft.content.get(),
        int(r.delay_ms),
    ])?;
    tx.prepare_cached("INSERT INTO running (delay_id, since) VALUES (?1, ?2)")?
        .execute(params![key(r.id), int(r.running_since)])?;
    Ok(())
}

/// SRV-8 / PER-2: the sent event and the record in the same transaction.
pub(super) fn finalised(tx: &Transaction<'_>, f: &FinalisedRow, with_event: bool) -> Result<(), StoreError> {
    if let Some(e) = f.sent.as_ref().filter(|_| with_event) {
        event(tx, e)?;
    }
    let changed = tx
        .prepare_cached(
            "UPDATE delayed SET outcome = ?2, reason = ?3, error = ?4, event_id = ?5, finalised_ts = ?6,
                 seq = ?7 WHERE delay_id = ?1 AND outcome IS NULL",
        )?
        .execute(params![
            key(f.id),
            f.outcome.as_str(),
            f.reason.as_str(),
            f.error.as_ref().map(error_json),
            f.event_id.as_deref(),
            int(f.ts),
            int(f.seq),
        ])?;
    if changed != 1 {
        return Err(StoreError::Inconsistent(format!("finalising {} changed {changed} rows", f.id)));
    }
    Ok(())
}
