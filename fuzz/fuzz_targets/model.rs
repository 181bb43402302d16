#![no_main]
//! Arbitrary operations into spec-model alone, checked by its own monitor.
use libfuzzer_sys::fuzz_target;
use msc4140_testkit::fuzzing::{model, FuzzOp};

fuzz_target!(|ops: Vec<FuzzOp>| {
    if let Err(e) = model(&ops) {
        panic!("{e}");
    }
});
