//! The homeserver core: accounts, rooms, the MSC4140 delayed-event lifecycle and its timers.
//! Synchronous and clock-free (every operation takes `now` in ms), with no tokio inside, so the
//! async shell stays thin and loom can check the concurrent core.
//!
//! Locks, always taken in this order and never the reverse:
//! account `txns` -> room -> owner `delays` -> `stream`; `rate`, `rooms` (an account's room list),
//! `filters` and each application service's outbox are leaves. A request holds at most one account's `delays` at a time. There is no
//! server-wide lock on the delayed-event paths: registries are sharded, timers go through a
//! lock-free inbox, and `stream` is only taken to number an event entering a room.

pub mod accounts;
mod appservice_users;
pub mod delayed;
pub mod events;
pub mod ids;
pub mod lifecycle;
pub mod lookups;
pub mod power;
pub mod ratelimit;
pub mod registry;
mod restore;
pub mod room_ops;
pub mod rooms;
pub mod sync_feed;
pub mod timers;

#[cfg(test)]
mod core_tests;

use crate::config::Settings;
use crate::error::{Code, MatrixError, Result};
use crate::store::change::Change;
use crate::sync::{lock, Arc, AtomicUsize, Mutex, Ordering};
use accounts::{Account, Session};
use ids::IdSource;
use ratelimit::RateClass;
use registry::Registry;
use rooms::RoomCell;
use timers::Timers;

/// How the core tells the async shell that something changed.
pub trait Signals: Send + Sync {
    /// A timer earlier than the armed one was submitted.
    fn wake_timers(&self);
    /// An event entered a room, a membership changed or an event was finalised (long-poll /sync).
    fn stream_changed(&self);
}

/// For tests of the core alone.
pub struct NoSignals;

impl Signals for NoSignals {
    fn wake_timers(&self) {}
    fn stream_changed(&self) {}
}

pub struct Engine {
    pub settings: Settings,
    pub ids: IdSource,
    accounts: Registry<Arc<str>, Arc<Account>>,
    sessions: Registry<Arc<str>, Session>,
    rooms: Registry<Arc<str>, Arc<RoomCell>>,
    /// The last position of the server-wide event stream.
    stream: Mutex<u64>,
    timers: Timers,
    /// Scheduled delayed events server-wide (for timer compaction and stats).
    live: AtomicUsize,
    signals: Arc<dyn Signals>,
    /// `--data-dir`: where every change goes; `None` in memory.
    store: Option<crate::store::Store>,
    /// Registered application services and what each is owed (PSH-4).
    appservices: crate::appservice::Appservices,
}

impl Engine {
    pub fn new(settings: Settings, signals: Arc<dyn Signals>) -> Engine {
        Engine {
            ids: IdSource::default(),
            accounts: Registry::default(),
            sessions: Registry::default(),
            rooms: Registry::default(),
            stream: Mutex::new(0),
            timers: Timers::default(),
            live: AtomicUsize::new(0),
            signals,
            store: None,
            appservices: crate::appservice::Appservices::new(
                &settings.appservices,
                &settings.server_name,
                IdSource::default().opaque(),
            ),
            settings,
        }
    }

    pub fn appservices(&self) -> &crate::appservice::Appservices {
        &self.appservices
    }

    /// The data directory, when the server has one.
    pub fn store(&self) -> Option<&crate::store::Store> {
        self.store.as_ref()
    }

    /// Queue a change for the data directory; `change` is only built when there is one. Called
    /// with the locks held that order the change against those it conflicts with.
    #[inline]
    pub(crate) fn log(&self, change: impl FnOnce() -> Change) {
        if let Some(store) = &self.store {
            store.journal.push(change());
        }
    }

    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.settings.server_name)
    }

    /// Whether `localpart` has only the characters of a user id's localpart (a-z, 0-9, `._=-/`).
    pub fn localpart_ok(localpart: &str) -> bool {
        !localpart.is_empty()
            && localpart
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/".contains(&b))
    }

    /// Register `localpart` (or a generated one) and log it in on a new device.
    pub fn register(&self, localpart: Option<&str>, password: &str) -> Result<Session> {
        let localpart = match localpart {
            Some(l) => {
                if l.len() > 200 || !Engine::localpart_ok(l) {
                    return Err(MatrixError::new(
                        400,
                        Code::InvalidUsername,
                        "User ID may only contain a-z, 0-9, and . _ = - /",
                    ));
                }
                l.to_string()
            }
            None => format!("user{}", self.ids.opaque().to_lowercase()),
        };
        let user_id: Arc<str> = Arc::from(self.user_id(&localpart));
        let account = self
            .add_account(Account::new(user_id, password.to_string()))
            .ok_or_else(|| MatrixError::new(400, Code::UserInUse, "User ID already taken."))?;
        Ok(self.new_session(account, None))
    }

    /// Store a new account, unless its user id is taken.
    fn add_account(&self, account: Account) -> Option<Arc<Account>> {
        let account = Arc::new(account);
        if !self.accounts.insert_new(account.user_id.clone(), account.clone()) {
            return None;
        }
        self.log(|| Change::Account {
            user_id: account.user_id.clone(),
            password: account.password.clone(),
            guest: account.guest,
        });
        Some(account)
    }

    /// A guest account (`POST /register?kind=guest`) with a generated id, and its session.
    pub fn register_guest(&self) -> Session {
        loop {
            let user_id: Arc<str> =
                Arc::from(self.user_id(&format!("guest{}", self.ids.opaque().to_lowercase())));
            if let Some(account) =
                self.add_account(Account { guest: true, ..Account::new(user_id, String::new()) })
            {
                return self.new_session(account, None);
            }
        }
    }

    /// SCH-21: guests may use the delayed-event endpoints in the merged revision; the seed text
    /// is silent and the Client-Server spec admits guests only where it says so (DECIDED).
    pub fn delayed_events_allowed(&self, s: &Session) -> Result<()> {
        let refused = !self.settings.revision.is_merged() || crate::planted!(self.settings, GuestsRefused);
        if s.account.guest && refused {
            return Err(MatrixError::new(
                403,
                Code::GuestAccessForbidden,
                "Guest accounts may not use delayed events on this server",
            ));
        }
        Ok(())
    }

    /// `user` is a localpart or a full user id.
    pub fn login(&self, user: &str, password: &str, device_id: Option<&str>) -> Result<Session> {
        let user_id = if user.starts_with('@') { user.to_string() } else { self.user_id(user) };
        let denied = || MatrixError::forbidden("Invalid username or password");
        let account = self.accounts.get(user_id.as_str()).ok_or_else(denied)?;
        // No password (guests, application-service users): no password login.
        if account.guest || account.password.is_empty() || account.password != password {
            return Err(denied());
        }
        Ok(self.new_session(account, device_id))
    }

    fn new_session(&self, account: Arc<Account>, device_id: Option<&str>) -> Session {
        let token: Arc<str> = Arc::from(self.ids.token());
        let device_id: Arc<str> = Arc::from(device_id.map_or_else(|| self.ids.device_id(), str::to_string));
        let session = Session { account, device_id, token: token.clone() };
        self.sessions.insert_new(token.clone(), session.clone());
        self.log(|| Change::Session {
            token,
            user_id: session.account.user_id.clone(),
            device_id: session.device_id.clone(),
        });
        session
    }

    /// SEC-1: the session of an access token.
    pub fn session(&self, token: &str) -> Option<Session> {
        self.sessions.get(token)
    }

    pub fn logout(&self, token: &str) {
        if let Some(s) = self.sessions.remove(token) {
            self.log(|| Change::SessionGone { token: s.token });
        }
    }

    pub fn logout_all(&self, user_id: &str) {
        self.sessions.retain(|_, s| &*s.account.user_id != user_id);
        self.log(|| Change::SessionsGone { user_id: Arc::from(user_id) });
    }

    /// A new filter of the caller's (its id is its index).
    pub fn create_filter(&self, s: &Session, body: serde_json::Value) -> usize {
        let mut filters = lock(&s.account.filters);
        let index = filters.len();
        self.log(|| Change::Filter { user_id: s.account.user_id.clone(), index, body: body.to_string() });
        filters.push(body);
        index
    }

    pub fn account(&self, user_id: &str) -> Option<Arc<Account>> {
        self.accounts.get(user_id)
    }

    pub fn room(&self, room_id: &str) -> Option<Arc<RoomCell>> {
        self.rooms.get(room_id)
    }

    /// Count one request of `class` for `account`.
    pub fn take_rate(&self, account: &Account, class: RateClass, now: u64) -> Result<()> {
        if crate::planted!(self.settings, NoRateLimits) {
            return Ok(());
        }
        if !self.appservices.is_empty() && self.appservices.rate_exempt(&account.user_id) {
            return Ok(());
        }
        lock(&account.rate).take(class, class.limit(&self.settings.rate_limits), now)
    }

    /// Entries in the timer index (after the next drain), for tests and statistics.
    pub fn timer_entries(&self) -> usize {
        let mut heap = lock(&self.timers.heap);
        self.timers.drain_into(&mut heap);
        heap.len()
    }

    /// Scheduled delayed events on the whole server.
    pub fn live_delayed(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Server-wide invariants (tests, fuzzing): every store consistent, the live count exact,
    /// every scheduled state event indexed in its room's slot exactly once.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut scheduled = 0;
        let mut state_pending = 0;
        for account in self.accounts.values() {
            // Collect under the owner's lock, check rooms after it (rooms come first in the order).
            let slots: Vec<_> = {
                let d = lock(&account.delays);
                d.check_invariants().map_err(|e| format!("{}: {e}", account.user_id))?;
                scheduled += d.outstanding();
                d.scheduled_all()
                    .into_iter()
                    .filter_map(|(id, s)| Some((id, s.draft.slot()?, s.room.clone())))
                    .collect()
            };
            for (id, slot, room) in slots {
                state_pending += 1;
                let room = lock(&room.room);
                let n = room.pending.get(&slot).map_or(0, |v| {
                    v.iter().filter(|(p, o)| *p == id && o.as_ptr() == Arc::as_ptr(&account)).count()
                });
                if n != 1 {
                    return Err(format!("{id} is in its slot's pending list {n} times"));
                }
            }
        }
        let live = self.live.load(Ordering::SeqCst);
        if live != scheduled {
            return Err(format!("live count {live}, stores hold {scheduled}"));
        }
        let indexed: usize = self
            .rooms
            .values()
            .iter()
            .map(|r| lock(&r.room).pending.values().map(Vec::len).sum::<usize>())
            .sum();
        if indexed != state_pending {
            return Err(format!("rooms index {indexed} pending state events, stores hold {state_pending}"));
        }
        Ok(())
    }
}
