//! The correct model: every property passes in every configuration, the explored state spaces keep
//! their pinned sizes (an accidental change to the model shows up as a changed number), and the
//! shortest witness traces are pinned as a snapshot.

use spec_model::checker::properties::{Violation, Witness};
use spec_model::checker::run::check;
use spec_model::checker::witness::{shortest_witnesses, to_json};
use spec_model::checker::Bounds;
use spec_model::Revision;

fn passes_with_pinned_counts(revision: Revision) -> Vec<(&'static str, usize)> {
    let report = check(&Bounds::suite(revision), 1);
    let failing: Vec<&str> = report.verdicts.iter().filter(|v| !v.pass).map(|v| v.name).collect();
    assert!(failing.is_empty(), "{revision}: failing: {failing:?}");
    let expected = Violation::of(revision).count() + Witness::of(revision).count() + 1;
    assert_eq!(report.verdicts.len(), expected);
    report.configs.iter().map(|c| (c.name, c.unique)).collect()
}

#[test]
fn the_correct_model_passes_every_property_with_pinned_state_counts() {
    insta::assert_debug_snapshot!("unique_state_counts", passes_with_pinned_counts(Revision::Rev2025_07_09));
}

#[test]
fn the_merged_revision_passes_every_property_with_pinned_state_counts() {
    insta::assert_debug_snapshot!(
        "unique_state_counts_2026",
        passes_with_pinned_counts(Revision::Rev2026_07_10)
    );
}

fn witnesses(revision: Revision) -> serde_json::Value {
    let found = shortest_witnesses(&Bounds::suite(revision));
    let missing: Vec<&str> = found.iter().filter(|(_, d)| d.is_none()).map(|(n, _)| *n).collect();
    assert!(missing.is_empty(), "{revision}: no witness for {missing:?}");
    to_json(revision, &found)
}

#[test]
fn shortest_witness_traces() {
    insta::assert_json_snapshot!("witnesses", witnesses(Revision::Rev2025_07_09));
}

#[test]
fn shortest_witness_traces_of_the_merged_revision() {
    insta::assert_json_snapshot!("witnesses_2026", witnesses(Revision::Rev2026_07_10));
}
