//! `view(&Model, &mut Frame)`: layout and nothing else. Each pane draws itself
//! from its state; hints come from the keymap's descriptions.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use super::action::Action;
use super::keymap::Context;
use super::model::{Focus, Model};
use super::panes::approval;
use super::panes::cost::CostPane;
use super::panes::frame;
use super::panes::health::HealthPane;
use super::panes::input::InputPane;
use super::panes::memory::MemoryPane;
use super::panes::popups::{self, Popup};
use super::panes::queue::QueuePane;
use super::panes::status::StatusBar;
use super::panes::turns::TurnsPane;
use crate::util::text::ellipsize;

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
                    ellipsize(&t.description.replace('\n', " "), room)
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
            let lines: Vec<Line> = hint
                .lines()
                .map(|l| Line::from(Span::styled(l.to_owned(), th.gauge_warn)))
                .collect();
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
        Some(Popup::Help { scroll }) => popups::help(screen, buf, th, &m.keymap, *scroll),
        Some(Popup::Detail { task, scroll }) => {
            if let Some(t) = m.queue.get(task) {
                popups::detail(screen, buf, th, t, *scroll);
            }
        }
        Some(Popup::Lesson { id, scroll }) => {
            if let Some(mem) = m.memory.items.iter().find(|x| &x.id == id) {
                popups::lesson(screen, buf, th, mem, *scroll);
            }
        }
        Some(Popup::Confirm { question, .. }) => popups::confirm(screen, buf, th, question),
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
            if !out.iter().any(|(_, d)| *d == b.desc) {
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

fn summary(m: &Model) -> String {
    let running = m.queue.active();
    let over = if m.cost.over_day() {
        " OVER BUDGET"
    } else {
        ""
    };
    format!("{running} active · ${:.4} today{over}", m.cost.today_usd)
}
