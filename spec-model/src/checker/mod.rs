//! The bounded model checker over the specification: configurations (`bounds`), the stateright
//! model (`model`), the monitor that turns requirements into checkable bits (`monitor`), the list
//! of properties (`properties`), running a check (`run`), extracting witnesses (`witness`) and
//! the differences between the revisions (`diff`).

pub mod bounds;
pub mod canonical;
pub mod diff;
pub mod model;
pub mod monitor;
pub mod properties;
pub mod run;
pub mod witness;

pub use bounds::Bounds;
pub use model::{CheckState, DelayModel};
