//! Health: samples of the machine, checks of the database, providers and vault,
//! service metrics from the ledger, and alerts when a threshold is crossed.
//!
//! Used two ways: `az-os health` runs every check once ([`report`]); the engine
//! runs a [`sampler`] that sends snapshots and alerts as events for the dashboard.
//! Nothing here draws anything.

pub mod alerts;
pub mod checks;
mod level;
pub mod machine;
pub mod mcp;
pub mod metrics;
pub mod report;
pub mod sampler;

pub use level::{Level, Thresholds};
