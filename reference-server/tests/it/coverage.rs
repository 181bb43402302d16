//! Every requirement the server implements is asserted by a test of this crate: a test function
//! whose `// covers:` citation names it and says what fault it would catch. The citation rules are
//! `spec_model::requirements::citations`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Out of the server's scope: application services (PSH-4).
const NOT_IMPLEMENTED: &[&str] = &["PSH-4"];

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

fn covered() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let mut ids = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        let found =
            spec_model::requirements::citations(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        ids.extend(found.into_iter().flat_map(|c| c.ids));
    }
    ids
}

#[test]
fn every_implemented_requirement_has_an_asserting_test() {
    let covered = covered();
    let all: Vec<String> = spec_model::requirements::catalogue().into_iter().map(|r| r.id).collect();
    let missing: Vec<&String> =
        all.iter().filter(|id| !NOT_IMPLEMENTED.contains(&id.as_str()) && !covered.contains(*id)).collect();
    assert!(missing.is_empty(), "requirements without a server test: {missing:?}");
    let unknown: Vec<&String> = covered.iter().filter(|id| !all.contains(id)).collect();
    assert!(unknown.is_empty(), "`covers:` names ids the catalogue does not have: {unknown:?}");
}
