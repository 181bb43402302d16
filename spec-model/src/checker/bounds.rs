//! The bounded configurations the model checker explores: how many users, rooms and slots, which
//! delays, how far time runs, how many delayed events at most, and the semantic `Config` (limits
//! small enough to be reached within those bounds).

use crate::config::{Config, Decisions, RateLimits, Retention, Window};
use crate::revision::Revision;
use crate::types::{Action, Prefix, UserId};
use serde::{Deserialize, Serialize};

/// Which families of client operations a configuration offers. Splitting them over several
/// configurations keeps each state space exhaustively checkable; `always` properties must hold in
/// every configuration, `sometimes` properties need a witness in one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Families {
    /// Scheduled and finalised lookups with pagination, the bare unstable list.
    pub lookups: bool,
    /// `/sync` with and without the filter.
    pub sync: bool,
    /// Power-level changes, leaving and rejoining.
    pub room_changes: bool,
    /// Ordinary state and message sends.
    pub ordinary_sends: bool,
    /// Requests that are refused (bad delay, unknown id, unknown action, others' ids).
    pub refusals: bool,
    /// Delayed message events besides delayed state events.
    pub messages: bool,
    /// The merged revision's lookups: one event by id (LKP-1) and the unpaginated list (LKP-4).
    #[serde(default)]
    pub single_lookups: bool,
    /// `GET /capabilities` (DSC-4, DSC-5).
    #[serde(default)]
    pub capabilities: bool,
    /// The server goes down and comes back (PER-1..3).
    #[serde(default)]
    pub server_restarts: bool,
    /// Transactions to an application service, acknowledged or not (PSH-4).
    #[serde(default)]
    pub appservice: bool,
}

impl Families {
    const NONE: Families = Families {
        lookups: false,
        sync: false,
        room_changes: false,
        ordinary_sends: false,
        refusals: false,
        messages: false,
        single_lookups: false,
        capabilities: false,
        server_restarts: false,
        appservice: false,
    };
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bounds {
    pub name: &'static str,
    pub users: u8,
    pub rooms: u8,
    /// State keys `k0..` of `m.rtc.member` that delayed and ordinary state events target.
    pub slots: u8,
    /// Delays (ms) clients schedule with.
    pub delays: Vec<u64>,
    /// The clock stops here in the active phase (the drain phase may go further).
    pub horizon: u64,
    /// At most this many delayed events are ever scheduled (ids `d0..`).
    pub max_ids: u16,
    pub families: Families,
    /// The management actions owners take (the invalid one is a refusal).
    pub actions: Vec<Action>,
    /// Whether users other than the admin manage their delayed events.
    pub others_manage: bool,
    /// The last this many users are guest accounts (SCH-21).
    #[serde(default)]
    pub guests: u8,
    /// The semantics under check.
    pub config: Config,
}

impl Bounds {
    fn base(name: &'static str, families: Families) -> Self {
        Bounds {
            name,
            users: 2,
            rooms: 1,
            slots: 1,
            delays: vec![1, 2],
            horizon: 2,
            max_ids: 3,
            families,
            actions: vec![Action::Send, Action::Cancel, Action::Restart],
            others_manage: true,
            guests: 0,
            config: Config {
                revision: Revision::Rev2025_07_09,
                prefix: Prefix::Stable,
                max_delay_ms: Some(2),
                max_outstanding_per_user: Some(2),
                retention: Retention { max_age_ms: 2, max_per_user: 2 },
                discard_returned: true,
                page_size: 1,
                rate_limits: RateLimits::default(),
                lateness_ms: 0,
                decisions: Decisions::default(),
                appservice_user: None,
                mutant: None,
            },
        }
    }

    /// Timers, actions, state-update cancellation, power levels and membership at send time:
    /// 2 users, 1 room, 1 shared state slot, delays of 1-2 ms.
    pub fn lifecycle() -> Self {
        let mut b = Self::base(
            "lifecycle",
            Families {
                room_changes: true,
                ordinary_sends: true,
                refusals: true,
                messages: true,
                ..Families::NONE
            },
        );
        b.max_ids = 2;
        b.config.max_outstanding_per_user = Some(1);
        // Retention is the `lookups` configuration's concern; here nothing observes history.
        b.config.retention = Retention { max_age_ms: u64::MAX, max_per_user: u16::MAX };
        b.config.discard_returned = false;
        b
    }

    /// Both lookups with pagination, walks across changes, isolation, the bare unstable list.
    pub fn pagination() -> Self {
        let mut b = Self::base("pagination", Families { lookups: true, ..Families::NONE });
        b.horizon = 1;
        b.actions = vec![Action::Cancel, Action::Restart];
        b.others_manage = false;
        b.config.retention = Retention { max_age_ms: u64::MAX, max_per_user: u16::MAX };
        b.config.discard_returned = false;
        b
    }

    /// `/sync` and its filter, retention by age and count, discarding returned records.
    pub fn sync() -> Self {
        let mut b = Self::base("sync", Families { sync: true, ..Families::NONE });
        b.horizon = 1;
        b.actions = vec![Action::Cancel];
        b.others_manage = false;
        b.config.retention = Retention { max_age_ms: 1, max_per_user: 2 };
        b
    }

    /// An application service whose namespace holds `@u1` (PSH-4): its transactions carry
    /// `@u1`'s finalised events, never `@u0`'s; the service acknowledges each or fails it.
    pub fn appservice() -> Self {
        let families = Families { messages: true, appservice: true, ..Families::NONE };
        let mut b = Self::base("appservice", families);
        b.delays = vec![1];
        b.actions = vec![Action::Send, Action::Cancel];
        b.config.retention = Retention { max_age_ms: u64::MAX, max_per_user: u16::MAX };
        b.config.discard_returned = false;
        b.config.appservice_user = Some(UserId(1));
        b
    }

    /// Rate limits on (SCH-6, MGT-6, SRV-6), fewer other choices.
    pub fn rate_limited() -> Self {
        let mut b = Self::base("rate-limited", Families { ordinary_sends: true, ..Families::NONE });
        b.users = 1;
        b.max_ids = 2;
        b.delays = vec![1];
        b.config.retention = Retention { max_age_ms: u64::MAX, max_per_user: u16::MAX };
        b.config.discard_returned = false;
        b.horizon = 2;
        b.config.rate_limits = RateLimits {
            scheduling: Some(Window { max: 1, window_ms: 2 }),
            management: Some(Window { max: 1, window_ms: 2 }),
            lookups: Some(Window { max: 1, window_ms: 2 }),
            sending: Some(Window { max: 1, window_ms: 2 }),
        };
        b
    }

    /// A larger lifecycle configuration for the performance figures: delays of 1-3 ms, the
    /// clock one ms longer. (A second state slot, or a third delayed event, exceeds 24 GiB.)
    pub fn large() -> Self {
        let mut b = Self::lifecycle();
        b.name = "large";
        b.delays = vec![1, 2, 3];
        b.horizon = 3;
        b.config.max_delay_ms = Some(3);
        b
    }

    /// Whether anything can observe a finalised record's timing (see `canonical`).
    pub fn observes_history(&self) -> bool {
        let r = self.config.retention;
        self.families.lookups
            || self.families.appservice
            || self.families.single_lookups
            || self.families.sync
            || r.max_per_user < self.max_ids
            || r.max_age_ms < u64::MAX
    }

    /// The merged revision's counterpart of a seed configuration.
    fn merged(mut self, name: &'static str) -> Self {
        self.name = name;
        self.config.revision = Revision::Rev2026_07_10;
        self
    }

    /// `lifecycle` under the merged text: state updates overwrite instead of cancelling (SRV-12),
    /// refusals have the new codes (SCH-15, SCH-16, MGT-11), the other user is a guest (SCH-21).
    pub fn lifecycle_2026() -> Self {
        let mut b = Self::lifecycle().merged("lifecycle-2026");
        b.guests = 1;
        b
    }

    /// The single lookup and the unpaginated list (LKP-1..4), retention and discarding after a
    /// lookup (LKP-6), the capability (DSC-4, DSC-5).
    pub fn lookups_2026() -> Self {
        let families = Families { single_lookups: true, capabilities: true, ..Families::NONE };
        let mut b = Self::base("lookups-2026", families).merged("lookups-2026");
        b.horizon = 1;
        b.actions = vec![Action::Send, Action::Cancel];
        b.others_manage = false;
        b.config.retention = Retention { max_age_ms: 1, max_per_user: 2 };
        b
    }

    /// Server restarts (PER-1..3): the server goes down for 1 or 2 ms with events scheduled,
    /// restarted and finalised.
    pub fn restart_2026() -> Self {
        let families = Families { messages: true, server_restarts: true, ..Families::NONE };
        let mut b = Self::base("restart-2026", families).merged("restart-2026");
        b.users = 1;
        b.actions = vec![Action::Send, Action::Restart];
        b.config.retention = Retention { max_age_ms: u64::MAX, max_per_user: u16::MAX };
        b.config.discard_returned = false;
        b
    }

    /// `rate-limited` under the merged text (SCH-18, MGT-6, LKP-5, SRV-13).
    pub fn rate_limited_2026() -> Self {
        let mut b = Self::rate_limited().merged("rate-limited-2026");
        b.families.single_lookups = true;
        b
    }

    /// A per-user limit of 0: delayed events disallowed (SCH-17).
    pub fn disallowed_2026() -> Self {
        let mut b = Self::base("disallowed-2026", Families::NONE).merged("disallowed-2026");
        b.users = 1;
        b.max_ids = 1;
        b.delays = vec![1];
        b.horizon = 1;
        b.config.max_outstanding_per_user = Some(0);
        b
    }

    /// The configurations `spec-model check` runs by default for `revision`.
    pub fn suite(revision: Revision) -> Vec<Bounds> {
        match revision {
            Revision::Rev2025_07_09 => {
                vec![
                    Self::lifecycle(),
                    Self::pagination(),
                    Self::sync(),
                    Self::rate_limited(),
                    Self::appservice(),
                ]
            }
            Revision::Rev2026_07_10 => vec![
                Self::lifecycle_2026(),
                Self::lookups_2026(),
                Self::restart_2026(),
                Self::rate_limited_2026(),
                Self::disallowed_2026(),
            ],
        }
    }

    /// Every named configuration: both suites and `large`.
    pub fn all() -> Vec<Bounds> {
        let mut all: Vec<Bounds> = Revision::ALL.into_iter().flat_map(Self::suite).collect();
        all.push(Self::large());
        all
    }

    pub fn by_name(name: &str) -> Option<Bounds> {
        Self::all().into_iter().find(|b| b.name == name)
    }
}
