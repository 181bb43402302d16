//! LST-1..8: the caller's scheduled and finalised delayed events, paginated by sort-key tokens
//! (LST-7: a token names the last key returned, so events leaving the list never shift a walk).

use super::accounts::Session;
use super::delayed::{Finalised, Key, Outcome, Reason, Scheduled, UserDelays};
use super::ids::DelayId;
use super::ratelimit::RateClass;
use super::Engine;
use crate::error::{MatrixError, Result};
use crate::store::change::Change;
use crate::sync::{lock, Arc};
use serde_json::value::RawValue;

/// LST-1: one scheduled event as a lookup shows it.
#[derive(Clone, Debug)]
pub struct ScheduledView {
    pub delay_id: DelayId,
    pub room_id: Arc<str>,
    pub event_type: Arc<str>,
    pub state_key: Option<Arc<str>>,
    pub delay: u64,
    pub running_since: u64,
    pub content: Box<RawValue>,
}

/// LST-2: one finalised event.
#[derive(Clone, Debug)]
pub struct FinalisedView {
    pub delayed: ScheduledView,
    pub outcome: Outcome,
    pub reason: Reason,
    pub error: Option<MatrixError>,
    pub event_id: Option<Arc<str>>,
    pub origin_server_ts: u64,
}

impl ScheduledView {
    fn of(id: DelayId, s: &Scheduled) -> ScheduledView {
        ScheduledView {
            delay_id: id,
            room_id: s.room.id.clone(),
            event_type: s.draft.event_type.clone(),
            state_key: s.draft.state_key.clone(),
            delay: s.delay_ms,
            running_since: s.running_since,
            content: s.draft.content.clone(),
        }
    }
}

impl FinalisedView {
    pub(crate) fn of(id: DelayId, f: &Finalised) -> FinalisedView {
        FinalisedView {
            delayed: ScheduledView::of(id, &f.event),
            outcome: f.outcome,
            reason: f.reason,
            error: f.error.as_deref().cloned(),
            event_id: f.event_id.clone(),
            origin_server_ts: f.ts,
        }
    }
}

/// LKP-1: one delayed event, scheduled or finalised.
#[derive(Clone, Debug)]
pub enum Lookup {
    Scheduled(ScheduledView),
    Finalised(FinalisedView),
}

/// A pagination token: `<sort key>_<delay_id>`.
pub fn format_token(key: Key) -> String {
    format!("{}_{}", key.0, key.1)
}

pub fn parse_token(s: &str) -> Result<Key> {
    let bad = || MatrixError::invalid_param(format!("Invalid pagination token {s:?}"));
    let (k, id) = s.split_once('_').ok_or_else(bad)?;
    Ok((k.parse().map_err(|_| bad())?, DelayId::parse(id).ok_or_else(bad)?))
}

impl Engine {
    /// LST-1, LST-3.
    pub fn list_scheduled(
        &self,
        s: &Session,
        from: Option<&str>,
        now: u64,
    ) -> Result<(Vec<ScheduledView>, Option<String>)> {
        if crate::planted!(self.settings, OffsetTokens) {
            return self.list_scheduled_by_offset(s, from, now);
        }
        let after = from.map(parse_token).transpose()?;
        self.take_rate(&s.account, RateClass::Lookups, now)?;
        let d = lock(&s.account.delays);
        let (items, next) = d.scheduled_page(after, self.settings.page_size);
        let mut items: Vec<ScheduledView> =
            items.into_iter().map(|(id, s)| ScheduledView::of(id, s)).collect();
        drop(d);
        if crate::planted!(self.settings, ScheduledDescending) {
            items.reverse();
        }
        self.everyone_elses(s, &mut items);
        Ok((items, next.map(format_token)))
    }

    /// Fault `offset_tokens`: tokens are positions (`o<n>`), which shift when events leave.
    fn list_scheduled_by_offset(
        &self,
        s: &Session,
        from: Option<&str>,
        now: u64,
    ) -> Result<(Vec<ScheduledView>, Option<String>)> {
        let skip: usize = from.and_then(|f| f.strip_prefix('o')).and_then(|n| n.parse().ok()).unwrap_or(0);
        self.take_rate(&s.account, RateClass::Lookups, now)?;
        let d = lock(&s.account.delays);
        let all = d.scheduled_all();
        let page: Vec<ScheduledView> = all
            .iter()
            .skip(skip)
            .take(self.settings.page_size)
            .map(|(id, s)| ScheduledView::of(*id, s))
            .collect();
        let next = (skip + page.len() < all.len()).then(|| format!("o{}", skip + page.len()));
        Ok((page, next))
    }

    /// Fault `lists_everyone`: every other user's scheduled events appended to a page.
    fn everyone_elses(&self, s: &Session, items: &mut Vec<ScheduledView>) {
        if !crate::planted!(self.settings, ListsEveryone) {
            return;
        }
        for account in self.accounts.values() {
            if !Arc::ptr_eq(&account, &s.account) {
                let d = lock(&account.delays);
                items.extend(d.scheduled_all().into_iter().map(|(id, s)| ScheduledView::of(id, s)));
            }
        }
    }

    /// LKP-1 (merged revision): the caller's delayed event `id`, scheduled or finalised while
    /// retained; unknown, discarded and other users' ids are the same 404. LKP-6: with
    /// `discard_returned`, a finalised record returned here is dropped.
    pub fn lookup(&self, s: &Session, id: &str, now: u64) -> Result<Lookup> {
        let not_found = || MatrixError::not_found("No delayed event with this id");
        let id = DelayId::parse(id).ok_or_else(not_found)?;
        let mut d = lock(&s.account.delays);
        self.retain(&mut d, now);
        if d.scheduled(id).is_none() && d.finalised(id).is_none() {
            return Err(not_found());
        }
        self.take_rate(&s.account, RateClass::Lookups, now)?;
        if let Some(sch) = d.scheduled(id) {
            return Ok(Lookup::Scheduled(ScheduledView::of(id, sch)));
        }
        let view = self.returned(&mut d, &[id]).into_iter().next().ok_or_else(not_found)?;
        Ok(Lookup::Finalised(view))
    }

    /// LST-6: the bare unstable endpoint, every scheduled event in one response.
    pub fn list_scheduled_all(&self, s: &Session, now: u64) -> Result<Vec<ScheduledView>> {
        self.take_rate(&s.account, RateClass::Lookups, now)?;
        let d = lock(&s.account.delays);
        let mut items: Vec<ScheduledView> =
            d.scheduled_all().into_iter().map(|(id, s)| ScheduledView::of(id, s)).collect();
        drop(d);
        if crate::planted!(self.settings, BareListTruncated) {
            items.truncate(self.settings.page_size);
        }
        self.everyone_elses(s, &mut items);
        Ok(items)
    }

    /// LST-2, LST-3, LST-5.
    pub fn list_finalised(
        &self,
        s: &Session,
        from: Option<&str>,
        now: u64,
    ) -> Result<(Vec<FinalisedView>, Option<String>)> {
        let before = from.map(parse_token).transpose()?;
        self.take_rate(&s.account, RateClass::Lookups, now)?;
        let mut d = lock(&s.account.delays);
        self.retain(&mut d, now);
        let (ids, next) = d.finalised_page(before, self.settings.page_size);
        let mut items = self.returned(&mut d, &ids);
        if crate::planted!(self.settings, FinalisedAscending) {
            items.reverse();
        }
        Ok((items, next.map(format_token)))
    }

    /// PSH-1, PSH-3: finalisations after sequence number `since` (0: all retained).
    pub fn finalised_since(
        &self,
        s: &Session,
        since: u64,
        include: bool,
        now: u64,
    ) -> (Vec<FinalisedView>, u64) {
        let mut d = lock(&s.account.delays);
        self.retain(&mut d, now);
        let last = d.last_seq();
        if !include {
            return (Vec::new(), last);
        }
        let ids = d.finalised_since(since);
        (self.returned(&mut d, &ids), last)
    }

    /// Views of `ids`; LST-5 / PSH-3: with `discard_returned`, returned records are dropped.
    fn returned(&self, d: &mut UserDelays, ids: &[DelayId]) -> Vec<FinalisedView> {
        let views: Vec<FinalisedView> =
            ids.iter().filter_map(|id| d.finalised(*id).map(|f| FinalisedView::of(*id, f))).collect();
        if self.settings.discard_returned && !views.is_empty() {
            for id in ids {
                d.discard(*id);
            }
            self.log(|| Change::Discarded { ids: ids.to_vec() });
        }
        views
    }
}
