//! `update(&mut Model, Msg, now) -> Vec<Effect>`: the only place state changes.
//! Pure: no IO, no clock (the loop passes `now`), no awaiting. Keys become
//! actions through the keymap; engine events land in the panes they concern.

use ratatui::crossterm::event::{KeyEvent, KeyEventKind, MouseEvent, MouseEventKind};

pub mod approval;
mod changes;
mod events;
mod memory;
mod setup;
mod task;

use super::action::Action;
use super::keymap::Key;
use super::layout::{self, Areas};
use super::model::{Focus, Model};
use super::msg::{Effect, Msg};
use super::panes::popups::{Confirm, Popup};
use super::panes::queue::TaskItem;
use super::panes::status::{Scope, Tone};
use super::panes::turns::Transcript;
use crate::engine::{Command, TaskSpec};
use crate::memory::edit::Change;
use crate::util::ids::TaskId;

/// Seconds within which a second Ctrl-C quits.
const INTERRUPT_WINDOW: f64 = 2.0;

pub fn update(m: &mut Model, msg: Msg, now: f64) -> Vec<Effect> {
    m.queue.now = now;
    m.unchanged = false;
    let before = m.status.seq;
    let mut fx = dispatch(m, msg, now);
    // An approval waits for the screen to be free of other popups.
    approval::show_next(m, now, &mut fx);
    // Every message set during this update is shown for its full time from now, even
    // one equal in length (or in text) to the one before.
    if m.status.seq != before {
        m.status.set_at = now;
    }
    fx
}

fn dispatch(m: &mut Model, msg: Msg, now: f64) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(k) if k.kind != KeyEventKind::Release => key(m, k, now, &mut fx),
        // Key releases do nothing.
        Msg::Key(_) => {}
        Msg::Mouse(e) => mouse(m, e, &mut fx),
        Msg::Paste(text) => paste(m, &text),
        Msg::Resize(w, h) => {
            m.size = (w, h);
            relayout(m);
        }
        Msg::Started => {
            if m.setup_hint.is_some() {
                setup::open(m, &mut fx);
            }
        }
        Msg::SetupProbed { ollama, vault } => setup::probed(m, ollama, vault),
        Msg::SetupChecked { attempt, result } => setup::checked(m, attempt, result, &mut fx),
        Msg::SetupSaved { attempt, result } => setup::saved(m, attempt, result, &mut fx),
        Msg::Engine(ev) => events::engine(m, ev, now, &mut fx),
        Msg::TasksLoaded(rows) => {
            m.queue.insert_missing(rows.into_iter().map(TaskItem::from));
            selection_changed(m, &mut fx);
        }
        Msg::TaskLoaded(row) => {
            m.queue.refresh(TaskItem::from(row));
            selection_changed(m, &mut fx);
        }
        Msg::LogsLoaded(id, rows) => {
            let description = m.queue.get(&id).map(|t| t.description.as_str());
            let t = Transcript::from_logs(&rows, m.turns.width, description);
            m.turns.transcripts.insert(id, t);
            let shown = m.turns.shown.take();
            m.turns.show(shown);
        }
        Msg::MemoriesLoaded(items) => m.memory.set_items(items),
        Msg::LessonChanged(r) => memory::changed(m, r, &mut fx),
        Msg::DocsLoaded(Ok((hits, notice))) => {
            m.memory.doc_hits = hits;
            m.memory.selected = m
                .memory
                .selected
                .min(m.memory.doc_hits.len().saturating_sub(1));
            if let Some(n) = notice {
                m.status.set(Tone::Info, n);
            }
        }
        Msg::DocsLoaded(Err(e)) => {
            m.memory.doc_hits.clear();
            m.status.set(Tone::Error, e);
        }
        Msg::CostLoaded {
            today_usd,
            by_model,
        } => {
            // The ledger already holds this session's calls made so far.
            m.cost.today_usd = today_usd;
            m.cost.by_model = by_model.into_iter().collect();
        }
        Msg::MetricsLoaded(metrics) => m.health.metrics = Some(*metrics),
        Msg::TaskDeleted(id) => {
            m.queue.remove(&id);
            m.turns.transcripts.remove(&id);
            m.status
                .set(Tone::Info, format!("Deleted task {}", short(&id)));
            selection_changed(m, &mut fx);
        }
        Msg::ChangesLoaded { task, files } => changes::changes_loaded(m, &task, files),
        Msg::FileDiffLoaded { task, path, diff } => changes::diff_loaded(m, &task, &path, diff),
        Msg::RolledBack { task, result } => changes::rolled_back(m, &task, result),
        Msg::Done(Ok(text)) => m.status.set(Tone::Info, text),
        Msg::Done(Err(text)) => m.status.set(Tone::Error, text),
        // The clock moved (`update` stamped `now`): the spinner turns, running times
        // count up, and a status message past its end goes.
        Msg::Tick => m.status.expire(now),
    }
    fx
}

/// Sizes that depend on the layout.
pub fn relayout(m: &mut Model) {
    // The input spans the screen; its height depends on how its text wraps.
    m.input.width = m.size.0.saturating_sub(2);
    let a = areas(m);
    // The queue's first row holds the column headers.
    let (_, qh) = layout::inner(a.queue);
    m.queue.set_height(usize::from(qh.saturating_sub(1)));
    let (tw, th) = layout::inner(a.turns);
    if tw > 0 {
        m.turns.set_size(tw, th);
    }
    m.memory.height = usize::from(layout::inner(a.memory).1);
}

pub fn areas(m: &Model) -> Areas {
    layout::compute(m.size.0, m.size.1, m.input.height(), m.zoom, m.focus)
}

fn key(m: &mut Model, k: KeyEvent, now: f64, fx: &mut Vec<Effect>) {
    if matches!(m.modal(), Some(Popup::Setup(_))) {
        setup::key(m, k, now, fx);
        return;
    }
    let key = Key::from_event(&k);
    // Writing a lesson or a memory query: the input line takes printable keys.
    if m.modal().is_none()
        && m.focus == Focus::Memory
        && m.memory.draft.is_some()
        && m.keymap
            .lookup(&[super::keymap::Context::Global], key)
            .is_none()
    {
        memory::draft_key(m, k, fx);
        return;
    }
    if m.modal().is_none()
        && m.focus == Focus::Memory
        && m.memory.editing.is_some()
        && m.keymap
            .lookup(&[super::keymap::Context::Global], key)
            .is_none()
    {
        memory::query_key(m, k, fx);
        return;
    }
    let action = m.keymap.lookup(&m.contexts(), key);
    match action {
        Some(a) => act(m, a, now, fx),
        None if m.focus == Focus::Input && m.modal().is_none() => {
            let before = m.input.height();
            if m.input.textarea.input(k) {
                m.status.input_changed();
            }
            if m.input.height() != before {
                relayout(m);
            }
        }
        None => {}
    }
}

fn set_focus(m: &mut Model, f: Focus) {
    if f != Focus::Input {
        m.last_pane = f;
    }
    m.focus = f;
    if m.zoom {
        relayout(m);
    }
}

pub(super) fn act(m: &mut Model, a: Action, now: f64, fx: &mut Vec<Effect>) {
    let page = page_size(m);
    match a {
        Action::Noop => {}
        // `q` quits at once when nothing runs; with tasks running it warns as Ctrl-C
        // does and quits on a second press within the window.
        Action::Quit | Action::Interrupt => {
            let armed = m.interrupt_at.is_some_and(|t| now - t <= INTERRUPT_WINDOW);
            let active = m.queue.active();
            if armed || (a == Action::Quit && active == 0) {
                m.quit = true;
                fx.push(Effect::Quit);
            } else {
                m.interrupt_at = Some(now);
                let note = if active > 0 {
                    format!(" ({active} task(s) will be cancelled)")
                } else {
                    String::new()
                };
                let key = if a == Action::Quit {
                    m.keymap
                        .key_for(super::keymap::Context::Panes, Action::Quit)
                        .map_or_else(|| "q".to_owned(), |k| k.to_string())
                } else {
                    "Ctrl-C".to_owned()
                };
                m.status.set_for(
                    Tone::Warn,
                    format!("Press {key} again to quit{note}"),
                    INTERRUPT_WINDOW,
                );
            }
        }
        Action::Help => approval::open_popup(m, Popup::Help { scroll: 0 }),
        Action::Suspend => fx.push(Effect::Suspend),
        Action::FocusNext | Action::FocusPrev => {
            let i = Focus::CYCLE.iter().position(|f| *f == m.focus).unwrap_or(0);
            let n = Focus::CYCLE.len();
            let next = if a == Action::FocusNext {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            set_focus(m, Focus::CYCLE[next]);
        }
        Action::FocusInput => set_focus(m, Focus::Input),
        Action::FocusPanes => {
            set_focus(m, m.last_pane);
            offer_interrupt(m, fx);
        }
        Action::FocusQueue => set_focus(m, Focus::Queue),
        Action::FocusTurns => set_focus(m, Focus::Turns),
        Action::FocusCost => set_focus(m, Focus::Cost),
        Action::FocusHealth => set_focus(m, Focus::Health),
        Action::FocusMemory => set_focus(m, Focus::Memory),
        Action::Zoom => {
            m.zoom = !m.zoom;
            relayout(m);
        }
        Action::Up => move_by(m, -1, fx),
        Action::Down => move_by(m, 1, fx),
        Action::PageUp => move_by(m, -page, fx),
        Action::PageDown => move_by(m, page, fx),
        Action::Top => move_by(m, isize::MIN / 2, fx),
        Action::Bottom => move_by(m, isize::MAX / 2, fx),
        Action::Submit
        | Action::Cancel
        | Action::Retry
        | Action::Resume
        | Action::Delete
        | Action::Detail
        | Action::Copy => task::act_on_task(m, a, fx),
        Action::Changes => changes::open(m, fx),
        Action::ChangesOpen => changes::open_file(m, fx),
        Action::Rollback => changes::ask_rollback(m),
        Action::Filter => {
            m.queue.cycle_filter();
            selection_changed(m, fx);
        }
        Action::Sort => {
            m.queue.cycle_sort();
            selection_changed(m, fx);
        }
        Action::Toggle => m.turns.toggle(),
        Action::Follow => m.turns.set_follow(),
        Action::MemorySearch => m.memory.editing = Some(m.memory.query.clone().unwrap_or_default()),
        Action::MemoryDocs => memory::toggle_docs(m, fx),
        Action::MemoryView => memory::view(m),
        Action::MemoryDelete => memory::delete(m),
        Action::MemoryAdd => memory::add(m),
        Action::MemoryEdit => memory::edit(m),
        Action::Newline => {
            m.input.textarea.insert_newline();
            relayout(m);
        }
        Action::HistoryPrev => {
            m.input.up();
            relayout(m);
        }
        Action::HistoryNext => {
            m.input.down();
            relayout(m);
        }
        Action::Clear => {
            m.input.set_text("");
            relayout(m);
        }
        Action::Close => {
            if !changes::back(m) {
                m.popup = None;
            }
        }
        Action::ApprovalFocus => approval::toggle_focus(m),
        Action::SetupOpen => setup::open(m, fx),
        Action::ApproveOnce | Action::ApproveAlways | Action::ApproveDeny => {
            approval::answer(m, a, now, fx);
        }
        Action::Confirm => {
            if let Some(Popup::Confirm { what, .. }) = m.popup.take() {
                match what {
                    Confirm::DeleteTask(id) => fx.push(Effect::DeleteTask(id)),
                    Confirm::DeleteMemory(id) => {
                        fx.push(Effect::ChangeLesson(Change::Delete { id }));
                    }
                    Confirm::CancelTask(id) => fx.push(Effect::Engine(Command::Cancel { id })),
                    Confirm::Rollback(task) => {
                        m.status
                            .set(Tone::Info, format!("Rolling back {}…", short(&task)));
                        fx.push(Effect::Rollback { task, force: false });
                    }
                    Confirm::RollbackForce(task) => {
                        m.status
                            .set(Tone::Info, format!("Rolling back {}…", short(&task)));
                        fx.push(Effect::Rollback { task, force: true });
                    }
                }
            }
        }
    }
}

/// Leaving the input while a task runs (Esc, as in other agents' terminals) offers
/// to interrupt it, without a dialog that would take the next key: the running
/// task is selected (the selected one if it runs, else the newest running) and the
/// status bar says which key cancels it.
fn offer_interrupt(m: &mut Model, fx: &mut Vec<Effect>) {
    if m.popup.is_some() || m.focus == Focus::Input {
        return;
    }
    let Some(id) = m
        .queue
        .selected_task()
        .filter(|t| t.status == crate::store::TaskStatus::Running)
        .or_else(|| m.queue.newest_running())
        .map(|t| t.id.clone())
    else {
        return;
    };
    if m.queue.selected_id().as_ref() != Some(&id) {
        m.queue.select(&id);
        selection_changed(m, fx);
    }
    let key = m
        .keymap
        .key_for(super::keymap::Context::Panes, Action::Cancel)
        .map_or_else(|| Action::Cancel.name().to_owned(), |k| k.to_string());
    m.status.set(
        Tone::Info,
        format!("Task {} is running: {key} interrupts it", short(&id)),
    );
}

pub(super) fn short(id: &TaskId) -> &str {
    &id.as_str()[..id.as_str().len().min(6)]
}

/// Rows one page moves: the open popup's visible text, else the queue's rows.
fn page_size(m: &Model) -> isize {
    let rows = match super::view::sheet(m) {
        Some(sheet) => usize::from(sheet.page(screen(m))),
        None => m.queue.height,
    };
    isize::try_from(rows.max(2) - 1).unwrap_or(10)
}

/// The whole terminal, where popups are placed.
fn screen(m: &Model) -> ratatui::layout::Rect {
    ratatui::layout::Rect::new(0, 0, m.size.0, m.size.1)
}

fn move_by(m: &mut Model, delta: isize, fx: &mut Vec<Effect>) {
    if m.modal().is_some_and(|p| matches!(p, Popup::Approval(_))) {
        approval::scroll(m, delta);
        return;
    }
    if changes::move_in_list(m, delta) {
        return;
    }
    if m.modal().is_some() {
        // Bounded by the text as drawn at this size: the end is the last line.
        let max = super::view::sheet(m).map_or(0, |s| s.max_scroll(screen(m)));
        let delta = i32::try_from(delta).unwrap_or(if delta < 0 { i32::MIN } else { i32::MAX });
        if let Some(p) = &mut m.popup {
            p.scroll_by(delta, max);
        }
        return;
    }
    match m.focus {
        Focus::Queue | Focus::Input | Focus::Cost | Focus::Health => {
            m.queue.move_by(delta);
            selection_changed(m, fx);
        }
        Focus::Turns => m.turns.move_by(delta),
        Focus::Memory => m.memory.move_by(delta),
    }
}

fn submit(m: &mut Model, fx: &mut Vec<Effect>) {
    let text = m.input.take();
    relayout(m);
    if text.is_empty() {
        m.status
            .set_about(Tone::Info, "Type a task first", Scope::Input);
        return;
    }
    let id = TaskId::new();
    m.select_on_queue = Some(id.clone());
    let d = &m.defaults;
    let spec = TaskSpec {
        description: text,
        workdir: d.workdir.clone(),
        max_turns: d.max_turns,
        budget_usd: d.budget_usd,
        model: d.model.clone(),
        critical: false,
    };
    fx.push(Effect::Engine(Command::Submit { id, spec }));
}

/// The selected task changed (or may have): show its transcript, loading it from
/// the store if it is from an earlier session.
pub(super) fn selection_changed(m: &mut Model, fx: &mut Vec<Effect>) {
    let id = m.queue.selected_id();
    if let Some(id) = &id
        && !m.turns.transcripts.contains_key(id)
    {
        m.turns
            .transcripts
            .insert(id.clone(), Transcript::loading());
        fx.push(Effect::LoadLogs(id.clone()));
    }
    m.turns.show(id);
}

fn mouse(m: &mut Model, e: MouseEvent, fx: &mut Vec<Effect>) {
    // A click on the approval dialog moves the keyboard to it, as F2 does.
    if matches!(e.kind, MouseEventKind::Down(_)) && approval::hit(m, e.column, e.row) {
        approval::toggle_focus(m);
        return;
    }
    let a = areas(m);
    let Some(pane) = a.at(e.column, e.row) else {
        return;
    };
    match e.kind {
        MouseEventKind::Down(_) if m.modal().is_none() => {
            set_focus(m, pane);
            if pane == Focus::Queue {
                // Below the border and the column headers.
                let row = usize::from(e.row).checked_sub(usize::from(a.queue.y) + 2);
                let target = row.map(|r| m.queue.offset + r);
                if let Some(target) = target.filter(|t| *t < m.queue.len()) {
                    let delta = isize::try_from(target).unwrap_or(0)
                        - isize::try_from(m.queue.selected).unwrap_or(0);
                    m.queue.move_by(delta);
                    selection_changed(m, fx);
                }
            }
        }
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let delta = if e.kind == MouseEventKind::ScrollUp {
                -3
            } else {
                3
            };
            if m.modal().is_some() {
                move_by(m, delta, fx);
                return;
            }
            match pane {
                Focus::Turns => m.turns.move_by(delta),
                Focus::Memory => m.memory.move_by(delta),
                Focus::Queue => {
                    m.queue.move_by(delta);
                    selection_changed(m, fx);
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn paste(m: &mut Model, text: &str) {
    if matches!(m.modal(), Some(Popup::Setup(_))) {
        setup::paste(m, text);
        return;
    }
    let text = crate::util::text::strip_control(text);
    if m.focus == Focus::Memory
        && let Some(q) = m.memory.editing.as_mut()
    {
        q.push_str(&text.replace('\n', " "));
        return;
    }
    if m.focus != Focus::Input {
        set_focus(m, Focus::Input);
    }
    m.input.textarea.insert_str(text);
    m.status.input_changed();
    relayout(m);
}
