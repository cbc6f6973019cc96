//! Small helpers shared by every layer: clock, ids, stop signals, text shaping, folder sizes.
//! Nothing here knows about tasks, models or the terminal.

pub mod fs;
pub mod ids;
pub mod signals;
pub mod text;
pub mod time;
