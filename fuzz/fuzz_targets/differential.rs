#![no_main]
//! Arbitrary model operations on spec-model and on the server, in either revision and on either
//! surface (the first byte, see `fuzzing::surface`); `MSC4140_FAULT=<switch>` plants a deliberate
//! bug to show the target finds it.
use libfuzzer_sys::fuzz_target;
use msc4140_testkit::fuzzing::{differential_with, fault_from_env, FuzzOp};

fuzz_target!(|input: (u8, Vec<FuzzOp>)| {
    if let Err(e) = differential_with(&input.1, input.0, fault_from_env()) {
        panic!("{e}");
    }
});
