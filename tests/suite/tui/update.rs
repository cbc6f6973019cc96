//! `update` as a pure function: keys, mouse, paste and engine events in; the
//! model and the returned effects are compared whole where that reads well.

use std::path::PathBuf;

use az_os::engine::{Command, EngineEvent, Event, TaskSpec};
use az_os::store::TaskStatus;
use az_os::tui::model::{Focus, Model};
use az_os::tui::msg::{Effect, Msg};
use az_os::tui::panes::popups::Popup;
use az_os::tui::panes::queue::TaskItem;
use az_os::tui::panes::status::Tone;
use az_os::tui::panes::turns::Kind;
use az_os::tui::update::update;
use pretty_assertions::assert_eq;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::{
    T0, ch, ctrl, ev, finished, id, llm_call, model, press, route, run_task, send, started,
    transcript, type_text,
};

// ---------------------------------------------------------------- update: input

#[test]
fn typing_and_enter_submits_the_task_and_clears_the_input() {
    let mut m = model();
    assert_eq!(type_text(&mut m, "count the lines"), vec![]);
    assert_eq!(m.input.text(), "count the lines");
    let fx = send(&mut m, press(KeyCode::Enter));
    let [Effect::Engine(Command::Submit { id: new_id, spec })] = fx.as_slice() else {
        panic!("expected one submit, got {fx:?}");
    };
    assert_eq!(
        spec,
        &TaskSpec {
            description: "count the lines".into(),
            workdir: PathBuf::from("/home/user/project"),
            max_turns: Some(20),
            budget_usd: None,
            model: None,
            critical: false,
        }
    );
    assert_eq!(m.input.text(), "");
    assert_eq!(m.input.history, vec!["count the lines".to_owned()]);
    assert_eq!(m.select_on_queue.as_ref(), Some(new_id));

    // The engine's answer selects the new task, even with older ones in the queue.
    run_task(&mut m, "older1", "an older task", T0 - 600.0, "m");
    let fx = update(
        &mut m,
        Msg::Engine(EngineEvent::task(
            new_id,
            Event::TaskQueued {
                description: "count the lines".into(),
            },
        )),
        T0,
    );
    assert_eq!(fx, vec![]);
    assert_eq!(m.select_on_queue, None);
    assert_eq!(m.queue.selected_id().as_ref(), Some(new_id));
    assert_eq!(m.turns.shown.as_ref(), Some(new_id));

    // Enter on an empty input sends nothing and says why.
    assert_eq!(send(&mut m, press(KeyCode::Enter)), vec![]);
    assert_eq!(m.status.message, "Type a task first");
}

#[test]
fn esc_moves_focus_to_the_panes_where_q_quits() {
    let mut m = model();
    // In the input, q is just a letter.
    assert_eq!(send(&mut m, ch('q')), vec![]);
    assert_eq!(m.input.text(), "q");
    assert!(!m.quit);
    assert_eq!(send(&mut m, press(KeyCode::Esc)), vec![]);
    assert_eq!(m.focus, Focus::Queue);
    assert_eq!(send(&mut m, ch('q')), vec![Effect::Quit]);
    assert!(m.quit);
}

#[test]
fn ctrl_c_arms_then_quits_within_two_seconds() {
    let mut m = model();
    run_task(&mut m, "run001", "a running task", T0, "m");
    assert_eq!(update(&mut m, ctrl('c'), T0), vec![]);
    assert!(!m.quit);
    assert_eq!(m.interrupt_at, Some(T0));
    assert_eq!(m.status.tone, Tone::Warn);
    assert_eq!(
        m.status.message,
        "Press Ctrl-C again to quit (1 task(s) will be cancelled)"
    );
    assert_eq!(update(&mut m, ctrl('c'), T0 + 1.5), vec![Effect::Quit]);
    assert!(m.quit);
}

#[test]
fn ctrl_c_presses_three_seconds_apart_only_re_arm() {
    let mut m = model();
    assert_eq!(update(&mut m, ctrl('c'), T0), vec![]);
    assert_eq!(m.status.message, "Press Ctrl-C again to quit");
    assert_eq!(update(&mut m, ctrl('c'), T0 + 3.0), vec![]);
    assert!(!m.quit);
    assert_eq!(m.interrupt_at, Some(T0 + 3.0));
    // The second press armed a new window.
    assert_eq!(update(&mut m, ctrl('c'), T0 + 4.0), vec![Effect::Quit]);
}

#[test]
fn tab_and_number_keys_change_focus() {
    let mut m = model();
    let mut seen = Vec::new();
    let mut step = |m: &mut Model, msg: Msg| {
        assert_eq!(send(m, msg), vec![]);
        seen.push(m.focus);
    };
    step(&mut m, press(KeyCode::Tab));
    step(&mut m, press(KeyCode::Tab));
    step(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
    );
    for c in ['3', '4', '5', '2', '1', '3', 'i'] {
        step(&mut m, ch(c));
    }
    // Esc from the input returns to the pane last focused.
    step(&mut m, press(KeyCode::Esc));
    assert_eq!(
        seen,
        vec![
            Focus::Queue,
            Focus::Turns,
            Focus::Queue,
            Focus::Cost,
            Focus::Health,
            Focus::Memory,
            Focus::Turns,
            Focus::Queue,
            Focus::Cost,
            Focus::Input,
            Focus::Cost,
        ]
    );
    assert_eq!(m.input.text(), "", "no key leaked into the input");
}

#[test]
fn paste_goes_into_the_input_without_control_sequences() {
    let mut m = model();
    send(&mut m, press(KeyCode::Esc));
    assert_eq!(m.focus, Focus::Queue);
    let pasted = "echo \u{1b}[31mred\u{1b}[0m\u{7} done\r\nline two\u{1b}]0;title\u{7}";
    assert_eq!(send(&mut m, Msg::Paste(pasted.into())), vec![]);
    assert_eq!(m.focus, Focus::Input, "pasting focuses the input");
    assert_eq!(m.input.text(), "echo red done\nline two");
    assert_eq!(m.input.height(), 4, "two lines plus the border");
    // Submitting a pasted task keeps its newline.
    let fx = send(&mut m, press(KeyCode::Enter));
    let [Effect::Engine(Command::Submit { spec, .. })] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(spec.description, "echo red done\nline two");
}

#[test]
fn question_mark_opens_help_and_esc_closes_it() {
    let mut m = model();
    // In the input `?` is text; F1 opens help from anywhere.
    send(&mut m, ch('?'));
    assert_eq!((m.popup.clone(), m.input.text()), (None, "?".to_owned()));
    send(&mut m, press(KeyCode::F(1)));
    assert_eq!(m.popup, Some(Popup::Help { scroll: 0 }));
    send(&mut m, press(KeyCode::Esc));
    assert_eq!(m.popup, None);
    assert_eq!(
        m.focus,
        Focus::Input,
        "closing the popup leaves the focus alone"
    );

    send(&mut m, press(KeyCode::Esc));
    assert_eq!(send(&mut m, ch('?')), vec![]);
    assert_eq!(m.popup, Some(Popup::Help { scroll: 0 }));
    send(&mut m, ch('j'));
    send(&mut m, ch('j'));
    assert_eq!(m.popup, Some(Popup::Help { scroll: 2 }));
    // `q` closes the popup, it does not quit.
    assert_eq!(send(&mut m, ch('q')), vec![]);
    assert_eq!(
        (m.popup.clone(), m.quit, m.focus),
        (None, false, Focus::Queue)
    );
    send(&mut m, ch('?'));
    send(&mut m, press(KeyCode::Esc));
    assert_eq!(m.popup, None);
}

// ---------------------------------------------------------------- update: engine events

#[test]
#[allow(clippy::float_cmp)] // costs pass through unchanged: exact equality is the point
fn engine_events_fill_the_queue_row_transcript_and_cost_meter() {
    let mut m = model();
    let t = "a1b2c3d4";
    let fx = ev(
        &mut m,
        t,
        T0,
        Event::TaskQueued {
            description: "list the files".into(),
        },
    );
    assert_eq!(fx, vec![]);
    assert_eq!(
        m.queue.selected_task().map(|x| x.status),
        Some(TaskStatus::Pending)
    );
    assert_eq!(m.queue.active(), 1);

    ev(&mut m, t, T0 + 1.0, started("cheap-model"));
    let row = m.queue.get(&id(t)).unwrap();
    assert_eq!(
        (row.status, row.model.as_deref()),
        (TaskStatus::Running, Some("cheap-model"))
    );

    ev(&mut m, t, T0 + 2.0, Event::TurnStarted { turn: 1 });
    assert_eq!(m.queue.get(&id(t)).unwrap().turns, 1);
    for piece in ["I will ", "list ", "the files."] {
        ev(
            &mut m,
            t,
            T0 + 2.0,
            Event::ThoughtDelta {
                turn: 1,
                text: piece.into(),
            },
        );
    }
    ev(
        &mut m,
        t,
        T0 + 3.0,
        Event::Thought {
            turn: 1,
            text: "I will list the files.".into(),
        },
    );
    ev(
        &mut m,
        t,
        T0 + 3.0,
        Event::Action {
            turn: 1,
            tool: "execute_command".into(),
            input: json!({"command": "ls"}),
        },
    );
    ev(
        &mut m,
        t,
        T0 + 4.0,
        Event::Observation {
            turn: 1,
            tool: "execute_command".into(),
            ok: true,
            output: "exit code: 0\na.txt\nb.txt".into(),
        },
    );
    ev(&mut m, t, T0 + 4.0, llm_call("cheap-model", 0.0012));
    assert_eq!(m.queue.get(&id(t)).unwrap().cost_usd, 0.0012);
    assert_eq!(m.cost.session_usd, 0.0012);
    assert_eq!(m.cost.today_usd, 0.0012);
    assert_eq!(m.cost.by_model.get("cheap-model"), Some(&0.0012));
    assert_eq!(
        m.cost.spark.last(),
        Some(&1200),
        "micro-dollars in the current minute"
    );

    let fx = ev(
        &mut m,
        t,
        T0 + 5.0,
        finished(TaskStatus::Completed, Some("a.txt and b.txt"), None, 0.0012),
    );
    assert_eq!(fx, vec![Effect::LoadMetrics]);
    assert_eq!(
        m.queue.get(&id(t)).unwrap(),
        &TaskItem {
            id: id(t),
            description: "list the files".into(),
            status: TaskStatus::Completed,
            model: Some("cheap-model".into()),
            cost_usd: 0.0012,
            created_at: T0,
            started_at: Some(T0 + 1.0),
            // The engine's own measure of the run (`duration_ms`).
            took: Some(4.2),
            turns: 1,
            max_turns: 20,
            result: Some("a.txt and b.txt".into()),
            error: None,
            budget_usd: None,
            route: Some(route().reason),
        }
    );
    assert_eq!(m.queue.active(), 0);
    assert_eq!(
        (m.status.tone, m.status.message.as_str()),
        (Tone::Info, "Task a1b2c3 completed")
    );
    assert_eq!(
        transcript(&m, t),
        vec![
            (None, Kind::Status, "queued: list the files".to_owned()),
            (
                None,
                Kind::Status,
                format!("started on cheap-model: {}", route().reason)
            ),
            (Some(1), Kind::Turn, String::new()),
            (Some(1), Kind::Thought, "I will list the files.".to_owned()),
            (Some(1), Kind::Action, "execute_command ls".to_owned()),
            (
                Some(1),
                Kind::Observation,
                "exit code: 0\na.txt\nb.txt".to_owned()
            ),
            (None, Kind::Status, "completed: a.txt and b.txt".to_owned()),
        ]
    );
    assert_eq!(m.turns.shown, Some(id(t)));
    assert_eq!(m.turns.selected, 6, "following the newest entry");
}

#[test]
fn streamed_thought_shows_before_the_full_thought_arrives() {
    let mut m = model();
    run_task(&mut m, "s1", "stream", T0, "m");
    ev(&mut m, "s1", T0, Event::TurnStarted { turn: 1 });
    ev(
        &mut m,
        "s1",
        T0,
        Event::ThoughtDelta {
            turn: 1,
            text: "Look".into(),
        },
    );
    ev(
        &mut m,
        "s1",
        T0,
        Event::ThoughtDelta {
            turn: 1,
            text: "ing".into(),
        },
    );
    assert_eq!(
        transcript(&m, "s1").last().unwrap(),
        &(Some(1), Kind::Thought, "Looking".into())
    );
}
