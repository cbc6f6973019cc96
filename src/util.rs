//! Small helpers shared by every layer: clock, ids and text shaping.
//! Nothing here knows about tasks, models or the terminal.

pub mod ids;
pub mod text;
pub mod time;
