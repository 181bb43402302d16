#![no_main]
//! The hand-written parsers: delay ids, pagination and sync tokens, rate windows, the config file.
use libfuzzer_sys::fuzz_target;
use msc4140_testkit::fuzzing::{parsers, ParserInput};

fuzz_target!(|input: ParserInput| {
    if let Err(e) = parsers(&input) {
        panic!("{e}");
    }
});
