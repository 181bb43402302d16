//! The committed seed corpora (`fuzz/corpus/<target>/`) are meaningful inputs: typed values
//! encoded by `msc4140_testkit::seeds`, each decoding (as libFuzzer's `arbitrary_take_rest`
//! does) into exactly the value it was made from. `UPDATE_CORPUS=1 cargo test -p msc4140-testkit
//! --test seed_corpus` rewrites them; otherwise a stale corpus fails here.

use arbitrary::{Arbitrary, Unstructured};
use msc4140_testkit::fuzzing::{FuzzOp, HttpRequest, ParserInput};
use msc4140_testkit::seeds;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const WITNESSES: &str = include_str!("../../conformance/witnesses.json");
const WITNESSES_2026: &str = include_str!("../../conformance/witnesses-2026-07-10.json");

/// Both revisions' sequences: the seed revision's named as before, the merged one's `merged-...`.
fn sequences() -> Vec<(String, Vec<FuzzOp>)> {
    let mut all = seeds::op_sequences(WITNESSES, "", 0x9E37_79B9_7F4A_7C15).expect("witnesses.json");
    all.extend(
        seeds::op_sequences(WITNESSES_2026, "merged-", 0x2026_0710_C0FF_EE11)
            .expect("witnesses-2026-07-10.json"),
    );
    all
}

fn decoded<T: for<'a> Arbitrary<'a> + std::fmt::Debug>(bytes: &[u8]) -> String {
    match T::arbitrary_take_rest(Unstructured::new(bytes)) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("undecodable: {e}"),
    }
}

/// A seed file: its name, its bytes, and the value it must decode to (as `Debug`).
type Seed = (String, Vec<u8>, String);

/// Every seed file per target.
fn generated() -> BTreeMap<&'static str, Vec<Seed>> {
    let mut out: BTreeMap<&'static str, Vec<Seed>> = BTreeMap::new();
    for (name, ops) in &sequences() {
        // Alternate the surfaces by the number in the name (`witness-07-...`, `random-07`), so
        // that a new witness does not flip the surface of every random seed; `merged-` seeds run
        // on the merged revision (`fuzzing::surface`).
        let number: u32 = name.split('-').find_map(|n| n.parse().ok()).unwrap_or(0);
        let flags = u8::from(number % 2 == 1) | if name.starts_with("merged-") { 2 } else { 0 };
        out.entry("differential").or_default().push((
            name.clone(),
            seeds::differential_input(flags, ops),
            format!("{:?}", (flags, ops)),
        ));
        out.entry("model").or_default().push((name.clone(), seeds::model_input(ops), format!("{ops:?}")));
    }
    for (name, req) in seeds::http_requests() {
        out.entry("http_request").or_default().push((
            name,
            seeds::http_request_input(&req),
            format!("{req:?}"),
        ));
    }
    for (name, p) in seeds::parser_inputs() {
        out.entry("parsers").or_default().push((name, seeds::parser_input(&p), format!("{p:?}")));
    }
    out
}

#[test]
fn every_seed_decodes_to_exactly_the_value_it_encodes() {
    for (target, files) in generated() {
        for (name, bytes, want) in files {
            let got = match target {
                "differential" => decoded::<(u8, Vec<FuzzOp>)>(&bytes),
                "model" => decoded::<Vec<FuzzOp>>(&bytes),
                "http_request" => decoded::<HttpRequest>(&bytes),
                _ => decoded::<ParserInput>(&bytes),
            };
            assert_eq!(got, want, "{target}/{name}");
        }
    }
}

#[test]
fn the_seeds_reach_every_operation_and_parser() {
    let sequences = sequences();
    let total: usize = sequences.iter().map(|(_, ops)| ops.len()).sum();
    let mean = total as f64 / sequences.len() as f64;
    assert!(mean >= 8.0, "differential seeds average {mean:.1} operations");
    let kinds: BTreeSet<String> = sequences
        .iter()
        .flat_map(|(_, ops)| {
            ops.iter().map(|o| format!("{o:?}").split([' ', '{']).next().unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(kinds.len(), 15, "operation kinds seen: {kinds:?}");
    let parsers: BTreeSet<String> = seeds::parser_inputs()
        .iter()
        .map(|(_, p)| format!("{p:?}").split('(').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(parsers.len(), 5, "{parsers:?}");
    let methods: BTreeSet<u8> = seeds::http_requests().iter().map(|(_, r)| r.method).collect();
    assert!(methods.len() >= 4, "{methods:?}");
}

#[test]
fn the_committed_corpus_is_the_generated_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let update = std::env::var_os("UPDATE_CORPUS").is_some();
    for (target, files) in generated() {
        let dir = root.join(target);
        if update {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("corpus dir");
            for (name, bytes, _) in &files {
                std::fs::write(dir.join(name), bytes).expect("write seed");
            }
            continue;
        }
        let mut committed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        committed.sort();
        let mut names: Vec<String> = files.iter().map(|(n, _, _)| n.clone()).collect();
        names.sort();
        assert_eq!(
            committed, names,
            "fuzz/corpus/{target} is stale: UPDATE_CORPUS=1 cargo test -p msc4140-testkit --test seed_corpus"
        );
        for (name, bytes, _) in files {
            let on_disk = std::fs::read(dir.join(&name)).expect("seed");
            assert_eq!(on_disk, bytes, "fuzz/corpus/{target}/{name} is stale");
        }
    }
}
