//! Small helpers shared by every layer: clock, ids, stop signals and text shaping.
//! Nothing here knows about tasks, models or the terminal.

pub mod ids;
pub mod signals;
pub mod text;
pub mod time;
