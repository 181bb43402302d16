//! Every safety (and the liveness) property can fail: each deliberately broken transition is
//! caught by the checker, and the counterexample is the mutant's doing (the correct model accepts
//! the same operations without breaking the property).

use spec_model::checker::properties::{Violation as V, LIVENESS};
use spec_model::checker::run::explore;
use spec_model::checker::{Bounds, CheckState, DelayModel};
use spec_model::op::{DelayParam, DelayRef, Op};
use spec_model::state::Phase;
use spec_model::types::{
    Action, ContentId, DelayId, DeviceId, EventKind, EventType, RoomId, StateKey, UserId,
};
use spec_model::Mutant;
use stateright::Model;
use std::collections::BTreeSet;

fn expectations() -> Vec<(Mutant, Bounds, &'static str)> {
    use Mutant as M;
    let (life, page, sync) = (Bounds::lifecycle(), Bounds::pagination(), Bounds::sync());
    let (restart, lookups) = (Bounds::restart_2026(), Bounds::lookups_2026());
    vec![
        (M::FireEarly, life.clone(), V::NeverEarly.name()),
        (M::RestartFinalised, life.clone(), V::ExactlyOnce.name()),
        (M::ResendOnRetry, life.clone(), V::ExactlyOnce.name()),
        (M::CancelSentSucceeds, life.clone(), V::Retries.name()),
        (M::StateUpdateIgnored, life.clone(), V::OtherSenderCancels.name()),
        (M::SameSenderCancels, life.clone(), V::OnlyOtherSenderCancels.name()),
        (M::NoSendTimeCheck, life.clone(), V::CheckedAtSend.name()),
        (M::DropFailedSend, life.clone(), V::NeverLost.name()),
        (M::WrongSender, life.clone(), V::ContentUnchanged.name()),
        (M::LimitOffByOne, life.clone(), V::OutstandingLimit.name()),
        (M::NoMaxDelay, life.clone(), V::MaxDelay.name()),
        (M::ScheduledByRunningSince, page.clone(), V::ScheduledOrder.name()),
        (M::FinalisedAscending, page.clone(), V::FinalisedOrder.name()),
        (M::ListsEveryone, page.clone(), V::Isolation.name()),
        (M::OffsetTokens, page, V::PaginationWalk.name()),
        (M::SyncIgnoresSince, sync, V::SyncSince.name()),
        (M::RestartStopsTimer, life, LIVENESS),
        (M::FiringIgnoresSendBudget, Bounds::rate_limited(), V::InsertionRefused.name()),
        (M::ServerRestartForgetsRestarts, restart.clone(), V::SurvivesServerRestart.name()),
        (M::OverdueOutOfOrder, restart.clone(), V::OverdueInOrder.name()),
        (M::ResendAfterServerRestart, restart, V::NoResendAfterServerRestart.name()),
        (M::StateUpdateRuleInverted, Bounds::lifecycle_2026(), V::StateUpdateKeeps.name()),
        (M::LookupShowsScheduled, lookups.clone(), V::LookupTruthful.name()),
        (M::CapabilityOmitsLimits, lookups, V::CapabilityLimits.name()),
        (M::RetryAfterRoundedDown, Bounds::lifecycle_2026(), V::RetryAfterNextDue.name()),
        (M::RetryDropsRecord, Bounds::appservice(), V::AppserviceOnceInOrder.name()),
    ]
}

/// The correct model's successor of `state` on a drain path: the first due timer fires, else time
/// passes (after `Drain`, the only steps there are).
fn drain_step(model: &DelayModel, state: &CheckState) -> Option<CheckState> {
    let due = state.spec.ids().find(|id| {
        let d = &state.spec.delayed[id.0 as usize];
        d.is_scheduled() && d.due() <= state.spec.now
    });
    let op = match due {
        Some(delay) => Op::Fire { delay },
        None if state.spec.phase == Phase::Active => Op::Drain,
        None => Op::Advance { ms: 1 },
    };
    model.next_state(state, op)
}

#[test]
fn every_mutant_is_caught_by_its_property() {
    let table = expectations();
    let mutants: BTreeSet<String> = table.iter().map(|(m, _, _)| format!("{m:?}")).collect();
    assert_eq!(mutants.len(), Mutant::ALL.len(), "every mutant is in the table");
    let safety: BTreeSet<&str> = table.iter().map(|(_, _, p)| *p).collect();
    for v in V::ALL {
        assert!(safety.contains(v.name()), "no mutant breaks `{}`", v.name());
    }
    for (mutant, mut bounds, property) in table {
        bounds.config.mutant = Some(mutant);
        let (_, found) = explore(&bounds, 1, Some(BTreeSet::from([property])), false);
        let ops = found
            .into_iter()
            .find(|(name, _, _)| *name == property)
            .and_then(|(_, _, ops)| ops)
            .unwrap_or_else(|| panic!("{mutant:?} not caught by `{property}`"));
        // Replayed on the correct model, the same operations do not break the property: every
        // step the correct model takes keeps it, and a step it refuses (a timer firing early) is
        // the mutant's own.
        bounds.config.mutant = None;
        let model = DelayModel::new(bounds);
        let property_fn = model.properties().into_iter().find(|p| p.name == property).expect("property");
        let mut state = model.init();
        let mut refused = None;
        for op in &ops {
            match model.next_state(&state, *op) {
                Some(next) => state = next,
                None => {
                    refused = Some(*op);
                    break;
                }
            }
            if property != LIVENESS {
                assert!(
                    (property_fn.condition)(&model, &state),
                    "{mutant:?}: the correct model breaks it too"
                );
            }
        }
        if property == LIVENESS {
            // From where the mutant got stuck, the correct model drains: every event finalised.
            let mut steps = 0;
            while !state.drained() {
                state =
                    drain_step(&model, &state).unwrap_or_else(|| panic!("{mutant:?}: correct model stuck"));
                steps += 1;
                assert!(steps < 100, "{mutant:?}: the correct model does not drain either");
            }
        }
        let explained = refused.is_none() || mutant == Mutant::FireEarly;
        assert!(explained, "{mutant:?}: the correct model refuses {refused:?}, which no mutant excuses");
    }
}

/// The check above is not vacuous: the mutant's own trace, continued the same way, never drains.
#[test]
fn the_liveness_mutant_really_never_drains() {
    let mut bounds = Bounds::lifecycle();
    bounds.config.mutant = Some(Mutant::RestartStopsTimer);
    let model = DelayModel::new(bounds);
    let mut state = model.init();
    let restart_trace = [
        Op::Schedule {
            user: UserId(0),
            device: DeviceId(0),
            room: RoomId(0),
            kind: EventKind::state(EventType::RtcMember, StateKey::Key(0)),
            content: ContentId(0),
            delay: DelayParam::Ms(1),
            txn: None,
        },
        Op::Manage { user: UserId(0), delay: DelayRef::Issued(DelayId(0)), action: Action::Restart },
    ];
    for op in restart_trace {
        state = model.next_state(&state, op).expect("enabled");
    }
    for _ in 0..20 {
        match drain_step(&model, &state) {
            Some(next) => state = next,
            None => break,
        }
    }
    assert!(!state.drained(), "the mutant's restarted event must stay scheduled");
}
