//! The users of application services: identity assertion (`?user_id=` with an `as_token`),
//! `m.login.application_service` registration and login, and the `M_EXCLUSIVE` namespaces.

use super::accounts::{Account, Session};
use super::ids::DelayId;
use super::lookups::FinalisedView;
use super::Engine;
use crate::error::{Code, MatrixError, Result};
use crate::store::change::Change;
use crate::sync::{lock, Arc};
use std::collections::HashSet;

impl Engine {
    /// The transaction to send application service `index` now: the unacknowledged one again,
    /// or a fresh one (see [`crate::appservice::outbox::Outbox::take`]).
    pub fn appservice_transaction(&self, index: usize) -> Option<crate::appservice::outbox::Transaction> {
        let drops = crate::planted!(self.settings, RetryDropsRecord);
        self.appservices().take_transaction(index, drops)
    }

    /// Application service `index` answered `txn_id` with success: the finalised events it
    /// carried are delivered, also across restarts (with `--data-dir`). True when `txn_id` was
    /// the transaction in flight.
    pub fn appservice_acknowledge(&self, index: usize, txn_id: &str) -> bool {
        let Some(ids) = self.appservices().acknowledge(index, txn_id) else { return false };
        if !ids.is_empty() {
            if let Some(s) = self.appservices().all().get(index) {
                self.log(|| Change::AppserviceAcked { service: Arc::from(s.registration.id.as_str()), ids });
            }
        }
        true
    }

    /// The session of a request made with an application service's `as_token`, acting as
    /// `user_id` (its sender when absent); `None` when `token` is no service's.
    pub fn appservice_session(&self, token: &str, user_id: Option<&str>) -> Option<Result<Session>> {
        let (_, service) = self.appservices().by_token(token)?;
        let user_id = user_id.unwrap_or(&service.sender);
        if !service.registration.owns_user(user_id, &self.settings.server_name) {
            return Some(Err(MatrixError::forbidden(format!(
                "Application service {:?} cannot masquerade as {user_id}: it is outside its user namespaces",
                service.registration.id
            ))));
        }
        let account = match self.account(user_id) {
            Some(a) => a,
            // The service's own user exists from its first request on.
            None if user_id == service.sender => match self.appservice_account(Arc::from(user_id)) {
                Some(a) => a,
                None => {
                    return Some(Err(MatrixError::new(
                        500,
                        Code::Unknown,
                        "Could not create the service's user",
                    )))
                }
            },
            None => {
                return Some(Err(MatrixError::forbidden(format!(
                    "Application service {:?} has not registered {user_id}",
                    service.registration.id
                ))))
            }
        };
        let device_id = Arc::from(format!("appservice_{}", service.registration.id));
        Some(Ok(Session { account, device_id, token: Arc::from(token) }))
    }

    fn appservice_account(&self, user_id: Arc<str>) -> Option<Arc<Account>> {
        // Or created by a concurrent request meanwhile.
        self.add_account(Account::new(user_id.clone(), String::new())).or_else(|| self.account(&user_id))
    }

    /// PSH-4 after a restart on a data directory: every retained finalised event of a service's
    /// users that the service has not acknowledged is owed again, oldest first (what was in
    /// flight when the server stopped may thus reach it twice: at least once across a crash).
    pub(super) fn requeue_appservices(&self, acked: &[(String, DelayId)]) {
        if self.appservices().is_empty() || self.settings.revision.is_merged() {
            return;
        }
        let acked: HashSet<(&str, DelayId)> = acked.iter().map(|(s, id)| (s.as_str(), *id)).collect();
        let server_name = &self.settings.server_name;
        for (index, service) in self.appservices().all().iter().enumerate() {
            let r = &service.registration;
            if r.url.is_none() {
                continue;
            }
            let mut owed: Vec<(u64, Arc<str>, u64, FinalisedView)> = Vec::new();
            for account in self.accounts.values().iter().filter(|a| r.owns_user(&a.user_id, server_name)) {
                let d = lock(&account.delays);
                let (ids, _) = d.finalised_page(None, usize::MAX);
                for id in ids.into_iter().filter(|id| !acked.contains(&(r.id.as_str(), *id))) {
                    if let Some(f) = d.finalised(id) {
                        owed.push((f.ts, account.user_id.clone(), f.seq, FinalisedView::of(id, f)));
                    }
                }
            }
            owed.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
            self.appservices().requeue(index, owed.into_iter().map(|o| o.3).collect());
        }
    }

    /// `POST /register` with `m.login.application_service`: `localpart` must be in the
    /// namespace of the service whose `as_token` this is. Without `login`, no session is made.
    pub fn register_for_appservice(
        &self,
        token: &str,
        localpart: &str,
        login: bool,
    ) -> Result<Option<Session>> {
        let (index, service) = self.appservices().by_token(token).ok_or_else(|| {
            MatrixError::new(
                401,
                Code::UnknownToken,
                "m.login.application_service needs an application service's as_token",
            )
        })?;
        let user_id = self.user_id(localpart);
        if !service.registration.owns_user(&user_id, &self.settings.server_name)
            || self.appservices().claimed_by_other(&user_id, Some(index))
        {
            return Err(MatrixError::new(
                400,
                Code::Exclusive,
                format!(
                    "{user_id} is outside the user namespaces of application service {:?}",
                    service.registration.id
                ),
            ));
        }
        let s = self.register(Some(localpart), "")?;
        if login {
            return Ok(Some(s));
        }
        self.logout(&s.token);
        Ok(None)
    }

    /// `POST /login` with `m.login.application_service`: a new device of a user the service owns.
    pub fn login_for_appservice(&self, token: &str, user: &str, device_id: Option<&str>) -> Result<Session> {
        let user_id = if user.starts_with('@') { user.to_string() } else { self.user_id(user) };
        let masquerade = self.appservice_session(token, Some(&user_id)).ok_or_else(|| {
            MatrixError::new(
                401,
                Code::UnknownToken,
                "m.login.application_service needs an application service's as_token",
            )
        })??;
        Ok(self.new_session(masquerade.account, device_id))
    }

    /// `M_EXCLUSIVE`: an ordinary registration of a user an application service claims.
    pub fn check_not_exclusive(&self, localpart: &str) -> Result<()> {
        let user_id = self.user_id(localpart);
        if self.appservices().claimed_by_other(&user_id, None) {
            return Err(MatrixError::new(
                400,
                Code::Exclusive,
                format!("{user_id} is reserved by an application service"),
            ));
        }
        Ok(())
    }
}
