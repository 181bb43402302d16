//! Reading a data directory back: every table, in the order the core rebuilds itself from.

use super::change::{ScheduledRow, TxnRow};
use super::StoreError;
use crate::engine::accounts::TxnPath;
use crate::engine::delayed::{Outcome, Reason};
use crate::engine::events::{Draft, Event};
use crate::engine::ids::DelayId;
use crate::error::{Code, MatrixError};
use rusqlite::Connection;
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::Arc;

/// What a finalised row adds to the scheduled one.
pub struct Finalisation {
    pub outcome: Outcome,
    pub reason: Reason,
    pub error: Option<MatrixError>,
    pub event_id: Option<Arc<str>>,
    pub ts: u64,
    pub seq: u64,
}

pub struct DelayedRow {
    pub scheduled: ScheduledRow,
    pub finalised: Option<Finalisation>,
}

pub struct Account {
    pub user_id: Arc<str>,
    pub password: String,
    pub guest: bool,
}

pub struct Session {
    pub token: Arc<str>,
    pub user_id: Arc<str>,
    pub device_id: Arc<str>,
}

pub enum TxnAnswer {
    Sent(Arc<str>),
    Scheduled(DelayId),
}

/// Everything a data directory holds.
#[derive(Default)]
pub struct Snapshot {
    /// How many times the directory was opened, this time included.
    pub boots: u64,
    pub accounts: Vec<Account>,
    pub sessions: Vec<Session>,
    /// (user, index, body) in index order.
    pub filters: Vec<(Arc<str>, usize, Value)>,
    pub rooms: Vec<(Arc<str>, Arc<str>)>,
    /// In stream order.
    pub events: Vec<Event>,
    pub txns: Vec<(TxnRow, TxnAnswer)>,
    /// Scheduled ones in any order, finalised ones by finalisation order per user.
    pub delayed: Vec<DelayedRow>,
    /// PSH-4: (service id, delay id) of the finalised events each service acknowledged.
    pub appservice_acked: Vec<(String, DelayId)>,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Inconsistent(what.to_string())
}

fn raw(text: String) -> Result<Box<RawValue>, StoreError> {
    RawValue::from_string(text).map_err(|e| corrupt(format!("stored JSON does not parse: {e}")))
}

fn delay_id(s: &str) -> Result<DelayId, StoreError> {
    DelayId::parse(s).ok_or_else(|| corrupt(format!("bad delay id {s:?}")))
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn error_of(text: &str) -> Result<MatrixError, StoreError> {
    let v: Value = serde_json::from_str(text).map_err(|e| corrupt(format!("stored error: {e}")))?;
    let errcode = v["errcode"].as_str().unwrap_or("M_UNKNOWN");
    let code = Code::parse(errcode).ok_or_else(|| corrupt(format!("unknown errcode {errcode}")))?;
    let status = v["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(400);
    let message = v["error"].as_str().unwrap_or_default().to_string();
    Ok(MatrixError {
        max_delay: v["max_delay"].as_u64(),
        retry_after_ms: v["retry_after_ms"].as_u64(),
        ..MatrixError::new(status, code, message)
    })
}

pub(super) fn snapshot(conn: &Connection, boots: u64) -> Result<Snapshot, StoreError> {
    let mut s = Snapshot { boots, ..Snapshot::default() };
    let mut st = conn.prepare("SELECT user_id, password, guest FROM accounts")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let user_id: String = r.get(0)?;
        s.accounts.push(Account { user_id: Arc::from(user_id), password: r.get(1)?, guest: r.get(2)? });
    }
    let mut st = conn.prepare("SELECT token, user_id, device_id FROM sessions")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (t, u, d): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        s.sessions.push(Session { token: Arc::from(t), user_id: Arc::from(u), device_id: Arc::from(d) });
    }
    let mut st = conn.prepare("SELECT user_id, idx, body FROM filters ORDER BY user_id, idx")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (u, i, b): (String, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let body = serde_json::from_str(&b).map_err(|e| corrupt(format!("filter: {e}")))?;
        s.filters.push((Arc::from(u), unsigned(i) as usize, body));
    }
    let mut st = conn.prepare("SELECT room_id, creator FROM rooms")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (id, creator): (String, String) = (r.get(0)?, r.get(1)?);
        s.rooms.push((Arc::from(id), Arc::from(creator)));
    }
    let mut st = conn.prepare(
        "SELECT stream, event_id, room_id, sender, type, state_key, content, origin_server_ts, txn_id,
             delay_id FROM events ORDER BY stream",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let state_key: Option<String> = r.get(5)?;
        let txn_id: Option<String> = r.get(8)?;
        let delay: Option<String> = r.get(9)?;
        s.events.push(Event {
            stream: unsigned(r.get(0)?),
            event_id: Arc::from(r.get::<_, String>(1)?),
            room_id: Arc::from(r.get::<_, String>(2)?),
            sender: Arc::from(r.get::<_, String>(3)?),
            event_type: Arc::from(r.get::<_, String>(4)?),
            state_key: state_key.map(Arc::from),
            content: raw(r.get(6)?)?,
            origin_server_ts: unsigned(r.get(7)?),
            txn_id: txn_id.map(Arc::from),
            delay_id: delay.as_deref().map(delay_id).transpose()?,
        });
    }
    let mut st = conn.prepare(
        "SELECT user_id, device_id, path, room_id, type, txn_id, sent_event_id, delay_id FROM txns",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let path = match r.get::<_, i64>(2)? {
            0 => TxnPath::Send,
            1 => TxnPath::DelayedEvent,
            other => return Err(corrupt(format!("transaction path {other}"))),
        };
        let row = TxnRow {
            user_id: Arc::from(r.get::<_, String>(0)?),
            device_id: Arc::from(r.get::<_, String>(1)?),
            path,
            room_id: Arc::from(r.get::<_, String>(3)?),
            event_type: Arc::from(r.get::<_, String>(4)?),
            txn_id: r.get(5)?,
        };
        let (sent, delay): (Option<String>, Option<String>) = (r.get(6)?, r.get(7)?);
        let answer = match (sent, delay) {
            (Some(e), None) => TxnAnswer::Sent(Arc::from(e)),
            (None, Some(d)) => TxnAnswer::Scheduled(delay_id(&d)?),
            _ => return Err(corrupt("a transaction answers neither an event nor a delay id")),
        };
        s.txns.push((row, answer));
    }
    let mut st = conn.prepare(
        "SELECT d.delay_id, owner, room_id, type, state_key, content, delay_ms, r.since, outcome,
             reason, error, event_id, finalised_ts, seq FROM delayed AS d JOIN running AS r USING (delay_id)
             ORDER BY owner, seq",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let state_key: Option<String> = r.get(4)?;
        let scheduled = ScheduledRow {
            id: DelayId(u128::from_be_bytes(r.get::<_, [u8; 16]>(0)?)),
            owner: Arc::from(r.get::<_, String>(1)?),
            room_id: Arc::from(r.get::<_, String>(2)?),
            draft: Draft {
                event_type: Arc::from(r.get::<_, String>(3)?),
                state_key: state_key.map(Arc::from),
                content: raw(r.get(5)?)?,
            },
            delay_ms: unsigned(r.get(6)?),
            running_since: unsigned(r.get(7)?),
        };
        let outcome: Option<String> = r.get(8)?;
        let finalised = match outcome.as_deref() {
            None => None,
            Some(o) => {
                let outcome = match o {
                    "send" => Outcome::Send,
                    "cancel" => Outcome::Cancel,
                    other => return Err(corrupt(format!("outcome {other:?}"))),
                };
                let reason = match r.get::<_, Option<String>>(9)?.as_deref() {
                    Some("error") => Reason::Error,
                    Some("action") => Reason::Action,
                    Some("delay") => Reason::Delay,
                    other => return Err(corrupt(format!("reason {other:?}"))),
                };
                let error: Option<String> = r.get(10)?;
                let event_id: Option<String> = r.get(11)?;
                Some(Finalisation {
                    outcome,
                    reason,
                    error: error.as_deref().map(error_of).transpose()?,
                    event_id: event_id.map(Arc::from),
                    ts: unsigned(r.get::<_, Option<i64>>(12)?.unwrap_or(0)),
                    seq: unsigned(r.get::<_, Option<i64>>(13)?.unwrap_or(0)),
                })
            }
        };
        s.delayed.push(DelayedRow { scheduled, finalised });
    }
    // Acknowledgements of records retention has dropped since are of no more use.
    conn.execute("DELETE FROM appservice_acked WHERE delay_id NOT IN (SELECT delay_id FROM delayed)", [])?;
    let mut st = conn.prepare("SELECT service, delay_id FROM appservice_acked")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let id = DelayId(u128::from_be_bytes(r.get::<_, [u8; 16]>(1)?));
        s.appservice_acked.push((r.get(0)?, id));
    }
    Ok(s)
}
