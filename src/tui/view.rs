//! `view(&Model, &mut Frame)`: layout and nothing else. Each pane draws itself
//! from its state; hints come from the keymap's descriptions.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use super::action::Action;
use super::keymap::Context;
use super::model::{Focus, Model};
use super::panes::approval;
use super::panes::changes;
use super::panes::cost::CostPane;
use super::panes::frame;
use super::panes::health::HealthPane;
use super::panes::input::InputPane;
use super::panes::memory::MemoryPane;
use super::panes::popups::{self, Popup};
use super::panes::queue::QueuePane;
use super::panes::status::StatusBar;
use super::panes::turns::TurnsPane;
use crate::util::text::ellipsize_cols;

pub fn view(m: &Model, f: &mut Frame<'_>) {
    // Lay out the frame actually given (an inline viewport may be smaller than
    // the terminal), so nothing is drawn outside the buffer.
    let a = super::layout::compute_in(f.area(), m.input.height(), m.zoom, m.focus);
    let th = &m.theme;
    let buf = f.buffer_mut();
    let focused = |p: Focus| m.focus == p && m.modal().is_none();
    if a.queue.width > 0 {
        QueuePane {
            state: &m.queue,
            theme: th,
            focused: focused(Focus::Queue),
        }
        .render(a.queue, buf);
    }
    if a.turns.width > 0 {
        let title = match m.queue.selected_task() {
            Some(t) => {
                let room = usize::from(a.turns.width).saturating_sub(30).max(8);
                format!(
                    "Turns · {} {}",
                    &t.id.as_str()[..6.min(t.id.as_str().len())],
                    ellipsize_cols(&t.description.replace('\n', " "), room)
                )
            }
            None => "Turns".to_owned(),
        };
        TurnsPane {
            state: &m.turns,
            theme: th,
            focused: focused(Focus::Turns),
            title,
        }
        .render(a.turns, buf);
        if let Some(hint) = &m.setup_hint
            && m.queue.total() == 0
        {
            let inner = frame("", "", false, th).inner(a.turns);
            let mut lines: Vec<Line> = hint
                .lines()
                .map(|l| Line::from(Span::styled(l.to_owned(), th.gauge_warn)))
                .collect();
            if !m.unusable.is_empty() {
                lines.push(Line::default());
                lines.push(Line::from(Span::styled(
                    "Listed in config.toml, but not usable:",
                    th.error,
                )));
                lines.extend(
                    m.unusable
                        .iter()
                        .map(|u| Line::from(Span::styled(format!("• {u}"), th.error))),
                );
            }
            Clear.render(inner, buf);
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
        }
    }
    if a.cost.width > 0 {
        let task = m
            .queue
            .selected_task()
            .map(|t| (t.cost_usd, t.budget_usd.unwrap_or(m.cost.budget_task)));
        CostPane {
            state: &m.cost,
            theme: th,
            focused: focused(Focus::Cost),
            task,
        }
        .render(a.cost, buf);
    }
    if a.health.width > 0 {
        HealthPane {
            state: &m.health,
            theme: th,
            focused: focused(Focus::Health),
        }
        .render(a.health, buf);
    }
    if a.memory.width > 0 {
        MemoryPane {
            state: &m.memory,
            theme: th,
            focused: focused(Focus::Memory),
        }
        .render(a.memory, buf);
    }
    let submit = m
        .keymap
        .key_for(Context::Input, Action::Submit)
        .map(|k| k.to_string())
        .unwrap_or_default();
    let away = m
        .keymap
        .key_for(Context::Input, Action::FocusPanes)
        .map(|k| k.to_string())
        .unwrap_or_default();
    let hint = if focused(Focus::Input) {
        format!("{submit} submit · {away} panes")
    } else {
        String::new()
    };
    InputPane {
        state: &m.input,
        theme: th,
        focused: focused(Focus::Input),
        hint: &hint,
    }
    .render(a.input, buf);
    StatusBar {
        state: &m.status,
        theme: th,
        hints: hints(m),
        summary: summary(m),
        now: m.queue.now,
        pinned: crate::tui::update::approval::notice(m),
    }
    .render(a.status, buf);
    let screen = f.area();
    let buf = f.buffer_mut();
    match &m.popup {
        None => {}
        Some(
            Popup::Help { scroll }
            | Popup::Detail { scroll, .. }
            | Popup::Lesson { scroll, .. }
            | Popup::Doc { scroll, .. },
        ) => {
            if let Some(sheet) = sheet(m) {
                sheet.render(screen, buf, th, *scroll);
            }
        }
        Some(Popup::Confirm { question, .. }) => popups::confirm(screen, buf, th, question),
        Some(Popup::Changes(c)) => changes::render(screen, buf, th, c),
        Some(Popup::Setup(s)) => super::panes::setup::render(screen, buf, th, &m.keymap, s),
        Some(Popup::Approval(r)) => approval::render(
            approval::area(screen, a.input),
            buf,
            th,
            &m.keymap,
            r,
            1 + m.approvals.len(),
        ),
    }
}

/// The open popup's text, when it is one that scrolls (help, detail, lesson).
pub fn sheet(m: &Model) -> Option<popups::Sheet<'_>> {
    let th = &m.theme;
    match m.popup.as_ref()? {
        Popup::Help { .. } => Some(popups::help(th, &m.keymap)),
        Popup::Detail { task, .. } => m.queue.get(task).map(|t| popups::detail(th, t)),
        Popup::Lesson { id, .. } => m
            .memory
            .items
            .iter()
            .find(|x| &x.id == id)
            .map(|mem| popups::lesson(th, mem)),
        Popup::Doc { hit, .. } => m.memory.doc_hits.get(*hit).map(|h| popups::doc(th, h)),
        // A diff scrolls like the other sheets; the list moves a selection instead.
        Popup::Changes(c) => c.diff.as_ref().map(|d| changes::diff_sheet(th, d)),
        Popup::Confirm { .. } | Popup::Approval { .. } | Popup::Setup(_) => None,
    }
}

/// Up to five hints for the focused context, one per description.
fn hints(m: &Model) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut ctxs = m.contexts();
    // Global bindings are always there; the status bar shows what is specific.
    ctxs.retain(|c| *c != Context::Global);
    for ctx in ctxs {
        for b in m.keymap.bindings(ctx) {
            if out.len() >= 6 {
                return out;
            }
            if works(m, b.action) && !out.iter().any(|(_, d)| *d == b.desc) {
                out.push((b.key.to_string(), b.desc.clone()));
            }
        }
    }
    if m.modal().is_none()
        && let Some(k) = m
            .keymap
            .key_for(Context::Panes, Action::Help)
            .or_else(|| m.keymap.key_for(Context::Global, Action::Help))
    {
        out.push((k.to_string(), "Help".into()));
    }
    out
}

/// Whether `action` would do something now; the status bar advertises only those.
fn works(m: &Model, action: Action) -> bool {
    match action {
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom
            if m.popup.is_some() =>
        {
            if let Some(Popup::Changes(c)) = &m.popup
                && c.diff.is_none()
            {
                return c.files.as_ref().is_some_and(|f| f.len() > 1);
            }
            let screen = ratatui::layout::Rect::new(0, 0, m.size.0, m.size.1);
            sheet(m).is_some_and(|s| s.max_scroll(screen) > 0)
        }
        Action::Copy => {
            let task = match &m.popup {
                Some(Popup::Detail { task, .. }) => m.queue.get(task),
                _ => m.queue.selected_task(),
            };
            task.is_some_and(|t| t.result.is_some())
        }
        _ => true,
    }
}

/// The right of the status bar: what runs (with the spinner), what waits, and spend.
fn summary(m: &Model) -> String {
    let (running, queued) = (m.queue.running(), m.queue.queued());
    let over = if m.cost.over_day() {
        " OVER BUDGET"
    } else {
        ""
    };
    let work = match (running, queued) {
        (0, 0) => "idle".to_owned(),
        (0, q) => format!("{q} queued"),
        (r, 0) => format!("{} {r} running", m.queue.spinner()),
        (r, q) => format!("{} {r} running · {q} queued", m.queue.spinner()),
    };
    format!("{work} · ${:.4} today{over}", m.cost.today_usd)
}
