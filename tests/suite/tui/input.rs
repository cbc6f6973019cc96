//! The input as Codex and Claude Code users expect it: it grows with its text,
//! Up/Down recall history from the first/last row, Shift-Tab moves focus back,
//! Esc with a task running offers to interrupt it, Ctrl-Z suspends.

use az_os::engine::Command;
use az_os::tui::model::Focus;
use az_os::tui::msg::Effect;
use az_os::tui::msg::Msg;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{
    T0, ch, ctrl, ev, id, model, model_sized, press, render, run_task, screen, send, type_text,
};

#[test]
fn the_input_grows_with_its_text_instead_of_scrolling_sideways() {
    let mut m = model_sized(80, 24);
    assert_eq!(m.input.height(), 3);
    let text = "start of a long task description that keeps going well past the width of \
                the terminal so that it has to wrap onto a second row and then, because it still \
                goes on and on, onto a third row end";
    type_text(&mut m, text);
    assert_eq!(m.input.height(), 5, "three rows of text and the border");
    let shown = screen(&render(&m));
    assert!(shown.contains("start of a long"), "{shown}");
    assert!(shown.contains("third row end"), "{shown}");
    // Up to five rows, then it scrolls inside.
    for _ in 0..6 {
        type_text(&mut m, text);
    }
    assert_eq!(m.input.height(), 7);
    // The other panes gave the room: the layout still tiles the screen.
    let a = az_os::tui::update::areas(&m);
    assert_eq!(a.input.height, 7);
    assert_eq!(a.status.y, 23);
}

#[test]
fn up_and_down_move_between_rows_and_recall_history_at_the_ends() {
    let mut m = model();
    for t in ["first task", "second task"] {
        type_text(&mut m, t);
        send(&mut m, press(KeyCode::Enter));
    }
    type_text(&mut m, "line one");
    send(&mut m, ctrl('j'));
    type_text(&mut m, "line two");
    // On the second row Up moves the cursor, not the history.
    send(&mut m, press(KeyCode::Up));
    assert_eq!(m.input.text(), "line one\nline two");
    assert_eq!(m.input.textarea.cursor().0, 0);
    // On the first row it recalls the previous task, then the one before.
    send(&mut m, press(KeyCode::Up));
    assert_eq!(m.input.text(), "second task");
    send(&mut m, press(KeyCode::Up));
    assert_eq!(m.input.text(), "first task");
    send(&mut m, press(KeyCode::Down));
    assert_eq!(m.input.text(), "second task");
    send(&mut m, press(KeyCode::Down));
    assert_eq!(m.input.text(), "");
}

#[test]
fn up_moves_within_a_wrapped_line_before_reaching_history() {
    let mut m = model_sized(40, 24);
    type_text(&mut m, "earlier");
    send(&mut m, press(KeyCode::Enter));
    let long = "one two three four five six seven eight nine ten eleven twelve";
    type_text(&mut m, long);
    assert!(m.input.height() > 3);
    send(&mut m, press(KeyCode::Up));
    assert_eq!(m.input.text(), long, "the first Up goes to the row above");
    send(&mut m, press(KeyCode::Up));
    assert_eq!(m.input.text(), "earlier");
}

#[test]
fn shift_tab_moves_focus_backwards_and_types_nothing() {
    let mut m = model();
    let back_tab = Msg::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    send(&mut m, back_tab);
    assert_eq!(m.focus, Focus::Memory);
    assert_eq!(m.input.text(), "");
    send(&mut m, press(KeyCode::Tab));
    assert_eq!(m.focus, Focus::Input);
}

#[test]
fn esc_with_a_task_running_offers_to_interrupt_it() {
    let mut m = model();
    // Nothing runs: Esc just goes to the panes, and says nothing.
    send(&mut m, press(KeyCode::Esc));
    assert_eq!((m.focus, m.popup.clone()), (Focus::Queue, None));
    assert_eq!(m.status.message, "");
    send(&mut m, ch('i'));

    run_task(&mut m, "busy0001", "a long job", T0 - 60.0, "m");
    run_task(&mut m, "done0001", "a short job", T0 - 30.0, "m");
    ev(
        &mut m,
        "done0001",
        T0,
        super::finished(az_os::store::TaskStatus::Completed, Some("ok"), None, 0.0),
    );
    // The finished task is selected; Esc offers the running one.
    m.queue.select(&id("done0001"));
    assert_eq!(m.queue.selected_id(), Some(id("done0001")));
    send(&mut m, press(KeyCode::Esc));
    assert_eq!(
        (m.focus, m.popup.clone()),
        (Focus::Queue, None),
        "no dialog takes the next key"
    );
    assert_eq!(m.queue.selected_id(), Some(id("busy0001")));
    assert_eq!(m.status.message, "Task busy00 is running: c interrupts it");
    assert_eq!(
        send(&mut m, ch('c')),
        vec![Effect::Engine(Command::Cancel { id: id("busy0001") })]
    );
}

#[test]
fn ctrl_z_asks_the_loop_to_suspend() {
    let mut m = model();
    type_text(&mut m, "half a task");
    assert_eq!(send(&mut m, ctrl('z')), vec![Effect::Suspend]);
    assert_eq!(m.input.text(), "half a task", "nothing typed, nothing lost");
}
