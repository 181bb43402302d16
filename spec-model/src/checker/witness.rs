//! Shortest witness traces of the `sometimes` properties, as JSON for the conformance suite.
//!
//! stateright 0.31's BFS overwrites a property's discovery with every later state that satisfies
//! it, so one full run does not yield shortest paths. Iterative deepening does: at the first depth
//! bound where a property is discovered, every satisfying state has the same (minimal) depth, and
//! single-threaded BFS makes the choice among them deterministic.

use super::bounds::Bounds;
use super::model::DelayModel;
use super::properties::Witness;
use super::run::{describe_steps, explore, Discovery};
use crate::render;
use crate::revision::Revision;
use serde_json::{json, Value};
use stateright::{Checker, HasDiscoveries, Model};
use std::collections::{BTreeMap, BTreeSet};

/// For every `sometimes` property of the suite's revision, its shortest witness in the first
/// configuration of `suite` that has one (`None` when no configuration does).
pub fn shortest_witnesses(suite: &[Bounds]) -> BTreeMap<&'static str, Option<Discovery>> {
    let revision = suite.first().map_or(Revision::default(), |b| b.config.revision);
    shortest(suite, Witness::of(revision).map(|w| w.name()))
}

/// For each named property, its shortest discovery (witness or counterexample) in the first
/// configuration of `suite` that has one. One exhaustive run per configuration tells which
/// properties it can discover at all; the deepening then stops as soon as those are found.
pub fn shortest(
    suite: &[Bounds],
    names: impl IntoIterator<Item = &'static str>,
) -> BTreeMap<&'static str, Option<Discovery>> {
    let mut found: BTreeMap<&'static str, Option<Discovery>> = names.into_iter().map(|n| (n, None)).collect();
    for bounds in suite {
        let missing: BTreeSet<&'static str> =
            found.iter().filter(|(_, d)| d.is_none()).map(|(n, _)| *n).collect();
        if missing.is_empty() {
            break;
        }
        let (_, all) = explore(bounds, 1, Some(missing.clone()), true);
        let mut wanted: BTreeSet<&'static str> = all
            .into_iter()
            .filter(|(n, _, d)| d.is_some() && missing.contains(n))
            .map(|(n, _, _)| n)
            .collect();
        for depth in 2.. {
            if wanted.is_empty() {
                break;
            }
            let checker = DelayModel::new(bounds.clone())
                .checker()
                .target_max_depth(depth)
                .finish_when(HasDiscoveries::AllOf(wanted.clone()))
                .spawn_bfs()
                .join();
            let mut discoveries = checker.discoveries();
            wanted.retain(|name| match discoveries.remove(name) {
                Some(path) => {
                    let ops = path.into_actions();
                    found.insert(name, Some(Discovery { config: bounds.name, bounds: bounds.clone(), ops }));
                    false
                }
                None => true,
            });
        }
    }
    found
}

/// The JSON document of `spec-model witnesses --json --revision R`. A property's `requirements`
/// are the ids of its name that `revision`'s catalogue holds.
pub fn to_json(revision: Revision, found: &BTreeMap<&'static str, Option<Discovery>>) -> Value {
    let mut configurations = BTreeMap::new();
    let witnesses: Vec<Value> = Witness::of(revision)
        .map(|w| {
            let ids = w.requirement_ids_in(revision);
            let Some(Some(d)) = found.get(w.name()) else {
                return json!({
                    "property": w.name(),
                    "title": w.title_in(revision),
                    "requirements": ids,
                    "witness": null,
                });
            };
            configurations.insert(d.config, json!(d.bounds.config));
            let steps: Vec<Value> = describe_steps(d)
                .into_iter()
                .map(|(op, expect)| {
                    json!({ "op": op, "request": render::request(&d.bounds.config, &op), "expect": expect })
                })
                .collect();
            json!({
                "property": w.name(),
                "title": w.title_in(revision),
                "requirements": ids,
                "configuration": d.config,
                "steps": steps,
            })
        })
        .collect();
    json!({
        "profile": revision.profile(),
        "configurations": configurations,
        "witnesses": witnesses,
    })
}
