//! User accounts and their sessions. Each account carries its own locks: its delayed events
//! (the store of the MSC4140 core), rate windows, room memberships, filters and transaction ids.

use super::delayed::UserDelays;
use super::ratelimit::RateWindows;
use super::rooms::{Membership, RoomCell};
use crate::sync::{Arc, Mutex};
use serde_json::Value;
use std::collections::HashMap;

/// What a repeated transaction id answers (SCH-10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnResult {
    Sent(Arc<str>),
    Scheduled(super::ids::DelayId),
}

/// A transaction is scoped to a device and a request path: the endpoint (`/send` or the merged
/// revision's `/delayed_event`), room and event type.
pub type TxnKey = (TxnPath, Arc<str>, Arc<str>, Arc<str>, String);

/// The endpoint of a transaction id (SCH-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnPath {
    /// `PUT .../send/{type}/{txnId}`, with or without the seed revision's delay parameter.
    Send,
    /// `PUT .../delayed_event/{type}/{txnId}` (merged revision, SCH-12).
    DelayedEvent,
}

/// A user's rooms as `/sync` needs them: membership and the stream position it changed at.
#[derive(Clone)]
pub struct RoomEntry {
    pub membership: Membership,
    pub since: u64,
    pub room: Arc<RoomCell>,
}

pub struct Account {
    pub user_id: Arc<str>,
    pub password: String,
    /// A guest account (`POST /register?kind=guest`): no password login.
    pub guest: bool,
    pub delays: Mutex<UserDelays>,
    pub rate: Mutex<RateWindows>,
    pub rooms: Mutex<HashMap<Arc<str>, RoomEntry>>,
    pub filters: Mutex<Vec<Value>>,
    pub txns: Mutex<HashMap<TxnKey, TxnResult>>,
}

impl Account {
    pub fn new(user_id: Arc<str>, password: String) -> Account {
        Account {
            user_id,
            password,
            guest: false,
            delays: Mutex::new(UserDelays::default()),
            rate: Mutex::new(RateWindows::default()),
            rooms: Mutex::new(HashMap::new()),
            filters: Mutex::new(Vec::new()),
            txns: Mutex::new(HashMap::new()),
        }
    }
}

/// An access token's owner and device.
#[derive(Clone)]
pub struct Session {
    pub account: Arc<Account>,
    pub device_id: Arc<str>,
    pub token: Arc<str>,
}

impl Session {
    /// SCH-10: a transaction id's scope is this device and the request path (room, type).
    pub fn txn_key(&self, path: TxnPath, room_id: &str, event_type: &Arc<str>, txn: &str) -> TxnKey {
        (path, self.device_id.clone(), Arc::from(room_id), event_type.clone(), txn.to_string())
    }
}
