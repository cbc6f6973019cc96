//! Popups drawn over the panes: help (generated from the keymap), task detail,
//! a lesson, and confirmation dialogs (the approval dialog is `approval.rs`). Help,
//! detail and lesson are [`Sheet`]s: sized to the terminal and their wrapped text,
//! scrolled to exactly their end.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use super::{centered, frame, status_style};
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crate::util::text::strip_control;

use super::queue::TaskItem;

/// What a confirmation is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirm {
    DeleteTask(crate::util::ids::TaskId),
    DeleteMemory(String),
    CancelTask(crate::util::ids::TaskId),
    /// Undo a task's file changes (back to its baseline checkpoint).
    Rollback(crate::util::ids::TaskId),
    /// The same over files the user changed after the task (they were listed).
    RollbackForce(crate::util::ids::TaskId),
}

/// The popup on screen, if any.
#[derive(Clone, Debug, PartialEq)]
pub enum Popup {
    Help {
        scroll: u16,
    },
    Detail {
        task: crate::util::ids::TaskId,
        scroll: u16,
    },
    Lesson {
        id: String,
        scroll: u16,
    },
    /// A document chunk found in the docs search (index into the hits).
    Doc {
        hit: usize,
        scroll: u16,
    },
    Confirm {
        what: Confirm,
        question: String,
    },
    /// Policy asks whether a command may run (`approval.rs`).
    Approval(super::approval::ApprovalRequest),
    /// What a task changed (`changes.rs`).
    Changes(super::changes::ChangesState),
    /// Adding a model (`setup.rs`).
    Setup(super::setup::SetupState),
}

impl Popup {
    pub fn context(&self) -> Context {
        match self {
            Self::Help { .. } => Context::Help,
            Self::Detail { .. } | Self::Lesson { .. } | Self::Doc { .. } => Context::Detail,
            Self::Confirm { .. } => Context::Confirm,
            Self::Approval(_) => Context::Approval,
            Self::Changes(_) => Context::Changes,
            Self::Setup(_) => Context::Setup,
        }
    }

    /// Scrolls by `delta` lines, within `0..=max`.
    pub fn scroll_by(&mut self, delta: i32, max: u16) {
        if let Self::Help { scroll }
        | Self::Detail { scroll, .. }
        | Self::Lesson { scroll, .. }
        | Self::Doc { scroll, .. } = self
        {
            let to = i32::from(*scroll)
                .saturating_add(delta)
                .clamp(0, i32::from(max));
            *scroll = u16::try_from(to).unwrap_or(max);
        }
        if let Self::Changes(c) = self
            && let Some(d) = &mut c.diff
        {
            let to = i32::from(d.scroll)
                .saturating_add(delta)
                .clamp(0, i32::from(max));
            d.scroll = u16::try_from(to).unwrap_or(max);
        }
        if let Self::Approval(r) = self {
            r.scroll = u16::try_from((i32::from(r.scroll) + delta).max(0))
                .unwrap_or(0)
                .min(max);
        }
    }

    /// Whether keys go to the popup. An approval dialog takes them only once the
    /// user moved to it; until then it is shown and keys go where they went.
    pub fn takes_keys(&self) -> bool {
        match self {
            Self::Approval(r) => r.focused,
            Self::Help { .. }
            | Self::Detail { .. }
            | Self::Lesson { .. }
            | Self::Doc { .. }
            | Self::Confirm { .. }
            | Self::Changes(_)
            | Self::Setup(_) => true,
        }
    }
}

/// A popup's text laid out for a screen. The same value sizes the popup when it is
/// drawn and bounds its scrolling in `update`, so the two always agree: the last
/// line of the text is the last line one can scroll to.
pub struct Sheet<'a> {
    title: &'static str,
    /// What closes the popup (and copies, for a task), shown on its bottom border.
    keys: &'static str,
    lines: Vec<Line<'a>>,
    /// The widest the popup gets (the screen may be narrower).
    width: u16,
}

impl<'a> Sheet<'a> {
    /// A sheet titled `title` with `keys` on its bottom border, at most `width` wide.
    pub fn new(title: &'static str, keys: &'static str, lines: Vec<Line<'a>>, width: u16) -> Self {
        Self {
            title,
            keys,
            lines,
            width,
        }
    }

    /// Rows the text takes when wrapped to `inner` columns.
    fn rows(&self, inner: u16) -> usize {
        Paragraph::new(self.lines.clone())
            .wrap(Wrap { trim: false })
            .line_count(inner)
    }

    /// Where the popup goes on `screen`: as wide as it wants (within the screen), as
    /// tall as its wrapped text, at most the screen less a row above and below.
    pub fn rect(&self, screen: Rect) -> Rect {
        let w = self.width.min(screen.width);
        let rows = u16::try_from(self.rows(w.saturating_sub(2))).unwrap_or(u16::MAX);
        let h = rows
            .saturating_add(2)
            .min(screen.height.saturating_sub(2))
            .max(3.min(screen.height));
        centered(screen, w, h)
    }

    /// Text rows visible at once on `screen`.
    pub fn page(&self, screen: Rect) -> u16 {
        self.rect(screen).height.saturating_sub(2).max(1)
    }

    /// The furthest the text scrolls on `screen`: its last line at the bottom.
    pub fn max_scroll(&self, screen: Rect) -> u16 {
        let r = self.rect(screen);
        let rows = u16::try_from(self.rows(r.width.saturating_sub(2))).unwrap_or(u16::MAX);
        rows.saturating_sub(r.height.saturating_sub(2))
    }

    /// Draws the popup scrolled by `scroll` (clamped to the text's end). A popup
    /// that scrolls says which rows are shown and how to move.
    pub fn render(self, screen: Rect, buf: &mut Buffer, th: &Theme, scroll: u16) {
        let rect = self.rect(screen);
        let max = self.max_scroll(screen);
        let scroll = scroll.min(max);
        let hint = if max > 0 {
            let inner = rect.height.saturating_sub(2);
            let total = usize::from(max) + usize::from(inner);
            let last = usize::from(scroll) + usize::from(inner);
            format!(
                "{}-{last}/{total} · j/k PgDn/PgUp · {}",
                scroll + 1,
                self.keys
            )
        } else {
            self.keys.to_owned()
        };
        Clear.render(rect, buf);
        let block = frame(self.title, &hint, true, th).style(th.popup);
        Paragraph::new(self.lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .render(rect, buf);
    }
}

/// The help popup: every binding of every context, from the keymap.
pub fn help<'a>(th: &Theme, keymap: &'a Keymap) -> Sheet<'a> {
    let mut lines = Vec::new();
    for ctx in Context::ALL {
        let bindings = keymap.bindings(ctx);
        if bindings.is_empty() {
            continue;
        }
        lines.push(Line::from(Span::styled(ctx.name().to_owned(), th.accent)));
        let mut seen: Vec<&str> = Vec::new();
        for b in bindings {
            // Several keys for one action share a line.
            if seen.contains(&b.desc.as_str()) {
                continue;
            }
            seen.push(&b.desc);
            let keys: Vec<String> = bindings
                .iter()
                .filter(|o| o.desc == b.desc)
                .map(|o| o.key.to_string())
                .collect();
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<18} ", keys.join(" ")), th.key_hint),
                Span::styled(b.desc.clone(), th.text),
            ]));
        }
    }
    Sheet {
        title: "Help",
        keys: "Esc close",
        lines,
        width: 64,
    }
}

/// The task detail popup: every field, the task, the error and the result in full.
pub fn detail<'a>(th: &Theme, t: &TaskItem) -> Sheet<'a> {
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<9}"), th.dim),
            Span::styled(v, th.text),
        ])
    };
    let mut lines = vec![
        field("id", t.id.to_string()),
        Line::from(vec![
            Span::styled(format!("{:<9}", "status"), th.dim),
            Span::styled(t.status.as_str(), status_style(th, t.status)),
        ]),
        field("model", t.model.clone().unwrap_or_else(|| "-".into())),
        field("turns", format!("{}/{}", t.turns, t.max_turns)),
        field("cost", format!("${:.6}", t.cost_usd)),
    ];
    if let Some(r) = &t.route {
        lines.push(field("route", strip_control(r)));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("task", th.accent)));
    lines.extend(
        strip_control(&t.description)
            .lines()
            .map(|l| Line::from(Span::styled(l.to_owned(), th.text))),
    );
    if let Some(e) = &t.error {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled("error", th.error)));
        lines.extend(
            strip_control(e)
                .lines()
                .map(|l| Line::from(Span::styled(l.to_owned(), th.error))),
        );
    }
    if let Some(r) = &t.result {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled("result", th.accent)));
        lines.extend(
            strip_control(r)
                .lines()
                .map(|l| Line::from(Span::styled(l.to_owned(), th.text))),
        );
    }
    Sheet {
        title: "Task",
        keys: if t.result.is_some() {
            "y copy · Esc close"
        } else {
            "Esc close"
        },
        lines,
        width: 90,
    }
}

/// A lesson: where it came from (category, score and outcome, when it was made and last
/// recalled, where it applies, its task, what was merged into it), then its text in full.
pub fn lesson<'a>(th: &Theme, m: &crate::store::memories::Memory) -> Sheet<'a> {
    use crate::util::time::rfc3339;
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<11}"), th.dim),
            Span::styled(strip_control(&v), th.text),
        ])
    };
    let outcome = m.outcome();
    let mut lines = vec![
        field(
            "category",
            format!("{} · score {:.1} · {outcome}", m.category, m.score),
        ),
        field("created", rfc3339(m.created_at)),
        field(
            "recalled",
            match m.last_access {
                Some(t) => format!("{} times, last {}", m.access_count, rfc3339(t)),
                None => format!("{} times, never yet", m.access_count),
            },
        ),
        field(
            "applies to",
            m.scope.clone().unwrap_or_else(|| "every workdir".into()),
        ),
        field(
            "task",
            m.task_id
                .clone()
                .unwrap_or_else(|| "none (added by hand or imported)".into()),
        ),
    ];
    if !m.provenance.lessons.is_empty() {
        lines.push(field("merged", m.provenance.lessons.join(", ")));
    }
    if !m.provenance.tasks.is_empty() {
        lines.push(field("from tasks", m.provenance.tasks.join(", ")));
    }
    lines.push(field("id", m.id.clone()));
    lines.push(Line::default());
    lines.extend(
        strip_control(&m.lesson)
            .lines()
            .map(|l| Line::from(Span::styled(l.to_owned(), th.text))),
    );
    Sheet {
        title: "Lesson",
        keys: "Esc close",
        lines,
        width: 80,
    }
}

/// A document chunk: where it is, then its text.
pub fn doc<'a>(th: &Theme, h: &crate::knowledge::Hit) -> Sheet<'a> {
    let mut lines = vec![
        Line::from(Span::styled(
            format!(
                "{}:{}-{} · score {:.3}",
                strip_control(&h.path),
                h.start_line,
                h.end_line,
                h.score
            ),
            th.dim,
        )),
        Line::default(),
    ];
    lines.extend(
        strip_control(&h.text)
            .lines()
            .map(|l| Line::from(Span::styled(l.to_owned(), th.text))),
    );
    Sheet {
        title: "Document",
        keys: "Esc close",
        lines,
        width: 100,
    }
}

/// A yes/no question.
pub fn confirm(area: Rect, buf: &mut Buffer, th: &Theme, question: &str) {
    let mut lines: Vec<Line<'_>> = question
        .lines()
        .map(|l| Line::from(Span::styled(l.to_owned(), th.text)))
        .collect();
    lines.extend([
        Line::default(),
        Line::from(vec![
            Span::styled("y", th.key_hint),
            Span::styled(" yes   ", th.text),
            Span::styled("n", th.key_hint),
            Span::styled(" no", th.text),
        ]),
    ]);
    let widest = question
        .lines()
        .map(crate::util::text::width)
        .max()
        .unwrap_or(0);
    let w = u16::try_from(widest + 4).unwrap_or(60).clamp(30, 70);
    // Tall enough for the wrapped question (a list of files, for a refused rollback).
    let rows = Paragraph::new(lines.clone())
        .wrap(Wrap { trim: false })
        .line_count(w.saturating_sub(2));
    let h = u16::try_from(rows + 2)
        .unwrap_or(u16::MAX)
        .clamp(6, area.height.saturating_sub(2).max(6));
    draw(area, buf, th, "Confirm", "", lines, w, h, 0);
}

/// A dialog drawn at a given size (confirmations and approvals).
#[allow(clippy::too_many_arguments)] // the popup's parts, all needed, none related
fn draw(
    area: Rect,
    buf: &mut Buffer,
    th: &Theme,
    title: &str,
    hint: &str,
    lines: Vec<Line<'_>>,
    w: u16,
    h: u16,
    scroll: u16,
) {
    let rect = centered(area, w, h);
    Clear.render(rect, buf);
    let block = frame(title, hint, true, th).style(th.popup);
    Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .render(rect, buf);
}
