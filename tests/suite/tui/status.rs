//! Status messages that stop being true go (issue 11, item 12), and quitting
//! with tasks running always warns first (item 6).

use az_os::engine::Event;
use az_os::tui::msg::{Effect, Msg};
use az_os::tui::panes::status::Tone;
use pretty_assertions::assert_eq;
use ratatui::crossterm::event::KeyCode;

use super::{T0, cancelled, ch, ctrl, ev, model, press, render, run_task, screen, update};

#[test]
fn press_ctrl_c_again_goes_when_its_window_closes() {
    let mut m = model();
    run_task(&mut m, "run001", "a running task", T0, "m");
    update(&mut m, ctrl('c'), T0 + 10.0);
    assert!(m.status.visible(T0 + 11.0));
    assert_eq!(m.status.expires_at(), Some(T0 + 12.0));
    assert!(screen(&render(&m)).contains("Press Ctrl-C again"));
    // The loop wakes at the end of the window and redraws without it.
    assert_eq!(update(&mut m, Msg::Tick, T0 + 12.0), vec![]);
    assert!(!m.status.visible(T0 + 12.0));
    assert_eq!(m.status.expires_at(), None);
    assert!(!screen(&render(&m)).contains("Press Ctrl-C again"));
    // A press after the window only arms again.
    assert_eq!(update(&mut m, ctrl('c'), T0 + 13.0), vec![]);
    assert!(!m.quit);
}

#[test]
fn type_a_task_first_goes_once_the_user_types() {
    let mut m = model();
    update(&mut m, press(KeyCode::Enter), T0);
    assert_eq!(m.status.message, "Type a task first");
    update(&mut m, ch('l'), T0 + 0.5);
    assert!(!m.status.visible(T0 + 0.5), "{:?}", m.status);
    assert!(!screen(&render(&m)).contains("Type a task first"));
    // Other messages are not the input's to clear.
    update(&mut m, Msg::Done(Err("disk full".into())), T0 + 1.0);
    update(&mut m, ch('s'), T0 + 1.5);
    assert_eq!(
        (m.status.tone, m.status.message.as_str()),
        (Tone::Error, "disk full")
    );
}

#[test]
fn a_tasks_end_is_not_shown_while_it_runs_again() {
    let mut m = model();
    run_task(&mut m, "task01", "something", T0, "m");
    m.queue.select(&super::id("task01"));
    ev(&mut m, "task01", T0 + 2.0, cancelled());
    assert_eq!(m.status.message, "Task task01 cancelled");
    update(&mut m, press(KeyCode::Esc), T0 + 3.0);
    let fx = update(&mut m, ch('r'), T0 + 3.1);
    assert_eq!(fx.len(), 1, "{fx:?}");
    assert_eq!(m.status.message, "Retrying task01…");
    ev(
        &mut m,
        "task01",
        T0 + 3.2,
        Event::TaskQueued {
            description: "something".into(),
        },
    );
    let text = screen(&render(&m));
    assert!(!text.contains("cancelled"), "{text}");
    assert!(!text.contains("Retrying"), "{text}");
}

#[test]
fn the_copy_says_whether_it_worked() {
    let Msg::Done(said) = Msg::copied("héllo", Ok("to the clipboard (OSC 52)".into())) else {
        panic!("a copy ends in a status message");
    };
    assert_eq!(
        said,
        Ok("Copied 5 characters to the clipboard (OSC 52)".to_owned())
    );
    let mut m = model();
    update(
        &mut m,
        Msg::copied("x", Err("cannot write to the terminal: broken pipe".into())),
        T0,
    );
    assert_eq!(
        (m.status.tone, m.status.message.as_str()),
        (
            Tone::Error,
            "Could not copy the result: cannot write to the terminal: broken pipe"
        )
    );
}

#[test]
fn esc_q_with_tasks_running_warns_like_ctrl_c() {
    let mut m = model();
    run_task(&mut m, "run001", "a running task", T0, "m");
    update(&mut m, press(KeyCode::Esc), T0 + 1.0);
    assert_eq!(update(&mut m, ch('q'), T0 + 1.1), vec![]);
    assert!(!m.quit);
    assert_eq!(
        (m.status.tone, m.status.message.as_str()),
        (
            Tone::Warn,
            "Press q again to quit (1 task(s) will be cancelled)"
        )
    );
    assert_eq!(update(&mut m, ch('q'), T0 + 2.0), vec![Effect::Quit]);
    // With nothing running, q quits at once.
    let mut m = model();
    update(&mut m, press(KeyCode::Esc), T0);
    assert_eq!(update(&mut m, ch('q'), T0 + 0.1), vec![Effect::Quit]);
}

#[test]
fn a_budget_under_a_cent_is_not_shown_as_zero() {
    let mut m = super::model_sized(120, 40);
    m.cost.budget_task = 0.005;
    run_task(&mut m, "cheap1", "a cheap task", T0, "m");
    let text = screen(&render(&m));
    assert!(text.contains("/$0.005"), "{text}");
    assert!(!text.contains("/$0.00 "), "{text}");
}
