//! # conformance: a black-box MSC4140 suite generated from the executable specification
//!
//! Point it at any homeserver URL. Its scenarios are the witness traces of `spec-model`
//! ([`witnesses`]); every answer is judged by asking the model whether it is allowed
//! ([`lockstep`]); timing verdicts use interval arithmetic on one clock at a time ([`timing`]);
//! nothing counts before the feature gate and a positive control pass ([`checks::control`]).
//! Hand-written checks cover what the model cannot generate ([`checks::input`]) and concurrent
//! requests are checked for linearizability ([`checks::races`]). Either revision of the text is
//! judged, chosen by `--revision` or probed ([`revision`]).

pub mod appservice;
pub mod checks;
pub mod client;
pub mod context;
pub mod lockstep;
pub mod names;
pub mod options;
pub mod outcome;
pub mod provision;
pub mod report;
pub mod restart;
pub mod revision;
pub mod runner;
pub mod scenario;
pub mod surface;
pub mod timing;
pub mod witnesses;

pub use options::Options;
pub use outcome::{CheckResult, Level, Verdict};
pub use report::Report;
