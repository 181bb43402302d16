//! Every requirement the server implements is asserted by a test of this crate: a test function
//! whose `// covers:` citation names it and says what fault it would catch. The citation rules are
//! `spec_model::requirements::citations`.

use spec_model::requirements::catalogue_of;
use spec_model::Revision;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The seed revision's requirements out of the server's scope: none since application services
/// (PSH-4) came.
const NOT_IMPLEMENTED: &[&str] = &[];

/// The merged revision's MAYs the server does not take: SCH-19 (it adds no time) and SRV-15
/// (timestamp massaging by application services: `?ts=` is not read).
const NOT_YET_2026: &[&str] = &["SCH-19", "SRV-15"];

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

/// Every id the crate's tests cite, per revision they name.
fn covered() -> BTreeMap<Revision, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let mut ids: BTreeMap<Revision, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        let found =
            spec_model::requirements::citations(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for c in found {
            for r in &c.revisions {
                ids.entry(*r).or_default().extend(c.ids.iter().cloned());
            }
        }
    }
    ids
}

#[test]
fn every_implemented_requirement_has_an_asserting_test() {
    let covered = covered();
    for revision in Revision::ALL {
        let none = BTreeSet::new();
        let cited = covered.get(&revision).unwrap_or(&none);
        let all: Vec<String> = catalogue_of(revision).into_iter().map(|r| r.id).collect();
        let exempt = match revision {
            Revision::Rev2025_07_09 => NOT_IMPLEMENTED,
            Revision::Rev2026_07_10 => NOT_YET_2026,
        };
        let missing: Vec<&String> =
            all.iter().filter(|id| !exempt.contains(&id.as_str()) && !cited.contains(*id)).collect();
        assert!(missing.is_empty(), "{revision}: requirements without a server test: {missing:?}");
        let unknown: Vec<&String> = cited.iter().filter(|id| !all.contains(id)).collect();
        assert!(
            unknown.is_empty(),
            "{revision}: `covers:` names ids its catalogue does not have: {unknown:?}"
        );
        let stale: Vec<&&str> = exempt.iter().filter(|id| cited.contains(**id)).collect();
        assert!(stale.is_empty(), "{revision}: tested now, remove from the exemptions: {stale:?}");
    }
}
