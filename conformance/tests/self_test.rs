//! The suite judged against the reference server: everything passes on the real thing (both
//! surfaces, two page sizes), and every deliberate fault of the server is reported as the failure
//! of the checks that should see it. A check no broken server can fail would be a defect.

mod support;

use conformance::{Options, Report, Verdict};
use reference_server::config::Settings;
use reference_server::faults::{Fault, Faults};
use std::collections::BTreeSet;
use support::{assert_failing, ids, run, serve, show, MERGED_ONLY};

/// Every check applies to the reference server.
const NOT_APPLICABLE: &[&str] = &[];

async fn passes_everything(settings: Settings, prefix: &str) {
    let r = run(settings, &["--prefix", prefix, "--max-outstanding", "100"]).await;
    assert!(ids(&r, Verdict::Fail).is_empty() && ids(&r, Verdict::Error).is_empty(), "{}", show(&r));
    let na: BTreeSet<String> = NOT_APPLICABLE.iter().map(|s| s.to_string()).collect();
    assert_eq!(ids(&r, Verdict::NotApplicable), na, "{}", show(&r));
    assert!(r.results.len() >= 55, "{} checks", r.results.len());
    assert_eq!(r.exit_code(&[conformance::Level::Must], false), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_passes_every_check_on_the_stable_surface() {
    passes_everything(Settings::default(), "stable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_passes_every_check_on_the_unstable_surface_with_one_item_pages() {
    let settings = Settings { page_size: 1, discard_returned: true, ..Settings::default() };
    passes_everything(settings, "unstable").await;
}

/// Run with `faults` planted and a short lateness bound (plus `extra` flags); the ids that FAIL.
async fn failing_under(faults: &[Fault], extra: &[&str]) -> (BTreeSet<String>, Report) {
    let settings = Settings { faults: Faults::of(faults), ..Settings::default() };
    let mut args = vec!["--max-lateness-ms", "3000", "--max-outstanding", "100"];
    if !extra.contains(&"--prefix") {
        args.extend(["--prefix", "stable"]);
    }
    args.extend_from_slice(extra);
    let r = run(settings, &args).await;
    (ids(&r, Verdict::Fail), r)
}

/// What a fault needs to be seen: the surface whose names it breaks, `--strict` for a DECIDED
/// point.
fn extra_flags(f: Fault) -> &'static [&'static str] {
    match f {
        Fault::NoFeatureFlag | Fault::UnwrappedUnstableCodes | Fault::BareListTruncated => {
            &["--prefix", "unstable"]
        }
        Fault::ScheduleAfterLeaving => &["--strict"],
        // Its only check is a page walk across a change: with the default unit, the trace's 1 s
        // timers fired before the walk began in one CI run (the fault runs share two cores), and
        // a walk across no change shows nothing. Twice the unit gives the walk room.
        Fault::OffsetTokens => &["--time-scale", "2"],
        // The server retries every 50 ms here: a record missing after 3 s is lost.
        Fault::RetryDropsRecord => &["--appservice-patience-ms", "3000"],
        _ => &[],
    }
}

/// Every planted fault (`reference_server::faults::Fault`), the checks it makes FAIL, and the
/// ones it may make FAIL depending on how a race falls (a timer against actions at the due time,
/// concurrent actions): the failing set must lie between the two. Found by `fault_survey`; the
/// table in docs/conformance.md is generated from it (`the_fault_table_in_the_docs_is_generated`).
#[rustfmt::skip]
const EXPECTED: &[(Fault, &[&str], &[&str])] = &[
    (Fault::RedundantSendStallsOthers, &["race/concurrent-actions"], &[]),
    (Fault::DoubleSend, &["model/lst-3-full-pagination-walk-of-scheduled", "model/lst-6-bare-unstable-list-of-scheduled-events", "model/lst-7-walk-completes-across-a-change", "model/mgt-5-srv-1-restarted-event-sent-at-the-new-due-time", "model/sch-10-repeated-txn-id-returns-the-same-delay-id", "model/sch-3-message-scheduled-delay-id-returned", "model/srv-1-the-timer-sends-at-the-due-time", "model/srv-2-forbidden-when-scheduled-sent-when-allowed-later", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-5-a-message-event-cancels-nothing", "model/srv-5-the-owner-s-own-state-update-cancels-nothing", "race/concurrent-actions", "scripted/mgt-5-restart-postpones-the-send"], &["race/actions-at-the-due-time"]),
    (Fault::SlotCollisionDropsOne, &["model/lst-3-full-pagination-walk-of-scheduled"], &[]),
    (Fault::LoseFailedSends, &["model/mgt-10-failing-send-action-keeps-the-event-scheduled", "model/mgt-2-unknown-action-refused", "model/mgt-5-restart-moves-the-due-time", "model/mgt-7-sec-2-another-user-s-delay-id-is-404", "model/sch-3-state-event-scheduled", "model/sch-7-outstanding-limit-reached", "model/srv-3-power-levels-fail-at-send-time-finalised-with-the-error"], &[]),
    (Fault::NoFeatureFlag, &["control/versions-advertises-msc4140"], &[]),
    (Fault::WrongMaxDelayError, &["control/over-long-delay-refused-with-max-delay"], &[]),
    (Fault::NoMaxDelay, &["control/maximum-delay-at-most-a-month"], &[]),
    (Fault::OutstandingLimitAsRateLimit, &["model/sch-7-outstanding-limit-reached"], &[]),
    (Fault::AuthSkipped, &["auth/finalised-without-token", "auth/manage-unknown-token", "auth/manage-without-token", "auth/schedule-unknown-token", "auth/schedule-without-token", "auth/scheduled-without-token"], &[]),
    (Fault::ListsEveryone, &["input/lists-only-own-events"], &[]),
    (Fault::FireEarly, &["model/lst-3-full-pagination-walk-of-scheduled", "model/lst-6-bare-unstable-list-of-scheduled-events", "model/lst-7-walk-completes-across-a-change", "model/mgt-10-failing-send-action-keeps-the-event-scheduled", "model/mgt-2-unknown-action-refused", "model/mgt-5-restart-moves-the-due-time", "model/mgt-5-srv-1-restarted-event-sent-at-the-new-due-time", "model/mgt-7-sec-2-another-user-s-delay-id-is-404", "model/sch-10-repeated-txn-id-returns-the-same-delay-id", "model/sch-3-message-scheduled-delay-id-returned", "model/sch-3-state-event-scheduled", "model/sch-7-outstanding-limit-reached", "model/srv-1-the-timer-sends-at-the-due-time", "model/srv-2-forbidden-when-scheduled-sent-when-allowed-later", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-5-a-message-event-cancels-nothing", "model/srv-5-the-owner-s-own-state-update-cancels-nothing", "race/actions-at-the-due-time", "race/concurrent-actions", "scripted/mgt-5-restart-postpones-the-send"], &[]),
    (Fault::FireLate, &["model/lst-3-full-pagination-walk-of-scheduled", "model/lst-6-bare-unstable-list-of-scheduled-events", "model/lst-7-walk-completes-across-a-change", "model/mgt-10-failing-send-action-keeps-the-event-scheduled", "model/mgt-2-unknown-action-refused", "model/mgt-5-restart-moves-the-due-time", "model/mgt-5-srv-1-restarted-event-sent-at-the-new-due-time", "model/mgt-7-sec-2-another-user-s-delay-id-is-404", "model/sch-10-repeated-txn-id-returns-the-same-delay-id", "model/sch-3-message-scheduled-delay-id-returned", "model/sch-3-state-event-scheduled", "model/sch-7-outstanding-limit-reached", "model/srv-1-the-timer-sends-at-the-due-time", "model/srv-2-forbidden-when-scheduled-sent-when-allowed-later", "model/srv-3-power-levels-fail-at-send-time-finalised-with-the-error", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-5-a-message-event-cancels-nothing", "model/srv-5-the-owner-s-own-state-update-cancels-nothing", "race/concurrent-actions", "scripted/mgt-5-restart-postpones-the-send"], &[]),
    (Fault::ScheduledDescending, &["model/lst-3-full-pagination-walk-of-scheduled", "model/lst-7-walk-completes-across-a-change"], &[]),
    (Fault::FinalisedAscending, &["model/lst-3-full-pagination-walk-of-finalised", "model/lst-3-full-pagination-walk-of-scheduled", "model/lst-6-bare-unstable-list-of-scheduled-events", "model/lst-7-walk-completes-across-a-change", "model/sch-7-outstanding-limit-reached", "race/concurrent-actions"], &["scripted/psh-1-sync-since-the-token"]),
    (Fault::OffsetTokens, &["model/lst-7-walk-completes-across-a-change"], &[]),
    (Fault::NoStateUpdateCancel, &["model/mgt-8-conflicting-action-on-a-finalised-event-is-409", "model/mgt-8-retrying-the-matching-action-is-200", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-4-another-user-s-state-update-cancels", "scripted/srv-4-cancelled-although-its-owner-may-send-it"], &[]),
    (Fault::LateStateUpdateCancel, &["model/mgt-8-conflicting-action-on-a-finalised-event-is-409", "model/mgt-8-retrying-the-matching-action-is-200", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-4-another-user-s-state-update-cancels", "scripted/srv-4-cancelled-although-its-owner-may-send-it"], &[]),
    (Fault::PowerCheckedAtSchedule, &["model/mgt-10-failing-send-action-keeps-the-event-scheduled", "model/mgt-2-unknown-action-refused", "model/mgt-4-the-cancel-action-cancels-never-sent", "model/mgt-5-restart-moves-the-due-time", "model/mgt-7-sec-2-another-user-s-delay-id-is-404", "model/mgt-8-conflicting-action-on-a-finalised-event-is-409", "model/mgt-8-retrying-the-matching-action-is-200", "model/sch-3-state-event-scheduled", "model/sch-7-outstanding-limit-reached", "model/srv-2-forbidden-when-scheduled-sent-when-allowed-later", "model/srv-3-power-levels-fail-at-send-time-finalised-with-the-error", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-4-another-user-s-state-update-cancels"], &[]),
    (Fault::TxnReplayIgnored, &["model/sch-10-repeated-txn-id-returns-the-same-delay-id"], &[]),
    (Fault::RecordsForgotten, &["model/lst-3-full-pagination-walk-of-finalised", "model/lst-3-full-pagination-walk-of-scheduled", "model/lst-5-psh-3-returned-finalised-record-discarded", "model/lst-6-bare-unstable-list-of-scheduled-events", "model/lst-7-walk-completes-across-a-change", "model/mgt-10-failing-send-action-keeps-the-event-scheduled", "model/mgt-2-unknown-action-refused", "model/mgt-3-the-send-action-sends-at-once", "model/mgt-4-the-cancel-action-cancels-never-sent", "model/mgt-5-restart-moves-the-due-time", "model/mgt-5-srv-1-restarted-event-sent-at-the-new-due-time", "model/mgt-7-sec-2-another-user-s-delay-id-is-404", "model/mgt-8-action-on-a-discarded-record-is-404", "model/mgt-8-conflicting-action-on-a-finalised-event-is-409", "model/mgt-8-retrying-the-matching-action-is-200", "model/psh-1-sync-carries-finalised-events", "model/psh-2-filter-removes-finalised-events", "model/sch-10-repeated-txn-id-returns-the-same-delay-id", "model/sch-3-message-scheduled-delay-id-returned", "model/sch-3-state-event-scheduled", "model/sch-7-outstanding-limit-reached", "model/srv-1-the-timer-sends-at-the-due-time", "model/srv-2-forbidden-when-scheduled-sent-when-allowed-later", "model/srv-3-power-levels-fail-at-send-time-finalised-with-the-error", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-4-another-user-s-state-update-cancels", "model/srv-5-a-message-event-cancels-nothing", "model/srv-5-the-owner-s-own-state-update-cancels-nothing", "race/actions-at-the-due-time", "race/concurrent-actions", "scripted/mgt-5-restart-postpones-the-send", "scripted/psh-1-sync-since-the-token", "scripted/srv-4-cancelled-although-its-owner-may-send-it"], &[]),
    (Fault::NoRateLimits, &["limits/management-is-rate-limited", "limits/scheduling-is-rate-limited"], &[]),
    (Fault::SyncKeyAbsent, &["model/lst-5-psh-3-returned-finalised-record-discarded", "model/mgt-8-action-on-a-discarded-record-is-404", "model/psh-1-sync-carries-finalised-events", "scripted/psh-1-sync-since-the-token"], &[]),
    (Fault::SyncIgnoresSince, &["scripted/psh-1-sync-since-the-token"], &[]),
    (Fault::SyncFilterIgnored, &["model/psh-2-filter-removes-finalised-events"], &[]),
    (Fault::LenientAction, &["input/action-body-array", "input/action-body-not-json", "input/missing-action", "input/numeric-action", "model/mgt-2-unknown-action-refused"], &[]),
    (Fault::LenientDelay, &["input/exponent-delay", "input/fractional-delay", "input/negative-delay", "input/non-numeric-delay", "model/sch-9-zero-delay-refused-with-m-invalid-param"], &[]),
    (Fault::EventIdOnSchedule, &["model/lst-3-full-pagination-walk-of-finalised", "model/lst-3-full-pagination-walk-of-scheduled", "model/lst-5-psh-3-returned-finalised-record-discarded", "model/lst-6-bare-unstable-list-of-scheduled-events", "model/lst-7-walk-completes-across-a-change", "model/mgt-10-failing-send-action-keeps-the-event-scheduled", "model/mgt-2-unknown-action-refused", "model/mgt-3-the-send-action-sends-at-once", "model/mgt-4-the-cancel-action-cancels-never-sent", "model/mgt-5-restart-moves-the-due-time", "model/mgt-5-srv-1-restarted-event-sent-at-the-new-due-time", "model/mgt-7-sec-2-another-user-s-delay-id-is-404", "model/mgt-8-action-on-a-discarded-record-is-404", "model/mgt-8-conflicting-action-on-a-finalised-event-is-409", "model/mgt-8-retrying-the-matching-action-is-200", "model/psh-1-sync-carries-finalised-events", "model/psh-2-filter-removes-finalised-events", "model/sch-10-repeated-txn-id-returns-the-same-delay-id", "model/sch-3-message-scheduled-delay-id-returned", "model/sch-3-state-event-scheduled", "model/sch-7-outstanding-limit-reached", "model/srv-1-the-timer-sends-at-the-due-time", "model/srv-2-forbidden-when-scheduled-sent-when-allowed-later", "model/srv-3-power-levels-fail-at-send-time-finalised-with-the-error", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-4-another-user-s-state-update-cancels", "model/srv-5-a-message-event-cancels-nothing", "model/srv-5-the-owner-s-own-state-update-cancels-nothing", "race/actions-at-the-due-time", "race/concurrent-actions", "scripted/mgt-5-restart-postpones-the-send", "scripted/psh-1-sync-since-the-token", "scripted/srv-4-cancelled-although-its-owner-may-send-it"], &[]),
    (Fault::PerUserDelayIds, &["input/delay-ids-unique", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s"], &[]),
    (Fault::OrdinarySendAnswersDelayId, &["input/no-delay-is-an-ordinary-send"], &[]),
    (Fault::RestartIgnored, &["scripted/mgt-5-restart-postpones-the-send"], &[]),
    (Fault::CancelIgnored, &["limits/scheduling-is-rate-limited", "model/lst-3-full-pagination-walk-of-finalised", "model/lst-3-full-pagination-walk-of-scheduled", "model/lst-5-psh-3-returned-finalised-record-discarded", "model/lst-6-bare-unstable-list-of-scheduled-events", "model/lst-7-walk-completes-across-a-change", "model/mgt-4-the-cancel-action-cancels-never-sent", "model/mgt-8-action-on-a-discarded-record-is-404", "model/psh-1-sync-carries-finalised-events", "model/psh-2-filter-removes-finalised-events", "model/sch-7-outstanding-limit-reached", "scripted/psh-1-sync-since-the-token"], &["race/concurrent-actions"]),
    (Fault::ConflictSucceeds, &["model/mgt-8-conflicting-action-on-a-finalised-event-is-409", "race/actions-at-the-due-time", "race/concurrent-actions"], &[]),
    (Fault::OthersIdForbidden, &["model/mgt-7-sec-2-another-user-s-delay-id-is-404"], &[]),
    (Fault::UnknownIdInvalid, &["model/mgt-7-unknown-delay-id-is-404"], &[]),
    (Fault::FailedSendActionFinalises, &["model/mgt-10-failing-send-action-keeps-the-event-scheduled"], &[]),
    // May: the judge orders finalised lists by the model's timestamps, and a record a timer finalised
    // a few ms later than the judge let it sorts elsewhere on the server's clock (a known judge
    // defect, docs/conformance.md "Limits"; seen in CI on 2026-12-01 under this fault only).
    (Fault::ScheduleAfterLeaving, &["model/sch-11-scheduling-in-a-room-the-user-left-is-refused"], &["model/lst-7-walk-completes-across-a-change"]),
    (Fault::WrongSender, &["model/srv-2-forbidden-when-scheduled-sent-when-allowed-later"], &[]),
    (Fault::ContentChanged, &["model/lst-3-full-pagination-walk-of-scheduled", "model/lst-6-bare-unstable-list-of-scheduled-events", "model/lst-7-walk-completes-across-a-change", "model/mgt-5-srv-1-restarted-event-sent-at-the-new-due-time", "model/sch-10-repeated-txn-id-returns-the-same-delay-id", "model/sch-3-message-scheduled-delay-id-returned", "model/srv-1-the-timer-sends-at-the-due-time", "model/srv-2-forbidden-when-scheduled-sent-when-allowed-later", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-5-a-message-event-cancels-nothing", "model/srv-5-the-owner-s-own-state-update-cancels-nothing", "race/concurrent-actions", "scripted/mgt-5-restart-postpones-the-send"], &["race/actions-at-the-due-time"]),
    (Fault::UnwrappedUnstableCodes, &["control/over-long-delay-refused-with-max-delay", "model/mgt-8-conflicting-action-on-a-finalised-event-is-409", "model/mgt-8-retrying-the-matching-action-is-200", "model/sch-5-delay-above-the-maximum-refused", "model/sch-7-outstanding-limit-reached", "model/srv-4-a-delayed-state-event-that-fires-cancels-another-user-s", "model/srv-4-another-user-s-state-update-cancels", "scripted/srv-4-cancelled-although-its-owner-may-send-it"], &[]),
    (Fault::BareListTruncated, &["model/lst-6-bare-unstable-list-of-scheduled-events"], &[]),
    (Fault::SendActionNoop, &["control/schedule-list-send"], &[]),
    (Fault::RetryDropsRecord, &["appservice/psh-4-finalised-events-pushed-once-in-order"], &[]),
];

async fn assert_fault(f: Fault) {
    let (_, must, may) = EXPECTED.iter().find(|(g, _, _)| *g == f).expect("the fault is in the table");
    let (failed, r) = failing_under(&[f], extra_flags(f)).await;
    // Every check in `must` fails; a further failure is tolerated: under CI's load the judge's
    // ordering of timer-finalised records (docs/conformance.md, Limits) can fail a walk or a
    // list on the faulty server too (seen 2026-12-01 under three different faults). The correct
    // server passing every check is asserted by the tests above.
    assert_failing(f, must, may, true, &failed, &r);
}

fault_test!(redundant_send_stalls_others, RedundantSendStallsOthers);
fault_test!(double_send, DoubleSend);
fault_test!(slot_collision_drops_one, SlotCollisionDropsOne);
fault_test!(lose_failed_sends, LoseFailedSends);
fault_test!(no_feature_flag, NoFeatureFlag);
fault_test!(wrong_max_delay_error, WrongMaxDelayError);
fault_test!(no_max_delay, NoMaxDelay);
fault_test!(outstanding_limit_as_rate_limit, OutstandingLimitAsRateLimit);
fault_test!(auth_skipped, AuthSkipped);
fault_test!(lists_everyone, ListsEveryone);
fault_test!(fire_early, FireEarly);
fault_test!(fire_late, FireLate);
fault_test!(scheduled_descending, ScheduledDescending);
fault_test!(finalised_ascending, FinalisedAscending);
fault_test!(offset_tokens, OffsetTokens);
fault_test!(no_state_update_cancel, NoStateUpdateCancel);
fault_test!(late_state_update_cancel, LateStateUpdateCancel);
fault_test!(power_checked_at_schedule, PowerCheckedAtSchedule);
fault_test!(txn_replay_ignored, TxnReplayIgnored);
fault_test!(records_forgotten, RecordsForgotten);
fault_test!(no_rate_limits, NoRateLimits);
fault_test!(sync_key_absent, SyncKeyAbsent);
fault_test!(sync_ignores_since, SyncIgnoresSince);
fault_test!(sync_filter_ignored, SyncFilterIgnored);
fault_test!(lenient_action, LenientAction);
fault_test!(lenient_delay, LenientDelay);
fault_test!(event_id_on_schedule, EventIdOnSchedule);
fault_test!(per_user_delay_ids, PerUserDelayIds);
fault_test!(ordinary_send_answers_delay_id, OrdinarySendAnswersDelayId);
fault_test!(restart_ignored, RestartIgnored);
fault_test!(cancel_ignored, CancelIgnored);
fault_test!(conflict_succeeds, ConflictSucceeds);
fault_test!(others_id_forbidden, OthersIdForbidden);
fault_test!(unknown_id_invalid, UnknownIdInvalid);
fault_test!(failed_send_action_finalises, FailedSendActionFinalises);
fault_test!(schedule_after_leaving, ScheduleAfterLeaving);
fault_test!(wrong_sender, WrongSender);
fault_test!(content_changed, ContentChanged);
fault_test!(unwrapped_unstable_codes, UnwrappedUnstableCodes);
fault_test!(bare_list_truncated, BareListTruncated);
fault_test!(send_action_noop, SendActionNoop);
fault_test!(retry_drops_record, RetryDropsRecord);

#[test]
fn every_fault_is_in_the_table_and_every_check_fails_under_some_fault() {
    for f in Fault::ALL.iter().filter(|f| !MERGED_ONLY.contains(f)) {
        assert!(EXPECTED.iter().any(|(g, must, _)| g == f && !must.is_empty()), "{f:?}: no check must fail");
    }
    let doc = conformance::witnesses::load().expect("witnesses");
    let mut all: BTreeSet<String> = conformance::checks::all(&doc).iter().map(|c| c.info().id).collect();
    all.extend(
        [
            conformance::checks::control::discovery_info(),
            conformance::checks::control::control_info(),
            conformance::checks::control::max_delay_info(),
            conformance::checks::control::max_delay_shape_info(spec_model::types::Prefix::Stable),
        ]
        .map(|i| i.id),
    );
    let failed: BTreeSet<String> =
        EXPECTED.iter().flat_map(|(_, must, _)| must.iter().map(|s| s.to_string())).collect();
    let never: Vec<&String> = all.difference(&failed).collect();
    assert!(never.is_empty(), "checks no fault makes fail: {never:?}");
    let unknown: Vec<&String> = failed.difference(&all).collect();
    assert!(unknown.is_empty(), "the table names checks the suite does not have: {unknown:?}");
}

/// The table of docs/conformance.md: for each check, the faults that fail it.
fn fault_table() -> String {
    let mut ids: Vec<&str> =
        EXPECTED.iter().flat_map(|(_, m, s)| m.iter().chain(s.iter()).copied()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = String::from("| check | faults that make it fail |\n|---|---|\n");
    for id in ids {
        let mut names: Vec<String> = Vec::new();
        for (f, must, may) in EXPECTED {
            if must.contains(&id) {
                names.push(format!("`{}`", f.name()));
            } else if may.contains(&id) {
                names.push(format!("`{}` (sometimes)", f.name()));
            }
        }
        out.push_str(&format!("| `{id}` | {} |\n", names.join(", ")));
    }
    out
}

#[test]
fn the_fault_table_in_the_docs_is_generated() {
    const BEGIN: &str = "<!-- fault-table:begin (generated by conformance/tests/self_test.rs) -->\n";
    const END: &str = "<!-- fault-table:end -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/conformance.md");
    let doc = std::fs::read_to_string(&path).expect("docs/conformance.md");
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let want = fault_table();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{}{}", &doc[..start], want, &doc[end..])).expect("write docs");
    } else {
        assert_eq!(
            &doc[start..end],
            want,
            "docs/conformance.md fault table is stale: UPDATE_DOCS=1 cargo test -p conformance"
        );
    }
}

/// Prints every fault's failing set (`cargo test -p conformance --test self_test fault_survey --
/// --ignored --nocapture`): how the table below was made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn fault_survey() {
    let all: BTreeSet<String> = run(Settings::default(), &["--max-outstanding", "100"])
        .await
        .results
        .into_iter()
        .map(|r| r.id)
        .collect();
    println!("ALL {all:?}");
    for f in Fault::ALL {
        let extra = extra_flags(*f);
        let (failed, r) = failing_under(&[*f], extra).await;
        println!("{:?} {extra:?} exit {}: {failed:?}", f, r.exit_code(&[conformance::Level::Must], false));
    }
}

/// A homeserver without MSC4140: only `/versions`, without the feature flag.
async fn serve_without_the_feature() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let versions = axum::Json(serde_json::json!({"versions": ["v1.11"], "unstable_features": {}}));
    let app = axum::Router::new()
        .route("/_matrix/client/versions", axum::routing::get(move || async move { versions }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_feature_gets_no_pass_at_all() {
    let url = serve_without_the_feature().await;
    let opts = Options::for_server(&url);
    let r = conformance::runner::run(opts).await.expect("the suite runs");
    assert!(r.results.len() >= 55);
    assert!(r.results.iter().all(|c| c.verdict == Verdict::NotApplicable), "{}", show(&r));
    // Nothing was judged: a CI that forgot to enable the feature must not go green.
    let every_level = conformance::Level::ALL;
    assert_eq!(r.exit_code(&every_level, false), 3, "{}", show(&r));
    assert_eq!(r.exit_code(&every_level, true), 0, "--allow-not-applicable");
    // Forcing the prefix: the positive control fails and nothing else counts.
    let mut opts = Options::for_server(&url);
    opts.prefix = conformance::options::PrefixChoice::Unstable;
    let r = conformance::runner::run(opts).await.expect("the suite runs");
    assert_eq!(ids(&r, Verdict::Pass), BTreeSet::new(), "{}", show(&r));
    assert_eq!(
        ids(&r, Verdict::Fail),
        BTreeSet::from(["control/schedule-list-send".to_string()]),
        "{}",
        show(&r)
    );
    assert_eq!(r.exit_code(&[conformance::Level::Must], false), 1, "{}", show(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_provisioned_users_from_a_file_work_too() {
    let url = serve(Settings::default()).await;
    let http = reqwest::Client::new();
    let mut users = Vec::new();
    for i in 0..4 {
        let body = serde_json::json!({"username": format!("pool{i}"), "password": "pw", "auth": {"type": "m.login.dummy"}});
        let r: serde_json::Value = http
            .post(format!("{url}/_matrix/client/v3/register"))
            .json(&body)
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        users.push(serde_json::json!({"user_id": r["user_id"], "access_token": r["access_token"]}));
    }
    let file = std::env::temp_dir().join(format!("msc4140-users-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_string(&users).expect("json")).expect("write users file");
    let path = file.to_string_lossy().to_string();
    let opts = <Options as clap::Parser>::parse_from([
        "msc4140-conformance",
        "--homeserver",
        &url,
        "--users",
        &path,
        "--quiet",
        "--max-outstanding",
        "100",
        "--skip",
        "limits/",
    ]);
    // Twice: the second run meets the first one's history (finalised records on every page).
    for _ in 0..2 {
        let r = conformance::runner::run(opts.clone()).await.expect("the suite runs");
        assert!(ids(&r, Verdict::Fail).is_empty() && ids(&r, Verdict::Error).is_empty(), "{}", show(&r));
        assert_eq!(r.exit_code(&conformance::Level::ALL, false), 0, "{}", show(&r));
    }
    let _ = std::fs::remove_file(&file);
}
