//! The knobs of the executable specification: what the text lets a server choose (limits,
//! retention, page size, lateness, prefix) and a knob for every DECIDED point of
//! REQUIREMENTS.md, so that a checker can be run with another server's choices.

use crate::revision::{Revision, Rules};
use crate::types::{Outcome, Prefix, UserId};
use serde::{Deserialize, Serialize};

/// A fixed-window rate limit: at most `max` requests per `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    pub max: u8,
    pub window_ms: u64,
}

/// SCH-6, MGT-6, SRV-6 / SEC-3: one limit per request class; `None` disables the class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct RateLimits {
    pub scheduling: Option<Window>,
    pub management: Option<Window>,
    pub lookups: Option<Window>,
    /// Every event entering a room on a user's behalf counts against it: ordinary sends and the
    /// `send` action are answered 429 past it, a delayed event firing past it is finalised with
    /// `M_LIMIT_EXCEEDED` and not retried (SRV-6 CLARIFIED).
    pub sending: Option<Window>,
}

/// LST-5 / PSH-3: how long finalised records are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Retention {
    pub max_age_ms: u64,
    pub max_per_user: u16,
}

/// PSH-1 DECIDED: the shape of `/sync`'s `finalised_events` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SyncShape {
    /// `"finalised_events": [item, ...]` (our decision).
    #[default]
    Array,
    /// `"finalised_events": {"finalised": [item, ...]}` (the text's other sentence).
    Object,
}

/// The DECIDED points of REQUIREMENTS.md, with our choices as defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decisions {
    /// SRV-3: the outcome recorded for a delayed event that failed to be sent.
    pub failed_send_outcome: Outcome,
    /// SCH-11: refuse scheduling into a room the sender is not joined to.
    pub membership_checked_at_schedule: bool,
    /// PSH-1: shape of the sync key.
    pub sync_shape: SyncShape,
}

impl Default for Decisions {
    fn default() -> Self {
        Decisions {
            failed_send_outcome: Outcome::Cancel,
            membership_checked_at_schedule: true,
            sync_shape: SyncShape::Array,
        }
    }
}

/// Deliberately broken variants of the transition function. They exist only so that tests can show
/// that every safety property of the checker can fail; no real configuration sets one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mutant {
    /// The timer fires one ms before `running_since + delay` (breaks SRV-1).
    FireEarly,
    /// `restart` on a finalised event puts it back to scheduled (breaks SRV-8, MGT-8).
    RestartFinalised,
    /// `send` on an already sent event sends it again (breaks SRV-8).
    ResendOnRetry,
    /// `cancel` on a sent event answers 200 instead of 409 (breaks MGT-8).
    CancelSentSucceeds,
    /// State updates from other users cancel nothing (breaks SRV-4).
    StateUpdateIgnored,
    /// State updates from the owner cancel too (breaks SRV-5).
    SameSenderCancels,
    /// Nothing is checked when the timer sends (breaks SRV-2).
    NoSendTimeCheck,
    /// A failed send is dropped instead of finalised with its error (breaks SRV-3).
    DropFailedSend,
    /// The fired event carries the room creator as sender (breaks SRV-7).
    WrongSender,
    /// The outstanding limit is checked with `>` instead of `>=` (breaks SCH-7).
    LimitOffByOne,
    /// No maximum delay check (breaks SCH-5).
    NoMaxDelay,
    /// Scheduled list sorted by `running_since` instead of the due time (breaks LST-1).
    ScheduledByRunningSince,
    /// Finalised list in ascending order (breaks LST-2).
    FinalisedAscending,
    /// Lists show every user's events (breaks LST-4).
    ListsEveryone,
    /// Pagination tokens are offsets, which shift when an event leaves the list (breaks LST-7).
    OffsetTokens,
    /// `/sync` ignores `since` and repeats old finalised events (breaks PSH-1).
    SyncIgnoresSince,
    /// The timer never fires a restarted event (breaks liveness: eventually finalised).
    RestartStopsTimer,
    /// A firing delayed event is counted against the sending budget but never refused (breaks
    /// SRV-6: the behaviour the catalogue no longer allows).
    FiringIgnoresSendBudget,
    /// A server restart loses the last `restart` of restarted events: their timers run from one
    /// ms earlier (breaks PER-1).
    ServerRestartForgetsRestarts,
    /// At startup, overdue events are sent latest first (breaks PER-3).
    OverdueOutOfOrder,
    /// At startup, the last event sent before the restart is sent again (breaks PER-2 / SRV-8).
    ResendAfterServerRestart,
    /// Another sender's state update cancels nothing although the revision says it does, or
    /// cancels although it says it does not (breaks SRV-4 / SRV-12).
    StateUpdateRuleInverted,
    /// The single lookup shows a finalised event as still scheduled (breaks LKP-1/LKP-3).
    LookupShowsScheduled,
    /// The capability advertises no limits although they apply (breaks DSC-4).
    CapabilityOmitsLimits,
    /// `Retry-After` rounds the time until the next send down (breaks SCH-16).
    RetryAfterRoundedDown,
    /// A retried application-service transaction loses its first finalised event (breaks PSH-4).
    RetryDropsRecord,
}

impl Mutant {
    pub const ALL: [Mutant; 26] = [
        Mutant::FireEarly,
        Mutant::RestartFinalised,
        Mutant::ResendOnRetry,
        Mutant::CancelSentSucceeds,
        Mutant::StateUpdateIgnored,
        Mutant::SameSenderCancels,
        Mutant::NoSendTimeCheck,
        Mutant::DropFailedSend,
        Mutant::WrongSender,
        Mutant::LimitOffByOne,
        Mutant::NoMaxDelay,
        Mutant::ScheduledByRunningSince,
        Mutant::FinalisedAscending,
        Mutant::ListsEveryone,
        Mutant::OffsetTokens,
        Mutant::SyncIgnoresSince,
        Mutant::RestartStopsTimer,
        Mutant::FiringIgnoresSendBudget,
        Mutant::ServerRestartForgetsRestarts,
        Mutant::OverdueOutOfOrder,
        Mutant::ResendAfterServerRestart,
        Mutant::StateUpdateRuleInverted,
        Mutant::LookupShowsScheduled,
        Mutant::CapabilityOmitsLimits,
        Mutant::RetryAfterRoundedDown,
        Mutant::RetryDropsRecord,
    ];
}

/// Everything the specification lets a server choose, plus the decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    /// Which text of MSC4140 (see `revision`).
    #[serde(default)]
    pub revision: Revision,
    pub prefix: Prefix,
    /// SCH-5 (and SCH-8: a month at most is recommended).
    pub max_delay_ms: Option<u64>,
    /// SCH-7.
    pub max_outstanding_per_user: Option<u16>,
    pub retention: Retention,
    /// LST-5 / PSH-3: the server may discard a finalised record once a lookup or `/sync` returned
    /// it. When true the model offers the internal step `Discard` for such records.
    pub discard_returned: bool,
    /// LST-3: the page size of both lookups (the text lets the server choose; `judge` accepts
    /// any page size from other servers).
    pub page_size: u8,
    pub rate_limits: RateLimits,
    /// SRV-9: how long after its due time a delayed event may still be unsent. The checker's
    /// clock cannot pass a due time by more than this while the event is scheduled.
    pub lateness_ms: u64,
    pub decisions: Decisions,
    /// PSH-4: the user in the namespace of the one application service (`None`: no service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appservice_user: Option<UserId>,
    /// Test-only: a deliberately broken transition (see [`Mutant`]).
    pub mutant: Option<Mutant>,
}

impl Config {
    /// The values the reference server uses by default (issue 3) and the text recommends.
    pub fn reference() -> Self {
        Config {
            revision: Revision::Rev2025_07_09,
            prefix: Prefix::Stable,
            max_delay_ms: Some(86_400_000),
            max_outstanding_per_user: Some(100),
            retention: Retention { max_age_ms: 7 * 86_400_000, max_per_user: 1000 },
            discard_returned: false,
            page_size: 10,
            rate_limits: RateLimits::default(),
            lateness_ms: 0,
            decisions: Decisions::default(),
            appservice_user: None,
            mutant: None,
        }
    }

    pub fn is(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// What the configured revision says where the revisions differ.
    pub fn rules(&self) -> Rules {
        self.revision.rules()
    }

    /// The reference configuration under `revision`.
    pub fn reference_in(revision: Revision) -> Self {
        Config { revision, ..Self::reference() }
    }
}
