//! Small helpers shared by every layer: clock, ids, stop signals, text shaping, folder sizes,
//! hidden input. Nothing here knows about tasks, models or the terminal.

pub mod fs;
pub mod hidden;
pub mod ids;
pub mod signals;
pub mod text;
pub mod time;
