//! The dashboard's panes. Each file holds one pane's state (updated by
//! `update`) and its widget (drawn by `view`); widgets read state and theme only.

pub mod approval;
pub mod changes;
pub mod cost;
pub mod health;
pub mod input;
pub mod memory;
pub mod popups;
pub mod queue;
pub mod setup;
pub mod status;
pub mod turns;

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};

use super::theme::Theme;

/// The frame every pane draws in: a titled border, highlighted when focused.
pub fn frame<'a>(title: &'a str, hint: &'a str, focused: bool, theme: &Theme) -> Block<'a> {
    let border = if focused {
        theme.border_focused
    } else {
        theme.border
    };
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border)
        .title(Line::from(vec![Span::styled(
            format!(" {title} "),
            theme.title,
        )]));
    if !hint.is_empty() {
        block = block
            .title_bottom(Line::from(Span::styled(format!(" {hint} "), theme.dim)).right_aligned());
    }
    block
}

/// A selected row: every span in the selection's colours. A span's own colour (a
/// status icon, dim text) could vanish into the selection's background; the
/// selection's pair is the one the theme guarantees is readable (`tests/suite/tui/contrast.rs`).
pub fn select_line<'a>(line: Line<'a>, theme: &Theme) -> Line<'a> {
    Line::from(
        line.spans
            .into_iter()
            .map(|s| Span::styled(s.content, theme.selected))
            .collect::<Vec<_>>(),
    )
}

/// `Style` for a task status.
pub fn status_style(theme: &Theme, s: crate::store::TaskStatus) -> Style {
    use crate::store::TaskStatus as S;
    match s {
        S::Pending => theme.pending,
        S::Running => theme.running,
        S::Completed => theme.completed,
        S::Failed | S::BudgetExceeded => theme.failed,
        S::Cancelled | S::Interrupted => theme.cancelled,
    }
}

/// A rectangle of `w`×`h` centred in `area` (clamped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
