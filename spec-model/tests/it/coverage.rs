//! Every requirement that concerns semantics is asserted by a safety or liveness property or by a
//! test function of this crate; `sometimes` properties only show a behaviour is reachable and are
//! listed apart. The table in docs/model.md is generated from the code (run with `UPDATE_DOCS=1`
//! to rewrite it; otherwise a stale table fails this test).

use spec_model::checker::properties::{Violation, Witness, LIVENESS};
use spec_model::requirements::{catalogue_of, citations, in_catalogue, semantic_ids_of, surface_only};
use spec_model::Revision;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Test functions of this crate by the ids their citations name for `revision`; a citation that
/// is not attached to a test, or says nothing of what it catches, fails here.
fn tests_by_id(revision: Revision) -> BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    files.sort();
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        let found = citations(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for c in found.into_iter().filter(|c| c.revisions.contains(&revision)) {
            for id in c.ids {
                let tests = by_id.entry(id).or_default();
                if !tests.contains(&c.test) {
                    tests.push(c.test.clone());
                }
            }
        }
    }
    by_id
}

/// Property names by the ids of `revision`'s catalogue they start with.
fn by_id(
    revision: Revision,
    names: impl Iterator<Item = &'static str>,
) -> BTreeMap<String, Vec<&'static str>> {
    let mut by_id: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for name in names {
        let head = name.split(' ').next().unwrap_or("");
        for id in head.split('/').filter(|id| in_catalogue(revision, id)) {
            by_id.entry(id.to_string()).or_default().push(name);
        }
    }
    by_id
}

/// Safety (`always`) and liveness (`eventually`) properties of `revision`: they assert.
fn asserting_properties(revision: Revision) -> BTreeMap<String, Vec<&'static str>> {
    by_id(revision, Violation::of(revision).map(|v| v.name()).chain([LIVENESS]))
}

/// `sometimes` properties: a behaviour is reachable; they assert nothing of other paths.
fn reachability_properties(revision: Revision) -> BTreeMap<String, Vec<&'static str>> {
    by_id(revision, Witness::of(revision).map(|w| w.name()))
}

fn table(revision: Revision) -> String {
    let asserted = asserting_properties(revision);
    let reachable = reachability_properties(revision);
    let tests = tests_by_id(revision);
    let mut out = String::from(
        "| id | level | asserted by properties | asserted by model tests | reachable (witnesses) |\n|---|---|---|---|---|\n",
    );
    for r in catalogue_of(revision) {
        let p = asserted.get(&r.id).map(|v| v.join("; ")).unwrap_or_default();
        let w = reachable.get(&r.id).map(|v| v.join("; ")).unwrap_or_default();
        let t = tests.get(&r.id).map(|v| v.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "));
        let t = match surface_only(revision).iter().find(|(id, _)| *id == r.id) {
            Some((_, why)) => format!("outside the model: {why}"),
            None => t.unwrap_or_default(),
        };
        out.push_str(&format!("| {} | {} | {} | {} | {} |\n", r.id, r.level, p, t, w));
    }
    out
}

/// Every id a property name or a citation holds is in a catalogue it may name.
#[test]
fn every_cited_id_is_in_its_catalogue() {
    let names = Violation::ALL
        .iter()
        .map(|v| v.name())
        .chain(Witness::ALL.iter().map(|w| w.name()))
        .chain([LIVENESS]);
    for name in names {
        for id in name.split(' ').next().unwrap_or("").split('/') {
            assert!(
                Revision::ALL.iter().any(|r| in_catalogue(*r, id)),
                "`{id}` of `{name}` is in no catalogue"
            );
        }
    }
    for revision in Revision::ALL {
        for id in tests_by_id(revision).keys() {
            assert!(
                in_catalogue(revision, id),
                "a test cites `{id}` for {revision}, whose catalogue lacks it"
            );
        }
        // A property of this revision names at least one of its requirements.
        for name in Violation::of(revision).map(|v| v.name()).chain(Witness::of(revision).map(|w| w.name())) {
            let ids: Vec<&str> = name.split(' ').next().unwrap_or("").split('/').collect();
            let named = ids.iter().any(|id| in_catalogue(revision, id));
            assert!(
                named || UNCATALOGUED.iter().any(|(n, _)| *n == name),
                "`{name}` names no {revision} requirement"
            );
        }
    }
}

/// Behaviours the model keeps in a revision whose catalogue has no id for them, with the reason.
const UNCATALOGUED: &[(&str, &str)] = &[(
    "SCH-11 scheduling in a room the user left is refused",
    "the merged text schedules with \"path parameters as for /send\", whose membership rule applies; its catalogue has no id for it",
)];

#[test]
fn every_semantic_requirement_is_asserted_by_a_property_or_a_test() {
    for revision in Revision::ALL {
        let asserted = asserting_properties(revision);
        let tests = tests_by_id(revision);
        let unasserted: Vec<String> = semantic_ids_of(revision)
            .into_iter()
            .filter(|id| !asserted.contains_key(id) && !tests.contains_key(id))
            .collect();
        assert!(
            unasserted.is_empty(),
            "{revision}: requirements no property or test asserts: {unasserted:?}"
        );
    }
}

#[test]
fn the_vendored_catalogues_match_the_shared_ones() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec");
    for (file, vendored) in [
        ("REQUIREMENTS.md", spec_model::requirements::CATALOGUE),
        ("REQUIREMENTS-rev-2026-07-10.md", spec_model::requirements::CATALOGUE_2026),
    ] {
        if let Ok(text) = std::fs::read_to_string(shared.join(file)) {
            assert_eq!(text, vendored, "spec/{file} is stale: copy it again");
        }
    }
}

/// Replace (with `UPDATE_DOCS=1`) or check the generated section between `begin` and `end`.
pub fn generated_section(doc: &Path, begin: &str, end: &str, want: &str) {
    let text = std::fs::read_to_string(doc).expect("doc");
    let start = text.find(begin).unwrap_or_else(|| panic!("begin marker {begin:?}")) + begin.len();
    let stop = start + text[start..].find(end).expect("end marker");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{}{}", &text[..start], want, &text[stop..]);
        std::fs::write(doc, updated).expect("write doc");
    } else {
        assert_eq!(
            &text[start..stop],
            want,
            "{} section is stale: run UPDATE_DOCS=1 cargo test",
            doc.display()
        );
    }
}

#[test]
fn the_docs_tables_are_generated_from_the_code() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/model.md");
    generated_section(
        &doc,
        "<!-- requirements-table:begin (generated by tests/it/coverage.rs) -->\n",
        "<!-- requirements-table:end -->",
        &table(Revision::Rev2025_07_09),
    );
    generated_section(
        &doc,
        "<!-- requirements-table-2026:begin (generated by tests/it/coverage.rs) -->\n",
        "<!-- requirements-table-2026:end -->",
        &table(Revision::Rev2026_07_10),
    );
}
