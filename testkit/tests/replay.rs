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

/// Run every file of `target` through its check; an undecodable file is a failure (it would test
/// nothing). Prints how many inputs ran (`cargo test -- --nocapture` shows it).
fn replay<T: for<'a> Arbitrary<'a>>(target: &str, check: impl Fn(&T) -> Result<(), String>) -> usize {
    let files = files(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let input = T::arbitrary_take_rest(Unstructured::new(&bytes))
            .unwrap_or_else(|e| panic!("{}: undecodable ({e})", path.display()));
        if let Err(e) = check(&input) {
            panic!("{}: {e}", path.display());
        }
    }
    println!("replayed {} {target} inputs, none undecodable", files.len());
    files.len()
}

#[test]
fn http_request_corpus() {
    assert!(replay::<HttpRequest>("http_request", fuzzing::http_request) > 0);
}

#[test]
fn differential_corpus() {
    let n = replay::<(u8, Vec<FuzzOp>)>("differential", |(flags, ops)| fuzzing::differential(ops, *flags));
    assert!(n > 0);
}

#[test]
fn model_corpus() {
    assert!(replay::<Vec<FuzzOp>>("model", |ops| fuzzing::model(ops)) > 0);
}

#[test]
fn parsers_corpus() {
    assert!(replay::<ParserInput>("parsers", fuzzing::parsers) > 0);
}
