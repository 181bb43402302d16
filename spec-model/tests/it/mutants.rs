//! Every safety (and the liveness) property can fail: each deliberately broken transition is
//! caught by the checker, and the counterexample is the mutant's doing (the correct model accepts
//! the same operations without breaking the property).

use spec_model::checker::properties::{Violation as V, LIVENESS};
use spec_model::checker::run::explore;
use spec_model::checker::{Bounds, DelayModel};
use spec_model::Mutant;
use stateright::Model;
use std::collections::BTreeSet;

fn expectations() -> Vec<(Mutant, Bounds, &'static str)> {
    use Mutant as M;
    let (life, page, sync) = (Bounds::lifecycle(), Bounds::pagination(), Bounds::sync());
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
    ]
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
        // Replayed on the correct model, the same operations do not break the property.
        bounds.config.mutant = None;
        let model = DelayModel::new(bounds);
        let mut state = model.init();
        let mut replayed = true;
        for op in &ops {
            match model.next_state(&state, *op) {
                Some(next) => state = next,
                None => {
                    replayed = false;
                    break;
                }
            }
        }
        let property_fn = model.properties().into_iter().find(|p| p.name == property).expect("property");
        if replayed && property != LIVENESS {
            assert!((property_fn.condition)(&model, &state), "{mutant:?}: the correct model breaks it too");
        }
    }
}
