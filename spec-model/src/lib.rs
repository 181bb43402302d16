//! # spec-model: the executable specification of MSC4140, in both revisions
//!
//! A small deterministic state machine of the delayed-event lifecycle, with an explicit virtual
//! clock and explicit non-determinism, and a `stateright` model whose properties are the
//! requirements of `spec/REQUIREMENTS.md` (the seed text of 2025-07-09) and
//! `spec/REQUIREMENTS-rev-2026-07-10.md` (the merged text). The revision is a parameter of the
//! configuration; [`revision::Rules`] holds everything the two texts disagree on. It is the one
//! oracle the server, the conformance suite and the fuzzers are checked against.
//!
//! Layers, bottom up: [`types`], [`error`], [`power`], [`config`] → [`state`], [`op`], [`reply`]
//! → [`spec`] (the transition function) → [`render`] (wire shapes) and [`judge`] (which
//! observations the text allows) → [`checker`] (bounded model, properties, witnesses).

pub mod checker;
pub mod config;
pub mod error;
pub mod judge;
pub mod op;
pub mod power;
pub mod render;
pub mod reply;
pub mod requirements;
pub mod revision;
pub mod spec;
pub mod state;
pub mod types;

pub use config::{Config, Mutant};
pub use op::Op;
pub use reply::{Reply, Step};
pub use revision::Revision;
pub use spec::step;
pub use state::State;
