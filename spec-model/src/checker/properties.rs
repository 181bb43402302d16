//! Every property of the model, named after the requirement it checks. This is the one place
//! that lists them: `always` properties are sticky violation bits the monitor sets, `sometimes`
//! properties are witness bits of the last step, and one `eventually` property is liveness.

use super::model::{CheckState, DelayModel};
use crate::revision::Revision;
use stateright::Property;

macro_rules! flags {
    ($(#[$doc:meta])* $ty:ident : $repr:ty, $expect:ident { $($(#[$vdoc:meta])* $v:ident = $name:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $ty { $($(#[$vdoc])* $v,)* }
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$v,)*];
            pub const fn name(self) -> &'static str {
                match self { $($ty::$v => $name,)* }
            }
            pub const fn bit(self) -> $repr {
                1 << (self as u32)
            }
            /// The stateright property: its condition is a plain fn, one per variant.
            pub fn property(self) -> Property<DelayModel> {
                match self {
                    $($ty::$v => Property::$expect($name, |_, s: &CheckState| $ty::$v.holds(s)),)*
                }
            }
            /// The requirement ids the property's name starts with (`SRV-4/SRV-5 ...`); a name may
            /// hold ids of both catalogues (`SCH-5/SCH-15`), each counting in its own.
            pub fn requirement_ids(self) -> Vec<&'static str> {
                let head = self.name().split(' ').next().unwrap_or("");
                head.split('/').collect()
            }
            /// The ids of the name that `revision`'s catalogue holds.
            pub fn requirement_ids_in(self, revision: Revision) -> Vec<&'static str> {
                self.requirement_ids()
                    .into_iter()
                    .filter(|id| crate::requirements::in_catalogue(revision, id))
                    .collect()
            }
            /// The name as `revision`'s reader sees it: only that catalogue's ids lead it, so the
            /// seed revision's check names stay those it always had.
            pub fn title_in(self, revision: Revision) -> String {
                let rest = self.name().split_once(' ').map_or("", |(_, rest)| rest);
                let ids = self.requirement_ids_in(revision);
                if ids.is_empty() {
                    rest.to_string()
                } else {
                    format!("{} {rest}", ids.join("/"))
                }
            }
        }
    };
}

flags! {
    /// Safety properties (`always`); the monitor sets a sticky bit when one is broken.
    Violation: u32, always {
        NeverEarly = "SRV-1 never sent before running_since + delay",
        ExactlyOnce = "SRV-8 finalised exactly once, sent at most once",
        CheckedAtSend = "SRV-2 sent iff allowed at the time of sending",
        NeverLost = "SRV-3/SRV-11 a failed send is finalised with its error, never lost",
        ContentUnchanged = "SRV-7 the sent event is the scheduled one",
        OtherSenderCancels = "SRV-4 another sender's state update cancels",
        OnlyOtherSenderCancels = "SRV-5 only another sender's state update cancels",
        OutstandingLimit = "SCH-7/SCH-16 outstanding delayed events never exceed the limit",
        MaxDelay = "SCH-5/SCH-15 no scheduled delay exceeds the maximum",
        ScheduledOrder = "LST-1/LKP-4 scheduled list ascending by due time",
        FinalisedOrder = "LST-2 finalised list descending by origin_server_ts",
        Isolation = "LST-4/SEC-2/LKP-1 only the requester's events are listed or looked up",
        PaginationWalk = "LST-3/LST-7 a walk never repeats and never skips a stable event",
        Retries = "MGT-8/MGT-12/MGT-13 actions on finalised events: retry 200, conflict 409, no change",
        SyncSince = "PSH-1 sync returns exactly the retained finalisations since the token",
        InsertionRefused = "SRV-6/SRV-13 a delayed event past the sending limit is finalised with M_LIMIT_EXCEEDED",
        StateUpdateKeeps = "SRV-12 a state update cancels no delayed event",
        LookupTruthful = "LKP-1/LKP-3 the single lookup shows the event as it is, never both sent and failed",
        CapabilityLimits = "DSC-4/DSC-5 the capability advertises exactly the limits that apply",
        RetryAfterNextDue = "SCH-16 at the limit, Retry-After is the time until the user's next send, rounded up",
        SurvivesServerRestart = "PER-1 a server restart keeps every scheduled event as it was",
        NoResendAfterServerRestart = "PER-2 nothing finalised is sent again after a server restart",
        OverdueInOrder = "PER-3 overdue events are sent at startup, in send-time order",
        AppserviceOnceInOrder = "PSH-4 an application service receives its users' finalised events once, in order, a retry carrying the same",
    }
}

flags! {
    /// Reachability properties (`sometimes`); their shortest witness traces seed the
    /// conformance suite.
    Witness: u64, sometimes {
        ScheduledMessage = "SCH-3/SCH-14 message scheduled, delay_id returned",
        ScheduledState = "SCH-3/SCH-14 state event scheduled",
        TxnReplay = "SCH-10 repeated txn id returns the same delay_id",
        InvalidDelay = "SCH-9/SCH-13 zero delay refused with M_INVALID_PARAM",
        MaxDelayRefused = "SCH-5/SCH-15 delay above the maximum refused",
        LimitRefused = "SCH-7/SCH-16 outstanding limit reached",
        ScheduleForbidden = "SCH-11 scheduling in a room the user left is refused",
        ScheduleRateLimited = "SCH-6/SCH-18 scheduling rate limited",
        InvalidAction = "MGT-2/MGT-11 unknown action refused",
        UnknownId = "MGT-7/MGT-14 unknown delay_id is 404",
        OthersId = "MGT-7/SEC-2/MGT-14 another user's delay_id is 404",
        SentByAction = "MGT-3 the send action sends at once",
        CancelledByAction = "MGT-4 the cancel action cancels: never sent",
        Restarted = "MGT-5 restart moves the due time",
        RestartThenTimeout = "MGT-5/SRV-1 restarted event sent at the new due time",
        SentByTimeout = "SRV-1 the timer sends at the due time",
        RetrySucceeds = "MGT-8/MGT-12 retrying the matching action is 200",
        ConflictRefused = "MGT-8/MGT-13 conflicting action on a finalised event is 409",
        GoneAfterDiscard = "MGT-8/MGT-14 action on a discarded record is 404",
        SendActionFails = "MGT-10/MGT-15/MGT-16 failing send action keeps the event scheduled",
        ManagementRateLimited = "MGT-6 management rate limited",
        AllowedOnlyAtSendTime = "SRV-2 forbidden when scheduled, sent when allowed later",
        FailedAtSendTime = "SRV-3/SRV-11 power levels fail at send time: finalised with the error",
        CancelledByStateUpdate = "SRV-4 another user's state update cancels",
        FiredStateCancelsOther = "SRV-4 a delayed state event that fires cancels another user's",
        SameSenderKeeps = "SRV-5 the owner's own state update cancels nothing",
        MessageKeeps = "SRV-5 a message event cancels nothing",
        ScheduledWalk = "LST-3 full pagination walk of scheduled",
        FinalisedWalk = "LST-3 full pagination walk of finalised",
        WalkAcrossChange = "LST-7 walk completes across a change",
        BareList = "LST-6 bare unstable list of scheduled events",
        ExpiredByAge = "LST-5 finalised record expires by age",
        ExpiredByCount = "LST-5 finalised record dropped beyond the per-user count",
        DiscardedAfterReturn = "LST-5/PSH-3 returned finalised record discarded",
        SyncFinalised = "PSH-1 sync carries finalised_events",
        SyncFiltered = "PSH-2 filter removes finalised_events",
        InsertionRateLimited = "SRV-6/SRV-13 insertion refused by the sending limit: cancel, error M_LIMIT_EXCEEDED",
        StateOverwrites = "SRV-12 a delayed state event sent after another user's state update overwrites it",
        ZeroLimitForbidden = "SCH-17 scheduling with a limit of 0 is 403",
        LookupScheduled = "LKP-1/LKP-2 single lookup of a scheduled event",
        LookupFinalised = "LKP-1/LKP-3 single lookup of a finalised event",
        ScheduledList = "LKP-4 unpaginated list of scheduled events",
        DiscardedAfterLookup = "LKP-6 finalised record discarded after a lookup returned it",
        CapabilityRead = "DSC-4/DSC-5 capability read",
        GuestUses = "SCH-21 a guest schedules and manages a delayed event",
        SurvivedServerRestart = "PER-1 a scheduled event survives a server restart",
        OverdueSentAfterRestart = "PER-3 overdue events sent after a server restart, in send-time order",
        AppserviceRetried = "PSH-4 finalised events reach the application service in a retried transaction",
    }
}

impl Violation {
    fn holds(self, s: &CheckState) -> bool {
        s.ghost.violations & self.bit() == 0
    }

    /// Whether the property is one of `revision`'s (a requirement of only one text).
    pub fn applies(self, revision: Revision) -> bool {
        use Violation as V;
        let merged = revision == Revision::Rev2026_07_10;
        match self {
            V::OtherSenderCancels
            | V::FinalisedOrder
            | V::PaginationWalk
            | V::SyncSince
            | V::AppserviceOnceInOrder => !merged,
            V::StateUpdateKeeps
            | V::LookupTruthful
            | V::CapabilityLimits
            | V::RetryAfterNextDue
            | V::SurvivesServerRestart
            | V::NoResendAfterServerRestart
            | V::OverdueInOrder => merged,
            _ => true,
        }
    }
}

impl Witness {
    fn holds(self, s: &CheckState) -> bool {
        s.ghost.last & self.bit() != 0
    }

    /// Whether `revision` has this behaviour at all.
    pub fn applies(self, revision: Revision) -> bool {
        use Witness as W;
        let merged = revision == Revision::Rev2026_07_10;
        match self {
            W::CancelledByStateUpdate
            | W::FiredStateCancelsOther
            | W::ScheduledWalk
            | W::FinalisedWalk
            | W::WalkAcrossChange
            | W::BareList
            | W::ExpiredByAge
            | W::ExpiredByCount
            | W::DiscardedAfterReturn
            | W::SyncFinalised
            | W::SyncFiltered
            | W::AppserviceRetried => !merged,
            W::StateOverwrites
            | W::ZeroLimitForbidden
            | W::LookupScheduled
            | W::LookupFinalised
            | W::ScheduledList
            | W::DiscardedAfterLookup
            | W::CapabilityRead
            | W::GuestUses
            | W::SurvivedServerRestart
            | W::OverdueSentAfterRestart => merged,
            _ => true,
        }
    }

    /// The `sometimes` properties of `revision`.
    pub fn of(revision: Revision) -> impl Iterator<Item = Witness> {
        Witness::ALL.iter().copied().filter(move |w| w.applies(revision))
    }
}

impl Violation {
    /// The `always` properties of `revision`.
    pub fn of(revision: Revision) -> impl Iterator<Item = Violation> {
        Violation::ALL.iter().copied().filter(move |v| v.applies(revision))
    }
}

pub const LIVENESS: &str = "SRV-1/SRV-8 eventually every scheduled event is finalised";

/// All properties of `revision`, in a stable order: safety, reachability, liveness.
pub fn all(revision: Revision) -> Vec<Property<DelayModel>> {
    let mut p: Vec<Property<DelayModel>> = Violation::of(revision).map(|v| v.property()).collect();
    p.extend(Witness::of(revision).map(|w| w.property()));
    p.push(Property::<DelayModel>::eventually(LIVENESS, |_, s: &CheckState| s.drained()));
    p
}
