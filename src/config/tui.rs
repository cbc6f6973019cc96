//! `[tui]` in `config.toml`: which shipped theme and keymap the dashboard starts
//! with, and whether it captures the mouse.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TuiConfig {
    /// `default`, `dark`, `light` or `high-contrast`; `theme.toml` in the home
    /// overrides single slots.
    pub theme: String,
    /// `default` or `emacs`; `keymap.toml` in the home overrides single keys.
    pub keymap: String,
    /// Focus by click and scroll with the wheel (off leaves the terminal's own
    /// selection alone).
    pub mouse: bool,
}

impl Default for TuiConfig {
    fn default() -> Self {
        Self {
            theme: "default".into(),
            keymap: "default".into(),
            mouse: true,
        }
    }
}
