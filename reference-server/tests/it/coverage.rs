//! Every requirement the server implements is named by some test here (`covers:` lines).

const SOURCES: &[(&str, &str)] = &[
    ("bad_input.rs", include_str!("bad_input.rs")),
    ("lookups.rs", include_str!("lookups.rs")),
    ("managing.rs", include_str!("managing.rs")),
    ("push.rs", include_str!("push.rs")),
    ("scheduling.rs", include_str!("scheduling.rs")),
    ("sending.rs", include_str!("sending.rs")),
    ("unstable.rs", include_str!("unstable.rs")),
];

/// Out of the server's scope: application services (PSH-4).
const NOT_IMPLEMENTED: &[&str] = &["PSH-4"];

fn covered() -> std::collections::BTreeSet<String> {
    SOURCES
        .iter()
        .flat_map(|(_, text)| text.lines())
        .filter_map(|l| l.trim().strip_prefix("// covers:"))
        .flat_map(|ids| ids.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn every_implemented_requirement_has_an_http_test() {
    let covered = covered();
    let all: Vec<String> = spec_model::requirements::catalogue().into_iter().map(|r| r.id).collect();
    let missing: Vec<&String> =
        all.iter().filter(|id| !NOT_IMPLEMENTED.contains(&id.as_str()) && !covered.contains(*id)).collect();
    assert!(missing.is_empty(), "requirements without an HTTP test: {missing:?}");
    let unknown: Vec<&String> = covered.iter().filter(|id| !all.contains(id)).collect();
    assert!(unknown.is_empty(), "`covers:` names ids the catalogue does not have: {unknown:?}");
}
