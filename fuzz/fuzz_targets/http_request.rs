#![no_main]
//! An arbitrary request into the reference server's router (see `msc4140_testkit::fuzzing`).
use libfuzzer_sys::fuzz_target;
use msc4140_testkit::fuzzing::{http_request, HttpRequest};

fuzz_target!(|input: HttpRequest| {
    if let Err(e) = http_request(&input) {
        panic!("{e}");
    }
});
