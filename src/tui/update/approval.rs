//! Approval requests in the dashboard: queued as they arrive, shown one at a time
//! without taking the keyboard, focused only by a deliberate key, answered only
//! once armed. The task on screen is the one the dialog, the status bar and the
//! turns pane all show.

use super::{selection_changed, short};
use crate::engine::{Approval, Command, Event};
use crate::tui::action::Action;
use crate::tui::model::Model;
use crate::tui::msg::Effect;
use crate::tui::panes::approval::{self, ApprovalRequest};
use crate::tui::panes::popups::Popup;
use crate::tui::panes::status::Tone;
use crate::util::ids::TaskId;

/// An `approval_requested` event: queue it (it shows when the screen is free).
pub(super) fn requested(m: &mut Model, id: &TaskId, ev: &Event) {
    let Event::ApprovalRequested {
        request_id,
        tool,
        command,
        reason,
        ..
    } = ev
    else {
        return;
    };
    let description = m
        .queue
        .get(id)
        .map(|t| t.description.clone())
        .unwrap_or_default();
    m.approvals.push_back(ApprovalRequest {
        task: id.clone(),
        request_id: request_id.clone(),
        tool: tool.clone(),
        command: command.clone(),
        reason: reason.clone(),
        description,
        shown_at: None,
        focused: false,
        scroll: 0,
    });
}

/// Requests of a task that ended can no longer be answered.
pub(super) fn withdraw(m: &mut Model, id: &TaskId) {
    m.approvals.retain(|r| r.task != *id);
    if m.approval().is_some_and(|r| r.task == *id) {
        m.popup = None;
    }
}

/// Puts the next waiting request on screen when nothing else is, and selects its
/// task so the queue and the turns pane show the one that asks.
pub(super) fn show_next(m: &mut Model, now: f64, fx: &mut Vec<Effect>) {
    if m.popup.is_some() {
        return;
    }
    let Some(mut next) = m.approvals.pop_front() else {
        return;
    };
    next.shown_at = Some(now);
    next.focused = false;
    next.scroll = 0;
    let task = next.task.clone();
    m.popup = Some(Popup::Approval(next));
    m.queue.select(&task);
    selection_changed(m, fx);
    if m.turns.shown.as_ref() != Some(&task) {
        // Filtered out of the queue: the turns pane still shows the asking task.
        m.turns.show(Some(task));
    }
}

/// Opens `p` over an approval that is on screen without the keyboard: the
/// approval goes back to the head of the line and shows again afterwards.
pub(super) fn open_popup(m: &mut Model, p: Popup) {
    if let Some(Popup::Approval(r)) = m.popup.take() {
        m.approvals.push_front(r);
    }
    m.popup = Some(p);
}

/// What the status bar says while a request waits: which task, how many wait,
/// and how to answer. The same request the dialog shows.
pub fn notice(m: &Model) -> Option<String> {
    let r = m.approval()?;
    let waiting = 1 + m.approvals.len();
    let count = if waiting > 1 {
        format!(" ({waiting} waiting)")
    } else {
        String::new()
    };
    let how = if r.focused {
        String::new()
    } else {
        m.keymap
            .key_for(crate::tui::keymap::Context::Global, Action::ApprovalFocus)
            .map(|k| format!(" · {k} to answer"))
            .unwrap_or_default()
    };
    Some(format!("Task {} asks approval{count}{how}", short(&r.task)))
}

/// `approval.focus`: moves the keyboard to the dialog, or back from it.
pub(super) fn toggle_focus(m: &mut Model) {
    match &mut m.popup {
        Some(Popup::Approval(r)) => r.focused = !r.focused,
        Some(_) => {}
        None => m
            .status
            .set(Tone::Info, "No command is waiting for approval"),
    }
}

/// Where the dialog may go on this screen.
fn dialog_area(m: &Model) -> ratatui::layout::Rect {
    let screen = ratatui::layout::Rect::new(0, 0, m.size.0, m.size.1);
    approval::area(screen, super::areas(m).input)
}

/// Whether (`x`, `y`) is on an approval dialog that does not have the keyboard.
pub(super) fn hit(m: &Model, x: u16, y: u16) -> bool {
    m.approval().is_some_and(|r| {
        !r.focused
            && approval::shape(dialog_area(m), r)
                .rect
                .contains(ratatui::layout::Position::new(x, y))
    })
}

/// Scrolls the dialog's command.
pub(super) fn scroll(m: &mut Model, delta: isize) {
    let area = dialog_area(m);
    if let Some(Popup::Approval(r)) = &mut m.popup {
        let max = approval::shape(area, r).max_scroll();
        let d = i32::try_from(delta.clamp(-1000, 1000)).unwrap_or(0);
        r.scroll = u16::try_from((i32::from(r.scroll) + d).max(0))
            .unwrap_or(0)
            .min(max);
    }
}

/// `approval.once`, `approval.always`, `approval.deny`: the answer, if the dialog
/// has the keyboard and has been on screen long enough to have been read.
pub(super) fn answer(m: &mut Model, a: Action, now: f64, fx: &mut Vec<Effect>) {
    let decision = match a {
        Action::ApproveOnce => Approval::Once,
        Action::ApproveAlways => Approval::Always,
        Action::ApproveDeny => Approval::Deny,
        _ => return,
    };
    let Some(r) = m.approval() else {
        return;
    };
    if !r.armed(now) {
        m.status.set(
            Tone::Warn,
            "The dialog just opened: read the command, then answer",
        );
        return;
    }
    let Some(Popup::Approval(r)) = m.popup.take() else {
        return;
    };
    let verb = match decision {
        Approval::Once => "Approved once",
        Approval::Always => "Approved for this task",
        Approval::Deny => "Denied",
    };
    m.status.set(
        Tone::Info,
        format!(
            "{verb}: {}",
            crate::util::text::ellipsize(&r.command.replace('\n', " "), 60)
        ),
    );
    fx.push(Effect::Engine(Command::Approve {
        id: r.task,
        request_id: r.request_id,
        decision,
    }));
}
