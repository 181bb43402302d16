//! All integration tests of `spec-model` in one binary (one link step).

mod checker;
mod coverage;
mod diff;
mod mutants;
mod requirements;
mod requirements_2026;
mod world;
