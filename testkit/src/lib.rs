//! Test drivers shared by the reference server's test suites and the fuzz targets, so a corpus
//! file replays through exactly the code the fuzzer ran.

pub mod differential;
pub mod fuzzing;
pub mod harness;
pub mod seeds;
