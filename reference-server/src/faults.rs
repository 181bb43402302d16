//! Planted faults: deliberate bugs of the kinds deployed servers have shown or could plausibly
//! have, each switchable on its own. They exist to prove that the differential tests, the fuzzers
//! and every check of the conformance suite can fail. Compiled only with the `faults` feature,
//! which only test builds enable; a server built without it has neither this module nor any code
//! path behind [`planted!`](crate::planted) (the condition is a constant `false` there).

/// Marks a binary that has the faults compiled in (CI checks the release server lacks it).
#[used]
static MARKER: [u8; 29] = *b"msc4140-planted-faults-inside";

macro_rules! faults {
    ($($(#[$doc:meta])* $v:ident = $name:literal,)*) => {
        /// One planted fault.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fault { $($(#[$doc])* $v,)* }
        impl Fault {
            pub const ALL: &'static [Fault] = &[$(Fault::$v,)*];
            /// The snake_case name (tests, docs, `MSC4140_FAULT` of the fuzz target).
            pub const fn name(self) -> &'static str {
                match self { $(Fault::$v => $name,)* }
            }
            pub fn from_name(name: &str) -> Option<Fault> {
                Fault::ALL.iter().copied().find(|f| f.name() == name)
            }
        }
    };
}

faults! {
    /// A redundant `send` on an already sent event stops the timers of the owner's other delayed
    /// events (seen in a deployed implementation).
    RedundantSendStallsOthers = "redundant_send_stalls_others",
    /// A fired event is sent twice, as after a crash between "sent" and "deleted".
    DoubleSend = "double_send",
    /// Of two delayed state events for the same slot due together (within 2 s), only one is sent.
    SlotCollisionDropsOne = "slot_collision_drops_one",
    /// A delayed event whose send-time check fails is dropped without a finalised record.
    LoseFailedSends = "lose_failed_sends",
    /// `/versions` does not advertise `org.matrix.msc4140`.
    NoFeatureFlag = "no_feature_flag",
    /// An over-long delay is refused with `M_INVALID_PARAM` and no `max_delay`.
    WrongMaxDelayError = "wrong_max_delay_error",
    /// No maximum delay at all.
    NoMaxDelay = "no_max_delay",
    /// The outstanding limit answers 429 `M_LIMIT_EXCEEDED` (as Synapse does).
    OutstandingLimitAsRateLimit = "outstanding_limit_as_rate_limit",
    /// Management needs no access token and acts on any user's event; lookups without a token
    /// answer empty lists; scheduling without one is 403 (an unauthenticated-management revision).
    AuthSkipped = "auth_skipped",
    /// Lookups list every user's delayed events.
    ListsEveryone = "lists_everyone",
    /// Timers fire 300 ms before the due time.
    FireEarly = "fire_early",
    /// Timers fire 6 s after the due time.
    FireLate = "fire_late",
    /// The scheduled list is sorted latest first.
    ScheduledDescending = "scheduled_descending",
    /// The finalised list is sorted oldest first.
    FinalisedAscending = "finalised_ascending",
    /// Pagination tokens are offsets, which shift when an event leaves the list.
    OffsetTokens = "offset_tokens",
    /// Another user's state update cancels nothing (SRV-4 missing).
    NoStateUpdateCancel = "no_state_update_cancel",
    /// The state-update cancellation runs asynchronously and loses the race against a timer due
    /// within 2 s (seen in a deployed implementation: the old delayed state then overwrites).
    LateStateUpdateCancel = "late_state_update_cancel",
    /// Scheduling checks the power levels of the event at scheduling time (SRV-2 broken).
    PowerCheckedAtSchedule = "power_checked_at_schedule",
    /// A repeated transaction id schedules again.
    TxnReplayIgnored = "txn_replay_ignored",
    /// Finalised records are forgotten at once (404 to retries).
    RecordsForgotten = "records_forgotten",
    /// No rate limits at all.
    NoRateLimits = "no_rate_limits",
    /// `/sync` never carries finalised events.
    SyncKeyAbsent = "sync_key_absent",
    /// `/sync` repeats every retained finalised event, whatever `since` says.
    SyncIgnoresSince = "sync_ignores_since",
    /// `/sync` ignores the `finalised_events: false` filter.
    SyncFilterIgnored = "sync_filter_ignored",
    /// A missing, unknown or non-string `action` is taken as `restart`.
    LenientAction = "lenient_action",
    /// Zero, negative and fractional delays are taken as the integer part of their magnitude, at
    /// least 1 ms; a delay that is no number at all as 1 ms.
    LenientDelay = "lenient_delay",
    /// A delayed send answers `event_id` besides `delay_id`.
    EventIdOnSchedule = "event_id_on_schedule",
    /// Delay ids are per-user counters (`1`, `2`, ...), so two users get the same ids.
    PerUserDelayIds = "per_user_delay_ids",
    /// An ordinary send (no delay) answers a `delay_id` too.
    OrdinarySendAnswersDelayId = "ordinary_send_answers_delay_id",
    /// `restart` answers 200 and changes nothing.
    RestartIgnored = "restart_ignored",
    /// `cancel` answers 200 but the timer still sends the event.
    CancelIgnored = "cancel_ignored",
    /// Conflicting actions on finalised events answer 200 instead of 409.
    ConflictSucceeds = "conflict_succeeds",
    /// Another user's delay id is 403 `M_FORBIDDEN` (telling it apart from an unknown one).
    OthersIdForbidden = "others_id_forbidden",
    /// A delay id the server could never have issued is 400 `M_INVALID_PARAM` instead of 404.
    UnknownIdInvalid = "unknown_id_invalid",
    /// A `send` action that fails finalises the event (as Synapse does) instead of keeping it.
    FailedSendActionFinalises = "failed_send_action_finalises",
    /// Scheduling into a room the sender left is accepted.
    ScheduleAfterLeaving = "schedule_after_leaving",
    /// Fired events carry the room creator as sender.
    WrongSender = "wrong_sender",
    /// Fired events carry an extra content field.
    ContentChanged = "content_changed",
    /// MSC4140's own error codes are not wrapped on the unstable surface.
    UnwrappedUnstableCodes = "unwrapped_unstable_codes",
    /// The bare unstable list is cut to the page size.
    BareListTruncated = "bare_list_truncated",
    /// The `send` action answers 200 and sends nothing (the feature does not work).
    SendActionNoop = "send_action_noop",
    /// Merged revision: `/messages` shows `unsigned.delay_id` to every member, not the sender only.
    DelayIdForEveryone = "delay_id_for_everyone",
    /// Merged revision: a `delay_ms` that is not a positive integer is taken as 60 s.
    LenientDelayMs = "lenient_delay_ms",
    /// Merged revision: a delay over the maximum answers the seed revision's 400 instead of 403.
    OverMaxIs400 = "over_max_is_400",
    /// Merged revision: the capability is an empty object although limits apply.
    CapabilityWithoutLimits = "capability_without_limits",
    /// Merged revision: guests get the seed revision's 403 on delayed-event endpoints.
    GuestsRefused = "guests_refused",
    /// Merged revision: `Retry-After` at the count limit is rounded down, not up.
    RetryAfterRoundedDown = "retry_after_rounded_down",
    /// With `--data-dir`: at startup, the delayed event sent last before the restart is sent
    /// again (the double send of element-hq/synapse#17326, as clients see it).
    ResendAfterRestart = "resend_after_restart",
    /// A transaction an application service did not acknowledge is retried without its first
    /// finalised delayed event (PSH-4: a record lost while the service was down).
    RetryDropsRecord = "retry_drops_record",
}

/// The faults switched on in a server (tests set them in `Settings::faults`; no flag or file can).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults(u64);

impl Faults {
    pub fn none() -> Faults {
        Faults(0)
    }

    pub fn of(faults: &[Fault]) -> Faults {
        Faults(faults.iter().fold(0, |acc, f| acc | 1 << (*f as u32)))
    }

    pub fn has(self, f: Fault) -> bool {
        self.0 & (1 << (f as u32)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_independent_switches_with_unique_names() {
        assert!(Fault::ALL.len() < 64);
        let mut names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Fault::ALL.len());
        let one = Faults::of(&[Fault::DoubleSend]);
        assert!(one.has(Fault::DoubleSend) && !one.has(Fault::FireLate));
        assert_eq!(Fault::from_name("fire_late"), Some(Fault::FireLate));
        assert!(!MARKER.is_empty());
    }
}
