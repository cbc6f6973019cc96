//! Colour decisions for human output: on when the stream is a terminal and
//! `NO_COLOR` is unset, plain otherwise.

use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};

use crate::store::TaskStatus;

/// Whether to colour output written to stdout (`out`) or stderr.
pub fn color_enabled(stdout: bool) -> bool {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    }
}

/// Wraps `text` in `style` when colour is on.
pub fn paint(on: bool, style: Style, text: &str) -> String {
    if on && style != Style::new() {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

pub fn status_style(s: TaskStatus) -> Style {
    let c = match s {
        TaskStatus::Completed => AnsiColor::Green,
        TaskStatus::Failed | TaskStatus::BudgetExceeded => AnsiColor::Red,
        TaskStatus::Running => AnsiColor::Cyan,
        TaskStatus::Pending => AnsiColor::Blue,
        TaskStatus::Cancelled | TaskStatus::Interrupted => AnsiColor::Yellow,
    };
    Style::new().fg_color(Some(c.into()))
}

pub fn dim() -> Style {
    Style::new().dimmed()
}

pub fn bold() -> Style {
    Style::new().bold()
}

pub fn red() -> Style {
    Style::new().fg_color(Some(AnsiColor::Red.into()))
}

pub fn green() -> Style {
    Style::new().fg_color(Some(AnsiColor::Green.into()))
}

pub fn yellow() -> Style {
    Style::new().fg_color(Some(AnsiColor::Yellow.into()))
}
