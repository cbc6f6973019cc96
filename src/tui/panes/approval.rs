//! The approval dialog: which task asks (id and text), what it wants to run, in
//! full (hard-wrapped, scrollable, with a mark where more is hidden), why policy
//! asks, how many requests wait, and the answer keys — always on its last row.
//!
//! It never takes the keyboard by itself: a request that arrives while the user
//! types is shown and announced, and keys keep going where they went until the
//! user moves to the dialog (`approval.focus`, F2). Even then answers count only
//! once it has been on screen for [`ARM_AFTER`] seconds. The state lives here; the
//! keys are handled in `update/approval.rs`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use super::{centered, frame};
use crate::tui::action::Action;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crate::util::ids::TaskId;
use crate::util::text::{ellipsize, strip_control};

/// Seconds a dialog is on screen before its answer keys count.
pub const ARM_AFTER: f64 = 0.7;

/// Widest the dialog gets.
const MAX_WIDTH: u16 = 100;

/// A command waiting for the user's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalRequest {
    pub task: TaskId,
    pub request_id: String,
    pub tool: String,
    pub command: String,
    pub reason: String,
    /// The asking task's text.
    pub description: String,
    /// When it was put on screen (`None` while it waits behind another).
    pub shown_at: Option<f64>,
    /// The keyboard is on the dialog (the user moved it there).
    pub focused: bool,
    /// First body row shown.
    pub scroll: u16,
}

impl ApprovalRequest {
    /// Whether an answer key pressed at `now` counts.
    pub fn armed(&self, now: f64) -> bool {
        self.focused && self.shown_at.is_some_and(|t| now - t >= ARM_AFTER)
    }
}

/// Where the dialog goes: over the panes, never over the input or the status bar,
/// so what the user types stays in sight.
pub fn area(screen: Rect, input: Rect) -> Rect {
    Rect {
        height: input.y.saturating_sub(screen.y).max(1),
        ..screen
    }
}

/// Display width of one character (0 for combining marks, 2 for wide ones).
fn char_width(c: char) -> usize {
    let mut b = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut b)).width()
}

/// Hard-wraps `text` to `width` columns, keeping its own line breaks. Every
/// character is kept: a command must be read exactly as it will run.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(2);
    let mut out = Vec::new();
    for line in strip_control(text).split('\n') {
        let mut cur = String::new();
        let mut w = 0;
        for c in line.chars() {
            let cw = char_width(c);
            if w + cw > width && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
                w = 0;
            }
            cur.push(c);
            w += cw;
        }
        out.push(cur);
    }
    out
}

/// The dialog's geometry for a screen area: its rectangle, the rows of its
/// scrolled body and how many of them fit.
pub struct Shape {
    pub rect: Rect,
    pub body: Vec<Body>,
    pub body_rows: usize,
}

/// One row of the scrolled part.
pub enum Body {
    Command(String),
    Blank,
    Reason(String),
}

/// Lays the dialog out in `area`: the header (2 rows), the body, a row for the
/// "more" mark when the body does not fit, and the keys row.
pub fn shape(area: Rect, r: &ApprovalRequest) -> Shape {
    let w = area.width.min(MAX_WIDTH);
    let inner_w = usize::from(w.saturating_sub(2));
    let mut body: Vec<Body> = wrap(&r.command, inner_w.saturating_sub(2))
        .into_iter()
        .map(Body::Command)
        .collect();
    body.push(Body::Blank);
    body.extend(wrap(&r.reason, inner_w).into_iter().map(Body::Reason));
    // Borders, two header rows and the keys row; one more for the mark if needed.
    let fixed = 2 + 2 + 1;
    let fits = usize::from(area.height).saturating_sub(fixed);
    let body_rows = if body.len() <= fits {
        body.len()
    } else {
        fits.saturating_sub(1).max(1)
    };
    let h = fixed + body_rows + usize::from(body.len() > body_rows);
    let h = u16::try_from(h).unwrap_or(u16::MAX);
    Shape {
        rect: centered(area, w, h),
        body,
        body_rows,
    }
}

impl Shape {
    /// The largest useful scroll.
    pub fn max_scroll(&self) -> u16 {
        u16::try_from(self.body.len().saturating_sub(self.body_rows)).unwrap_or(u16::MAX)
    }
}

/// The dialog for the request on screen, `waiting` counting it and those behind it.
pub fn render(
    area: Rect,
    buf: &mut Buffer,
    th: &Theme,
    keymap: &Keymap,
    req: &ApprovalRequest,
    waiting: usize,
) {
    let sh = shape(area, req);
    let rect = sh.rect;
    Clear.render(rect, buf);
    // An MCP tool's request shows its server, tool and arguments instead of a command.
    let what = if req.tool == "execute_command" {
        "Approve command?"
    } else {
        "Approve tool call?"
    };
    let title = if waiting > 1 {
        format!("{what} · 1 of {waiting} waiting")
    } else {
        what.to_owned()
    };
    let block = frame(&title, "", req.focused, th).style(th.popup);
    let inner = block.inner(rect);
    block.render(rect, buf);
    let w = usize::from(inner.width);
    let short = &req.task.as_str()[..req.task.as_str().len().min(6)];
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("Task {short} "), th.accent),
            Span::styled(
                ellipsize(
                    &strip_control(&req.description).replace('\n', " "),
                    w.saturating_sub(short.chars().count() + 6).max(1),
                ),
                th.text,
            ),
        ]),
        Line::from(Span::styled(
            format!("wants to run ({}):", req.tool),
            th.text,
        )),
    ];
    let scroll = usize::from(req.scroll.min(sh.max_scroll()));
    for row in sh.body.iter().skip(scroll).take(sh.body_rows) {
        lines.push(match row {
            Body::Command(t) => Line::from(Span::styled(format!("  {t}"), th.accent)),
            Body::Blank => Line::default(),
            Body::Reason(t) => Line::from(Span::styled(t.clone(), th.dim)),
        });
    }
    if sh.body.len() > sh.body_rows {
        let below = sh.body.len() - sh.body_rows - scroll;
        let key = |a| keymap.key_for(Context::Approval, a).map(|k| k.to_string());
        let keys = match (key(Action::Down), key(Action::Up)) {
            (Some(d), Some(u)) => format!("{d}/{u} scroll"),
            _ => "scroll".to_owned(),
        };
        let text = match (scroll, below) {
            (0, n) => format!("… {n} more line(s) below · {keys}"),
            (n, 0) => format!("… {n} line(s) above · {keys}"),
            (a, b) => format!("… {a} above, {b} below · {keys}"),
        };
        lines.push(Line::from(Span::styled(
            ellipsize(&text, w.max(1)),
            th.gauge_warn,
        )));
    }
    Paragraph::new(lines).render(inner, buf);
    // The answer keys, on the last row whatever the size.
    let keys_row = Rect {
        y: inner.y + inner.height.saturating_sub(1),
        height: 1.min(inner.height),
        ..inner
    };
    Paragraph::new(keys_line(th, keymap, req.focused, w)).render(keys_row, buf);
}

/// `y once · a always for this task · n deny`, from the keymap; before the user
/// moves to the dialog, the key that does that comes first.
fn keys_line<'a>(th: &Theme, keymap: &Keymap, focused: bool, width: usize) -> Line<'a> {
    let key = |ctx, a| keymap.key_for(ctx, a).map(|k| k.to_string());
    let mut parts: Vec<(String, &str)> = Vec::new();
    if !focused && let Some(k) = key(Context::Global, Action::ApprovalFocus) {
        parts.push((k, "to answer:"));
    }
    let long = width >= 52;
    for (a, long_desc, short_desc) in [
        (Action::ApproveOnce, "once", "once"),
        (Action::ApproveAlways, "always for this task", "always"),
        (Action::ApproveDeny, "deny", "deny"),
    ] {
        if let Some(k) = key(Context::Approval, a) {
            parts.push((k, if long { long_desc } else { short_desc }));
        }
    }
    let mut spans = Vec::new();
    for (i, (k, d)) in parts.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("  ", th.text));
        }
        spans.push(Span::styled(k, th.key_hint));
        spans.push(Span::styled(format!(" {d}"), th.text));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_every_character_and_line_break() {
        let rows = wrap("abcdef\ngh", 4);
        assert_eq!(rows, vec!["abcd", "ef", "gh"]);
        assert_eq!(wrap("", 4), vec![""]);
        // A wide character is not split from its width.
        assert_eq!(wrap("ab漢字", 3), vec!["ab", "漢", "字"]);
    }
}
