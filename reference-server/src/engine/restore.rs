//! Rebuilding the core from a data directory (PER-1): accounts, sessions, rooms replayed from
//! their events, transaction ids, and every delayed event as it was stored, scheduled ones armed
//! again. Nothing here sends anything; the overdue ones go out when the timers first run (PER-3).

use super::accounts::{Account, RoomEntry, Session, TxnResult};
use super::delayed::{Finalised, Scheduled};
use super::ids::IdSource;
use super::rooms::{Room, RoomCell};
use super::{Engine, Signals};
use crate::config::Settings;
use crate::store::read::{Snapshot, TxnAnswer};
use crate::store::{Store, StoreError};
use crate::sync::{lock, Arc, Mutex};

impl Engine {
    /// An engine holding `snapshot`, writing every later change to `store`.
    pub fn restore(
        settings: Settings,
        signals: Arc<dyn Signals>,
        store: Store,
        mut snapshot: Snapshot,
    ) -> Result<Engine, StoreError> {
        let mut engine = Engine::new(settings, signals);
        engine.ids = IdSource::for_boot(snapshot.boots);
        let acked = std::mem::take(&mut snapshot.appservice_acked);
        engine.load(snapshot)?;
        engine.requeue_appservices(&acked);
        engine.store = Some(store);
        Ok(engine)
    }

    /// Fault `resend_after_restart`: the delayed event sent last goes into its room again.
    #[cfg(feature = "faults")]
    pub fn resend_last_sent(&self, now: u64) {
        let mut last: Option<((u64, u64), Arc<Account>, crate::engine::ids::DelayId)> = None;
        for account in self.accounts.values() {
            let d = lock(&account.delays);
            let (ids, _) = d.finalised_page(None, usize::MAX);
            for id in ids {
                if let Some(f) = d.finalised(id).filter(|f| f.event_id.is_some()) {
                    if last.as_ref().is_none_or(|(key, _, _)| (f.ts, f.seq) > *key) {
                        last = Some(((f.ts, f.seq), account.clone(), id));
                    }
                }
            }
        }
        let Some((_, owner, id)) = last else { return };
        let Some((cell, draft)) =
            lock(&owner.delays).finalised(id).map(|f| (f.event.room.clone(), f.event.draft.clone()))
        else {
            return;
        };
        let mut room = lock(&cell.room);
        let event = self.append_logged(&mut room, &owner.user_id, draft, None, None, now);
        self.after_enter(&cell, &mut room, &event, now);
    }

    fn load(&self, s: Snapshot) -> Result<(), StoreError> {
        let missing = |what: &str, id: &str| StoreError::Inconsistent(format!("{what} {id} is not stored"));
        for a in s.accounts {
            let account = Account { guest: a.guest, ..Account::new(a.user_id.clone(), a.password) };
            self.accounts.insert_new(a.user_id, Arc::new(account));
        }
        for t in s.sessions {
            let account = self.accounts.get(&*t.user_id).ok_or_else(|| missing("account", &t.user_id))?;
            self.sessions
                .insert_new(t.token.clone(), Session { account, device_id: t.device_id, token: t.token });
        }
        for (user, index, body) in s.filters {
            let account = self.accounts.get(&*user).ok_or_else(|| missing("account", &user))?;
            let mut filters = lock(&account.filters);
            if filters.len() != index {
                return Err(StoreError::Inconsistent(format!("filter {index} of {user} out of order")));
            }
            filters.push(body);
        }
        for (room_id, creator) in s.rooms {
            let room = Mutex::new(Room::new(room_id.clone(), creator));
            self.rooms.insert_new(room_id.clone(), Arc::new(RoomCell { id: room_id, room }));
        }
        let mut last_stream = 0;
        for event in s.events {
            let cell = self.rooms.get(&*event.room_id).ok_or_else(|| missing("room", &event.room_id))?;
            let mut room = lock(&cell.room);
            last_stream = last_stream.max(event.stream);
            let event = Arc::new(event);
            room.apply(event.clone());
            // What `after_enter` keeps for `/sync`: each user's membership and when it changed.
            if let (Some(key), "m.room.member") = (&event.state_key, &*event.event_type) {
                if let Some(target) = self.accounts.get(&**key) {
                    let entry = RoomEntry {
                        membership: room.membership(key),
                        since: event.stream,
                        room: cell.clone(),
                    };
                    lock(&target.rooms).insert(room.id.clone(), entry);
                }
            }
        }
        *lock(&self.stream) = last_stream;
        for (t, answer) in s.txns {
            let account = self.accounts.get(&*t.user_id).ok_or_else(|| missing("account", &t.user_id))?;
            let answer = match answer {
                TxnAnswer::Sent(event_id) => TxnResult::Sent(event_id),
                TxnAnswer::Scheduled(id) => TxnResult::Scheduled(id),
            };
            let key = (t.path, t.device_id, t.room_id, t.event_type, t.txn_id);
            lock(&account.txns).insert(key, answer);
        }
        for row in s.delayed {
            let r = row.scheduled;
            let owner = self.accounts.get(&*r.owner).ok_or_else(|| missing("account", &r.owner))?;
            let cell = self.rooms.get(&*r.room_id).ok_or_else(|| missing("room", &r.room_id))?;
            let slot = r.draft.slot();
            let event = Scheduled {
                room: cell.clone(),
                draft: r.draft,
                delay_ms: r.delay_ms,
                running_since: r.running_since,
            };
            let mut d = lock(&owner.delays);
            match row.finalised {
                Some(f) => d.restore_record(
                    r.id,
                    Finalised {
                        event,
                        outcome: f.outcome,
                        reason: f.reason,
                        error: f.error.map(Box::new),
                        event_id: f.event_id,
                        ts: f.ts,
                        seq: f.seq,
                    },
                ),
                None => {
                    let due = event.due();
                    d.insert(r.id, event);
                    drop(d);
                    self.signal_live(1);
                    if let Some(slot) = slot {
                        lock(&cell.room)
                            .pending
                            .entry(slot)
                            .or_default()
                            .push((r.id, Arc::downgrade(&owner)));
                    }
                    self.arm(due, r.id, &owner, &cell);
                }
            }
        }
        Ok(())
    }
}
