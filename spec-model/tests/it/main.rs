//! All integration tests of `spec-model` in one binary (one link step).

mod checker;
mod coverage;
mod mutants;
mod requirements;
mod world;
