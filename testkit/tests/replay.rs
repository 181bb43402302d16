//! Replays every committed fuzz corpus and regression file through the same code the fuzz
//! targets run, decoding each exactly as libFuzzer does (`arbitrary_take_rest`), so CI re-checks
//! them on stable Rust every time.

use arbitrary::{Arbitrary, Unstructured};
use msc4140_testkit::fuzzing::{self, FuzzOp, HttpRequest, ParserInput};
use std::path::{Path, PathBuf};

fn files(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) {
            let hidden =
                |p: &PathBuf| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
            out.extend(
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && !hidden(p)),
            );
        }
    }
    out.sort();
    out
}

fn replay<T: for<'a> Arbitrary<'a>>(target: &str, check: impl Fn(&T) -> Result<(), String>) {
    let files = files(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Inputs the target would reject before running are skipped by libFuzzer too.
        let Ok(input) = T::arbitrary_take_rest(Unstructured::new(&bytes)) else { continue };
        if let Err(e) = check(&input) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn http_request_corpus() {
    replay::<HttpRequest>("http_request", fuzzing::http_request);
}

#[test]
fn differential_corpus() {
    replay::<(bool, Vec<FuzzOp>)>("differential", |(unstable, ops)| {
        fuzzing::differential(ops, *unstable, Default::default())
    });
}

#[test]
fn model_corpus() {
    replay::<Vec<FuzzOp>>("model", |ops| fuzzing::model(ops));
}

#[test]
fn parsers_corpus() {
    replay::<ParserInput>("parsers", fuzzing::parsers);
}
