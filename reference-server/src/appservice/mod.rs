//! Application services (the part of the Application Service API that PSH-4 needs): their
//! registrations, which users and rooms they own, and what each is owed in transactions.
//! This is core state, synchronous like the engine; `sender` is the async shell that delivers.

pub mod outbox;
pub mod registration;
pub mod sender;

use crate::engine::events::Event;
use crate::engine::lookups::FinalisedView;
use crate::engine::rooms::{Membership, Room};
use crate::sync::{lock, Arc, Mutex};
use outbox::{Outbox, Transaction};
use registration::Registration;

pub struct Appservice {
    pub registration: Registration,
    /// The service's own user id.
    pub sender: String,
    outbox: Mutex<Outbox>,
}

impl Appservice {
    /// Whether `event` in `room` concerns the service: sent by or about (membership) one of its
    /// users, in a room of its namespace, or in a room one of its users is joined to.
    fn interested(&self, event: &Event, room: &Room, server_name: &str) -> bool {
        let r = &self.registration;
        r.owns_user(&event.sender, server_name)
            || (&*event.event_type == "m.room.member"
                && event.state_key.as_deref().is_some_and(|k| r.owns_user(k, server_name)))
            || r.interested_in_room(&room.id)
            || room.members.iter().any(|(u, m)| *m == Membership::Join && r.owns_user(u, server_name))
    }
}

/// Every registered service, in registration order.
#[derive(Default)]
pub struct Appservices {
    services: Vec<Appservice>,
    server_name: String,
    /// Makes transaction ids unique across restarts of the server.
    txn_prefix: String,
}

impl Appservices {
    pub fn new(registrations: &[Registration], server_name: &str, txn_prefix: String) -> Appservices {
        let services = registrations
            .iter()
            .map(|r| Appservice {
                registration: r.clone(),
                sender: r.sender(server_name),
                outbox: Mutex::new(Outbox::default()),
            })
            .collect();
        Appservices { services, server_name: server_name.to_string(), txn_prefix }
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    pub fn all(&self) -> &[Appservice] {
        &self.services
    }

    /// The service whose `as_token` this is.
    pub fn by_token(&self, token: &str) -> Option<(usize, &Appservice)> {
        self.services.iter().enumerate().find(|(_, s)| s.registration.as_token == token)
    }

    /// A service other than `except` claiming `user_id` exclusively (`M_EXCLUSIVE`).
    pub fn claimed_by_other(&self, user_id: &str, except: Option<usize>) -> bool {
        self.services
            .iter()
            .enumerate()
            .any(|(i, s)| Some(i) != except && s.registration.claims_user(user_id, &self.server_name))
    }

    /// Whether `user_id`'s requests skip the rate limits: a service's own user always, the users
    /// of a service registered with `rate_limited: false` too.
    pub fn rate_exempt(&self, user_id: &str) -> bool {
        self.services.iter().any(|s| {
            user_id == s.sender
                || (!s.registration.rate_limited && s.registration.owns_user(user_id, &self.server_name))
        })
    }

    /// Queue an event that entered `room` for every service interested in it.
    pub(crate) fn on_event(&self, event: &Arc<Event>, room: &Room) {
        for s in &self.services {
            if s.registration.url.is_some() && s.interested(event, room, &self.server_name) {
                lock(&s.outbox).push_event(event.clone());
            }
        }
    }

    /// PSH-4: queue a finalised delayed event of `owner` for the service(s) owning that user.
    pub(crate) fn on_finalised(&self, owner: &str, view: impl Fn() -> FinalisedView) {
        for s in &self.services {
            if s.registration.url.is_some() && s.registration.owns_user(owner, &self.server_name) {
                lock(&s.outbox).push_finalised(view());
            }
        }
    }

    /// The transaction to send service `index` now (see [`Outbox::take`]).
    pub fn take_transaction(&self, index: usize, retry_drops_record: bool) -> Option<Transaction> {
        let s = self.services.get(index)?;
        lock(&s.outbox).take(&self.txn_prefix, retry_drops_record)
    }

    /// Service `index` acknowledged `txn_id`: the delay ids it carried, if it was in flight.
    pub(crate) fn acknowledge(&self, index: usize, txn_id: &str) -> Option<Vec<crate::engine::ids::DelayId>> {
        self.services.get(index).and_then(|s| lock(&s.outbox).acknowledge(txn_id))
    }

    /// After a restart: the finalised events service `index` had not acknowledged, oldest first.
    pub(crate) fn requeue(&self, index: usize, records: Vec<FinalisedView>) {
        if let Some(s) = self.services.get(index) {
            let mut outbox = lock(&s.outbox);
            for f in records {
                outbox.push_finalised(f);
            }
        }
    }

    /// Whether service `index` is owed nothing.
    pub fn is_idle(&self, index: usize) -> bool {
        self.services.get(index).is_none_or(|s| lock(&s.outbox).is_idle())
    }
}
