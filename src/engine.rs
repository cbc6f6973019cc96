//! The engine: one scheduler and its workers run tasks through the ReAct loop.
//! Front ends (the TUI, batch mode) talk to it only through [`Command`]s sent on
//! an [`EngineHandle`] and the [`EngineEvent`]s it sends back.
//!
//! Nothing under `engine/` may import the terminal crates; `tests/suite/layers.rs`
//! checks that.

mod agent;
pub mod breaker;
pub mod budget;
mod handle;
pub mod monitor;
pub mod policy;
mod prompt;
pub mod protocol;
mod query;
pub mod relay;
mod remote;
pub mod route;
mod scheduler;
pub mod tools;

#[doc(hidden)]
pub use agent::Runner;
pub use handle::{
    Approvals, EngineConfig, EngineHandle, FrontEnd, Started, Work, start, start_on_queue,
    start_with,
};
pub use monitor::HealthEvents;
pub use prompt::{request_overhead_bytes, system_prompt};
pub use protocol::{
    Approval, Command, EngineEvent, Event, MAX_TASK_BYTES, Overrides, Route, TaskSpec,
};
pub use query::{Lessons, QueryError, Spend};
