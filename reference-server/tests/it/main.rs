//! HTTP-level integration tests of the reference server, in process, on virtual time.
//! Every test names the requirement ids it covers (`covers:`); `coverage.rs` checks that every
//! requirement the server implements is covered.

mod appservice;
mod bad_input;
mod client_api;
mod coverage;
mod differential;
use msc4140_testkit::harness;
mod lookups;
mod managing;
mod merged;
mod moderation;
mod persistence;
mod push;
mod scheduling;
mod sending;
mod unstable;
