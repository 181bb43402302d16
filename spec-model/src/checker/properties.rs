//! Every property of the model, named after the requirement it checks. This is the one place
//! that lists them: `always` properties are sticky violation bits the monitor sets, `sometimes`
//! properties are witness bits of the last step, and one `eventually` property is liveness.

use super::model::{CheckState, DelayModel};
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
            /// The requirement ids the property's name starts with (`SRV-4/SRV-5 ...`).
            pub fn requirement_ids(self) -> Vec<&'static str> {
                let head = self.name().split(' ').next().unwrap_or("");
                head.split('/').collect()
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
        NeverLost = "SRV-3 a failed send is finalised, never lost",
        ContentUnchanged = "SRV-7 the sent event is the scheduled one",
        OtherSenderCancels = "SRV-4 another sender's state update cancels",
        OnlyOtherSenderCancels = "SRV-5 only another sender's state update cancels",
        OutstandingLimit = "SCH-7 outstanding delayed events never exceed the limit",
        MaxDelay = "SCH-5 no scheduled delay exceeds the maximum",
        ScheduledOrder = "LST-1 scheduled list ascending by due time",
        FinalisedOrder = "LST-2 finalised list descending by origin_server_ts",
        Isolation = "LST-4/SEC-2 only the requester's events are listed",
        PaginationWalk = "LST-3/LST-7 a walk never repeats and never skips a stable event",
        Retries = "MGT-8 actions on finalised events: retry 200, conflict 409, no change",
        SyncSince = "PSH-1 sync returns exactly the retained finalisations since the token",
        InsertionRefused = "SRV-6 a delayed event past the sending limit is finalised with M_LIMIT_EXCEEDED",
    }
}

flags! {
    /// Reachability properties (`sometimes`); their shortest witness traces seed the
    /// conformance suite.
    Witness: u64, sometimes {
        ScheduledMessage = "SCH-3 message scheduled, delay_id returned",
        ScheduledState = "SCH-3 state event scheduled",
        TxnReplay = "SCH-10 repeated txn id returns the same delay_id",
        InvalidDelay = "SCH-9 zero delay refused with M_INVALID_PARAM",
        MaxDelayRefused = "SCH-5 delay above the maximum refused",
        LimitRefused = "SCH-7 outstanding limit reached",
        ScheduleForbidden = "SCH-11 scheduling in a room the user left is refused",
        ScheduleRateLimited = "SCH-6 scheduling rate limited",
        InvalidAction = "MGT-2 unknown action refused",
        UnknownId = "MGT-7 unknown delay_id is 404",
        OthersId = "MGT-7/SEC-2 another user's delay_id is 404",
        SentByAction = "MGT-3 send action: outcome send, reason action",
        CancelledByAction = "MGT-4 cancel action: outcome cancel, reason action",
        Restarted = "MGT-5 restart moves the due time",
        RestartThenTimeout = "MGT-5/SRV-1 restarted event sent at the new due time",
        SentByTimeout = "SRV-1 timeout: outcome send, reason delay",
        RetrySucceeds = "MGT-8 retrying the matching action is 200",
        ConflictRefused = "MGT-8 conflicting action on a finalised event is 409",
        GoneAfterDiscard = "MGT-8 action on a discarded record is 404",
        SendActionFails = "MGT-10 failing send action keeps the event scheduled",
        ManagementRateLimited = "MGT-6 management rate limited",
        AllowedOnlyAtSendTime = "SRV-2 forbidden when scheduled, sent when allowed later",
        FailedAtSendTime = "SRV-3 power levels fail at send time: outcome cancel, reason error",
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
        InsertionRateLimited = "SRV-6 insertion refused by the sending limit: cancel, error M_LIMIT_EXCEEDED",
    }
}

impl Violation {
    fn holds(self, s: &CheckState) -> bool {
        s.ghost.violations & self.bit() == 0
    }
}

impl Witness {
    fn holds(self, s: &CheckState) -> bool {
        s.ghost.last & self.bit() != 0
    }
}

pub const LIVENESS: &str = "SRV-1/SRV-8 eventually every scheduled event is finalised";

/// All properties, in a stable order: safety, reachability, liveness.
pub fn all() -> Vec<Property<DelayModel>> {
    let mut p: Vec<Property<DelayModel>> = Violation::ALL.iter().map(|v| v.property()).collect();
    p.extend(Witness::ALL.iter().map(|w| w.property()));
    p.push(Property::<DelayModel>::eventually(LIVENESS, |_, s: &CheckState| s.drained()));
    p
}
