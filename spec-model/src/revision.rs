//! The two texts of MSC4140 the model speaks, and everything they disagree on, in one place:
//! [`Rules`]. The transition function (`spec`), the wire shapes (`render`), the monitor and the
//! checker read these fields and nothing else to tell the revisions apart, so a reader can list
//! every behavioural difference from [`Revision::rules`].
//!
//! - `Rev2025_07_09`: the seed text (`spec/msc4140-rev-2025-07-09.md`, catalogue
//!   `spec/REQUIREMENTS.md`), the project's default profile.
//! - `Rev2026_07_10`: the merged text (`spec/msc4140-rev-2026-07-10.md`, catalogue
//!   `spec/REQUIREMENTS-rev-2026-07-10.md`), with MSC4542's clarifications.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum Revision {
    #[default]
    #[serde(rename = "2025-07-09")]
    Rev2025_07_09,
    #[serde(rename = "2026-07-10")]
    Rev2026_07_10,
}

impl Revision {
    pub const ALL: [Revision; 2] = [Revision::Rev2025_07_09, Revision::Rev2026_07_10];

    pub const fn name(self) -> &'static str {
        match self {
            Revision::Rev2025_07_09 => "2025-07-09",
            Revision::Rev2026_07_10 => "2026-07-10",
        }
    }

    /// The catalogue profile name (`rev-2025-07-09`).
    pub const fn profile(self) -> &'static str {
        match self {
            Revision::Rev2025_07_09 => "rev-2025-07-09",
            Revision::Rev2026_07_10 => "rev-2026-07-10",
        }
    }

    pub fn parse(s: &str) -> Option<Revision> {
        let s = s.trim_start_matches("rev-");
        Revision::ALL.into_iter().find(|r| r.name() == s)
    }

    /// What this revision says where the two differ.
    pub const fn rules(self) -> Rules {
        match self {
            Revision::Rev2025_07_09 => Rules {
                scheduling: Scheduling::DelayParameter,
                max_delay_refusal: MaxDelayRefusal::BadRequestWithMaximum,
                count_limit_refusal: CountLimitRefusal::BadRequest,
                zero_limit_forbidden: false,
                action_in_path: false,
                state_update_cancels: true,
                lookups: Lookups::PaginatedLists,
                record_shape: RecordShape::OutcomeAndReason,
                sync_push: true,
                appservice_push: true,
                capability: false,
                delay_id_in_unsigned: false,
                guests_allowed: false,
                persistent: false,
                unstable_wraps_codes: true,
                failures_are_cancellations: false,
            },
            Revision::Rev2026_07_10 => Rules {
                scheduling: Scheduling::DelayedEventEndpoint,
                max_delay_refusal: MaxDelayRefusal::Forbidden,
                count_limit_refusal: CountLimitRefusal::TooManyRequestsWithRetryAfter,
                zero_limit_forbidden: true,
                action_in_path: true,
                state_update_cancels: false,
                lookups: Lookups::SingleAndScheduledList,
                record_shape: RecordShape::Flat,
                sync_push: false,
                appservice_push: false,
                capability: true,
                delay_id_in_unsigned: true,
                guests_allowed: true,
                persistent: true,
                unstable_wraps_codes: false,
                failures_are_cancellations: true,
            },
        }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SCH-1 / SCH-12: how a delayed event is scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheduling {
    /// A `delay` query parameter on `/send` (with a transaction id) and `/state` (without).
    DelayParameter,
    /// `PUT .../delayed_event/{type}/{txnId}` with `delay_ms`, `content`, `state_key` in the body: a
    /// transaction id for every delayed event, on a path of its own (SCH-10's scope).
    DelayedEventEndpoint,
}

/// SCH-5 / SCH-15: the answer to a delay above the maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaxDelayRefusal {
    /// 400 `M_MAX_DELAY_EXCEEDED` with `max_delay`.
    BadRequestWithMaximum,
    /// 403 `M_FORBIDDEN` (the maximum is advertised as a capability, DSC-4).
    Forbidden,
}

/// SCH-7 / SCH-16: the answer at the per-user limit of scheduled events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountLimitRefusal {
    /// 400 `M_MAX_DELAYED_EVENTS_EXCEEDED`.
    BadRequest,
    /// 429 `M_LIMIT_EXCEEDED` with `Retry-After`: seconds until the user's next delayed event is due,
    /// rounded up.
    TooManyRequestsWithRetryAfter,
}

/// LST-1..3, LST-6 / LKP-1, LKP-4: how delayed events are looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lookups {
    /// Paginated `/scheduled` and `/finalised` lists (and the bare unstable list of scheduled ones).
    PaginatedLists,
    /// `GET .../delayed_events/{id}` for one event, scheduled or finalised, and an unpaginated list
    /// of the scheduled ones.
    SingleAndScheduledList,
}

/// LST-2 / LKP-2: how a finalised record reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordShape {
    /// `{delayed_event, outcome, reason, error?, event_id?, origin_server_ts}`.
    OutcomeAndReason,
    /// The scheduled fields plus `finalised_ts`, `event_id` when sent, `error` when it failed.
    Flat,
}

/// Every behaviour the two revisions disagree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    pub scheduling: Scheduling,
    pub max_delay_refusal: MaxDelayRefusal,
    pub count_limit_refusal: CountLimitRefusal,
    /// SCH-17: a per-user limit of 0 (delayed events disallowed) is 403 `M_FORBIDDEN`.
    pub zero_limit_forbidden: bool,
    /// MGT-1 / MGT-11: the action is a path segment (another one is no endpoint), not a body field.
    pub action_in_path: bool,
    /// SRV-4 / SRV-12: another sender's state update cancels a delayed state event.
    pub state_update_cancels: bool,
    pub lookups: Lookups,
    pub record_shape: RecordShape,
    /// PSH-1: `/sync` carries finalised events.
    pub sync_push: bool,
    /// PSH-4: application-service transactions carry the service users' finalised events.
    pub appservice_push: bool,
    /// DSC-4, DSC-5: the `m.delayed_events` capability.
    pub capability: bool,
    /// SRV-14: a sent event's `unsigned` carries its `delay_id` for its sender.
    pub delay_id_in_unsigned: bool,
    /// SCH-21: guest accounts may use every delayed-event endpoint (the seed text is silent, and
    /// the Client-Server spec admits guests only to the endpoints it lists).
    pub guests_allowed: bool,
    /// PER-1..3: scheduled events survive a restart of the server; overdue ones are sent at
    /// startup in send-time order.
    pub persistent: bool,
    /// UNS-2..4 / UNS-5: MSC4140's own error codes travel as `M_UNKNOWN` plus
    /// `org.matrix.msc4140.errcode` on the unstable surface.
    pub unstable_wraps_codes: bool,
    /// SRV-3 / SRV-11, MGT-12: a failed send is a cancellation (`cancel` on it is a safe retry). The
    /// seed text leaves the outcome to the server (`Decisions::failed_send_outcome`); the merged
    /// one has no outcome field and names "cancelled by an error" among the safe retries.
    pub failures_are_cancellations: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    // covers: SRV-4
    // covers 2026-07-10: SRV-12 SCH-15 SCH-16 SCH-17 UNS-5
    // Would catch: the revisions' rules swapped or merged (a difference listed for one text
    // applied to the other).
    #[test]
    fn the_revisions_disagree_where_their_texts_do() {
        let (a, b) = (Revision::Rev2025_07_09.rules(), Revision::Rev2026_07_10.rules());
        assert!(a.state_update_cancels && !b.state_update_cancels);
        assert_eq!(a.max_delay_refusal, MaxDelayRefusal::BadRequestWithMaximum);
        assert_eq!(b.max_delay_refusal, MaxDelayRefusal::Forbidden);
        assert_eq!(b.count_limit_refusal, CountLimitRefusal::TooManyRequestsWithRetryAfter);
        assert!(b.zero_limit_forbidden && !a.zero_limit_forbidden);
        assert!(a.unstable_wraps_codes && !b.unstable_wraps_codes);
        assert_eq!(Revision::parse("rev-2026-07-10"), Some(Revision::Rev2026_07_10));
        assert_eq!(Revision::default(), Revision::Rev2025_07_09);
    }
}
