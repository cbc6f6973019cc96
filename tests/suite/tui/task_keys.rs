//! Keys, clicks and confirmations on the selected task: cancel, retry, delete, the
//! status filter, a click on a queue row, the detail popup and copying its result.

use az_os::engine::Command;
use az_os::store::TaskStatus;
use az_os::tui::model::Focus;
use az_os::tui::msg::{Effect, Msg};
use az_os::tui::panes::popups::{Confirm, Popup};
use az_os::tui::update::areas;
use pretty_assertions::assert_eq;
use ratatui::crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::{
    T0, cancelled, ch, ev, finished, id, model, model_sized, press, render, run_task, screen, send,
    submit_task,
};

#[test]
fn queue_keys_cancel_retry_and_delete_the_selected_task() {
    let mut m = model();
    run_task(&mut m, "task01", "long job", T0, "m");
    send(&mut m, press(KeyCode::Esc));
    assert_eq!(m.focus, Focus::Queue);

    // Retry and delete refuse a running task.
    assert_eq!(send(&mut m, ch('r')), vec![]);
    assert_eq!(m.status.message, "The task is still queued or running");
    assert_eq!(send(&mut m, ch('d')), vec![]);
    assert_eq!(m.popup, None);
    assert_eq!(m.status.message, "Cancel the task before deleting it");

    assert_eq!(
        send(&mut m, ch('c')),
        vec![Effect::Engine(Command::Cancel { id: id("task01") })]
    );
    ev(&mut m, "task01", T0 + 2.0, cancelled());
    assert_eq!(
        send(&mut m, ch('c')),
        vec![],
        "nothing to cancel once it ended"
    );
    assert_eq!(m.status.message, "Task task01 already ended (cancelled)");

    // Resume is for interrupted tasks only; an interrupted one is resumed, not retried.
    assert_eq!(send(&mut m, ch('R')), vec![]);
    assert_eq!(
        m.status.message,
        "Only interrupted tasks resume; this one is cancelled (r retries it)"
    );
    if let Some(t) = m.queue.get_mut(&id("task01")) {
        t.status = TaskStatus::Interrupted;
    }
    assert_eq!(
        send(&mut m, ch('R')),
        vec![Effect::Engine(Command::Resume {
            id: id("task01"),
            overrides: az_os::engine::Overrides::default()
        })]
    );
    assert!(
        m.turns.transcripts.contains_key(&id("task01")),
        "a resume keeps the transcript: the task continues it"
    );

    assert_eq!(
        send(&mut m, ch('r')),
        vec![Effect::Engine(Command::Retry { id: id("task01") })]
    );
    assert!(
        !m.turns.transcripts.contains_key(&id("task01")),
        "the retry starts a fresh transcript"
    );

    // Delete asks first; `n` backs out, `y` deletes.
    assert_eq!(send(&mut m, ch('d')), vec![]);
    let asked = Popup::Confirm {
        what: Confirm::DeleteTask(id("task01")),
        question: "Delete task task01? Its spend stays in the ledger.".into(),
    };
    assert_eq!(m.popup, Some(asked.clone()));
    assert_eq!(send(&mut m, ch('n')), vec![]);
    assert_eq!(m.popup, None);
    send(&mut m, ch('d'));
    assert_eq!(m.popup, Some(asked));
    assert_eq!(
        send(&mut m, ch('y')),
        vec![Effect::DeleteTask(id("task01"))]
    );
    assert_eq!(m.popup, None);
}

/// The store's answer to `DeleteTask` removes the row and moves the selection to
/// a task that is still there.
#[test]
fn deleting_the_selected_task_removes_it_and_keeps_a_selection() {
    let mut m = model();
    for (n, t) in ["old", "mid", "new"].into_iter().enumerate() {
        submit_task(&mut m, t, t, T0 + n as f64, "m");
        ev(
            &mut m,
            t,
            T0 + 5.0,
            finished(TaskStatus::Completed, Some("ok"), None, 0.0),
        );
    }
    assert_eq!(m.queue.selected_id(), Some(id("new")));
    send(&mut m, Msg::TaskDeleted(id("new")));
    assert_eq!(m.queue.total(), 2);
    assert_eq!(m.status.message, "Deleted task new");
    assert!(!m.turns.transcripts.contains_key(&id("new")));
    let left = m.queue.selected_id().unwrap();
    assert!(left == id("mid") || left == id("old"), "{left:?}");
    assert_eq!(m.turns.shown, Some(left));
    send(&mut m, Msg::TaskDeleted(id("mid")));
    send(&mut m, Msg::TaskDeleted(id("old")));
    assert_eq!(
        (
            m.queue.total(),
            m.queue.selected_id(),
            m.turns.shown.clone()
        ),
        (0, None, None)
    );
    // Drawing the empty queue after deletes works.
    assert!(screen(&render(&m)).contains("No tasks yet"));
}

#[test]
fn f_cycles_the_queue_filter() {
    let mut m = model();
    run_task(&mut m, "run", "running", T0, "m");
    run_task(&mut m, "ok", "completed", T0 + 1.0, "m");
    ev(
        &mut m,
        "ok",
        T0 + 2.0,
        finished(TaskStatus::Completed, Some("done"), None, 0.0),
    );
    run_task(&mut m, "bad", "failed", T0 + 2.0, "m");
    ev(
        &mut m,
        "bad",
        T0 + 3.0,
        finished(TaskStatus::Failed, None, Some("boom"), 0.0),
    );
    run_task(&mut m, "broke", "over budget", T0 + 3.0, "m");
    ev(
        &mut m,
        "broke",
        T0 + 4.0,
        finished(TaskStatus::BudgetExceeded, None, Some("cap"), 0.6),
    );
    send(&mut m, press(KeyCode::Esc));
    let mut seen = vec![(m.queue.filter, m.queue.len())];
    for _ in 0..6 {
        send(&mut m, ch('f'));
        seen.push((m.queue.filter, m.queue.len()));
    }
    assert_eq!(
        seen,
        vec![
            (None, 4),
            (Some(TaskStatus::Running), 1),
            (Some(TaskStatus::Pending), 0),
            (Some(TaskStatus::Completed), 1),
            // Failed includes budget-exceeded and interrupted tasks.
            (Some(TaskStatus::Failed), 2),
            (Some(TaskStatus::Cancelled), 0),
            (None, 4),
        ]
    );
}

#[test]
fn a_click_focuses_the_pane_under_the_cursor_and_selects_a_queue_row() {
    let mut m = model_sized(120, 40);
    run_task(&mut m, "first", "first task", T0, "m");
    run_task(&mut m, "second", "second task", T0 + 10.0, "m");
    // Newest first: `second` is row 0, but the selection stays on `first` (row 1).
    assert_eq!(m.queue.selected_id(), Some(id("first")));
    let a = areas(&m);
    let click = |r: Rect, dy: u16| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: r.x + r.width / 2,
            row: r.y + dy,
            modifiers: KeyModifiers::NONE,
        })
    };
    let mut seen = Vec::new();
    for (r, dy) in [
        (a.turns, 3),
        (a.cost, 2),
        (a.health, 2),
        (a.memory, 2),
        (a.input, 1),
    ] {
        assert_eq!(send(&mut m, click(r, dy)), vec![]);
        seen.push(m.focus);
    }
    assert_eq!(
        seen,
        vec![
            Focus::Turns,
            Focus::Cost,
            Focus::Health,
            Focus::Memory,
            Focus::Input
        ]
    );
    assert_eq!(
        m.queue.selected_id(),
        Some(id("first")),
        "clicks elsewhere keep the selection"
    );
    // A click on the column headers selects nothing.
    send(&mut m, click(a.queue, 1));
    assert_eq!(m.queue.selected_id(), Some(id("first")));
    // The first row under the headers is `second`.
    send(&mut m, click(a.queue, 2));
    assert_eq!(
        (m.focus, m.queue.selected_id()),
        (Focus::Queue, Some(id("second")))
    );
    assert_eq!(m.turns.shown, Some(id("second")));
    // A click below the last row changes focus but not the selection.
    send(&mut m, click(a.turns, 1));
    send(&mut m, click(a.queue, 9));
    assert_eq!(
        (m.focus, m.queue.selected_id()),
        (Focus::Queue, Some(id("second")))
    );
}

#[test]
fn enter_on_the_queue_opens_the_detail_and_y_copies_the_result() {
    let mut m = model();
    run_task(&mut m, "done01", "summarise", T0, "m");
    ev(
        &mut m,
        "done01",
        T0 + 5.0,
        finished(TaskStatus::Completed, Some("the summary"), None, 0.01),
    );
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, press(KeyCode::Enter));
    assert_eq!(
        m.popup,
        Some(Popup::Detail {
            task: id("done01"),
            scroll: 0
        })
    );
    assert_eq!(
        send(&mut m, ch('y')),
        vec![Effect::Copy("the summary".into())]
    );
    send(&mut m, press(KeyCode::Esc));
    assert_eq!(m.popup, None);
}
