//! The correct model: every property passes in every configuration, the explored state spaces keep
//! their pinned sizes (an accidental change to the model shows up as a changed number), and the
//! shortest witness traces are pinned as a snapshot.

use spec_model::checker::properties::{Violation, Witness};
use spec_model::checker::run::check;
use spec_model::checker::witness::{shortest_witnesses, to_json};
use spec_model::checker::Bounds;

#[test]
fn the_correct_model_passes_every_property_with_pinned_state_counts() {
    let report = check(&Bounds::suite(), 1);
    let failing: Vec<&str> = report.verdicts.iter().filter(|v| !v.pass).map(|v| v.name).collect();
    assert!(failing.is_empty(), "failing: {failing:?}");
    assert_eq!(report.verdicts.len(), Violation::ALL.len() + Witness::ALL.len() + 1);
    let counts: Vec<(&str, usize)> = report.configs.iter().map(|c| (c.name, c.unique)).collect();
    insta::assert_debug_snapshot!("unique_state_counts", counts);
}

#[test]
fn shortest_witness_traces() {
    let found = shortest_witnesses(&Bounds::suite());
    let missing: Vec<&str> = found.iter().filter(|(_, d)| d.is_none()).map(|(n, _)| *n).collect();
    assert!(missing.is_empty(), "no witness for {missing:?}");
    insta::assert_json_snapshot!("witnesses", to_json(&found));
}
