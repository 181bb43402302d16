//! One module per endpoint group.

pub mod account;
pub mod delayed_events;
pub mod discovery;
pub mod merged;
pub mod rooms;
pub mod sync;
